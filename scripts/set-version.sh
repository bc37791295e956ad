#!/usr/bin/env bash
# The package and the engine share one version; the host refuses an engine of
# another version (README, "Versions"). This sets it everywhere:
#   scripts/set-version.sh 0.2.0   # package.json, package-lock.json, deno.json,
#                                  # rust/Cargo.toml, rust/Cargo.lock, src/version.ts
#   scripts/set-version.sh         # only regenerates src/version.ts from package.json
# tests/version.test.ts checks that all of them agree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ $# -gt 0 ]; then
  VERSION="$1"
  if ! [[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "set-version: not a semantic version: $VERSION" >&2
    exit 2
  fi
  VERSION="$VERSION" node -e '
    const fs = require("node:fs");
    const version = process.env.VERSION;
    const edit = (file, change) => {
      const json = JSON.parse(fs.readFileSync(file, "utf8"));
      change(json);
      fs.writeFileSync(file, JSON.stringify(json, null, 2) + "\n");
    };
    edit("package.json", (j) => { j.version = version; });
    edit("deno.json", (j) => { j.version = version; });
    if (fs.existsSync("package-lock.json")) {
      edit("package-lock.json", (j) => { j.version = version; if (j.packages?.[""]) j.packages[""].version = version; });
    }
    // The first version line of Cargo.toml is the [package] one.
    const toml = fs.readFileSync("rust/Cargo.toml", "utf8");
    fs.writeFileSync("rust/Cargo.toml", toml.replace(/^version = ".*"$/m, `version = "${version}"`));
    const lock = "rust/Cargo.lock";
    if (fs.existsSync(lock)) {
      const text = fs.readFileSync(lock, "utf8");
      fs.writeFileSync(lock, text.replace(/(name = "ruststorage"\nversion = )".*"/, `$1"${version}"`));
    }
  '
fi

VERSION="$(node -p 'require("./package.json").version')"
cat > src/version.ts <<TS
/**
 * The version of this package, and so of the engine it runs. Generated from
 * package.json by scripts/set-version.sh; tests/version.test.ts checks that it,
 * package.json, deno.json and rust/Cargo.toml agree.
 *
 * @module
 */

/** The package version; the engine's \`ready\` event must report the same. */
export const VERSION = "$VERSION";
TS
echo "version $VERSION"
