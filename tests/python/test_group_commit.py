"""Group commit (issue #24): with fsync on, every acknowledged PUT was made durable
before its answer, by a `syncfs` it shared with other writers.

The engine runs under strace (this machine has no device-mapper to cut the power of a
disk, so the order of the system calls is checked instead). Sixteen clients PUT new
keys; then, for every acknowledged key, the trace must show, in this order:

1. the writes of its data and metadata temporaries (`.tmp/<shard>/<txn>.data|.meta`);
2. a syncfs that *started after* both and finished before the commit point (the rename
   of `<txn>.meta` to `<txn>.commit`): no commit can name bytes not yet on disk;
3. the renames that publish the object under its key;
4. a syncfs that started after them and finished before the answer (the HTTP response
   carrying the object's ETag) was written to the socket.

And the syncfs calls are shared: fewer than two per write. Needs strace (ptrace).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import Server, make_client

ACCESS, SECRET = "AKIDGROUPCOMMIT", "group-commit-secret-0123456789"
PUTS = 240
WORKERS = 16


def strace_works() -> bool:
    if not shutil.which("strace"):
        return False
    return subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not strace_works(), reason="needs strace allowed to trace")

# `PID HH:MM:SS.ffffff call(args) = result <duration>`, split by strace into an
# `<unfinished ...>` line and a `<... call resumed>` line when threads interleave.
LINE = re.compile(r"^(\d+) (\d+):(\d+):(\d+\.\d+) (.*)$")
DONE = re.compile(r"<(\d+\.\d+)>$")


@dataclass
class Call:
    name: str
    args: str
    start: float
    end: float = -1.0


@dataclass
class Write:
    """One PUT as the trace shows it."""

    key: str = ""
    etag: str = ""
    temps_written: float = 0.0
    commit_point: float = -1.0
    published: float = -1.0
    answered: float = -1.0
    events: list = field(default_factory=list)


def parse(trace: str) -> list:
    calls, open_calls = [], {}
    for raw in trace.splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        pid, h, mi, s, rest = m.groups()
        t = int(h) * 3600 + int(mi) * 60 + float(s)
        if rest.startswith("<... "):
            call = open_calls.pop(pid, None)
            d = DONE.search(rest)
            if call is not None and d:
                call.end = call.start + float(d.group(1))
                call.args += rest
            continue
        name = rest.split("(", 1)[0]
        call = Call(name, rest, t)
        calls.append(call)
        if rest.endswith("<unfinished ...>"):
            open_calls[pid] = call
        else:
            d = DONE.search(rest)
            call.end = t + float(d.group(1)) if d else t
    return calls


def writes_in(calls: list) -> dict:
    """{txn: Write} from the temporaries' writes, renames and the socket answers."""
    by_txn: dict = {}
    by_etag: dict = {}
    temp = re.compile(r"/\.tmp/[0-9a-f]+/([0-9a-f]{32})\.(data|meta)>")
    for c in calls:
        if c.name == "write" and (m := temp.search(c.args)):
            w = by_txn.setdefault(m.group(1), Write())
            w.temps_written = max(w.temps_written, c.end)
            if m.group(2) == "meta":
                w.key = re.search(r'\\"key\\": \\"([^\\"]+)\\"', c.args).group(1)
                w.etag = re.search(r'\\"etag\\": \\"\\\\\\"([0-9a-f]{32})', c.args).group(1)
                by_etag[w.etag] = w
        elif c.name.startswith("rename"):
            paths = re.findall(r'"([^"]+)"', c.args)
            if len(paths) < 2:
                continue
            src = re.search(r"/\.tmp/[0-9a-f]+/([0-9a-f]{32})\.(meta|commit)$", paths[0])
            if not src or src.group(1) not in by_txn:
                continue
            w = by_txn[src.group(1)]
            if src.group(2) == "meta":
                w.commit_point = c.start
            else:
                w.published = c.end
        elif c.name == "writev" and "HTTP/1.1 200" in c.args:
            m = re.search(r'etag: \\"([0-9a-f]{32})\\"', c.args)
            if m and m.group(1) in by_etag:
                by_etag[m.group(1)].answered = c.start
    return by_txn


def test_every_acknowledged_put_is_durable_before_its_answer(tmp_path):
    trace_file = tmp_path / "engine.strace"
    srv = Server(access_key=ACCESS, secret_key=SECRET)
    srv.wrapper = [
        "strace", "-f", "-tt", "-T", "-y", "-s", "2048", "-o", str(trace_file),
        "-e", "trace=write,writev,rename,renameat,renameat2,syncfs,fsync,fdatasync",
    ]
    acked = {}
    with srv:
        srv.start()
        s3 = make_client(srv.endpoint, access_key=ACCESS, secret_key=SECRET)
        s3.create_bucket(Bucket="group-commit")

        def put(i: int):
            key = f"k{i:04d}"
            data = hashlib.sha256(key.encode()).digest() * 128  # 4 KiB, distinct per key
            etag = s3.put_object(Bucket="group-commit", Key=key, Body=data)["ETag"].strip('"')
            acked[key] = etag

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(put, range(PUTS)))
        srv.stop()
        calls = parse(trace_file.read_text(errors="replace"))

    syncs = [c for c in calls if c.name == "syncfs"]
    writes = {w.key: w for w in writes_in(calls).values() if w.key.startswith("k")}
    assert len(acked) == PUTS
    problems = []
    for key, etag in acked.items():
        w = writes.get(key)
        if w is None or w.etag != etag:
            problems.append(f"{key}: no traced write with its ETag")
            continue
        if min(w.commit_point, w.published, w.answered) < 0:
            problems.append(f"{key}: commit point, publication or answer missing from the trace")
            continue
        before_commit = any(s.start >= w.temps_written and 0 <= s.end <= w.commit_point for s in syncs)
        before_answer = any(s.start >= w.published and 0 <= s.end <= w.answered for s in syncs)
        if not before_commit:
            problems.append(f"{key}: no syncfs between writing its temporaries and its commit point")
        if not before_answer:
            problems.append(f"{key}: no syncfs between publishing it and answering")
    assert problems == [], problems[:10]
    # Shared: each write needs two, and concurrent writers share them.
    assert 0 < len(syncs) < 2 * PUTS, f"{len(syncs)} syncfs for {PUTS} writes"
    # The group commit is the only durability step on this path: no per-file fsync.
    per_file = [c for c in calls if c.name in ("fsync", "fdatasync") and re.search(r"\.(data|meta)>", c.args)]
    assert per_file == [], per_file[:3]
