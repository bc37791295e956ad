#!/usr/bin/env bash
# scripts/bench.d/put-syscalls.sh: where a small PUT's time goes, standalone vs
# cluster4 (one node, 4 drive folders) vs cluster3x2 (three engines on this
# machine, 2 drive folders each, one cluster). Needs perf (linux-perf) and root.
#
#   scripts/bench.d/put-syscalls.sh [ENGINE] [S3LOAD]
#
# For each server: 5 s of 4 KiB PUTs at c=1 under `perf stat` on syscall
# tracepoints (counts per PUT, summed over the engine processes) and 3 s under
# `perf trace -s` (time spent per syscall); then `perf trace` of three PUTs
# through node 2 of the cluster, with file names, to see the order of the
# shard writes, the Raft log appends and the commit marker.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENGINE_SRC="${1:-$ROOT/rust/target/release/ruststorage}"
# s3load as scripts/bench builds it (INSTALL_ONLY=1 scripts/bench builds it)
L="${2:-${BENCH_CACHE:-$HOME/.cache/smartstorage-bench}/bin/s3load-$(cat "$ROOT/scripts/bench.d/s3load/go.mod" "$ROOT/scripts/bench.d/s3load/main.go" | sha256sum | cut -c1-12)}"
[ -x "$L" ] || { echo "no s3load at $L: run INSTALL_ONLY=1 scripts/bench first" >&2; exit 1; }
W="${BENCH_WORKDIR:-/var/tmp}/putsys.$$"
mkdir -p "$W"
cp "$ENGINE_SRC" "$W/eng"
AK=benchaccesskey; SK=bench-secret-key-0123456789
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
fu() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ALL=()
cleanup() { local p; for p in "${ALL[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$W"; }
trap cleanup EXIT
EV=syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_sync_file_range,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_openat,syscalls:sys_enter_pwrite64,syscalls:sys_enter_write,context-switches
s3() { "$L" "$1" -endpoint "$2" -ak "$AK" -sk "$SK" "${@:3}"; }
up() { s3 wait "$1" -timeout 30s && s3 mkbucket "$1"; }
measure() { # NAME ENDPOINTS PIDS
  local n=$1 ep=$2 pids=$3 ps
  s3 fill "$ep" -size 4096 -objects 50 -c 1 -prefix "warm-$n"
  perf stat -x, -e "$EV" -p "$pids" -o "$W/$n.stat" -- sleep 6 & ps=$!
  sleep 0.3
  s3 put "$ep" -size 4096 -c 1 -duration 5s -pid "$pids" -server "$n" -prefix "p-$n" > "$W/$n.json"
  wait "$ps"
  perf trace -s -p "$pids" -o "$W/$n.trace" -- sleep 4 2>/dev/null & ps=$!
  sleep 0.5
  s3 put "$ep" -size 4096 -c 1 -duration 3s -server "$n-traced" -prefix "t-$n" > /dev/null
  wait "$ps" || true
  python3 - "$W/$n.json" "$W/$n.stat" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); ops = r["ops"]
print(f"== {r['server']}: {r['ops_per_s']:.0f} op/s, p50 {r['p50_ms']} p99 {r['p99_ms']} ms, engine CPU {r['cpu_s'] * 1e3 / ops:.2f} ms/PUT, errors {r['errors']}, load1 {r['load1']}")
for l in open(sys.argv[2]):
    f = l.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        print(f"   {f[2].replace('syscalls:sys_enter_', ''):18s} {int(float(f[0])) / ops:8.2f} per PUT")
PY
  echo "   time in syscalls (perf trace -s, all threads):"
  awk '/^ *(fsync|fdatasync|sync_file_range|sendmsg|openat|pwrite64|futex|epoll_wait) / {c[$1] += $2; t[$1] += $4}
       END {for (k in c) printf "     %-16s calls %6d total %9.1f ms avg %.3f ms\n", k, c[k], t[k], t[k] / c[k]}' "$W/$n.trace" | sort -k5 -nr
}

P=$(fp)
"$W/eng" serve --address 127.0.0.1 --port "$P" --directory "$W/s" --access-key "$AK" --secret-key "$SK" > "$W/s.log" 2>&1 &
sp=$!; ALL+=("$sp")
up "http://127.0.0.1:$P"
measure standalone "http://127.0.0.1:$P" "$sp"
kill "$sp"

P=$(fp)
"$W/eng" serve --address 127.0.0.1 --port "$P" --directory "$W/c4" --access-key "$AK" --secret-key "$SK" --cluster --quic-port 0 \
  --drive "$W/c4/d1" --drive "$W/c4/d2" --drive "$W/c4/d3" --drive "$W/c4/d4" > "$W/c4.log" 2>&1 &
c4p=$!; ALL+=("$c4p")
up "http://127.0.0.1:$P"
measure cluster4 "http://127.0.0.1:$P" "$c4p"
kill "$c4p"

Q1=$(fu); EPS=(); PIDS=()
for i in 1 2 3; do
  p=$(fp); q=$Q1; seed=()
  if [ "$i" != 1 ]; then q=$(fu); seed=(--seed "127.0.0.1:$Q1"); fi
  "$W/eng" serve --address 127.0.0.1 --port "$p" --directory "$W/c3/n$i" --access-key "$AK" --secret-key "$SK" --cluster --node-id "n$i" \
    --quic-port "$q" --cluster-secret bench-cluster-secret-0123456789 --drive "$W/c3/n$i/d1" --drive "$W/c3/n$i/d2" "${seed[@]}" > "$W/c3-n$i.log" 2>&1 &
  ALL+=("$!"); PIDS+=("$!")
  s3 wait "http://127.0.0.1:$p" -timeout 30s
  EPS+=("http://127.0.0.1:$p")
done
s3 mkbucket "${EPS[0]}"
for e in "${EPS[@]}"; do until s3 fill "$e" -objects 1 -prefix ready 2>/dev/null; do sleep 0.2; done; done
ALLP="$(IFS=,; echo "${PIDS[*]}")"
measure cluster3x2 "$(IFS=,; echo "${EPS[*]}")" "$ALLP"

echo "== three PUTs through n2, in order (n1 pid ${PIDS[0]}, n2 ${PIDS[1]}, n3 ${PIDS[2]}; thread ids below):"
perf trace --no-syscalls -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_sync_file_range' \
  -p "$ALLP" -o "$W/order" -- sleep 2 & ps=$!
sleep 0.5
s3 fill "${EPS[1]}" -size 4096 -objects 3 -c 1 -prefix traced
wait "$ps" || true
sed "s#$W/##g" "$W/order"
