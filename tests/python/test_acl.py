"""Users, owners, ACLs, Object Ownership and Block Public Access (issue #21).

One engine (started through the management protocol, which takes credentials with
owners) with three users:
  * alice: two keys (the first is her account's root), owner {id, displayName}
  * bob:   one key, owner {displayName} only (his canonical id is derived: 64 hex)
  * the default account: a key without an owner (everything from before users)

Expected behaviour follows the S3 API reference: ListBuckets lists the caller's
buckets with its Owner; another user's bucket or object is 403 AccessDenied unless
a policy or an ACL grants it; canned ACLs and x-amz-grant-* headers and
AccessControlPolicy documents (PutBucketAcl / PutObjectAcl) take effect for
anonymous callers and other users; a writer owns what it writes (ObjectWriter)
unless Object Ownership says otherwise (BucketOwnerEnforced disables ACLs:
AccessControlListNotSupported); Block Public Access refuses public ACLs and
policies and ignores / restricts existing ones.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config

from helpers import ManagedEngine, cleanup_bucket, expect_error, unique_bucket_name

REGION = "us-east-1"
ALICE_ID = "a1" * 32
ALICE = {"accessKeyId": "AKIDALICEROOT", "secretAccessKey": "alice-secret-0123456789",
         "owner": {"id": ALICE_ID, "displayName": "alice"}}
ALICE2 = {"accessKeyId": "AKIDALICETWO", "secretAccessKey": "alice-second-0123456789",
          "owner": {"id": ALICE_ID, "displayName": "alice"}}
BOB = {"accessKeyId": "AKIDBOB", "secretAccessKey": "bob-secret-0123456789",
       "owner": {"displayName": "bob"}}
DEFAULT = {"accessKeyId": "AKIDDEFAULT", "secretAccessKey": "default-secret-0123456789"}
DEFAULT_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def client(endpoint, cred):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=cred["accessKeyId"],
        aws_secret_access_key=cred["secretAccessKey"],
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def engine():
    if os.environ.get("SMARTSTORAGE_TEST_ENDPOINT"):
        pytest.skip("needs a locally started engine")
    eng = ManagedEngine([ALICE, ALICE2, BOB, DEFAULT])
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture(scope="module")
def alice(engine):
    return client(engine.endpoint, ALICE)


@pytest.fixture(scope="module")
def alice2(engine):
    return client(engine.endpoint, ALICE2)


@pytest.fixture(scope="module")
def bob(engine):
    return client(engine.endpoint, BOB)


@pytest.fixture(scope="module")
def default(engine):
    return client(engine.endpoint, DEFAULT)


@pytest.fixture(scope="module")
def bob_id(bob):
    return bob.list_buckets()["Owner"]["ID"]


@pytest.fixture
def bucket(alice):
    """A bucket alice owns (removed afterwards, with whatever others wrote in it)."""
    name = unique_bucket_name("acl")
    alice.create_bucket(Bucket=name)
    yield name
    alice.delete_public_access_block(Bucket=name)
    try:
        alice.delete_bucket_policy(Bucket=name)
    except Exception:
        pass
    cleanup_bucket(alice, name)


def anon_get(engine, bucket, key=None, params=None):
    url = f"{engine.endpoint}/{bucket}" + (f"/{key}" if key else "")
    return requests.get(url, params=params, timeout=30)


def anon_put(engine, bucket, key, body=b"x"):
    return requests.put(f"{engine.endpoint}/{bucket}/{key}", data=body, timeout=30)


def error_code(resp):
    return ET.fromstring(resp.content).findtext("Code")


def grants(acl):
    """{(grantee id or URI, permission)} of a Get*Acl answer."""
    out = set()
    for g in acl["Grants"]:
        who = g["Grantee"].get("ID") or g["Grantee"].get("URI")
        out.add((who, g["Permission"]))
    return out


# =========================================================================
# users
# =========================================================================


def test_each_user_lists_its_own_buckets_with_its_owner(alice, alice2, bob, default, bob_id):
    a, b, d = unique_bucket_name("own-a"), unique_bucket_name("own-b"), unique_bucket_name("own-d")
    alice.create_bucket(Bucket=a)
    bob.create_bucket(Bucket=b)
    default.create_bucket(Bucket=d)
    try:
        mine = alice.list_buckets()
        assert {x["Name"] for x in mine["Buckets"]} >= {a}
        assert b not in {x["Name"] for x in mine["Buckets"]} and d not in {x["Name"] for x in mine["Buckets"]}
        assert mine["Owner"] == {"ID": ALICE_ID, "DisplayName": "alice"}
        # A second key of the same user is the same user.
        assert a in {x["Name"] for x in alice2.list_buckets()["Buckets"]}
        theirs = bob.list_buckets()
        assert [x["Name"] for x in theirs["Buckets"] if x["Name"] in (a, b, d)] == [b]
        assert theirs["Owner"]["DisplayName"] == "bob"
        # Configured by display name only: a stable 64-hex canonical id.
        assert re.fullmatch(r"[0-9a-f]{64}", bob_id) and bob_id != ALICE_ID
        legacy = default.list_buckets()
        assert legacy["Owner"]["ID"] == DEFAULT_ID
        assert d in {x["Name"] for x in legacy["Buckets"]} and a not in {x["Name"] for x in legacy["Buckets"]}
        assert alice.get_bucket_acl(Bucket=a)["Owner"] == {"ID": ALICE_ID, "DisplayName": "alice"}
    finally:
        alice.delete_bucket(Bucket=a)
        bob.delete_bucket(Bucket=b)
        default.delete_bucket(Bucket=d)


def test_another_users_bucket_is_access_denied(alice, bob, bucket):
    alice.put_object(Bucket=bucket, Key="k", Body=b"alice's")
    for call in (
        lambda: bob.get_object(Bucket=bucket, Key="k"),
        lambda: bob.put_object(Bucket=bucket, Key="k", Body=b"bob's"),
        lambda: bob.delete_object(Bucket=bucket, Key="k"),
        lambda: bob.list_objects_v2(Bucket=bucket),
        lambda: bob.get_bucket_acl(Bucket=bucket),
        lambda: bob.put_bucket_acl(Bucket=bucket, ACL="public-read"),
        lambda: bob.get_object_acl(Bucket=bucket, Key="k"),
        lambda: bob.delete_bucket(Bucket=bucket),
    ):
        expect_error(call, "AccessDenied", 403)
    assert alice.get_object(Bucket=bucket, Key="k")["Body"].read() == b"alice's"


def test_a_taken_bucket_name_is_bucket_already_exists(alice, bob, bucket):
    expect_error(lambda: bob.create_bucket(Bucket=bucket), "BucketAlreadyExists", 409)
    # Its owner re-creating it in us-east-1 succeeds (AWS's legacy answer) and changes nothing.
    alice.create_bucket(Bucket=bucket)
    assert alice.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == ALICE_ID


def test_fetch_owner_names_each_objects_owner(alice, bob, bob_id, bucket):
    alice.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{bob_id}"')
    alice.put_object(Bucket=bucket, Key="by-alice", Body=b"a")
    bob.put_object(Bucket=bucket, Key="by-bob", Body=b"b")
    listed = alice.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    owners = {o["Key"]: o["Owner"]["ID"] for o in listed}
    assert owners == {"by-alice": ALICE_ID, "by-bob": bob_id}
    assert "Owner" not in alice.list_objects_v2(Bucket=bucket)["Contents"][0]
    v1 = {o["Key"]: o["Owner"]["DisplayName"] for o in alice.list_objects(Bucket=bucket)["Contents"]}
    assert v1 == {"by-alice": "alice", "by-bob": "bob"}


# =========================================================================
# ACLs
# =========================================================================


def test_public_read_object_is_readable_anonymously(engine, alice, bucket):
    alice.put_object(Bucket=bucket, Key="public", Body=b"for all", ACL="public-read")
    alice.put_object(Bucket=bucket, Key="private", Body=b"mine")
    r = anon_get(engine, bucket, "public")
    assert r.status_code == 200 and r.content == b"for all"
    assert error_code(anon_get(engine, bucket, "private")) == "AccessDenied"
    assert grants(alice.get_object_acl(Bucket=bucket, Key="public")) == {
        (ALICE_ID, "FULL_CONTROL"), (ALL_USERS, "READ")}
    # public-read lets nobody write or list.
    assert anon_put(engine, bucket, "public").status_code == 403
    assert anon_get(engine, bucket).status_code == 403


def test_put_object_acl_changes_who_may_read(engine, alice, bob, bob_id, bucket):
    alice.put_object(Bucket=bucket, Key="k", Body=b"data")
    expect_error(lambda: bob.get_object(Bucket=bucket, Key="k"), "AccessDenied", 403)
    alice.put_object_acl(
        Bucket=bucket, Key="k",
        AccessControlPolicy={
            "Owner": {"ID": ALICE_ID},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": ALICE_ID}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "CanonicalUser", "ID": bob_id}, "Permission": "READ"},
            ],
        },
    )
    assert bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    # READ is not READ_ACP nor WRITE_ACP.
    expect_error(lambda: bob.get_object_acl(Bucket=bucket, Key="k"), "AccessDenied", 403)
    expect_error(lambda: bob.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"), "AccessDenied", 403)
    assert error_code(anon_get(engine, bucket, "k")) == "AccessDenied"
    alice.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert anon_get(engine, bucket, "k").content == b"data"
    # Back to private: the grant to bob is gone too.
    alice.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    expect_error(lambda: bob.get_object(Bucket=bucket, Key="k"), "AccessDenied", 403)
    assert grants(alice.get_object_acl(Bucket=bucket, Key="k")) == {(ALICE_ID, "FULL_CONTROL")}


def test_grant_headers_and_authenticated_read(engine, alice, bob, bob_id, bucket):
    alice.put_object(Bucket=bucket, Key="authn", Body=b"signed only", ACL="authenticated-read")
    assert bob.get_object(Bucket=bucket, Key="authn")["Body"].read() == b"signed only"
    assert anon_get(engine, bucket, "authn").status_code == 403
    alice.put_object(Bucket=bucket, Key="granted", Body=b"g",
                     GrantRead=f'id="{bob_id}"', GrantReadACP=f'uri="{ALL_USERS}"')
    assert bob.get_object(Bucket=bucket, Key="granted")["Body"].read() == b"g"
    got = grants(alice.get_object_acl(Bucket=bucket, Key="granted"))
    assert got == {(bob_id, "READ"), (ALL_USERS, "READ_ACP")}
    # Grant headers replace the default: the owner keeps access as the owner.
    assert alice.get_object(Bucket=bucket, Key="granted")["Body"].read() == b"g"


def test_public_read_write_bucket_takes_writes_owned_by_the_writer(engine, alice, bob, bob_id, bucket):
    alice.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert grants(alice.get_bucket_acl(Bucket=bucket)) == {
        (ALICE_ID, "FULL_CONTROL"), (ALL_USERS, "READ"), (ALL_USERS, "WRITE")}
    bob.put_object(Bucket=bucket, Key="bobs", Body=b"bob wrote this")
    acl = bob.get_object_acl(Bucket=bucket, Key="bobs")
    assert acl["Owner"]["ID"] == bob_id
    # The bucket owner has no access to an object another user owns ...
    expect_error(lambda: alice.get_object(Bucket=bucket, Key="bobs"), "AccessDenied", 403)
    # ... unless its owner grants it; and may always delete it.
    bob.put_object(Bucket=bucket, Key="shared", Body=b"s", ACL="bucket-owner-full-control")
    assert alice.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"
    assert anon_put(engine, bucket, "anon", b"anonymous").status_code == 200
    # What an anonymous caller writes belongs to the bucket owner (see README: AWS gives
    # it to an anonymous owner nobody can act as).
    assert alice.get_object_acl(Bucket=bucket, Key="anon")["Owner"]["ID"] == ALICE_ID
    assert alice.get_object(Bucket=bucket, Key="anon")["Body"].read() == b"anonymous"
    listed = {o["Key"] for o in requests_list(engine, bucket)}
    assert {"bobs", "shared", "anon"} <= listed
    alice.delete_object(Bucket=bucket, Key="bobs")
    expect_error(lambda: bob.head_object(Bucket=bucket, Key="bobs"), "404", 404)


def requests_list(engine, bucket):
    r = anon_get(engine, bucket, params={"list-type": "2"})
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    return [{"Key": c.findtext(f"{NS}Key")} for c in root.iter(f"{NS}Contents")]


def test_canned_acl_on_create_bucket_copy_and_multipart(engine, alice):
    name = unique_bucket_name("acl-create")
    alice.create_bucket(Bucket=name, ACL="public-read")
    try:
        assert anon_get(engine, name, params={"list-type": "2"}).status_code == 200
        alice.put_object(Bucket=name, Key="src", Body=b"source", ACL="public-read")
        alice.copy_object(Bucket=name, Key="copy-private", CopySource={"Bucket": name, "Key": "src"})
        alice.copy_object(Bucket=name, Key="copy-public", CopySource={"Bucket": name, "Key": "src"},
                          ACL="public-read")
        # A copy never keeps its source's ACL.
        assert anon_get(engine, name, "copy-private").status_code == 403
        assert anon_get(engine, name, "copy-public").content == b"source"
        up = alice.create_multipart_upload(Bucket=name, Key="mpu", ACL="public-read")
        part = alice.upload_part(Bucket=name, Key="mpu", UploadId=up["UploadId"], PartNumber=1, Body=b"parts")
        alice.complete_multipart_upload(Bucket=name, Key="mpu", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        assert anon_get(engine, name, "mpu").content == b"parts"
    finally:
        cleanup_bucket(alice, name)


def test_versioned_object_acl(engine, alice, bucket):
    alice.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = alice.put_object(Bucket=bucket, Key="v", Body=b"one", ACL="public-read")["VersionId"]
    v2 = alice.put_object(Bucket=bucket, Key="v", Body=b"two")["VersionId"]
    assert (ALL_USERS, "READ") in grants(alice.get_object_acl(Bucket=bucket, Key="v", VersionId=v1))
    assert grants(alice.get_object_acl(Bucket=bucket, Key="v")) == {(ALICE_ID, "FULL_CONTROL")}
    assert anon_get(engine, bucket, "v").status_code == 403
    alice.put_object_acl(Bucket=bucket, Key="v", VersionId=v2, ACL="public-read")
    assert anon_get(engine, bucket, "v").content == b"two"


def test_acl_mistakes_get_awss_errors(alice, bob_id, bucket):
    alice.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_error(lambda: alice.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="public"), "InvalidArgument", 400)
    expect_error(lambda: alice.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="private",
                                          GrantRead=f'id="{bob_id}"'), "InvalidRequest", 400)
    expect_error(lambda: alice.put_object_acl(Bucket=bucket, Key="k", GrantRead='emailAddress="x@example.com"'),
                 "UnresolvableGrantByEmailAddress", 400)
    expect_error(lambda: alice.put_object_acl(Bucket=bucket, Key="k", GrantRead='id="' + "0" * 64 + '"'),
                 "InvalidArgument", 400)
    expect_error(lambda: alice.put_bucket_acl(
        Bucket=bucket, AccessControlPolicy={"Owner": {"ID": ALICE_ID}, "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": ALICE_ID}, "Permission": "EVERYTHING"}]}),
        "MalformedACLError", 400)
    expect_error(lambda: alice.put_bucket_acl(
        Bucket=bucket, AccessControlPolicy={"Owner": {"ID": ALICE_ID}, "Grants": [
            {"Grantee": {"Type": "Group", "URI": "http://example.com/everyone"}, "Permission": "READ"}]}),
        "InvalidArgument", 400)
    expect_error(lambda: alice.put_object_acl(Bucket=bucket, Key="missing", ACL="private"), "NoSuchKey", 404)
    # Nothing changed by the refused requests.
    assert grants(alice.get_object_acl(Bucket=bucket, Key="k")) == {(ALICE_ID, "FULL_CONTROL")}


def test_policy_deny_beats_a_public_acl(engine, alice, bucket):
    alice.put_object(Bucket=bucket, Key="secret/x", Body=b"s", ACL="public-read")
    alice.put_object(Bucket=bucket, Key="open/x", Body=b"o", ACL="public-read")
    alice.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/secret/*"}]}))
    assert anon_get(engine, bucket, "secret/x").status_code == 403
    assert anon_get(engine, bucket, "open/x").content == b"o"


def test_a_policy_grants_another_user(alice, bob, bob_id, bucket):
    alice.put_object(Bucket=bucket, Key="k", Body=b"x")
    alice.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": BOB["accessKeyId"]}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    expect_error(lambda: bob.list_objects_v2(Bucket=bucket), "AccessDenied", 403)


# =========================================================================
# Object Ownership
# =========================================================================


def test_ownership_controls_round_trip_and_disable_acls(alice, bob, bob_id, bucket):
    expect_error(lambda: alice.get_bucket_ownership_controls(Bucket=bucket), "OwnershipControlsNotFoundError", 404)
    alice.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    got = alice.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert got == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    expect_error(lambda: alice.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read"),
                 "AccessControlListNotSupported", 400)
    expect_error(lambda: alice.put_bucket_acl(Bucket=bucket, ACL="public-read"), "AccessControlListNotSupported", 400)
    alice.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    # What another user writes belongs to the bucket owner.
    alice.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": BOB["accessKeyId"]}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    bob.put_object(Bucket=bucket, Key="from-bob", Body=b"b")
    assert alice.get_object_acl(Bucket=bucket, Key="from-bob")["Owner"]["ID"] == ALICE_ID
    assert alice.get_object(Bucket=bucket, Key="from-bob")["Body"].read() == b"b"
    alice.delete_bucket_ownership_controls(Bucket=bucket)
    expect_error(lambda: alice.get_bucket_ownership_controls(Bucket=bucket), "OwnershipControlsNotFoundError", 404)
    alice.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")


def test_bucket_owner_preferred(alice, bob, bob_id, bucket):
    alice.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    alice.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{bob_id}"')
    bob.put_object(Bucket=bucket, Key="given", Body=b"g", ACL="bucket-owner-full-control")
    bob.put_object(Bucket=bucket, Key="kept", Body=b"k")
    assert alice.get_object_acl(Bucket=bucket, Key="given")["Owner"]["ID"] == ALICE_ID
    assert bob.get_object_acl(Bucket=bucket, Key="kept")["Owner"]["ID"] == bob_id


def test_ownership_mistakes(alice, bucket):
    name = unique_bucket_name("acl-enforced")
    expect_error(lambda: alice.create_bucket(Bucket=name, ACL="public-read", ObjectOwnership="BucketOwnerEnforced"),
                 "InvalidBucketAclWithObjectOwnership", 400)
    expect_error(lambda: alice.head_bucket(Bucket=name), "404", 404)
    alice.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced")
    try:
        rules = alice.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    finally:
        alice.delete_bucket(Bucket=name)
    alice.put_bucket_acl(Bucket=bucket, ACL="public-read")
    expect_error(lambda: alice.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}),
        "InvalidBucketAclWithObjectOwnership", 400)
    expect_error(lambda: alice.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]}), "MalformedXML", 400)


# =========================================================================
# Block Public Access
# =========================================================================


def test_public_access_block_round_trip_and_effects(engine, alice, bucket):
    expect_error(lambda: alice.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration", 404)
    alice.put_object(Bucket=bucket, Key="pub", Body=b"p", ACL="public-read")
    public_policy = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                               "Resource": f"arn:aws:s3:::{bucket}/policy/*"}]})
    alice.put_bucket_policy(Bucket=bucket, Policy=public_policy)
    alice.put_object(Bucket=bucket, Key="policy/x", Body=b"by policy")
    assert anon_get(engine, bucket, "pub").status_code == 200
    assert anon_get(engine, bucket, "policy/x").status_code == 200

    config = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
              "RestrictPublicBuckets": True}
    alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    assert alice.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == config
    # IgnorePublicAcls and RestrictPublicBuckets: what was public is not any more ...
    assert anon_get(engine, bucket, "pub").status_code == 403
    assert anon_get(engine, bucket, "policy/x").status_code == 403
    assert alice.get_object(Bucket=bucket, Key="policy/x")["Body"].read() == b"by policy"
    # ... and BlockPublicAcls / BlockPublicPolicy refuse new public grants.
    expect_error(lambda: alice.put_object(Bucket=bucket, Key="p2", Body=b"x", ACL="public-read"), "AccessDenied", 403)
    expect_error(lambda: alice.put_bucket_acl(Bucket=bucket, ACL="public-read-write"), "AccessDenied", 403)
    expect_error(lambda: alice.put_bucket_policy(Bucket=bucket, Policy=public_policy), "AccessDenied", 403)
    alice.put_object(Bucket=bucket, Key="p3", Body=b"x", ACL="private")

    alice.delete_public_access_block(Bucket=bucket)
    expect_error(lambda: alice.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration", 404)
    assert anon_get(engine, bucket, "pub").status_code == 200


def test_public_access_block_partial_settings(engine, alice, bucket):
    alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    got = alice.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
                   "RestrictPublicBuckets": False}
    # Setting a public ACL is allowed; it just does not count.
    alice.put_object(Bucket=bucket, Key="pub", Body=b"p", ACL="public-read")
    assert anon_get(engine, bucket, "pub").status_code == 403


def test_access_settings_are_never_anonymous(engine, alice, bucket):
    alice.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    for sub in ("ownershipControls", "publicAccessBlock"):
        r = requests.get(f"{engine.endpoint}/{bucket}", params={sub: ""}, timeout=30)
        assert r.status_code == 403 and error_code(r) == "AccessDenied", sub


# =========================================================================
# credentials with owners through the management protocol
# =========================================================================


def test_replace_credentials_keeps_owners(engine, bob, bob_id):
    name = unique_bucket_name("acl-replace")
    bob.create_bucket(Bucket=name)
    try:
        rotated = dict(BOB, accessKeyId="AKIDBOBROTATED", secretAccessKey="bob-rotated-0123456789")
        reply = engine.request("replaceCredentials", {"credentials": [ALICE, ALICE2, rotated, DEFAULT]})
        assert reply.get("success") is True, reply
        fresh = client(engine.endpoint, rotated)
        assert name in {b["Name"] for b in fresh.list_buckets()["Buckets"]}
        assert fresh.list_buckets()["Owner"] == {"ID": bob_id, "DisplayName": "bob"}
        refused = engine.request("replaceCredentials", {"credentials": [
            dict(BOB, owner={"id": ALICE_ID, "displayName": "not alice"}), ALICE]})
        assert refused.get("success") is False and "display names" in json.dumps(refused)
    finally:
        engine.request("replaceCredentials", {"credentials": [ALICE, ALICE2, BOB, DEFAULT]})
        bob.delete_bucket(Bucket=name)
