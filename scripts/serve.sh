#!/usr/bin/env bash
# Start a smartstorage server on a local folder, building what it needs first.
#   scripts/serve.sh [smartstorage flags...]
# Serves the CLI's default folder ./.nogit/smartstorage on port 3000 (README,
# "Defaults"); PORT and DIRECTORY env override them, later flags win. Prints the
# endpoint and credentials; Ctrl-C stops it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[serve] $*" >&2; }

# 1. JavaScript dependencies (typescript) if missing.
if [ ! -x node_modules/.bin/tsc ]; then
  log "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >&2; else npm install --no-audit --no-fund >&2; fi
fi

# 2. The engine (incremental: quick when nothing changed), unless one is given.
#    Point at it explicitly, so that a prebuilt bin/ruststorage-<os>-<arch> left
#    by scripts/build-release.sh cannot shadow the fresh build.
if [ -z "${SMARTSTORAGE_BINARY:-}" ]; then
  log "building the engine (cargo build --release)"
  cargo build --release --manifest-path rust/Cargo.toml >&2
  export SMARTSTORAGE_BINARY="$ROOT/rust/target/release/ruststorage"
fi

# 3. The TypeScript -> JavaScript build for Node.
log "compiling TypeScript (tsc)"
node_modules/.bin/tsc -p tsconfig.json

ARGS=()
if [ -n "${DIRECTORY:-}" ]; then ARGS+=(--directory "$DIRECTORY"); fi
if [ -n "${PORT:-}" ]; then ARGS+=(--port "$PORT"); fi
exec node dist/bin/smartstorage.js ${ARGS[@]+"${ARGS[@]}"} "$@"
