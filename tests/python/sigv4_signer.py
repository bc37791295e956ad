"""A small SigV4 signer and aws-chunked body builder for the auth tests
(test_auth_*.py, test_checksums.py), written from the AWS documentation:
"Signature Calculations for the Authorization Header" (single chunk),
"... Transferring Payload in Multiple Chunks (Chunked Upload)" and
"Signature calculations for trailing headers (chunked uploads)".

  Signer(server).sign(method, path, ...) -> Signed (headers, url, and the
      intermediate strings; .send() sends it)
  presign_v4(server, method, path, headers) -> a presigned URL signing exactly `headers`
  chunked_put(signer, path, chunks, mode, trailer, tamper, ...) -> an aws-chunked PUT
  auth_engine() -> the `server` fixture of the auth modules (auth on with ACCESS_KEY/SECRET_KEY)
  client(endpoint, ...) -> boto3 with these credentials (one attempt, as helpers.make_client)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Optional
from urllib.parse import quote

import requests

from helpers import auth_server_fixture, data_of, make_client

ACCESS_KEY = "AKIDTEST"
# contains '/' and '+' on purpose
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYAUTHTESTKEY"
REGION = "us-east-1"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT = 60
KiB = 1024


def auth_engine():
    """A module-scoped `server` fixture: an engine with --access-key/--secret-key
    (ACCESS_KEY/SECRET_KEY). Assign it to `server` in the test module."""
    return auth_server_fixture(ACCESS_KEY, SECRET_KEY, REGION, why="auth tests start their own engine with --access-key/--secret-key")


def client(endpoint, access=ACCESS_KEY, secret=SECRET_KEY, region=REGION, **cfg):
    """boto3 at its default configuration (plus one attempt) with the given
    credentials; **cfg are botocore Config settings (signature_version=...)."""
    return make_client(endpoint, region, access_key=access, secret_key=secret, config=cfg)


# =========================================================================
# the signer (AWS docs: "Signature Calculations for the Authorization
# Header: Transferring Payload in a Single Chunk")
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
    """Signs with the engine's credentials (server.access_key/secret_key, which
    are ACCESS_KEY/SECRET_KEY on the auth modules' engine) unless told otherwise."""

    def __init__(self, server):
        self.endpoint = server.endpoint
        self.host = f"{server.host}:{server.port}"
        self.access_key = getattr(server, "access_key", ACCESS_KEY)
        self.secret_key = getattr(server, "secret_key", SECRET_KEY)

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
        access_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        send_content_sha256: bool = True,
        date_style: str = "x-amz-date",
        scope_date: Optional[str] = None,
        compact_authorization: bool = False,
    ) -> Signed:
        """`path` is the raw (unencoded) '/bucket/key' path.

        date_style: 'x-amz-date' (default), 'date' (RFC 1123 Date header
        instead) or 'none' (no date header at all)."""
        access_key = self.access_key if access_key is None else access_key
        secret_key = self.secret_key if secret_key is None else secret_key
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


def presign_v4(server, method: str, path: str, headers: dict, expires=300, when: Optional[dt.datetime] = None) -> str:
    """A SigV4 presigned URL that signs exactly `headers` (which may leave out host),
    dated `when` (default now)."""
    when = when or dt.datetime.now(dt.timezone.utc)
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


# =========================================================================
# aws-chunked streaming uploads
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
    stream: bool = False,
    extra_headers: Optional[dict] = None,
) -> requests.Response:
    """Build and send an aws-chunked PUT.

    chunks:  list of bytes (the final 0-byte chunk is added here)
    trailer: (header-name, value) sent as trailing header (x-amz-trailer)
    tamper:  None | 'data-N' (flip a byte of chunk N after signing)
             | 'sig-N' (corrupt the signature of chunk N; N == len(chunks)
             is the final 0-byte chunk) | 'trailer-sig' | 'no-trailer-sig'
             (send the trailers of SIGNED_TRAILER without their signature)
    stream:  no Content-Length: the body goes out with Transfer-Encoding: chunked
             (in 64 KiB pieces), as SDKs stream a body of unknown length
    extra_headers: more headers to sign and send (e.g. server-side encryption)
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
    }
    headers.update(extra_headers or {})
    if not stream:
        headers["content-length"] = str(length - truncate)
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
    if stream:
        return req.send(data=(bytes(wire[i : i + 64 * KiB]) for i in range(0, len(wire), 64 * KiB)))
    return req.send(data=bytes(wire))


THREE_CHUNKS = [data_of(64 * KiB, "c1"), data_of(64 * KiB, "c2"), data_of(100, "c3")]
