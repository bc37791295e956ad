/**
 * Bucket administration from the host, as test suites use it between tests:
 * ensureBucket (idempotent, with settings), emptyBucket, deleteBucket with and
 * without force, and reset; checked through @aws-sdk/client-s3.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateMultipartUploadCommand,
  GetBucketCorsCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import type { SmartStorageEvent } from "../src/protocol.ts";
import { ConfigError, SmartStorageError } from "../src/errors.ts";
import { resolveConfig, type SmartStorageConfig } from "../src/config.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

describe("bucket administration: ensureBucket, emptyBucket, deleteBucket, reset", () => {
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

  async function put(bucket: string, count: number, prefix = "k") {
    for (let i = 0; i < count; i++) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${i}`, Body: `body ${i}` }));
    }
  }

  async function keys(bucket: string): Promise<string[]> {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (out.Contents ?? []).map((o) => o.Key!);
  }

  async function rejectsWith(promise: Promise<unknown>, code: string) {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof SmartStorageError, `expected a SmartStorageError, got ${String(err)}`);
      assert.equal(err.code, code);
      return true;
    });
  }

  it("ensureBucket creates once, then keeps the bucket and its objects; settings are applied", async () => {
    const bucket = uniqueName("ensure");
    assert.deepEqual(await storage.ensureBucket(bucket), { name: bucket, created: true });
    await put(bucket, 2);
    const policy = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` }],
    };
    const again = await storage.ensureBucket(bucket, {
      versioning: "Enabled",
      policy,
      cors: [{ allowedOrigins: ["https://app.example"], allowedMethods: ["GET", "PUT"] }],
    });
    assert.deepEqual(again, { name: bucket, created: false });
    assert.deepEqual((await keys(bucket)).sort(), ["k/0", "k/1"]);
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status, "Enabled");
    const stored = await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }));
    assert.deepEqual(JSON.parse(stored.Policy!).Statement[0].Resource, `arn:aws:s3:::${bucket}/*`);
    const cors = await s3.send(new GetBucketCorsCommand({ Bucket: bucket }));
    assert.deepEqual(cors.CORSRules?.[0]?.AllowedOrigins, ["https://app.example"]);
  });

  it("ensureBucket refuses bad names, bad policies and bad versioning states with their codes", async () => {
    await rejectsWith(storage.ensureBucket("Bad_Name"), "InvalidBucketName");
    const bucket = uniqueName("ensure-bad");
    await rejectsWith(storage.ensureBucket(bucket, { policy: "{not json" }), "MalformedPolicy");
    await rejectsWith(
      // @ts-expect-error: a state S3 does not have
      storage.ensureBucket(bucket, { versioning: "On" }),
      "InvalidArgument",
    );
  });

  it("emptyBucket removes objects, versions and uploads but keeps the bucket and its settings", async () => {
    const bucket = uniqueName("empty");
    await storage.ensureBucket(bucket, { versioning: "Enabled" });
    await put(bucket, 5);
    await put(bucket, 2); // second versions of k/0 and k/1
    await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "big" }));
    // Five current objects and two older versions, as the stats count them.
    assert.deepEqual(await storage.emptyBucket(bucket), { deletedObjects: 7 });
    assert.deepEqual(await keys(bucket), []);
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    assert.equal((versions.Versions ?? []).length + (versions.DeleteMarkers ?? []).length, 0);
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.equal((uploads.Uploads ?? []).length, 0);
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status, "Enabled");
    const stats = await storage.getStorageStats();
    assert.deepEqual(stats.buckets.find((b) => b.name === bucket), { name: bucket, objectCount: 0, totalBytes: 0 });
    await put(bucket, 1, "after");
    assert.deepEqual(await keys(bucket), ["after/0"]);
    await rejectsWith(storage.emptyBucket(uniqueName("missing")), "NoSuchBucket");
  });

  it("deleteBucket refuses a bucket that holds objects unless forced", async () => {
    const bucket = uniqueName("del");
    await storage.ensureBucket(bucket);
    await put(bucket, 3);
    await rejectsWith(storage.deleteBucket(bucket), "BucketNotEmpty");
    assert.equal((await keys(bucket)).length, 3, "a refused delete keeps every object");
    assert.deepEqual(await storage.deleteBucket(bucket, { force: true }), { deletedObjects: 3 });
    await assertS3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })), undefined, 404);
    await rejectsWith(storage.deleteBucket(bucket), "NoSuchBucket");
  });

  it("reset deletes every bucket with everything in it and says so in events", async () => {
    const a = uniqueName("reset-a");
    const b = uniqueName("reset-b");
    await storage.ensureBucket(a);
    await storage.ensureBucket(b, { versioning: "Enabled" });
    await put(a, 4);
    await put(b, 2);
    const seen: SmartStorageEvent[] = [];
    const stop = storage.on("bucketDeleted", (data) => seen.push({ event: "bucketDeleted", data }));
    const { deletedBuckets } = await storage.reset();
    assert.ok(deletedBuckets >= 2, `deleted ${deletedBuckets} buckets`);
    const stats = await storage.getStorageStats();
    assert.deepEqual([stats.bucketCount, stats.objectCount, stats.totalBytes], [0, 0, 0]);
    for (const name of [a, b]) {
      await assertS3Error(s3.send(new HeadBucketCommand({ Bucket: name })), undefined, 404);
    }
    const deadline = Date.now() + 5_000;
    while (seen.length < deletedBuckets && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop();
    const names = seen.map((e) => e.event === "bucketDeleted" ? e.data.bucket : "");
    assert.ok(names.includes(a) && names.includes(b), `bucketDeleted events: ${names.join(", ")}`);
    assert.deepEqual(await storage.reset(), { deletedBuckets: 0 });
    await storage.ensureBucket(a);
    assert.deepEqual(await keys(a), [], "a bucket of the same name starts empty");
  });
});

describe("buckets in the config: made at every start, idempotent", () => {
  it("creates the listed buckets with their settings, and keeps their objects across restarts", async () => {
    const directory = await mkdtemp(join(tmpdir(), "smartstorage-buckets-"));
    const [plain, versioned] = [uniqueName("cfg-plain"), uniqueName("cfg-versioned")];
    const config = {
      storage: { directory },
      buckets: [plain, { name: versioned, versioning: "Enabled" as const, cors: [{ allowedOrigins: ["*"], allowedMethods: ["GET"] }] }],
    };
    let storage = await startTestServer(config);
    let s3 = await s3ClientFor(storage);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: plain }));
      assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: versioned }))).Status, "Enabled");
      const cors = await s3.send(new GetBucketCorsCommand({ Bucket: versioned }));
      assert.deepEqual(cors.CORSRules?.[0]?.AllowedMethods, ["GET"]);
      await s3.send(new PutObjectCommand({ Bucket: plain, Key: "kept", Body: "x" }));
    } finally {
      s3.destroy();
      await storage.stop();
    }
    storage = await startTestServer(config);
    s3 = await s3ClientFor(storage);
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: plain }));
      assert.deepEqual((listed.Contents ?? []).map((o) => o.Key), ["kept"], "a second start keeps the bucket's objects");
    } finally {
      s3.destroy();
      await storage.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("refuses bad entries before starting, naming them", () => {
    const bad: [unknown, RegExp][] = [
      ["photos", /buckets must be an array/],
      [[{ name: "a-b", versoning: "Enabled" }], /unknown key buckets\[0\]\.versoning; did you mean buckets\[0\]\.versioning\?/],
      [["dup-name", { name: "dup-name" }], /buckets\[1\]: bucket dup-name is listed twice/],
      [[{ name: "v-b", versioning: "On" }], /buckets\[0\]\.versioning must be "Enabled" or "Suspended"/],
      [[42], /buckets\[0\] must be a bucket name/],
      [[{ name: "c-b", cors: [{ allowedOrigins: [] }] }], /buckets\[0\]\.cors\[0\]\.allowedOrigins must be a non-empty array/],
    ];
    for (const [buckets, message] of bad) {
      assert.throws(() => resolveConfig({ buckets } as SmartStorageConfig), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
  });

  it("a bucket the engine refuses fails the start with its code", async () => {
    await assert.rejects(startTestServer({ buckets: ["Not_A_Valid_Name"] }), (err: unknown) => {
      assert.ok(err instanceof SmartStorageError, String(err));
      assert.equal(err.code, "InvalidBucketName");
      assert.match(err.message, /Not_A_Valid_Name/);
      return true;
    });
  });
});

