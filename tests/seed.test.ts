/**
 * Seeding: importFolder and exportFolder on the real engine. A folder tree (nested
 * folders, unicode names, an empty file, a file over 1 MiB) goes in and comes back out
 * byte for byte; content types are guessed; prefixes; keys that would escape the
 * target folder are skipped and reported; missing bucket and folder errors.
 */

import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import { SmartStorageError } from "../src/errors.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { bodyBytes, pseudoRandomBytes, s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

/** Every file under `dir`, as relative path -> bytes. */
async function readTree(dir: string, base = ""): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const entry of await readdir(join(dir, base), { withFileTypes: true })) {
    const rel = base === "" ? entry.name : `${base}/${entry.name}`;
    if (entry.isDirectory()) for (const [k, v] of await readTree(dir, rel)) files.set(k, v);
    else files.set(rel, new Uint8Array(await readFile(join(dir, rel))));
  }
  return files;
}

function bytesOf(content: Uint8Array | string): Uint8Array {
  return typeof content === "string" ? new TextEncoder().encode(content) : content;
}

describe("seeding: importFolder and exportFolder", () => {
  let storage: SmartStorage;
  let s3: S3Client;
  let scratch: string;
  const big = pseudoRandomBytes(1024 * 1024 + 12345, 7);
  const tree: Record<string, Uint8Array | string> = {
    "index.html": "<h1>hi</h1>",
    "data/config.json": '{"a":1}',
    "data/deep/er/notes.txt": "deep",
    "img/pixel.png": new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    "ünïcödé/日本語 file.txt": "unicode",
    "empty.bin": "",
    "big/blob.dat": big,
  };

  async function makeTree(): Promise<string> {
    const dir = await mkdtemp(join(scratch, "src-"));
    for (const [rel, content] of Object.entries(tree)) {
      const path = join(dir, rel);
      await mkdir(join(path, ".."), { recursive: true });
      await writeFile(path, content);
    }
    return dir;
  }

  async function rejectsWith(promise: Promise<unknown>, code: string, mentions?: string) {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof SmartStorageError, `expected a SmartStorageError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (mentions !== undefined) assert.ok(err.message.includes(mentions), err.message);
      return true;
    });
  }

  beforeAll(async () => {
    storage = await startTestServer();
    s3 = await s3ClientFor(storage);
    scratch = await mkdtemp(join(tmpdir(), "smartstorage-seed-"));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("round-trips a folder tree byte for byte, with keys from relative paths and guessed content types", async () => {
    const bucket = uniqueName("seed");
    await storage.ensureBucket(bucket);
    const src = await makeTree();
    const imported = await storage.importFolder(bucket, src);
    const totalBytes = Object.values(tree).reduce((n, c) => n + bytesOf(c).length, 0);
    assert.deepEqual(imported, { imported: Object.keys(tree).length, bytes: totalBytes });

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), Object.keys(tree).sort());

    const type = async (key: string) => (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentType;
    assert.equal(await type("data/config.json"), "application/json");
    assert.equal(await type("img/pixel.png"), "image/png");
    assert.equal(await type("index.html"), "text/html");
    assert.equal(await type("data/deep/er/notes.txt"), "text/plain");
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big/blob.dat" }));
    assert.deepEqual(await bodyBytes(got.Body), big);

    const out = join(scratch, `out-${bucket}`, "not", "there", "yet");
    const exported = await storage.exportFolder(bucket, out);
    assert.deepEqual(exported, { exported: Object.keys(tree).length, bytes: totalBytes, skippedCount: 0, skipped: [] });
    const files = await readTree(out);
    assert.deepEqual([...files.keys()].sort(), Object.keys(tree).sort());
    for (const [rel, content] of Object.entries(tree)) {
      assert.deepEqual(files.get(rel), bytesOf(content), rel);
    }

    // Again over the same folder: existing files are replaced.
    await writeFile(join(out, "index.html"), "stale and longer than before");
    assert.equal((await storage.exportFolder(bucket, out)).exported, Object.keys(tree).length);
    assert.equal(await readFile(join(out, "index.html"), "utf8"), "<h1>hi</h1>");
  });

  it("puts the prefix before each key on import and exports only the keys under it, without it", async () => {
    const bucket = uniqueName("seedprefix");
    await storage.ensureBucket(bucket);
    const src = join(scratch, `small-${bucket}`);
    await mkdir(join(src, "sub"), { recursive: true });
    await writeFile(join(src, "a.txt"), "a");
    await writeFile(join(src, "sub", "b.css"), "b{}");
    assert.deepEqual(await storage.importFolder(bucket, src, { prefix: "v1/" }), { imported: 2, bytes: 4 });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "other/c.txt", Body: "c" }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual((listed.Contents ?? []).map((o) => o.Key), ["other/c.txt", "v1/a.txt", "v1/sub/b.css"]);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "v1/sub/b.css" }));
    assert.equal(head.ContentType, "text/css");

    const out = join(scratch, `prefix-out-${bucket}`);
    const exported = await storage.exportFolder(bucket, out, { prefix: "v1/" });
    assert.equal(exported.exported, 2);
    assert.deepEqual([...(await readTree(out)).keys()].sort(), ["a.txt", "sub/b.css"]);
  });

  it("never writes outside the folder: keys that would escape are skipped and listed", async () => {
    const bucket = uniqueName("seedevil");
    await storage.ensureBucket(bucket);
    const evil = ["../evil", "a/../../b", "/abs", "x//y", "./dot", "dir/", "back\\slash"];
    for (const key of [...evil, "good/file.txt"]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
    }
    const parent = await mkdtemp(join(scratch, "evil-"));
    const out = join(parent, "target");
    const result = await storage.exportFolder(bucket, out);
    assert.equal(result.exported, 1);
    assert.equal(result.skippedCount, evil.length);
    assert.deepEqual([...result.skipped].sort(), [...evil].sort());
    // Only the target folder in its parent, and only the good file in it.
    assert.deepEqual(await readdir(parent), ["target"]);
    assert.deepEqual([...(await readTree(out)).keys()], ["good/file.txt"]);
    // A symlink already in the folder is not written through.
    const outside = await mkdtemp(join(scratch, "outside-"));
    const out2 = join(parent, "target2");
    await mkdir(out2);
    await symlink(outside, join(out2, "good"));
    const again = await storage.exportFolder(bucket, out2);
    assert.equal(again.exported, 0);
    assert.ok(again.skipped.includes("good/file.txt"), again.skipped.join(", "));
    assert.deepEqual(await readdir(outside), []);
  });

  it("follows symlinks inside the folder and refuses those pointing outside, naming them", async () => {
    const bucket = uniqueName("seedlink");
    await storage.ensureBucket(bucket);
    const src = await mkdtemp(join(scratch, "links-"));
    await mkdir(join(src, "real"));
    await writeFile(join(src, "real", "f.txt"), "f");
    await symlink(join(src, "real"), join(src, "alias"));
    assert.deepEqual(await storage.importFolder(bucket, src), { imported: 2, bytes: 2 });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual((listed.Contents ?? []).map((o) => o.Key), ["alias/f.txt", "real/f.txt"]);

    const outside = await mkdtemp(join(scratch, "elsewhere-"));
    await writeFile(join(outside, "secret.txt"), "s");
    await symlink(join(outside, "secret.txt"), join(src, "escape.txt"));
    await rejectsWith(storage.importFolder(bucket, src), "InvalidArgument", "escape.txt");
  });

  it("answers NoSuchBucket and InvalidArgument (with the path) for a missing bucket or folder", async () => {
    const src = await mkdtemp(join(scratch, "missing-"));
    await rejectsWith(storage.importFolder(uniqueName("nobucket"), src), "NoSuchBucket");
    await rejectsWith(storage.exportFolder(uniqueName("nobucket"), src), "NoSuchBucket");
    const bucket = uniqueName("seedmissing");
    await storage.ensureBucket(bucket);
    const missing = join(scratch, "no", "such", "folder");
    await rejectsWith(storage.importFolder(bucket, missing), "InvalidArgument", missing);
    // A file where the target folder should be.
    const file = join(src, "plain.txt");
    await writeFile(file, "x");
    await rejectsWith(storage.exportFolder(bucket, file), "InvalidArgument", file);
  });
});
