"""S3 Object Lock: WORM retention and legal hold (issue #22, first half).

Expected behaviour follows the S3 API reference (CreateBucket's
x-amz-bucket-object-lock-enabled, Put/GetObjectLockConfiguration,
Put/GetObjectRetention, Put/GetObjectLegalHold, the x-amz-object-lock-* headers of
PutObject / CopyObject / CreateMultipartUpload, GetObject / HeadObject) and the
Object Lock user guide: a locked version cannot be deleted for good (403
AccessDenied), COMPLIANCE retention only grows, GOVERNANCE retention yields to
x-amz-bypass-governance-retention from a caller allowed s3:BypassGovernanceRetention,
a legal hold blocks deletion until removed, deletes without a version id still add a
delete marker. The engine runs with auth on (one root key), so bucket policies count.
Retentions in these tests last a few seconds, so the versions become deletable (and
the buckets removable) before the module ends.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time

import pytest

from helpers import ManagedEngine, auth_server_fixture, expect_error, make_client

server = auth_server_fixture("lockroot", "lock-root-secret-0123456789")

LOCK_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date")


def soon(seconds: float = 3.0) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


def later(days: int = 1) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)


@pytest.fixture
def lbucket(s3, make_bucket):
    """A new bucket created with object lock on."""
    name = make_bucket(create=False)
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def put(s3, bucket, key="k", body=b"data", **kw):
    return s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)["VersionId"]


def bypass_delete(s3, bucket, key, version):
    s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)


# --- bucket configuration ------------------------------------------------------------


def test_lock_bucket_has_versioning_that_cannot_be_suspended(s3, lbucket):
    assert s3.get_bucket_versioning(Bucket=lbucket)["Status"] == "Enabled"
    conf = s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"]
    assert conf == {"ObjectLockEnabled": "Enabled"}
    expect_error(
        lambda: s3.put_bucket_versioning(Bucket=lbucket, VersioningConfiguration={"Status": "Suspended"}),
        "InvalidBucketState",
        409,
    )
    s3.put_bucket_versioning(Bucket=lbucket, VersioningConfiguration={"Status": "Enabled"})


def test_default_retention_applies_to_new_versions(s3, lbucket):
    for rule in ({"Mode": "GOVERNANCE", "Days": 1}, {"Mode": "COMPLIANCE", "Years": 1}):
        s3.put_object_lock_configuration(
            Bucket=lbucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}},
        )
        got = s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"]
        assert got["Rule"]["DefaultRetention"] == rule
    s3.put_object_lock_configuration(
        Bucket=lbucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    v = put(s3, lbucket)
    r = s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v)["Retention"]
    assert r["Mode"] == "GOVERNANCE"
    left = r["RetainUntilDate"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=23) < left <= dt.timedelta(days=1)
    head = s3.head_object(Bucket=lbucket, Key="k", VersionId=v)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    # Asked-for values win over the default; a copy gets the default, not its source's lock.
    v2 = put(s3, lbucket, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon(2))
    assert s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v2)["Retention"]["Mode"] == "COMPLIANCE"
    c = s3.copy_object(Bucket=lbucket, Key="copy", CopySource={"Bucket": lbucket, "Key": "k", "VersionId": v2})
    r = s3.get_object_retention(Bucket=lbucket, Key="copy", VersionId=c["VersionId"])["Retention"]
    assert r["Mode"] == "GOVERNANCE"
    # Clean up: governance goes with bypass (the root key may), compliance expires.
    for key, version in ((("k", v)), ("copy", c["VersionId"])):
        bypass_delete(s3, lbucket, key, version)
    s3.put_object_lock_configuration(Bucket=lbucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    time.sleep(2)
    s3.delete_object(Bucket=lbucket, Key="k", VersionId=v2)


def test_lock_on_an_existing_versioned_bucket(s3, bucket, vbucket):
    enabled = {"ObjectLockEnabled": "Enabled"}
    expect_error(
        lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enabled),
        "InvalidBucketState",
        409,
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    expect_error(
        lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enabled),
        "InvalidBucketState",
        409,
    )
    s3.put_object_lock_configuration(Bucket=vbucket, ObjectLockConfiguration=enabled)
    assert s3.get_object_lock_configuration(Bucket=vbucket)["ObjectLockConfiguration"] == enabled
    expect_error(
        lambda: s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"}),
        "InvalidBucketState",
        409,
    )


def test_configuration_errors(s3, raw, bucket, lbucket):
    expect_error(
        lambda: s3.get_object_lock_configuration(Bucket=bucket), "ObjectLockConfigurationNotFoundError", 404
    )
    expect_error(
        lambda: s3.get_object_lock_configuration(Bucket=bucket + "-missing"), "NoSuchBucket", 404
    )

    def put_conf(body: str):
        data = body.encode()
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        return raw.put(f"/{lbucket}", params={"object-lock": None}, data=data, headers={"Content-MD5": md5})

    def rule(inner: str) -> str:
        return (
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
            f"<Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>"
        )

    for body, code in [
        ("<ObjectLockConfiguration>", "MalformedXML"),
        ("<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>", "MalformedXML"),
        (rule("<Mode>FOREVER</Mode><Days>1</Days>"), "MalformedXML"),
        (rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"), "MalformedXML"),
        (rule("<Mode>GOVERNANCE</Mode>"), "MalformedXML"),
        (rule("<Mode>GOVERNANCE</Mode><Days>0</Days>"), "InvalidArgument"),
        (rule("<Mode>COMPLIANCE</Mode><Years>-2</Years>"), "InvalidArgument"),
    ]:
        r = put_conf(body)
        assert (r.status, r.error()["Code"]) == (400, code), body
    assert s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }


# --- per version ---------------------------------------------------------------------


def test_retention_and_legal_hold_on_put_get_head(s3, lbucket):
    until = soon(3)
    v = put(s3, lbucket, ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    for read in (s3.head_object, s3.get_object):
        r = read(Bucket=lbucket, Key="k", VersionId=v)
        assert r["ObjectLockMode"] == "GOVERNANCE"
        assert abs((r["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
        assert r["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object_legal_hold(Bucket=lbucket, Key="k", VersionId=v)["LegalHold"] == {"Status": "ON"}
    # A legal hold blocks even a governance bypass; removed, the bypass works.
    expect_error(lambda: bypass_delete(s3, lbucket, "k", v), "AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=lbucket, Key="k", VersionId=v, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=lbucket, Key="k", VersionId=v)["LegalHold"] == {"Status": "OFF"}
    expect_error(lambda: s3.delete_object(Bucket=lbucket, Key="k", VersionId=v), "AccessDenied", 403)
    bypass_delete(s3, lbucket, "k", v)
    expect_error(lambda: s3.head_object(Bucket=lbucket, Key="k", VersionId=v), None, 404)


def test_multipart_upload_carries_the_lock(s3, lbucket):
    up = s3.create_multipart_upload(
        Bucket=lbucket, Key="mp", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon(3)
    )
    part = s3.upload_part(Bucket=lbucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 100)
    done = s3.complete_multipart_upload(
        Bucket=lbucket,
        Key="mp",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    r = s3.get_object_retention(Bucket=lbucket, Key="mp", VersionId=done["VersionId"])["Retention"]
    assert r["Mode"] == "COMPLIANCE"
    expect_error(lambda: bypass_delete(s3, lbucket, "mp", done["VersionId"]), "AccessDenied", 403)


def test_compliance_extends_never_shortens_and_expires(s3, lbucket):
    v = put(s3, lbucket, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon(2))
    cur = s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v)["Retention"]["RetainUntilDate"]
    extended = cur + dt.timedelta(seconds=1)
    s3.put_object_retention(
        Bucket=lbucket, Key="k", VersionId=v, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": extended}
    )
    for retention in (
        {"Mode": "COMPLIANCE", "RetainUntilDate": cur},
        {"Mode": "GOVERNANCE", "RetainUntilDate": later()},
    ):
        expect_error(
            lambda: s3.put_object_retention(
                Bucket=lbucket, Key="k", VersionId=v, Retention=retention, BypassGovernanceRetention=True
            ),
            "AccessDenied",
            403,
        )
    expect_error(lambda: bypass_delete(s3, lbucket, "k", v), "AccessDenied", 403)
    # A delete without a version id adds a delete marker, as always.
    marker = s3.delete_object(Bucket=lbucket, Key="k")
    assert marker["DeleteMarker"] is True
    expect_error(lambda: s3.get_object(Bucket=lbucket, Key="k"), "NoSuchKey", 404)
    expect_error(
        lambda: s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=marker["VersionId"]),
        "MethodNotAllowed",
        405,
    )
    remaining = (extended - dt.datetime.now(dt.timezone.utc)).total_seconds()
    time.sleep(max(0.0, remaining) + 0.2)
    s3.delete_object(Bucket=lbucket, Key="k", VersionId=v)
    s3.delete_object(Bucket=lbucket, Key="k", VersionId=marker["VersionId"])


def test_governance_shortened_or_removed_only_with_bypass(s3, lbucket):
    v = put(s3, lbucket, ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later())
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": soon(60)}
    expect_error(
        lambda: s3.put_object_retention(Bucket=lbucket, Key="k", VersionId=v, Retention=shorter),
        "AccessDenied",
        403,
    )
    s3.put_object_retention(Bucket=lbucket, Key="k", VersionId=v, Retention=shorter, BypassGovernanceRetention=True)
    assert s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v)["Retention"]["Mode"] == "GOVERNANCE"
    # Removing it (an empty Retention) needs the bypass too.
    expect_error(
        lambda: s3.put_object_retention(Bucket=lbucket, Key="k", VersionId=v, Retention={}),
        "AccessDenied",
        403,
    )
    s3.put_object_retention(Bucket=lbucket, Key="k", VersionId=v, Retention={}, BypassGovernanceRetention=True)
    expect_error(
        lambda: s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v),
        "NoSuchObjectLockConfiguration",
        404,
    )
    s3.delete_object(Bucket=lbucket, Key="k", VersionId=v)


def test_bypass_needs_the_permission(s3, lbucket):
    v = put(s3, lbucket, ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later())
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:BypassGovernanceRetention",
                "Resource": f"arn:aws:s3:::{lbucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=lbucket, Policy=json.dumps(deny))
    expect_error(lambda: bypass_delete(s3, lbucket, "k", v), "AccessDenied", 403)
    s3.delete_bucket_policy(Bucket=lbucket)
    bypass_delete(s3, lbucket, "k", v)


def test_delete_objects_reports_each_locked_key(s3, lbucket):
    held = put(s3, lbucket, "held", ObjectLockLegalHoldStatus="ON")
    free = put(s3, lbucket, "free")
    r = s3.delete_objects(
        Bucket=lbucket,
        Delete={"Objects": [{"Key": "held", "VersionId": held}, {"Key": "free", "VersionId": free}]},
    )
    assert [d["Key"] for d in r.get("Deleted", [])] == ["free"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("held", "AccessDenied")]
    s3.put_object_legal_hold(Bucket=lbucket, Key="held", VersionId=held, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=lbucket, Key="held", VersionId=held)


def test_edge_errors(s3, raw, bucket, vbucket, lbucket):
    retention = {"Mode": "GOVERNANCE", "RetainUntilDate": later()}
    # Lock requests on a bucket without lock.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ObjectLockLegalHoldStatus="ON"),
        "InvalidRequest",
        400,
    )
    expect_error(
        lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention=retention), "InvalidRequest", 400
    )
    expect_error(lambda: s3.get_object_legal_hold(Bucket=vbucket, Key="k"), "InvalidRequest", 400)
    # A version without lock settings.
    v = put(s3, lbucket)
    expect_error(
        lambda: s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v), "NoSuchObjectLockConfiguration", 404
    )
    expect_error(
        lambda: s3.get_object_legal_hold(Bucket=lbucket, Key="k", VersionId=v), "NoSuchObjectLockConfiguration", 404
    )
    # A date in the past (body and header).
    past = {"Mode": "GOVERNANCE", "RetainUntilDate": later(-1)}
    r = expect_error(
        lambda: s3.put_object_retention(Bucket=lbucket, Key="k", VersionId=v, Retention=past), "InvalidArgument", 400
    )
    assert r["Error"]["Message"] == "The retain until date must be in the future!"
    expect_error(
        lambda: put(s3, lbucket, ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(-1)),
        "InvalidArgument",
        400,
    )

    def signed(method, params, body=b"", headers=None):
        hdrs = {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(), **(headers or {})}
        return raw.request(method, f"/{lbucket}/k", params=params, data=body, headers=hdrs)

    # Malformed documents and unknown modes.
    date = later().strftime("%Y-%m-%dT%H:%M:%SZ")
    for params, body in [
        ({"retention": None, "versionId": v}, b"<Retention><Mode>FOREVER</Mode>"
         b"<RetainUntilDate>" + date.encode() + b"</RetainUntilDate></Retention>"),
        ({"retention": None, "versionId": v}, b"<Retention><Mode>GOVERNANCE</Mode></Retention>"),
        ({"retention": None, "versionId": v}, b"<Retention>"),
        ({"legal-hold": None, "versionId": v}, b"<LegalHold><Status>MAYBE</Status></LegalHold>"),
    ]:
        r = signed("PUT", params, body)
        assert (r.status, r.error()["Code"]) == (400, "MalformedXML"), body
    # Headers: an unknown mode, a mode without a date, a bad legal hold.
    for headers in [
        {"x-amz-object-lock-mode": "FOREVER", "x-amz-object-lock-retain-until-date": date},
        {"x-amz-object-lock-mode": "GOVERNANCE"},
        {"x-amz-object-lock-legal-hold": "MAYBE"},
    ]:
        r = signed("PUT", None, b"x", headers)
        assert (r.status, r.error()["Code"]) == (400, "InvalidArgument"), headers
    # Lock values on PutObject need Content-MD5 or a checksum.
    r = raw.request(
        "PUT", f"/{lbucket}/k", data=b"x", headers={"x-amz-object-lock-legal-hold": "ON"}
    )
    assert (r.status, r.error()["Code"]) == (400, "InvalidRequest")
    assert "Content-MD5 OR x-amz-checksum- HTTP header is required" in r.error()["Message"]
    # Retention on a delete marker.
    marker = s3.delete_object(Bucket=lbucket, Key="k")["VersionId"]
    expect_error(
        lambda: s3.put_object_retention(Bucket=lbucket, Key="k", VersionId=marker, Retention=retention),
        "MethodNotAllowed",
        405,
    )


def test_locked_version_survives_restart_and_keeps_the_bucket(server, s3, lbucket):
    v = put(s3, lbucket, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon(3))
    until = s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v)["Retention"]["RetainUntilDate"]
    server.restart()
    s3 = server.client()
    r = s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=v)["Retention"]
    assert (r["Mode"], r["RetainUntilDate"]) == ("COMPLIANCE", until)
    assert s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    expect_error(lambda: s3.delete_object(Bucket=lbucket, Key="k", VersionId=v), "AccessDenied", 403)
    expect_error(lambda: s3.delete_bucket(Bucket=lbucket), "BucketNotEmpty", 409)
    time.sleep(max(0.0, (until - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.2)
    s3.delete_object(Bucket=lbucket, Key="k", VersionId=v)


def test_management_empty_and_reset_keep_locked_versions():
    engine = ManagedEngine([{"accessKeyId": "AKIDLOCK", "secretAccessKey": "lock-secret-0123456789"}])
    try:
        s3 = make_client(engine.endpoint, access_key="AKIDLOCK", secret_key="lock-secret-0123456789")
        s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
        s3.create_bucket(Bucket="plain")
        s3.put_object(Bucket="plain", Key="p", Body=b"p")
        held = put(s3, "locked", "held", ObjectLockLegalHoldStatus="ON")
        put(s3, "locked", "free")
        r = engine.request("emptyBucket", {"name": "locked"})
        assert r["result"] == {"deletedObjects": 1, "lockedVersions": 1}, r
        r = engine.request("deleteBucket", {"name": "locked", "force": True})
        assert r["success"] is False and r["error"]["code"] == "BucketNotEmpty", r
        assert "object lock" in r["error"]["message"]
        r = engine.request("reset", {})
        assert r["result"] == {"deletedBuckets": 1, "lockedBuckets": ["locked"]}, r
        versions = s3.list_object_versions(Bucket="locked")["Versions"]
        assert [(x["Key"], x["VersionId"]) for x in versions] == [("held", held)]
        s3.put_object_legal_hold(Bucket="locked", Key="held", VersionId=held, LegalHold={"Status": "OFF"})
        assert engine.request("reset", {})["result"] == {"deletedBuckets": 1}
    finally:
        engine.stop()
