"""GetObjectAttributes (`GET /bucket/key?attributes`, x-amz-object-attributes) with
boto3 and raw signed requests: only the attributes asked for, the parts of a
multipart object a page at a time (x-amz-max-parts, x-amz-part-number-marker) with
their checksums, versions, and AWS's errors:

  * no or empty x-amz-object-attributes      -> 400 InvalidRequest
  * an unknown attribute                     -> 400 InvalidArgument
  * a bad x-amz-max-parts / part-number-marker -> 400 InvalidArgument
  * a missing key / bucket                   -> 404 NoSuchKey / NoSuchBucket
  * a key whose latest version is a delete marker -> 404, x-amz-delete-marker: true
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import assert_error, b64_crc32, b64_sha256, data_of
from sigv4_signer import auth_engine

server = auth_engine()

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
MiB = 1024 * 1024


def attributes(s3, bucket, key, names=ALL, **kw):
    r = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=names, **kw)
    r.pop("ResponseMetadata")
    return r


def test_single_part_object(s3, bucket):
    body = data_of(1234, "one")
    put = s3.put_object(Bucket=bucket, Key="one", Body=body, ChecksumAlgorithm="CRC32")
    r = attributes(s3, bucket, "one")
    assert r["ETag"] == put["ETag"].strip('"')
    assert r["Checksum"] == {"ChecksumCRC32": b64_crc32(body), "ChecksumType": "FULL_OBJECT"}
    assert (r["StorageClass"], r["ObjectSize"]) == ("STANDARD", 1234)
    assert "ObjectParts" not in r
    assert "LastModified" in r
    only = attributes(s3, bucket, "one", ["ObjectSize"])
    assert set(only) - {"LastModified"} == {"ObjectSize"}


def test_multipart_object_parts_page_by_page(s3, bucket):
    parts = [data_of(5 * MiB, "p1"), data_of(5 * MiB, "p2"), data_of(10, "p3")]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    done = []
    for n, part in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=part, ChecksumAlgorithm="SHA256")
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})

    first = attributes(s3, bucket, "mp", MaxParts=2)
    assert first["ObjectSize"] == sum(map(len, parts))
    assert first["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert first["Checksum"]["ChecksumSHA256"].endswith("-3")
    op = first["ObjectParts"]
    assert (op["TotalPartsCount"], op["MaxParts"], op["IsTruncated"], op["NextPartNumberMarker"]) == (3, 2, True, 2)
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]] == [
        (1, 5 * MiB, b64_sha256(parts[0])), (2, 5 * MiB, b64_sha256(parts[1]))]
    rest = attributes(s3, bucket, "mp", ["ObjectParts"], MaxParts=2, PartNumberMarker=2)["ObjectParts"]
    assert rest["IsTruncated"] is False and rest["PartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 10)]


def test_versions(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="v", Body=b"first")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="v", Body=b"second!")
    r = s3.get_object_attributes(Bucket=vbucket, Key="v", VersionId=v1, ObjectAttributes=["ObjectSize"])
    assert (r["ObjectSize"], r["VersionId"]) == (5, v1)
    assert attributes(s3, vbucket, "v", ["ObjectSize"])["ObjectSize"] == 7
    s3.delete_object(Bucket=vbucket, Key="v")
    with pytest.raises(ClientError) as e:
        attributes(s3, vbucket, "v")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"


@pytest.mark.parametrize("headers,code", [
    ({}, "InvalidRequest"),
    ({"x-amz-object-attributes": ",,"}, "InvalidRequest"),
    ({"x-amz-object-attributes": "ETag,Colour"}, "InvalidArgument"),
    ({"x-amz-object-attributes": "ETag", "x-amz-max-parts": "-1"}, "InvalidArgument"),
    ({"x-amz-object-attributes": "ETag", "x-amz-part-number-marker": "x"}, "InvalidArgument"),
])
def test_bad_requests(s3, signer, bucket, headers, code):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert_error(signer.request("GET", f"/{bucket}/k", params={"attributes": ""}, headers=headers), code, 400)


def test_missing_key_and_bucket(signer, bucket):
    h = {"x-amz-object-attributes": "ETag"}
    assert_error(signer.request("GET", f"/{bucket}/nope", params={"attributes": ""}, headers=h), "NoSuchKey", 404)
    assert_error(signer.request("GET", "/no-such-bucket-attrs/k", params={"attributes": ""}, headers=h), "NoSuchBucket", 404)
