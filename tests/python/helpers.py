"""Shared helpers for the smartstorage S3 conformance suite.

Everything here is client-side: starting/stopping the engine binary (and the
`server_fixture` factory a test module uses to get an engine of its own), a
small raw-HTTP client (SigV4-signed with botocore, with the engine's
credentials), XML helpers, assertion helpers, checksum encoders and bucket
cleanup. The fixtures built on these live in conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Callable, Iterable, Optional
from urllib.parse import quote

import boto3
from awscrt import checksums as _crt_checksums  # CRC32C and CRC64NVME, as botocore[crt] computes them
import botocore
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "rust" / "target" / "release" / "ruststorage"
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
LISTEN_RE = re.compile(r"ruststorage listening on http://([0-9.]+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)")
STARTUP_TIMEOUT = float(os.environ.get("SMARTSTORAGE_STARTUP_TIMEOUT", "30"))
HTTP_TIMEOUT = 120
MiB = 1024 * 1024


# --------------------------------------------------------------------------
# engine process
# --------------------------------------------------------------------------


try:  # loaded up front: the pre-exec hook must not import anything after fork
    import ctypes as _ctypes

    _LIBC = _ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # pragma: no cover - non-glibc systems
    _LIBC = None
_PR_SET_PDEATHSIG = 1
_SIGTERM = 15


def _die_with_parent():
    """Runs in the engine's child process before exec: ask the kernel to send
    SIGTERM to the engine if the test process dies, so no engine is left behind."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, _SIGTERM)


def binary_path() -> Path:
    return Path(os.environ.get("SMARTSTORAGE_BINARY", str(DEFAULT_BINARY)))


@contextlib.contextmanager
def loop_mounted_ext4(mib: int, mkfs_args: Iterable[str] = (), options: str = "loop"):
    """An ext4 of `mib` MiB in an image file, mounted with `options`; yields the mount
    point and unmounts it after. Skips the test where that cannot be done (not root,
    no mkfs.ext4, no loop devices)."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("a loop-mounted ext4 needs root and mkfs.ext4")
    base = Path(tempfile.mkdtemp(prefix="smartstorage-ext4-"))
    image, mnt = base / "fs.img", base / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(mib * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", *mkfs_args, str(image)], capture_output=True)
    mounted = (
        made.returncode == 0
        and subprocess.run(["mount", "-o", options, str(image), str(mnt)], capture_output=True).returncode == 0
    )
    if not mounted:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"cannot loop-mount an ext4 with {options} here")
    try:
        yield mnt
    finally:
        for args in (["umount", str(mnt)], ["umount", "-l", str(mnt)]):
            if subprocess.run(args, capture_output=True).returncode == 0:
                break
        shutil.rmtree(base, ignore_errors=True)


class Server:
    """One running engine: `ruststorage serve --port 0 --directory DIR`.

    Layout on disk (so the path-escape tests can watch the neighbourhood of the
    storage directory):

        <base>/server.log            engine stderr (+ stdout after line 1)
        <base>/sandbox/              parent of the storage dir, watched by tests
        <base>/sandbox/storage/      --directory

    Auth is on when access_key/secret_key are given (`--access-key/--secret-key`
    come first on the command line); `client()` and `raw_client()` sign with
    those keys, or with ACCESS_KEY/SECRET_KEY, which an engine without auth
    accepts. As a context manager (`with Server(...).start() as srv:`) it is
    stopped and its directory removed at the end of the block.
    """

    def __init__(
        self,
        region: str = REGION,
        extra_args: Iterable[str] = (),
        *,
        access_key: Optional[str] = None,
        secret_key: Optional[str] = None,
    ):
        self.region = region
        self.access_key = ACCESS_KEY if access_key is None else access_key
        self.secret_key = SECRET_KEY if secret_key is None else secret_key
        auth = ["--access-key", access_key, "--secret-key", secret_key] if access_key is not None else []
        self.extra_args = auth + list(extra_args)
        self.base = Path(tempfile.mkdtemp(prefix="smartstorage-test-"))
        self.sandbox = self.base / "sandbox"
        self.directory = self.sandbox / "storage"
        self.directory.mkdir(parents=True)
        self.log_path = self.base / "server.log"
        # SMARTSTORAGE_TEST_CLUSTER=N: the same engine in cluster mode over N drive
        # folders beside the storage dir (erasure-coded, see docs/cluster.md).
        drives = int(os.environ.get("SMARTSTORAGE_TEST_CLUSTER", "0") or 0)
        self.drives = [self.directory / f"drive{i}" for i in range(1, drives + 1)]
        if self.drives:
            self.extra_args += ["--cluster", "--quic-port", "0"]
            for d in self.drives:
                self.extra_args += ["--drive", str(d)]
        self.proc: Optional[subprocess.Popen] = None
        # A command the engine runs under (e.g. setpriv, to drop root's privileges).
        self.wrapper: list = []
        self.host = "127.0.0.1"
        self.port: Optional[int] = None
        self.external = False
        self._pump: Optional[threading.Thread] = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, port: int = 0) -> "Server":
        binary = binary_path()
        if not binary.exists():
            raise RuntimeError(
                f"engine binary {binary} does not exist; build it with "
                "`cargo build --release --manifest-path rust/Cargo.toml` "
                "or set SMARTSTORAGE_BINARY"
            )
        cmd = [
            *self.wrapper,
            str(binary),
            "serve",
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--directory",
            str(self.directory),
            "--region",
            self.region,
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(self.base),
            preexec_fn=_die_with_parent,
        )
        self.port = self._read_startup()
        self._pump = threading.Thread(target=self._drain_stdout, daemon=True)
        self._pump.start()
        self._wait_ready()
        return self

    def _read_startup(self) -> int:
        """Reads what the engine prints when it starts (its first stdout line,
        "ruststorage listening on http://HOST:PORT"); returns the port."""
        line_holder: list = []

        def read_first_line():
            try:
                line_holder.append(self.proc.stdout.readline())
            except Exception as exc:  # pragma: no cover
                line_holder.append(repr(exc).encode())

        t = threading.Thread(target=read_first_line, daemon=True)
        t.start()
        t.join(STARTUP_TIMEOUT)
        if not line_holder:
            self.stop()
            raise RuntimeError(f"engine printed nothing within {STARTUP_TIMEOUT}s; log:\n{self.log_tail()}")
        first = line_holder[0].decode("utf-8", "replace")
        m = LISTEN_RE.search(first)
        if not m:
            self.stop()
            raise RuntimeError(f"unexpected first stdout line from engine: {first!r}; log:\n{self.log_tail()}")
        return int(m.group(2))

    def _drain_stdout(self):
        # keep draining stdout so the engine never blocks on a full pipe
        try:
            for line in self.proc.stdout:
                self._log.write(b"[stdout] " + line)
                self._log.flush()
        except Exception:
            pass

    def _wait_ready(self):
        deadline = time.time() + STARTUP_TIMEOUT
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"engine is not accepting connections on port {self.port}; log:\n{self.log_tail()}")

    def revive(self) -> "Server":
        """Start again on the same directory *and port* (clients keep working)
        after the engine exited unexpectedly."""
        old_port = self.port
        self.stop()
        return self.start(port=old_port)

    def restart(self) -> "Server":
        """Stop (SIGTERM, graceful) and start again on the same directory
        (the port changes)."""
        self.stop()
        return self.start()

    def kill(self):
        """SIGKILL: no graceful shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None):
            try:
                self._log.close()
            except Exception:
                pass

    def cleanup(self):
        if os.environ.get("SMARTSTORAGE_KEEP_DATA") == "1":
            return
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()

    # -- clients -----------------------------------------------------------
    def client(self, **kw):
        """boto3 against this engine with its credentials (see make_client)."""
        return make_client(self.endpoint, self.region, access_key=self.access_key, secret_key=self.secret_key, **kw)

    def raw_client(self) -> "RawClient":
        return RawClient(self.endpoint, self.region, access_key=self.access_key, secret_key=self.secret_key)

    # -- info --------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.external or (self.proc is not None and self.proc.poll() is None)

    def log_tail(self, n: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "<no log>"
        return data[-n:].decode("utf-8", "replace")

    def require_local(self):
        if self.external:
            pytest.skip("needs a locally started engine (SMARTSTORAGE_TEST_ENDPOINT is set)")

    def status_field(self, field: str) -> int:
        """A kB field of /proc/PID/status (VmHWM, VmRSS), in bytes."""
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)


class ExternalServer(Server):
    """An already running S3 endpoint (SMARTSTORAGE_TEST_ENDPOINT), used to
    sanity-check the suite itself against another implementation."""

    def __init__(self, endpoint: str, region: str = REGION):
        self.region = region
        self.access_key, self.secret_key = ACCESS_KEY, SECRET_KEY
        m = re.match(r"https?://([^:/]+):(\d+)", endpoint)
        self.host, self.port = m.group(1), int(m.group(2))
        self.external = True
        self.proc = None
        self.directory = None
        self.sandbox = None
        self.base = None
        self.log_path = Path("/nonexistent")

    def start(self):
        return self

    def stop(self):
        pass

    def cleanup(self):
        pass


class EngineStartFailed(RuntimeError):
    """The engine refused its config: `error` is the management error (code, message)."""

    def __init__(self, error: dict):
        super().__init__(f"start failed: {error}")
        self.error = error


class ManagedEngine:
    """`ruststorage --management` started with a config holding several credentials
    (pairs, or dicts as the config takes them: accessKeyId, secretAccessKey, owner),
    and `config`'s sections merged over the test's defaults (e.g. {"server":
    {"metrics": {...}}}). stdin stays open while the engine runs; closing it stops
    the engine. `request` sends further management requests (e.g.
    replaceCredentials). A refused config raises EngineStartFailed."""

    def __init__(self, credentials, config: Optional[dict] = None):
        overrides = config or {}
        self.base = Path(tempfile.mkdtemp(prefix="smartstorage-policy-mgmt-"))
        self.directory = self.base / "storage"
        self.log = open(self.base / "engine.log", "ab")
        self.proc = subprocess.Popen(
            [str(binary_path()), "--management"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=str(self.base),
        )
        ready = json.loads(self._readline())
        assert ready.get("event") == "ready", f"first management line is not the ready event: {ready}"
        config = {
            "server": {"port": 0, "address": "127.0.0.1", "region": REGION},
            "storage": {"directory": str(self.directory)},
            "auth": {
                "enabled": True,
                "credentials": [
                    c if isinstance(c, dict) else {"accessKeyId": c[0], "secretAccessKey": c[1]}
                    for c in credentials
                ],
            },
        }
        # SMARTSTORAGE_TEST_CLUSTER=N: cluster mode over N drive folders, as Server does.
        drives = int(os.environ.get("SMARTSTORAGE_TEST_CLUSTER", "0") or 0)
        if drives:
            config["cluster"] = {
                "enabled": True,
                "quicPort": 0,
                "drives": [str(self.directory / f"drive{i}") for i in range(1, drives + 1)],
            }
        for section, values in overrides.items():
            config[section] = {**config.get(section, {}), **values} if isinstance(values, dict) else values
        self._send({"id": "1", "method": "start", "params": {"config": config}})
        while True:
            msg = json.loads(self._readline())
            if msg.get("id") == "1":
                break
        if msg.get("success") is not True:
            self.stop()
            raise EngineStartFailed(msg.get("error") or {})
        self.start_info = msg["result"]
        self.port = msg["result"]["port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._replies: dict = {}
        self._next_id = 2
        self._answered = threading.Condition()
        self._pump = threading.Thread(target=self._drain, daemon=True)
        self._pump.start()

    def request(self, method: str, params: dict) -> dict:
        """One management request; its reply (`success`, `result` / `error`)."""
        with self._answered:
            rid = str(self._next_id)
            self._next_id += 1
        self._send({"id": rid, "method": method, "params": params})
        with self._answered:
            self._answered.wait_for(lambda: rid in self._replies, timeout=30)
            return self._replies.pop(rid)

    def _readline(self) -> str:
        result = []
        t = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(30)
        if not result or not result[0]:
            self.stop()
            raise RuntimeError("management engine did not answer; log: " + self.log_tail())
        return result[0].decode()

    def _send(self, msg):
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def _drain(self):
        try:
            for line in self.proc.stdout:
                self.log.write(b"[stdout] " + line)
                self.log.flush()
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "id" in msg:
                    with self._answered:
                        self._replies[msg["id"]] = msg
                        self._answered.notify_all()
        except Exception:
            pass

    def log_tail(self):
        try:
            return (self.base / "engine.log").read_bytes()[-3000:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        if os.environ.get("SMARTSTORAGE_KEEP_DATA") != "1":
            shutil.rmtree(self.base, ignore_errors=True)



@contextlib.contextmanager
def started_server(
    region: str = REGION,
    extra_args: Iterable[str] = (),
    *,
    access_key: Optional[str] = None,
    secret_key: Optional[str] = None,
    server_class=None,
    external_ok: bool = False,
    why: str = "needs a locally started engine",
    **kw,
):
    """A running engine for the `with` block; stopped and its directory removed
    afterwards. With SMARTSTORAGE_TEST_ENDPOINT set: that endpoint if
    external_ok, else the test skips (`why`). server_class(**kw) replaces
    Server(region, extra_args, access_key=..., secret_key=...)."""
    ext = os.environ.get("SMARTSTORAGE_TEST_ENDPOINT")
    if ext:
        if not external_ok:
            pytest.skip(why)
        yield ExternalServer(ext, region)
        return
    if server_class is None:
        srv = Server(region, extra_args, access_key=access_key, secret_key=secret_key)
    else:
        srv = server_class(**kw)
    with srv:
        yield srv.start()


def server_fixture(region: str = REGION, *, scope: str = "module", **kw):
    """A pytest fixture running an engine of its own (arguments as for
    started_server). Assigned to `server` in a test module it replaces
    conftest's engine for that module, and conftest's `s3`, `raw`,
    `make_bucket`, `bucket`, `vbucket`, `signer`, `presigner` and the
    engine-alive check all use it:

        server = server_fixture(access_key="AKID...", secret_key="...")
    """

    @pytest.fixture(scope=scope)
    def server():
        with started_server(region, **kw) as srv:
            yield srv

    return server


# --------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------


def make_client(
    endpoint: str,
    region: str = REGION,
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    config: Optional[dict] = None,
    **s3cfg,
):
    """boto3 S3 client with the default config, except endpoint, credentials,
    region, optional s3 addressing config (**s3cfg, e.g. addressing_style),
    other botocore Config settings (`config`, e.g. {"signature_version": "s3v4"})
    and a single attempt (retries could hide a flaky engine)."""
    cfg = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3=s3cfg or None,
        **(config or {}),
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=cfg,
    )


class _S3Signer(SigV4Auth):
    # S3 does not normalise the path when signing
    def _normalize_url_path(self, path):
        return path


def qkey(key: str) -> str:
    """Percent-encode an object key for a URL path (keeps '/')."""
    return quote(key, safe="/~")


class RawResponse:
    def __init__(self, resp: requests.Response):
        self.resp = resp
        self.status = resp.status_code
        self.headers = resp.headers

    @property
    def content(self) -> bytes:
        # lazy, so that stream=True responses are not read into memory
        return self.resp.content

    @property
    def text(self) -> str:
        return self.resp.text

    def xml(self) -> ET.Element:
        assert self.content, f"expected an XML body, got an empty body (status {self.status})"
        return strip_ns(ET.fromstring(self.content))

    def error(self) -> dict:
        return parse_error(self.content)

    def __repr__(self):
        return f"<RawResponse {self.status} {dict(self.headers)} {self.content[:500]!r}>"


class RawClient:
    """Minimal SigV4-signing HTTP client built on `requests`."""

    def __init__(self, endpoint: str, region: str = REGION, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.session = requests.Session()
        self.creds = Credentials(access_key, secret_key)

    def request(
        self,
        method: str,
        path: str,
        params=None,
        headers=None,
        data=b"",
        host: Optional[str] = None,
        sign: bool = True,
        stream: bool = False,
        allow_redirects: bool = False,
    ) -> RawResponse:
        """`path` must already be percent-encoded (use qkey)."""
        url = self.endpoint + path
        if params:
            # encode query ourselves so that the exact string is both signed and sent
            parts = []
            for k, v in (params.items() if isinstance(params, dict) else params):
                if v is None:
                    parts.append(quote(k, safe="-_.~"))
                else:
                    parts.append(f"{quote(k, safe='-_.~')}={quote(str(v), safe='-_.~')}")
            url += "?" + "&".join(parts)
        hdrs = dict(headers or {})
        if host:
            hdrs["Host"] = host
        if sign:
            body_hash = (
                hashlib.sha256(data).hexdigest() if isinstance(data, (bytes, bytearray)) else "UNSIGNED-PAYLOAD"
            )
            hdrs.setdefault("X-Amz-Content-SHA256", body_hash)
            areq = AWSRequest(method=method, url=url, headers=hdrs, data=b"")
            _S3Signer(self.creds, "s3", self.region).add_auth(areq)
            hdrs = dict(areq.headers.items())
        resp = self.session.request(
            method,
            url,
            headers=hdrs,
            data=data,
            timeout=HTTP_TIMEOUT,
            stream=stream,
            allow_redirects=allow_redirects,
        )
        return RawResponse(resp)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


# --------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------


def strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    return root


def parse_error(content: bytes) -> dict:
    assert content, "expected an S3 XML error body, got an empty body"
    try:
        root = strip_ns(ET.fromstring(content))
    except ET.ParseError as exc:
        raise AssertionError(f"error body is not XML ({exc}): {content[:300]!r}")
    assert root.tag == "Error", f"error body root is <{root.tag}>, expected <Error>: {content[:300]!r}"
    return {child.tag: (child.text or "") for child in root}


def xml_texts(root: ET.Element, path: str) -> list:
    return [(e.text or "") for e in root.findall(path)]


# --------------------------------------------------------------------------
# assertions
# --------------------------------------------------------------------------


def expect_error(fn: Callable, code: Optional[str], status: int) -> dict:
    """Run a boto3 call that must fail with `code`/`status`. For HEAD
    requests (no body) pass code=None: only the status is checked."""
    with pytest.raises(ClientError) as ei:
        fn()
    resp = ei.value.response
    got_status = resp["ResponseMetadata"]["HTTPStatusCode"]
    got_code = resp.get("Error", {}).get("Code")
    assert (got_status, got_code if code is not None else None) == (status, code), (
        f"expected {status} {code}, got {got_status} {got_code}: {resp.get('Error')}"
    )
    return resp


def assert_raw_error(r: RawResponse, code: str, status: int) -> dict:
    assert r.status == status, f"expected HTTP {status} {code}, got {r.status}: {r.content[:500]!r}"
    err = r.error()
    assert err.get("Code") == code, f"expected code {code}, got {err.get('Code')}: {err}"
    assert err.get("Message"), f"error body has no Message: {err}"
    assert err.get("RequestId"), f"error body has no RequestId: {err}"
    assert r.headers.get("x-amz-request-id"), "missing x-amz-request-id header"
    assert err["RequestId"] == r.headers["x-amz-request-id"], (
        f"RequestId in body {err['RequestId']!r} != x-amz-request-id header {r.headers['x-amz-request-id']!r}"
    )
    return err


def assert_error(resp: requests.Response, code: str, status: int) -> dict:
    """A plain `requests` response must be the S3 error `code` with `status`."""
    assert resp.status_code == status, (
        f"expected HTTP {status} {code}, got {resp.status_code}: {resp.content[:600]!r}"
    )
    err = parse_error(resp.content)
    assert err.get("Code") == code, f"expected code {code}, got {err.get('Code')}: {err}"
    return err


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key=key)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, (
        f"{key} must not exist after a rejected request: {ei.value.response}"
    )


def assert_content(s3, bucket, key, expected: bytes):
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert got == expected, f"{key}: expected {len(expected)} bytes {expected[:40]!r}, got {len(got)} {got[:40]!r}"


def assert_serving(s3, bucket: Optional[str] = None):
    """A rejected request must leave the engine serving valid requests."""
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    if bucket:
        key = f"alive-{uuid.uuid4().hex[:8]}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"alive")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"alive"
        s3.delete_object(Bucket=bucket, Key=key)


# --------------------------------------------------------------------------
# data and checksums
# --------------------------------------------------------------------------


def data_of(n: int, seed: str = "x") -> bytes:
    """n deterministic bytes (sha256 of the seed, repeated)."""
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (n // len(block) + 1))[:n]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def multipart_etag(parts: list) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    t = _CRC32C
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283 == _crt_checksums.crc32c(b"123456789")


# base64 of the big-endian digest: the value of an x-amz-checksum-* header
def b64_crc32(data: bytes) -> str:
    return base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()


def b64_crc32c(data: bytes) -> str:
    return base64.b64encode(_crt_checksums.crc32c(data).to_bytes(4, "big")).decode()


def b64_crc64nvme(data: bytes) -> str:
    return base64.b64encode(_crt_checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def b64_sha1(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


# x-amz-checksum-<name>: (encoder, boto3 response field)
CHECKSUMS = {
    "crc32": (b64_crc32, "ChecksumCRC32"),
    "crc32c": (b64_crc32c, "ChecksumCRC32C"),
    "crc64nvme": (b64_crc64nvme, "ChecksumCRC64NVME"),
    "sha1": (b64_sha1, "ChecksumSHA1"),
    "sha256": (b64_sha256, "ChecksumSHA256"),
}


# --------------------------------------------------------------------------
# naming & cleanup
# --------------------------------------------------------------------------


def unique_bucket_name(hint: str = "") -> str:
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:36].strip("-")
    name = f"t-{hint}-{uuid.uuid4().hex[:12]}" if hint else f"t-{uuid.uuid4().hex[:16]}"
    return name[:63]


def cleanup_bucket(s3, name: str):
    """Best effort: drop the bucket policy (the owner always may, so a
    Deny-everything policy cannot keep the rest from working), abort uploads,
    delete all objects, delete the bucket; if that fails because versions or
    delete markers are left (a versioned bucket), delete those and try again."""
    try:
        s3.delete_bucket_policy(Bucket=name)
    except Exception:
        pass
    try:
        kw = {"Bucket": name}
        while True:
            r = s3.list_multipart_uploads(**kw)
            for u in r.get("Uploads", []):
                try:
                    s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
                except ClientError:
                    pass
            if not r.get("IsTruncated"):
                break
            kw = {
                "Bucket": name,
                "KeyMarker": r.get("NextKeyMarker", ""),
                "UploadIdMarker": r.get("NextUploadIdMarker", ""),
            }
    except Exception:
        pass
    try:
        token = None
        for _ in range(1000):
            kw = {"Bucket": name}
            if token:
                kw["ContinuationToken"] = token
            r = s3.list_objects_v2(**kw)
            keys = [o["Key"] for o in r.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                try:
                    s3.delete_objects(
                        Bucket=name,
                        Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
                    )
                except ClientError:
                    for k in keys[i : i + 1000]:
                        try:
                            s3.delete_object(Bucket=name, Key=k)
                        except ClientError:
                            pass
            if not r.get("IsTruncated"):
                break
            token = r.get("NextContinuationToken")
            if not token:
                break
    except Exception:
        pass
    try:
        s3.delete_bucket(Bucket=name)
        return
    except Exception:
        pass
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            objs = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objs:
                s3.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


def assert_server_healthy(s3):
    """A failed request must leave the engine serving normal requests."""
    r = s3.list_buckets()
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def auth_server_fixture(access_key: str, secret_key: str, region: str = REGION, *, why: str = "starts its own auth-enabled engine", **kw):
    """server_fixture with SigV4 auth on (`--access-key/--secret-key`); assign
    its result to `server` in the module."""
    return server_fixture(region, access_key=access_key, secret_key=secret_key, why=why, **kw)


def tmp_files(directory, details: bool = False) -> list:
    """The files under DIR/.tmp, where the engine stages writes (spread over shard
    folders, which stay): empty whenever no write is in flight."""
    directory = Path(directory)
    files = sorted(p for p in (directory / ".tmp").rglob("*") if not p.is_dir())
    if details:
        return [(str(p.relative_to(directory)), p.stat().st_size, p.stat().st_nlink) for p in files]
    return [str(p.relative_to(directory)) for p in files]
