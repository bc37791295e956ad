"""SigV4 authentication with the Authorization header: boto3 at its default
configuration, raw requests signed by sigv4_signer.Signer, credential errors,
clock skew, regions, the payload hash, canonicalisation details, anonymous
requests.

Expected codes and statuses follow AWS's documented S3 behaviour:
  * wrong secret                      -> 403 SignatureDoesNotMatch (+ <StringToSign>)
  * unknown access key                -> 403 InvalidAccessKeyId
  * anonymous request                 -> 403 AccessDenied
  * x-amz-date off by > 15 minutes    -> 403 RequestTimeTooSkewed
  * wrong region in credential scope  -> 400 AuthorizationHeaderMalformed
  * no x-amz-content-sha256 header    -> 400 InvalidRequest
  * body != x-amz-content-sha256      -> 400 XAmzContentSHA256Mismatch
  * unsigned x-amz-* request header   -> 403 AccessDenied
Every rejected request must leave nothing stored and the engine serving.
Engine: the module's own, auth on (`server = auth_engine()`, sigv4_signer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os

import botocore.auth
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import MiB, assert_absent, assert_content, assert_error, assert_serving, b64_crc32, data_of
from helpers import expect_error, unique_bucket_name
from sigv4_signer import ACCESS_KEY, EMPTY_SHA256, REGION, SECRET_KEY, TIMEOUT, auth_engine, client

server = auth_engine()


# =========================================================================
# boto3 default configuration
# =========================================================================


def test_boto3_default_config_crud(s3, make_bucket):
    bucket = make_bucket("crud")
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    body = data_of(12345, "crud")
    r = s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=body, Metadata={"k": "v"})
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    g = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert g["Body"].read() == body
    assert g["Metadata"] == {"k": "v"}
    h = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert h["ContentLength"] == len(body)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/obj.bin"]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == ["dir/obj.bin"]
    # a key that needs percent-encoding in the canonical URI
    odd = "sp ace/ü+plus=eq&amp;~tilde*star"
    s3.put_object(Bucket=bucket, Key=odd, Body=b"odd")
    assert s3.get_object(Bucket=bucket, Key=odd)["Body"].read() == b"odd"
    s3.delete_object(Bucket=bucket, Key=odd)
    s3.delete_object(Bucket=bucket, Key="dir/obj.bin")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # bucket-level delete through the signed path as well
    s3.delete_bucket(Bucket=bucket)
    expect_error(lambda: s3.head_bucket(Bucket=bucket), None, 404)


def test_boto3_multipart_upload_fileobj_20mib(s3, bucket):
    body = os.urandom(20 * MiB)
    s3.upload_fileobj(io.BytesIO(body), bucket, "big.bin", Config=TransferConfig())  # 8 MiB parts -> 3 parts
    h = s3.head_object(Bucket=bucket, Key="big.bin")
    assert h["ContentLength"] == len(body)
    assert h["ETag"].endswith('-3"'), h["ETag"]
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(body).digest()


# =========================================================================
# credential errors, anonymous requests
# =========================================================================


def test_wrong_secret_signature_does_not_match(server, s3, signer, bucket):
    bad = client(server.endpoint, secret="not-the-secret")
    expect_error(lambda: bad.list_buckets(), "SignatureDoesNotMatch", 403)
    expect_error(lambda: bad.put_object(Bucket=bucket, Key="w", Body=b"x"), "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "w")
    expect_error(lambda: bad.head_object(Bucket=bucket, Key="w"), None, 403)

    req = signer.sign("GET", f"/{bucket}", params={"list-type": "2"}, secret_key="not-the-secret")
    r = req.send()
    err = assert_error(r, "SignatureDoesNotMatch", 403)
    assert b"<StringToSign>" in r.content, r.content
    # the server reports the string to sign it computed; only the secret
    # differs, so it must be exactly ours
    assert err.get("StringToSign") == req.string_to_sign, (err.get("StringToSign"), req.string_to_sign)
    assert err.get("SignatureProvided", req.signature) == req.signature
    assert err.get("AWSAccessKeyId", ACCESS_KEY) == ACCESS_KEY
    assert_serving(s3, bucket)


def test_unknown_access_key_invalid_access_key_id(server, s3, signer, bucket):
    bad = client(server.endpoint, access="AKIDUNKNOWN", secret=SECRET_KEY)
    expect_error(lambda: bad.list_buckets(), "InvalidAccessKeyId", 403)
    expect_error(lambda: bad.put_object(Bucket=bucket, Key="u", Body=b"x"), "InvalidAccessKeyId", 403)
    r = signer.request("GET", f"/{bucket}/u", access_key="AKIDUNKNOWN")
    assert_error(r, "InvalidAccessKeyId", 403)
    assert_absent(s3, bucket, "u")
    assert_serving(s3, bucket)


def test_anonymous_requests_access_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"classified")
    ep = server.endpoint
    assert_error(requests.get(ep + "/", timeout=TIMEOUT), "AccessDenied", 403)
    assert_error(requests.get(f"{ep}/{bucket}", timeout=TIMEOUT), "AccessDenied", 403)
    r = requests.get(f"{ep}/{bucket}/secret.txt", timeout=TIMEOUT)
    assert_error(r, "AccessDenied", 403)
    assert b"classified" not in r.content
    assert requests.head(f"{ep}/{bucket}/secret.txt", timeout=TIMEOUT).status_code == 403
    assert_error(requests.put(f"{ep}/{bucket}/anon.txt", data=b"x", timeout=TIMEOUT), "AccessDenied", 403)
    assert_error(requests.delete(f"{ep}/{bucket}/secret.txt", timeout=TIMEOUT), "AccessDenied", 403)
    assert_error(requests.put(f"{ep}/{unique_bucket_name('anon')}", timeout=TIMEOUT), "AccessDenied", 403)
    assert_absent(s3, bucket, "anon.txt")
    assert_content(s3, bucket, "secret.txt", b"classified")
    assert_serving(s3, bucket)


# =========================================================================
# clock skew
# =========================================================================


def _botocore_signed_get(url: str, when: dt.datetime, monkeypatch) -> requests.Response:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: when.replace(tzinfo=None))
    req = AWSRequest(method="GET", url=url, headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
    botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(req)
    monkeypatch.undo()
    return requests.get(url, headers=dict(req.headers.items()), timeout=TIMEOUT)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_clock_skew_20_minutes_request_time_too_skewed(server, s3, signer, bucket, minutes, monkeypatch):
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"time")
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    # botocore's own SigV4 signer, with its clock moved
    r = _botocore_signed_get(f"{server.endpoint}/{bucket}/t.txt", when, monkeypatch)
    assert_error(r, "RequestTimeTooSkewed", 403)
    # our signer
    assert_error(signer.request("GET", f"/{bucket}/t.txt", when=when), "RequestTimeTooSkewed", 403)
    r = signer.request("PUT", f"/{bucket}/skewed.txt", body=b"late", when=when)
    assert_error(r, "RequestTimeTooSkewed", 403)
    assert_absent(s3, bucket, "skewed.txt")
    assert_serving(s3, bucket)


@pytest.mark.parametrize("minutes", [-10, 10])
def test_clock_skew_10_minutes_accepted(server, s3, signer, bucket, minutes, monkeypatch):
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"time")
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    r = _botocore_signed_get(f"{server.endpoint}/{bucket}/t.txt", when, monkeypatch)
    assert r.status_code == 200, r.content[:500]
    assert r.content == b"time"
    r = signer.request("PUT", f"/{bucket}/ok.txt", body=b"in time", when=when)
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "ok.txt", b"in time")


# =========================================================================
# malformed authorization / payload hash
# =========================================================================


def test_wrong_region_authorization_header_malformed(s3, signer, bucket):
    r = signer.request("GET", f"/{bucket}", params={"list-type": "2"}, region="eu-west-1")
    assert_error(r, "AuthorizationHeaderMalformed", 400)
    r = signer.request("PUT", f"/{bucket}/region.txt", body=b"r", region="eu-west-1")
    assert_error(r, "AuthorizationHeaderMalformed", 400)
    assert_absent(s3, bucket, "region.txt")
    assert_serving(s3, bucket)


def test_wrong_region_error_names_expected_region(signer, bucket):
    # botocore's region redirector reads <Region> from this error
    r = signer.request("GET", f"/{bucket}", params={"list-type": "2"}, region="eu-west-1")
    err = assert_error(r, "AuthorizationHeaderMalformed", 400)
    assert err.get("Region") == REGION, err


def test_missing_content_sha256_invalid_request(s3, signer, bucket):
    s3.put_object(Bucket=bucket, Key="m.txt", Body=b"present")
    r = signer.request("GET", f"/{bucket}/m.txt", send_content_sha256=False)
    assert_error(r, "InvalidRequest", 400)
    assert b"present" not in r.content
    r = signer.request("PUT", f"/{bucket}/m2.txt", body=b"nosha", send_content_sha256=False)
    assert_error(r, "InvalidRequest", 400)
    assert_absent(s3, bucket, "m2.txt")
    assert_serving(s3, bucket)


def test_payload_hash_mismatch_not_stored(s3, signer, bucket):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"old content")
    other = hashlib.sha256(b"some other bytes").hexdigest()
    r = signer.request("PUT", f"/{bucket}/p.txt", body=b"new content", payload_hash=other)
    assert_error(r, "XAmzContentSHA256Mismatch", 400)
    assert_content(s3, bucket, "p.txt", b"old content")
    r = signer.request("PUT", f"/{bucket}/fresh.txt", body=b"new content", payload_hash=other)
    assert_error(r, "XAmzContentSHA256Mismatch", 400)
    assert_absent(s3, bucket, "fresh.txt")
    # a larger body (more than one read buffer) as well
    big = data_of(3 * MiB + 17, "big")
    r = signer.request("PUT", f"/{bucket}/p.txt", body=big, payload_hash=hashlib.sha256(big[:-1]).hexdigest())
    assert_error(r, "XAmzContentSHA256Mismatch", 400)
    assert_content(s3, bucket, "p.txt", b"old content")
    assert_serving(s3, bucket)


def test_signer_sanity_unsigned_payload_and_query(s3, signer, bucket):
    """Our own signer must be accepted (guards the negative tests above)."""
    r = signer.request("PUT", f"/{bucket}/dir/a b+c.txt", body=b"abc", headers={"x-amz-meta-who": "me"})
    assert r.status_code == 200, r.content[:500]
    r = signer.request("PUT", f"/{bucket}/unsigned.txt", body=b"up", payload_hash="UNSIGNED-PAYLOAD")
    assert r.status_code == 200, r.content[:500]
    r = signer.request("GET", f"/{bucket}", params={"list-type": "2", "prefix": "dir/", "delimiter": "/"})
    assert r.status_code == 200, r.content[:500]
    assert b"dir/a b+c.txt" in r.content
    assert_content(s3, bucket, "unsigned.txt", b"up")
    assert s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")["Metadata"] == {"who": "me"}


# =========================================================================
# further SigV4 details (AWS documented behaviour)
# =========================================================================


def test_signed_header_changed_after_signing(s3, signer, bucket):
    req = signer.sign("PUT", f"/{bucket}/meta.txt", body=b"m", headers={"x-amz-meta-color": "blue"})
    req.headers["x-amz-meta-color"] = "red"
    assert_error(req.send(), "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "meta.txt")
    # the body of a signed-payload request is covered too (checked above as
    # XAmzContentSHA256Mismatch); the method is part of the canonical request
    s3.put_object(Bucket=bucket, Key="verb.txt", Body=b"verb")
    req = signer.sign("GET", f"/{bucket}/verb.txt")
    r = requests.delete(req.url, headers=req.headers, timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_content(s3, bucket, "verb.txt", b"verb")
    assert_serving(s3, bucket)


def test_authorization_header_without_spaces_accepted(s3, signer, bucket):
    r = signer.request("PUT", f"/{bucket}/compact.txt", body=b"compact", compact_authorization=True)
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "compact.txt", b"compact")


def test_header_value_whitespace_is_canonicalised(s3, signer, bucket):
    # canonical headers: trim and collapse sequential spaces
    req = signer.sign("PUT", f"/{bucket}/ws.txt", body=b"ws", headers={"x-amz-meta-note": "a   b    c"})
    r = req.send()
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "ws.txt", b"ws")


def test_date_header_instead_of_x_amz_date_accepted(s3, signer, bucket):
    r = signer.request("PUT", f"/{bucket}/date.txt", body=b"dated", date_style="date")
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "date.txt", b"dated")


def test_no_date_header_access_denied(s3, signer, bucket):
    r = signer.request("PUT", f"/{bucket}/nodate.txt", body=b"x", date_style="none")
    assert_error(r, "AccessDenied", 403)
    assert_absent(s3, bucket, "nodate.txt")
    assert_serving(s3, bucket)


def test_credential_date_differs_from_x_amz_date(s3, signer, bucket):
    yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y%m%d")
    r = signer.request("PUT", f"/{bucket}/cd.txt", body=b"x", scope_date=yesterday)
    assert_error(r, "AuthorizationHeaderMalformed", 400)
    assert_absent(s3, bucket, "cd.txt")
    assert_serving(s3, bucket)


def test_invalid_x_amz_content_sha256_value(s3, signer, bucket):
    r = signer.request("PUT", f"/{bucket}/gib.txt", body=b"x", payload_hash="GIBBERISH")
    assert_error(r, "InvalidArgument", 400)
    assert_absent(s3, bucket, "gib.txt")
    assert_serving(s3, bucket)


def test_boto3_query_string_canonicalisation(s3, bucket):
    keys = ["sp ace/ü+=&x.txt", "sp ace/ü+=&y.txt", "plain.txt"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Prefix="sp ace/ü+=&", StartAfter="sp ace/ü+=&x.txt")
    assert [o["Key"] for o in r.get("Contents", [])] == ["sp ace/ü+=&y.txt"]
    g = s3.get_object(
        Bucket=bucket, Key=keys[0],
        ResponseContentDisposition='attachment; filename="a b+c.txt"',
        ResponseContentType="text/x-test; charset=utf-8",
    )
    assert g["Body"].read() == keys[0].encode()
    assert g["ContentDisposition"] == 'attachment; filename="a b+c.txt"'
    assert g["ContentType"] == "text/x-test; charset=utf-8"


def test_header_auth_unsigned_amz_header_rejected(s3, signer, bucket):
    """With the Authorization header as well, every x-amz-* header (other than
    x-amz-content-sha256) must be in SignedHeaders."""
    req = signer.sign("PUT", f"/{bucket}/hdr.txt", body=b"x")
    req.headers["x-amz-meta-evil"] = "1"
    assert_error(req.send(), "AccessDenied", 403)
    assert_absent(s3, bucket, "hdr.txt")
    assert_serving(s3, bucket)


def test_authorization_header_missing_signature_component(s3, signer, bucket):
    req = signer.sign("PUT", f"/{bucket}/nosig.txt", body=b"x")
    req.headers["Authorization"] = req.headers["Authorization"].split(", Signature=")[0]
    assert_error(req.send(), "AuthorizationHeaderMalformed", 400)
    assert_absent(s3, bucket, "nosig.txt")
    assert_serving(s3, bucket)


# =========================================================================
# the engine keeps serving after a burst of rejected requests
# =========================================================================


def test_serving_after_mixed_rejections(server, s3, signer, presigner, bucket):
    ep = server.endpoint
    s3.put_object(Bucket=bucket, Key="base.txt", Body=b"base")
    session = requests.Session()  # keep-alive: rejected requests must not poison the connection
    for _ in range(3):
        rejected = [
            signer.sign("GET", f"/{bucket}/base.txt", secret_key="nope").send(session),
            signer.sign("GET", f"/{bucket}/base.txt", access_key="NOPE").send(session),
            session.get(f"{ep}/{bucket}/base.txt", timeout=TIMEOUT),
            signer.sign("GET", f"/{bucket}/base.txt", region="ap-south-1").send(session),
            signer.sign("PUT", f"/{bucket}/base.txt", body=b"zzz",
                        payload_hash=EMPTY_SHA256).send(session),
            signer.sign("PUT", f"/{bucket}/base.txt", body=b"zzz",
                        headers={"x-amz-checksum-crc32": b64_crc32(b"yyy")}).send(session),
        ]
        assert all(r.status_code >= 400 for r in rejected), [r.status_code for r in rejected]
        ok = signer.sign("GET", f"/{bucket}/base.txt").send(session)
        assert ok.status_code == 200 and ok.content == b"base", (ok.status_code, ok.content[:300])
    assert_content(s3, bucket, "base.txt", b"base")
    assert_serving(s3, bucket)


# =========================================================================
# signature defects closed by the security review (each failed before its fix)
# =========================================================================


def test_credential_scope_date_must_be_the_whole_request_date(s3, signer, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    for scope_date in [today[:4], today[:6], today + "0"]:
        assert_error(signer.request("GET", f"/{bucket}/k", scope_date=scope_date), "AuthorizationHeaderMalformed", 400)
    assert signer.request("GET", f"/{bucket}/k").status_code == 200


def test_plus_in_query_is_signed_as_it_is_served(s3, signer, bucket):
    # '+' in a query string is a space (form encoding) for routing AND for the signature
    for key in ["a b/x", "a+b/y"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    as_space = signer.sign("GET", f"/{bucket}", params={"list-type": "2", "prefix": "a b"})
    r = requests.get(as_space.url.replace("prefix=a%20b", "prefix=a+b"), headers=as_space.headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert b"<Key>a b/x</Key>" in r.content and b"a+b/y" not in r.content
    # signed as a literal '+' but sent raw: the server would serve "a b", so the signature must not match
    as_plus = signer.sign("GET", f"/{bucket}", params={"list-type": "2", "prefix": "a+b"})
    assert "prefix=a%2Bb" in as_plus.url
    r = requests.get(as_plus.url.replace("prefix=a%2Bb", "prefix=a+b"), headers=as_plus.headers, timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    r = as_plus.send()
    assert r.status_code == 200 and b"<Key>a+b/y</Key>" in r.content and b"a b/x" not in r.content
