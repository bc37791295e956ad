/**
 * The {@linkcode SmartStorage} class: starts, drives and stops one `ruststorage`
 * engine and exposes its management API and events.
 *
 * @module
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent as HttpsAgent } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { resolveBinaryAsync } from "./binary.ts";
import {
  type BucketSettings,
  credentialListProblem,
  resolveConfig,
  type ResolvedConfig,
  resolveTlsMaterial,
  type SmartStorageConfig,
} from "./config.ts";
import { EngineBridge } from "./engine_bridge.ts";
import { ConfigError, NotRunningError, SmartStorageError } from "./errors.ts";
import { EventHub } from "./event_hub.ts";
import { type LocalCluster, type LocalClusterOptions, startLocalCluster } from "./local_cluster.ts";
import { VERSION } from "./version.ts";
import type {
  BucketSummary,
  ClusterHealth,
  DecommissionReport,
  Credential,
  EnsureBucketParams,
  ExportFolderResult,
  ImportFolderResult,
  SmartStorageEvent,
  SmartStorageEventMap,
  SmartStorageEventName,
  StartResult,
  StorageStats,
  TlsMaterial,
} from "./protocol.ts";

/**
 * Set to `1` in this process's environment to run an engine of another version
 * than this package (a development build); otherwise `start()` refuses it with
 * an `EngineVersionError`.
 */
export const ALLOW_VERSION_MISMATCH_ENV = "SMARTSTORAGE_ALLOW_VERSION_MISMATCH";

/** How the engine's request log lines begin (`server.logRequests`; rust/src/request_log.rs). */
const REQUEST_LOG_PREFIX = "[request] ";
/** How an access log line begins (its first field is the time). */
const ACCESS_LOG_START = '{"time":"';

/**
 * Where and how to reach the server with an S3 client; the shape of
 * `IS3Descriptor` from `@tsclass/tsclass` (as used by `@push.rocks/smartbucket`).
 */
export interface S3Descriptor {
  /** Host without scheme, e.g. `"127.0.0.1"`. */
  endpoint: string;
  /** Port number: the HTTPS port when TLS is configured (also when plain HTTP has its own port). */
  port: number;
  /** Whether `port` speaks HTTPS. */
  useSsl: boolean;
  /** Access key id. */
  accessKey: string;
  /** Secret access key. */
  accessSecret: string;
  /** Region. */
  region: string;
  /**
   * With TLS: the certificate chain the server presents (PEM). Give it to the
   * client as its only trusted CA, e.g. `new https.Agent({ ca })` on Node,
   * `Deno.createHttpClient({ caCerts: [pem] })` on Deno, `fetch(url, { tls: { ca } })` on Bun.
   * Updated by `replaceTlsCertificate()`.
   */
  caCertificatePem?: string;
}

/**
 * What `new S3Client(...)` from `@aws-sdk/client-s3` takes, as returned by
 * {@linkcode SmartStorage.s3ClientConfig}.
 */
export type S3ClientConfig = {
  /** `http://host:port`, or `https://host:port` with TLS. */
  endpoint: string;
  /** The region the server answers for. */
  region: string;
  /** Path-style addressing (`http://host:port/bucket/key`): no DNS per bucket needed. */
  forcePathStyle: true;
  /** The first accepted key pair (see {@linkcode SmartStorage.getS3Descriptor}). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * With TLS only: options for the SDK's default Node request handler
   * (`NodeHttpHandler`, which the SDK uses on Node, Bun and Deno): an
   * `https.Agent` from `node:https` that trusts exactly the server's
   * certificate. `S3Client.destroy()` closes it.
   */
  requestHandler?: { httpsAgent: HttpsAgent };
};

/**
 * Environment variables that point AWS SDKs and CLIs (in child processes, other
 * languages) at the server, as returned by {@linkcode SmartStorage.env}.
 */
export type S3Env = {
  /** `http://host:port`, or `https://host:port` with TLS. */
  AWS_ENDPOINT_URL: string;
  /** The first accepted key id. */
  AWS_ACCESS_KEY_ID: string;
  /** Its secret. */
  AWS_SECRET_ACCESS_KEY: string;
  /** The server's region. */
  AWS_REGION: string;
  /**
   * With TLS only: a PEM file holding the server's certificate (removed by
   * `stop()`), for the AWS CLI, boto3 and the other SDKs that read `AWS_CA_BUNDLE`.
   */
  AWS_CA_BUNDLE?: string;
  /**
   * With TLS only: the same file, for Node and Bun processes (the AWS SDK for
   * JavaScript v3 ignores `AWS_CA_BUNDLE`). Adds the certificate to the trusted
   * ones; read only at process start.
   */
  NODE_EXTRA_CA_CERTS?: string;
  /** With TLS only: the same file, for Deno processes (`DENO_CERT`). */
  DENO_CERT?: string;
};

/** How long `decommissionNode` may take (the data of a node moves meanwhile). */
const DECOMMISSION_TIMEOUT_MS = 24 * 3600 * 1000;

/**
 * An S3-compatible object storage server, run by the `ruststorage` engine.
 *
 * @example Starting a throw-away server for a test
 * ```ts
 * import { SmartStorage } from "./smart_storage.ts";
 * await using storage = await SmartStorage.createAndStart({ ephemeral: true });
 * const { endpoint, port, accessKey, accessSecret } = await storage.getS3Descriptor();
 * console.log(`S3 at http://${endpoint}:${port} (${accessKey} / ${accessSecret})`);
 * ```
 */
export class SmartStorage implements AsyncDisposable {
  /** The configuration with every default applied. */
  readonly config: ResolvedConfig;

  readonly #hub: EventHub<SmartStorageEventMap>;
  #certificatePem: string | null = null;
  #bridge: EngineBridge | undefined;
  #info: StartResult | undefined;
  #credentials: Credential[];
  #binaryPath: string | undefined;
  #tempDir: string | undefined;
  #starting: Promise<StartResult> | undefined;
  #stopping: Promise<void> | undefined;
  #caBundleDir: string | undefined;

  /**
   * Creates a server (not started yet) and validates its configuration.
   *
   * @param config Configuration; every field has a default.
   * @throws {ConfigError} When the configuration is invalid.
   */
  constructor(config: SmartStorageConfig = {}) {
    this.config = resolveConfig(config, process.cwd());
    this.#hub = new EventHub<SmartStorageEventMap>({ maxQueued: this.config.eventBufferSize });
    this.#credentials = this.config.engine.auth.credentials.map((c) => ({ ...c }));
  }

  /**
   * Creates a server and starts it.
   *
   * @param config Configuration; every field has a default.
   * @returns The running server.
   * @throws {SmartStorageError} When the configuration is invalid or the engine fails to start.
   *
   * @example
   * ```ts
   * import { SmartStorage } from "./smart_storage.ts";
   * const storage = await SmartStorage.createAndStart({ storage: { directory: "./.nogit/data" } });
   * await storage.stop();
   * ```
   */
  static async createAndStart(config: SmartStorageConfig = {}): Promise<SmartStorage> {
    const storage = new SmartStorage(config);
    await storage.start();
    return storage;
  }

  /**
   * Starts an N-node cluster on this machine, for testing an app against a cluster:
   * node `n1` starts it, the others join, each with its own S3 port, QUIC port and
   * drive folders; object data is erasure-coded over all nodes' drives. Every node
   * accepts the same credentials, so a client may use any node. Returns once every
   * node sees all nodes up and a leader. See {@linkcode startLocalCluster}.
   *
   * @param options `nodes` (default 3, 1 to 16), `drivesPerNode` (default 2), `directory`
   *   (default a temporary folder removed by `stop()`), `secret`, `credentials`/`auth`,
   *   `address` and a few server settings.
   * @returns The cluster: `nodes` (one server each, `n1` first) and `stop()`; `await using` works.
   * @throws {ConfigError} When an option is invalid (before anything starts).
   * @throws {SmartStorageError} When a node fails to start, or `ClusterNotReady` when the
   *   cluster does not form within `readyTimeoutMs`; what was started is stopped first.
   *
   * @example Write through one node, read through another
   * ```ts
   * import { SmartStorage } from "./smart_storage.ts";
   * await using cluster = await SmartStorage.startLocalCluster({ nodes: 3, drivesPerNode: 2 });
   * await cluster.nodes[0]!.createBucket("photos");
   * const s3 = await cluster.nodes[2]!.getS3Descriptor();
   * console.log(`any node serves it, e.g. http://${s3.endpoint}:${s3.port}`);
   * ```
   */
  static startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    return startLocalCluster(options);
  }

  /** Whether the engine is running and serving. */
  get running(): boolean {
    return this.#info !== undefined && this.#bridge?.running === true;
  }

  /** Where the server listens (address, real port, region, absolute directory), once started. */
  get info(): StartResult | undefined {
    return this.#info;
  }

  /**
   * URL of the running server, the one the S3 descriptor describes:
   * `https://host:port` when TLS is configured (the HTTPS port, also when plain
   * HTTP has its own port), else `http://host:port`.
   */
  get endpointUrl(): string {
    const { host, port, useSsl } = endpointOf(this.#requireInfo());
    return `${useSsl ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }

  /**
   * The certificate chain (PEM) the server presents, while it runs with TLS;
   * `undefined` without TLS. Updated by {@linkcode SmartStorage.replaceTlsCertificate}.
   */
  get certificatePem(): string | undefined {
    return this.running ? this.#certificatePem ?? undefined : undefined;
  }

  /**
   * Host-side event buffering: events held by `events()` iterators that have not
   * been consumed yet (each iterator holds at most `eventBufferSize`), and events
   * dropped for iterators whose consumer fell that far behind. `on()` handlers
   * and `waitForEvent()` buffer nothing. (Events the engine itself dropped are
   * `droppedEvents` of {@linkcode SmartStorage.getStorageStats}.)
   */
  get eventBufferStats(): { buffered: number; dropped: number } {
    return { buffered: this.#hub.buffered, dropped: this.#hub.dropped };
  }

  /** Path of the engine binary in use, once started. */
  get binaryPath(): string | undefined {
    return this.#binaryPath;
  }

  /** Process id of the engine, while it runs (for diagnostics). */
  get enginePid(): number | undefined {
    return this.#bridge?.running ? this.#bridge.pid : undefined;
  }

  /** Engine version reported by its `ready` event, once started. */
  get engineVersion(): string | undefined {
    return this.#bridge?.ready?.version;
  }

  /**
   * Starts the engine and its S3 listener. Calling it while starting or running
   * returns the same result.
   *
   * @returns Where the server listens.
   * @throws {BinaryNotFoundError} When no engine binary is found.
   * @throws {EngineVersionError} When the engine is another version than this package
   *   (unless `SMARTSTORAGE_ALLOW_VERSION_MISMATCH=1`).
   * @throws {SmartStorageError} When the engine refuses the configuration (code from the engine).
   * @throws {EngineExitedError} When the engine dies during start-up.
   * @throws {StartTimeoutError} When the engine is not ready within `startTimeoutMs` (it is killed).
   */
  start(): Promise<StartResult> {
    if (this.#info !== undefined && this.#bridge?.running) return Promise.resolve(this.#info);
    if (this.#starting) return this.#starting;
    const starting = (async () => {
      // A start after a finished stop begins a new round.
      if (this.#stopping) await this.#stopping;
      this.#stopping = undefined;
      this.#hub.open();
      try {
        return await this.#start();
      } finally {
        this.#starting = undefined;
      }
    })();
    this.#starting = starting;
    return starting;
  }

  async #start(): Promise<StartResult> {
    const binary = await resolveBinaryAsync({ binaryPath: this.config.binaryPath });
    this.#binaryPath = binary;
    const engineConfig = structuredClone(this.config.engine);
    engineConfig.auth.credentials = this.#credentials.map((c) => ({ ...c }));
    if (engineConfig.storage.directory === "") {
      // Ephemeral: a fresh temp folder (or, after a crash without stop(), the
      // previous one again, so a restart keeps its data).
      this.#tempDir ??= await mkdtemp(join(tmpdir(), "smartstorage-"));
      engineConfig.storage.directory = this.#tempDir;
      // The engine removes it when it ends, so it goes even when this process dies
      // without stop() (the engine ends when its stdin closes).
      engineConfig.storage.removeOnExit = true;
    }
    // startTimeoutMs covers everything from the spawn until the server listens.
    const deadline = Date.now() + this.config.startTimeoutMs;
    const server = this.config.engine.server;
    const logRequests = server.logRequests === true;
    const accessLogOnStderr = server.accessLog !== undefined && server.accessLog.path === undefined;
    let bridge: EngineBridge | undefined;
    try {
      bridge = await EngineBridge.launch({
        binary,
        cwd: process.cwd(),
        env: { ...stringEnv(process.env), ...this.config.env },
        requestTimeoutMs: this.config.requestTimeoutMs,
        readyTimeoutMs: this.config.startTimeoutMs,
        ...(process.env[ALLOW_VERSION_MISMATCH_ENV] === "1" ? {} : { engineVersion: VERSION }),
        onEvent: (event, data) => this.#hub.emit(event, data),
        ...(this.config.verbose
          ? { onStderrLine: (line: string) => console.error(`[ruststorage] ${line}`) }
          : logRequests || accessLogOnStderr
          // The request and access logs are on the engine's stderr; show them (only them) without `verbose`.
          ? {
            onStderrLine: (line: string) =>
              (line.startsWith(REQUEST_LOG_PREFIX) || accessLogOnStderr && line.startsWith(ACCESS_LOG_START)) &&
              console.error(line),
          }
          : {}),
      });
      this.#bridge = bridge;
      const info = await bridge.request("start", { config: engineConfig }, Math.max(1, deadline - Date.now()));
      this.#info = info;
      this.#certificatePem = info.certificatePem ?? null;
      // However the engine ends from now on, events stop with that reason.
      const current = bridge;
      void current.closed.then((reason) => {
        if (this.#bridge === current) this.#hub.close(reason);
      });
      return info;
    } catch (err) {
      // Leave nothing behind: no process, no temp folder.
      await bridge?.shutdown(this.config.stopTimeoutMs);
      this.#bridge = undefined;
      await this.#removeTempDir();
      throw err;
    }
  }

  /**
   * Stops the server gracefully: sends `stop`, waits for the engine to exit,
   * and kills it (SIGKILL, with every process it started) when it has not exited
   * `stopTimeoutMs` after the call, so a frozen engine costs no more than that. Removes the temporary folder of an ephemeral
   * server. Idempotent: every call returns the same promise; a never-started
   * server stops at once.
   *
   * @returns When the engine has exited and everything is released.
   */
  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const stopping = (async () => {
      if (this.#starting) {
        try {
          await this.#starting;
        } catch {
          // A failed start already cleaned up.
        }
      }
      const bridge = this.#bridge;
      if (bridge) await bridge.shutdown(this.config.stopTimeoutMs);
      this.#hub.close(new SmartStorageError("Stopped", "stopped by stop()"));
      await this.#removeTempDir();
      this.#removeCaBundle();
      this.#info = undefined;
    })();
    this.#stopping = stopping;
    return stopping;
  }

  /**
   * Resolves once the engine of the current run has ended, with the reason: a
   * `SmartStorageError` with code `Stopped` after `stop()`, an
   * `EngineExitedError` after a crash.
   *
   * @returns The reason the engine ended.
   * @throws {SmartStorageError} `NotStarted` when the server was never started.
   */
  waitUntilEnded(): Promise<Error> {
    const bridge = this.#bridge;
    if (bridge === undefined) return Promise.reject(notStarted());
    return bridge.closed.then(async (reason) => {
      // After stop(), also wait for its clean-up (temp folder).
      if (this.#stopping) await this.#stopping;
      return reason;
    });
  }

  /** Calls {@linkcode SmartStorage.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Connection details for S3 clients (`IS3Descriptor` shape).
   *
   * With TLS the descriptor names the HTTPS endpoint (`useSsl: true`): the main
   * port when it speaks HTTPS, else the separate `tls.port` (the plain HTTP port
   * stays reachable at `info.port`), and carries the certificate as
   * `caCertificatePem`.
   *
   * The key pair is the first accepted one: the configured pair, or the random pair
   * generated for auth on without credentials. With auth off it is a placeholder
   * (not a secret): any signature is accepted then.
   *
   * @returns Host, port, `useSsl`, the first credential, region, and the certificate with TLS.
   * @throws {SmartStorageError} When the server is not running.
   */
  getS3Descriptor(): Promise<S3Descriptor> {
    try {
      const info = this.#requireInfo();
      const credential = this.#credentials[0]!;
      const { host, port, useSsl } = endpointOf(info);
      return Promise.resolve({
        endpoint: host,
        port,
        useSsl,
        accessKey: credential.accessKeyId,
        accessSecret: credential.secretAccessKey,
        region: info.region,
        ...(useSsl && this.#certificatePem !== null ? { caCertificatePem: this.#certificatePem } : {}),
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The configuration for `new S3Client(...)` of `@aws-sdk/client-s3` (v3.4xx or
   * later): endpoint, region, path-style addressing and the first accepted key
   * pair. This package has no runtime dependency on the SDK; the object is plain.
   *
   * With TLS it names the HTTPS endpoint and adds `requestHandler: { httpsAgent }`,
   * options for the SDK's default request handler (`NodeHttpHandler`, which the
   * SDK uses on Node, Bun and Deno): a `node:https` `Agent` whose only trusted CA
   * is the certificate the server presents now, so verification stays on and
   * nothing else is trusted. Each call makes a new agent; `s3.destroy()` closes
   * it. A client with its own `requestHandler` instance (e.g. a `FetchHttpHandler`)
   * must set up trust itself from {@linkcode SmartStorage.certificatePem}. After
   * `replaceTlsCertificate()`, make a new client.
   *
   * @returns `{ endpoint, region, forcePathStyle: true, credentials }`, plus
   *   `requestHandler` with TLS.
   * @throws {NotRunningError} When the server is not running.
   *
   * @example
   * ```ts
   * import { S3Client, ListBucketsCommand } from "@aws-sdk/client-s3";
   * import { SmartStorage } from "@push-rocks/smartstorage";
   *
   * await using storage = await SmartStorage.createAndStart({ ephemeral: true });
   * const s3 = new S3Client(storage.s3ClientConfig());
   * console.log(await s3.send(new ListBucketsCommand({})));
   * s3.destroy();
   * ```
   */
  s3ClientConfig(): S3ClientConfig {
    const { endpoint, region, accessKeyId, secretAccessKey, ca } = this.#clientTarget();
    return {
      endpoint,
      region,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      ...(ca !== undefined ? { requestHandler: { httpsAgent: new HttpsAgent({ ca, keepAlive: true }) } } : {}),
    };
  }

  /**
   * Environment variables that point AWS SDKs and tools at the server:
   * `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
   * `AWS_REGION`, for child processes (`spawn(cmd, args, { env: { ...process.env, ...storage.env() } })`),
   * the AWS CLI, boto3 and the other SDKs. Path-style addressing is not an
   * environment setting: tell the client (the server also answers
   * virtual-hosted style for `<bucket>.localhost`).
   *
   * With TLS the certificate is written to a PEM file in a temporary folder of
   * this server (rewritten on every call, so it follows `replaceTlsCertificate()`;
   * removed by `stop()`), named by `AWS_CA_BUNDLE` (AWS CLI, boto3, Go, ...),
   * `NODE_EXTRA_CA_CERTS` (Node and Bun: the JavaScript SDK v3 does not read
   * `AWS_CA_BUNDLE`) and `DENO_CERT` (Deno).
   *
   * @returns The variables (strings only), to spread into an environment.
   * @throws {NotRunningError} When the server is not running.
   *
   * @example
   * ```ts
   * import { spawnSync } from "node:child_process";
   * import process from "node:process";
   * import { SmartStorage } from "@push-rocks/smartstorage";
   *
   * await using storage = await SmartStorage.createAndStart({ ephemeral: true });
   * spawnSync("aws", ["s3", "ls"], { env: { ...process.env, ...storage.env() }, stdio: "inherit" });
   * ```
   */
  env(): S3Env {
    const { endpoint, region, accessKeyId, secretAccessKey, ca } = this.#clientTarget();
    const env: S3Env = {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: region,
    };
    if (ca !== undefined) {
      this.#caBundleDir ??= mkdtempSync(join(tmpdir(), "smartstorage-ca-"));
      const file = join(this.#caBundleDir, "ca.pem");
      writeFileSync(file, ca);
      env.AWS_CA_BUNDLE = file;
      env.NODE_EXTRA_CA_CERTS = file;
      env.DENO_CERT = file;
    }
    return env;
  }

  /**
   * Creates a bucket.
   *
   * @param name Bucket name (S3 naming rules).
   * @returns The created bucket's name.
   * @throws {SmartStorageError} `InvalidBucketName`, `BucketAlreadyOwnedByYou`.
   */
  createBucket(name: string): Promise<{ name: string }> {
    return this.#call((b) => b.request("createBucket", { name }));
  }

  /**
   * Creates a bucket unless it exists, then gives it the settings named (idempotent:
   * safe to call before every test run).
   *
   * @param name Bucket name (S3 naming rules).
   * @param settings `versioning` (`"Enabled"`/`"Suspended"`), `policy` (a policy
   *   document, as an object or JSON text) and `cors` (CORS rules) to apply.
   * @returns The name, and whether the bucket was created now.
   * @throws {SmartStorageError} `InvalidBucketName`, `MalformedPolicy`, `InvalidArgument`.
   *
   * @example
   * ```ts
   * await storage.ensureBucket("uploads", { versioning: "Enabled" });
   * ```
   */
  ensureBucket(name: string, settings: BucketSettings = {}): Promise<{ name: string; created: boolean }> {
    const { policy, ...rest } = settings;
    const params: EnsureBucketParams = { name, ...rest };
    if (policy !== undefined) params.policy = typeof policy === "string" ? policy : JSON.stringify(policy);
    return this.#call((b) => b.request("ensureBucket", params));
  }

  /**
   * Deletes a bucket. Without `force` a bucket that holds anything is refused
   * (`BucketNotEmpty`); with it, its objects, versions and unfinished uploads go first.
   *
   * @param name Bucket name.
   * @param options `force: true` to delete what it holds too (but for versions object
   *   lock protects: a bucket that keeps any stays, `BucketNotEmpty` saying so).
   * @returns How many objects were deleted with it.
   * @throws {SmartStorageError} `NoSuchBucket`, `BucketNotEmpty`.
   */
  deleteBucket(name: string, options: { force?: boolean } = {}): Promise<{ deletedObjects: number }> {
    return this.#call((b) => b.request("deleteBucket", { name, force: options.force === true }));
  }

  /**
   * Deletes every object, version and unfinished upload of a bucket; the bucket and
   * its settings stay. Emits no per-object events. In a bucket with object lock,
   * versions under retention or legal hold stay (counted in `lockedVersions`).
   *
   * @param name Bucket name.
   * @returns How many objects (and older versions) it held, and how many it kept.
   * @throws {SmartStorageError} `NoSuchBucket`.
   */
  emptyBucket(name: string): Promise<{ deletedObjects: number; lockedVersions?: number }> {
    return this.#call((b) => b.request("emptyBucket", { name }));
  }

  /**
   * Deletes every bucket with everything in it (a `bucketDeleted` event each, no
   * per-object events); the counters start from zero. For a clean slate between tests.
   * Buckets holding versions under object lock stay, emptied of everything else, and
   * are named in `lockedBuckets`.
   *
   * @returns How many buckets were deleted, and which were kept.
   */
  reset(): Promise<{ deletedBuckets: number; lockedBuckets?: string[] }> {
    return this.#call((b) => b.request("reset", {}));
  }

  /**
   * Puts every file under a local folder into a bucket (seeding test data, say). Keys
   * are the files' paths relative to `folder` with `/` separators (`prefix` before
   * them); content types are guessed from the extensions. Symlinks are followed when
   * they point inside the folder; one that points outside (or dangles, or loops) fails
   * the call, as does an unreadable file, naming it. Each file sends the usual
   * `objectCreated` event; a failure part-way leaves the earlier files imported.
   *
   * @param bucket An existing bucket (see {@link ensureBucket}).
   * @param folder The folder; a relative path is resolved against this process's working folder.
   * @param options `prefix` to put before every key (e.g. `"fixtures/"`).
   * @returns How many files were imported, and their bytes.
   * @throws {SmartStorageError} `NoSuchBucket`; `InvalidArgument` for a missing folder
   *   or a file that cannot be read or imported.
   *
   * @example
   * ```ts
   * await storage.ensureBucket("site");
   * const { imported } = await storage.importFolder("site", "./fixtures/site", { prefix: "v1/" });
   * ```
   */
  importFolder(bucket: string, folder: string, options: { prefix?: string } = {}): Promise<ImportFolderResult> {
    const params = { bucket, folder: resolve(folder), ...(options.prefix !== undefined ? { prefix: options.prefix } : {}) };
    return this.#call((b) => b.request("importFolder", params));
  }

  /**
   * Writes the objects of a bucket (those under `prefix`, without it) into a local
   * folder as files, creating the folder and the folders inside it and replacing
   * existing files. Nothing is written outside `folder`: keys with empty, `.` or `..`
   * segments, a leading `/`, NUL or a backslash (and keys whose path would go through a
   * symlink or an existing file) are skipped, counted and listed in the result.
   *
   * @param bucket The bucket.
   * @param folder The target folder; a relative path is resolved against this process's working folder.
   * @param options `prefix`: export only the keys under it, written without it.
   * @returns How many objects were written and their bytes; `skippedCount` and the
   *   first 100 `skipped` keys.
   * @throws {SmartStorageError} `NoSuchBucket`; `InvalidArgument` when the folder cannot
   *   be created or written.
   *
   * @example
   * ```ts
   * const { exported, skipped } = await storage.exportFolder("site", "/tmp/site-backup");
   * ```
   */
  exportFolder(bucket: string, folder: string, options: { prefix?: string } = {}): Promise<ExportFolderResult> {
    const params = { bucket, folder: resolve(folder), ...(options.prefix !== undefined ? { prefix: options.prefix } : {}) };
    return this.#call((b) => b.request("exportFolder", params));
  }

  /**
   * Counts of buckets, objects and bytes (kept as counters: no scan).
   *
   * @returns The statistics.
   */
  getStorageStats(): Promise<StorageStats> {
    return this.#call((b) => b.request("getStorageStats", {}));
  }

  /**
   * One summary per bucket.
   *
   * @returns Name, creation date, object count, bytes, policy/CORS flags per bucket.
   */
  listBucketSummaries(): Promise<BucketSummary[]> {
    return this.#call((b) => b.request("listBucketSummaries", {}));
  }

  /**
   * The accepted key pairs.
   *
   * @returns The current credential set.
   */
  listCredentials(): Promise<Credential[]> {
    return this.#call((b) => b.request("listCredentials", {}));
  }

  /**
   * Replaces the accepted key pairs atomically. An invalid set (empty, empty key,
   * duplicate id) is refused with `InvalidCredentials` and the old set stays.
   *
   * @param credentials The new set.
   * @returns How many pairs are now accepted.
   * @throws {SmartStorageError} `InvalidCredentials`, also for a list of the wrong shape (a
   *   sentence saying what is wrong, e.g. an S3 descriptor's `{ accessKey, accessSecret }`).
   */
  async replaceCredentials(credentials: Credential[]): Promise<{ count: number }> {
    const problem = credentialListProblem(credentials, "replaceCredentials(credentials)");
    if (problem !== undefined) throw new SmartStorageError("InvalidCredentials", problem);
    const copy = credentials.map((c) => ({ ...c }));
    const result = await this.#call((b) => b.request("replaceCredentials", { credentials: copy }));
    this.#credentials = copy;
    return result;
  }

  /**
   * Cluster health; `{ enabled: false, drives: [...] }` in standalone mode, where
   * each drive probe writes, fsyncs and removes a 4 KiB file.
   *
   * @returns The cluster health.
   */
  getClusterHealth(): Promise<ClusterHealth> {
    return this.#call((b) => b.request("getClusterHealth", {}));
  }

  /**
   * Cluster mode: removes the node `nodeId` from the cluster, moving its data first.
   * Every object with a shard on its drives is rewritten over the other nodes (new
   * writes stop going to it at once), then it leaves the metadata membership. Call
   * it on another node; stop the removed node afterwards. Resolves when done.
   *
   * @param nodeId The `cluster.nodeId` of the node to remove.
   * @returns What was moved.
   * @throws {SmartStorageError} `NotCluster` in standalone mode, `DecommissionFailed`.
   */
  decommissionNode(nodeId: string): Promise<DecommissionReport> {
    if (typeof nodeId !== "string" || nodeId === "") {
      return Promise.reject(new ConfigError(`decommissionNode(nodeId): a node id, got ${JSON.stringify(nodeId)}`));
    }
    // Moving a node's data takes as long as its data: no per-request timeout to speak of.
    return this.#call((b) => b.request("decommissionNode", { nodeId }, DECOMMISSION_TIMEOUT_MS));
  }

  /**
   * Replaces the TLS certificate without a restart: new connections get the new
   * pair, open ones finish with the old. An invalid pair is refused
   * (`InvalidCertificate`) and the old one stays.
   *
   * @param material `{ certPath, keyPath }`, `{ certPem, keyPem }` or `{ selfSigned: true }`.
   * @returns The certificate chain now served (PEM); also in `certificatePem` and the S3 descriptor.
   * @throws {ConfigError} When `material` is malformed (checked before anything is sent).
   * @throws {SmartStorageError} `InvalidCertificate`; `TlsNotEnabled` when the server runs without TLS.
   *
   * @example Rotating a self-signed certificate
   * ```ts
   * import { SmartStorage } from "./smart_storage.ts";
   * await using storage = await SmartStorage.createAndStart({ ephemeral: true, server: { tls: true } });
   * const { certificatePem } = await storage.replaceTlsCertificate({ selfSigned: true });
   * ```
   */
  async replaceTlsCertificate(material: TlsMaterial): Promise<{ certificatePem: string }> {
    const params = resolveTlsMaterial(material, process.cwd(), "replaceTlsCertificate");
    const bridge = this.#bridge;
    const result = await this.#call((b) => b.request("replaceTlsCertificate", params));
    if (this.#bridge === bridge) this.#certificatePem = result.certificatePem;
    return result;
  }

  /**
   * Subscribes to an event.
   *
   * @param event Event name, e.g. `"objectCreated"`.
   * @param handler Receives the event data.
   * @returns A function that unsubscribes.
   *
   * @example
   * ```ts
   * import { SmartStorage } from "./smart_storage.ts";
   * const storage = await SmartStorage.createAndStart({ ephemeral: true });
   * const off = storage.on("objectCreated", (e) => console.log(`${e.bucket}/${e.key}: ${e.size} bytes`));
   * off();
   * await storage.stop();
   * ```
   */
  on<K extends SmartStorageEventName>(event: K, handler: (data: SmartStorageEventMap[K]) => void): () => void {
    return this.#hub.on(event, handler);
  }

  /**
   * Iterates over events from now on; the iteration ends when the server stops.
   *
   * @param names Only these events; default: all.
   * @returns An async iterator of `{ event, data }`.
   *
   * @example
   * ```ts
   * import { SmartStorage } from "./smart_storage.ts";
   * const storage = await SmartStorage.createAndStart({ ephemeral: true });
   * for await (const { event, data } of storage.events("bucketCreated")) {
   *   console.log(event, data);
   *   break;
   * }
   * ```
   */
  events<K extends SmartStorageEventName = SmartStorageEventName>(
    ...names: K[]
  ): AsyncIterableIterator<Extract<SmartStorageEvent, { event: K }>> {
    return this.#hub.iterate(names) as AsyncIterableIterator<Extract<SmartStorageEvent, { event: K }>>;
  }

  /**
   * Waits for the next event named `event` that matches `predicate`. Subscribe
   * before you cause the event.
   *
   * @param event Event name.
   * @param predicate Filter; default: any.
   * @param timeoutMs Reject after this many ms; default 10 000.
   * @returns The event data.
   * @throws {RequestTimeoutError} When no matching event arrives in time.
   *
   * @example
   * ```ts
   * import { SmartStorage } from "./smart_storage.ts";
   * const storage = await SmartStorage.createAndStart({ ephemeral: true });
   * const created = storage.waitForEvent("bucketCreated", (e) => e.bucket === "photos");
   * await storage.createBucket("photos");
   * await created;
   * ```
   */
  waitForEvent<K extends SmartStorageEventName>(
    event: K,
    predicate?: (data: SmartStorageEventMap[K]) => boolean,
    timeoutMs?: number,
  ): Promise<SmartStorageEventMap[K]> {
    return this.#hub.waitFor(event, predicate, timeoutMs);
  }

  // -------------------------------------------------------------------------

  #call<T>(fn: (bridge: EngineBridge) => Promise<T>): Promise<T> {
    const bridge = this.#bridge;
    if (bridge === undefined) return Promise.reject(notStarted());
    // An ended engine: the bridge rejects at once with "no longer running: <reason>".
    if (!bridge.running) return fn(bridge);
    if (this.#info === undefined) return Promise.reject(notStarted());
    if (this.#stopping) return Promise.reject(new NotRunningError("stop() was called"));
    return fn(bridge);
  }

  #requireInfo(): StartResult {
    if (this.#info === undefined || !this.#bridge?.running) {
      const reason = this.#bridge?.closedReason;
      if (reason) throw new NotRunningError(reason.message, { cause: reason });
      throw notStarted();
    }
    return this.#info;
  }

  #clientTarget(): {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    ca: string | undefined;
  } {
    let info: StartResult;
    try {
      info = this.#requireInfo();
    } catch (err) {
      if (err instanceof NotRunningError) throw err;
      throw new NotRunningError("it was never started (call start() first)");
    }
    const credential = this.#credentials[0]!;
    const { useSsl } = endpointOf(info);
    return {
      endpoint: this.endpointUrl,
      region: info.region,
      accessKeyId: credential.accessKeyId,
      secretAccessKey: credential.secretAccessKey,
      ca: useSsl && this.#certificatePem !== null ? this.#certificatePem : undefined,
    };
  }

  #removeCaBundle(): void {
    const dir = this.#caBundleDir;
    this.#caBundleDir = undefined;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }

  async #removeTempDir(): Promise<void> {
    const dir = this.#tempDir;
    this.#tempDir = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

function notStarted(): SmartStorageError {
  return new SmartStorageError("NotStarted", "the smartstorage server is not started: call start() first");
}

/** The endpoint clients are pointed at: HTTPS when configured (see getS3Descriptor). */
function endpointOf(info: StartResult): { host: string; port: number; useSsl: boolean } {
  const host = clientHost(info.address);
  if (info.useSsl === true) return { host, port: info.port, useSsl: true };
  if (typeof info.tlsPort === "number") return { host, port: info.tlsPort, useSsl: true };
  return { host, port: info.port, useSsl: false };
}

/** The host a client should connect to for a bind address (wildcards mean loopback). */
function clientHost(address: string): string {
  if (address === "0.0.0.0" || address === "") return "127.0.0.1";
  if (address === "::" || address === "[::]") return "::1";
  return address.replace(/^\[(.*)\]$/, "$1");
}

function stringEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
