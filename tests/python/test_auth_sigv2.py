"""Legacy SigV2 header authentication ("Authorization: AWS key:signature",
HMAC-SHA1): verified, time-checked, every action-selecting sub-resource signed,
told apart from SigV4 by the s3:signatureversion policy condition, and switched
off with `--no-sigv2`. (SigV2 presigned URLs: test_auth_presigned.py.)
Engine: the module's own, auth on (`server = auth_engine()`, sigv4_signer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import requests

from helpers import Server, assert_absent, assert_content, assert_error, assert_serving, expect_error, unique_bucket_name
from sigv4_signer import ACCESS_KEY, REGION, SECRET_KEY, TIMEOUT, auth_engine, client

server = auth_engine()


# =========================================================================
# SigV2 header authentication
# =========================================================================


def test_sigv2_authorization_header_is_verified(server, s3, bucket):
    """Legacy SigV2 (HMAC-SHA1) header auth: a valid signature works, a wrong one is SignatureDoesNotMatch."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    sts = f"PUT\n\ntext/plain\n{date}\n/{bucket}/v2.txt"
    sig = base64.b64encode(hmac.new(SECRET_KEY.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    hdrs = {"Date": date, "Content-Type": "text/plain", "Authorization": f"AWS {ACCESS_KEY}:{sig}"}
    r = requests.put(f"{server.endpoint}/{bucket}/v2.txt", data=b"v2", headers=hdrs, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert_content(s3, bucket, "v2.txt", b"v2")
    hdrs2 = {"Date": date, "Content-Type": "text/plain", "Authorization": f"AWS {ACCESS_KEY}:c2lnbmF0dXJl"}
    r = requests.put(f"{server.endpoint}/{bucket}/v2bad.txt", data=b"v2", headers=hdrs2, timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "v2bad.txt")
    old = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 3600))
    sts = f"GET\n\n\n{old}\n/{bucket}/v2.txt"
    sig = base64.b64encode(hmac.new(SECRET_KEY.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    r = requests.get(f"{server.endpoint}/{bucket}/v2.txt", headers={"Date": old, "Authorization": f"AWS {ACCESS_KEY}:{sig}"}, timeout=TIMEOUT)
    assert_error(r, "RequestTimeTooSkewed", 403)
    assert_serving(s3, bucket)


# =========================================================================
# signature defects closed by the security review (each failed before its fix)
# =========================================================================


def sigv2_headers(method: str, resource: str, date: str) -> dict:
    sts = f"{method}\n\n\n{date}\n{resource}"
    sig = base64.b64encode(hmac.new(SECRET_KEY.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    return {"Date": date, "Authorization": f"AWS {ACCESS_KEY}:{sig}"}


def test_sigv2_signs_every_action_selecting_subresource(server, s3, bucket):
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    listing = sigv2_headers("GET", f"/{bucket}", date)
    assert requests.get(f"{server.endpoint}/{bucket}", headers=listing, timeout=TIMEOUT).status_code == 200
    # the signature of a listing must not be good for another action on the bucket
    for sub in ["policyStatus", "policy", "cors", "versioning", "uploads", "versions", "location", "acl"]:
        r = requests.get(f"{server.endpoint}/{bucket}?{sub}", headers=listing, timeout=TIMEOUT)
        assert_error(r, "SignatureDoesNotMatch", 403)
    own = sigv2_headers("GET", f"/{bucket}?policyStatus", date)
    r = requests.get(f"{server.endpoint}/{bucket}?policyStatus", headers=own, timeout=TIMEOUT)
    assert_error(r, "NoSuchBucketPolicy", 404)


def test_signature_version_condition_tells_sigv2_from_sigv4(server, s3, bucket):
    import json

    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    v2_get = lambda: requests.get(f"{server.endpoint}/{bucket}/k", headers=sigv2_headers("GET", f"/{bucket}/k", date), timeout=TIMEOUT)  # noqa: E731

    def deny_when(version):
        doc = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
            "Condition": {"StringEquals": {"s3:signatureversion": version}}}]}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(doc))

    # the bucket fixture's cleanup drops the policy
    deny_when("AWS")
    assert_error(v2_get(), "AccessDenied", 403)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    deny_when("AWS4-HMAC-SHA256")
    assert v2_get().status_code == 200
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="k"), "AccessDenied", 403)


def test_sigv2_can_be_turned_off():
    # an engine of its own (stopped and removed at the end of the with block)
    with Server(REGION, ["--no-sigv2"], access_key=ACCESS_KEY, secret_key=SECRET_KEY).start() as srv:
        c = client(srv.endpoint)
        name = unique_bucket_name("nosigv2")
        c.create_bucket(Bucket=name)
        c.put_object(Bucket=name, Key="k", Body=b"v4 only")
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        r = requests.get(f"{srv.endpoint}/{name}/k", headers=sigv2_headers("GET", f"/{name}/k", date), timeout=TIMEOUT)
        assert_error(r, "InvalidRequest", 400)
        assert b"v4 only" not in r.content
        url = client(srv.endpoint, signature_version="s3").generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"})
        assert "AWSAccessKeyId=" in url
        assert_error(requests.get(url, timeout=TIMEOUT), "InvalidRequest", 400)
        assert c.get_object(Bucket=name, Key="k")["Body"].read() == b"v4 only"
