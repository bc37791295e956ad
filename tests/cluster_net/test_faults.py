"""Faults under load: threads PUT (small values and 0.3-1.5 MiB erasure-coded ones),
GET and LIST a few keys through every node (faultload.Workload) while a node is
killed and restarted, frozen, cut off (both ways, and one way), behind a lossy link,
or loses a drive; also two of three nodes down, and a 3/2 split of five nodes.

After each: the history (porcupine, key by key: a register) is linearizable, every
GET body was a whole written value, every LIST saw the keys acknowledged before it
started, every node reads every key back identically and the final value was
acknowledged or in doubt, all nodes report the quorum and all members up, and no
heals are queued within 60 s. During a partition the cut-off side reports the
metadata quorum lost and never acknowledges a write (503 or no answer).
"""
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netns  # noqa: E402

_reason = netns.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from botocore.config import Config  # noqa: E402

from engines import cluster_of, health, states, until  # noqa: E402
from faultload import Workload, s3_client, status_of  # noqa: E402

PROBE = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=8)


def idx(name):
    return int(name[1:]) - 1


@contextmanager
def up_cluster(n):
    """cluster_of(n), once every node sees every member up and a leader (a failure in
    the body prints the nodes' log tails)."""
    with cluster_of(n) as c:
        everyone = {f"n{i + 1}": "up" for i in range(n)}
        for name, e in c.engines.items():
            until(f"{name} sees all up", lambda: health(e),
                  lambda h: states(h) == everyone and h["raft"]["leaderId"], timeout=60)
        yield c


def leader_of(c, asking=None):
    h = health(c.engines[asking or sorted(c.engines)[0]])
    return h["raft"]["leaderId"]


def new_leader(c, among, old):
    """Wait until a node of `among` reports a leader (other than old) in `among`, quorum ok."""
    h = until("a new leader", lambda: health(c.engines[among[0]]),
              lambda h: h["quorum"]["metadata"] == "ok" and h["raft"]["leaderId"] in among
              and h["raft"]["leaderId"] != old, timeout=30)
    return h["raft"]["leaderId"]


@contextmanager
def under_load(c, bucket, **workload):
    """A workload on a fresh bucket through every node; on the way out the network
    heals and the workload stops, then (if the body passed) its history is checked."""
    make_bucket(c, bucket)
    wl = Workload(c, bucket, c.engines, **workload).start()
    try:
        yield wl
    finally:
        c.net.heal()
        wl.stop()
    wl.verify(c.engines)


def make_bucket(c, bucket):
    s3_client(c, "n1", Config(retries={"max_attempts": 5, "mode": "standard"})).create_bucket(Bucket=bucket)


def refuses(c, wl, node, key="k0"):
    """A PUT and a GET sent to node get a 503 or no answer, never a 200. The PUT is
    recorded in the workload's history (in doubt, unless it was acknowledged)."""
    probe = s3_client(c, node, PROBE)
    clients, wl.clients = wl.clients, dict(wl.clients, **{node: probe})
    try:
        tag, body = wl.new_value(key, wl.rng, big=False)
        put = wl.put(90, node, key, tag, body)
        assert put["status"] != "ok", f"{node} acknowledged a write it cannot keep: {put}"
        assert put["http"] in (None, 503), put
        try:
            probe.get_object(Bucket=wl.bucket, Key=key)["Body"].read()
            got = 200
        except Exception as e:
            got = status_of(e)
        assert got in (None, 503), f"GET on {node} answered {got}"
        return put["http"], got
    finally:
        wl.clients = clients


def puts_acked_since(wl, t_ns, nodes):
    return [p for p in list(wl.puts) if p["status"] == "ok" and p["call"] >= t_ns and p["node"] in nodes]


def test_kill9_mid_write_then_restart_and_two_of_three_down():
    with up_cluster(3) as c:
        with under_load(c, "kill9", seed=1) as wl:
            time.sleep(2)
            # A follower dies (kill -9) while a big PUT is in flight on it (a killed
            # leader: test_a_killed_leader_restarts_at_once).
            leader = leader_of(c)
            victim = next(n for n in sorted(c.engines) if n != leader)
            others = [n for n in sorted(c.engines) if n != victim]
            wl.wait_inflight(victim, "put", big=True, timeout=10)
            c.kill9(victim)
            t = time.monotonic_ns()
            until("PUTs acknowledged by the survivors", lambda: puts_acked_since(wl, t, others), bool, timeout=30)
            # Restarted while the writes go on.
            c.start(idx(victim))
            until(f"{victim} rejoined", lambda: health(c.engines[victim]),
                  lambda h: h["quorum"]["metadata"] == "ok" and set(states(h).values()) == {"up"}, timeout=60)
            time.sleep(2)

        # Two of three down: the survivor refuses writes (503 or no answer), and what
        # was acknowledged before is all there once they are back.
        survivor, gone = "n1", ["n2", "n3"]
        for name in gone:
            c.kill9(name)
        until("the survivor lost the quorum", lambda: health(c.engines[survivor]),
              lambda h: h["quorum"]["metadata"] == "lost", timeout=30)
        wl.targets = [survivor]
        t = time.monotonic_ns()
        wl.start()
        try:
            print("two down, survivor answers", refuses(c, wl, survivor))
            time.sleep(3)
        finally:
            wl.stop()
        assert not puts_acked_since(wl, t, [survivor]), "a write was acknowledged without a quorum"
        for name in gone:
            c.start(idx(name))
        wl.targets = sorted(c.engines)
        wl.verify(c.engines)


def test_pause_leader():
    with up_cluster(3) as c:
        with under_load(c, "pause", seed=2) as wl:
            time.sleep(2)
            victim = leader_of(c)
            others = [n for n in sorted(c.engines) if n != victim]
            wl.wait_inflight(victim, "put", big=False, timeout=5)
            netns.pause(c.engines[victim].proc)
            t = time.monotonic_ns()
            try:
                new_leader(c, others, victim)
                until("PUTs acknowledged by the others", lambda: puts_acked_since(wl, t, others), bool, timeout=30)
                time.sleep(max(0.0, 6 - (time.monotonic_ns() - t) / 1e9))
            finally:
                netns.resume(c.engines[victim].proc)
            time.sleep(3)


def test_partitions_symmetric_and_one_way():
    with up_cluster(3) as c:
        net = c.net
        with under_load(c, "partition", seed=3) as wl:
            time.sleep(2)
            # The leader alone vs the two others.
            cut = leader_of(c)
            others = [n for n in sorted(c.engines) if n != cut]
            net.isolate(net.nodes[idx(cut)])
            t_cut = time.monotonic_ns()
            until(f"{cut} knows it is cut off", lambda: health(c.engines[cut]),
                  lambda h: h["quorum"]["metadata"] == "lost", timeout=30)
            t_lost = time.monotonic_ns()
            new_leader(c, others, cut)
            print("minority answers", refuses(c, wl, cut))
            until("PUTs acknowledged by the majority", lambda: puts_acked_since(wl, t_cut, others), bool, timeout=30)
            time.sleep(2)
            assert health(c.engines[cut])["quorum"]["metadata"] == "lost"
            t_heal = time.monotonic_ns()
            net.heal()
            bad = wl.acked_by(cut, t_lost, t_heal)
            assert not bad, f"{cut} acknowledged writes while cut off: {bad}"
            for name, e in c.engines.items():
                until(f"{name} ok after healing", lambda: health(e),
                      lambda h: h["quorum"]["metadata"] == "ok" and set(states(h).values()) == {"up"}, timeout=60)
            time.sleep(1)

            # One way: the (new) leader's packets to the others are dropped; it still hears them.
            cut = leader_of(c)
            others = [n for n in sorted(c.engines) if n != cut]
            net.partition_one_way(net.nodes[idx(cut)], [net.nodes[idx(n)] for n in others])
            t_cut = time.monotonic_ns()
            new_leader(c, others, cut)
            until("PUTs acknowledged by the others", lambda: puts_acked_since(wl, t_cut, others), bool, timeout=30)
            print("one-way cut node answers", refuses(c, wl, cut),
                  "its health:", {k: health(c.engines[cut])[k] for k in ("quorum",)})
            time.sleep(2)
            net.heal()
            time.sleep(2)


def test_packet_loss():
    with up_cluster(3) as c:
        with under_load(c, "loss", seed=4) as wl:
            time.sleep(2)
            lossy = leader_of(c)
            c.net.loss(c.net.nodes[idx(lossy)], 30, direction="both")
            t = time.monotonic_ns()
            time.sleep(8)
            c.net.loss(c.net.nodes[idx(lossy)], 0)
            assert puts_acked_since(wl, t, sorted(c.engines)), "nothing acknowledged under 30% loss"
            time.sleep(2)


def test_drive_lost_and_back():
    with up_cluster(3) as c:
        make_bucket(c, "drive")
        wl = Workload(c, "drive", c.engines, seed=5).start()
        drive = c.drive(1, 1)  # n2's first drive
        away = drive.with_name(drive.name + ".away")
        try:
            time.sleep(2)
            drive.rename(away)
            t = time.monotonic_ns()

            def n2_drive(h):  # a node's health lists its own drives only
                return next(d for d in h["drives"] if d["path"] == str(drive))
            h = until("n2's drive offline", lambda: health(c.engines["n2"]),
                      lambda h: n2_drive(h)["state"] == "offline", timeout=30)
            until("PUTs acknowledged without the drive", lambda: puts_acked_since(wl, t, ["n1", "n3"]),
                  bool, timeout=30)
            time.sleep(2)
            print("n2 without its drive:", health(c.engines["n2"])["quorum"],
                  "n1:", health(c.engines["n1"])["quorum"])
            # Reads still work through the other nodes with the drive gone.
            for name in ("n1", "n3"):
                for key in wl.keys:
                    until(f"GET {key} on {name}", lambda: _try(wl.get, 80, name, key), bool, timeout=20)
            away.rename(drive)
            until("n2's drive back", lambda: health(c.engines["n2"]),
                  lambda h: n2_drive(h)["state"] in ("ok", "healing"), timeout=30)
            # Its metadata log comes back with the drive (no restart).
            until("n2 back in the metadata cluster", lambda: health(c.engines["n2"]),
                  lambda h: h["quorum"]["metadata"] == "ok", timeout=30)
            time.sleep(2)
        finally:
            if away.exists() and not drive.exists():
                away.rename(drive)
            wl.stop()
        wl.verify(c.engines)


def _try(f, *args):
    try:
        f(*args)
        return True
    except Exception:
        return False


def test_five_nodes_split_three_two():
    t0 = time.monotonic()
    with up_cluster(5) as c:
        print(f"five nodes up in {time.monotonic() - t0:.1f}s")
        net = c.net
        with under_load(c, "split", threads=5, seed=6) as wl:
            time.sleep(2)
            leader = leader_of(c)
            two = [leader, next(n for n in sorted(c.engines) if n != leader)]
            three_side = [n for n in sorted(c.engines) if n not in two]
            net.partition([net.nodes[idx(n)] for n in two], [net.nodes[idx(n)] for n in three_side])
            t_cut = time.monotonic_ns()
            # Both nodes of the 2-side know they lost the quorum (the follower too,
            # although the old leader still reaches it).
            for n in two:
                until(f"{n} knows it is in the minority", lambda: health(c.engines[n]),
                      lambda h: h["quorum"]["metadata"] == "lost", timeout=30)
            t_lost = time.monotonic_ns()
            new_leader(c, three_side, leader)
            for n in two:
                print(f"minority {n} answers", refuses(c, wl, n))
            until("PUTs acknowledged by the three", lambda: puts_acked_since(wl, t_cut, three_side),
                  bool, timeout=30)
            time.sleep(2)
            t_heal = time.monotonic_ns()
            net.heal()
            for n in two:
                bad = wl.acked_by(n, t_lost, t_heal)
                assert not bad, f"{n} acknowledged writes in the minority: {bad}"
            time.sleep(2)


def test_a_killed_leader_restarts_at_once():
    with up_cluster(3) as c:
        with under_load(c, "leader", seed=7) as wl:
            time.sleep(1)
            leader = leader_of(c)
            others = [n for n in sorted(c.engines) if n != leader]
            wl.wait_inflight(leader, "put", big=True, timeout=10)
            c.kill9(leader)
            new_leader(c, others, leader)
            c.start(idx(leader))
            until(f"{leader} rejoined", lambda: health(c.engines[leader]),
                  lambda h: h["quorum"]["metadata"] == "ok" and set(states(h).values()) == {"up"}, timeout=60)
            time.sleep(1)
