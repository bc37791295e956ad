/**
 * Flexible checksums and GetObjectAttributes with @aws-sdk/client-s3 at its default
 * settings: every algorithm on PutObject, multipart uploads with a full-object and a
 * composite checksum, the checksum a copy gets, and AWS's refusals.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, pseudoRandomBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("base64");
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const FIELD = {
  CRC32: "ChecksumCRC32",
  CRC32C: "ChecksumCRC32C",
  CRC64NVME: "ChecksumCRC64NVME",
  SHA1: "ChecksumSHA1",
  SHA256: "ChecksumSHA256",
} as const;

describe("checksums and GetObjectAttributes (@aws-sdk/client-s3)", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let bucket: string;

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    bucket = uniqueName("cks");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  /** The checksum the server answers for `body` sent whole with `algorithm`. */
  async function putChecksum(key: string, body: Uint8Array, algorithm: keyof typeof FIELD) {
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ChecksumAlgorithm: algorithm }),
    );
    return put[FIELD[algorithm]];
  }

  it("PutObject with every algorithm stores the checksum; GET/HEAD return it", async () => {
    const body = pseudoRandomBytes(3000, 7);
    for (const algorithm of Object.keys(FIELD) as (keyof typeof FIELD)[]) {
      const key = `one-${algorithm}`;
      const sent = await putChecksum(key, body, algorithm);
      assert.ok(sent, `${algorithm} echoed on PUT`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
      assert.equal(head[FIELD[algorithm]], sent, algorithm);
      assert.equal(head.ChecksumType, "FULL_OBJECT");
      const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
      assert.deepEqual(await bodyBytes(get.Body), body);
      assert.equal(get[FIELD[algorithm]], sent);
    }
    assert.equal(await putChecksum("sha", body, "SHA256"), sha256(body));
  });

  it("a FULL_OBJECT CRC32 upload gets the CRC32 of the whole object; GetObjectAttributes lists its parts", async () => {
    const parts = [pseudoRandomBytes(5 * 1024 * 1024, 1), pseudoRandomBytes(777, 2)];
    const key = "full";
    const created = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ChecksumAlgorithm: "CRC32",
        ChecksumType: "FULL_OBJECT",
      }),
    );
    assert.equal(created.ChecksumAlgorithm, "CRC32");
    assert.equal(created.ChecksumType, "FULL_OBJECT");
    const done = [];
    for (const [i, part] of parts.entries()) {
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: part,
          ChecksumAlgorithm: "CRC32",
        }),
      );
      done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
    }
    const listed = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId }));
    assert.equal(listed.ChecksumType, "FULL_OBJECT");
    assert.deepEqual(listed.Parts?.map((p) => p.ChecksumCRC32), done.map((p) => p.ChecksumCRC32));
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: created.UploadId,
        MultipartUpload: { Parts: done },
      }),
    );
    const whole = await putChecksum("whole", concat(parts), "CRC32");
    assert.equal(completed.ChecksumCRC32, whole);
    assert.equal(completed.ChecksumType, "FULL_OBJECT");

    const attrs = await s3.send(
      new GetObjectAttributesCommand({
        Bucket: bucket,
        Key: key,
        ObjectAttributes: ["ETag", "Checksum", "ObjectParts", "ObjectSize", "StorageClass"],
        MaxParts: 1,
      }),
    );
    assert.equal(attrs.ETag, completed.ETag?.replaceAll('"', ""));
    assert.equal(attrs.Checksum?.ChecksumCRC32, whole);
    assert.equal(attrs.ObjectSize, 5 * 1024 * 1024 + 777);
    assert.equal(attrs.StorageClass, "STANDARD");
    assert.equal(attrs.ObjectParts?.TotalPartsCount, 2);
    assert.equal(attrs.ObjectParts?.IsTruncated, true);
    assert.deepEqual(attrs.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size]), [[1, 5 * 1024 * 1024]]);
  });

  it("CopyObject with another algorithm computes it over the source", async () => {
    const body = pseudoRandomBytes(4096, 3);
    await putChecksum("src", body, "CRC32C");
    const copy = await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: "dst",
        CopySource: `${bucket}/src`,
        ChecksumAlgorithm: "SHA256",
      }),
    );
    assert.equal(copy.CopyObjectResult?.ChecksumSHA256, sha256(body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dst", ChecksumMode: "ENABLED" }));
    assert.equal(head.ChecksumSHA256, sha256(body));
    assert.equal(head.ChecksumCRC32C, undefined);
  });

  it("refuses checksum settings AWS refuses", async () => {
    for (const [algorithm, type] of [["SHA256", "FULL_OBJECT"], ["CRC64NVME", "COMPOSITE"]] as const) {
      await assertS3Error(
        s3.send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: "bad",
            ChecksumAlgorithm: algorithm as ChecksumAlgorithm,
            ChecksumType: type,
          }),
        ),
        "InvalidRequest",
        400,
      );
    }
    await assertS3Error(
      s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "src", ObjectAttributes: ["Colour" as "ETag"] })),
      "InvalidArgument",
      400,
    );
    await assertS3Error(
      s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "missing", ObjectAttributes: ["ETag"] })),
      "NoSuchKey",
      404,
    );
  });
});
