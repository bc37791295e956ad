"""Shared helpers for the smartstorage S3 conformance suite.

Everything here is client-side: starting/stopping the engine binary, a small
raw-HTTP client (SigV4-signed with botocore so it also works if auth is ever
switched on), XML helpers and assertion helpers.
"""

from __future__ import annotations

import base64
import hashlib
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
from pathlib import Path
from typing import Callable, Iterable, Optional
from urllib.parse import quote

import boto3
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


class Server:
    """One running engine: `ruststorage serve --port 0 --directory DIR`.

    Layout on disk (so the path-escape tests can watch the neighbourhood of the
    storage directory):

        <base>/server.log            engine stderr (+ stdout after line 1)
        <base>/sandbox/              parent of the storage dir, watched by tests
        <base>/sandbox/storage/      --directory
    """

    def __init__(self, region: str = REGION, extra_args: Iterable[str] = ()):
        self.region = region
        self.extra_args = list(extra_args)
        self.base = Path(tempfile.mkdtemp(prefix="smartstorage-test-"))
        self.sandbox = self.base / "sandbox"
        self.directory = self.sandbox / "storage"
        self.directory.mkdir(parents=True)
        self.log_path = self.base / "server.log"
        self.proc: Optional[subprocess.Popen] = None
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
        self.port = int(m.group(2))

        def pump():
            # keep draining stdout so the engine never blocks on a full pipe
            try:
                for line in self.proc.stdout:
                    self._log.write(b"[stdout] " + line)
                    self._log.flush()
            except Exception:
                pass

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        self._wait_ready()
        return self

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


def start_server(region: str = REGION, extra_args: Iterable[str] = ()) -> Server:
    ext = os.environ.get("SMARTSTORAGE_TEST_ENDPOINT")
    if ext:
        return ExternalServer(ext, region)
    return Server(region, extra_args).start()


# --------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------


def make_client(endpoint: str, region: str = REGION, **s3cfg):
    """boto3 S3 client with the default config, except endpoint, credentials,
    region, optional s3 addressing config, and a single attempt (retries could
    hide a flaky engine)."""
    cfg = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3=s3cfg or None,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
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

    def __init__(self, endpoint: str, region: str = REGION):
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.session = requests.Session()
        self.creds = Credentials(ACCESS_KEY, SECRET_KEY)

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


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def multipart_etag(parts: list) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


# --------------------------------------------------------------------------
# naming & cleanup
# --------------------------------------------------------------------------


def unique_bucket_name(hint: str = "") -> str:
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:36].strip("-")
    name = f"t-{hint}-{uuid.uuid4().hex[:12]}" if hint else f"t-{uuid.uuid4().hex[:16]}"
    return name[:63]


def cleanup_bucket(s3, name: str):
    """Best effort: abort uploads, delete all objects, delete the bucket."""
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
    except Exception:
        pass


def assert_server_healthy(s3):
    """A failed request must leave the engine serving normal requests."""
    r = s3.list_buckets()
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def auth_server_fixture(access_key: str, secret_key: str, region: str = REGION, *, server_class=None, why: str = "starts its own auth-enabled engine", **kw):
    """A module-scoped `server` fixture running an engine with SigV4 auth on
    (`--access-key/--secret-key`); assign its result to `server` in the module."""

    @pytest.fixture(scope="module")
    def server():
        if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
            pytest.skip(why)
        if server_class is None:
            srv = Server(region, extra_args=["--access-key", access_key, "--secret-key", secret_key]).start()
        else:
            srv = server_class(**kw).start()
        try:
            yield srv
        finally:
            srv.stop()
            srv.cleanup()

    return server


def tmp_files(directory, details: bool = False) -> list:
    """The files under DIR/.tmp, where the engine stages writes (spread over shard
    folders, which stay): empty whenever no write is in flight."""
    directory = Path(directory)
    files = sorted(p for p in (directory / ".tmp").rglob("*") if not p.is_dir())
    if details:
        return [(str(p.relative_to(directory)), p.stat().st_size, p.stat().st_nlink) for p in files]
    return [str(p.relative_to(directory)) for p in files]
