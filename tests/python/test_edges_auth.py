"""AWS's exact answers at the edges of authentication (issue #19):

  * presigned URLs: X-Amz-Expires 0 -> 403 AccessDenied "Request has expired" (a URL
    is good for X-Amz-Expires seconds from X-Amz-Date: 0 never is), negative, not a
    number or over 604800 -> 400 AuthorizationQueryParametersError; expired SigV4 and SigV2 URLs ->
    403 AccessDenied "Request has expired" with X-Amz-Expires (SigV4), Expires and
    ServerTime
  * SigV2 header auth: a skewed Date -> 403 RequestTimeTooSkewed (RequestTime,
    ServerTime, MaxAllowedSkewMilliseconds); no Date nor x-amz-date -> 403
    AccessDenied; an empty Authorization header is no header (AWS: 403 AccessDenied,
    storj/edge#142, s3-tests test_object_create_bad_authorization_empty); no space,
    or a second one in a SigV2 header -> 400 InvalidArgument "Authorization header is
    invalid -- one and only one ' ' (space) required"; an unknown scheme -> 400
    InvalidArgument "Unsupported Authorization Type" (versity/versitygw#1512 quotes
    AWS); a SigV4 header that does not parse -> 400 AuthorizationHeaderMalformed
  * aws-chunked bodies streamed without Content-Length (Transfer-Encoding: chunked)
    for PutObject and UploadPart; `Expect: 100-continue` is answered with the final
    error (auth, missing bucket, bad request) before the body, and with
    `100 Continue` only when the body will be read
  * a missing bucket is 404 NoSuchBucket, for anonymous callers too (no policy
    could allow anything on it: elastic/elasticsearch#31782, exoscale/pithos#46);
    an existing bucket no policy opens stays 403 AccessDenied

Every rejected write leaves nothing stored and the engine serving.
Engine: the module's own, auth on (`server = auth_engine()`, sigv4_signer).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import time

import pytest
import requests

from helpers import MiB, assert_absent, assert_content, assert_error, assert_serving, b64_crc32, b64_crc32c
from helpers import expect_error, parse_error, unique_bucket_name
from sigv4_signer import ACCESS_KEY, SECRET_KEY, SIGNED, SIGNED_TRAILER, THREE_CHUNKS, TIMEOUT, UNSIGNED_TRAILER
from sigv4_signer import auth_engine, chunked_put, presign_v4

server = auth_engine()

HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


def _host(server) -> str:
    return f"{server.host}:{server.port}"


# =========================================================================
# presigned URLs: X-Amz-Expires and expiry
# =========================================================================


@pytest.mark.parametrize(
    "expires, status, code, message",
    [
        (0, 403, "AccessDenied", "Request has expired"),
        (-1, 400, "AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative"),
        ("soon", 400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number"),
        (604801, 400, "AuthorizationQueryParametersError",
         "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ],
)
def test_presigned_v4_expires_out_of_range(server, s3, bucket, expires, status, code, message):
    s3.put_object(Bucket=bucket, Key="k", Body=b"PAYLOAD-0x51")
    get = presign_v4(server, "GET", f"/{bucket}/k", {"host": _host(server)}, expires=expires)
    r = requests.get(get, timeout=TIMEOUT)
    err = assert_error(r, code, status)
    assert err["Message"] == message, err
    assert b"PAYLOAD-0x51" not in r.content
    put = presign_v4(server, "PUT", f"/{bucket}/new", {"host": _host(server)}, expires=expires)
    assert_error(requests.put(put, data=b"x", timeout=TIMEOUT), code, status)
    assert_absent(s3, bucket, "new")
    assert_serving(s3, bucket)


def test_presigned_v4_expired_names_its_times(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"PAYLOAD-0x52")
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    r = requests.get(presign_v4(server, "GET", f"/{bucket}/k", {"host": _host(server)}, 60, when), timeout=TIMEOUT)
    err = assert_error(r, "AccessDenied", 403)
    assert err["Message"] == "Request has expired"
    assert err["X-Amz-Expires"] == "60"
    assert err["Expires"] == (when + dt.timedelta(seconds=60)).strftime(ISO_SECONDS)
    server_time = dt.datetime.strptime(err["ServerTime"], ISO_SECONDS).replace(tzinfo=dt.timezone.utc)
    assert abs((server_time - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
    assert b"PAYLOAD-0x52" not in r.content


def _presign_v2(server, method: str, path: str, expires: int) -> str:
    sts = f"{method}\n\n\n{expires}\n{path}"
    sig = base64.b64encode(hmac.new(SECRET_KEY.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    query = requests.models.RequestEncodingMixin._encode_params(
        {"AWSAccessKeyId": ACCESS_KEY, "Expires": str(expires), "Signature": sig})
    return f"{server.endpoint}{path}?{query}"


@pytest.mark.parametrize("expires", [0, -1, "an hour ago"])
def test_presigned_v2_expired(server, s3, bucket, expires):
    if expires == "an hour ago":
        expires = int(time.time()) - 3600
    s3.put_object(Bucket=bucket, Key="k", Body=b"PAYLOAD-0x53")
    r = requests.get(_presign_v2(server, "GET", f"/{bucket}/k", expires), timeout=TIMEOUT)
    err = assert_error(r, "AccessDenied", 403)
    assert err["Message"] == "Request has expired"
    expected = dt.datetime.fromtimestamp(expires, dt.timezone.utc).strftime(ISO_SECONDS)
    assert (err["Expires"], "ServerTime" in err, "X-Amz-Expires" in err) == (expected, True, False), err
    assert b"PAYLOAD-0x53" not in r.content
    put = _presign_v2(server, "PUT", f"/{bucket}/new", expires)
    assert_error(requests.put(put, data=b"x", timeout=TIMEOUT), "AccessDenied", 403)
    assert_absent(s3, bucket, "new")
    # the same URL, still valid, works
    good = _presign_v2(server, "GET", f"/{bucket}/k", int(time.time()) + 60)
    assert requests.get(good, timeout=TIMEOUT).content == b"PAYLOAD-0x53"


# =========================================================================
# SigV2 header authentication: dates
# =========================================================================


def _v2_headers(method: str, resource: str, date) -> dict:
    """`Authorization: AWS key:sig` signed over `date` (None: no Date header at all)."""
    sts = f"{method}\n\n\n{date or ''}\n{resource}"
    sig = base64.b64encode(hmac.new(SECRET_KEY.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers = {"Authorization": f"AWS {ACCESS_KEY}:{sig}"}
    if date is not None:
        headers["Date"] = date
    return headers


@pytest.mark.parametrize("minutes", [-16, 16])
def test_sigv2_skewed_date(server, s3, bucket, minutes):
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    date = when.strftime(HTTP_DATE)
    r = requests.put(f"{server.endpoint}/{bucket}/skew", data=b"x", headers=_v2_headers("PUT", f"/{bucket}/skew", date),
                     timeout=TIMEOUT)
    err = assert_error(r, "RequestTimeTooSkewed", 403)
    assert err["Message"] == "The difference between the request time and the current time is too large."
    assert err["RequestTime"] == when.strftime("%Y%m%dT%H%M%SZ")
    assert err["MaxAllowedSkewMilliseconds"] == "900000"
    assert dt.datetime.strptime(err["ServerTime"], ISO_SECONDS)
    assert_absent(s3, bucket, "skew")
    assert_serving(s3, bucket)


def test_sigv2_without_any_date(server, s3, bucket):
    r = requests.put(f"{server.endpoint}/{bucket}/nodate", data=b"x",
                     headers=_v2_headers("PUT", f"/{bucket}/nodate", None), timeout=TIMEOUT)
    err = assert_error(r, "AccessDenied", 403)
    assert err["Message"] == "AWS authentication requires a valid Date or x-amz-date header"
    assert_absent(s3, bucket, "nodate")
    assert_serving(s3, bucket)


# =========================================================================
# Authorization headers that cannot be used
# =========================================================================

ONE_SPACE = "Authorization header is invalid -- one and only one ' ' (space) required"


@pytest.mark.parametrize(
    "value, status, code, message",
    [
        ("", 403, "AccessDenied", "Access Denied"),
        ("garbage", 400, "InvalidArgument", ONE_SPACE),
        ("AWS", 400, "InvalidArgument", ONE_SPACE),
        (f"AWS {ACCESS_KEY}:c2ln bnature", 400, "InvalidArgument", ONE_SPACE),
        ("AWS nocolon", 400, "InvalidArgument", "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"),
        ("Bearer abc.def", 400, "InvalidArgument", "Unsupported Authorization Type"),
        ("AWS4-HMAC-SHA25 Credential=x", 400, "InvalidArgument", "Unsupported Authorization Type"),
        ("AWS4-HMAC-SHA256 garbage", 400, "AuthorizationHeaderMalformed", None),
        ("AWS4-HMAC-SHA256 Credential=HAHAHA", 400, "AuthorizationHeaderMalformed", None),
    ],
)
def test_unusable_authorization_header(server, s3, bucket, value, status, code, message):
    date = dt.datetime.now(dt.timezone.utc).strftime(HTTP_DATE)
    headers = {"Authorization": value, "Date": date}
    r = requests.put(f"{server.endpoint}/{bucket}/bad", data=b"x", headers=headers, timeout=TIMEOUT)
    err = assert_error(r, code, status)
    if message:
        assert err["Message"] == message, err
    if message == "Unsupported Authorization Type":
        assert (err.get("ArgumentName"), err.get("ArgumentValue")) == ("Authorization", value), err
    assert_absent(s3, bucket, "bad")
    assert_serving(s3, bucket)


def test_empty_authorization_header_is_anonymous(server):
    # anonymous, so a missing bucket is NoSuchBucket as for any anonymous caller
    r = requests.get(f"{server.endpoint}/{unique_bucket_name('gone')}/k", headers={"Authorization": ""}, timeout=TIMEOUT)
    assert_error(r, "NoSuchBucket", 404)


# =========================================================================
# aws-chunked bodies without Content-Length
# =========================================================================

PAYLOAD = b"".join(THREE_CHUNKS)
MODES = [
    (SIGNED, None),
    (SIGNED_TRAILER, ("x-amz-checksum-crc32", b64_crc32(PAYLOAD))),
    (UNSIGNED_TRAILER, ("x-amz-checksum-crc32c", b64_crc32c(PAYLOAD))),
]


@pytest.mark.parametrize("mode, trailer", MODES, ids=[m for m, _ in MODES])
def test_chunked_streamed_put_object(s3, signer, bucket, mode, trailer):
    r = chunked_put(signer, f"/{bucket}/streamed", THREE_CHUNKS, mode=mode, trailer=trailer, stream=True)
    assert r.status_code == 200, r.content[:500]
    assert r.headers["ETag"] == f'"{hashlib.md5(PAYLOAD).hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="streamed")
    assert (head["ContentLength"], head.get("ContentEncoding")) == (len(PAYLOAD), None)
    assert_content(s3, bucket, "streamed", PAYLOAD)


@pytest.mark.parametrize("mode, trailer", MODES, ids=[m for m, _ in MODES])
def test_chunked_streamed_upload_part(s3, signer, bucket, mode, trailer):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    r = chunked_put(signer, f"/{bucket}/mp", THREE_CHUNKS, mode=mode, trailer=trailer, stream=True,
                    params={"partNumber": "1", "uploadId": up})
    assert r.status_code == 200, r.content[:500]
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, len(PAYLOAD), r.headers["ETag"])]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r.headers["ETag"]}]})
    assert_content(s3, bucket, "mp", PAYLOAD)


def test_chunked_streamed_tampered_not_stored(s3, signer, bucket):
    r = chunked_put(signer, f"/{bucket}/tampered", THREE_CHUNKS, tamper="data-1", stream=True)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "tampered")
    assert_serving(s3, bucket)


# =========================================================================
# Expect: 100-continue
# =========================================================================


def _expect_continue(server, head: bytes, body: bytes) -> tuple:
    """Sends a request head with `Expect: 100-continue`; sends `body` only after a
    `100 Continue`. Returns (interim status line or None, final response bytes)."""
    s = socket.create_connection((server.host, server.port), timeout=10)
    try:
        s.sendall(head)
        first = s.recv(65536)
        interim = None
        if first.startswith(b"HTTP/1.1 100"):
            interim, first = first.split(b"\r\n", 1)[0], first.split(b"\r\n\r\n", 1)[1]
            s.sendall(body)
        data = first
        while b"\r\n\r\n" not in data or not _complete(data):
            more = s.recv(65536)
            if not more:
                break
            data += more
        return interim, data
    finally:
        s.close()


def _complete(data: bytes) -> bool:
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":")[1])
    return True


def _signed_head(signer, path: str, body: bytes, extra=None, **kw) -> bytes:
    headers = {"content-length": str(len(body)), "expect": "100-continue", **(extra or {})}
    req = signer.sign("PUT", path, headers=headers, body=body, **kw)
    lines = "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
    return f"PUT {req.url.split(str(signer.host), 1)[1]} HTTP/1.1\r\n{lines}\r\n".encode()


def _final(data: bytes) -> tuple:
    status = int(data.split(b" ", 2)[1])
    body = data.partition(b"\r\n\r\n")[2]
    return status, parse_error(body).get("Code") if body else None


def test_expect_continue_sent_when_the_body_will_be_read(server, s3, signer, bucket):
    body = b"continued body"
    interim, data = _expect_continue(server, _signed_head(signer, f"/{bucket}/go", body), body)
    assert interim == b"HTTP/1.1 100 Continue"
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    assert_content(s3, bucket, "go", body)


@pytest.mark.parametrize("case", ["missing-bucket", "bad-signature", "anonymous", "too-large", "bad-decoded-length"])
def test_expect_continue_refused_before_the_body(server, s3, signer, bucket, case):
    body = b"never sent"
    path, expected = f"/{bucket}/refused", None
    if case == "missing-bucket":
        path, expected = f"/{unique_bucket_name('gone')}/refused", (404, "NoSuchBucket")
        head = _signed_head(signer, path, body)
    elif case == "bad-signature":
        head, expected = _signed_head(signer, path, body, secret_key="wrong"), (403, "SignatureDoesNotMatch")
    elif case == "anonymous":
        head = (f"PUT {path} HTTP/1.1\r\nHost: {_host(server)}\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n\r\n").encode()
        expected = (403, "AccessDenied")
    elif case == "too-large":
        # a declared length over 5 GiB is refused before the body
        head = _signed_head(signer, path, body, {"content-length": str(6 * 1024**3)}, payload_hash="UNSIGNED-PAYLOAD")
        expected = (400, "EntityTooLarge")
    else:
        extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "many"}
        head = _signed_head(signer, path, body, extra, payload_hash=UNSIGNED_TRAILER)
        expected = (400, "InvalidArgument")
    interim, data = _expect_continue(server, head, body)
    assert interim is None, data[:300]
    assert _final(data) == expected, data[:500]
    assert_absent(s3, bucket, "refused")
    assert_serving(s3, bucket)


# =========================================================================
# missing buckets
# =========================================================================


def test_anonymous_requests_to_a_missing_bucket_are_no_such_bucket(server, s3, bucket):
    gone = unique_bucket_name("gone")
    ep = server.endpoint
    for r in [
        requests.get(f"{ep}/{gone}/k", timeout=TIMEOUT),
        requests.get(f"{ep}/{gone}", timeout=TIMEOUT),
        requests.put(f"{ep}/{gone}/k", data=b"x", timeout=TIMEOUT),
        requests.delete(f"{ep}/{gone}/k", timeout=TIMEOUT),
        requests.post(f"{ep}/{gone}?delete", data=b"<Delete><Object><Key>k</Key></Object></Delete>", timeout=TIMEOUT),
        requests.get(f"{ep}/{gone}?policy", timeout=TIMEOUT),
    ]:
        err = assert_error(r, "NoSuchBucket", 404)
        assert err["BucketName"] == gone
    assert requests.head(f"{ep}/{gone}", timeout=TIMEOUT).status_code == 404
    # creating a bucket stays refused to anonymous callers
    assert_error(requests.put(f"{ep}/{gone}", timeout=TIMEOUT), "AccessDenied", 403)
    expect_error(lambda: s3.head_bucket(Bucket=gone), None, 404)


def test_anonymous_requests_to_an_existing_bucket_stay_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"PAYLOAD-0x54")
    ep = server.endpoint
    for r in [
        requests.get(f"{ep}/{bucket}/k", timeout=TIMEOUT),
        requests.get(f"{ep}/{bucket}/absent", timeout=TIMEOUT),
        requests.get(f"{ep}/{bucket}", timeout=TIMEOUT),
        requests.put(f"{ep}/{bucket}/new", data=b"x", timeout=TIMEOUT),
        requests.post(f"{ep}/{bucket}?delete", data=b"<Delete><Object><Key>k</Key></Object></Delete>", timeout=TIMEOUT),
    ]:
        assert_error(r, "AccessDenied", 403)
        assert b"PAYLOAD-0x54" not in r.content
    assert requests.head(f"{ep}/{bucket}/k", timeout=TIMEOUT).status_code == 403
    assert_absent(s3, bucket, "new")
    assert_content(s3, bucket, "k", b"PAYLOAD-0x54")


def test_owner_request_to_a_deleted_bucket_is_no_such_bucket(server, s3, signer, make_bucket):
    name = make_bucket()
    deny = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{name}/*"}]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(deny))
    assert_error(signer.request("GET", f"/{name}/k"), "AccessDenied", 403)
    s3.delete_bucket(Bucket=name)
    assert_error(signer.request("GET", f"/{name}/k"), "NoSuchBucket", 404)
    assert_error(signer.request("PUT", f"/{name}/k", body=b"x"), "NoSuchBucket", 404)
    # and anonymously
    assert_error(requests.get(f"{server.endpoint}/{name}/k", timeout=TIMEOUT), "NoSuchBucket", 404)
