"""Server-side encryption with customer-provided keys (SSE-C): PUT/GET/HEAD,
header validation as AWS answers it, multipart (parts need the key, Complete
does not), CopyObject and UploadPartCopy between keys, and SSE-C over plain
HTTP (refused unless `allowSseCOverHttp`) and HTTPS. AWS's answers: see
/work/sse_aws_behaviour.md sections 1 to 4.

The module's engine allows SSE-C over plain HTTP; `tls_server` does not, and
serves HTTPS beside it.
"""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from boto3.s3.transfer import TransferConfig

from helpers import (
    MiB,
    assert_raw_error,
    cleanup_bucket,
    data_of,
    expect_error,
    md5_hex,
    unique_bucket_name,
)
from sse_common import (
    copy_ssec_headers,
    customer_key,
    key_md5,
    sse_server_fixture,
    ssec_args,
    ssec_headers,
)

server = sse_server_fixture()

KEY = customer_key("key one")
KEY2 = customer_key("key two")
C = "x-amz-server-side-encryption-customer-"


def copy_args(key: bytes) -> dict:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def complete_xml(parts) -> bytes:
    inner = "".join(f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>" for p in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


@pytest.fixture
def cobj(s3, bucket):
    """(bucket, key, body) of an SSE-C object under KEY."""
    body = data_of(150_000, "ssec")
    s3.put_object(Bucket=bucket, Key="c", Body=body, **ssec_args(KEY))
    return bucket, "c", body


# ---- PUT / GET / HEAD ---------------------------------------------------------


def test_put_get_head_with_key(s3, bucket):
    body = data_of(150_000, "ssec")
    r = s3.put_object(Bucket=bucket, Key="c", Body=body, **ssec_args(KEY))
    assert r["SSECustomerAlgorithm"] == "AES256"
    assert r["SSECustomerKeyMD5"] == key_md5(KEY)
    assert "ServerSideEncryption" not in r
    assert r["ETag"] != f'"{md5_hex(body)}"'
    g = s3.get_object(Bucket=bucket, Key="c", **ssec_args(KEY))
    assert (g["SSECustomerAlgorithm"], g["SSECustomerKeyMD5"]) == ("AES256", key_md5(KEY))
    assert "ServerSideEncryption" not in g
    assert g["Body"].read() == body and g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket=bucket, Key="c", **ssec_args(KEY))
    assert (h["SSECustomerKeyMD5"], h["ContentLength"]) == (key_md5(KEY), len(body))
    rg = s3.get_object(Bucket=bucket, Key="c", Range="bytes=65530-65545", **ssec_args(KEY))
    assert rg["Body"].read() == body[65530:65546]
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == len(body)


def test_get_head_without_key_400_invalid_request(s3, raw, cobj):
    bucket, key, _ = cobj
    err = expect_error(lambda: s3.get_object(Bucket=bucket, Key=key), "InvalidRequest", 400)
    assert "stored using a form of Server Side Encryption" in err["Error"]["Message"]
    expect_error(lambda: s3.head_object(Bucket=bucket, Key=key), None, 400)
    expect_error(lambda: s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-9"), "InvalidRequest", 400)


def test_get_head_wrong_key_403(s3, cobj):
    bucket, key, _ = cobj
    err = expect_error(lambda: s3.get_object(Bucket=bucket, Key=key, **ssec_args(KEY2)), "AccessDenied", 403)
    assert "correct secret key" in err["Error"]["Message"]
    expect_error(lambda: s3.head_object(Bucket=bucket, Key=key, **ssec_args(KEY2)), None, 403)


def test_get_algorithm_and_key_without_md5_200(raw, cobj):
    bucket, key, body = cobj
    r = raw.get(f"/{bucket}/{key}", headers=ssec_headers(KEY, md5=None))
    assert r.status == 200 and r.content == body
    assert raw.head(f"/{bucket}/{key}", headers=ssec_headers(KEY, md5=None)).status == 200


def test_get_md5_mismatch_400(raw, cobj):
    bucket, key, _ = cobj
    r = raw.get(f"/{bucket}/{key}", headers=ssec_headers(KEY, md5=key_md5(KEY2)))
    err = assert_raw_error(r, "InvalidArgument", 400)
    assert "calculated MD5 hash of the key did not match" in err["Message"]


def test_get_short_key_with_matching_md5_403(raw, cobj):
    bucket, key, _ = cobj
    r = raw.get(f"/{bucket}/{key}", headers=ssec_headers(b"0123456789"))
    assert_raw_error(r, "AccessDenied", 403)


def test_get_invalid_algorithm_400(raw, cobj):
    bucket, key, _ = cobj
    r = raw.get(f"/{bucket}/{key}", headers=ssec_headers(KEY, algorithm="AES128"))
    assert_raw_error(r, "InvalidEncryptionAlgorithmError", 400)


def test_sse_header_on_get_400(raw, cobj):
    bucket, key, _ = cobj
    r = raw.get(f"/{bucket}/{key}", headers={**ssec_headers(KEY), "x-amz-server-side-encryption": "AES256"})
    assert_raw_error(r, "InvalidArgument", 400)


def test_ssec_headers_on_plain_object_400_invalid_request(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    err = expect_error(lambda: s3.get_object(Bucket=bucket, Key="plain", **ssec_args(KEY)), "InvalidRequest", 400)
    assert "not applicable" in err["Error"]["Message"]
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="plain", **ssec_args(KEY)), None, 400)


@pytest.mark.parametrize(
    "headers, code, fragment",
    [
        (ssec_headers(KEY, algorithm="AES128-INVALID"), "InvalidEncryptionAlgorithmError", None),
        (ssec_headers(KEY[:16]), "InvalidArgument", "secret key was invalid"),
        (ssec_headers(b"0123456789"), "InvalidArgument", "secret key was invalid"),
        (ssec_headers(KEY, md5=key_md5(KEY2)), "InvalidArgument", "did not match"),
        (ssec_headers(KEY, md5=None), "InvalidArgument", "MD5"),
        (ssec_headers(KEY, algorithm=None), "InvalidArgument", "valid encryption algorithm"),
        ({C + "algorithm": "AES256"}, "InvalidArgument", "appropriate secret key"),
        ({C + "algorithm": "AES256", C + "key-MD5": key_md5(KEY)}, "InvalidArgument", "appropriate secret key"),
        ({**ssec_headers(KEY), "x-amz-server-side-encryption": "AES256"}, "InvalidArgument", "incompatible"),
        ({**ssec_headers(KEY), "x-amz-server-side-encryption": "aws:kms"}, "InvalidArgument", "incompatible"),
        # the conflict is found before the algorithm is looked at
        (
            {**ssec_headers(KEY, algorithm="AES128"), "x-amz-server-side-encryption": "AES256"},
            "InvalidArgument",
            "incompatible",
        ),
    ],
    ids=[
        "bad-alg", "16-byte-key", "10-byte-key", "md5-mismatch", "no-md5", "no-alg", "alg-only", "alg-md5",
        "with-sse", "with-kms", "with-sse-bad-alg",
    ],
)
def test_put_invalid_ssec_headers_400(raw, bucket, headers, code, fragment):
    r = raw.put(f"/{bucket}/k", data=b"data", headers=headers)
    err = assert_raw_error(r, code, 400)
    if fragment:
        assert fragment in err["Message"], err
    # AWS names x-amz-server-side-encryption whichever SSE-C header is wrong
    assert err.get("ArgumentName") == "x-amz-server-side-encryption", err
    if code == "InvalidEncryptionAlgorithmError":
        assert err.get("ArgumentValue") == "AES128-INVALID", err
    assert raw.head(f"/{bucket}/k").status == 404


def test_delete_needs_no_key(s3, cobj):
    bucket, key, _ = cobj
    assert s3.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.head_object(Bucket=bucket, Key=key, **ssec_args(KEY)), None, 404)


def test_get_object_attributes_needs_key(s3, raw, cobj):
    bucket, key, body = cobj
    # boto3 does not base64 the key of GetObjectAttributes itself: raw headers
    r = raw.get(f"/{bucket}/{key}", params={"attributes": None}, headers={"x-amz-object-attributes": "ObjectSize", **ssec_headers(KEY)})
    assert r.status == 200, r
    assert r.xml().findtext("ObjectSize") == str(len(body))
    expect_error(
        lambda: s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectSize"]), "InvalidRequest", 400
    )


# ---- multipart ----------------------------------------------------------------


def _upload(s3, bucket, key, parts, ssec_key=KEY):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **ssec_args(ssec_key))
    assert up["SSECustomerKeyMD5"] == key_md5(ssec_key)
    done = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=p, **ssec_args(ssec_key))
        assert (r["SSECustomerAlgorithm"], r["SSECustomerKeyMD5"]) == ("AES256", key_md5(ssec_key))
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    return up["UploadId"], done


def test_multipart_ssec(s3, raw, bucket):
    parts = [data_of(5 * MiB + 1000, "a"), data_of(5 * MiB + 3, "b"), data_of(70_000, "c")]
    up, done = _upload(s3, bucket, "mp", parts)
    # parts without the key, or with another
    err = expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=4, Body=b"x"), "InvalidRequest", 400
    )
    assert "must include the appropriate encryption parameters" in err["Error"]["Message"]
    err = expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=4, Body=b"x", **ssec_args(KEY2)),
        "InvalidRequest",
        400,
    )
    assert "did not match" in err["Error"]["Message"]
    # ListParts needs no key
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    # Complete with another full key set is refused; partial headers are ignored
    body = complete_xml(done)
    r = raw.post(f"/{bucket}/mp", params={"uploadId": up}, data=body, headers=ssec_headers(KEY2))
    assert_raw_error(r, "InvalidRequest", 400)
    r = raw.post(f"/{bucket}/mp", params={"uploadId": up}, data=body, headers=ssec_headers(KEY, algorithm="AES128"))
    assert_raw_error(r, "InvalidEncryptionAlgorithmError", 400)
    # without SSE-C headers it completes
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    assert r["ETag"].strip('"').endswith("-3")
    assert "SSECustomerAlgorithm" not in r and "ServerSideEncryption" not in r
    whole = b"".join(parts)
    g = s3.get_object(Bucket=bucket, Key="mp", **ssec_args(KEY))
    assert (g["ContentLength"], g["SSECustomerKeyMD5"]) == (len(whole), key_md5(KEY))
    assert g["Body"].read() == whole
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="mp"), "InvalidRequest", 400)
    p2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **ssec_args(KEY))
    assert p2["Body"].read() == parts[1]
    assert p2["ContentRange"] == f"bytes {len(parts[0])}-{len(parts[0]) + len(parts[1]) - 1}/{len(whole)}"
    for a, b in [(len(parts[0]) - 5, len(parts[0]) + 5), (len(parts[0]) - 70_000, len(whole) - 1), (MiB, 11 * MiB)]:
        got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}", **ssec_args(KEY))["Body"].read()
        assert got == whole[a : b + 1], (a, b)
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == len(whole)


def test_multipart_complete_with_key_works_and_echoes_nothing_secret(s3, raw, bucket):
    parts = [data_of(1000, "only")]
    up, done = _upload(s3, bucket, "mp", parts)
    body = complete_xml(done)
    r = raw.post(f"/{bucket}/mp", params={"uploadId": up}, data=body, headers=ssec_headers(KEY))
    assert r.status == 200, r
    # Complete echoes no SSE-C headers (AWS's response syntax), even given the key
    assert [h for h in r.headers if h.lower().startswith(C)] == [], dict(r.headers)
    assert s3.get_object(Bucket=bucket, Key="mp", **ssec_args(KEY))["Body"].read() == parts[0]


def test_plain_upload_completed_with_ssec_400(s3, raw, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="p")["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key="p", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
    expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="p", UploadId=up, PartNumber=2, Body=b"x", **ssec_args(KEY)),
        "InvalidRequest",
        400,
    )
    body = complete_xml([{"PartNumber": 1, "ETag": e}])
    r = raw.post(f"/{bucket}/p", params={"uploadId": up}, data=body, headers=ssec_headers(KEY))
    assert_raw_error(r, "InvalidRequest", 400)


# ---- copies -------------------------------------------------------------------


def test_copy_ssec_to_ssec_other_key(s3, cobj):
    bucket, key, body = cobj
    r = s3.copy_object(
        Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": key}, **copy_args(KEY), **ssec_args(KEY2)
    )
    assert r["SSECustomerKeyMD5"] == key_md5(KEY2)
    assert s3.get_object(Bucket=bucket, Key="c2", **ssec_args(KEY2))["Body"].read() == body
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="c2", **ssec_args(KEY)), "AccessDenied", 403)


def test_copy_ssec_to_plain_and_plain_to_ssec(s3, cobj):
    bucket, key, body = cobj
    r = s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": key}, **copy_args(KEY))
    assert "SSECustomerAlgorithm" not in r
    g = s3.get_object(Bucket=bucket, Key="plain")
    assert g["Body"].read() == body and "SSECustomerAlgorithm" not in g
    r = s3.copy_object(Bucket=bucket, Key="c3", CopySource={"Bucket": bucket, "Key": "plain"}, **ssec_args(KEY2))
    assert r["SSECustomerKeyMD5"] == key_md5(KEY2)
    assert s3.get_object(Bucket=bucket, Key="c3", **ssec_args(KEY2))["Body"].read() == body
    # a managed source needs no source key either
    s3.put_object(Bucket=bucket, Key="s3", Body=b"managed", ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="c4", CopySource={"Bucket": bucket, "Key": "s3"}, **ssec_args(KEY))
    assert s3.get_object(Bucket=bucket, Key="c4", **ssec_args(KEY))["Body"].read() == b"managed"


def test_copy_source_key_missing_or_wrong(s3, raw, cobj):
    bucket, key, _ = cobj
    src = {"Bucket": bucket, "Key": key}
    expect_error(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=src), "InvalidRequest", 400)
    expect_error(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=src, **copy_args(KEY2)), "InvalidRequest", 400)
    # the source MD5 may be left out
    r = raw.put(
        f"/{bucket}/x", headers={"x-amz-copy-source": f"/{bucket}/{key}", **copy_ssec_headers(KEY, md5=None)}
    )
    assert r.status == 200, r
    # source headers on a plain source
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="y", CopySource={"Bucket": bucket, "Key": "plain"}, **copy_args(KEY)),
        "InvalidRequest",
        400,
    )


def test_copy_onto_itself_changing_key(s3, cobj):
    bucket, key, body = cobj
    src = {"Bucket": bucket, "Key": key}
    r = s3.copy_object(Bucket=bucket, Key=key, CopySource=src, **copy_args(KEY), **ssec_args(KEY2))
    assert r["SSECustomerKeyMD5"] == key_md5(KEY2)
    assert s3.get_object(Bucket=bucket, Key=key, **ssec_args(KEY2))["Body"].read() == body
    r = s3.copy_object(Bucket=bucket, Key=key, CopySource=src, **copy_args(KEY2), ServerSideEncryption="aws:kms")
    assert r["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_upload_part_copy_from_ssec_source(s3, bucket):
    src = data_of(6 * MiB + 500, "src")
    s3.put_object(Bucket=bucket, Key="src", Body=src, **ssec_args(KEY))
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst", **ssec_args(KEY2))["UploadId"]
    source = {"Bucket": bucket, "Key": "src"}
    a, b = 100_000, 100_000 + 5 * MiB
    r = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource=source, CopySourceRange=f"bytes={a}-{b}",
        **copy_args(KEY), **ssec_args(KEY2),
    )
    assert r["SSECustomerKeyMD5"] == key_md5(KEY2)
    e1 = r["CopyPartResult"]["ETag"]
    expect_error(
        lambda: s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=2, CopySource=source, **ssec_args(KEY2)),
        "InvalidRequest",
        400,
    )
    expect_error(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=up, PartNumber=2, CopySource=source, **copy_args(KEY), **ssec_args(KEY)
        ),
        "InvalidRequest",
        400,
    )
    r = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=2, CopySource=source, CopySourceRange="bytes=0-999",
        **copy_args(KEY), **ssec_args(KEY2),
    )
    e2 = r["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    want = src[a : b + 1] + src[:1000]
    assert s3.get_object(Bucket=bucket, Key="dst", **ssec_args(KEY2))["Body"].read() == want


# ---- plain HTTP vs HTTPS ----------------------------------------------------------

tls_server = sse_server_fixture(tls=True, allow_http=False)


@pytest.fixture(scope="module")
def tls_bucket(tls_server):
    plain = tls_server.client()
    name = unique_bucket_name("sse-tls")
    plain.create_bucket(Bucket=name)
    yield name
    cleanup_bucket(plain, name)


def test_ssec_over_plain_http_refused(tls_server, tls_bucket):
    plain = tls_server.client()
    err = expect_error(
        lambda: plain.put_object(Bucket=tls_bucket, Key="k", Body=b"x", **ssec_args(KEY)), "InvalidArgument", 400
    )
    assert "secure connection" in err["Error"]["Message"]
    raw = tls_server.raw_client()
    # checked before the headers' values
    r = raw.put(f"/{tls_bucket}/k", data=b"x", headers=ssec_headers(b"short", algorithm="AES128"))
    err = assert_raw_error(r, "InvalidArgument", 400)
    assert "secure connection" in err["Message"]
    # managed encryption is fine over HTTP
    assert plain.put_object(Bucket=tls_bucket, Key="m", Body=b"x", ServerSideEncryption="AES256")["ServerSideEncryption"] == "AES256"


def test_ssec_over_https_works(tls_server, tls_bucket):
    https = tls_server.https_client()
    r = https.put_object(Bucket=tls_bucket, Key="k", Body=b"secret", **ssec_args(KEY))
    assert r["SSECustomerKeyMD5"] == key_md5(KEY)
    assert https.get_object(Bucket=tls_bucket, Key="k", **ssec_args(KEY))["Body"].read() == b"secret"
    plain = tls_server.client()
    expect_error(lambda: plain.get_object(Bucket=tls_bucket, Key="k", **ssec_args(KEY)), "InvalidArgument", 400)
    expect_error(lambda: plain.get_object(Bucket=tls_bucket, Key="k"), "InvalidRequest", 400)


# ---- edges ------------------------------------------------------------------------


def test_empty_object_still_needs_the_right_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e", Body=b"", **ssec_args(KEY))
    g = s3.get_object(Bucket=bucket, Key="e", **ssec_args(KEY))
    assert g["Body"].read() == b"" and g["ContentLength"] == 0
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="e", **ssec_args(KEY2)), "AccessDenied", 403)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="e", **ssec_args(KEY2)), None, 403)
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="e"), "InvalidRequest", 400)


def test_part_number_reads(s3, bucket):
    parts = [data_of(5 * MiB, "x"), data_of(10, "y")]
    up, done = _upload(s3, bucket, "mp", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2, **ssec_args(KEY))
    assert h["ContentLength"] == 10 and h["PartsCount"] == 2
    # as for a plain object (AWS: 416 InvalidPartNumber; ceph's 400 InvalidPart is its own)
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=3, **ssec_args(KEY)), "InvalidPartNumber", 416)
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=1), "InvalidRequest", 400)


def test_ssec_part_on_managed_upload_refused(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="m", ServerSideEncryption="AES256")["UploadId"]
    expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="m", UploadId=up, PartNumber=1, Body=b"x", **ssec_args(KEY)),
        "InvalidRequest",
        400,
    )


def test_versions_keep_their_own_keys(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one", **ssec_args(KEY))["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two", **ssec_args(KEY2))["VersionId"]
    s3.delete_object(Bucket=vbucket, Key="k")
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1, **ssec_args(KEY))["Body"].read() == b"one"
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v2, **ssec_args(KEY2))["Body"].read() == b"two"
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=v1, **ssec_args(KEY2)), "AccessDenied", 403)
    expect_error(lambda: s3.head_object(Bucket=vbucket, Key="k", VersionId=v2), None, 400)


def test_checksums_are_of_the_plaintext(s3, bucket):
    body = data_of(100_000, "crc")
    r = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256", **ssec_args(KEY))
    want = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert r["ChecksumSHA256"] == want
    g = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", **ssec_args(KEY))
    assert g["ChecksumSHA256"] == want and g["Body"].read() == body


def test_transfer_manager_upload_and_download(s3, bucket):
    """boto3's transfer manager: multipart upload with SSE-C, download by parallel ranged GETs."""
    body = data_of(13 * MiB + 11, "tm")
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
    s3.upload_fileobj(io.BytesIO(body), bucket, "tm", ExtraArgs=extra, Config=cfg)
    out = io.BytesIO()
    s3.download_fileobj(bucket, "tm", out, ExtraArgs=extra, Config=cfg)
    assert out.getvalue() == body
