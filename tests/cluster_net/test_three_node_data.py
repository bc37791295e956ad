"""Object data over three nodes: bodies are erasure-coded over the drives of all
three (3 data + 3 parity shards, two per node), so any node answers for any object,
one node can crash (kill -9) without losing a read or a write, a node that comes back
heals the shards it missed, and after that any other single node can go.
"""
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netns  # noqa: E402

_reason = netns.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from engines import ACCESS_KEY, BINARY, QUIC, SECRET, SECRET_KEY, cluster_of, health, states, until  # noqa: E402


def client(cluster, name):
    return boto3.client(
        "s3", endpoint_url=cluster.endpoint(name), region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 6, "mode": "standard"}, connect_timeout=5, read_timeout=60))


def shard_files(cluster, i):
    """The shard files on node i's drives."""
    files = []
    for d in (1, 2):
        data = cluster.drive(i, d) / ".smartstorage" / "data"
        files += [p for p in data.rglob("*") if p.is_file() and "." not in p.name]
    return files


def get(s3, key):
    return s3.get_object(Bucket="spread", Key=key)["Body"].read()


def test_objects_spread_over_nodes_survive_a_crash_and_heal():
    with cluster_of(3) as cluster:
        up = {"n1": "up", "n2": "up", "n3": "up"}
        until("three members up", lambda: health(cluster.engines["n1"]), lambda h: states(h) == up)
        s3 = {n: client(cluster, n) for n in ("n1", "n2", "n3")}
        s3["n1"].create_bucket(Bucket="spread")
        big, small = os.urandom(5 * 1024 * 1024 + 123), os.urandom(1000)
        s3["n1"].put_object(Bucket="spread", Key="big", Body=big)
        # 3 + 3 shards, two on each node's drives: no node holds more than the parity.
        per_node = [len(shard_files(cluster, i)) for i in range(3)]
        assert per_node == [2, 2, 2], per_node
        s3["n2"].put_object(Bucket="spread", Key="small", Body=small)
        per_node = [len(shard_files(cluster, i)) for i in range(3)]
        assert sum(per_node) == 6 + 4 and max(per_node) <= 3 + 2, per_node
        for name in ("n1", "n2", "n3"):
            assert get(s3[name], "big") == big
            assert get(s3[name], "small") == small
        r = s3["n3"].get_object(Bucket="spread", Key="big", Range="bytes=1048570-2097160")
        assert r["Body"].read() == big[1048570:2097161]

        # Two racing create-only PUTs of one key on two nodes: exactly one wins.
        answers = []

        def create_only(name):
            try:
                s3[name].put_object(Bucket="spread", Key="race", Body=name.encode(), IfNoneMatch="*")
                answers.append(200)
            except ClientError as e:
                answers.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
        racers = [threading.Thread(target=create_only, args=(n,)) for n in ("n2", "n3")]
        [t.start() for t in racers]
        [t.join() for t in racers]
        assert sorted(answers) == [200, 412], answers

        # n3 crashes: everything is still read, and writes go on over n1 and n2.
        cluster.kill9("n3")
        for name in ("n1", "n2"):
            assert get(s3[name], "big") == big
            assert get(s3[name], "small") == small
        until("n3 seen down", lambda: health(cluster.engines["n1"]), lambda h: states(h)["n3"] != "up")
        later = os.urandom(3 * 1024 * 1024 + 7)
        before = {p.name for i in (0, 1) for p in shard_files(cluster, i)}
        s3["n2"].put_object(Bucket="spread", Key="later", Body=later)
        later_ids = {p.name for i in (0, 1) for p in shard_files(cluster, i)} - before
        assert get(s3["n1"], "later") == later

        # n3 back: it catches up with the metadata and heals the two shards it missed.
        cluster.start(2)
        until("n3 rejoined", lambda: health(cluster.engines["n3"]),
              lambda h: h["quorum"]["metadata"] == "ok" and states(h) == up, timeout=60)
        # 3 + 3 shards, 2 on each of n1 and n2 and 2 for n3, written by its healer.
        assert len(later_ids) == 1, later_ids
        until("n3 healed its shards", lambda: [p for p in shard_files(cluster, 2) if p.name in later_ids],
              lambda files: len(files) == 2, timeout=60)
        assert get(s3["n3"], "later") == later

        # Now n1 (the first leader) crashes: the others elect, and what was written
        # while n3 was away reads from n2 and n3 (it needs n3's healed shards).
        cluster.kill9("n1")
        until("a leader among n2 and n3", lambda: health(cluster.engines["n2"]),
              lambda h: h["raft"]["leaderId"] in ("n2", "n3") and h["quorum"]["metadata"] == "ok", timeout=30)
        for name in ("n2", "n3"):
            assert hashlib.md5(get(s3[name], "later")).digest() == hashlib.md5(later).digest()
            assert get(s3[name], "big") == big
        s3["n3"].put_object(Bucket="spread", Key="after", Body=b"two nodes left")
        assert get(s3["n2"], "after") == b"two nodes left"


def test_one_endpoint_settings_and_credentials_hold_on_every_node():
    import urllib.error
    import urllib.request

    with cluster_of(3) as cluster:
        e = cluster.engines
        up = {"n1": "up", "n2": "up", "n3": "up"}
        until("three members up", lambda: health(e["n1"]), lambda h: states(h) == up)
        s3 = {n: client(cluster, n) for n in ("n1", "n2", "n3")}
        s3["n1"].create_bucket(Bucket="shared")
        s3["n1"].put_object(Bucket="shared", Key="doc.txt", Body=b"public words")

        def anonymous(name, method="GET", headers=None):
            url = f"{cluster.endpoint(name)}/shared/doc.txt"
            try:
                with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers or {})) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers), err.read()

        assert anonymous("n3")[0] == 403
        # A policy set through one node holds on the others as soon as they applied it
        # (milliseconds; AWS too propagates policy changes eventually).
        soon = {"timeout": 5}
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                  "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}
        s3["n1"].put_bucket_policy(Bucket="shared", Policy=json.dumps(policy))
        until("n3 allows", lambda: anonymous("n3")[:3:2], lambda a: a == (200, b"public words"), **soon)
        until("n2 allows", lambda: anonymous("n2")[0], lambda a: a == 200, **soon)
        s3["n2"].delete_bucket_policy(Bucket="shared")
        for name in ("n1", "n3"):
            until(f"{name} denies again", lambda: anonymous(name)[0], lambda a: a == 403, **soon)
        # CORS rules too.
        s3["n3"].put_bucket_cors(Bucket="shared", CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]})
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
        until("n1 answers the preflight", lambda: anonymous("n1", "OPTIONS", preflight),
              lambda a: a[0] == 200 and a[1].get("access-control-allow-origin") == "https://app.example", **soon)
        # Stats are the cluster's.
        stats = e["n2"].call("getStorageStats")
        assert stats["objectCount"] == 1 and stats["bucketCount"] == 1

        # Credentials replaced on one node are the only ones on every node.
        fresh = [{"accessKeyId": "rotated", "secretAccessKey": "rotated-secret-key"}]
        assert e["n2"].call("replaceCredentials", {"credentials": fresh}) == {"count": 1}
        until("n3 lists the new set", lambda: e["n3"].call("listCredentials"), lambda c: c == fresh, **soon)

        def refused(s3c):
            try:
                s3c.list_objects_v2(Bucket="shared")
                return None
            except ClientError as err:
                return err.response["Error"]["Code"]
        for name in ("n1", "n3"):
            until(f"{name} refuses the old key", lambda: refused(s3[name]), lambda c: c == "InvalidAccessKeyId", **soon)
            new = boto3.client("s3", endpoint_url=cluster.endpoint(name), region_name="us-east-1",
                               aws_access_key_id="rotated", aws_secret_access_key="rotated-secret-key")
            assert new.get_object(Bucket="shared", Key="doc.txt")["Body"].read() == b"public words"
        # A restarted node keeps the replaced credentials (not its config's).
        cluster.kill9("n3")
        cluster.start(2)
        assert e["n3"].call("listCredentials") == fresh


def test_the_whole_cluster_restarts_at_once_and_keeps_everything():
    with cluster_of(3) as cluster:
        up = {"n1": "up", "n2": "up", "n3": "up"}
        until("three members up", lambda: health(cluster.engines["n1"]), lambda h: states(h) == up)
        s3 = client(cluster, "n2")
        s3.create_bucket(Bucket="kept")
        big = os.urandom(2 * 1024 * 1024 + 5)
        s3.put_object(Bucket="kept", Key="big", Body=big)
        s3.put_object(Bucket="kept", Key="small", Body=b"small")
        # Every node goes (a power cut for n3, a stop for the others), then all come
        # back at the same time.
        cluster.kill9("n3")
        for name in ("n1", "n2"):
            cluster.engines.pop(name).stop()
        failed = []

        def start(i):
            try:
                cluster.start(i)
            except Exception as e:  # noqa: BLE001 (reported below)
                failed.append(f"n{i + 1}: {e}")
        starters = [threading.Thread(target=start, args=(i,)) for i in range(3)]
        [t.start() for t in starters]
        [t.join() for t in starters]
        assert not failed, failed
        until("a leader again", lambda: health(cluster.engines["n3"]),
              lambda h: h["raft"]["leaderId"] is not None and states(h) == up, timeout=30)
        for name in ("n1", "n2", "n3"):
            c = client(cluster, name)
            assert get_from(c, "kept", "big") == big
            assert get_from(c, "kept", "small") == b"small"


def get_from(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_decommission_moves_a_nodes_data_then_removes_it():
    with cluster_of(3) as cluster:
        e = cluster.engines
        up = {"n1": "up", "n2": "up", "n3": "up"}
        until("three members up", lambda: health(e["n1"]), lambda h: states(h) == up)
        s3 = client(cluster, "n1")
        s3.create_bucket(Bucket="moving")
        values = {f"k{i}": os.urandom(n) for i, n in enumerate([10, 5000, 300_000, 3 * 1024 * 1024 + 1])}
        for key, value in values.items():
            s3.put_object(Bucket="moving", Key=key, Body=value)
        assert len(shard_files(cluster, 2)) > 0

        # Refused: a node that does not exist, and a node removing itself.
        for engine, node, code in ((e["n1"], "n9", "DecommissionFailed"), (e["n3"], "n3", "DecommissionFailed")):
            with pytest.raises(AssertionError, match=code):
                engine.call("decommissionNode", {"nodeId": node})

        # The CLI asks a node over QUIC; without the secret it is refused.
        cli = [BINARY, "decommission", "--via", f"{cluster.net.nodes[0].addr}:{QUIC}", "--node", "n3"]
        wrong = cluster.net.nodes[1].run(cli + ["--cluster-secret", "not the cluster's secret"], timeout=60)
        assert wrong.returncode == 1, wrong
        assert sorted(health(e["n1"])["raft"]["voters"]) == ["n1", "n2", "n3"]
        done = cluster.net.nodes[1].run(cli + ["--cluster-secret", SECRET], timeout=120)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["nodeId"] == "n3" and report["movedBodies"] == len(values), report
        h = until("n3 out of the membership", lambda: health(e["n1"]),
                  lambda h: sorted(h["raft"]["voters"]) == ["n1", "n2"])
        assert h["quorum"]["metadata"] == "ok"
        # Nothing of the objects is left on n3's drives: n3 can go for good.
        until("n3's shards removed", lambda: len(shard_files(cluster, 2)), lambda n: n == 0, timeout=45)
        cluster.kill9("n3")
        for name in ("n1", "n2"):
            c = client(cluster, name)
            for key, value in values.items():
                assert get_from(c, "moving", key) == value
        # Writes go on over the two nodes left (2 + 2 shards, two per node).
        before = [len(shard_files(cluster, i)) for i in range(2)]
        client(cluster, "n2").put_object(Bucket="moving", Key="after", Body=os.urandom(2 * 1024 * 1024))
        after = [len(shard_files(cluster, i)) for i in range(2)]
        assert [a - b for a, b in zip(after, before)] == [2, 2], (before, after)


def test_a_node_joins_while_clients_write_without_a_failed_request():
    with cluster_of(3, started=2) as cluster:
        until("two members up", lambda: health(cluster.engines["n1"]),
              lambda h: states(h) == {"n1": "up", "n2": "up"})
        s3 = {n: client(cluster, n) for n in ("n1", "n2")}
        s3["n1"].create_bucket(Bucket="growing")
        written, failures, stop = {}, [], threading.Event()

        def writer(name):
            i = 0
            while not stop.is_set():
                key, value = f"{name}-{i}", os.urandom(200_000 if i % 3 else 1000)
                try:  # the SDK's own retries (standard mode) are the only ones
                    s3[name].put_object(Bucket="growing", Key=key, Body=value)
                    written[key] = value
                except Exception as e:  # noqa: BLE001 (counted below)
                    failures.append(f"{key}: {e}")
                i += 1
        writers = [threading.Thread(target=writer, args=(n,)) for n in ("n1", "n2")]
        [t.start() for t in writers]
        try:
            cluster.start(2)
            until("n3 registered and up", lambda: health(cluster.engines["n1"]),
                  lambda h: states(h) == {"n1": "up", "n2": "up", "n3": "up"}, timeout=30)
            time.sleep(2)
        finally:
            stop.set()
            [t.join() for t in writers]
        assert not failures, failures[:5]
        assert len(written) > 10
        # New objects reach n3's drives; all of them read back through n3.
        until("shards on n3", lambda: len(shard_files(cluster, 2)), lambda n: n > 0, timeout=10)
        n3 = client(cluster, "n3")
        for key, value in written.items():
            assert get_from(n3, "growing", key) == value


def test_a_get_streaming_on_one_node_survives_an_overwrite_on_another():
    with cluster_of(3) as cluster:
        until("three members up", lambda: health(cluster.engines["n1"]),
              lambda h: states(h) == {"n1": "up", "n2": "up", "n3": "up"})
        writer, reader = client(cluster, "n1"), client(cluster, "n3")
        writer.create_bucket(Bucket="streams")
        old = os.urandom(24 * 1024 * 1024)
        writer.put_object(Bucket="streams", Key="big", Body=old)
        body = reader.get_object(Bucket="streams", Key="big")["Body"]
        head = body.read(1024 * 1024)
        writer.put_object(Bucket="streams", Key="big", Body=b"new")
        time.sleep(1)  # the old bytes are garbage now, and n3 is still sending them
        assert head + body.read() == old
        assert get_from(reader, "streams", "big") == b"new"
