/**
 * Configuration of a {@linkcode SmartStorage} server: the types, every default,
 * and the one function that merges and validates them.
 *
 * @module
 */

import { resolve as resolvePath } from "node:path";
import { ConfigError } from "./errors.ts";
import type { Credential, EngineConfig } from "./protocol.ts";

/** Server (HTTP listener) settings. */
export interface ServerConfig {
  /** Address to bind. Default `"127.0.0.1"`. */
  address?: string;
  /** Port to bind; `0` picks a free ephemeral port. Default `0`. */
  port?: number;
  /** Region the server answers for. Default `"us-east-1"`. */
  region?: string;
}

/** Storage settings. */
export interface StorageConfig {
  /** Folder holding buckets and objects (created if missing). Default `"./.nogit/smartstorage"`. */
  directory?: string;
  /** Empty the folder before start. Default `false`. */
  cleanSlate?: boolean;
  /** fsync every write before acknowledging it. Default `true`. */
  fsync?: boolean;
}

/** Authentication settings. */
export interface AuthConfig {
  /** Require AWS SigV4 signed requests. Default `false` (`true` with `ephemeral`). */
  enabled?: boolean;
  /** Accepted key pairs. Default: one pair, {@linkcode DEFAULT_CREDENTIAL} (random with `ephemeral`). */
  credentials?: Credential[];
}

/** Everything {@linkcode SmartStorage} accepts; every field is optional. */
export interface SmartStorageConfig {
  /** HTTP listener. */
  server?: ServerConfig;
  /** Where objects are stored. */
  storage?: StorageConfig;
  /** Authentication. */
  auth?: AuthConfig;
  /**
   * Preset for tests: a fresh temporary folder that is removed on stop, port 0,
   * auth on with generated random credentials. Explicit fields still win.
   * Default `false`.
   */
  ephemeral?: boolean;
  /** Path of the `ruststorage` binary; skips the lookup chain. */
  binaryPath?: string;
  /** Timeout of one management request, in ms. Default `30000`. */
  requestTimeoutMs?: number;
  /** Timeout from spawning the engine until it serves, in ms. Default `30000`. */
  startTimeoutMs?: number;
  /** How long `stop()` waits for a graceful exit before killing the engine, in ms. Default `5000`. */
  stopTimeoutMs?: number;
  /** Copy the engine's stderr to this process's stderr. Default `false`. */
  verbose?: boolean;
  /** Extra environment variables for the engine process (merged over this process's). */
  env?: Record<string, string>;
}

/** The default key pair (used when auth is on and no credentials are given). */
export const DEFAULT_CREDENTIAL: Readonly<Credential> = Object.freeze({
  accessKeyId: "SMARTSTORAGEACCESSKEY",
  secretAccessKey: "smartstorage-secret-access-key",
});

/** Every default, in one place. */
export const DEFAULTS: Readonly<{
  server: Readonly<Required<ServerConfig>>;
  storage: Readonly<Required<StorageConfig>>;
  auth: Readonly<{ enabled: boolean; credentials: readonly Readonly<Credential>[] }>;
  ephemeral: boolean;
  requestTimeoutMs: number;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  verbose: boolean;
}> = Object.freeze({
  server: Object.freeze({ address: "127.0.0.1", port: 0, region: "us-east-1" }),
  storage: Object.freeze({ directory: "./.nogit/smartstorage", cleanSlate: false, fsync: true }),
  auth: Object.freeze({ enabled: false, credentials: Object.freeze([DEFAULT_CREDENTIAL]) }),
  ephemeral: false,
  requestTimeoutMs: 30_000,
  startTimeoutMs: 30_000,
  stopTimeoutMs: 5_000,
  verbose: false,
});

/** A configuration with every default applied and every value checked. */
export interface ResolvedConfig {
  /** What is sent to the engine with `start`. `storage.directory` is absolute, or `""` when `ephemeral` (a temp folder is made at start). */
  engine: EngineConfig;
  /** Whether the ephemeral preset is on. */
  ephemeral: boolean;
  /** Explicit binary path, if any. */
  binaryPath: string | undefined;
  /** Timeout of one management request, in ms. */
  requestTimeoutMs: number;
  /** Timeout from spawn until serving, in ms. */
  startTimeoutMs: number;
  /** Graceful stop timeout, in ms. */
  stopTimeoutMs: number;
  /** Copy engine stderr to ours. */
  verbose: boolean;
  /** Extra environment for the engine. */
  env: Record<string, string>;
}

/**
 * Applies the defaults (and the `ephemeral` preset) to `config` and validates it.
 *
 * @param config User configuration.
 * @param cwd Folder that a relative `storage.directory` is resolved against.
 * @returns The resolved configuration.
 * @throws {ConfigError} When a value is invalid (bad port, empty credentials, ...).
 *
 * @example Resolving the defaults
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * const resolved = resolveConfig({ server: { port: 9000 } });
 * console.log(resolved.engine.server); // { address: "127.0.0.1", port: 9000, region: "us-east-1" }
 * ```
 */
export function resolveConfig(config: SmartStorageConfig = {}, cwd = "."): ResolvedConfig {
  if (typeof config !== "object" || config === null) {
    throw new ConfigError("config must be an object");
  }
  const ephemeral = config.ephemeral ?? DEFAULTS.ephemeral;
  const server = config.server ?? {};
  const storage = config.storage ?? {};
  const auth = config.auth ?? {};

  const address = server.address ?? DEFAULTS.server.address;
  if (typeof address !== "string" || address.trim() === "") {
    throw new ConfigError(`server.address must be a non-empty string, got ${JSON.stringify(address)}`);
  }
  const port = server.port ?? DEFAULTS.server.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(
      `server.port must be an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(port)}`,
    );
  }
  const region = server.region ?? DEFAULTS.server.region;
  if (typeof region !== "string" || region.trim() === "") {
    throw new ConfigError(`server.region must be a non-empty string, got ${JSON.stringify(region)}`);
  }

  let directory = "";
  if (storage.directory !== undefined || !ephemeral) {
    const dir = storage.directory ?? DEFAULTS.storage.directory;
    if (typeof dir !== "string" || dir.trim() === "") {
      throw new ConfigError(`storage.directory must be a non-empty path, got ${JSON.stringify(dir)}`);
    }
    directory = resolvePath(cwd, dir);
  }
  const cleanSlate = storage.cleanSlate ?? DEFAULTS.storage.cleanSlate;
  const fsync = storage.fsync ?? DEFAULTS.storage.fsync;
  if (typeof cleanSlate !== "boolean") throw new ConfigError("storage.cleanSlate must be a boolean");
  if (typeof fsync !== "boolean") throw new ConfigError("storage.fsync must be a boolean");

  const enabled = auth.enabled ?? (ephemeral ? true : DEFAULTS.auth.enabled);
  if (typeof enabled !== "boolean") throw new ConfigError("auth.enabled must be a boolean");
  const credentials = (auth.credentials ?? (ephemeral ? [randomCredential()] : DEFAULTS.auth.credentials))
    .map((c) => ({ ...c }));
  validateCredentials(credentials);

  return {
    engine: {
      server: { address, port, region },
      storage: { directory, cleanSlate, fsync },
      auth: { enabled, credentials },
    },
    ephemeral,
    binaryPath: config.binaryPath,
    requestTimeoutMs: positive("requestTimeoutMs", config.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs),
    startTimeoutMs: positive("startTimeoutMs", config.startTimeoutMs ?? DEFAULTS.startTimeoutMs),
    stopTimeoutMs: positive("stopTimeoutMs", config.stopTimeoutMs ?? DEFAULTS.stopTimeoutMs),
    verbose: config.verbose ?? DEFAULTS.verbose,
    env: { ...(config.env ?? {}) },
  };
}

/**
 * Checks a credential set the way the engine does: non-empty, no empty key or
 * secret, no duplicate access key id.
 *
 * @param credentials The set to check.
 * @throws {ConfigError} When the set is invalid.
 *
 * @example Rejecting an empty set
 * ```ts
 * import { validateCredentials } from "./config.ts";
 * try { validateCredentials([]); } catch (err) { console.log((err as Error).message); }
 * ```
 */
export function validateCredentials(credentials: readonly Credential[]): void {
  if (!Array.isArray(credentials) || credentials.length === 0) {
    throw new ConfigError("auth.credentials must hold at least one key pair");
  }
  const seen = new Set<string>();
  for (const c of credentials) {
    if (typeof c?.accessKeyId !== "string" || c.accessKeyId === "") {
      throw new ConfigError("every credential needs a non-empty accessKeyId");
    }
    if (typeof c.secretAccessKey !== "string" || c.secretAccessKey === "") {
      throw new ConfigError(`credential ${c.accessKeyId} needs a non-empty secretAccessKey`);
    }
    if (seen.has(c.accessKeyId)) {
      throw new ConfigError(`duplicate accessKeyId ${c.accessKeyId} in credentials`);
    }
    seen.add(c.accessKeyId);
  }
}

/**
 * Generates a random key pair (20-character id, 40-character secret, like AWS's).
 *
 * @returns A new random credential.
 *
 * @example Generating credentials
 * ```ts
 * import { randomCredential } from "./config.ts";
 * const { accessKeyId, secretAccessKey } = randomCredential();
 * ```
 */
export function randomCredential(): Credential {
  return {
    accessKeyId: randomString(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    secretAccessKey: randomString(
      40,
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    ),
  };
}

function randomString(length: number, alphabet: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

function positive(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return value;
}
