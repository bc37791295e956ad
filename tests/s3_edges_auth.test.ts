/**
 * AWS's answers at the edges of authentication (issue #19), as `fetch` meets them:
 * anonymous requests to a missing bucket (404 NoSuchBucket) and to an existing one
 * (403 AccessDenied), an Authorization header of another scheme (400 InvalidArgument
 * "Unsupported Authorization Type"). The exhaustive cases, and aws-chunked bodies
 * without Content-Length (which @aws-sdk/client-s3 refuses to send: it needs the
 * decoded length), are in tests/python/test_edges_auth.py.
 */

import assert from "node:assert/strict";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

/** The `<Code>` and `<Message>` of an S3 XML error body. */
function errorOf(xml: string): { code?: string; message?: string } {
  return {
    code: /<Code>([^<]*)<\/Code>/.exec(xml)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(xml)?.[1],
  };
}

describe("auth edges", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let endpoint = "";
  let bucket = "";

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    const d = await storage.getS3Descriptor();
    endpoint = `http://${d.endpoint}:${d.port}`;
    bucket = uniqueName("edges");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "PRIVATE-0x61" }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("an anonymous request to a missing bucket is NoSuchBucket, to an existing one AccessDenied", async () => {
    const missing = await fetch(`${endpoint}/${uniqueName("gone")}/k`);
    assert.equal(missing.status, 404);
    assert.equal(errorOf(await missing.text()).code, "NoSuchBucket");
    const existing = await fetch(`${endpoint}/${bucket}/k`);
    assert.equal(existing.status, 403);
    const text = await existing.text();
    assert.equal(errorOf(text).code, "AccessDenied");
    assert.ok(!text.includes("PRIVATE-0x61"));
  });

  it("an Authorization header of another scheme is InvalidArgument", async () => {
    const res = await fetch(`${endpoint}/${bucket}/k`, { headers: { authorization: "Bearer abc.def" } });
    assert.equal(res.status, 400);
    assert.deepEqual(errorOf(await res.text()), { code: "InvalidArgument", message: "Unsupported Authorization Type" });
  });
});
