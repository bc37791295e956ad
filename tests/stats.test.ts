/**
 * Runtime stats, bucket summaries, health and events, checked against what the
 * tests did themselves through @aws-sdk/client-s3.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketCorsCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { SmartStorage } from "../src/smart_storage.ts";
import type { Credential, SmartStorageEvent, StorageStats } from "../src/protocol.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { pseudoRandomBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const MiB = 1024 * 1024;
const unquote = (etag: string | undefined) => (etag ?? "").replace(/^"|"$/g, "");

/** Polls until the start-up scan is done; returns those stats. */
async function statsAfterScan(storage: SmartStorage, timeoutMs = 20_000): Promise<StorageStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await storage.getStorageStats();
    if (stats.initialScanComplete) return stats;
    if (Date.now() > deadline) throw new Error(`initialScanComplete still false after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("getStorageStats(): exact through a mixed workload and across a restart", () => {
  let workDir = "";
  let directory = "";
  let credential: Credential;
  let storage: SmartStorage;
  let s3: S3Client;
  /** What the test itself believes is stored: bucket -> key -> size. */
  const model = new Map<string, Map<string, number>>();
  /** Multipart uploads in progress: uploadId -> part number -> size. */
  const openUploads = new Map<string, Map<number, number>>();
  let A = "";
  let B = "";

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "smartstorage-stats-"));
    directory = join(workDir, "data");
    storage = await startTestServer({ storage: { directory } });
    const d = await storage.getS3Descriptor();
    credential = { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret };
    s3 = await s3ClientFor(storage);
    A = uniqueName("stats-a");
    B = uniqueName("stats-b");
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  async function createBucket(name: string) {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    model.set(name, new Map());
  }
  async function put(bucket: string, key: string, size: number) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: pseudoRandomBytes(size, size + 7) }));
    model.get(bucket)!.set(key, size);
  }
  async function copy(fromBucket: string, fromKey: string, toBucket: string, toKey: string) {
    await s3.send(new CopyObjectCommand({ Bucket: toBucket, Key: toKey, CopySource: `${fromBucket}/${fromKey}` }));
    model.get(toBucket)!.set(toKey, model.get(fromBucket)!.get(fromKey)!);
  }
  async function del(bucket: string, key: string) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    model.get(bucket)!.delete(key);
  }

  /** Compares the engine's counters with the model, per bucket and in total. */
  async function check(phase: string, given?: StorageStats) {
    const stats: StorageStats = given ?? await storage.getStorageStats();
    let objects = 0;
    let bytes = 0;
    for (const [bucket, keys] of model) {
      const entry = stats.buckets.find((b) => b.name === bucket);
      assert.ok(entry, `${phase}: bucket ${bucket} in stats`);
      const count = keys.size;
      const total = [...keys.values()].reduce((a, b) => a + b, 0);
      assert.deepEqual(
        { objectCount: entry.objectCount, totalBytes: entry.totalBytes },
        { objectCount: count, totalBytes: total },
        `${phase}: counters of ${bucket}`,
      );
      objects += count;
      bytes += total;
    }
    assert.equal(stats.bucketCount, model.size, `${phase}: bucketCount`);
    assert.equal(stats.buckets.length, model.size, `${phase}: one entry per bucket`);
    assert.equal(stats.objectCount, objects, `${phase}: objectCount`);
    assert.equal(stats.totalBytes, bytes, `${phase}: totalBytes`);
    let uploadBytes = 0;
    for (const parts of openUploads.values()) for (const size of parts.values()) uploadBytes += size;
    assert.equal(stats.multipartUploadCount, openUploads.size, `${phase}: multipartUploadCount`);
    assert.equal(stats.multipartBytes, uploadBytes, `${phase}: multipartBytes`);
    assert.equal(typeof stats.droppedEvents, "number");
  }

  async function startUpload(bucket: string, key: string): Promise<string> {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    assert.ok(UploadId);
    openUploads.set(UploadId, new Map());
    return UploadId;
  }
  async function uploadPart(bucket: string, key: string, uploadId: string, partNumber: number, size: number) {
    const { ETag } = await s3.send(new UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: pseudoRandomBytes(size, partNumber),
    }));
    openUploads.get(uploadId)!.set(partNumber, size);
    return { ETag: ETag!, PartNumber: partNumber };
  }

  it("an empty store: zero counters, scan done, storage location and droppedEvents reported", async () => {
    const stats = await statsAfterScan(storage);
    await check("empty", stats);
    assert.equal(stats.initialScanComplete, true);
    assert.equal(stats.storageLocations.length, 1);
    const location = stats.storageLocations[0]!;
    assert.equal(location.path, storage.info!.directory);
    for (const field of ["totalBytes", "freeBytes", "availableBytes"] as const) {
      assert.equal(typeof location[field], "number", field);
    }
    assert.ok(location.totalBytes >= location.freeBytes && location.freeBytes >= 0);
  });

  it("puts", async () => {
    await createBucket(A);
    await createBucket(B);
    await check("two empty buckets");
    for (let i = 0; i < 12; i++) await put(A, `a/${i}`, i * 1000 + (i % 3));
    await put(A, "empty", 0);
    for (let i = 0; i < 4; i++) await put(B, `b/${i}`, 50_000 + i);
    await check("after puts");
  });

  it("overwrites: smaller, larger, same size, to zero bytes", async () => {
    await put(A, "a/11", 10);
    await put(A, "a/1", 200_000);
    await put(A, "a/2", 2002);
    await put(B, "b/0", 0);
    await check("after overwrites");
  });

  it("copies: new key, across buckets, onto an existing key", async () => {
    await copy(A, "a/5", A, "copy/new");
    await copy(A, "a/1", B, "from-a");
    await copy(B, "b/3", A, "a/3");
    await check("after copies");
  });

  it("deletes: existing keys, a missing key, an emptied bucket", async () => {
    await del(A, "a/0");
    await del(A, "copy/new");
    await del(B, "b/1");
    await del(A, "never-existed"); // 204 and no change
    const C = uniqueName("stats-c");
    await createBucket(C);
    await put(C, "only", 123);
    await check("third bucket");
    await del(C, "only");
    await s3.send(new DeleteBucketCommand({ Bucket: C }));
    model.delete(C);
    await check("after deletes");
  });

  it("multipart: parts are counted apart from objects; complete adds the object, abort adds nothing", async () => {
    // Completed upload of a new key.
    const key1 = "mp/complete";
    const id1 = await startUpload(A, key1);
    const parts1 = [
      await uploadPart(A, key1, id1, 1, 5 * MiB),
      await uploadPart(A, key1, id1, 2, 5 * MiB),
      await uploadPart(A, key1, id1, 3, 1000),
    ];
    await check("upload 1 in progress");
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: A,
      Key: key1,
      UploadId: id1,
      MultipartUpload: { Parts: parts1 },
    }));
    openUploads.delete(id1);
    model.get(A)!.set(key1, 10 * MiB + 1000);
    await check("upload 1 completed");

    // Completed upload over an existing key.
    const id2 = await startUpload(A, "a/4");
    const parts2 = [await uploadPart(A, "a/4", id2, 1, 5 * MiB), await uploadPart(A, "a/4", id2, 2, 10)];
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: A,
      Key: "a/4",
      UploadId: id2,
      MultipartUpload: { Parts: parts2 },
    }));
    openUploads.delete(id2);
    model.get(A)!.set("a/4", 5 * MiB + 10);
    await check("upload 2 completed over a/4");

    // Aborted upload; a re-uploaded part replaces the first one.
    const id3 = await startUpload(B, "mp/aborted");
    await uploadPart(B, "mp/aborted", id3, 1, 5 * MiB);
    await uploadPart(B, "mp/aborted", id3, 1, 1 * MiB);
    await uploadPart(B, "mp/aborted", id3, 2, 777);
    await check("upload 3 in progress");
    await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: "mp/aborted", UploadId: id3 }));
    openUploads.delete(id3);
    await check("upload 3 aborted");
  }, { timeoutMs: 120_000 });

  it("a versioned bucket: every stored version counts, delete markers do not", async () => {
    const V = uniqueName("stats-v");
    await createBucket(V);
    await s3.send(new PutBucketVersioningCommand({ Bucket: V, VersioningConfiguration: { Status: "Enabled" } }));
    const versions = model.get(V)!; // "key@versionId" -> size
    const putVersion = async (key: string, size: number) => {
      const res = await s3.send(new PutObjectCommand({ Bucket: V, Key: key, Body: pseudoRandomBytes(size, 3) }));
      assert.ok(res.VersionId, "a versioned put returns a VersionId");
      versions.set(`${key}@${res.VersionId}`, size);
      return res.VersionId;
    };
    const v1 = await putVersion("doc", 100);
    await putVersion("doc", 250);
    await putVersion("other", 7);
    await check("three versions");
    const marker = await s3.send(new DeleteObjectCommand({ Bucket: V, Key: "doc" }));
    assert.equal(marker.DeleteMarker, true);
    await check("after a delete marker");
    await s3.send(new DeleteObjectCommand({ Bucket: V, Key: "doc", VersionId: v1 }));
    versions.delete(`doc@${v1}`);
    await check("after deleting version 1");
  });

  it("DeleteObjects: existing and missing keys in one request", async () => {
    const res = await s3.send(new DeleteObjectsCommand({
      Bucket: A,
      Delete: { Objects: [{ Key: "a/6" }, { Key: "a/7" }, { Key: "mp/complete" }, { Key: "not-there" }] },
    }));
    assert.equal(res.Errors?.length ?? 0, 0);
    for (const key of ["a/6", "a/7", "mp/complete"]) model.get(A)!.delete(key);
    await check("after DeleteObjects");
  });

  it("the same counters after a stop and a restart on the same folder (an open upload included)", async () => {
    const id = await startUpload(B, "mp/open");
    await uploadPart(B, "mp/open", id, 1, 5 * MiB);
    await uploadPart(B, "mp/open", id, 2, 4321);
    await check("before restart");

    s3.destroy();
    await storage.stop();
    storage = await SmartStorage.createAndStart({ storage: { directory }, auth: { enabled: true, credentials: [credential] } });
    s3 = await s3ClientFor(storage);
    await check("after restart", await statsAfterScan(storage));

    // Counting goes on exactly after the scan.
    await put(B, "after-restart", 4096);
    await del(A, "a/8");
    await check("writes after restart");
  });
});

describe("listBucketSummaries() and getClusterHealth()", () => {
  let storage: SmartStorage;
  let s3: S3Client;

  beforeAll(async () => {
    storage = await startTestServer(); // auth on
    s3 = await s3ClientFor(storage);
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("listBucketSummaries(): name, creationDate, counts; hasPolicy/hasCors follow the SDK", async () => {
    const bucket = uniqueName("summary");
    const before = Date.now();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "one", Body: "12345" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "two", Body: "1234567890" }));

    const find = async () => {
      const all = await storage.listBucketSummaries();
      const entry = all.find((s) => s.name === bucket);
      assert.ok(entry, `${bucket} listed in ${JSON.stringify(all)}`);
      return entry;
    };
    const first = await find();
    assert.equal(first.objectCount, 2);
    assert.equal(first.totalBytes, 15);
    assert.equal(first.hasPolicy, false);
    assert.equal(first.hasCors, false);
    const created = Date.parse(first.creationDate);
    assert.ok(Number.isFinite(created), `creationDate ${first.creationDate} parses`);
    assert.ok(created >= before - 2_000 && created <= Date.now() + 2_000, `creationDate ${first.creationDate} is now`);
    if (first.region !== undefined) assert.equal(first.region, storage.info!.region);

    await s3.send(new PutBucketPolicyCommand({
      Bucket: bucket,
      Policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
          Sid: "PublicRead",
          Effect: "Allow",
          Principal: "*",
          Action: "s3:GetObject",
          Resource: `arn:aws:s3:::${bucket}/*`,
        }],
      }),
    }));
    assert.deepEqual([(await find()).hasPolicy, (await find()).hasCors], [true, false]);

    await s3.send(new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: { CORSRules: [{ AllowedOrigins: ["*"], AllowedMethods: ["GET", "PUT"] }] },
    }));
    assert.deepEqual([(await find()).hasPolicy, (await find()).hasCors], [true, true]);

    await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
    await s3.send(new DeleteBucketCorsCommand({ Bucket: bucket }));
    const last = await find();
    assert.deepEqual([last.hasPolicy, last.hasCors], [false, false]);
    assert.equal(last.creationDate, first.creationDate);
  });

  it("getClusterHealth() in standalone mode: disabled, with a drive probe that wrote", async () => {
    const health = await storage.getClusterHealth();
    assert.equal(health.enabled, false);
    assert.ok(Array.isArray(health.drives) && health.drives.length === 1, JSON.stringify(health));
    const drive = health.drives[0]!;
    assert.equal(drive.path, storage.info!.directory);
    assert.equal(drive.reachable, true);
    assert.equal(drive.writable, true);
    assert.equal(typeof drive.probeLatencyMs, "number");
    assert.ok(drive.probeLatencyMs! >= 0 && drive.probeLatencyMs! < 10_000, `latency ${drive.probeLatencyMs}`);
    assert.equal(typeof drive.availableBytes, "number");
    assert.equal(drive.error, null);
  });
});

describe("events: arrival and order", () => {
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

  it("put v1, put v2 (overwrite), delete: objectCreated, objectCreated(overwrite), objectDeleted in order", async () => {
    const bucket = uniqueName("events");
    const key = "doc.txt";
    const bucketCreated = storage.waitForEvent("bucketCreated", (e) => e.bucket === bucket);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    assert.deepEqual(await bucketCreated, { bucket });

    // Three consumers at once: an iterator, an on() handler and waitForEvent.
    const iterator = storage.events("objectCreated", "objectDeleted");
    const seen: string[] = [];
    const off = storage.on("objectCreated", (e) => {
      if (e.bucket === bucket) seen.push(`created:${e.size}:${e.overwrite}`);
    });
    const offDeleted = storage.on("objectDeleted", (e) => {
      if (e.bucket === bucket) seen.push(`deleted:${e.key}`);
    });
    const deleted = storage.waitForEvent("objectDeleted", (e) => e.bucket === bucket && e.key === key);
    try {
      const v1 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "version one" }));
      const v2 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "v2" }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      assert.deepEqual(await deleted, { bucket, key });

      const got: SmartStorageEvent[] = [];
      for await (const event of iterator) {
        if (event.data.bucket !== bucket) continue;
        got.push(event);
        if (got.length === 3) break;
      }
      assert.deepEqual(got.map((e) => e.event), ["objectCreated", "objectCreated", "objectDeleted"]);
      const [c1, c2, d] = got as [
        Extract<SmartStorageEvent, { event: "objectCreated" }>,
        Extract<SmartStorageEvent, { event: "objectCreated" }>,
        Extract<SmartStorageEvent, { event: "objectDeleted" }>,
      ];
      assert.deepEqual(
        { ...c1.data, etag: unquote(c1.data.etag) },
        { bucket, key, size: 11, etag: unquote(v1.ETag), overwrite: false },
      );
      assert.deepEqual(
        { ...c2.data, etag: unquote(c2.data.etag) },
        { bucket, key, size: 2, etag: unquote(v2.ETag), overwrite: true },
      );
      assert.deepEqual(d.data, { bucket, key });
      assert.deepEqual(seen, ["created:11:false", "created:2:true", `deleted:${key}`], "on() saw the same order");
    } finally {
      off();
      offDeleted();
      await iterator.return?.(undefined);
    }
  });

  it("CompleteMultipartUpload emits multipartCompleted with the upload id, size and ETag", async () => {
    const bucket = uniqueName("events-mp");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "big" }));
    const p1 = await s3.send(new UploadPartCommand({
      Bucket: bucket,
      Key: "big",
      UploadId,
      PartNumber: 1,
      Body: pseudoRandomBytes(5 * MiB),
    }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "big", UploadId, PartNumber: 2, Body: "tail" }));
    const completed = storage.waitForEvent("multipartCompleted", (e) => e.uploadId === UploadId);
    const res = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: "big",
      UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
    }));
    const event = await completed;
    assert.deepEqual(
      { ...event, etag: unquote(event.etag) },
      { bucket, key: "big", size: 5 * MiB + 4, etag: unquote(res.ETag), uploadId: UploadId },
    );
  });

  it("DeleteBucket emits bucketDeleted", async () => {
    const bucket = uniqueName("events-del");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const gone = storage.waitForEvent("bucketDeleted", (e) => e.bucket === bucket);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    assert.deepEqual(await gone, { bucket });
  });
});
