/**
 * Bucket default encryption configuration through @aws-sdk/client-s3:
 * PutBucketEncryption (200), GetBucketEncryption (the rule back, or 404
 * ServerSideEncryptionConfigurationNotFoundError), DeleteBucketEncryption (204), and
 * AWS's refusals (MalformedXML for an unknown algorithm, InvalidArgument for a KMS key
 * with AES256, NoSuchBucket, AccessDenied for anonymous callers). The exhaustive cases
 * are in tests/python/test_bucket_encryption.py.
 */

import assert from "node:assert/strict";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  PutBucketEncryptionCommand,
  type S3Client,
  type ServerSideEncryption,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

function config(algorithm: string, kmsKeyId?: string, bucketKey?: boolean) {
  return {
    Rules: [{
      ApplyServerSideEncryptionByDefault: {
        SSEAlgorithm: algorithm as ServerSideEncryption,
        ...(kmsKeyId === undefined ? {} : { KMSMasterKeyID: kmsKeyId }),
      },
      ...(bucketKey === undefined ? {} : { BucketKeyEnabled: bucketKey }),
    }],
  };
}

describe("bucket encryption with @aws-sdk/client-s3", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let endpoint = "";

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    const d = await storage.getS3Descriptor();
    endpoint = `http://${d.endpoint}:${d.port}`;
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  async function newBucket(): Promise<string> {
    const name = uniqueName("enc");
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  }

  it("puts, gets and deletes an AES256 default", async () => {
    const bucket = await newBucket();
    await assertS3Error(
      s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })),
      "ServerSideEncryptionConfigurationNotFoundError",
      404,
    );
    const put = await s3.send(
      new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: config("AES256") }),
    );
    assert.equal(put.$metadata.httpStatusCode, 200);
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    assert.deepEqual(got.ServerSideEncryptionConfiguration?.Rules, [
      { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" }, BucketKeyEnabled: false },
    ]);
    const del = await s3.send(new DeleteBucketEncryptionCommand({ Bucket: bucket }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    await assertS3Error(
      s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })),
      "ServerSideEncryptionConfigurationNotFoundError",
      404,
    );
  });

  it("keeps a KMS key and BucketKeyEnabled", async () => {
    const bucket = await newBucket();
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: config("aws:kms", KMS_KEY, true),
      }),
    );
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    assert.deepEqual(got.ServerSideEncryptionConfiguration?.Rules, [
      { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: KMS_KEY }, BucketKeyEnabled: true },
    ]);
  });

  it("refuses what AWS refuses", async () => {
    const bucket = await newBucket();
    await assertS3Error(
      s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: config("DES") })),
      "MalformedXML",
      400,
    );
    await assertS3Error(
      s3.send(
        new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: config("AES256", KMS_KEY) }),
      ),
      "InvalidArgument",
      400,
    );
    await assertS3Error(
      s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [] } })),
      "MalformedXML",
      400,
    );
    const missing = uniqueName("enc-gone");
    await assertS3Error(
      s3.send(new PutBucketEncryptionCommand({ Bucket: missing, ServerSideEncryptionConfiguration: config("AES256") })),
      "NoSuchBucket",
      404,
    );
    await assertS3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: missing })), "NoSuchBucket", 404);
    await assertS3Error(s3.send(new DeleteBucketEncryptionCommand({ Bucket: missing })), "NoSuchBucket", 404);
  });

  it("refuses anonymous callers", async () => {
    const bucket = await newBucket();
    await s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: config("AES256") }));
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await fetch(`${endpoint}/${bucket}?encryption`, {
        method,
        body: method === "PUT"
          ? "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
          : undefined,
      });
      assert.equal(res.status, 403, method);
      assert.match(await res.text(), /<Code>AccessDenied<\/Code>/);
    }
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    assert.equal(got.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, "AES256");
  });

  it("goes with its bucket", async () => {
    const bucket = await newBucket();
    await s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: config("aws:kms:dsse") }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await assertS3Error(
      s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })),
      "ServerSideEncryptionConfigurationNotFoundError",
      404,
    );
  });
});
