"""Space freed by deletes and overwrites on a file system that trims blocks online.

Mounted with `-o discard`, ext4 trims freed blocks inside the `unlink` (or the
`rename` over an old file) that frees them, so the engine parks what a request
removes in `.tmp` and a thread of its own unlinks it (`storage/trash.rs`). What a
user sees must not change: a deleted object is gone and an overwritten one new at
once, and the space they held comes back, soon after the request and across a crash.

Runs on a loop-mounted ext4 without a journal, mounted with discard, as the bench
machine's disk is (root only; skipped otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from helpers import Server, loop_mounted_ext4

MiB = 1024 * 1024


@pytest.fixture
def discard_ext4():
    """A 256 MiB ext4 without a journal, mounted with discard; unmounted after the test."""
    with loop_mounted_ext4(256, ["-O", "^has_journal"], "loop,discard") as mnt:
        yield mnt


def used(mnt: Path) -> int:
    """Bytes in use on the file system, less the engine's intent journal (its files
    grow by steps of zeros written ahead, whatever the objects do)."""
    os.sync()
    st = os.statvfs(mnt)
    journal = sum(f.stat().st_blocks * 512 for f in mnt.rglob(".journal/*") if f.is_file())
    return (st.f_blocks - st.f_bfree) * st.f_frsize - journal


def parked(storage: Path) -> list[str]:
    return [p.name for p in (storage / ".tmp").rglob("*.trash")]


def wait_until_freed(mnt: Path, storage: Path, before: int, freed_at_least: int) -> int:
    """Waits up to 15 s until nothing is parked and `freed_at_least` bytes came back."""
    deadline = time.monotonic() + 15
    while True:
        freed = before - used(mnt)
        if not parked(storage) and freed >= freed_at_least:
            return freed
        if time.monotonic() > deadline:
            pytest.fail(f"after 15 s: {freed} of {freed_at_least} bytes back, parked: {parked(storage)[:5]}")
        time.sleep(0.1)


def assert_gone(s3, bucket: str, key: str):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert e.value.response["Error"]["Code"] == "NoSuchKey", key


@pytest.fixture
def engine(discard_ext4):
    """An engine storing in `storage` on the discard-mounted file system."""
    srv = Server()
    srv.directory = discard_ext4 / "storage"
    srv.directory.mkdir()
    try:
        srv.start()
        # The engine saw the mount's `discard`, so what follows runs with parking on.
        assert "unlinked in the background" in srv.log_tail(), srv.log_tail()
        yield srv
    finally:
        srv.stop()
        srv.cleanup()


def test_deleted_and_overwritten_objects_give_their_space_back(discard_ext4, engine):
    s3 = engine.client()
    s3.create_bucket(Bucket="trash-t")
    bodies = {f"k{i}": os.urandom(2 * MiB) for i in range(12)}
    for key, body in bodies.items():
        s3.put_object(Bucket="trash-t", Key=key, Body=body)
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB)]
    upload = s3.create_multipart_upload(Bucket="trash-t", Key="mp")["UploadId"]
    etags = [
        s3.upload_part(Bucket="trash-t", Key="mp", UploadId=upload, PartNumber=n, Body=p)["ETag"]
        for n, p in enumerate(parts, 1)
    ]
    before = used(discard_ext4)

    for i in range(4):  # overwrites, small and large
        bodies[f"k{i}"] = os.urandom(4096 if i % 2 else 3 * MiB)
        s3.put_object(Bucket="trash-t", Key=f"k{i}", Body=bodies[f"k{i}"])
    s3.delete_object(Bucket="trash-t", Key="k4")
    s3.delete_objects(Bucket="trash-t", Delete={"Objects": [{"Key": f"k{i}"} for i in range(5, 10)], "Quiet": True})
    s3.complete_multipart_upload(
        Bucket="trash-t",
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    # Gone or new at once.
    for i in range(4, 10):
        assert_gone(s3, "trash-t", f"k{i}")
    for key in ("k0", "k1", "k2", "k3", "k10", "k11"):
        assert s3.get_object(Bucket="trash-t", Key=key)["Body"].read() == bodies[key], key
    assert s3.get_object(Bucket="trash-t", Key="mp")["Body"].read() == b"".join(parts)

    # Freed: 4 x 2 MiB overwritten and 6 x 2 MiB deleted, less the 2 x 3 MiB +
    # 2 x 4 KiB written over them; the parts' 10 MiB became the object's copy.
    removed, added = 20 * MiB, 6 * MiB + 8192
    wait_until_freed(discard_ext4, engine.directory, before, removed - added - MiB)


def test_space_of_deletes_comes_back_after_a_crash(discard_ext4, engine):
    s3 = engine.client()
    s3.create_bucket(Bucket="trash-c")
    for i in range(8):
        s3.put_object(Bucket="trash-c", Key=f"c{i}", Body=os.urandom(2 * MiB))
    before = used(discard_ext4)
    s3.delete_objects(Bucket="trash-c", Delete={"Objects": [{"Key": f"c{i}"} for i in range(8)], "Quiet": True})
    engine.kill()  # parked files, if any were left, are the restart's to remove
    s3 = engine.start().client()
    for i in range(8):
        assert_gone(s3, "trash-c", f"c{i}")
    wait_until_freed(discard_ext4, engine.directory, before, 15 * MiB)




def traced_by(pid: int, tracer: subprocess.Popen):
    """Waits until `tracer` (strace) has attached to every thread of `pid`: unless it
    has, the trash's thread is not held back and the test proves nothing."""
    deadline = time.monotonic() + 15
    while True:
        assert tracer.poll() is None, f"strace exited with {tracer.returncode} (is ptrace allowed?)"
        tracers = set()
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                status = (task / "status").read_text()
            except FileNotFoundError:  # a thread that ended
                continue
            tracers |= {line.split()[1] for line in status.splitlines() if line.startswith("TracerPid:")}
        if tracers == {str(tracer.pid)}:
            return
        assert time.monotonic() < deadline, f"strace did not attach to every thread: {tracers}"
        time.sleep(0.05)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_full_disk_has_the_room_of_deletes_at_once(discard_ext4, engine):
    """A client deleting objects to make room on a full disk writes into that room
    right away, whole: a write that finds the disk full while removed files still wait
    to be unlinked frees them at once and goes on (a streamed body resumes where the
    disk stopped it), instead of failing until the trash's thread catches up. The
    thread is held back here: `strace` delays the first unlink of every thread by 3 s."""
    s3 = engine.client()
    s3.create_bucket(Bucket="trash-f")
    s3.put_object(Bucket="trash-f", Key="first", Body=b"x")
    fillers = []
    while True:  # the disk, until it is full
        key = f"fill{len(fillers)}"
        try:
            s3.put_object(Bucket="trash-f", Key=key, Body=os.urandom(8 * MiB))
            fillers.append(key)
        except ClientError as e:
            full = e.response
            break
    assert full["Error"]["Code"] == "XMinioStorageFull", full
    assert full["ResponseMetadata"]["HTTPStatusCode"] == 507, full
    assert len(fillers) >= 8, "the disk was full before the fillers"

    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(engine.pid), "-e", "trace=unlink,unlinkat",
         "-e", "inject=unlink,unlinkat:delay_enter=3000000:when=1"],
    )
    try:
        traced_by(engine.pid, tracer)
        # The thread takes `first` and sleeps in its unlink; the fillers wait behind it.
        s3.delete_object(Bucket="trash-f", Key="first")
        time.sleep(0.2)
        s3.delete_objects(Bucket="trash-f", Delete={"Objects": [{"Key": k} for k in fillers], "Quiet": True})
        big = os.urandom((len(fillers) - 2) * 8 * MiB)  # needs the fillers' room
        s3.put_object(Bucket="trash-f", Key="big", Body=big)
        small = os.urandom(4096)
        s3.put_object(Bucket="trash-f", Key="after", Body=small)
    finally:
        tracer.terminate()
        tracer.wait(10)
    assert s3.get_object(Bucket="trash-f", Key="big")["Body"].read() == big
    assert s3.get_object(Bucket="trash-f", Key="after")["Body"].read() == small
