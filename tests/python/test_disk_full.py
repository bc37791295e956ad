"""Disk full: the storage directory is a small tmpfs (64 MiB). Writes that do not
fit fail with 507 XMinioStorageFull (the engine's documented choice), never 500
or a hang; what was stored stays intact and readable; a failed write changes
nothing, not even after a restart; deleting objects makes room again; the
server keeps serving throughout.

Needs root (mount -t tmpfs); skips with the reason otherwise. The tmpfs is
unmounted in teardown whatever happens.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from helpers import MiB, Server, make_client, md5_hex, multipart_etag, tmp_files

TMPFS_MIB = 64
PAGE = 4096
REQUEST_DEADLINE = 20  # seconds: a full disk must answer, not hang


def _mount(path: Path, mib: int) -> str | None:
    """Mounts a tmpfs; returns None, or why it cannot."""
    if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
        return "needs a locally started engine on a tmpfs (SMARTSTORAGE_TEST_ENDPOINT is set)"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return f"mount -t tmpfs is not permitted here: {r.stderr.strip() or r.returncode}"
    return None


def _umount(path: Path):
    for args in (["umount", str(path)], ["umount", "-l", str(path)]):
        if subprocess.run(args, capture_output=True).returncode == 0:
            return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def full_env():
    """A tmpfs at <base>/mnt; the engine stores in <base>/mnt/storage; tests may put
    a filler file at <base>/mnt/filler (same filesystem, outside the store)."""
    base = Path(tempfile.mkdtemp(prefix="smartstorage-diskfull-"))
    mnt = base / "mnt"
    mnt.mkdir()
    why = _mount(mnt, TMPFS_MIB)
    if why:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(why)
    srv = None
    try:
        (mnt / "storage").mkdir()
        srv = Server()
        srv.directory = mnt / "storage"
        srv.start()
        yield {"server": srv, "mnt": mnt, "s3": make_client(srv.endpoint, srv.region)}
    finally:
        if srv is not None:
            srv.stop()
            srv.cleanup()
        _umount(mnt)
        shutil.rmtree(base, ignore_errors=True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def timed_put(session, url, data, **kw):
    t = time.monotonic()
    r = session.put(url, data=data, timeout=REQUEST_DEADLINE, **kw)
    took = time.monotonic() - t
    assert took < REQUEST_DEADLINE, f"PUT {url} took {took:.1f}s"
    return r


def assert_507(r, what):
    assert r.status_code == 507, f"{what}: expected 507 XMinioStorageFull, got {r.status_code} {r.content[:300]!r}"
    assert b"<Code>XMinioStorageFull</Code>" in r.content, f"{what}: 507 without XMinioStorageFull: {r.content[:300]!r}"


def assert_ok_or_507(r, what):
    assert r.status_code in (200, 204, 507), f"{what}: expected success or 507, got {r.status_code} {r.content[:300]!r}"
    if r.status_code == 507:
        assert b"<Code>XMinioStorageFull</Code>" in r.content, f"{what}: {r.content[:300]!r}"


def fill_leaving(mnt: Path, pages: int):
    """Fills the tmpfs with <mnt>/filler, then frees exactly `pages` pages."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (1 << 20, 65536, PAGE):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - size % PAGE - pages * PAGE))


def test_fill_with_puts_until_507_then_recover(full_env):
    srv, s3 = full_env["server"], full_env["s3"]
    ep = srv.endpoint
    s = requests.Session()
    b = "full-fill"
    s3.create_bucket(Bucket=b)
    # objects stored before the disk fills up
    keep = {
        "keep/small": b"small object",
        "keep/mid": os.urandom(1 * MiB),
        "keep/empty": b"",
    }
    for k, v in keep.items():
        s3.put_object(Bucket=b, Key=k, Body=v)
    p1, p2 = os.urandom(5 * MiB), b"tail of a multipart object"
    uid = s3.create_multipart_upload(Bucket=b, Key="keep/mp")["UploadId"]
    parts = [
        {"PartNumber": n, "ETag": s3.upload_part(Bucket=b, Key="keep/mp", UploadId=uid, PartNumber=n, Body=d)["ETag"]}
        for n, d in ((1, p1), (2, p2))
    ]
    s3.complete_multipart_upload(Bucket=b, Key="keep/mp", UploadId=uid, MultipartUpload={"Parts": parts})
    keep["keep/mp"] = p1 + p2
    # an upload whose parts are in, to be completed while the disk is full
    late_uid = s3.create_multipart_upload(Bucket=b, Key="late")["UploadId"]
    l1, l2 = os.urandom(5 * MiB), b"late tail"
    late_parts = [
        {"PartNumber": n, "ETag": s3.upload_part(Bucket=b, Key="late", UploadId=late_uid, PartNumber=n, Body=d)["ETag"]}
        for n, d in ((1, l1), (2, l2))
    ]
    free_before_fill = free_bytes(full_env["mnt"])

    # fill with 4 MiB PUTs until the first refusal
    fillers = {}
    refused = None
    for i in range(2 * TMPFS_MIB // 4 + 8):
        body = os.urandom(4 * MiB)
        r = timed_put(s, f"{ep}/{b}/fill/{i}", body)
        if r.status_code == 200:
            assert r.headers["ETag"] == f'"{md5_hex(body)}"'
            fillers[f"fill/{i}"] = body
            continue
        refused = r
        break
    assert refused is not None, f"{TMPFS_MIB} MiB tmpfs never filled up after {len(fillers)} x 4 MiB PUTs"
    assert_507(refused, "PUT on a full disk")
    assert len(fillers) >= 8, f"refused after only {len(fillers)} fillers"

    # more writes on the full disk: refused cleanly, nothing changes
    r = timed_put(s, f"{ep}/{b}/keep/mid", os.urandom(4 * MiB))
    assert_507(r, "overwrite on a full disk")
    r = timed_put(s, f"{ep}/{b}/fill/0", os.urandom(8 * MiB))
    assert_507(r, "bigger overwrite on a full disk")
    r = s.post(
        f"{ep}/{b}/late?uploadId={late_uid}",
        data=(
            "<CompleteMultipartUpload>"
            + "".join(f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>" for p in late_parts)
            + "</CompleteMultipartUpload>"
        ).encode(),
        timeout=REQUEST_DEADLINE,
    )
    assert r.status_code == 507 or (r.status_code == 200 and b"<Error>" in r.content and b"XMinioStorageFull" in r.content), (
        f"CompleteMultipartUpload on a full disk: {r.status_code} {r.content[:300]!r}"
    )
    # UploadPart of 4 MiB into the pending upload
    r = timed_put(s, f"{ep}/{b}/late?partNumber=3&uploadId={late_uid}", os.urandom(4 * MiB))
    assert_507(r, "UploadPart on a full disk")
    r = s.put(f"{ep}/{b}/copied", headers={"x-amz-copy-source": f"/{b}/keep/mid"}, timeout=REQUEST_DEADLINE)
    assert_ok_or_507(r, "CopyObject on a full disk")
    copied = r.status_code == 200

    # the server still serves, and everything stored is intact
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    for k, v in {**keep, **fillers}.items():
        got = s3.get_object(Bucket=b, Key=k)
        data = got["Body"].read()
        assert hashlib.sha256(data).digest() == hashlib.sha256(v).digest(), f"{k} changed on a full disk"
        want = multipart_etag([p1, p2]) if k == "keep/mp" else f'"{md5_hex(v)}"'
        assert got["ETag"] == want, k
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
        listed += [o["Key"] for o in page.get("Contents", [])]
    want_keys = set(keep) | set(fillers) | ({"copied"} if copied else set())
    assert set(listed) == want_keys, f"listing on a full disk: extra {set(listed) - want_keys}, missing {want_keys - set(listed)}"
    ups = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
    assert [u["UploadId"] for u in ups] == [late_uid], "the upload whose completion was refused must still be there"
    # a refused write leaves no temporaries behind (they would pin the space)
    assert tmp_files(srv.directory) == [], f"refused writes left temporaries: {tmp_files(srv.directory)}"

    # deleting makes room: the space comes back and writes succeed again
    s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in fillers] + ([{"Key": "copied"}] if copied else [])})
    freed = free_bytes(full_env["mnt"])
    assert freed >= free_before_fill - 1 * MiB, (
        f"after deleting every filler only {freed} bytes are free, {free_before_fill} were free before: space leaked"
    )
    body = os.urandom(4 * MiB)
    r = timed_put(s, f"{ep}/{b}/after", body)
    assert r.status_code == 200, f"PUT after freeing space: {r.status_code} {r.content[:300]!r}"
    assert s3.get_object(Bucket=b, Key="after")["Body"].read() == body
    r = s3.complete_multipart_upload(Bucket=b, Key="late", UploadId=late_uid, MultipartUpload={"Parts": late_parts})
    assert r["ETag"] == multipart_etag([l1, l2])
    assert s3.get_object(Bucket=b, Key="late")["Body"].read() == l1 + l2

    # and it all survives a restart
    srv.restart()
    s3 = full_env["s3"] = make_client(srv.endpoint, srv.region)
    assert tmp_files(srv.directory) == []
    for k, v in {**keep, "after": body}.items():
        assert s3.get_object(Bucket=b, Key=k)["Body"].read() == v, f"{k} after restart"


def test_full_disk_other_requests_never_500(full_env):
    """With the disk completely full: reads, listings and deletes work; every write
    is either done or refused with 507; a refused write has no effect."""
    srv, mnt = full_env["server"], full_env["mnt"]
    s3 = make_client(srv.endpoint, srv.region)
    ep = srv.endpoint
    s = requests.Session()
    b = "full-other"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="obj", Body=b"stored before", Metadata={"a": "1"})
    s3.put_object(Bucket=b, Key="gone-soon", Body=b"x" * 10000)
    try:
        fill_leaving(mnt, 0)
        assert s3.get_object(Bucket=b, Key="obj")["Body"].read() == b"stored before"
        assert s3.head_object(Bucket=b, Key="obj")["Metadata"] == {"a": "1"}
        assert s3.list_objects_v2(Bucket=b)["KeyCount"] == 2
        assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
        writes = {
            "PutObject small": lambda: s.put(f"{ep}/{b}/small", data=b"tiny", timeout=REQUEST_DEADLINE),
            "PutObject empty": lambda: s.put(f"{ep}/{b}/empty", data=b"", timeout=REQUEST_DEADLINE),
            "PutObjectTagging": lambda: s.put(
                f"{ep}/{b}/obj?tagging",
                data=b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
                timeout=REQUEST_DEADLINE,
            ),
            "CopyObject REPLACE": lambda: s.put(
                f"{ep}/{b}/obj",
                headers={"x-amz-copy-source": f"/{b}/obj", "x-amz-metadata-directive": "REPLACE", "x-amz-meta-a": "2"},
                timeout=REQUEST_DEADLINE,
            ),
            "CreateMultipartUpload": lambda: s.post(f"{ep}/{b}/mpu?uploads", timeout=REQUEST_DEADLINE),
            "PutBucketVersioning": lambda: s.put(
                f"{ep}/{b}?versioning",
                data=b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>",
                timeout=REQUEST_DEADLINE,
            ),
        }
        for what, call in writes.items():
            assert_ok_or_507(call(), what)
        # a refused write has no effect
        meta = s3.head_object(Bucket=b, Key="obj")
        assert s3.get_object(Bucket=b, Key="obj")["Body"].read() == b"stored before"
        assert meta["Metadata"] in ({"a": "1"}, {"a": "2"})
        # CreateBucket: refused means no bucket
        r = s.put(f"{ep}/full-new-bucket", timeout=REQUEST_DEADLINE)
        assert_ok_or_507(r, "CreateBucket")
        names = [x["Name"] for x in s3.list_buckets()["Buckets"]]
        if r.status_code == 507:
            assert "full-new-bucket" not in names, (
                "CreateBucket answered 507 XMinioStorageFull but the bucket exists "
                "(a retry then gets 409 BucketAlreadyOwnedByYou)"
            )
        # DELETE works on a full disk and frees space
        free0 = free_bytes(mnt)
        assert s.delete(f"{ep}/{b}/gone-soon", timeout=REQUEST_DEADLINE).status_code == 204
        assert free_bytes(mnt) > free0
        assert s3.list_objects_v2(Bucket=b)["KeyCount"] in (1, 2, 3)
    finally:
        (mnt / "filler").unlink(missing_ok=True)
        for name in ("full-new-bucket",):
            try:
                s3.delete_bucket(Bucket=name)
            except ClientError:
                pass
    assert tmp_files(srv.directory) == [], f"refused writes left temporaries: {tmp_files(srv.directory)}"


@pytest.mark.parametrize("versioned", [False, True], ids=["plain", "versioned"])
def test_refused_overwrite_stays_refused_after_restart(full_env, versioned):
    """Leave 0..5 free pages and overwrite a key: the write is accepted whole or
    refused with 507. What the client was told must hold after a restart too:
    a refused overwrite must not appear later (recovery must not publish it),
    and the object is never its old bytes under the new write's metadata."""
    srv, mnt = full_env["server"], full_env["mnt"]
    s3 = make_client(srv.endpoint, srv.region)
    s = requests.Session()
    b = "full-ver" if versioned else "full-plain"
    s3.create_bucket(Bucket=b)
    if versioned:
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    old, new = b"old content of the key", b"NEW content, refused or accepted"
    outcome = {}
    for pages in range(6):
        key = f"k{pages}"
        s3.put_object(Bucket=b, Key=key, Body=old)
        try:
            fill_leaving(mnt, pages)
            r = s.put(f"{srv.endpoint}/{b}/{key}", data=new, timeout=REQUEST_DEADLINE)
        finally:
            (mnt / "filler").unlink(missing_ok=True)
        assert_ok_or_507(r, f"overwrite with {pages} free pages")
        outcome[key] = new if r.status_code == 200 else old
        got = s3.get_object(Bucket=b, Key=key)
        assert got["Body"].read() == outcome[key], f"{key}: running server shows the wrong content"
    left = tmp_files(srv.directory)
    srv.restart()
    problems = []
    s3 = make_client(srv.endpoint, srv.region)
    for key, want in outcome.items():
        got = s3.get_object(Bucket=b, Key=key)
        try:
            data = got["Body"].read()
        except Exception as exc:  # the body ends before Content-Length
            problems.append(
                f"{key} ({'accepted' if want == new else 'refused with 507'}): after restart GET announces "
                f"Content-Length {got['ContentLength']} and ETag {got['ETag']} but the body breaks off "
                f"({type(exc).__name__}); expected {want!r}, ETag \"{md5_hex(want)}\""
            )
            continue
        if data != want or got["ETag"] != f'"{md5_hex(want)}"' or got["ContentLength"] != len(want):
            problems.append(
                f"{key} ({'accepted' if want == new else 'refused with 507'}): after restart reads "
                f"{data!r} with ETag {got['ETag']} and Content-Length {got['ContentLength']}, "
                f"expected {want!r} with ETag \"{md5_hex(want)}\""
            )
    assert not problems, (
        f"temporaries left before the restart: {left}\n" + "\n".join(problems)
    )
