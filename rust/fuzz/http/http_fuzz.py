#!/usr/bin/env python3
"""Randomised request fuzzer for the running engine (black box, over HTTP).

Starts a fresh `ruststorage serve` on a temp directory with a canary directory
beside it, then sends generated requests for a bounded time: random methods,
bucket names and keys full of traversal bytes, S3 sub-resources with odd
values, hostile headers (Range, copy sources, checksums, aws-chunked, metadata),
XML bodies (valid templates, mutated), aws-chunked bodies, wrong Content-Lengths.

A finding is any of: a 5xx other than 501; no answer within the timeout (a
hang); the engine process exiting; a response carrying the canary's secret; a
file outside the storage directory changing. On a finding the raw request is
saved and printed, with the command that replays it against a fresh engine, and
the exit status is 1.

Only the standard library is used. Stdlib only, loopback only, bounded.

    http_fuzz.py [--seconds 60] [--seed 1] [--binary PATH] [--out DIR]
    http_fuzz.py --replay FILE [--binary PATH]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BINARY = ROOT / "rust" / "target" / "release" / "ruststorage"
TIMEOUT = 15.0  # seconds for one answer; the engine's own timeouts are 30/60 s and are never waited for
OK_5XX = {501}


# ---------------------------------------------------------------- engine


class Engine:
    def __init__(self, binary: Path):
        self.base = Path(tempfile.mkdtemp(prefix="smartstorage-fuzz-"))
        self.sandbox = self.base / "sandbox"
        self.storage = self.sandbox / "storage"
        self.canary = self.sandbox / "canary"
        self.storage.mkdir(parents=True)
        self.canary.mkdir()
        self.token = f"CANARY-{uuid.uuid4().hex}"
        (self.canary / "secret.txt").write_text(self.token)
        (self.sandbox / "loose.txt").write_text(self.token)
        self.binary = binary
        self.log = open(self.base / "engine.log", "ab")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--address", "127.0.0.1", "--port", "0", "--directory", str(self.storage), "--no-fsync"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        line = self.proc.stdout.readline().decode()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SystemExit(f"engine did not start: {line!r}")
        self.port = int(m.group(1))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def log_tail(self, n=3000) -> str:
        try:
            return (self.base / "engine.log").read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def snapshot(self) -> dict:
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.sandbox):
            d = Path(dirpath)
            dirnames[:] = [n for n in dirnames if d / n != self.storage]
            for n in dirnames + filenames:
                st = (d / n).lstat()
                out[str(d / n)] = (st.st_size, st.st_mtime_ns, st.st_mode)
        return out


# ---------------------------------------------------------------- raw HTTP


def exchange(port: int, data: bytes, shut_write: bool, timeout: float = TIMEOUT):
    """Returns (status or None, head, body, how) with how in complete|closed|reset|timeout."""
    t0 = time.monotonic()
    buf = b""
    how = "closed"
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        while True:
            if b"\r\n\r\n" in buf:
                head, _, body = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if m and len(body) >= int(m.group(1)):
                    how = "complete"
                    break
                if head.startswith(b"HTTP/1.1 1"):  # 100 Continue: keep reading
                    buf = body
                    continue
            left = t0 + timeout - time.monotonic()
            if left <= 0:
                how = "timeout"
                break
            s.settimeout(left)
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                how = "timeout"
                break
            except OSError:
                how = "reset"
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), head, body, how


# ---------------------------------------------------------------- generator


BUCKETS = ["fuzz-bkt", "fuzz-ver"]
SEGMENTS = [
    "a", "b", "obj", "dir", "..", ".", "", "...", "%2e%2e", "%2E%2E", ".%2e", "%2F", "%2f", "%5C", "\\", "%00", "%01", "%0d%0a",
    "%", "%zz", "%2", "%252e%252e", "%C0%AE", "%FF", "%ED%A0%80", "\uff0e\uff0e", "é", "e\u0301", "日本", "\U0001f600",
    ".tmp", ".multipart", ".versions", ".buckets", "x._storage_object", "x._storage_object.metadata.json", "%+", "%-",
    "canary", "secret.txt", "storage", "sandbox", "loose.txt", "a" * 200, "b" * 256, "c" * 1100, "?", "#", ";", "+", " ", "~",
]
QUERY_KEYS = [
    "uploads", "uploadId", "partNumber", "versionId", "versions", "tagging", "versioning", "delete", "list-type", "prefix",
    "delimiter", "max-keys", "continuation-token", "start-after", "marker", "key-marker", "version-id-marker",
    "upload-id-marker", "max-uploads", "max-parts", "part-number-marker", "encoding-type", "fetch-owner", "location",
    "policy", "cors", "acl", "x-id", "response-content-type", "response-content-disposition", "response-cache-control",
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires", "Signature", "Expires",
    "AWSAccessKeyId", "attributes", "object-lock", "retention", "legal-hold", "website", "lifecycle", "notification",
]
RANGES = [
    "bytes=0-0", "bytes=-0", "bytes=0-", "bytes=5-1", "bytes=-", "bytes=", "bytes=abc", "bytes=0-1,2-3", "items=0-1",
    "bytes=18446744073709551615-", "bytes=18446744073709551616-", "bytes=-18446744073709551616", "bytes=99999999999999999999-",
    "bytes=- 5", "bytes=0-" + "9" * 400, "bytes=" + ",".join(f"{i}-{i}" for i in range(300)), "bytes=\u0661-\u0662",
]
WEIRD_VALUES = [
    "", " ", "0", "-1", "1", "10000", "10001", "4294967296", "18446744073709551616", "99999999999999999999999", "1e3",
    "0x10", "null", "undefined", "true", "*", "\"*\"", "..", "../../canary/secret.txt", "%2E%2E%2Fcanary", "%00", "%0d%0a",
    "a" * 300, "\u00e9", "\x7f", "url", "URL", "1.5", "+1",
]


def xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Gen:
    def __init__(self, rng: random.Random, state: dict):
        self.r = rng
        self.state = state  # uploads: [(bucket, key, uploadId, etag)], versions: [...]

    def pick(self, seq):
        return self.r.choice(seq)

    def key(self) -> str:
        n = self.r.choice([1, 1, 1, 2, 3, 5])
        segs = [self.pick(SEGMENTS) for _ in range(n)]
        if self.r.random() < 0.3:
            segs = ["..", "..", "canary", "secret.txt"] if self.r.random() < 0.5 else [".."] * self.r.randint(1, 6) + ["loose.txt"]
        k = "/".join(segs)
        if self.r.random() < 0.1:
            k = "/" + k
        return k

    def bucket(self) -> str:
        r = self.r.random()
        if r < 0.75:
            return self.pick(BUCKETS)
        return self.pick(["..", ".", "", "%2E%2E", ".tmp", ".multipart", "canary", "sandbox", "storage", "ab", "A" * 3,
                          "x" * 64, "fuzz-new-" + str(self.r.randint(0, 9)), "192.168.0.1", "xn--a", "a..b", "%00", "fuzz-bkt%2F.."])

    def value(self) -> str:
        if self.r.random() < 0.5 and self.state["uploads"]:
            return self.pick(self.state["uploads"])[2]
        if self.r.random() < 0.3 and self.state["versions"]:
            return self.pick(self.state["versions"])
        return self.pick(WEIRD_VALUES)

    def query(self) -> str:
        parts = []
        for _ in range(self.r.choice([0, 0, 1, 1, 2, 3])):
            k = self.pick(QUERY_KEYS)
            if self.r.random() < 0.3:
                parts.append(k)
            else:
                parts.append(f"{k}={self.value()}")
        return ("?" + "&".join(parts)) if parts else ""

    def headers(self, body: bytes) -> list:
        h = []
        r = self.r
        if r.random() < 0.25:
            h.append(("Range", self.pick(RANGES)))
        if r.random() < 0.2:
            src = self.pick([f"/{self.pick(BUCKETS)}/{self.key()}", f"{self.pick(BUCKETS)}/obj", "/../canary/secret.txt",
                             "../canary/secret.txt", f"/{self.pick(BUCKETS)}/..%2F..%2Fcanary%2Fsecret.txt",
                             f"{self.pick(BUCKETS)}/obj?versionId={self.value()}", "", "/", "%", "/fuzz-bkt/obj?partNumber=1"])
            h.append(("x-amz-copy-source", src))
            if r.random() < 0.3:
                h.append(("x-amz-copy-source-range", self.pick(RANGES)))
            if r.random() < 0.2:
                h.append(("x-amz-metadata-directive", self.pick(["COPY", "REPLACE", "bogus", ""])))
            if r.random() < 0.1:
                h.append(("x-amz-copy-source-if-match", self.pick(WEIRD_VALUES)))
        if r.random() < 0.15:
            h.append(("Content-MD5", self.pick([base64.b64encode(hashlib.md5(body).digest()).decode(), "AAAA", "", "not base64!",
                                                 base64.b64encode(b"x" * 16).decode()])))
        if r.random() < 0.15:
            h.append(("x-amz-content-sha256", self.pick(["UNSIGNED-PAYLOAD", hashlib.sha256(body).hexdigest(), "0" * 64, "zz",
                                                          "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", ""])))
        if r.random() < 0.1:
            alg = self.pick(["crc32", "crc32c", "sha1", "sha256", "crc64nvme", "md5", "bogus"])
            h.append((f"x-amz-checksum-{alg}", self.pick(["AAAAAA==", base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode(), "", "!!"])))
        if r.random() < 0.05:
            h.append(("x-amz-sdk-checksum-algorithm", self.pick(["CRC32", "SHA256", "BOGUS", ""])))
        if r.random() < 0.1:
            for _ in range(r.randint(1, 5)):
                h.append((f"x-amz-meta-{self.pick(['a', 'B', 'x-y', 'é', '', 'a' * 300])}", self.pick(WEIRD_VALUES)))
        if r.random() < 0.05:
            h.append(("x-amz-tagging", self.pick(["a=b", "a=b&a=c", "=", "&&", "%zz=1", "a" * 200 + "=b"])))
        if r.random() < 0.05:
            h.append((self.pick(["If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"]),
                      self.pick(["*", '"abc"', "Wed, 21 Oct 2015 07:28:00 GMT", "garbage", ""])))
        if r.random() < 0.05:
            h.append(("Authorization", self.pick(["AWS4-HMAC-SHA256 Credential=x", "AWS a:b", "garbage", "Bearer x", ""])))
        if r.random() < 0.05:
            h.append(("x-amz-storage-class", self.pick(["STANDARD", "GLACIER", "bogus", ""])))
        if r.random() < 0.03:
            h.append(("Expect", "100-continue"))
        if r.random() < 0.03:
            h.append(("Origin", "http://evil.example"))
            h.append(("Access-Control-Request-Method", self.pick(["GET", "PUT", "BOGUS"])))
        return h

    def xml_body(self) -> bytes:
        r = self.r
        kind = r.randrange(6)
        if kind == 0:
            keys = [self.key() for _ in range(r.randint(0, 5))]
            doc = "<Delete>" + ("<Quiet>true</Quiet>" if r.random() < 0.3 else "") + "".join(
                f"<Object><Key>{xml_escape(k)}</Key>" + (f"<VersionId>{xml_escape(self.value())}</VersionId>" if r.random() < 0.2 else "") + "</Object>"
                for k in keys) + "</Delete>"
        elif kind == 1:
            parts = []
            for _ in range(r.randint(0, 3)):
                etag = self.pick(self.state["uploads"])[3] if self.state["uploads"] else '"x"'
                parts.append(f"<Part><PartNumber>{self.pick(['1', '2', '0', '-1', '10001', 'x'])}</PartNumber><ETag>{xml_escape(etag)}</ETag></Part>")
            doc = "<CompleteMultipartUpload>" + "".join(parts) + "</CompleteMultipartUpload>"
        elif kind == 2:
            doc = "<Tagging><TagSet>" + "".join(
                f"<Tag><Key>{xml_escape(self.pick(WEIRD_VALUES))}</Key><Value>{xml_escape(self.pick(WEIRD_VALUES))}</Value></Tag>"
                for _ in range(r.randint(0, 12))) + "</TagSet></Tagging>"
        elif kind == 3:
            doc = f"<VersioningConfiguration><Status>{self.pick(['Enabled', 'Suspended', 'bogus', ''])}</Status></VersioningConfiguration>"
        elif kind == 4:
            doc = ("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>"
                   f"{self.pick(['GET', 'PUT', 'BOGUS'])}</AllowedMethod><MaxAgeSeconds>{self.pick(WEIRD_VALUES)}</MaxAgeSeconds></CORSRule></CORSConfiguration>")
        else:
            doc = f"<CreateBucketConfiguration><LocationConstraint>{xml_escape(self.pick(['us-east-1', 'eu-west-1', '', 'x' * 100]))}</LocationConstraint></CreateBucketConfiguration>"
        data = doc.encode()
        if r.random() < 0.3:
            data = self.mutate(data)
        if r.random() < 0.1:
            data = b'<?xml version="1.0" encoding="UTF-8"?>' + data
        if r.random() < 0.05:
            data = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY y "&x;&x;">]>' + data.replace(b"</Key>", b"&x;</Key>", 1)
        return data

    def mutate(self, data: bytes) -> bytes:
        b = bytearray(data)
        for _ in range(self.r.randint(1, 8)):
            op = self.r.randrange(5)
            pos = self.r.randrange(len(b) + 1)
            if op == 0 and b:
                b[min(pos, len(b) - 1)] = self.r.randrange(256)
            elif op == 1:
                b[pos:pos] = self.r.choice([b"<", b">", b"&", b"\x00", b"\xff", b"]]>", b"<a>", b"</a>", b"&#0;", b"<!--"])
            elif op == 2 and b:
                del b[pos : pos + self.r.randint(1, 16)]
            elif op == 3:
                b[pos:pos] = b[: self.r.randint(0, 64)]
            else:
                b = b[:pos]
        return bytes(b)

    def chunked_body(self, payload: bytes) -> bytes:
        r = self.r
        out = b""
        i = 0
        while i < len(payload):
            n = r.randint(1, max(1, len(payload) - i))
            chunk = payload[i : i + n]
            ext = b";chunk-signature=" + b"0" * 64 if r.random() < 0.3 else b""
            out += f"{len(chunk):x}".encode() + ext + b"\r\n" + chunk + b"\r\n"
            i += n
        out += b"0\r\n"
        if r.random() < 0.5:
            out += b"x-amz-checksum-crc32:" + base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")) + b"\r\n"
        out += b"\r\n"
        if r.random() < 0.4:
            out = self.mutate(out)
        return out

    def request(self) -> tuple:
        """Returns (raw request bytes, shut_write)."""
        r = self.r
        method = r.choices(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "PROPFIND", "G\x00T"],
                           weights=[25, 30, 15, 12, 8, 3, 2, 1, 1])[0]
        vhost = r.random() < 0.15
        bucket = self.bucket()
        key = self.key() if r.random() < 0.8 else ""
        if vhost:
            host = f"{bucket}.localhost"
            path = "/" + key
        else:
            host = self.pick(["localhost", "127.0.0.1", "localhost", "localhost"])
            path = f"/{bucket}" + (f"/{key}" if key else "")
        path += self.query()
        body = b""
        extra = []
        kind = r.random()
        if method in ("PUT", "POST") or r.random() < 0.05:
            if kind < 0.35:
                body = self.xml_body()
            elif kind < 0.5:
                payload = os.urandom(r.choice([0, 1, 100, 5000, 70000]))
                body = self.chunked_body(payload)
                extra.append(("Content-Encoding", "aws-chunked"))
                extra.append(("x-amz-decoded-content-length", self.pick([str(len(payload)), "0", "-1", "x", str(len(payload) + 1)])))
                if r.random() < 0.7:
                    extra.append(("x-amz-content-sha256", self.pick(["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])))
                if r.random() < 0.5:
                    extra.append(("x-amz-trailer", self.pick(["x-amz-checksum-crc32", "x-amz-checksum-bogus", ""])))
            else:
                body = os.urandom(r.choice([0, 1, 10, 1000, 100000]))
        headers = self.headers(body) + extra
        shut = False
        te_chunked = r.random() < 0.05
        cl_mode = r.random()
        lines = [f"{method} {path} HTTP/1.1".encode("utf-8", "surrogateescape"), f"Host: {host}".encode()]
        for k, v in headers:
            lines.append(k.encode("utf-8") + b": " + v.encode("utf-8"))
        if te_chunked:
            lines.append(b"Transfer-Encoding: chunked")
            wire = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
            if r.random() < 0.3:
                wire = self.mutate(wire)
                shut = True
        else:
            wire = body
            if cl_mode < 0.85:
                if body or method in ("PUT", "POST"):
                    lines.append(f"Content-Length: {len(body)}".encode())
            elif cl_mode < 0.92:
                lines.append(f"Content-Length: {len(body) + r.randint(1, 1000)}".encode())
                shut = True  # never wait for the 60 s body timeout
            elif cl_mode < 0.97:
                lines.append(f"Content-Length: {max(0, len(body) - r.randint(1, 50))}".encode())
                shut = True
            # else: none at all
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + wire, shut


# ---------------------------------------------------------------- setup / checks


def setup(engine: Engine) -> dict:
    def send(raw):
        st, head, body, _ = exchange(engine.port, raw, False)
        assert st is not None and st < 300, (raw[:200], st, body[:300])
        return head, body

    def put(path, body=b"", extra=""):
        return send(f"PUT {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode() + body)

    for b in BUCKETS:
        put(f"/{b}")
    put("/fuzz-ver?versioning", b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>")
    versions = []
    for b in BUCKETS:
        for k in ("obj", "dir/a", "a/b/c", "x._storage_object"):
            head, _ = put(f"/{b}/{k}", os.urandom(2000))
            m = re.search(rb"(?im)^x-amz-version-id:\s*(\S+)", head)
            if m:
                versions.append(m.group(1).decode())
    uploads = []
    for b in BUCKETS:
        for k in ("obj", "mpu"):
            _, body = send(f"POST /{b}/{k}?uploads HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            uid = re.search(rb"<UploadId>([^<]+)</UploadId>", body).group(1).decode()
            head, _ = put(f"/{b}/{k}?partNumber=1&uploadId={uid}", os.urandom(1000))
            etag = re.search(rb"(?im)^etag:\s*(\S+)", head).group(1).decode()
            uploads.append((b, k, uid, etag))
    return {"uploads": uploads, "versions": versions}


def report(finding: str, raw: bytes, out_dir: Path, seed: int, n: int, engine: Engine) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"finding-seed{seed}-{n}.bin"
    path.write_bytes(raw)
    print(f"\nFINDING after request #{n} (seed {seed}): {finding}", flush=True)
    print(f"request ({len(raw)} bytes), saved to {path}:\n{raw[:3000]!r}", flush=True)
    print(f"replay against a fresh engine:  python3 {Path(__file__).resolve().relative_to(ROOT)} --replay {path}", flush=True)
    tail = engine.log_tail()
    if tail:
        print(f"engine log tail:\n{tail}", flush=True)
    return path


def check_one(engine: Engine, raw: bytes, shut: bool, statuses: dict) -> str | None:
    status, head, body, how = exchange(engine.port, raw, shut)
    statuses[status or how] = statuses.get(status or how, 0) + 1
    if how == "timeout":
        return f"no answer within {TIMEOUT:.0f}s (hang)"
    if status is not None and status >= 500 and status not in OK_5XX:
        return f"server error {status}: {body[:300]!r}"
    if engine.token.encode() in head + body:
        return "the response carries the canary's secret (read outside the storage root)"
    time.sleep(0)  # let a crash surface
    if not engine.alive():
        return f"engine exited with {engine.proc.returncode}"
    return None


def run(args) -> int:
    engine = Engine(Path(args.binary))
    out_dir = Path(args.out)
    try:
        state = setup(engine)
        before = engine.snapshot()
        rng = random.Random(args.seed)
        gen = Gen(rng, state)
        deadline = time.monotonic() + args.seconds
        n = 0
        statuses: dict = {}
        while time.monotonic() < deadline and (args.max_requests == 0 or n < args.max_requests):
            n += 1
            raw, shut = gen.request()
            finding = check_one(engine, raw, shut, statuses)
            if finding is None and n % 100 == 0:
                after = engine.snapshot()
                if after != before:
                    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
                    finding = f"files outside the storage directory changed within the last 100 requests: {changed[:10]}"
            if finding:
                report(finding, raw, out_dir, args.seed, n, engine)
                return 1
        after = engine.snapshot()
        if after != before:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            print(f"FINDING: files outside the storage directory changed: {changed[:10]}")
            return 1
        hist = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: -kv[1]))
        print(f"http fuzz: {n} requests in {args.seconds:.0f}s (seed {args.seed}), no finding; answers: {hist}")
        return 0
    finally:
        engine.stop()
        if not args.keep:
            shutil.rmtree(engine.base, ignore_errors=True)
        else:
            print(f"kept {engine.base}")


def replay(args) -> int:
    engine = Engine(Path(args.binary))
    try:
        setup(engine)
        raw = Path(args.replay).read_bytes()
        shut = True
        status, head, body, how = exchange(engine.port, raw, shut)
        print(f"status {status} ({how})\n{head.decode('latin-1')}\n\n{body[:2000]!r}")
        time.sleep(0.2)
        finding = None
        if how == "timeout":
            finding = "hang"
        elif status is not None and status >= 500 and status not in OK_5XX:
            finding = f"server error {status}"
        elif not engine.alive():
            finding = f"engine exited with {engine.proc.returncode}"
        print("reproduced: " + finding if finding else "did not reproduce")
        if not engine.alive() or finding:
            print(engine.log_tail())
        return 1 if finding else 0
    finally:
        engine.stop()
        shutil.rmtree(engine.base, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "60")))
    p.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "1")))
    p.add_argument("--max-requests", type=int, default=0)
    p.add_argument("--binary", default=os.environ.get("SMARTSTORAGE_BINARY", str(DEFAULT_BINARY)))
    p.add_argument("--out", default=str(ROOT / "rust" / "fuzz" / "artifacts" / "http"))
    p.add_argument("--keep", action="store_true", help="keep the engine's temp directory")
    p.add_argument("--replay", help="send one saved request to a fresh engine")
    args = p.parse_args()
    if not Path(args.binary).exists():
        print(f"engine binary {args.binary} does not exist (build it or set SMARTSTORAGE_BINARY)", file=sys.stderr)
        return 2
    return replay(args) if args.replay else run(args)


if __name__ == "__main__":
    sys.exit(main())
