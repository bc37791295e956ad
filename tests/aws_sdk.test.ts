/** S3 round trips with @aws-sdk/client-s3 through the S3 descriptor. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, pseudoRandomBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const md5 = (data: Uint8Array | string) => createHash("md5").update(data).digest("hex");
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("@aws-sdk/client-s3 against smartstorage", () => {
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

  async function newBucket(prefix: string): Promise<string> {
    const name = uniqueName(prefix);
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  }

  async function getText(bucket: string, key: string): Promise<string> {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return text(await bodyBytes(res.Body));
  }

  it("CreateBucket then ListBuckets lists it", async () => {
    const name = await newBucket("list");
    const res = await s3.send(new ListBucketsCommand({}));
    const found = res.Buckets?.find((b) => b.Name === name);
    assert.ok(found, `bucket ${name} listed`);
    assert.ok(found.CreationDate instanceof Date);
  });

  it("CreateBucket of an owned bucket succeeds in us-east-1 and changes nothing (AWS's legacy answer)", async () => {
    const name = await newBucket("dup");
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "keep", Body: "data" }));
    const again = await s3.send(new CreateBucketCommand({ Bucket: name }));
    assert.equal(again.$metadata.httpStatusCode, 200);
    assert.equal(await getText(name, "keep"), "data");
  });

  it("CreateBucket with an invalid name fails with InvalidBucketName (400)", async () => {
    await assertS3Error(s3.send(new CreateBucketCommand({ Bucket: "Invalid_Name" })), "InvalidBucketName", 400);
  });

  it("HeadBucket answers 200 for a bucket and 404 for a missing one", async () => {
    const name = await newBucket("head");
    const res = await s3.send(new HeadBucketCommand({ Bucket: name }));
    assert.equal(res.$metadata.httpStatusCode, 200);
    await assertS3Error(s3.send(new HeadBucketCommand({ Bucket: uniqueName("missing") })), undefined, 404);
  });

  it("DeleteBucket removes an empty bucket and refuses a full one with BucketNotEmpty (409)", async () => {
    const name = await newBucket("del");
    await s3.send(new PutObjectCommand({ Bucket: name, Key: "x", Body: "x" }));
    await assertS3Error(s3.send(new DeleteBucketCommand({ Bucket: name })), "BucketNotEmpty", 409);
    await s3.send(new DeleteObjectCommand({ Bucket: name, Key: "x" }));
    await s3.send(new DeleteBucketCommand({ Bucket: name }));
    const res = await s3.send(new ListBucketsCommand({}));
    assert.equal(res.Buckets?.some((b) => b.Name === name), false);
    await assertS3Error(s3.send(new DeleteBucketCommand({ Bucket: name })), "NoSuchBucket", 404);
  });

  it("PutObject/GetObject round-trips text with its content type", async () => {
    const bucket = await newBucket("text");
    const body = "Hello, smartstorage! ünïcödé ✓";
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "greeting.txt", Body: body, ContentType: "text/plain; charset=utf-8" }),
    );
    assert.equal(put.ETag, `"${md5(body)}"`);
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "greeting.txt" }));
    assert.equal(res.ContentType, "text/plain; charset=utf-8");
    assert.equal(res.ContentLength, new TextEncoder().encode(body).length);
    assert.equal(text(await bodyBytes(res.Body)), body);
  });

  it("PutObject/GetObject round-trips binary data byte for byte", async () => {
    const bucket = await newBucket("binary");
    const data = pseudoRandomBytes(256 * 1024 + 7, 42);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "blob.bin", Body: data }));
    assert.equal(put.ETag, `"${md5(data)}"`);
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "blob.bin" }));
    const got = await bodyBytes(res.Body);
    assert.equal(got.length, data.length);
    assert.equal(md5(got), md5(data));
  });

  it("PutObject of an empty body stores a zero-byte object", async () => {
    const bucket = await newBucket("empty");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "empty", Body: new Uint8Array(0) }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "empty" }));
    assert.equal(head.ContentLength, 0);
    assert.equal(await getText(bucket, "empty"), "");
  });

  it("PutObject overwrites an existing object", async () => {
    const bucket = await newBucket("overwrite");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "first version" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "second" }));
    assert.equal(await getText(bucket, "k"), "second");
  });

  it("HeadObject returns size, ETag, type, date and metadata; 404 when missing", async () => {
    const bucket = await newBucket("headobj");
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "doc.json", Body: '{"a":1}', ContentType: "application/json" }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "doc.json" }));
    assert.equal(head.ContentLength, 7);
    assert.equal(head.ETag, `"${md5('{"a":1}')}"`);
    assert.equal(head.ContentType, "application/json");
    assert.ok(head.LastModified instanceof Date);
    assert.ok(Math.abs(head.LastModified.getTime() - Date.now()) < 5 * 60_000, "LastModified is about now");
    await assertS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "nope" })), undefined, 404);
  });

  it("GetObject of a missing key fails with NoSuchKey (404)", async () => {
    const bucket = await newBucket("nokey");
    await assertS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "does/not/exist" })), "NoSuchKey", 404);
  });

  it("calls on a missing bucket fail with NoSuchBucket (404)", async () => {
    const missing = uniqueName("nobucket");
    await assertS3Error(s3.send(new GetObjectCommand({ Bucket: missing, Key: "k" })), "NoSuchBucket", 404);
    await assertS3Error(s3.send(new PutObjectCommand({ Bucket: missing, Key: "k", Body: "x" })), "NoSuchBucket", 404);
    await assertS3Error(s3.send(new ListObjectsV2Command({ Bucket: missing })), "NoSuchBucket", 404);
  });

  it("user metadata, content type and headers round-trip", async () => {
    const bucket = await newBucket("meta");
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "photo.jpg",
        Body: "jpeg-bytes",
        ContentType: "image/jpeg",
        CacheControl: "max-age=60",
        ContentDisposition: 'attachment; filename="photo.jpg"',
        Metadata: { author: "alice", "camera-model": "x100" },
      }),
    );
    for (const res of [
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "photo.jpg" })),
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "photo.jpg" })),
    ]) {
      assert.deepEqual(res.Metadata, { author: "alice", "camera-model": "x100" });
      assert.equal(res.ContentType, "image/jpeg");
      assert.equal(res.CacheControl, "max-age=60");
      assert.equal(res.ContentDisposition, 'attachment; filename="photo.jpg"');
      if ("Body" in res) await bodyBytes(res.Body);
    }
  });

  it("ListObjectsV2 filters by prefix", async () => {
    const bucket = await newBucket("prefix");
    for (const key of ["docs/a.txt", "docs/b.txt", "images/c.png", "readme.md"]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "docs/" }));
    assert.deepEqual(res.Contents?.map((o) => o.Key), ["docs/a.txt", "docs/b.txt"]);
    assert.equal(res.KeyCount, 2);
    assert.equal(res.Contents?.[0]?.Size, "docs/a.txt".length);
    const all = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(all.Contents?.map((o) => o.Key), ["docs/a.txt", "docs/b.txt", "images/c.png", "readme.md"]);
  });

  it("ListObjectsV2 with a delimiter groups common prefixes", async () => {
    const bucket = await newBucket("delim");
    for (const key of ["a/1", "a/2", "b/1", "b/c/2", "top.txt"]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "x" }));
    }
    const root = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
    assert.deepEqual(root.CommonPrefixes?.map((p) => p.Prefix), ["a/", "b/"]);
    assert.deepEqual(root.Contents?.map((o) => o.Key), ["top.txt"]);
    const inB = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/", Prefix: "b/" }));
    assert.deepEqual(inB.CommonPrefixes?.map((p) => p.Prefix), ["b/c/"]);
    assert.deepEqual(inB.Contents?.map((o) => o.Key), ["b/1"]);
  });

  it("ListObjectsV2 pages with MaxKeys and ContinuationToken", async () => {
    const bucket = await newBucket("pages");
    const keys = Array.from({ length: 7 }, (_, i) => `key-${String(i).padStart(2, "0")}`);
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 3, ContinuationToken: token }));
      pages += 1;
      seen.push(...(res.Contents ?? []).map((o) => o.Key!));
      assert.ok((res.Contents?.length ?? 0) <= 3);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
      assert.ok(pages < 10, "pagination ends");
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, keys);
  });

  it("ListObjects (v1) lists with prefix and marker", async () => {
    const bucket = await newBucket("v1");
    for (const key of ["x/1", "x/2", "x/3", "y/1"]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "v" }));
    }
    const res = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: "x/" }));
    assert.deepEqual(res.Contents?.map((o) => o.Key), ["x/1", "x/2", "x/3"]);
    const after = await s3.send(new ListObjectsCommand({ Bucket: bucket, Marker: "x/2" }));
    assert.deepEqual(after.Contents?.map((o) => o.Key), ["x/3", "y/1"]);
  });

  it("DeleteObject removes an object; deleting a missing key answers 204", async () => {
    const bucket = await newBucket("delobj");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "gone", Body: "bye" }));
    const del = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "gone" }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    await assertS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "gone" })), "NoSuchKey", 404);
    const again = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "never-existed" }));
    assert.equal(again.$metadata.httpStatusCode, 204);
  });

  it("DeleteObjects removes several keys in one call", async () => {
    const bucket = await newBucket("delmany");
    for (const key of ["a", "b", "c", "keep"]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }
    const res = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: "a" }, { Key: "b" }, { Key: "c" }, { Key: "missing" }] },
      }),
    );
    assert.deepEqual(res.Deleted?.map((d) => d.Key).sort(), ["a", "b", "c", "missing"]);
    assert.equal(res.Errors?.length ?? 0, 0);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(left.Contents?.map((o) => o.Key), ["keep"]);
  });

  it("CopyObject copies within and across buckets, keeping or replacing metadata", async () => {
    const src = await newBucket("copysrc");
    const dst = await newBucket("copydst");
    await s3.send(
      new PutObjectCommand({
        Bucket: src,
        Key: "orig.txt",
        Body: "copy me",
        ContentType: "text/plain",
        Metadata: { origin: "src" },
      }),
    );
    const same = await s3.send(new CopyObjectCommand({ Bucket: src, Key: "dup.txt", CopySource: `${src}/orig.txt` }));
    assert.equal(same.CopyObjectResult?.ETag, `"${md5("copy me")}"`);
    assert.equal(await getText(src, "dup.txt"), "copy me");
    const kept = await s3.send(new HeadObjectCommand({ Bucket: src, Key: "dup.txt" }));
    assert.deepEqual(kept.Metadata, { origin: "src" });
    assert.equal(kept.ContentType, "text/plain");

    await s3.send(
      new CopyObjectCommand({
        Bucket: dst,
        Key: "nested/key with spaces.txt",
        CopySource: `${src}/${encodeURIComponent("orig.txt")}`,
        MetadataDirective: "REPLACE",
        Metadata: { origin: "replaced" },
        ContentType: "text/markdown",
      }),
    );
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: dst, Key: "nested/key with spaces.txt" }));
    assert.deepEqual(replaced.Metadata, { origin: "replaced" });
    assert.equal(replaced.ContentType, "text/markdown");
    assert.equal(await getText(dst, "nested/key with spaces.txt"), "copy me");
    await assertS3Error(
      s3.send(new CopyObjectCommand({ Bucket: dst, Key: "x", CopySource: `${src}/missing` })),
      "NoSuchKey",
      404,
    );
  });

  it("GetObject with Range returns 206 and the requested bytes; a bad range is InvalidRange (416)", async () => {
    const bucket = await newBucket("range");
    const body = "0123456789abcdefghij";
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "r", Body: body }));
    const cases: [string, string, string][] = [
      ["bytes=0-4", "01234", "bytes 0-4/20"],
      ["bytes=10-", "abcdefghij", "bytes 10-19/20"],
      ["bytes=-3", "hij", "bytes 17-19/20"],
      ["bytes=15-100", "fghij", "bytes 15-19/20"],
    ];
    for (const [range, expected, contentRange] of cases) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "r", Range: range }));
      assert.equal(res.$metadata.httpStatusCode, 206, range);
      assert.equal(res.ContentRange, contentRange, range);
      assert.equal(res.ContentLength, expected.length, range);
      assert.equal(text(await bodyBytes(res.Body)), expected, range);
    }
    await assertS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "r", Range: "bytes=50-60" })), "InvalidRange", 416);
  });

  it("GetObject honours If-Match / If-None-Match (412 / 304)", async () => {
    const bucket = await newBucket("cond");
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "c", Body: "conditional" }));
    await assertS3Error(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: "c", IfMatch: '"00000000000000000000000000000000"' })),
      "PreconditionFailed",
      412,
    );
    await assertS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "c", IfNoneMatch: put.ETag })), undefined, 304);
    const ok = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "c", IfMatch: put.ETag }));
    assert.equal(text(await bodyBytes(ok.Body)), "conditional");
  });

  it("keys with spaces, unicode, dots and slashes round-trip", async () => {
    const bucket = await newBucket("keys");
    const keys = [
      "with space/and+plus.txt",
      "ünïcödé/日本語/😀.txt",
      "a/../b/./c",
      "double//slash",
      "trailing/",
      "percent%20literal&amp=?#",
    ];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
    for (const key of keys) assert.equal(await getText(bucket, key), `body of ${key}`, key);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(), [...keys].sort());
  });

  it("multipart upload via @aws-sdk/lib-storage assembles the parts", async () => {
    const bucket = await newBucket("multipart");
    const data = pseudoRandomBytes(11 * 1024 * 1024 + 123, 7);
    const completed = storage.waitForEvent("multipartCompleted", (e) => e.bucket === bucket, 60_000);
    const upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: "big/file.bin", Body: data, ContentType: "application/octet-stream" },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    const result = await upload.done();
    assert.match(String(result.ETag), /-3"?$/, `multipart ETag ${result.ETag}`);
    const event = await completed;
    assert.equal(event.size, data.length);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "big/file.bin" }));
    assert.equal(head.ContentLength, data.length);
    assert.equal(head.ContentType, "application/octet-stream");
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big/file.bin" }));
    assert.equal(md5(await bodyBytes(res.Body)), md5(data));
    const ranged = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: "big/file.bin", Range: `bytes=${5 * 1024 * 1024 - 2}-${5 * 1024 * 1024 + 1}` }),
    );
    assert.deepEqual(
      [...(await bodyBytes(ranged.Body))],
      [...data.subarray(5 * 1024 * 1024 - 2, 5 * 1024 * 1024 + 2)],
      "a range across a part boundary",
    );
  }, { timeoutMs: 120_000 });
});
