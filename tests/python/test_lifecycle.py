"""Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration and the worker that
applies the Enabled rules.

Expected behaviour follows the AWS S3 API reference (PutBucketLifecycleConfiguration,
GetBucketLifecycleConfiguration, DeleteBucketLifecycle) and the user guide's
"Lifecycle configuration elements" / "Expiring objects":
  * the configuration round-trips; without one GET answers 404
    NoSuchLifecycleConfiguration; DELETE answers 204
  * a document off the schema (bad XML, two conditions in a Filter outside And, Days
    and Date together, a rule without Filter or Prefix, a bad Status) -> 400
    MalformedXML; values S3 refuses (days <= 0, a Date not at midnight UTC, duplicate
    IDs, an ID over 255 characters, ExpiredObjectDeleteMarker with Days,
    AbortIncompleteMultipartUpload with a tag filter, more than 1,000 rules) -> 400
    InvalidArgument; a rule without an action -> 400 InvalidRequest; a body without
    Content-MD5 or x-amz-checksum-* -> 400 InvalidRequest
  * an object is due at the midnight UTC after creation + Days: the engine here runs
    with a one-second lifecycle day (`lifecycle.dayLengthSeconds: 1`, a test setting)
    and a pass a second, so Days: 1 expires an object within about two seconds
  * expiration deletes in unversioned buckets and adds a delete marker in versioned
    ones; NoncurrentVersionExpiration removes noncurrent versions (keeping
    NewerNoncurrentVersions of them); a delete marker that is the only version left is
    removed; stale multipart uploads are aborted; Disabled rules do nothing
  * x-amz-expiration on PUT / HEAD / GET names the date and the rule
  * the engine's counters (getStorageStats) stay exact, and the objectDeleted event
    says reason "lifecycle"

The scenarios share one engine (started through the management protocol, so that
its stats and events can be read) and are set up together in their own buckets, so
that their waits overlap.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import json
import os
import queue
import re
import subprocess
import tempfile
import shutil
import threading
import time
from pathlib import Path

import pytest

from helpers import (
    REGION,
    RawClient,
    assert_raw_error,
    binary_path,
    expect_error,
    make_client,
    unique_bucket_name,
)

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
FAST = {"dayLengthSeconds": 1, "scanIntervalSeconds": 1}
DEADLINE = 8.0  # seconds a scenario may take on a busy machine (usually 2-3)


class Engine:
    """`ruststorage --management` with a config; events are collected."""

    def __init__(self, directory: Path, lifecycle: dict | None = FAST, drives: int = 0):
        self.directory = directory
        self.log = open(directory.parent / f"{directory.name}.log", "ab")
        self.proc = subprocess.Popen(
            [str(binary_path()), "--management"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.replies: "queue.Queue[dict]" = queue.Queue()
        self.events: list = []
        self.next_id = 0
        threading.Thread(target=self._pump, daemon=True).start()
        config: dict = {"server": {"port": 0}, "storage": {"directory": str(directory)}}
        if lifecycle is not None:
            config["lifecycle"] = lifecycle
        drives = int(os.environ.get("SMARTSTORAGE_TEST_CLUSTER", "0") or 0)
        if drives:
            config["cluster"] = {"drives": [str(directory / f"drive{i}") for i in range(1, drives + 1)], "quicPort": 0}
        self.started = self.call("start", {"config": config}, timeout=60)
        if self.started.get("success"):
            self.endpoint = f"http://127.0.0.1:{self.started['result']['port']}"

    def _pump(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "id" in msg:
                self.replies.put(msg)
            elif msg.get("event"):
                self.events.append(msg)

    def call(self, method: str, params: dict, timeout: float = 30) -> dict:
        self.next_id += 1
        rid = str(self.next_id)
        self.proc.stdin.write((json.dumps({"id": rid, "method": method, "params": params}) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            msg = self.replies.get(timeout=timeout)
            if msg["id"] == rid:
                return msg

    def result(self, method: str, params: dict | None = None) -> dict:
        msg = self.call(method, params or {})
        assert msg.get("success"), msg
        return msg["result"]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.call("stop", {}, timeout=15)
            except Exception:
                pass
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def base():
    path = Path(tempfile.mkdtemp(prefix="smartstorage-lifecycle-"))
    yield path
    if os.environ.get("SMARTSTORAGE_KEEP_DATA") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def engine(base):
    e = Engine(base / "storage")
    assert e.started.get("success"), e.started
    yield e
    e.stop()


@pytest.fixture(scope="module")
def s3(engine):
    return make_client(engine.endpoint)


@pytest.fixture(scope="module")
def raw(engine):
    return RawClient(engine.endpoint)


def new_bucket(s3, hint: str, versioning: str | None = None) -> str:
    name = unique_bucket_name(hint)
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    return name


def rule(rule_id: str, *, status: str = "Enabled", flt: dict | None = None, **actions) -> dict:
    r = {"ID": rule_id, "Status": status, "Filter": flt if flt is not None else {}}
    r.update(actions)
    return r


def put_rules(s3, bucket: str, *rules: dict):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def keys(s3, bucket: str) -> list:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def versions(s3, bucket: str) -> list:
    r = s3.list_object_versions(Bucket=bucket)
    out = [(v["Key"], v["VersionId"], "version", v["IsLatest"]) for v in r.get("Versions", [])]
    out += [(m["Key"], m["VersionId"], "marker", m["IsLatest"]) for m in r.get("DeleteMarkers", [])]
    return out


def wait_for(check, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < end, f"{what}: not within {deadline}s"
        time.sleep(0.2)


# ---------------------------------------------------------------- configuration


FULL = [
    {
        "ID": "logs",
        "Status": "Enabled",
        "Filter": {
            "And": {
                "Prefix": "logs/",
                "Tags": [{"Key": "class", "Value": "tmp"}],
                "ObjectSizeGreaterThan": 10,
                "ObjectSizeLessThan": 1000,
            }
        },
        "Expiration": {"Days": 365},
        "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
        "NoncurrentVersionTransitions": [{"NoncurrentDays": 10, "StorageClass": "GLACIER"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 40, "NewerNoncurrentVersions": 3},
    },
    {
        "ID": "dated",
        "Status": "Disabled",
        "Filter": {"Prefix": "old/"},
        "Expiration": {"Date": "2030-01-01T00:00:00Z"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    },
    {"ID": "markers", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Expiration": {"Days": 5}},
    {"ID": "big", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 5000}, "Expiration": {"Days": 2}},
    {"ID": "eodm", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True}},
]


def test_configuration_round_trip(s3):
    bucket = new_bucket(s3, "lc-conf")
    expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration", 404)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": FULL})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    by_id = {r["ID"]: r for r in got}
    assert set(by_id) == {r["ID"] for r in FULL}
    assert by_id["logs"]["Filter"]["And"]["Tags"] == [{"Key": "class", "Value": "tmp"}]
    assert by_id["logs"]["Filter"]["And"]["ObjectSizeLessThan"] == 1000
    assert by_id["logs"]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert by_id["logs"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 40, "NewerNoncurrentVersions": 3}
    assert by_id["dated"]["Status"] == "Disabled"
    assert by_id["dated"]["Expiration"]["Date"].isoformat().startswith("2030-01-01T00:00:00")
    assert by_id["dated"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert by_id["big"]["Filter"] == {"ObjectSizeGreaterThan": 5000}
    assert by_id["eodm"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    # A rule without an ID gets one; a legacy rule-level Prefix is answered as sent.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"Status": "Enabled", "Prefix": "tmp/", "Expiration": {"Days": 1}}]},
    )
    (only,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert only["ID"] and len(only["ID"]) <= 255
    assert only["Prefix"] == "tmp/" and "Filter" not in only
    assert s3.delete_bucket_lifecycle(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration", 404)
    expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket + "-none"), "NoSuchBucket", 404)


def lifecycle_xml(rules: str) -> bytes:
    return f'<LifecycleConfiguration xmlns="{NS}">{rules}</LifecycleConfiguration>'.encode()


def md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


DAYS = "<Expiration><Days>1</Days></Expiration>"


def xml_rule(filt: str = "<Filter/>", action: str = DAYS, rule_id: str = "r", status: str = "Enabled") -> str:
    return f"<Rule><ID>{rule_id}</ID>{filt}<Status>{status}</Status>{action}</Rule>"


BAD = [
    ("not xml", b"<LifecycleConfiguration", "MalformedXML"),
    ("no rule", lifecycle_xml(""), "MalformedXML"),
    ("two conditions", lifecycle_xml(xml_rule("<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>")), "MalformedXML"),
    ("days and date", lifecycle_xml(xml_rule(action="<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>")), "MalformedXML"),
    ("no filter", lifecycle_xml(xml_rule(filt="")), "MalformedXML"),
    ("bad status", lifecycle_xml(xml_rule(status="On")), "MalformedXML"),
    ("days not a number", lifecycle_xml(xml_rule(action="<Expiration><Days>one</Days></Expiration>")), "MalformedXML"),
    ("bad storage class", lifecycle_xml(xml_rule(action="<Transition><Days>1</Days><StorageClass>TAPE</StorageClass></Transition>")), "MalformedXML"),
    ("zero days", lifecycle_xml(xml_rule(action="<Expiration><Days>0</Days></Expiration>")), "InvalidArgument"),
    ("negative noncurrent days", lifecycle_xml(xml_rule(action="<NoncurrentVersionExpiration><NoncurrentDays>-1</NoncurrentDays></NoncurrentVersionExpiration>")), "InvalidArgument"),
    ("date not at midnight", lifecycle_xml(xml_rule(action="<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>")), "InvalidArgument"),
    ("duplicate ids", lifecycle_xml(xml_rule() * 2), "InvalidArgument"),
    ("long id", lifecycle_xml(xml_rule(rule_id="x" * 256)), "InvalidArgument"),
    ("marker with days", lifecycle_xml(xml_rule(action="<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")), "InvalidArgument"),
    ("abort with tags", lifecycle_xml(xml_rule("<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>")), "InvalidArgument"),
    ("too many newer versions", lifecycle_xml(xml_rule(action="<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>")), "InvalidArgument"),
    ("1001 rules", lifecycle_xml("".join(xml_rule(rule_id=f"r{i}") for i in range(1001))), "InvalidArgument"),
    ("no action", lifecycle_xml(xml_rule(action="")), "InvalidRequest"),
]


@pytest.mark.parametrize("body,code", [(b, c) for _, b, c in BAD], ids=[n for n, _, _ in BAD])
def test_invalid_configurations_are_refused(s3, raw, body, code):
    bucket = new_bucket(s3, "lc-bad")
    r = raw.put(f"/{bucket}", params={"lifecycle": None}, data=body, headers={"Content-MD5": md5(body)})
    assert_raw_error(r, code, 400)
    expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration", 404)


def test_an_integrity_header_is_required(s3, raw):
    bucket = new_bucket(s3, "lc-md5")
    body = lifecycle_xml(xml_rule())
    assert_raw_error(raw.put(f"/{bucket}", params={"lifecycle": None}, data=body), "InvalidRequest", 400)
    assert_raw_error(
        raw.put(f"/{bucket}", params={"lifecycle": None}, data=body, headers={"Content-MD5": md5(b"other")}),
        "BadDigest",
        400,
    )
    r = raw.put(f"/{bucket}", params={"lifecycle": None}, data=body, headers={"Content-MD5": md5(body)})
    assert r.status == 200, r.text


# ---------------------------------------------------------------- the worker


@pytest.fixture(scope="module")
def scenarios(s3):
    """Sets every scenario up at once (each in its own bucket) so their waits overlap."""
    s = {}
    # A current object expires; others (prefix, tag, size, disabled) stay.
    b = s["plain"] = new_bucket(s3, "lc-plain")
    for key, body, tags in [
        ("tmp/a", b"a" * 10, ""),
        ("tmp/big", b"b" * 2000, ""),
        ("keep/a", b"k", ""),
        ("tagged/x", b"t", "class=tmp"),
        ("tagged/y", b"t", "class=keep"),
        ("sized/small", b"s" * 10, ""),
        ("sized/large", b"l" * 3000, ""),
        ("off/a", b"o", ""),
    ]:
        s3.put_object(Bucket=b, Key=key, Body=body, Tagging=tags)
    put_rules(
        s3,
        b,
        rule("tmp", flt={"And": {"Prefix": "tmp/", "ObjectSizeLessThan": 1000}}, Expiration={"Days": 1}),
        rule("tags", flt={"Tag": {"Key": "class", "Value": "tmp"}}, Expiration={"Days": 1}),
        rule("sized", flt={"And": {"Prefix": "sized/", "ObjectSizeGreaterThan": 1000}}, Expiration={"Days": 1}),
        rule("off", status="Disabled", flt={"Prefix": "off/"}, Expiration={"Days": 1}),
    )
    # A versioned current object gets a delete marker.
    b = s["versioned"] = new_bucket(s3, "lc-ver", "Enabled")
    s3.put_object(Bucket=b, Key="doc", Body=b"v1")
    put_rules(s3, b, rule("exp", Expiration={"Days": 1}))
    # Noncurrent versions go, keeping the newest NewerNoncurrentVersions.
    b = s["noncurrent"] = new_bucket(s3, "lc-nc", "Enabled")
    s["noncurrent_ids"] = [s3.put_object(Bucket=b, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(5)]
    put_rules(s3, b, rule("nc", NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}))
    # An expired delete marker (the only version left) goes; one with versions behind it stays.
    b = s["markers"] = new_bucket(s3, "lc-dm", "Enabled")
    v = s3.put_object(Bucket=b, Key="gone", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=b, Key="gone")
    s3.delete_object(Bucket=b, Key="gone", VersionId=v)
    s3.put_object(Bucket=b, Key="hidden", Body=b"x")
    s3.delete_object(Bucket=b, Key="hidden")
    put_rules(s3, b, rule("eodm", Expiration={"ExpiredObjectDeleteMarker": True}))
    # A stale multipart upload is aborted; one under another prefix stays.
    b = s["uploads"] = new_bucket(s3, "lc-mpu")
    s["stale_upload"] = s3.create_multipart_upload(Bucket=b, Key="stale/x")["UploadId"]
    s["kept_upload"] = s3.create_multipart_upload(Bucket=b, Key="keep/x")["UploadId"]
    put_rules(s3, b, rule("abort", flt={"Prefix": "stale/"}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}))
    # Object lock: noncurrent versions under a legal hold or a governance retention stay.
    b = s["locked"] = unique_bucket_name("lc-lock")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    s["held"] = s3.put_object(Bucket=b, Key="k", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    s["governed"] = s3.put_object(Bucket=b, Key="k", Body=b"gov", ObjectLockMode="GOVERNANCE",
                                  ObjectLockRetainUntilDate=until)["VersionId"]
    s["free"] = s3.put_object(Bucket=b, Key="k", Body=b"free")["VersionId"]
    s["current"] = s3.put_object(Bucket=b, Key="k", Body=b"current")["VersionId"]
    put_rules(s3, b, rule("nc", NoncurrentVersionExpiration={"NoncurrentDays": 1}))
    return s


def test_current_objects_expire_by_filter(s3, scenarios):
    b = scenarios["plain"]
    wait_for(lambda: "tmp/a" not in keys(s3, b), "tmp/a expires")
    wait_for(lambda: "tagged/x" not in keys(s3, b), "the tagged object expires")
    wait_for(lambda: "sized/large" not in keys(s3, b), "the large object expires")
    assert sorted(keys(s3, b)) == ["keep/a", "off/a", "sized/small", "tagged/y", "tmp/big"]


def test_versioned_current_object_gets_a_delete_marker(s3, scenarios):
    b = scenarios["versioned"]
    wait_for(lambda: any(kind == "marker" and latest for _, _, kind, latest in versions(s3, b)), "a delete marker")
    kinds = sorted((kind, latest) for _, _, kind, latest in versions(s3, b))
    assert kinds == [("marker", True), ("version", False)]
    expect_error(lambda: s3.head_object(Bucket=b, Key="doc"), "404", 404)


def test_noncurrent_versions_expire_keeping_the_newest(s3, scenarios):
    b = scenarios["noncurrent"]
    ids = scenarios["noncurrent_ids"]
    wait_for(lambda: len(versions(s3, b)) == 3, "two noncurrent versions go")
    left = {vid for _, vid, _, _ in versions(s3, b)}
    assert left == set(ids[-3:]), "the current one and the two newest noncurrent ones stay"


def test_locked_noncurrent_versions_are_never_expired(s3, scenarios):
    b = scenarios["locked"]
    wait_for(lambda: scenarios["free"] not in {vid for _, vid, _, _ in versions(s3, b)}, "the unlocked version goes")
    left = {vid for _, vid, _, _ in versions(s3, b)}
    assert left == {scenarios["held"], scenarios["governed"], scenarios["current"]}
    # Released, the held version is the rule's again.
    s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=scenarios["held"], LegalHold={"Status": "OFF"})
    wait_for(lambda: scenarios["held"] not in {vid for _, vid, _, _ in versions(s3, b)}, "the released version goes")
    assert scenarios["governed"] in {vid for _, vid, _, _ in versions(s3, b)}


def test_expired_delete_markers_are_removed(s3, scenarios):
    b = scenarios["markers"]
    wait_for(lambda: all(key != "gone" for key, *_ in versions(s3, b)), "the lone marker goes")
    assert sorted((k, kind) for k, _, kind, _ in versions(s3, b)) == [("hidden", "marker"), ("hidden", "version")]


def test_stale_uploads_are_aborted(s3, scenarios):
    b = scenarios["uploads"]

    def uploads():
        return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", [])}

    wait_for(lambda: scenarios["stale_upload"] not in uploads(), "the stale upload is aborted")
    assert scenarios["kept_upload"] in uploads()


def test_expiration_header_on_put_head_get(s3):
    b = new_bucket(s3, "lc-hdr")
    put_rules(s3, b, rule("hundred", flt={"Prefix": "h/"}, Expiration={"Days": 100}))
    before = int(time.time())
    put = s3.put_object(Bucket=b, Key="h/x", Body=b"x")
    head = s3.head_object(Bucket=b, Key="h/x")
    get = s3.get_object(Bucket=b, Key="h/x")
    for r in (put, head, get):
        value = r["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
        m = re.fullmatch(r'expiry-date="([^"]+)", rule-id="hundred"', value)
        assert m, value
        at = email.utils.parsedate_to_datetime(m.group(1)).timestamp()
        # One-second days: the "midnight" 100 days after creation.
        assert before + 100 <= at <= before + 103, (value, before)
    other = s3.put_object(Bucket=b, Key="other", Body=b"x")
    assert "x-amz-expiration" not in other["ResponseMetadata"]["HTTPHeaders"]


def test_stats_and_events_stay_exact(s3, engine, scenarios):
    b = scenarios["plain"]
    wait_for(lambda: len(keys(s3, b)) == 5, "the plain scenario settles")
    listed = s3.list_objects_v2(Bucket=b)["Contents"]
    summary = next(x for x in engine.result("listBucketSummaries") if x["name"] == b)
    assert summary["objectCount"] == len(listed)
    assert summary["totalBytes"] == sum(o["Size"] for o in listed)
    deleted = {
        e["data"]["key"]
        for e in engine.events
        if e["event"] == "objectDeleted" and e["data"]["bucket"] == b and e["data"].get("reason") == "lifecycle"
    }
    assert deleted == {"tmp/a", "tagged/x", "sized/large"}
    s3.delete_object(Bucket=b, Key="keep/a")
    wait_for(
        lambda: any(
            e["event"] == "objectDeleted" and e["data"] == {"bucket": b, "key": "keep/a"} for e in engine.events
        ),
        "an ordinary delete has no reason",
    )


# ---------------------------------------------------------------- restarts and config


def test_a_pass_resumes_after_a_restart(base):
    """A pass killed mid-way is continued by the restarted engine: every due object goes
    and the counters match the listing."""
    directory = base / "resume"
    slow = {"dayLengthSeconds": 1, "scanIntervalSeconds": 3600}
    e = Engine(directory, slow)
    s3 = make_client(e.endpoint)
    b = new_bucket(s3, "lc-resume")
    for i in range(300):
        s3.put_object(Bucket=b, Key=f"k{i:04}", Body=b"x")
    s3.put_object(Bucket=b, Key="zkeep", Body=b"keep")
    put_rules(s3, b, rule("all", flt={"Prefix": "k"}, Expiration={"Days": 1}))
    e.kill()  # the first pass ran at start, before there were rules
    time.sleep(2)  # the objects are due now
    e = Engine(directory, slow)
    s3 = make_client(e.endpoint)
    # ~10 ms a deletion: 300 take about 3 s; kill the pass part-way.
    wait_for(lambda: len(keys(s3, b)) < 250, "the pass starts")
    e.kill()
    e = Engine(directory, slow)
    s3 = make_client(e.endpoint)
    try:
        wait_for(lambda: keys(s3, b) == ["zkeep"], "the resumed pass finishes")
        summary = next(x for x in e.result("listBucketSummaries") if x["name"] == b)
        assert (summary["objectCount"], summary["totalBytes"]) == (1, 4)
    finally:
        e.stop()


@pytest.mark.parametrize(
    "lifecycle",
    [{"dayLengthSeconds": 0}, {"scanIntervalSeconds": -1}, {"dayLengthSeconds": 1.5}, {"dayLengthSeconds": "1"}, {"days": 1}],
)
def test_bad_lifecycle_config_is_refused(base, lifecycle):
    e = Engine(base / f"bad-{abs(hash(json.dumps(lifecycle)))}", lifecycle)
    try:
        assert e.started.get("success") is False, e.started
        assert e.started["error"]["code"] == "InvalidConfig", e.started
    finally:
        e.stop()


@pytest.mark.parametrize("flag", ["--lifecycle-day-seconds", "--lifecycle-scan-seconds"])
@pytest.mark.parametrize("value", ["0", "-5", "x"])
def test_bad_lifecycle_flags_are_refused(base, flag, value):
    r = subprocess.run(
        [str(binary_path()), "serve", "--port", "0", "--directory", str(base / "flags"), f"{flag}={value}"],
        capture_output=True,
        timeout=30,
    )
    assert r.returncode != 0
    assert flag.encode() in r.stderr
