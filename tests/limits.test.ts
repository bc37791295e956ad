/**
 * Security settings reach the engine from the module: the per-client connection
 * share (`server.maxConnectionsPerClient`) and `auth.sigV2: false`; bad values are
 * ConfigErrors before anything is spawned.
 */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import net from "node:net";
import { ConfigError } from "../src/errors.ts";
import { resolveConfig } from "../src/config.ts";
import { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { uniqueName } from "./helpers.ts";

/** Opens a TCP connection and resolves once it is established. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Everything the server sends on `socket` until it closes it (or `ms` pass). */
function readUntilClosed(socket: net.Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const timer = setTimeout(() => resolve(text), ms);
    socket.on("data", (d) => (text += d.toString()));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe("connection limits and SigV2 switch", () => {
  let storage: SmartStorage;

  beforeAll(async () => {
    storage = await SmartStorage.createAndStart({
      ephemeral: true,
      server: { maxConnectionsPerClient: 2 },
      auth: { sigV2: false },
    });
  });

  afterAll(() => storage.stop());

  it("a client over its share of connections gets 503 SlowDown at once", async () => {
    const port = storage.info!.port;
    const held = [await connect(port), await connect(port)];
    try {
      await new Promise((r) => setTimeout(r, 200));
      const extra = await connect(port);
      const answer = await readUntilClosed(extra, 5000);
      extra.destroy();
      assert.match(answer, /^HTTP\/1\.1 503/);
      assert.match(answer, /<Code>SlowDown<\/Code>/);
    } finally {
      held.forEach((s) => s.destroy());
    }
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(`${storage.endpointUrl}/`);
    assert.equal(res.status, 403, "served again once the held connections closed");
    await res.body?.cancel();
  });

  it("auth.sigV2: false refuses a valid SigV2 signature with 400 InvalidRequest", async () => {
    const d = await storage.getS3Descriptor();
    const bucket = uniqueName("nosigv2");
    await storage.createBucket(bucket);
    const date = new Date().toUTCString();
    const signature = createHmac("sha1", d.accessSecret).update(`GET\n\n\n${date}\n/${bucket}`).digest("base64");
    const res = await fetch(`${storage.endpointUrl}/${bucket}`, {
      headers: { date, authorization: `AWS ${d.accessKey}:${signature}` },
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<Code>InvalidRequest<\/Code>/);
  });

  it("bad values are ConfigErrors", () => {
    for (const server of [{ maxConnections: 0 }, { maxConnectionsPerClient: -1 }, { maxConnectionsPerClient: 1.5 }]) {
      assert.throws(() => resolveConfig({ server } as never), ConfigError);
    }
    assert.throws(() => resolveConfig({ auth: { sigV2: "no" } } as never), ConfigError);
    const engine = resolveConfig({ server: { maxConnectionsPerClient: 9 }, auth: { sigV2: false } }).engine;
    assert.equal(engine.server.maxConnectionsPerClient, 9);
    assert.equal(engine.auth.sigV2, false);
  });
});
