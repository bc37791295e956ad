"""pytest fixtures: one engine per test module, unique buckets per test.

Environment:
  SMARTSTORAGE_BINARY         engine binary (default rust/target/release/ruststorage)
  SMARTSTORAGE_TEST_ENDPOINT  run against an already running endpoint instead
                              (tests that need the engine's pid/directory skip)
  SMARTSTORAGE_SKIP_STREAMING=1  skip the 1 GiB streaming test
  SMARTSTORAGE_KEEP_DATA=1    keep the engine's temp dirs and logs
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import (  # noqa: E402
    REGION,
    RawClient,
    cleanup_bucket,
    make_client,
    start_server,
    unique_bucket_name,
)


@pytest.fixture(scope="module")
def server():
    srv = start_server(REGION)
    try:
        yield srv
    finally:
        srv.stop()
        srv.cleanup()


@pytest.fixture(scope="module")
def s3(server):
    return make_client(server.endpoint, server.region)


@pytest.fixture(scope="module")
def raw(server):
    return RawClient(server.endpoint, server.region)


@pytest.fixture
def make_bucket(s3, request):
    """Factory: make_bucket() -> new unique bucket name, removed after the test."""
    created = []

    def _make(hint: str | None = None, client=None):
        name = unique_bucket_name(hint or request.node.name)
        (client or s3).create_bucket(Bucket=name)
        created.append((client or s3, name))
        return name

    yield _make
    for client, name in reversed(created):
        cleanup_bucket(client, name)


@pytest.fixture
def bucket(make_bucket):
    return make_bucket()


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
