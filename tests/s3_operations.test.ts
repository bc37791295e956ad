/**
 * Operating the server through the TypeScript module: the health probes answer without
 * credentials, the metrics on a port of their own (`info.metricsPort`) count a PutObject
 * made with @aws-sdk/client-s3 once it is done, behind the bearer token, and the access log
 * gets one JSON line for it. Bad `server.metrics` / `server.accessLog` settings are
 * refused before the engine starts. The exhaustive cases are in
 * tests/python/test_operations.py.
 */

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { resolveConfig, type SmartStorageConfig } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { s3ClientAt, startTestServer, uniqueName } from "./helpers.ts";

const TOKEN = "ts-scrape-token";

describe("health, metrics and the access log", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let folder = "";

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "smartstorage-ops-"));
    storage = await startTestServer({
      server: {
        metrics: { bearerToken: TOKEN, port: 0 },
        accessLog: { path: join(folder, "access.log") },
      },
    });
    const d = await storage.getS3Descriptor();
    s3 = s3ClientAt(storage.endpointUrl, d.region, { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret });
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it("answers the health probes without credentials", async () => {
    for (const path of ["/health/live", "/health/ready", "/minio/health/live"]) {
      const res = await fetch(storage.endpointUrl + path);
      assert.equal(res.status, 200, path);
      assert.deepEqual(await res.json(), { status: "ok" });
    }
  });

  it("counts a PutObject in the metrics and logs it", async () => {
    const port = storage.info?.metricsPort;
    assert.ok(port !== undefined && port !== storage.info?.port);
    const url = `http://127.0.0.1:${port}/metrics`;
    assert.equal((await fetch(url)).status, 401);
    const scrape = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
      const text = await res.text();
      const line = /^smartstorage_requests_total\{operation="PutObject",status_class="2xx"\} (\d+)$/m.exec(text);
      return line ? Number(line[1]) : 0;
    };
    const bucket = uniqueName("ops");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const before = await scrape();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "counted.txt", Body: "hello" }));
    assert.equal(await scrape(), before + 1);
    let logged: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && logged === undefined; i++) {
      const text = await readFile(join(folder, "access.log"), "utf8").catch(() => "");
      logged = text.split("\n").filter(Boolean).map((l) => JSON.parse(l))
        .find((l) => l.operation === "PutObject" && l.key === "counted.txt");
      if (logged === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(logged, "no access log line for the PutObject");
    assert.equal(logged.bucket, bucket);
    assert.equal(logged.status, 200);
  });

  it("refuses bad settings before the engine starts", () => {
    const bad: Array<[SmartStorageConfig["server"], RegExp]> = [
      [{ metrics: { bearerToken: "two words" } }, /bearerToken must be printable ASCII/],
      [{ metrics: { port: 70000 } }, /server\.metrics\.port must be an integer from 0 to 65535/],
      [{ accessLog: { keepFiles: 0 } }, /server\.accessLog\.keepFiles must be a positive integer/],
      [{ accessLog: { path: "" } }, /server\.accessLog\.path must be a file path/],
      [{ metrics: { token: "x" } } as unknown as SmartStorageConfig["server"], /unknown key server\.metrics\.token/],
    ];
    for (const [server, message] of bad) {
      assert.throws(() => resolveConfig({ server }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
  });
});
