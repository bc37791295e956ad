/**
 * A cluster of several `ruststorage` engines on this machine, for testing an app
 * against a cluster: {@linkcode startLocalCluster} (also `SmartStorage.startLocalCluster`).
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type AuthConfig, type BucketSpec, randomCredential, type SmartStorageConfig } from "./config.ts";
import { ConfigError, SmartStorageError } from "./errors.ts";
import type { ClusterModeHealth, Credential } from "./protocol.ts";
import { SmartStorage } from "./smart_storage.ts";

/** Options of {@linkcode startLocalCluster}; every field is optional. */
export interface LocalClusterOptions {
  /** How many nodes (engines), named `n1` to `nN`: 1 to 16. Default `3`. */
  nodes?: number;
  /** Drive folders per node: at least 2, at most 16. Default `2`. */
  drivesPerNode?: number;
  /**
   * A folder to keep the data in (`<directory>/n1/d1`, ...), kept after `stop()` (to look
   * at). It must be empty or missing: a new cluster starts there every time (restarting a
   * stopped cluster from its folder is not supported). Default: a temporary folder
   * removed by `stop()`.
   */
  directory?: string;
  /** The shared cluster secret (at least 16 characters). Default: 32 random characters. */
  secret?: string;
  /** Key pairs every node accepts (short for `auth.credentials`). Default: one random pair. */
  credentials?: Credential[];
  /** Authentication of every node. Default: on, with `credentials`. */
  auth?: AuthConfig;
  /** The address every node's S3 and QUIC ports bind. Default `"127.0.0.1"`. */
  address?: string;
  /** The region the nodes answer for. Default `"us-east-1"`. */
  region?: string;
  /** fsync every write. Default `false` (test data). */
  fsync?: boolean;
  /** Buckets made once the cluster is up (as {@linkcode SmartStorageConfig.buckets}). */
  buckets?: (string | BucketSpec)[];
  /** Path of the `ruststorage` binary; skips the lookup chain. */
  binaryPath?: string;
  /** Copy the engines' stderr to this process's stderr. Default `false`. */
  verbose?: boolean;
  /** Extra environment variables for the engines. */
  env?: Record<string, string>;
  /** Timeout of each node's start, in ms. Default `30000`. */
  startTimeoutMs?: number;
  /** How long to wait, after the starts, for every node to see all nodes up and a leader, in ms. Default `30000`. */
  readyTimeoutMs?: number;
}

/** A running local cluster, as returned by {@linkcode startLocalCluster}. */
export interface LocalCluster extends AsyncDisposable {
  /** One server per node, `n1` first; any of them serves S3 for the whole cluster. */
  readonly nodes: readonly SmartStorage[];
  /** The folder holding every node's drives. */
  readonly directory: string;
  /** Stops every node; removes the folder unless it was given as `directory`. Idempotent. */
  stop(): Promise<void>;
}

const KNOWN_OPTIONS = new Set([
  "nodes",
  "drivesPerNode",
  "directory",
  "secret",
  "credentials",
  "auth",
  "address",
  "region",
  "fsync",
  "buckets",
  "binaryPath",
  "verbose",
  "env",
  "startTimeoutMs",
  "readyTimeoutMs",
]);
const MAX_NODES = 16;
const MAX_DRIVES_PER_NODE = 16;
/** QUIC ports are picked at random from here (with a secret the engine needs a fixed one). */
const QUIC_PORT_RANGE = [20_000, 60_999] as const;
/** Tries per node when its random QUIC port is taken. */
const QUIC_PORT_TRIES = 5;
/** The cluster's shape, and the QUIC ports of the nodes started so far. */
interface ClusterLayout {
  nodes: number;
  drivesPerNode: number;
  secret: string;
  quicPorts: number[];
}

/**
 * Starts `nodes` engines on this machine that form one cluster: node `n1` starts it,
 * the others join through it one after the other, each with its own S3 port (picked
 * free), its own QUIC port and `drivesPerNode` drive folders. Object data is
 * erasure-coded over all nodes' drives. Every node accepts the same credentials, so
 * an S3 client may use any node's endpoint. Returns once every node sees all nodes
 * up and a leader; on any failure, stops what it started and removes the temporary
 * folder.
 *
 * @param options Node and drive counts, folder, secret, credentials and a few server settings.
 * @returns The cluster: `nodes` (one {@linkcode SmartStorage} each), `stop()`; `await using` works.
 * @throws {ConfigError} When an option is invalid (before anything starts).
 * @throws {SmartStorageError} When a node fails to start, or `ClusterNotReady` when the
 *   nodes do not see each other and a leader within `readyTimeoutMs`.
 *
 * @example Three nodes, any of them an S3 endpoint
 * ```ts
 * import { S3Client } from "@aws-sdk/client-s3";
 * import { SmartStorage } from "@push-rocks/smartstorage";
 *
 * await using cluster = await SmartStorage.startLocalCluster({ nodes: 3 });
 * const s3 = new S3Client(cluster.nodes[1]!.s3ClientConfig());
 * console.log(await cluster.nodes[2]!.getClusterHealth());
 * s3.destroy();
 * ```
 */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const checked = checkOptions(options);
  const kept = options.directory !== undefined;
  const directory = kept ? resolve(options.directory!) : await mkdtemp(join(tmpdir(), "smartstorage-cluster-"));
  const nodes: SmartStorage[] = [];
  const stopAll = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    if (!kept) await rm(directory, { recursive: true, force: true });
  };
  try {
    const layout: ClusterLayout = { nodes: checked.nodes, drivesPerNode: checked.drivesPerNode, secret: checked.secret, quicPorts: [] };
    // One after the other: each joins through n1, and joining takes a moment.
    for (let i = 0; i < layout.nodes; i++) nodes.push(await startNode(i, layout, directory, checked.config));
    await waitUntilFormed(nodes, checked.readyTimeoutMs);
    if (checked.buckets !== undefined) {
      for (const b of checked.buckets) {
        const { name, ...settings } = typeof b === "string" ? { name: b } : b;
        await nodes[0]!.ensureBucket(name, settings);
      }
    }
  } catch (err) {
    await stopAll();
    // A given folder was empty: leave it so, for the next try.
    if (kept) await Promise.all(nodeNames(checked.nodes).map((n) => rm(join(directory, n), { recursive: true, force: true })));
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const cluster: LocalCluster = {
    nodes: Object.freeze([...nodes]),
    directory,
    stop: () => (stopping ??= stopAll()),
    [Symbol.asyncDispose]: () => cluster.stop(),
  };
  return cluster;
}

/** The options checked, with defaults: what every node shares. */
interface CheckedOptions {
  nodes: number;
  drivesPerNode: number;
  /** The secret given, else a random one. */
  secret: string;
  readyTimeoutMs: number;
  buckets: (string | BucketSpec)[] | undefined;
  /** The configuration every node shares (no `cluster` yet). */
  config: SmartStorageConfig;
}

function checkOptions(options: LocalClusterOptions): CheckedOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ConfigError("startLocalCluster options must be an object");
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new ConfigError(`unknown startLocalCluster option ${key} (valid: ${[...KNOWN_OPTIONS].join(", ")})`);
  }
  const count = (name: string, value: unknown, fallback: number, min: number, max: number) => {
    const v = value ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v) ?? String(v)}`);
    }
    return v;
  };
  const nodes = count("nodes", options.nodes, 3, 1, MAX_NODES);
  // Cluster mode needs at least two drives on each node (one folder is standalone mode).
  const drivesPerNode = count("drivesPerNode", options.drivesPerNode, 2, 2, MAX_DRIVES_PER_NODE);
  const readyTimeoutMs = count("readyTimeoutMs", options.readyTimeoutMs, 30_000, 1, 3_600_000);
  const secret = options.secret ?? randomSecret(32);
  if (typeof secret !== "string" || [...secret].length < 16) {
    throw new ConfigError("secret must be a string of at least 16 characters (it is the cluster's key)");
  }
  if (options.directory !== undefined) {
    if (typeof options.directory !== "string" || options.directory.trim() === "") {
      throw new ConfigError("directory must be a non-empty path");
    }
    const dir = resolve(options.directory);
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      throw new ConfigError(
        `directory ${dir} is not empty: startLocalCluster starts a new cluster there (restarting a stopped one is not supported); give an empty or new folder`,
      );
    }
  }
  if (options.credentials !== undefined && options.auth?.credentials !== undefined) {
    throw new ConfigError("give credentials or auth.credentials, not both");
  }
  // One set of credentials for all: a client may talk to any node.
  const auth = { ...options.auth };
  auth.enabled ??= true;
  const credentials = options.credentials ?? auth.credentials ?? (auth.enabled ? [randomCredential()] : undefined);
  if (credentials !== undefined) auth.credentials = credentials;
  const config: SmartStorageConfig = {
    server: { address: options.address ?? "127.0.0.1", port: 0, ...(options.region !== undefined ? { region: options.region } : {}) },
    storage: { fsync: options.fsync ?? false },
    auth,
    ...(options.binaryPath !== undefined ? { binaryPath: options.binaryPath } : {}),
    ...(options.verbose !== undefined ? { verbose: options.verbose } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
  };
  // Everything but the cluster part is checked here, before anything starts.
  new SmartStorage(config);
  return { nodes, drivesPerNode, secret, readyTimeoutMs, buckets: options.buckets, config };
}

/** The configuration of node `i` (0-based) on QUIC port `quicPort`. */
function nodeConfig(i: number, quicPort: number, layout: ClusterLayout, directory: string, shared: SmartStorageConfig): SmartStorageConfig {
  const address = shared.server!.address!;
  // A wildcard bind is not an address the other nodes can call.
  const advertise = ["0.0.0.0", "::", "[::]"].includes(address) ? "127.0.0.1" : address.replace(/^\[(.*)\]$/, "$1");
  const seedHost = advertise.includes(":") ? `[${advertise}]` : advertise;
  const name = nodeNames(i + 1)[i]!;
  return {
    ...shared,
    // Not used in cluster mode, but kept inside the cluster's folder.
    storage: { ...shared.storage, directory: join(directory, name) },
    cluster: {
      drives: Array.from({ length: layout.drivesPerNode }, (_, d) => join(directory, name, `d${d + 1}`)),
      nodeId: name,
      quicPort,
      secret: layout.secret,
      advertiseAddress: advertise,
      ...(i > 0 ? { seedNodes: [`${seedHost}:${layout.quicPorts[0]}`] } : {}),
    },
  };
}

/**
 * Starts node `i` on a random QUIC port, and on another when that
 * one is taken; records the port in `layout.quicPorts`.
 */
async function startNode(i: number, layout: ClusterLayout, directory: string, shared: SmartStorageConfig): Promise<SmartStorage> {
  const taken = new Set(layout.quicPorts);
  for (let attempt = 1;; attempt++) {
    let port: number;
    do port = randomPort(); while (taken.has(port));
    taken.add(port);
    const config = nodeConfig(i, port, layout, directory, shared);
    try {
      const node = await SmartStorage.createAndStart(config);
      layout.quicPorts[i] = port;
      return node;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes("cannot listen for QUIC") || attempt >= QUIC_PORT_TRIES) throw err;
      // The drives were formatted before the bind failed: start the next try on empty ones.
      for (const drive of config.cluster!.drives) await rm(drive, { recursive: true, force: true });
    }
  }
}

/** Resolves once every node sees every node up, all of them voters, and a leader. */
async function waitUntilFormed(nodes: SmartStorage[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem = "";
  for (;;) {
    const healths = (await Promise.all(nodes.map((n) => n.getClusterHealth()))) as ClusterModeHealth[];
    problem = formationProblem(healths, nodes.length);
    if (problem === "") return;
    if (Date.now() > deadline) {
      throw new SmartStorageError(
        "ClusterNotReady",
        `the local cluster of ${nodes.length} nodes did not form within ${timeoutMs} ms (readyTimeoutMs): ${problem}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What keeps the cluster from being formed, as seen in each node's health; `""` when nothing. */
function formationProblem(healths: ClusterModeHealth[], count: number): string {
  for (const h of healths) {
    const at = `node ${h.nodeId}`;
    if (h.raft.leaderId === null) return `${at} knows no leader`;
    if (h.raft.voters.length !== count) return `${at} has ${h.raft.voters.length} voters: ${h.raft.voters.join(", ")}`;
    const notUp = h.nodes.filter((n) => n.state !== "up").map((n) => `${n.id} ${n.state}`);
    if (h.nodes.length !== count || notUp.length > 0) {
      return `${at} sees ${h.nodes.length} nodes${notUp.length > 0 ? ` (${notUp.join(", ")})` : ""}`;
    }
  }
  return "";
}

/** The node ids: `n1` to `nN`. */
function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}

function randomPort(): number {
  const [low, high] = QUIC_PORT_RANGE;
  return low + (crypto.getRandomValues(new Uint32Array(1))[0]! % (high - low + 1));
}

function randomSecret(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...crypto.getRandomValues(new Uint8Array(length))].map((b) => alphabet[b % alphabet.length]).join("");
}
