/** The real engine's side of docs/protocol.md, spoken to through EngineBridge directly. */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBinary } from "../src/binary.ts";
import { EngineBridge } from "../src/engine_bridge.ts";
import { checkShape, EVENT_SHAPES, PROTOCOL_VERSION, RESULT_SHAPES } from "../src/protocol.ts";
import { VERSION } from "../src/version.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";

// Methods and params outside the typed API, to probe the engine's error answers.
type LooseRequest = (method: string, params: unknown) => Promise<unknown>;

describe("engine protocol", () => {
  let bridge: EngineBridge;
  let loose: LooseRequest;
  let dir = "";
  const events: { event: string; data: unknown }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smartstorage-protocol-"));
    bridge = await EngineBridge.launch({
      binary: resolveBinary(),
      requestTimeoutMs: 10_000,
      readyTimeoutMs: 10_000,
      onEvent: (event, data) => events.push({ event, data }),
    });
    loose = bridge.request.bind(bridge) as unknown as LooseRequest;
  });

  afterAll(async () => {
    await bridge?.shutdown(5_000);
    await rm(dir, { recursive: true, force: true });
  });

  it("the first message is ready with protocol version 1 and the package's version", () => {
    assert.equal(bridge.ready?.protocolVersion, PROTOCOL_VERSION);
    assert.equal(bridge.ready?.version, VERSION);
  });

  it("calls before start answer NotStarted", async () => {
    await assert.rejects(bridge.request("getStorageStats", {}), { code: "NotStarted" });
    await assert.rejects(bridge.request("createBucket", { name: "early" }), { code: "NotStarted" });
  });

  it("an unknown method answers UnknownMethod", async () => {
    await assert.rejects(loose("noSuchMethod", {}), { code: "UnknownMethod", message: /unknown method "noSuchMethod"$/ });
  });

  it("start with auth on and no credentials answers InvalidConfig (no built-in pair)", async () => {
    const server = { address: "127.0.0.1", port: 0, region: "us-east-1" };
    const storage = { directory: join(dir, "unused"), cleanSlate: false, fsync: true };
    for (const auth of [{ enabled: true, credentials: [] }, { enabled: true }]) {
      await assert.rejects(loose("start", { config: { server, storage, auth } }), (err: unknown) => {
        assert.equal((err as { code?: string }).code, "InvalidConfig", String(err));
        assert.match((err as Error).message, /auth\.credentials/);
        return true;
      });
    }
    assert.equal(bridge.running, true, "a refused start leaves the engine waiting for a good one");
  });

  it("start answers the bound address and the real port", async () => {
    const info = await bridge.request("start", {
      config: {
        server: { address: "127.0.0.1", port: 0, region: "us-east-1" },
        storage: { directory: dir, cleanSlate: false, fsync: true },
        auth: { enabled: false, credentials: [{ accessKeyId: "AK", secretAccessKey: "SK" }] },
      },
    });
    assert.deepEqual(checkShape(info, RESULT_SHAPES.start, "start"), []);
    assert.equal(info.address, "127.0.0.1");
    assert.ok(info.port > 0);
    assert.equal(info.region, "us-east-1");
    assert.equal(info.directory, dir);
  });

  it("bad params answer InvalidParams and the engine keeps serving", async () => {
    await assert.rejects(loose("createBucket", {}), { code: "InvalidParams" });
    await assert.rejects(loose("createBucket", { name: 42 }), {
      code: "InvalidParams",
      message: /params\.name: invalid type: integer `42`, expected a string$/,
    });
    await assert.rejects(loose("replaceCredentials", { credentials: "nope" }), (err: unknown) => {
      const code = (err as { code?: string }).code;
      assert.ok(code === "InvalidParams" || code === "InvalidCredentials", String(code));
      return true;
    });
    assert.deepEqual(await bridge.request("createBucket", { name: "still-serving" }), { name: "still-serving" });
  });

  it("the engine's results and events have the fields of their TypeScript types", async () => {
    await bridge.request("createBucket", { name: "shapes" });
    const results = {
      getStorageStats: await bridge.request("getStorageStats", {}),
      listBucketSummaries: await bridge.request("listBucketSummaries", {}),
      listCredentials: await bridge.request("listCredentials", {}),
      getClusterHealth: await bridge.request("getClusterHealth", {}),
      replaceCredentials: await bridge.request("replaceCredentials", { credentials: [{ accessKeyId: "AK", secretAccessKey: "SK" }] }),
    };
    for (const [method, result] of Object.entries(results)) {
      assert.deepEqual(checkShape(result, RESULT_SHAPES[method as keyof typeof results], method), [], method);
    }
    assert.ok(events.some((e) => e.event === "bucketCreated"), "bucketCreated seen");
    for (const { event, data } of events) {
      assert.ok(Object.hasOwn(EVENT_SHAPES, event), `known event ${event}`);
      assert.deepEqual(checkShape(data, EVENT_SHAPES[event as keyof typeof EVENT_SHAPES], event), [], event);
    }
  });

  it("a second start is refused while running", async () => {
    await assert.rejects(loose("start", { config: {} }), (err: unknown) => {
      assert.ok((err as { code?: string }).code, "has a code");
      return true;
    });
    assert.equal(bridge.running, true);
  });

  it("stop answers {} and the engine exits 0", async () => {
    const exit = await bridge.shutdown(5_000);
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});
