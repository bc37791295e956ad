/**
 * Auth on without credentials: a random pair is generated, and the published
 * placeholder pair is refused. Auth off keeps the placeholder (nothing is checked).
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListBucketsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, PUBLISHED_PAIR, s3ClientAt, uniqueName } from "./helpers.ts";

describe("auth on without credentials", () => {
  let dir = "";
  const servers: SmartStorage[] = [];

  /** Not ephemeral (that preset has its own random keys): plain `auth: { enabled: true }`. */
  async function start(name: string, enabled: boolean) {
    const storage = await SmartStorage.createAndStart({ storage: { directory: join(dir, name) }, auth: { enabled } });
    servers.push(storage);
    return storage;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smartstorage-auth-"));
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it("the descriptor and listCredentials() give a random pair, different per server", async () => {
    const a = await start("a", true);
    const b = await start("b", true);
    const da = await a.getS3Descriptor();
    const db = await b.getS3Descriptor();
    assert.notEqual(da.accessKey, PUBLISHED_PAIR.accessKeyId);
    assert.notEqual(da.accessSecret, PUBLISHED_PAIR.secretAccessKey);
    assert.ok(da.accessKey.length >= 16, `access key ${da.accessKey}`);
    assert.ok(da.accessSecret.length >= 32, "secret of at least 32 characters");
    assert.notEqual(da.accessKey, db.accessKey);
    assert.notEqual(da.accessSecret, db.accessSecret);
    assert.deepEqual(await a.listCredentials(), [{ accessKeyId: da.accessKey, secretAccessKey: da.accessSecret }]);
  });

  it("the published pair gets 403 InvalidAccessKeyId, the generated pair works", async () => {
    const storage = await start("c", true);
    const d = await storage.getS3Descriptor();
    const bucket = uniqueName("auth-default");
    await storage.createBucket(bucket);
    const fixed = s3ClientAt(storage.endpointUrl, d.region, PUBLISHED_PAIR);
    const generated = s3ClientAt(storage.endpointUrl, d.region, { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret });
    try {
      await assertS3Error(fixed.send(new ListBucketsCommand({})), "InvalidAccessKeyId", 403);
      await assertS3Error(fixed.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x" })), "InvalidAccessKeyId", 403);
      await generated.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x" }));
      const list = await generated.send(new ListBucketsCommand({}));
      assert.ok(list.Buckets?.some((b) => b.Name === bucket));
    } finally {
      fixed.destroy();
      generated.destroy();
    }
  });

  it("auth off is unchanged: the descriptor gives the placeholder pair and any pair is accepted", async () => {
    const storage = await start("d", false);
    const d = await storage.getS3Descriptor();
    assert.equal(d.accessKey, PUBLISHED_PAIR.accessKeyId);
    const bucket = uniqueName("auth-off");
    await storage.createBucket(bucket);
    const other = s3ClientAt(storage.endpointUrl, d.region, { accessKeyId: "ANYKEY", secretAccessKey: "any-secret" });
    try {
      await other.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x" }));
    } finally {
      other.destroy();
    }
  });
});
