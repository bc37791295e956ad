"""An S3 workload for the fault tests (test_faults*.py): a few threads PUT, GET and
LIST a handful of keys through every node while faults are injected, recording each
operation for the linearizability checker (tests/linearizability) and checking on the
fly that every GET body is a whole written value and that a LIST sees every key whose
first PUT was acknowledged before the LIST started.

Values identify their write: "k3:w17" (small) or "k3:w18|" + random bytes (300 KiB to
1.5 MiB, so the body is erasure-coded over the nodes). The checker sees the tag.
"""
import hashlib
import random
import sys
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linearizability"))
from check import History, check_history  # noqa: E402

from engines import ACCESS_KEY, SECRET_KEY, health, states, until  # noqa: E402

CFG = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=6,
             max_pool_connections=16)


def s3_client(cluster, name, cfg=CFG):
    return boto3.client("s3", endpoint_url=cluster.endpoint(name), region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, config=cfg)


class GetFailed(Exception):
    pass


def status_of(exc):
    """The HTTP status of a boto3 error, or None (no answer: timeout, reset, refused)."""
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


class Workload:
    def __init__(self, cluster, bucket, names, keys=5, threads=4, big_share=0.2, seed=None):
        self.cluster, self.bucket, self.names = cluster, bucket, list(names)
        self.keys = [f"k{i}" for i in range(keys)]
        self.clients = {n: s3_client(cluster, n) for n in self.names}
        self.history = History()
        self.nthreads, self.big_share = threads, big_share
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.seq = 0
        self.written = {}      # tag -> (key, size, sha256)
        self.first_ack = {}    # key -> monotonic ns of the first acknowledged PUT's return
        self.puts = []         # dicts: node, key, tag, call, ret, status, http
        self.torn = []         # GET bodies that are not a whole written value
        self.list_misses = []  # LISTs that missed a key acknowledged before they started
        self.counts = {}       # (node, op, outcome) -> n
        self.inflight = {}     # thread index -> (node, op, big)
        self.targets = list(self.names)  # nodes the threads pick from (a test may narrow it)
        self._stop = threading.Event()
        self._threads = []

    # ---- one operation of each kind ---------------------------------------------

    def _count(self, node, op, outcome):
        with self.lock:
            self.counts[(node, op, outcome)] = self.counts.get((node, op, outcome), 0) + 1

    def new_value(self, key, rng, big=None):
        with self.lock:
            self.seq += 1
            tag = f"{key}:w{self.seq}"
        big = rng.random() < self.big_share if big is None else big
        body = tag.encode() + (b"|" + rng.randbytes(rng.randint(300 << 10, 1536 << 10)) if big else b"")
        with self.lock:
            self.written[tag] = (key, len(body), hashlib.sha256(body).digest())
        return tag, body

    def put(self, client_id, node, key, tag, body):
        """Returns the PUT's record (status ok, doubt or fail); never raises."""
        info = {"node": node, "key": key, "tag": tag, "call": time.monotonic_ns(),
                "ret": None, "status": "ok", "http": 200}
        with self.history.op(client_id, key, "put", tag) as rec:  # swallows the error
            try:
                self.clients[node].put_object(Bucket=self.bucket, Key=key, Body=body)
            except EndpointConnectionError:
                # Never connected (refused, or connect timed out): nothing was sent.
                rec.fail()
                info["status"], info["http"] = "fail", None
                raise
            except Exception as e:
                # Any other error, a 503 included, leaves the write in doubt: the
                # engine may have committed it before answering (or not answering).
                rec.timeout()
                info["status"], info["http"] = "doubt", status_of(e)
                raise
        ret = time.monotonic_ns()
        with self.lock:
            if info["status"] == "ok":
                info["ret"] = ret
                self.first_ack.setdefault(key, ret)
            self.puts.append(info)
        self._count(node, "put", info["http"] or info["status"])
        return info

    def decode(self, body):
        """The tag of a whole written value, or None if the body is not one."""
        tag = body.partition(b"|")[0].decode("utf-8", "replace")
        w = self.written.get(tag)
        if w and w[1] == len(body) and w[2] == hashlib.sha256(body).digest():
            return tag
        return None

    def get(self, client_id, node, key):
        """Returns the tag read (None: NoSuchKey); raises GetFailed on any other answer."""
        out = {}
        with self.history.op(client_id, key, "get") as rec:  # swallows the error
            try:
                body = self.clients[node].get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "NoSuchKey":
                    out["error"] = e
                    raise
                rec.result(None)
                out["tag"] = None
            except Exception as e:
                out["error"] = e
                raise
            else:
                tag = self.decode(body)
                if tag is None:
                    with self.lock:
                        self.torn.append((node, key, len(body), body[:40]))
                    tag = f"TORN({len(body)} bytes: {body[:24]!r})"
                rec.result(tag)
                out["tag"] = tag
        if "error" in out:
            # A GET with no answer constrains nothing (recorded, then dropped by the checker).
            self._count(node, "get", status_of(out["error"]) or "timeout")
            raise GetFailed(out["error"])
        self._count(node, "get", 200 if out["tag"] else 404)
        return out["tag"]

    def list(self, node):
        start = time.monotonic_ns()
        with self.lock:
            must = {k for k, t in self.first_ack.items() if t < start}
        try:
            r = self.clients[node].list_objects_v2(Bucket=self.bucket)
        except Exception as e:
            self._count(node, "list", status_of(e) or "timeout")
            return
        self._count(node, "list", 200)
        seen = {o["Key"] for o in r.get("Contents", [])}
        if must - seen:
            with self.lock:
                self.list_misses.append((node, sorted(must - seen), sorted(seen)))

    # ---- the threads -------------------------------------------------------------

    def _loop(self, i):
        rng = random.Random(self.rng.random())
        while not self._stop.is_set():
            node = rng.choice(self.targets)
            key = rng.choice(self.keys)
            p = rng.random()
            try:
                if p < 0.4:
                    tag, body = self.new_value(key, rng)
                    self.inflight[i] = (node, "put", len(body) > 100)
                    if self.put(i, node, key, tag, body)["status"] != "ok":
                        time.sleep(0.05)
                elif p < 0.9:
                    self.inflight[i] = (node, "get", False)
                    self.get(i, node, key)
                else:
                    self.inflight[i] = (node, "list", False)
                    self.list(node)
            except Exception:
                time.sleep(0.05)  # refused or failed: do not spin on a dead node
            finally:
                self.inflight.pop(i, None)

    def start(self):
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                         for i in range(self.nthreads)]
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
        assert not any(t.is_alive() for t in self._threads), "a workload thread hung"

    def run_for(self, seconds):
        time.sleep(seconds)

    def wait_inflight(self, node, op="put", big=True, timeout=5):
        """Wait (up to timeout) until some thread has op (a big one if asked) in flight on node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(v[0] == node and v[1] == op and (v[2] or not big) for v in list(self.inflight.values())):
                return True
            time.sleep(0.005)
        return False

    def acked_by(self, node, after_ns, before_ns):
        """PUTs node acknowledged that were sent after after_ns and answered before before_ns."""
        return [p for p in self.puts if p["node"] == node and p["status"] == "ok"
                and p["call"] >= after_ns and p["ret"] <= before_ns]

    # ---- after the faults ------------------------------------------------------

    def verify(self, engines, heal_timeout=60):
        """Everything healed: every node in `engines` (name -> Engine) reports the
        metadata quorum and all members up, and zero queued heals within
        heal_timeout. Then every key is read from every node (recorded too), the
        nodes agree, the final value is one that was acknowledged or in doubt,
        no body was torn, no LIST missed a key, and the whole history is
        linearizable. Returns a summary dict."""
        names = sorted(engines)
        all_up = {n: "up" for n in names}
        for n in names:
            until(f"{n}: quorum ok, all up", lambda: health(engines[n]),
                  lambda h: h["quorum"]["metadata"] == "ok" and states(h) == all_up, timeout=60)
        t0 = time.monotonic()
        for n in names:
            h = until(f"{n}: no queued heals", lambda: health(engines[n]),
                      lambda h: h["healing"]["queued"] == 0 and h["healing"]["inProgress"] == 0,
                      timeout=max(5, heal_timeout - (time.monotonic() - t0)))
        heal_wait = time.monotonic() - t0
        finals = {}
        for key in self.keys:
            for ci, n in enumerate(names):
                got = {}

                def read():
                    try:
                        got["tag"] = self.get(100 + ci, n, key)
                        return True
                    except Exception as e:
                        got["error"] = repr(e)
                        return False
                until(f"final GET {key} on {n}", read, bool, timeout=20)
                finals.setdefault(key, {})[n] = got["tag"]
        problems = []
        for key, by_node in finals.items():
            if len(set(by_node.values())) != 1:
                problems.append(f"{key}: nodes disagree: {by_node}")
            final = next(iter(by_node.values()))
            candidates = {p["tag"] for p in self.puts if p["key"] == key and p["status"] in ("ok", "doubt")}
            if key in self.first_ack and final is None:
                problems.append(f"{key}: acknowledged PUTs but the key is gone")
            if final is not None and final not in candidates:
                problems.append(f"{key}: final value {final} was never acknowledged nor in doubt")
        assert not self.torn, f"GET bodies that are not a whole written value: {self.torn[:5]}"
        assert not self.list_misses, f"LISTs missed acknowledged keys: {self.list_misses[:5]}"
        assert not problems, problems
        verdict = self.check()
        summary = {"operations": verdict["operations"], "checked": verdict["checked"],
                   "acked_puts": sum(p["status"] == "ok" for p in self.puts),
                   "doubt_puts": sum(p["status"] == "doubt" for p in self.puts),
                   "heal_wait_s": round(heal_wait, 1)}
        print(f"\n[{self.bucket}] lincheck {verdict['result']}: {summary}; outcomes {self.outcomes()}")
        assert verdict["ok"], f"not linearizable: {verdict}"
        return summary

    def check(self):
        ops = self.history.ops()
        # A PUT in doubt whose value no GET ever returned can always be taken as
        # never applied (no read constrains the register while it would hold it),
        # so dropping it keeps the verdict and spares porcupine the search over
        # many pending writes.
        read = {op["value"] for op in ops if op["op"] == "get" and op["status"] == "ok"}
        ops = [op for op in ops if not (op["op"] == "put" and op["status"] == "timeout"
                                        and op["value"] not in read)]
        return check_history(ops, timeout="60s")

    def outcomes(self):
        with self.lock:
            return {f"{n}/{op}/{o}": c for (n, op, o), c in sorted(self.counts.items(), key=str)}
