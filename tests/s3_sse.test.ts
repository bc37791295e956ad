/**
 * Server-side encryption with @aws-sdk/client-s3 at its default settings: SSE-S3, SSE-KMS
 * under the local key ring, SSE-C (a Range read across the 64 KiB packages, a multipart
 * upload, a copy to a plain object), AWS's refusals, and SSE-C over plain HTTP refused
 * unless `encryption.allowSseCOverHttp` is on.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, pseudoRandomBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");
const KMS_KEY_ID = "test-key";
// 32 ASCII characters: the SDK base64-encodes the key and computes its MD5.
const CUSTOMER_KEY = "0123456789abcdef0123456789ABCDEF";
const OTHER_KEY = "fedcba9876543210FEDCBA9876543210";
const SSE_C = { SSECustomerAlgorithm: "AES256", SSECustomerKey: CUSTOMER_KEY } as const;

/** Whether a file in the server's folder (in cluster mode: its drives) holds `needle`. */
function onDisk(storage: SmartStorage, needle: Uint8Array): boolean {
  return storage.info!.directory.split(", ").some((dir) => storedAnywhere(dir, needle));
}

function storedAnywhere(dir: string, needle: Uint8Array): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() ? storedAnywhere(path, needle) : entry.isFile() && readFileSync(path).includes(Buffer.from(needle))) {
      return true;
    }
  }
  return false;
}

describe("server-side encryption (@aws-sdk/client-s3)", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let bucket: string;

  beforeAll(async () => {
    const randomKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
    // A master key of its own: a cluster without a secret has none (SSE-S3 is then refused).
    storage = await startTestServer({
      encryption: { masterKey: randomKey(), kmsKeys: { [KMS_KEY_ID]: randomKey() }, allowSseCOverHttp: true },
    });
    s3 = await s3ClientFor(storage);
    bucket = uniqueName("sse");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("SSE-S3: put, get and head echo AES256, and the ETag is the body's MD5", async () => {
    const body = pseudoRandomBytes(100_000, 3);
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "s3.bin", Body: body, ServerSideEncryption: "AES256" }),
    );
    assert.equal(put.ServerSideEncryption, "AES256");
    assert.equal(put.ETag, `"${md5(body)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "s3.bin" }));
    assert.equal(got.ServerSideEncryption, "AES256");
    assert.equal(got.ETag, `"${md5(body)}"`);
    assert.deepEqual(await bodyBytes(got.Body), body);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "s3.bin" }));
    assert.equal(head.ServerSideEncryption, "AES256");
    assert.equal(head.ContentLength, body.length);
    assert.equal(onDisk(storage, body.subarray(50_000, 50_064)), false, "plaintext on disk");
  });

  it("SSE-KMS: the configured key id is echoed; an unknown one is KMS.NotFoundException", async () => {
    const body = new TextEncoder().encode("under the key ring");
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "kms.txt",
        Body: body,
        ServerSideEncryption: "aws:kms",
        SSEKMSKeyId: KMS_KEY_ID,
      }),
    );
    assert.equal(put.ServerSideEncryption, "aws:kms");
    assert.ok(put.SSEKMSKeyId?.endsWith(`key/${KMS_KEY_ID}`), `SSEKMSKeyId ${put.SSEKMSKeyId}`);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "kms.txt" }));
    assert.equal(got.ServerSideEncryption, "aws:kms");
    assert.ok(got.SSEKMSKeyId?.endsWith(`key/${KMS_KEY_ID}`), `SSEKMSKeyId ${got.SSEKMSKeyId}`);
    assert.deepEqual(await bodyBytes(got.Body), body);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "kms.txt" }));
    assert.equal(head.ServerSideEncryption, "aws:kms");
    assert.ok(head.SSEKMSKeyId?.endsWith(`key/${KMS_KEY_ID}`), `SSEKMSKeyId ${head.SSEKMSKeyId}`);

    await assertS3Error(
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: "kms-unknown.txt",
          Body: body,
          ServerSideEncryption: "aws:kms",
          SSEKMSKeyId: "no-such-key",
        }),
      ),
      "KMS.NotFoundException",
      400,
    );
  });

  it("SSE-C: put and get with the key; without it 400, with another key 403", async () => {
    const body = pseudoRandomBytes(10_000, 5);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "ssec.bin", Body: body, ...SSE_C }));
    assert.equal(put.SSECustomerAlgorithm, "AES256");
    const keyMd5 = createHash("md5").update(CUSTOMER_KEY).digest("base64");
    assert.equal(put.SSECustomerKeyMD5, keyMd5);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ssec.bin", ...SSE_C }));
    assert.equal(got.SSECustomerAlgorithm, "AES256");
    assert.equal(got.SSECustomerKeyMD5, keyMd5);
    assert.deepEqual(await bodyBytes(got.Body), body);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "ssec.bin", ...SSE_C }));
    assert.equal(head.ContentLength, body.length);
    assert.equal(head.SSECustomerKeyMD5, keyMd5);

    assert.equal(onDisk(storage, body.subarray(5_000, 5_064)), false, "plaintext on disk");

    await assertS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ssec.bin" })), "InvalidRequest", 400);
    await assertS3Error(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ssec.bin", ...SSE_C, SSECustomerKey: OTHER_KEY })),
      "AccessDenied",
      403,
    );
  });

  it("SSE-C: a Range read across the 64 KiB packages returns exactly those bytes", async () => {
    const body = pseudoRandomBytes(200_000, 7);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "ssec-range.bin", Body: body, ...SSE_C }));
    for (const [start, end] of [[65_000, 140_000], [0, 0], [131_072, 199_999]] as const) {
      const got = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: "ssec-range.bin", Range: `bytes=${start}-${end}`, ...SSE_C }),
      );
      assert.equal(got.ContentRange, `bytes ${start}-${end}/${body.length}`);
      assert.deepEqual(await bodyBytes(got.Body), body.subarray(start, end + 1), `bytes ${start}-${end}`);
    }
  });

  it("SSE-C: a multipart upload (5 MiB + a small part) round-trips", async () => {
    const key = "ssec-multipart.bin";
    const parts = [pseudoRandomBytes(5 * 1024 * 1024, 11), pseudoRandomBytes(123_457, 13)];
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...SSE_C }));
    assert.equal(created.SSECustomerAlgorithm, "AES256");
    const uploaded = [];
    for (const [i, part] of parts.entries()) {
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: part,
          ...SSE_C,
        }),
      );
      uploaded.push({ PartNumber: i + 1, ETag: r.ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: created.UploadId,
        MultipartUpload: { Parts: uploaded },
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...SSE_C }));
    assert.equal(got.SSECustomerAlgorithm, "AES256");
    const bytes = await bodyBytes(got.Body);
    assert.equal(bytes.length, parts[0]!.length + parts[1]!.length);
    assert.equal(md5(bytes), md5(Buffer.concat(parts)));
  }, { timeoutMs: 120_000 });

  it("CopyObject: an SSE-C source with CopySourceSSECustomer* to a plain object", async () => {
    const body = pseudoRandomBytes(70_000, 17);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "copy-src.bin", Body: body, ...SSE_C }));
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: "copy-dst.bin",
        CopySource: `${bucket}/copy-src.bin`,
        CopySourceSSECustomerAlgorithm: "AES256",
        CopySourceSSECustomerKey: CUSTOMER_KEY,
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "copy-dst.bin" }));
    assert.equal(got.SSECustomerAlgorithm, undefined);
    assert.deepEqual(await bodyBytes(got.Body), body);
    // Without the source's key the copy is refused, as a read of it would be.
    await assertS3Error(
      s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy-dst2.bin", CopySource: `${bucket}/copy-src.bin` })),
      "InvalidRequest",
      400,
    );
  });
});

describe("SSE-C over plain HTTP (@aws-sdk/client-s3)", () => {
  it("is refused with 400 InvalidArgument without encryption.allowSseCOverHttp", async () => {
    const storage = await startTestServer();
    const s3 = await s3ClientFor(storage);
    try {
      const bucket = uniqueName("ssec-http");
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await assertS3Error(
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x", ...SSE_C })),
        "InvalidArgument",
        400,
      );
    } finally {
      s3.destroy();
      await storage.stop();
    }
  });
});
