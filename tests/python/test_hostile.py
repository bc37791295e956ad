"""Hostile input: odd keys, bucket names at and past every AWS rule, malformed
and huge XML, broken Content-Length, header injection, absurd ranges, oversized
request heads, and a barrage of path-traversal attempts watched by a canary
directory beside the storage root.

What must hold for all of it: a client mistake is a 4xx (or a closed
connection), never a 5xx, never a hang or a crash; nothing outside the storage
directory is ever read or written; the server keeps serving (checked after
every group).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import time
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from botocore.exceptions import ClientError

from helpers import MiB, assert_raw_error, make_client, md5_hex, qkey, strip_ns

import xml.etree.ElementTree as ET

RAW_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# raw HTTP over a socket (nothing normalised by a client library)
# --------------------------------------------------------------------------


class Reply:
    def __init__(self, status, head: bytes, body: bytes, how: str, elapsed: float):
        self.status = status
        self.head = head
        self.body = body
        self.how = how  # complete | closed | reset | timeout
        self.elapsed = elapsed
        self.headers = []
        for line in head.split(b"\r\n")[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                self.headers.append((k.strip().lower().decode("latin-1"), v.strip()))

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v.decode("latin-1")
        return None

    def __repr__(self):
        return f"<Reply {self.status} {self.how} {self.elapsed:.2f}s {self.head[:200]!r} {self.body[:200]!r}>"


def exchange(port: int, data: bytes, timeout: float = RAW_TIMEOUT, shut_write: bool = False, head_only=False) -> Reply:
    """Sends raw bytes, reads one response (Content-Length or until close)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    how = "closed"
    try:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        deadline = t0 + timeout
        while True:
            if b"\r\n\r\n" in buf:
                head, _, body = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if head_only or (m and len(body) >= int(m.group(1))):
                    how = "complete"
                    break
                if not m and not re.search(rb"(?im)^transfer-encoding:", head) and not head.startswith(b"HTTP/1.0"):
                    how = "complete"  # no body announced
                    break
            left = deadline - time.monotonic()
            if left <= 0:
                how = "timeout"
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                how = "timeout"
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not chunk:
                how = "closed"
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return Reply(int(m.group(1)) if m else None, head, body, how, time.monotonic() - t0)


def req(method: str, target: str, host: str = "localhost", headers=(), body: bytes = b"", cl=True) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1") if isinstance(target, str) else method.encode() + b" " + target + b" HTTP/1.1"]
    lines.append(b"Host: " + host.encode("latin-1"))
    for k, v in headers:
        lines.append(k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else v.encode("utf-8")))
    if cl and method not in ("GET", "HEAD") or body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def alive(server, s3):
    """The engine process runs and answers a normal request."""
    if not server.external:
        assert server.proc.poll() is None, f"engine died: exit {server.proc.returncode}\n{server.log_tail()}"
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def no_5xx(status, what):
    assert status is None or status < 500 or status == 501, f"{what}: server error {status} for a client mistake"


# --------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------

NFC = unicodedata.normalize("NFC", "café/Ångström")
NFD = unicodedata.normalize("NFD", "café/Ångström")
HOSTILE_KEYS = [
    "..", "../x", "../../x", "a/../b", "a/../../b", "./a", "a/./b", ".", "./", "../", "a/..", "a/.",
    "//", "a//b", "//a", "/lead", "trail/", "///x///",
    "back\\slash", "..\\..\\x", "a\\..\\b",
    "nul\x00byte", "\x00", "a/\x00/b",
    "ctl\x01\x02\x03\x07\x08\x0b\x0c\x0e\x1f\x7f", "tab\there", "new\nline", "cr\rlf\r\n", "esc\x1b[31m",
    "pct%2Fnot-a-slash", "pct%252F", "pct%", "%00", "%2E%2E/x", "a%2F..%2F..%2Fb",
    "k" * 1024, ("d" * 300) + "/" + ("e" * 300), "é" * 300, "日本" * 150 + "/x", ("s" * 254) + "/" + ("t" * 255) + "/" + ("u" * 256),
    "x._storage_object", "x._storage_object.metadata.json", "dir._storage_object/y", ".tmp/x", ".multipart", ".versions/a",
    NFC, NFD, "\u00c5", "A\u030a", "\u212b", "\ufb01le", "fi" + "le",
    "space at end ", " lead space", "\u200bzero-width", "\ufeffbom", "emoji/\U0001f600", "rtl\u202eexe.txt",
    "?query-like", "#hash", "a;b", "a&b=c", "+plus+", "~tilde", "*star*", "<xml>&amp;'\"",
]


def simple(port, method, target: str, body: bytes = b"", headers=()) -> Reply:
    """One request on its own connection, the target sent exactly as given
    (client libraries would remove dot segments such as /a/../b)."""
    h = "".join(f"{k}: {v}\r\n" for k, v in headers)
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{h}"
    if method not in ("GET", "HEAD") or body:
        head += f"Content-Length: {len(body)}\r\n"
    return exchange(port, head.encode("utf-8") + b"\r\n" + body, head_only=(method == "HEAD"))


def test_hostile_keys_round_trip_and_list(s3, server, bucket):
    """Every valid S3 key (up to 1024 bytes of UTF-8) round-trips exactly, lists
    exactly once, and NFC/NFD (and U+212B vs U+00C5) forms stay distinct keys.
    Dot segments are sent literally (as AWS SDKs send them) and percent-encoded."""
    assert len(set(HOSTILE_KEYS)) == len(HOSTILE_KEYS)
    assert NFC != NFD
    port = server.port
    contents = {k: f"content #{i} of {k!r}".encode() for i, k in enumerate(HOSTILE_KEYS)}
    problems = []
    for k, v in contents.items():
        r = simple(port, "PUT", f"/{bucket}/{qkey(k)}", v)
        if r.status != 200:
            problems.append(f"PUT {k[:60]!r}: {r.status} {r.body[:200]!r}")
    for k, v in contents.items():
        for target in (qkey(k), quote(k, safe="")):  # literal slashes and dots / all encoded
            r = simple(port, "GET", f"/{bucket}/{target}")
            if r.status != 200 or r.body != v:
                problems.append(f"GET {target[:60]!r}: {r.status} {r.body[:100]!r}, expected {v[:60]!r}")
            elif r.header("etag") != f'"{md5_hex(v)}"':
                problems.append(f"ETag of {k[:60]!r}: {r.header('etag')}")
    # boto3 agrees
    for k in (NFC, NFD, "\u212b", "../x", "a//b", "nul\x00byte"):
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == contents[k], k
    listed = []
    token = None
    while True:
        kw = {"Bucket": bucket, "EncodingType": "url", "MaxKeys": 37}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        listed += [requests.utils.unquote(o["Key"]) for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            break
        token = r["NextContinuationToken"]
    want = sorted(contents, key=lambda k: k.encode())
    if listed != want:
        problems.append(
            f"listing differs: missing {sorted(set(want) - set(listed))[:10]}, extra {sorted(set(listed) - set(want))[:10]}, "
            f"order ok: {sorted(listed, key=lambda k: k.encode()) == listed}"
        )
    # %2F in the URL path is a slash in the key; %252F is a literal "%2F"
    r = simple(port, "GET", f"/{bucket}/pct%252Fnot-a-slash")
    assert r.status == 200 and r.body == contents["pct%2Fnot-a-slash"], r
    r = simple(port, "GET", f"/{bucket}/a%2F..%2F..%2Fb")
    assert r.status == 200 and r.body == contents["a/../../b"], r
    r = simple(port, "GET", f"/{bucket}/a%252F..%252F..%252Fb")
    assert r.status == 200 and r.body == contents["a%2F..%2F..%2Fb"], r
    for k in contents:
        r = simple(port, "DELETE", f"/{bucket}/{qkey(k)}")
        if r.status != 204:
            problems.append(f"DELETE {k[:60]!r}: {r.status}")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert not problems, "\n".join(problems)
    alive(server, s3)


def test_key_too_long_and_invalid_utf8_are_client_errors(raw, server, s3, bucket):
    r = raw.put(f"/{bucket}/{'k' * 1025}", data=b"x")
    assert_raw_error(r, "KeyTooLongError", 400)
    r = raw.put(f"/{bucket}/{quote('é' * 513)}", data=b"x")  # 1026 bytes
    assert_raw_error(r, "KeyTooLongError", 400)
    for bad in ("%FF%FE", "%C0%AE%C0%AE", "a%ED%A0%80b", "%80"):
        r = raw.put(f"/{bucket}/{bad}", data=b"x")
        assert 400 <= r.status < 500, f"invalid UTF-8 key {bad}: {r.status} {r.content[:200]!r}"
    alive(server, s3)


# --------------------------------------------------------------------------
# bucket names
# --------------------------------------------------------------------------

VALID_BUCKETS = [
    "abc", "a" * 63, "a-b", "a.b", "1bc", "0-0", "a1-2.b3", "x" * 62 + "9", "my.bucket.name", "a-s3alias-b",
    "xn-abc", "sthree", "abc.mrap2", "192.168.1.1a", "1.2.3", "aa--bb",
]
INVALID_BUCKETS = [
    "ab", "a" * 64, "ABC", "Abc", "a_b", "-abc", "abc-", ".abc", "abc.", "a..b", "a.-b", "a-.b",
    "192.168.1.1", "10.0.0.255", "xn--abc", "sthree-abc", "sthree-configurator", "amzn-s3-demo-bucket",
    "abc-s3alias", "abc--ol-s3", "abc.mrap", "abc--x-s3", "abc--table-s3", "a b", "ab\u00e9", "a\tb", "a%b",
    "a:b", "a@b", "a+b", "..", ".", "...", "a\\b", ".tmp", ".multipart", ".uploads", ".buckets", ".versions",
]


def test_bucket_names_at_and_past_every_rule(raw, server, s3):
    problems = []
    for name in VALID_BUCKETS:
        r = raw.put("/" + quote(name, safe=""))
        if r.status != 200:
            problems.append(f"valid name {name!r}: CreateBucket -> {r.status} {r.content[:150]!r}")
        else:
            r = raw.delete("/" + quote(name, safe=""))
            if r.status != 204:
                problems.append(f"DeleteBucket {name!r} -> {r.status}")
    for name in INVALID_BUCKETS:
        r = raw.put("/" + quote(name, safe=""))
        if set(name) == {"."} and name in (".", "..") and 400 <= r.status < 500:
            pass  # "/." and "/.." are dot segments, not names: any refusal will do
        elif r.status != 400 or b"<Code>InvalidBucketName</Code>" not in r.content:
            problems.append(f"invalid name {name!r}: CreateBucket -> {r.status} {r.content[:150]!r}")
            if r.status == 200:
                raw.delete("/" + quote(name, safe=""))
        for method in ("GET", "HEAD", "DELETE"):
            r = raw.request(method, "/" + quote(name, safe="") + "/key")
            if r.status >= 500 or r.status == 200:
                problems.append(f"invalid name {name!r}: {method} key -> {r.status}")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert not [n for n in names if n.startswith(".")], f"internal folders listed as buckets: {names}"
    assert not problems, "\n".join(problems)
    alive(server, s3)


# --------------------------------------------------------------------------
# XML bodies
# --------------------------------------------------------------------------


def md5b64(b: bytes) -> str:
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def rss(server) -> int:
    return server.status_field("VmRSS")


def test_huge_xml_bodies_are_bounded(raw, server, s3, bucket):
    """10 MiB XML documents (well-formed in shape) to every XML endpoint: a quick
    400 (MalformedXML or another 4xx), no memory jump, the server stays up."""
    server.require_local()
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"o")
    entry = b"<Object><Key>" + b"k" * 200 + b"</Key></Object>"
    delete_doc = b"<Delete>" + entry * (10 * MiB // len(entry)) + b"</Delete>"
    part = b"<Part><PartNumber>1</PartNumber><ETag>\"" + b"0" * 32 + b"\"</ETag></Part>"
    complete_doc = b"<CompleteMultipartUpload>" + part * (10 * MiB // len(part)) + b"</CompleteMultipartUpload>"
    tag = b"<Tag><Key>k</Key><Value>" + b"v" * 200 + b"</Value></Tag>"
    tagging_doc = b"<Tagging><TagSet>" + tag * (10 * MiB // len(tag)) + b"</TagSet></Tagging>"
    cases = [
        ("DeleteObjects", "POST", f"/{bucket}", {"delete": None}, delete_doc, "MalformedXML"),
        ("CompleteMultipartUpload", "POST", f"/{bucket}/mpu", {"uploadId": uid}, complete_doc, None),
        ("PutObjectTagging", "PUT", f"/{bucket}/obj", {"tagging": None}, tagging_doc, None),
        ("CreateBucket", "PUT", f"/{bucket}-x", None, b"<CreateBucketConfiguration>" + b" " * (10 * MiB) + b"</CreateBucketConfiguration>", None),
        ("PutBucketVersioning", "PUT", f"/{bucket}", {"versioning": None}, b"<VersioningConfiguration>" + b"<!-- -->" * (10 * MiB // 8) + b"</VersioningConfiguration>", None),
    ]
    base_rss = rss(server)
    for what, method, path, params, body, code in cases:
        t = time.monotonic()
        try:
            r = raw.request(method, path, params=params, data=body, headers={"Content-MD5": md5b64(body)})
        except requests.ConnectionError as exc:
            pytest.fail(f"{what} with a 10 MiB body: connection broke instead of an error response ({exc})")
        took = time.monotonic() - t
        assert 400 <= r.status < 500, f"{what} with a 10 MiB body: {r.status} {r.content[:200]!r}"
        if code:
            assert_raw_error(r, code, 400)
        assert took < 10, f"{what}: took {took:.1f}s"
        grown = rss(server) - base_rss
        assert grown < 48 * MiB, f"{what}: engine RSS grew by {grown // MiB} MiB for one 10 MiB body"
    # the same, streamed with Transfer-Encoding: chunked (no Content-Length)
    def gen():
        for i in range(0, len(delete_doc), 256 * 1024):
            yield delete_doc[i : i + 256 * 1024]

    r = requests.post(f"{server.endpoint}/{bucket}?delete", data=gen(), timeout=30)
    assert 400 <= r.status_code < 500, f"chunked 10 MiB DeleteObjects: {r.status_code} {r.content[:200]!r}"
    assert rss(server) - base_rss < 48 * MiB
    s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid)
    alive(server, s3)


MALFORMED = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]><ROOT><Object><Key>&lol5;</Key></Object></ROOT>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><ROOT><Object><Key>&x;</Key></Object></ROOT>',
    "parameter entity": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><ROOT/>',
    "deep nesting": b"<ROOT>" + b"<a>" * 100000 + b"</a>" * 100000 + b"</ROOT>",
    "deep key nesting": b"<ROOT><Object>" + b"<Key>" * 50000 + b"x" + b"</Key>" * 50000 + b"</Object></ROOT>",
    "unclosed": b"<ROOT><Object><Key>a</Key>",
    "mismatched": b"<ROOT><Object><Key>a</Object></Key></ROOT>",
    "two roots": b"<ROOT></ROOT><ROOT></ROOT>",
    "garbage": os.urandom(4096),
    "invalid utf-8": b"<ROOT><Object><Key>a\xff\xfeb</Key></Object></ROOT>",
    "bad char ref": b"<ROOT><Object><Key>&#0;&#xD800;</Key></Object></ROOT>",
    "undefined entity": b"<ROOT><Object><Key>&nope;</Key></Object></ROOT>",
    "only declaration": b'<?xml version="1.0"?>',
    "huge attribute": b'<ROOT a="' + b"x" * 500000 + b'"/>',
    "many attributes": b"<ROOT " + b" ".join(b'a%d="1"' % i for i in range(20000)) + b"/>",
}


XML_ENDPOINTS = ["DeleteObjects", "CompleteMultipartUpload", "PutObjectTagging", "PutBucketVersioning", "PutBucketCors", "CreateBucket"]


@pytest.mark.parametrize("endpoint", XML_ENDPOINTS)
def test_malformed_xml_is_a_client_error(raw, server, s3, bucket, endpoint):
    """Not-well-formed documents, DTDs with entity bombs or external entities,
    deep nesting: a quick 4xx (never a 2xx that acts on half a document, never a
    5xx), no entity expansion, no file read, bounded memory."""
    server.require_local()
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"o")
    passwd = Path("/etc/passwd").read_bytes()[:32] if Path("/etc/passwd").exists() else b"root:x:0:0"
    method, path, params, root = {
        "DeleteObjects": ("POST", f"/{bucket}", {"delete": None}, "Delete"),
        "CompleteMultipartUpload": ("POST", f"/{bucket}/mpu", {"uploadId": uid}, "CompleteMultipartUpload"),
        "PutObjectTagging": ("PUT", f"/{bucket}/obj", {"tagging": None}, "Tagging"),
        "PutBucketVersioning": ("PUT", f"/{bucket}", {"versioning": None}, "VersioningConfiguration"),
        "PutBucketCors": ("PUT", f"/{bucket}", {"cors": None}, "CORSConfiguration"),
        "CreateBucket": ("PUT", f"/{bucket}-mx", None, "CreateBucketConfiguration"),
    }[endpoint]
    base_rss = rss(server)
    problems = []
    for name, doc in MALFORMED.items():
        body = doc.replace(b"ROOT", root.encode())
        t = time.monotonic()
        r = raw.request(method, path, params=params, data=body, headers={"Content-MD5": md5b64(body)})
        took = time.monotonic() - t
        if not (400 <= r.status < 500):
            problems.append(f"{name}: {r.status} {r.content[:150]!r}")
            if endpoint == "CreateBucket" and r.status == 200:
                raw.delete(f"/{bucket}-mx")
        if passwd in r.content:
            problems.append(f"{name}: the response contains /etc/passwd")
        if took > 5:
            problems.append(f"{name}: took {took:.1f}s")
    grown = rss(server) - base_rss
    assert grown < 64 * MiB, f"RSS grew by {grown // MiB} MiB"
    s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid)
    assert not problems, f"{endpoint} accepted or mishandled malformed documents:\n" + "\n".join(problems)
    alive(server, s3)


def test_delete_objects_with_raw_nul_does_not_delete_another_key(raw, server, s3, bucket):
    """A raw NUL is not allowed in XML 1.0. DeleteObjects must refuse the document
    (MalformedXML), not turn the NUL into U+FFFD and delete that other key."""
    s3.put_object(Bucket=bucket, Key="a\ufffdb", Body=b"innocent bystander")
    body = b"<Delete><Object><Key>a\x00b</Key></Object></Delete>"
    r = raw.post(f"/{bucket}", params={"delete": None}, data=body, headers={"Content-MD5": md5b64(body)})
    no_5xx(r.status, "DeleteObjects with NUL")
    got = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in got] == ["a\ufffdb"], (
        f"DeleteObjects for key 'a\\x00b' answered {r.status} {r.content[:200]!r} and deleted 'a\\ufffdb'"
    )


# --------------------------------------------------------------------------
# Content-Length abuse (raw sockets)
# --------------------------------------------------------------------------


def test_content_length_abuse(server, s3, bucket):
    port = server.port
    p = f"/{bucket}"

    def exists(key):
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            return None

    problems = []

    def check(name, reply, statuses, closed_ok=True):
        if reply.how == "timeout":
            problems.append(f"{name}: no answer within {RAW_TIMEOUT}s (hang)")
        elif reply.status is None:
            if not closed_ok:
                problems.append(f"{name}: connection {reply.how} without a response")
        elif reply.status not in statuses:
            problems.append(f"{name}: expected {statuses}, got {reply.status} {reply.body[:200]!r}")

    # missing Content-Length on a PUT object: 411 MissingContentLength (AWS)
    r = exchange(port, f"PUT {p}/nocl HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    check("PUT without Content-Length", r, (411,))
    for name, cl in [("negative", b"-1"), ("not a number", b"abc"), ("hex", b"0x10"), ("overflow", b"99999999999999999999999"),
                     ("space inside", b"1 0"), ("plus sign", b"+5"), ("empty", b"")]:
        r = exchange(port, f"PUT {p}/cl HTTP/1.1\r\nHost: localhost\r\n".encode() + b"Content-Length: " + cl + b"\r\n\r\nhello")
        check(f"Content-Length {name}", r, (400,))
    r = exchange(port, f"PUT {p}/cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello".encode())
    check("two different Content-Lengths", r, (400,))
    assert exists("cl") is None, "a PUT with a broken Content-Length stored an object"
    # larger than AWS's 5 GiB single PUT limit: refused up front
    r = exchange(port, f"PUT {p}/huge HTTP/1.1\r\nHost: localhost\r\nContent-Length: {6 * 1024 ** 3}\r\n\r\nabc".encode(), shut_write=True)
    check("Content-Length 6 GiB", r, (400,))
    assert r.status is None or b"EntityTooLarge" in r.body, r
    # announced more than sent, then the client half-closes: IncompleteBody, nothing stored
    r = exchange(port, f"PUT {p}/short HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly this".encode(), shut_write=True)
    check("body shorter than Content-Length", r, (400,))
    assert exists("short") is None, "a truncated body was stored"
    # announced less than sent: the rest is a (garbage) next request
    r = exchange(port, f"PUT {p}/long HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabcGARBAGE-NOT-HTTP\r\n\r\n".encode(), shut_write=True)
    check("body longer than Content-Length", r, (200,))
    assert exists("long") == b"abc", f"stored {exists('long')!r}, expected the first 3 bytes"
    # Content-Length and Transfer-Encoding together: TE wins or 400, and the
    # connection must be closed afterwards (RFC 9112 6.1), so nothing is smuggled
    smuggle = (
        f"PUT {p}/clte HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"0\r\n\r\nPUT {p}/smuggled HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc"
    ).encode()
    r = exchange(port, smuggle, shut_write=True, head_only=False)
    check("Content-Length + Transfer-Encoding", r, (200, 400))
    time.sleep(0.2)
    assert exists("smuggled") is None, "a request smuggled behind CL+TE was executed"
    for te in (b"gzip", b"chunked, gzip", b"identity", b"chunked\x0b"):
        r = exchange(port, f"PUT {p}/te HTTP/1.1\r\nHost: localhost\r\n".encode() + b"Transfer-Encoding: " + te + b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n", shut_write=True)
        check(f"Transfer-Encoding {te!r}", r, (400, 411, 501))
    r = exchange(port, f"PUT {p}/badchunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".encode(), shut_write=True)
    check("bad chunk size", r, (400,))
    r = exchange(port, f"PUT {p}/hugechunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nabc".encode(), shut_write=True)
    check("chunk size overflow", r, (400,))
    for k in ("badchunk", "hugechunk", "te", "huge"):
        assert exists(k) is None, f"{k} was stored"
    # GET/DELETE with a body, HEAD with Content-Length
    r = exchange(port, f"GET {p}/long HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello".encode())
    check("GET with a body", r, (200, 400))
    r = exchange(port, f"DELETE {p}/nothing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nx".encode(), shut_write=True)
    check("DELETE announcing a body it does not send", r, (204, 400))
    assert not problems, "\n".join(problems)
    alive(server, s3)


# --------------------------------------------------------------------------
# header injection
# --------------------------------------------------------------------------


def response_has_injected(reply: Reply) -> bool:
    return any(k in ("injected", "set-cookie") for k, _ in reply.headers) or b"\r\nInjected" in reply.head


def test_header_injection_attempts(server, s3, bucket):
    port = server.port
    p = f"/{bucket}"
    problems = []
    attempts = {
        "bare LF in metadata": b"x-amz-meta-a: foo\nInjected: yes",
        "obs-fold": b"x-amz-meta-a: foo\r\n Injected: yes",
        "bare CR": b"x-amz-meta-a: foo\rInjected: yes",
        "NUL": b"x-amz-meta-a: foo\x00Injected: yes",
        "CRLF in Content-Disposition": b"Content-Disposition: a\nSet-Cookie: x=1",
        "CRLF in website redirect": b"x-amz-website-redirect-location: /a\nInjected: yes",
    }
    for i, (name, header) in enumerate(attempts.items()):
        key = f"inj{i}"
        r = exchange(port, f"PUT {p}/{key} HTTP/1.1\r\nHost: localhost\r\n".encode() + header + b"\r\nContent-Length: 1\r\n\r\nz")
        if r.status is not None and r.status >= 500 and r.status != 501:
            problems.append(f"{name}: PUT -> {r.status}")
        g = exchange(port, f"GET {p}/{key} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        if g.status == 200:
            for k, v in g.headers:
                if b"\r" in v or b"\n" in v or b"\x00" in v:
                    problems.append(f"{name}: response header {k} carries a control character: {v!r}")
            if any(k == "x-amz-meta-a" and b"Injected" in v for k, v in g.headers):
                problems.append(f"{name}: metadata value kept the injected text: {g.header('x-amz-meta-a')!r}")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    overrides = [
        "response-content-disposition", "response-content-type", "response-cache-control",
        "response-content-language", "response-expires", "response-content-encoding",
    ]
    for o in overrides:
        for payload in ("a%0D%0AInjected:%20yes", "a%0AInjected:%20yes", "a%0DInjected:%20yes", "a%00b"):
            g = exchange(port, f"GET {p}/plain?{o}={payload} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            if g.status is None or (g.status >= 500 and g.status != 501):
                problems.append(f"{o}={payload}: {g.status} {g.how}")
            if response_has_injected(g):
                problems.append(f"{o}={payload}: header injected: {g.head!r}")
    # a key with CR/LF travels in Location headers and error documents
    key = "a\r\nInjected: yes"
    g = exchange(port, f"GET {p}/{quote(key)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    if response_has_injected(g) or (g.status or 0) >= 500:
        problems.append(f"GET missing key with CRLF: {g!r}")
    s3.put_object(Bucket=bucket, Key=key, Body=b"crlf key")
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    body = f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{e}</ETag></Part></CompleteMultipartUpload>".encode()
    g = exchange(port, f"POST {p}/{quote(key)}?uploadId={uid} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    if g.status != 200 or response_has_injected(g):
        problems.append(f"CompleteMultipartUpload of a CRLF key: {g!r}")
    g = exchange(port, f"PUT {p}/copy HTTP/1.1\r\nHost: localhost\r\nx-amz-copy-source: {p}/{quote(key)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    if g.status != 200 or response_has_injected(g):
        problems.append(f"CopyObject from a CRLF key: {g!r}")
    assert not problems, "\n".join(problems)
    alive(server, s3)


# --------------------------------------------------------------------------
# ranges
# --------------------------------------------------------------------------

RANGES = [
    "bytes=0-0", "bytes=-0", "bytes=0-", "bytes=999-", "bytes=1000-", "bytes=1000-2000", "bytes=5-1", "bytes=-",
    "bytes=", "bytes=abc", "bytes=1-2-3", "bytes=0-1,2-3", "bytes=0-1,0-1", "items=0-1", "bytes 0-1", "=0-1",
    "bytes=18446744073709551615-", "bytes=18446744073709551616-", "bytes=0-18446744073709551616",
    "bytes=-18446744073709551616", "bytes=-99999999999999999999999999999", "bytes=99999999999999999999-",
    "bytes=- 5", "bytes= 0-1", "bytes=0-1 ", "bytes=+1-2", "bytes=-1-2", "bytes=0x10-0x20", "bytes=1e3-",
    "bytes=0-" + "9" * 1000, "bytes=" + ",".join(f"{i}-{i}" for i in range(2000)), "BYTES=0-1", "bytes=\u0661-\u0662",
]


def test_absurd_ranges(server, s3, bucket):
    port = server.port
    data = (bytes(range(256)) * 4)[:1000]
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    problems = []

    def get(key, rng):
        return simple(port, "GET", f"/{bucket}/{key}", headers=[("Range", rng)])

    for rng in RANGES:
        r = get("r", rng)
        if r.how == "timeout":
            problems.append(f"Range {rng[:40]!r}: no answer")
        elif r.status == 200:
            if r.body != data:
                problems.append(f"Range {rng[:40]!r}: 200 with wrong body ({len(r.body)} bytes)")
        elif r.status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/1000$", r.header("content-range") or "")
            if not m:
                problems.append(f"Range {rng[:40]!r}: 206 with Content-Range {r.header('content-range')!r}")
            elif r.body != data[int(m.group(1)) : int(m.group(2)) + 1]:
                problems.append(f"Range {rng[:40]!r}: body does not match its Content-Range")
        elif r.status == 416:
            if b"InvalidRange" not in r.body:
                problems.append(f"Range {rng[:40]!r}: 416 without InvalidRange")
        elif r.status != 400:
            problems.append(f"Range {rng[:40]!r}: {r.status} {r.body[:200]!r}")
    # AWS: "bytes=0-0" is the first byte, past the end is 416
    assert get("r", "bytes=0-0").body == data[:1]
    assert get("r", "bytes=1000-").status == 416
    assert get("r", "bytes=-5").body == data[-5:]
    # same on an empty object
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    for rng in ("bytes=0-0", "bytes=-1", "bytes=0-", "bytes=-0"):
        r = get("empty", rng)
        if r.status not in (200, 416):
            problems.append(f"empty object, Range {rng}: {r.status} {r.body[:200]!r}")
        elif r.status == 200 and r.body != b"":
            problems.append(f"empty object, Range {rng}: body {r.body[:50]!r}")
    assert not problems, "\n".join(problems)
    alive(server, s3)


# --------------------------------------------------------------------------
# oversized request heads
# --------------------------------------------------------------------------

OVERSIZED = {
    "request line 70 KiB": lambda b: f"GET /{b}/{'a' * 70 * 1024} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
    "request line 1 MiB": lambda b: f"GET /{b}/{'a' * MiB} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
    "query 100 KiB": lambda b: f"GET /{b}?list-type=2&prefix={'p' * 100 * 1024} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
    "one header 100 KiB": lambda b: f"GET /{b}/x HTTP/1.1\r\nHost: localhost\r\nX-Big: {'v' * 100 * 1024}\r\n\r\n".encode(),
    "one header 1 MiB": lambda b: f"GET /{b}/x HTTP/1.1\r\nHost: localhost\r\nX-Big: {'v' * MiB}\r\n\r\n".encode(),
    "90 headers of 1 KiB": lambda b: (f"GET /{b}/x HTTP/1.1\r\nHost: localhost\r\n" + "".join(f"X-H{i}: {'v' * 1024}\r\n" for i in range(90)) + "\r\n").encode(),
    "2000 tiny headers": lambda b: (f"GET /{b}/x HTTP/1.1\r\nHost: localhost\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(2000)) + "\r\n").encode(),
    "metadata 100 KiB": lambda b: f"PUT /{b}/x HTTP/1.1\r\nHost: localhost\r\nx-amz-meta-big: {'m' * 100 * 1024}\r\nContent-Length: 1\r\n\r\nz".encode(),
}


@pytest.mark.parametrize("name", list(OVERSIZED))
def test_request_heads_over_64_kib_are_refused(server, s3, bucket, name):
    """The engine caps a request head at 64 KiB (server.rs MAX_HEADER_BUFFER): a
    bigger one gets an error status (400/414/431) or a closed connection, quickly,
    and is not executed."""
    r = exchange(server.port, OVERSIZED[name](bucket), timeout=10)
    assert r.how != "timeout", f"{name}: no answer within 10 s"
    assert r.elapsed < 5, f"{name}: took {r.elapsed:.1f}s"
    assert r.status in (None, 400, 413, 414, 431), (
        f"{name}: a request head over 64 KiB was executed: {r.status} {r.body[:200]!r}"
    )
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="x")
    alive(server, s3)


# --------------------------------------------------------------------------
# confinement: nothing outside the storage directory is read or written
# --------------------------------------------------------------------------


def tree_snapshot(root: Path, exclude: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = [n for n in dirnames if (d / n) != exclude]
        for n in dirnames + filenames:
            st = (d / n).lstat()
            out[str(d / n)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def traversal_targets(b: str, canary: str, secret: str) -> list:
    """Request targets (already encoded as sent) that try to reach `canary`
    (a sibling of the storage directory)."""
    dots = ["..", "%2E%2E", "%2e%2e", ".%2E", "%2E.", "..%00", "%252E%252E", "%C0%AE%C0%AE", "\uff0e\uff0e", "....", "..\\"]
    seps = ["/", "%2F", "%2f", "%5C", "\\", "%252F", "//"]
    out = set()
    for d in dots:
        for s in seps:
            rel = f"{d}{s}{canary}{s}{secret}"
            out.add(f"/{rel}")  # the whole thing as a bucket
            out.add(f"/{b}/{rel}")
            out.add(f"/{b}/{d}{s}{d}{s}{canary}{s}{secret}")
            out.add(f"/{b}/x{s}{d}{s}{d}{s}{d}{s}{canary}{s}{secret}")
    out |= {
        f"/{canary}/{secret}", f"//{canary}/{secret}", f"/{b}/../../{canary}/{secret}", f"/{b}/./../../{canary}/{secret}",
        "/..", "/.", "/../", f"/{b}/..", f"/{b}/.", f"/{b}/../", "/.tmp/x", "/.multipart/x", "/.uploads/x", "/.buckets/x",
        "/.versions/x", "/.policies/x", "/.cors/x", f"/{b}/.tmp", "/.tmp", "/.buckets",
        f"/{b}/%2E%2E%2F%2E%2E%2F{canary}%2Fbait._storage_object", f"/../{canary}/bait",
        f"/..%2F{canary}/bait", f"/%2E%2E%2F{canary}/bait",
    }
    return sorted(out)


def test_no_path_outside_the_storage_root_is_read_or_written(server, s3, bucket):
    """A barrage of traversal attempts (path-style and virtual-host, URL-encoded and
    raw; in keys, bucket names, copy sources, upload ids, version ids, listing
    prefixes, DeleteObjects) while a canary directory sits beside the storage
    root. Afterwards the whole parent tree is unchanged apart from the storage
    directory, no response ever carried the canary's secret, and the canary
    folder, made to look like a bucket, was never served."""
    server.require_local()
    storage = Path(server.directory).resolve()
    parent = storage.parent
    canary_name = "canary"
    canary = parent / canary_name
    token = f"CANARY-SECRET-{uuid.uuid4().hex}"
    canary.mkdir(exist_ok=True)
    (canary / "secret.txt").write_text(token)
    (canary / "sub").mkdir(exist_ok=True)
    (canary / "sub" / "deep.txt").write_text(token)
    # make the canary look like a bucket holding the object "bait"
    s3.put_object(Bucket=bucket, Key="bait", Body=token.encode())
    bdir = storage / bucket
    for suffix in ("._storage_object", "._storage_object.metadata.json"):
        (canary / f"bait{suffix}").write_bytes((bdir / f"bait{suffix}").read_bytes())
    s3.delete_object(Bucket=bucket, Key="bait")
    (parent / "loose.txt").write_text(token)
    time.sleep(0.05)
    before = tree_snapshot(parent, storage)

    port = server.port
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"plain object")
    problems = []
    sent = 0
    pwned = f"PWNED-{uuid.uuid4().hex}".encode()

    def send(raw_request: bytes, what: str):
        nonlocal sent
        sent += 1
        r = exchange(port, raw_request, timeout=10)
        if r.how == "timeout":
            problems.append(f"{what}: hang")
        elif r.status is not None and r.status >= 500 and r.status != 501:
            problems.append(f"{what}: {r.status} {r.body[:150]!r}")
        if token.encode() in r.body or token.encode() in r.head:
            problems.append(f"{what}: the response carries the canary's secret")
        return r

    targets = traversal_targets(bucket, canary_name, "secret.txt")
    for t in targets:
        raw_t = t.encode("utf-8")
        for method, extra, body in (
            ("GET", b"", b""),
            ("HEAD", b"", b""),
            ("PUT", b"", pwned),
            ("DELETE", b"", b""),
            ("POST", b"?uploads", b""),
            ("GET", b"?tagging", b""),
            ("GET", b"?list-type=2", b""),
        ):
            if method == "HEAD":
                msg = b"HEAD " + raw_t + extra + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            else:
                msg = (
                    method.encode() + b" " + raw_t + extra + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                )
            send(msg, f"{method} {t}{extra.decode()}")
    # absolute-form request targets
    for t in (f"/../{canary_name}/secret.txt", f"/{bucket}/../../{canary_name}/secret.txt"):
        send(f"GET http://127.0.0.1:{port}{t} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode(), f"absolute {t}")
    # virtual-host style: the whole path is the key; bucket names from Host
    vhosts = [f"{bucket}.localhost", "..localhost", f"{canary_name}.localhost", "%2E%2E.localhost", "../canary",
              f"..%2F{canary_name}.localhost", "localhost/..", f"{bucket}.localhost/../..", ".tmp.localhost"]
    for h in vhosts:
        for t in (f"/../../{canary_name}/secret.txt", f"/..%2F..%2F{canary_name}%2Fsecret.txt", "/bait", f"/%2E%2E/%2E%2E/{canary_name}/bait", "/"):
            for method, body in (("GET", b""), ("PUT", pwned), ("DELETE", b"")):
                send(
                    f"{method} {t} HTTP/1.1\r\nHost: {h}:{port}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body,
                    f"vhost {h} {method} {t}",
                )
    # copy sources
    copy_sources = [
        f"/../{canary_name}/secret.txt", f"../{canary_name}/secret.txt", f"/{bucket}/../../{canary_name}/secret.txt",
        f"%2E%2E%2F{canary_name}%2Fsecret.txt", f"/{bucket}/..%2F..%2F{canary_name}%2Fsecret.txt",
        f"/{bucket}/%2E%2E%2F%2E%2E%2F{canary_name}%2Fbait", f"/{canary_name}/bait", f"/../{canary_name}/bait",
        f"{bucket}/obj?versionId=../../../{canary_name}/secret.txt", f"{bucket}/obj?versionId=..%2F..%2F{canary_name}%2Fsecret.txt",
        f"/{bucket}/../{bucket}/obj", f"/{bucket}/..%5C..%5C{canary_name}%5Csecret.txt", f"/.tmp/x", f"/.multipart/{uid}/upload.json",
        f"/.uploads/{bucket}/{uid}/upload.json",
    ]
    for i, src in enumerate(copy_sources):
        send(
            f"PUT /{bucket}/copied{i} HTTP/1.1\r\nHost: localhost\r\nx-amz-copy-source: {src}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode(),
            f"CopyObject from {src}",
        )
        send(
            f"PUT /{bucket}/mpu?partNumber=1&uploadId={uid} HTTP/1.1\r\nHost: localhost\r\nx-amz-copy-source: {src}\r\n"
            f"x-amz-copy-source-range: bytes=0-10\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode(),
            f"UploadPartCopy from {src}",
        )
    # upload ids and version ids
    ids = [f"../../../{canary_name}/secret.txt", f"..%2F..%2F{canary_name}%2Fsecret.txt", f"%2E%2E%2F{canary_name}",
           "../../.tmp", f"{uid}/../{uid}", f"{uid}%2F..%2F..%2F..%2F{canary_name}", "." * 32, "../" * 10 + "ab",
           f"../{canary_name}/{'0' * 22}", "%00" * 32, "\\..\\..\\" + canary_name]
    for i in ids:
        for method, query, body in (
            ("PUT", f"partNumber=1&uploadId={i}", pwned),
            ("GET", f"uploadId={i}", b""),
            ("DELETE", f"uploadId={i}", b""),
            ("POST", f"uploadId={i}", b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"),
            ("GET", f"versionId={i}", b""),
            ("HEAD", f"versionId={i}", b""),
            ("DELETE", f"versionId={i}", b""),
            ("PUT", f"tagging&versionId={i}", b"<Tagging><TagSet></TagSet></Tagging>"),
        ):
            send(
                f"{method} /{bucket}/obj?{query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body,
                f"{method} ?{query}",
            )
    # listing prefixes / markers that try to climb out
    for q in (f"prefix=../{canary_name}", "prefix=..%2F", "prefix=../../", "delimiter=/&prefix=../", f"start-after=../{canary_name}",
              f"marker=../{canary_name}", "prefix=%2E%2E%2F", "list-type=2&prefix=../", "versions&prefix=../", "uploads&prefix=../"):
        send(f"GET /{bucket}?{q} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode(), f"list ?{q}")
    # DeleteObjects with traversal keys
    keys = [f"../{canary_name}/secret.txt", f"../../{canary_name}/secret.txt", f"..\\{canary_name}\\secret.txt",
            f"%2E%2E/{canary_name}/secret.txt", f"../{canary_name}/bait", f"../{canary_name}/sub", "../loose.txt", "../../sandbox/loose.txt"]
    doc = ("<Delete>" + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys) + "</Delete>").encode()
    send(
        f"POST /{bucket}?delete HTTP/1.1\r\nHost: localhost\r\nContent-MD5: {md5b64(doc)}\r\nContent-Length: {len(doc)}\r\nConnection: close\r\n\r\n".encode() + doc,
        "DeleteObjects with traversal keys",
    )

    # whatever the barrage stored lives inside the bucket and reads back as written
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, EncodingType="url"):
        listed += [requests.utils.unquote(o["Key"]) for o in page.get("Contents", [])]
    for k in listed:
        try:
            data = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        except ClientError as exc:
            problems.append(f"listed key {k!r} cannot be read: {exc}")
            continue
        if token.encode() in data:
            problems.append(f"object {k!r} holds the canary's secret (read from outside the storage root)")
        elif data not in (pwned, b"plain object", b""):
            problems.append(f"object {k!r} holds unexpected data {data[:60]!r}")
    s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid)

    after = tree_snapshot(parent, storage)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"files outside the storage directory changed: {changed[:20]}"
    assert (canary / "secret.txt").read_text() == token
    assert (parent / "loose.txt").read_text() == token
    assert sent > 1000, sent
    assert not problems, f"{len(problems)} problems in {sent} requests:\n" + "\n".join(problems[:40])
    alive(server, s3)
