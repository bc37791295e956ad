"""SigV4 authentication, presigned URLs, aws-chunked streaming uploads and
flexible checksums against an engine started with --access-key/--secret-key.

Expected codes and statuses follow AWS's documented S3 behaviour:
  * wrong secret                      -> 403 SignatureDoesNotMatch (+ <StringToSign>)
  * unknown access key                -> 403 InvalidAccessKeyId
  * anonymous request                 -> 403 AccessDenied
  * SigV2 "Authorization: AWS k:s" and SigV2 presigned URLs (boto3's default) are verified
  * x-amz-date off by > 15 minutes    -> 403 RequestTimeTooSkewed
  * wrong region in credential scope  -> 400 AuthorizationHeaderMalformed
  * no x-amz-content-sha256 header    -> 400 InvalidRequest
  * body != x-amz-content-sha256      -> 400 XAmzContentSHA256Mismatch
  * presigned URL expired             -> 403 AccessDenied "Request has expired"
  * X-Amz-Expires > 604800            -> 400 AuthorizationQueryParametersError
  * bad chunk signature               -> 403 SignatureDoesNotMatch
  * checksum mismatch (header/trailer)-> 400 BadDigest
  * malformed x-amz-checksum-* value  -> 400 InvalidRequest
  * presigned + Authorization header  -> 400 InvalidArgument
  * unsigned x-amz-* request header   -> 403 AccessDenied
Every rejected request must leave nothing stored and the engine serving.

The module starts its own engine (fixture `server`, overriding conftest's, so
conftest's `make_bucket`/`bucket` and the engine-alive check use it) and signs
raw requests with a small SigV4 signer written from the AWS documentation
("Signature Calculations for the Authorization Header", "... Transferring
Payload in Multiple Chunks", "Signature calculations for trailing headers").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import os
import time
import uuid
import zlib
from typing import Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import boto3
import botocore.auth
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import MiB, auth_server_fixture, parse_error, unique_bucket_name

ACCESS_KEY = "AKIDTEST"
# contains '/' and '+' on purpose
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYAUTHTESTKEY"
REGION = "us-east-1"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT = 60
KiB = 1024


# =========================================================================
# fixtures
# =========================================================================


server = auth_server_fixture(ACCESS_KEY, SECRET_KEY, REGION, why="auth tests start their own engine with --access-key/--secret-key")


def _client(endpoint, access=ACCESS_KEY, secret=SECRET_KEY, region=REGION, **cfg):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **cfg),
    )


@pytest.fixture(scope="module")
def s3(server):
    """boto3 with its default configuration (SigV4, default checksums)."""
    return _client(server.endpoint)


@pytest.fixture(scope="module")
def presigner(server):
    return _client(server.endpoint, signature_version="s3v4")


@pytest.fixture(scope="module")
def signer(server):
    return Signer(server)


# =========================================================================
# a small SigV4 signer (AWS docs: "Signature Calculations for the
# Authorization Header: Transferring Payload in a Single Chunk")
# =========================================================================


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, SERVICE)
    return _hmac(k, "aws4_request")


def uri_encode(s: str, encode_slash: bool = True) -> str:
    return quote(s, safe="-_.~" + ("" if encode_slash else "/"))


def canonical_query(params) -> str:
    if not params:
        return ""
    items = params.items() if isinstance(params, dict) else params
    enc = sorted((uri_encode(k), uri_encode("" if v is None else str(v))) for k, v in items)
    return "&".join(f"{k}={v}" for k, v in enc)


class Signed:
    """A signed request ready to send, plus the intermediate strings."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def send(self, session: Optional[requests.Session] = None, data=None) -> requests.Response:
        body = self.body if data is None else data
        return (session or requests).request(
            self.method, self.url, headers=self.headers, data=body, timeout=TIMEOUT, allow_redirects=False
        )


class Signer:
    def __init__(self, server):
        self.endpoint = server.endpoint
        self.host = f"{server.host}:{server.port}"

    def sign(
        self,
        method: str,
        path: str,
        params=None,
        headers=None,
        body: bytes = b"",
        payload_hash: Optional[str] = None,
        when: Optional[dt.datetime] = None,
        region: str = REGION,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        send_content_sha256: bool = True,
        date_style: str = "x-amz-date",
        scope_date: Optional[str] = None,
        compact_authorization: bool = False,
    ) -> Signed:
        """`path` is the raw (unencoded) '/bucket/key' path.

        date_style: 'x-amz-date' (default), 'date' (RFC 1123 Date header
        instead) or 'none' (no date header at all)."""
        when = when or dt.datetime.now(dt.timezone.utc)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        date = scope_date or amz_date[:8]
        if payload_hash is None:
            payload_hash = hashlib.sha256(body).hexdigest()
        hdrs = {"host": self.host}
        if date_style == "x-amz-date":
            hdrs["x-amz-date"] = amz_date
        elif date_style == "date":
            hdrs["date"] = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
        if send_content_sha256:
            hdrs["x-amz-content-sha256"] = payload_hash
        for k, v in (headers or {}).items():
            hdrs[k.lower()] = str(v)
        canonical_uri = uri_encode(path, encode_slash=False)
        cq = canonical_query(params)
        names = sorted(hdrs)
        canonical_headers = "".join(f"{n}:{' '.join(hdrs[n].strip().split())}\n" for n in names)
        signed_headers = ";".join(names)
        canonical_request = "\n".join([method, canonical_uri, cq, canonical_headers, signed_headers, payload_hash])
        scope = f"{date}/{region}/{SERVICE}/aws4_request"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = signing_key(secret_key, date, region)
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        out = dict(hdrs)
        sep = "," if compact_authorization else ", "
        out["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}{sep}"
            f"SignedHeaders={signed_headers}{sep}Signature={signature}"
        )
        url = self.endpoint + canonical_uri + (("?" + cq) if cq else "")
        return Signed(
            method=method,
            url=url,
            headers=out,
            body=body,
            amz_date=amz_date,
            scope=scope,
            key=key,
            signature=signature,
            string_to_sign=string_to_sign,
            canonical_request=canonical_request,
        )

    def request(self, method, path, **kw) -> requests.Response:
        return self.sign(method, path, **kw).send()


# =========================================================================
# checksums
# =========================================================================


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    t = _CRC32C
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def b64_crc32(data: bytes) -> str:
    return base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()


def b64_crc32c(data: bytes) -> str:
    return base64.b64encode(crc32c(data).to_bytes(4, "big")).decode()


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def b64_sha1(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


CHECKSUMS = {
    "crc32": (b64_crc32, "ChecksumCRC32"),
    "crc32c": (b64_crc32c, "ChecksumCRC32C"),
    "sha1": (b64_sha1, "ChecksumSHA1"),
    "sha256": (b64_sha256, "ChecksumSHA256"),
}


# =========================================================================
# assertions
# =========================================================================


def assert_error(resp: requests.Response, code: str, status: int) -> dict:
    assert resp.status_code == status, (
        f"expected HTTP {status} {code}, got {resp.status_code}: {resp.content[:600]!r}"
    )
    err = parse_error(resp.content)
    assert err.get("Code") == code, f"expected code {code}, got {err.get('Code')}: {err}"
    return err


def client_error(fn, code: Optional[str], status: int) -> dict:
    with pytest.raises(ClientError) as ei:
        fn()
    r = ei.value.response
    got = (r["ResponseMetadata"]["HTTPStatusCode"], r.get("Error", {}).get("Code") if code else None)
    assert got == (status, code), f"expected {status} {code}, got {got}: {r.get('Error')}"
    return r


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key=key)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, (
        f"{key} must not exist after a rejected request: {ei.value.response}"
    )


def assert_content(s3, bucket, key, expected: bytes):
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert got == expected, f"{key}: expected {len(expected)} bytes {expected[:40]!r}, got {len(got)} {got[:40]!r}"


def assert_serving(s3, bucket: Optional[str] = None):
    """A rejected request must leave the engine serving valid requests."""
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    if bucket:
        key = f"alive-{uuid.uuid4().hex[:8]}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"alive")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"alive"
        s3.delete_object(Bucket=bucket, Key=key)


def data_of(n: int, seed: str = "x") -> bytes:
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (n // len(block) + 1))[:n]


# =========================================================================
# 1. boto3 default configuration
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
    client_error(lambda: s3.head_bucket(Bucket=bucket), None, 404)


def test_boto3_multipart_upload_fileobj_20mib(s3, bucket):
    body = os.urandom(20 * MiB)
    s3.upload_fileobj(io.BytesIO(body), bucket, "big.bin", Config=TransferConfig())  # 8 MiB parts -> 3 parts
    h = s3.head_object(Bucket=bucket, Key="big.bin")
    assert h["ContentLength"] == len(body)
    assert h["ETag"].endswith('-3"'), h["ETag"]
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(body).digest()


def test_boto3_get_object_checksum_mode_enabled(s3, bucket):
    body = data_of(5000, "cm")
    s3.put_object(Bucket=bucket, Key="c.bin", Body=body)  # boto3 default: CRC32 header
    g = s3.get_object(Bucket=bucket, Key="c.bin", ChecksumMode="ENABLED")
    assert g["Body"].read() == body  # botocore validates the returned checksum while reading
    assert g.get("ChecksumCRC32") == b64_crc32(body), {k: v for k, v in g.items() if k.startswith("Checksum")}
    assert g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc32") == b64_crc32(body)


def test_boto3_put_checksum_sha256_roundtrip(s3, bucket):
    body = data_of(777, "sha")
    r = s3.put_object(Bucket=bucket, Key="s.bin", Body=body, ChecksumAlgorithm="SHA256")
    assert r.get("ChecksumSHA256") == b64_sha256(body)
    h = s3.head_object(Bucket=bucket, Key="s.bin", ChecksumMode="ENABLED")
    assert h.get("ChecksumSHA256") == b64_sha256(body)
    g = s3.get_object(Bucket=bucket, Key="s.bin", ChecksumMode="ENABLED")
    assert g["Body"].read() == body
    assert g.get("ChecksumSHA256") == b64_sha256(body)


# =========================================================================
# 2. credential errors
# =========================================================================


def test_wrong_secret_signature_does_not_match(server, s3, signer, bucket):
    bad = _client(server.endpoint, secret="not-the-secret")
    client_error(lambda: bad.list_buckets(), "SignatureDoesNotMatch", 403)
    client_error(lambda: bad.put_object(Bucket=bucket, Key="w", Body=b"x"), "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "w")
    client_error(lambda: bad.head_object(Bucket=bucket, Key="w"), None, 403)

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
    bad = _client(server.endpoint, access="AKIDUNKNOWN", secret=SECRET_KEY)
    client_error(lambda: bad.list_buckets(), "InvalidAccessKeyId", 403)
    client_error(lambda: bad.put_object(Bucket=bucket, Key="u", Body=b"x"), "InvalidAccessKeyId", 403)
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


def test_sigv2_presigned_url_from_boto3_default(server, s3, bucket):
    """boto3's generate_presigned_url signs with SigV2 by default: it must work, and expire."""
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"shared")
    v2 = _client(server.endpoint, signature_version="s3")
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
# 3. clock skew
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
# 4. malformed authorization / payload hash
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
# 5. presigned URLs
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


# =========================================================================
# 6. aws-chunked streaming uploads
#    AWS docs: "Signature Calculations for the Authorization Header:
#    Transferring Payload in Multiple Chunks (Chunked Upload)" and
#    "Signature calculations for trailing headers (chunked uploads)".
# =========================================================================

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def chunked_put(
    signer: Signer,
    path: str,
    chunks: list,
    mode: str = SIGNED,
    trailer: Optional[tuple] = None,
    tamper: Optional[str] = None,
    params=None,
    truncate: int = 0,
    decoded_length_delta: int = 0,
) -> requests.Response:
    """Build and send an aws-chunked PUT.

    chunks:  list of bytes (the final 0-byte chunk is added here)
    trailer: (header-name, value) sent as trailing header (x-amz-trailer)
    tamper:  None | 'data-N' (flip a byte of chunk N after signing)
             | 'sig-N' (corrupt the signature of chunk N; N == len(chunks)
             is the final 0-byte chunk) | 'trailer-sig' | 'no-trailer-sig'
             (send the trailers of SIGNED_TRAILER without their signature)
    """
    trailer_signed = mode == SIGNED_TRAILER and tamper != "no-trailer-sig"
    decoded_len = sum(len(c) for c in chunks) + decoded_length_delta
    signed_chunks = mode in (SIGNED, SIGNED_TRAILER)
    sizes = [len(c) for c in chunks] + [0]
    # compute the wire length first (the Content-Length is signed)
    length = 0
    for n in sizes:
        length += len(f"{n:x}")
        if signed_chunks:
            length += len(";chunk-signature=") + 64
        length += 2 + n + (2 if n or not trailer else 0)
    if trailer:
        length += len(f"{trailer[0]}:{trailer[1]}\r\n")
        if trailer_signed:
            length += len("x-amz-trailer-signature:") + 64 + 2
        length += 2
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(decoded_len),
        "content-length": str(length - truncate),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    req = signer.sign("PUT", path, params=params, headers=headers, payload_hash=mode)
    wire = bytearray()
    prev = req.signature
    for i, chunk in enumerate(list(chunks) + [b""]):
        if signed_chunks:
            sts = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    req.amz_date,
                    req.scope,
                    prev,
                    EMPTY_SHA256,
                    hashlib.sha256(chunk).hexdigest(),
                ]
            )
            prev = hmac.new(req.key, sts.encode(), hashlib.sha256).hexdigest()
            sig = prev
            if tamper == f"sig-{i}":
                sig = ("0" if sig[0] != "0" else "1") + sig[1:]
            wire += f"{len(chunk):x};chunk-signature={sig}\r\n".encode()
        else:
            wire += f"{len(chunk):x}\r\n".encode()
        body = bytearray(chunk)
        if tamper == f"data-{i}":
            body[len(body) // 2] ^= 0x01
        wire += body
        if chunk or not trailer:
            wire += b"\r\n"
    if trailer:
        canonical = f"{trailer[0]}:{trailer[1]}\n"
        wire += canonical.replace("\n", "\r\n").encode()
        if trailer_signed:
            sts = "\n".join(
                [
                    "AWS4-HMAC-SHA256-TRAILER",
                    req.amz_date,
                    req.scope,
                    prev,
                    hashlib.sha256(canonical.encode()).hexdigest(),
                ]
            )
            tsig = hmac.new(req.key, sts.encode(), hashlib.sha256).hexdigest()
            if tamper == "trailer-sig":
                tsig = ("0" if tsig[0] != "0" else "1") + tsig[1:]
            wire += f"x-amz-trailer-signature:{tsig}\r\n".encode()
        wire += b"\r\n"
    assert len(wire) == length, (len(wire), length)
    if truncate:
        wire = wire[:-truncate]
    return req.send(data=bytes(wire))


THREE_CHUNKS = [data_of(64 * KiB, "c1"), data_of(64 * KiB, "c2"), data_of(100, "c3")]


def test_chunked_signed_three_chunks(s3, signer, bucket):
    r = chunked_put(signer, f"/{bucket}/chunked.bin", THREE_CHUNKS)
    assert r.status_code == 200, r.content[:500]
    expected = b"".join(THREE_CHUNKS)
    assert r.headers.get("ETag") == f'"{hashlib.md5(expected).hexdigest()}"'
    assert_content(s3, bucket, "chunked.bin", expected)
    assert s3.head_object(Bucket=bucket, Key="chunked.bin")["ContentLength"] == 64 * KiB * 2 + 100


def test_chunked_content_encoding_not_stored(s3, signer, bucket):
    # aws-chunked is a transfer detail; S3 does not store it as Content-Encoding
    r = chunked_put(signer, f"/{bucket}/ce.bin", THREE_CHUNKS)
    assert r.status_code == 200, r.content[:500]
    h = s3.head_object(Bucket=bucket, Key="ce.bin")
    assert "aws-chunked" not in h.get("ContentEncoding", ""), h.get("ContentEncoding")


@pytest.mark.parametrize("tamper", ["data-0", "data-2", "sig-0", "sig-1", "sig-3"])
def test_chunked_signed_tampered_rejected(s3, signer, bucket, tamper):
    r = chunked_put(signer, f"/{bucket}/tampered.bin", THREE_CHUNKS, tamper=tamper)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "tampered.bin")
    # an existing object is not overwritten either
    s3.put_object(Bucket=bucket, Key="keep.bin", Body=b"keep me")
    r = chunked_put(signer, f"/{bucket}/keep.bin", THREE_CHUNKS, tamper=tamper)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_content(s3, bucket, "keep.bin", b"keep me")
    assert_serving(s3, bucket)


def test_chunked_unsigned_trailer_crc32(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(
        signer, f"/{bucket}/ut.bin", THREE_CHUNKS, mode=UNSIGNED_TRAILER,
        trailer=("x-amz-checksum-crc32", b64_crc32(payload)),
    )
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "ut.bin", payload)
    h = s3.head_object(Bucket=bucket, Key="ut.bin", ChecksumMode="ENABLED")
    assert h.get("ChecksumCRC32") == b64_crc32(payload), h


def test_chunked_unsigned_trailer_bad_crc32_bad_digest(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    wrong = b64_crc32(payload + b"!")
    r = chunked_put(signer, f"/{bucket}/utbad.bin", THREE_CHUNKS, mode=UNSIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32", wrong))
    assert_error(r, "BadDigest", 400)
    assert_absent(s3, bucket, "utbad.bin")
    s3.put_object(Bucket=bucket, Key="utkeep.bin", Body=b"keep")
    r = chunked_put(signer, f"/{bucket}/utkeep.bin", THREE_CHUNKS, mode=UNSIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32", wrong))
    assert_error(r, "BadDigest", 400)
    assert_content(s3, bucket, "utkeep.bin", b"keep")
    assert_serving(s3, bucket)


def test_chunked_signed_trailer(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/st.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)))
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "st.bin", payload)
    h = s3.head_object(Bucket=bucket, Key="st.bin", ChecksumMode="ENABLED")
    assert h.get("ChecksumCRC32C") == b64_crc32c(payload), h


def test_chunked_signed_trailer_bad_trailer_signature(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/stbad.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)), tamper="trailer-sig")
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "stbad.bin")
    assert_serving(s3, bucket)


def test_chunked_signed_trailer_bad_checksum_bad_digest(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/stcrc.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload + b"!")))
    assert_error(r, "BadDigest", 400)
    assert_absent(s3, bucket, "stcrc.bin")
    assert_serving(s3, bucket)


# =========================================================================
# 7. flexible checksums on a plain PUT
# =========================================================================


@pytest.mark.parametrize("algo", ["sha256", "crc32c", "crc32", "sha1"])
def test_put_flexible_checksum_header(s3, signer, bucket, algo):
    fn, field = CHECKSUMS[algo]
    body = data_of(40000, algo)
    r = signer.request("PUT", f"/{bucket}/ck.bin", body=body, headers={f"x-amz-checksum-{algo}": fn(body)})
    assert r.status_code == 200, r.content[:500]
    h = s3.head_object(Bucket=bucket, Key="ck.bin", ChecksumMode="ENABLED")
    assert h.get(field) == fn(body), {k: v for k, v in h.items() if k.startswith("Checksum")}
    assert_content(s3, bucket, "ck.bin", body)


@pytest.mark.parametrize("algo", ["sha256", "crc32c"])
def test_put_flexible_checksum_echoed_on_put(signer, bucket, algo):
    fn, _ = CHECKSUMS[algo]
    body = data_of(1000, algo)
    r = signer.request("PUT", f"/{bucket}/echo.bin", body=body, headers={f"x-amz-checksum-{algo}": fn(body)})
    assert r.status_code == 200, r.content[:500]
    assert r.headers.get(f"x-amz-checksum-{algo}") == fn(body), dict(r.headers)


@pytest.mark.parametrize("algo", ["sha256", "crc32c", "crc32", "sha1"])
def test_put_flexible_checksum_wrong_bad_digest(s3, signer, bucket, algo):
    fn, _ = CHECKSUMS[algo]
    body = data_of(40000, algo)
    wrong = fn(body + b"tail")
    r = signer.request("PUT", f"/{bucket}/bad.bin", body=body, headers={f"x-amz-checksum-{algo}": wrong})
    assert_error(r, "BadDigest", 400)
    assert_absent(s3, bucket, "bad.bin")
    s3.put_object(Bucket=bucket, Key="old.bin", Body=b"old")
    r = signer.request("PUT", f"/{bucket}/old.bin", body=body, headers={f"x-amz-checksum-{algo}": wrong})
    assert_error(r, "BadDigest", 400)
    assert_content(s3, bucket, "old.bin", b"old")
    assert_serving(s3, bucket)


# =========================================================================
# 9. further SigV4 details (AWS documented behaviour)
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


# ---------------------------------------------------------------- presigned, more


def _presign_at(presigner, when: dt.datetime, method: str, params: dict, expires: int, monkeypatch) -> str:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: when.replace(tzinfo=None))
    try:
        return presigner.generate_presigned_url(method, Params=params, ExpiresIn=expires)
    finally:
        monkeypatch.undo()


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
    other = _client(server.endpoint, region="eu-west-1", signature_version="s3v4")
    url = other.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "r.txt"}, ExpiresIn=300)
    assert "%2Feu-west-1%2F" in url
    assert_error(requests.get(url, timeout=TIMEOUT), "AuthorizationQueryParametersError", 400)
    assert_serving(s3, bucket)


def test_presigned_unknown_access_key(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"key")
    other = _client(server.endpoint, access="AKIDUNKNOWN", signature_version="s3v4")
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


def test_presigned_signed_an_hour_ago_still_valid(presigner, s3, bucket, monkeypatch):
    # presigned URLs are bounded by X-Amz-Date + X-Amz-Expires, not by the 15 minute skew
    s3.put_object(Bucket=bucket, Key="old.txt", Body=b"old url")
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    url = _presign_at(presigner, when, "get_object", {"Bucket": bucket, "Key": "old.txt"}, 3 * 3600, monkeypatch)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"old url", r.content[:500]
    url = _presign_at(presigner, when, "get_object", {"Bucket": bucket, "Key": "old.txt"}, 1800, monkeypatch)
    err = assert_error(requests.get(url, timeout=TIMEOUT), "AccessDenied", 403)
    assert err.get("Message") == "Request has expired", err


def test_presigned_not_yet_valid(presigner, s3, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="future.txt", Body=b"FUTURE-PAYLOAD-0xD4")
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    url = _presign_at(presigner, when, "get_object", {"Bucket": bucket, "Key": "future.txt"}, 300, monkeypatch)
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


# ---------------------------------------------------------------- aws-chunked, more


def test_chunked_signed_upload_part(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpchunk.bin")["UploadId"]
    part1 = [data_of(MiB, f"p1-{i}") for i in range(5)]
    r1 = chunked_put(signer, f"/{bucket}/mpchunk.bin", part1, params={"partNumber": "1", "uploadId": up})
    assert r1.status_code == 200, r1.content[:500]
    r2 = chunked_put(signer, f"/{bucket}/mpchunk.bin", THREE_CHUNKS, params={"partNumber": "2", "uploadId": up})
    assert r2.status_code == 200, r2.content[:500]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mpchunk.bin", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r1.headers["ETag"]},
                                   {"PartNumber": 2, "ETag": r2.headers["ETag"]}]},
    )
    assert_content(s3, bucket, "mpchunk.bin", b"".join(part1) + b"".join(THREE_CHUNKS))


def test_chunked_signed_tampered_upload_part_not_stored(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpbad.bin")["UploadId"]
    r = chunked_put(signer, f"/{bucket}/mpbad.bin", THREE_CHUNKS, params={"partNumber": "1", "uploadId": up},
                    tamper="data-1")
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert s3.list_parts(Bucket=bucket, Key="mpbad.bin", UploadId=up).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="mpbad.bin", UploadId=up)
    assert_serving(s3, bucket)


# final 0-byte chunk of a signed upload is 86 bytes on the wire
@pytest.mark.parametrize("truncate", [86, 86 + 2 + 50])
def test_chunked_truncated_body_not_stored(s3, signer, bucket, truncate):
    r = chunked_put(signer, f"/{bucket}/trunc.bin", THREE_CHUNKS, truncate=truncate)
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    parse_error(r.content)
    assert_absent(s3, bucket, "trunc.bin")
    assert_serving(s3, bucket)


@pytest.mark.parametrize("delta", [1, -1])
def test_chunked_decoded_length_mismatch_not_stored(s3, signer, bucket, delta):
    r = chunked_put(signer, f"/{bucket}/declen.bin", THREE_CHUNKS, decoded_length_delta=delta)
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    parse_error(r.content)
    assert_absent(s3, bucket, "declen.bin")
    assert_serving(s3, bucket)


def test_chunked_unsigned_trailer_missing_trailer_not_stored(s3, signer, bucket):
    # x-amz-trailer announces a checksum that never arrives
    req_chunks = THREE_CHUNKS
    total = sum(len(c) for c in req_chunks)
    wire = bytearray()
    for c in req_chunks + [b""]:
        wire += f"{len(c):x}\r\n".encode() + c + b"\r\n"
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(total),
               "content-length": str(len(wire)), "x-amz-trailer": "x-amz-checksum-crc32"}
    r = signer.sign("PUT", f"/{bucket}/notrailer.bin", headers=headers, payload_hash=UNSIGNED_TRAILER).send(
        data=bytes(wire))
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    parse_error(r.content)
    assert_absent(s3, bucket, "notrailer.bin")
    assert_serving(s3, bucket)


# ---------------------------------------------------------------- checksums, more


def test_multiple_checksum_headers_invalid_request(s3, signer, bucket):
    body = b"two checksums"
    r = signer.request("PUT", f"/{bucket}/multi.bin", body=body,
                       headers={"x-amz-checksum-crc32": b64_crc32(body), "x-amz-checksum-sha256": b64_sha256(body)})
    assert_error(r, "InvalidRequest", 400)
    assert_absent(s3, bucket, "multi.bin")
    assert_serving(s3, bucket)


@pytest.mark.parametrize("value", ["AAAAAAAA", "not base64!"])
def test_malformed_checksum_value_invalid_request(s3, signer, bucket, value):
    r = signer.request("PUT", f"/{bucket}/malf.bin", body=b"malformed", headers={"x-amz-checksum-crc32": value})
    assert_error(r, "InvalidRequest", 400)
    assert_absent(s3, bucket, "malf.bin")
    assert_serving(s3, bucket)


def test_upload_part_wrong_checksum_bad_digest(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpck.bin", ChecksumAlgorithm="SHA256")["UploadId"]
    body = data_of(1000, "part")
    r = signer.request("PUT", f"/{bucket}/mpck.bin", params={"partNumber": "1", "uploadId": up}, body=body,
                       headers={"x-amz-checksum-sha256": b64_sha256(body + b"x")})
    assert_error(r, "BadDigest", 400)
    assert s3.list_parts(Bucket=bucket, Key="mpck.bin", UploadId=up).get("Parts", []) == []
    p = s3.upload_part(Bucket=bucket, Key="mpck.bin", UploadId=up, PartNumber=1, Body=body, ChecksumAlgorithm="SHA256")
    assert p.get("ChecksumSHA256") == b64_sha256(body)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mpck.bin", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}]},
    )
    assert_content(s3, bucket, "mpck.bin", body)


# =========================================================================
# 8. the engine keeps serving after a burst of rejected requests
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


def test_chunked_signed_trailer_without_trailer_signature_is_refused(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/nosig.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)), tamper="no-trailer-sig")
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "nosig.bin")


def test_chunked_signed_without_trailer_mode_refuses_unsigned_trailers(s3, signer, bucket):
    # STREAMING-AWS4-HMAC-SHA256-PAYLOAD signs the chunks only: trailers after them would be unsigned
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/extra.bin", THREE_CHUNKS, mode=SIGNED,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)))
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "extra.bin")


def test_credential_scope_date_must_be_the_whole_request_date(s3, signer, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    for scope_date in [today[:4], today[:6], today + "0"]:
        assert_error(signer.request("GET", f"/{bucket}/k", scope_date=scope_date), "AuthorizationHeaderMalformed", 400)
    assert signer.request("GET", f"/{bucket}/k").status_code == 200


def presign_v4(server, method: str, path: str, headers: dict, expires: int = 300) -> str:
    """A SigV4 presigned URL that signs exactly `headers` (which may leave out host)."""
    when = dt.datetime.now(dt.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{REGION}/{SERVICE}/aws4_request"
    names = sorted(h.lower() for h in headers)
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{ACCESS_KEY}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": ";".join(names),
    }
    cq = canonical_query(params)
    lowered = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{n}:{lowered[n]}\n" for n in names)
    uri = uri_encode(path, encode_slash=False)
    creq = "\n".join([method, uri, cq, canonical_headers, ";".join(names), "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(SECRET_KEY, amz_date[:8], REGION), sts.encode(), hashlib.sha256).hexdigest()
    return f"{server.endpoint}{uri}?{cq}&X-Amz-Signature={sig}"


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

    try:
        deny_when("AWS")
        assert_error(v2_get(), "AccessDenied", 403)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
        deny_when("AWS4-HMAC-SHA256")
        assert v2_get().status_code == 200
        client_error(lambda: s3.get_object(Bucket=bucket, Key="k"), "AccessDenied", 403)
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


def test_sigv2_can_be_turned_off():
    from helpers import Server

    srv = Server(REGION, extra_args=["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--no-sigv2"]).start()
    try:
        c = _client(srv.endpoint)
        name = unique_bucket_name("nosigv2")
        c.create_bucket(Bucket=name)
        c.put_object(Bucket=name, Key="k", Body=b"v4 only")
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        r = requests.get(f"{srv.endpoint}/{name}/k", headers=sigv2_headers("GET", f"/{name}/k", date), timeout=TIMEOUT)
        assert_error(r, "InvalidRequest", 400)
        assert b"v4 only" not in r.content
        url = _client(srv.endpoint, signature_version="s3").generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"})
        assert "AWSAccessKeyId=" in url
        assert_error(requests.get(url, timeout=TIMEOUT), "InvalidRequest", 400)
        assert c.get_object(Bucket=name, Key="k")["Body"].read() == b"v4 only"
    finally:
        srv.stop()
        srv.cleanup()
