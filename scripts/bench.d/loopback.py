"""Loopback TCP throughput without iperf3: python3 loopback.py SECONDS -> MB/s."""
import socket, sys, threading, time

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
received = [0]

def sink():
    conn, _ = srv.accept()
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        received[0] += len(b)

t = threading.Thread(target=sink)
t.start()
c = socket.create_connection(srv.getsockname())
buf = b"\0" * (1 << 20)
start = time.time()
while time.time() - start < secs:
    c.sendall(buf)
c.close()
t.join(30)
print(received[0] / (time.time() - start) / 1e6)
