// What `npm pack` of the repository root ships, checked from a copy of the sources
// with no dist/ (as a fresh clone has): prepack compiles it, and the tarball holds
// the compiled JavaScript, its types, README and LICENSE, and nothing from tests.
// Also the registry page: package.json's links, and a README whose links work there.
//
// Run by scripts/test.sh (stage "package"): node --test tests/package/pack.test.mjs

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, symlinkSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const REPOSITORY = "https://code.foss.global/push.rocks/smartstorage";

/** A copy of what npm pack reads, without dist/ (node_modules linked for tsc). */
function copySources(into) {
  for (const entry of ["package.json", "tsconfig.json", "tsconfig.build.json", "mod.ts", "src", "bin", "README.md", "LICENSE", "scripts", "tests"]) {
    cpSync(join(repo, entry), join(into, entry), {
      recursive: true,
      filter: (src) => !/(^|\/)(node_modules|\.venv|__pycache__)$/.test(src),
    });
  }
  symlinkSync(join(repo, "node_modules"), join(into, "node_modules"));
}

function npmPack(cwd) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("npm_")) delete env[k];
  return spawnSync("npm", ["pack", "--dry-run", "--json"], { cwd, env, encoding: "utf8" });
}

describe("npm pack", () => {
  let work = "";

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "smartstorage-pack-"));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("builds dist/ in prepack and ships compiled JS, types, README and LICENSE, nothing from tests", { timeout: 180_000 }, () => {
    const dir = join(work, "fresh");
    copySources(dir);
    assert.equal(existsSync(join(dir, "dist")), false);
    const result = npmPack(dir);
    assert.equal(result.status, 0, result.stderr);
    const [report] = JSON.parse(result.stdout);
    const files = report.files.map((f) => f.path).sort();
    for (const expected of [
      "package.json",
      "README.md",
      "LICENSE",
      "dist/mod.js",
      "dist/mod.d.ts",
      "dist/src/smart_storage.js",
      "dist/src/smart_storage.d.ts",
      "dist/src/binary.js",
      "dist/src/testing.js",
      "dist/src/testing.d.ts",
      "dist/bin/smartstorage.js",
    ]) {
      assert.ok(files.includes(expected), `ships ${expected}; files: ${files.join(", ")}`);
    }
    // Everything the package's exports and bin point at is in it.
    for (const path of [pkg.main, pkg.types, pkg.exports["."].default, pkg.exports["."].types, pkg.exports["./testing"].default, pkg.exports["./testing"].types, ...Object.values(pkg.bin)]) {
      assert.ok(files.includes(path.replace(/^\.\//, "")), `ships ${path}`);
    }
    const unwanted = files.filter((f) => /(^|\/)tests?\//.test(f) || f.startsWith("rust/") || f.startsWith("scripts/") || /\.ts$/.test(f) && !f.endsWith(".d.ts") || f.includes("ruststorage"));
    assert.deepEqual(unwanted, [], "no tests, sources, scripts or binaries");
    assert.ok(report.size < 500_000, `the tarball is small (${report.size} bytes)`);
  });

  it("refuses to pack when the TypeScript does not compile", { timeout: 180_000 }, async () => {
    const dir = join(work, "broken");
    copySources(dir);
    await writeFile(join(dir, "src", "version.ts"), 'export const VERSION: number = "not a number";\n');
    const result = npmPack(dir);
    assert.notEqual(result.status, 0, "npm pack fails");
    assert.match(result.stdout + result.stderr, /TS2322/);
  });

  it("package.json points to the repository, its home page and its issues", () => {
    assert.equal(pkg.repository?.url, `git+${REPOSITORY}.git`);
    assert.equal(pkg.homepage, REPOSITORY);
    assert.equal(pkg.bugs?.url, `${REPOSITORY}/issues`);
    assert.equal(pkg.license, "MIT");
    assert.match(readFileSync(join(repo, "LICENSE"), "utf8"), /^MIT License\n\nCopyright \(c\) \d{4} Task Venture Capital GmbH and the smartstorage contributors/);
  });

  it("the README's links work on the registry page: absolute, or anchors of its own headings", () => {
    const readme = readFileSync(join(repo, "README.md"), "utf8");
    const slugs = new Set(
      [...readme.matchAll(/^#{1,6} (.+)$/gm)].map(([, title]) =>
        title.toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-")
      ),
    );
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target);
    assert.ok(links.length > 5, "the README has links");
    for (const target of links) {
      if (target.startsWith("#")) {
        assert.ok(slugs.has(target.slice(1)), `anchor ${target} is a heading of the README`);
      } else {
        assert.match(target, /^https:\/\//, `link ${target} is absolute`);
      }
    }
  });

  it("the repository root refuses npm publish (the staged package in npm/ is the one to publish)", { timeout: 60_000 }, () => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("npm_")) delete env[k];
    const result = spawnSync("npm", ["run", "prepublishOnly"], { cwd: repo, env, encoding: "utf8" });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /do not publish the repository root/);
  });
});
