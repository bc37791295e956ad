#!/usr/bin/env bash
# Build release binaries of ruststorage per target into bin/ruststorage-<key>
# (the names the binary lookup chain expects), and with --npm-packages the npm
# packages to publish, esbuild's way:
#
#   npm/@push.rocks/smartstorage-<key>/   one per built platform: the binary, os/cpu/libc
#   npm/@push.rocks/smartstorage/         the main package (npm pack of the repository root,
#                                         prepack = tsc) plus exact-version optionalDependencies
#                                         on every platform package in PUBLISHED_PLATFORMS
#   npm/*.tgz                             their tarballs (npm pack)
#
#   scripts/build-release.sh [--npm-packages] [--host] [target...]
#
# Default targets: x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu,
# x86_64-unknown-linux-musl, aarch64-unknown-linux-musl (keys linux-x64, linux-arm64,
# linux-x64-musl, linux-arm64-musl). x86_64-pc-windows-gnu (win32-x64) can be asked
# for, but does not build yet: the engine uses Unix-only file APIs.
#
# --host  only this machine's target, with a plain `cargo build --release` (so it reuses
#         rust/target/release/ruststorage, e.g. in CI); linked against this machine's glibc.
#
# The binaries to publish are built with the `dist` profile of rust/Cargo.toml (release
# with fat LTO and one codegen unit): faster per request, slower to build.
#
# Every other build goes through `cargo zigbuild` (zig as the C compiler and linker for
# ring and AWS-LC, whose MD5 the engine uses): glibc targets are pinned to glibc 2.17, musl targets are
# static. Missing tools are set up on first use: zig and cargo-zigbuild from PyPI into
# .nogit/cross-venv, and the Rust std of each target with `rustup target add`.
# A target that cannot be built is skipped with the reason; the exit status is non-zero
# only when nothing was built. Where qemu-user-static is installed, foreign binaries
# are smoke-tested with --version.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NPM_PACKAGES=0
HOST_ONLY=0
TARGETS=()
for arg in "$@"; do
  case "$arg" in
    --npm-packages) NPM_PACKAGES=1 ;;
    --host) HOST_ONLY=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "build-release: unknown option $arg" >&2; exit 2 ;;
    *) TARGETS+=("$arg") ;;
  esac
done
HOST="$(rustc -vV | sed -n 's/^host: //p')"
if [ "$HOST_ONLY" = "1" ]; then
  TARGETS=("$HOST")
elif [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
fi

VERSION="$(node -p 'require("./package.json").version')"
GLIBC="2.17"
CROSS_VENV="$ROOT/.nogit/cross-venv"
mkdir -p bin
BUILT=()
SKIPPED=()

# Rust target triple -> the platform key of the lookup chain (src/binary.ts).
platform_key() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64 ;;
    aarch64-unknown-linux-gnu) echo linux-arm64 ;;
    x86_64-unknown-linux-musl) echo linux-x64-musl ;;
    aarch64-unknown-linux-musl) echo linux-arm64-musl ;;
    x86_64-apple-darwin) echo darwin-x64 ;;
    aarch64-apple-darwin) echo darwin-arm64 ;;
    x86_64-pc-windows-gnu|x86_64-pc-windows-msvc) echo win32-x64 ;;
    *) echo "" ;;
  esac
}

# zig + cargo-zigbuild: on PATH already, or from PyPI into .nogit/cross-venv.
ZIG_READY=""
ensure_zigbuild() {
  [ -n "$ZIG_READY" ] && return "$ZIG_READY"
  if [ -x "$CROSS_VENV/bin/cargo-zigbuild" ]; then export PATH="$CROSS_VENV/bin:$PATH"; fi
  if ! cargo-zigbuild --version >/dev/null 2>&1; then
    echo "==> setting up zig and cargo-zigbuild (pip, into .nogit/cross-venv)"
    if python3 -m venv "$CROSS_VENV" && "$CROSS_VENV/bin/pip" install -q ziglang cargo-zigbuild; then
      export PATH="$CROSS_VENV/bin:$PATH"
    fi
  fi
  # cargo-zigbuild finds zig on PATH or as `python3 -m ziglang` (the venv's python3).
  if cargo-zigbuild --version >/dev/null 2>&1 && { command -v zig >/dev/null 2>&1 || python3 -c 'import ziglang' 2>/dev/null; }; then
    ZIG_READY=0
  else
    ZIG_READY=1
  fi
  return "$ZIG_READY"
}

ensure_std() {
  rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
  echo "==> rustup target add $1"
  rustup target add "$1"
}

# smoke_test TARGET BINARY: run --version where this machine can (natively or with qemu).
smoke_test() {
  local target="$1" binary="$2" out=""
  case "$target" in
    x86_64-unknown-linux-*) out="$("$binary" --version 2>&1)" ;;
    aarch64-unknown-linux-musl) command -v qemu-aarch64-static >/dev/null && out="$(qemu-aarch64-static "$binary" --version 2>&1)" ;;
    aarch64-unknown-linux-gnu)
      command -v qemu-aarch64-static >/dev/null && [ -d /usr/aarch64-linux-gnu ] &&
        out="$(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$binary" --version 2>&1)" ;;
  esac
  if [ -z "$out" ]; then echo "   (not run here: no way to execute $target)"; return 0; fi
  echo "   $out"
  [ "$out" = "ruststorage $VERSION" ]
}

for target in "${TARGETS[@]}"; do
  key="$(platform_key "$target")"
  if [ -z "$key" ]; then SKIPPED+=("$target: unknown target (add it to platform_key)"); continue; fi
  exe=""; [[ "$target" == *windows* ]] && exe=".exe"
  echo "==> $target -> bin/ruststorage-$key$exe"
  if [ "$target" = "$HOST" ] && [ "$HOST_ONLY" = "1" ]; then
    cmd=(cargo build --release --manifest-path rust/Cargo.toml)
    out="rust/target/release/ruststorage$exe"
  else
    if ! ensure_zigbuild; then
      SKIPPED+=("$target: no cargo-zigbuild + zig (pip install ziglang cargo-zigbuild failed)")
      continue
    fi
    if ! ensure_std "$target"; then
      SKIPPED+=("$target: the Rust std for it could not be installed (rustup target add $target)")
      continue
    fi
    zig_target="$target"; [[ "$target" == *linux-gnu ]] && zig_target="$target.$GLIBC"
    cmd=(cargo zigbuild --profile dist --manifest-path rust/Cargo.toml --target "$zig_target")
    out="rust/target/$target/dist/ruststorage$exe"
  fi
  log=".nogit/build-release-$target.log"
  mkdir -p .nogit
  if "${cmd[@]}" 2>&1 | tee "$log" | grep -E '^(error|warning: unused)|Finished' ; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    cp "$out" "bin/ruststorage-$key$exe"
    chmod +x "bin/ruststorage-$key$exe"
    # The host build keeps its symbols; the package does not need them (zig strips its own).
    if [ "$target" = "$HOST" ] && command -v strip >/dev/null 2>&1; then strip "bin/ruststorage-$key$exe"; fi
    if ! smoke_test "$target" "bin/ruststorage-$key$exe"; then
      SKIPPED+=("$target: built, but bin/ruststorage-$key$exe --version does not say ruststorage $VERSION")
      continue
    fi
    BUILT+=("bin/ruststorage-$key$exe")
  else
    reason="$(grep -m1 -E '^error' "$log" || tail -1 "$log")"
    SKIPPED+=("$target: build failed: $reason (log: $log)")
  fi
done

if [ "$NPM_PACKAGES" = "1" ]; then
  rm -rf npm
  mkdir -p npm/@push.rocks
  for binary in "${BUILT[@]}"; do
    name="$(basename "$binary")"; name="${name#ruststorage-}"; key="${name%.exe}"
    exe=""; [[ "$name" == *.exe ]] && exe=".exe"
    IFS=- read -r os cpu libc <<<"$key"
    libc_field=""
    if [ "$os" = "linux" ]; then
      if [ "$libc" = "musl" ]; then libc_field=$'\n  "libc": ["musl"],'; else libc_field=$'\n  "libc": ["glibc"],'; fi
    fi
    dir="npm/@push.rocks/smartstorage-$key"
    mkdir -p "$dir/bin"
    cp "$binary" "$dir/bin/ruststorage$exe"
    cp LICENSE "$dir/"
    cat > "$dir/package.json" <<JSON
{
  "name": "@push.rocks/smartstorage-$key",
  "version": "$VERSION",
  "description": "The ruststorage engine of @push.rocks/smartstorage for $key.",
  "license": "MIT",
  "repository": { "type": "git", "url": "git+https://code.foss.global/push.rocks/smartstorage.git" },
  "homepage": "https://code.foss.global/push.rocks/smartstorage",
  "os": ["$os"],
  "cpu": ["$cpu"],$libc_field
  "type": "module",
  "exports": { ".": { "types": "./index.d.ts", "default": "./index.js" }, "./package.json": "./package.json" },
  "files": ["bin/", "index.js", "index.d.ts"],
  "preferUnplugged": true
}
JSON
    cat > "$dir/index.js" <<JS
import { fileURLToPath } from "node:url";

/** Absolute path of the ruststorage engine in this package. */
export const binaryPath = fileURLToPath(new URL("./bin/ruststorage$exe", import.meta.url));
export default binaryPath;
JS
    cat > "$dir/index.d.ts" <<'TS'
/** Absolute path of the ruststorage engine in this package. */
export declare const binaryPath: string;
export default binaryPath;
TS
    cat > "$dir/README.md" <<MD
# @push.rocks/smartstorage-$key

The \`ruststorage\` engine of [@push.rocks/smartstorage](https://www.npmjs.com/package/@push.rocks/smartstorage)
for $key, version $VERSION. Install \`@push.rocks/smartstorage\`, not this package: it is one of
its optional dependencies, and npm picks the one for your platform.
MD
    echo "==> $dir"
  done

  # The main package: what \`npm pack\` of the root ships (prepack compiles it), plus
  # the optionalDependencies. The root itself refuses to be published (prepublishOnly).
  echo "==> npm/@push.rocks/smartstorage (npm pack of the root)"
  main="npm/@push.rocks/smartstorage"
  mkdir -p "$main"
  tarball="$(npm pack --silent --pack-destination npm 2>/dev/null | tail -1)"
  if [ -z "$tarball" ] || [ ! -f "npm/$tarball" ]; then
    echo "build-release: npm pack of the root failed" >&2; exit 1
  fi
  tar -xzf "npm/$tarball" -C "$main" --strip-components=1
  rm "npm/$tarball"
  node --input-type=module -e '
    import { readFileSync, writeFileSync } from "node:fs";
    const { PUBLISHED_PLATFORMS } = await import(process.cwd() + "/dist/src/binary.js");
    const file = process.argv[1] + "/package.json";
    const pkg = JSON.parse(readFileSync(file, "utf8"));
    pkg.optionalDependencies = Object.fromEntries(
      PUBLISHED_PLATFORMS.map((key) => [`@push.rocks/smartstorage-${key}`, pkg.version]));
    delete pkg.scripts; delete pkg.devDependencies;
    writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
    console.log("   optionalDependencies: " + Object.keys(pkg.optionalDependencies).join(", "));
  ' "$main" || exit 1
  MISSING=()
  for key in $(node --input-type=module -e 'const m = await import(process.cwd() + "/dist/src/binary.js"); console.log(m.PUBLISHED_PLATFORMS.join(" "))'); do
    [ -d "npm/@push.rocks/smartstorage-$key" ] || MISSING+=("$key")
  done
  for dir in npm/@push.rocks/*/; do
    (cd npm && npm pack --silent "../$dir" >/dev/null) || { echo "build-release: npm pack $dir failed" >&2; exit 1; }
  done
  echo
  echo "npm packages (publish the platform packages first, the main package last):"
  for t in npm/*.tgz; do printf '  %-60s %s\n' "$t" "$(du -h "$t" | cut -f1)"; done
  if [ ${#MISSING[@]} -gt 0 ]; then
    echo "not built here, though the main package lists them: ${MISSING[*]} (a release needs them all)"
  fi
fi

echo
echo "built:";   printf '  %s\n' "${BUILT[@]:-(nothing)}"
echo "skipped:"; printf '  %s\n' "${SKIPPED[@]:-(nothing)}"
[ ${#BUILT[@]} -gt 0 ]
