"""Real client: boto3's transfer manager (upload_file/download_file) with the
default TransferConfig (8 MiB multipart threshold and parts, 10 threads, the
default checksum behaviour) on a >= 1 GiB random file, against its own
auth-enabled engine; sha256 of the downloaded file compared.

SMARTSTORAGE_CLIENTS_BOTO3_MIB sets the size (default 1024);
SMARTSTORAGE_CLIENTS_SKIP_BIG=1 skips it.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from clients_common import BigTemp, MiB, big_enabled, boto3_client, random_file, server_fixture, sha256_file
from helpers import b64_crc32

server = server_fixture()

SIZE_MIB = int(os.environ.get("SMARTSTORAGE_CLIENTS_BOTO3_MIB", "1024"))


@pytest.mark.skipif(not big_enabled(), reason="SMARTSTORAGE_CLIENTS_SKIP_BIG=1")
def test_upload_download_file_default_transfer_config(s3, make_bucket):
    bucket = make_bucket("boto3-transfer")
    size = SIZE_MIB * MiB
    with BigTemp() as tmp:
        src = tmp / "one gib.bin"
        want = random_file(src, size)
        s3.upload_file(str(src), bucket, "transfer/one gib.bin")
        h = s3.head_object(Bucket=bucket, Key="transfer/one gib.bin")
        assert h["ContentLength"] == size
        assert h["ETag"].endswith(f'-{size // (8 * MiB)}"'), f"expected {size // (8 * MiB)} parts: {h['ETag']}"
        src.unlink()
        dst = tmp / "down.bin"
        s3.download_file(bucket, "transfer/one gib.bin", str(dst))
        assert dst.stat().st_size == size
        assert sha256_file(dst) == want, "downloaded bytes differ from the uploaded ones"


def test_upload_fileobj_download_fileobj_small_and_multipart(s3, make_bucket, tmp_path):
    """The file-object variants, one below and one above the threshold."""
    import io

    bucket = make_bucket("boto3-fileobj")
    for name, n in (("small ü.bin", 1 * MiB + 7), ("multi part.bin", 20 * MiB + 3)):
        data = os.urandom(n)
        s3.upload_fileobj(io.BytesIO(data), bucket, name)
        out = io.BytesIO()
        s3.download_fileobj(bucket, name, out)
        assert out.getvalue() == data, name
    assert s3.head_object(Bucket=bucket, Key="multi part.bin")["ETag"].endswith('-3"')


@pytest.mark.parametrize("checksum_type", ["COMPOSITE", "FULL_OBJECT", None])
def test_complete_multipart_with_object_checksum(s3, make_bucket, checksum_type):
    """CompleteMultipartUpload may carry the object's checksum in
    x-amz-checksum-crc32: for a COMPOSITE upload (the default for CRC32) the
    checksum of the part checksums, for FULL_OBJECT the CRC32 of the whole
    object. It describes the object, not the XML request body. (minio-go,
    hence `mc pipe`, sends the composite CRC32C this way.) A wrong value is
    BadDigest."""
    import base64

    from botocore.exceptions import ClientError

    bucket = make_bucket("boto3-mpu-cksum")
    kw = {"ChecksumType": checksum_type} if checksum_type else {}
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", **kw)
    datas = [os.urandom(5 * MiB), os.urandom(1 * MiB + 17)]
    parts = []
    for n, d in enumerate(datas, 1):
        r = s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=n, Body=d,
                           ChecksumAlgorithm="CRC32")
        assert r["ChecksumCRC32"] == b64_crc32(d)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    if checksum_type == "FULL_OBJECT":
        good = b64_crc32(b"".join(datas))
    else:
        good = b64_crc32(b"".join(base64.b64decode(p["ChecksumCRC32"]) for p in parts))
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts}, ChecksumCRC32=b64_crc32(b"wrong"))
    assert ei.value.response["Error"]["Code"] == "BadDigest"
    try:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts}, ChecksumCRC32=good)
    except ClientError as exc:
        pytest.fail(f"CompleteMultipartUpload with the object's {checksum_type or 'default'} CRC32 {good} "
                    f"was refused: {exc.response['Error']}")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(datas)


def test_get_object_attributes_is_not_a_get_object(s3, make_bucket):
    """GetObjectAttributes (GET /bucket/key?attributes, used by `aws s3api
    get-object-attributes` and SDKs) must be answered with its XML document
    or refused (501 NotImplemented, as the engine does for ?torrent and
    ?restore) -- never with the object's bytes, which botocore then takes
    for a malformed 200, turns into a 500 and retries, downloading the
    object each time."""
    from botocore.config import Config
    from botocore.exceptions import ClientError

    bucket = make_bucket("boto3-attrs")
    body = b"0123456789" * 1000
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    seen = []
    one = boto3_client(s3.meta.endpoint_url, config=Config(retries={"total_max_attempts": 1}))
    one.meta.events.register(
        "after-call.s3.GetObjectAttributes",
        lambda http_response, **kw: seen.append((http_response.status_code, http_response.content[:40])),
    )
    try:
        r = one.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag", "ObjectSize"])
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        assert code == "NotImplemented", f"GetObjectAttributes -> {code}; raw responses {seen}"
    else:
        assert r["ObjectSize"] == len(body) and r["ETag"].strip('"') == hashlib.md5(body).hexdigest(), r
    assert all(not content.startswith(body[:40]) for _, content in seen), (
        f"GetObjectAttributes was answered with the object's bytes: {seen}"
    )
