#!/usr/bin/env bash
# Bounded fuzzing of the engine. Two phases, each limited to FUZZ_SECONDS:
#
#  1. in-process (libFuzzer, needs a nightly toolchain): rust/fuzz/fuzz_targets/*
#     run the engine's own code: keypath (key <-> file path mapping, its source
#     included by #[path]: confinement, round trip, no collisions) and, through
#     the engine library (rust/src/lib.rs), chunked (aws-chunked body decoder:
#     split-independence, bounded output, valid and signed encodings, tampering
#     refused), sigv2 (SigV2 string to sign and query parsing: only signed
#     sub-resources are signed, and all of them are), policy (bucket policy
#     parsing and evaluation, `*`/`?` matching against a regex reference). The
#     phase's FUZZ_SECONDS are shared between the targets (each gets an equal
#     part of what is left, at least 1 s). Skipped with a message when
#     `cargo +nightly` is missing.
#  2. over HTTP (python3, stdlib only): rust/fuzz/http/http_fuzz.py drives a fresh
#     release engine with generated hostile requests from a fixed seed and checks:
#     no 5xx (except 501), no hang, no crash, nothing outside the storage
#     directory read or changed.
#
# Exit status: 0 = no finding, 1 = a finding (the reproducer is printed and
# saved under rust/fuzz/artifacts/), 2 = could not run.
#
# Env: FUZZ_SECONDS (default 60, per phase), FUZZ_SEED (default 1),
#      FUZZ_TARGETS (default "keypath chunked sigv2 policy"), SMARTSTORAGE_BINARY (engine under test),
#      FUZZ_SKIP_LIBFUZZER=1 / FUZZ_SKIP_HTTP=1 to run one phase only.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/rust/fuzz"
SECONDS_PER_PHASE="${FUZZ_SECONDS:-60}"
SEED="${FUZZ_SEED:-1}"
TARGETS="${FUZZ_TARGETS:-keypath chunked sigv2 policy}"
BIN="${SMARTSTORAGE_BINARY:-$ROOT/rust/target/release/ruststorage}"
found=0

say() { printf '\n==> %s\n' "$*"; }

# ---- phase 1: libFuzzer targets ---------------------------------------------------
if [ "${FUZZ_SKIP_LIBFUZZER:-0}" = "1" ]; then
  say "libFuzzer phase skipped (FUZZ_SKIP_LIBFUZZER=1)"
elif ! cargo +nightly --version >/dev/null 2>&1; then
  say "libFuzzer phase skipped: no nightly toolchain (rustup toolchain install nightly)"
else
  HOST="$(rustc +nightly -vV | sed -n 's/^host: //p')"
  # what cargo-fuzz passes; --target keeps the flags off build scripts
  export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
  say "building fuzz targets ($TARGETS) with cargo +nightly"
  build_ok=1
  for t in $TARGETS; do
    if ! timeout 1200 cargo +nightly build --quiet --release --manifest-path "$FUZZ/Cargo.toml" --target "$HOST" --bin "$t"; then
      echo "fuzz target $t failed to build" >&2
      build_ok=0
    fi
  done
  unset RUSTFLAGS
  if [ "$build_ok" = "0" ]; then
    found=2
  else
    # The phase budget is shared: each target gets an equal part of the time
    # left (at least 1 s), so the fuzzing stays within FUZZ_SECONDS (building
    # aside; libFuzzer overruns -max_total_time by about a second per target).
    left_targets=$(wc -w <<<"$TARGETS")
    phase_end=$((SECONDS + SECONDS_PER_PHASE))
    for t in $TARGETS; do
      budget=$(((phase_end - SECONDS) / left_targets))
      [ "$budget" -lt 1 ] && budget=1
      left_targets=$((left_targets - 1))
      exe="$FUZZ/target/$HOST/release/$t"
      work="$(mktemp -d)"
      mkdir -p "$FUZZ/artifacts/$t"
      say "libFuzzer: $t for ${budget}s (seed $SEED)"
      timeout $((budget + 60)) "$exe" -max_total_time="$budget" -seed="$SEED" -max_len=2100 \
        -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$t/" "$work" "$FUZZ/corpus/$t" 2>"$work.log"
      rc=$?
      grep -E '^(Done|stat::number_of_executed_units|#[0-9]+ +DONE)' "$work.log" | tail -2
      if [ "$rc" -ne 0 ]; then
        found=1
        tail -40 "$work.log"
        art="$(ls -t "$FUZZ/artifacts/$t/" 2>/dev/null | head -1)"
        echo "FINDING in $t (exit $rc). Reproduce: $exe $FUZZ/artifacts/$t/$art"
      fi
      rm -rf "$work" "$work.log"
    done
  fi
fi

# ---- phase 2: HTTP fuzzing of the release binary -----------------------------------
if [ "${FUZZ_SKIP_HTTP:-0}" = "1" ]; then
  say "HTTP phase skipped (FUZZ_SKIP_HTTP=1)"
else
  if [ ! -x "$BIN" ]; then
    say "engine binary missing: cargo build --release"
    cargo build --release --manifest-path "$ROOT/rust/Cargo.toml" || { echo "cannot build the engine" >&2; exit 2; }
  fi
  say "HTTP fuzzing $BIN for ${SECONDS_PER_PHASE}s (seed $SEED)"
  timeout $((SECONDS_PER_PHASE + 120)) python3 "$FUZZ/http/http_fuzz.py" --seconds "$SECONDS_PER_PHASE" --seed "$SEED" --binary "$BIN"
  rc=$?
  if [ "$rc" -eq 1 ]; then found=1; elif [ "$rc" -ne 0 ]; then [ "$found" = "0" ] && found=2; fi
fi

if [ "$found" = "0" ]; then echo "fuzz: no finding"; else echo "fuzz: exit $found"; fi
exit "$found"
