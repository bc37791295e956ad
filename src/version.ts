/**
 * The version of this package, and so of the engine it runs. Generated from
 * package.json by scripts/set-version.sh; tests/version.test.ts checks that it,
 * package.json, deno.json and rust/Cargo.toml agree.
 *
 * @module
 */

/** The package version; the engine's `ready` event must report the same. */
export const VERSION = "0.1.0";
