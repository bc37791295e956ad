#!/usr/bin/env bash
# Self-contained runner for the S3 conformance suite.
#   tests/python/run.sh [pytest args...]
# Creates tests/python/.venv if missing, installs requirements.txt (boto3,
# requests, pytest, awscli from pip), builds the engine if its binary is
# missing, then runs pytest. Exit code = pytest's.
# Env: SMARTSTORAGE_BINARY (engine binary), SMARTSTORAGE_BUILD=1 (force cargo
# build), SMARTSTORAGE_SKIP_STREAMING=1 (skip the 1 GiB test).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

log() { echo "[run.sh] $*" >&2; }

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$VENV"
  log "creating venv in $VENV"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      log "python3 venv module missing: installing python3-venv"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      PY=/usr/bin/python3
    fi
    "$PY" -m venv "$VENV" || { log "cannot create a venv"; exit 2; }
  fi
fi

REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  log "installing requirements"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" || { log "pip install failed"; exit 2; }
  echo "$WANT" > "$STAMP"
fi

BIN="${SMARTSTORAGE_BINARY:-$ROOT/rust/target/release/ruststorage}"
if [ -z "${SMARTSTORAGE_TEST_ENDPOINT:-}" ]; then
  if [ ! -x "$BIN" ] || [ "${SMARTSTORAGE_BUILD:-0}" = "1" ]; then
    if [ -n "${SMARTSTORAGE_BINARY:-}" ] && [ "${SMARTSTORAGE_BUILD:-0}" != "1" ]; then
      log "SMARTSTORAGE_BINARY=$BIN does not exist"; exit 2
    fi
    log "building the engine (cargo build --release)"
    cargo build --release --manifest-path "$ROOT/rust/Cargo.toml" || { log "cargo build failed"; exit 2; }
  fi
  export SMARTSTORAGE_BINARY="$BIN"
fi

# Real S3 clients (awscli, rclone, s3cmd, mc): a missing tool makes its tests skip.
"$HERE/install_clients.sh" || log "install_clients.sh failed: the client tests will skip"

cd "$HERE"
"$VENV/bin/python" -m pytest -q -rfE "$@"
exit $?
