/** Every management command and every event, against one real server. */

import assert from "node:assert/strict";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { RequestTimeoutError, SmartStorageError } from "../src/errors.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

/** The protocol's fields of a bucket's stats (the engine may add more). */
function pick(b: { name: string; objectCount: number; totalBytes: number } | undefined) {
  return b && { name: b.name, objectCount: b.objectCount, totalBytes: b.totalBytes };
}

describe("management bridge", () => {
  let storage: SmartStorage;
  let s3: S3Client;

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("createBucket() creates a bucket that S3 clients see", async () => {
    const name = uniqueName("create");
    assert.deepEqual(await storage.createBucket(name), { name });
    const listed = await s3.send(new ListBucketsCommand({}));
    assert.ok(listed.Buckets?.some((b) => b.Name === name));
  });

  it("createBucket() refuses an invalid name with InvalidBucketName", async () => {
    for (const bad of ["A", "ab", "UPPER-case", "bad_name!", "-leading-dash", "x".repeat(64)]) {
      await assert.rejects(storage.createBucket(bad), (err: unknown) => {
        assert.ok(err instanceof SmartStorageError, String(err));
        assert.equal(err.code, "InvalidBucketName", `${bad}: ${err.message}`);
        return true;
      });
    }
    assert.equal(storage.running, true, "the engine keeps serving after bad params");
  });

  it("createBucket() of an existing bucket answers BucketAlreadyOwnedByYou", async () => {
    const name = uniqueName("twice");
    await storage.createBucket(name);
    await assert.rejects(storage.createBucket(name), { code: "BucketAlreadyOwnedByYou" });
  });

  it("getStorageStats() counts buckets, objects and bytes", async () => {
    const before = await storage.getStorageStats();
    const name = uniqueName("stats");
    await storage.createBucket(name);
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "a.txt", Body: "12345" }));
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "b.txt", Body: "1234567890" }));
    const after = await storage.getStorageStats();
    assert.equal(after.bucketCount, before.bucketCount + 1);
    assert.equal(after.objectCount, before.objectCount + 2);
    assert.equal(after.totalBytes, before.totalBytes + 15);
    const bucket = after.buckets.find((b) => b.name === name);
    assert.deepEqual(pick(bucket), { name, objectCount: 2, totalBytes: 15 });
    // Overwrite and delete keep the counters right.
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "a.txt", Body: "1" }));
    await s3.send(new DeleteObjectCommand({ Bucket: name, Key: "b.txt" }));
    const later = await storage.getStorageStats();
    assert.deepEqual(pick(later.buckets.find((b) => b.name === name)), { name, objectCount: 1, totalBytes: 1 });
  });

  it("listBucketSummaries() describes every bucket", async () => {
    const name = uniqueName("summary");
    await storage.createBucket(name);
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "k", Body: "abc" }));
    const summaries = await storage.listBucketSummaries();
    const summary = summaries.find((s) => s.name === name);
    assert.ok(summary, "bucket listed");
    assert.equal(summary.objectCount, 1);
    assert.equal(summary.totalBytes, 3);
    assert.equal(summary.hasPolicy, false);
    assert.equal(summary.hasCors, false);
    assert.ok(!Number.isNaN(Date.parse(summary.creationDate)), `creationDate ${summary.creationDate}`);
  });

  it("listCredentials() returns the configured pair", async () => {
    const d = await storage.getS3Descriptor();
    assert.deepEqual(await storage.listCredentials(), [
      { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret },
    ]);
  });

  it("replaceCredentials() swaps the accepted keys at once", async () => {
    const old = await storage.getS3Descriptor();
    const fresh = [
      { accessKeyId: "ROTATEDKEY0000000001", secretAccessKey: "rotated-secret-1" },
      { accessKeyId: "ROTATEDKEY0000000002", secretAccessKey: "rotated-secret-2" },
    ];
    assert.deepEqual(await storage.replaceCredentials(fresh), { count: 2 });
    assert.deepEqual(await storage.listCredentials(), fresh);
    // The old client's signature is no longer accepted...
    await assertS3Error(s3.send(new ListBucketsCommand({})), "InvalidAccessKeyId", 403);
    // ...and the descriptor now hands out the new pair.
    const d = await storage.getS3Descriptor();
    assert.equal(d.accessKey, fresh[0]!.accessKeyId);
    const fresher = await s3ClientFor(storage);
    try {
      await fresher.send(new ListBucketsCommand({}));
    } finally {
      fresher.destroy();
    }
    // Restore the original pair for the other tests.
    await storage.replaceCredentials([{ accessKeyId: old.accessKey, secretAccessKey: old.accessSecret }]);
    await s3.send(new ListBucketsCommand({}));
  });

  it("replaceCredentials() refuses an invalid set and keeps the old one", async () => {
    const before = await storage.listCredentials();
    const invalid = [
      [],
      [{ accessKeyId: "", secretAccessKey: "x" }],
      [{ accessKeyId: "DUP", secretAccessKey: "a" }, { accessKeyId: "DUP", secretAccessKey: "b" }],
    ];
    for (const set of invalid) {
      await assert.rejects(storage.replaceCredentials(set), { code: "InvalidCredentials" });
    }
    assert.deepEqual(await storage.listCredentials(), before);
  });

  it("getClusterHealth() answers enabled: false in standalone mode", async () => {
    const health = await storage.getClusterHealth();
    assert.equal(health.enabled, false);
  });

  it("waitForEvent() sees objectCreated after a PutObject", async () => {
    const name = uniqueName("events");
    await storage.createBucket(name);
    const created = storage.waitForEvent("objectCreated", (e) => e.bucket === name && e.key === "hello.txt");
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "hello.txt", Body: "hello" }));
    const event = await created;
    assert.equal(event.size, 5);
    assert.equal(event.overwrite, false);
    assert.equal(event.etag.replaceAll('"', ""), "5d41402abc4b2a76b9719d911017c592");

    const overwritten = storage.waitForEvent("objectCreated", (e) => e.bucket === name && e.key === "hello.txt");
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "hello.txt", Body: "hello again" }));
    assert.equal((await overwritten).overwrite, true);

    const deleted = storage.waitForEvent("objectDeleted", (e) => e.bucket === name);
    await s3.send(new DeleteObjectCommand({ Bucket: name, Key: "hello.txt" }));
    assert.deepEqual(await deleted, { bucket: name, key: "hello.txt" });
  });

  it("on() delivers bucketCreated/bucketDeleted and unsubscribes", async () => {
    const seen: string[] = [];
    const off = storage.on("bucketCreated", (e) => seen.push(`created:${e.bucket}`));
    const offDeleted = storage.on("bucketDeleted", (e) => seen.push(`deleted:${e.bucket}`));
    const name = uniqueName("onevt");
    const viaS3 = uniqueName("ons3");
    const deleted = storage.waitForEvent("bucketDeleted", (e) => e.bucket === viaS3);
    await storage.createBucket(name);
    await s3.send(new CreateBucketCommand({ Bucket: viaS3 }));
    await s3.send(new DeleteBucketCommand({ Bucket: viaS3 }));
    await deleted;
    off();
    offDeleted();
    await storage.createBucket(uniqueName("after-off"));
    assert.deepEqual(seen.filter((s) => s.includes(name) || s.includes(viaS3)), [
      `created:${name}`,
      `created:${viaS3}`,
      `deleted:${viaS3}`,
    ]);
    assert.equal(seen.length, 3, `no events after unsubscribe: ${seen.join(", ")}`);
  });

  it("events() iterates over events in order", async () => {
    const name = uniqueName("iter");
    await storage.createBucket(name);
    const iterator = storage.events("objectCreated", "objectDeleted");
    const keys = ["one", "two", "three"];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: name, Key: key, Body: key }));
    await s3.send(new DeleteObjectCommand({ Bucket: name, Key: "two" }));
    const got: { event: string; data: { key: string } }[] = [];
    for await (const e of iterator) {
      if (e.data.bucket !== name) continue;
      got.push(e);
      if (got.length === 4) break;
    }
    assert.deepEqual(got.map((e) => `${e.event}:${e.data.key}`), [
      "objectCreated:one",
      "objectCreated:two",
      "objectCreated:three",
      "objectDeleted:two",
    ]);
  });

  it("multipartCompleted fires when a multipart upload completes", async () => {
    const name = uniqueName("mpevt");
    await storage.createBucket(name);
    const completed = storage.waitForEvent("multipartCompleted", (e) => e.bucket === name);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: name, Key: "big" }));
    const part = await s3.send(
      new UploadPartCommand({ Bucket: name, Key: "big", UploadId, PartNumber: 1, Body: "only part" }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: name,
        Key: "big",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] },
      }),
    );
    const event = await completed;
    assert.equal(event.key, "big");
    assert.equal(event.uploadId, UploadId);
    assert.equal(event.size, "only part".length);
  });

  it("waitForEvent() rejects with a Timeout when nothing matches", async () => {
    await assert.rejects(
      storage.waitForEvent("bucketCreated", (e) => e.bucket === "never-made", 50),
      (err: unknown) => err instanceof RequestTimeoutError && (err as RequestTimeoutError).code === "Timeout",
    );
  });
});
