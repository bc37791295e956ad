#!/usr/bin/env bash
# Bounded fuzzing of the engine. Two phases, each limited to FUZZ_SECONDS:
#
#  1. in-process (libFuzzer, needs a nightly toolchain): rust/fuzz/fuzz_targets/*
#     fuzz the engine's own source files (included by #[path]; rust/src is not
#     touched) -- today the key <-> file path mapping (confinement, round trip,
#     no collisions). Skipped with a message when `cargo +nightly` is missing.
#  2. over HTTP (python3, stdlib only): rust/fuzz/http/http_fuzz.py drives a fresh
#     release engine with generated hostile requests from a fixed seed and checks:
#     no 5xx (except 501), no hang, no crash, nothing outside the storage
#     directory read or changed.
#
# Exit status: 0 = no finding, 1 = a finding (the reproducer is printed and
# saved under rust/fuzz/artifacts/), 2 = could not run.
#
# Env: FUZZ_SECONDS (default 60, per phase), FUZZ_SEED (default 1),
#      FUZZ_TARGETS (default "keypath"), SMARTSTORAGE_BINARY (engine under test),
#      FUZZ_SKIP_LIBFUZZER=1 / FUZZ_SKIP_HTTP=1 to run one phase only.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/rust/fuzz"
SECONDS_PER_PHASE="${FUZZ_SECONDS:-60}"
SEED="${FUZZ_SEED:-1}"
TARGETS="${FUZZ_TARGETS:-keypath}"
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
    for t in $TARGETS; do
      exe="$FUZZ/target/$HOST/release/$t"
      work="$(mktemp -d)"
      mkdir -p "$FUZZ/artifacts/$t"
      say "libFuzzer: $t for ${SECONDS_PER_PHASE}s (seed $SEED)"
      timeout $((SECONDS_PER_PHASE + 60)) "$exe" -max_total_time="$SECONDS_PER_PHASE" -seed="$SEED" -max_len=2100 \
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
