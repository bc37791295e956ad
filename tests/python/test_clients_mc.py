"""Real client: MinIO's `mc` at its default settings (built from source by
install_clients.sh into ~/.cache/smartstorage-clients/bin, pinned version),
against its own auth-enabled engine: alias set, mb, cp (small and a 128 MiB
multipart file, both ways), ls, stat, cat, mirror both ways (with
--overwrite --remove), diff, rm --recursive --force, rb.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from clients_common import SMALL_OP_LIMIT, ACCESS_KEY, CLIENTS_BIN, INSTALL_HINT, SECRET_KEY, BigTemp, MiB
from clients_common import clean_env, list_keys, make_tree, random_file, remote_hashes, run, server_fixture
from clients_common import sha256_file, tree_hashes

server = server_fixture()

LARGE_MIB = 128


def _find_mc() -> str:
    for c in (os.environ.get("SMARTSTORAGE_MC"), str(CLIENTS_BIN / "mc")):
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    pytest.skip(f"MinIO mc is not installed in {CLIENTS_BIN} ({INSTALL_HINT})")


@pytest.fixture(scope="module")
def mc(server, tmp_path_factory):
    exe = _find_mc()
    cfg = tmp_path_factory.mktemp("mccfg")
    env = clean_env(MC_CONFIG_DIR=str(cfg))
    ver = run([exe, "--config-dir", str(cfg), "--version"], env).stdout.strip()

    def mc_(*args, **kw):
        return run([exe, "--config-dir", str(cfg), "--no-color", "--quiet", *args], env, **kw)

    p = mc_("alias", "set", "smart", server.endpoint, ACCESS_KEY, SECRET_KEY)
    assert "Added `smart` successfully" in p.stdout, p.stdout
    mc_.version = ver
    return mc_


def jlines(p) -> list:
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


@pytest.fixture
def bkt(mc, make_bucket, request):
    name = make_bucket("mc-" + request.node.name.replace("test_", ""), create=False)
    p = mc("mb", f"smart/{name}")
    assert "Bucket created successfully" in p.stdout, p.stdout
    return name


def test_version_recorded(mc, record_property):
    record_property("mc_version", mc.version)
    assert "mc version" in mc.version


def test_alias_list_and_wrong_secret(mc, server):
    p = mc("alias", "list", "smart", "--json")
    info = jlines(p)[0]
    assert info["URL"] == server.endpoint and info["accessKey"] == ACCESS_KEY
    # `alias set` checks the credentials: a wrong secret must be refused by
    # the engine with SignatureDoesNotMatch, and mc must say so
    p = mc("alias", "set", "wrong", server.endpoint, ACCESS_KEY, "not-the-secret-key", check=False)
    assert p.returncode != 0 and "signature we calculated does not match" in (p.stdout + p.stderr), (
        p.stdout + p.stderr
    )
    p = mc("alias", "list", "--json")
    assert "wrong" not in [a["alias"] for a in jlines(p)]


def test_cp_ls_stat_cat(mc, s3, bkt, tmp_path):
    small = tmp_path / "small ü +&.txt"
    small.write_bytes(b"hello mc \xe2\x9c\x93\n")
    mc("cp", str(small), f"smart/{bkt}/docs/small ü +&.txt")
    assert s3.get_object(Bucket=bkt, Key="docs/small ü +&.txt")["Body"].read() == small.read_bytes()

    p = mc("cat", f"smart/{bkt}/docs/small ü +&.txt")
    assert p.stdout.encode() == small.read_bytes()

    p = mc("ls", "--json", f"smart/{bkt}")
    entries = {e["key"]: e for e in jlines(p)}
    assert set(entries) == {"docs/"} and entries["docs/"]["type"] == "folder", entries
    p = mc("ls", "--recursive", "--json", f"smart/{bkt}")
    entries = {e["key"]: e for e in jlines(p)}
    assert set(entries) == {"docs/small ü +&.txt"}
    e = entries["docs/small ü +&.txt"]
    assert e["size"] == small.stat().st_size and e["etag"] == hashlib.md5(small.read_bytes()).hexdigest()

    p = mc("stat", "--json", f"smart/{bkt}/docs/small ü +&.txt")
    st = jlines(p)[0]
    assert st["size"] == small.stat().st_size
    assert st["etag"] == hashlib.md5(small.read_bytes()).hexdigest()

    down = tmp_path / "down.txt"
    mc("cp", f"smart/{bkt}/docs/small ü +&.txt", str(down))
    assert down.read_bytes() == small.read_bytes()


def test_cp_large_multipart(mc, s3, bkt):
    with BigTemp() as tmp:
        src = tmp / "large.bin"
        want = random_file(src, LARGE_MIB * MiB)
        mc("cp", str(src), f"smart/{bkt}/big/large.bin")
        h = s3.head_object(Bucket=bkt, Key="big/large.bin")
        assert h["ContentLength"] == LARGE_MIB * MiB
        assert re.fullmatch(r'"[0-9a-f]{32}-\d+"', h["ETag"]), f"not a multipart upload: {h['ETag']}"
        p = mc("stat", "--json", f"smart/{bkt}/big/large.bin")
        assert jlines(p)[0]["size"] == LARGE_MIB * MiB
        src.unlink()
        dst = tmp / "down.bin"
        mc("cp", f"smart/{bkt}/big/large.bin", str(dst))
        assert sha256_file(dst) == want


def test_mirror_both_ways_and_diff(mc, s3, bkt, tmp_path):
    up = tmp_path / "up"
    want = make_tree(up)
    mc("mirror", str(up), f"smart/{bkt}/tree", limit=SMALL_OP_LIMIT)
    assert remote_hashes(s3, bkt, "tree/") == want
    p = mc("diff", "--json", str(up), f"smart/{bkt}/tree")
    assert jlines(p) == [], p.stdout

    down = tmp_path / "down"
    mc("mirror", f"smart/{bkt}/tree", str(down), limit=SMALL_OP_LIMIT)
    assert tree_hashes(down) == want

    # changes and deletions, mirrored with --overwrite --remove
    (up / "readme.txt").write_bytes(b"a longer, changed readme\n")
    (up / "dir one" / "file with spaces.txt").unlink()
    (up / "new ✓ dir").mkdir()
    (up / "new ✓ dir" / "n.txt").write_bytes(b"n\n")
    mc("mirror", "--overwrite", "--remove", str(up), f"smart/{bkt}/tree", limit=SMALL_OP_LIMIT)
    assert remote_hashes(s3, bkt, "tree/") == tree_hashes(up)
    mc("mirror", "--overwrite", "--remove", f"smart/{bkt}/tree", str(down), limit=SMALL_OP_LIMIT)
    assert tree_hashes(down) == tree_hashes(up)


def test_rm_recursive_force_and_rb(mc, s3, make_bucket):
    name = make_bucket("mc-rmrb", create=False)
    mc("mb", f"smart/{name}")
    for i in range(7):
        s3.put_object(Bucket=name, Key=f"a/{i} ü/x.txt", Body=b"x" * i)
    s3.put_object(Bucket=name, Key="keep.txt", Body=b"k")
    p = mc("rb", f"smart/{name}", check=False)
    assert p.returncode != 0, "rb of a non-empty bucket must fail without --force"
    mc("rm", "--recursive", "--force", f"smart/{name}/a/")
    assert list_keys(s3, name) == ["keep.txt"]
    mc("rm", "--recursive", "--force", f"smart/{name}")
    assert list_keys(s3, name) == []
    p = mc("rb", f"smart/{name}")
    assert "Removed" in p.stdout, p.stdout
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_pipe_stdin_unknown_size(mc, s3, bkt):
    """`mc pipe` (and `mc cp -` ) uploads a stream of unknown size: minio-go
    creates the multipart upload with x-amz-checksum-algorithm CRC32C, sends
    each part with its CRC32C, and completes with the composite CRC32C of the
    object (checksum of the part checksums) in x-amz-checksum-crc32c."""
    data = os.urandom(40 * MiB + 12345)
    p = mc("pipe", f"smart/{bkt}/piped/stream ü.bin", input=data, check=False)
    assert p.returncode == 0, f"mc pipe failed:\n{p.stdout}\n{p.stderr}"
    got = s3.get_object(Bucket=bkt, Key="piped/stream ü.bin")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


def test_server_side_cp_mv_tag_share(mc, s3, bkt, tmp_path):
    import requests

    src = tmp_path / "src.bin"
    want = random_file(src, 3 * MiB + 1)
    mc("cp", str(src), f"smart/{bkt}/a/src.bin")
    # server-side copy (CopyObject) and move (copy + delete)
    mc("cp", f"smart/{bkt}/a/src.bin", f"smart/{bkt}/b/copy ü.bin")
    mc("mv", f"smart/{bkt}/b/copy ü.bin", f"smart/{bkt}/c/moved.bin")
    assert sorted(list_keys(s3, bkt)) == ["a/src.bin", "c/moved.bin"]
    body = s3.get_object(Bucket=bkt, Key="c/moved.bin")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == want

    # tagging
    mc("tag", "set", f"smart/{bkt}/a/src.bin", "team=qa&note=a b")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bkt, Key="a/src.bin")["TagSet"]}
    assert tags == {"team": "qa", "note": "a b"}
    p = mc("tag", "list", "--json", f"smart/{bkt}/a/src.bin")
    assert jlines(p)[0]["tagset"] == {"team": "qa", "note": "a b"}
    mc("tag", "remove", f"smart/{bkt}/a/src.bin")
    assert s3.get_object_tagging(Bucket=bkt, Key="a/src.bin")["TagSet"] == []
    # tags and attributes given at upload (x-amz-tagging, Cache-Control, x-amz-meta-*)
    mc("cp", "--tags", "k=v&x=y z", "--attr", "Cache-Control=max-age=5;x-amz-meta-zed=1", str(src),
       f"smart/{bkt}/a/tagged.bin")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bkt, Key="a/tagged.bin")["TagSet"]}
    assert tags == {"k": "v", "x": "y z"}
    h = s3.head_object(Bucket=bkt, Key="a/tagged.bin")
    assert h.get("CacheControl") == "max-age=5" and h["Metadata"].get("zed") == "1", h
    s3.delete_object(Bucket=bkt, Key="a/tagged.bin")

    # presigned download URL
    p = mc("share", "download", "--json", "--expire", "10m", f"smart/{bkt}/c/moved.bin")
    url = jlines(p)[0]["share"]
    r = requests.get(url, timeout=60)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == want, r.status_code
