"""Object operations: Put/Get/Head/Delete, DeleteObjects, CopyObject,
metadata and content headers, ETag, Last-Modified, Range and conditional
requests."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import os
import time

import pytest

from helpers import (
    REGION,
    assert_raw_error,
    expect_error,
    md5_b64,
    md5_hex,
    qkey,
    started_server,
    unique_bucket_name,
)

ALPHABET = b"abcdefghijklmnopqrstuvwxyz"  # 26 bytes


def http_date(d: dt.datetime) -> str:
    return email.utils.format_datetime(d.astimezone(dt.timezone.utc), usegmt=True)


# ---------------------------------------------------------------- put / get / head


def test_put_get_roundtrip_etag_length_last_modified(s3, bucket):
    body = os.urandom(100_000)
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=2)
    put = s3.put_object(Bucket=bucket, Key="obj.bin", Body=body)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["ETag"] == f'"{md5_hex(body)}"'
    assert put["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")
    t1 = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)

    get = s3.get_object(Bucket=bucket, Key="obj.bin")
    assert get["Body"].read() == body
    assert get["ETag"] == f'"{md5_hex(body)}"'
    assert get["ContentLength"] == len(body)
    assert t0 <= get["LastModified"] <= t1, (t0, get["LastModified"], t1)
    hdrs = get["ResponseMetadata"]["HTTPHeaders"]
    assert hdrs.get("accept-ranges") == "bytes"
    # Last-Modified is an RFC 7231 HTTP-date in GMT
    assert hdrs["last-modified"].endswith("GMT")
    email.utils.parsedate_to_datetime(hdrs["last-modified"])


def test_head_object(s3, raw, bucket):
    body = b"hello head"
    s3.put_object(Bucket=bucket, Key="h", Body=body, ContentType="text/plain")
    h = s3.head_object(Bucket=bucket, Key="h")
    assert h["ContentLength"] == len(body)
    assert h["ETag"] == f'"{md5_hex(body)}"'
    assert h["ContentType"] == "text/plain"
    assert "LastModified" in h
    r = raw.head(f"/{bucket}/h")
    assert r.status == 200
    assert r.content == b""
    assert r.headers["Content-Length"] == str(len(body))
    assert r.headers["ETag"] == f'"{md5_hex(body)}"'
    assert r.headers.get("x-amz-request-id")


def test_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    get = s3.get_object(Bucket=bucket, Key="empty")
    assert get["Body"].read() == b""
    assert get["ContentLength"] == 0


def test_overwrite_replaces_content_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version", Metadata={"v": "1"}, ContentType="text/a")
    s3.put_object(Bucket=bucket, Key="k", Body=b"2nd")
    get = s3.get_object(Bucket=bucket, Key="k")
    assert get["Body"].read() == b"2nd"
    assert get["ContentLength"] == 3
    assert get["Metadata"] == {}
    assert get["ContentType"] != "text/a"


def test_default_content_type_is_binary_octet_stream(raw, bucket):
    r = raw.put(f"/{bucket}/noct", data=b"abc")
    assert r.status == 200, r
    g = raw.get(f"/{bucket}/noct")
    assert g.status == 200
    assert g.headers.get("Content-Type") == "binary/octet-stream"


def test_user_metadata_roundtrip(s3, raw, bucket):
    meta = {"Color": "blue", "multi-word-key": "value with spaces", "empty": "", "num": "42"}
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata=meta)
    expected = {k.lower(): v for k, v in meta.items()}
    assert s3.get_object(Bucket=bucket, Key="m")["Metadata"] == expected
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == expected
    r = raw.head(f"/{bucket}/m")
    assert r.headers.get("x-amz-meta-color") == "blue"
    assert r.headers.get("x-amz-meta-multi-word-key") == "value with spaces"


def test_user_metadata_raw_headers(raw, bucket):
    r = raw.put(
        f"/{bucket}/rawmeta",
        data=b"x",
        headers={"x-amz-meta-Alpha": "One", "X-AMZ-META-beta": "two words"},
    )
    assert r.status == 200, r
    g = raw.get(f"/{bucket}/rawmeta")
    assert g.headers.get("x-amz-meta-alpha") == "One"
    assert g.headers.get("x-amz-meta-beta") == "two words"
    # non-metadata request headers are not echoed back as metadata
    assert not any(h.lower().startswith("x-amz-meta-") and h.lower() not in ("x-amz-meta-alpha", "x-amz-meta-beta") for h in g.headers)


def encoded_word(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


@pytest.mark.parametrize("sent", ["caf\u00e9 \u65e5\u672c".encode(), "caf\u00e9".encode("latin-1")], ids=["utf8", "latin1"])
def test_non_ascii_metadata_is_returned_as_an_encoded_word(s3, raw, bucket, sent):
    # AWS reads header bytes outside US-ASCII as ISO-8859-1 and returns non-ASCII
    # values RFC 2047-encoded; UTF-8 text is kept as such (no mojibake either way).
    text = sent.decode("utf-8") if sent.startswith(b"caf\xc3") else sent.decode("latin-1")
    r = raw.put(f"/{bucket}/u", data=b"x", headers={"x-amz-meta-name": sent, "x-amz-meta-plain": "ok"}, sign=False)
    assert r.status == 200, r
    for got in (raw.head(f"/{bucket}/u").headers, raw.get(f"/{bucket}/u").headers):
        assert got["x-amz-meta-name"] == encoded_word(text)
        assert got["x-amz-meta-plain"] == "ok"
    assert s3.head_object(Bucket=bucket, Key="u")["Metadata"] == {"name": encoded_word(text), "plain": "ok"}


def test_encoded_word_metadata_is_returned_as_sent(s3, bucket):
    # boto3 refuses non-ASCII metadata itself: encoded words are how clients send it
    meta = {"name": encoded_word("\u00e9t\u00e9"), "q": "=?utf-8?q?caf=C3=A9?="}
    s3.put_object(Bucket=bucket, Key="e", Body=b"x", Metadata=meta)
    assert s3.get_object(Bucket=bucket, Key="e")["Metadata"] == meta


def test_content_headers_roundtrip(s3, bucket):
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    s3.put_object(
        Bucket=bucket,
        Key="c.txt.gz",
        Body=b"compressed?",
        ContentType="text/plain; charset=utf-8",
        ContentEncoding="gzip",
        ContentDisposition='attachment; filename="report.txt"',
        CacheControl="max-age=3600, must-revalidate",
        ContentLanguage="en-US",
        Expires=expires,
    )
    for resp in (s3.get_object(Bucket=bucket, Key="c.txt.gz"), s3.head_object(Bucket=bucket, Key="c.txt.gz")):
        assert resp["ContentType"] == "text/plain; charset=utf-8"
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentDisposition"] == 'attachment; filename="report.txt"'
        assert resp["CacheControl"] == "max-age=3600, must-revalidate"
        assert resp["ContentLanguage"] == "en-US"
        hdr = resp["ResponseMetadata"]["HTTPHeaders"].get("expires")
        assert hdr is not None, "Expires header not returned"
        assert email.utils.parsedate_to_datetime(hdr) == expires
        assert resp["Metadata"] == {}


def test_put_with_correct_content_md5(s3, raw, bucket):
    body = b"digest me"
    r = raw.put(f"/{bucket}/md5ok", data=body, headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r
    assert r.headers["ETag"] == f'"{md5_hex(body)}"'


def test_get_missing_key(s3, raw, bucket):
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="nope"), "NoSuchKey", 404)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="nope"), None, 404)
    r = raw.get(f"/{bucket}/nope/deeper")
    err = assert_raw_error(r, "NoSuchKey", 404)
    assert "nope/deeper" in (err.get("Key", "") + err.get("Resource", "")), err


def test_object_in_missing_bucket(s3):
    expect_error(lambda: s3.get_object(Bucket="t-no-such-bucket-xyz", Key="k"), "NoSuchBucket", 404)
    expect_error(lambda: s3.put_object(Bucket="t-no-such-bucket-xyz", Key="k", Body=b"x"), "NoSuchBucket", 404)
    expect_error(lambda: s3.head_object(Bucket="t-no-such-bucket-xyz", Key="k"), None, 404)
    expect_error(lambda: s3.delete_object(Bucket="t-no-such-bucket-xyz", Key="k"), "NoSuchBucket", 404)


# ---------------------------------------------------------------- delete


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    r = s3.delete_object(Bucket=bucket, Key="d")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="d"), "NoSuchKey", 404)
    # deleting a missing key is not an error
    r = s3.delete_object(Bucket=bucket, Key="d")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    r = s3.delete_object(Bucket=bucket, Key="never/existed")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_object_keeps_siblings(s3, bucket):
    for k in ("dir/a", "dir/b", "dir"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    s3.delete_object(Bucket=bucket, Key="dir/a")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["dir", "dir/b"]
    assert s3.get_object(Bucket=bucket, Key="dir")["Body"].read() == b"dir"


def test_delete_objects_verbose(s3, bucket):
    keys = ["a", "b/c", "d e", "ünï"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"keep")
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in keys + ["missing-key"]]},
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    deleted = sorted(d["Key"] for d in r.get("Deleted", []))
    # deleting a missing key is reported as deleted
    assert deleted == sorted(keys + ["missing-key"])
    assert r.get("Errors", []) == []
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert left == ["survivor"]


def test_delete_objects_quiet(s3, raw, bucket):
    for k in ("q1", "q2"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q1"}, {"Key": "q2"}], "Quiet": True})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r.get("Deleted", []) == []
    assert r.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_raw_xml(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="r1", Body=b"x")
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>r1</Key></Object>'
        b"<Object><Key>r2</Key></Object></Delete>"
    )
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "DeleteResult"
    assert sorted(e.text for e in root.findall("Deleted/Key")) == ["r1", "r2"]


def test_delete_objects_malformed_xml(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="stay", Body=b"x")
    body = b"<Delete><Object><Key>stay</Key></Object>"  # truncated
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "MalformedXML", 400)
    assert s3.get_object(Bucket=bucket, Key="stay")["Body"].read() == b"x"


def test_delete_objects_more_than_1000_keys_is_malformed(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k0", Body=b"x")
    objs = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001))
    body = f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{objs}</Delete>'.encode()
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "MalformedXML", 400)
    assert s3.get_object(Bucket=bucket, Key="k0")["Body"].read() == b"x"


# ---------------------------------------------------------------- copy


def test_copy_same_bucket_copies_metadata(s3, bucket):
    body = b"copy me"
    s3.put_object(Bucket=bucket, Key="src", Body=body, Metadata={"a": "1"}, ContentType="text/x-src", CacheControl="no-cache")
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["CopyObjectResult"]["ETag"] == f'"{md5_hex(body)}"'
    assert "LastModified" in r["CopyObjectResult"]
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Body"].read() == body
    assert g["Metadata"] == {"a": "1"}
    assert g["ContentType"] == "text/x-src"
    assert g["CacheControl"] == "no-cache"
    assert g["ETag"] == f'"{md5_hex(body)}"'
    # source untouched
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == body


def test_copy_cross_bucket(s3, make_bucket):
    b1, b2 = make_bucket("copy-src"), make_bucket("copy-dst")
    body = os.urandom(50_000)
    s3.put_object(Bucket=b1, Key="dir/file", Body=body, Metadata={"k": "v"})
    s3.copy_object(Bucket=b2, Key="other/name", CopySource={"Bucket": b1, "Key": "dir/file"})
    g = s3.get_object(Bucket=b2, Key="other/name")
    assert g["Body"].read() == body
    assert g["Metadata"] == {"k": "v"}


def test_copy_metadata_directive_copy_ignores_new_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Metadata={"old": "yes"}, ContentType="text/old")
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="COPY",
        Metadata={"new": "no"},
        ContentType="text/new",
    )
    g = s3.head_object(Bucket=bucket, Key="dst")
    assert g["Metadata"] == {"old": "yes"}
    assert g["ContentType"] == "text/old"


def test_copy_metadata_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"xyz", Metadata={"old": "yes"}, ContentType="text/old")
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"new": "value"},
        ContentType="text/new",
    )
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Body"].read() == b"xyz"
    assert g["Metadata"] == {"new": "value"}
    assert g["ContentType"] == "text/new"
    # the source keeps its own metadata
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"old": "yes"}


def test_copy_onto_itself_with_replace(s3, bucket):
    body = b"self copy"
    s3.put_object(Bucket=bucket, Key="self", Body=body, Metadata={"gen": "1"})
    r = s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"gen": "2"},
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    g = s3.get_object(Bucket=bucket, Key="self")
    assert g["Body"].read() == body
    assert g["Metadata"] == {"gen": "2"}
    assert g["ETag"] == f'"{md5_hex(body)}"'


def test_copy_onto_itself_without_replace_is_invalid_request(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"gen": "1"})
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"}),
        "InvalidRequest",
        400,
    )
    r = raw.put(f"/{bucket}/self", headers={"x-amz-copy-source": f"/{bucket}/self", "x-amz-metadata-directive": "COPY"})
    assert_raw_error(r, "InvalidRequest", 400)
    g = s3.get_object(Bucket=bucket, Key="self")
    assert g["Body"].read() == b"same"
    assert g["Metadata"] == {"gen": "1"}


def test_copy_missing_source(s3, bucket):
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "missing"}),
        "NoSuchKey",
        404,
    )
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": "t-missing-src-bucket-q", "Key": "x"}),
        "NoSuchBucket",
        404,
    )
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="dst"), None, 404)


def test_copy_source_key_needing_encoding(s3, bucket):
    src = "dir with space/ünïcödé+plus%percent&amp.txt"
    s3.put_object(Bucket=bucket, Key=src, Body=b"enc")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": src})
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == b"enc"


def test_copy_raw_response_xml(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc")
    r = raw.put(f"/{bucket}/dst", headers={"x-amz-copy-source": f"{bucket}/src"})
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "CopyObjectResult"
    assert root.findtext("ETag") == f'"{md5_hex(b"abc")}"'
    assert root.findtext("LastModified")


# ---------------------------------------------------------------- ranges


@pytest.fixture
def alpha(s3, bucket):
    s3.put_object(Bucket=bucket, Key="alpha", Body=ALPHABET)
    return bucket


@pytest.mark.parametrize(
    "rng,start,end",
    [
        ("bytes=0-4", 0, 4),
        ("bytes=3-3", 3, 3),
        ("bytes=5-", 5, 25),
        ("bytes=-3", 23, 25),
        ("bytes=20-1000", 20, 25),  # end past EOF is clamped
        ("bytes=-100", 0, 25),  # suffix longer than object
        ("bytes=0-25", 0, 25),
    ],
)
def test_range_get(s3, alpha, rng, start, end):
    r = s3.get_object(Bucket=alpha, Key="alpha", Range=rng)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentRange"] == f"bytes {start}-{end}/26"
    assert r["ContentLength"] == end - start + 1
    assert r["Body"].read() == ALPHABET[start : end + 1]
    assert r["ETag"] == f'"{md5_hex(ALPHABET)}"'


def test_range_head(s3, alpha):
    r = s3.head_object(Bucket=alpha, Key="alpha", Range="bytes=2-5")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentLength"] == 4
    assert r["ContentRange"] == "bytes 2-5/26"


@pytest.mark.parametrize("rng", ["bytes=26-", "bytes=100-200", "bytes=26-30"])
def test_range_not_satisfiable(s3, raw, alpha, rng):
    expect_error(lambda: s3.get_object(Bucket=alpha, Key="alpha", Range=rng), "InvalidRange", 416)
    r = raw.get(f"/{alpha}/alpha", headers={"Range": rng})
    assert_raw_error(r, "InvalidRange", 416)
    # the object is untouched
    assert s3.get_object(Bucket=alpha, Key="alpha")["Body"].read() == ALPHABET


def test_range_on_empty_object_not_satisfiable(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0"), "InvalidRange", 416)


def test_range_raw_headers(raw, alpha):
    r = raw.get(f"/{alpha}/alpha", headers={"Range": "bytes=1-2"})
    assert r.status == 206
    assert r.content == b"bc"
    assert r.headers["Content-Range"] == "bytes 1-2/26"
    assert r.headers["Content-Length"] == "2"
    assert r.headers.get("Accept-Ranges") == "bytes"
    assert r.headers.get("x-amz-request-id")


def test_full_get_has_no_content_range(raw, alpha):
    r = raw.get(f"/{alpha}/alpha")
    assert r.status == 200
    assert "Content-Range" not in r.headers


# ---------------------------------------------------------------- conditionals


@pytest.fixture
def cond(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    h = s3.head_object(Bucket=bucket, Key="c")
    return bucket, h["ETag"], h["LastModified"]


PAST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def future():
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)


def test_if_match(s3, cond):
    b, etag, _ = cond
    r = s3.get_object(Bucket=b, Key="c", IfMatch=etag)
    assert r["Body"].read() == b"conditional"
    expect_error(lambda: s3.get_object(Bucket=b, Key="c", IfMatch='"00000000000000000000000000000000"'), "PreconditionFailed", 412)
    expect_error(lambda: s3.head_object(Bucket=b, Key="c", IfMatch='"00000000000000000000000000000000"'), None, 412)


def test_if_none_match(s3, raw, cond):
    b, etag, _ = cond
    expect_error(lambda: s3.get_object(Bucket=b, Key="c", IfNoneMatch=etag), None, 304)
    expect_error(lambda: s3.head_object(Bucket=b, Key="c", IfNoneMatch=etag), None, 304)
    r = s3.get_object(Bucket=b, Key="c", IfNoneMatch='"ffffffffffffffffffffffffffffffff"')
    assert r["Body"].read() == b"conditional"
    x = raw.get(f"/{b}/c", headers={"If-None-Match": etag})
    assert x.status == 304
    assert x.content == b""
    assert x.headers.get("ETag") == etag
    assert x.headers.get("x-amz-request-id")


def test_if_modified_since(s3, cond):
    b, etag, lm = cond
    r = s3.get_object(Bucket=b, Key="c", IfModifiedSince=PAST)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    # (a future date is not asserted: RFC 2616 calls it invalid, to be ignored)
    # not modified since exactly its Last-Modified
    expect_error(lambda: s3.get_object(Bucket=b, Key="c", IfModifiedSince=lm), None, 304)
    expect_error(lambda: s3.head_object(Bucket=b, Key="c", IfModifiedSince=lm), None, 304)


def test_if_unmodified_since(s3, cond):
    b, etag, lm = cond
    r = s3.get_object(Bucket=b, Key="c", IfUnmodifiedSince=future())
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    r = s3.get_object(Bucket=b, Key="c", IfUnmodifiedSince=lm)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    expect_error(lambda: s3.get_object(Bucket=b, Key="c", IfUnmodifiedSince=PAST), "PreconditionFailed", 412)
    expect_error(lambda: s3.head_object(Bucket=b, Key="c", IfUnmodifiedSince=PAST), None, 412)


def test_if_match_true_and_unmodified_since_false_is_200(s3, cond):
    # AWS: If-Match true + If-Unmodified-Since false -> 200 OK
    b, etag, _ = cond
    r = s3.get_object(Bucket=b, Key="c", IfMatch=etag, IfUnmodifiedSince=PAST)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Body"].read() == b"conditional"


def test_if_none_match_false_and_modified_since_true_is_304(s3, cond):
    # AWS: If-None-Match false + If-Modified-Since true -> 304 Not Modified
    b, etag, _ = cond
    expect_error(lambda: s3.get_object(Bucket=b, Key="c", IfNoneMatch=etag, IfModifiedSince=PAST), None, 304)


def test_precondition_failed_raw_body(raw, cond):
    b, _, _ = cond
    r = raw.get(f"/{b}/c", headers={"If-Match": '"nope"'})
    err = assert_raw_error(r, "PreconditionFailed", 412)
    assert err.get("Message")


def test_last_modified_changes_on_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"1")
    lm1 = s3.head_object(Bucket=bucket, Key="t")["LastModified"]
    time.sleep(1.1)
    s3.put_object(Bucket=bucket, Key="t", Body=b"2")
    lm2 = s3.head_object(Bucket=bucket, Key="t")["LastModified"]
    assert lm2 > lm1


@pytest.mark.parametrize("rng", ["bytes=abc", "items=0-1", "bytes=5-2"])
def test_unparseable_range_is_ignored(raw, alpha, rng):
    # RFC 9110: an invalid Range header field is ignored -> 200 with the whole object
    r = raw.get(f"/{alpha}/alpha", headers={"Range": rng})
    assert r.status == 200, r
    assert r.content == ALPHABET


def test_copy_invalid_metadata_directive(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    r = raw.put(f"/{bucket}/dst", headers={"x-amz-copy-source": f"/{bucket}/src", "x-amz-metadata-directive": "MERGE"})
    assert_raw_error(r, "InvalidArgument", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="dst"), None, 404)


def test_copy_preserves_content_headers(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"x", ContentType="text/csv", ContentEncoding="gzip",
        ContentDisposition="inline", ContentLanguage="de",
    )
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    h = s3.head_object(Bucket=bucket, Key="dst")
    assert (h["ContentType"], h["ContentEncoding"], h["ContentDisposition"], h["ContentLanguage"]) == (
        "text/csv", "gzip", "inline", "de")


def test_copy_result_last_modified_is_new(s3, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"x")
    lm_src = s3.head_object(Bucket=bucket, Key="old")["LastModified"]
    time.sleep(1.1)
    r = s3.copy_object(Bucket=bucket, Key="new", CopySource={"Bucket": bucket, "Key": "old"})
    lm_dst = s3.head_object(Bucket=bucket, Key="new")["LastModified"]
    assert lm_dst > lm_src
    assert r["CopyObjectResult"]["LastModified"].replace(microsecond=0) == lm_dst


def test_delete_objects_exactly_1000_keys(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k999", Body=b"x")
    objs = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1000))
    body = f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{objs}</Delete>'.encode()
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r
    assert len(r.xml().findall("Deleted")) == 1000
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="k999"), None, 404)


def test_percent_encoded_slash_in_path_is_a_slash(raw, s3, bucket):
    r = raw.put(f"/{bucket}/dir%2Ffile", data=b"enc")
    assert r.status == 200, r
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/file"]
    assert s3.get_object(Bucket=bucket, Key="dir/file")["Body"].read() == b"enc"


def test_copy_source_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"cond copy")
    etag = s3.head_object(Bucket=bucket, Key="src")["ETag"]
    src = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="ok1", CopySource=src, CopySourceIfMatch=etag)
    s3.copy_object(Bucket=bucket, Key="ok2", CopySource=src, CopySourceIfNoneMatch='"ffffffffffffffffffffffffffffffff"')
    s3.copy_object(Bucket=bucket, Key="ok3", CopySource=src, CopySourceIfUnmodifiedSince=future())
    # AWS answers 412 PreconditionFailed for every failed copy-source condition
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="no1", CopySource=src, CopySourceIfMatch='"00000000000000000000000000000000"'),
        "PreconditionFailed", 412,
    )
    expect_error(lambda: s3.copy_object(Bucket=bucket, Key="no2", CopySource=src, CopySourceIfNoneMatch=etag), "PreconditionFailed", 412)
    expect_error(lambda: s3.copy_object(Bucket=bucket, Key="no3", CopySource=src, CopySourceIfUnmodifiedSince=PAST), "PreconditionFailed", 412)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["ok1", "ok2", "ok3", "src"]


# ---------------------------------------------------------------- unversioned: no version headers


def test_unversioned_responses_carry_no_version_headers(s3, raw, bucket):
    responses = {
        "PUT": raw.put(f"/{bucket}/k", data=b"x"),
        "GET": raw.get(f"/{bucket}/k"),
        "HEAD": raw.head(f"/{bucket}/k"),
        "COPY": raw.put(f"/{bucket}/k2", headers={"x-amz-copy-source": f"/{bucket}/k"}),
    }
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="m", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    body = f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    responses["COMPLETE"] = raw.post(f"/{bucket}/m", params={"uploadId": up}, data=body.encode())
    responses["DELETE"] = raw.delete(f"/{bucket}/k")
    responses["DELETE missing"] = raw.delete(f"/{bucket}/never")
    for what, r in responses.items():
        assert r.status in (200, 204), (what, r)
        assert "x-amz-version-id" not in r.headers, (what, dict(r.headers))
        assert "x-amz-delete-marker" not in r.headers, (what, dict(r.headers))


# ---------------------------------------------------------------- sub-resources not implemented


@pytest.mark.parametrize(
    "method,sub", [("GET", "torrent"), ("PUT", "torrent"), ("POST", "restore")]
)
def test_unsupported_object_subresource_answers_missing_key_first(s3, raw, bucket, method, sub):
    missing_bucket = unique_bucket_name("nosub")
    assert_raw_error(raw.request(method, f"/{missing_bucket}/k", params={sub: None}), "NoSuchBucket", 404)
    assert_raw_error(raw.request(method, f"/{bucket}/absent", params={sub: None}), "NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    err = assert_raw_error(raw.request(method, f"/{bucket}/k", params={sub: None}, data=b""), "NotImplemented", 501)
    assert "not implemented" in err["Message"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


def test_unsupported_subresource_is_authenticated_first():
    ak, sk = "AKIDSUBRESOURCE01", "subresource-secret-key-0123456789"
    with started_server(REGION, access_key=ak, secret_key=sk) as srv:
        raw = srv.raw_client()
        raw.creds = raw.creds.__class__(ak, sk)
        assert raw.put("/subauth").status == 200
        for path, sub in (("/subauth/k", "torrent"), ("/subauth", "website")):
            r = raw.get(path, params={sub: None}, sign=False)
            assert_raw_error(r, "AccessDenied", 403)
        # A missing bucket is NoSuchBucket to anonymous callers too, as on AWS.
        assert_raw_error(raw.get("/nosuch/k", params={"retention": None}, sign=False), "NoSuchBucket", 404)
        assert_raw_error(raw.get("/subauth/k", params={"torrent": None}), "NoSuchKey", 404)
        assert_raw_error(raw.get("/subauth", params={"website": None}), "NotImplemented", 501)
