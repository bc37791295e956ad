"""Bucket versioning: Get/PutBucketVersioning, versioned PutObject /
CopyObject / CompleteMultipartUpload, GET/HEAD/DELETE by versionId, delete
markers, suspended versioning (the "null" version), DeleteObjects with
version ids, ListObjectVersions (prefix, delimiter, pagination, IsLatest,
DeleteMarkers) and DeleteBucket on a bucket that still holds versions.

Expected behaviour follows the AWS S3 API reference (GetObject, HeadObject,
DeleteObject, DeleteObjects, ListObjectVersions, PutBucketVersioning) and the
S3 user guide (Working with delete markers, versioning-suspended buckets).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from helpers import (
    ACCESS_KEY,
    SECRET_KEY,
    S3_NS,
    assert_raw_error,
    expect_error,
    md5_b64,
    md5_hex,
)

MiB = 1024 * 1024


# ---------------------------------------------------------------- helpers


def set_versioning(s3, bucket, status):
    r = s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def all_versions(s3, bucket, **kw):
    """Every version and delete marker, walked with the paginator."""
    versions, markers, prefixes = [], [], []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kw):
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return versions, markers, prefixes


def headers(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def other_version_id(vid: str) -> str:
    """A version id of the same shape as `vid` that does not exist."""
    last = vid[-1]
    repl = "0" if last != "0" else "1"
    return vid[:-1] + repl


def put_versioning_raw(raw, bucket, body: bytes):
    return raw.put(f"/{bucket}", params={"versioning": None}, data=body, headers={"Content-MD5": md5_b64(body)})


def raw_list_versions(raw, bucket, **params):
    """The ListVersionsResult entries in document order: (tag, Key, VersionId, IsLatest)."""
    p = {"versions": None}
    p.update(params)
    r = raw.get(f"/{bucket}", params=p)
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "ListVersionsResult", root.tag
    out = []
    for el in root:
        if el.tag in ("Version", "DeleteMarker"):
            out.append((el.tag, el.findtext("Key"), el.findtext("VersionId"), el.findtext("IsLatest")))
    return root, out


@pytest.fixture
def resource(server):
    return boto3.resource(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=server.region,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


# ---------------------------------------------------------------- Get/PutBucketVersioning


def test_new_bucket_has_no_versioning_status(s3, bucket):
    r = s3.get_bucket_versioning(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in r, r
    assert "MFADelete" not in r, r


def test_new_bucket_versioning_raw_xml_is_empty_configuration(raw, bucket):
    r = raw.get(f"/{bucket}", params={"versioning": None})
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "VersioningConfiguration"
    assert root.find("Status") is None, r.content


def test_put_versioning_roundtrip(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    set_versioning(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


@pytest.mark.parametrize(
    "body",
    [
        b"this is not xml",
        f'<VersioningConfiguration xmlns="{S3_NS}"><Status>Bogus</Status></VersioningConfiguration>'.encode(),
        f'<VersioningConfiguration xmlns="{S3_NS}"><Status>Enabled</Status>'.encode(),
    ],
    ids=["not-xml", "bad-status", "truncated"],
)
def test_put_versioning_malformed_xml(raw, s3, bucket, body):
    r = put_versioning_raw(raw, bucket, body)
    assert_raw_error(r, "MalformedXML", 400)
    # the bucket's state is unchanged
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_versioning_on_missing_bucket(s3):
    expect_error(lambda: s3.get_bucket_versioning(Bucket="no-such-bucket-versioning-x1"), "NoSuchBucket", 404)
    expect_error(
        lambda: s3.put_bucket_versioning(
            Bucket="no-such-bucket-versioning-x1", VersioningConfiguration={"Status": "Enabled"}
        ),
        "NoSuchBucket",
        404,
    )


# ---------------------------------------------------------------- writes return version ids


def test_put_object_returns_distinct_version_ids(s3, vbucket):
    ids = []
    for i in range(3):
        r = s3.put_object(Bucket=vbucket, Key="k", Body=b"body-%d" % i)
        assert r.get("VersionId"), f"PutObject #{i} returned no x-amz-version-id: {headers(r)}"
        assert r["VersionId"] != "null"
        ids.append(r["VersionId"])
    assert len(set(ids)) == 3, ids
    # a plain GET returns the newest version and names it
    g = s3.get_object(Bucket=vbucket, Key="k")
    assert g["Body"].read() == b"body-2"
    assert g["VersionId"] == ids[2]
    h = s3.head_object(Bucket=vbucket, Key="k")
    assert h["VersionId"] == ids[2]


def test_get_and_head_by_version_id(s3, vbucket):
    v1 = s3.put_object(
        Bucket=vbucket, Key="doc", Body=b"first", ContentType="text/one", Metadata={"gen": "1"}
    )["VersionId"]
    v2 = s3.put_object(
        Bucket=vbucket, Key="doc", Body=b"second version", ContentType="text/two", Metadata={"gen": "2"}
    )["VersionId"]
    assert v1 != v2

    g1 = s3.get_object(Bucket=vbucket, Key="doc", VersionId=v1)
    assert g1["Body"].read() == b"first"
    assert g1["VersionId"] == v1
    assert g1["ETag"] == f'"{md5_hex(b"first")}"'
    assert g1["ContentType"] == "text/one"
    assert g1["Metadata"] == {"gen": "1"}
    assert g1["ContentLength"] == 5

    h1 = s3.head_object(Bucket=vbucket, Key="doc", VersionId=v1)
    assert h1["VersionId"] == v1
    assert h1["ContentLength"] == 5
    assert h1["ETag"] == f'"{md5_hex(b"first")}"'
    assert h1["ContentType"] == "text/one"
    assert h1["Metadata"] == {"gen": "1"}

    g2 = s3.get_object(Bucket=vbucket, Key="doc", VersionId=v2)
    assert g2["Body"].read() == b"second version"
    assert g2["Metadata"] == {"gen": "2"}
    h2 = s3.head_object(Bucket=vbucket, Key="doc", VersionId=v2)
    assert h2["ContentLength"] == len(b"second version")
    assert h2["ContentType"] == "text/two"

    # range GET on an old version
    r = s3.get_object(Bucket=vbucket, Key="doc", VersionId=v1, Range="bytes=1-3")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["Body"].read() == b"irs"


def test_copy_object_returns_version_id(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="src", Body=b"copy me")
    c1 = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    c2 = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    assert c1.get("VersionId") and c2.get("VersionId"), (headers(c1), headers(c2))
    assert c1["VersionId"] != c2["VersionId"]
    assert s3.get_object(Bucket=vbucket, Key="dst", VersionId=c1["VersionId"])["Body"].read() == b"copy me"
    versions, _, _ = all_versions(s3, vbucket, Prefix="dst")
    assert [v["VersionId"] for v in versions] == [c2["VersionId"], c1["VersionId"]]


def test_copy_object_from_source_version(s3, vbucket, make_bucket):
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"old source")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="src", Body=b"new source")["VersionId"]

    c = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert c.get("CopySourceVersionId") == v1, headers(c)
    assert c.get("VersionId") and c["VersionId"] not in (v1, v2)
    assert c["CopyObjectResult"]["ETag"] == f'"{md5_hex(b"old source")}"'
    assert s3.get_object(Bucket=vbucket, Key="dst")["Body"].read() == b"old source"

    # into an unversioned bucket: bytes of the requested version, no x-amz-version-id
    other = make_bucket()
    c2 = s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert c2.get("CopySourceVersionId") == v1, headers(c2)
    assert s3.get_object(Bucket=other, Key="dst")["Body"].read() == b"old source"


def test_copy_object_without_source_version_reports_current_source_version(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="src", Body=b"a")
    v2 = s3.put_object(Bucket=vbucket, Key="src", Body=b"b")["VersionId"]
    c = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    assert c.get("CopySourceVersionId") == v2, headers(c)


def test_copy_object_from_delete_marker_version_is_rejected(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="src", Body=b"a")
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    # the current version is a delete marker: source not found
    expect_error(
        lambda: s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"}),
        "NoSuchKey",
        404,
    )
    # AWS: a delete marker named as the copy source version → 400 InvalidRequest
    expect_error(
        lambda: s3.copy_object(
            Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker}
        ),
        "InvalidRequest",
        400,
    )


def test_complete_multipart_upload_returns_version_id(s3, vbucket):
    v0 = s3.put_object(Bucket=vbucket, Key="mp", Body=b"before")["VersionId"]
    part1 = b"x" * (5 * MiB)
    part2 = b"tail"
    uid = s3.create_multipart_upload(Bucket=vbucket, Key="mp")["UploadId"]
    e1 = s3.upload_part(Bucket=vbucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=vbucket, Key="mp", UploadId=uid, PartNumber=2, Body=part2)["ETag"]
    done = s3.complete_multipart_upload(
        Bucket=vbucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert done.get("VersionId"), f"CompleteMultipartUpload returned no VersionId: {headers(done)}"
    assert done["VersionId"] != v0
    g = s3.get_object(Bucket=vbucket, Key="mp", VersionId=done["VersionId"])
    assert g["Body"].read() == part1 + part2
    assert g["VersionId"] == done["VersionId"]
    assert s3.get_object(Bucket=vbucket, Key="mp", VersionId=v0)["Body"].read() == b"before"
    versions, _, _ = all_versions(s3, vbucket, Prefix="mp")
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(done["VersionId"], True), (v0, False)]


# ---------------------------------------------------------------- delete markers


def test_delete_creates_delete_marker(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"keep me")["VersionId"]
    d = s3.delete_object(Bucket=vbucket, Key="k")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert d.get("DeleteMarker") is True, headers(d)
    marker = d.get("VersionId")
    assert marker and marker not in (v1, "null"), headers(d)

    # the old version is still there
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"keep me"
    # the key no longer lists
    assert s3.list_objects_v2(Bucket=vbucket).get("KeyCount") == 0

    versions, markers, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, False)]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [("k", marker, True)]


def test_get_when_current_version_is_delete_marker(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    resp = expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k"), "NoSuchKey", 404)
    h = headers(resp)
    assert h.get("x-amz-delete-marker") == "true", h
    assert h.get("x-amz-version-id") == marker, h

    resp = expect_error(lambda: s3.head_object(Bucket=vbucket, Key="k"), None, 404)
    h = headers(resp)
    assert h.get("x-amz-delete-marker") == "true", h
    assert h.get("x-amz-version-id") == marker, h


def test_get_delete_marker_by_version_id_is_method_not_allowed(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=marker), "MethodNotAllowed", 405)
    expect_error(lambda: s3.head_object(Bucket=vbucket, Key="k", VersionId=marker), None, 405)


def test_get_delete_marker_by_version_id_headers(s3, vbucket):
    """GetObject/HeadObject docs: a delete marker named by versionId answers 405
    with Last-Modified, and x-amz-delete-marker: true."""
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    for fn in (
        lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=marker),
        lambda: s3.head_object(Bucket=vbucket, Key="k", VersionId=marker),
    ):
        resp = expect_error(fn, None, 405)
        h = headers(resp)
        assert h.get("x-amz-delete-marker") == "true", h
        assert h.get("last-modified", "").endswith("GMT"), h


def test_delete_marker_by_version_id_restores_previous_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"restore me")["VersionId"]
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    d = s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert d.get("VersionId") == marker, headers(d)
    assert d.get("DeleteMarker") is True, headers(d)

    g = s3.get_object(Bucket=vbucket, Key="k")
    assert g["Body"].read() == b"restore me"
    assert g["VersionId"] == v1
    versions, markers, _ = all_versions(s3, vbucket)
    assert markers == []
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, True)]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket).get("Contents", [])] == ["k"]


def test_delete_latest_version_by_id_promotes_previous(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    v3 = s3.put_object(Bucket=vbucket, Key="k", Body=b"three")["VersionId"]

    d = s3.delete_object(Bucket=vbucket, Key="k", VersionId=v3)
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert d.get("VersionId") == v3, headers(d)
    assert not d.get("DeleteMarker"), headers(d)

    g = s3.get_object(Bucket=vbucket, Key="k")
    assert g["Body"].read() == b"two"
    assert g["VersionId"] == v2
    assert s3.head_object(Bucket=vbucket, Key="k")["ContentLength"] == 3
    versions, _, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v2, True), (v1, False)]
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=v3), "NoSuchVersion", 404)

    # deleting a non-current version leaves the current one alone
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"two"
    versions, _, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v2, True)]

    # deleting the last version by id removes the key entirely (no marker)
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert all_versions(s3, vbucket) == ([], [], [])
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k"), "NoSuchKey", 404)


def test_put_after_delete_marker_becomes_current(s3, raw, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"two"
    _, entries = raw_list_versions(raw, vbucket)
    assert entries == [
        ("Version", "k", v2, "true"),
        ("DeleteMarker", "k", marker, "false"),
        ("Version", "k", v1, "false"),
    ]


def test_delete_missing_key_in_versioned_bucket_creates_marker(s3, vbucket):
    d = s3.delete_object(Bucket=vbucket, Key="never-existed")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert d.get("DeleteMarker") is True
    _, markers, _ = all_versions(s3, vbucket)
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [("never-existed", d["VersionId"], True)]


# ---------------------------------------------------------------- bad version ids


def test_unknown_version_id_is_no_such_version(s3, raw, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    ghost = other_version_id(v1)
    resp = expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=ghost), "NoSuchVersion", 404)
    assert resp["Error"].get("VersionId") in (None, ghost)
    expect_error(lambda: s3.head_object(Bucket=vbucket, Key="k", VersionId=ghost), None, 404)
    r = raw.get(f"/{vbucket}/k", params={"versionId": ghost})
    assert_raw_error(r, "NoSuchVersion", 404)
    # a well-formed id for a key that does not exist at all
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="nope", VersionId=v1), "NoSuchVersion", 404)


@pytest.mark.parametrize("bad", ["not-a-version-id", "zzzz", "../../etc/passwd"])
def test_malformed_version_id_is_invalid_argument(s3, raw, vbucket, bad):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    r = raw.get(f"/{vbucket}/k", params={"versionId": bad})
    err = assert_raw_error(r, "InvalidArgument", 400)
    assert err.get("ArgumentName", "versionId").lower() == "versionid", err
    r = raw.head(f"/{vbucket}/k", params={"versionId": bad})
    assert r.status == 400, r
    r = raw.delete(f"/{vbucket}/k", params={"versionId": bad})
    assert_raw_error(r, "InvalidArgument", 400)
    # nothing was deleted
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"x"
    _, markers, _ = all_versions(s3, vbucket)
    assert markers == []


def test_empty_version_id_is_invalid_argument(raw, s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    r = raw.get(f"/{vbucket}/k", params={"versionId": ""})
    assert_raw_error(r, "InvalidArgument", 400)


# ---------------------------------------------------------------- suspended versioning


def test_suspended_put_writes_null_version_and_replaces_it(s3, raw, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"versioned one")["VersionId"]
    set_versioning(s3, vbucket, "Suspended")

    s3.put_object(Bucket=vbucket, Key="k", Body=b"null A")
    versions, _, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v1, False)]
    g = s3.get_object(Bucket=vbucket, Key="k")
    assert g["Body"].read() == b"null A"
    assert g.get("VersionId") in (None, "null")

    s3.put_object(Bucket=vbucket, Key="k", Body=b"null B, longer")
    versions, _, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v1, False)], (
        "a second PUT while suspended must replace the null version, not add one"
    )
    assert versions[0]["Size"] == len(b"null B, longer")
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId="null")["Body"].read() == b"null B, longer"
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"versioned one"


def test_suspended_then_enabled_keeps_null_version(s3, vbucket):
    set_versioning(s3, vbucket, "Suspended")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null one")
    set_versioning(s3, vbucket, "Enabled")
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"real two")["VersionId"]
    assert v2 and v2 != "null"
    versions, _, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v2, True), ("null", False)]
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId="null")["Body"].read() == b"null one"


def test_suspended_delete_replaces_null_version_with_null_marker(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"versioned")["VersionId"]
    set_versioning(s3, vbucket, "Suspended")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null data")
    d = s3.delete_object(Bucket=vbucket, Key="k")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert d.get("DeleteMarker") is True, headers(d)
    assert d.get("VersionId") == "null", headers(d)
    versions, markers, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", True)]
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k"), "NoSuchKey", 404)


def test_existing_objects_become_null_version_when_versioning_enabled(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"pre-versioning")
    set_versioning(s3, bucket, "Enabled")
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"post")["VersionId"]
    versions, _, _ = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v2, True), ("null", False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"pre-versioning"


# ---------------------------------------------------------------- DeleteObjects with versions


def test_delete_objects_with_version_ids(s3, vbucket):
    k1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"k1")["VersionId"]
    k2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"k2")["VersionId"]
    j1 = s3.put_object(Bucket=vbucket, Key="j", Body=b"j1")["VersionId"]

    r = s3.delete_objects(
        Bucket=vbucket,
        Delete={"Objects": [{"Key": "k", "VersionId": k1}, {"Key": "j"}]},
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not r.get("Errors"), r.get("Errors")
    deleted = {d["Key"]: d for d in r["Deleted"]}
    assert set(deleted) == {"k", "j"}
    assert deleted["k"].get("VersionId") == k1
    assert not deleted["k"].get("DeleteMarker")
    assert deleted["j"].get("DeleteMarker") is True, deleted["j"]
    j_marker = deleted["j"].get("DeleteMarkerVersionId")
    assert j_marker and j_marker != j1, deleted["j"]

    versions, markers, _ = all_versions(s3, vbucket)
    assert sorted((v["Key"], v["VersionId"], v["IsLatest"]) for v in versions) == sorted(
        [("k", k2, True), ("j", j1, False)]
    )
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [("j", j_marker, True)]



def test_delete_objects_removes_delete_marker_by_version_id(s3, vbucket):
    """DeleteObjects docs (DeletedObject): deleting a marker by id reports
    DeleteMarker true, and DeleteMarkerVersionId = the version id deleted."""
    j1 = s3.put_object(Bucket=vbucket, Key="j", Body=b"j1")["VersionId"]
    j_marker = s3.delete_object(Bucket=vbucket, Key="j")["VersionId"]
    r = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "j", "VersionId": j_marker}]})
    assert not r.get("Errors"), r.get("Errors")
    assert len(r["Deleted"]) == 1
    d = r["Deleted"][0]
    assert d["Key"] == "j" and d.get("VersionId") == j_marker, d
    assert d.get("DeleteMarker") is True, d
    # j comes back
    g = s3.get_object(Bucket=vbucket, Key="j")
    assert g["Body"].read() == b"j1" and g["VersionId"] == j1
    assert all_versions(s3, vbucket)[1] == []
    assert d.get("DeleteMarkerVersionId") == j_marker, d


def test_delete_objects_version_ids_quiet(s3, vbucket):
    a = s3.put_object(Bucket=vbucket, Key="a", Body=b"a")["VersionId"]
    b = s3.put_object(Bucket=vbucket, Key="b", Body=b"b")["VersionId"]
    r = s3.delete_objects(
        Bucket=vbucket,
        Delete={"Objects": [{"Key": "a", "VersionId": a}, {"Key": "b", "VersionId": b}], "Quiet": True},
    )
    assert not r.get("Deleted") and not r.get("Errors"), r
    assert all_versions(s3, vbucket) == ([], [], [])


def test_delete_objects_malformed_version_id_reports_error(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="a", Body=b"a")
    r = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "a", "VersionId": "not-a-version-id"}]})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    errors = r.get("Errors", [])
    assert [(e["Key"], e["Code"]) for e in errors] == [("a", "NoSuchVersion")] or [
        (e["Key"], e["Code"]) for e in errors
    ] == [("a", "InvalidArgument")], r
    assert s3.get_object(Bucket=vbucket, Key="a")["Body"].read() == b"a"


# ---------------------------------------------------------------- ListObjectVersions


@pytest.fixture
def populated(s3, vbucket):
    """A versioned bucket with a history. Returns (bucket, expected) where
    expected is the full listing in S3 order: (kind, key, version id, is latest)."""
    history = []  # (key, vid, kind) in creation order

    def put(key, body):
        history.append((key, s3.put_object(Bucket=vbucket, Key=key, Body=body)["VersionId"], "Version"))

    def delete(key):
        r = s3.delete_object(Bucket=vbucket, Key=key)
        assert r.get("DeleteMarker") is True
        history.append((key, r["VersionId"], "DeleteMarker"))

    put("a/1", b"a1-v1")
    put("b", b"b-v1")
    put("a/1", b"a1-v2")
    put("a/2", b"a2-v1")
    put("b", b"b-v2")
    put("c/x/y", b"cxy-v1")
    put("b", b"b-v3")
    delete("b")
    put("d", b"d-v1")
    delete("d")
    put("d", b"d-v2")
    put("e", b"e-v1")

    expected = []
    for key in sorted({k for k, _, _ in history}):
        entries = [(kind, k, vid) for k, vid, kind in history if k == key][::-1]
        for i, (kind, k, vid) in enumerate(entries):
            expected.append((kind, k, vid, "true" if i == 0 else "false"))
    return vbucket, expected


def test_list_versions_full_order_and_is_latest(raw, populated):
    bucket, expected = populated
    root, entries = raw_list_versions(raw, bucket)
    assert entries == expected
    assert root.findtext("IsTruncated") == "false"
    assert root.findtext("Name") == bucket


def test_list_versions_boto3_fields(s3, populated):
    bucket, expected = populated
    r = s3.list_object_versions(Bucket=bucket)
    assert r["IsTruncated"] is False
    want_versions = [(k, v, l == "true") for kind, k, v, l in expected if kind == "Version"]
    want_markers = [(k, v, l == "true") for kind, k, v, l in expected if kind == "DeleteMarker"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == want_versions
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]] == want_markers
    for v in r["Versions"]:
        assert v["ETag"].startswith('"') and v["Size"] > 0 and "LastModified" in v
    for m in r["DeleteMarkers"]:
        assert "ETag" not in m and "Size" not in m
        assert "LastModified" in m
    # sizes/etags belong to the right version
    by_id = {v["VersionId"]: v for v in r["Versions"]}
    b_versions = [v for kind, k, v, _ in expected if kind == "Version" and k == "b"]
    assert [by_id[v]["Size"] for v in b_versions] == [4, 4, 4]
    assert by_id[b_versions[-1]]["ETag"] == f'"{md5_hex(b"b-v1")}"'


def test_list_versions_prefix(s3, populated):
    bucket, expected = populated
    versions, markers, prefixes = all_versions(s3, bucket, Prefix="a/")
    assert prefixes == []
    assert markers == []
    assert [(v["Key"], v["VersionId"]) for v in versions] == [
        (k, v) for kind, k, v, _ in expected if k.startswith("a/")
    ]
    versions, markers, _ = all_versions(s3, bucket, Prefix="b")
    assert [(v["Key"], v["IsLatest"]) for v in versions] == [("b", False)] * 3
    assert [(m["Key"], m["IsLatest"]) for m in markers] == [("b", True)]
    assert all_versions(s3, bucket, Prefix="zzz") == ([], [], [])


def test_list_versions_delimiter(s3, populated):
    bucket, expected = populated
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["a/", "c/"]
    assert r.get("Delimiter") == "/"
    keys = sorted({v["Key"] for v in r.get("Versions", [])} | {m["Key"] for m in r.get("DeleteMarkers", [])})
    assert keys == ["b", "d", "e"]
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/", Prefix="c/")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["c/x/"]
    assert not r.get("Versions") and not r.get("DeleteMarkers")
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/", Prefix="c/x/")
    assert [v["Key"] for v in r.get("Versions", [])] == ["c/x/y"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
def test_list_versions_pagination_matches_full_listing(s3, populated, page_size):
    bucket, expected = populated
    full = s3.list_object_versions(Bucket=bucket)
    pages = list(
        s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": page_size})
    )
    assert len(pages) >= -(-len(expected) // page_size), f"{len(pages)} pages for {len(expected)} entries"
    versions, markers = [], []
    for i, p in enumerate(pages):
        n = len(p.get("Versions", [])) + len(p.get("DeleteMarkers", []))
        assert 1 <= n <= page_size, f"page {i} has {n} entries (max-keys {page_size})"
        assert p["MaxKeys"] == page_size
        if i < len(pages) - 1:
            assert p["IsTruncated"] is True
            assert p.get("NextKeyMarker"), p
            assert p.get("NextVersionIdMarker"), p
        else:
            assert p["IsTruncated"] is False
        versions += p.get("Versions", [])
        markers += p.get("DeleteMarkers", [])
    strip = lambda items: [(x["Key"], x["VersionId"], x["IsLatest"]) for x in items]  # noqa: E731
    assert strip(versions) == strip(full["Versions"])
    assert strip(markers) == strip(full["DeleteMarkers"])


@pytest.mark.parametrize("page_size", [1, 2])
def test_list_versions_pagination_with_delimiter(s3, populated, page_size):
    bucket, _ = populated
    full = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    v, m, p = all_versions(s3, bucket, Delimiter="/", PaginationConfig={"PageSize": page_size})
    strip = lambda items: [(x["Key"], x["VersionId"]) for x in items]  # noqa: E731
    assert strip(v) == strip(full.get("Versions", []))
    assert strip(m) == strip(full.get("DeleteMarkers", []))
    assert p == [x["Prefix"] for x in full.get("CommonPrefixes", [])] == ["a/", "c/"]


def test_list_versions_next_markers_point_at_last_entry(raw, populated):
    bucket, expected = populated
    root, entries = raw_list_versions(raw, bucket, **{"max-keys": "2"})
    assert entries == expected[:2]
    assert root.findtext("IsTruncated") == "true"
    assert root.findtext("MaxKeys") == "2"
    assert root.findtext("NextKeyMarker") == expected[1][1]
    assert root.findtext("NextVersionIdMarker") == expected[1][2]


def test_list_versions_key_marker_and_version_id_marker(s3, raw, populated):
    bucket, expected = populated
    # key-marker alone: keys strictly after it
    _, entries = raw_list_versions(raw, bucket, **{"key-marker": "b"})
    assert entries == [e for e in expected if e[1] > "b"]
    # key-marker + version-id-marker: the rest of that key's versions, then later keys
    b_entries = [e for e in expected if e[1] == "b"]
    assert len(b_entries) == 4
    _, entries = raw_list_versions(raw, bucket, **{"key-marker": "b", "version-id-marker": b_entries[1][2]})
    assert entries == b_entries[2:] + [e for e in expected if e[1] > "b"]
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="b", VersionIdMarker=b_entries[1][2])
    assert r["KeyMarker"] == "b"
    assert r["VersionIdMarker"] == b_entries[1][2]


def test_list_versions_version_id_marker_without_key_marker_is_invalid(raw, populated):
    bucket, expected = populated
    r = raw.get(f"/{bucket}", params={"versions": None, "version-id-marker": expected[0][2]})
    assert_raw_error(r, "InvalidArgument", 400)


def test_list_versions_never_versioned_bucket_is_all_null(s3, raw, bucket):
    for k in ["x", "y/z", "a"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    s3.put_object(Bucket=bucket, Key="x", Body=b"x again")
    r = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == [
        ("a", "null", True),
        ("x", "null", True),
        ("y/z", "null", True),
    ]
    assert not r.get("DeleteMarkers")
    sizes = {v["Key"]: v["Size"] for v in r["Versions"]}
    assert sizes == {"a": 1, "x": 7, "y/z": 3}
    assert s3.get_object(Bucket=bucket, Key="x", VersionId="null")["Body"].read() == b"x again"
    _, entries = raw_list_versions(raw, bucket)
    assert entries == [("Version", k, "null", "true") for k in ["a", "x", "y/z"]]


def test_never_versioned_bucket_real_version_id_is_no_such_version(s3, bucket, make_bucket):
    other = make_bucket()
    s3.put_bucket_versioning(Bucket=other, VersioningConfiguration={"Status": "Enabled"})
    vid = s3.put_object(Bucket=other, Key="k", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=other, Key="k", VersionId=vid)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=vid), "NoSuchVersion", 404)
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"x"


def test_list_versions_missing_bucket(s3):
    expect_error(lambda: s3.list_object_versions(Bucket="no-such-bucket-versions-x1"), "NoSuchBucket", 404)


# ---------------------------------------------------------------- DeleteBucket


def test_delete_bucket_with_only_noncurrent_versions_and_markers_is_not_empty(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=vbucket, Key="k")  # marker current, one non-current version
    assert s3.list_objects_v2(Bucket=vbucket)["KeyCount"] == 0
    expect_error(lambda: s3.delete_bucket(Bucket=vbucket), "BucketNotEmpty", 409)
    s3.head_bucket(Bucket=vbucket)


def test_delete_bucket_with_only_delete_markers_is_not_empty(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=vbucket, Key="k")
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    versions, markers, _ = all_versions(s3, vbucket)
    assert versions == [] and len(markers) == 1
    expect_error(lambda: s3.delete_bucket(Bucket=vbucket), "BucketNotEmpty", 409)


def test_object_versions_delete_empties_bucket(s3, resource, make_bucket):
    name = make_bucket()
    set_versioning(s3, name, "Enabled")
    for i in range(3):
        s3.put_object(Bucket=name, Key="k", Body=b"%d" % i)
        s3.put_object(Bucket=name, Key=f"dir/{i}", Body=b"d")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_object(Bucket=name, Key="dir/0")
    versions, markers, _ = all_versions(s3, name)
    assert (len(versions), len(markers)) == (6, 2)

    b = resource.Bucket(name)
    b.object_versions.delete()
    assert all_versions(s3, name) == ([], [], [])
    r = s3.delete_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.head_bucket(Bucket=name), None, 404)


# ---------------------------------------------------------------- more histories


def test_stacked_delete_markers(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v1")["VersionId"]
    m1 = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    m2 = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    assert len({v1, m1, m2}) == 3
    _, markers, _ = all_versions(s3, vbucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [(m2, True), (m1, False)]
    # removing the top marker exposes the older marker: still deleted
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=m2)
    resp = expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k"), "NoSuchKey", 404)
    assert headers(resp).get("x-amz-delete-marker") == "true"
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=m1)
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"v1"


def test_null_version_in_the_middle_of_a_history(s3, raw, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    set_versioning(s3, vbucket, "Suspended")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null two")
    set_versioning(s3, vbucket, "Enabled")
    v3 = s3.put_object(Bucket=vbucket, Key="k", Body=b"three")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="z", Body=b"z")

    _, entries = raw_list_versions(raw, vbucket)
    assert [e[2] for e in entries if e[1] == "k"] == [v3, "null", v1]

    # paginate one entry at a time across the null version
    versions, _, _ = all_versions(s3, vbucket, PaginationConfig={"PageSize": 1})
    assert [(v["Key"], v["VersionId"]) for v in versions] == [("k", v3), ("k", "null"), ("k", v1), ("z", versions[-1]["VersionId"])]
    # resume explicitly after the null version
    _, entries = raw_list_versions(raw, vbucket, **{"key-marker": "k", "version-id-marker": "null"})
    assert [(e[1], e[2]) for e in entries][:1] == [("k", v1)]
    assert [e[1] for e in entries] == ["k", "z"]

    # the null version can be read and deleted by id
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId="null")["Body"].read() == b"null two"
    d = s3.delete_object(Bucket=vbucket, Key="k", VersionId="null")
    assert d.get("VersionId") == "null", headers(d)
    versions, _, _ = all_versions(s3, vbucket, Prefix="k")
    assert [v["VersionId"] for v in versions] == [v3, v1]
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId="null"), "NoSuchVersion", 404)


def test_suspended_put_over_null_delete_marker_replaces_it(s3, vbucket):
    """A null version written over a null delete marker replaces the marker (one
    "null" version per key): once that version is deleted, no marker comes back."""
    set_versioning(s3, vbucket, "Suspended")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"one")
    s3.delete_object(Bucket=vbucket, Key="k")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"two")
    versions, markers, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True)]
    assert markers == []
    s3.delete_object(Bucket=vbucket, Key="k", VersionId="null")
    assert all_versions(s3, vbucket) == ([], [], [])
    expect_error(lambda: s3.head_object(Bucket=vbucket, Key="k"), None, 404)


def test_suspended_put_replaces_noncurrent_null_version(s3, vbucket):
    set_versioning(s3, vbucket, "Suspended")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null old")
    set_versioning(s3, vbucket, "Enabled")
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v2")["VersionId"]
    set_versioning(s3, vbucket, "Suspended")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null new")
    versions, _, _ = all_versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v2, False)]
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId="null")["Body"].read() == b"null new"


def test_null_version_id_on_key_without_null_version(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    expect_error(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId="null"), "NoSuchVersion", 404)


def test_never_versioned_bucket_pagination_null_markers(s3, raw, bucket):
    for k in ["a", "b", "c"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    root, entries = raw_list_versions(raw, bucket, **{"max-keys": "1"})
    assert entries == [("Version", "a", "null", "true")]
    assert root.findtext("IsTruncated") == "true"
    assert root.findtext("NextKeyMarker") == "a"
    assert root.findtext("NextVersionIdMarker") == "null"
    versions, _, _ = all_versions(s3, bucket, PaginationConfig={"PageSize": 1})
    assert [(v["Key"], v["VersionId"]) for v in versions] == [("a", "null"), ("b", "null"), ("c", "null")]


def test_list_versions_url_encoded_keys(s3, vbucket):
    keys = ["dir one/é x", "dir one/plain", "t+a&b"]
    ids = {k: s3.put_object(Bucket=vbucket, Key=k, Body=b"x")["VersionId"] for k in keys}
    versions, _, _ = all_versions(s3, vbucket)
    # S3 lists keys in UTF-8 binary order
    assert [(v["Key"], v["VersionId"]) for v in versions] == [(k, ids[k]) for k in sorted(keys, key=str.encode)]
    _, _, prefixes = all_versions(s3, vbucket, Delimiter="/")
    assert prefixes == ["dir one/"]
    g = s3.get_object(Bucket=vbucket, Key="dir one/é x", VersionId=ids["dir one/é x"])
    assert g["Body"].read() == b"x"


def test_concurrent_puts_keep_every_version(server, vbucket):
    import threading

    from helpers import make_client

    n = 12
    barrier = threading.Barrier(n)
    results = [None] * n
    clients = [make_client(server.endpoint, server.region) for _ in range(n)]

    def worker(i):
        barrier.wait()
        try:
            results[i] = clients[i].put_object(Bucket=vbucket, Key="hot", Body=b"writer-%02d" % i)["VersionId"]
        except Exception as exc:  # pragma: no cover - reported below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, str) and r for r in results), results
    assert len(set(results)) == n
    s3 = clients[0]
    versions, _, _ = all_versions(s3, vbucket)
    assert sorted(v["VersionId"] for v in versions) == sorted(results)
    assert sum(v["IsLatest"] for v in versions) == 1
    for i, vid in enumerate(results):
        assert s3.get_object(Bucket=vbucket, Key="hot", VersionId=vid)["Body"].read() == b"writer-%02d" % i
    latest = next(v for v in versions if v["IsLatest"])
    assert versions[0] is latest
    assert s3.get_object(Bucket=vbucket, Key="hot")["VersionId"] == latest["VersionId"]


def test_delete_response_headers_raw(s3, raw, vbucket):
    """x-amz-delete-marker only where a delete marker is made or removed, with the
    version id it concerns; a version deleted by id carries only its id."""
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1")["VersionId"]
    d = raw.delete(f"/{vbucket}/k")
    assert d.status == 204 and d.headers.get("x-amz-delete-marker") == "true", dict(d.headers)
    marker = d.headers["x-amz-version-id"]
    assert [m["VersionId"] for m in s3.list_object_versions(Bucket=vbucket)["DeleteMarkers"]] == [marker]
    d = raw.delete(f"/{vbucket}/k", params={"versionId": marker})
    assert (d.headers.get("x-amz-delete-marker"), d.headers.get("x-amz-version-id")) == ("true", marker)
    d = raw.delete(f"/{vbucket}/k", params={"versionId": v1})
    assert d.headers.get("x-amz-version-id") == v1 and "x-amz-delete-marker" not in d.headers, dict(d.headers)
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    d = raw.delete(f"/{vbucket}/k")
    assert (d.headers.get("x-amz-delete-marker"), d.headers.get("x-amz-version-id")) == ("true", "null")
