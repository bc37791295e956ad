"""Real client: the AWS CLI at its default settings, against its own
auth-enabled engine.

Smoke tests (test_cli_*), with the venv's pip awscli v1 only (fixture
`aws_pip`; it comes with requirements.txt, so a missing one fails): s3
mb/ls/cp/sync/rm/rb, cp from stdin and to stdout, and a few s3api calls.

The other tests run with two CLIs each:
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

import filecmp
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from clients_common import SMALL_OP_LIMIT, BigTemp, MiB, aws_command, big_enabled, list_keys, make_tree
from clients_common import remote_hashes, server_fixture, sha256_file, tree_hashes

pytestmark = pytest.mark.awscli

server = server_fixture()

BIG_MIB = int(os.environ.get("SMARTSTORAGE_CLIENTS_BIG_MIB", "2048"))


@pytest.fixture(scope="module", params=["debian", "pip"])
def aws(server, tmp_path_factory, request):
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"), flavor=request.param)


@pytest.fixture(scope="module")
def aws_auto(server, tmp_path_factory):
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"))


def tree_for(aws, root):
    """make_tree without the empty file (see the module doc)."""
    return make_tree(root, empty=False)


@pytest.fixture(scope="module")
def aws_pip(server, tmp_path_factory):
    """The venv's pip awscli v1 only (the smoke tests)."""
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"), flavor="pip", required=True)


@pytest.fixture
def bkt(aws, make_bucket, request):
    name = make_bucket(f"aws-{aws.flavor}-" + request.node.originalname.replace("test_", ""), create=False)
    p = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in p.stdout
    return name


@pytest.fixture
def cli_bucket(aws_pip, make_bucket):
    name = make_bucket("cli", create=False)
    aws_pip("s3", "mb", f"s3://{name}")
    return name


def test_version_recorded(aws, record_property):
    record_property("aws_version", aws.version)
    assert "aws-cli/" in aws.version


@pytest.mark.skipif(not big_enabled(), reason="SMARTSTORAGE_CLIENTS_SKIP_BIG=1")
def test_cp_multi_gib_roundtrip(aws_auto, s3, make_bucket):
    aws = aws_auto
    bkt = make_bucket("aws-big", create=False)
    aws("s3", "mb", f"s3://{bkt}")
    _big_roundtrip(aws, s3, bkt)


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


def test_s3_to_s3_copy_mv_and_storage_class(aws_auto, s3, make_bucket, tmp_path):
    """Server-side `aws s3 cp`/`mv` (CopyObject below the 8 MiB threshold,
    UploadPartCopy above), and the documented way to change an object's
    storage class: copy it onto itself with --storage-class. That is a change,
    so S3 allows it; an engine that keeps only STANDARD may refuse the class
    (InvalidStorageClass) but must not call it a copy 'without changing the
    object's ... storage class'."""
    aws = aws_auto
    bkt = make_bucket("aws-s2s", create=False)
    aws("s3", "mb", f"s3://{bkt}")
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


def test_mb_rb_and_empty_file(aws, s3, make_bucket, tmp_path):
    name = make_bucket("aws-mbrb", create=False)
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


# =========================================================================
# smoke tests: pip's awscli v1 only
# =========================================================================


def md5_file(p: Path) -> str:
    h = hashlib.md5()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_cli_mb_ls_rb(aws_pip, s3, make_bucket):
    name = make_bucket("climb", create=False)
    p = aws_pip("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in p.stdout
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    p = aws_pip("s3", "ls")
    assert name in p.stdout.split()
    p = aws_pip("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in p.stdout
    p = aws_pip("s3", "ls")
    assert name not in p.stdout.split()


def test_cli_cp_up_and_down(aws_pip, s3, cli_bucket, tmp_path):
    src = tmp_path / "hello world.txt"
    src.write_bytes(b"hello from the cli\n" * 100)
    aws_pip("s3", "cp", str(src), f"s3://{cli_bucket}/docs/hello world.txt")
    obj = s3.get_object(Bucket=cli_bucket, Key="docs/hello world.txt")
    assert obj["Body"].read() == src.read_bytes()
    assert obj["ContentType"] == "text/plain"  # the CLI guesses the content type
    dst = tmp_path / "down.txt"
    aws_pip("s3", "cp", f"s3://{cli_bucket}/docs/hello world.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    p = aws_pip("s3", "ls", f"s3://{cli_bucket}/docs/")
    line = [l for l in p.stdout.splitlines() if "hello world.txt" in l]
    assert line and str(src.stat().st_size) in line[0].split()
    p = aws_pip("s3", "ls", f"s3://{cli_bucket}/")
    assert "PRE docs/" in p.stdout


def test_cli_cp_multipart_large_file(aws_pip, s3, cli_bucket, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for i in range(20):
            f.write(hashlib.sha256(str(i).encode()).digest() * (MiB // 32))
    # default multipart threshold/chunk is 8 MiB -> 3 parts
    aws_pip("s3", "cp", str(src), f"s3://{cli_bucket}/big.bin")
    h = s3.head_object(Bucket=cli_bucket, Key="big.bin")
    assert h["ContentLength"] == 20 * MiB
    assert h["ETag"].endswith('-3"'), h["ETag"]
    dst = tmp_path / "big.down"
    aws_pip("s3", "cp", f"s3://{cli_bucket}/big.bin", str(dst))
    assert md5_file(dst) == md5_file(src)


def smoke_tree(root: Path) -> dict:
    files = {
        "readme.txt": b"top level\n",
        "dir one/file with spaces.txt": b"spaces\n",
        "dir one/nested/deep/leaf.bin": os.urandom(3000),
        "ünïcödé/文件.txt": "unicode content ✓\n".encode(),
        "ünïcödé/emoji 🎉.md": b"# party\n",
        "empty.dat": b"",
        "plus+and&amp.txt": b"symbols\n",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        # local files older than their upload, as in real life: `aws s3 sync`
        # re-uploads when the local mtime is newer than the S3 Last-Modified
        past = time.time() - 3600
        os.utime(p, (past, past))
    return files


def test_cli_sync_tree_roundtrip(aws_pip, s3, cli_bucket, tmp_path):
    up = tmp_path / "up"
    files = smoke_tree(up)
    aws_pip("s3", "sync", str(up), f"s3://{cli_bucket}/tree")
    r = s3.list_objects_v2(Bucket=cli_bucket, Prefix="tree/")
    listed = sorted(o["Key"] for o in r.get("Contents", []))
    assert listed == sorted(f"tree/{k}" for k in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=cli_bucket, Key=f"tree/{rel}")["Body"].read() == data
    # a second sync has nothing to do (sizes and Last-Modified line up)
    p = aws_pip("s3", "sync", str(up), f"s3://{cli_bucket}/tree")
    assert "upload:" not in p.stdout, p.stdout
    # sync down into an empty dir reproduces the tree
    down = tmp_path / "down"
    down.mkdir()
    aws_pip("s3", "sync", f"s3://{cli_bucket}/tree", str(down))
    for rel, data in files.items():
        assert (down / rel).read_bytes() == data, rel
    cmp = filecmp.dircmp(up, down)
    assert not cmp.left_only and not cmp.right_only
    # a local change is uploaded, a local delete is propagated with --delete
    (up / "readme.txt").write_bytes(b"changed content, different size\n")
    (up / "empty.dat").unlink()
    p = aws_pip("s3", "sync", "--delete", str(up), f"s3://{cli_bucket}/tree")
    assert "upload:" in p.stdout and "delete:" in p.stdout, p.stdout
    assert s3.get_object(Bucket=cli_bucket, Key="tree/readme.txt")["Body"].read() == b"changed content, different size\n"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket, Prefix="tree/")["Contents"]}
    assert "tree/empty.dat" not in keys


def test_cli_rm_recursive(aws_pip, s3, cli_bucket, tmp_path):
    up = tmp_path / "rm"
    files = smoke_tree(up)
    aws_pip("s3", "cp", "--recursive", str(up), f"s3://{cli_bucket}/")
    s3.put_object(Bucket=cli_bucket, Key="zz-keep/other", Body=b"x")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == len(files) + 1
    p = aws_pip("s3", "rm", "--recursive", f"s3://{cli_bucket}/ünïcödé/")
    assert p.stdout.count("delete:") == 2
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket)["Contents"]}
    assert not any(k.startswith("ünïcödé/") for k in keys)
    aws_pip("s3", "rm", "--recursive", f"s3://{cli_bucket}")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == 0
    p = aws_pip("s3", "ls", "--recursive", f"s3://{cli_bucket}")
    assert p.stdout.strip() == ""


def test_cli_ls_recursive_and_many_keys(aws_pip, s3, cli_bucket):
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"many/k{i:04d}" for i in range(1100)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=cli_bucket, Key=k, Body=b"1"), keys))
    p = aws_pip("s3", "ls", "--recursive", f"s3://{cli_bucket}/many/")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    assert len(lines) == 1100
    assert lines[-1].endswith("many/k1099")


def test_cli_s3api(aws_pip, s3, cli_bucket):
    p = aws_pip("s3api", "put-object", "--bucket", cli_bucket, "--key", "api/obj", "--body", __file__,
            "--content-type", "text/x-python", "--metadata", "origin=cli")
    put = json.loads(p.stdout)
    data = Path(__file__).read_bytes()
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    head = json.loads(aws_pip("s3api", "head-object", "--bucket", cli_bucket, "--key", "api/obj").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "text/x-python"
    assert head["Metadata"] == {"origin": "cli"}
    lst = json.loads(aws_pip("s3api", "list-objects-v2", "--bucket", cli_bucket).stdout)
    assert [o["Key"] for o in lst["Contents"]] == ["api/obj"]
    loc = json.loads(aws_pip("s3api", "get-bucket-location", "--bucket", cli_bucket).stdout)
    assert loc.get("LocationConstraint") in (None, "")
    p = aws_pip("s3api", "head-object", "--bucket", cli_bucket, "--key", "missing", check=False)
    assert p.returncode != 0 and "404" in p.stderr
    p = aws_pip("s3api", "get-object", "--bucket", cli_bucket, "--key", "missing", "/dev/null", check=False)
    assert p.returncode != 0 and "NoSuchKey" in p.stderr
    aws_pip("s3api", "delete-object", "--bucket", cli_bucket, "--key", "api/obj")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == 0


def test_cli_cp_stdin_and_stdout(aws_pip, s3, cli_bucket):
    data = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(20 * MiB // 32))
    aws_pip("s3", "cp", "-", f"s3://{cli_bucket}/from-stdin.bin", input=data)
    h = s3.head_object(Bucket=cli_bucket, Key="from-stdin.bin")
    assert h["ContentLength"] == len(data)
    p = aws_pip("s3", "cp", f"s3://{cli_bucket}/from-stdin.bin", "-", binary=True)
    assert hashlib.md5(p.stdout).hexdigest() == hashlib.md5(data).hexdigest()
