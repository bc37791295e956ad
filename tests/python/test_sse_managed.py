"""Server-side encryption with keys the server holds: SSE-S3 (`AES256`, under
the master key) and SSE-KMS (`aws:kms`, under the local key ring of
`encryption.kmsKeys`). Echoed headers, ETags, ranges, listing sizes, header
validation; multipart; what is at rest on disk (no plaintext, no customer
key) and what a tampered data file reads as. AWS's answers: see
/work/sse_aws_behaviour.md sections 3, 5 and 7.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ResponseStreamingError,
)

from helpers import (
    MiB,
    assert_raw_error,
    b64_crc32,
    data_of,
    expect_error,
    md5_hex,
    multipart_etag,
    started_server,
)
from sigv4_signer import SIGNED_TRAILER, chunked_put
from sse_common import (
    CLUSTER,
    KMS_KEY_ID,
    b64,
    customer_key,
    MASTER_KEY,
    EncryptedServer,
    KMS_KEYS,
    files_containing,
    ssec_headers,
    ssec_args,
    sse_server_fixture,
)

server = sse_server_fixture()

SSE = "x-amz-server-side-encryption"


def kms_arn(key_id: str) -> str:
    return f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"


# ---- SSE-S3 -----------------------------------------------------------------


def test_sse_s3_put_get_head_echo_and_md5_etag(s3, bucket):
    body = data_of(200_000, "sse-s3")
    r = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    assert r["ServerSideEncryption"] == "AES256"
    assert r["ETag"] == f'"{md5_hex(body)}"'
    assert "SSEKMSKeyId" not in r and "SSECustomerAlgorithm" not in r
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["ServerSideEncryption"] == "AES256"
    assert g["ContentLength"] == len(body)
    assert g["Body"].read() == body
    assert g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket=bucket, Key="k")
    assert (h["ServerSideEncryption"], h["ContentLength"], h["ETag"]) == ("AES256", len(body), r["ETag"])


@pytest.mark.parametrize(
    "rng",
    [(0, 0), (0, 65535), (65535, 65536), (65530, 131080), (100_000, 199_999), (199_999, 199_999)],
)
def test_sse_s3_ranges(s3, bucket, rng):
    body = data_of(200_000, "sse-s3-range")
    s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    a, b = rng
    g = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={a}-{b}")
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["ContentRange"] == f"bytes {a}-{b}/{len(body)}"
    assert g["Body"].read() == body[a : b + 1]


def test_sse_s3_suffix_range_and_unsatisfiable(s3, bucket):
    body = data_of(70_000, "suffix")
    s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=-100")["Body"].read() == body[-100:]
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="k", Range="bytes=70000-"), "InvalidRange", 416)


def test_sse_s3_listing_and_attributes_report_plaintext_size(s3, bucket):
    sizes = {"empty": 0, "one": 1, "pkg": 65536, "more": 65537 * 3}
    for k, n in sizes.items():
        s3.put_object(Bucket=bucket, Key=k, Body=data_of(n, k), ServerSideEncryption="AES256")
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == sizes
    listed1 = {o["Key"]: o["Size"] for o in s3.list_objects(Bucket=bucket)["Contents"]}
    assert listed1 == sizes
    for k, n in sizes.items():
        a = s3.get_object_attributes(Bucket=bucket, Key=k, ObjectAttributes=["ObjectSize", "ETag"])
        assert a["ObjectSize"] == n
        assert a["ETag"] == md5_hex(data_of(n, k))
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_plain_object_has_no_sse_headers(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"plain")
    assert "ServerSideEncryption" not in r
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="k")


def test_bad_sse_value_400_invalid_argument(raw, bucket):
    for value in ["aes256", "aes:kms", "AES128", ""]:
        r = raw.put(f"/{bucket}/k", data=b"x", headers={SSE: value})
        err = assert_raw_error(r, "InvalidArgument", 400)
        assert "not supported" in err["Message"], (value, err)
    r = raw.head(f"/{bucket}/k")
    assert r.status == 404


def test_sse_header_on_get_and_head_is_400(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ServerSideEncryption="AES256")
    r = raw.get(f"/{bucket}/k", headers={SSE: "AES256"})
    assert_raw_error(r, "InvalidArgument", 400)
    assert raw.head(f"/{bucket}/k", headers={SSE: "AES256"}).status == 400


def test_overwrite_changes_encryption(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    h = s3.head_object(Bucket=bucket, Key="k")
    assert "ServerSideEncryption" not in h
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"


# ---- SSE-KMS ----------------------------------------------------------------


def test_sse_kms_with_key_id(s3, bucket):
    body = data_of(100_000, "kms")
    r = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID)
    assert r["ServerSideEncryption"] == "aws:kms"
    assert r["SSEKMSKeyId"] == kms_arn(KMS_KEY_ID)
    assert r["ETag"] != f'"{md5_hex(body)}"'
    assert "BucketKeyEnabled" not in r
    g = s3.get_object(Bucket=bucket, Key="k")
    assert (g["ServerSideEncryption"], g["SSEKMSKeyId"]) == ("aws:kms", kms_arn(KMS_KEY_ID))
    assert g["Body"].read() == body
    assert g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket=bucket, Key="k")
    assert (h["ServerSideEncryption"], h["SSEKMSKeyId"], h["ContentLength"]) == (
        "aws:kms",
        kms_arn(KMS_KEY_ID),
        len(body),
    )
    part = s3.get_object(Bucket=bucket, Key="k", Range="bytes=65000-70000")["Body"].read()
    assert part == body[65000:70001]
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == len(body)


def test_sse_kms_key_given_as_arn(s3, bucket):
    r = s3.put_object(
        Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_arn(KMS_KEY_ID)
    )
    assert r["SSEKMSKeyId"] == kms_arn(KMS_KEY_ID)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_sse_kms_without_key_id_uses_managed_key(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"default key", ServerSideEncryption="aws:kms")
    assert r["ServerSideEncryption"] == "aws:kms"
    arn = r["SSEKMSKeyId"]
    assert arn.startswith("arn:aws:kms:us-east-1:") and (arn.endswith("alias/aws/s3") or "/key/" in arn), arn
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["SSEKMSKeyId"] == arn
    assert g["Body"].read() == b"default key"


def test_sse_kms_default_key_id_from_config():
    """encryption.defaultKmsKeyId: `aws:kms` without a key id uses that key."""
    with EncryptedServer({"masterKey": MASTER_KEY, "kmsKeys": KMS_KEYS, "defaultKmsKeyId": "other-key"}) as srv:
        if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
            pytest.skip("starts its own engine")
        s3 = srv.start().client()
        s3.create_bucket(Bucket="defkey")
        r = s3.put_object(Bucket="defkey", Key="k", Body=b"x", ServerSideEncryption="aws:kms")
        assert r["SSEKMSKeyId"] == kms_arn("other-key")
        assert s3.head_object(Bucket="defkey", Key="k")["SSEKMSKeyId"] == kms_arn("other-key")


def test_sse_kms_context_echoed_on_put(raw, bucket):
    ctx = b64(json.dumps({"a": "b"}).encode())
    r = raw.put(f"/{bucket}/k", data=b"x", headers={SSE: "aws:kms", f"{SSE}-context": ctx})
    assert r.status == 200
    assert r.headers.get(f"{SSE}-context") == ctx


def test_sse_kms_dsse_echo(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:dsse", SSEKMSKeyId=KMS_KEY_ID)
    assert r["ServerSideEncryption"] == "aws:kms:dsse"
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "aws:kms:dsse"
    g = s3.get_object(Bucket=bucket, Key="k")
    assert (g["ServerSideEncryption"], g["Body"].read()) == ("aws:kms:dsse", b"x")
    # a plain copy of it asks for nothing, so it is not DSSE
    c = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"})
    assert c.get("ServerSideEncryption") != "aws:kms:dsse"


def test_sse_kms_bucket_key_enabled_echo(s3, bucket):
    r = s3.put_object(
        Bucket=bucket, Key="k", Body=b"bk", ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID, BucketKeyEnabled=True
    )
    assert r["BucketKeyEnabled"] is True
    assert s3.head_object(Bucket=bucket, Key="k")["BucketKeyEnabled"] is True
    assert s3.get_object(Bucket=bucket, Key="k")["BucketKeyEnabled"] is True
    r = s3.put_object(
        Bucket=bucket, Key="f", Body=b"bk", ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID, BucketKeyEnabled=False
    )
    assert "BucketKeyEnabled" not in r
    assert "BucketKeyEnabled" not in s3.head_object(Bucket=bucket, Key="f")


def test_sse_kms_encryption_context(s3, raw, bucket):
    ctx = b64(json.dumps({"project": "x", "team": "y"}).encode())
    r = s3.put_object(
        Bucket=bucket, Key="k", Body=b"ctx", ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID, SSEKMSEncryptionContext=ctx
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == b"ctx"
    assert "SSEKMSEncryptionContext" not in g
    for bad in ["not base64!!", b64(b"not json"), b64(b'["a"]'), b64(b'{"a": 1}')]:
        r = raw.put(
            f"/{bucket}/bad",
            data=b"x",
            headers={SSE: "aws:kms", f"{SSE}-context": bad},
        )
        err = assert_raw_error(r, "InvalidArgument", 400)
        assert "Base64-encoded UTF-8 string holding JSON" in err["Message"], err
    assert raw.head(f"/{bucket}/bad").status == 404


def test_sse_kms_unknown_key_400_kms_not_found(s3, bucket):
    err = expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="fake-key-id"),
        "KMS.NotFoundException",
        400,
    )
    assert "fake-key-id" in err["Error"]["Message"]
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)


def test_kms_key_id_without_aws_kms_400(raw, bucket):
    for extra in [{}, {SSE: "AES256"}]:
        r = raw.put(f"/{bucket}/k", data=b"x", headers={f"{SSE}-aws-kms-key-id": KMS_KEY_ID, **extra})
        err = assert_raw_error(r, "InvalidArgument", 400)
        assert "requires HTTP header x-amz-server-side-encryption : aws:kms" in err["Message"], err


def test_kms_headers_on_get_refused(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID)
    r = raw.get(f"/{bucket}/k", headers={f"{SSE}-aws-kms-key-id": KMS_KEY_ID})
    assert_raw_error(r, "InvalidArgument", 400)


def test_ssec_headers_on_managed_objects_400_invalid_request(s3, bucket):
    key = customer_key("not applicable")
    s3.put_object(Bucket=bucket, Key="s3", Body=b"x", ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    for k in ["s3", "kms"]:
        expect_error(lambda: s3.get_object(Bucket=bucket, Key=k, **ssec_args(key)), "InvalidRequest", 400)
        expect_error(lambda: s3.head_object(Bucket=bucket, Key=k, **ssec_args(key)), None, 400)


# ---- multipart --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["AES256", "aws:kms"])
def test_multipart_managed_echo_and_etag(s3, bucket, mode):
    kw = {"ServerSideEncryption": mode}
    if mode == "aws:kms":
        kw.update(SSEKMSKeyId=KMS_KEY_ID, BucketKeyEnabled=True)
    c = s3.create_multipart_upload(Bucket=bucket, Key="mp", **kw)
    assert c["ServerSideEncryption"] == mode
    parts = [data_of(5 * MiB + 17, "p1"), data_of(1000, "p2")]
    done = []
    for i, p in enumerate(parts, 1):
        u = s3.upload_part(Bucket=bucket, Key="mp", UploadId=c["UploadId"], PartNumber=i, Body=p)
        assert u["ServerSideEncryption"] == mode
        if mode == "aws:kms":
            assert u["SSEKMSKeyId"] == kms_arn(KMS_KEY_ID) and u["BucketKeyEnabled"] is True
        done.append({"PartNumber": i, "ETag": u["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=c["UploadId"])["Parts"]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=c["UploadId"], MultipartUpload={"Parts": done})
    assert r["ServerSideEncryption"] == mode
    if mode == "aws:kms":
        assert r["SSEKMSKeyId"] == kms_arn(KMS_KEY_ID) and r["BucketKeyEnabled"] is True
    assert r["ETag"].strip('"').endswith("-2")
    if mode == "AES256":
        assert r["ETag"] == multipart_etag(parts)
    body = b"".join(parts)
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g["ServerSideEncryption"] == mode and g["ContentLength"] == len(body)
    assert g["Body"].read() == body
    a, b = 5 * MiB - 10, 5 * MiB + 100
    assert s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}")["Body"].read() == body[a : b + 1]
    p2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert p2["Body"].read() == parts[1]
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == len(body)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectSize", "ObjectParts"])
    assert attrs["ObjectSize"] == len(body)


# ---- copies -------------------------------------------------------------------


def test_copy_sse_s3_to_plain_and_plain_to_kms(s3, bucket):
    body = data_of(80_000, "copy")
    s3.put_object(Bucket=bucket, Key="src", Body=body, ServerSideEncryption="AES256")
    r = s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "src"})
    assert "ServerSideEncryption" not in r
    g = s3.get_object(Bucket=bucket, Key="plain")
    assert "ServerSideEncryption" not in g and g["Body"].read() == body
    r = s3.copy_object(
        Bucket=bucket, Key="kms", CopySource={"Bucket": bucket, "Key": "plain"}, ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID
    )
    assert (r["ServerSideEncryption"], r["SSEKMSKeyId"]) == ("aws:kms", kms_arn(KMS_KEY_ID))
    g = s3.get_object(Bucket=bucket, Key="kms")
    assert g["ServerSideEncryption"] == "aws:kms" and g["Body"].read() == body


def test_copy_onto_itself_changing_encryption(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"in place")
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"}), "InvalidRequest", 400
    )
    r = s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"}, ServerSideEncryption="AES256")
    assert r["ServerSideEncryption"] == "AES256"
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == b"in place"


# ---- at rest ------------------------------------------------------------------

PATTERN = b"SECRET-PATTERN-0123456789abcdef-"


def test_nothing_plain_at_rest(server, s3, bucket):
    """Objects (single PUT and multipart, completed and in progress) written with
    SSE-S3, SSE-KMS and SSE-C leave neither their plaintext nor the customer's key
    in any file under the storage folder; a plain object shows the scan works."""
    server.require_local()
    body = PATTERN * (3 * MiB // len(PATTERN))
    ckey = customer_key("at rest")
    modes = {
        "s3": {"ServerSideEncryption": "AES256"},
        "kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY_ID},
        "c": ssec_args(ckey),
    }
    for name, kw in modes.items():
        s3.put_object(Bucket=bucket, Key=f"single-{name}", Body=body, **kw)
        part_kw = kw if name == "c" else {}
        for state in ["done", "open", "aborted"]:
            key = f"mp-{state}-{name}"
            up = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]
            parts = []
            for n, chunk in enumerate([body + body[:2 * MiB], body], 1):
                e = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=chunk, **part_kw)["ETag"]
                parts.append({"PartNumber": n, "ETag": e})
            if state == "done":
                s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts})
            elif state == "aborted":
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up)
    needles = [PATTERN, ckey, b64(ckey).encode(), ckey.hex().encode()]
    assert files_containing(server.directory, needles) == []
    # everything reads back
    assert s3.get_object(Bucket=bucket, Key="mp-done-c", **ssec_args(ckey))["Body"].read() == body + body[: 2 * MiB] + body
    assert s3.get_object(Bucket=bucket, Key="single-kms")["Body"].read() == body
    # the scan does find a plain copy
    s3.put_object(Bucket=bucket, Key="plain", Body=PATTERN * 10)
    assert [n for _, n in files_containing(server.directory, [PATTERN])] != []


def _data_file(server, bucket, key):
    path = server.directory / bucket / f"{key}._storage_object"
    assert path.is_file(), sorted(str(p) for p in (server.directory / bucket).rglob("*"))
    return path


@pytest.mark.skipif(CLUSTER, reason="reads the standalone folder layout")
@pytest.mark.parametrize("mode", ["AES256", "aws:kms", "c"])
def test_tampered_package_fails_other_packages_read(server, s3, bucket, mode):
    server.require_local()
    body = data_of(5 * 65536 + 1000, "tamper")
    kw = ssec_args(customer_key("tamper")) if mode == "c" else {"ServerSideEncryption": mode}
    read_kw = kw if mode == "c" else {}
    s3.put_object(Bucket=bucket, Key="t", Body=body, **kw)
    path = _data_file(server, bucket, "t")
    raw_bytes = bytearray(path.read_bytes())
    assert len(raw_bytes) > len(body) and body[:4096] not in raw_bytes
    mid = 2 * (65536 + 28) + 30_000  # inside the third package's ciphertext
    raw_bytes[mid] ^= 0x01
    path.write_bytes(bytes(raw_bytes))
    try:
        g = s3.get_object(Bucket=bucket, Key="t", **read_kw)
        got = g["Body"].read()
    except ClientError as exc:  # a non-200 answer
        got = None
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] >= 400, exc.response
    except (ResponseStreamingError, ConnectionClosedError):  # cut short at the damaged package
        got = None
    assert got is None or (len(got) < len(body) and got == body[: len(got)]), "a tampered package was returned"
    # packages before and after the damaged one still read
    assert s3.get_object(Bucket=bucket, Key="t", Range="bytes=0-131071", **read_kw)["Body"].read() == body[:131072]
    tail = s3.get_object(Bucket=bucket, Key="t", Range=f"bytes={3 * 65536}-", **read_kw)["Body"].read()
    assert tail == body[3 * 65536 :]
    # the damaged package alone: it fails before the status is sent, so a 500
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="t", Range="bytes=140000-140100", **read_kw), "InternalError", 500)
    # cut off after two packages: no answer reads past them
    path.write_bytes(bytes(raw_bytes[: 2 * (65536 + 28)]))
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="t", Range="bytes=300000-300010", **read_kw), "InternalError", 500)
    with pytest.raises((ClientError, ResponseStreamingError, ConnectionClosedError)):
        s3.get_object(Bucket=bucket, Key="t", **read_kw)["Body"].read()


@pytest.mark.skipif(CLUSTER, reason="reads the standalone folder layout")
def test_damage_after_the_first_half_megabyte_cuts_the_body(server, s3, bucket):
    """Packages are opened half a megabyte at a time: damage further on is found after
    the 200 went out, and the body stops before it instead of carrying it."""
    server.require_local()
    body = data_of(12 * 65536, "late")
    s3.put_object(Bucket=bucket, Key="late", Body=body, ServerSideEncryption="AES256")
    path = _data_file(server, bucket, "late")
    raw_bytes = bytearray(path.read_bytes())
    raw_bytes[10 * (65536 + 28) + 100] ^= 0x80  # the eleventh package
    path.write_bytes(bytes(raw_bytes))
    got = bytearray()
    with pytest.raises((ResponseStreamingError, ConnectionClosedError, IncompleteReadError)):
        stream = s3.get_object(Bucket=bucket, Key="late")["Body"]
        for chunk in iter(lambda: stream.read(65536), b""):
            got += chunk
    assert len(got) <= 8 * 65536 and bytes(got) == body[: len(got)]
    assert s3.get_object(Bucket=bucket, Key="late", Range="bytes=0-524287")["Body"].read() == body[:524288]


# ---- the generated master key -------------------------------------------------


@pytest.mark.skipif(CLUSTER, reason="a standalone server generates the key")
def test_standalone_generates_master_key_0600():
    with started_server(why="starts an engine without a master key") as srv:
        s3 = srv.client()
        s3.create_bucket(Bucket="gen")
        keyfile = srv.directory / ".keys" / "master.key"
        s3.put_object(Bucket="gen", Key="k", Body=b"x" * 100, ServerSideEncryption="AES256")
        assert keyfile.is_file()
        assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
        assert len(base64.b64decode(keyfile.read_text().strip())) == 32
        srv.restart()
        s3 = srv.client()
        g = s3.get_object(Bucket="gen", Key="k")
        assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == b"x" * 100
        # the key is not listed as an object of any bucket
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["gen"]


# ---- aws-chunked bodies ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["AES256", "c"])
def test_aws_chunked_put_encrypted(s3, signer, bucket, mode):
    chunks = [data_of(64 * 1024, "c1"), data_of(70_000, "c2"), data_of(10, "c3")]
    body = b"".join(chunks)
    ckey = customer_key("chunked")
    extra = ssec_headers(ckey) if mode == "c" else {SSE: "AES256"}
    read_kw = ssec_args(ckey) if mode == "c" else {}
    trailer = ("x-amz-checksum-crc32", b64_crc32(body))
    r = chunked_put(signer, f"/{bucket}/ok", chunks, mode=SIGNED_TRAILER, trailer=trailer, extra_headers=extra)
    assert r.status_code == 200, r.content
    g = s3.get_object(Bucket=bucket, Key="ok", ChecksumMode="ENABLED", **read_kw)
    assert g["Body"].read() == body and g["ContentLength"] == len(body)
    assert g["ChecksumCRC32"] == trailer[1]
    # a body whose trailing checksum does not match (auth is off here, so chunk
    # signatures are not checked): refused, nothing stored
    bad = ("x-amz-checksum-crc32", b64_crc32(body + b"x"))
    r = chunked_put(signer, f"/{bucket}/bad", chunks, mode=SIGNED_TRAILER, trailer=bad, extra_headers=extra)
    assert r.status_code == 400 and b"BadDigest" in r.content, r.content
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="bad", **read_kw), None, 404)


# ---- keys from the configuration ------------------------------------------------


@pytest.mark.skipif(CLUSTER, reason="copies a standalone storage folder")
def test_other_master_key_or_missing_kms_key_cannot_read(server, s3, bucket):
    """The same folder under an engine with another master key and without one key
    ring key: its objects are refused (never their stored bytes), the others read."""
    server.require_local()
    s3.put_object(Bucket=bucket, Key="s3", Body=b"managed" * 100, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="kms", Body=b"kms" * 100, ServerSideEncryption="aws:kms", SSEKMSKeyId="other-key")
    s3.put_object(Bucket=bucket, Key="kms1", Body=b"kms1", ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY_ID)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    keys = {k: v for k, v in KMS_KEYS.items() if k != "other-key"}
    other = EncryptedServer({"masterKey": base64.b64encode(b"\x01" * 32).decode(), "kmsKeys": keys})
    shutil.rmtree(other.directory)
    shutil.copytree(server.directory, other.directory, ignore=shutil.ignore_patterns(".tmp"))
    with other:
        c = other.start().client()
        expect_error(lambda: c.get_object(Bucket=bucket, Key="s3"), "InternalError", 500)
        err = expect_error(lambda: c.get_object(Bucket=bucket, Key="kms"), "KMS.NotFoundException", 400)
        assert "other-key" in err["Error"]["Message"]
        assert c.get_object(Bucket=bucket, Key="kms1")["Body"].read() == b"kms1"
        assert c.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"plain"


def test_encrypted_objects_read_after_restart(server, s3, bucket):
    server.require_local()
    ckey = customer_key("restart")
    s3.put_object(Bucket=bucket, Key="s3", Body=b"1" * 70_000, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="kms", Body=b"2" * 70_000, ServerSideEncryption="aws:kms")
    s3.put_object(Bucket=bucket, Key="c", Body=b"3" * 70_000, **ssec_args(ckey))
    server.revive()  # same port: the module's clients keep working
    assert s3.get_object(Bucket=bucket, Key="s3")["Body"].read() == b"1" * 70_000
    assert s3.get_object(Bucket=bucket, Key="kms")["Body"].read() == b"2" * 70_000
    assert s3.get_object(Bucket=bucket, Key="c", **ssec_args(ckey))["Body"].read() == b"3" * 70_000
