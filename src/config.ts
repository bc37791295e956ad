/**
 * Configuration of a {@linkcode SmartStorage} server: the types, every default,
 * and the one function that merges and validates them.
 *
 * @module
 */

import { resolve as resolvePath } from "node:path";
import { ConfigError } from "./errors.ts";
import type {
  CorsRule,
  Credential,
  CredentialOwner,
  EngineConfig,
  EngineTlsConfig,
  EnsureBucketParams,
  TlsMaterial,
} from "./protocol.ts";

/** The settings a bucket is given (`ensureBucket`, `buckets`). */
export interface BucketSettings {
  /** `Enabled` or `Suspended`. */
  versioning?: "Enabled" | "Suspended";
  /** A bucket policy: the document as an object, or its JSON text. */
  policy?: string | Record<string, unknown>;
  /** The bucket's CORS rules. */
  cors?: CorsRule[];
}

/** A bucket of the `buckets` option: its name and settings. */
export interface BucketSpec extends BucketSettings {
  name: string;
}

/**
 * TLS settings: where the certificate comes from, and optionally a separate
 * HTTPS port.
 *
 * - `{ certPath, keyPath }`: PEM files (a chain is allowed; relative paths are
 *   resolved against the working directory);
 * - `{ certPem, keyPem }`: PEM text;
 * - `{ selfSigned: true }`: the engine generates a certificate for `localhost`,
 *   `127.0.0.1` and `::1` at start (read it from `info.certificatePem` or the
 *   S3 descriptor's `caCertificatePem`).
 *
 * Without `port`, `server.port` speaks HTTPS only. With `port`, `server.port`
 * stays plain HTTP and `port` serves HTTPS (`0` picks a free port).
 */
export type TlsConfig = EngineTlsConfig;

/** Server (HTTP listener) settings. */
export interface ServerConfig {
  /** Address to bind. Default `"127.0.0.1"`. */
  address?: string;
  /** Port to bind; `0` picks a free ephemeral port. Default `0`. */
  port?: number;
  /** Region the server answers for. Default `"us-east-1"`. */
  region?: string;
  /** Serve HTTPS ({@linkcode TlsConfig}); `true` is short for `{ selfSigned: true }`. Default: plain HTTP. */
  tls?: TlsConfig | true;
  /** One server-wide CORS rule for buckets without a CORS configuration of their own. Default: none. */
  cors?: CorsRule;
  /** Domains for virtual-hosted-style addressing: `Host: <bucket>.<domain>`. Default (the engine's): `["localhost"]`; `[]` turns it off. */
  virtualHostDomains?: string[];
  /** Connections served at once; further clients wait. Default (the engine's): `4096`. */
  maxConnections?: number;
  /**
   * Connections served at once from one client address (IPv6: one /64); the next one is
   * answered `503 SlowDown`. Raise it behind a reverse proxy. Default (the engine's): `128`.
   */
  maxConnectionsPerClient?: number;
  /**
   * Log every request on stderr, once its response is sent: method, path (query parameter
   * names, never their values), status, response bytes, milliseconds, e.g.
   * `[request] GET /photos/cat.jpg 200 52133 bytes 1.4 ms`. Default `false`.
   */
  logRequests?: boolean;
  /**
   * Prometheus metrics (OpenMetrics text) at `/metrics`: on the S3 port, where scrapers
   * must send `Authorization: Bearer <bearerToken>` when one is set, or on a port of their
   * own (`port`; `0` picks a free one, see `info.metricsPort`). Default: off.
   */
  metrics?: MetricsConfig;
  /**
   * One JSON line per request (time, request id, remote address, access key id,
   * operation, bucket, key, status, bytes in/out, duration; never a secret or signature),
   * to `path` (rotated past `maxFileBytes`, keeping `keepFiles` old files) or to stderr.
   * Default: off.
   */
  accessLog?: AccessLogConfig;
  /**
   * The web console (pages compiled into the engine) on a port of its own: open
   * `http://<address>:<port>/_console/` (see `info.consolePort`; `0` picks a free port)
   * and sign in with an access key and secret. Default: off.
   */
  console?: ConsoleConfig;
}

/** `server.console`. */
export interface ConsoleConfig {
  /** Default `true` (the object turns it on). */
  enabled?: boolean;
  /** Required; `0` picks a free port. Never the S3 port. */
  port: number;
}

/** `server.metrics`. */
export interface MetricsConfig {
  /** Default `true` (the object turns them on). */
  enabled?: boolean;
  /** Printable ASCII without spaces. */
  bearerToken?: string;
  port?: number;
}

/** `server.accessLog`. */
export interface AccessLogConfig {
  /** A file, relative to the working directory; stderr without it. */
  path?: string;
  /** Default 64 MiB. */
  maxFileBytes?: number;
  /** Default 5. */
  keepFiles?: number;
}

/** Storage settings. */
export interface StorageConfig {
  /** Folder holding buckets and objects (created if missing). Default `"./.nogit/smartstorage"`. */
  directory?: string;
  /** Empty the folder (in cluster mode: every drive folder) before start. Default `false`. */
  cleanSlate?: boolean;
  /** fsync every write before acknowledging it. Default `true` (`false` with `ephemeral`). */
  fsync?: boolean;
}

/** Authentication settings. */
export interface AuthConfig {
  /** Require AWS SigV4 signed requests. Default `false` (`true` with `ephemeral`). */
  enabled?: boolean;
  /**
   * Accepted key pairs. Default with auth on (or `ephemeral`): one random pair, read
   * it from `getS3Descriptor()`. Default with auth off: the published placeholder pair
   * `SMARTSTORAGEACCESSKEY` / `smartstorage-secret-access-key` (nothing is checked
   * then). An explicit empty list is a `ConfigError`.
   */
  credentials?: Credential[];
  /**
   * Accept legacy Signature Version 2 requests (boto3's default presigned URLs still use
   * it). Default (the engine's): `true`; `false` answers them `400 InvalidRequest`.
   */
  sigV2?: boolean;
}

/**
 * Cluster mode (experimental, in progress): objects are erasure-coded over several
 * drive folders as K data + M parity shards and survive the loss of any M drives; the
 * node listens on a QUIC port beside the S3 port. Without `cluster` the server is
 * standalone (plain files in `storage.directory`). See the README's "Cluster mode".
 */
export interface ClusterConfig {
  /** Turn cluster mode on. Default `true` when `cluster` is given; `false` keeps standalone mode. */
  enabled?: boolean;
  /**
   * Drive folders, one per disk (2 to 16; created if missing; relative paths are
   * resolved against the working directory). Each must be empty or a drive of this
   * cluster: standalone data and drives of another cluster are refused at start.
   */
  drives: string[];
  /**
   * Data and parity shards per object; their sum is the drive count and parity is at
   * most half of it. Default from the drive count (MinIO's table): 2-3 drives 1
   * parity, 4-5 drives 2, 6-7 drives 3, 8-16 drives 4 (so 4 drives are 2+2).
   */
  erasure?: { dataShards: number; parityShards: number };
  /** The node's QUIC port; `0` picks a free one (the real one is in `info.quicPort` and the health). Default `0`. */
  quicPort?: number;
  /** The node's id (letters, digits, `-`, `_`, `.`; at most 64). Default: generated once and kept on the drives. */
  nodeId?: string;
  /**
   * QUIC addresses (`host:port`) of nodes to join through; empty or absent: this node
   * starts a new cluster. The nodes of a cluster share its metadata, and object data is
   * erasure-coded over all their drives (docs/cluster.md). Needs `secret`. To try it on
   * one machine: {@linkcode SmartStorage.startLocalCluster}.
   */
  seedNodes?: string[];
  /** The host other nodes reach this one at. Default: `server.address`. */
  advertiseAddress?: string;
  /**
   * The shared cluster secret (at least 16 characters): node-to-node QUIC is mutual TLS
   * under a CA derived from it, so nodes without it can neither join nor talk. With a
   * secret, `quicPort` must be fixed and the advertised address reachable.
   */
  secret?: string;
}

/**
 * Server-side encryption (SSE-S3, SSE-KMS, SSE-C): the keys the engine encrypts object
 * bodies under. Keys are 32 bytes, base64; they are never echoed back.
 */
/**
 * The lifecycle worker (README, "Lifecycle"). A shorter day is a test setting: rules'
 * days count in its unit, so an object with `Expiration: { Days: 1 }` expires within
 * two `dayLengthSeconds`.
 */
export interface LifecycleSettings {
  /** Seconds in a lifecycle day. Default `86400`. */
  dayLengthSeconds?: number;
  /** Seconds between the starts of two passes over the buckets. Default `3600`. */
  scanIntervalSeconds?: number;
}

export interface EncryptionConfig {
  /**
   * The master key wrapping SSE-S3 data keys (32 bytes, base64). Default: a cluster
   * derives one from `cluster.secret`; a standalone server generates one beside its data
   * (`.keys/master.key`), which protects copies of the objects' files, not of the folder.
   */
  masterKey?: string;
  /** A file holding the master key (base64, or the 32 bytes themselves); relative paths are resolved against the working directory. Not with `masterKey`. */
  masterKeyFile?: string;
  /** Master keys replaced by a new one (32 bytes, base64 each): objects sealed under them still open, and a copy onto itself moves one to the current key. */
  previousMasterKeys?: string[];
  /** The local key ring of SSE-KMS: key id -> key (32 bytes, base64). Default: none (`aws:kms` without a key id uses the master key, reported as `alias/aws/s3`; a key id is refused). */
  kmsKeys?: Record<string, string>;
  /** The `kmsKeys` id used for `aws:kms` requests that name no key. Must be a key of `kmsKeys`. */
  defaultKmsKeyId?: string;
  /** Accept SSE-C keys over plain HTTP (AWS refuses them with `400 InvalidArgument`): for local testing only. Default `false`. */
  allowSseCOverHttp?: boolean;
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
   * Preset for tests: a fresh temporary folder that is removed on stop (and by the
   * engine itself when this process dies without stop()), fsync off, port 0, auth on
   * with generated random credentials. Explicit fields still win.
   * Default `false`.
   */
  ephemeral?: boolean;
  /**
   * Buckets made at start unless they exist (names, or `{ name, versioning?, policy?,
   * cors? }`), every start: idempotent, existing objects stay.
   */
  buckets?: (string | BucketSpec)[];
  /** Cluster mode (experimental): erasure-coded drive folders and a QUIC port ({@linkcode ClusterConfig}). Default: standalone. */
  cluster?: ClusterConfig;
  /** Server-side encryption keys ({@linkcode EncryptionConfig}). Default: a generated master key (SSE-S3), no KMS keys, SSE-C over HTTPS only. */
  encryption?: EncryptionConfig;
  /** The lifecycle worker's day and schedule ({@linkcode LifecycleSettings}). Default: real days, a pass an hour. */
  lifecycle?: LifecycleSettings;
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
  /**
   * How many events one `events()` iterator holds for a slow consumer; further
   * events are dropped for that iterator and counted in `droppedEvents`. Default `10000`.
   */
  eventBufferSize?: number;
}

/**
 * The placeholder pair the descriptor gives when auth is off (any signature is
 * accepted then). It is published, so it is not a secret and is never used with
 * auth on: auth on without credentials gets a random pair. The engine has the same
 * one (`PLACEHOLDER_CREDENTIAL` in rust/src/config.rs; tests/defaults.test.ts).
 */
export const DEFAULT_CREDENTIAL: Readonly<Credential> = Object.freeze({
  accessKeyId: "SMARTSTORAGEACCESSKEY",
  secretAccessKey: "smartstorage-secret-access-key",
});

/**
 * Every default, in one place. The storage folder, address and region are also the
 * engine's (rust/src/config.rs; tests/defaults.test.ts checks that they agree).
 */
export const DEFAULTS: Readonly<{
  server: Readonly<Required<Pick<ServerConfig, "address" | "port" | "region">>>;
  storage: Readonly<Required<StorageConfig>>;
  auth: Readonly<{ enabled: boolean; credentials: readonly Readonly<Credential>[] }>;
  ephemeral: boolean;
  requestTimeoutMs: number;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  verbose: boolean;
  eventBufferSize: number;
}> = Object.freeze({
  server: Object.freeze({ address: "127.0.0.1", port: 0, region: "us-east-1" }),
  storage: Object.freeze({ directory: "./.nogit/smartstorage", cleanSlate: false, fsync: true }),
  // Placeholder for auth off only; auth on without credentials gets a random pair.
  auth: Object.freeze({ enabled: false, credentials: Object.freeze([DEFAULT_CREDENTIAL]) }),
  ephemeral: false,
  requestTimeoutMs: 30_000,
  startTimeoutMs: 30_000,
  stopTimeoutMs: 5_000,
  verbose: false,
  eventBufferSize: 10_000,
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
  /** Events one `events()` iterator may hold before it drops. */
  eventBufferSize: number;
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
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError(`config must be an object, got ${describeValue(config)}`);
  }
  checkKeys(config as Record<string, unknown>, CONFIG_KEYS, "");
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
  // A throw-away folder is not worth an fsync per write.
  const fsync = storage.fsync ?? (ephemeral ? false : DEFAULTS.storage.fsync);
  if (typeof cleanSlate !== "boolean") throw new ConfigError("storage.cleanSlate must be a boolean");
  if (typeof fsync !== "boolean") throw new ConfigError("storage.fsync must be a boolean");

  const enabled = auth.enabled ?? (ephemeral ? true : DEFAULTS.auth.enabled);
  if (typeof enabled !== "boolean") throw new ConfigError("auth.enabled must be a boolean");
  if (auth.credentials !== undefined) {
    const problem = credentialListProblem(auth.credentials, "auth.credentials");
    if (problem !== undefined) throw new ConfigError(problem);
  }
  // The placeholder pair is published: never let it be the accepted pair with auth on.
  const credentials = (auth.credentials ?? (enabled || ephemeral ? [randomCredential()] : DEFAULTS.auth.credentials))
    .map((c) => ({ ...c }));
  validateCredentials(credentials);

  const tls = server.tls === undefined ? undefined : resolveTlsConfig(server.tls, cwd);
  if (tls?.port !== undefined && tls.port !== 0 && tls.port === port) {
    throw new ConfigError(`server.tls.port must differ from server.port (both ${port})`);
  }
  const cors = server.cors === undefined ? undefined : validateCors(server.cors);
  const virtualHostDomains = server.virtualHostDomains;
  if (virtualHostDomains !== undefined) {
    if (!Array.isArray(virtualHostDomains) || virtualHostDomains.some((d) => typeof d !== "string" || d.trim() === "")) {
      throw new ConfigError(
        `server.virtualHostDomains must be an array of domain names, got ${JSON.stringify(virtualHostDomains)}`,
      );
    }
  }

  const limits: { maxConnections?: number; maxConnectionsPerClient?: number } = {};
  for (const name of ["maxConnections", "maxConnectionsPerClient"] as const) {
    const value = server[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new ConfigError(`server.${name} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    limits[name] = value;
  }
  if (auth.sigV2 !== undefined && typeof auth.sigV2 !== "boolean") throw new ConfigError("auth.sigV2 must be a boolean");
  if (server.logRequests !== undefined && typeof server.logRequests !== "boolean") {
    throw new ConfigError("server.logRequests must be a boolean");
  }
  const metrics = server.metrics === undefined ? undefined : resolveMetrics(server.metrics, port);
  const accessLog = server.accessLog === undefined ? undefined : resolveAccessLog(server.accessLog, cwd);
  const consoleConfig = server.console === undefined ? undefined : resolveConsole(server.console, port, metrics?.port);

  const buckets = config.buckets === undefined ? [] : resolveBuckets(config.buckets);
  const cluster = config.cluster === undefined ? undefined : resolveCluster(config.cluster, cwd);
  if (cluster !== undefined && ephemeral) {
    throw new ConfigError("cluster cannot be used with ephemeral (one temporary folder): give cluster.drives folders instead");
  }
  const encryption = config.encryption === undefined ? undefined : resolveEncryption(config.encryption, cwd);
  const lifecycle = config.lifecycle === undefined ? undefined : resolveLifecycle(config.lifecycle);

  const eventBufferSize = config.eventBufferSize ?? DEFAULTS.eventBufferSize;
  if (typeof eventBufferSize !== "number" || !Number.isInteger(eventBufferSize) || eventBufferSize < 1) {
    throw new ConfigError(`eventBufferSize must be a positive integer, got ${JSON.stringify(eventBufferSize)}`);
  }

  return {
    engine: {
      server: {
        address,
        port,
        region,
        ...(virtualHostDomains !== undefined ? { virtualHostDomains: [...virtualHostDomains] } : {}),
        ...(cors !== undefined ? { cors } : {}),
        ...(tls !== undefined ? { tls } : {}),
        ...limits,
        ...(server.logRequests !== undefined ? { logRequests: server.logRequests } : {}),
        ...(metrics !== undefined ? { metrics } : {}),
        ...(accessLog !== undefined ? { accessLog } : {}),
        ...(consoleConfig !== undefined ? { console: consoleConfig } : {}),
      },
      storage: { directory, cleanSlate, fsync },
      auth: { enabled, credentials, ...(auth.sigV2 !== undefined ? { sigV2: auth.sigV2 } : {}) },
      ...(buckets.length > 0 ? { buckets } : {}),
      ...(cluster !== undefined ? { cluster } : {}),
      ...(encryption !== undefined ? { encryption } : {}),
      ...(lifecycle !== undefined ? { lifecycle } : {}),
    },
    ephemeral,
    binaryPath: config.binaryPath,
    requestTimeoutMs: positive("requestTimeoutMs", config.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs),
    startTimeoutMs: positive("startTimeoutMs", config.startTimeoutMs ?? DEFAULTS.startTimeoutMs),
    stopTimeoutMs: positive("stopTimeoutMs", config.stopTimeoutMs ?? DEFAULTS.stopTimeoutMs),
    verbose: config.verbose ?? DEFAULTS.verbose,
    env: { ...(config.env ?? {}) },
    eventBufferSize,
  };
}

/**
 * Checks a TLS certificate source and returns a clean copy: exactly one of
 * `{ certPath, keyPath }` (made absolute), `{ certPem, keyPem }` or
 * `{ selfSigned: true }`.
 *
 * @param material The certificate source.
 * @param cwd Folder that relative paths are resolved against.
 * @param what Name used in error messages.
 * @returns The checked source.
 * @throws {ConfigError} When the source is incomplete, mixed or has unknown fields.
 *
 * @example
 * ```ts
 * import { resolveTlsMaterial } from "./config.ts";
 * console.log(resolveTlsMaterial({ certPath: "cert.pem", keyPath: "key.pem" }, "/srv"));
 * // { certPath: "/srv/cert.pem", keyPath: "/srv/key.pem" }
 * ```
 */
export function resolveTlsMaterial(material: TlsMaterial, cwd = ".", what = "tls"): TlsMaterial {
  if (typeof material !== "object" || material === null || Array.isArray(material)) {
    throw new ConfigError(`${what} must be an object: { certPath, keyPath }, { certPem, keyPem } or { selfSigned: true }`);
  }
  const m = material as Record<string, unknown>;
  const has = (k: string) => m[k] !== undefined;
  const forms = [
    has("certPath") || has("keyPath") ? "paths" : undefined,
    has("certPem") || has("keyPem") ? "pem" : undefined,
    has("selfSigned") ? "selfSigned" : undefined,
  ].filter((f) => f !== undefined);
  if (forms.length !== 1) {
    throw new ConfigError(
      `${what} needs exactly one of { certPath, keyPath }, { certPem, keyPem } or { selfSigned: true }` +
        (forms.length > 1 ? ` (got ${forms.join(" and ")})` : ""),
    );
  }
  const nonEmpty = (k: string) => {
    if (typeof m[k] !== "string" || (m[k] as string).trim() === "") {
      throw new ConfigError(`${what}.${k} must be a non-empty string`);
    }
    return m[k] as string;
  };
  switch (forms[0]) {
    case "paths":
      return { certPath: resolvePath(cwd, nonEmpty("certPath")), keyPath: resolvePath(cwd, nonEmpty("keyPath")) };
    case "pem":
      return { certPem: nonEmpty("certPem"), keyPem: nonEmpty("keyPem") };
    default:
      if (m.selfSigned !== true) throw new ConfigError(`${what}.selfSigned must be true`);
      return { selfSigned: true };
  }
}

function resolveMetrics(metrics: MetricsConfig, serverPort: number): NonNullable<EngineConfig["server"]["metrics"]> {
  if (metrics === null || typeof metrics !== "object" || Array.isArray(metrics)) {
    throw new ConfigError(`server.metrics must be an object { enabled?, bearerToken?, port? }, got ${JSON.stringify(metrics)}`);
  }
  const enabled = metrics.enabled ?? true;
  if (typeof enabled !== "boolean") throw new ConfigError("server.metrics.enabled must be a boolean");
  const out: NonNullable<EngineConfig["server"]["metrics"]> = { enabled };
  const token = metrics.bearerToken;
  if (token !== undefined) {
    if (typeof token !== "string" || !/^[\x21-\x7e]+$/.test(token)) {
      throw new ConfigError("server.metrics.bearerToken must be printable ASCII without spaces");
    }
    out.bearerToken = token;
  }
  if (metrics.port !== undefined) {
    const p = metrics.port;
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65535) {
      throw new ConfigError(`server.metrics.port must be an integer from 0 to 65535, got ${JSON.stringify(p)}`);
    }
    if (p !== 0 && p === serverPort) throw new ConfigError(`server.metrics.port must differ from server.port (both ${p})`);
    out.port = p;
  }
  return out;
}

function resolveConsole(
  consoleConfig: ConsoleConfig,
  serverPort: number,
  metricsPort: number | undefined,
): NonNullable<EngineConfig["server"]["console"]> {
  if (consoleConfig === null || typeof consoleConfig !== "object" || Array.isArray(consoleConfig)) {
    throw new ConfigError(`server.console must be an object { enabled?, port }, got ${JSON.stringify(consoleConfig)}`);
  }
  const enabled = consoleConfig.enabled ?? true;
  if (typeof enabled !== "boolean") throw new ConfigError("server.console.enabled must be a boolean");
  const p = consoleConfig.port;
  if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65535) {
    throw new ConfigError(`server.console.port must be an integer from 0 to 65535, got ${JSON.stringify(p)}`);
  }
  if (p !== 0 && (p === serverPort || p === metricsPort)) {
    throw new ConfigError(`server.console.port must differ from the S3 and metrics ports (${p})`);
  }
  return { enabled, port: p };
}

function resolveAccessLog(log: AccessLogConfig, cwd: string): NonNullable<EngineConfig["server"]["accessLog"]> {
  if (log === null || typeof log !== "object" || Array.isArray(log)) {
    throw new ConfigError(`server.accessLog must be an object { path?, maxFileBytes?, keepFiles? }, got ${JSON.stringify(log)}`);
  }
  const out: NonNullable<EngineConfig["server"]["accessLog"]> = {};
  if (log.path !== undefined) {
    if (typeof log.path !== "string" || log.path.trim() === "") {
      throw new ConfigError(`server.accessLog.path must be a file path, got ${JSON.stringify(log.path)}`);
    }
    out.path = resolvePath(cwd, log.path);
  }
  for (const name of ["maxFileBytes", "keepFiles"] as const) {
    const value = log[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new ConfigError(`server.accessLog.${name} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    out[name] = value;
  }
  return out;
}

function resolveTlsConfig(tls: TlsConfig | true, cwd: string): EngineTlsConfig {
  if (tls === true) return { selfSigned: true };
  if (typeof tls !== "object" || tls === null) {
    throw new ConfigError(`server.tls must be true or an object, got ${JSON.stringify(tls)}`);
  }
  const { port, ...material } = tls as EngineTlsConfig & Record<string, unknown>;
  const known = new Set(["certPath", "keyPath", "certPem", "keyPem", "selfSigned"]);
  const unknown = Object.keys(material).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new ConfigError(`server.tls has unknown field(s): ${unknown.join(", ")}`);
  const resolved: EngineTlsConfig = resolveTlsMaterial(material as TlsMaterial, cwd, "server.tls");
  if (port !== undefined) {
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError(
        `server.tls.port must be an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(port)}`,
      );
    }
    resolved.port = port;
  }
  return resolved;
}

function validateCors(cors: CorsRule, name = "server.cors"): CorsRule {
  if (typeof cors !== "object" || cors === null || Array.isArray(cors)) {
    throw new ConfigError(`${name} must be an object { allowedOrigins, allowedMethods, ... }`);
  }
  const known = new Set(["allowedOrigins", "allowedMethods", "allowedHeaders", "exposeHeaders", "maxAgeSeconds"]);
  const unknown = Object.keys(cors).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new ConfigError(`${name} has unknown field(s): ${unknown.join(", ")}`);
  const list = (k: "allowedOrigins" | "allowedMethods" | "allowedHeaders" | "exposeHeaders", required: boolean) => {
    const v = cors[k];
    if (v === undefined && !required) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "") || (required && v.length === 0)) {
      throw new ConfigError(`${name}.${k} must be ${required ? "a non-empty" : "an"} array of strings`);
    }
    return [...v];
  };
  const out: CorsRule = { allowedOrigins: list("allowedOrigins", true)!, allowedMethods: list("allowedMethods", true)! };
  const allowedHeaders = list("allowedHeaders", false);
  const exposeHeaders = list("exposeHeaders", false);
  if (allowedHeaders) out.allowedHeaders = allowedHeaders;
  if (exposeHeaders) out.exposeHeaders = exposeHeaders;
  if (cors.maxAgeSeconds !== undefined) {
    if (typeof cors.maxAgeSeconds !== "number" || !Number.isInteger(cors.maxAgeSeconds) || cors.maxAgeSeconds < 0) {
      throw new ConfigError(`${name}.maxAgeSeconds must be a non-negative integer`);
    }
    out.maxAgeSeconds = cors.maxAgeSeconds;
  }
  return out;
}

/** The `buckets` option as the engine takes it: names checked, policies as JSON text. */
function resolveBuckets(buckets: unknown): EnsureBucketParams[] {
  if (!Array.isArray(buckets)) {
    throw new ConfigError(`buckets must be an array of names or { name, versioning?, policy?, cors? }, got ${describeValue(buckets)}`);
  }
  const seen = new Set<string>();
  return buckets.map((entry, i) => {
    const at = `buckets[${i}]`;
    const spec = (typeof entry === "string" ? { name: entry } : entry) as BucketSpec;
    if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
      throw new ConfigError(`${at} must be a bucket name or { name, versioning?, policy?, cors? }, got ${describeValue(entry)}`);
    }
    checkKeys(spec as unknown as Record<string, unknown>, BUCKET_KEYS, `${at}.`);
    if (typeof spec.name !== "string" || spec.name.trim() === "") {
      throw new ConfigError(`${at}.name must be a bucket name, got ${describeValue(spec.name)}`);
    }
    if (seen.has(spec.name)) throw new ConfigError(`${at}: bucket ${spec.name} is listed twice`);
    seen.add(spec.name);
    const out: EnsureBucketParams = { name: spec.name };
    if (spec.versioning !== undefined) {
      if (spec.versioning !== "Enabled" && spec.versioning !== "Suspended") {
        throw new ConfigError(`${at}.versioning must be "Enabled" or "Suspended", got ${describeValue(spec.versioning)}`);
      }
      out.versioning = spec.versioning;
    }
    if (spec.policy !== undefined) {
      if (typeof spec.policy === "string") out.policy = spec.policy;
      else if (typeof spec.policy === "object" && spec.policy !== null && !Array.isArray(spec.policy)) {
        out.policy = JSON.stringify(spec.policy);
      } else throw new ConfigError(`${at}.policy must be a policy document (object or JSON text)`);
    }
    if (spec.cors !== undefined) {
      if (!Array.isArray(spec.cors)) throw new ConfigError(`${at}.cors must be an array of CORS rules`);
      out.cors = spec.cors.map((rule, r) => validateCors(rule, `${at}.cors[${r}]`));
    }
    return out;
  });
}

/** The largest number of drives of one erasure set (`MAX_SET_DRIVES` in rust/src/cluster/geometry.rs). */
const MAX_CLUSTER_DRIVES = 16;

/**
 * The `cluster` option as the engine takes it: types and counts checked, drive paths
 * made absolute; `undefined` when `enabled: false` (standalone). The engine checks the
 * rest at start (nested folders through symlinks, the drives' format files).
 */
function resolveCluster(cluster: unknown, cwd: string): EngineConfig["cluster"] {
  if (typeof cluster !== "object" || cluster === null || Array.isArray(cluster)) {
    throw new ConfigError(
      `cluster must be an object { drives, erasure?, quicPort?, nodeId?, seedNodes?, advertiseAddress?, secret? }, got ${
        describeValue(cluster)
      }`,
    );
  }
  const c = cluster as Record<string, unknown>;
  const enabled = c.enabled ?? true;
  if (typeof enabled !== "boolean") throw new ConfigError(`cluster.enabled must be a boolean, got ${describeValue(enabled)}`);
  const drives = c.drives;
  if (!Array.isArray(drives)) {
    throw new ConfigError(`cluster.drives must be an array of drive folders, got ${describeValue(drives)}`);
  }
  const resolved = drives.map((d, i) => {
    if (typeof d !== "string" || d.trim() === "") {
      throw new ConfigError(`cluster.drives[${i}] must be a non-empty path, got ${describeValue(d)}`);
    }
    return resolvePath(cwd, d);
  });
  if (resolved.length < 2) {
    throw new ConfigError(
      `cluster.drives must list at least 2 drive folders (got ${resolved.length}); one folder is standalone mode: storage.directory`,
    );
  }
  if (resolved.length > MAX_CLUSTER_DRIVES) {
    throw new ConfigError(`cluster.drives lists ${resolved.length} folders; one erasure set holds at most ${MAX_CLUSTER_DRIVES}`);
  }
  const withSlash = (p: string) => (p.endsWith("/") ? p : `${p}/`);
  for (const [i, a] of resolved.entries()) {
    for (const [j, b] of resolved.entries()) {
      if (j <= i) continue;
      if (a === b) throw new ConfigError(`cluster.drives[${i}] and cluster.drives[${j}] are the same folder: ${a}`);
      const [outer, inner] = b.startsWith(withSlash(a)) ? [a, b] : a.startsWith(withSlash(b)) ? [b, a] : [];
      if (outer !== undefined) {
        throw new ConfigError(`cluster.drives are nested: ${inner} is inside ${outer} (each drive must be its own folder)`);
      }
    }
  }
  const out: NonNullable<EngineConfig["cluster"]> = { enabled, drives: resolved, quicPort: 0 };
  if (c.erasure !== undefined) {
    const e = c.erasure as Record<string, unknown>;
    const count = (k: "dataShards" | "parityShards") => {
      const v = e[k];
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
        throw new ConfigError(`cluster.erasure.${k} must be a positive integer, got ${JSON.stringify(v) ?? "nothing"}`);
      }
      return v;
    };
    const dataShards = count("dataShards");
    const parityShards = count("parityShards");
    if (dataShards + parityShards !== resolved.length) {
      throw new ConfigError(
        `cluster.erasure is ${dataShards}+${parityShards} = ${dataShards + parityShards} shards, but cluster.drives lists ` +
          `${resolved.length} folders: dataShards + parityShards must equal the drive count`,
      );
    }
    if (parityShards > dataShards) {
      throw new ConfigError(
        `cluster.erasure.parityShards (${parityShards}) must not exceed dataShards (${dataShards}): at most half the drives may be parity`,
      );
    }
    out.erasure = { dataShards, parityShards };
  }
  if (c.quicPort !== undefined) {
    const port = c.quicPort;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError(
        `cluster.quicPort must be an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(port)}`,
      );
    }
    out.quicPort = port;
  }
  if (c.nodeId !== undefined) {
    if (typeof c.nodeId !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(c.nodeId)) {
      throw new ConfigError(
        `cluster.nodeId must be 1 to 64 letters, digits, '-', '_' or '.', got ${JSON.stringify(c.nodeId) ?? "nothing"}`,
      );
    }
    out.nodeId = c.nodeId;
  }
  if (c.seedNodes !== undefined) {
    const seeds = c.seedNodes;
    if (!Array.isArray(seeds) || !seeds.every((x) => typeof x === "string" && /^.+:[1-9][0-9]{0,4}$/.test(x))) {
      throw new ConfigError(`cluster.seedNodes must be an array of "host:port" QUIC addresses, got ${describeValue(seeds)}`);
    }
    out.seedNodes = seeds as string[];
  }
  if (c.advertiseAddress !== undefined) {
    if (typeof c.advertiseAddress !== "string" || c.advertiseAddress.trim() === "") {
      throw new ConfigError(`cluster.advertiseAddress must be a host name or address, got ${describeValue(c.advertiseAddress)}`);
    }
    out.advertiseAddress = c.advertiseAddress;
  }
  if (c.secret !== undefined) {
    if (typeof c.secret !== "string" || [...c.secret].length < 16) {
      throw new ConfigError("cluster.secret must be a string of at least 16 characters (it is the cluster's key)");
    }
    out.secret = c.secret;
  }
  if (out.seedNodes?.length && out.secret === undefined) {
    throw new ConfigError("cluster.seedNodes needs cluster.secret: the nodes share it");
  }
  return enabled ? out : undefined;
}

/** Whether `text` is base64 of exactly 32 bytes (the engine's `decode_key`: standard alphabet, padded). */
function isKey32(text: string): boolean {
  const t = text.trim();
  return /^[A-Za-z0-9+/]{43}=$/.test(t);
}

/** The `lifecycle` option, checked: positive integers only. */
function resolveLifecycle(lifecycle: unknown): NonNullable<EngineConfig["lifecycle"]> {
  if (typeof lifecycle !== "object" || lifecycle === null || Array.isArray(lifecycle)) {
    throw new ConfigError(
      `lifecycle must be an object { dayLengthSeconds?, scanIntervalSeconds? }, got ${describeValue(lifecycle)}`,
    );
  }
  const out: NonNullable<EngineConfig["lifecycle"]> = {};
  const settings = lifecycle as Record<string, unknown>;
  for (const name of ["dayLengthSeconds", "scanIntervalSeconds"] as const) {
    const value = settings[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`lifecycle.${name} must be a positive integer, got ${describeValue(value)}`);
    }
    out[name] = value;
  }
  return out;
}

/**
 * The `encryption` option as the engine takes it: keys checked (32 bytes, base64; the
 * messages never hold a key), `masterKeyFile` made absolute.
 */
function resolveEncryption(encryption: unknown, cwd: string): NonNullable<EngineConfig["encryption"]> {
  if (typeof encryption !== "object" || encryption === null || Array.isArray(encryption)) {
    throw new ConfigError(
      `encryption must be an object { masterKey?, masterKeyFile?, previousMasterKeys?, kmsKeys?, defaultKmsKeyId?, allowSseCOverHttp? }, got ${
        describeValue(encryption)
      }`,
    );
  }
  const e = encryption as Record<string, unknown>;
  const out: NonNullable<EngineConfig["encryption"]> = {};
  if (e.masterKey !== undefined && e.masterKeyFile !== undefined) {
    throw new ConfigError("encryption: give masterKey or masterKeyFile, not both");
  }
  if (e.masterKey !== undefined) {
    if (typeof e.masterKey !== "string" || !isKey32(e.masterKey)) {
      throw new ConfigError(`encryption.masterKey must be 32 bytes, base64 (44 characters), got ${describeValue(e.masterKey)}`);
    }
    out.masterKey = e.masterKey;
  }
  if (e.masterKeyFile !== undefined) {
    if (typeof e.masterKeyFile !== "string" || e.masterKeyFile.trim() === "") {
      throw new ConfigError(`encryption.masterKeyFile must be a non-empty path, got ${describeValue(e.masterKeyFile)}`);
    }
    out.masterKeyFile = resolvePath(cwd, e.masterKeyFile);
  }
  if (e.previousMasterKeys !== undefined) {
    const previous = e.previousMasterKeys;
    if (!Array.isArray(previous) || !previous.every((k) => typeof k === "string" && isKey32(k))) {
      throw new ConfigError("encryption.previousMasterKeys must be an array of keys, 32 bytes base64 (44 characters) each");
    }
    out.previousMasterKeys = [...previous];
  }
  if (e.kmsKeys !== undefined) {
    const ring = e.kmsKeys;
    if (typeof ring !== "object" || ring === null || Array.isArray(ring)) {
      throw new ConfigError(`encryption.kmsKeys must be an object { keyId: base64 key }, got ${describeValue(ring)}`);
    }
    const keys: Record<string, string> = {};
    for (const [id, key] of Object.entries(ring)) {
      if (id.trim() === "") throw new ConfigError("encryption.kmsKeys: a key id must not be empty");
      if (typeof key !== "string" || !isKey32(key)) {
        throw new ConfigError(`encryption.kmsKeys.${id} must be 32 bytes, base64 (44 characters), got ${describeValue(key)}`);
      }
      keys[id] = key;
    }
    out.kmsKeys = keys;
  }
  if (e.defaultKmsKeyId !== undefined) {
    if (typeof e.defaultKmsKeyId !== "string" || !Object.hasOwn(out.kmsKeys ?? {}, e.defaultKmsKeyId)) {
      throw new ConfigError(
        `encryption.defaultKmsKeyId must name a key of encryption.kmsKeys, got ${JSON.stringify(e.defaultKmsKeyId) ?? "nothing"}`,
      );
    }
    out.defaultKmsKeyId = e.defaultKmsKeyId;
  }
  if (e.allowSseCOverHttp !== undefined) {
    if (typeof e.allowSseCOverHttp !== "boolean") throw new ConfigError("encryption.allowSseCOverHttp must be a boolean");
    out.allowSseCOverHttp = e.allowSseCOverHttp;
  }
  return out;
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
    throw new ConfigError("auth.credentials must hold at least one key pair, or be omitted (auth on then generates a random pair)");
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
    if (c.owner !== undefined) validateOwner(c.accessKeyId, c.owner);
  }
}

/** An owner names an id or a display name (or both): printable text without quotes. */
function validateOwner(accessKeyId: string, owner: CredentialOwner): void {
  const given = [owner.id, owner.displayName].filter((v) => v !== undefined);
  if (given.length === 0) {
    throw new ConfigError(`the owner of ${accessKeyId} needs an id or a displayName`);
  }
  for (const v of given) {
    // deno-lint-ignore no-control-regex
    if (typeof v !== "string" || v.trim() === "" || v.length > 256 || /["\u0000-\u001f\u007f]/.test(v)) {
      throw new ConfigError(
        `the owner of ${accessKeyId}: id and displayName must be non-empty printable strings without quotes, at most 256 characters`,
      );
    }
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

// ---------------------------------------------------------------------------
// Unknown keys and misshapen credentials: a sentence naming the key, never a TypeError.

/** A config object's keys: a nested object, a value (`true`), or free-form (`"any"`). */
type KeySchema = { readonly [key: string]: KeySchema | true | "any" };

const TLS_KEYS: KeySchema = { certPath: true, keyPath: true, certPem: true, keyPem: true, selfSigned: true, port: true };
const CORS_KEYS: KeySchema = {
  allowedOrigins: true,
  allowedMethods: true,
  allowedHeaders: true,
  exposeHeaders: true,
  maxAgeSeconds: true,
};
const CREDENTIAL_KEYS: KeySchema = { accessKeyId: true, secretAccessKey: true, owner: { id: true, displayName: true } };
const BUCKET_KEYS: KeySchema = { name: true, versioning: true, policy: true, cors: true };

/** Every key of {@linkcode SmartStorageConfig}, at every level (credentials are checked on their own). */
export const CONFIG_KEYS: KeySchema = {
  server: {
    address: true,
    port: true,
    region: true,
    tls: TLS_KEYS,
    cors: CORS_KEYS,
    virtualHostDomains: true,
    maxConnections: true,
    maxConnectionsPerClient: true,
    logRequests: true,
    metrics: { enabled: true, bearerToken: true, port: true },
    accessLog: { path: true, maxFileBytes: true, keepFiles: true },
    console: { enabled: true, port: true },
  },
  storage: { directory: true, cleanSlate: true, fsync: true },
  auth: { enabled: true, credentials: true, sigV2: true },
  ephemeral: true,
  buckets: true,
  cluster: {
    enabled: true,
    drives: true,
    erasure: { dataShards: true, parityShards: true },
    quicPort: true,
    nodeId: true,
    seedNodes: true,
    advertiseAddress: true,
    secret: true,
  },
  encryption: {
    masterKey: true,
    masterKeyFile: true,
    previousMasterKeys: true,
    kmsKeys: "any",
    defaultKmsKeyId: true,
    allowSseCOverHttp: true,
  },
  lifecycle: { dayLengthSeconds: true, scanIntervalSeconds: true },
  binaryPath: true,
  requestTimeoutMs: true,
  startTimeoutMs: true,
  stopTimeoutMs: true,
  verbose: true,
  env: "any",
  eventBufferSize: true,
};

/** Refuses a key `schema` does not have, naming it and the closest valid one. */
function checkKeys(value: Record<string, unknown>, schema: KeySchema, path: string): void {
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(schema, key)) throw new ConfigError(unknownKeyMessage(key, schema, path));
    const sub = schema[key]!;
    const name = path + key;
    if (sub === true || sub === "any") continue;
    const child = value[key];
    if (child === undefined) continue;
    // `server.tls` may also be `true`; its own check reports other non-objects.
    if (name === "server.tls" && child === true) continue;
    if (typeof child !== "object" || child === null || Array.isArray(child)) {
      throw new ConfigError(`${name} must be an object, got ${describeValue(child)}`);
    }
    checkKeys(child as Record<string, unknown>, sub, name + ".");
  }
}

/**
 * "unknown key server.prot; did you mean server.port?": the closest key at the same
 * level, else a key of that name elsewhere in the config.
 */
function unknownKeyMessage(key: string, schema: KeySchema, path: string): string {
  const near = closest(key, Object.keys(schema));
  if (near !== undefined) return `unknown key ${path}${key}; did you mean ${path}${near}?`;
  const elsewhere = findKey(key, CONFIG_KEYS, "");
  if (elsewhere !== undefined && elsewhere !== path + key) {
    return `unknown key ${path}${key}; did you mean ${elsewhere}?`;
  }
  const valid = Object.keys(schema).map((k) => path + k).join(", ");
  return `unknown key ${path}${key} (valid: ${valid})`;
}

/** The full path of a key named `key` (case-insensitively) anywhere in `schema`. */
function findKey(key: string, schema: KeySchema, path: string): string | undefined {
  for (const k of Object.keys(schema)) {
    if (k.toLowerCase() === key.toLowerCase()) return path + k;
  }
  for (const [k, sub] of Object.entries(schema)) {
    if (typeof sub === "object") {
      const found = findKey(key, sub, `${path}${k}.`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The candidate closest to `word` (case-insensitive edit distance), if it is close enough to be a typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    const d = editDistance(w, c);
    const close = d <= Math.max(1, Math.min(3, Math.floor(Math.max(w.length, c.length) / 3)));
    // A shortened or lengthened name ("dir", "stopTimeout") counts as close too.
    const truncated = w.length >= 3 && c.length >= 3 && (c.startsWith(w) || w.startsWith(c));
    if ((close || truncated) && d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** What a value is, for a message; never the value itself (it may be a secret). */
function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "object":
      return "an object";
    case "string":
      return "a string";
    case "undefined":
      return "undefined";
    default:
      return `a ${typeof value}`;
  }
}

/** Whether `value` has the field names of an S3 descriptor's key pair (`getS3Descriptor()`). */
function looksLikeDescriptor(value: unknown): boolean {
  return typeof value === "object" && value !== null && ("accessKey" in value || "accessSecret" in value);
}

const DESCRIPTOR_HINT = "a credential is { accessKeyId, secretAccessKey }; from a descriptor d: " +
  "{ accessKeyId: d.accessKey, secretAccessKey: d.accessSecret }";

/**
 * Why `value` is not a list of key pairs (`[{ accessKeyId, secretAccessKey }]`), as a
 * sentence naming `where`; `undefined` when its shape is right (the values are checked
 * by {@linkcode validateCredentials}).
 *
 * @param value What was given as the list.
 * @param where How to name it in the sentence, e.g. `"auth.credentials"`.
 * @returns The problem, or `undefined`.
 *
 * @example A descriptor instead of a credential
 * ```ts
 * import { credentialListProblem } from "./config.ts";
 * console.log(credentialListProblem([{ accessKey: "AK", accessSecret: "S" }], "auth.credentials"));
 * // auth.credentials[0] is an S3 descriptor's pair ({ accessKey, accessSecret }), not a credential: ...
 * ```
 */
export function credentialListProblem(value: unknown, where: string): string | undefined {
  if (!Array.isArray(value)) {
    if (looksLikeDescriptor(value)) {
      return `${where} must be an array of key pairs, and got an S3 descriptor ({ accessKey, accessSecret }); ` +
        `${DESCRIPTOR_HINT}, wrapped in [ ]`;
    }
    if (typeof value === "object" && value !== null && ("accessKeyId" in value || "secretAccessKey" in value)) {
      return `${where} must be an array of key pairs; wrap the one pair in [ ]: [{ accessKeyId, secretAccessKey }]`;
    }
    return `${where} must be an array of key pairs [{ accessKeyId, secretAccessKey }], got ${describeValue(value)}`;
  }
  for (const [i, c] of value.entries()) {
    const name = `${where}[${i}]`;
    if (typeof c !== "object" || c === null || Array.isArray(c)) {
      return `${name} must be a key pair { accessKeyId, secretAccessKey }, got ${describeValue(c)}`;
    }
    if (looksLikeDescriptor(c)) {
      return `${name} is an S3 descriptor's pair ({ accessKey, accessSecret }), not a credential: ${DESCRIPTOR_HINT}`;
    }
    for (const key of Object.keys(c)) {
      if (!Object.hasOwn(CREDENTIAL_KEYS, key)) return unknownKeyMessage(key, CREDENTIAL_KEYS, `${name}.`);
    }
    const owner = (c as { owner?: unknown }).owner;
    if (owner === undefined) continue;
    if (typeof owner !== "object" || owner === null || Array.isArray(owner)) {
      return `${name}.owner must be an object { id?, displayName? }, got ${describeValue(owner)}`;
    }
    const ownerKeys = CREDENTIAL_KEYS.owner as KeySchema;
    for (const key of Object.keys(owner)) {
      if (!Object.hasOwn(ownerKeys, key)) return unknownKeyMessage(key, ownerKeys, `${name}.owner.`);
    }
  }
  return undefined;
}
