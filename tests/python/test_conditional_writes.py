"""Conditional writes: If-None-Match: * and If-Match: <etag> on PutObject,
CompleteMultipartUpload and CopyObject, including the race between many
concurrent creators of the same key.

Expected behaviour follows the AWS S3 API reference (PutObject,
CompleteMultipartUpload: IfNoneMatch / IfMatch) and the user guide page "How
to prevent object overwrites with conditional writes": If-None-Match: * fails
with 412 PreconditionFailed when the key exists; If-Match fails with 412 when
the ETag differs and with 404 NoSuchKey when there is no current object (or
the current version is a delete marker); a failed precondition changes
nothing.

Conditional deletes ("How to perform conditional deletes"): DeleteObject with
If-Match deletes only when the current object's ETag matches (else 412
PreconditionFailed), If-Match: * only when an object exists, and a missing key
(or a delete marker as the current version) is 404 NoSuchKey; DeleteObjects
takes the same condition per object as its ETag element.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from helpers import assert_raw_error, expect_error, make_client, md5_hex

MiB = 1024 * 1024


def etag_of(data: bytes) -> str:
    return f'"{md5_hex(data)}"'


def assert_content(s3, bucket, key, data: bytes):
    g = s3.get_object(Bucket=bucket, Key=key)
    assert g["Body"].read() == data
    assert g["ETag"] == etag_of(data)


def multipart(s3, bucket, key, parts, **complete_kw):
    """Upload `parts` (list of bytes) as a multipart upload and complete it."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for n, p in enumerate(parts, 1):
        e = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=p)["ETag"]
        done.append({"PartNumber": n, "ETag": e})
    return uid, lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done}, **complete_kw
    )


# ---------------------------------------------------------------- If-None-Match: *


def test_if_none_match_creates_when_absent(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ETag"] == etag_of(b"first")
    assert_content(s3, bucket, "k", b"first")


def test_if_none_match_fails_when_present(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original", Metadata={"v": "1"}, ContentType="text/original")
    before = s3.head_object(Bucket=bucket, Key="k")
    resp = expect_error(
        lambda: s3.put_object(
            Bucket=bucket, Key="k", Body=b"intruder", IfNoneMatch="*", Metadata={"v": "2"}, ContentType="text/x"
        ),
        "PreconditionFailed",
        412,
    )
    assert resp["Error"].get("Message")
    assert_content(s3, bucket, "k", b"original")
    after = s3.head_object(Bucket=bucket, Key="k")
    assert after["Metadata"] == {"v": "1"}
    assert after["ContentType"] == "text/original"
    assert after["LastModified"] == before["LastModified"]


def test_if_none_match_raw_error_body(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = raw.put(f"/{bucket}/k", data=b"y", headers={"If-None-Match": "*"})
    assert_raw_error(r, "PreconditionFailed", 412)


def test_if_none_match_fails_on_empty_existing_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    expect_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"data", IfNoneMatch="*"), "PreconditionFailed", 412)
    assert_content(s3, bucket, "k", b"")


def test_if_none_match_succeeds_after_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    s3.delete_object(Bucket=bucket, Key="k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"new", IfNoneMatch="*")
    assert_content(s3, bucket, "k", b"new")


def test_if_none_match_is_per_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/a", Body=b"a")
    # a "directory" prefix or sibling does not count as the key existing
    s3.put_object(Bucket=bucket, Key="dir", Body=b"d", IfNoneMatch="*")
    s3.put_object(Bucket=bucket, Key="dir/b", Body=b"b", IfNoneMatch="*")
    assert_content(s3, bucket, "dir", b"d")
    assert_content(s3, bucket, "dir/b", b"b")


# ---------------------------------------------------------------- If-Match


def test_if_match_with_current_etag_overwrites(s3, bucket):
    e1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"v2 body", IfMatch=e1)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ETag"] == etag_of(b"v2 body")
    assert_content(s3, bucket, "k", b"v2 body")
    # the old ETag is now stale
    expect_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=e1), "PreconditionFailed", 412)
    assert_content(s3, bucket, "k", b"v2 body")
    # chaining with the new ETag works
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=r["ETag"])
    assert_content(s3, bucket, "k", b"v3")


def test_if_match_wrong_etag_fails(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"keep")
    for wrong in ['"' + "0" * 32 + '"', etag_of(b"something else"), '"not-an-etag"']:
        expect_error(
            lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"lose", IfMatch=wrong), "PreconditionFailed", 412
        )
    assert_content(s3, bucket, "k", b"keep")


def test_if_match_absent_key_is_no_such_key(s3, bucket):
    expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="ghost", Body=b"x", IfMatch=etag_of(b"x")), "NoSuchKey", 404
    )
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="ghost"), None, 404)


def test_if_match_absent_key_raw_error(raw, bucket):
    r = raw.put(f"/{bucket}/ghost", data=b"x", headers={"If-Match": etag_of(b"x")})
    assert_raw_error(r, "NoSuchKey", 404)


def test_if_match_against_multipart_etag(s3, bucket):
    parts = [b"p" * (5 * MiB), b"q"]
    _, complete = multipart(s3, bucket, "k", parts)
    etag = complete()["ETag"]
    assert etag.endswith('-2"'), etag
    s3.put_object(Bucket=bucket, Key="k", Body=b"replaced", IfMatch=etag)
    assert_content(s3, bucket, "k", b"replaced")


# ---------------------------------------------------------------- versioned buckets


# vbucket (conftest.py): a new bucket with versioning Enabled


def test_versioned_if_none_match_fails_when_current_exists(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"one")
    expect_error(lambda: s3.put_object(Bucket=vbucket, Key="k", Body=b"two", IfNoneMatch="*"), "PreconditionFailed", 412)
    versions = s3.list_object_versions(Bucket=vbucket).get("Versions", [])
    assert len(versions) == 1, "a failed conditional write must not create a version"


def test_versioned_if_none_match_succeeds_over_delete_marker(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"one")
    s3.delete_object(Bucket=vbucket, Key="k")
    r = s3.put_object(Bucket=vbucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert r.get("VersionId")
    assert_content(s3, vbucket, "k", b"two")


def test_versioned_if_match_on_delete_marker_is_no_such_key(s3, vbucket):
    e1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["ETag"]
    s3.delete_object(Bucket=vbucket, Key="k")
    expect_error(lambda: s3.put_object(Bucket=vbucket, Key="k", Body=b"two", IfMatch=e1), "NoSuchKey", 404)
    assert len(s3.list_object_versions(Bucket=vbucket).get("Versions", [])) == 1


def test_versioned_if_match_compares_current_version_only(s3, vbucket):
    e1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["ETag"]
    e2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["ETag"]
    expect_error(lambda: s3.put_object(Bucket=vbucket, Key="k", Body=b"x", IfMatch=e1), "PreconditionFailed", 412)
    r = s3.put_object(Bucket=vbucket, Key="k", Body=b"three", IfMatch=e2)
    assert r.get("VersionId")
    assert len(s3.list_object_versions(Bucket=vbucket)["Versions"]) == 3


# ---------------------------------------------------------------- CompleteMultipartUpload


def test_delete_if_match(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"one")
    expect_error(lambda: s3.delete_object(Bucket=bucket, Key="d", IfMatch=etag_of(b"two")), "PreconditionFailed", 412)
    assert_content(s3, bucket, "d", b"one")
    assert raw.delete(f"/{bucket}/d", headers={"If-Match": md5_hex(b"one")}).status == 204  # unquoted too
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="d"), None, 404)


def test_delete_if_match_star_and_missing_key(s3, raw, bucket):
    assert_raw_error(raw.delete(f"/{bucket}/absent", headers={"If-Match": "*"}), "NoSuchKey", 404)
    expect_error(lambda: s3.delete_object(Bucket=bucket, Key="absent", IfMatch=etag_of(b"x")), "NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="d", IfMatch="*")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_versioned_delete_if_match(s3, raw, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="d", Body=b"one")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="d", Body=b"two")
    # the condition is on the current version, whatever the request deletes
    expect_error(lambda: s3.delete_object(Bucket=vbucket, Key="d", IfMatch=etag_of(b"one")), "PreconditionFailed", 412)
    expect_error(
        lambda: s3.delete_object(Bucket=vbucket, Key="d", VersionId=v1, IfMatch=etag_of(b"one")),
        "PreconditionFailed",
        412,
    )
    assert len(s3.list_object_versions(Bucket=vbucket)["Versions"]) == 2
    r = s3.delete_object(Bucket=vbucket, Key="d", IfMatch=etag_of(b"two"))
    assert r["DeleteMarker"] is True
    # the current version is now a delete marker: no object to match
    expect_error(lambda: s3.delete_object(Bucket=vbucket, Key="d", IfMatch="*"), "NoSuchKey", 404)
    versions = s3.list_object_versions(Bucket=vbucket)
    assert (len(versions["Versions"]), len(versions["DeleteMarkers"])) == (2, 1)


def test_delete_objects_etag_condition_per_object(s3, bucket):
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "a", "ETag": etag_of(b"a")},
                {"Key": "b", "ETag": etag_of(b"not b")},
                {"Key": "c"},
                {"Key": "missing", "ETag": etag_of(b"x")},
            ]
        },
    )
    assert sorted(d["Key"] for d in r["Deleted"]) == ["a", "c"]
    assert {e["Key"]: e["Code"] for e in r["Errors"]} == {"b": "PreconditionFailed", "missing": "NoSuchKey"}
    assert_content(s3, bucket, "b", b"b")


def test_complete_if_none_match_creates_when_absent(s3, bucket):
    parts = [b"a" * (5 * MiB), b"b"]
    _, complete = multipart(s3, bucket, "mp", parts, IfNoneMatch="*")
    r = complete()
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)


def test_complete_if_none_match_on_existing_key_fails(s3, bucket):
    parts = [b"n" * (5 * MiB), b"new tail"]
    uid, complete = multipart(s3, bucket, "mp", parts, IfNoneMatch="*")
    # the key appears while the upload is in progress
    s3.put_object(Bucket=bucket, Key="mp", Body=b"old object")
    expect_error(complete, "PreconditionFailed", 412)
    assert_content(s3, bucket, "mp", b"old object")


def test_complete_if_none_match_single_part_on_existing_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="mp", Body=b"old object")
    uid, complete = multipart(s3, bucket, "mp", [b"small single part"], IfNoneMatch="*")
    expect_error(complete, "PreconditionFailed", 412)
    assert_content(s3, bucket, "mp", b"old object")


def test_complete_if_match(s3, bucket):
    e_old = s3.put_object(Bucket=bucket, Key="mp", Body=b"old")["ETag"]
    uid, complete_wrong = multipart(s3, bucket, "mp", [b"one part"], IfMatch=etag_of(b"other"))
    expect_error(complete_wrong, "PreconditionFailed", 412)
    assert_content(s3, bucket, "mp", b"old")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid)

    _, complete_right = multipart(s3, bucket, "mp", [b"one part"], IfMatch=e_old)
    r = complete_right()
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g["Body"].read() == b"one part"


def test_complete_if_match_absent_key_is_no_such_key(s3, bucket):
    uid, complete = multipart(s3, bucket, "mp", [b"one part"], IfMatch=etag_of(b"x"))
    expect_error(complete, "NoSuchKey", 404)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="mp"), None, 404)


# ---------------------------------------------------------------- CopyObject


def test_copy_object_if_none_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    s3.put_object(Bucket=bucket, Key="taken", Body=b"already here")
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="taken", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*"),
        "PreconditionFailed",
        412,
    )
    assert_content(s3, bucket, "taken", b"already here")
    s3.copy_object(Bucket=bucket, Key="free", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*")
    assert_content(s3, bucket, "free", b"source")


def test_copy_object_if_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    e = s3.put_object(Bucket=bucket, Key="dst", Body=b"dest v1")["ETag"]
    expect_error(
        lambda: s3.copy_object(
            Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch=etag_of(b"other")
        ),
        "PreconditionFailed",
        412,
    )
    assert_content(s3, bucket, "dst", b"dest v1")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch=e)
    assert_content(s3, bucket, "dst", b"source")


# ---------------------------------------------------------------- races


def _race(server, n, fn):
    """Run fn(i, client) in n threads released together; returns per-thread
    (status, error code, response)."""
    clients = [make_client(server.endpoint, server.region) for _ in range(n)]
    barrier = threading.Barrier(n)
    out = [None] * n

    def worker(i):
        try:
            barrier.wait(30)
            r = fn(i, clients[i])
            out[i] = (r["ResponseMetadata"]["HTTPStatusCode"], None, r)
        except Exception as exc:  # ClientError or anything unexpected
            resp = getattr(exc, "response", None)
            if resp is not None:
                out[i] = (resp["ResponseMetadata"]["HTTPStatusCode"], resp.get("Error", {}).get("Code"), resp)
            else:
                out[i] = (None, repr(exc), None)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(o is not None for o in out), "a worker did not finish"
    return out


def test_concurrent_if_none_match_exactly_one_winner(s3, server, bucket):
    n = 20
    bodies = [(b"writer-%02d-" % i) * (1000 + 37 * i) for i in range(n)]
    out = _race(server, n, lambda i, c: c.put_object(Bucket=bucket, Key="lock", Body=bodies[i], IfNoneMatch="*"))
    winners = [i for i, (st, _, _) in enumerate(out) if st == 200]
    losers = [(st, code) for st, code, _ in out if st != 200]
    assert len(winners) == 1, f"expected exactly one 200, got {len(winners)}: {[o[:2] for o in out]}"
    assert losers == [(412, "PreconditionFailed")] * (n - 1), losers
    w = winners[0]
    assert out[w][2]["ETag"] == etag_of(bodies[w])
    assert_content(s3, bucket, "lock", bodies[w])


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_if_none_match_repeated(s3, server, bucket, round_):
    n = 20
    key = f"lock-{round_}"
    out = _race(server, n, lambda i, c: c.put_object(Bucket=bucket, Key=key, Body=b"%d" % i, IfNoneMatch="*"))
    statuses = sorted(st for st, _, _ in out)
    assert statuses == [200] + [412] * (n - 1), [o[:2] for o in out]
    w = next(i for i, o in enumerate(out) if o[0] == 200)
    assert_content(s3, bucket, key, b"%d" % w)


def test_concurrent_if_match_compare_and_swap(s3, server, bucket):
    """Many writers holding the same ETag: only one may replace the object."""
    etag0 = s3.put_object(Bucket=bucket, Key="cas", Body=b"generation-0")["ETag"]
    n = 20
    bodies = [b"generation-1-by-%02d" % i for i in range(n)]
    out = _race(server, n, lambda i, c: c.put_object(Bucket=bucket, Key="cas", Body=bodies[i], IfMatch=etag0))
    winners = [i for i, (st, _, _) in enumerate(out) if st == 200]
    assert len(winners) == 1, f"expected exactly one 200, got {len(winners)}: {[o[:2] for o in out]}"
    losers = [(st, code) for st, code, _ in out if st != 200]
    # AWS may answer a loser with 409 ConditionalRequestConflict instead of 412
    assert all(lc in [(412, "PreconditionFailed"), (409, "ConditionalRequestConflict")] for lc in losers), losers
    assert_content(s3, bucket, "cas", bodies[winners[0]])


def test_concurrent_complete_if_none_match_exactly_one_winner(s3, server, bucket):
    n = 8
    bodies = [b"mp-body-%02d" % i for i in range(n)]
    completes = [multipart(s3, bucket, "mplock", [bodies[i]], IfNoneMatch="*")[1] for i in range(n)]
    out = _race(server, n, lambda i, c: completes[i]())
    statuses = sorted(st for st, _, _ in out)
    assert statuses == [200] + [412] * (n - 1), [o[:2] for o in out]
    w = next(i for i, o in enumerate(out) if o[0] == 200)
    assert s3.get_object(Bucket=bucket, Key="mplock")["Body"].read() == bodies[w]


# ---------------------------------------------------------------- 409 ConditionalRequestConflict


@pytest.mark.parametrize("condition", ["If-Match", "If-None-Match"])
def test_delete_during_a_conditional_put_is_a_conflict(s3, server, bucket, condition):
    """AWS: a delete that succeeds before a conditional write over the object completes
    makes the write 409 ConditionalRequestConflict; the delete stands."""
    s3.put_object(Bucket=bucket, Key="race", Body=b"old")
    value = etag_of(b"old") if condition == "If-Match" else "*"
    body = b"n" * 1000
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        head = (f"PUT /{bucket}/race HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                f"Content-Length: {len(body)}\r\n{condition}: {value}\r\n\r\n")
        s.sendall(head.encode() + body[:10])
        time.sleep(0.3)  # the server has taken the condition; the body is still coming
        s3.delete_object(Bucket=bucket, Key="race")
        s.sendall(body[10:])
        response = s.recv(65536)
    assert response.split(b"\r\n")[0].split(b" ")[1] == b"409", response[:300]
    assert b"<Code>ConditionalRequestConflict</Code>" in response
    with pytest.raises(Exception):
        s3.head_object(Bucket=bucket, Key="race")
