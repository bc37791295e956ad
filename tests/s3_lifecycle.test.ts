/**
 * Bucket lifecycle through @aws-sdk/client-s3 at default settings: the configuration
 * round trip, and an object expiring on a one-second lifecycle day
 * (`lifecycle.dayLengthSeconds: 1`, a test setting) with its `objectDeleted` event
 * saying `reason: "lifecycle"`. The exhaustive cases are in
 * tests/python/test_lifecycle.py.
 */

import assert from "node:assert/strict";
import {
  CreateBucketCommand,
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { resolveConfig } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

describe("lifecycle with @aws-sdk/client-s3", () => {
  let storage: SmartStorage;
  let s3: S3Client;

  beforeAll(async () => {
    storage = await startTestServer({ lifecycle: { dayLengthSeconds: 1, scanIntervalSeconds: 1 } });
    s3 = await s3ClientFor(storage);
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("stores, answers and deletes the configuration", async () => {
    const bucket = uniqueName("lc-conf");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await assertS3Error(
      s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })),
      "NoSuchLifecycleConfiguration",
      404,
    );
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: "tmp",
              Status: "Enabled",
              Filter: { Prefix: "tmp/" },
              Expiration: { Days: 30 },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
            },
          ],
        },
      }),
    );
    const got = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    assert.equal(got.Rules?.length, 1);
    assert.equal(got.Rules?.[0]?.ID, "tmp");
    assert.deepEqual(got.Rules?.[0]?.Filter, { Prefix: "tmp/" });
    assert.deepEqual(got.Rules?.[0]?.Expiration, { Days: 30 });
    await s3.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }));
    await assertS3Error(
      s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })),
      "NoSuchLifecycleConfiguration",
      404,
    );
  });

  it("refuses lifecycle settings that are not positive integers", () => {
    for (const lifecycle of [{ dayLengthSeconds: 0 }, { scanIntervalSeconds: 1.5 }, { dayLengthSeconds: "60" }]) {
      assert.throws(() => resolveConfig({ lifecycle } as never), ConfigError, JSON.stringify(lifecycle));
    }
    assert.deepEqual(resolveConfig({ lifecycle: { dayLengthSeconds: 1 } }).engine.lifecycle, { dayLengthSeconds: 1 });
  });

  it("expires an object and says why", async () => {
    const bucket = uniqueName("lc-exp");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [{ ID: "soon", Status: "Enabled", Filter: {}, Expiration: { Days: 1 } }],
        },
      }),
    );
    const deleted = storage.waitForEvent(
      "objectDeleted",
      (e) => e.bucket === bucket && e.key === "k",
      15_000,
    );
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x" }));
    assert.match(put.Expiration ?? "", /^expiry-date=".+", rule-id="soon"$/);
    const event = await deleted;
    assert.equal(event.reason, "lifecycle");
    await assertS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "k" })), undefined, 404);
  });
});
