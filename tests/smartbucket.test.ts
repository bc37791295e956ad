/** @push.rocks/smartbucket, configured straight from getS3Descriptor(). */

import assert from "node:assert/strict";
import { SmartBucket } from "@push.rocks/smartbucket";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { startTestServer, uniqueName } from "./helpers.ts";

describe("@push.rocks/smartbucket against smartstorage", () => {
  let storage: SmartStorage;
  let smartBucket: SmartBucket;
  const quiet = { log: console.log };

  beforeAll(async () => {
    storage = await startTestServer();
    // The descriptor is an IS3Descriptor: it goes in as is.
    smartBucket = new SmartBucket(await storage.getS3Descriptor());
    // smartbucket logs every fastPut on stdout; keep the test output readable.
    console.log = () => {};
  });

  afterAll(async () => {
    console.log = quiet.log;
    smartBucket?.storageClient.destroy();
    await storage?.stop();
  });

  it("SmartBucket.createBucket() creates a bucket the server knows", async () => {
    const name = uniqueName("sb-create");
    const bucket = await smartBucket.createBucket(name);
    assert.equal(bucket.name, name);
    assert.equal(await smartBucket.bucketExists(name), true);
    const summaries = await storage.listBucketSummaries();
    assert.ok(summaries.some((s) => s.name === name));
  });

  it("Bucket.fastPut()/fastGet() store and read a file", async () => {
    const bucket = await smartBucket.createBucket(uniqueName("sb-file"));
    const created = storage.waitForEvent("objectCreated", (e) => e.bucket === bucket.name);
    await bucket.fastPut({ path: "docs/hello.json", contents: JSON.stringify({ hello: "world" }) });
    assert.equal((await created).key, "docs/hello.json");
    const content = await bucket.fastGet({ path: "docs/hello.json" });
    assert.deepEqual(JSON.parse(content.toString()), { hello: "world" });
    assert.equal(await bucket.fastExists({ path: "docs/hello.json" }), true);
    assert.equal(await bucket.fastExists({ path: "docs/missing.json" }), false);
  });

  it("Bucket listing and removal: listAllObjectsArray(), fastRemove(), removeBucket()", async () => {
    const name = uniqueName("sb-list");
    const bucket = await smartBucket.createBucket(name);
    for (const path of ["a/1.txt", "a/2.txt", "b/3.txt"]) {
      await bucket.fastPut({ path, contents: path });
    }
    assert.deepEqual((await bucket.listAllObjectsArray("a/")).sort(), ["a/1.txt", "a/2.txt"]);
    for (const path of ["a/1.txt", "a/2.txt", "b/3.txt"]) await bucket.fastRemove({ path });
    assert.deepEqual(await bucket.listAllObjectsArray(), []);
    await smartBucket.removeBucket(name);
    assert.equal(await smartBucket.bucketExists(name), false);
  });
});
