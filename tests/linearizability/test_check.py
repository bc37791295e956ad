"""Self-tests of the linearizability checker (pytest; needs the Go toolchain)."""
import random
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import History, check_history  # noqa: E402

if not (shutil.which("go") or Path("/usr/local/go/bin/go").exists()):
    pytest.skip("Go toolchain not found (needed to build lincheck)", allow_module_level=True)


def op(client, kind, value, call, ret, status="ok", key="k"):
    return {"client": client, "key": key, "op": kind, "value": value,
            "call": call, "return": ret, "status": status}


def verdict(ops, **kw):
    return check_history(ops, **kw)


def test_sequential_history_is_ok():
    v = verdict([
        op(0, "get", None, 0, 1),
        op(0, "put", "a", 2, 3),
        op(1, "get", "a", 4, 5),
        op(1, "delete", None, 6, 7),
        op(0, "get", None, 8, 9),
        op(1, "put", "b", 10, 11, key="other"),
    ])
    assert v["ok"] and v["exit_code"] == 0
    assert (v["operations"], v["keys"], v["violations"]) == (6, 2, [])


def test_stale_read_after_acknowledged_overwrite_is_violation():
    v = verdict([
        op(0, "put", "old", 0, 1),
        op(0, "put", "new", 2, 3),
        op(1, "get", "old", 4, 5),
        op(2, "put", "x", 0, 1, key="fine"),
    ])
    assert not v["ok"] and v["exit_code"] == 1 and v["result"] == "illegal"
    assert v["violations"] == ["k"]  # only the offending key is named


def test_concurrent_overlapping_ops_allow_either_order():
    # put(a) and put(b) overlap: either may win; a get overlapping a put may
    # see the old or the new value.
    for final in ("a", "b"):
        assert verdict([op(0, "put", "a", 0, 10), op(1, "put", "b", 5, 15),
                        op(2, "get", final, 20, 21)])["ok"]
    for seen in (None, "a"):
        assert verdict([op(0, "put", "a", 0, 10), op(1, "get", seen, 5, 15)])["ok"]
    # ...but once one get saw the new value, a later get may not go back.
    assert not verdict([op(0, "put", "a", 0, 10), op(1, "get", "a", 1, 2),
                        op(2, "get", None, 3, 4)])["ok"]


def test_timed_out_put_later_read_is_ok():
    v = verdict([
        op(0, "put", "a", 0, 1),
        op(1, "put", "b", 2, None, status="timeout"),
        op(0, "get", "a", 10, 11),  # not applied yet...
        op(0, "get", "b", 20, 21),  # ...then applied, long after the client gave up
    ])
    assert v["ok"], v
    # A timed-out put may also never take effect.
    assert verdict([op(1, "put", "b", 2, None, status="timeout"), op(0, "get", None, 20, 21)])["ok"]
    # But it cannot take effect before its call.
    assert not verdict([op(0, "get", "b", 0, 1), op(1, "put", "b", 2, None, status="timeout")])["ok"]


def test_failed_put_read_is_violation():
    v = verdict([op(0, "put", "a", 0, 1), op(1, "put", "b", 2, 3, status="fail"),
                 op(0, "get", "b", 4, 5)])
    assert not v["ok"] and v["violations"] == ["k"]


def test_read_of_never_written_value_is_violation():
    assert not verdict([op(0, "put", "a", 0, 1), op(1, "get", "zzz", 2, 3)])["ok"]
    assert not verdict([op(1, "get", "zzz", 2, 3)])["ok"]


def test_timed_out_get_and_failed_ops_are_dropped():
    v = verdict([op(0, "put", "a", 0, 1), op(1, "get", "garbage", 2, None, status="timeout"),
                 op(2, "get", "garbage", 2, 3, status="fail")])
    assert v["ok"] and v["operations"] == 3 and v["checked"] == 1


def test_bad_input_raises_and_checker_timeout_reports_unknown():
    with pytest.raises(ValueError):
        verdict([{"client": 0, "key": "k", "op": "cas", "call": 0, "return": 1, "status": "ok"}])
    with pytest.raises(ValueError):
        verdict([op(0, "put", "a", 0, None)])  # ok without a return time
    v = verdict([op(0, "put", "a", 0, 1)], timeout="1ns")
    assert v["result"] == "unknown" and v["exit_code"] == 3 and not v["ok"]


def random_history(n_ops, n_clients=8, n_keys=4, seed=1):
    """Simulate a real linearizable register: each op takes effect at a random
    instant inside its [call, return]; clients run sequentially with random
    overlaps between clients; some puts time out (applied late or never) or
    fail (never applied)."""
    rng = random.Random(seed)
    events = []  # (effect time or None, op dict)
    per_client = n_ops // n_clients
    for c in range(n_clients):
        t = rng.randint(0, 50)
        for _ in range(per_client):
            call, ret = t, t + rng.randint(1, 60)
            key = f"k{rng.randrange(n_keys)}"
            kind = rng.choice(["put", "put", "get", "get", "get", "delete"])
            o = op(c, kind, f"v{c}-{call}" if kind == "put" else None, call, ret, key=key)
            effect = rng.uniform(call, ret)
            r = rng.random()
            if kind != "get" and r < 0.05:
                o["status"], o["return"] = "fail", ret
                effect = None
            elif kind != "get" and r < 0.10:
                o["status"], o["return"] = "timeout", None
                effect = None if rng.random() < 0.5 else call + rng.uniform(0, 500)
            events.append((effect, o))
            t = ret + rng.randint(0, 20)
    state = {}
    for effect, o in sorted((e for e in events if e[0] is not None), key=lambda e: e[0]):
        if o["op"] == "put":
            state[o["key"]] = o["value"]
        elif o["op"] == "delete":
            state.pop(o["key"], None)
        else:
            o["value"] = state.get(o["key"])
    return [o for _, o in events]


def test_random_valid_history_2000_ops_is_ok_quickly():
    ops = random_history(2000)
    t0 = time.monotonic()
    v = verdict(ops)
    took = time.monotonic() - t0
    assert v["ok"], v
    assert v["operations"] == 2000 and v["keys"] == 4
    assert took < 10, f"checking 2000 ops took {took:.1f}s"
    # Sanity: corrupt one successful read and the same history must fail.
    bad = [dict(o) for o in ops]
    victim = next(o for o in bad if o["op"] == "get" and o["status"] == "ok")
    victim["value"] = "never-written"
    assert verdict(bad)["violations"] == [victim["key"]]


def test_history_recorder_with_threads():
    store, lock = {}, threading.Lock()
    h = History(fail_on=(PermissionError,))

    def worker(c):
        rng = random.Random(c)
        for i in range(50):
            key = f"k{rng.randrange(2)}"
            if rng.random() < 0.5:
                with h.op(c, key, "put", f"{c}-{i}"):
                    with lock:
                        store[key] = f"{c}-{i}"
            else:
                with h.op(c, key, "get") as rec:
                    with lock:
                        rec.result(store.get(key))

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Errors: a "definite" one is recorded fail, anything else timeout.
    with h.op(9, "k0", "put", "refused") as rec:
        raise PermissionError("no")
    with h.op(9, "k0", "put", "maybe"):
        raise ConnectionResetError("lost")
    assert [o["status"] for o in h.ops()[-2:]] == ["fail", "timeout"]
    assert rec.status == "fail" and len(h.errors) == 2
    assert h.check()["ok"]
    with pytest.raises(RuntimeError):
        with h.op(9, "k0", "get"):
            pass  # forgot rec.result()
