"""Operating the server (issue #23): health probes, Prometheus metrics, the access log.

One engine for most tests: auth on, metrics on the S3 port behind a bearer token,
the access log in a file. Metrics are read with prometheus_client's OpenMetrics
parser (a real parser: a malformed exposition fails the test), before and after a
known workload, and the counters must have moved by exactly that workload.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from helpers import (
    EngineStartFailed,
    ManagedEngine,
    binary_path,
    cleanup_bucket,
    expect_error,
    make_client,
    server_fixture,
    unique_bucket_name,
)

TOKEN = "scrape-token-0123"
ACCESS, SECRET = "AKIDOPS", "ops-secret-0123456789"
LOG_DIR = Path(tempfile.mkdtemp(prefix="smartstorage-access-log-"))
ACCESS_LOG = LOG_DIR / "access.log"
CLUSTER = int(os.environ.get("SMARTSTORAGE_TEST_CLUSTER", "0") or 0) > 0

server = server_fixture(
    access_key=ACCESS,
    secret_key=SECRET,
    extra_args=["--metrics", "--metrics-token", TOKEN, "--access-log", str(ACCESS_LOG)],
)


def scrape(endpoint: str, token: str | None = TOKEN, path: str = "/metrics") -> dict:
    """{(name, frozenset(labels)): value} of every sample."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    res = requests.get(endpoint + path, headers=headers, timeout=30)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/openmetrics-text")
    samples = {}
    for family in text_string_to_metric_families(res.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def access_lines() -> list[dict]:
    # The writer thread flushes once its queue is empty: give it a moment.
    deadline = time.time() + 5
    text = ""
    while time.time() < deadline:
        text = ACCESS_LOG.read_text() if ACCESS_LOG.exists() else ""
        if text.endswith("\n"):
            break
        time.sleep(0.05)
    return [json.loads(line) for line in text.splitlines()]


# --- health ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/minio/health/live",
                                  "/minio/health/ready", "/minio/health/cluster",
                                  "/minio/health/cluster/read"])
def test_health_probes_answer_unauthenticated(server, path):
    res = requests.get(server.endpoint + path, timeout=10)
    assert res.status_code == 200, res.text
    assert res.json() == {"status": "ok"}
    assert res.headers["cache-control"] == "no-store"
    head = requests.head(server.endpoint + path, timeout=10)
    assert head.status_code == 200 and head.content == b""


def test_other_methods_and_virtual_hosted_paths_are_s3(server):
    # A PUT to the probe's path is an S3 request for bucket "health", which cannot exist.
    res = requests.put(server.endpoint + "/health/live", data=b"x", timeout=10)
    assert res.status_code == 404 and "<Code>NoSuchBucket</Code>" in res.text
    # health.localhost/live is object "live" of a virtual-hosted bucket, not a probe.
    port = server.endpoint.rsplit(":", 1)[1]
    res = requests.get(f"http://127.0.0.1:{port}/live", headers={"Host": f"health.localhost:{port}"}, timeout=10)
    assert res.status_code == 404 and "<Code>NoSuchBucket</Code>" in res.text


@pytest.mark.parametrize("name", ["health", "minio"])
def test_reserved_bucket_names_are_refused(s3, name):
    expect_error(lambda: s3.create_bucket(Bucket=name), "InvalidBucketName", 400)


# --- metrics ---------------------------------------------------------------


def test_scrape_needs_the_bearer_token(server):
    res = requests.get(server.endpoint + "/metrics", timeout=10)
    assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
    res = requests.get(server.endpoint + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert res.status_code == 401
    assert TOKEN not in res.text


def test_counters_move_by_exactly_the_workload(server, s3, make_bucket):
    bucket = make_bucket()
    before = scrape(server.endpoint)
    body = b"m" * 1000
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
    for i in range(3):
        assert s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == body
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="missing"), "NoSuchKey", 404)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="open")["UploadId"]
    after = scrape(server.endpoint)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("smartstorage_requests_total", operation="PutObject", status_class="2xx") == 5
    assert moved("smartstorage_requests_total", operation="GetObject", status_class="2xx") == 3
    assert moved("smartstorage_requests_total", operation="GetObject", status_class="4xx") == 1
    assert moved("smartstorage_requests_total", operation="CreateMultipartUpload", status_class="2xx") == 1
    assert moved("smartstorage_request_duration_seconds_count", operation="PutObject") == 5
    assert moved("smartstorage_request_duration_seconds_bucket", operation="GetObject", le="+Inf") == 4
    # The PUT bodies came in; the GET bodies (and the error and XML documents) went out.
    assert moved("smartstorage_received_bytes_total") >= 5 * 1000
    assert 3 * 1000 < moved("smartstorage_sent_bytes_total") < 3 * 1000 + 20_000
    assert value(after, "smartstorage_bucket_objects", bucket=bucket) == 5
    assert value(after, "smartstorage_bucket_stored_bytes", bucket=bucket) == 5 * 1000
    assert moved("smartstorage_objects") == 5
    assert moved("smartstorage_multipart_uploads_open") == 1
    # The scrape that is running counts itself as in flight.
    assert value(after, "smartstorage_requests_in_flight") >= 1
    assert value(after, "smartstorage_uptime_seconds") > 0
    assert value(after, "smartstorage_build_info", version=value_label(after, "smartstorage_build_info", "version")) == 1
    paths = [dict(labels)["path"] for (name, labels) in after if name == "smartstorage_disk_free_bytes"]
    assert paths and all(value(after, "smartstorage_disk_free_bytes", path=p) > 0 for p in paths)
    s3.abort_multipart_upload(Bucket=bucket, Key="open", UploadId=upload)


def value_label(samples: dict, name: str, label: str) -> str:
    return next(dict(labels)[label] for (n, labels) in samples if n == name)


def test_cluster_gauges_in_cluster_mode(server):
    samples = scrape(server.endpoint)
    if not CLUSTER:
        assert not any(name.startswith("smartstorage_cluster_") for name, _ in samples)
        return
    assert value(samples, "smartstorage_cluster_quorum", kind="metadata") == 1
    assert value(samples, "smartstorage_cluster_quorum", kind="write") == 1
    assert value(samples, "smartstorage_cluster_nodes", state="up") == 1
    drives = sum(v for (name, _), v in samples.items() if name == "smartstorage_cluster_drives")
    assert drives == 4


def test_signed_requests_to_a_bucket_named_metrics_stay_s3(server, s3):
    s3.create_bucket(Bucket="metrics")
    try:
        s3.put_object(Bucket="metrics", Key="a", Body=b"1")
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="metrics")["Contents"]] == ["a"]
    finally:
        cleanup_bucket(s3, "metrics")


# --- access log -------------------------------------------------------------


def test_access_log_has_one_json_line_per_request_without_secrets(server, s3, make_bucket):
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="dir/logged.txt", Body=b"12345")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/logged.txt"})
    assert requests.get(url, timeout=10).content == b"12345"
    lines = access_lines()
    put = next(l for l in lines if l["operation"] == "PutObject" and l["key"] == "dir/logged.txt")
    assert put["bucket"] == bucket and put["method"] == "PUT" and put["status"] == 200
    assert put["accessKeyId"] == ACCESS and put["bytesIn"] >= 5 and put["complete"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", put["time"])
    assert re.fullmatch(r"[0-9A-F]{16}", put["requestId"]) and put["remote"] == "127.0.0.1"
    assert put["durationMs"] >= 0
    get = [l for l in lines if l["operation"] == "GetObject" and l["key"] == "dir/logged.txt"][-1]
    assert get["bytesOut"] == 5 and get["accessKeyId"] == ACCESS
    text = ACCESS_LOG.read_text()
    assert SECRET not in text and "X-Amz-Signature" not in text and "Signature=" not in text
    assert TOKEN not in text


# --- the metrics' own port, rotation, bad config ------------------------------


def test_metrics_on_their_own_port_and_access_log_rotation(tmp_path):
    log = tmp_path / "rotated.log"
    engine = ManagedEngine(
        [(ACCESS, SECRET)],
        config={"server": {"port": 0, "address": "127.0.0.1", "region": "us-east-1",
                           "metrics": {"enabled": True, "port": 0},
                           "accessLog": {"path": str(log), "maxFileBytes": 2000, "keepFiles": 2}}},
    )
    try:
        metrics_port = engine.start_info["metricsPort"]
        assert metrics_port and metrics_port != engine.port
        samples = scrape(f"http://127.0.0.1:{metrics_port}", token=None)
        assert ("smartstorage_uptime_seconds", frozenset()) in samples
        # Not on the S3 port: there /metrics is an S3 request (for a bucket that does not exist).
        res = requests.get(engine.endpoint + "/metrics", timeout=10)
        assert res.status_code == 404 and "<Code>NoSuchBucket</Code>" in res.text
        # ~40 lines of ~250 bytes: past 2000 bytes the file rotates, keeping two old files.
        for _ in range(40):
            requests.get(engine.endpoint + "/health/live", timeout=10)
        deadline = time.time() + 5
        while time.time() < deadline and not (tmp_path / "rotated.log.2").exists():
            time.sleep(0.05)
        rotated = sorted(p.name for p in tmp_path.iterdir())
        assert rotated == ["rotated.log", "rotated.log.1", "rotated.log.2"], rotated
        for path in tmp_path.iterdir():
            assert path.stat().st_size <= 2000 + 400
        operations = [json.loads(line)["operation"] for p in tmp_path.iterdir() for line in p.read_text().splitlines()]
        assert operations.count("HealthLive") >= 8 and set(operations) <= {"HealthLive", "ListObjects"}
    finally:
        engine.stop()


@pytest.mark.parametrize("server_config, message", [
    ({"metrics": {"bearerToken": "has space"}}, "bearerToken"),
    ({"metrics": {"bearerToken": ""}}, "bearerToken"),
    ({"accessLog": {"maxFileBytes": 0}}, "maxFileBytes"),
    ({"accessLog": {"keepFiles": 0}}, "keepFiles"),
    ({"accessLog": {"path": "/nonexistent-dir/x/access.log"}}, "accessLog"),
    ({"metrics": {"enabled": True, "port": "80"}}, "expected u16"),
    ({"metrics": {"unknown": 1}}, "unknown"),
    # Auth is on: bucket names must not be public on the S3 port.
    ({"metrics": {"enabled": True}}, "need a bearerToken"),
])
def test_bad_operations_config_is_refused(server_config, message):
    with pytest.raises(EngineStartFailed) as failed:
        ManagedEngine([(ACCESS, SECRET)], config={"server": {"port": 0, "address": "127.0.0.1", **server_config}})
    assert message in failed.value.error.get("message", ""), failed.value.error


def test_cli_refuses_a_token_without_metrics_and_a_bad_token(tmp_path):
    bad = subprocess.run([str(binary_path()), "serve", "--port", "0", "--directory", str(tmp_path / "d"),
                          "--metrics-token", "x"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "--metrics" in bad.stderr
    bad = subprocess.run([str(binary_path()), "serve", "--port", "0", "--directory", str(tmp_path / "d"),
                          "--metrics", "--metrics-token", "two words"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "bearerToken" in (bad.stderr + bad.stdout)
