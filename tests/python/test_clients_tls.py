"""Real clients over HTTPS: an engine started with --tls-self-signed (auth
on); the certificate PEM it prints is handed to the AWS CLI (--ca-bundle), to
boto3 (verify=<pem>), and also to rclone (--ca-cert), mc (certs/CAs in its
config dir) and s3cmd (ca_certs_file). Put/get round trips, single-part and
multipart, via 127.0.0.1 and localhost (both are in the certificate). Without
the PEM the clients must refuse the certificate (so the PEM is what makes them
work).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from botocore.exceptions import SSLError

from clients_common import MiB, aws_command, boto3_client, list_keys, random_file, server_fixture, sha256_file

# conftest's `s3` is boto3 trusting the engine's certificate (ClientsServer.client)
server = server_fixture(tls=True)


@pytest.fixture(scope="module", params=["debian", "pip"])
def aws(server, tmp_path_factory, request):
    """Both CLIs: over HTTPS the pip one (newer vendored botocore) sends
    uploads aws-chunked with a trailing CRC32 (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    return aws_command(server.endpoint, tmp_path_factory.mktemp("awscfg"), "--ca-bundle", str(server.ca_pem),
                       flavor=request.param)


def test_endpoint_is_https(server):
    assert server.endpoint.startswith("https://") and server.ca_pem.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_awscli_put_get_roundtrip(aws, s3, make_bucket, tmp_path):
    name = make_bucket(f"tls-aws-{aws.flavor}", create=False)
    aws("s3", "mb", f"s3://{name}")
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


def test_awscli_without_ca_bundle_refuses(server, tmp_path):
    aws = aws_command(server.endpoint, tmp_path / "cfg")  # Debian's if present (it retries: a few seconds)
    p = aws("s3", "ls", check=False)
    assert p.returncode != 0 and "SSL" in p.stderr and "CERTIFICATE_VERIFY_FAILED" in p.stderr, p.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_boto3_put_get_roundtrip(server, host, make_bucket, tmp_path):
    s3 = boto3_client(f"https://{host}:{server.port}", verify=str(server.ca_pem))
    name = make_bucket(f"tls-boto3-{host}", client=s3)
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


def test_boto3_without_verify_pem_refuses(server):
    s3 = boto3_client(server.endpoint)  # the system CA store does not know the engine's certificate
    with pytest.raises(SSLError):
        s3.list_buckets()


# ---- the other CLIs over HTTPS, each trusting the printed certificate ----


def test_rclone_over_https(server, make_bucket, tmp_path):
    from clients_common import ACCESS_KEY, REGION, SECRET_KEY, clean_env, find_tool, run

    exe = find_tool("rclone")
    conf = tmp_path / "rclone.conf"
    conf.write_text("")
    env = clean_env(RCLONE_CONFIG=str(conf), RCLONE_CONFIG_T_TYPE="s3", RCLONE_CONFIG_T_PROVIDER="Other",
                    RCLONE_CONFIG_T_ENDPOINT=server.endpoint, RCLONE_CONFIG_T_ACCESS_KEY_ID=ACCESS_KEY,
                    RCLONE_CONFIG_T_SECRET_ACCESS_KEY=SECRET_KEY, RCLONE_CONFIG_T_REGION=REGION)
    name = make_bucket("tls-rclone", create=False)
    rc = [exe, "--retries", "1", "--low-level-retries", "1", "--ca-cert", str(server.ca_pem)]
    run([*rc, "mkdir", f"t:{name}"], env)
    src = tmp_path / "f.bin"
    want = random_file(src, 9 * MiB)
    run([*rc, "copyto", str(src), f"t:{name}/f ü.bin"], env)
    run([*rc, "copyto", f"t:{name}/f ü.bin", str(tmp_path / "back.bin")], env)
    assert sha256_file(tmp_path / "back.bin") == want
    p = run([exe, "--retries", "1", "--low-level-retries", "1", "lsf", "t:" + name], env, check=False)
    # without --ca-cert rclone must refuse the certificate
    assert p.returncode != 0 and "certificate" in p.stderr, p.stderr


def test_mc_over_https(server, make_bucket, tmp_path):
    from clients_common import ACCESS_KEY, CLIENTS_BIN, SECRET_KEY, clean_env, run

    exe = CLIENTS_BIN / "mc"
    if not exe.exists():
        pytest.skip(f"MinIO mc is not installed in {CLIENTS_BIN} (run tests/python/install_clients.sh)")
    cfg = tmp_path / "mc"
    (cfg / "certs" / "CAs").mkdir(parents=True)
    (cfg / "certs" / "CAs" / "smartstorage.pem").write_bytes(server.ca_pem.read_bytes())
    env = clean_env()
    mc = [str(exe), "--config-dir", str(cfg), "--no-color", "--quiet"]
    run([*mc, "alias", "set", "t", server.endpoint, ACCESS_KEY, SECRET_KEY], env)
    name = make_bucket("tls-mc", create=False)
    run([*mc, "mb", f"t/{name}"], env)
    src = tmp_path / "f.bin"
    want = random_file(src, 20 * MiB)  # multipart with mc's 16 MiB parts
    run([*mc, "cp", str(src), f"t/{name}/f.bin"], env)
    run([*mc, "cp", f"t/{name}/f.bin", str(tmp_path / "back.bin")], env)
    assert sha256_file(tmp_path / "back.bin") == want


def test_s3cmd_over_https(server, make_bucket, tmp_path):
    from clients_common import ACCESS_KEY, REGION, SECRET_KEY, clean_env, find_tool, run

    exe = find_tool("s3cmd")
    cfg = tmp_path / "s3cfg"
    hostport = f"{server.host}:{server.port}"
    cfg.write_text(
        f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {hostport}\n"
        f"host_bucket = {hostport}\nbucket_location = {REGION}\nuse_https = True\n"
        f"ca_certs_file = {server.ca_pem}\ncheck_ssl_certificate = True\nsignature_v2 = False\n"
    )
    env = clean_env()
    name = make_bucket("tls-s3cmd", create=False)
    run([exe, "-c", str(cfg), "mb", f"s3://{name}"], env)
    src = tmp_path / "f.bin"
    want = random_file(src, 17 * MiB)  # multipart with s3cmd's 15 MiB chunks
    run([exe, "-c", str(cfg), "--no-progress", "put", str(src), f"s3://{name}/f.bin"], env)
    run([exe, "-c", str(cfg), "--no-progress", "get", f"s3://{name}/f.bin", str(tmp_path / "back.bin")], env)
    assert sha256_file(tmp_path / "back.bin") == want
