/**
 * The host side of the protocol rules, checked against tiny shell scripts that
 * misbehave on purpose (wrong version, unknown reply id, crash with stderr,
 * silence). These are test fixtures for the guards, not an engine.
 */

import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { EngineBridge } from "../src/engine_bridge.ts";
import {
  EngineExitedError,
  EngineVersionError,
  NotRunningError,
  ProtocolError,
  ProtocolVersionError,
  RequestTimeoutError,
} from "../src/errors.ts";
import { ALLOW_VERSION_MISMATCH_ENV, SmartStorage } from "../src/smart_storage.ts";
import { VERSION } from "../src/version.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";

const READY_V1 = `echo '{"event":"ready","data":{"protocolVersion":1,"version":"0.0.0-fixture"}}'`;

describe("protocol guards", () => {
  let dir = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smartstorage-guards-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function script(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  function launch(binary: string, requestTimeoutMs = 5_000) {
    return EngineBridge.launch({ binary, requestTimeoutMs, readyTimeoutMs: 5_000 });
  }

  it("EngineBridge.launch() refuses another protocol version, naming both", async () => {
    const binary = await script(
      "v2.sh",
      `echo '{"event":"ready","data":{"protocolVersion":2,"version":"9.9.9"}}'\ncat >/dev/null`,
    );
    await assert.rejects(launch(binary), (err: unknown) => {
      assert.ok(err instanceof ProtocolVersionError, String(err));
      assert.equal(err.expected, 1);
      assert.equal(err.actual, 2);
      assert.match(err.message, /version 2.*version 1/);
      return true;
    });
  });

  it("EngineBridge.launch() refuses another engine version when one is required, naming both", async () => {
    const binary = await script("other.sh", `${READY_V1}\ncat >/dev/null`);
    await assert.rejects(
      EngineBridge.launch({ binary, requestTimeoutMs: 5_000, readyTimeoutMs: 5_000, engineVersion: "1.2.3" }),
      (err: unknown) => {
        assert.ok(err instanceof EngineVersionError, String(err));
        assert.equal(err.code, "EngineVersionMismatch");
        assert.equal(err.expected, "1.2.3");
        assert.equal(err.actual, "0.0.0-fixture");
        assert.match(err.message, /is version 0\.0\.0-fixture, but this @push\.rocks\/smartstorage is version 1\.2\.3/);
        assert.match(err.message, /SMARTSTORAGE_ALLOW_VERSION_MISMATCH=1/);
        return true;
      },
    );
  });

  it("SmartStorage.start() refuses an engine of another version unless SMARTSTORAGE_ALLOW_VERSION_MISMATCH=1", async () => {
    const binary = await script(
      "other-version.sh",
      [
        `echo '{"event":"ready","data":{"protocolVersion":1,"version":"0.0.0-other"}}'`,
        `read line`,
        `echo '{"id":"1","success":true,"result":{"address":"127.0.0.1","port":1,"tlsPort":null,"useSsl":false,` +
        `"certificatePem":null,"region":"us-east-1","directory":"/nowhere"}}'`,
        `read line`,
        `echo '{"id":"2","success":true,"result":{}}'`,
      ].join("\n"),
    );
    const storage = new SmartStorage({ binaryPath: binary, storage: { directory: join(dir, "never-created") } });
    const before = process.env[ALLOW_VERSION_MISMATCH_ENV];
    delete process.env[ALLOW_VERSION_MISMATCH_ENV];
    try {
      await assert.rejects(storage.start(), (err: unknown) => {
        assert.ok(err instanceof EngineVersionError, String(err));
        assert.ok(err.message.includes(`is version 0.0.0-other, but this @push.rocks/smartstorage is version ${VERSION};`));
        return true;
      });
      assert.equal(storage.running, false);
      process.env[ALLOW_VERSION_MISMATCH_ENV] = "1";
      const info = await storage.start();
      assert.equal(info.directory, "/nowhere");
      assert.equal(storage.engineVersion, "0.0.0-other");
      await storage.stop();
    } finally {
      if (before === undefined) delete process.env[ALLOW_VERSION_MISMATCH_ENV];
      else process.env[ALLOW_VERSION_MISMATCH_ENV] = before;
      await storage.stop();
    }
  });

  it("EngineBridge.launch() refuses a first line that is not JSON", async () => {
    const binary = await script("hello.sh", `echo 'Hello, world!'\ncat >/dev/null`);
    await assert.rejects(launch(binary), ProtocolError);
  });

  it("EngineBridge.launch() reports an exit before ready with code and stderr", async () => {
    const binary = await script("dies.sh", `echo 'fatal: no config' >&2\nexit 7`);
    await assert.rejects(launch(binary), (err: unknown) => {
      assert.ok(err instanceof EngineExitedError, String(err));
      assert.equal(err.exitCode, 7);
      assert.deepEqual(err.stderrTail, ["fatal: no config"]);
      assert.match(err.message, /exited with code 7 before it was ready/);
      return true;
    });
  });

  it("EngineBridge.launch() times out on a silent binary and kills it", async () => {
    const binary = await script("silent.sh", `exec sleep 30`);
    const started = Date.now();
    await assert.rejects(
      EngineBridge.launch({ binary, requestTimeoutMs: 1_000, readyTimeoutMs: 300 }),
      RequestTimeoutError,
    );
    assert.ok(Date.now() - started < 5_000);
  });

  it("request() treats a reply with an unknown id as a protocol error", async () => {
    const binary = await script(
      "badid.sh",
      `${READY_V1}\nread line\necho '{"id":"999","success":true,"result":{}}'\ncat >/dev/null`,
    );
    const bridge = await launch(binary);
    await assert.rejects(bridge.request("getClusterHealth", {}), (err: unknown) => {
      assert.ok(err instanceof ProtocolError, String(err));
      assert.match(err.message, /unknown id "999"/);
      return true;
    });
    await bridge.shutdown(300);
    await assert.rejects(bridge.request("getClusterHealth", {}), NotRunningError);
  });

  it("request() rejects with exit code and the last 20 stderr lines when the engine dies", async () => {
    const binary = await script(
      "crash.sh",
      `${READY_V1}\nread line\ni=1\nwhile [ $i -le 30 ]; do echo "stderr line $i" >&2; i=$((i+1)); done\nexit 3`,
    );
    const bridge = await launch(binary);
    await assert.rejects(bridge.request("getStorageStats", {}), (err: unknown) => {
      assert.ok(err instanceof EngineExitedError, String(err));
      assert.equal(err.exitCode, 3);
      assert.equal(err.stderrTail.length, 20);
      assert.equal(err.stderrTail[0], "stderr line 11");
      assert.equal(err.stderrTail[19], "stderr line 30");
      assert.match(err.message, /exited with code 3 while getStorageStats/);
      return true;
    });
    await assert.rejects(bridge.request("getStorageStats", {}), (err: unknown) => {
      assert.ok(err instanceof NotRunningError);
      assert.match((err as Error).message, /no longer running: ruststorage exited with code 3/);
      return true;
    });
  });

  it("request() times out, and a late reply is then ignored", async () => {
    const binary = await script(
      "slow.sh",
      `${READY_V1}\nread line\nsleep 1\necho '{"id":"1","success":true,"result":{"late":true}}'\n` +
        `read line\necho '{"id":"2","success":true,"result":{"enabled":false}}'\ncat >/dev/null`,
    );
    const bridge = await launch(binary, 200);
    await assert.rejects(bridge.request("getClusterHealth", {}), RequestTimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.deepEqual(await bridge.request("getClusterHealth", {}, 5_000), { enabled: false });
    assert.equal(bridge.running, true);
    await bridge.shutdown(300);
  });

  it("shutdown() kills an engine that ignores stop, after the timeout", async () => {
    const binary = await script("stubborn.sh", `${READY_V1}\ntrap '' TERM\nwhile true; do sleep 1; done`);
    const bridge = await launch(binary);
    const started = Date.now();
    const exit = await bridge.shutdown(300);
    assert.equal(exit?.signal, "SIGKILL");
    assert.ok(Date.now() - started < 5_000);
  });
});
