/**
 * The `testing` entry point (useSmartStorage) with the harness's hooks, a
 * failing start seen only once, and the client wiring of SmartStorage:
 * `s3ClientConfig()` in a real S3Client (HTTP and HTTPS) and `env()` in a
 * child process.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  BinaryNotFoundError,
  NotRunningError,
  SmartStorageError,
} from "../src/errors.ts";
import { SmartStorage } from "../src/smart_storage.ts";
import { type HookRegistrar, useSmartStorage } from "../src/testing.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { bodyBytes, repoRoot } from "./helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs tests/fixtures/list_buckets_from_env.mjs with Node and only `env` (plus PATH). */
function listBucketsInChild(
  env: Record<string, string | undefined>,
): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    const child = spawn("node", [
      join(repoRoot, "tests/fixtures/list_buckets_from_env.mjs"),
    ], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } as Record<
        string,
        string
      >,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`child exited with ${code}: ${err}`));
      else resolve(JSON.parse(out) as string[]);
    });
  });
}

async function putAndGet(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "hello.txt",
      Body: "hello from s3ClientConfig",
    }),
  );
  const got = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: "hello.txt" }),
  );
  assert.equal(text(await bodyBytes(got.Body)), "hello from s3ClientConfig");
}

describe("useSmartStorage() with before-all/after-all hooks", () => {
  const fixture = useSmartStorage({ before: beforeAll, after: afterAll });

  it("useSmartStorage() starts an ephemeral server on a free port in the before-all hook", () => {
    assert.equal(fixture.storage.running, true);
    assert.notEqual(fixture.storage.info?.port, 0);
    assert.equal(fixture.storage.config.engine.auth.enabled, true);
  });

  it("freshBucket() creates a bucket with a new name on each call", async () => {
    const a = await fixture.freshBucket();
    const b = await fixture.freshBucket("photos");
    assert.notEqual(a, b);
    assert.match(a, /^test-/);
    assert.match(b, /^photos-/);
    const names = (await fixture.storage.listBucketSummaries()).map((s) =>
      s.name
    );
    assert.ok(
      names.includes(a) && names.includes(b),
      `both exist: ${names.join(", ")}`,
    );
  });

  it("freshBucket(prefix, settings) applies the settings", async () => {
    const name = await fixture.freshBucket("versioned", {
      versioning: "Enabled",
    });
    const again = await fixture.storage.ensureBucket(name);
    assert.equal(again.created, false);
  });

  it("s3ClientConfig() is what new S3Client() takes: PutObject then GetObject", async () => {
    const config = fixture.s3ClientConfig();
    assert.equal(config.endpoint, fixture.storage.endpointUrl);
    assert.equal(config.forcePathStyle, true);
    assert.equal(config.requestHandler, undefined, "no handler without TLS");
    const s3 = new S3Client(config);
    try {
      await putAndGet(s3, await fixture.freshBucket());
    } finally {
      s3.destroy();
    }
  });

  it("env() points a child process's AWS SDK at the server", async () => {
    const env = fixture.env();
    const d = await fixture.storage.getS3Descriptor();
    assert.deepEqual(env, {
      AWS_ENDPOINT_URL: fixture.storage.endpointUrl,
      AWS_ACCESS_KEY_ID: d.accessKey,
      AWS_SECRET_ACCESS_KEY: d.accessSecret,
      AWS_REGION: d.region,
    });
    const bucket = await fixture.freshBucket("from-env");
    const names = await listBucketsInChild({ ...env });
    assert.ok(
      names.includes(bucket),
      `the child lists ${bucket}: ${names.join(", ")}`,
    );
  });
});

describe("s3ClientConfig() and env() with TLS (self-signed)", () => {
  const fixture = useSmartStorage({
    before: beforeAll,
    after: afterAll,
    server: { tls: true },
  });

  it("s3ClientConfig() trusts exactly the server's certificate: PutObject then GetObject over HTTPS", async () => {
    const config = fixture.s3ClientConfig();
    assert.match(config.endpoint, /^https:\/\//);
    assert.ok(
      config.requestHandler?.httpsAgent,
      "an https.Agent with the certificate",
    );
    const s3 = new S3Client(config);
    try {
      await putAndGet(s3, await fixture.freshBucket());
    } finally {
      s3.destroy();
    }
  });

  it("s3ClientConfig() without its requestHandler does not trust the self-signed certificate", async () => {
    const { requestHandler: _unused, ...config } = fixture.s3ClientConfig();
    _unused?.httpsAgent.destroy();
    const s3 = new S3Client({ ...config, maxAttempts: 1 });
    try {
      await assert.rejects(
        s3.send(new HeadBucketCommand({ Bucket: "nope" })),
        (err: Error) => {
          assert.doesNotMatch(String(err), /NotFound|NoSuchBucket/);
          return true;
        },
      );
    } finally {
      s3.destroy();
    }
  });

  it("env() writes the certificate to a CA file a child process trusts", async () => {
    const env = fixture.env();
    assert.ok(env.AWS_CA_BUNDLE, "AWS_CA_BUNDLE");
    assert.equal(env.NODE_EXTRA_CA_CERTS, env.AWS_CA_BUNDLE);
    assert.equal(env.DENO_CERT, env.AWS_CA_BUNDLE);
    assert.equal(
      readFileSync(env.AWS_CA_BUNDLE, "utf8"),
      fixture.storage.certificatePem,
    );
    const bucket = await fixture.freshBucket("tls-env");
    const names = await listBucketsInChild({ ...env });
    assert.ok(
      names.includes(bucket),
      `the child lists ${bucket}: ${names.join(", ")}`,
    );
  });
});

describe("SmartStorage client wiring outside a run", () => {
  it("s3ClientConfig() and env() throw NotRunningError before start and after stop", async () => {
    const storage = new SmartStorage({ ephemeral: true });
    assert.throws(() => storage.s3ClientConfig(), NotRunningError);
    assert.throws(() => storage.env(), NotRunningError);
    await storage.start();
    try {
      assert.ok(storage.env().AWS_ENDPOINT_URL);
    } finally {
      await storage.stop();
    }
    assert.throws(() => storage.s3ClientConfig(), NotRunningError);
    assert.throws(() => storage.env(), NotRunningError);
  });

  it("stop() removes the CA file env() wrote", async () => {
    const fixture = useSmartStorage({ server: { tls: true } });
    await fixture.start();
    let file: string | undefined;
    try {
      file = fixture.env().AWS_CA_BUNDLE;
      assert.ok(file && existsSync(file));
    } finally {
      await fixture.stop();
    }
    assert.equal(existsSync(file), false);
  });
});

describe("useSmartStorage() when the start fails", () => {
  it("the before-all hook rejects with the start error and the after-all hook resolves", async () => {
    let before: (() => Promise<void>) | undefined;
    let after: (() => Promise<void>) | undefined;
    const registerBefore: HookRegistrar = (fn) => (before = fn);
    const registerAfter: HookRegistrar = (fn) => (after = fn);
    const fixture = useSmartStorage({
      before: registerBefore,
      after: registerAfter,
      binaryPath: join(repoRoot, "no-such-dir", "ruststorage"),
    });
    assert.ok(before && after, "both hooks registered");
    await assert.rejects(before(), (err: unknown) => {
      assert.ok(
        err instanceof BinaryNotFoundError,
        `BinaryNotFoundError: ${String(err)}`,
      );
      return true;
    });
    await after();
    await assert.rejects(fixture.freshBucket(), SmartStorageError);
    assert.throws(() => fixture.s3ClientConfig(), NotRunningError);
  });
});
