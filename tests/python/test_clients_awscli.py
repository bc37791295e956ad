"""Real client: the AWS CLI at its default settings, against its own
auth-enabled engine. Two CLIs, each test runs with both:
  [debian] Debian's `awscli` 2.9.19 (v2, /usr/bin/aws, installed by install_clients.sh)
  [pip]    pip's awscli v1 pinned in requirements.txt (1.46.2; its vendored
           botocore sends CRC32 checksums by default)

  * `aws s3 cp` up and down of a multi-GiB random file (sha256 compared);
    once, with the auto flavour (Debian's if present, else pip's)
  * `aws s3 sync` of a tree with unicode/space/symbol names, both ways
  * `aws s3 ls --recursive`, `aws s3 rm --recursive`
  * `aws s3api` put-object/head-object/list-objects-v2/create-multipart-upload/
    upload-part/list-parts/complete-multipart-upload/abort-multipart-upload

Known client bug, not the engine's (boto/botocore#3755; fixed in the venv's
botocore 1.44.5, which boto3 uses, but still present in the botocore copies
that BOTH CLIs vendor: pip awscli 1.46.2's awscli/botocore 1.43.62 and
Debian's 2.9.19): after a zero-length PUT
sent with `Expect: 100-continue` is answered with a final status and no
`100 Continue` (which RFC 9110 allows, and the engine does), the pooled
connection keeps that stale status line; the next PUT on it that does get a
`100 Continue` parses "HTTP/1.1 200 OK" as a header line, has no
Content-Length and hangs until the engine's keep-alive timeout (30 s) closes
the connection. So the synced trees here leave out the empty file, and an
empty file is uploaded on its own (one request per process: no reuse).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from clients_common import (
    SMALL_OP_LIMIT,
    BigTemp,
    MiB,
    aws_command,
    big_enabled,
    boto3_client,
    list_keys,
    make_tree,
    remote_hashes,
    s3_fixture,
    server_fixture,
    sha256_file,
    tree_hashes,
)
from helpers import cleanup_bucket, unique_bucket_name

server = server_fixture()

BIG_MIB = int(os.environ.get("SMARTSTORAGE_CLIENTS_BIG_MIB", "2048"))


s3 = s3_fixture()


@pytest.fixture(scope="module", params=["debian", "pip"])
def aws(server, tmp_path_factory, request):
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"), flavor=request.param)


@pytest.fixture(scope="module")
def aws_auto(server, tmp_path_factory):
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"))


def tree_for(aws, root):
    """make_tree without the empty file (see the module doc)."""
    return make_tree(root, empty=False)


@pytest.fixture
def bkt(s3, aws, request):
    name = unique_bucket_name(f"aws-{aws.flavor}-" + request.node.originalname.replace("test_", ""))
    p = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in p.stdout
    yield name
    cleanup_bucket(s3, name)


def test_version_recorded(aws, record_property):
    record_property("aws_version", aws.version)
    assert "aws-cli/" in aws.version


@pytest.mark.skipif(not big_enabled(), reason="SMARTSTORAGE_CLIENTS_SKIP_BIG=1")
def test_cp_multi_gib_roundtrip(aws_auto, s3):
    aws = aws_auto
    bkt = unique_bucket_name("aws-big")
    aws("s3", "mb", f"s3://{bkt}")
    try:
        _big_roundtrip(aws, s3, bkt)
    finally:
        cleanup_bucket(s3, bkt)


def _big_roundtrip(aws, s3, bkt):
    size = BIG_MIB * MiB
    with BigTemp() as tmp:
        src = tmp / "big file.bin"
        # head -c from /dev/urandom, hashed while written
        gen = subprocess.run(
            f"head -c {size} /dev/urandom | tee '{src}' | sha256sum",
            shell=True, capture_output=True, text=True, check=True,
        )
        want = gen.stdout.split()[0]
        assert src.stat().st_size == size

        aws("s3", "cp", str(src), f"s3://{bkt}/dir/big file.bin", "--only-show-errors")
        h = s3.head_object(Bucket=bkt, Key="dir/big file.bin")
        assert h["ContentLength"] == size
        # default multipart_chunksize 8 MiB -> size/8MiB parts
        assert h["ETag"].endswith(f'-{size // (8 * MiB)}"'), h["ETag"]
        src.unlink()  # halve the disk footprint

        dst = tmp / "down.bin"
        aws("s3", "cp", f"s3://{bkt}/dir/big file.bin", str(dst), "--only-show-errors")
        assert dst.stat().st_size == size
        assert sha256_file(dst) == want, "downloaded bytes differ from the uploaded ones"


def test_sync_tree_both_ways(aws, s3, bkt, tmp_path):
    up = tmp_path / "up"
    want = tree_for(aws, up)
    p = aws("s3", "sync", str(up), f"s3://{bkt}/tree", limit=SMALL_OP_LIMIT)
    assert sorted(list_keys(s3, bkt, "tree/")) == sorted(f"tree/{k}" for k in want)
    assert remote_hashes(s3, bkt, "tree/") == want

    # a second sync has nothing to do (sizes and mtimes match)
    p = aws("s3", "sync", str(up), f"s3://{bkt}/tree", limit=SMALL_OP_LIMIT)
    assert p.stdout.strip() == "", f"second sync was not a no-op:\n{p.stdout}"

    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bkt}/tree", str(down), limit=SMALL_OP_LIMIT)
    assert tree_hashes(down) == want

    # and back: nothing to download again
    p = aws("s3", "sync", f"s3://{bkt}/tree", str(down), limit=SMALL_OP_LIMIT)
    assert p.stdout.strip() == "", f"second download sync was not a no-op:\n{p.stdout}"

    # local change + deletion, sync --delete up
    (up / "ünïcödé" / "文件 名.txt").write_bytes(b"changed \xe2\x9c\x93 and longer\n")
    (up / "dir one" / "file with spaces.txt").unlink()
    p = aws("s3", "sync", str(up), f"s3://{bkt}/tree", "--delete", limit=SMALL_OP_LIMIT)
    assert "delete: s3://" in p.stdout and "file with spaces.txt" in p.stdout, p.stdout
    want2 = tree_hashes(up)
    assert remote_hashes(s3, bkt, "tree/") == want2

    # remote change comes back down with --delete
    s3.put_object(Bucket=bkt, Key="tree/café/new remote file.txt", Body=b"from the server side\n")
    s3.delete_object(Bucket=bkt, Key="tree/readme.txt")
    aws("s3", "sync", f"s3://{bkt}/tree", str(down), "--delete", limit=SMALL_OP_LIMIT)
    assert tree_hashes(down) == remote_hashes(s3, bkt, "tree/")
    assert "café/new remote file.txt" in tree_hashes(down)
    assert "readme.txt" not in tree_hashes(down)


def test_ls_recursive_and_rm_recursive(aws, s3, bkt, tmp_path):
    want = tree_for(aws, tmp_path / "t")
    aws("s3", "sync", str(tmp_path / "t"), f"s3://{bkt}/a b/", limit=SMALL_OP_LIMIT)
    s3.put_object(Bucket=bkt, Key="other/keep.txt", Body=b"keep")

    p = aws("s3", "ls", "--recursive", f"s3://{bkt}")
    listed = {}
    for line in p.stdout.splitlines():
        date, tm, size, key = line.split(None, 3)
        listed[key] = int(size)
    expect = {f"a b/{k}": (tmp_path / "t" / k).stat().st_size for k in want}
    expect["other/keep.txt"] = 4
    assert listed == expect

    p = aws("s3", "ls", "--recursive", f"s3://{bkt}/a b/ünïcödé/")
    assert sorted(l.split(None, 3)[3] for l in p.stdout.splitlines()) == sorted(
        f"a b/{k}" for k in want if k.startswith("ünïcödé/")
    )

    # non-recursive: common prefixes
    p = aws("s3", "ls", f"s3://{bkt}/")
    assert "PRE a b/" in p.stdout and "PRE other/" in p.stdout, p.stdout

    p = aws("s3", "rm", "--recursive", f"s3://{bkt}/a b/")
    assert p.stdout.count("delete: s3://") == len(want), p.stdout
    assert list_keys(s3, bkt) == ["other/keep.txt"]
    aws("s3", "rm", "--recursive", f"s3://{bkt}")
    assert list_keys(s3, bkt) == []
    p = aws("s3", "ls", "--recursive", f"s3://{bkt}", check=False)
    assert p.stdout.strip() == ""


def test_s3api_put_head_list(aws, s3, bkt, tmp_path):
    body = tmp_path / "body.json"
    body.write_bytes(b'{"hello": "world \xe2\x9c\x93"}\n')
    p = aws("s3api", "put-object", "--bucket", bkt, "--key", "docs/ä b.json", "--body", str(body),
            "--content-type", "application/json", "--metadata", "color=blue,owner=qa",
            "--cache-control", "max-age=60")
    put = json.loads(p.stdout)
    assert put["ETag"] == f'"{hashlib.md5(body.read_bytes()).hexdigest()}"'

    p = aws("s3api", "head-object", "--bucket", bkt, "--key", "docs/ä b.json")
    head = json.loads(p.stdout)
    assert head["ContentLength"] == body.stat().st_size
    assert head["ETag"] == put["ETag"]
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"] == {"color": "blue", "owner": "qa"}

    for i in range(3):
        aws("s3api", "put-object", "--bucket", bkt, "--key", f"docs/sub/{i}.txt", "--body", str(body))
    p = aws("s3api", "list-objects-v2", "--bucket", bkt, "--prefix", "docs/", "--delimiter", "/")
    lst = json.loads(p.stdout)
    assert [o["Key"] for o in lst["Contents"]] == ["docs/ä b.json"]
    assert [c["Prefix"] for c in lst["CommonPrefixes"]] == ["docs/sub/"]
    # the CLI paginates by itself; force small pages to exercise continuation tokens
    p = aws("s3api", "list-objects-v2", "--bucket", bkt, "--page-size", "1")
    lst = json.loads(p.stdout)
    assert [o["Key"] for o in lst["Contents"]] == ["docs/sub/0.txt", "docs/sub/1.txt", "docs/sub/2.txt", "docs/ä b.json"]

    p = aws("s3api", "head-object", "--bucket", bkt, "--key", "docs/missing", check=False)
    assert p.returncode != 0 and "404" in p.stderr, p.stderr


def test_s3api_multipart(aws, s3, bkt, tmp_path):
    key = "mp/🎉 object.bin"
    p = aws("s3api", "create-multipart-upload", "--bucket", bkt, "--key", key, "--content-type", "x-test/parts",
            "--metadata", "stage=mp")
    up = json.loads(p.stdout)
    assert up["Bucket"] == bkt and up["Key"] == key and up["UploadId"]
    upload_id = up["UploadId"]

    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(123_457)]
    parts = []
    for n, data in enumerate(parts_data, 1):
        f = tmp_path / f"part{n}"
        f.write_bytes(data)
        p = aws("s3api", "upload-part", "--bucket", bkt, "--key", key, "--upload-id", upload_id,
                "--part-number", str(n), "--body", str(f))
        etag = json.loads(p.stdout)["ETag"]
        assert etag == f'"{hashlib.md5(data).hexdigest()}"'
        parts.append({"ETag": etag, "PartNumber": n})

    p = aws("s3api", "list-parts", "--bucket", bkt, "--key", key, "--upload-id", upload_id)
    lp = json.loads(p.stdout)
    assert [(x["PartNumber"], x["ETag"], x["Size"]) for x in lp["Parts"]] == [
        (x["PartNumber"], x["ETag"], len(d)) for x, d in zip(parts, parts_data)
    ]
    p = aws("s3api", "list-multipart-uploads", "--bucket", bkt)
    assert [u["UploadId"] for u in json.loads(p.stdout)["Uploads"]] == [upload_id]

    (tmp_path / "mpu.json").write_text(json.dumps({"Parts": parts}))
    p = aws("s3api", "complete-multipart-upload", "--bucket", bkt, "--key", key, "--upload-id", upload_id,
            "--multipart-upload", f"file://{tmp_path / 'mpu.json'}")
    done = json.loads(p.stdout)
    md5s = b"".join(hashlib.md5(d).digest() for d in parts_data)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    assert done["Key"] == key

    out = tmp_path / "out.bin"
    p = aws("s3api", "get-object", "--bucket", bkt, "--key", key, str(out))
    meta = json.loads(p.stdout)
    assert meta["ContentType"] == "x-test/parts" and meta["Metadata"] == {"stage": "mp"}
    assert out.read_bytes() == b"".join(parts_data)

    # an aborted upload leaves nothing
    p = aws("s3api", "create-multipart-upload", "--bucket", bkt, "--key", "mp/aborted")
    uid = json.loads(p.stdout)["UploadId"]
    aws("s3api", "abort-multipart-upload", "--bucket", bkt, "--key", "mp/aborted", "--upload-id", uid)
    p = aws("s3api", "list-multipart-uploads", "--bucket", bkt)
    assert not (json.loads(p.stdout or "{}").get("Uploads"))
    assert list_keys(s3, bkt) == [key]


def test_presign_url_works(aws, s3, bkt):
    """`aws s3 presign` (SigV4 query auth by both CLIs) and a plain HTTP GET."""
    import requests

    body = os.urandom(1234)
    s3.put_object(Bucket=bkt, Key="pre/signed ü+&.bin", Body=body)
    p = aws("s3", "presign", f"s3://{bkt}/pre/signed ü+&.bin", "--expires-in", "300")
    url = p.stdout.strip()
    assert "X-Amz-Signature=" in url or "Signature=" in url, url
    r = requests.get(url, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert r.content == body
    # tampering with the key must break the signature
    r = requests.get(url.replace("signed", "signeD"), timeout=60)
    assert r.status_code == 403, (r.status_code, r.text[:500])


def test_s3_to_s3_copy_mv_and_storage_class(aws_auto, s3, tmp_path):
    """Server-side `aws s3 cp`/`mv` (CopyObject below the 8 MiB threshold,
    UploadPartCopy above), and the documented way to change an object's
    storage class: copy it onto itself with --storage-class. That is a change,
    so S3 allows it; an engine that keeps only STANDARD may refuse the class
    (InvalidStorageClass) but must not call it a copy 'without changing the
    object's ... storage class'."""
    aws = aws_auto
    bkt = unique_bucket_name("aws-s2s")
    aws("s3", "mb", f"s3://{bkt}")
    try:
        small, big = os.urandom(100_000), os.urandom(20 * MiB + 7)
        s3.put_object(Bucket=bkt, Key="src/small", Body=small)
        s3.put_object(Bucket=bkt, Key="src/big", Body=big)
        aws("s3", "cp", f"s3://{bkt}/src/small", f"s3://{bkt}/dst/small ü")
        aws("s3", "cp", f"s3://{bkt}/src/big", f"s3://{bkt}/dst/big")
        assert s3.head_object(Bucket=bkt, Key="dst/big")["ETag"].endswith('-3"')  # 3 UploadPartCopy parts
        aws("s3", "mv", f"s3://{bkt}/dst/small ü", f"s3://{bkt}/moved/small")
        assert s3.get_object(Bucket=bkt, Key="moved/small")["Body"].read() == small
        assert s3.get_object(Bucket=bkt, Key="dst/big")["Body"].read() == big
        assert sorted(list_keys(s3, bkt)) == ["dst/big", "moved/small", "src/big", "src/small"]

        p = aws("s3", "cp", f"s3://{bkt}/src/small", f"s3://{bkt}/src/small", "--storage-class", "STANDARD_IA",
                check=False)
        assert p.returncode == 0 or "InvalidStorageClass" in p.stderr, p.stderr
        assert s3.get_object(Bucket=bkt, Key="src/small")["Body"].read() == small
    finally:
        cleanup_bucket(s3, bkt)


def test_mb_rb_and_empty_file(aws, s3, tmp_path):
    name = unique_bucket_name("aws-mbrb")
    aws("s3", "mb", f"s3://{name}")
    p = aws("s3", "ls")
    assert name in p.stdout.split()
    aws("s3", "cp", "-", f"s3://{name}/x", input="data")
    empty = tmp_path / "empty file"
    empty.write_bytes(b"")
    aws("s3", "cp", str(empty), f"s3://{name}/empty file")
    h = s3.head_object(Bucket=name, Key="empty file")
    assert h["ContentLength"] == 0 and h["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    aws("s3", "cp", f"s3://{name}/empty file", str(tmp_path / "empty down"))
    assert (tmp_path / "empty down").read_bytes() == b""
    p = aws("s3", "rb", f"s3://{name}", check=False)
    assert p.returncode != 0 and "BucketNotEmpty" in p.stderr, p.stderr
    p = aws("s3", "rb", "--force", f"s3://{name}")
    assert f"remove_bucket: {name}" in p.stdout
    assert name not in aws("s3", "ls").stdout.split()
