"""Checksums beyond a single PUT: multipart uploads created with an algorithm and a
type (COMPOSITE or FULL_OBJECT), what ListParts/ListMultipartUploads/Complete report,
the CRC64NVME AWS stores when the client names none, part checksums on partNumber
reads, and the checksum CopyObject/UploadPartCopy give the copy. boto3 at default
settings (botocore[crt] for CRC32C/CRC64NVME) and raw signed requests.

  * x-amz-checksum-type without an algorithm, FULL_OBJECT with SHA, COMPOSITE with
    CRC64NVME, unknown algorithm or type            -> 400 InvalidRequest
  * a part with another algorithm than the upload's  -> 400 InvalidRequest
  * Complete: a listed part checksum that is not the part's -> 400 InvalidPart;
    a COMPOSITE upload's part listed without one    -> 400 InvalidRequest;
    a stated object checksum that differs           -> 400 BadDigest;
    a malformed one                                  -> 400 InvalidRequest;
    another x-amz-checksum-type                      -> 400 InvalidRequest
Refused requests leave the upload as it was.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET

import pytest

from helpers import CHECKSUMS, assert_error, assert_serving, b64_crc32, b64_crc64nvme, b64_sha256, data_of
from helpers import strip_ns
from sigv4_signer import auth_engine

server = auth_engine()

MiB = 1024 * 1024
FIELD = {name.upper(): field for name, (_, field) in CHECKSUMS.items()}
ENCODE = {name.upper(): fn for name, (fn, _) in CHECKSUMS.items()}
HASH = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256}


def composite(algorithm: str, parts: list[bytes]) -> str:
    """AWS's composite checksum: the checksum of the parts' raw checksums, -N."""
    raw = b"".join(base64.b64decode(ENCODE[algorithm](p)) for p in parts)
    if algorithm in HASH:
        digest = base64.b64encode(HASH[algorithm](raw).digest()).decode()
    else:
        digest = ENCODE[algorithm](raw)
    return f"{digest}-{len(parts)}"


def upload_parts(s3, bucket, key, upload_id, parts, algorithm=None):
    done = []
    for n, body in enumerate(parts, start=1):
        kw = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body, **kw)
        entry = {"PartNumber": n, "ETag": r["ETag"]}
        entry.update({k: v for k, v in r.items() if k.startswith("Checksum") and k != "ChecksumType"})
        done.append(entry)
    return done


COMBOS = [
    ("CRC32", "COMPOSITE"), ("CRC32", "FULL_OBJECT"), ("CRC32C", "COMPOSITE"), ("CRC32C", "FULL_OBJECT"),
    ("CRC64NVME", "FULL_OBJECT"), ("SHA1", "COMPOSITE"), ("SHA256", "COMPOSITE"),
]


@pytest.mark.parametrize("algorithm,kind", COMBOS)
def test_multipart_checksum_every_algorithm_and_type(s3, bucket, algorithm, kind):
    parts = [data_of(5 * MiB, f"{algorithm}1"), data_of(1000, f"{algorithm}2")]
    key = f"mp-{algorithm}-{kind}"
    field = FIELD[algorithm]
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, ChecksumType=kind)
    assert (up.get("ChecksumAlgorithm"), up.get("ChecksumType")) == (algorithm, kind)
    done = upload_parts(s3, bucket, key, up["UploadId"], parts, algorithm)
    assert [p[field] for p in done] == [ENCODE[algorithm](p) for p in parts]

    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=up["UploadId"])
    assert (listed.get("ChecksumAlgorithm"), listed.get("ChecksumType")) == (algorithm, kind)
    assert [p.get(field) for p in listed["Parts"]] == [p[field] for p in done]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u.get("ChecksumAlgorithm"), u.get("ChecksumType")) for u in uploads] == [(algorithm, kind)]

    expected = ENCODE[algorithm](b"".join(parts)) if kind == "FULL_OBJECT" else composite(algorithm, parts)
    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": done})
    assert (r.get(field), r.get("ChecksumType")) == (expected, kind)
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert (head.get(field), head.get("ChecksumType")) == (expected, kind)
    # A part read carries that part's checksum (botocore checks the bytes against it).
    got = s3.get_object(Bucket=bucket, Key=key, PartNumber=2, ChecksumMode="ENABLED")
    assert got["Body"].read() == parts[1]
    assert got.get(field) == ENCODE[algorithm](parts[1])
    assert got["PartsCount"] == 2


@pytest.mark.parametrize("headers", [
    {"x-amz-checksum-type": "FULL_OBJECT"},
    {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"},
    {"x-amz-checksum-algorithm": "SHA1", "x-amz-checksum-type": "FULL_OBJECT"},
    {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"},
    {"x-amz-checksum-algorithm": "MD5"},
    {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "WHOLE"},
])
def test_create_multipart_bad_checksum_settings(s3, signer, bucket, headers):
    r = signer.request("POST", f"/{bucket}/bad", params={"uploads": ""}, headers=headers)
    assert_error(r, "InvalidRequest", 400)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_part_with_another_algorithm_is_refused(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    body = data_of(1000, "p")
    r = signer.request("PUT", f"/{bucket}/k", params={"partNumber": "1", "uploadId": up}, body=body,
                       headers={"x-amz-checksum-sha256": b64_sha256(body)})
    assert_error(r, "InvalidRequest", 400)
    assert "expected checksum Type: crc32" in r.text
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=up).get("Parts", []) == []
    # Without a checksum the part gets the upload's, computed by the server.
    r = signer.request("PUT", f"/{bucket}/k", params={"partNumber": "1", "uploadId": up}, body=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-crc32"] == b64_crc32(body)
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"][0]["ChecksumCRC32"] == b64_crc32(body)


def complete_xml(parts, with_checksums=True):
    items = "".join(
        f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag>"
        + (f"<ChecksumCRC32>{p['ChecksumCRC32']}</ChecksumCRC32>" if with_checksums and "ChecksumCRC32" in p else "")
        + "</Part>"
        for p in parts
    )
    return f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()


def test_complete_checks_part_and_object_checksums(s3, signer, bucket):
    parts = [data_of(5 * MiB, "c1"), data_of(10, "c2")]
    up = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32")["UploadId"]
    done = upload_parts(s3, bucket, "c", up, parts, "CRC32")
    path, params = f"/{bucket}/c", {"uploadId": up}
    expected = composite("CRC32", parts)

    r = signer.request("POST", path, params=params, body=complete_xml(done, with_checksums=False))
    assert_error(r, "InvalidRequest", 400)
    assert "It was missing for part 1" in r.text
    wrong = [dict(done[0], ChecksumCRC32=b64_crc32(b"other")), done[1]]
    assert_error(signer.request("POST", path, params=params, body=complete_xml(wrong)), "InvalidPart", 400)
    stated_wrong = {"x-amz-checksum-crc32": composite("CRC32", parts[::-1])}
    assert_error(signer.request("POST", path, params=params, body=complete_xml(done), headers=stated_wrong), "BadDigest", 400)
    for malformed in ["nope", expected.split("-")[0] + "-x", expected.split("-")[0] + "-0"]:
        r = signer.request("POST", path, params=params, body=complete_xml(done), headers={"x-amz-checksum-crc32": malformed})
        assert_error(r, "InvalidRequest", 400)
    r = signer.request("POST", path, params=params, body=complete_xml(done), headers={"x-amz-checksum-type": "FULL_OBJECT"})
    assert_error(r, "InvalidRequest", 400)
    assert "created using the COMPOSITE checksum mode" in r.text

    # Nothing above touched the upload: the right request completes it.
    r = signer.request("POST", path, params=params, body=complete_xml(done), headers={"x-amz-checksum-crc32": expected})
    assert r.status_code == 200, r.text
    doc = strip_ns(ET.fromstring(r.content))
    assert doc.findtext("ChecksumCRC32") == expected
    assert doc.findtext("ChecksumType") == "COMPOSITE"
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"".join(parts)


def test_no_checksum_named_stores_crc64nvme(s3, signer, bucket):
    body = data_of(3000, "plain")
    r = signer.request("PUT", f"/{bucket}/plain", body=body)
    assert r.status_code == 200
    assert r.headers["x-amz-checksum-crc64nvme"] == b64_crc64nvme(body)
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert (head.get("ChecksumCRC64NVME"), head.get("ChecksumType")) == (b64_crc64nvme(body), "FULL_OBJECT")

    # An upload created without an algorithm: a full-object CRC64NVME, as on AWS.
    parts = [data_of(5 * MiB, "n1"), data_of(77, "n2")]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = []
    for n, part in enumerate(parts, start=1):
        r = signer.request("PUT", f"/{bucket}/mp", params={"partNumber": str(n), "uploadId": up}, body=part)
        assert r.status_code == 200
        etags.append({"PartNumber": n, "ETag": r.headers["etag"]})
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": etags})
    assert (r.get("ChecksumCRC64NVME"), r.get("ChecksumType")) == (b64_crc64nvme(b"".join(parts)), "FULL_OBJECT")


def test_copy_object_checksums(s3, signer, bucket):
    body = data_of(4000, "copy")
    s3.put_object(Bucket=bucket, Key="src", Body=body, ChecksumAlgorithm="CRC32")
    # Another algorithm asked for: computed over the source's bytes.
    r = s3.copy_object(Bucket=bucket, Key="sha", CopySource={"Bucket": bucket, "Key": "src"}, ChecksumAlgorithm="SHA256")
    assert r["CopyObjectResult"].get("ChecksumSHA256") == b64_sha256(body)
    head = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256") == b64_sha256(body) and "ChecksumCRC32" not in head
    # None asked for: the source's is kept.
    r = s3.copy_object(Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"].get("ChecksumCRC32") == b64_crc32(body)
    # A composite multipart source: the copy is one part, with a whole-object checksum.
    parts = [data_of(5 * MiB, "m1"), data_of(9, "m2")]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    done = upload_parts(s3, bucket, "mp", up, parts, "SHA256")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    r = s3.copy_object(Bucket=bucket, Key="mpcopy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert r["CopyObjectResult"].get("ChecksumSHA256") == b64_sha256(b"".join(parts))
    assert r["CopyObjectResult"].get("ChecksumType") == "FULL_OBJECT"
    bad = signer.request("PUT", f"/{bucket}/x", headers={"x-amz-copy-source": f"/{bucket}/src", "x-amz-checksum-algorithm": "MD5"})
    assert_error(bad, "InvalidRequest", 400)
    assert_serving(s3, bucket)


def test_upload_part_copy_carries_the_uploads_checksum(s3, bucket):
    body = data_of(6 * MiB, "upc")
    s3.put_object(Bucket=bucket, Key="src", Body=body)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst", ChecksumAlgorithm="SHA256")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert first["CopyPartResult"].get("ChecksumSHA256") == b64_sha256(body[:5 * MiB])
    second = s3.upload_part(Bucket=bucket, Key="dst", UploadId=up, PartNumber=2, Body=b"tail", ChecksumAlgorithm="SHA256")
    done = [{"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"],
             "ChecksumSHA256": first["CopyPartResult"]["ChecksumSHA256"]},
            {"PartNumber": 2, "ETag": second["ETag"], "ChecksumSHA256": second["ChecksumSHA256"]}]
    r = s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up, MultipartUpload={"Parts": done})
    assert r.get("ChecksumSHA256") == composite("SHA256", [body[:5 * MiB], b"tail"])
