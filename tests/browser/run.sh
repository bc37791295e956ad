#!/usr/bin/env bash
# Browser test: headless Chromium (Debian package `chromium`) driven by
# playwright-core against an auth-enabled engine. Installs chromium with apt if
# it is missing and we are root; skips (exit 0) only if chromium cannot be had.
#   tests/browser/run.sh            # npm ci + node --test (upload + console)
# Env: SMARTSTORAGE_BINARY (engine), CHROMIUM_PATH (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CHROMIUM_PATH="$CHROMIUM"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium not found at $CHROMIUM; installing the Debian package with apt-get" >&2
    (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) >&2 || true
  fi
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: tests/browser: chromium is not available at $CHROMIUM and could not be installed (needs root + apt-get); browser test not run"
  exit 0
fi

# playwright-core drives the system chromium; never download its own browsers
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund
exec node --test upload.test.mjs console.test.mjs
