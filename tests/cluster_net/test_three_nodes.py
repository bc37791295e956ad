"""Three engines, each in its own network namespace, form one metadata cluster over
QUIC (mutual TLS from the shared secret): they join through a seed, report each
other in getClusterHealth, replicate a bucket made on a follower, and tell a
partition apart: the cut-off node reports the metadata quorum lost and its peers
down, the other two keep a leader and go on, and all is well again once it heals.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netns  # noqa: E402

_reason = netns.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from engines import cluster_of, health, states, until  # noqa: E402


@pytest.fixture
def cluster():
    with cluster_of(3) as c:
        yield c.net, [c.engines[n] for n in ("n1", "n2", "n3")]


def test_three_nodes_join_replicate_and_report_a_partition(cluster):
    net, (n1, n2, n3) = cluster
    everyone_up = {"n1": "up", "n2": "up", "n3": "up"}
    h = until("three members up", lambda: health(n1), lambda h: states(h) == everyone_up)
    assert sorted(h["raft"]["voters"]) == ["n1", "n2", "n3"]
    assert h["raft"]["leaderId"] == "n1"
    assert sorted(r["nodeId"] for r in h["raft"]["replication"]) == ["n2", "n3"]
    assert h["quorum"]["metadata"] == "ok"
    for engine in (n2, n3):
        h = until("a follower sees everyone", lambda: health(engine), lambda h: states(h) == everyone_up)
        assert h["raft"]["role"] == "follower" and h["raft"]["leaderId"] == "n1"
        assert all(n["rttMs"] is not None for n in h["nodes"] if n["id"] != h["nodeId"])
        # Every drive of every node: two each, ok, named by their node.
        drives = until("every node's drives", lambda: health(engine),
                       lambda h: sorted(d["nodeId"] for d in h["drives"]) == ["n1", "n1", "n2", "n2", "n3", "n3"])["drives"]
        assert all(d["state"] == "ok" for d in drives), drives

    # A bucket made on a follower is the cluster's, and reads are linearizable: the
    # other follower lists it at once (it catches up with the leader before reading).
    n2.call("ensureBucket", {"name": "made-on-n2"})
    assert [b["name"] for b in n3.call("listBucketSummaries")] == ["made-on-n2"]
    for i in range(20):
        n1.call("ensureBucket", {"name": f"quick-{i}"})
        listed = [b["name"] for b in n3.call("listBucketSummaries")]
        assert f"quick-{i}" in listed, f"n3 read before it caught up: {listed}"

    # n3 cut off: it loses the metadata quorum and sees its peers go; the two others
    # keep a leader and see n3 go.
    net.isolate(net.nodes[2])
    h = until("n3 alone", lambda: health(n3),
              lambda h: h["quorum"]["metadata"] == "lost" and states(h)["n1"] == "down" and states(h)["n2"] == "down")
    assert h["raft"]["leaderId"] is None
    h = until("n1 sees n3 go", lambda: health(n1), lambda h: states(h)["n3"] == "down")
    assert {d["state"] for d in h["drives"] if d["nodeId"] == "n3"} == {"offline"}
    assert h["quorum"]["metadata"] == "ok" and h["raft"]["leaderId"] in ("n1", "n2")
    n1.call("ensureBucket", {"name": "made-while-n3-was-away"})

    # Healed: n3 follows again, catches up, and everyone is up.
    net.heal()
    h = until("n3 back", lambda: health(n3),
              lambda h: h["quorum"]["metadata"] == "ok" and states(h) == everyone_up, timeout=60)
    until("n3 caught up", lambda: n3.call("listBucketSummaries"),
          lambda buckets: "made-while-n3-was-away" in [b["name"] for b in buckets])

    # The leader cut off: it stops reporting a quorum within seconds, the other two
    # elect a new leader among themselves, and writes go on there.
    leader = h["raft"]["leaderId"]
    engines = {"n1": n1, "n2": n2, "n3": n3}
    old = engines[leader]
    net.isolate(net.nodes[int(leader[1]) - 1])
    until("the old leader knows it is cut off", lambda: health(old), lambda h: h["quorum"]["metadata"] == "lost")
    other = next(e for name, e in engines.items() if name != leader)
    h = until("a new leader", lambda: health(other),
              lambda h: h["raft"]["leaderId"] not in (None, leader) and h["quorum"]["metadata"] == "ok")
    other.call("ensureBucket", {"name": "made-under-a-new-leader"})
    net.heal()
    until("the old leader follows", lambda: health(old),
          lambda h: h["quorum"]["metadata"] == "ok" and h["raft"]["leaderId"] != leader, timeout=60)
    until("the old leader caught up", lambda: old.call("listBucketSummaries"),
          lambda buckets: "made-under-a-new-leader" in [b["name"] for b in buckets])
