"""Presigned URLs: SigV4 query authentication (boto3 with signature_version
s3v4, and sigv4_signer.presign_v4 for hand-made ones) and SigV2 (boto3's default
generate_presigned_url).

Expected codes and statuses follow AWS's documented S3 behaviour:
  * presigned URL expired             -> 403 AccessDenied "Request has expired"
  * X-Amz-Expires > 604800            -> 400 AuthorizationQueryParametersError
  * tampered signature / other key    -> 403 SignatureDoesNotMatch
  * presigned + Authorization header  -> 400 InvalidArgument
  * unsigned x-amz-* request header   -> 403 AccessDenied
  * host not among the signed headers -> 403 AccessDenied
Every rejected request must leave nothing stored and the engine serving.
Engine: the module's own, auth on (`server = auth_engine()`, sigv4_signer).
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
import requests

from helpers import assert_absent, assert_content, assert_error, assert_serving
from sigv4_signer import TIMEOUT, auth_engine, client, presign_v4

server = auth_engine()


# =========================================================================
# SigV2 presigned URLs (boto3's default)
# =========================================================================


def test_sigv2_presigned_url_from_boto3_default(server, s3, bucket):
    """boto3's generate_presigned_url signs with SigV2 by default: it must work, and expire."""
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"shared")
    v2 = client(server.endpoint, signature_version="s3")
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"shared"
    put_url = v2.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    assert requests.put(put_url, data=b"up", timeout=TIMEOUT).status_code == 200
    assert_content(s3, bucket, "up.txt", b"up")
    assert_error(requests.put(put_url.replace("Signature=", "Signature=A"), data=b"evil", timeout=TIMEOUT), "SignatureDoesNotMatch", 403)
    expired = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(expired, timeout=TIMEOUT)
    assert_error(r, "AccessDenied", 403)
    assert "Request has expired" in r.text


# =========================================================================
# SigV4 presigned URLs
# =========================================================================


def test_presigned_get_put_head_delete(presigner, s3, bucket):
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "ps.txt"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in put_url and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in put_url
    r = requests.put(put_url, data=b"presigned body", timeout=TIMEOUT)
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "ps.txt", b"presigned body")

    get_url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "ps.txt"}, ExpiresIn=300)
    r = requests.get(get_url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"presigned body", r.content[:500]

    head_url = presigner.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "ps.txt"}, ExpiresIn=300)
    r = requests.head(head_url, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers.get("Content-Length") == str(len(b"presigned body"))

    list_url = presigner.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket}, ExpiresIn=300)
    r = requests.get(list_url, timeout=TIMEOUT)
    assert r.status_code == 200 and b"<Key>ps.txt</Key>" in r.content, r.content[:500]

    del_url = presigner.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "ps.txt"}, ExpiresIn=300)
    r = requests.delete(del_url, timeout=TIMEOUT)
    assert r.status_code == 204, r.content[:500]
    assert_absent(s3, bucket, "ps.txt")


def test_presigned_expired_access_denied(presigner, s3, bucket):
    s3.put_object(Bucket=bucket, Key="e.txt", Body=b"soon gone")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e.txt"}, ExpiresIn=1)
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "e2.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(url, timeout=TIMEOUT)
    err = assert_error(r, "AccessDenied", 403)
    assert err.get("Message") == "Request has expired", err
    assert b"soon gone" not in r.content
    err = assert_error(requests.put(put_url, data=b"late", timeout=TIMEOUT), "AccessDenied", 403)
    assert err.get("Message") == "Request has expired", err
    assert_absent(s3, bucket, "e2.txt")
    assert_serving(s3, bucket)


def test_presigned_expires_over_one_week(presigner, s3, bucket):
    s3.put_object(Bucket=bucket, Key="w.txt", Body=b"week")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w.txt"}, ExpiresIn=604801)
    assert "X-Amz-Expires=604801" in url
    assert_error(requests.get(url, timeout=TIMEOUT), "AuthorizationQueryParametersError", 400)
    # exactly one week is allowed
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w.txt"}, ExpiresIn=604800)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"week", r.content[:500]
    assert_serving(s3, bucket)


def _replace_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    q = "&".join(
        (f"{name}={value}" if p.split("=", 1)[0] == name else p) for p in parts.query.split("&")
    )
    return urlunsplit(parts._replace(query=q))


def test_presigned_tampered_signature(presigner, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"TAMPER-PAYLOAD-0xA1")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "t.txt"}, ExpiresIn=300)
    sig = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["X-Amz-Signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    r = requests.get(_replace_query_param(url, "X-Amz-Signature", flipped), timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert b"TAMPER-PAYLOAD-0xA1" not in r.content
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "t.txt"}, ExpiresIn=300)
    sig = dict(p.split("=", 1) for p in urlsplit(put_url).query.split("&"))["X-Amz-Signature"]
    r = requests.put(_replace_query_param(put_url, "X-Amz-Signature", "f" * 64 if sig != "f" * 64 else "e" * 64),
                     data=b"overwritten", timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_content(s3, bucket, "t.txt", b"TAMPER-PAYLOAD-0xA1")
    assert_serving(s3, bucket)


def test_presigned_url_for_other_key(presigner, s3, bucket):
    s3.put_object(Bucket=bucket, Key="allowed.txt", Body=b"allowed")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"PRIVATE-PAYLOAD-0xB2")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "allowed.txt"}, ExpiresIn=300)
    assert f"/{bucket}/allowed.txt?" in url
    r = requests.get(url.replace("/allowed.txt?", "/private.txt?"), timeout=TIMEOUT)
    assert r.status_code == 403, r.content[:500]
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert b"PRIVATE-PAYLOAD-0xB2" not in r.content
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "allowed.txt"}, ExpiresIn=300)
    r = requests.put(put_url.replace("/allowed.txt?", "/private.txt?"), data=b"hijack", timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_content(s3, bucket, "private.txt", b"PRIVATE-PAYLOAD-0xB2")
    assert_serving(s3, bucket)


def _presign_at(server, when: dt.datetime, path: str, expires: int) -> str:
    """A presigned GET dated `when`: signed here, since botocore's presigner takes its
    clock from awscrt when that is installed, where no monkeypatch reaches it."""
    return presign_v4(server, "GET", path, {"host": f"{server.host}:{server.port}"}, expires, when)


def test_presigned_special_key_and_response_overrides(presigner, s3, bucket):
    key = "dir with space/ü+plus=eq&amp.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"special")
    url = presigner.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentType": "text/x-presigned; charset=utf-8",
                "ResponseContentDisposition": 'attachment; filename="x y.txt"'},
        ExpiresIn=300,
    )
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200, r.content[:500]
    assert r.content == b"special"
    assert r.headers.get("Content-Type") == "text/x-presigned; charset=utf-8"
    assert r.headers.get("Content-Disposition") == 'attachment; filename="x y.txt"'


def test_presigned_extra_query_parameter_rejected(presigner, s3, bucket):
    s3.put_object(Bucket=bucket, Key="q.txt", Body=b"QUERY-PAYLOAD-0xC3")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "q.txt"}, ExpiresIn=300)
    r = requests.get(url + "&response-content-type=text%2Fhtml", timeout=TIMEOUT)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert b"QUERY-PAYLOAD-0xC3" not in r.content
    assert_serving(s3, bucket)


def test_presigned_wrong_region(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="r.txt", Body=b"region")
    other = client(server.endpoint, region="eu-west-1", signature_version="s3v4")
    url = other.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "r.txt"}, ExpiresIn=300)
    assert "%2Feu-west-1%2F" in url
    assert_error(requests.get(url, timeout=TIMEOUT), "AuthorizationQueryParametersError", 400)
    assert_serving(s3, bucket)


def test_presigned_unknown_access_key(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"key")
    other = client(server.endpoint, access="AKIDUNKNOWN", signature_version="s3v4")
    url = other.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k.txt"}, ExpiresIn=300)
    assert_error(requests.get(url, timeout=TIMEOUT), "InvalidAccessKeyId", 403)
    assert_serving(s3, bucket)


def test_presigned_plus_authorization_header_invalid_argument(presigner, signer, s3, bucket):
    s3.put_object(Bucket=bucket, Key="two.txt", Body=b"two")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "two.txt"}, ExpiresIn=300)
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    # a header signature that is itself valid for the very same URL (query included)
    query = [tuple(unquote(x) for x in p.split("=", 1)) for p in urlsplit(url).query.split("&")]
    req = signer.sign("GET", f"/{bucket}/two.txt", params=query)
    assert signer.sign("GET", f"/{bucket}/two.txt").send().status_code == 200
    r = requests.get(req.url, headers=req.headers, timeout=TIMEOUT)
    assert_error(r, "InvalidArgument", 400)
    assert b"two" not in r.content.replace(b"two.txt", b"")
    assert_serving(s3, bucket)


def test_presigned_signed_an_hour_ago_still_valid(server, s3, bucket):
    # presigned URLs are bounded by X-Amz-Date + X-Amz-Expires, not by the 15 minute skew
    s3.put_object(Bucket=bucket, Key="old.txt", Body=b"old url")
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    url = _presign_at(server, when, f"/{bucket}/old.txt", 3 * 3600)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"old url", r.content[:500]
    url = _presign_at(server, when, f"/{bucket}/old.txt", 1800)
    err = assert_error(requests.get(url, timeout=TIMEOUT), "AccessDenied", 403)
    assert err.get("Message") == "Request has expired", err


def test_presigned_not_yet_valid(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="future.txt", Body=b"FUTURE-PAYLOAD-0xD4")
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    url = _presign_at(server, when, f"/{bucket}/future.txt", 300)
    r = requests.get(url, timeout=TIMEOUT)
    assert_error(r, "AccessDenied", 403)
    assert b"FUTURE-PAYLOAD-0xD4" not in r.content
    assert_serving(s3, bucket)


def _drop_query_param(url: str, name: str) -> str:
    parts = urlsplit(url)
    q = "&".join(p for p in parts.query.split("&") if p.split("=", 1)[0] != name)
    return urlunsplit(parts._replace(query=q))


@pytest.mark.parametrize("case", ["missing-signature", "missing-credential", "negative-expires", "bad-algorithm"])
def test_presigned_malformed_query_parameters(presigner, s3, bucket, case):
    s3.put_object(Bucket=bucket, Key="mq.txt", Body=b"MQ-PAYLOAD-0xE5")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "mq.txt"}, ExpiresIn=300)
    if case == "missing-signature":
        url = _drop_query_param(url, "X-Amz-Signature")
    elif case == "missing-credential":
        url = _drop_query_param(url, "X-Amz-Credential")
    elif case == "negative-expires":
        url = _replace_query_param(url, "X-Amz-Expires", "-1")
    else:
        url = _replace_query_param(url, "X-Amz-Algorithm", "AWS4-HMAC-SHA1")
    r = requests.get(url, timeout=TIMEOUT)
    assert_error(r, "AuthorizationQueryParametersError", 400)
    assert b"MQ-PAYLOAD-0xE5" not in r.content
    assert_serving(s3, bucket)


@pytest.mark.parametrize("header", ["x-amz-meta-evil", "x-amz-tagging", "x-amz-copy-source"])
def test_presigned_unsigned_amz_header_rejected(presigner, s3, bucket, header):
    """x-amz-* headers sent with a presigned request must have been signed
    (S3: 403 AccessDenied "There were headers present in the request which
    were not signed"). Otherwise the holder of a presigned PUT URL can add
    metadata/tags, or turn the upload into a CopyObject of any other key."""
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"PRIVATE-PAYLOAD-0xF6")
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "hns.txt"}, ExpiresIn=300)
    value = {"x-amz-meta-evil": "1", "x-amz-tagging": "evil=1", "x-amz-copy-source": f"/{bucket}/private.txt"}[header]
    r = requests.put(url, data=b"" if header == "x-amz-copy-source" else b"x", headers={header: value},
                     timeout=TIMEOUT)
    assert_error(r, "AccessDenied", 403)
    assert_absent(s3, bucket, "hns.txt")
    assert_serving(s3, bucket)


# =========================================================================
# signature defects closed by the security review (each failed before its fix)
# =========================================================================


def test_presigned_url_must_sign_host(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"value")
    host = f"{server.host}:{server.port}"
    good = presign_v4(server, "GET", f"/{bucket}/k", {"host": host, "range": "bytes=0-1"})
    r = requests.get(good, headers={"range": "bytes=0-1"}, timeout=TIMEOUT)
    assert (r.status_code, r.content) == (206, b"va")
    hostless = presign_v4(server, "GET", f"/{bucket}/k", {"range": "bytes=0-1"})
    r = requests.get(hostless, headers={"range": "bytes=0-1"}, timeout=TIMEOUT)
    assert_error(r, "AccessDenied", 403)
    assert b"value" not in r.content
