/**
 * POST Object (browser form uploads) with @aws-sdk/s3-presigned-post's createPresignedPost
 * and the runtime's own fetch and FormData, on Deno, Bun and Node: a signed form with
 * conditions stores the file and its headers, `${filename}` names the key, 201 answers
 * a PostResponse document, and the policy's refusals come back as AWS words them.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");

/** The presigned fields, then the file: the file must come last. */
function form(fields: Record<string, string>, file: Uint8Array<ArrayBuffer>, filename = "upload.bin"): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  data.append("file", new Blob([file]), filename);
  return data;
}

/** The `<Code>` and `<Message>` of an S3 error document. */
function errorOf(text: string): { code?: string; message?: string } {
  return {
    code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1],
  };
}

describe("POST Object (@aws-sdk/s3-presigned-post + fetch)", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let bucket: string;

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    bucket = uniqueName("post");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("a signed form stores the file with its Content-Type and metadata; 201 answers a PostResponse", async () => {
    const body = new TextEncoder().encode("posted from a form\n".repeat(50));
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: bucket,
      Key: "forms/${filename}",
      Conditions: [
        ["starts-with", "$key", "forms/"],
        ["content-length-range", 1, 10_000],
        ["starts-with", "$Content-Type", "text/"],
        { "x-amz-meta-origin": "ts" },
        { success_action_status: "201" },
      ],
      Fields: { "Content-Type": "text/plain", "x-amz-meta-origin": "ts", success_action_status: "201" },
      Expires: 300,
    });
    const res = await fetch(url, { method: "POST", body: form(fields, body, "note.txt") });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    assert.match(text, /<PostResponse>/);
    assert.match(text, new RegExp(`<Bucket>${bucket}</Bucket>`));
    assert.match(text, /<Key>forms\/note\.txt<\/Key>/);
    assert.equal(res.headers.get("etag"), `"${md5(body)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "forms/note.txt" }));
    assert.deepEqual(await bodyBytes(got.Body), body);
    assert.equal(got.ContentType, "text/plain");
    assert.deepEqual(got.Metadata, { origin: "ts" });
  });

  it("the default answer is 204 with the object's Location", async () => {
    const { url, fields } = await createPresignedPost(s3, { Bucket: bucket, Key: "plain.bin" });
    const res = await fetch(url, { method: "POST", body: form(fields, new Uint8Array([1, 2, 3])) });
    assert.equal(res.status, 204, await res.text());
    assert.match(res.headers.get("location") ?? "", new RegExp(`/${bucket}/plain\\.bin$`));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "plain.bin" }));
    assert.equal(head.ContentLength, 3);
  });

  it("a file over content-length-range is EntityTooLarge and nothing is stored", async () => {
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: bucket,
      Key: "too-big.bin",
      Conditions: [["content-length-range", 0, 16]],
    });
    const res = await fetch(url, { method: "POST", body: form(fields, new Uint8Array(1000)) });
    assert.equal(res.status, 400);
    assert.equal(errorOf(await res.text()).code, "EntityTooLarge");
    await assertS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "too-big.bin" })), undefined, 404);
  });

  it("a field the policy does not name, and a tampered signature, are refused", async () => {
    const { url, fields } = await createPresignedPost(s3, { Bucket: bucket, Key: "refused.bin" });
    let res = await fetch(url, {
      method: "POST",
      body: form({ ...fields, "x-amz-meta-extra": "1" }, new Uint8Array(1)),
    });
    assert.equal(res.status, 403);
    assert.deepEqual(errorOf(await res.text()), {
      code: "AccessDenied",
      message: "Invalid according to Policy: Extra input fields: x-amz-meta-extra",
    });
    const signature = fields["X-Amz-Signature"]!;
    const tampered = signature.slice(0, -1) + (signature.endsWith("0") ? "1" : "0");
    res = await fetch(url, { method: "POST", body: form({ ...fields, "X-Amz-Signature": tampered }, new Uint8Array(1)) });
    assert.equal(res.status, 403);
    assert.equal(errorOf(await res.text()).code, "SignatureDoesNotMatch");
    await assertS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "refused.bin" })), undefined, 404);
  });

  it("an unsigned form is refused without a bucket policy that allows it", async () => {
    const { url } = await createPresignedPost(s3, { Bucket: bucket, Key: "anon.bin" });
    const res = await fetch(url, { method: "POST", body: form({ key: "anon.bin" }, new Uint8Array(1)) });
    assert.equal(res.status, 403);
    assert.equal(errorOf(await res.text()).code, "AccessDenied");
  });
});
