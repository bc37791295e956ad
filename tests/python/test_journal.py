"""The intent journal (`storage/journal.rs`): with fsync on, small PUTs of unversioned
objects are made durable by one journal record each, synced once per batch of writers,
instead of syncing their files; a checkpoint later syncs the file system and drops the
records. These tests stop the engine with SIGKILL before any checkpoint (the checkpoint
interval is set to an hour), then take away what a power loss could take from files that
were never synced: the objects' files. Started again, the engine must bring back every
acknowledged write from its journal, and nothing a later write replaced or deleted.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from helpers import Server
from test_durable_order import STRACE, stop_traced_engine

JOURNAL_LOG = "intent journal"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("SMARTSTORAGE_JOURNAL_CHECKPOINT_SECONDS", "3600")
    srv = Server()
    srv.start()
    if JOURNAL_LOG not in srv.log_tail():
        srv.stop()
        srv.cleanup()
        pytest.skip("the store's file system takes no journal (tmpfs, or ext4 with its own journal)")
    yield srv
    srv.stop()
    srv.cleanup()


def object_files(srv: Server, bucket: str, key: str) -> list[Path]:
    base = srv.directory / bucket / key
    return [base.with_name(base.name + "._storage_object"), base.with_name(base.name + "._storage_object.metadata.json")]


def lose(srv: Server, bucket: str, key: str, how: str = "remove"):
    """What a power loss can do to files written and renamed without a sync."""
    for f in object_files(srv, bucket, key):
        if how == "remove":
            f.unlink(missing_ok=True)
        else:
            with open(f, "r+b") as fh:
                fh.truncate(0)


def journal_records(srv: Server) -> list[tuple[Path, int, int]]:
    """(file, offset, length) of each whole record, read as the engine does: the files
    run ahead of their records with zeros (or a reused file's older records), so a
    record counts only if its checksum covers its file's generation and its body."""
    found = []
    for f in sorted((srv.directory / ".journal").glob("*.journal")):
        generation, data, at = int(f.stem, 16), f.read_bytes(), 0
        while at + 8 <= len(data):
            length, crc = struct.unpack_from("<II", data, at)
            body = data[at + 8 : at + 8 + length]
            if len(body) < length or zlib.crc32(body, zlib.crc32(struct.pack("<Q", generation))) != crc:
                break
            found.append((f, at, 8 + length))
            at += 8 + length
    return found


def journal_bytes(srv: Server) -> int:
    return sum(length for _, _, length in journal_records(srv))


def test_acknowledged_small_puts_come_back_from_the_journal(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    bodies = {f"dir/k{i}": os.urandom(n) for i, n in enumerate([0, 1, 4096, 100_000, 256 * 1024])}
    for key, body in bodies.items():
        s3.put_object(Bucket="jrn", Key=key, Body=body, Metadata={"md5": hashlib.md5(body).hexdigest()}, ContentType="x/y")
    # Overwritten twice: the last acknowledged body must win.
    for body in (b"first", b"second", b"third"):
        s3.put_object(Bucket="jrn", Key="over", Body=body)
    assert journal_bytes(server) > sum(len(b) for b in bodies.values())
    server.kill()
    for key in bodies:
        lose(server, "jrn", key, "remove" if key.endswith(("0", "2", "4")) else "truncate")
    lose(server, "jrn", "over")
    server.revive()
    assert "applied" in server.log_tail() and "records again" in server.log_tail()
    for key, body in bodies.items():
        got = s3.get_object(Bucket="jrn", Key=key)
        assert got["Body"].read() == body, key
        assert got["Metadata"]["md5"] == hashlib.md5(body).hexdigest()
        assert got["ContentType"] == "x/y"
        assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket="jrn", Key="over")["Body"].read() == b"third"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="jrn")["Contents"]]
    assert sorted(listed) == sorted([*bodies, "over"])
    # The records were applied durably and dropped.
    assert journal_bytes(server) == 0


def test_deletes_and_other_changes_after_a_journaled_put_are_not_undone(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    s3.put_object(Bucket="jrn", Key="deleted", Body=b"gone soon")
    s3.delete_object(Bucket="jrn", Key="deleted")
    s3.put_object(Bucket="jrn", Key="tagged", Body=b"tags")
    s3.put_object_tagging(Bucket="jrn", Key="tagged", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    s3.put_object(Bucket="jrn", Key="copied", Body=b"old")
    s3.put_object(Bucket="jrn", Key="src", Body=b"new")
    s3.copy_object(Bucket="jrn", Key="copied", CopySource={"Bucket": "jrn", "Key": "src"})
    server.kill()
    server.revive()
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="jrn", Key="deleted")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    assert s3.get_object_tagging(Bucket="jrn", Key="tagged")["TagSet"] == [{"Key": "t", "Value": "1"}]
    assert s3.get_object(Bucket="jrn", Key="copied")["Body"].read() == b"new"
    assert s3.get_object(Bucket="jrn", Key="src")["Body"].read() == b"new"


def test_a_journaled_delete_is_not_undone_by_a_lost_unlink(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    s3.put_object(Bucket="jrn", Key="dir/gone", Body=b"deleted later")
    s3.put_object(Bucket="jrn", Key="dir/kept", Body=b"stays")
    # A power loss can bring back the names a delete removed without a folder sync.
    saved = [(f, f.read_bytes()) for f in object_files(server, "jrn", "dir/gone")]
    before = journal_bytes(server)
    s3.delete_object(Bucket="jrn", Key="dir/gone")
    # The delete went through the journal; the put's record was not checkpointed away.
    assert journal_bytes(server) > before
    # A conditional write that holds is journaled too.
    s3.put_object(Bucket="jrn", Key="dir/new", Body=b"if none", IfNoneMatch="*")
    server.kill()
    for f, data in saved:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    lose(server, "jrn", "dir/new")
    server.revive()
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="jrn", Key="dir/gone")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    assert s3.get_object(Bucket="jrn", Key="dir/new")["Body"].read() == b"if none"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="jrn")["Contents"]) == ["dir/kept", "dir/new"]
    # A delete of nothing, and a batch delete, leave no record (a batch syncs its folders).
    before = journal_bytes(server)
    s3.delete_object(Bucket="jrn", Key="dir/never")
    assert journal_bytes(server) == before
    s3.delete_objects(Bucket="jrn", Delete={"Objects": [{"Key": "dir/kept"}]})
    assert journal_bytes(server) == before
    server.kill()
    server.revive()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="jrn")["Contents"]] == ["dir/new"]


@pytest.mark.skipif(STRACE is None, reason="strace is not installed")
def test_the_replay_syncs_the_file_system_once_before_it_drops_the_records(server, tmp_path):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    bodies = {f"r/k{i}": os.urandom(100 + i) for i in range(40)}
    for key, body in bodies.items():
        s3.put_object(Bucket="jrn", Key=key, Body=body)
    server.kill()
    for key in bodies:
        lose(server, "jrn", key)
    replayed = {str(f.resolve()) for f, _, _ in journal_records(server)}
    trace = tmp_path / "trace"
    calls = "fsync,fdatasync,syncfs,unlink,unlinkat,rename,renameat,renameat2"
    server.wrapper = [STRACE, "-f", "-qq", "-y", "-e", f"trace={calls}", "-o", str(trace)]
    server.revive()
    try:
        for key, body in bodies.items():
            assert s3.get_object(Bucket="jrn", Key=key)["Body"].read() == body, key
    finally:
        stop_traced_engine(server)
        server.wrapper = []
        server.revive()
    # Up to the first removal (unlink, or rename to the spare) of a replayed file: the
    # objects' files were not synced one by one, and one syncfs made them durable.
    bucket = f"{server.directory.resolve()}/jrn/"
    file_syncs, syncfs = 0, 0
    for line in trace.read_text().splitlines():
        if any(f'"{path}"' in line for path in replayed) and ("unlink" in line or "rename" in line):
            break
        if "syncfs(" in line:
            syncfs += 1
        elif "sync(" in line and f"<{bucket}" in line:
            file_syncs += 1
    else:
        pytest.fail("the replayed journal file was never removed")
    assert syncfs == 1
    assert file_syncs == 0


def test_a_graceful_stop_leaves_no_record_to_replay(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    for i in range(5):
        s3.put_object(Bucket="jrn", Key=f"k{i}", Body=b"x" * i)
    assert journal_bytes(server) > 0
    server.stop()
    assert server.proc.returncode == 0
    # The stop checkpointed: the files are durable and the records gone.
    assert journal_bytes(server) == 0
    server.revive()
    assert "records again" not in server.log_tail()
    assert [s3.get_object(Bucket="jrn", Key=f"k{i}")["Body"].read() for i in range(5)] == [b"x" * i for i in range(5)]


def test_a_refused_conditional_write_does_not_come_back(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    s3.put_object(Bucket="jrn", Key="k", Body=b"original")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="jrn", Key="k", Body=b"refused", IfNoneMatch="*")
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"
    server.kill()
    server.revive()
    assert s3.get_object(Bucket="jrn", Key="k")["Body"].read() == b"original"


def test_large_and_versioned_writes_are_synced_as_files(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    s3.create_bucket(Bucket="ver")
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
    before = journal_bytes(server)
    s3.put_object(Bucket="jrn", Key="big", Body=os.urandom(256 * 1024 + 1))
    s3.put_object(Bucket="ver", Key="small", Body=b"versioned")
    assert journal_bytes(server) == before
    s3.put_object(Bucket="jrn", Key="small", Body=b"journaled")
    assert journal_bytes(server) > before


def test_a_torn_record_at_the_end_is_ignored(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    s3.put_object(Bucket="jrn", Key="whole", Body=b"acknowledged")
    server.kill()
    journal, at, length = journal_records(server)[-1]
    with open(journal, "r+b") as fh:
        fh.seek(at + length)
        fh.write(b"\x40\x00\x00\x00\xde\xad\xbe\xef" + b"half a record")
    lose(server, "jrn", "whole")
    server.revive()
    assert s3.get_object(Bucket="jrn", Key="whole")["Body"].read() == b"acknowledged"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="jrn")["Contents"]] == ["whole"]


def test_a_store_opened_without_fsync_still_applies_the_journal(server):
    s3 = server.client()
    s3.create_bucket(Bucket="jrn")
    s3.put_object(Bucket="jrn", Key="k", Body=b"kept")
    server.kill()
    lose(server, "jrn", "k")
    server.extra_args.append("--no-fsync")
    server.revive()
    assert s3.get_object(Bucket="jrn", Key="k")["Body"].read() == b"kept"
    assert not (server.directory / ".journal").exists()
