"""Bucket operations: CreateBucket, HeadBucket, DeleteBucket, ListBuckets,
GetBucketLocation, bucket-name validation."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import (
    assert_raw_error,
    assert_server_healthy,
    cleanup_bucket,
    expect_error,
    server_fixture,
    unique_bucket_name,
)

OTHER_REGION = "eu-west-1"

# a second engine, in another region
regional_server = server_fixture(OTHER_REGION, external_ok=True)


@pytest.fixture(scope="module")
def s3_regional(regional_server):
    return regional_server.client()


# ---------------------------------------------------------------- create


def test_create_bucket_without_body(s3, raw, make_bucket):
    name = make_bucket("nobody", create=False)
    r = raw.put(f"/{name}")
    assert r.status == 200, r
    assert r.headers.get("x-amz-request-id")
    h = s3.head_bucket(Bucket=name)
    assert h["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_create_bucket_boto3_and_location_header(s3, make_bucket):
    name = make_bucket("boto", create=False)
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    # AWS answers `Location: /bucketname` for us-east-1 (path style)
    loc = r.get("Location")
    assert loc is not None, "CreateBucket response has no Location header"
    assert name in loc


def test_create_bucket_with_empty_configuration_body(s3, raw, make_bucket):
    name = make_bucket("emptycfg", create=False)
    body = b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CreateBucketConfiguration>'
    r = raw.put(f"/{name}", data=body)
    assert r.status == 200, r
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") in (None, "")


def test_create_bucket_with_location_constraint_matching_region(s3_regional, regional_server, make_bucket):
    name = make_bucket("regional", client=s3_regional, create=False)
    r = s3_regional.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    loc = s3_regional.get_bucket_location(Bucket=name)
    assert loc["LocationConstraint"] == OTHER_REGION
    h = s3_regional.head_bucket(Bucket=name)
    assert h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region") == OTHER_REGION


def test_create_bucket_with_location_constraint_other_region_is_illegal(s3_regional, make_bucket):
    name = make_bucket("wrongregion", client=s3_regional, create=False)
    expect_error(
        lambda: s3_regional.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"}
        ),
        "IllegalLocationConstraintException",
        400,
    )
    expect_error(lambda: s3_regional.head_bucket(Bucket=name), None, 404)


def test_create_bucket_malformed_configuration_xml(s3, raw, make_bucket):
    name = make_bucket("badxml", create=False)
    r = raw.put(f"/{name}", data=b"<CreateBucketConfiguration><LocationConstraint>")
    assert_raw_error(r, "MalformedXML", 400)
    expect_error(lambda: s3.head_bucket(Bucket=name), None, 404)


def test_create_existing_own_bucket_us_east_1_is_200(s3, raw, bucket):
    # AWS's legacy answer in us-east-1: creating a bucket you already own succeeds
    # and changes nothing (every other region answers 409 BucketAlreadyOwnedByYou).
    s3.put_object(Bucket=bucket, Key="keep", Body=b"data")
    assert s3.create_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert raw.put(f"/{bucket}").status == 200
    # the existing bucket and its content are untouched
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"data"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]


def test_create_existing_own_bucket_of_another_region_is_409_in_us_east_1(s3, make_bucket):
    # the legacy 200 is for buckets in us-east-1 only
    name = make_bucket("dup-other", create=False)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION})
    expect_error(lambda: s3.create_bucket(Bucket=name), "BucketAlreadyOwnedByYou", 409)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == OTHER_REGION


def test_create_existing_own_bucket_regional_is_409(s3_regional, regional_server, make_bucket):
    name = make_bucket("dup-regional", client=s3_regional, create=False)
    s3_regional.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION})
    s3_regional.put_object(Bucket=name, Key="keep", Body=b"data")
    expect_error(
        lambda: s3_regional.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION}
        ),
        "BucketAlreadyOwnedByYou",
        409,
    )
    r = regional_server.raw_client().put(f"/{name}")
    err = assert_raw_error(r, "BucketAlreadyOwnedByYou", 409)
    # AWS includes the bucket name in the error body
    assert name in (err.get("BucketName", "") + err.get("Resource", "")), err
    assert s3_regional.get_object(Bucket=name, Key="keep")["Body"].read() == b"data"


# ---------------------------------------------------------------- head


def test_head_bucket_exists(s3, bucket):
    r = s3.head_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    hdrs = r["ResponseMetadata"]["HTTPHeaders"]
    assert hdrs.get("x-amz-bucket-region") == "us-east-1"
    assert hdrs.get("x-amz-request-id")


def test_head_bucket_missing_is_404_without_body(s3, raw):
    name = unique_bucket_name("missing")
    expect_error(lambda: s3.head_bucket(Bucket=name), None, 404)
    r = raw.head(f"/{name}")
    assert r.status == 404
    assert r.content == b""
    assert r.headers.get("x-amz-request-id")


# ---------------------------------------------------------------- delete


def test_delete_empty_bucket(s3, raw, make_bucket):
    name = make_bucket("del")
    r = s3.delete_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.head_bucket(Bucket=name), None, 404)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in names
    # deleting again: NoSuchBucket
    r = raw.delete(f"/{name}")
    err = assert_raw_error(r, "NoSuchBucket", 404)
    assert name in (err.get("BucketName", "") + err.get("Resource", ""))


def test_delete_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/obj", Body=b"x")
    expect_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409)
    # nothing lost
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="dir/obj")["Body"].read() == b"x"
    # once emptied it can be deleted
    s3.delete_object(Bucket=bucket, Key="dir/obj")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_recreate_bucket_after_delete_is_empty(s3, make_bucket):
    name = make_bucket("recreate", create=False)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a", Body=b"1")
    s3.delete_object(Bucket=name, Key="a")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    r = s3.list_objects_v2(Bucket=name)
    assert r["KeyCount"] == 0
    assert "Contents" not in r


# ---------------------------------------------------------------- list


def test_list_buckets(s3, raw, make_bucket):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    names = sorted([make_bucket("lb-b"), make_bucket("lb-a"), make_bucket("lb-c")])
    r = s3.list_buckets()
    listed = [b["Name"] for b in r["Buckets"]]
    for n in names:
        assert n in listed
    assert listed == sorted(listed), "ListBuckets must be in ascending name order"
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    for b in r["Buckets"]:
        if b["Name"] in names:
            assert before <= b["CreationDate"] <= after, b
    assert r.get("Owner", {}).get("ID"), "ListBuckets must include Owner/ID"
    # raw XML shape
    x = raw.get("/")
    assert x.status == 200
    root = x.xml()
    assert root.tag == "ListAllMyBucketsResult"
    assert root.find("Owner/ID") is not None
    assert set(names) <= {e.text for e in root.findall("Buckets/Bucket/Name")}


def test_list_buckets_pages_with_max_buckets_and_continuation_token(s3, raw, make_bucket):
    prefix = unique_bucket_name("lbp")[:20]
    names = sorted(make_bucket(name=f"{prefix}-{i}") for i in range(3))
    seen, token = [], None
    while True:
        kw = {"MaxBuckets": 2, "Prefix": prefix} | ({"ContinuationToken": token} if token else {})
        page = s3.list_buckets(**kw)
        assert page["Prefix"] == prefix
        seen += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
        assert len(page["Buckets"]) == 2
    assert seen == names
    # raw: the token only when truncated, the prefix echoed
    root = raw.get("/", params={"max-buckets": "3", "prefix": prefix}).xml()
    assert root.find("ContinuationToken") is None
    assert root.findtext("Prefix") == prefix
    assert [e.text for e in root.findall("Buckets/Bucket/Name")] == names
    # no parameter: every bucket, no Prefix, no token
    root = raw.get("/").xml()
    assert root.find("Prefix") is None and root.find("ContinuationToken") is None
    assert set(names) <= {e.text for e in root.findall("Buckets/Bucket/Name")}


def test_list_buckets_filters_by_bucket_region(raw, make_bucket):
    name = make_bucket("lbr")
    listed = lambda region: {e.text for e in raw.get("/", params={"bucket-region": region}).xml().findall("Buckets/Bucket/Name")}
    assert name in listed("us-east-1")
    assert name not in listed(OTHER_REGION)


@pytest.mark.parametrize("value", ["0", "10001", "-1", "ten"])
def test_list_buckets_bad_max_buckets_is_invalid_argument(raw, bucket, value):
    err = assert_raw_error(raw.get("/", params={"max-buckets": value}), "InvalidArgument", 400)
    assert err.get("ArgumentName") == "max-buckets"
    assert raw.get("/").status == 200


def test_list_buckets_bad_continuation_token_is_invalid_argument(raw, bucket):
    err = assert_raw_error(raw.get("/", params={"continuation-token": "not a token!"}), "InvalidArgument", 400)
    assert err.get("ArgumentName") == "continuation-token"


@pytest.mark.parametrize("sub", ["analytics", "website", "replication", "tagging", "accelerate", "logging"])
def test_unsupported_bucket_subresource_missing_bucket_is_404_else_501(raw, bucket, sub):
    assert_raw_error(raw.get(f"/{unique_bucket_name('nosub')}", params={sub: None}), "NoSuchBucket", 404)
    err = assert_raw_error(raw.get(f"/{bucket}", params={sub: None}), "NotImplemented", 501)
    assert "not implemented" in err["Message"]
    # a PUT is refused alike and changes nothing: the bucket is still there and empty
    assert_raw_error(raw.put(f"/{bucket}", params={sub: None}, data=b"<x/>"), "NotImplemented", 501)
    assert raw.head(f"/{bucket}").status == 200


# ---------------------------------------------------------------- location


def test_get_bucket_location_us_east_1_is_empty(s3, raw, bucket):
    r = s3.get_bucket_location(Bucket=bucket)
    assert r.get("LocationConstraint") in (None, "")
    x = raw.get(f"/{bucket}", params={"location": None})
    assert x.status == 200
    root = x.xml()
    assert root.tag == "LocationConstraint"
    assert (root.text or "") == "", "us-east-1 buckets answer an empty LocationConstraint"


def test_get_bucket_location_missing_bucket(s3):
    expect_error(lambda: s3.get_bucket_location(Bucket=unique_bucket_name("nol")), "NoSuchBucket", 404)


# ---------------------------------------------------------------- names

INVALID_NAMES = [
    "ab",  # too short
    "a" * 64,  # too long
    "UPPERCASE",
    "Mixed-Case",
    "under_score",
    "-leading-dash",
    "trailing-dash-",
    ".leading-dot",
    "trailing-dot.",
    "double..dots",
    "192.168.5.4",  # IP address form
    "xn--prefixed",  # reserved prefix
    "bucket-s3alias",  # reserved suffix
    "sthree-prefixed",  # reserved prefix
    "bucket--ol-s3",  # reserved suffix
]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_bucket_name(raw, s3, name):
    r = raw.put(f"/{name}")
    assert_raw_error(r, "InvalidBucketName", 400)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in names
    assert_server_healthy(s3)


@pytest.mark.parametrize("name", ["has space", "ex!cl", "semi;colon"])
def test_invalid_bucket_name_characters(raw, s3, name):
    from urllib.parse import quote

    r = raw.put("/" + quote(name, safe=""))
    assert_raw_error(r, "InvalidBucketName", 400)
    assert_server_healthy(s3)


@pytest.mark.parametrize(
    "name_fn",
    [
        lambda: "abc",
        lambda: "a" * 63,
        lambda: "my.dotted.bucket",
        lambda: "1-2-3",
        lambda: "0start",
    ],
    ids=["3chars", "63chars", "dots", "digits-dashes", "digit-start"],
)
def test_valid_bucket_names(s3, make_bucket, name_fn):
    # these names are fixed, so clear any leftover first
    name = name_fn()
    cleanup_bucket(s3, name)
    make_bucket(name=name, create=False)
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
