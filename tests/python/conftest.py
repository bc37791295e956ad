"""pytest fixtures shared by every test module: one engine per module, unique
buckets per test, cleanup in teardown.

  server        the module's engine (helpers.Server). A module that needs an
                engine of its own (auth on, other limits, TLS) assigns
                `server = helpers.server_fixture(...)` (or auth_server_fixture,
                clients_common.server_fixture, sigv4_signer.auth_engine); every
                fixture below then uses that engine.
  s3            boto3 with the engine's credentials (server.client())
  raw           helpers.RawClient: SigV4-signed raw HTTP (server.raw_client())
  signer        sigv4_signer.Signer: our own SigV4 signer, for hand-made requests
  presigner     boto3 that presigns with SigV4 (boto3's default presigns SigV2)
  make_bucket   factory: a new bucket (or only its name), removed after the test
  bucket        one new bucket
  vbucket       one new bucket with versioning Enabled
  localhost_resolves_subdomains   `<bucket>.localhost` resolves (virtual hosts)
  (autouse)     the engine must still be running after each test

Environment:
  SMARTSTORAGE_BINARY         engine binary (default rust/target/release/ruststorage)
  SMARTSTORAGE_TEST_ENDPOINT  run against an already running endpoint instead
                              (tests that need the engine's pid/directory skip)
  SMARTSTORAGE_KEEP_DATA=1    keep the engine's temp dirs and logs
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import REGION, cleanup_bucket, server_fixture, unique_bucket_name  # noqa: E402
from sigv4_signer import Signer  # noqa: E402

server = server_fixture(REGION, external_ok=True)


@pytest.fixture(scope="module")
def s3(server):
    return server.client()


@pytest.fixture(scope="module")
def raw(server):
    return server.raw_client()


@pytest.fixture(scope="module")
def signer(server):
    return Signer(server)


@pytest.fixture(scope="module")
def presigner(server):
    return server.client(config={"signature_version": "s3v4"})


@pytest.fixture
def make_bucket(s3, request):
    """Factory: make_bucket(hint=None, client=None, create=True, name=None) ->
    a new unique bucket name (created with `client`, default `s3`), removed
    with everything in it after the test. create=False only reserves the name,
    for a test that creates the bucket itself (with another tool, or as the
    request under test); name= uses that name instead of a unique one."""
    created = []

    def _make(hint: str | None = None, client=None, *, create: bool = True, name: str | None = None):
        c = client or s3
        name = name or unique_bucket_name(hint or request.node.name)
        if create:
            c.create_bucket(Bucket=name)
        created.append((c, name))
        return name

    yield _make
    for c, name in reversed(created):
        cleanup_bucket(c, name)


@pytest.fixture
def bucket(make_bucket):
    return make_bucket()


@pytest.fixture
def vbucket(s3, make_bucket):
    """A new bucket with versioning Enabled; all versions removed afterwards."""
    name = make_bucket()
    r = s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    return name


@pytest.fixture
def localhost_resolves_subdomains(monkeypatch):
    """Make `<bucket>.localhost` resolve to 127.0.0.1 inside this process
    (glibc does not resolve subdomains of localhost), so boto3 can be used with
    addressing_style=virtual against http://localhost:PORT."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield


@pytest.fixture(autouse=True)
def _engine_still_alive(request):
    """After every test that used the engine, the engine must still be running.
    If it is not, this test fails (with the engine's exit code and log tail) and
    the engine is started again on the same directory and port, so one crash
    does not take the rest of the module down with it."""
    srv = request.getfixturevalue("server") if "server" in request.fixturenames else None
    if srv is not None and not srv.alive():
        # died between tests (or from outside): revive before this test
        srv.revive()
    yield
    if srv is not None and not srv.alive():
        code = srv.proc.returncode
        tail = srv.log_tail()
        srv.revive()
        how = (
            "exited 0 after SIGTERM/SIGINT (signal from outside the test?)"
            if code == 0
            else f"exit code {code}" + (" (killed by signal %d)" % -code if code < 0 else "")
        )
        pytest.fail(f"engine process died during/after this test: {how}; log tail:\n{tail}")
