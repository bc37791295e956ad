"""Cluster mode (four drive folders, 2+2) with a drive made unreadable while serving
(`chmod 000`), the way a failing disk or a wrong mount option shows up. Root reads
through `chmod 000`, so as root the engine runs as `nobody` (setpriv). Every read is
checked by SHA-256; the engine must never answer 500 or wrong bytes, and must take
the drive back when it is readable again. (Drives pulled, rotting, emptied or full,
and the health report, are covered by tests/cluster.test.ts.)"""

from __future__ import annotations

import hashlib
import os
import shutil
import time

import pytest

from helpers import MiB, Server

NOBODY = 65534


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def engine(monkeypatch):
    if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
        pytest.skip("needs a locally started engine")
    root = os.geteuid() == 0
    if root and not shutil.which("setpriv"):
        pytest.skip("as root, needs setpriv to run the engine unprivileged")
    monkeypatch.setenv("SMARTSTORAGE_PROBE_INTERVAL_MS", "200")
    monkeypatch.delenv("SMARTSTORAGE_TEST_CLUSTER", raising=False)  # drives of its own
    srv = Server()
    drives = [srv.directory / f"drive{i}" for i in range(1, 5)]
    srv.extra_args += ["--cluster", "--quic-port", "0", "--no-fsync"]
    for d in drives:
        d.mkdir()
        srv.extra_args += ["--drive", str(d)]
    if root:
        for path in [srv.base, srv.sandbox, srv.directory]:
            os.chmod(path, 0o755)
        for d in drives:
            os.chown(d, NOBODY, NOBODY)
        srv.wrapper = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    with srv:
        srv.start()
        yield srv, drives


def test_unreadable_drive_is_read_around_and_taken_back(engine):
    srv, drives = engine
    s3 = srv.client()
    s3.create_bucket(Bucket="faults")
    large = os.urandom(3 * MiB + 17)
    small = os.urandom(20_000)
    s3.put_object(Bucket="faults", Key="large", Body=large)
    s3.put_object(Bucket="faults", Key="small", Body=small)
    if os.geteuid() == 0:  # the fault is real only for an unprivileged engine
        status = open(f"/proc/{srv.proc.pid}/status").read()
        assert f"Uid:\t{NOBODY}\t" in status, status
    os.chmod(drives[1], 0o000)
    try:
        time.sleep(1)  # the prober sees it (every 200 ms here)
        for key, body in (("large", large), ("small", small)):
            assert sha(s3.get_object(Bucket="faults", Key=key)["Body"].read()) == sha(body)
        # Writes go on: three drives are the write quorum.
        during = os.urandom(2 * MiB + 5)
        s3.put_object(Bucket="faults", Key="during", Body=during)
        assert sha(s3.get_object(Bucket="faults", Key="during")["Body"].read()) == sha(during)
        s3.delete_object(Bucket="faults", Key="small")
    finally:
        os.chmod(drives[1], 0o755)
    time.sleep(1)
    after = os.urandom(MiB)
    s3.put_object(Bucket="faults", Key="after", Body=after)
    for key, body in (("large", large), ("during", during), ("after", after)):
        assert sha(s3.get_object(Bucket="faults", Key=key)["Body"].read()) == sha(body)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="faults").get("Contents", []))
    assert keys == ["after", "during", "large"]
    assert srv.proc.poll() is None, "the engine is still running"
