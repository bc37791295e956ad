"""Read-after-write: every kind of write is seen by the very next GET or HEAD of the
key, even when that key was read just before (the engine keeps recently read
metadata in memory), and a reader never pairs one version's metadata with another's
bytes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from helpers import assert_absent, md5_hex


def warm(s3, bucket, key):
    """Reads the key both ways, so its metadata is the one kept in memory."""
    s3.head_object(Bucket=bucket, Key=key)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_overwrite_tagging_copy_and_delete_are_seen_at_once(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", Metadata={"v": "1"}, ContentType="text/one")
    warm(s3, bucket, "k")

    s3.put_object(Bucket=bucket, Key="k", Body=b"second", Metadata={"v": "2"}, ContentType="text/two")
    h = s3.head_object(Bucket=bucket, Key="k")
    assert (h["Metadata"], h["ContentType"], h["ContentLength"]) == ({"v": "2"}, "text/two", 6)
    assert warm(s3, bucket, "k") == b"second"

    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 1
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")

    warm(s3, bucket, "k")
    s3.copy_object(
        Bucket=bucket,
        Key="k",
        CopySource={"Bucket": bucket, "Key": "k"},
        Metadata={"v": "3"},
        MetadataDirective="REPLACE",
    )
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "3"}

    s3.put_object(Bucket=bucket, Key="src", Body=b"copied in")
    warm(s3, bucket, "k")
    s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "src"})
    assert warm(s3, bucket, "k") == b"copied in"

    s3.delete_object(Bucket=bucket, Key="k")
    assert_absent(s3, bucket, "k")

    s3.put_object(Bucket=bucket, Key="k", Body=b"back")
    assert warm(s3, bucket, "k") == b"back"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})
    assert_absent(s3, bucket, "k")


def test_multipart_completion_over_a_read_key_is_seen(s3, bucket):
    s3.put_object(Bucket=bucket, Key="m", Body=b"small")
    warm(s3, bucket, "m")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m", Metadata={"v": "mpu"})["UploadId"]
    part = b"p" * (5 * 1024 * 1024)
    etag = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=part)["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    h = s3.head_object(Bucket=bucket, Key="m")
    assert (h["ContentLength"], h["Metadata"], h["ETag"].endswith('-1"')) == (len(part), {"v": "mpu"}, True)


def test_versioned_deletes_and_promotions_are_seen_at_once(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v2")["VersionId"]
    assert warm(s3, vbucket, "k") == b"v2"

    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    assert_absent(s3, vbucket, "k")
    # Removing the marker brings v2 back as the current version.
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert warm(s3, vbucket, "k") == b"v2"
    # Removing the current version makes v1 current.
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert warm(s3, vbucket, "k") == b"v1"
    assert s3.head_object(Bucket=vbucket, Key="k")["VersionId"] == v1

    s3.put_object_tagging(
        Bucket=vbucket, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "t", "Value": "1"}]}
    )
    assert s3.get_object(Bucket=vbucket, Key="k")["TagCount"] == 1


def test_a_deleted_and_recreated_bucket_has_none_of_the_old_objects(s3, make_bucket):
    name = make_bucket()
    s3.put_object(Bucket=name, Key="k", Body=b"old")
    warm(s3, name, "k")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert_absent(s3, name, "k")


def test_readers_never_pair_one_versions_metadata_with_anothers_bytes(s3, bucket):
    """Writers replace a small object (served from memory-kept metadata when hot) with
    bodies of different lengths, each carrying its length and MD5 as user metadata;
    every GET and HEAD must agree with itself."""
    bodies = [bytes([65 + i]) * (1000 + 997 * i) for i in range(8)]

    def put(i):
        b = bodies[i % len(bodies)]
        s3.put_object(Bucket=bucket, Key="hot", Body=b, Metadata={"len": str(len(b)), "md5": md5_hex(b)})

    put(0)
    stop = threading.Event()
    problems, reads = [], [0]

    def reader():
        while not stop.is_set():
            try:
                g = s3.get_object(Bucket=bucket, Key="hot")
                data = g["Body"].read()
                h = s3.head_object(Bucket=bucket, Key="hot")
            except Exception as exc:  # noqa: BLE001 - reported below
                problems.append(repr(exc))
                return
            meta = g["Metadata"]
            if int(meta["len"]) != len(data) or meta["md5"] != md5_hex(data) or g["ETag"] != f'"{md5_hex(data)}"':
                problems.append(f"GET: metadata {meta} with {len(data)} bytes")
                return
            if int(h["Metadata"]["len"]) != h["ContentLength"]:
                problems.append(f"HEAD: metadata {h['Metadata']} with length {h['ContentLength']}")
                return
            reads[0] += 1

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        with ThreadPoolExecutor(3) as ex:
            list(ex.map(put, range(60)))
        time.sleep(0.05)
    finally:
        stop.set()
        for t in readers:
            t.join(60)
    assert problems == []
    assert reads[0] > 10
    for i in (5, 2, 7):
        put(i)
        final = s3.get_object(Bucket=bucket, Key="hot")
        assert (final["Body"].read(), final["Metadata"]["len"]) == (bodies[i], str(len(bodies[i])))
