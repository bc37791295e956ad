"""Object tagging: x-amz-tagging on PutObject / CreateMultipartUpload /
CopyObject (TaggingDirective), Get/Put/DeleteObjectTagging, the
x-amz-tagging-count header, tag limits (count, key/value length, duplicates)
and errors on missing keys.

Expected behaviour follows the AWS S3 API reference (PutObjectTagging,
GetObjectTagging, DeleteObjectTagging, PutObject, CopyObject) and the user
guide page "Categorizing your storage using tags" (up to 10 tags per object,
keys up to 128 and values up to 256 Unicode characters, unique keys).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from helpers import S3_NS, assert_raw_error, expect_error, md5_b64, qkey

MiB = 1024 * 1024


def tagset(s3, bucket, key, **kw) -> dict:
    r = s3.get_object_tagging(Bucket=bucket, Key=key, **kw)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    pairs = [(t["Key"], t["Value"]) for t in r["TagSet"]]
    assert len(pairs) == len({k for k, _ in pairs}), f"duplicate tag keys returned: {pairs}"
    return dict(pairs)


def tags_param(d: dict) -> dict:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in d.items()]}


def tagging_xml(pairs) -> bytes:
    inner = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
    return f'<Tagging xmlns="{S3_NS}"><TagSet>{inner}</TagSet></Tagging>'.encode()


def put_tagging_raw(raw, bucket, key, body: bytes, **params):
    p = {"tagging": None}
    p.update(params)
    return raw.put(f"/{bucket}/{qkey(key)}", params=p, data=body, headers={"Content-MD5": md5_b64(body)})


def header_tagging(d: dict) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in d.items())


# ---------------------------------------------------------------- basics


def test_put_object_with_tagging_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b=2")
    assert tagset(s3, bucket, "k") == {"a": "1", "b": "2"}


def test_tagging_header_is_url_decoded(s3, bucket):
    tags = {"project name": "blue/green", "k+1": "a=b", "empty": "", "unicodé": "välue"}
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging=header_tagging(tags))
    assert tagset(s3, bucket, "k") == tags


def test_object_without_tags_has_empty_tag_set(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert r["TagSet"] == []
    x = raw.get(f"/{bucket}/k", params={"tagging": None})
    assert x.status == 200
    root = x.xml()
    assert root.tag == "Tagging"
    assert root.find("TagSet") is not None, x.content
    assert root.findall("TagSet/Tag") == []


def test_get_object_tagging_raw_xml(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    x = raw.get(f"/{bucket}/k", params={"tagging": None})
    assert x.status == 200
    assert "xml" in x.headers.get("Content-Type", ""), x.headers
    root = x.xml()
    assert [(t.findtext("Key"), t.findtext("Value")) for t in root.findall("TagSet/Tag")] == [("a", "1")]


def test_put_object_tagging_replaces_whole_set(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b=2")
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    r = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param({"c": "3"}))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert tagset(s3, bucket, "k") == {"c": "3"}
    # tagging does not touch the object's data
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h["ETag"] == etag
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_put_object_tagging_with_empty_set_clears(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})
    assert tagset(s3, bucket, "k") == {}


def test_delete_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b=2")
    r = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tagset(s3, bucket, "k") == {}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    # idempotent
    r = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_overwrite_without_tagging_drops_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")
    assert tagset(s3, bucket, "k") == {}


# ---------------------------------------------------------------- x-amz-tagging-count


def test_tagging_count_header_on_get_and_head(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b=2&c=3")
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g.get("TagCount") == 3, g["ResponseMetadata"]["HTTPHeaders"]
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h.get("TagCount") == 3, h["ResponseMetadata"]["HTTPHeaders"]
    assert raw.get(f"/{bucket}/k").headers.get("x-amz-tagging-count") == "3"
    assert raw.head(f"/{bucket}/k").headers.get("x-amz-tagging-count") == "3"

    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param({"only": "one"}))
    assert s3.get_object(Bucket=bucket, Key="k").get("TagCount") == 1
    assert s3.head_object(Bucket=bucket, Key="k").get("TagCount") == 1


def test_no_tagging_count_header_without_tags(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert "x-amz-tagging-count" not in raw.get(f"/{bucket}/k").headers
    assert "x-amz-tagging-count" not in raw.head(f"/{bucket}/k").headers
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="plain")


# ---------------------------------------------------------------- copy & multipart


def test_copy_object_copies_tags_by_default(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=2")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert tagset(s3, bucket, "dst") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="COPY")
    assert tagset(s3, bucket, "dst2") == {"a": "1", "b": "2"}
    # a Tagging header without REPLACE is ignored: tags still come from the source
    s3.copy_object(Bucket=bucket, Key="dst3", CopySource={"Bucket": bucket, "Key": "src"}, Tagging="z=9")
    assert tagset(s3, bucket, "dst3") == {"a": "1", "b": "2"}


def test_copy_object_tagging_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=2")
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE", Tagging="x=9"
    )
    assert tagset(s3, bucket, "dst") == {"x": "9"}
    assert s3.get_object(Bucket=bucket, Key="dst").get("TagCount") == 1
    # source untouched
    assert tagset(s3, bucket, "src") == {"a": "1", "b": "2"}


def test_copy_object_replace_without_tagging_header_clears(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE")
    assert tagset(s3, bucket, "dst") == {}


def test_copy_object_onto_itself_with_replaced_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"self", Tagging="a=1")
    s3.copy_object(
        Bucket=bucket,
        Key="k",
        CopySource={"Bucket": bucket, "Key": "k"},
        TaggingDirective="REPLACE",
        Tagging="b=2",
        MetadataDirective="REPLACE",
    )
    assert tagset(s3, bucket, "k") == {"b": "2"}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"self"


def test_copy_object_invalid_tagging_directive(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    r = raw.put(
        f"/{bucket}/dst",
        headers={"x-amz-copy-source": f"/{bucket}/src", "x-amz-tagging-directive": "BOGUS"},
    )
    assert_raw_error(r, "InvalidArgument", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="dst"), None, 404)


def test_copy_object_replace_with_invalid_tags_is_rejected(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    expect_error(
        lambda: s3.copy_object(
            Bucket=bucket,
            Key="dst",
            CopySource={"Bucket": bucket, "Key": "src"},
            TaggingDirective="REPLACE",
            Tagging="k=" + "v" * 257,
        ),
        "InvalidTag",
        400,
    )
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="dst"), None, 404)


def test_multipart_upload_tagging_applies_after_completion(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="team=storage&tier=gold")["UploadId"]
    p1 = b"a" * (5 * MiB)
    p2 = b"end"
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    # not visible before completion
    expect_error(lambda: s3.get_object_tagging(Bucket=bucket, Key="mp"), "NoSuchKey", 404)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert tagset(s3, bucket, "mp") == {"team": "storage", "tier": "gold"}
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g.get("TagCount") == 2
    assert g["Body"].read() == p1 + p2


def test_multipart_upload_with_invalid_tagging_is_rejected(s3, bucket):
    expect_error(
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="a=1&a=2"),
        "InvalidTag",
        400,
    )
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


# ---------------------------------------------------------------- limits


def test_ten_tags_are_allowed(s3, bucket):
    ten = {f"k{i}": f"v{i}" for i in range(10)}
    s3.put_object(Bucket=bucket, Key="h", Body=b"x", Tagging=header_tagging(ten))
    assert tagset(s3, bucket, "h") == ten
    s3.put_object(Bucket=bucket, Key="p", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="p", Tagging=tags_param(ten))
    assert tagset(s3, bucket, "p") == ten
    assert s3.head_object(Bucket=bucket, Key="p")["TagCount"] == 10


def test_eleven_tags_put_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    eleven = {f"k{i}": f"v{i}" for i in range(11)}
    resp = expect_error(
        lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param(eleven)), "BadRequest", 400
    )
    assert resp["Error"].get("Message")
    assert tagset(s3, bucket, "k") == {"keep": "me"}


def test_eleven_tags_put_object_header(s3, bucket):
    eleven = {f"k{i}": f"v{i}" for i in range(11)}
    expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging=header_tagging(eleven)), "BadRequest", 400
    )
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)


def test_key_and_value_length_boundaries_accepted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    tags = {"k" * 128: "v" * 256}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param(tags))
    assert tagset(s3, bucket, "k") == tags
    # limits count Unicode characters, not bytes
    tags = {"é" * 128: "ü" * 256}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param(tags))
    assert tagset(s3, bucket, "k") == tags
    s3.put_object(Bucket=bucket, Key="h", Body=b"x", Tagging=header_tagging({"é" * 128: "ü" * 256}))
    assert tagset(s3, bucket, "h") == {"é" * 128: "ü" * 256}


@pytest.mark.parametrize(
    "tags",
    [{"k" * 129: "v"}, {"k": "v" * 257}],
    ids=["key-129", "value-257"],
)
def test_too_long_key_or_value_put_object_tagging(s3, bucket, tags):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param(tags)), "InvalidTag", 400)
    assert tagset(s3, bucket, "k") == {"keep": "me"}


@pytest.mark.parametrize(
    "tagging",
    ["k" * 129 + "=v", "k=" + "v" * 257, "a=1&a=2"],
    ids=["key-129", "value-257", "duplicate"],
)
def test_invalid_tagging_header_on_put_object(s3, bucket, tagging):
    expect_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging=tagging), "InvalidTag", 400)
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="k"), None, 404)


def test_duplicate_keys_put_object_tagging(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    resp = expect_error(
        lambda: s3.put_object_tagging(
            Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}
        ),
        "InvalidTag",
        400,
    )
    assert resp["Error"].get("Message")
    r = put_tagging_raw(raw, bucket, "k", tagging_xml([("a", "1"), ("a", "1")]))
    assert_raw_error(r, "InvalidTag", 400)
    assert tagset(s3, bucket, "k") == {"keep": "me"}


def test_empty_tag_key_is_invalid(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = put_tagging_raw(raw, bucket, "k", tagging_xml([("", "v")]))
    assert_raw_error(r, "InvalidTag", 400)
    assert tagset(s3, bucket, "k") == {}


def test_aws_prefixed_tag_key_is_rejected(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_error(
        lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param({"aws:reserved": "x"})),
        "InvalidTag",
        400,
    )
    assert tagset(s3, bucket, "k") == {}


@pytest.mark.parametrize(
    "body",
    [b"not xml at all", b"<Tagging><TagSet><Tag><Key>a</Key></Tag>", b"<Tagging><TagSet><Tag><Value>x</Value></Tag></TagSet></Tagging>"],
    ids=["not-xml", "truncated", "missing-key"],
)
def test_malformed_tagging_xml(s3, raw, bucket, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    r = put_tagging_raw(raw, bucket, "k", body)
    assert_raw_error(r, "MalformedXML", 400)
    assert tagset(s3, bucket, "k") == {"keep": "me"}


# ---------------------------------------------------------------- missing targets


def test_tagging_missing_key_is_no_such_key(s3, bucket):
    expect_error(lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"), "NoSuchKey", 404)
    expect_error(
        lambda: s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging=tags_param({"a": "1"})), "NoSuchKey", 404
    )
    expect_error(lambda: s3.delete_object_tagging(Bucket=bucket, Key="missing"), "NoSuchKey", 404)
    # PutObjectTagging must not create the object
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="missing"), None, 404)


def test_tagging_missing_bucket_is_no_such_bucket(s3):
    b = "no-such-bucket-tagging-x1"
    expect_error(lambda: s3.get_object_tagging(Bucket=b, Key="k"), "NoSuchBucket", 404)
    expect_error(lambda: s3.put_object_tagging(Bucket=b, Key="k", Tagging=tags_param({"a": "1"})), "NoSuchBucket", 404)
    expect_error(lambda: s3.delete_object_tagging(Bucket=b, Key="k"), "NoSuchBucket", 404)


def test_tagging_after_delete_is_no_such_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    s3.delete_object(Bucket=bucket, Key="k")
    expect_error(lambda: s3.get_object_tagging(Bucket=bucket, Key="k"), "NoSuchKey", 404)
    # a new object under the same key does not inherit the old tags
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")
    assert tagset(s3, bucket, "k") == {}


# ---------------------------------------------------------------- versions


@pytest.fixture
def two_versions(s3, vbucket):
    """Key "k": v1 tagged {gen: 1, old: a} (2 tags), v2 (current) tagged {gen: 2}."""
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1", Tagging="gen=1&old=a")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2", Tagging="gen=2")["VersionId"]
    assert v1 != v2
    return vbucket, v1, v2


def test_version_tag_counts_are_per_version(s3, two_versions):
    bucket, v1, v2 = two_versions
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 2
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 2
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 1


def test_get_object_tagging_by_version_id(s3, two_versions):
    bucket, v1, v2 = two_versions
    assert tagset(s3, bucket, "k") == {"gen": "2"}
    assert tagset(s3, bucket, "k", VersionId=v2) == {"gen": "2"}
    assert tagset(s3, bucket, "k", VersionId=v1) == {"gen": "1", "old": "a"}


def test_get_object_tagging_by_version_id_returns_version_header(s3, two_versions):
    bucket, v1, v2 = two_versions
    r = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert r.get("VersionId") == v1, r["ResponseMetadata"]["HTTPHeaders"]
    r = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert r.get("VersionId") == v2, r["ResponseMetadata"]["HTTPHeaders"]


def test_put_object_tagging_by_version_id_leaves_current_alone(s3, two_versions):
    bucket, v1, v2 = two_versions
    r = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging=tags_param({"x": "1", "y": "2", "z": "3"}))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    # the current version's tags are untouched ...
    assert tagset(s3, bucket, "k") == {"gen": "2"}
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 1
    # ... and the named version got the new set
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 3
    assert r.get("VersionId") == v1, r["ResponseMetadata"]["HTTPHeaders"]


def test_delete_object_tagging_by_version_id_leaves_current_alone(s3, two_versions):
    bucket, v1, v2 = two_versions
    r = s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tagset(s3, bucket, "k") == {"gen": "2"}
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="k", VersionId=v1)
    assert r.get("VersionId") == v1, r["ResponseMetadata"]["HTTPHeaders"]


def test_plain_put_object_tagging_tags_current_version_only(s3, two_versions):
    bucket, v1, v2 = two_versions
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags_param({"cur": "1", "b": "2", "c": "3"}))
    assert tagset(s3, bucket, "k") == {"cur": "1", "b": "2", "c": "3"}
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 3
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 2


def test_tagging_unknown_version_id(s3, two_versions):
    bucket, v1, v2 = two_versions
    ghost = v1[:-1] + ("0" if v1[-1] != "0" else "1")
    expect_error(lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=ghost), "NoSuchVersion", 404)
    expect_error(
        lambda: s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=ghost, Tagging=tags_param({"x": "1"})),
        "NoSuchVersion",
        404,
    )
    assert tagset(s3, bucket, "k") == {"gen": "2"}


def test_tagging_malformed_version_id(s3, raw, two_versions):
    bucket, v1, v2 = two_versions
    r = raw.get(f"/{bucket}/k", params={"tagging": None, "versionId": "not-a-version-id"})
    assert_raw_error(r, "InvalidArgument", 400)
    r = put_tagging_raw(raw, bucket, "k", tagging_xml([("x", "1")]), versionId="not-a-version-id")
    assert_raw_error(r, "InvalidArgument", 400)
    assert tagset(s3, bucket, "k") == {"gen": "2"}
