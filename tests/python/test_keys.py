"""Keys and storage paths: any valid S3 key round-trips and lists back exactly,
and no key (or upload id / copy source) resolves outside its bucket."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from helpers import expect_error

ODD_KEYS = [
    "a/",
    "a//b",
    "a///",
    "//leading-double",
    "/leading-slash",
    "../x",
    "../../y",
    ".",
    "..",
    "...",
    "./z",
    "a/./b",
    "a/../b",
    "dir/..",
    "dir/.",
    "dir/../..",
    "back\\slash",
    "..\\win",
    "space in key",
    " leading-space",
    "trailing-space ",
    "plus+key",
    "percent%20literal",
    "%2e%2e",
    "%2F",
    "question?mark",
    "hash#tag",
    "amp&eq=semi;",
    "tilde~",
    "quote\"apos'",
    "<angle>",
    "ünïcödé/文件/ファイル/🎉",
    "e\u0301-nfd",
    "\u00e9-nfc",
    "ctl\x01\x1f",
    "tab\tnewline\n",
    "CaseSensitive",
    "casesensitive",
    "k" * 1024,
    "é" * 512,  # 1024 bytes of UTF-8
    "s" * 300 + "/x",  # a path segment over 255 bytes
    "seg/" + "z" * 1000,
    "/".join(["d"] * 200),  # deep nesting
    "y" * 199 + "é",  # multi-byte character across a 200-byte boundary
    "y" * 200,
    "y" * 200 + "/",
    "y" * 200 + "/z",
    "y" * 200 + "a",
    "y" * 199 + "z",
    "é" * 100,
    "%" * 100,
    "%",
    "%25",
    "%+",
    "%-",
    "%2E",
    "a%+/b",
    "x._storage_object",
    "dir._storage_object/x",
    "x._storage_object.metadata.json",
    "x.metadata.json",
    "x.json",
    "x.meta",
    ".meta",
    "_meta/data",
    ".tmp",
    "con",
    "nul.txt",
]


def key_id(k: str) -> str:
    return repr(k[:40]) + (f"...len{len(k.encode())}" if len(k) > 40 else "")


@pytest.mark.parametrize("key", ODD_KEYS, ids=[key_id(k) for k in ODD_KEYS])
def test_key_roundtrip(s3, bucket, key):
    body = ("body of " + key).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"k": "v"})
    g = s3.get_object(Bucket=bucket, Key=key)
    assert g["Body"].read() == body
    assert g["Metadata"] == {"k": "v"}
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == [key]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])]
    assert listed == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    # HEAD (no error body): the error-body shape is tested in test_errors.py
    expect_error(lambda: s3.head_object(Bucket=bucket, Key=key), None, 404)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_all_odd_keys_coexist(s3, bucket):
    """All keys at once in one bucket: file/dir-like prefixes of each other
    (a, a/, a//b, a/b ...) must all coexist and list back exactly."""
    keys = ODD_KEYS + ["a", "a/b", "dir", "d", "d/d", "s" * 300]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    listed = []
    token = None
    while True:
        kw = {"Bucket": bucket}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        listed += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert listed == sorted(set(keys), key=lambda k: k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
    # deleting a "directory-like" key keeps the keys under it, and vice versa
    s3.delete_object(Bucket=bucket, Key="a")
    s3.delete_object(Bucket=bucket, Key="a//b")
    assert s3.get_object(Bucket=bucket, Key="a/")["Body"].read() == b"a/"
    assert s3.get_object(Bucket=bucket, Key="a/b")["Body"].read() == b"a/b"
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="a"), "NoSuchKey", 404)


def test_file_then_directory_and_directory_then_file(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p", Body=b"file p")
    s3.put_object(Bucket=bucket, Key="p/q", Body=b"file p/q")
    s3.put_object(Bucket=bucket, Key="r/s/t", Body=b"deep")
    s3.put_object(Bucket=bucket, Key="r/s", Body=b"middle")
    s3.put_object(Bucket=bucket, Key="r", Body=b"top")
    for k, v in {"p": b"file p", "p/q": b"file p/q", "r": b"top", "r/s": b"middle", "r/s/t": b"deep"}.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v


def test_prefix_of_existing_key_is_not_an_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/sub/file", Body=b"x")
    for k in ("dir", "dir/", "dir/sub", "dir/sub/"):
        expect_error(lambda: s3.get_object(Bucket=bucket, Key=k), "NoSuchKey", 404)
        expect_error(lambda: s3.head_object(Bucket=bucket, Key=k), None, 404)


def test_delete_last_key_under_prefix_leaves_clean_listing(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x/y/z", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="x/y/z")
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert r["KeyCount"] == 0, r
    # and the same names can be reused both ways
    s3.put_object(Bucket=bucket, Key="x/y", Body=b"2")
    s3.put_object(Bucket=bucket, Key="x", Body=b"3")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["x", "x/y"]


# ---------------------------------------------------------------- confinement


def snapshot(root: Path, exclude: Path) -> dict:
    """path -> (size, mtime_ns) for everything under root except `exclude`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if d == exclude or exclude in d.parents:
            dirnames[:] = []
            continue
        dirnames[:] = [n for n in dirnames if (d / n) != exclude]
        for n in dirnames + filenames:
            p = d / n
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            out[str(p)] = (st.st_size, st.st_mtime_ns if p.is_file() else 0)
    return out


def escape_keys(marker: str, victim: str) -> list:
    return [
        f"../{marker}",
        f"../../{marker}",
        f"../../../{marker}",
        "../" * 12 + marker,
        f"a/../../{marker}",
        f"a/../../../{marker}",
        f"./../{marker}",
        f"..\\{marker}",
        f"/../{marker}",
        f"//../../{marker}",
        f"../{victim}/{marker}",
        f"../{victim}/keep",
        f"../../storage/{victim}/{marker}",
    ]


def test_no_key_escapes_the_bucket(s3, server, make_bucket):
    server.require_local()
    attacker = make_bucket("attacker")
    victim = make_bucket("victim")
    s3.put_object(Bucket=victim, Key="keep", Body=b"victim data")
    marker = f"escape-{uuid.uuid4().hex}"
    storage = Path(server.directory).resolve()
    watch = storage.parent
    before = snapshot(watch, storage)

    keys = escape_keys(marker, victim)
    for k in keys:
        s3.put_object(Bucket=attacker, Key=k, Body=b"attacker data")
    for k in keys:
        assert s3.get_object(Bucket=attacker, Key=k)["Body"].read() == b"attacker data", k

    # 1. nothing was created or modified outside the storage directory
    after = snapshot(watch, storage)
    assert after == before, f"files changed outside the storage dir: {set(after) ^ set(before)}"
    # 2. nor anywhere up the directory tree / in /tmp
    for anc in [storage, *storage.parents, Path("/tmp"), Path.cwd()]:
        assert not (anc / marker).exists(), f"key escaped to {anc / marker}"
    # 3. the victim bucket is untouched
    victim_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=victim).get("Contents", [])]
    assert victim_keys == ["keep"]
    assert s3.get_object(Bucket=victim, Key="keep")["Body"].read() == b"victim data"
    # 4. the attacker bucket lists exactly its keys
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=attacker).get("Contents", [])]
    assert listed == sorted(set(keys), key=lambda k: k.encode())
    # 5. deleting the escape keys does not touch the victim
    for k in keys:
        s3.delete_object(Bucket=attacker, Key=k)
    assert s3.get_object(Bucket=victim, Key="keep")["Body"].read() == b"victim data"
    assert s3.list_objects_v2(Bucket=attacker)["KeyCount"] == 0
    assert snapshot(watch, storage) == before


def test_get_with_dotdot_does_not_read_other_bucket(s3, make_bucket):
    attacker = make_bucket("reader")
    victim = make_bucket("secret")
    s3.put_object(Bucket=victim, Key="secret.txt", Body=b"secret")
    for k in (f"../{victim}/secret.txt", f"../../{victim}/secret.txt", f"x/../../{victim}/secret.txt"):
        expect_error(lambda: s3.get_object(Bucket=attacker, Key=k), "NoSuchKey", 404)
        expect_error(lambda: s3.head_object(Bucket=attacker, Key=k), None, 404)
        expect_error(
            lambda: s3.copy_object(Bucket=attacker, Key="stolen", CopySource={"Bucket": attacker, "Key": k}),
            "NoSuchKey",
            404,
        )
    expect_error(lambda: s3.head_object(Bucket=attacker, Key="stolen"), None, 404)


def test_delete_with_dotdot_does_not_touch_other_bucket(s3, make_bucket):
    attacker = make_bucket("deleter")
    victim = make_bucket("target")
    s3.put_object(Bucket=victim, Key="precious", Body=b"keep me")
    s3.delete_object(Bucket=attacker, Key=f"../{victim}/precious")
    s3.delete_objects(Bucket=attacker, Delete={"Objects": [{"Key": f"../{victim}/precious"}, {"Key": f"../../{victim}/precious"}]})
    assert s3.get_object(Bucket=victim, Key="precious")["Body"].read() == b"keep me"


def test_multipart_with_escape_key_stays_inside(s3, server, make_bucket):
    server.require_local()
    b = make_bucket("mpu-escape")
    storage = Path(server.directory).resolve()
    before = snapshot(storage.parent, storage)
    marker = f"mpu-escape-{uuid.uuid4().hex}"
    key = "../../" + marker
    uid = s3.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
    p = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=1, Body=b"part")
    s3.complete_multipart_upload(
        Bucket=b, Key=key, UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}
    )
    assert s3.get_object(Bucket=b, Key=key)["Body"].read() == b"part"
    assert snapshot(storage.parent, storage) == before
    for anc in [storage, *storage.parents]:
        assert not (anc / marker).exists()


def test_keys_are_case_and_normalization_sensitive(s3, bucket):
    pairs = {"Key": b"upper", "key": b"lower", "\u00e9": b"nfc", "e\u0301": b"nfd"}
    for k, v in pairs.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    for k, v in pairs.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 4
