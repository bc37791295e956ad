#!/usr/bin/env bash
# A/B of two engine binaries on one request size (default the small-request path), interleaved so that drift of the
# machine hits both alike: 4 KiB GET and PUT at c=16, REPS rounds of DURATION each, fsync
# off (FSYNC=1: on), auth on. Prints each round and the medians. For "does this change cost anything
# on the S3 path" (e.g. a feature that is off); scripts/bench remains the benchmark.
#   scripts/bench.d/ab.sh OLD_BINARY NEW_BINARY [extra serve args for NEW...]
# Env: REPS (5), DURATION (5s), CONC (16), OPS ("get put"), SIZE (4096), OBJECTS (1000), FSYNC (0),
# WORKDIR (/var/tmp; /dev/shm takes the disk out), PAUSE (0: seconds of rest before each run; ext4
# without a journal skips inodes freed in the last minute, up to five, so PUT rounds there fall 2-3x
# after the first, and PAUSE=35 was measured not to be enough: docs/engine.md),
# S3LOAD (default: the one scripts/bench built).
set -euo pipefail
OLD=$1 NEW=$2
shift 2
REPS=${REPS:-5} DURATION=${DURATION:-5s} CONC=${CONC:-16} OPS=${OPS:-get put}
SIZE=${SIZE:-4096} OBJECTS=${OBJECTS:-1000}
FSYNC_ARGS=(--no-fsync)
[ "${FSYNC:-0}" = 1 ] && FSYNC_ARGS=()
S3LOAD=${S3LOAD:-$(ls -t "$HOME"/.cache/smartstorage-bench/bin/s3load-* | head -1)}
AK=AKIDABTEST SK=ab-test-secret-0123456789
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/ssab.XXXXXX")
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # name binary args... -> sets STARTED_PORT (not in $(...): pids must reach cleanup)
  local name=$1 bin=$2
  shift 2
  "$bin" serve --address 127.0.0.1 --port 0 --directory "$WORK/$name" "${FSYNC_ARGS[@]}" \
    --access-key "$AK" --secret-key "$SK" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    STARTED_PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/$name.out" 2>/dev/null | grep -o '[0-9]*$') && return
    sleep 0.1
  done
  echo "$name did not start" >&2
  exit 1
}
start old "$OLD"
old_port=$STARTED_PORT
start new "$NEW" "$@"
new_port=$STARTED_PORT
for port in "$old_port" "$new_port"; do
  "$S3LOAD" mkbucket -endpoint "http://127.0.0.1:$port" -ak "$AK" -sk "$SK"
  "$S3LOAD" fill -endpoint "http://127.0.0.1:$port" -ak "$AK" -sk "$SK" -size "$SIZE" -objects "$OBJECTS" -c 16 > /dev/null
done
run() { # op port -> ops/s
  "$S3LOAD" "$1" -endpoint "http://127.0.0.1:$2" -ak "$AK" -sk "$SK" -size "$SIZE" -objects "$OBJECTS" \
    -c "$CONC" -duration "$DURATION" | grep -o '"ops_per_s":[0-9.]*' | head -1 | cut -d: -f2
}
declare -A results
for op in $OPS; do
  for rep in $(seq "$REPS"); do
    for side in old new; do
      port=$old_port
      [ "$side" = new ] && port=$new_port
      sync
      sleep "${PAUSE:-0}"
      v=$(run "$op" "$port")
      results[$op-$side]+="$v "
      echo "$op rep $rep $side: $v ops/s"
    done
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for op in $OPS; do
  o=$(echo "${results[$op-old]}" | median) n=$(echo "${results[$op-new]}" | median)
  echo "$op size=$SIZE c=$CONC median ops/s: old $o, new $n, new/old $(awk -v a="$n" -v b="$o" 'BEGIN {printf "%.3f", a/b}')"
done
