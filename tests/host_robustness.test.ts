/**
 * Robustness of the host: configuration mistakes get a sentence naming the key (not a
 * TypeError), stop() keeps to stopTimeoutMs with a frozen engine, and a start that
 * times out leaves no process behind, so the host process can exit.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ConfigError, EngineExitedError, RequestTimeoutError, SmartStorageError } from "../src/errors.ts";
import { SmartStorage, type SmartStorageConfig } from "../mod.ts";
import { detectRuntime } from "../src/runtime.ts";
import { spawnChild } from "../src/spawn.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { repoRoot, startTestServer } from "./helpers.ts";

/** The message of the ConfigError `new SmartStorage(config)` throws. */
function configError(config: unknown): string {
  try {
    new SmartStorage(config as SmartStorageConfig);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.equal(err.code, "InvalidConfig");
    return err.message;
  }
  assert.fail(`no error for ${JSON.stringify(config)}`);
}

/** Whether `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

async function waitUntilGone(pids: number[], ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(alive);
}

describe("host robustness: configuration", () => {
  it("an unknown key is a ConfigError naming it and the closest valid key, at any level", () => {
    assert.equal(configError({ server: { prot: 3000 } }), "unknown key server.prot; did you mean server.port?");
    assert.equal(configError({ stopTimeout: 1000 }), "unknown key stopTimeout; did you mean stopTimeoutMs?");
    assert.equal(configError({ storage: { dir: "x" } }), "unknown key storage.dir; did you mean storage.directory?");
    assert.equal(
      configError({ server: { tls: { certpath: "c.pem", keyPath: "k.pem" } } }),
      "unknown key server.tls.certpath; did you mean server.tls.certPath?",
    );
    assert.equal(
      configError({ server: { cors: { allowedOrigin: ["*"], allowedMethods: ["GET"] } } }),
      "unknown key server.cors.allowedOrigin; did you mean server.cors.allowedOrigins?",
    );
    assert.equal(configError({ auth: { sigv2: false } }), "unknown key auth.sigv2; did you mean auth.sigV2?");
    // A key of another level: the full path where it belongs.
    assert.equal(configError({ port: 9000 }), "unknown key port; did you mean server.port?");
    // Nothing close: the valid keys of that level.
    assert.match(configError({ storage: { zzzzzz: 1 } }), /^unknown key storage\.zzzzzz \(valid: storage\.directory, /);
    assert.match(configError({ server: "0.0.0.0" }), /^server must be an object, got a string$/);
    // Free-form maps stay free-form.
    assert.doesNotThrow(() => new SmartStorage({ ephemeral: true, env: { ANY_NAME: "1" } }));
  });

  it("auth.credentials of the wrong shape gets a sentence, not a TypeError", () => {
    const pair = { accessKeyId: "AKEXAMPLE", secretAccessKey: "example-secret" };
    assert.equal(
      configError({ auth: { enabled: true, credentials: pair } }),
      "auth.credentials must be an array of key pairs; wrap the one pair in [ ]: [{ accessKeyId, secretAccessKey }]",
    );
    assert.equal(
      configError({ auth: { credentials: "AKEXAMPLE:example-secret" } }),
      "auth.credentials must be an array of key pairs [{ accessKeyId, secretAccessKey }], got a string",
    );
    const entry = configError({ auth: { credentials: ["AKEXAMPLE:example-secret"] } });
    assert.equal(entry, "auth.credentials[0] must be a key pair { accessKeyId, secretAccessKey }, got a string");
    assert.ok(!entry.includes("example-secret"), "the message never repeats a secret");
    assert.equal(
      configError({ auth: { credentials: [pair, null] } }),
      "auth.credentials[1] must be a key pair { accessKeyId, secretAccessKey }, got null",
    );
    assert.equal(
      configError({ auth: { credentials: [{ accessKeyID: "AK", secretAccessKey: "S" }] } }),
      "unknown key auth.credentials[0].accessKeyID; did you mean auth.credentials[0].accessKeyId?",
    );
    // An owner: { id?, displayName? } with at least one, printable, without quotes.
    assert.equal(
      configError({ auth: { credentials: [{ ...pair, owner: { name: "alice" } }] } }),
      "unknown key auth.credentials[0].owner.name (valid: auth.credentials[0].owner.id, auth.credentials[0].owner.displayName)",
    );
    assert.equal(
      configError({ auth: { credentials: [{ ...pair, owner: "alice" }] } }),
      "auth.credentials[0].owner must be an object { id?, displayName? }, got a string",
    );
    assert.equal(
      configError({ auth: { credentials: [{ ...pair, owner: {} }] } }),
      "the owner of AKEXAMPLE needs an id or a displayName",
    );
    assert.match(configError({ auth: { credentials: [{ ...pair, owner: { displayName: 'a"b' } }] } }), /without quotes/);
    assert.doesNotThrow(() =>
      new SmartStorage({ ephemeral: true, auth: { credentials: [{ ...pair, owner: { displayName: "alice" } }] } })
    );
  });

  it("a descriptor's pair where a credential is expected says so", async () => {
    const descriptorPair = { accessKey: "AKEXAMPLE", accessSecret: "example-secret" };
    const hint = /a credential is \{ accessKeyId, secretAccessKey \}; from a descriptor d: \{ accessKeyId: d\.accessKey, secretAccessKey: d\.accessSecret \}/;
    const inList = configError({ auth: { enabled: true, credentials: [descriptorPair] } });
    assert.match(inList, /^auth\.credentials\[0\] is an S3 descriptor's pair \(\{ accessKey, accessSecret \}\), not a credential/);
    assert.match(inList, hint);
    const whole = configError({
      auth: { credentials: { endpoint: "127.0.0.1", port: 9000, useSsl: false, region: "us-east-1", ...descriptorPair } },
    });
    assert.match(whole, /^auth\.credentials must be an array of key pairs, and got an S3 descriptor/);
    assert.match(whole, hint);

    // The same sentences for replaceCredentials(), before anything reaches the engine.
    const storage = await startTestServer();
    try {
      const before = await storage.listCredentials();
      for (const bad of [[descriptorPair], descriptorPair, "AK:SECRET", [42]]) {
        await assert.rejects(storage.replaceCredentials(bad as never), (err: unknown) => {
          assert.ok(err instanceof SmartStorageError && !(err instanceof TypeError), String(err));
          assert.equal(err.code, "InvalidCredentials");
          assert.match(err.message, /^replaceCredentials\(credentials\)/);
          return true;
        });
      }
      await assert.rejects(storage.replaceCredentials([descriptorPair] as never), hint);
      assert.deepEqual(await storage.listCredentials(), before, "the old set stays");
    } finally {
      await storage.stop();
    }
  });
});

describe("host robustness: processes", () => {
  let dir = "";
  let fakeEngine = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smartstorage-robustness-"));
    // A fake engine that never sends ready, and has started a process of its own.
    fakeEngine = join(dir, "never-ready-engine");
    // Each run appends a line "<its pid> <its child's pid>" to `pids`.
    await writeFile(
      fakeEngine,
      `#!/bin/sh\nsleep 600 &\necho "$$ $!" >> "${join(dir, "pids")}"\necho "fake engine: never ready" >&2\nwait\n`,
    );
    await chmod(fakeEngine, 0o755);
  });

  /** The pids of the fake engine's last run. */
  const lastPids = () => readFileSync(join(dir, "pids"), "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);

  afterAll(async () => {
    // Never leave the fake's processes behind, even when a test failed.
    try {
      for (const pid of readFileSync(join(dir, "pids"), "utf8").split(/\s+/).filter(Boolean).map(Number)) {
        if (alive(pid)) process.kill(pid, "SIGKILL");
      }
    } catch {
      // No pids written.
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("stop() of a frozen engine kills it after stopTimeoutMs and returns within the timeout plus a small margin", async () => {
    const stopTimeoutMs = 1_000;
    const storage = await startTestServer({ stopTimeoutMs });
    const pid = storage.enginePid!;
    const folder = storage.info!.directory;
    process.kill(pid, "SIGSTOP"); // frozen: reads nothing, answers nothing, exits never
    const started = Date.now();
    await storage.stop();
    const took = Date.now() - started;
    assert.ok(took >= stopTimeoutMs - 50, `stop() waited for the graceful exit first (${took} ms)`);
    assert.ok(took < stopTimeoutMs + 750, `stop() took ${took} ms with stopTimeoutMs ${stopTimeoutMs}`);
    assert.deepEqual(await waitUntilGone([pid], 1_000), [], "the engine was killed");
    const reason = await storage.waitUntilEnded();
    assert.ok(reason instanceof EngineExitedError, String(reason));
    assert.equal(reason.signal, "SIGKILL");
    assert.equal(existsSync(folder), false, "the ephemeral folder is removed");
    assert.equal(storage.running, false);
  });

  it("a ready timeout kills the engine and every process it started, with a clear error", async () => {
    const storage = new SmartStorage({ ephemeral: true, binaryPath: fakeEngine, startTimeoutMs: 800 });
    const started = Date.now();
    await assert.rejects(storage.start(), (err: unknown) => {
      assert.ok(err instanceof RequestTimeoutError, String(err));
      assert.equal(err.code, "Timeout");
      assert.ok(err.message.includes(fakeEngine), err.message);
      assert.match(err.message, /did not get ready within 800 ms \(startTimeoutMs\); it was killed, with every process it started/);
      return true;
    });
    assert.ok(Date.now() - started < 800 + 2_500, `start() rejected after ${Date.now() - started} ms`);
    const pids = lastPids();
    assert.equal(pids.length, 2, "the fake engine and its own child");
    assert.deepEqual(pids.filter(alive), [], `gone when start() rejects: ${pids.join(", ")}`);
    assert.equal(storage.running, false);
    await storage.stop();
  });

  it("after a ready timeout the host process exits by itself", async () => {
    const before = readFileSync(join(dir, "pids"), "utf8");
    const script = join(repoRoot, ...(detectRuntime() === "node" ? ["dist", "tests", "fixtures", "never_ready_host.js"] : ["tests", "fixtures", "never_ready_host.ts"]));
    const args = detectRuntime() === "deno" ? ["run", "-A", script, fakeEngine] : [script, fakeEngine];
    const host = spawnChild(process.execPath, { args, cwd: repoRoot });
    await host.stdin.close();
    const stdout = new Response(host.stdout).text();
    const stderr = new Response(host.stderr).text();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      host.exited,
      new Promise<"still running">((resolve) => (timer = setTimeout(() => resolve("still running"), 15_000))),
    ]);
    clearTimeout(timer);
    if (exited === "still running") host.kill("SIGKILL");
    const [out, err] = await Promise.all([stdout, stderr]);
    assert.notEqual(exited, "still running", `the host did not exit within 15 s; stdout: ${out}\nstderr: ${err}`);
    assert.match(out, /rejected: StartTimeoutError: the engine at .* did not get ready within 800 ms/);
    assert.deepEqual(exited, { code: 0, signal: null }, err);
    assert.notEqual(readFileSync(join(dir, "pids"), "utf8"), before, "the host ran the fake engine");
    const pids = lastPids();
    assert.deepEqual(pids.filter(alive), []);
  });
});
