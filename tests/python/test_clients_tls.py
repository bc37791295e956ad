"""Real clients over HTTPS: an engine started with --tls-self-signed (auth
on); the certificate PEM it prints is handed to the AWS CLI (--ca-bundle) and
to boto3 (verify=<pem>). Put/get round trips, single-part and multipart, via
127.0.0.1 and localhost (both are in the certificate). Without the PEM the
clients must refuse the certificate (so the PEM is what makes them work).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from botocore.exceptions import SSLError

from clients_common import MiB, aws_command, boto3_client, list_keys, random_file, server_fixture, sha256_file
from helpers import cleanup_bucket, unique_bucket_name

server = server_fixture(tls=True)


@pytest.fixture(scope="module")
def s3(server):
    return boto3_client(server.endpoint, verify=str(server.ca_pem))


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"), "--ca-bundle", str(server.ca_pem))


def test_endpoint_is_https(server):
    assert server.endpoint.startswith("https://") and server.ca_pem.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_awscli_put_get_roundtrip(aws, s3, tmp_path):
    name = unique_bucket_name("tls-aws")
    aws("s3", "mb", f"s3://{name}")
    try:
        small = tmp_path / "small ü.txt"
        small.write_bytes(b"over https \xe2\x9c\x93\n")
        p = aws("s3api", "put-object", "--bucket", name, "--key", "s/small ü.txt", "--body", str(small))
        assert json.loads(p.stdout)["ETag"] == f'"{hashlib.md5(small.read_bytes()).hexdigest()}"'
        out = tmp_path / "out.txt"
        aws("s3api", "get-object", "--bucket", name, "--key", "s/small ü.txt", str(out))
        assert out.read_bytes() == small.read_bytes()

        big = tmp_path / "big.bin"
        want = random_file(big, 24 * MiB)  # 3 parts of 8 MiB
        aws("s3", "cp", str(big), f"s3://{name}/m/big.bin", "--only-show-errors")
        assert s3.head_object(Bucket=name, Key="m/big.bin")["ETag"].endswith('-3"')
        down = tmp_path / "down.bin"
        aws("s3", "cp", f"s3://{name}/m/big.bin", str(down), "--only-show-errors")
        assert sha256_file(down) == want
        p = aws("s3", "ls", "--recursive", f"s3://{name}")
        assert sorted(l.split(None, 3)[3] for l in p.stdout.splitlines()) == ["m/big.bin", "s/small ü.txt"]
        aws("s3", "rb", "--force", f"s3://{name}")
    finally:
        cleanup_bucket(s3, name)


def test_awscli_without_ca_bundle_refuses(server, tmp_path):
    aws = aws_command(server.endpoint, tmp_path / "cfg")
    p = aws("s3", "ls", check=False)
    assert p.returncode != 0 and "SSL" in p.stderr and "CERTIFICATE_VERIFY_FAILED" in p.stderr, p.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_boto3_put_get_roundtrip(server, host, tmp_path):
    s3 = boto3_client(f"https://{host}:{server.port}", verify=str(server.ca_pem))
    name = unique_bucket_name(f"tls-boto3-{host}")
    s3.create_bucket(Bucket=name)
    try:
        data = os.urandom(100_001)
        put = s3.put_object(Bucket=name, Key="k ü", Body=data)
        assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        assert s3.get_object(Bucket=name, Key="k ü")["Body"].read() == data
        assert s3.get_object(Bucket=name, Key="k ü", Range="bytes=10-19")["Body"].read() == data[10:20]

        src = tmp_path / "mp.bin"
        want = random_file(src, 20 * MiB)
        s3.upload_file(str(src), name, "mp.bin")
        assert s3.head_object(Bucket=name, Key="mp.bin")["ETag"].endswith('-3"')
        dst = tmp_path / "mp.down"
        s3.download_file(name, "mp.bin", str(dst))
        assert sha256_file(dst) == want
        assert sorted(list_keys(s3, name)) == ["k ü", "mp.bin"]
    finally:
        cleanup_bucket(s3, name)


def test_boto3_without_verify_pem_refuses(server):
    s3 = boto3_client(server.endpoint)  # the system CA store does not know the engine's certificate
    with pytest.raises(SSLError):
        s3.list_buckets()
