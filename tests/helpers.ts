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
import { Buffer } from "node:buffer";
import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import http from "node:http";
import https from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { packageRoot } from "../src/binary.ts";
import { detectRuntime } from "../src/runtime.ts";
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
 * With `SMARTSTORAGE_TEST_CLUSTER=N` in the environment (and no storage or cluster
 * settings in `config`), the same server in cluster mode over N temporary drive
 * folders instead, removed again by `stop()`.
 *
 * @param config Overrides.
 * @returns The running server.
 */
export async function startTestServer(config: SmartStorageConfig = {}): Promise<SmartStorage> {
  const drives = Number(process.env.SMARTSTORAGE_TEST_CLUSTER ?? 0);
  if (!drives || config.cluster !== undefined || config.storage !== undefined) {
    return SmartStorage.createAndStart({ ephemeral: true, ...config });
  }
  return await startClusterServer(drives, config);
}

/**
 * A server in cluster mode over `drives` new temporary drive folders (auth on, random
 * credentials, fsync off); `stop()` removes the folders too.
 *
 * @param drives How many drive folders.
 * @param config Overrides (not `cluster.drives`).
 * @returns The running server and its drive folders.
 */
export async function startClusterServer(
  drives: number,
  config: SmartStorageConfig = {},
): Promise<SmartStorage & { drives: string[] }> {
  const base = await mkdtemp(join(tmpdir(), "smartstorage-cluster-"));
  const paths = Array.from({ length: drives }, (_, i) => join(base, `drive${i + 1}`));
  let storage: SmartStorage;
  try {
    storage = await SmartStorage.createAndStart({
      auth: { enabled: true },
      ...config,
      storage: { fsync: false, ...config.storage },
      cluster: { quicPort: 0, ...config.cluster, drives: paths },
    });
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  const stop = storage.stop.bind(storage);
  return Object.assign(storage, {
    drives: paths,
    stop: async () => {
      await stop();
      await rm(base, { recursive: true, force: true });
    },
  });
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

/** The pair the README once published as the default; auth on must never accept it. */
export const PUBLISHED_PAIR = { accessKeyId: "SMARTSTORAGEACCESSKEY", secretAccessKey: "smartstorage-secret-access-key" };

/**
 * An AWS SDK v3 client for a plain HTTP endpoint signing with the given pair.
 *
 * @param endpoint `http://host:port`.
 * @param region Region to sign for.
 * @param credential The key pair to sign with.
 * @returns The client (call `destroy()` when done).
 */
export function s3ClientAt(
  endpoint: string,
  region: string,
  credential: { accessKeyId: string; secretAccessKey: string },
): S3Client {
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials: { ...credential } });
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

// ---------------------------------------------------------------------------
// TLS: certificates and clients that trust exactly one certificate.

/** A PEM certificate and its private key. */
export interface CertificatePair {
  /** Certificate (PEM). */
  certPem: string;
  /** PKCS#8 private key (PEM). */
  keyPem: string;
}

/**
 * Generates a self-signed ECDSA P-256 certificate for `localhost`, `127.0.0.1`
 * and `::1` with `node:crypto` only (a minimal X.509 v3 DER encoder), so the
 * tests need no openssl and run the same on every runtime.
 *
 * @param commonName Subject/issuer common name.
 * @returns The certificate and key as PEM.
 */
export function generateCertificate(commonName = "smartstorage test"): CertificatePair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const len = (n: number): number[] => {
    if (n < 0x80) return [n];
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    return [0x80 | bytes.length, ...bytes];
  };
  const tlv = (tag: number, ...parts: Uint8Array[]): Uint8Array => {
    const body = Buffer.concat(parts);
    return Buffer.concat([Uint8Array.from([tag, ...len(body.length)]), body]);
  };
  const bytes = (...b: number[]) => Uint8Array.from(b);
  const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
  const ecdsaWithSha256 = seq(bytes(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02));
  const name = seq(tlv(0x31, seq(bytes(0x06, 0x03, 0x55, 0x04, 0x03), tlv(0x0c, Buffer.from(commonName)))));
  const utcTime = (d: Date) => tlv(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"));
  const now = Date.now();
  const serial = crypto.getRandomValues(new Uint8Array(12));
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const subjectAltName = seq(
    bytes(0x06, 0x03, 0x55, 0x1d, 0x11),
    tlv(0x04, seq(
      tlv(0x82, Buffer.from("localhost")),
      tlv(0x87, bytes(127, 0, 0, 1)),
      tlv(0x87, bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)),
    )),
  );
  const tbs = seq(
    tlv(0xa0, tlv(0x02, bytes(2))), // v3
    tlv(0x02, serial),
    ecdsaWithSha256,
    name,
    seq(utcTime(new Date(now - 3_600_000)), utcTime(new Date(now + 86_400_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, seq(subjectAltName)),
  );
  const signature = sign("sha256", tbs, privateKey);
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, bytes(0), signature));
  const base64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
    keyPem: String(privateKey.export({ type: "pkcs8", format: "pem" })),
  };
}

/** An HTTP request handler for the AWS SDK that trusts exactly one certificate. */
export interface TrustingHandler {
  /** Pass as `requestHandler` to `new S3Client(...)`. */
  requestHandler: NodeHttpHandler | FetchHttpHandler;
  /** Which way the trust is set up. */
  kind: string;
  /** Releases connections and clients. */
  close(): void;
}

/**
 * A request handler that trusts only `ca`, set up the way each runtime does it
 * natively (`"native"`): Node `NodeHttpHandler` + `https.Agent({ ca })`; Deno
 * `FetchHttpHandler` with a `fetch` given `Deno.createHttpClient({ caCerts })`;
 * Bun `FetchHttpHandler` with `fetch(..., { tls: { ca } })`. `"node-agent"` uses
 * `NodeHttpHandler` + `https.Agent({ ca })` on every runtime. Verification is
 * never disabled.
 *
 * @param ca The certificate (PEM) to trust.
 * @param mode `"native"` or `"node-agent"`.
 * @returns The handler and its clean-up.
 */
export function trustingHandler(ca: string, mode: "native" | "node-agent" = "native"): TrustingHandler {
  const runtime = detectRuntime();
  if (mode === "node-agent" || runtime === "node") {
    const httpsAgent = new https.Agent({ ca, keepAlive: true });
    return {
      requestHandler: new NodeHttpHandler({ httpsAgent }),
      kind: "NodeHttpHandler + https.Agent({ ca })",
      close: () => httpsAgent.destroy(),
    };
  }
  if (runtime === "deno") {
    const Deno = (globalThis as unknown as { Deno: DenoHttpApi }).Deno;
    const client = Deno.createHttpClient({ caCerts: [ca] });
    return {
      requestHandler: new FetchHttpHandler({
        customFetch: ((request: Request) => fetch(request, { client } as RequestInit)) as typeof fetch,
      }),
      kind: "FetchHttpHandler + Deno.createHttpClient({ caCerts })",
      close: () => client.close(),
    };
  }
  return {
    requestHandler: new FetchHttpHandler({
      customFetch: ((request: Request) => fetch(request, { tls: { ca } } as RequestInit)) as typeof fetch,
    }),
    kind: "FetchHttpHandler + Bun fetch({ tls: { ca } })",
    close: () => {},
  };
}

interface DenoHttpApi {
  createHttpClient(options: { caCerts: string[] }): { close(): void };
}

/**
 * An S3 client for a TLS server that trusts only the descriptor's certificate.
 *
 * @param storage A running server with TLS.
 * @param mode See {@linkcode trustingHandler}.
 * @returns The client, the handler kind, and a `close()` for both.
 */
export async function tlsS3ClientFor(
  storage: SmartStorage,
  mode: "native" | "node-agent" = "native",
): Promise<{ s3: S3Client; kind: string; close(): void }> {
  const d = await storage.getS3Descriptor();
  assert.ok(d.useSsl && d.caCertificatePem, "the descriptor names an HTTPS endpoint with its certificate");
  const handler = trustingHandler(d.caCertificatePem, mode);
  const s3 = new S3Client({
    endpoint: `https://${d.endpoint}:${d.port}`,
    region: d.region,
    forcePathStyle: true,
    credentials: { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret },
    requestHandler: handler.requestHandler,
  });
  return {
    s3,
    kind: handler.kind,
    close() {
      s3.destroy();
      handler.close();
    },
  };
}

/**
 * One HTTPS GET on a new connection that trusts only `ca`; resolves with the
 * status, rejects when the certificate does not verify.
 *
 * @param url An `https://` URL.
 * @param ca The certificate (PEM) to trust.
 * @returns The HTTP status.
 */
export async function httpsStatusTrusting(url: string, ca: string): Promise<number> {
  const runtime = detectRuntime();
  if (runtime === "deno") {
    const Deno = (globalThis as unknown as { Deno: DenoHttpApi }).Deno;
    const client = Deno.createHttpClient({ caCerts: [ca] });
    try {
      const res = await fetch(url, { client, signal: AbortSignal.timeout(10_000) } as RequestInit);
      await res.body?.cancel();
      return res.status;
    } finally {
      client.close();
    }
  }
  if (runtime === "bun") {
    const res = await fetch(url, { tls: { ca }, keepalive: false, signal: AbortSignal.timeout(10_000) } as RequestInit);
    await res.body?.cancel();
    return res.status;
  }
  return await new Promise<number>((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url}`)));
    req.on("error", reject);
  });
}

// ---------------------------------------------------------------------------
// Load and memory.

/**
 * Resident set size of a process, from `/proc/<pid>/status` (Linux).
 *
 * @param pid Process id.
 * @returns VmRSS in MiB.
 */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  assert.ok(kib, `VmRSS in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/**
 * Samples the RSS of `pid` every `intervalMs` until `stop()`; keeps the maximum.
 *
 * @param pid Process id.
 * @param intervalMs Sampling interval.
 * @returns `stop()`, which returns the largest RSS seen in MiB.
 */
export function sampleRss(pid: number, intervalMs = 100): { stop(): number } {
  let max = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      max = Math.max(max, rssMiB(pid));
    } catch {
      // The process ended; the caller will notice.
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      max = Math.max(max, rssMiB(pid));
      return max;
    },
  };
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` at a time.
 *
 * @param count Number of tasks.
 * @param concurrency Parallel workers.
 * @param task The work for one index.
 */
export async function runConcurrently(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/**
 * Unsigned PUTs over one keep-alive `node:http` agent (for servers with auth off);
 * the same code on every runtime.
 *
 * @param baseUrl `http://host:port`.
 * @param concurrency Sockets.
 * @returns `put(path, body)` resolving with the status, and `close()`.
 */
export function plainHttpPutter(baseUrl: string, concurrency: number): {
  put(path: string, body: string | Uint8Array): Promise<number>;
  close(): void;
} {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  return {
    put: (path, body) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(`${baseUrl}${path}`, { method: "PUT", agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** The answer of {@linkcode rawRequest}. */
export interface RawResponse {
  /** HTTP status. */
  status: number;
  /** Response headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** Body as text. */
  body: string;
}

/**
 * One plain HTTP request with full control over the headers (`Host`, `Origin`,
 * ...), through `node:http` on every runtime.
 *
 * @param options Port, method, path, headers, body.
 * @returns Status, headers and body.
 */
export function rawRequest(options: {
  port: number;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port: options.port, method: options.method, path: options.path, headers: options.headers, agent: false },
      (res) => {
        const chunks: Uint8Array[] = [];
        res.on("data", (c: Uint8Array) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") })
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
