"""Server-side encryption tests' support: an engine started through the
management protocol (`ruststorage --management`), because the key ring of
SSE-KMS (`encryption.kmsKeys`) can only be given in a config; SSE-C header
builders; a scan of the storage folder for bytes that must not be at rest.

    server = sse_server_fixture()            # HTTP, allowSseCOverHttp, key ring
    tls = sse_server_fixture(tls=True, ...)  # plain HTTP port + HTTPS port, SSE-C over HTTPS only
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Optional

import boto3
import pytest
from botocore.config import Config

from helpers import STARTUP_TIMEOUT, Server, _die_with_parent, binary_path

MASTER_KEY = base64.b64encode(hashlib.sha256(b"sse-test master key").digest()).decode()
KMS_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KMS_KEY_ID = "other-key"
KMS_KEYS = {
    KMS_KEY_ID: base64.b64encode(hashlib.sha256(b"kms key 1").digest()).decode(),
    OTHER_KMS_KEY_ID: base64.b64encode(hashlib.sha256(b"kms key 2").digest()).decode(),
}

CLUSTER = int(os.environ.get("SMARTSTORAGE_TEST_CLUSTER", "0") or 0) > 0


class EncryptedServer(Server):
    """The engine started by `start` over the management protocol with an
    `encryption` config; otherwise a helpers.Server (conftest's fixtures, the
    alive check and revive work as usual). With tls=True the config serves
    plain HTTP on `port` and HTTPS on `tls_port` (self-signed; `ca_pem`)."""

    def __init__(self, encryption: dict, *, tls: bool = False):
        super().__init__()
        self.encryption = encryption
        self.tls = tls
        self.tls_port: Optional[int] = None
        self.ca_pem = self.base / "ca.pem"

    def start(self, port: int = 0) -> "EncryptedServer":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(binary_path()), "--management"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(self.base),
            preexec_fn=_die_with_parent,
        )
        ready = json.loads(self._readline())
        assert ready.get("event") == "ready", ready
        config = {
            "server": {"port": port, "address": "127.0.0.1", "region": self.region},
            "storage": {"directory": str(self.directory)},
            "encryption": self.encryption,
        }
        if self.tls:
            config["server"]["tls"] = {"selfSigned": True, "port": self.tls_port or 0}
        if self.drives:
            config["cluster"] = {"enabled": True, "drives": [str(d) for d in self.drives], "quicPort": 0}
        self.proc.stdin.write((json.dumps({"id": "start", "method": "start", "params": {"config": config}}) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            msg = json.loads(self._readline())
            if msg.get("id") == "start":
                break
        if not msg.get("success"):
            self.stop()
            raise RuntimeError(f"start failed: {msg}; log:\n{self.log_tail()}")
        result = msg["result"]
        self.port = result["port"]
        if self.tls:
            self.tls_port = result["tlsPort"]
            self.ca_pem.write_text(result["certificatePem"])
        self._pump = threading.Thread(target=self._drain_stdout, daemon=True)
        self._pump.start()
        self._wait_ready()
        return self

    def _readline(self) -> str:
        got: list = []
        t = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(STARTUP_TIMEOUT)
        if not got or not got[0]:
            self.stop()
            raise RuntimeError(f"management engine did not answer; log:\n{self.log_tail()}")
        return got[0].decode()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None and self.proc.stdin:
            try:
                self.proc.stdin.close()  # the engine exits when its stdin closes
                self.proc.wait(10)
            except Exception:
                pass
        super().stop()

    @property
    def https_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def https_client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.https_endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
            verify=str(self.ca_pem),
        )


def sse_server_fixture(*, tls: bool = False, allow_http: bool = True, master_key: bool = True):
    encryption = {"kmsKeys": KMS_KEYS, "allowSseCOverHttp": allow_http}
    if master_key:
        encryption["masterKey"] = MASTER_KEY

    @pytest.fixture(scope="module")
    def server():
        if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
            pytest.skip("needs an engine with an encryption config")
        srv = EncryptedServer(encryption, tls=tls)
        with srv:
            yield srv.start()

    return server


# ---- SSE-C ----------------------------------------------------------------


def customer_key(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ssec_args(key: bytes) -> dict:
    """boto3 arguments (it adds the MD5 itself)."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def ssec_headers(key: bytes, *, md5: Optional[str] = "auto", algorithm: Optional[str] = "AES256",
                 prefix: str = "x-amz-server-side-encryption-customer-") -> dict:
    """Raw SSE-C headers; md5=None leaves the MD5 out, algorithm=None the algorithm."""
    h = {}
    if algorithm is not None:
        h[prefix + "algorithm"] = algorithm
    if key is not None:
        h[prefix + "key"] = b64(key)
    if md5 == "auto":
        md5 = b64(hashlib.md5(key).digest())
    if md5 is not None:
        h[prefix + "key-MD5"] = md5
    return h


def copy_ssec_headers(key: bytes, **kw) -> dict:
    return ssec_headers(key, prefix="x-amz-copy-source-server-side-encryption-customer-", **kw)


def key_md5(key: bytes) -> str:
    return b64(hashlib.md5(key).digest())


# ---- at rest ----------------------------------------------------------------


def files_containing(root: Path, needles: list) -> list:
    """(path, needle) for every file under root holding one of the needles."""
    found = []
    for p in sorted(Path(root).rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        try:
            data = p.read_bytes()
        except OSError:
            continue
        for n in needles:
            if n in data:
                found.append((str(p.relative_to(root)), n[:32]))
    return found
