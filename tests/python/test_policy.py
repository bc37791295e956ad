"""Bucket policies against an engine started with --access-key/--secret-key.

Expected behaviour follows AWS's S3 API reference and IAM policy reference:
  * PutBucketPolicy -> 204, GetBucketPolicy -> 200 + the policy JSON,
    DeleteBucketPolicy -> 204, GetBucketPolicy without a policy -> 404 NoSuchBucketPolicy
  * GetBucketPolicyStatus -> <PolicyStatus><IsPublic>true|false</IsPublic>
  * invalid policies -> 400 MalformedPolicy (and nothing stored / the old policy kept)
  * evaluation: explicit Deny > Allow > default (signed owner allowed, anonymous denied),
    wildcards `*`/`?` in Action and Resource, Principal / NotPrincipal, Conditions
    (IpAddress, NotIpAddress, StringLike s3:prefix, NumericLessThanEquals s3:max-keys,
    Bool aws:SecureTransport); denied requests -> 403 AccessDenied
  * DeleteObjects reports a denied key as <Error><Code>AccessDenied</Code>
  * the bucket owner can always Get/Put/DeleteBucketPolicy (no lock-out)
  * the policy survives a restart and is deleted with the bucket

The module starts its own auth-enabled engine (fixture `server`, overriding
conftest's). Principal tests need a second credential, which `serve` cannot
configure, so they start the engine through the management protocol
(`ruststorage --management`, NDJSON on stdin/stdout) with two credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import (
    ManagedEngine,
    RawResponse,
    Server,
    assert_raw_error,
    auth_server_fixture,
    binary_path,
    cleanup_bucket,
    expect_error,
    qkey,
    strip_ns,
    unique_bucket_name,
)

ACCESS_KEY = "AKIDPOLICYOWNER"
SECRET_KEY = "policy/owner+secret/KEY0123456789abcdef"
SECOND_KEY = "AKIDPOLICYSECOND"
SECOND_SECRET = "policy/second+secret/KEY0123456789abcd"
REGION = "us-east-1"
TIMEOUT = 60
ACCOUNT = "123456789012"


# =========================================================================
# fixtures
# =========================================================================


# conftest's `s3`, `make_bucket` and `bucket` use this engine with these keys (their
# cleanup drops the bucket policy first, so a Deny-everything policy cannot block it)
server = auth_server_fixture(ACCESS_KEY, SECRET_KEY, REGION, why="policy tests start their own auth-enabled engine")


def client(endpoint, access=ACCESS_KEY, secret=SECRET_KEY):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _drop_policy_and_cleanup(s3c, name):
    # the owner can always delete the policy, so a Deny-everything policy
    # cannot keep the cleanup from emptying and deleting the bucket
    try:
        s3c.delete_bucket_policy(Bucket=name)
    except Exception:
        pass
    cleanup_bucket(s3c, name)


@pytest.fixture(scope="module")
def two_keys():
    """(endpoint, owner client, second-credential client) on a management-started engine."""
    if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
        pytest.skip("needs a locally started engine")
    eng = ManagedEngine([(ACCESS_KEY, SECRET_KEY), (SECOND_KEY, SECOND_SECRET)])
    try:
        yield eng.endpoint, client(eng.endpoint), client(eng.endpoint, SECOND_KEY, SECOND_SECRET)
    finally:
        eng.stop()


@pytest.fixture
def two_keys_bucket(two_keys):
    endpoint, a1, _ = two_keys
    name = unique_bucket_name("principal")
    a1.create_bucket(Bucket=name)
    yield name
    _drop_policy_and_cleanup(a1, name)


# =========================================================================
# helpers
# =========================================================================


def bucket_arn(bucket):
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket, suffix="*"):
    return f"arn:aws:s3:::{bucket}/{suffix}"


def stmt(effect, action, resource, principal="*", sid=None, condition=None, not_principal=None):
    s = {"Effect": effect, "Action": action, "Resource": resource}
    if not_principal is not None:
        s["NotPrincipal"] = not_principal
    else:
        s["Principal"] = principal
    if sid:
        s["Sid"] = sid
    if condition:
        s["Condition"] = condition
    return s


def policy_doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def put_policy(s3c, bucket, *statements):
    doc = policy_doc(*statements)
    r = s3c.put_bucket_policy(Bucket=bucket, Policy=json.dumps(doc))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, r["ResponseMetadata"]
    return doc


def public_read(bucket):
    return stmt("Allow", "s3:GetObject", objects_arn(bucket), sid="PublicRead")


def anon(server_or_endpoint, method, path, **kw) -> requests.Response:
    endpoint = server_or_endpoint if isinstance(server_or_endpoint, str) else server_or_endpoint.endpoint
    return requests.request(method, endpoint + path, timeout=TIMEOUT, allow_redirects=False, **kw)


def assert_denied(resp: requests.Response):
    assert_raw_error(RawResponse(resp), "AccessDenied", 403)


def assert_access_denied(fn):
    expect_error(fn, "AccessDenied", 403)


def put_objects(s3c, bucket, objects: dict):
    for k, v in objects.items():
        s3c.put_object(Bucket=bucket, Key=k, Body=v)


def object_exists(s3c, bucket, key) -> bool:
    try:
        s3c.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


# =========================================================================
# Put / Get / Delete / Status
# =========================================================================


def test_put_get_delete_policy_round_trip(s3, bucket):
    doc = policy_doc(public_read(bucket))
    text = json.dumps(doc, indent=2)
    r = s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204

    got = s3.get_bucket_policy(Bucket=bucket)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert json.loads(got["Policy"]) == doc

    # replacing the policy replaces it
    doc2 = policy_doc(stmt("Deny", "s3:DeleteObject", objects_arn(bucket, "keep/*"), sid="KeepKeep"))
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(doc2))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == doc2

    r = s3.delete_bucket_policy(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)


def test_get_policy_without_one_is_404_nosuchbucketpolicy(s3, bucket):
    expect_error(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)


def test_policy_on_missing_bucket_is_nosuchbucket(s3):
    name = unique_bucket_name("missing")
    doc = json.dumps(policy_doc(public_read(name)))
    expect_error(lambda: s3.put_bucket_policy(Bucket=name, Policy=doc), "NoSuchBucket", 404)
    expect_error(lambda: s3.get_bucket_policy(Bucket=name), "NoSuchBucket", 404)


def test_policy_status_public_read_is_public(s3, bucket):
    put_policy(s3, bucket, public_read(bucket))
    r = s3.get_bucket_policy_status(Bucket=bucket)
    assert r["PolicyStatus"]["IsPublic"] is True


def test_policy_status_principal_limited_is_not_public(s3, bucket):
    put_policy(
        s3,
        bucket,
        stmt("Allow", "s3:GetObject", objects_arn(bucket), principal={"AWS": [f"arn:aws:iam::{ACCOUNT}:user/{SECOND_KEY}"]}),
    )
    r = s3.get_bucket_policy_status(Bucket=bucket)
    assert r["PolicyStatus"]["IsPublic"] is False


def test_policy_status_raw_xml(server, s3, bucket):
    put_policy(s3, bucket, public_read(bucket))
    v4 = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(signature_version="s3v4"),
    )
    url = v4.generate_presigned_url("get_bucket_policy_status", Params={"Bucket": bucket})
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    root = strip_ns(ET.fromstring(r.content))
    assert root.tag == "PolicyStatus"
    assert [c.tag for c in root] == ["IsPublic"]
    assert root.findtext("IsPublic").lower() == "true"


def test_policy_status_boto3_default_presigned_url(server, s3, bucket):
    # boto3's default presigned URLs are SigV2, and botocore does not sign
    # `policyStatus` (its QSAOfInterest list lacks it). A signature that leaves out
    # the parameter choosing the action would be just as good for a listing of the
    # bucket, so the server signs every action-selecting sub-resource and refuses
    # such URLs; SigV4 presigned URLs (which sign the whole query) work.
    put_policy(s3, bucket, public_read(bucket))
    url = s3.generate_presigned_url("get_bucket_policy_status", Params={"Bucket": bucket})
    assert "AWSAccessKeyId=" in url
    assert_raw_error(RawResponse(requests.get(url, timeout=TIMEOUT)), "SignatureDoesNotMatch", 403)
    v4 = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name=REGION, config=Config(signature_version="s3v4"))
    r = requests.get(v4.generate_presigned_url("get_bucket_policy_status", Params={"Bucket": bucket}), timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:600]
    assert b"<IsPublic>true</IsPublic>" in r.content


def test_policy_status_without_policy_is_nosuchbucketpolicy(s3, bucket):
    expect_error(lambda: s3.get_bucket_policy_status(Bucket=bucket), "NoSuchBucketPolicy", 404)


# =========================================================================
# MalformedPolicy
# =========================================================================


def _malformed_cases(bucket):
    good = public_read(bucket)
    return {
        "invalid-json": '{"Version": "2012-10-17", "Statement": [',
        "no-statement": json.dumps({"Version": "2012-10-17"}),
        "bad-effect": json.dumps(policy_doc(dict(good, Effect="Maybe"))),
        "non-s3-action": json.dumps(policy_doc(dict(good, Action="ec2:RunInstances"))),
        "other-bucket-resource": json.dumps(policy_doc(dict(good, Resource=objects_arn(bucket + "-other")))),
        "unknown-condition-operator": json.dumps(
            policy_doc(dict(good, Condition={"StringSortOf": {"aws:SourceIp": "127.0.0.1"}}))
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["invalid-json", "no-statement", "bad-effect", "non-s3-action", "other-bucket-resource", "unknown-condition-operator"],
)
def test_malformed_policy_is_rejected(s3, bucket, case):
    text = _malformed_cases(bucket)[case]
    resp = expect_error(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=text), "MalformedPolicy", 400)
    assert resp["Error"].get("Message"), resp
    # nothing was stored
    expect_error(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)


def test_malformed_policy_keeps_previous_policy(server, s3, bucket):
    doc = put_policy(s3, bucket, public_read(bucket))
    s3.put_object(Bucket=bucket, Key="k", Body=b"still public")
    bad = _malformed_cases(bucket)["bad-effect"]
    expect_error(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=bad), "MalformedPolicy", 400)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == doc
    r = anon(server, "GET", f"/{bucket}/k")
    assert (r.status_code, r.content) == (200, b"still public")


def test_unknown_s3_action_is_malformed(s3, bucket):
    # AWS validates action names: a typo would otherwise silently grant/deny nothing
    doc = json.dumps(policy_doc(stmt("Deny", "s3:DeleteObjekt", objects_arn(bucket))))
    expect_error(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=doc), "MalformedPolicy", 400)


def test_action_not_applying_to_resource_is_malformed(s3, bucket):
    # AWS: "Action does not apply to any resource(s) in statement" -- an object
    # action on the bucket ARN (no /*) would otherwise silently match nothing
    doc = json.dumps(policy_doc(stmt("Allow", "s3:GetObject", bucket_arn(bucket))))
    expect_error(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=doc), "MalformedPolicy", 400)
    expect_error(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)


# =========================================================================
# evaluation: anonymous access
# =========================================================================


def test_no_policy_anonymous_is_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret")
    assert_denied(anon(server, "GET", f"/{bucket}/private.txt"))
    assert_denied(anon(server, "GET", f"/{bucket}?list-type=2"))


def test_public_read_allows_anonymous_get_and_head_only(server, s3, bucket):
    put_objects(s3, bucket, {"a.txt": b"hello public", "dir/b.bin": bytes(range(256))})
    put_policy(s3, bucket, public_read(bucket))

    r = anon(server, "GET", f"/{bucket}/a.txt")
    assert (r.status_code, r.content) == (200, b"hello public")
    r = anon(server, "GET", f"/{bucket}/dir/b.bin")
    assert (r.status_code, r.content) == (200, bytes(range(256)))
    r = anon(server, "HEAD", f"/{bucket}/a.txt")
    assert r.status_code == 200 and r.headers["Content-Length"] == "12"

    # list / put / delete stay denied
    assert_denied(anon(server, "GET", f"/{bucket}?list-type=2"))
    assert_denied(anon(server, "GET", f"/{bucket}"))
    assert_denied(anon(server, "PUT", f"/{bucket}/new.txt", data=b"anonymous write"))
    assert_denied(anon(server, "DELETE", f"/{bucket}/a.txt"))
    assert not object_exists(s3, bucket, "new.txt")
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"hello public"


def test_public_read_missing_key_without_listbucket_is_403(server, s3, bucket):
    # AWS: without s3:ListBucket a missing key is 403 AccessDenied (not 404),
    # so anonymous readers cannot probe which keys exist
    put_policy(s3, bucket, public_read(bucket))
    assert_denied(anon(server, "GET", f"/{bucket}/does-not-exist"))


def test_public_read_missing_key_with_listbucket_is_404(server, s3, bucket):
    put_policy(
        s3,
        bucket,
        public_read(bucket),
        stmt("Allow", "s3:ListBucket", bucket_arn(bucket)),
    )
    r = anon(server, "GET", f"/{bucket}/does-not-exist")
    assert_raw_error(RawResponse(r), "NoSuchKey", 404)
    r = anon(server, "GET", f"/{bucket}?list-type=2")
    assert r.status_code == 200, r.text


def test_public_read_of_one_bucket_does_not_open_another(server, s3, make_bucket):
    pub, priv = make_bucket("pub"), make_bucket("priv")
    s3.put_object(Bucket=pub, Key="k", Body=b"pub")
    s3.put_object(Bucket=priv, Key="k", Body=b"priv")
    put_policy(s3, pub, public_read(pub))
    assert anon(server, "GET", f"/{pub}/k").content == b"pub"
    assert_denied(anon(server, "GET", f"/{priv}/k"))


# =========================================================================
# evaluation: Deny, wildcards
# =========================================================================


def test_deny_delete_on_prefix_stops_owner_there_only(s3, bucket):
    put_objects(s3, bucket, {"locked/a": b"1", "open/b": b"2"})
    put_policy(s3, bucket, stmt("Deny", "s3:DeleteObject", objects_arn(bucket, "locked/*")))
    assert_access_denied(lambda: s3.delete_object(Bucket=bucket, Key="locked/a"))
    assert object_exists(s3, bucket, "locked/a")
    r = s3.delete_object(Bucket=bucket, Key="open/b")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not object_exists(s3, bucket, "open/b")
    # other actions on the denied prefix are unaffected
    s3.put_object(Bucket=bucket, Key="locked/c", Body=b"3")
    assert s3.get_object(Bucket=bucket, Key="locked/a")["Body"].read() == b"1"


def test_deny_beats_allow(server, s3, bucket):
    put_objects(s3, bucket, {"pub.txt": b"ok", "secret/x.txt": b"no"})
    put_policy(
        s3,
        bucket,
        public_read(bucket),
        stmt("Deny", "s3:GetObject", objects_arn(bucket, "secret/*")),
    )
    assert anon(server, "GET", f"/{bucket}/pub.txt").content == b"ok"
    assert_denied(anon(server, "GET", f"/{bucket}/secret/x.txt"))
    # the explicit Deny (Principal "*") applies to the signed owner too
    assert_access_denied(lambda: s3.get_object(Bucket=bucket, Key="secret/x.txt"))


def test_deny_cannot_be_escaped_by_wildcard_characters_in_the_key(server, s3, bucket):
    # `*` and `?` in a policy are always wildcards: a key that itself contains
    # `*` (or `?`) must not match the pattern's `*` literally and slip past a
    # Deny on `bucket/secret/*` (regression: `secret/*x` was readable anonymously)
    objects = {
        "public/x": b"public",
        "secret/x": b"s0",
        "secret/*x": b"s1",
        "secret/a*b": b"s2",
        "secret/*": b"s3",
        "secret/?x": b"s4",
    }
    put_objects(s3, bucket, objects)
    put_policy(
        s3,
        bucket,
        public_read(bucket),
        stmt("Deny", "s3:GetObject", objects_arn(bucket, "secret/*"), sid="NoSecrets"),
    )
    r = anon(server, "GET", f"/{bucket}/{qkey('public/x')}")
    assert (r.status_code, r.content) == (200, b"public")
    for key in [k for k in objects if k.startswith("secret/")]:
        r = anon(server, "GET", f"/{bucket}/{qkey(key)}")
        assert r.status_code == 403, f"{key!r}: anonymous GET answered {r.status_code} {r.content[:200]!r}"
        assert_denied(r)
        r = anon(server, "HEAD", f"/{bucket}/{qkey(key)}")
        assert r.status_code == 403, f"{key!r}: anonymous HEAD answered {r.status_code}"
        # the Deny (Principal "*") holds for the signed owner too
        assert_access_denied(lambda: s3.get_object(Bucket=bucket, Key=key))


def test_deny_get_also_stops_copy_from_that_source(s3, bucket):
    # CopyObject needs s3:GetObject on the source: a Deny cannot be bypassed by copying
    s3.put_object(Bucket=bucket, Key="secret/x", Body=b"classified")
    put_policy(s3, bucket, stmt("Deny", "s3:GetObject", objects_arn(bucket, "secret/*")))
    assert_access_denied(
        lambda: s3.copy_object(Bucket=bucket, Key="public/x", CopySource={"Bucket": bucket, "Key": "secret/x"})
    )
    assert not object_exists(s3, bucket, "public/x")


def test_deny_beats_allow_order_independent(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    put_policy(
        s3,
        bucket,
        stmt("Deny", "s3:GetObject", objects_arn(bucket)),
        public_read(bucket),
    )
    assert_denied(anon(server, "GET", f"/{bucket}/k"))


def test_action_wildcard_get_star(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"wild")
    put_policy(s3, bucket, stmt("Allow", "s3:Get*", objects_arn(bucket)))
    r = anon(server, "GET", f"/{bucket}/k")
    assert (r.status_code, r.content) == (200, b"wild")
    # s3:Get* does not cover s3:PutObject or s3:DeleteObject
    assert_denied(anon(server, "PUT", f"/{bucket}/k", data=b"overwrite"))
    assert_denied(anon(server, "DELETE", f"/{bucket}/k"))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"wild"


def test_action_wildcard_is_case_insensitive(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"case")
    put_policy(s3, bucket, stmt("Allow", "s3:getobject", objects_arn(bucket)))
    assert anon(server, "GET", f"/{bucket}/k").content == b"case"


def test_resource_wildcard_prefix(server, s3, bucket):
    put_objects(s3, bucket, {"public/a/b.txt": b"pa", "private/c.txt": b"pc", "publicity.txt": b"px"})
    put_policy(s3, bucket, stmt("Allow", "s3:GetObject", objects_arn(bucket, "public/*")))
    assert anon(server, "GET", f"/{bucket}/public/a/b.txt").content == b"pa"
    assert_denied(anon(server, "GET", f"/{bucket}/private/c.txt"))
    assert_denied(anon(server, "GET", f"/{bucket}/publicity.txt"))


def test_resource_question_mark_wildcard(server, s3, bucket):
    put_objects(s3, bucket, {"img-1.png": b"one", "img-22.png": b"two", "img-.png": b"none"})
    put_policy(s3, bucket, stmt("Allow", "s3:GetObject", objects_arn(bucket, "img-?.png")))
    assert anon(server, "GET", f"/{bucket}/img-1.png").content == b"one"
    assert_denied(anon(server, "GET", f"/{bucket}/img-22.png"))
    assert_denied(anon(server, "GET", f"/{bucket}/img-.png"))


# =========================================================================
# evaluation: principals (two credentials via the management protocol)
# =========================================================================


def test_principal_aws_access_key_list(two_keys, two_keys_bucket):
    endpoint, a1, a2 = two_keys
    b = two_keys_bucket
    a1.put_object(Bucket=b, Key="k", Body=b"data")
    put_policy(a1, b, stmt("Deny", "s3:GetObject", objects_arn(b), principal={"AWS": [SECOND_KEY]}))
    assert a1.get_object(Bucket=b, Key="k")["Body"].read() == b"data"
    assert_access_denied(lambda: a2.get_object(Bucket=b, Key="k"))
    # not denied for other actions
    a2.put_object(Bucket=b, Key="k2", Body=b"x")


def test_principal_iam_user_arn(two_keys, two_keys_bucket):
    endpoint, a1, a2 = two_keys
    b = two_keys_bucket
    put_policy(
        a1,
        b,
        stmt("Deny", "s3:PutObject", objects_arn(b), principal={"AWS": f"arn:aws:iam::{ACCOUNT}:user/{SECOND_KEY}"}),
    )
    a1.put_object(Bucket=b, Key="by-a1", Body=b"1")
    assert_access_denied(lambda: a2.put_object(Bucket=b, Key="by-a2", Body=b"2"))
    assert not object_exists(a1, b, "by-a2")


def test_principal_allow_does_not_open_to_anonymous(two_keys, two_keys_bucket):
    endpoint, a1, a2 = two_keys
    b = two_keys_bucket
    a1.put_object(Bucket=b, Key="k", Body=b"data")
    put_policy(a1, b, stmt("Allow", "s3:GetObject", objects_arn(b), principal={"AWS": [SECOND_KEY]}))
    assert a2.get_object(Bucket=b, Key="k")["Body"].read() == b"data"
    assert_denied(anon(endpoint, "GET", f"/{b}/k"))
    assert a1.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is False


def test_not_principal_deny_everyone_else(two_keys, two_keys_bucket):
    endpoint, a1, a2 = two_keys
    b = two_keys_bucket
    a1.put_object(Bucket=b, Key="k", Body=b"only a1")
    put_policy(
        a1,
        b,
        stmt("Deny", "s3:*", [bucket_arn(b), objects_arn(b)], not_principal={"AWS": [ACCESS_KEY]}),
        public_read(b),
    )
    assert a1.get_object(Bucket=b, Key="k")["Body"].read() == b"only a1"
    assert_access_denied(lambda: a2.get_object(Bucket=b, Key="k"))
    assert_access_denied(lambda: a2.list_objects_v2(Bucket=b))
    # anonymous is "not A1" too: the Deny beats the public-read Allow
    assert_denied(anon(endpoint, "GET", f"/{b}/k"))


# =========================================================================
# evaluation: conditions
# =========================================================================


def test_condition_ip_address(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"ip")
    put_policy(s3, bucket, stmt("Allow", "s3:GetObject", objects_arn(bucket), condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}))
    assert anon(server, "GET", f"/{bucket}/k").content == b"ip"
    put_policy(s3, bucket, stmt("Allow", "s3:GetObject", objects_arn(bucket), condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert_denied(anon(server, "GET", f"/{bucket}/k"))


def test_condition_not_ip_address(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"ip")
    # deny everything not coming from 10/8: the owner on 127.0.0.1 is denied
    put_policy(s3, bucket, stmt("Deny", "s3:GetObject", objects_arn(bucket), condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert_access_denied(lambda: s3.get_object(Bucket=bucket, Key="k"))
    # deny everything not coming from 127.0.0.1: the owner is fine
    put_policy(s3, bucket, stmt("Deny", "s3:GetObject", objects_arn(bucket), condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.1/32"}}))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"ip"


def test_condition_string_like_prefix_for_list_bucket(server, s3, bucket):
    put_objects(s3, bucket, {"home/alice/1": b"1", "home/alice/2": b"2", "other/x": b"3"})
    put_policy(
        s3,
        bucket,
        stmt("Allow", "s3:ListBucket", bucket_arn(bucket), condition={"StringLike": {"s3:prefix": ["home/*"]}}),
    )
    r = anon(server, "GET", f"/{bucket}?list-type=2&prefix=home/alice/")
    assert r.status_code == 200, r.text
    keys = [e.text for e in strip_ns(ET.fromstring(r.content)).findall("Contents/Key")]
    assert keys == ["home/alice/1", "home/alice/2"]
    assert_denied(anon(server, "GET", f"/{bucket}?list-type=2&prefix=other/"))
    # no prefix at all: the condition key is absent, StringLike does not match
    assert_denied(anon(server, "GET", f"/{bucket}?list-type=2"))


def test_condition_numeric_max_keys(server, s3, bucket):
    put_objects(s3, bucket, {f"k{i}": b"x" for i in range(3)})
    put_policy(
        s3,
        bucket,
        stmt("Allow", "s3:ListBucket", bucket_arn(bucket), condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}),
    )
    r = anon(server, "GET", f"/{bucket}?list-type=2&max-keys=2")
    assert r.status_code == 200, r.text
    root = strip_ns(ET.fromstring(r.content))
    assert [e.text for e in root.findall("Contents/Key")] == ["k0", "k1"]
    r = anon(server, "GET", f"/{bucket}?list-type=2&max-keys=10")
    assert r.status_code == 200, r.text
    assert_denied(anon(server, "GET", f"/{bucket}?list-type=2&max-keys=11"))
    assert_denied(anon(server, "GET", f"/{bucket}?list-type=2"))


def test_condition_bool_secure_transport_false(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"tls?")
    # the classic "deny plain HTTP" policy: this engine is reached over http
    put_policy(
        s3,
        bucket,
        stmt("Deny", "s3:*", [bucket_arn(bucket), objects_arn(bucket)], condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    assert_access_denied(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert_access_denied(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x"))
    # allow over plain http only
    put_policy(s3, bucket, stmt("Allow", "s3:GetObject", objects_arn(bucket), condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert anon(server, "GET", f"/{bucket}/k").content == b"tls?"
    put_policy(s3, bucket, stmt("Allow", "s3:GetObject", objects_arn(bucket), condition={"Bool": {"aws:SecureTransport": "true"}}))
    assert_denied(anon(server, "GET", f"/{bucket}/k"))


# =========================================================================
# DeleteObjects, lock-out, persistence, bucket deletion
# =========================================================================


def test_delete_objects_reports_denied_keys(s3, bucket):
    put_objects(s3, bucket, {"locked/a": b"1", "locked/b": b"2", "open/c": b"3", "open/d": b"4"})
    put_policy(s3, bucket, stmt("Deny", "s3:DeleteObject", objects_arn(bucket, "locked/*")))
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in ["locked/a", "open/c", "locked/b", "open/d"]]},
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(d["Key"] for d in r.get("Deleted", [])) == ["open/c", "open/d"]
    errors = {e["Key"]: e for e in r.get("Errors", [])}
    assert sorted(errors) == ["locked/a", "locked/b"]
    for e in errors.values():
        assert e["Code"] == "AccessDenied", e
        assert e.get("Message"), e
    assert object_exists(s3, bucket, "locked/a") and object_exists(s3, bucket, "locked/b")
    assert not object_exists(s3, bucket, "open/c") and not object_exists(s3, bucket, "open/d")


def test_delete_objects_quiet_still_reports_denied_keys(s3, bucket):
    put_objects(s3, bucket, {"locked/a": b"1", "open/c": b"3"})
    put_policy(s3, bucket, stmt("Deny", "s3:DeleteObject", objects_arn(bucket, "locked/*")))
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "locked/a"}, {"Key": "open/c"}], "Quiet": True})
    assert r.get("Deleted", []) == []
    assert [(e["Key"], e["Code"]) for e in r.get("Errors", [])] == [("locked/a", "AccessDenied")]


def test_owner_cannot_lock_themselves_out(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    everything = policy_doc(stmt("Deny", "s3:*", [bucket_arn(bucket), objects_arn(bucket)], sid="DenyAll"))
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(everything))
    assert_access_denied(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert_access_denied(lambda: s3.list_objects_v2(Bucket=bucket))
    assert_access_denied(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x"))
    # ...but the policy itself stays manageable
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == everything
    relaxed = policy_doc(stmt("Deny", "s3:DeleteObject", objects_arn(bucket), sid="NoDelete"))
    r = s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(relaxed))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(everything))
    r = s3.delete_bucket_policy(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_anonymous_cannot_manage_policy_even_if_public(server, s3, bucket):
    put_policy(s3, bucket, public_read(bucket))
    assert_denied(anon(server, "GET", f"/{bucket}?policy"))
    assert_denied(anon(server, "DELETE", f"/{bucket}?policy"))
    assert_denied(anon(server, "PUT", f"/{bucket}?policy", data=json.dumps(policy_doc(stmt("Allow", "s3:*", objects_arn(bucket))))))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy_doc(public_read(bucket))


def test_policy_survives_restart():
    if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
        pytest.skip("needs a locally started engine")
    srv = Server(REGION, extra_args=["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]).start()
    try:
        c = client(srv.endpoint)
        b = unique_bucket_name("restart")
        c.create_bucket(Bucket=b)
        c.put_object(Bucket=b, Key="k", Body=b"persisted")
        doc = put_policy(c, b, public_read(b), stmt("Deny", "s3:DeleteObject", objects_arn(b)))
        srv.restart()
        c = client(srv.endpoint)
        assert json.loads(c.get_bucket_policy(Bucket=b)["Policy"]) == doc
        r = anon(srv, "GET", f"/{b}/k")
        assert (r.status_code, r.content) == (200, b"persisted")
        assert_access_denied(lambda: c.delete_object(Bucket=b, Key="k"))
        assert c.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is True
    finally:
        srv.stop()
        srv.cleanup()


def test_policy_removed_with_bucket(server, s3):
    b = unique_bucket_name("recreate")
    s3.create_bucket(Bucket=b)
    try:
        put_policy(s3, b, public_read(b))
        s3.delete_bucket(Bucket=b)
        s3.create_bucket(Bucket=b)
        expect_error(lambda: s3.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy", 404)
        s3.put_object(Bucket=b, Key="k", Body=b"new bucket, private")
        assert_denied(anon(server, "GET", f"/{b}/k"))
    finally:
        _drop_policy_and_cleanup(s3, b)


def test_existing_object_tag_condition_grants_only_tagged_objects(server, s3, bucket):
    # s3:ExistingObjectTag/<key> tests the tags of the object a request names
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"tagged", Tagging="visibility=public")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret", Tagging="visibility=private")
    s3.put_object(Bucket=bucket, Key="untagged.txt", Body=b"plain")
    put_policy(
        s3,
        bucket,
        stmt("Allow", "s3:GetObject", objects_arn(bucket), condition={"StringEquals": {"s3:ExistingObjectTag/visibility": "public"}}),
    )
    r = anon(server, "GET", f"/{bucket}/shared.txt")
    assert (r.status_code, r.content) == (200, b"tagged")
    assert_denied(anon(server, "GET", f"/{bucket}/private.txt"))
    assert_denied(anon(server, "GET", f"/{bucket}/untagged.txt"))
    # retagging changes the verdict at once
    s3.put_object_tagging(Bucket=bucket, Key="private.txt", Tagging={"TagSet": [{"Key": "visibility", "Value": "public"}]})
    r = anon(server, "GET", f"/{bucket}/private.txt")
    assert (r.status_code, r.content) == (200, b"secret")


# =========================================================================
# defects closed by the security review (each test failed before its fix)
# =========================================================================


def test_anonymous_never_administers_a_bucket_even_with_s3_star(server, s3, bucket):
    # AWS grants bucket configuration only to the owner's account, whatever a policy says
    doc = put_policy(s3, bucket, stmt("Allow", "s3:*", [bucket_arn(bucket), objects_arn(bucket)]))
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]}]})
    lockout = json.dumps(policy_doc(stmt("Deny", "s3:*", [bucket_arn(bucket), objects_arn(bucket)])))
    versioning = b'<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>'
    cors = b'<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod></CORSRule></CORSConfiguration>'
    for method, sub, body in [
        ("GET", "policy", None), ("PUT", "policy", lockout), ("DELETE", "policy", None), ("GET", "policyStatus", None),
        ("GET", "cors", None), ("PUT", "cors", cors), ("DELETE", "cors", None),
        ("GET", "versioning", None), ("PUT", "versioning", versioning),
    ]:
        assert_denied(anon(server, method, f"/{bucket}?{sub}", data=body))
    assert_denied(anon(server, "DELETE", f"/{bucket}"))
    # nothing changed, and what the policy does grant still works
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == doc
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"] == ["https://a.example"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    assert anon(server, "PUT", f"/{bucket}/anon.txt", data=b"x").status_code == 200


def test_only_the_root_key_is_exempt_from_a_deny_on_the_policy(two_keys, two_keys_bucket):
    # the first credential is the account root; a second key denied everything cannot lift its own Deny
    _, a1, a2 = two_keys
    deny_second = stmt("Deny", "s3:*", [bucket_arn(two_keys_bucket), objects_arn(two_keys_bucket)], principal={"AWS": [SECOND_KEY]})
    doc = put_policy(a1, two_keys_bucket, deny_second)
    assert_access_denied(lambda: a2.delete_bucket_policy(Bucket=two_keys_bucket))
    assert_access_denied(lambda: a2.put_bucket_policy(Bucket=two_keys_bucket, Policy=json.dumps(policy_doc(stmt("Allow", "s3:*", objects_arn(two_keys_bucket))))))
    assert_access_denied(lambda: a2.get_bucket_policy(Bucket=two_keys_bucket))
    assert json.loads(a1.get_bucket_policy(Bucket=two_keys_bucket)["Policy"]) == doc
    # the root is still never locked out, even when denied by name
    deny_both = stmt("Deny", "s3:*", [bucket_arn(two_keys_bucket), objects_arn(two_keys_bucket)], principal={"AWS": [ACCESS_KEY, SECOND_KEY]})
    put_policy(a1, two_keys_bucket, deny_both)
    assert a1.delete_bucket_policy(Bucket=two_keys_bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def deny_tagged(bucket, action, tag="secret", value="yes"):
    return stmt("Deny", action, objects_arn(bucket), condition={"StringEquals": {f"s3:ExistingObjectTag/{tag}": value}})


def test_copy_source_is_judged_by_its_own_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="classified", Body=b"secret", Tagging="secret=yes")
    s3.put_object(Bucket=bucket, Key="public", Body=b"open")
    put_policy(s3, bucket, deny_tagged(bucket, "s3:GetObject"))
    assert_access_denied(lambda: s3.copy_object(Bucket=bucket, Key="leak", CopySource={"Bucket": bucket, "Key": "classified"}))
    assert not object_exists(s3, bucket, "leak")
    # an untagged destination that already exists must not open the source either
    s3.put_object(Bucket=bucket, Key="leak", Body=b"placeholder")
    assert_access_denied(lambda: s3.copy_object(Bucket=bucket, Key="leak", CopySource={"Bucket": bucket, "Key": "classified"}))
    assert s3.get_object(Bucket=bucket, Key="leak")["Body"].read() == b"placeholder"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "public"})
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    try:
        assert_access_denied(lambda: s3.upload_part_copy(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1, CopySource={"Bucket": bucket, "Key": "classified"}))
        s3.upload_part_copy(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1, CopySource={"Bucket": bucket, "Key": "public"})
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid)


def test_a_named_version_is_judged_by_its_own_tags(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="doc", Body=b"old secret", Tagging="secret=yes")["VersionId"]
    s3.put_object(Bucket=bucket, Key="doc", Body=b"new public")
    put_policy(s3, bucket, deny_tagged(bucket, ["s3:GetObject", "s3:GetObjectVersion"]))
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"new public"
    assert_access_denied(lambda: s3.get_object(Bucket=bucket, Key="doc", VersionId=old))
    assert_access_denied(lambda: s3.copy_object(Bucket=bucket, Key="doc2", CopySource={"Bucket": bucket, "Key": "doc", "VersionId": old}))
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="doc", VersionId=old)["Body"].read() == b"old secret"


def test_delete_objects_judges_each_key_by_its_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"1", Tagging="hold=yes")
    s3.put_object(Bucket=bucket, Key="drop", Body=b"2")
    put_policy(s3, bucket, deny_tagged(bucket, "s3:DeleteObject", tag="hold"))
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep"}, {"Key": "drop"}]})
    assert [d["Key"] for d in r.get("Deleted", [])] == ["drop"]
    assert [(e["Key"], e["Code"]) for e in r.get("Errors", [])] == [("keep", "AccessDenied")]
    assert object_exists(s3, bucket, "keep")
    assert_access_denied(lambda: s3.delete_object(Bucket=bucket, Key="keep"))


def test_tagging_on_write_needs_put_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"s")
    put_policy(s3, bucket, stmt("Deny", "s3:PutObjectTagging", objects_arn(bucket)))
    assert_access_denied(lambda: s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="a=b"))
    assert not object_exists(s3, bucket, "tagged")
    assert_access_denied(lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE", Tagging="a=b"))
    assert_access_denied(lambda: s3.create_multipart_upload(Bucket=bucket, Key="mpu", Tagging="a=b"))
    # without tags the same writes pass
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})


def test_upload_part_copy_of_a_version_needs_get_object_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"version one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"version two")
    put_policy(s3, bucket, stmt("Deny", "s3:GetObjectVersion", objects_arn(bucket)))
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    try:
        source = {"Bucket": bucket, "Key": "src", "VersionId": v1}
        assert_access_denied(lambda: s3.upload_part_copy(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1, CopySource=source))
        s3.upload_part_copy(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1, CopySource={"Bucket": bucket, "Key": "src"})
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid)


def test_anonymous_delete_objects_answers_as_every_other_route(server, s3, bucket):
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    assert_denied(anon(server, "POST", f"/{bucket}?delete", data=body))
    assert_denied(anon(server, "GET", f"/{bucket}/k"))
    # a missing bucket is NoSuchBucket to everyone, as on AWS (test_edges_auth.py)
    missing = unique_bucket_name("missing")
    assert_raw_error(RawResponse(anon(server, "POST", f"/{missing}?delete", data=body)), "NoSuchBucket", 404)
    assert_raw_error(RawResponse(anon(server, "GET", f"/{missing}/k")), "NoSuchBucket", 404)
    # with a policy that lets anyone delete, anonymous DeleteObjects works per key
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    put_policy(s3, bucket, stmt("Allow", "s3:DeleteObject", objects_arn(bucket, "k")))
    r = anon(server, "POST", f"/{bucket}?delete", data=b"<Delete><Object><Key>k</Key></Object><Object><Key>other</Key></Object></Delete>")
    assert r.status_code == 200, r.text
    assert b"<Deleted><Key>k</Key></Deleted>" in r.content and b"<Key>other</Key><Code>AccessDenied</Code>" in r.content
    assert not object_exists(s3, bucket, "k")


def test_anonymous_get_cannot_override_response_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<p>hi</p>", ContentType="text/plain")
    put_policy(s3, bucket, public_read(bucket))
    r = anon(server, "GET", f"/{bucket}/page.html?response-content-type=text/html")
    assert_raw_error(RawResponse(r), "InvalidRequest", 400)
    assert b"<p>hi</p>" not in r.content
    r = anon(server, "GET", f"/{bucket}/page.html")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/plain")
    # signed callers may
    got = s3.get_object(Bucket=bucket, Key="page.html", ResponseContentType="text/html")
    assert got["ContentType"] == "text/html"
