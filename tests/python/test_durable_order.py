"""Durable writes, checked where a power loss would find them: the system calls.

With fsync on, an acknowledged write must survive a power cut. A cut cannot be
simulated here (no device-mapper), so the engine runs under `strace` and the test
checks, call by call, the order that makes a write durable:

1. every file published into a bucket or an upload folder had its bytes synced
   (fdatasync, or on a journaled ext4 sync_file_range, see `storage/durable.rs`)
   before the rename that gave it its name;
2. the folder it was renamed into was fsynced after that rename;
3. both before the 200 that acknowledged the request went out;
4. or, for a small write the intent journal carries (`storage/journal.rs`), instead of
   1 and 2: the thread's record was written to the journal, and a sync of the journal
   that began after that write ended before the rename.

A deleted object's files are held to 2 and 3 (or to 4, the unlink for the rename): a
name removed from an unsynced folder can come back. Where the file system trims
freed blocks online, a delete renames the files into `.tmp` instead of unlinking
them (`storage/trash.rs`): such a rename is held to the same.

Runs on the test's own folder (its file system decides the engine's way) and on a
loop-mounted ext4 with a journal (root only; skipped otherwise), where the engine
must take the journaled way: no fdatasync per file, one folder sync per write.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from helpers import Server, loop_mounted_ext4

STRACE = shutil.which("strace")
CALLS = "fdatasync,fsync,sync_file_range,rename,renameat,renameat2,unlink,unlinkat,write,writev,pwrite64,sendto,sendmsg"
JOURNAL = "/.journal/"
LINE = re.compile(r"^(\d+) +(.*)$")
CALL = re.compile(r"^(\w+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
FD_PATH = re.compile(r"^\d+<([^>]*)>")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
RESULT = re.compile(r"\)\s+=\s+(-?\d+)")


def _events(log: Path):
    """(index, pid, kind, name, args, result) per call: "call" lines at their start (a call
    that did not block is also complete there), "done" lines at their end."""
    pending: dict[str, tuple[str, str]] = {}
    for index, raw in enumerate(log.read_text(errors="replace").splitlines()):
        m = LINE.match(raw)
        if not m:
            continue
        pid, rest = m.groups()
        if r := RESUMED.match(rest):
            name, tail = r.groups()
            start = pending.pop(pid, (name, ""))
            res = RESULT.search(tail)
            yield index, pid, "done", name, start[1] + tail, int(res.group(1)) if res else None
            continue
        c = CALL.match(rest)
        if not c:
            continue
        name, args = c.groups()
        if args.endswith("<unfinished ...>"):
            pending[pid] = (name, args)
            yield index, pid, "call", name, args, None
            continue
        res = RESULT.search(args)
        yield index, pid, "call", name, args, None
        yield index, pid, "done", name, args, int(res.group(1)) if res else None


def _parked(name: str, args: str, published_under: list[str]) -> bool:
    """A rename that takes a name out of the bucket folder (into `.tmp`)."""
    paths = QUOTED.findall(args)
    return (
        name.startswith("rename")
        and len(paths) >= 2
        and paths[0].startswith(published_under[0])
        and not any(paths[-1].startswith(p) for p in published_under)
    )


def check_order(log: Path, published_under: list[str]) -> dict:
    """Walks the trace; returns counts of what it saw, asserting the order above."""
    synced: set[str] = set()  # files whose bytes were synced, by current name
    renamed_into: dict[str, list[tuple[int, str]]] = {}  # folder -> (index, name)
    named: set[str] = set()  # names whose folder was synced after their rename
    fsync_started: dict[tuple[str, str], int] = {}  # (thread, folder) -> index
    journal_written: dict[str, int] = {}  # thread -> index its last journal record was written at
    journal_sync_started: dict[str, int] = {}  # thread -> index its journal sync began at
    journal_synced: list[tuple[int, int]] = []  # (began, ended) of each journal sync
    since_ack: list[str] = []

    journal_uses: dict[str, int] = {}  # thread -> files its last record has covered

    def journaled(pid: str, index: int) -> bool:
        """The thread's last record was synced by a sync that began after it was
        written and ended before `index`; a record covers one object's two files."""
        written = journal_written.get(pid)
        if written is None or journal_uses.get(pid, 0) >= 2:
            return False
        if any(began > written and ended < index for began, ended in journal_synced):
            journal_uses[pid] = journal_uses.get(pid, 0) + 1
            return True
        return False

    seen = {"acks": 0, "published": 0, "fdatasync": 0, "sync_file_range": 0, "journaled": 0, "unlinked": 0, "parked": 0}
    for index, pid, kind, name, args, result in _events(log):
        if kind == "call" and name == "fsync" and (m := FD_PATH.match(args)):
            fsync_started[(pid, m.group(1))] = index
        if kind == "call" and name == "fdatasync" and (m := FD_PATH.match(args)) and JOURNAL in m.group(1):
            journal_sync_started[pid] = index
        if kind == "call" and name in ("write", "writev", "sendto", "sendmsg"):
            if "HTTP/1.1 200" in args or "HTTP/1.1 204" in args:
                for f in since_ack:
                    assert f in synced, f"acknowledged before the bytes of {f} were synced"
                    assert f in named, f"acknowledged before the folder of {f} was synced"
                seen["acks"] += 1
                since_ack = []
            continue
        if kind != "done" or result is None or result < 0:
            continue
        if name == "pwrite64" and (m := FD_PATH.match(args)) and JOURNAL in m.group(1):
            journal_written[pid] = index
            journal_uses[pid] = 0
            continue
        if result != 0:
            continue
        if name == "fdatasync" and (m := FD_PATH.match(args)) and JOURNAL in m.group(1):
            journal_synced.append((journal_sync_started.get(pid, index), index))
            continue
        if name in ("fdatasync", "sync_file_range") and (m := FD_PATH.match(args)):
            if name == "sync_file_range" and "WAIT_AFTER" not in args:
                continue  # only started the write-back (large bodies, as they stream)
            synced.add(m.group(1))
            seen[name] += 1
        elif name == "fsync" and (m := FD_PATH.match(args)):
            folder = m.group(1)
            start = fsync_started.get((pid, folder), index)
            for at, f in renamed_into.get(folder, []):
                if at < start:
                    named.add(f)
            synced.add(folder)
        elif name.startswith("unlink") or _parked(name, args, published_under):
            # A removal: an unlink, or where the file system discards online, a rename
            # out of the bucket into the trash (`storage/trash.rs`).
            paths = QUOTED.findall(args)
            if not paths or not paths[0].startswith(published_under[0]):
                continue
            gone = f"unlinked:{paths[0]}"
            seen["unlinked"] += 1
            seen["parked"] += name.startswith("rename")
            since_ack.append(gone)
            synced.add(gone)
            if journaled(pid, index):
                named.add(gone)
                seen["journaled"] += 1
            else:
                renamed_into.setdefault(os.path.dirname(paths[0]), []).append((index, gone))
        elif name.startswith("rename"):
            paths = QUOTED.findall(args)
            if len(paths) < 2:
                continue
            src, dst = paths[0], paths[-1]
            # The name now holds src's file: synced only if src's bytes were.
            if src in synced:
                synced.add(dst)
            else:
                synced.discard(dst)
            synced.discard(src)
            named.discard(dst)
            if any(dst.startswith(p) for p in published_under):
                if dst not in synced and journaled(pid, index):
                    # Carried by the journal: durable without its own syncs.
                    synced.add(dst)
                    named.add(dst)
                    since_ack.append(dst)
                    seen["published"] += 1
                    seen["journaled"] += 1
                    continue
                assert dst in synced, f"{dst} was published (renamed from {src}) before its bytes were synced"
                renamed_into.setdefault(os.path.dirname(dst), []).append((index, dst))
                since_ack.append(dst)
                seen["published"] += 1
    return seen


def start_traced(srv: Server, trace: Path):
    srv.wrapper = [STRACE, "-f", "-qq", "-y", "-s", "48", "-e", f"trace={CALLS}", "-o", str(trace)]
    srv.start()


def stop_traced(srv: Server):
    """Stops the engine, then strace, and removes the server's folder."""
    stop_traced_engine(srv)
    srv.cleanup()


def stop_traced_engine(srv: Server):
    """Stops the engine, then strace: a stopped strace leaves its child running."""
    tracer = srv.proc.pid
    engines = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == tracer:
            engines.append(int(entry))
    for pid in engines:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in engines) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in engines:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    srv.stop()


def traced_workload(storage: Path, trace: Path) -> tuple[dict, str]:
    srv = Server()
    srv.directory = storage
    start_traced(srv, trace)
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="dur")
        for i, size in enumerate([0, 4096, 300 * 1024, 3 * 1024 * 1024]):
            s3.put_object(Bucket="dur", Key=f"dir/obj{i}", Body=os.urandom(size))
        s3.put_object(Bucket="dur", Key="dir/obj1", Body=b"overwritten")
        s3.put_object_tagging(Bucket="dur", Key="dir/obj1", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        s3.delete_object(Bucket="dur", Key="dir/obj0")
        s3.delete_object(Bucket="dur", Key="dir/obj2")
        s3.delete_objects(Bucket="dur", Delete={"Objects": [{"Key": "dir/obj3"}]})
        up = s3.create_multipart_upload(Bucket="dur", Key="mp")["UploadId"]
        parts = []
        # A small last part: the journal carries no part, so it must be synced as a file.
        for n, size in ((1, 5 * 1024 * 1024), (2, 1024)):
            etag = s3.upload_part(Bucket="dur", Key="mp", UploadId=up, PartNumber=n, Body=os.urandom(size))["ETag"]
            parts.append({"PartNumber": n, "ETag": etag})
        s3.complete_multipart_upload(Bucket="dur", Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
        assert s3.get_object(Bucket="dur", Key="dir/obj1")["Body"].read() == b"overwritten"
        log = srv.log_tail()
    finally:
        stop_traced(srv)
    root = str(storage.resolve())
    return check_order(trace, [f"{root}/dur/", f"{root}/.uploads/"]), log


@pytest.fixture
def journaled_ext4():
    """A 128 MiB ext4 with a journal, loop-mounted; unmounted after the test."""
    with loop_mounted_ext4(128, ["-j"]) as mnt:
        yield mnt


needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed")


@needs_strace
def test_parked_deletes_are_held_to_the_same_order(tmp_path):
    """On a file system that discards online, deleted objects' files are renamed into
    `.tmp` for a thread to unlink (`storage/trash.rs`): each such rename too must be
    followed by a sync of its folder (or be carried by the journal) before the answer."""
    with loop_mounted_ext4(128, ["-O", "^has_journal"], "loop,discard") as mnt:
        (mnt / "storage").mkdir()
        seen, log = traced_workload(mnt / "storage", tmp_path / "trace")
    assert "unlinked in the background" in log, log[-2000:]
    # Three deleted objects, two files each, all parked.
    assert seen["parked"] >= 6 and seen["acks"] >= 12, seen


@needs_strace
def test_acknowledged_writes_are_synced_first(tmp_path):
    (tmp_path / "storage").mkdir()
    seen, log = traced_workload(tmp_path / "storage", tmp_path / "trace")
    assert "durable writes:" in log
    # 12 acknowledged writes; each PUT publishes data and metadata, a part two files.
    assert seen["acks"] >= 12 and seen["published"] >= 16, seen
    assert seen["fdatasync"] + seen["sync_file_range"] + seen["journaled"] >= seen["published"], seen
    # Three deleted objects, two files each.
    assert seen["unlinked"] >= 6, seen
    if "intent journal" in log:
        # The three PUTs up to 256 KiB (0 B, 4 KiB, the overwrite) and the two single
        # deletes: two files each. The batch delete syncs its folder instead.
        assert seen["journaled"] >= 10, seen


@needs_strace
def test_journaled_ext4_commits_with_the_folder(journaled_ext4, tmp_path):
    (journaled_ext4 / "storage").mkdir()
    seen, log = traced_workload(journaled_ext4 / "storage", tmp_path / "trace")
    assert "durable writes: journaled ext4" in log, log[-2000:]
    assert seen["acks"] >= 12 and seen["published"] >= 16, seen
    # Bytes are written back and waited for, not fdatasynced one file at a time.
    assert seen["fdatasync"] == 0 and seen["sync_file_range"] >= seen["published"], seen


@needs_strace
def test_no_fsync_publishes_without_syncing(tmp_path):
    """The check itself can fail: with --no-fsync nothing is synced, and it says so."""
    (tmp_path / "storage").mkdir()
    srv = Server(extra_args=["--no-fsync"])
    srv.directory = tmp_path / "storage"
    trace = tmp_path / "trace"
    start_traced(srv, trace)
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="dur")
        s3.put_object(Bucket="dur", Key="k", Body=b"x" * 4096)
    finally:
        stop_traced(srv)
    root = str((tmp_path / "storage").resolve())
    with pytest.raises(AssertionError, match="before its bytes were synced"):
        check_order(trace, [f"{root}/dur/"])


@needs_strace
def test_a_large_write_is_flushed_while_it_streams(tmp_path):
    """A large body is fdatasynced in steps while it streams in (so that the disk's
    cache empties as it goes), and once more after its last byte, before it is
    published and acknowledged."""
    (tmp_path / "storage").mkdir()
    srv = Server()
    srv.directory = tmp_path / "storage"
    trace = tmp_path / "trace"
    start_traced(srv, trace)
    body = os.urandom(40 * 1024 * 1024)
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="dur")
        s3.put_object(Bucket="dur", Key="big", Body=body)
        assert s3.get_object(Bucket="dur", Key="big")["Body"].read() == body
    finally:
        stop_traced(srv)
    root = str((tmp_path / "storage").resolve())
    seen = check_order(trace, [f"{root}/dur/"])
    assert seen["acks"] >= 1 and seen["published"] >= 1, seen
    # Per file: the index of each write's end, and of each fdatasync's start and end.
    writes: dict[str, list[int]] = {}
    syncs: dict[str, list[tuple[str, int]]] = {}
    for index, _pid, kind, name, args, result in _events(trace):
        if not (m := FD_PATH.match(args)):
            continue
        if name == "write" and kind == "done" and result and m.group(1).startswith(root):
            writes.setdefault(m.group(1), []).append(index)
        elif name == "fdatasync":
            syncs.setdefault(m.group(1), []).append((kind, index))
    data = max(writes, key=lambda path: len(writes[path]))  # the body's file: 512 KiB a write
    last_write = writes[data][-1]
    during = [i for kind, i in syncs.get(data, []) if kind == "done" and i < last_write]
    after = [i for kind, i in syncs.get(data, []) if kind == "call" and i > last_write]
    assert len(during) >= 1, f"no fdatasync of {data} ended while it was written"
    assert after, f"no fdatasync of {data} began after its last write"
