/** What happens when things go wrong: crashes, bad config, missing binaries. */

import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SmartStorage } from "../src/smart_storage.ts";
import { candidateKeys, platformKey, PUBLISHED_PLATFORMS, resolveBinary } from "../src/binary.ts";
import { VERSION } from "../src/version.ts";
import {
  BinaryNotFoundError,
  ConfigError,
  EngineExitedError,
  NotRunningError,
  SmartStorageError,
} from "../src/errors.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { startTestServer } from "./helpers.ts";

describe("failures", () => {
  let workDir = "";

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "smartstorage-failures-"));
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("a crash of the engine rejects pending calls with its exit status and stderr tail", async () => {
    const storage = await startTestServer();
    const dir = storage.info!.directory;
    try {
      const pid = storage.enginePid!;
      const ended = storage.waitUntilEnded();
      const eventsEnded = storage.waitForEvent("objectCreated", undefined, 30_000);
      const pending = storage.getStorageStats();
      process.kill(pid, "SIGKILL");
      await assert.rejects(pending, (err: unknown) => {
        assert.ok(err instanceof EngineExitedError, String(err));
        assert.equal(err.signal, "SIGKILL");
        assert.equal(err.exitCode, null);
        assert.match(err.message, /killed by signal SIGKILL/);
        assert.match(err.message, /getStorageStats/);
        return true;
      });
      const reason = await ended;
      assert.ok(reason instanceof EngineExitedError);
      await assert.rejects(eventsEnded, EngineExitedError, "waiters end with the crash");
      // Later calls fail at once, naming the reason.
      await assert.rejects(storage.createBucket("after-crash"), (err: unknown) => {
        assert.ok(err instanceof NotRunningError, String(err));
        assert.match((err as Error).message, /no longer running: ruststorage was killed by signal SIGKILL/);
        return true;
      });
      assert.equal(storage.running, false);
    } finally {
      await storage.stop();
    }
    const { existsSync } = await import("node:fs");
    assert.equal(existsSync(dir), false, "stop() after a crash still removes the temp folder");
  });

  it("start() after a crash runs a new engine on the same ephemeral folder", async () => {
    const storage = await startTestServer();
    try {
      await storage.createBucket("survivor");
      const dir = storage.info!.directory;
      const ended = storage.waitUntilEnded();
      process.kill(storage.enginePid!, "SIGKILL");
      await ended;
      assert.equal(storage.running, false);
      const info = await storage.start();
      assert.equal(info.directory, dir);
      assert.equal(storage.running, true);
      assert.deepEqual((await storage.listBucketSummaries()).map((b) => b.name), ["survivor"]);
    } finally {
      await storage.stop();
    }
  });

  it("an invalid port is refused before anything is spawned", async () => {
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      await assert.rejects(SmartStorage.createAndStart({ ephemeral: true, server: { port } }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.code, "InvalidConfig");
        assert.match(err.message, /server\.port/);
        return true;
      });
    }
  });

  it("a storage directory that is a file fails start() with a clear error and no leftover process", async () => {
    const file = join(workDir, "i-am-a-file");
    await writeFile(file, "not a folder");
    const storage = new SmartStorage({ storage: { directory: file } });
    await assert.rejects(storage.start(), (err: unknown) => {
      assert.ok(err instanceof SmartStorageError, String(err));
      assert.notEqual(err.code, "Timeout");
      assert.ok(err.message.includes(file) || /director|folder|not a dir/i.test(err.message), err.message);
      return true;
    });
    assert.equal(storage.running, false);
    assert.equal(storage.enginePid, undefined);
    await storage.stop();
  });

  it("a port already in use fails start() with the engine's error", async () => {
    const first = await startTestServer();
    try {
      const second = new SmartStorage({ ephemeral: true, server: { port: first.info!.port } });
      await assert.rejects(second.start(), (err: unknown) => {
        assert.ok(err instanceof SmartStorageError, String(err));
        assert.notEqual(err.code, "Timeout");
        assert.match(err.message, new RegExp(`${first.info!.port}|in use|bind`, "i"));
        return true;
      });
      await second.stop();
      assert.equal(first.running, true);
    } finally {
      await first.stop();
    }
  });

  it("a wrong binaryPath fails with BinaryNotFoundError naming the path", async () => {
    const missing = join(workDir, "no-such-ruststorage");
    await assert.rejects(SmartStorage.createAndStart({ ephemeral: true, binaryPath: missing }), (err: unknown) => {
      assert.ok(err instanceof BinaryNotFoundError, String(err));
      assert.equal(err.code, "BinaryNotFound");
      assert.ok(err.message.includes(missing), err.message);
      assert.match(err.message, /binaryPath option points to a file that does not exist/);
      return true;
    });
  });

  it("resolveBinary() warns about a stale SMARTSTORAGE_BINARY and lists every path tried", () => {
    const warnings: string[] = [];
    const stale = join(workDir, "stale-binary");
    const emptyRoot = join(workDir, "empty-package-root");
    assert.throws(
      () => resolveBinary({ env: { SMARTSTORAGE_BINARY: stale }, packageRoot: emptyRoot, warn: (m) => warnings.push(m) }),
      (err: unknown) => {
        assert.ok(err instanceof BinaryNotFoundError, String(err));
        const key = platformKey();
        assert.equal(err.platformKey, key);
        assert.ok(err.message.includes(key));
        for (const expected of [stale, join(emptyRoot, "bin", `ruststorage-${key}`), `@push.rocks/smartstorage-${key}`]) {
          assert.ok(err.message.includes(expected), `message names ${expected}:\n${err.message}`);
        }
        return true;
      },
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /SMARTSTORAGE_BINARY/);
  });

  it("an installed package without its platform package says what a package user should do", async () => {
    // An installed package: no rust/ beside it, so no Cargo advice.
    const installed = join(workDir, "installed-package");
    await mkdir(installed, { recursive: true });
    assert.throws(
      () => resolveBinary({ env: {}, packageRoot: installed, warn: () => {} }),
      (err: unknown) => {
        assert.ok(err instanceof BinaryNotFoundError, String(err));
        const key = platformKey();
        assert.doesNotMatch(err.message, /cargo build/, err.message);
        assert.match(err.message, /SMARTSTORAGE_BINARY/);
        if (PUBLISHED_PLATFORMS.includes(key)) {
          assert.ok(err.message.includes(`npm install @push.rocks/smartstorage-${key}@${VERSION}`), err.message);
          assert.match(err.message, /optional dependencies/);
        } else {
          assert.match(err.message, /No prebuilt engine is published for/);
        }
        return true;
      },
    );
  });

  it("a checkout without an engine build says how to build it, with the checkout's Cargo.toml", async () => {
    const checkout = join(workDir, "checkout");
    await mkdir(join(checkout, "rust"), { recursive: true });
    await writeFile(join(checkout, "rust", "Cargo.toml"), "[package]\n");
    assert.throws(
      () => resolveBinary({ env: {}, packageRoot: checkout, warn: () => {} }),
      (err: unknown) => {
        assert.ok(err instanceof BinaryNotFoundError, String(err));
        for (const expected of [
          `cargo build --release --manifest-path ${join(checkout, "rust", "Cargo.toml")}`,
          join(checkout, "rust", "target", "release", "ruststorage"),
          join(checkout, "rust", "target", "debug", "ruststorage"),
        ]) {
          assert.ok(err.message.includes(expected), `message names ${expected}:\n${err.message}`);
        }
        return true;
      },
    );
  });

  it("the glibc build is looked for first, then the static musl build", () => {
    assert.deepEqual(candidateKeys("linux-x64"), ["linux-x64", "linux-x64-musl"]);
    assert.deepEqual(candidateKeys("linux-arm64-musl"), ["linux-arm64-musl"]);
    assert.deepEqual(candidateKeys("darwin-arm64"), ["darwin-arm64"]);
  });

  it("on glibc Linux a prebuilt musl binary in bin/ is found when the glibc one is missing", async () => {
    // On linux-x64 the last candidate is linux-x64-musl; elsewhere it is the platform key itself.
    const keys = candidateKeys();
    const last = keys[keys.length - 1]!;
    const root = join(workDir, "fallback-only");
    await mkdir(join(root, "bin"), { recursive: true });
    const exe = join(root, "bin", `ruststorage-${last}${process.platform === "win32" ? ".exe" : ""}`);
    await writeFile(exe, "");
    assert.equal(resolveBinary({ env: {}, packageRoot: root, warn: () => {} }), exe);
  });

  it("a binary that is not ruststorage fails start() with a protocol error", async () => {
    const storage = new SmartStorage({ ephemeral: true, binaryPath: "/bin/echo", startTimeoutMs: 10_000 });
    await assert.rejects(storage.start(), (err: unknown) => {
      assert.ok(err instanceof SmartStorageError, String(err));
      assert.ok(["ProtocolError", "EngineExited"].includes(err.code), `${err.code}: ${err.message}`);
      return true;
    });
    await storage.stop();
  });
});
