"""What one request costs must not grow with everything the server stores.

- ListObjectVersions: one page (max-keys=1) of a bucket with many keys under the
  prefix costs about what a page of a small bucket costs (memory and time), as
  ListObjects does (docs/engine.md, "Listing costs").
- ListMultipartUploads and DeleteBucket look only at the uploads of their own
  bucket, and uploads started by an older engine (one `.multipart/<uploadId>/`
  folder per upload) survive the upgrade.

The big bucket is written straight to the storage folder (object file and
metadata, copied from one real object) while the engine is stopped: a hundred
thousand PUTs would make this test take minutes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests

from helpers import Server, make_client

MiB = 1024 * 1024

# Long folder names make each key about 800 bytes, so a listing that holds every key
# of the bucket in memory shows in the engine's peak RSS.
DEEP = "p/" + "/".join(c * 190 for c in "abcd") + "/"
KEYS = int(os.environ.get("SMARTSTORAGE_COST_KEYS", "50000"))


def engine_hwm(srv: Server) -> int:
    return srv.status_field("VmHWM")


def fabricate_keys(directory: Path, bucket: str, template_key: str, count: int) -> None:
    """Adds `count` objects next to `template_key` (same folder), with the template's
    metadata under their own key."""
    folder = directory / bucket / template_key.rsplit("/", 1)[0]
    stem = template_key.rsplit("/", 1)[1]
    meta = json.loads((folder / f"{stem}._storage_object.metadata.json").read_text())
    data = (folder / f"{stem}._storage_object").read_bytes()
    for i in range(1, count):
        name = f"k{i:06d}"
        meta["key"] = DEEP + name
        (folder / f"{name}._storage_object").write_bytes(data)
        (folder / f"{name}._storage_object.metadata.json").write_text(json.dumps(meta))


@pytest.fixture
def own_server():
    if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
        pytest.skip("needs a locally started engine")
    srv = Server(extra_args=["--no-fsync"])
    try:
        yield srv
    finally:
        srv.stop()
        srv.cleanup()


def timed_page(s3, **kw) -> tuple[dict, float]:
    started = time.monotonic()
    r = s3.list_object_versions(**kw)
    return r, time.monotonic() - started


def test_list_versions_page_cost_does_not_grow_with_the_bucket(own_server):
    srv = own_server.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="small")
    s3.create_bucket(Bucket="big")
    for b in ("small", "big"):
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=b, Key=DEEP + "k000000", Body=b"x")
    s3.put_object(Bucket="small", Key=DEEP + "k000001", Body=b"x")
    srv.stop()
    fabricate_keys(srv.directory, "big", DEEP + "k000000", KEYS)
    srv.start()
    s3 = make_client(srv.endpoint)

    # warm up the connection and the code paths on the small bucket
    for _ in range(3):
        r, small_time = timed_page(s3, Bucket="small", Prefix="p/", MaxKeys=1)
    assert r["IsTruncated"] is True and len(r["Versions"]) == 1
    before = engine_hwm(srv)
    r, big_time = timed_page(s3, Bucket="big", Prefix="p/", MaxKeys=1)
    grown = engine_hwm(srv) - before
    assert [v["Key"] for v in r["Versions"]] == [DEEP + "k000000"]
    assert r["IsTruncated"] is True and r["NextKeyMarker"] == DEEP + "k000000"
    # the next pages go on where the first stopped, also from the middle of the bucket
    r = s3.list_object_versions(Bucket="big", Prefix="p/", MaxKeys=2, KeyMarker=r["NextKeyMarker"])
    assert [v["Key"] for v in r["Versions"]] == [DEEP + "k000001", DEEP + "k000002"]
    r = s3.list_object_versions(Bucket="big", Prefix="p/", MaxKeys=1000, KeyMarker=DEEP + f"k{KEYS - 500:06d}")
    assert [v["Key"] for v in r["Versions"]] == [DEEP + f"k{i:06d}" for i in range(KEYS - 499, KEYS)]
    assert r["IsTruncated"] is False
    r = s3.list_object_versions(Bucket="big", Prefix="p/", Delimiter="/", MaxKeys=1)
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/" + "a" * 190 + "/"]
    assert r["IsTruncated"] is False
    # Later pages start from the sorted folder the first one cached, as ListObjects does.
    warm = min(
        timed_page(s3, Bucket="big", Prefix="p/", MaxKeys=1, KeyMarker=DEEP + f"k{i:06d}")[1] for i in (10, 20_000, KEYS - 10)
    )
    started = time.monotonic()
    s3.list_objects_v2(Bucket="big", Prefix="p/", MaxKeys=1, StartAfter=DEEP + "k000100")
    plain = time.monotonic() - started
    print(
        f"\nListObjectVersions max-keys=1: {KEYS} keys of ~{len(DEEP) + 7} bytes: first page "
        f"{big_time * 1000:.1f} ms, engine peak RSS +{grown / MiB:.1f} MiB; later pages {warm * 1000:.1f} ms "
        f"(ListObjectsV2 {plain * 1000:.1f} ms); 2-key bucket: {small_time * 1000:.1f} ms"
    )
    # Holding every key of the bucket would take ~40 MiB here.
    assert grown < 16 * MiB, f"one page of {KEYS} keys raised the engine's peak RSS by {grown / MiB:.1f} MiB"
    assert warm < max(0.1, 20 * small_time), f"a later page took {warm:.3f}s (small bucket: {small_time:.3f}s)"


UPLOADS = int(os.environ.get("SMARTSTORAGE_COST_UPLOADS", "20000"))


def legacy_upload(directory: Path, bucket: str, key: str, upload_id: str, initiated: int) -> None:
    """An upload as engines before per-bucket upload folders stored it:
    `.multipart/<uploadId>/upload.json`, whatever its bucket."""
    folder = directory / ".multipart" / upload_id
    folder.mkdir(parents=True)
    info = {
        "bucket": bucket,
        "key": key,
        "uploadId": upload_id,
        "initiated": initiated,
        "attrs": {"contentType": "text/plain", "headers": {}, "userMetadata": {"n": key}, "checksum": None, "tags": {}},
    }
    (folder / "upload.json").write_text(json.dumps(info))


def best_of(n: int, call) -> float:
    times = []
    for _ in range(n):
        started = time.monotonic()
        call()
        times.append(time.monotonic() - started)
    return min(times)


def test_multipart_costs_are_per_bucket_and_old_uploads_survive_the_upgrade(own_server):
    """ListMultipartUploads and DeleteBucket of a bucket without uploads stay as cheap
    with UPLOADS open uploads in another bucket as without; those uploads, written in
    the layout of older engines, are all still listed, and can get parts and complete."""
    srv = own_server.start()
    s3 = make_client(srv.endpoint)
    for b in ("busy", "idle", "gone"):
        s3.create_bucket(Bucket=b)
    alone = best_of(5, lambda: s3.list_multipart_uploads(Bucket="idle"))
    real = s3.create_multipart_upload(Bucket="busy", Key="real")["UploadId"]
    etag = s3.upload_part(Bucket="busy", Key="real", UploadId=real, PartNumber=1, Body=b"hello")["ETag"]
    srv.stop()
    now = int(time.time() * 1000)
    ids = {}
    for i in range(UPLOADS):
        ids[f"k{i:06d}"] = os.urandom(16).hex()
        legacy_upload(srv.directory, "busy", f"k{i:06d}", ids[f"k{i:06d}"], now)
    srv.start()
    s3 = make_client(srv.endpoint)

    crowded = best_of(5, lambda: s3.list_multipart_uploads(Bucket="idle"))
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="idle")
    started = time.monotonic()
    s3.delete_bucket(Bucket="gone")
    delete_time = time.monotonic() - started
    print(
        f"\nwith {UPLOADS} open uploads in another bucket: ListMultipartUploads of an empty bucket "
        f"{crowded * 1000:.1f} ms (no uploads anywhere: {alone * 1000:.1f} ms), DeleteBucket {delete_time * 1000:.1f} ms"
    )

    # every upload of the old layout is still there, in order, with its attributes
    r = s3.list_multipart_uploads(Bucket="busy")
    assert r["IsTruncated"] is True
    assert [(u["Key"], u["UploadId"]) for u in r["Uploads"]] == [(f"k{i:06d}", ids[f"k{i:06d}"]) for i in range(1000)]
    r = s3.list_multipart_uploads(Bucket="busy", KeyMarker=f"k{UPLOADS - 2:06d}")
    assert [(u["Key"], u["UploadId"]) for u in r["Uploads"]] == [(f"k{UPLOADS - 1:06d}", ids[f"k{UPLOADS - 1:06d}"]), ("real", real)]
    assert r["IsTruncated"] is False
    old = ids["k000005"]
    part = s3.upload_part(Bucket="busy", Key="k000005", UploadId=old, PartNumber=1, Body=b"old layout")["ETag"]
    s3.complete_multipart_upload(Bucket="busy", Key="k000005", UploadId=old, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    got = s3.get_object(Bucket="busy", Key="k000005")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"old layout", "text/plain", {"n": "k000005"})
    s3.complete_multipart_upload(Bucket="busy", Key="real", UploadId=real, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket="busy", Key="real")["Body"].read() == b"hello"
    s3.abort_multipart_upload(Bucket="busy", Key="k000007", UploadId=ids["k000007"])
    r = s3.list_multipart_uploads(Bucket="busy", Prefix="k00000")
    assert [u["Key"] for u in r["Uploads"]] == [f"k{i:06d}" for i in range(10) if i not in (5, 7)]

    assert crowded < alone + 0.05, f"ListMultipartUploads of an empty bucket took {crowded:.3f}s ({alone:.3f}s without uploads)"
    assert delete_time < 0.25, f"DeleteBucket of an empty bucket took {delete_time:.3f}s"
