"""Flexible checksums (x-amz-checksum-crc32/crc32c/sha1/sha256) on a plain
PUT and on UploadPart, with boto3 and with sigv4_signer.Signer; GetObject
/HeadObject with ChecksumMode ENABLED return them. (Checksums in aws-chunked
trailers: test_auth_chunked.py.)

  * checksum mismatch                 -> 400 BadDigest
  * malformed x-amz-checksum-* value  -> 400 InvalidRequest
  * two checksum headers              -> 400 InvalidRequest
Every rejected request must leave nothing stored and the engine serving.
Engine: the module's own, auth on (`server = auth_engine()`, sigv4_signer).
"""

from __future__ import annotations

import pytest

from helpers import CHECKSUMS, assert_absent, assert_content, assert_error, assert_serving, b64_crc32
from helpers import b64_sha256, data_of
from sigv4_signer import auth_engine

server = auth_engine()


# =========================================================================
# boto3
# =========================================================================


def test_boto3_get_object_checksum_mode_enabled(s3, bucket):
    body = data_of(5000, "cm")
    s3.put_object(Bucket=bucket, Key="c.bin", Body=body)  # boto3 default: CRC32 header
    g = s3.get_object(Bucket=bucket, Key="c.bin", ChecksumMode="ENABLED")
    assert g["Body"].read() == body  # botocore validates the returned checksum while reading
    assert g.get("ChecksumCRC32") == b64_crc32(body), {k: v for k, v in g.items() if k.startswith("Checksum")}
    assert g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc32") == b64_crc32(body)


def test_boto3_put_checksum_sha256_roundtrip(s3, bucket):
    body = data_of(777, "sha")
    r = s3.put_object(Bucket=bucket, Key="s.bin", Body=body, ChecksumAlgorithm="SHA256")
    assert r.get("ChecksumSHA256") == b64_sha256(body)
    h = s3.head_object(Bucket=bucket, Key="s.bin", ChecksumMode="ENABLED")
    assert h.get("ChecksumSHA256") == b64_sha256(body)
    g = s3.get_object(Bucket=bucket, Key="s.bin", ChecksumMode="ENABLED")
    assert g["Body"].read() == body
    assert g.get("ChecksumSHA256") == b64_sha256(body)


# =========================================================================
# a checksum header on PutObject / UploadPart
# =========================================================================


@pytest.mark.parametrize("algo", ["sha256", "crc32c", "crc32", "sha1", "crc64nvme"])
def test_put_flexible_checksum_header(s3, signer, bucket, algo):
    fn, field = CHECKSUMS[algo]
    body = data_of(40000, algo)
    r = signer.request("PUT", f"/{bucket}/ck.bin", body=body, headers={f"x-amz-checksum-{algo}": fn(body)})
    assert r.status_code == 200, r.content[:500]
    h = s3.head_object(Bucket=bucket, Key="ck.bin", ChecksumMode="ENABLED")
    assert h.get(field) == fn(body), {k: v for k, v in h.items() if k.startswith("Checksum")}
    assert_content(s3, bucket, "ck.bin", body)


@pytest.mark.parametrize("algo", ["sha256", "crc32c", "crc64nvme"])
def test_put_flexible_checksum_echoed_on_put(signer, bucket, algo):
    fn, _ = CHECKSUMS[algo]
    body = data_of(1000, algo)
    r = signer.request("PUT", f"/{bucket}/echo.bin", body=body, headers={f"x-amz-checksum-{algo}": fn(body)})
    assert r.status_code == 200, r.content[:500]
    assert r.headers.get(f"x-amz-checksum-{algo}") == fn(body), dict(r.headers)


@pytest.mark.parametrize("algo", ["sha256", "crc32c", "crc32", "sha1", "crc64nvme"])
def test_put_flexible_checksum_wrong_bad_digest(s3, signer, bucket, algo):
    fn, _ = CHECKSUMS[algo]
    body = data_of(40000, algo)
    wrong = fn(body + b"tail")
    r = signer.request("PUT", f"/{bucket}/bad.bin", body=body, headers={f"x-amz-checksum-{algo}": wrong})
    assert_error(r, "BadDigest", 400)
    assert_absent(s3, bucket, "bad.bin")
    s3.put_object(Bucket=bucket, Key="old.bin", Body=b"old")
    r = signer.request("PUT", f"/{bucket}/old.bin", body=body, headers={f"x-amz-checksum-{algo}": wrong})
    assert_error(r, "BadDigest", 400)
    assert_content(s3, bucket, "old.bin", b"old")
    assert_serving(s3, bucket)


def test_multiple_checksum_headers_invalid_request(s3, signer, bucket):
    body = b"two checksums"
    r = signer.request("PUT", f"/{bucket}/multi.bin", body=body,
                       headers={"x-amz-checksum-crc32": b64_crc32(body), "x-amz-checksum-sha256": b64_sha256(body)})
    assert_error(r, "InvalidRequest", 400)
    assert_absent(s3, bucket, "multi.bin")
    assert_serving(s3, bucket)


@pytest.mark.parametrize("value", ["AAAAAAAA", "not base64!"])
def test_malformed_checksum_value_invalid_request(s3, signer, bucket, value):
    r = signer.request("PUT", f"/{bucket}/malf.bin", body=b"malformed", headers={"x-amz-checksum-crc32": value})
    assert_error(r, "InvalidRequest", 400)
    assert_absent(s3, bucket, "malf.bin")
    assert_serving(s3, bucket)


def test_upload_part_wrong_checksum_bad_digest(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpck.bin", ChecksumAlgorithm="SHA256")["UploadId"]
    body = data_of(1000, "part")
    r = signer.request("PUT", f"/{bucket}/mpck.bin", params={"partNumber": "1", "uploadId": up}, body=body,
                       headers={"x-amz-checksum-sha256": b64_sha256(body + b"x")})
    assert_error(r, "BadDigest", 400)
    assert s3.list_parts(Bucket=bucket, Key="mpck.bin", UploadId=up).get("Parts", []) == []
    p = s3.upload_part(Bucket=bucket, Key="mpck.bin", UploadId=up, PartNumber=1, Body=body, ChecksumAlgorithm="SHA256")
    assert p.get("ChecksumSHA256") == b64_sha256(body)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mpck.bin", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}]},
    )
    assert_content(s3, bucket, "mpck.bin", body)
