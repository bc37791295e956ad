"""Self-test of netns.py: namespaces, reachability, partitions, loss, process
faults, teardown, UdpRelay. Needs root, iproute2 and iptables."""
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netns  # noqa: E402
from netns import Net, UdpRelay, kill9, pause, resume  # noqa: E402

_reason = netns.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

PORT = 7000
PY = sys.executable

# Runs in each namespace: TCP echo and UDP echo on PORT; every UDP datagram
# received is also appended to LOG, so a test can see what *arrived* even
# when the reply is dropped (one-way partitions).
SERVER = r"""
import socket, sys, threading
port, log = int(sys.argv[1]), sys.argv[2]
def tcp_conn(c):
    with c:
        while (d := c.recv(4096)):
            c.sendall(d)
t = socket.create_server(("0.0.0.0", port), reuse_port=False)
threading.Thread(target=lambda: [threading.Thread(target=tcp_conn, args=(t.accept()[0],), daemon=True).start() for _ in iter(int, 1)], daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
print("ready", flush=True)
with open(log, "a") as f:
    while True:
        d, src = u.recvfrom(65535)
        f.write(d.decode() + "\n"); f.flush()
        u.sendto(d, src)
"""

# Runs in a namespace: TCP connect+echo to host:port, exit 0 when echoed.
TCP_PROBE = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        s.sendall(b"ping"); sys.exit(0 if s.recv(4) == b"ping" else 1)
except OSError as e:
    print(e); sys.exit(1)
"""

# Runs in a namespace: send UDP datagrams tag-0..tag-(n-1) to host:port.
UDP_SEND = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[4])):
    s.sendto(f"{sys.argv[3]}-{i}".encode(), (sys.argv[1], int(sys.argv[2])))
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    logs = tmp_path_factory.mktemp("udplogs")
    with Net(3) as net:
        for node in net.nodes:
            node.log = logs / f"{node.name}.log"
            node.server = node.popen([PY, "-c", SERVER, PORT, node.log], stdout=subprocess.PIPE, text=True)
        for node in net.nodes:
            assert node.server.stdout.readline().strip() == "ready"
        yield net
        net.heal()


def tcp_ok(src, dst, timeout=0.7):
    """Can src open a TCP connection to dst's echo server and get an echo?"""
    if src.ns is None:  # the host, i.e. this process in the root namespace
        try:
            with socket.create_connection((dst.addr, PORT), timeout=timeout) as s:
                s.sendall(b"ping")
                return s.recv(4) == b"ping"
        except OSError:
            return False
    return src.run([PY, "-c", TCP_PROBE, dst.addr, PORT, timeout]).returncode == 0


_seq = [0]


def udp_arrives(src, dst, n=1, settle=0.3):
    """How many of n UDP datagrams sent by src arrived at dst."""
    _seq[0] += 1
    tag = f"{src.name}to{dst.name}x{_seq[0]}"
    src.run([PY, "-c", UDP_SEND, dst.addr, PORT, tag, n], check=True)
    time.sleep(settle)
    return sum(1 for l in dst.log.read_text().splitlines() if l.startswith(tag + "-"))


def test_names_and_addresses(net):
    assert re.fullmatch(r"ssn[0-9a-f]{2}", net.tag)
    names = [net.bridge] + [f"{net.tag}v{n.index}" for n in net.nodes] + [n.ns for n in net.nodes]
    assert all(len(x) <= 15 for x in names)
    assert [n.addr for n in net.nodes] == [f"{net.subnet}.{i}" for i in (1, 2, 3)]
    out = net.nodes[0].run(["ip", "-o", "addr", "show"]).stdout
    assert f"{net.nodes[0].addr}/24" in out and "lo" in out


def test_all_pairs_and_host_reach_each_other(net):
    a, b, c = net.nodes
    for src, dst in [(a, b), (b, c), (c, a), (net.host, a), (net.host, b), (net.host, c)]:
        assert tcp_ok(src, dst), (src, dst)
    assert udp_arrives(a, c) == 1


def test_symmetric_partition_blocks_a_b_only_until_heal(net):
    a, b, c = net.nodes
    net.partition([a], [b])
    try:
        assert not tcp_ok(a, b) and not tcp_ok(b, a)
        assert udp_arrives(a, b) == 0 and udp_arrives(b, a) == 0
        assert tcp_ok(a, c) and tcp_ok(c, b) and tcp_ok(net.host, b)
    finally:
        net.heal()
    assert tcp_ok(a, b) and tcp_ok(b, a)


def test_one_way_partition(net):
    # partition_one_way(a, b): every packet a -> b is dropped, b -> a passes.
    a, b, c = net.nodes
    net.partition_one_way(a, b)
    try:
        assert udp_arrives(a, b) == 0
        assert udp_arrives(b, a) == 1
        # TCP needs both directions, so no handshake either way: a -> b
        # loses a's SYN; b -> a loses a's SYN-ACK.
        assert not tcp_ok(a, b)
        assert not tcp_ok(b, a)
        assert tcp_ok(a, c) and tcp_ok(c, b)
    finally:
        net.heal()
    assert udp_arrives(a, b) == 1 and tcp_ok(a, b)


def test_partition_from_host(net):
    a = net.nodes[0]
    net.partition(net.host, a)
    try:
        assert not tcp_ok(net.host, a, timeout=0.5)
        assert tcp_ok(net.host, net.nodes[1])
    finally:
        net.heal()
    assert tcp_ok(net.host, a)


def test_loss(net):
    a, b, _ = net.nodes
    net.loss(b, 100)
    assert udp_arrives(a, b) == 0 and not tcp_ok(net.host, b, timeout=0.5)
    net.loss(b, 0)
    assert udp_arrives(a, b, n=20) == 20 and tcp_ok(net.host, b)
    net.loss(b, 50)
    got = udp_arrives(a, b, n=200, settle=0.5)
    assert 55 < got < 145, got  # ~100 expected; bounds are > 6 sigma wide
    net.heal()
    assert "DROP" not in net.rules(b)


def test_process_faults(net):
    c = net.nodes[2]
    p = c.popen([PY, "-c", "import time; time.sleep(60)"])
    # ip netns exec execs: the Popen pid is the python process itself
    time.sleep(0.2)
    assert "python" in Path(f"/proc/{p.pid}/cmdline").read_text()
    state = lambda: Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    pause(p)
    time.sleep(0.1)
    assert state() == "T"
    resume(p)
    time.sleep(0.1)
    assert state() in "SR"
    assert kill9(p) == -9
    # A paused server accepts TCP (kernel backlog) but answers nothing.
    pause(c.server)
    try:
        assert not tcp_ok(net.host, c, timeout=0.5)
    finally:
        resume(c.server)
    assert tcp_ok(net.host, c)


def test_udp_relay_delays_both_ways(net):
    a = net.nodes[0]

    def rtt(addr, timeout=2.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        t0 = time.monotonic()
        s.sendto(b"relay", addr)
        try:
            s.recvfrom(100)
        except socket.timeout:
            return None
        finally:
            s.close()
        return time.monotonic() - t0

    direct = rtt((a.addr, PORT))
    with UdpRelay(("127.0.0.1", 0), (a.addr, PORT), delay_ms=100) as relay:
        rtts = [rtt(relay.addr) for _ in range(3)]
        assert all(r is not None and 0.2 <= r < 1.5 for r in rtts), (direct, rtts)
        relay.loss = 1.0
        assert rtt(relay.addr, timeout=0.5) is None
    # The relay can also live inside a node's namespace (c relays to a).
    c = net.nodes[2]
    with UdpRelay(("0.0.0.0", 7100), (a.addr, PORT), delay_ms=50, netns=c.ns) as relay:
        r = rtt((c.addr, 7100))
        assert r is not None and r >= 0.1, r
    assert direct is not None


def _ours(tag):
    links = [l for l in netns._links() if l.startswith(tag)]
    nss = [n for n in netns._namespaces() if n.startswith(tag)]
    rules = netns._root_rules(tag)
    return links + nss + rules


def test_teardown_leaves_nothing():
    with Net(2) as net:
        tag = net.tag
        net.nodes[0].popen(["sleep", "60"])
        net.partition(net.nodes[0], net.nodes[1])
        assert _ours(tag)
    assert _ours(tag) == []
    assert tag not in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    # Teardown also happens when the body raises.
    with pytest.raises(ZeroDivisionError):
        with Net(1) as net:
            tag = net.tag
            1 / 0
    assert _ours(tag) == []


def test_cleanup_stale_removes_crashed_runs_only():
    # A run whose owner died without teardown...
    code = ("import sys, os; sys.path.insert(0, %r); import netns; "
            "n = netns.Net(2, cleanup=False); print(n.tag, flush=True); os._exit(0)"
            % str(Path(netns.__file__).parent))
    dead = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert _ours(dead)
    with Net(1, cleanup=False) as alive:  # ...and a live one
        netns.cleanup_stale()
        assert _ours(dead) == []
        assert _ours(alive.tag)
