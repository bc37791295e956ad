"""Record key/value histories and check them for linearizability (stdlib only).

    from check import History, check_history

    h = History()
    with h.op(client=1, key="k", op="put", value="v1"):
        s3.put_object(...)
    with h.op(client=2, key="k", op="get") as rec:
        rec.result(read_or_none())        # None = key absent
    verdict = h.check()                   # {"ok": True, "violations": [], ...}

check_history() builds the Go checker (main.go, porcupine) once per source
hash into ~/.cache/smartstorage-lin/<hash>/lincheck and pipes the history to it.
"""
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_SOURCES = ("go.mod", "go.sum", "main.go")
_build_lock = threading.Lock()


def _go():
    go = os.environ.get("GO") or shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go) and not shutil.which(go):
        raise RuntimeError("the Go toolchain is needed to build lincheck (set $GO or put go on PATH)")
    return go


def lincheck_binary():
    """Path of the built checker, building it on first use for this source hash."""
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    out = cache / "smartstorage-lin" / h.hexdigest()[:16] / "lincheck"
    with _build_lock:
        if out.exists():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # -mod=mod: go.sum is pinned, but let go fill in anything missing;
        # GOTOOLCHAIN=local: never download a toolchain behind our back.
        env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod").strip()
        env.setdefault("GOTOOLCHAIN", "local")
        # Build under a unique name then rename, so concurrent runs (other
        # processes) never execute a half-written binary.
        tmp = out.with_name(f"lincheck.tmp{os.getpid()}")
        proc = subprocess.run([_go(), "build", "-o", str(tmp), "."], cwd=HERE, env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"go build of lincheck failed:\n{proc.stderr}")
        os.replace(tmp, out)
        return out


def check_history(ops, timeout=None, viz_dir=None):
    """Check a history (iterable of op dicts, see README.md).

    Returns the checker's verdict dict: {"ok", "result" ("ok" | "illegal" |
    "unknown"), "operations", "checked", "keys", "violations",
    "unknown_keys"} plus "exit_code" (0 ok, 1 violation, 3 checker timed
    out). Raises ValueError on malformed input (exit 2).
    timeout: Go duration string ("5m", "30s"); viz_dir: write porcupine HTML
    visualizations of violating keys there.
    """
    argv = [str(lincheck_binary())]
    if timeout:
        argv += ["-timeout", str(timeout)]
    if viz_dir:
        argv += ["-viz", str(viz_dir)]
    data = "".join(json.dumps(op) + "\n" for op in ops)
    proc = subprocess.run(argv, input=data, capture_output=True, text=True)
    if proc.returncode == 2:
        raise ValueError(f"lincheck rejected the history: {proc.stderr.strip()}")
    if proc.returncode not in (0, 1, 3):
        raise RuntimeError(f"lincheck exited {proc.returncode}: {proc.stderr.strip()}")
    verdict = json.loads(proc.stdout)
    verdict["exit_code"] = proc.returncode
    return verdict


class _Unset:
    pass


class OpRecord:
    """Handed out by History.op(); call result() for gets, fail()/timeout() to
    override the status without raising."""

    def __init__(self, client, key, op, value):
        self.client, self.key, self.op, self.value = client, key, op, value
        self.status = None
        self.error = None
        self._read = _Unset

    def result(self, value):
        """The value a get returned (None = key absent)."""
        self._read = value

    def fail(self):
        """Mark as definitely not applied (e.g. the server refused before acting)."""
        self.status = "fail"

    def timeout(self):
        """Mark as indeterminate (may or may not have taken effect)."""
        self.status = "timeout"


class History:
    """Thread-safe history recorder.

    Inside `with history.op(...)`, an exception whose type is in fail_on is
    recorded as "fail" (definitely not applied); any other Exception as
    "timeout" (indeterminate). Treating unknown errors as indeterminate never
    causes a false violation, it only weakens the check, so classify the
    errors you are sure about via fail_on. Exceptions are swallowed (kept in
    rec.error and history.errors) unless reraise=True; BaseExceptions such as
    KeyboardInterrupt always propagate.
    """

    def __init__(self, fail_on=(), reraise=False):
        self.fail_on = tuple(fail_on)
        self.reraise = reraise
        self._ops = []
        self.errors = []  # (op dict, exception)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def op(self, client, key, op, value=None):
        if op not in ("put", "get", "delete"):
            raise ValueError(f"op must be put, get or delete, not {op!r}")
        rec = OpRecord(client, key, op, value)
        call = time.monotonic_ns()  # taken before the request can leave
        try:
            yield rec
        except Exception as e:
            rec.error = e
            rec.status = rec.status or ("fail" if isinstance(e, self.fail_on) else "timeout")
        except BaseException:
            self._append(rec, call, None, "timeout")
            raise
        ret = time.monotonic_ns()
        status = rec.status or "ok"
        if status == "ok" and op == "get" and rec._read is _Unset:
            raise RuntimeError("a get finished ok without rec.result(value)")
        entry = self._append(rec, call, ret if status == "ok" else None, status)
        if rec.error is not None:
            with self._lock:
                self.errors.append((entry, rec.error))
            if self.reraise:
                raise rec.error

    def _append(self, rec, call, ret, status):
        value = rec.value if rec.op == "put" else (None if rec._read is _Unset else rec._read)
        entry = {"client": rec.client, "key": rec.key, "op": rec.op, "value": value,
                 "call": call, "return": ret, "status": status}
        with self._lock:
            self._ops.append(entry)
        return entry

    def ops(self):
        with self._lock:
            return list(self._ops)

    def dump(self, path):
        """Write the history as JSON lines (keep it as a CI artifact on failure)."""
        with open(path, "w") as f:
            for op in self.ops():
                f.write(json.dumps(op) + "\n")

    def check(self, **kw):
        return check_history(self.ops(), **kw)


if __name__ == "__main__":  # python3 check.py < history.jsonl
    import sys
    v = check_history(json.loads(l) for l in sys.stdin if l.strip())
    print(json.dumps(v))
    sys.exit(v["exit_code"])
