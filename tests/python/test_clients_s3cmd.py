"""Real client: s3cmd (Debian's package, or pip's) with a config file
(host_base/host_bucket path-style on 127.0.0.1:PORT, use_https False,
signature_v2 False, everything else default), against its own auth-enabled
engine: mb, put (single and multipart), get, ls/la, info, sync both ways with
--delete-removed, del, rb. One extra test signs with signature_v2 True.

Virtual-host style (host_bucket = %(bucket)s.localhost:PORT) needs
<bucket>.localhost to resolve, which glibc does not do here, so the
path-style equivalent (host_bucket = host_base) is used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from clients_common import SMALL_OP_LIMIT, ACCESS_KEY, REGION, SECRET_KEY, MiB, clean_env, find_tool
from clients_common import list_keys, make_tree, random_file, remote_hashes, run, server_fixture, sha256_file
from clients_common import tree_hashes

server = server_fixture()


def _config(server, path: Path, sigv2: bool) -> Path:
    hostport = f"{server.host}:{server.port}"
    path.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"
        f"host_base = {hostport}\n"
        f"host_bucket = {hostport}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        f"signature_v2 = {'True' if sigv2 else 'False'}\n"
    )
    return path


@pytest.fixture(scope="module")
def s3cmd_factory(server, tmp_path_factory):
    exe = find_tool("s3cmd")
    env = clean_env()
    cfgdir = tmp_path_factory.mktemp("s3cmdcfg")
    ver = run([exe, "--version"], env).stdout.strip()

    def make(sigv2: bool = False):
        cfg = _config(server, cfgdir / f"s3cfg-{'v2' if sigv2 else 'v4'}", sigv2)

        def s3cmd(*args, **kw):
            return run([exe, "-c", str(cfg), "--no-progress", *args], env, **kw)

        s3cmd.version = ver
        return s3cmd

    return make


@pytest.fixture(scope="module")
def s3cmd(s3cmd_factory):
    return s3cmd_factory(False)


@pytest.fixture
def bkt(s3cmd, make_bucket, request):
    name = make_bucket("s3cmd-" + request.node.name.replace("test_", ""), create=False)
    p = s3cmd("mb", f"s3://{name}")
    assert f"Bucket 's3://{name}/' created" in p.stdout, p.stdout
    return name


def test_version_recorded(s3cmd, record_property):
    record_property("s3cmd_version", s3cmd.version)
    assert "s3cmd version" in s3cmd.version


def test_put_get_ls_info_del(s3cmd, s3, bkt, tmp_path):
    small = tmp_path / "small ü.txt"
    small.write_bytes(b"hello s3cmd \xe2\x9c\x93\n")
    s3cmd("put", str(small), f"s3://{bkt}/docs/small ü.txt")
    assert s3.get_object(Bucket=bkt, Key="docs/small ü.txt")["Body"].read() == small.read_bytes()

    # multipart: default multipart_chunk_size_mb = 15 -> 40 MiB is 3 parts
    big = tmp_path / "big.bin"
    want = random_file(big, 40 * MiB)
    s3cmd("put", str(big), f"s3://{bkt}/big.bin")
    h = s3.head_object(Bucket=bkt, Key="big.bin")
    assert h["ContentLength"] == 40 * MiB and h["ETag"].endswith('-3"'), h

    p = s3cmd("ls", f"s3://{bkt}")
    assert f"DIR  s3://{bkt}/docs/" in p.stdout and f"s3://{bkt}/big.bin" in p.stdout, p.stdout
    p = s3cmd("ls", "-r", f"s3://{bkt}")
    lines = {l.split(None, 3)[3]: int(l.split(None, 3)[2]) for l in p.stdout.splitlines()}
    assert lines == {f"s3://{bkt}/big.bin": 40 * MiB, f"s3://{bkt}/docs/small ü.txt": small.stat().st_size}
    p = s3cmd("la")
    assert f"s3://{bkt}/big.bin" in p.stdout
    p = s3cmd("ls")
    assert f"s3://{bkt}" in p.stdout

    p = s3cmd("info", f"s3://{bkt}/docs/small ü.txt")
    assert hashlib.md5(small.read_bytes()).hexdigest() in p.stdout, p.stdout

    got = tmp_path / "got.bin"
    s3cmd("get", f"s3://{bkt}/big.bin", str(got))
    assert sha256_file(got) == want
    got2 = tmp_path / "got small.txt"
    s3cmd("get", f"s3://{bkt}/docs/small ü.txt", str(got2))
    assert got2.read_bytes() == small.read_bytes()

    s3cmd("del", f"s3://{bkt}/big.bin")
    assert list_keys(s3, bkt) == ["docs/small ü.txt"]
    s3cmd("del", "--recursive", "--force", f"s3://{bkt}")
    assert list_keys(s3, bkt) == []


def test_sync_both_ways(s3cmd, s3, bkt, tmp_path):
    up = tmp_path / "up"
    want = make_tree(up)
    s3cmd("sync", f"{up}/", f"s3://{bkt}/tree/", limit=SMALL_OP_LIMIT)
    assert remote_hashes(s3, bkt, "tree/") == want

    # nothing to do the second time
    p = s3cmd("sync", f"{up}/", f"s3://{bkt}/tree/", limit=SMALL_OP_LIMIT)
    assert "upload:" not in p.stdout, p.stdout

    down = tmp_path / "down"
    down.mkdir()
    s3cmd("sync", f"s3://{bkt}/tree/", f"{down}/", limit=SMALL_OP_LIMIT)
    assert tree_hashes(down) == want

    # changes and deletions both ways
    (up / "readme.txt").write_bytes(b"changed readme\n")
    (up / "ünïcödé" / "emoji 🎉 party.md").unlink()
    s3cmd("sync", "--delete-removed", f"{up}/", f"s3://{bkt}/tree/", limit=SMALL_OP_LIMIT)
    assert remote_hashes(s3, bkt, "tree/") == tree_hashes(up)
    s3cmd("sync", "--delete-removed", f"s3://{bkt}/tree/", f"{down}/", limit=SMALL_OP_LIMIT)
    assert tree_hashes(down) == tree_hashes(up)


def test_mb_rb(s3cmd, s3, make_bucket):
    name = make_bucket("s3cmd-mbrb", create=False)
    s3cmd("mb", f"s3://{name}")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket=name, Key="x", Body=b"x")
    p = s3cmd("rb", f"s3://{name}", check=False)
    assert p.returncode != 0 and "BucketNotEmpty" in (p.stdout + p.stderr), p.stderr
    s3cmd("del", f"s3://{name}/x")
    p = s3cmd("rb", f"s3://{name}")
    assert f"Bucket 's3://{name}/' removed" in p.stdout
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_signature_v2(s3cmd_factory, s3, make_bucket, tmp_path):
    s3cmd = s3cmd_factory(True)
    name = make_bucket("s3cmd-sigv2", create=False)
    s3cmd("mb", f"s3://{name}")
    f = tmp_path / "v2 ü+&.txt"
    f.write_bytes(b"signed with v2\n")
    s3cmd("put", str(f), f"s3://{name}/v2 ü+&.txt")
    got = tmp_path / "got"
    s3cmd("get", f"s3://{name}/v2 ü+&.txt", str(got))
    assert got.read_bytes() == f.read_bytes()
    p = s3cmd("ls", f"s3://{name}")
    assert f"s3://{name}/v2 ü+&.txt" in p.stdout
    s3cmd("del", f"s3://{name}/v2 ü+&.txt")
    s3cmd("rb", f"s3://{name}")


def test_signurl(s3cmd, s3, bkt):
    """`s3cmd signurl` makes a SigV2 query-string URL (AWSAccessKeyId,
    Expires, Signature); a plain HTTP GET must get the object."""
    import time

    import requests

    body = os.urandom(777)
    s3.put_object(Bucket=bkt, Key="signed/ü b.bin", Body=body)
    p = s3cmd("signurl", f"s3://{bkt}/signed/ü b.bin", str(int(time.time()) + 300))
    url = p.stdout.strip()
    assert "Signature=" in url, url
    r = requests.get(url, timeout=60)
    assert r.status_code == 200, (url, r.status_code, r.text[:500])
    assert r.content == body


def test_cp_mv_modify_du_info_stdin(s3cmd, s3, bkt, tmp_path):
    f = tmp_path / "f.bin"
    data = os.urandom(3 * MiB + 9)
    f.write_bytes(data)
    s3cmd("put", str(f), f"s3://{bkt}/a/f.bin", "-m", "application/x-test", "--add-header=x-amz-meta-color:blue")
    # server-side copy and move
    s3cmd("cp", f"s3://{bkt}/a/f.bin", f"s3://{bkt}/b/copy ü.bin")
    s3cmd("mv", f"s3://{bkt}/b/copy ü.bin", f"s3://{bkt}/c/moved.bin")
    assert sorted(list_keys(s3, bkt)) == ["a/f.bin", "c/moved.bin"]
    h = s3.head_object(Bucket=bkt, Key="c/moved.bin")
    assert h["ContentType"] == "application/x-test" and h["Metadata"].get("color") == "blue", h
    assert s3.get_object(Bucket=bkt, Key="c/moved.bin")["Body"].read() == data

    # modify: a self-copy with REPLACE'd metadata
    s3cmd("modify", "--add-header=x-amz-meta-shape:round", f"s3://{bkt}/a/f.bin")
    h = s3.head_object(Bucket=bkt, Key="a/f.bin")
    assert h["Metadata"].get("shape") == "round" and h["Metadata"].get("color") == "blue", h["Metadata"]
    assert s3.get_object(Bucket=bkt, Key="a/f.bin")["Body"].read() == data

    p = s3cmd("du", f"s3://{bkt}")
    assert p.stdout.split()[0] == str(2 * len(data)) and "2 objects" in p.stdout, p.stdout
    p = s3cmd("info", f"s3://{bkt}")
    assert "Location:" in p.stdout and "us-east-1" in p.stdout, p.stdout

    # upload from stdin (multipart, size unknown up front)
    stream = os.urandom(20 * MiB + 1)
    s3cmd("put", "-", f"s3://{bkt}/stdin.bin", input=stream)
    assert s3.get_object(Bucket=bkt, Key="stdin.bin")["Body"].read() == stream
