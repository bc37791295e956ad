/**
 * One version for the package and the engine: package.json, deno.json (the JSR manifest),
 * rust/Cargo.toml (and their lock files) and src/version.ts, which the host
 * compares with the engine's `ready` event. scripts/set-version.sh sets them all.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../src/version.ts";
import { describe, it } from "./harness.ts";
import { repoRoot } from "./helpers.ts";

const read = (...path: string[]) => readFileSync(join(repoRoot, ...path), "utf8");

describe("versions", () => {
  it("package.json, deno.json and package-lock.json have the version of src/version.ts", () => {
    assert.equal(JSON.parse(read("package.json")).version, VERSION, "package.json (scripts/set-version.sh regenerates src/version.ts)");
    assert.equal(JSON.parse(read("deno.json")).version, VERSION, "deno.json");
    const lock = JSON.parse(read("package-lock.json"));
    assert.equal(lock.version, VERSION, "package-lock.json");
    assert.equal(lock.packages?.[""]?.version, VERSION, "package-lock.json packages[\"\"]");
  });

  it("rust/Cargo.toml (the engine's CARGO_PKG_VERSION) and Cargo.lock have the same version", () => {
    const toml = read("rust", "Cargo.toml");
    const pkg = /^\[package\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml)?.[1] ?? "";
    assert.equal(/^version\s*=\s*"([^"]+)"/m.exec(pkg)?.[1], VERSION, "rust/Cargo.toml [package] version");
    const lock = read("rust", "Cargo.lock");
    assert.equal(/name = "ruststorage"\nversion = "([^"]+)"/.exec(lock)?.[1], VERSION, "rust/Cargo.lock");
  });
});
