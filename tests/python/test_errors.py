"""Error responses and bad input: XML error bodies, x-amz-request-id,
path-style and virtual-hosted-style addressing, malformed XML, digests,
oversized metadata, key length; the engine keeps serving and loses nothing."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from helpers import (
    assert_raw_error,
    assert_server_healthy,
    expect_error,
    make_client,
    md5_b64,
    md5_hex,
    qkey,
    unique_bucket_name,
)

# ---------------------------------------------------------------- error body shape


def test_no_such_key_error_body(raw, bucket):
    r = raw.get(f"/{bucket}/missing/key.txt")
    err = assert_raw_error(r, "NoSuchKey", 404)
    assert r.headers.get("Content-Type", "").startswith("application/xml")
    assert "missing/key.txt" in err.get("Resource", ""), f"Resource should name the object: {err}"
    assert bucket in err.get("Resource", ""), f"Resource should name the bucket: {err}"
    assert err.get("Key", "missing/key.txt") == "missing/key.txt"


def test_no_such_bucket_error_body(raw):
    name = unique_bucket_name("nsb")
    r = raw.get(f"/{name}")
    err = assert_raw_error(r, "NoSuchBucket", 404)
    assert name in err.get("Resource", ""), err
    assert err.get("BucketName", name) == name
    r = raw.get(f"/{name}/some/key")
    assert_raw_error(r, "NoSuchBucket", 404)
    r = raw.put(f"/{name}/some/key", data=b"x")
    assert_raw_error(r, "NoSuchBucket", 404)


def test_error_body_is_xml_declaration_and_root(raw, bucket):
    r = raw.get(f"/{bucket}/nope")
    assert r.status == 404
    text = r.content.lstrip()
    assert text.startswith(b"<?xml") or text.startswith(b"<Error"), text[:100]


def test_request_ids_are_unique(raw, bucket):
    ids = {raw.get(f"/{bucket}/nope").headers.get("x-amz-request-id") for _ in range(5)}
    ids |= {raw.get("/").headers.get("x-amz-request-id") for _ in range(5)}
    assert None not in ids
    assert len(ids) == 10


def test_request_id_on_every_response(raw, s3, bucket):
    body = b"0123456789"
    etag = f'"{md5_hex(body)}"'
    responses = {
        "ListBuckets": raw.get("/"),
        "PutObject": raw.put(f"/{bucket}/o", data=body),
        "GetObject": raw.get(f"/{bucket}/o"),
        "HeadObject": raw.head(f"/{bucket}/o"),
        "Range206": raw.get(f"/{bucket}/o", headers={"Range": "bytes=0-1"}),
        "Range416": raw.get(f"/{bucket}/o", headers={"Range": "bytes=100-"}),
        "NotModified304": raw.get(f"/{bucket}/o", headers={"If-None-Match": etag}),
        "Precondition412": raw.get(f"/{bucket}/o", headers={"If-Match": '"x"'}),
        "HeadMissing404": raw.head(f"/{bucket}/missing"),
        "ListObjectsV2": raw.get(f"/{bucket}", params={"list-type": "2"}),
        "HeadBucket": raw.head(f"/{bucket}"),
        "DeleteObject": raw.delete(f"/{bucket}/o"),
        "NoSuchBucket": raw.get("/t-definitely-missing-bucket"),
    }
    expected = {
        "ListBuckets": 200,
        "PutObject": 200,
        "GetObject": 200,
        "HeadObject": 200,
        "Range206": 206,
        "Range416": 416,
        "NotModified304": 304,
        "Precondition412": 412,
        "HeadMissing404": 404,
        "ListObjectsV2": 200,
        "HeadBucket": 200,
        "DeleteObject": 204,
        "NoSuchBucket": 404,
    }
    got = {k: (r.status, bool(r.headers.get("x-amz-request-id"))) for k, r in responses.items()}
    assert got == {k: (v, True) for k, v in expected.items()}


def test_head_error_has_no_body(raw, bucket):
    r = raw.head(f"/{bucket}/missing")
    assert r.status == 404
    assert r.content == b""


# ---------------------------------------------------------------- virtual-hosted style


def vhost(server, bucket=None):
    return f"{bucket}.localhost:{server.port}" if bucket else f"localhost:{server.port}"


def test_virtual_host_raw_requests(raw, server, s3, bucket):
    host = vhost(server, bucket)
    r = raw.put("/vkey.txt", data=b"virtual", host=host, headers={"Content-Type": "text/plain"})
    assert r.status == 200, r
    assert r.headers.get("x-amz-request-id")
    # visible through path style
    assert s3.get_object(Bucket=bucket, Key="vkey.txt")["Body"].read() == b"virtual"
    r = raw.get("/vkey.txt", host=host)
    assert r.status == 200 and r.content == b"virtual"
    assert r.headers["Content-Type"] == "text/plain"
    r = raw.head("/vkey.txt", host=host)
    assert r.status == 200 and r.headers["Content-Length"] == "7"
    # bucket listing via GET /
    r = raw.get("/", host=host, params={"list-type": "2"})
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "ListBucketResult"
    assert root.findtext("Name") == bucket
    assert [e.text for e in root.findall("Contents/Key")] == ["vkey.txt"]
    # unicode key through the virtual host
    key = "dïr/fïlé name.txt"
    r = raw.put("/" + qkey(key), data=b"u", host=host)
    assert r.status == 200
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"u"
    r = raw.delete("/vkey.txt", host=host)
    assert r.status == 204
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="vkey.txt"), None, 404)


def test_virtual_host_key_that_looks_like_bucket_path(raw, server, s3, bucket):
    # with a virtual host, the whole path is the key: /bucket/x is key "bucket/x"
    host = vhost(server, bucket)
    r = raw.put(f"/{bucket}/x", data=b"nested", host=host)
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key=f"{bucket}/x")["Body"].read() == b"nested"


def test_virtual_host_missing_bucket(raw, server):
    name = unique_bucket_name("vmissing")
    r = raw.get("/key", host=vhost(server, name))
    err = assert_raw_error(r, "NoSuchBucket", 404)
    assert name in (err.get("BucketName", "") + err.get("Resource", ""))


def test_virtual_host_create_and_delete_bucket(raw, server, s3, make_bucket):
    name = make_bucket("vcreate", create=False)
    r = raw.put("/", host=vhost(server, name))
    assert r.status == 200, r
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    r = raw.delete("/", host=vhost(server, name))
    assert r.status == 204, r
    expect_error(lambda: s3.head_bucket(Bucket=name), None, 404)


def test_plain_localhost_host_is_service_level(raw, server, bucket):
    r = raw.get("/", host=vhost(server))
    assert r.status == 200
    assert r.xml().tag == "ListAllMyBucketsResult"
    r = raw.get(f"/{bucket}", host=vhost(server), params={"list-type": "2"})
    assert r.status == 200
    assert r.xml().findtext("Name") == bucket


def test_boto3_virtual_addressing(server, localhost_resolves_subdomains, s3, make_bucket):
    v = make_client(f"http://localhost:{server.port}", server.region, addressing_style="virtual")
    name = make_bucket("vboto", create=False)
    v.create_bucket(Bucket=name)
    v.put_object(Bucket=name, Key="a/b c.txt", Body=b"hello", Metadata={"x": "y"})
    g = v.get_object(Bucket=name, Key="a/b c.txt")
    assert g["Body"].read() == b"hello"
    assert g["Metadata"] == {"x": "y"}
    assert [o["Key"] for o in v.list_objects_v2(Bucket=name)["Contents"]] == ["a/b c.txt"]
    v.copy_object(Bucket=name, Key="copy", CopySource={"Bucket": name, "Key": "a/b c.txt"})
    assert s3.get_object(Bucket=name, Key="copy")["Body"].read() == b"hello"
    expect_error(lambda: v.get_object(Bucket=name, Key="missing"), "NoSuchKey", 404)
    v.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "a/b c.txt"}, {"Key": "copy"}]})
    v.delete_bucket(Bucket=name)
    expect_error(lambda: s3.head_bucket(Bucket=name), None, 404)


# ---------------------------------------------------------------- digests


def test_bad_digest_on_new_key(raw, s3, bucket):
    r = raw.put(f"/{bucket}/new", data=b"actual body", headers={"Content-MD5": md5_b64(b"other body")})
    assert_raw_error(r, "BadDigest", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="new"), None, 404)
    assert_server_healthy(s3)


def test_bad_digest_keeps_existing_object(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="existing", Body=b"original content", Metadata={"v": "1"})
    r = raw.put(
        f"/{bucket}/existing",
        data=b"replacement",
        headers={"Content-MD5": md5_b64(b"something else"), "x-amz-meta-v": "2"},
    )
    assert_raw_error(r, "BadDigest", 400)
    g = s3.get_object(Bucket=bucket, Key="existing")
    assert g["Body"].read() == b"original content"
    assert g["Metadata"] == {"v": "1"}
    assert g["ETag"] == f'"{md5_hex(b"original content")}"'


@pytest.mark.parametrize("digest", ["not-base64!!", "AAAA", base64.b64encode(b"x" * 20).decode()])
def test_invalid_digest(raw, s3, bucket, digest):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"keep")
    r = raw.put(f"/{bucket}/keep", data=b"new", headers={"Content-MD5": digest})
    assert_raw_error(r, "InvalidDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"keep"


def test_bad_digest_on_upload_part(raw, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    r = raw.put(
        f"/{bucket}/mp",
        params={"partNumber": "1", "uploadId": uid},
        data=b"part",
        headers={"Content-MD5": md5_b64(b"not part")},
    )
    assert_raw_error(r, "BadDigest", 400)
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []


# ---------------------------------------------------------------- malformed XML


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<Delete>",
        b"<Delete><Object><Key>a</Key></Object></Delete><extra>",
        b"<Other/>",
        b"<Delete><Quiet>true</Quiet></Delete>",  # zero <Object>: fails the schema
    ],
    ids=["empty", "garbage", "unclosed", "trailing", "wrong-root", "no-objects"],
)
def test_delete_objects_malformed(raw, s3, bucket, body):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "MalformedXML", 400)
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"


# ---------------------------------------------------------------- limits


def test_metadata_too_large(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="meta", Body=b"old")
    big = "v" * 2100  # user metadata is limited to 2 KB
    expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="meta", Body=b"new", Metadata={"big": big}), "MetadataTooLarge", 400
    )
    r = raw.put(f"/{bucket}/meta2", data=b"x", headers={"x-amz-meta-a": "a" * 1100, "x-amz-meta-b": "b" * 1100})
    assert_raw_error(r, "MetadataTooLarge", 400)
    assert s3.get_object(Bucket=bucket, Key="meta")["Body"].read() == b"old"
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="meta2"), None, 404)
    assert_server_healthy(s3)


def test_metadata_under_limit_is_fine(s3, bucket):
    meta = {"a": "x" * 900, "b": "y" * 900}  # ~1.8 KB
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x", Metadata=meta)
    assert s3.head_object(Bucket=bucket, Key="ok")["Metadata"] == meta


def test_metadata_too_large_on_copy_and_multipart(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    big = {"big": "v" * 2100}
    expect_error(
        lambda: s3.copy_object(
            Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE", Metadata=big
        ),
        "MetadataTooLarge",
        400,
    )
    expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="mp", Metadata=big), "MetadataTooLarge", 400)


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 512 + "x", "ü" * 1000], ids=["ascii1025", "utf8-1025", "utf8-2000"])
def test_key_too_long(s3, raw, bucket, key):
    expect_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), "KeyTooLongError", 400)
    r = raw.put(f"/{bucket}/" + qkey(key), data=b"x")
    assert_raw_error(r, "KeyTooLongError", 400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key=key), "KeyTooLongError", 400)
    assert_server_healthy(s3)


def test_key_of_1024_bytes_is_fine(s3, bucket):
    key = "é" * 511 + "xy"
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"


# ---------------------------------------------------------------- failed writes lose nothing


def _send_raw(server, data: bytes, timeout=5.0) -> bytes:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def test_truncated_body_keeps_old_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="trunc", Body=b"old data")
    req = (
        f"PUT /{bucket}/trunc HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Length: 100000\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n"
    ).encode() + b"partial" * 10
    _send_raw(server, req)
    time.sleep(0.3)
    assert s3.get_object(Bucket=bucket, Key="trunc")["Body"].read() == b"old data"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == ["trunc"]


def test_truncated_body_on_new_key_creates_nothing(server, s3, bucket):
    req = (
        f"PUT /{bucket}/fresh HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Length: 5000\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n"
    ).encode() + b"x" * 100
    _send_raw(server, req)
    time.sleep(0.3)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="fresh"), None, 404)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_garbage_request_line_keeps_serving(server, s3):
    resp = _send_raw(server, b"\x00\x01\x02 garbage \r\n\r\n")
    assert not resp or resp[:10] in (b"HTTP/1.1 4", b"HTTP/1.0 4"), resp[:100]
    resp = _send_raw(server, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_server_healthy(s3)


def test_server_survives_many_errors(raw, s3, bucket):
    # one connection per request here: keep-alive after errors is tested below
    close = {"Connection": "close"}
    for i in range(50):
        assert raw.get(f"/{bucket}/missing{i}", headers=close).status == 404
        r = raw.put(f"/{bucket}/bad{i}", data=b"x", headers={"Content-MD5": "zzz", **close})
        assert r.status == 400
    assert_server_healthy(s3)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_virtual_host_dotted_bucket_name(raw, server, s3, make_bucket):
    name = make_bucket(name=unique_bucket_name("dotted").replace("-", ".", 1))
    r = raw.put("/k", data=b"dotted", host=vhost(server, name))
    assert r.status == 200, r
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"dotted"


@pytest.mark.parametrize("key", ["a&b<c>\"d'", "ünï/文件 name", "ctl\x01\x08char"], ids=["xml-specials", "unicode", "control-chars"])
def test_error_body_is_well_formed_for_any_key(raw, bucket, key):
    r = raw.get(f"/{bucket}/" + qkey(key))
    # the body must be well-formed XML whatever the key holds (XML 1.0 cannot
    # carry most control characters, even as character references)
    err = assert_raw_error(r, "NoSuchKey", 404)
    if "Key" in err and key.isprintable():
        assert err["Key"] == key, err


@pytest.mark.parametrize("case", ["invalid-digest", "no-such-bucket", "key-too-long", "metadata-too-large"])
def test_keep_alive_after_early_error_response(server, bucket, case):
    """An error answered before the request body is read must either leave the
    connection usable for the next request, or say `Connection: close`
    (RFC 9112 section 9.6); silently closing makes the client's next request on
    that connection fail."""
    import http.client

    body = b"x" * 65536
    path, extra = f"/{bucket}/k", {}
    if case == "invalid-digest":
        extra["Content-MD5"] = "zzz"
    elif case == "no-such-bucket":
        path = f"/{unique_bucket_name('nokeepalive')}/k"
    elif case == "key-too-long":
        path = f"/{bucket}/" + "k" * 1100
    else:
        extra["x-amz-meta-big"] = "v" * 2100
    broken = 0
    for _ in range(10):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        try:
            conn.request("PUT", path, body=body, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", **extra})
            r = conn.getresponse()
            r.read()
            assert 400 <= r.status < 500
            if (r.getheader("Connection") or "").lower() == "close":
                continue
            try:
                conn.request("GET", f"/{bucket}/after-error")
                g = conn.getresponse()
                g.read()
                assert g.status == 404
            except (ConnectionError, http.client.HTTPException, OSError):
                broken += 1
        finally:
            conn.close()
    assert broken == 0, (
        f"{broken}/10 connections were closed after a {case} error response without `Connection: close`"
    )


def test_bad_digest_on_delete_objects(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object></Delete>'
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5_b64(b"other")})
    assert_raw_error(r, "BadDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"


def test_bad_digest_on_complete_multipart(raw, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpd")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mpd", UploadId=uid, PartNumber=1, Body=b"p")["ETag"]
    body = (
        '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    r = raw.post(f"/{bucket}/mpd", params={"uploadId": uid}, data=body, headers={"Content-MD5": md5_b64(b"other")})
    assert_raw_error(r, "BadDigest", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="mpd"), None, 404)
    assert len(s3.list_parts(Bucket=bucket, Key="mpd", UploadId=uid)["Parts"]) == 1


def test_invalid_digest_on_delete_objects(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object></Delete>'
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": "not-base64!!"})
    assert_raw_error(r, "InvalidDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"


def _expect_continue_exchange(server, path: str, timeout=5.0) -> bytes:
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    try:
        s.sendall(
            (
                f"PUT {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nContent-Length: 1048576\r\n"
                "Expect: 100-continue\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n"
            ).encode()
        )
        try:
            return s.recv(4096)
        except socket.timeout:
            return b""
    finally:
        s.close()


def test_expect_100_continue(server, s3, bucket):
    # a request the engine will accept gets "100 Continue" before the body is sent
    first = _expect_continue_exchange(server, f"/{bucket}/k")
    assert first.startswith(b"HTTP/1.1 100"), first[:200]
    # a request the engine rejects gets its final error status without the body
    first = _expect_continue_exchange(server, f"/{unique_bucket_name('exp')}/k")
    assert first.startswith(b"HTTP/1.1 404"), first[:200]
    assert b"NoSuchBucket" in first or b"content-length" in first.lower()
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)


def test_key_too_long_on_copy_destination(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="d" * 1025, CopySource={"Bucket": bucket, "Key": "src"}),
        "KeyTooLongError",
        400,
    )
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]


def test_metadata_too_large_many_small_entries(s3, bucket):
    meta = {f"key{i:02d}": "v" * 70 for i in range(40)}  # 40 * 75 bytes = 3000 bytes
    expect_error(lambda: s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata=meta), "MetadataTooLarge", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="m"), None, 404)


# Bodies up to 128 KiB are received into memory and published in one step; larger
# ones stream to disk. Both paths must store the same bytes and refuse the same way.
@pytest.mark.parametrize("size", [0, 1, 128 * 1024, 128 * 1024 + 1, 1024 * 1024])
def test_put_sizes_around_the_in_memory_limit(raw, s3, bucket, size):
    body = bytes((i * 7 + size) % 251 for i in range(size))
    r = raw.put(f"/{bucket}/sized", data=body, headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r.content[:300]
    got = s3.get_object(Bucket=bucket, Key="sized")
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{md5_hex(body)}"'
    # a wrong Content-MD5 keeps what is stored
    r = raw.put(f"/{bucket}/sized", data=body + b"!", headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "BadDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="sized")["Body"].read() == body
    # a missing bucket is reported before anything about the body
    r = raw.put(f"/no-such-bucket-{size}/k", data=body + b"!", headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "NoSuchBucket", 404)
    # and a missing upload before anything about the part
    r = raw.put(f"/{bucket}/sized", params={"partNumber": "1", "uploadId": "no-such-upload"}, data=body + b"!", headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "NoSuchUpload", 404)
    # a part of this size lands whole
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=body)
    assert part["ETag"] == f'"{md5_hex(body)}"'
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
