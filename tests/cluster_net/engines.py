"""Engines (`ruststorage --management`, NDJSON over stdin/stdout) in network
namespaces, one per node of a cluster: started, crashed and restarted by the tests."""
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import netns
from netns import Net

ROOT = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SMARTSTORAGE_BINARY") or str(ROOT / "rust/target/release/ruststorage")
SECRET = "the secret of the three-node test"
QUIC = 4348
S3 = 9000
ACCESS_KEY, SECRET_KEY = "threenodes", "threenodes-secret"


class Engine:
    """`ruststorage --management` inside a namespace (NDJSON over stdin/stdout)."""

    def __init__(self, node, log: Path):
        env = dict(os.environ, SMARTSTORAGE_SCAN_INTERVAL_MS="1000", SMARTSTORAGE_PROBE_INTERVAL_MS="500")
        self.log = open(log, "ab")
        self.proc = node.popen([BINARY, "--management"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.lines: "queue.Queue[dict]" = queue.Queue()
        self.next = 0
        threading.Thread(target=self._pump, daemon=True).start()
        assert self._read(15).get("event") == "ready"

    def _pump(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                pass

    def _read(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"engine said nothing for {timeout}s (exit {self.proc.poll()})")

    def call(self, method, params=None, timeout=30):
        self.next += 1
        rid = str(self.next)
        self.proc.stdin.write((json.dumps({"id": rid, "method": method, "params": params or {}}) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(max(0.1, deadline - time.monotonic()))
            if msg.get("id") == rid:
                assert msg.get("success"), f"{method}: {msg}"
                return msg.get("result")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.call("stop", timeout=15)
            except Exception:
                pass
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def until(what, probe, check, timeout=30):
    deadline = time.monotonic() + timeout
    last = probe()
    while not check(last):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {json.dumps(last)[:2000]}"
        time.sleep(0.25)
        last = probe()
    return last


class Cluster:
    """`n` nodes, each an engine in its own namespace with two drives; node 1 starts
    the cluster, the others join through it."""

    def __init__(self, net, work: Path):
        self.net, self.work = net, work
        self.engines = {}

    def config(self, i):
        node = self.net.nodes[i]
        name = f"n{i + 1}"
        cluster = {"drives": [str(self.drive(i, d)) for d in (1, 2)], "quicPort": QUIC,
                   "nodeId": name, "secret": SECRET}
        if i > 0:
            cluster["seedNodes"] = [f"{self.net.nodes[0].addr}:{QUIC}"]
        return {
            "server": {"address": node.addr, "port": S3},
            "storage": {"directory": str(self.work / name / "unused"), "fsync": False},
            "auth": {"enabled": True, "credentials": [{"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY}]},
            "cluster": cluster,
        }

    def drive(self, i, d):
        return self.work / f"n{i + 1}" / f"d{d}"

    def start(self, i):
        engine = Engine(self.net.nodes[i], self.work / f"n{i + 1}.log")
        self.engines[f"n{i + 1}"] = engine
        engine.call("start", {"config": self.config(i)}, timeout=90)
        return engine

    def kill9(self, name):
        engine = self.engines.pop(name)
        netns.kill9(engine.proc)
        engine.log.close()

    def endpoint(self, name):
        return f"http://{self.net.nodes[int(name[1:]) - 1].addr}:{S3}"

    def stop(self):
        for engine in self.engines.values():
            engine.stop()


@contextmanager
def cluster_of(n, started=None):
    """n namespaces with an engine each (the first `started` of them running; all by
    default). On failure the tail of each node's log is printed; CLUSTER_NET_KEEP=1
    keeps the work folder (drives and logs)."""
    work = Path(tempfile.mkdtemp(prefix="cluster-net-"))
    try:
        with Net(n) as net:
            cluster = Cluster(net, work)
            try:
                for i in range(n if started is None else started):
                    cluster.start(i)
                yield cluster
            except BaseException:
                print_logs(work)
                raise
            finally:
                cluster.stop()
    finally:
        if os.environ.get("CLUSTER_NET_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_logs(work, lines=40):
    for log in sorted(Path(work).glob("n*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"---- {log.name} (last {len(tail)} lines) ----")
        print("\n".join(tail))


def health(engine):
    return engine.call("getClusterHealth")


def states(h):
    return {n["id"]: n["state"] for n in h["nodes"]}
