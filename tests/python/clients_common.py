"""Shared support for the real-client tests (tests/python/test_clients_*.py).

Each test_clients_* module starts its own engine with --access-key/--secret-key
(SigV4/SigV2 auth on): `server = server_fixture()` (below), so that conftest's
`s3` (boto3 at its default configuration, see ClientsServer.client),
`make_bucket` and the engine-alive check use that engine. The CLI
tools (awscli, rclone, s3cmd, mc) are installed by install_clients.sh; a test
whose tool is missing is skipped with the reason and the install hint.

Environment:
  SMARTSTORAGE_CLIENTS_BIG_MIB     size of the one multi-GiB transfer (awscli, default 2048)
  SMARTSTORAGE_CLIENTS_BOTO3_MIB   size of the boto3 transfer-manager file (default 1024)
  SMARTSTORAGE_CLIENTS_SKIP_BIG=1  skip the multi-GiB awscli and 1 GiB boto3 transfers
  SMARTSTORAGE_CLIENTS_BIN         where install_clients.sh put mc (default ~/.cache/smartstorage-clients/bin)
  SMARTSTORAGE_AWS                 the aws command to use (default: Debian's /usr/bin/aws v2,
                                   else the venv's pip awscli v1)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import boto3
import pytest

import helpers
from helpers import MiB, Server

ACCESS_KEY = "AKIDCLIENTS"
# '/' and '+' on purpose: tools must encode the secret correctly when signing
SECRET_KEY = "cl1ents/Secret+Key/With+Odd/Chars0123456"
REGION = "us-east-1"
GiB = 1024 * MiB

CLIENTS_BIN = Path(os.environ.get("SMARTSTORAGE_CLIENTS_BIN", str(Path.home() / ".cache" / "smartstorage-clients" / "bin")))
INSTALL_HINT = "run tests/python/install_clients.sh"

_LISTEN_RE = re.compile(r"ruststorage listening on (https?)://([0-9.]+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)")


# --------------------------------------------------------------------------
# engine
# --------------------------------------------------------------------------


class ClientsServer(Server):
    """helpers.Server with auth always on and optional --tls-self-signed (the
    certificate PEM printed after the first stdout line is saved to
    `self.ca_pem`)."""

    def __init__(self, tls: bool = False, extra_args=()):
        args = [*extra_args]
        if tls:
            args.append("--tls-self-signed")
        super().__init__(REGION, extra_args=args, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.ca_pem: Optional[Path] = None

    def _read_startup(self) -> int:
        if not self.tls:
            return super()._read_startup()
        # with TLS the listening line is followed by the certificate PEM
        lines: list = []
        done = threading.Event()

        def read_header():
            try:
                while True:
                    line = self.proc.stdout.readline()
                    if not line:
                        break
                    lines.append(line.decode("utf-8", "replace"))
                    if "END CERTIFICATE" in lines[-1]:
                        break
            finally:
                done.set()

        threading.Thread(target=read_header, daemon=True).start()
        done.wait(30)
        m = _LISTEN_RE.search(lines[0]) if lines else None
        if not m or m.group(1) != "https" or not any("END CERTIFICATE" in l for l in lines):
            self.stop()
            raise RuntimeError(f"unexpected TLS startup output {lines!r}; log:\n{self.log_tail()}")
        pem = "".join(lines)
        pem = pem[pem.index("-----BEGIN CERTIFICATE-----"):]
        self.ca_pem = self.base / "ca.pem"
        self.ca_pem.write_text(pem)
        return int(m.group(3))

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def client(self, **kw):
        """boto3 at its default configuration (see boto3_client); over TLS it
        trusts the engine's certificate."""
        if self.tls:
            kw.setdefault("verify", str(self.ca_pem))
        return boto3_client(self.endpoint, **kw)


def server_fixture(tls: bool = False):
    """A module-scoped `server` fixture (a ClientsServer): assign its result to `server`."""
    return helpers.server_fixture(REGION, server_class=ClientsServer, tls=tls, why="client tests start their own auth-enabled engine")


def boto3_client(endpoint: str, **kw):
    """boto3 with its default configuration (retries, checksums, transfer
    behaviour all left as shipped), only endpoint/credentials/region set."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        **kw,
    )


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------


def clean_env(**extra) -> dict:
    """The environment minus anything that could steer a client elsewhere
    (AWS_*, proxies, CA bundles set for this machine, rclone/mc config)."""
    drop_prefixes = ("AWS_", "RCLONE_", "MC_", "S3CMD")
    drop = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
            "SSL_CERT_FILE", "SSL_CERT_DIR"}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(drop_prefixes) and k.upper() not in drop}
    env.update(PYTHONIOENCODING="utf-8", LC_ALL="C.UTF-8", LANG="C.UTF-8", AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")
    env.update({k: str(v) for k, v in extra.items()})
    return env


SMALL_OP_LIMIT = float(os.environ.get("SMARTSTORAGE_CLIENTS_SMALL_OP_LIMIT", "25"))


def run(cmd, env, *, check=True, cwd=None, timeout=600, input=None, limit=None, binary=False) -> subprocess.CompletedProcess:
    """Run a client command; on failure the assertion shows the command, the
    exit code and both outputs (the tail, if long). `limit` (seconds): fail
    if a command that moves little data takes longer, which is how stalls show
    (e.g. a client waiting for a keep-alive connection to close). binary=True:
    stdout and stderr stay bytes (a download to stdout)."""
    t0 = time.time()
    if binary or isinstance(input, (bytes, bytearray)):  # binary stdin/stdout: decode the outputs ourselves
        p = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, cwd=cwd, timeout=timeout, input=input)
        if not binary:
            p.stdout = p.stdout.decode("utf-8", "replace")
            p.stderr = p.stderr.decode("utf-8", "replace")
    else:
        p = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, encoding="utf-8",
                           errors="replace", cwd=cwd, timeout=timeout, input=input)
    p.elapsed = time.time() - t0
    if check and p.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))}\n-> exit {p.returncode} after {p.elapsed:.1f}s\n"
            f"--- stdout (tail) ---\n{p.stdout[-6000:]}\n--- stderr (tail) ---\n{p.stderr[-6000:]}"
        )
    if limit is not None and p.elapsed > limit:
        raise AssertionError(
            f"{' '.join(map(str, cmd))}\n-> took {p.elapsed:.1f}s (> {limit:.0f}s for a small transfer: a stall)\n"
            f"--- stderr (tail) ---\n{p.stderr[-3000:]}"
        )
    return p


def find_tool(name: str, *candidates) -> str:
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which(name)
    if found:
        return found
    pytest.skip(f"{name} is not installed ({INSTALL_HINT})")


def aws_base(flavor: str = "auto") -> list:
    """The aws command line for a flavour: "debian" (/usr/bin/aws, v2 from
    Debian), "pip" (the venv's pip awscli v1, pinned in requirements.txt) or
    "auto" (Debian's if present, else pip's). $SMARTSTORAGE_AWS overrides auto."""
    if flavor == "auto":
        exe = os.environ.get("SMARTSTORAGE_AWS")
        if exe:
            return exe.split()
        flavor = "debian" if Path("/usr/bin/aws").exists() else "pip"
    if flavor == "debian":
        if not Path("/usr/bin/aws").exists():
            pytest.skip(f"Debian's awscli (/usr/bin/aws) is not installed ({INSTALL_HINT})")
        return ["/usr/bin/aws"]
    return [sys.executable, "-m", "awscli"]


def aws_command(endpoint: str, cfgdir: Path, *extra, flavor: str = "auto", required: bool = False):
    """A function running the AWS CLI at default settings against endpoint
    (see aws_base for the flavour). Credentials come from files in cfgdir.
    An aws that does not run skips the test, or fails it if `required`."""
    base = aws_base(flavor)
    cfgdir.mkdir(parents=True, exist_ok=True)
    (cfgdir / "config").write_text(f"[default]\nregion = {REGION}\noutput = json\n")
    (cfgdir / "credentials").write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    env = clean_env(AWS_CONFIG_FILE=cfgdir / "config", AWS_SHARED_CREDENTIALS_FILE=cfgdir / "credentials")
    p = run([*base, "--version"], env, check=False)
    if p.returncode != 0:
        (pytest.fail if required else pytest.skip)(f"aws is not runnable ({base}): {p.stderr.strip()[:300]} ({INSTALL_HINT})")

    def aws_(*args, **kw):
        return run([*base, "--endpoint-url", endpoint, *extra, *args], env, **kw)

    aws_.version = (p.stdout + p.stderr).strip()
    aws_.flavor = flavor
    return aws_


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def random_file(path: Path, size: int) -> str:
    """`size` random bytes (from /dev/urandom, so every part differs and a
    misplaced part cannot go unnoticed) written to `path`; returns the sha256."""
    h = hashlib.sha256()
    left = size
    with open(path, "wb") as f:
        while left > 0:
            b = os.urandom(min(8 * MiB, left))
            h.update(b)
            f.write(b)
            left -= len(b)
    return h.hexdigest()


# names with spaces, unicode (NFC and NFD forms are different keys), plus,
# ampersand, percent, quotes, a leading dash, nested empty-ish folders
TREE = {
    "readme.txt": b"top level\n",
    "dir one/file with spaces.txt": b"spaces\n",
    "dir one/nested/deep/leaf.bin": None,  # random 70 KiB
    "ünïcödé/文件 名.txt": "unicode content ✓\n".encode(),
    "ünïcödé/emoji 🎉 party.md": b"# party\n",
    "café/ελληνικά/Ω.txt": b"greek\n",
    "cafe\u0301/nfd.txt": b"decomposed e-acute folder\n",
    "symbols/plus+and&amp=eq.txt": b"symbols\n",
    "symbols/100% done.txt": b"percent\n",
    "symbols/it's \"quoted\".txt": b"quotes\n",
    "symbols/-leading dash.txt": b"dash\n",
    "empty.dat": b"",
    "medium.bin": None,  # random 3 MiB (single part for every tool)
}


def make_tree(root: Path, age_seconds: int = 3600, nfd: bool = True, empty: bool = True) -> dict:
    """Write TREE under root; returns {relative posix path: sha256}. Files are
    dated in the past, as in real life (sync tools compare mtimes). nfd=False
    leaves out the folder whose name differs from another only by Unicode
    normalisation (for tools that normalise names themselves); empty=False
    leaves out the zero-length file."""
    out = {}
    for rel, data in TREE.items():
        if not nfd and rel.startswith("cafe\u0301"):
            continue
        if not empty and data == b"":
            continue
        if data is None:
            data = os.urandom(3 * MiB if rel == "medium.bin" else 70 * 1024)
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        past = time.time() - age_seconds
        os.utime(p, (past, past))
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def tree_hashes(root: Path) -> dict:
    """{relative posix path: sha256} of every regular file under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def list_keys(s3, bucket: str, prefix: str = "") -> list:
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            return keys
        token = r["NextContinuationToken"]


def remote_hashes(s3, bucket: str, prefix: str) -> dict:
    """{key minus prefix: sha256 of the stored bytes}."""
    out = {}
    for k in list_keys(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        out[k[len(prefix):]] = hashlib.sha256(body).hexdigest()
    return out


def big_enabled() -> bool:
    return os.environ.get("SMARTSTORAGE_CLIENTS_SKIP_BIG") != "1"


class BigTemp:
    """A temp dir for multi-GiB files, removed at once (pytest's tmp_path
    keeps the last runs' files around)."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="smartstorage-clients-"))
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
