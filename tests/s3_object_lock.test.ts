/**
 * Object Lock through @aws-sdk/client-s3 at default settings: a bucket created with
 * lock, retention set on PutObject, a locked version's deletion refused, governance
 * bypassed by the account's root key, a legal hold that blocks until removed. The
 * exhaustive cases are in tests/python/test_object_lock.py.
 */

import assert from "node:assert/strict";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

describe("object lock with @aws-sdk/client-s3", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  const bucket = uniqueName("lock");

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("keeps a version under governance retention until bypassed", async () => {
    const conf = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    assert.equal(conf.ObjectLockConfiguration?.ObjectLockEnabled, "Enabled");
    const until = new Date(Date.now() + 86_400_000);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "k",
        Body: "kept",
        ObjectLockMode: "GOVERNANCE",
        ObjectLockRetainUntilDate: until,
      }),
    );
    const VersionId = put.VersionId;
    const r = await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: "k", VersionId }));
    assert.equal(r.Retention?.Mode, "GOVERNANCE");
    await assertS3Error(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k", VersionId })), "AccessDenied", 403);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k", VersionId, BypassGovernanceRetention: true }));
    await assertS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "k", VersionId })), undefined, 404);
  });

  it("a legal hold blocks deletion until it is removed", async () => {
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "held", Body: "x", ObjectLockLegalHoldStatus: "ON" }),
    );
    const VersionId = put.VersionId;
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "held", VersionId }));
    assert.equal(head.ObjectLockLegalHoldStatus, "ON");
    const del = new DeleteObjectCommand({ Bucket: bucket, Key: "held", VersionId, BypassGovernanceRetention: true });
    await assertS3Error(s3.send(del), "AccessDenied", 403);
    await s3.send(
      new PutObjectLegalHoldCommand({ Bucket: bucket, Key: "held", VersionId, LegalHold: { Status: "OFF" } }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "held", VersionId }));
  });
});
