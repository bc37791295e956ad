#!/usr/bin/env bash
# Installs the real S3 clients used by tests/python/test_clients_*.py:
#   * Debian packages awscli (v2), rclone, s3cmd   (apt-get, when root)
#   * s3cmd from PyPI into the venv                 (fallback without apt)
#   * MinIO mc, pinned, built with the local Go     (go install into a cache dir)
# Idempotent and quick when everything is already there. A tool that cannot be
# installed is reported, and its tests skip with the reason; exit 0 unless
# SMARTSTORAGE_CLIENTS_STRICT=1 (then exit 1 if any tool is missing).
#
# Env: SMARTSTORAGE_CLIENTS_BIN (default ~/.cache/smartstorage-clients/bin),
#      SMARTSTORAGE_MC_VERSION (Go module version of github.com/minio/mc),
#      SMARTSTORAGE_CLIENTS_NO_MC=1 (do not build mc: its tests skip).
# The first mc build downloads ~100 modules from the Go proxy and compiles for
# 2-4 minutes on 2 cores; later runs find the binary (and its version stamp).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV_PY="$HERE/.venv/bin/python"
BIN="${SMARTSTORAGE_CLIENTS_BIN:-$HOME/.cache/smartstorage-clients/bin}"
# newest module version of github.com/minio/mc served by the Go proxy when this
# was written (mc has no semver tags; this is the pseudo-version of the
# 2025-03-13 master commit). Needs Go >= 1.23; builds with the local Go.
MC_VERSION="${SMARTSTORAGE_MC_VERSION:-v0.0.0-20250313080218-cf909e1063a9}"
S3CMD_PIP_VERSION="2.4.0"

log() { echo "[install_clients] $*" >&2; }
missing=()

# --- Debian packages -------------------------------------------------------
want_apt=()
[ -x /usr/bin/aws ] || want_apt+=(awscli)
command -v rclone >/dev/null 2>&1 || want_apt+=(rclone)
command -v s3cmd >/dev/null 2>&1 || want_apt+=(s3cmd)
if [ ${#want_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${want_apt[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want_apt[@]}" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want_apt[@]}" >/dev/null 2>&1 \
        || log "apt-get install ${want_apt[*]} failed"
    fi
  else
    log "not root or no apt-get: cannot install ${want_apt[*]} from Debian"
  fi
fi

# s3cmd from PyPI when Debian's is not there
if ! command -v s3cmd >/dev/null 2>&1 && [ -x "$VENV_PY" ]; then
  log "pip install s3cmd==$S3CMD_PIP_VERSION into the venv"
  "$VENV_PY" -m pip install -q --disable-pip-version-check "s3cmd==$S3CMD_PIP_VERSION" >/dev/null 2>&1 \
    || log "pip install s3cmd failed"
fi

[ -x /usr/bin/aws ] || log "Debian awscli missing: the client tests use the venv's pip awscli (v1) instead"
command -v rclone >/dev/null 2>&1 || { [ -x "$HERE/.venv/bin/rclone" ] || missing+=(rclone); }
command -v s3cmd >/dev/null 2>&1 || { [ -x "$HERE/.venv/bin/s3cmd" ] || missing+=(s3cmd); }

# --- MinIO mc ------------------------------------------------------------------
mkdir -p "$BIN"
if [ -x "$BIN/mc" ] && [ "$(cat "$BIN/mc.version" 2>/dev/null)" = "$MC_VERSION" ]; then
  :
elif [ "${SMARTSTORAGE_CLIENTS_NO_MC:-0}" = "1" ]; then
  log "SMARTSTORAGE_CLIENTS_NO_MC=1: not building mc"
  missing+=(mc)
elif ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain: cannot build mc"
  missing+=(mc)
else
  log "building github.com/minio/mc@$MC_VERSION with $(go version | cut -d' ' -f3) (a few minutes the first time)"
  rm -f "$BIN/mc" "$BIN/mc.version"
  if GOTOOLCHAIN=local GOBIN="$BIN" go install "github.com/minio/mc@$MC_VERSION" >"$BIN/mc.build.log" 2>&1; then
    echo "$MC_VERSION" > "$BIN/mc.version"
  else
    log "go install github.com/minio/mc@$MC_VERSION failed (see $BIN/mc.build.log):"
    tail -5 "$BIN/mc.build.log" >&2
    missing+=(mc)
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  log "missing: ${missing[*]} (their tests will skip)"
  [ "${SMARTSTORAGE_CLIENTS_STRICT:-0}" = "1" ] && exit 1
fi
exit 0
