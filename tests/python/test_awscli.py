"""Smoke tests with the AWS CLI (pip `awscli`, v1, installed in the venv from
requirements.txt): s3 mb/ls/cp/sync/rm/rb and a few s3api calls."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ACCESS_KEY, SECRET_KEY, MiB, unique_bucket_name

pytestmark = pytest.mark.awscli


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    cfgdir = tmp_path_factory.mktemp("awscfg")
    (cfgdir / "config").write_text("[default]\nregion = us-east-1\noutput = json\n")
    (cfgdir / "credentials").write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    }
    env.update(
        AWS_CONFIG_FILE=str(cfgdir / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(cfgdir / "credentials"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
        PYTHONIOENCODING="utf-8",
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
    )

    def run(*args, check=True, cwd=None, timeout=300, input_bytes=None):
        cmd = [sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, *args]
        if input_bytes is not None or "-" in args:
            # binary stdin/stdout (aws s3 cp - / cp ... -)
            p = subprocess.run(cmd, env=env, capture_output=True, input=input_bytes, cwd=cwd, timeout=timeout)
            if check:
                assert p.returncode == 0, f"aws {' '.join(args)} -> rc {p.returncode}\nstderr:\n{p.stderr[-2000:]!r}"
            return p
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=timeout)
        if check:
            assert p.returncode == 0, f"aws {' '.join(args)} -> rc {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        return p

    p = run("--version", check=False)
    if p.returncode != 0:
        pytest.fail(f"awscli not runnable with {sys.executable}: {p.stderr}")
    return run


@pytest.fixture
def cli_bucket(aws, s3):
    from helpers import cleanup_bucket

    name = unique_bucket_name("cli")
    aws("s3", "mb", f"s3://{name}")
    yield name
    cleanup_bucket(s3, name)


def md5_file(p: Path) -> str:
    h = hashlib.md5()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_cli_mb_ls_rb(aws, s3):
    name = unique_bucket_name("climb")
    p = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in p.stdout
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    p = aws("s3", "ls")
    assert name in p.stdout.split()
    p = aws("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in p.stdout
    p = aws("s3", "ls")
    assert name not in p.stdout.split()


def test_cli_cp_up_and_down(aws, s3, cli_bucket, tmp_path):
    src = tmp_path / "hello world.txt"
    src.write_bytes(b"hello from the cli\n" * 100)
    aws("s3", "cp", str(src), f"s3://{cli_bucket}/docs/hello world.txt")
    obj = s3.get_object(Bucket=cli_bucket, Key="docs/hello world.txt")
    assert obj["Body"].read() == src.read_bytes()
    assert obj["ContentType"] == "text/plain"  # the CLI guesses the content type
    dst = tmp_path / "down.txt"
    aws("s3", "cp", f"s3://{cli_bucket}/docs/hello world.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    p = aws("s3", "ls", f"s3://{cli_bucket}/docs/")
    line = [l for l in p.stdout.splitlines() if "hello world.txt" in l]
    assert line and str(src.stat().st_size) in line[0].split()
    p = aws("s3", "ls", f"s3://{cli_bucket}/")
    assert "PRE docs/" in p.stdout


def test_cli_cp_multipart_large_file(aws, s3, cli_bucket, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for i in range(20):
            f.write(hashlib.sha256(str(i).encode()).digest() * (MiB // 32))
    # default multipart threshold/chunk is 8 MiB -> 3 parts
    aws("s3", "cp", str(src), f"s3://{cli_bucket}/big.bin")
    h = s3.head_object(Bucket=cli_bucket, Key="big.bin")
    assert h["ContentLength"] == 20 * MiB
    assert h["ETag"].endswith('-3"'), h["ETag"]
    dst = tmp_path / "big.down"
    aws("s3", "cp", f"s3://{cli_bucket}/big.bin", str(dst))
    assert md5_file(dst) == md5_file(src)


def make_tree(root: Path) -> dict:
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


def test_cli_sync_tree_roundtrip(aws, s3, cli_bucket, tmp_path):
    up = tmp_path / "up"
    files = make_tree(up)
    aws("s3", "sync", str(up), f"s3://{cli_bucket}/tree")
    r = s3.list_objects_v2(Bucket=cli_bucket, Prefix="tree/")
    listed = sorted(o["Key"] for o in r.get("Contents", []))
    assert listed == sorted(f"tree/{k}" for k in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=cli_bucket, Key=f"tree/{rel}")["Body"].read() == data
    # a second sync has nothing to do (sizes and Last-Modified line up)
    p = aws("s3", "sync", str(up), f"s3://{cli_bucket}/tree")
    assert "upload:" not in p.stdout, p.stdout
    # sync down into an empty dir reproduces the tree
    down = tmp_path / "down"
    down.mkdir()
    aws("s3", "sync", f"s3://{cli_bucket}/tree", str(down))
    for rel, data in files.items():
        assert (down / rel).read_bytes() == data, rel
    cmp = filecmp.dircmp(up, down)
    assert not cmp.left_only and not cmp.right_only
    # a local change is uploaded, a local delete is propagated with --delete
    (up / "readme.txt").write_bytes(b"changed content, different size\n")
    (up / "empty.dat").unlink()
    p = aws("s3", "sync", "--delete", str(up), f"s3://{cli_bucket}/tree")
    assert "upload:" in p.stdout and "delete:" in p.stdout, p.stdout
    assert s3.get_object(Bucket=cli_bucket, Key="tree/readme.txt")["Body"].read() == b"changed content, different size\n"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket, Prefix="tree/")["Contents"]}
    assert "tree/empty.dat" not in keys


def test_cli_rm_recursive(aws, s3, cli_bucket, tmp_path):
    up = tmp_path / "rm"
    files = make_tree(up)
    aws("s3", "cp", "--recursive", str(up), f"s3://{cli_bucket}/")
    s3.put_object(Bucket=cli_bucket, Key="zz-keep/other", Body=b"x")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == len(files) + 1
    p = aws("s3", "rm", "--recursive", f"s3://{cli_bucket}/ünïcödé/")
    assert p.stdout.count("delete:") == 2
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket)["Contents"]}
    assert not any(k.startswith("ünïcödé/") for k in keys)
    aws("s3", "rm", "--recursive", f"s3://{cli_bucket}")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == 0
    p = aws("s3", "ls", "--recursive", f"s3://{cli_bucket}")
    assert p.stdout.strip() == ""


def test_cli_ls_recursive_and_many_keys(aws, s3, cli_bucket):
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"many/k{i:04d}" for i in range(1100)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=cli_bucket, Key=k, Body=b"1"), keys))
    p = aws("s3", "ls", "--recursive", f"s3://{cli_bucket}/many/")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    assert len(lines) == 1100
    assert lines[-1].endswith("many/k1099")


def test_cli_s3api(aws, s3, cli_bucket):
    p = aws("s3api", "put-object", "--bucket", cli_bucket, "--key", "api/obj", "--body", __file__,
            "--content-type", "text/x-python", "--metadata", "origin=cli")
    put = json.loads(p.stdout)
    data = Path(__file__).read_bytes()
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    head = json.loads(aws("s3api", "head-object", "--bucket", cli_bucket, "--key", "api/obj").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "text/x-python"
    assert head["Metadata"] == {"origin": "cli"}
    lst = json.loads(aws("s3api", "list-objects-v2", "--bucket", cli_bucket).stdout)
    assert [o["Key"] for o in lst["Contents"]] == ["api/obj"]
    loc = json.loads(aws("s3api", "get-bucket-location", "--bucket", cli_bucket).stdout)
    assert loc.get("LocationConstraint") in (None, "")
    p = aws("s3api", "head-object", "--bucket", cli_bucket, "--key", "missing", check=False)
    assert p.returncode != 0 and "404" in p.stderr
    p = aws("s3api", "get-object", "--bucket", cli_bucket, "--key", "missing", "/dev/null", check=False)
    assert p.returncode != 0 and "NoSuchKey" in p.stderr
    aws("s3api", "delete-object", "--bucket", cli_bucket, "--key", "api/obj")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == 0


def test_cli_cp_stdin_and_stdout(aws, s3, cli_bucket):
    data = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(20 * MiB // 32))
    aws("s3", "cp", "-", f"s3://{cli_bucket}/from-stdin.bin", input_bytes=data)
    h = s3.head_object(Bucket=cli_bucket, Key="from-stdin.bin")
    assert h["ContentLength"] == len(data)
    p = aws("s3", "cp", f"s3://{cli_bucket}/from-stdin.bin", "-")
    assert hashlib.md5(p.stdout).hexdigest() == hashlib.md5(data).hexdigest()
