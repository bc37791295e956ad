/**
 * The web console through the TypeScript module: `server.console` opens a port of its
 * own (`info.consolePort`) serving the page under a strict policy, and the overview the
 * page reads answers a request signed by aws4fetch (the signer the page itself ships
 * with) with the buckets made through @aws-sdk/client-s3. Bad `server.console` settings
 * are refused before the engine starts. The server side's cases are in
 * tests/python/test_console.py, the pages in tests/browser/console.test.mjs.
 */

import assert from "node:assert/strict";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { AwsClient } from "aws4fetch";
import { parseCliArgs } from "../src/cli.ts";
import { resolveConfig, type SmartStorageConfig } from "../src/config.ts";
import { ConfigError, SmartStorageError } from "../src/errors.ts";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { s3ClientAt, startTestServer, uniqueName } from "./helpers.ts";

describe("the web console", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let signer: AwsClient;
  let consoleUrl = "";

  beforeAll(async () => {
    storage = await startTestServer({ server: { console: { port: 0 } } });
    const d = await storage.getS3Descriptor();
    const credentials = { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret };
    s3 = s3ClientAt(storage.endpointUrl, d.region, credentials);
    signer = new AwsClient({ ...credentials, service: "s3", region: d.region });
    const port = storage.info?.consolePort;
    assert.ok(port !== undefined && port !== storage.info?.port, `consolePort ${port}`);
    consoleUrl = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("serves the page with a policy that forbids framing and foreign scripts", async () => {
    const res = await fetch(`${consoleUrl}/_console/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.match(await res.text(), /<script type="module" src="app\.js"><\/script>/);
    const root = await fetch(`${consoleUrl}/`, { redirect: "manual" });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/_console/");
    await root.body?.cancel();
  });

  it("answers a signed overview with the buckets and the server's figures", async () => {
    const bucket = uniqueName("console");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a.txt", Body: "hello" }));
    const unsigned = await fetch(`${consoleUrl}/_console/api/overview`);
    assert.equal(unsigned.status, 403);
    assert.equal((await unsigned.json()).error, "AccessDenied");
    const res = await signer.fetch(`${consoleUrl}/_console/api/overview`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.identity.admin, true);
    const mine = body.buckets.find((b: { name: string }) => b.name === bucket);
    assert.deepEqual([mine?.objectCount, mine?.totalBytes], [1, 5]);
    assert.ok(body.server.requests.total >= 2, JSON.stringify(body.server.requests));
    // The S3 API answers on the console's origin too, signed the same way.
    const listed = await signer.fetch(`${consoleUrl}/${bucket}?list-type=2`);
    assert.equal(listed.status, 200);
    assert.match(await listed.text(), /<Key>a\.txt<\/Key>/);
  });

  it("refuses bad settings before the engine starts", () => {
    const bad: Array<[SmartStorageConfig["server"], RegExp]> = [
      [{ console: { port: 70000 } }, /server\.console\.port must be an integer from 0 to 65535/],
      [{ console: {} } as unknown as SmartStorageConfig["server"], /server\.console\.port must be an integer/],
      [{ port: 9100, console: { port: 9100 } }, /server\.console\.port must differ from the S3 and metrics ports/],
      [{ console: { port: 0, enabled: "yes" } } as unknown as SmartStorageConfig["server"], /server\.console\.enabled must be a boolean/],
      [{ console: { port: 0, path: "/x" } } as unknown as SmartStorageConfig["server"], /unknown key server\.console\.path/],
    ];
    for (const [server, message] of bad) {
      assert.throws(() => resolveConfig({ server }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
  });

  it("takes --console-port on the command line", () => {
    const config = parseCliArgs(["--console-port", "0"], {}) as SmartStorageConfig;
    assert.deepEqual(config.server?.console, { port: 0 });
    assert.equal(resolveConfig(config).engine.server.console?.enabled, true);
    for (const bad of ["x", "", "1.5"]) {
      assert.throws(() => parseCliArgs(["--console-port", bad], {}), (err: unknown) => {
        assert.ok(err instanceof SmartStorageError, String(err));
        assert.match(err.message, /--console-port must be an integer/);
        return true;
      });
    }
  });
});
