"""Multipart uploads: create, upload part, upload part copy, complete (with its
validations), abort, list parts, list multipart uploads, multipart ETag."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from helpers import MiB, assert_raw_error, expect_error, md5_hex, multipart_etag, qkey

PART = 5 * MiB


def part_data(seed: int, size: int = PART) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2  # 64 bytes
    return (block * (size // len(block) + 1))[:size]


def create(s3, bucket, key, **kw):
    r = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)
    assert r["Bucket"] == bucket and r["Key"] == key
    assert r["UploadId"]
    return r["UploadId"]


def upload(s3, bucket, key, uid, n, data):
    r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data)
    assert r["ETag"] == f'"{md5_hex(data)}"', "UploadPart ETag must be the part's MD5"
    return {"PartNumber": n, "ETag": r["ETag"]}


def complete(s3, bucket, key, uid, parts):
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})


# ---------------------------------------------------------------- happy path


def test_multipart_roundtrip_and_etag(s3, bucket):
    key = "big/object.bin"
    p1, p2, p3 = part_data(1), part_data(2), b"tail-" * 100
    uid = create(s3, bucket, key, ContentType="application/x-test", Metadata={"origin": "mpu"})
    parts = [upload(s3, bucket, key, uid, i + 1, d) for i, d in enumerate((p1, p2, p3))]
    r = complete(s3, bucket, key, uid, parts)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Key"] == key and r["Bucket"] == bucket
    assert r["ETag"] == multipart_etag([p1, p2, p3])
    g = s3.get_object(Bucket=bucket, Key=key)
    body = g["Body"].read()
    assert len(body) == 2 * PART + len(p3)
    assert hashlib.md5(body).digest() == hashlib.md5(p1 + p2 + p3).digest()
    assert g["ETag"] == multipart_etag([p1, p2, p3])
    assert g["ContentType"] == "application/x-test"
    assert g["Metadata"] == {"origin": "mpu"}
    h = s3.head_object(Bucket=bucket, Key=key)
    assert h["ContentLength"] == 2 * PART + len(p3)
    assert h["ETag"].endswith('-3"')
    lst = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert lst[0]["ETag"] == multipart_etag([p1, p2, p3])
    assert lst[0]["Size"] == 2 * PART + len(p3)
    # the upload is gone once completed
    assert all(u["UploadId"] != uid for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
    expect_error(lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=uid), "NoSuchUpload", 404)


def test_single_small_part_is_allowed(s3, bucket):
    uid = create(s3, bucket, "small")
    parts = [upload(s3, bucket, "small", uid, 1, b"only part")]
    r = complete(s3, bucket, "small", uid, parts)
    assert r["ETag"] == multipart_etag([b"only part"])
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"only part"


def test_range_get_across_part_boundary(s3, bucket):
    p1, p2 = part_data(11), part_data(12, 1000)
    uid = create(s3, bucket, "rng")
    parts = [upload(s3, bucket, "rng", uid, 1, p1), upload(s3, bucket, "rng", uid, 2, p2)]
    complete(s3, bucket, "rng", uid, parts)
    r = s3.get_object(Bucket=bucket, Key="rng", Range=f"bytes={PART - 10}-{PART + 9}")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["Body"].read() == (p1 + p2)[PART - 10 : PART + 10]


def test_part_reupload_replaces_part(s3, bucket):
    uid = create(s3, bucket, "re")
    upload(s3, bucket, "re", uid, 1, part_data(20))
    p1 = upload(s3, bucket, "re", uid, 1, part_data(21))
    p2 = upload(s3, bucket, "re", uid, 2, b"end")
    parts = s3.list_parts(Bucket=bucket, Key="re", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    assert parts[0]["ETag"] == f'"{md5_hex(part_data(21))}"'
    complete(s3, bucket, "re", uid, [p1, p2])
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == part_data(21) + b"end"


def test_complete_with_subset_of_parts(s3, bucket):
    # parts may be skipped (non-contiguous numbers); only the listed ones are assembled
    uid = create(s3, bucket, "subset")
    p1 = upload(s3, bucket, "subset", uid, 1, part_data(30))
    upload(s3, bucket, "subset", uid, 2, part_data(31))
    p3 = upload(s3, bucket, "subset", uid, 3, b"last")
    r = complete(s3, bucket, "subset", uid, [p1, p3])
    assert r["ETag"] == multipart_etag([part_data(30), b"last"])
    assert s3.get_object(Bucket=bucket, Key="subset")["Body"].read() == part_data(30) + b"last"


def test_multipart_completes_over_existing_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ow", Body=b"old", Metadata={"old": "1"})
    uid = create(s3, bucket, "ow")
    complete(s3, bucket, "ow", uid, [upload(s3, bucket, "ow", uid, 1, b"new")])
    g = s3.get_object(Bucket=bucket, Key="ow")
    assert g["Body"].read() == b"new"
    assert g["Metadata"] == {}


def test_object_not_visible_before_complete(s3, bucket):
    uid = create(s3, bucket, "pending")
    upload(s3, bucket, "pending", uid, 1, b"data")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="pending"), None, 404)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---------------------------------------------------------------- complete validation


def test_entity_too_small(s3, bucket):
    uid = create(s3, bucket, "tiny")
    parts = [upload(s3, bucket, "tiny", uid, 1, b"a" * 1024), upload(s3, bucket, "tiny", uid, 2, b"b" * 1024)]
    expect_error(lambda: complete(s3, bucket, "tiny", uid, parts), "EntityTooSmall", 400)
    # nothing was created, and the upload is still there
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="tiny"), None, 404)
    assert len(s3.list_parts(Bucket=bucket, Key="tiny", UploadId=uid)["Parts"]) == 2


def test_entity_too_small_just_under_5mib(s3, bucket):
    uid = create(s3, bucket, "edge")
    parts = [upload(s3, bucket, "edge", uid, 1, part_data(40, PART - 1)), upload(s3, bucket, "edge", uid, 2, b"z")]
    expect_error(lambda: complete(s3, bucket, "edge", uid, parts), "EntityTooSmall", 400)


def test_exactly_5mib_parts_are_fine(s3, bucket):
    uid = create(s3, bucket, "exact")
    parts = [upload(s3, bucket, "exact", uid, 1, part_data(41)), upload(s3, bucket, "exact", uid, 2, b"z")]
    complete(s3, bucket, "exact", uid, parts)
    assert s3.head_object(Bucket=bucket, Key="exact")["ContentLength"] == PART + 1


def test_invalid_part_wrong_etag(s3, bucket):
    uid = create(s3, bucket, "badetag")
    p1 = upload(s3, bucket, "badetag", uid, 1, part_data(50))
    bad = {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}
    upload(s3, bucket, "badetag", uid, 2, b"x")
    expect_error(lambda: complete(s3, bucket, "badetag", uid, [p1, bad]), "InvalidPart", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="badetag"), None, 404)


def test_invalid_part_not_uploaded(s3, bucket):
    uid = create(s3, bucket, "missingpart")
    p1 = upload(s3, bucket, "missingpart", uid, 1, part_data(51))
    ghost = {"PartNumber": 7, "ETag": f'"{md5_hex(b"ghost")}"'}
    expect_error(lambda: complete(s3, bucket, "missingpart", uid, [p1, ghost]), "InvalidPart", 400)


def test_invalid_part_order(s3, bucket):
    uid = create(s3, bucket, "order")
    p1 = upload(s3, bucket, "order", uid, 1, part_data(60))
    p2 = upload(s3, bucket, "order", uid, 2, part_data(61))
    expect_error(lambda: complete(s3, bucket, "order", uid, [p2, p1]), "InvalidPartOrder", 400)
    # a correct completion still works afterwards
    complete(s3, bucket, "order", uid, [p1, p2])
    assert s3.head_object(Bucket=bucket, Key="order")["ContentLength"] == 2 * PART


def test_complete_malformed_xml(raw, s3, bucket):
    uid = create(s3, bucket, "mx")
    upload(s3, bucket, "mx", uid, 1, b"x")
    r = raw.post(f"/{bucket}/mx", params={"uploadId": uid}, data=b"<CompleteMultipartUpload><Part><PartNumber>1")
    assert_raw_error(r, "MalformedXML", 400)
    r = raw.post(f"/{bucket}/mx", params={"uploadId": uid}, data=b"not xml at all")
    assert_raw_error(r, "MalformedXML", 400)


def test_complete_with_no_parts_is_malformed(raw, s3, bucket):
    uid = create(s3, bucket, "noparts")
    upload(s3, bucket, "noparts", uid, 1, b"x")
    body = b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CompleteMultipartUpload>'
    r = raw.post(f"/{bucket}/noparts", params={"uploadId": uid}, data=body)
    assert_raw_error(r, "MalformedXML", 400)


def test_complete_raw_response_xml(raw, s3, bucket):
    uid = create(s3, bucket, "xml")
    p = upload(s3, bucket, "xml", uid, 1, b"abc")
    body = (
        '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f'<Part><PartNumber>1</PartNumber><ETag>{p["ETag"]}</ETag></Part></CompleteMultipartUpload>'
    ).encode()
    r = raw.post(f"/{bucket}/xml", params={"uploadId": uid}, data=body)
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "CompleteMultipartUploadResult"
    assert root.findtext("Bucket") == bucket
    assert root.findtext("Key") == "xml"
    assert root.findtext("ETag") == multipart_etag([b"abc"])
    assert root.findtext("Location")


# ---------------------------------------------------------------- abort / NoSuchUpload


def test_abort(s3, bucket):
    uid = create(s3, bucket, "ab")
    upload(s3, bucket, "ab", uid, 1, b"data")
    r = s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.list_parts(Bucket=bucket, Key="ab", UploadId=uid), "NoSuchUpload", 404)
    expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=2, Body=b"x"), "NoSuchUpload", 404
    )
    expect_error(
        lambda: complete(s3, bucket, "ab", uid, [{"PartNumber": 1, "ETag": f'"{md5_hex(b"data")}"'}]),
        "NoSuchUpload",
        404,
    )
    expect_error(lambda: s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid), "NoSuchUpload", 404)
    assert all(u["UploadId"] != uid for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="ab"), None, 404)


def test_unknown_upload_id(s3, raw, bucket):
    expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="does-not-exist", PartNumber=1, Body=b"x"),
        "NoSuchUpload",
        404,
    )
    r = raw.get(f"/{bucket}/k", params={"uploadId": "does-not-exist"})
    err = assert_raw_error(r, "NoSuchUpload", 404)
    assert err.get("Message")


def test_upload_id_is_bound_to_its_key(s3, bucket):
    uid = create(s3, bucket, "key-a")
    expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="key-b", UploadId=uid, PartNumber=1, Body=b"x"), "NoSuchUpload", 404
    )


def test_upload_id_is_bound_to_its_bucket(s3, make_bucket):
    b1, b2 = make_bucket("mpu-b1"), make_bucket("mpu-b2")
    uid = create(s3, b1, "same-key")
    upload(s3, b1, "same-key", uid, 1, b"in b1")
    expect_error(
        lambda: s3.upload_part(Bucket=b2, Key="same-key", UploadId=uid, PartNumber=1, Body=b"x"), "NoSuchUpload", 404
    )
    expect_error(lambda: s3.list_parts(Bucket=b2, Key="same-key", UploadId=uid), "NoSuchUpload", 404)
    expect_error(lambda: s3.abort_multipart_upload(Bucket=b2, Key="same-key", UploadId=uid), "NoSuchUpload", 404)
    assert s3.list_multipart_uploads(Bucket=b2).get("Uploads", []) == []
    assert len(s3.list_parts(Bucket=b1, Key="same-key", UploadId=uid)["Parts"]) == 1


def test_upload_id_with_path_characters_is_not_resolved(s3, bucket):
    # an upload id is opaque: path tricks must not reach other data
    for uid in ("../../../etc", "..", "a/b"):
        expect_error(
            lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x"), "NoSuchUpload", 404
        )


@pytest.mark.parametrize("part_number", [0, 10001])
def test_invalid_part_number(s3, raw, bucket, part_number):
    uid = create(s3, bucket, "pn")
    expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="pn", UploadId=uid, PartNumber=part_number, Body=b"x"),
        "InvalidArgument",
        400,
    )
    r = raw.put(f"/{bucket}/pn", params={"partNumber": str(part_number), "uploadId": uid}, data=b"x")
    assert_raw_error(r, "InvalidArgument", 400)
    assert s3.list_parts(Bucket=bucket, Key="pn", UploadId=uid).get("Parts", []) == []


def test_part_number_10000_is_valid(s3, bucket):
    uid = create(s3, bucket, "p10k")
    upload(s3, bucket, "p10k", uid, 10000, b"last possible part")
    parts = s3.list_parts(Bucket=bucket, Key="p10k", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [10000]


# ---------------------------------------------------------------- listing


def test_list_parts(s3, raw, bucket):
    uid = create(s3, bucket, "lp")
    datas = {1: part_data(70), 2: part_data(71, 1234), 4: b"four"}
    for n, d in datas.items():
        upload(s3, bucket, "lp", uid, n, d)
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid)
    assert r["Bucket"] == bucket and r["Key"] == "lp" and r["UploadId"] == uid
    assert r["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in r["Parts"]] == [
        (n, len(d), f'"{md5_hex(d)}"') for n, d in datas.items()
    ]
    assert all("LastModified" in p for p in r["Parts"])
    # pagination
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in r["Parts"]] == [1, 2]
    assert r["IsTruncated"] is True
    assert r["NextPartNumberMarker"] == 2
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, PartNumberMarker=2)
    assert [p["PartNumber"] for p in r["Parts"]] == [4]
    assert r["IsTruncated"] is False
    x = raw.get(f"/{bucket}/lp", params={"uploadId": uid})
    assert x.xml().tag == "ListPartsResult"


def test_list_multipart_uploads(s3, raw, bucket):
    u1 = create(s3, bucket, "dir/one")
    u2 = create(s3, bucket, "dir/two")
    u3a = create(s3, bucket, "other")
    u3b = create(s3, bucket, "other")
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert r["Bucket"] == bucket
    ups = [(u["Key"], u["UploadId"]) for u in r["Uploads"]]
    assert sorted(ups) == sorted([("dir/one", u1), ("dir/two", u2), ("other", u3a), ("other", u3b)])
    assert [k for k, _ in ups] == sorted(k for k, _ in ups), "uploads are listed in key order"
    assert all("Initiated" in u for u in r["Uploads"])
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")
    assert sorted(u["Key"] for u in r["Uploads"]) == ["dir/one", "dir/two"]
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["dir/"]
    assert sorted(u["Key"] for u in r["Uploads"]) == ["other", "other"]
    s3.abort_multipart_upload(Bucket=bucket, Key="other", UploadId=u3a)
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert sorted(u["UploadId"] for u in r["Uploads"]) == sorted([u1, u2, u3b])
    x = raw.get(f"/{bucket}", params={"uploads": None})
    assert x.status == 200
    assert x.xml().tag == "ListMultipartUploadsResult"


def test_list_multipart_uploads_pagination(s3, bucket):
    ids = {create(s3, bucket, f"k{i}") for i in range(5)}
    seen = []
    kw = {"Bucket": bucket, "MaxUploads": 2}
    for _ in range(10):
        r = s3.list_multipart_uploads(**kw)
        seen += [u["UploadId"] for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw.update(KeyMarker=r["NextKeyMarker"], UploadIdMarker=r["NextUploadIdMarker"])
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5


def test_list_multipart_uploads_pages_through_many_uploads_of_one_key(s3, bucket):
    # one key's uploads are listed in the order they were started; paging by
    # upload-id-marker must give each exactly once (upload ids are random)
    started = []
    for _ in range(6):
        started.append(create(s3, bucket, "same-key"))
        time.sleep(0.002)
    seen = []
    kw = {"Bucket": bucket, "MaxUploads": 1}
    for _ in range(20):
        r = s3.list_multipart_uploads(**kw)
        seen += [u["UploadId"] for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw.update(KeyMarker=r["NextKeyMarker"], UploadIdMarker=r["NextUploadIdMarker"])
    assert seen == started


def test_list_multipart_uploads_missing_bucket(s3):
    expect_error(lambda: s3.list_multipart_uploads(Bucket="t-no-bucket-mpu"), "NoSuchBucket", 404)
    expect_error(lambda: s3.create_multipart_upload(Bucket="t-no-bucket-mpu", Key="k"), "NoSuchBucket", 404)


# ---------------------------------------------------------------- upload part copy


def test_upload_part_copy_with_ranges(s3, bucket):
    src = part_data(80, PART + 3000)
    s3.put_object(Bucket=bucket, Key="source", Body=src)
    uid = create(s3, bucket, "assembled")
    r1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{PART - 1}",
    )
    assert r1["CopyPartResult"]["ETag"] == f'"{md5_hex(src[:PART])}"'
    assert "LastModified" in r1["CopyPartResult"]
    r2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes={PART}-{PART + 999}",
    )
    assert r2["CopyPartResult"]["ETag"] == f'"{md5_hex(src[PART:PART + 1000])}"'
    parts = [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
    ]
    complete(s3, bucket, "assembled", uid, parts)
    body = s3.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert body == src[: PART + 1000]


def test_upload_part_copy_whole_object_cross_bucket(s3, make_bucket):
    b1, b2 = make_bucket("upc-src"), make_bucket("upc-dst")
    src = os.urandom(10_000)
    s3.put_object(Bucket=b1, Key="s p a c e/ü.bin", Body=src)
    uid = create(s3, b2, "dst")
    r = s3.upload_part_copy(
        Bucket=b2, Key="dst", UploadId=uid, PartNumber=1, CopySource={"Bucket": b1, "Key": "s p a c e/ü.bin"}
    )
    etag = r["CopyPartResult"]["ETag"]
    assert etag == f'"{md5_hex(src)}"'
    complete(s3, b2, "dst", uid, [{"PartNumber": 1, "ETag": etag}])
    assert s3.get_object(Bucket=b2, Key="dst")["Body"].read() == src


def test_upload_part_copy_missing_source(s3, bucket):
    uid = create(s3, bucket, "upc-missing")
    expect_error(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="upc-missing", UploadId=uid, PartNumber=1, CopySource={"Bucket": bucket, "Key": "nope"}
        ),
        "NoSuchKey",
        404,
    )


def test_multipart_unicode_key(s3, bucket):
    key = "mpu/ünïcødé 文件.bin"
    uid = create(s3, bucket, key)
    complete(s3, bucket, key, uid, [upload(s3, bucket, key, uid, 1, b"unicode")])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"unicode"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


def test_copy_of_multipart_object(s3, bucket):
    # AWS: objects created by a Copy operation have an ETag that is the MD5 of their data
    p1, p2 = part_data(90), part_data(91, 4321)
    uid = create(s3, bucket, "mp-src", Metadata={"m": "1"})
    complete(s3, bucket, "mp-src", uid, [upload(s3, bucket, "mp-src", uid, 1, p1), upload(s3, bucket, "mp-src", uid, 2, p2)])
    r = s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp-src"})
    assert r["CopyObjectResult"]["ETag"] == f'"{md5_hex(p1 + p2)}"'
    g = s3.get_object(Bucket=bucket, Key="mp-copy")
    assert g["Body"].read() == p1 + p2
    assert g["Metadata"] == {"m": "1"}
    assert g["ETag"] == f'"{md5_hex(p1 + p2)}"'


def test_upload_part_copy_range_spanning_source_parts(s3, bucket):
    p1, p2 = part_data(92), part_data(93, 2000)
    uid = create(s3, bucket, "src2")
    complete(s3, bucket, "src2", uid, [upload(s3, bucket, "src2", uid, 1, p1), upload(s3, bucket, "src2", uid, 2, p2)])
    whole = p1 + p2
    uid = create(s3, bucket, "dst2")
    r = s3.upload_part_copy(
        Bucket=bucket, Key="dst2", UploadId=uid, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src2"}, CopySourceRange=f"bytes={PART - 100}-{PART + 99}",
    )
    etag = r["CopyPartResult"]["ETag"]
    assert etag == f'"{md5_hex(whole[PART - 100 : PART + 100])}"'
    complete(s3, bucket, "dst2", uid, [{"PartNumber": 1, "ETag": etag}])
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == whole[PART - 100 : PART + 100]


def test_multipart_keeps_content_headers(s3, bucket):
    import datetime as dt

    expires = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    uid = create(
        s3, bucket, "hdrs", ContentType="video/mp4", ContentEncoding="identity", ContentDisposition="inline; x=1",
        CacheControl="public, max-age=60", ContentLanguage="fr", Expires=expires,
    )
    complete(s3, bucket, "hdrs", uid, [upload(s3, bucket, "hdrs", uid, 1, b"v")])
    h = s3.head_object(Bucket=bucket, Key="hdrs")
    assert (h["ContentType"], h["ContentEncoding"], h["ContentDisposition"], h["CacheControl"], h["ContentLanguage"]) == (
        "video/mp4", "identity", "inline; x=1", "public, max-age=60", "fr")
    import email.utils

    assert email.utils.parsedate_to_datetime(h["ResponseMetadata"]["HTTPHeaders"]["expires"]) == expires


@pytest.mark.parametrize("rng", ["bytes=garbage", "0-10", "bytes=0-", "bytes=0-1,3-4", "bytes=hello-world"])
def test_upload_part_copy_malformed_range(s3, bucket, rng):
    # AWS: "The x-amz-copy-source-range value must be of the form bytes=first-last" (InvalidArgument 400)
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    uid = create(s3, bucket, "dst")
    expect_error(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=rng,
        ),
        "InvalidArgument",
        400,
    )
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid).get("Parts", []) == []


@pytest.mark.parametrize("rng", ["bytes=0-99", "bytes=9-10", "bytes=10-12"])
def test_upload_part_copy_range_outside_source(s3, bucket, rng):
    # A copy range is never clamped. What S3 answers, observed (versity/versitygw#610,
    # which moved from 416 InvalidRange to it): 400 InvalidArgument "Range specified is
    # not valid for source object of size: N". The API reference names no error.
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    uid = create(s3, bucket, "dst")
    err = expect_error(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=rng,
        ),
        "InvalidArgument",
        400,
    )["Error"]
    assert err["Message"] == "Range specified is not valid for source object of size: 10", err
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid).get("Parts", []) == []
    # the upload goes on
    complete(s3, bucket, "dst", uid, [upload(s3, bucket, "dst", uid, 1, b"ok")])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"ok"


def test_part_uploaded_twice_completes_with_the_last(s3, bucket):
    uid = create(s3, bucket, "twice")
    first = upload(s3, bucket, "twice", uid, 1, b"first bytes")
    second = upload(s3, bucket, "twice", uid, 1, b"second bytes")
    parts = s3.list_parts(Bucket=bucket, Key="twice", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, second["ETag"])]
    # the replaced part is gone: naming it is InvalidPart, and the upload stays
    expect_error(lambda: complete(s3, bucket, "twice", uid, [first]), "InvalidPart", 400)
    complete(s3, bucket, "twice", uid, [second])
    assert s3.get_object(Bucket=bucket, Key="twice")["Body"].read() == b"second bytes"


def test_part_uploaded_concurrently_keeps_one_whole(s3, bucket):
    from concurrent.futures import ThreadPoolExecutor

    uid = create(s3, bucket, "race")
    bodies = [bytes([65 + i]) * (256 * 1024) for i in range(6)]
    with ThreadPoolExecutor(6) as ex:
        etags = list(ex.map(lambda b: upload(s3, bucket, "race", uid, 1, b)["ETag"], bodies))
    (part,) = s3.list_parts(Bucket=bucket, Key="race", UploadId=uid)["Parts"]
    winner = etags.index(part["ETag"])
    complete(s3, bucket, "race", uid, [{"PartNumber": 1, "ETag": part["ETag"]}])
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == bodies[winner]


def test_many_completions_never_hang(server, bucket):
    """Regression: completing an upload took its upload lock and then the key's lock
    from one striped table, so about 1 upload in 1024 deadlocked on itself. 3000
    small uploads, 16 at a time, must all complete within a short read timeout."""
    import concurrent.futures as cf

    import boto3
    from botocore.config import Config

    from helpers import ACCESS_KEY, SECRET_KEY

    cfg = Config(read_timeout=15, retries={"total_max_attempts": 1}, max_pool_connections=16)
    c = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, region_name=server.region, config=cfg)

    def one(i):
        key = f"many/{i}"
        up = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag = c.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=b"x")["ETag"]
        c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})

    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(one, range(3000)))
    assert c.list_objects_v2(Bucket=bucket, Prefix="many/", MaxKeys=1)["KeyCount"] == 1
    assert c.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
