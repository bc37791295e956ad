/**
 * Edges of the S3 API where AWS's answer is easy to get wrong (issue 19), through
 * @aws-sdk/client-s3: re-creating an owned bucket, ListBuckets paging, version and
 * delete-marker headers, non-ASCII metadata, conditional deletes, a part uploaded twice,
 * unimplemented sub-resources, keys only `encoding-type=url` can carry.
 */

import assert from "node:assert/strict";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTorrentCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("S3 edges with @aws-sdk/client-s3", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let regional: SmartStorage;
  let s3Regional: S3Client;

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    regional = await startTestServer({ server: { region: "eu-west-1" } });
    s3Regional = await s3ClientFor(regional);
  });

  afterAll(async () => {
    s3?.destroy();
    s3Regional?.destroy();
    await storage?.stop();
    await regional?.stop();
  });

  async function newBucket(prefix: string, client = s3): Promise<string> {
    const name = uniqueName(prefix);
    await client.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  }

  async function getText(bucket: string, key: string): Promise<string> {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return text(await bodyBytes(res.Body));
  }

  it("CreateBucket of an owned bucket is 409 BucketAlreadyOwnedByYou outside us-east-1", async () => {
    const name = await newBucket("dup", s3Regional);
    await s3Regional.send(new PutObjectCommand({ Bucket: name, Key: "keep", Body: "data" }));
    await assertS3Error(s3Regional.send(new CreateBucketCommand({ Bucket: name })), "BucketAlreadyOwnedByYou", 409);
    const kept = await s3Regional.send(new GetObjectCommand({ Bucket: name, Key: "keep" }));
    assert.equal(text(await bodyBytes(kept.Body)), "data");
  });

  it("ListBuckets pages with MaxBuckets and ContinuationToken, echoing Prefix", async () => {
    const prefix = uniqueName("lbp").slice(0, 24);
    const names = ["a", "b", "c"].map((s) => `${prefix}-${s}`);
    for (const name of names) await s3.send(new CreateBucketCommand({ Bucket: name }));
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListBucketsCommand({ MaxBuckets: 2, Prefix: prefix, ContinuationToken: token }));
      assert.equal(page.Prefix, prefix);
      seen.push(...(page.Buckets ?? []).map((b) => b.Name!));
      token = page.ContinuationToken;
    } while (token);
    assert.deepEqual(seen, names);
    await assertS3Error(s3.send(new ListBucketsCommand({ MaxBuckets: 0 })), "InvalidArgument", 400);
  });

  it("an unversioned bucket answers no VersionId and no DeleteMarker", async () => {
    const bucket = await newBucket("nover");
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x" }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "k" }));
    const del = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k" }));
    assert.deepEqual([put.VersionId, head.VersionId, del.VersionId, del.DeleteMarker], [
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("non-ASCII metadata comes back as an RFC 2047 encoded word, encoded words as sent", async () => {
    const bucket = await newBucket("meta");
    const word = "=?UTF-8?B?w6l0w6k=?="; // "été"
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x", Metadata: { word, raw: "café", plain: "ok" } }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "k" }));
    assert.deepEqual(head.Metadata, { word, raw: "=?UTF-8?B?Y2Fmw6k=?=", plain: "ok" });
  });

  it("DeleteObject with IfMatch deletes only the matching current object", async () => {
    const bucket = await newBucket("ifmatch");
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "one" }));
    const wrong = '"00000000000000000000000000000000"';
    await assertS3Error(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k", IfMatch: wrong })), "PreconditionFailed", 412);
    assert.equal(await getText(bucket, "k"), "one");
    await assertS3Error(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "absent", IfMatch: "*" })), "NoSuchKey", 404);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k", IfMatch: ETag }));
    await assertS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "k" })), undefined, 404);
    // DeleteObjects: the condition per object, as its ETag
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a", Body: "a" }));
    const res = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "a", ETag: wrong }] } }),
    );
    assert.deepEqual(res.Errors?.map((e) => [e.Key, e.Code]), [["a", "PreconditionFailed"]]);
    assert.equal(await getText(bucket, "a"), "a");
  });

  it("a part uploaded twice completes with the second upload; the first ETag is InvalidPart", async () => {
    const bucket = await newBucket("twice");
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "k" }));
    const part = (Body: string) =>
      s3.send(new UploadPartCommand({ Bucket: bucket, Key: "k", UploadId, PartNumber: 1, Body }));
    const first = await part("first");
    const second = await part("second");
    const complete = (ETag: string | undefined) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: "k",
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
        }),
      );
    await assertS3Error(complete(first.ETag), "InvalidPart", 400);
    await complete(second.ETag);
    assert.equal(await getText(bucket, "k"), "second");
  });

  it("GetObjectTorrent answers NoSuchKey for a missing key, else 501 NotImplemented", async () => {
    const bucket = await newBucket("torrent");
    await assertS3Error(s3.send(new GetObjectTorrentCommand({ Bucket: bucket, Key: "absent" })), "NoSuchKey", 404);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x" }));
    await assertS3Error(s3.send(new GetObjectTorrentCommand({ Bucket: bucket, Key: "k" })), "NotImplemented", 501);
    assert.equal(await getText(bucket, "k"), "x");
  });

  it("ListObjectsV2 returns keys with control characters, %, + and spaces exactly (encoding-type=url)", async () => {
    const bucket = await newBucket("awkward");
    const keys = ["a\u0001b", "c%d+e f", "\u00fc\u001f/x"].sort();
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: "x" }));
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, EncodingType: "url" }));
    // The JS SDK hands the encoded keys on as they are (boto3 decodes them itself).
    assert.deepEqual(res.Contents?.map((o) => decodeURIComponent(o.Key!)), keys);
    assert.ok(res.Contents?.every((o) => /^[A-Za-z0-9._~/%-]+$/.test(o.Key!)));
  });
});
