/**
 * Conditional writes (If-None-Match: * and If-Match on PutObject and
 * CompleteMultipartUpload) and part-number reads (GetObject/HeadObject with
 * PartNumber) with @aws-sdk/client-s3.
 */

import assert from "node:assert/strict";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, pseudoRandomBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const MiB = 1024 * 1024;

describe("conditional writes and part reads (@aws-sdk/client-s3)", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let bucket: string;

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    bucket = uniqueName("cond");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  const text = async (key: string, b = bucket) =>
    new TextDecoder().decode(await bodyBytes((await s3.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body));

  /** A two-part upload of `key` (5 MiB + 10 bytes), ready to complete. */
  async function twoParts(key: string, b = bucket) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key }));
    const parts = [pseudoRandomBytes(5 * MiB, 4), pseudoRandomBytes(10, 5)];
    const done = [];
    for (const [i, Body] of parts.entries()) {
      const r = await s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: i + 1, Body }));
      done.push({ PartNumber: i + 1, ETag: r.ETag });
    }
    return { UploadId, parts, MultipartUpload: { Parts: done } };
  }

  it("PutObject If-None-Match: * creates once, then 412", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "once", Body: "first", IfNoneMatch: "*" }));
    await assertS3Error(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: "once", Body: "second", IfNoneMatch: "*" })),
      "PreconditionFailed",
      412,
    );
    assert.equal(await text("once"), "first");
  });

  it("PutObject If-Match replaces only the current ETag; a missing key is NoSuchKey", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cas", Body: "v1" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cas", Body: "v2", IfMatch: put.ETag }));
    await assertS3Error(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cas", Body: "v3", IfMatch: put.ETag })),
      "PreconditionFailed",
      412,
    );
    assert.equal(await text("cas"), "v2");
    await assertS3Error(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: "absent", Body: "x", IfMatch: put.ETag })),
      "NoSuchKey",
      404,
    );
  });

  it("in a versioned bucket a delete marker counts as absent", async () => {
    const versioned = uniqueName("condv");
    await s3.send(new CreateBucketCommand({ Bucket: versioned }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: "Enabled" } }),
    );
    const put = await s3.send(new PutObjectCommand({ Bucket: versioned, Key: "k", Body: "old" }));
    await s3.send(new DeleteObjectCommand({ Bucket: versioned, Key: "k" }));
    await assertS3Error(
      s3.send(new PutObjectCommand({ Bucket: versioned, Key: "k", Body: "x", IfMatch: put.ETag })),
      "NoSuchKey",
      404,
    );
    await s3.send(new PutObjectCommand({ Bucket: versioned, Key: "k", Body: "new", IfNoneMatch: "*" }));
    assert.equal(await text("k", versioned), "new");
  });

  it("CompleteMultipartUpload honours If-None-Match and If-Match", async () => {
    const first = await twoParts("mp");
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "mp", IfNoneMatch: "*", ...first }),
    );
    const again = await twoParts("mp");
    await assertS3Error(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "mp", IfNoneMatch: "*", ...again })),
      "PreconditionFailed",
      412,
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "mp" }));
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "mp", IfMatch: head.ETag, ...again }),
    );
    assert.notEqual(done.ETag, undefined);
  });

  it("GetObject/HeadObject with PartNumber read one part; past the last is InvalidPartNumber (416)", async () => {
    const upload = await twoParts("parts");
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "parts", ...upload }));
    const second = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "parts", PartNumber: 2 }));
    assert.deepEqual(await bodyBytes(second.Body), upload.parts[1]);
    assert.equal(second.PartsCount, 2);
    assert.equal(second.ContentRange, `bytes ${5 * MiB}-${5 * MiB + 9}/${5 * MiB + 10}`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "parts", PartNumber: 1 }));
    assert.equal(head.ContentLength, 5 * MiB);
    await assertS3Error(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: "parts", PartNumber: 3 })),
      "InvalidPartNumber",
      416,
    );
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "single", Body: "whole" }));
    const whole = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "single", PartNumber: 1 }));
    assert.equal(new TextDecoder().decode(await bodyBytes(whole.Body)), "whole");
  });
});
