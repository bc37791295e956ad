/**
 * Test fixtures: one line gives a test file a throw-away S3 server, started
 * before its tests and stopped after them, with a fresh bucket per test on
 * request. Works with any runner that has before-all/after-all hooks: pass them
 * in (this module imports no test framework).
 *
 * | Runner | Hooks to pass |
 * |---|---|
 * | `node:test` | `{ before, after }` from `node:test` |
 * | `bun:test` | `{ before: beforeAll, after: afterAll }` from `bun:test` |
 * | vitest | `{ before: beforeAll, after: afterAll }` from `vitest` |
 * | `Deno.test` | `{ before: Deno.test.beforeAll, after: Deno.test.afterAll }` |
 *
 * @example node:test
 * ```ts
 * import { after, before, it } from "node:test";
 * import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
 * import { useSmartStorage } from "@push-rocks/smartstorage/testing";
 *
 * const storage = useSmartStorage({ before, after });
 *
 * it("uploads", async () => {
 *   const bucket = await storage.freshBucket();
 *   const s3 = new S3Client(storage.s3ClientConfig());
 *   await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a.txt", Body: "hello" }));
 *   s3.destroy();
 * });
 * ```
 *
 * @module
 */

import type { BucketSettings, SmartStorageConfig } from "./config.ts";
import type { StartResult } from "./protocol.ts";
import {
  type S3ClientConfig,
  type S3Env,
  SmartStorage,
} from "./smart_storage.ts";

/**
 * A before-all or after-all hook registrar of a test runner: `before`/`after`
 * of `node:test`, `beforeAll`/`afterAll` of `bun:test` and vitest,
 * `Deno.test.beforeAll`/`Deno.test.afterAll`.
 */
export type HookRegistrar = (fn: () => Promise<void>) => unknown;

/** Options of {@linkcode useSmartStorage}: the runner's hooks plus any server configuration. */
export type UseSmartStorageOptions = SmartStorageConfig & {
  /** Registers the start: the runner's before-all hook. Omit it to call `start()` yourself. */
  before?: HookRegistrar;
  /** Registers the stop: the runner's after-all hook. Omit it to call `stop()` yourself. */
  after?: HookRegistrar;
};

/** The server of a test file, as given by {@linkcode useSmartStorage}. */
export interface SmartStorageFixture extends AsyncDisposable {
  /** The server (created at once, started by the before-all hook). */
  readonly storage: SmartStorage;
  /**
   * Starts the server; what the before-all hook runs. Rejects with the start
   * error (e.g. `BinaryNotFoundError`, `StartTimeoutError`).
   *
   * @returns Where the server listens.
   */
  start(): Promise<StartResult>;
  /**
   * Stops the server and removes its data; what the after-all hook runs. Never
   * rejects after a failed start (the start error is the one to see); a server
   * that was never started stops at once.
   */
  stop(): Promise<void>;
  /**
   * Creates a bucket with a name no other test uses and returns the name.
   *
   * @param prefix Readable start of the name (lowercase letters, digits, dashes); default `test`.
   * @param settings Versioning, policy, CORS to give it (as `ensureBucket`).
   * @returns The bucket's name.
   */
  freshBucket(prefix?: string, settings?: BucketSettings): Promise<string>;
  /**
   * `new S3Client(...)` configuration; see {@linkcode SmartStorage.s3ClientConfig}.
   *
   * @returns Endpoint, region, path style, credentials (and the TLS trust with TLS).
   */
  s3ClientConfig(): S3ClientConfig;
  /**
   * Environment variables for child processes; see {@linkcode SmartStorage.env}.
   *
   * @returns `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` (and CA files with TLS).
   */
  env(): S3Env;
}

let bucketCounter = 0;

/**
 * A throw-away S3 server for the tests of one file: registers its start with
 * `before` and its stop with `after`. Defaults: `ephemeral: true` (a temporary
 * folder removed at stop, port 0, auth on with a random key pair); any
 * {@linkcode SmartStorageConfig} field overrides them.
 *
 * The hooks run with the runner's default hook timeout; starting takes well
 * under a second once the engine binary is found.
 *
 * @param options `before`/`after` hooks and server configuration.
 * @returns The fixture: `freshBucket()`, `s3ClientConfig()`, `env()`, `storage`.
 * @throws {ConfigError} When the configuration is invalid (at once, not in the hook).
 *
 * @example bun:test (vitest: the same names from "vitest")
 * ```ts
 * import { afterAll, beforeAll, expect, test } from "bun:test";
 * import { useSmartStorage } from "@push-rocks/smartstorage/testing";
 *
 * const storage = useSmartStorage({ before: beforeAll, after: afterAll });
 *
 * test("a bucket", async () => {
 *   expect(await storage.freshBucket("photos")).toStartWith("photos-");
 * });
 * ```
 *
 * @example Deno.test
 * ```ts
 * import { useSmartStorage } from "@push-rocks/smartstorage/testing";
 *
 * const storage = useSmartStorage({ before: Deno.test.beforeAll, after: Deno.test.afterAll });
 *
 * Deno.test("a bucket", async () => {
 *   const bucket = await storage.freshBucket();
 *   console.log(bucket, storage.s3ClientConfig().endpoint);
 * });
 * ```
 */
export function useSmartStorage(
  options: UseSmartStorageOptions = {},
): SmartStorageFixture {
  const { before, after, ...config } = options;
  const storage = new SmartStorage({ ephemeral: true, ...config });
  let startFailed = false;

  const fixture: SmartStorageFixture = {
    storage,
    async start() {
      try {
        return await storage.start();
      } catch (err) {
        startFailed = true;
        throw err;
      }
    },
    async stop() {
      try {
        await storage.stop();
      } catch (err) {
        // After a failed start the user must see the start error, not this one.
        if (!startFailed) throw err;
      }
    },
    async freshBucket(prefix = "test", settings) {
      bucketCounter += 1;
      const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(
        36,
      );
      const name = `${prefix}-${bucketCounter}-${
        Date.now().toString(36)
      }-${random}`.toLowerCase().slice(0, 63)
        .replace(/[-.]+$/, "");
      if (settings === undefined) await storage.createBucket(name);
      else await storage.ensureBucket(name, settings);
      return name;
    },
    s3ClientConfig: () => storage.s3ClientConfig(),
    env: () => storage.env(),
    [Symbol.asyncDispose]: () => fixture.stop(),
  };
  if (before !== undefined) before(async () => void (await fixture.start()));
  if (after !== undefined) after(() => fixture.stop());
  return fixture;
}
