"""Network-namespace harness for multi-node tests (Python 3 stdlib, run as root).

    with Net(3) as net:                       # 3 namespaces on one bridge
        a, b, c = net.nodes
        p = a.popen(["ruststorage", "--listen", f"{a.addr}:9000"])
        urlopen(f"http://{a.addr}:9000/")     # the root namespace reaches nodes
        net.partition([a], [b, c])            # symmetric
        net.partition_one_way(a, b)           # packets a -> b dropped
        net.loss(c, 30)                       # 30% of packets into c dropped
        net.heal()                            # all injected rules gone
        kill9(p); pause(p); resume(p)         # process faults

Layout of one run r (0..255, chosen free at start): bridge <prefix><rr>br in
the root namespace with 10.77.r.254/24 (net.host), namespaces <prefix><rr>n<i>
with eth0 = 10.77.r.<i>/24, joined to the bridge by veth <prefix><rr>v<i>.
Faults are iptables rules *inside the nodes' namespaces*; the root namespace's
rules are never touched, except one tagged FORWARD ACCEPT when the host's
FORWARD policy would otherwise drop bridged traffic (br_netfilter).

Delay: there is no netem here, so UdpRelay forwards datagrams with a delay
(point a node at the relay instead of its peer). The other option is the
test hook the Rust transport offers for injected latency.
"""
import contextlib
import ctypes
import fcntl
import heapq
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time

PREFIX = "ssn"  # smartstorage net; at most 8 chars so names fit IFNAMSIZ (15)
SUBNET = "10.77"
HOST_OCTET = 254
_LOCK_PATH = "/run/lock/smartstorage-netns.lock" if os.path.isdir("/run/lock") else "/tmp/smartstorage-netns.lock"


class NetError(RuntimeError):
    pass


def sh(*argv, ns=None, check=True, input=None, timeout=30):
    """Run a command (inside namespace ns if given); return stdout."""
    argv = [str(a) for a in argv]
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise NetError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def unavailable(need_iptables=True):
    """None when the harness can run here, else the reason (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [t for t in ["ip"] + (["iptables"] if need_iptables else []) if not shutil.which(t)]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install -y iproute2 iptables)"
    probe = f"{PREFIX}probe{os.getpid() % 100000}"
    try:
        sh("ip", "netns", "add", probe)
        sh("ip", "netns", "del", probe)
    except NetError as e:
        return f"cannot create network namespaces: {e}"
    return None


@contextlib.contextmanager
def _global_lock():
    # Serializes run allocation and stale cleanup across processes, so a run
    # being set up is never mistaken for a crashed one.
    with open(_LOCK_PATH, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _proc_start(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # field 22: starttime
    except (OSError, IndexError):
        return None


def _owner_tag():
    return f"owner={os.getpid()}:{_proc_start(os.getpid())}"


def _owner_alive(tag):
    m = re.fullmatch(r"owner=(\d+):(\d+)", tag.strip())
    # pid alone could be reused; pid + start time identifies the process
    return bool(m) and _proc_start(int(m[1])) == m[2]


def _links():
    return re.findall(r"^\d+: ([^:@\s]+)", sh("ip", "-o", "link", "show"), re.M)


def _namespaces():
    return [l.split()[0] for l in sh("ip", "netns", "list").splitlines() if l.strip()]


def _root_rules(tag):
    """Root-namespace iptables rules carrying our comment tag, as -D argv."""
    if not shutil.which("iptables"):
        return []
    out = sh("iptables", "-w", "-S", check=False)
    return [l.replace("-A ", "-D ", 1).split() for l in out.splitlines()
            if l.startswith("-A ") and re.search(rf'--comment "?{tag}"?(\s|$)', l)]


def _destroy_run(prefix, run):
    """Remove every object of one run; ignores what is already gone."""
    tag = f"{prefix}{run}"
    for ns in _namespaces():
        if re.fullmatch(rf"{tag}n\d+", ns):
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
    for link in _links():  # deleting a root veth also removes its eth0 peer
        if re.fullmatch(rf"{tag}v\d+", link):
            sh("ip", "link", "del", link, check=False)
    for ns in _namespaces():
        if re.fullmatch(rf"{tag}n\d+", ns):
            sh("ip", "netns", "del", ns, check=False)
    if f"{tag}br" in _links():
        sh("ip", "link", "del", f"{tag}br", check=False)
    for rule in _root_rules(tag):
        sh("iptables", "-w", *rule, check=False)


def cleanup_stale(prefix=PREFIX):
    """Remove leftovers of crashed runs: runs whose owner process is gone (or
    whose bridge is missing). Live runs of other processes are left alone."""
    with _global_lock():
        _cleanup_stale_locked(prefix)


def _cleanup_stale_locked(prefix):
    runs = set()
    for name in _links() + _namespaces():
        m = re.fullmatch(rf"{re.escape(prefix)}([0-9a-f]{{2}})(?:br|v\d+|n\d+)", name)
        if m:
            runs.add(m[1])
    for run in runs:
        try:
            with open(f"/sys/class/net/{prefix}{run}br/ifalias") as f:
                alive = _owner_alive(f.read())
        except OSError:
            alive = False
        if not alive:
            _destroy_run(prefix, run)


class Endpoint:
    """Something with an address on the run's subnet: a Node, or net.host."""

    def __init__(self, net, name, addr, ns):
        self.net, self.name, self.addr, self.ns = net, name, addr, ns

    def __repr__(self):
        return f"<{self.name} {self.addr}>"


class Node(Endpoint):
    def __init__(self, net, index, ns, addr):
        super().__init__(net, f"n{index}", addr, ns)
        self.index = index

    def popen(self, argv, **kw):
        """subprocess.Popen inside the namespace. `ip netns exec` execs the
        command, so p.pid is the command itself (signals reach it directly).
        Own session by default, so kill9/pause/resume hit its children too.
        Killed at teardown."""
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns, *map(str, argv)], **kw)
        self.net._procs.append(p)
        return p

    def run(self, argv, **kw):
        """subprocess.run inside the namespace (text output captured, 60 s timeout)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(["ip", "netns", "exec", self.ns, *map(str, argv)], **kw)

    def pids(self):
        return [int(p) for p in sh("ip", "netns", "pids", self.ns, check=False).split()]


class Net:
    """n namespaces on a private bridge; a context manager (or call close())."""

    def __init__(self, n, prefix=PREFIX, cleanup=True):
        if not 1 <= n <= 250:
            raise ValueError("1 <= n <= 250")
        if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", prefix):
            raise ValueError("prefix: 1-8 lowercase alphanumerics, starting with a letter")
        self.prefix, self.nodes, self.host, self.run = prefix, [], None, None
        self._procs, self._rules, self._closed = [], [], False
        try:
            self._setup(n, cleanup)
        except BaseException:
            self.close()
            raise

    def _setup(self, n, cleanup):
        with _global_lock():
            if cleanup:
                _cleanup_stale_locked(self.prefix)
            # A free run number: no bridge by that name and no root address
            # in its /24. Creating the bridge claims it (under the lock).
            used = sh("ip", "-4", "-o", "addr", "show") + sh("ip", "-4", "route", "show")
            for r in random.sample(range(256), 256):
                if re.search(rf"\b{re.escape(SUBNET)}\.{r}\.\d", used) or f"{self.prefix}{r:02x}br" in _links():
                    continue
                self.run = f"{r:02x}"
                self.subnet = f"{SUBNET}.{r}"
                sh("ip", "link", "add", self.bridge, "type", "bridge")
                sh("ip", "link", "set", "dev", self.bridge, "alias", _owner_tag())
                break
            else:
                raise NetError(f"no free {SUBNET}.x.0/24 subnet")
        tag = self.tag
        self.host = Endpoint(self, "host", f"{self.subnet}.{HOST_OCTET}", None)
        batch = [f"addr add {self.host.addr}/24 dev {self.bridge}", f"link set {self.bridge} up"]
        for i in range(1, n + 1):
            ns = f"{tag}n{i}"
            sh("ip", "netns", "add", ns)
            self.nodes.append(Node(self, i, ns, f"{self.subnet}.{i}"))
            batch += [f"link add {tag}v{i} type veth peer name eth0 netns {ns}",
                      f"link set {tag}v{i} master {self.bridge}", f"link set {tag}v{i} up"]
        sh("ip", "-batch", "-", input="\n".join(batch) + "\n")
        for node in self.nodes:
            sh("ip", "-n", node.ns, "-batch", "-", input=(
                f"addr add {node.addr}/24 dev eth0\nlink set eth0 up\nlink set lo up\n"))
        self._allow_bridged_forwarding()

    def _allow_bridged_forwarding(self):
        # With br_netfilter loaded, frames crossing the bridge traverse the
        # root FORWARD chain; a DROP policy there (Docker sets one) would cut
        # nodes off from each other. Add one tagged ACCEPT, removed at close.
        try:
            with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
                if f.read().strip() != "1":
                    return
        except OSError:
            return
        if shutil.which("iptables") and "-P FORWARD ACCEPT" not in sh("iptables", "-w", "-S", "FORWARD"):
            sh("iptables", "-w", "-I", "FORWARD", "-i", self.bridge, "-o", self.bridge,
               "-m", "comment", "--comment", self.tag, "-j", "ACCEPT")

    @property
    def tag(self):
        return f"{self.prefix}{self.run}"

    @property
    def bridge(self):
        return f"{self.tag}br"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Kill processes, remove namespaces, veths, bridge and root rules."""
        if self._closed:
            return
        self._closed = True
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    os.kill(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=5)
        if self.run is not None:
            with _global_lock():
                _destroy_run(self.prefix, self.run)

    # ---- faults (iptables inside the nodes' namespaces) -------------------

    def _rule(self, ns, chain, *spec):
        sh("iptables", "-w", "-A", chain, *spec, ns=ns)
        self._rules.append((ns, chain, spec))

    def _drop(self, src, dst):
        """Drop packets src -> dst. Dropped on arrival (dst's INPUT), so the
        sender sees no error, as with a real lossy link; when dst is the host
        (root namespace, never touched) on departure (src's OUTPUT) instead."""
        if src is dst:
            return
        if dst.ns:
            self._rule(dst.ns, "INPUT", "-s", src.addr, "-j", "DROP")
        elif src.ns:
            self._rule(src.ns, "OUTPUT", "-d", dst.addr, "-j", "DROP")

    def partition(self, side_a, side_b):
        """Symmetric partition: nothing passes between side_a and side_b (nodes
        or net.host, single or lists). Connections within a side are unaffected."""
        for a in _list(side_a):
            for b in _list(side_b):
                self._drop(a, b)
                self._drop(b, a)

    def partition_one_way(self, src, dst):
        """Drop every packet from src to dst; dst -> src still delivered.
        UDP flows only dst -> src. TCP cannot connect either way (from src the
        SYN is lost; from dst the SYN-ACK is lost), and established
        connections stall since data or ACKs from src never arrive."""
        for s in _list(src):
            for d in _list(dst):
                self._drop(s, d)

    def isolate(self, node, include_host=False):
        """Partition node from all other nodes (and from the host if asked)."""
        others = [n for n in self.nodes if n is not node] + ([self.host] if include_host else [])
        self.partition([node], others)

    def loss(self, node, percent, direction="in", peers=None):
        """Randomly drop percent% of the node's packets ('in': INPUT, 'out':
        OUTPUT, 'both': each chain independently), optionally only to/from
        peers. Replaces earlier loss rules on that node; 0 removes them."""
        ns = node.ns
        for r in [r for r in self._rules if r[0] == ns and "loss" in r[2]]:
            sh("iptables", "-w", "-D", r[1], *r[2], ns=ns)
            self._rules.remove(r)
        if percent <= 0:
            return
        chains = {"in": ["INPUT"], "out": ["OUTPUT"], "both": ["INPUT", "OUTPUT"]}[direction]
        # percent >= 100 as a plain DROP: statistic's probability is capped below 1
        stat = [] if percent >= 100 else ["-m", "statistic", "--mode", "random",
                                           "--probability", f"{percent / 100:.6f}"]
        for chain in chains:
            for peer in _list(peers) if peers else [None]:
                who = [] if peer is None else ["-s" if chain == "INPUT" else "-d", peer.addr]
                self._rule(ns, chain, *who, *stat, "-m", "comment", "--comment", "loss", "-j", "DROP")

    def heal(self):
        """Remove every injected rule (flushes INPUT/OUTPUT of touched namespaces)."""
        for ns in {r[0] for r in self._rules}:
            sh("iptables", "-w", "-F", "INPUT", ns=ns)
            sh("iptables", "-w", "-F", "OUTPUT", ns=ns)
        self._rules.clear()

    def rules(self, node):
        """The node's current iptables rules (iptables -S), for debugging."""
        return sh("iptables", "-w", "-S", ns=node.ns)


def _list(x):
    return list(x) if isinstance(x, (list, tuple, set)) else [x]


# ---- process faults --------------------------------------------------------

def _signal(p, sig):
    # p leads its own process group when started by Node.popen (new session)
    try:
        if os.getpgid(p.pid) == p.pid:
            os.killpg(p.pid, sig)
        else:
            os.kill(p.pid, sig)
    except ProcessLookupError:
        pass


def kill9(p, wait=True):
    """SIGKILL (crash) a Popen; returns its exit status when wait=True."""
    _signal(p, signal.SIGKILL)
    return p.wait(timeout=10) if wait else None


def pause(p):
    """SIGSTOP: the process freezes; the kernel still accepts TCP connections
    into its listen backlog, but nothing is answered (a 'slow/hung node')."""
    _signal(p, signal.SIGSTOP)


def resume(p):
    _signal(p, signal.SIGCONT)


@contextlib.contextmanager
def paused(p):
    pause(p)
    try:
        yield p
    finally:
        resume(p)


# ---- delay -----------------------------------------------------------------

_CLONE_NEWNET = 0x40000000


def _enter_netns(ns):
    # setns() applies to the calling thread only, so the relay thread can live
    # in a node's namespace while the rest of the test stays in the root one.
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({ns})")
    finally:
        os.close(fd)


class UdpRelay:
    """UDP forwarder adding delay_ms (+ up to jitter_ms) in each direction and
    dropping a `loss` fraction (0.0-1.0) of datagrams.

    Clients send to relay.addr; each client address gets its own upstream
    socket towards target, so replies find their way back. An RTT through
    the relay grows by 2 * delay_ms. netns=node.ns runs it inside a node's
    namespace (listen/target are then addresses as seen from there).
    Use as a context manager, or start()/stop(). delay_ms/loss may be changed
    while running."""

    def __init__(self, listen, target, delay_ms, loss=0.0, jitter_ms=0, netns=None):
        self.listen, self.target, self.netns = listen, target, netns
        self.delay_ms, self.loss, self.jitter_ms = delay_ms, loss, jitter_ms
        self.addr = None
        self.forwarded = self.dropped = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._thread = threading.Thread(target=self._main, name="UdpRelay", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def _main(self):
        try:
            if self.netns:
                _enter_netns(self.netns)
            front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            front.bind(self.listen)
            self.addr = front.getsockname()
        except Exception as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        sel = selectors.DefaultSelector()
        sel.register(front, selectors.EVENT_READ, None)
        upstream = {}  # client addr -> socket connected to target
        queue, seq = [], 0  # heap of (due, seq, socket, data, dest or None)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                while queue and queue[0][0] <= now:
                    _, _, sock, data, dest = heapq.heappop(queue)
                    with contextlib.suppress(OSError):  # e.g. ECONNREFUSED from an earlier send
                        sock.sendto(data, dest) if dest else sock.send(data)
                wait = min(0.05, queue[0][0] - now) if queue else 0.05
                for key, _ in sel.select(max(wait, 0)):
                    sock, client = key.fileobj, key.data
                    try:
                        data, src = sock.recvfrom(65535)
                    except OSError:
                        continue
                    if client is None:  # from a client: forward to target
                        if src not in upstream:
                            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            up.connect(self.target)
                            upstream[src] = up
                            sel.register(up, selectors.EVENT_READ, src)
                        out, dest = upstream[src], None
                    else:  # from target: back to that client
                        out, dest = front, client
                    if random.random() < self.loss:
                        self.dropped += 1
                        continue
                    self.forwarded += 1
                    delay = (self.delay_ms + random.uniform(0, self.jitter_ms)) / 1000
                    seq += 1
                    heapq.heappush(queue, (time.monotonic() + delay, seq, out, data, dest))
        finally:
            for up in upstream.values():
                up.close()
            front.close()
            sel.close()
