"""The web console's server side (issue #23): its own port, the page's files with a
strict policy, the S3 API beside them on the same origin, and the SigV4-signed
overview. The pages themselves are driven in Chromium by tests/browser/console.test.mjs.

One engine with auth on and two accounts: the operator's key (no owner) and a user's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import EngineStartFailed, ManagedEngine, binary_path, expect_error, make_client, unique_bucket_name

ADMIN = ("AKIDCONSOLEADMIN", "console-admin-secret-0123456789")
USER = ("AKIDCONSOLEUSER", "console-user-secret-0123456789")
REGION = "us-east-1"
CLUSTER = int(os.environ.get("SMARTSTORAGE_TEST_CLUSTER", "0") or 0) > 0


@pytest.fixture(scope="module")
def engine():
    eng = ManagedEngine(
        [ADMIN, {"accessKeyId": USER[0], "secretAccessKey": USER[1], "owner": {"displayName": "carol"}}],
        config={"server": {"console": {"enabled": True, "port": 0}}},
    )
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def console(engine):
    port = engine.start_info["consolePort"]
    assert port != engine.port
    return f"http://127.0.0.1:{port}"


def signed_get(url: str, keys=ADMIN, **kw) -> requests.Response:
    """A GET signed as an S3 request (botocore's SigV4 for S3), as the page signs it."""
    req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(*keys), "s3", REGION).add_auth(req)
    return requests.get(url, headers=dict(req.headers), timeout=30, allow_redirects=False, **kw)


def test_console_is_off_unless_configured():
    eng = ManagedEngine([ADMIN])
    try:
        assert "consolePort" not in eng.start_info
        # The S3 port never serves the console's files.
        res = requests.get(eng.endpoint + "/_console/", timeout=10)
        assert res.status_code != 200
        assert b"<html" not in res.content
    finally:
        eng.stop()


def test_the_page_and_its_files_carry_a_strict_policy(console):
    res = requests.get(console + "/_console/", timeout=10)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/html")
    assert b'<script type="module" src="app.js"' in res.content
    policy = res.headers["content-security-policy"]
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]:
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert res.headers["x-frame-options"] == "DENY"
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["referrer-policy"] == "no-referrer"
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css"), ("aws4fetch.esm.js", "text/javascript")]:
        res = requests.get(f"{console}/_console/{name}", timeout=10)
        assert res.status_code == 200 and res.headers["content-type"].startswith(kind), name
        assert res.headers["x-frame-options"] == "DENY"


def test_only_the_console_files_are_served(console):
    for path in ["/_console/nope.js", "/_console/../Cargo.toml", "/_console/%2e%2e/Cargo.toml", "/_console/app.js/"]:
        res = requests.get(console + path, timeout=10)
        assert res.status_code == 404 or b"<Error>" in res.content, path
        assert b"[package]" not in res.content
    res = requests.post(console + "/_console/app.js", data=b"x", timeout=10)
    assert res.status_code == 405
    assert res.headers["allow"] == "GET, HEAD"


def test_unsigned_root_goes_to_the_console_and_signed_root_lists_buckets(console):
    res = requests.get(console + "/", timeout=10, allow_redirects=False)
    assert res.status_code == 302 and res.headers["location"] == "/_console/"
    res = requests.get(console + "/_console", timeout=10, allow_redirects=False)
    assert res.status_code == 302 and res.headers["location"] == "/_console/"
    res = signed_get(console + "/")
    assert res.status_code == 200
    assert b"<ListAllMyBucketsResult" in res.content


def test_the_s3_api_answers_on_the_console_origin(engine, console):
    s3 = make_client(console, access_key=ADMIN[0], secret_key=ADMIN[1])
    bucket = unique_bucket_name("console-s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<script>alert(1)</script>", ContentType="text/html")
    # Same store as the S3 port.
    direct = make_client(engine.endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    assert direct.get_object(Bucket=bucket, Key="page.html")["Body"].read() == b"<script>alert(1)</script>"
    # An HTML object opened on the console's origin runs no script there, and is never framed.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "page.html"})
    res = requests.get(url, timeout=10)
    assert res.status_code == 200
    assert "sandbox" in res.headers["content-security-policy"]
    assert res.headers["x-frame-options"] == "DENY"
    # Auth is the S3 port's: an unsigned or wrongly signed request is refused.
    assert requests.get(f"{console}/{bucket}/page.html", timeout=10).status_code == 403
    bad = make_client(console, access_key=ADMIN[0], secret_key="wrong-secret-0123456789")
    expect_error(lambda: bad.list_objects_v2(Bucket=bucket), "SignatureDoesNotMatch", 403)


def test_info_says_how_to_sign_and_where_s3_is(engine, console):
    info = requests.get(console + "/_console/api/info", timeout=10).json()
    assert info == {
        "version": info["version"],
        "region": REGION,
        "authEnabled": True,
        "s3": {"port": engine.port, "tls": False},
    }


def test_overview_needs_a_valid_signature(console):
    res = requests.get(console + "/_console/api/overview", timeout=10)
    assert res.status_code == 403
    assert res.json()["error"] == "AccessDenied"
    res = signed_get(console + "/_console/api/overview", keys=(ADMIN[0], "not-the-secret-0123456789"))
    assert res.status_code == 403
    assert res.json()["error"] == "SignatureDoesNotMatch"
    res = signed_get(console + "/_console/api/overview", keys=("AKIDNOBODY", "whatever-secret-0123456789"))
    assert res.status_code == 403
    assert res.json()["error"] == "InvalidAccessKeyId"
    assert "server" not in res.json()


def test_overview_for_the_operator(engine, console):
    s3 = make_client(engine.endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    bucket = unique_bucket_name("console-ov")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="a", Body=b"12345")
    s3.put_object(Bucket=bucket, Key="b", Body=b"123")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }))
    first = signed_get(console + "/_console/api/overview")
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    body = first.json()
    assert body["identity"] == {"accessKeyId": ADMIN[0], "displayName": "smartstorage", "admin": True}
    mine = next(b for b in body["buckets"] if b["name"] == bucket)
    assert mine["objectCount"] == 2 and mine["totalBytes"] == 8
    assert mine["versioning"] == "Enabled" and mine["hasPolicy"] is True and mine["hasCors"] is False
    assert mine["objectLock"] is False and mine["hasLifecycle"] is False
    server = body["server"]
    assert server["stats"]["objectCount"] >= 2
    assert server["health"]["enabled"] is CLUSTER
    assert server["uptimeSeconds"] > 0
    # The request counter behind the chart moves with requests (three here, plus the overview itself).
    for _ in range(3):
        s3.head_object(Bucket=bucket, Key="a")
    second = signed_get(console + "/_console/api/overview").json()
    assert second["server"]["requests"]["total"] >= server["requests"]["total"] + 4


def test_a_user_sees_only_its_buckets_and_no_server_figures(engine, console):
    admin = make_client(engine.endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    user = make_client(engine.endpoint, access_key=USER[0], secret_key=USER[1])
    theirs, ours = unique_bucket_name("console-carol"), unique_bucket_name("console-op")
    user.create_bucket(Bucket=theirs)
    admin.create_bucket(Bucket=ours)
    body = signed_get(console + "/_console/api/overview", keys=USER).json()
    assert body["identity"]["displayName"] == "carol" and body["identity"]["admin"] is False
    assert body["server"] is None
    names = [b["name"] for b in body["buckets"]]
    assert theirs in names and ours not in names
    names = [b["name"] for b in signed_get(console + "/_console/api/overview").json()["buckets"]]
    assert ours in names and theirs not in names


def test_a_cross_origin_page_gets_no_cors_grant(console):
    for path in ["/_console/api/overview", "/_console/api/info", "/_console/"]:
        res = requests.get(console + path, headers={"Origin": "http://evil.example"}, timeout=10)
        assert "access-control-allow-origin" not in res.headers, path
    res = requests.options(
        console + "/_console/api/overview",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in res.headers


def test_a_console_port_in_use_or_malformed_fails_the_start(engine):
    with pytest.raises(EngineStartFailed) as failed:
        ManagedEngine([ADMIN], config={"server": {"console": {"enabled": True, "port": engine.port}}})
    assert failed.value.error.get("code") == "BindError", failed.value.error
    with pytest.raises(EngineStartFailed) as failed:
        ManagedEngine([ADMIN], config={"server": {"console": {"enabled": True, "port": "x"}}})
    assert failed.value.error.get("code") == "InvalidConfig", failed.value.error


def test_the_cli_prints_the_console_url(tmp_path):
    proc = subprocess.Popen(
        [str(binary_path()), "serve", "--address", "127.0.0.1", "--port", "0", "--directory", str(tmp_path / "data"),
         "--access-key", ADMIN[0], "--secret-key", ADMIN[1], "--console-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        url = None
        for _ in range(20):
            line = proc.stdout.readline()
            found = re.match(r"console: open (http://127\.0\.0\.1:\d+/_console/)$", line.strip())
            if found:
                url = found.group(1)
                break
        assert url, "no console line on stdout"
        assert requests.get(url, timeout=10).headers["x-frame-options"] == "DENY"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = subprocess.run([str(binary_path()), "serve", "--console-port", "x"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--console-port" in bad.stderr
