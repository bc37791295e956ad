// The packages as a user meets them: a local npm registry (verdaccio, on loopback)
// gets the staged packages of scripts/build-release.sh --npm-packages (npm/), a
// fresh project installs @push.rocks/smartstorage from it (and @aws-sdk/client-s3
// from the default registry: only the @push.rocks scope goes to verdaccio), and the
// README's Node, Bun and Deno examples run verbatim, with no SMARTSTORAGE_BINARY.
// Then `npx smartstorage --version`, and the CLI started with npx and stopped with
// Ctrl-C (SIGINT to its process group).
//
// Run by scripts/test.sh (stage "registry") with Node's test runner:
//   node --test tests/package/registry.test.mjs
// Env: SMARTSTORAGE_RELEASE_DIR  the staged packages (default: <repo>/npm)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { stripVTControlCharacters } from "node:util";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const releaseDir = process.env.SMARTSTORAGE_RELEASE_DIR ?? join(repo, "npm");
const bin = (name) => join(repo, "node_modules", ".bin", name);
const version = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version;
const STEP_TIMEOUT = 180_000;

// The children get this process's environment without the engine override: the
// examples must find the engine the way a user's project does.
const userEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== "SMARTSTORAGE_BINARY" && !k.startsWith("npm_")),
);

/** Runs a command to its end; resolves with its output, rejects on a non-zero exit. */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: userEnv, ...options, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      // Without colours whatever the environment says (FORCE_COLOR=0 turns Deno's on).
      if (code === 0) resolve({ out: stripVTControlCharacters(out), err: stripVTControlCharacters(err) });
      else reject(new Error(`${command} ${args.join(" ")} exited with ${code ?? signal}\n--- stdout\n${out}\n--- stderr\n${err}`));
    });
  });
}

/** Spawns a long-running command; `waitFor(re)` resolves once its stdout matches. */
function start(command, args, options = {}) {
  const child = spawn(command, args, { env: userEnv, ...options, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(out);
      }
    }
  };
  child.stdout.on("data", (d) => {
    out += d;
    check();
  });
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  void exited.then(() => {
    for (const w of waiters.splice(0)) w.reject(new Error(`exited before ${w.re}\n--- stdout\n${out}\n--- stderr\n${err}`));
  });
  return {
    child,
    exited,
    output: () => ({ out, err }),
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms\n--- stdout\n${out}\n--- stderr\n${err}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        check();
      });
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The first fenced code block after the README heading `### <title>`. */
function readmeExample(title) {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const at = readme.indexOf(`\n### ${title}\n`);
  assert.ok(at >= 0, `README has a "### ${title}" section`);
  const block = /```(?:ts|js)\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, `README's "${title}" section has a code block`);
  return block[1];
}

describe("the packages through a real npm registry", () => {
  let work = "";
  let registry = "";
  let verdaccio;
  let project = "";

  before(async () => {
    for (const dir of ["smartstorage", `smartstorage-${platformKeyOfHost()}`]) {
      assert.ok(
        existsSync(join(releaseDir, "@push.rocks", dir, "package.json")),
        `${releaseDir}/@push.rocks/${dir} is staged (scripts/build-release.sh --host --npm-packages)`,
      );
    }
    work = await mkdtemp(join(tmpdir(), "smartstorage-registry-"));
    const port = await freePort();
    registry = `http://127.0.0.1:${port}/`;
    // No uplinks: @push.rocks packages exist only here, so nothing of that name
    // can come from anywhere else.
    await writeFile(
      join(work, "verdaccio.yaml"),
      [
        `storage: ${join(work, "storage")}`,
        "auth:",
        "  htpasswd:",
        `    file: ${join(work, "htpasswd")}`,
        "    max_users: 10",
        "packages:",
        "  '**':",
        "    access: $all",
        "    publish: $authenticated",
        "log: { type: stdout, format: pretty, level: warn }",
        // verdaccio's default (10mb) is below a publish of the engine package
        // (8 MB, base64 in the request); npmjs.org takes far larger ones.
        "max_body_size: 100mb",
        "",
      ].join("\n"),
    );
    verdaccio = start(process.execPath, [bin("verdaccio"), "--config", join(work, "verdaccio.yaml"), "--listen", `127.0.0.1:${port}`], {
      cwd: work,
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${registry}-/ping`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`verdaccio did not start\n${JSON.stringify(verdaccio.output())}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // A publisher account, as `npm adduser` would make it.
    const res = await fetch(`${registry}-/user/org.couchdb.user:ci`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "ci", password: "ci-password-1", type: "user", roles: [] }),
    });
    const body = await res.text();
    assert.ok(res.ok, `adduser: ${res.status} ${body}`);
    const { token } = JSON.parse(body);
    // The project's .npmrc: the scope from verdaccio, everything else as usual.
    const auth = `//127.0.0.1:${port}/:_authToken=${token}`;
    project = join(work, "project");
    await mkdir(project);
    await writeFile(join(project, ".npmrc"), `@push.rocks:registry=${registry}\n${auth}\n`);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "readme-examples", private: true, type: "module" }, null, 2));
  });

  after(async () => {
    verdaccio?.child.kill("SIGTERM");
    await verdaccio?.exited;
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("publishes the platform packages built here, then the main package", { timeout: STEP_TIMEOUT }, async () => {
    const staged = readdirSync(join(releaseDir, "@push.rocks"));
    const dirs = staged.filter((d) => d !== "smartstorage").map((d) => join(releaseDir, "@push.rocks", d));
    // CI builds only this machine's engine. The main package also lists the other
    // platforms, and a registry that lacks one of them breaks Deno's install (npm
    // skips it), as a release that did not publish them all would. So the ones not
    // built here get a stand-in with the real name, os/cpu/libc and no binary; npm
    // and Deno must leave them out on this machine.
    const main = JSON.parse(readFileSync(join(releaseDir, "@push.rocks", "smartstorage", "package.json"), "utf8"));
    const hostPkg = JSON.parse(readFileSync(join(releaseDir, "@push.rocks", `smartstorage-${platformKeyOfHost()}`, "package.json"), "utf8"));
    for (const name of Object.keys(main.optionalDependencies ?? {})) {
      const key = name.slice("@push.rocks/smartstorage-".length);
      if (staged.includes(`smartstorage-${key}`)) continue;
      const [os, cpu, libc] = key.split("-");
      const dir = join(work, "stand-ins", key);
      await mkdir(dir, { recursive: true });
      const { libc: _hostLibc, ...rest } = hostPkg;
      await writeFile(join(dir, "package.json"), JSON.stringify({
        ...rest,
        name,
        description: `stand-in for ${key} (not built on this machine): no binary`,
        os: [os],
        cpu: [cpu],
        ...(os === "linux" ? { libc: [libc === "musl" ? "musl" : "glibc"] } : {}),
        files: ["package.json"],
      }, null, 2));
      dirs.push(dir);
    }
    dirs.push(join(releaseDir, "@push.rocks", "smartstorage")); // the main package last, as a release does
    for (const dir of dirs) {
      await run("npm", ["publish", dir, "--registry", registry, "--tag", "latest"], { cwd: project });
    }
    const meta = await (await fetch(`${registry}@push.rocks%2fsmartstorage`)).json();
    const published = meta.versions?.[version];
    assert.ok(published, `@push.rocks/smartstorage@${version} is on the registry`);
    const optional = published.optionalDependencies ?? {};
    for (const key of ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"]) {
      assert.equal(optional[`@push.rocks/smartstorage-${key}`], version, `optionalDependencies pins ${key} to exactly ${version}`);
    }
    const host = await (await fetch(`${registry}@push.rocks%2fsmartstorage-${platformKeyOfHost()}`)).json();
    const hostManifest = host.versions?.[version];
    assert.deepEqual([hostManifest?.os, hostManifest?.cpu], [[process.platform], [process.arch]]);
  });

  it("npm install @push.rocks/smartstorage @aws-sdk/client-s3 brings the engine of this platform", { timeout: STEP_TIMEOUT }, async () => {
    await run("npm", ["install", "--no-audit", "--no-fund", "@push.rocks/smartstorage", "@aws-sdk/client-s3"], { cwd: project });
    const installed = JSON.parse(readFileSync(join(project, "node_modules", "@push.rocks", "smartstorage", "package.json"), "utf8"));
    assert.equal(installed.version, version);
    assert.ok(
      existsSync(join(project, "node_modules", "@push.rocks", `smartstorage-${platformKeyOfHost()}`, "bin", "ruststorage")),
      "the platform package with its binary is installed",
    );
    // Only the platform that runs here: npm skips the others by their os/cpu/libc.
    const others = readdirSync(join(project, "node_modules", "@push.rocks")).filter((d) => d.startsWith("smartstorage-"));
    assert.deepEqual(others, [`smartstorage-${platformKeyOfHost()}`]);
    // (The AWS SDK came from the default registry: verdaccio has no uplinks.)
    assert.ok(existsSync(join(project, "node_modules", "@aws-sdk", "client-s3", "package.json")));
  });

  for (const [label, node] of [["Node 20", process.execPath], ["Node 22", join(repo, "node_modules", "node22", "bin", "node")]]) {
    it(`the README's Node example runs verbatim on ${label} and stops on SIGINT`, { timeout: STEP_TIMEOUT }, async () => {
      const example = readmeExample("Node");
      assert.match(example, /node example\.mjs/);
      await writeFile(join(project, "example.mjs"), example);
      await rm(join(project, "data"), { recursive: true, force: true });
      const proc = start(node, ["example.mjs"], { cwd: project });
      const out = await proc.waitFor(/accessSecret/);
      assert.match(out, /port: 9000/);
      // The server is there: an anonymous ListBuckets (auth is off) answers 200.
      const res = await fetch("http://127.0.0.1:9000/");
      assert.equal(res.status, 200, await res.text());
      // Ctrl-C, a moment after the output (as a person would: the handler is set up
      // on the line after the console.log).
      await new Promise((r) => setTimeout(r, 300));
      proc.child.kill("SIGINT");
      const exit = await proc.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, JSON.stringify(proc.output()));
      assert.ok(existsSync(join(project, "data")), "the example's ./data folder was used");
    });
  }

  it("the README's Bun example passes with bun test", { timeout: STEP_TIMEOUT }, async () => {
    const example = readmeExample("Bun");
    assert.match(example, /bun test/);
    await writeFile(join(project, "example.test.ts"), example);
    const { out, err } = await run(bin("bun"), ["test", "./example.test.ts"], { cwd: project });
    assert.match(out + err, /\b1 pass\b/);
    assert.match(out + err, /\b0 fail\b/);
  });

  it("the README's vitest fixture example passes with vitest, the package's testing entry installed from the registry", { timeout: STEP_TIMEOUT }, async () => {
    const readme = readFileSync(join(repo, "README.md"), "utf8");
    const block = /\nvitest\n\n```ts\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, "README has the vitest example of the test fixtures");
    assert.match(block[1], /from "@push.rocks\/smartstorage\/testing"/);
    await run("npm", ["install", "--no-audit", "--no-fund", "vitest@3"], { cwd: project });
    await writeFile(join(project, "fixture.vitest.test.ts"), block[1]);
    const { out, err } = await run("npx", ["vitest", "run", "fixture.vitest.test.ts"], { cwd: project });
    assert.match(out + err, /Tests\s+1 passed \(1\)/, out + err);
  });

  it("Deno with the module from a URL, as from JSR: the engine comes as npm:@push.rocks/smartstorage-<platform>@<version>", { timeout: STEP_TIMEOUT }, async () => {
    // JSR serves the TypeScript sources over https; here a loopback HTTP server
    // serves them the same way, so import.meta.url is not a file: URL and no
    // node_modules is anywhere near.
    const server = createHttpServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname).replace(/^\/+/, "");
      if (!/^(mod\.ts|src\/[\w.]+\.ts)$/.test(path)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/typescript" }).end(readFileSync(join(repo, path)));
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    try {
      const modUrl = `http://127.0.0.1:${server.address().port}/mod.ts`;
      const denoProject = join(work, "deno-url-project");
      await mkdir(denoProject);
      await writeFile(join(denoProject, ".npmrc"), readFileSync(join(project, ".npmrc")));
      await writeFile(join(denoProject, "deno.json"), JSON.stringify({ minimumDependencyAge: 0 }) + "\n");
      const example = readmeExample("Deno").replace('"npm:@push.rocks/smartstorage"', JSON.stringify(modUrl));
      assert.ok(example.includes(modUrl));
      await writeFile(join(denoProject, "example.ts"), example);
      const { out, err } = await run(bin("deno"), ["run", "-A", "example.ts"], {
        cwd: denoProject,
        env: { ...userEnv, DENO_DIR: join(work, "deno-dir"), NO_COLOR: "1" },
      });
      assert.match(out, /bucketCount: 1/, err);
      assert.ok(err.includes(`smartstorage-${platformKeyOfHost()}-${version}.tgz`), `the platform package was fetched:\n${err}`);
    } finally {
      server.close();
    }
  });

  it("the README's Deno example runs verbatim (npm: specifiers, Deno's own npm install)", { timeout: STEP_TIMEOUT }, async () => {
    const example = readmeExample("Deno");
    assert.match(example, /deno run -A example\.ts/);
    // A Deno project: no package.json, no node_modules; Deno fetches the npm:
    // packages itself (the @push.rocks scope from the registry in .npmrc) into its
    // DENO_DIR (shared with the test before, which fetched the AWS SDK already).
    const denoProject = join(work, "deno-project");
    await mkdir(denoProject);
    await writeFile(join(denoProject, ".npmrc"), readFileSync(join(project, ".npmrc")));
    // Deno refuses npm versions younger than a day unless told otherwise (README,
    // "Deno and JSR"); ours was published a minute ago.
    await writeFile(join(denoProject, "deno.json"), JSON.stringify({ minimumDependencyAge: 0 }) + "\n");
    await writeFile(join(denoProject, "example.ts"), example);
    const { out, err } = await run(bin("deno"), ["run", "-A", "example.ts"], {
      cwd: denoProject,
      env: { ...userEnv, DENO_DIR: join(work, "deno-dir"), NO_COLOR: "1" },
    });
    assert.match(out, /bucketCount: 1/, err);
    assert.match(out, /objectCount: 1/, err);
  });

  it("npx smartstorage --version prints the package version", { timeout: STEP_TIMEOUT }, async () => {
    const { out } = await run("npx", ["smartstorage", "--version"], { cwd: project });
    assert.equal(out.trim(), `smartstorage ${version}`);
  });

  it("npx smartstorage serves and stops on Ctrl-C", { timeout: STEP_TIMEOUT }, async () => {
    // detached: its own process group, which Ctrl-C in a terminal signals as a whole.
    const proc = start("npx", ["smartstorage", "--port", "0", "--directory", "./cli-data"], { cwd: project, detached: true });
    const out = await proc.waitFor(/Press Ctrl-C to stop/);
    const endpoint = /endpoint:\s+(\S+)/.exec(out)?.[1];
    assert.ok(endpoint, out);
    assert.equal((await fetch(endpoint)).status, 200);
    process.kill(-proc.child.pid, "SIGINT");
    const exit = await proc.exited;
    // npx itself may end by the same SIGINT; the CLI under it stopped the engine cleanly.
    assert.ok(exit.code === 0 || exit.signal === "SIGINT", JSON.stringify({ exit, ...proc.output() }));
    assert.match(proc.output().out, /smartstorage: stopped/);
    await assert.rejects(fetch(endpoint), "the server is gone");
  });
});

/** linux-x64, or linux-x64-musl on musl (as src/binary.ts platformKey()). */
function platformKeyOfHost() {
  const report = process.report?.getReport?.();
  const musl = process.platform === "linux" && !report?.header?.glibcVersionRuntime;
  return `${process.platform}-${process.arch}${musl ? "-musl" : ""}`;
}
