/** server.cors and server.virtualHostDomains, passed through to the engine. */

import assert from "node:assert/strict";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { rawRequest, startTestServer, uniqueName } from "./helpers.ts";

describe("server options: a server-wide CORS rule and virtual-hosted-style domains", () => {
  let storage: SmartStorage;
  let port = 0;
  const origin = "https://app.example.test";

  beforeAll(async () => {
    storage = await startTestServer({
      auth: { enabled: false },
      server: {
        virtualHostDomains: ["s3.example.test"],
        cors: {
          allowedOrigins: [origin],
          allowedMethods: ["GET", "PUT"],
          allowedHeaders: ["*"],
          exposeHeaders: ["ETag"],
          maxAgeSeconds: 600,
        },
      },
    });
    port = storage.info!.port;
  });

  afterAll(async () => {
    await storage?.stop();
  });

  it("server.cors answers a preflight from an allowed origin and refuses another", async () => {
    const bucket = uniqueName("cors");
    await storage.createBucket(bucket);
    const ok = await rawRequest({
      port,
      method: "OPTIONS",
      path: `/${bucket}/upload.bin`,
      headers: { Origin: origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.headers["access-control-allow-origin"], origin);
    assert.match(String(ok.headers["access-control-allow-methods"]), /PUT/);
    assert.equal(ok.headers["access-control-max-age"], "600");

    const denied = await rawRequest({
      port,
      method: "OPTIONS",
      path: `/${bucket}/upload.bin`,
      headers: { Origin: "https://evil.example.test", "Access-Control-Request-Method": "PUT" },
    });
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.headers["access-control-allow-origin"], undefined);

    const put = await rawRequest({ port, method: "PUT", path: `/${bucket}/k`, headers: { Origin: origin }, body: "x" });
    assert.equal(put.status, 200, put.body);
    assert.equal(put.headers["access-control-allow-origin"], origin);
    assert.match(String(put.headers["access-control-expose-headers"]), /ETag/);
  });

  it("server.virtualHostDomains: Host <bucket>.<domain> addresses the bucket", async () => {
    const bucket = uniqueName("vhost");
    await storage.createBucket(bucket);
    const host = `${bucket}.s3.example.test:${port}`;
    const put = await rawRequest({ port, method: "PUT", path: "/hello.txt", headers: { Host: host }, body: "virtual" });
    assert.equal(put.status, 200, put.body);
    const pathStyle = await rawRequest({ port, method: "GET", path: `/${bucket}/hello.txt` });
    assert.equal(pathStyle.status, 200);
    assert.equal(pathStyle.body, "virtual");
    const list = await rawRequest({ port, method: "GET", path: "/?list-type=2", headers: { Host: host } });
    assert.equal(list.status, 200, list.body);
    assert.match(list.body, /<Key>hello\.txt<\/Key>/);
    assert.match(list.body, new RegExp(`<Name>${bucket}</Name>`));
  });
});
