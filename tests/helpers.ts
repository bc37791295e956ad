/**
 * Shared test helpers: servers, unique names, an S3 client from a descriptor,
 * and assertions on S3 errors.
 *
 * The tests find the engine through the same lookup chain as users
 * (`SMARTSTORAGE_BINARY`, then the local Cargo build).
 *
 * @module
 */

import assert from "node:assert/strict";
import { S3Client } from "@aws-sdk/client-s3";
import { packageRoot } from "../src/binary.ts";
import type { SmartStorageConfig } from "../src/config.ts";
import { SmartStorage } from "../src/smart_storage.ts";

/** Root of the repository (also when running the compiled tests from dist/). */
export const repoRoot: string = packageRoot()!;

let counter = 0;

/**
 * A bucket name that no other test (or parallel test run) uses.
 *
 * @param prefix Readable prefix (lowercase letters, digits, dashes).
 * @returns A valid S3 bucket name.
 */
export function uniqueName(prefix = "test"): string {
  counter += 1;
  const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  return `${prefix}-${Date.now().toString(36)}-${random}-${counter}`.toLowerCase().slice(0, 63);
}

/**
 * Starts an ephemeral server (temp folder, port 0, random credentials, auth on).
 *
 * @param config Overrides.
 * @returns The running server.
 */
export function startTestServer(config: SmartStorageConfig = {}): Promise<SmartStorage> {
  return SmartStorage.createAndStart({ ephemeral: true, ...config });
}

/**
 * An AWS SDK v3 client pointed at `storage` through its S3 descriptor.
 *
 * @param storage A running server.
 * @returns The client (call `destroy()` when done).
 */
export async function s3ClientFor(storage: SmartStorage): Promise<S3Client> {
  const d = await storage.getS3Descriptor();
  return new S3Client({
    endpoint: `${d.useSsl ? "https" : "http"}://${d.endpoint}:${d.port}`,
    region: d.region,
    forcePathStyle: true,
    credentials: { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret },
  });
}

/**
 * Asserts that `promise` rejects with the S3 error `code` and HTTP `status`.
 *
 * @param promise The S3 call.
 * @param code Expected S3 error code (`NoSuchKey`), or `undefined` to check only the status
 *   (responses without a body, e.g. HEAD, carry no code).
 * @param status Expected HTTP status.
 */
export async function assertS3Error(
  promise: Promise<unknown>,
  code: string | undefined,
  status: number,
): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert.ok(error, `expected S3 error ${code ?? ""} (${status}), but the call succeeded`);
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  assert.equal(e.$metadata?.httpStatusCode, status, `HTTP status of ${String(e.name)}: ${String(error)}`);
  if (code !== undefined) {
    assert.equal(e.name ?? e.Code, code, `error code (status ${status}): ${String(error)}`);
  }
}

/**
 * Collects a byte stream (web or Node) into one Uint8Array.
 *
 * @param body The `Body` of a GetObject response.
 * @returns The bytes.
 */
export async function bodyBytes(body: unknown): Promise<Uint8Array> {
  const b = body as { transformToByteArray?: () => Promise<Uint8Array> };
  assert.ok(b && typeof b.transformToByteArray === "function", "response has a body");
  return await b.transformToByteArray!();
}

/**
 * Deterministic pseudo-random bytes (for binary round trips).
 *
 * @param size Number of bytes.
 * @param seed Seed.
 * @returns The bytes.
 */
export function pseudoRandomBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
