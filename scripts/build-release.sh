#!/usr/bin/env bash
# Build release binaries of ruststorage per target into bin/ruststorage-<os>-<arch>
# (the names the binary lookup chain expects), and optionally the per-platform
# npm packages (npm/<name>/) whose version comes from the root package.json.
#
#   scripts/build-release.sh [--npm-packages] [target...]
#
# Default targets: x86_64-unknown-linux-gnu and aarch64-unknown-linux-gnu.
# The host target is built natively. Other targets need a cross toolchain:
# `cargo zigbuild` (cargo-zigbuild + zig) or `cross` (needs Docker/Podman), plus
# the Rust standard library for that target (`rustup target add <target>`).
# When none of that is available the target is skipped with the reason.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NPM_PACKAGES=0
TARGETS=()
for arg in "$@"; do
  case "$arg" in
    --npm-packages) NPM_PACKAGES=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) TARGETS+=("$arg") ;;
  esac
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)

HOST="$(rustc -vV | sed -n 's/^host: //p')"
VERSION="$(node -p 'require("./package.json").version')"
mkdir -p bin
BUILT=()
SKIPPED=()

# Rust target triple -> Node's <platform>-<arch> key.
platform_key() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64 ;;
    aarch64-unknown-linux-gnu) echo linux-arm64 ;;
    x86_64-apple-darwin) echo darwin-x64 ;;
    aarch64-apple-darwin) echo darwin-arm64 ;;
    x86_64-pc-windows-msvc) echo win32-x64 ;;
    *) echo "" ;;
  esac
}

has_std_for() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

for target in "${TARGETS[@]}"; do
  key="$(platform_key "$target")"
  if [ -z "$key" ]; then SKIPPED+=("$target: unknown target (add it to platform_key)"); continue; fi
  exe=""; [[ "$target" == *windows* ]] && exe=".exe"
  echo "==> $target -> bin/ruststorage-$key$exe"
  if [ "$target" = "$HOST" ]; then
    cmd=(cargo build --release --manifest-path rust/Cargo.toml --target "$target")
  elif cargo zigbuild --version >/dev/null 2>&1 && command -v zig >/dev/null 2>&1; then
    if ! has_std_for "$target"; then
      SKIPPED+=("$target: cargo-zigbuild is here, but the Rust std for $target is not installed (rustup target add $target)")
      continue
    fi
    cmd=(cargo zigbuild --release --manifest-path rust/Cargo.toml --target "$target")
  elif command -v cross >/dev/null 2>&1 && { command -v docker >/dev/null 2>&1 || command -v podman >/dev/null 2>&1; }; then
    cmd=(cross build --release --manifest-path rust/Cargo.toml --target "$target")
  else
    SKIPPED+=("$target: this machine cannot cross-compile it: no 'cargo zigbuild' (+ zig) and no 'cross' (+ Docker/Podman); a plain cargo build would need a $target linker and the Rust std for $target")
    continue
  fi
  if "${cmd[@]}"; then
    cp "rust/target/$target/release/ruststorage$exe" "bin/ruststorage-$key$exe"
    chmod +x "bin/ruststorage-$key$exe"
    BUILT+=("bin/ruststorage-$key$exe")
    if [ "$NPM_PACKAGES" = "1" ]; then
      os="${key%-*}"; cpu="${key#*-}"
      libc=""; [[ "$target" == *linux-gnu ]] && libc=$'\n  "libc": ["glibc"],'
      dir="npm/@push.rocks/smartstorage-$key"
      mkdir -p "$dir/bin"
      cp "bin/ruststorage-$key$exe" "$dir/bin/ruststorage$exe"
      cat > "$dir/package.json" <<JSON
{
  "name": "@push.rocks/smartstorage-$key",
  "version": "$VERSION",
  "description": "The ruststorage engine of @push.rocks/smartstorage for $key.",
  "license": "MIT",
  "os": ["$os"],
  "cpu": ["$cpu"],$libc
  "files": ["bin/"],
  "preferUnplugged": true
}
JSON
      BUILT+=("$dir/")
    fi
  else
    SKIPPED+=("$target: build failed")
  fi
done

echo
echo "built:";   printf '  %s\n' "${BUILT[@]:-(nothing)}"
echo "skipped:"; printf '  %s\n' "${SKIPPED[@]:-(nothing)}"
[ ${#BUILT[@]} -gt 0 ]
