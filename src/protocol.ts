/**
 * Types of the management protocol spoken with `ruststorage --management`
 * (see docs/protocol.md): methods with their params and results, and events;
 * and the same as shapes, which tests/protocol_fixture.test.ts checks against
 * the fixture the engine's own tests check too.
 *
 * @module
 */

/** The management protocol version this host speaks. */
export const PROTOCOL_VERSION = 1;

/** One access key pair. */
export interface Credential {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /**
   * The user this key acts for. Keys without one act for the default account (which
   * owns every bucket made before users existed); keys with different owners are
   * different users, who see only their own buckets unless a policy or ACL says more.
   */
  owner?: CredentialOwner;
}

/** A user, as S3 names one: a canonical id and a display name (at least one of them). */
export interface CredentialOwner {
  /** Canonical user id; when omitted, a stable 64-hex id derived from `displayName`. */
  id?: string;
  /** Display name; when omitted, the id. */
  displayName?: string;
}

/** Result of `start`: where the server is listening. */
export interface StartResult {
  /** Bound address, e.g. `127.0.0.1`. */
  address: string;
  /** Bound port (the real one when 0 was asked for). */
  port: number;
  /** The separate HTTPS port when `server.tls.port` was given, else `null`. */
  tlsPort: number | null;
  /** Whether `port` speaks HTTPS (`server.tls` without its own port). */
  useSsl: boolean;
  /** The served certificate chain (PEM) when TLS is on, else `null`. */
  certificatePem: string | null;
  /** Region the server answers for. */
  region: string;
  /** Absolute storage directory. */
  directory: string;
  /** Cluster mode: the bound QUIC port of the node (the real one when 0 was asked for); absent in standalone mode. */
  quicPort?: number;
  /** The metrics' own port (`server.metrics.port`; the real one when 0 was asked for); absent otherwise. */
  metricsPort?: number;
  /** The web console's port (`server.console`; the real one when 0 was asked for); absent when it is off. */
  consolePort?: number;
}

/** Per-bucket part of {@linkcode StorageStats}. */
export interface BucketStats {
  /** Bucket name. */
  name: string;
  /** Number of objects. */
  objectCount: number;
  /** Sum of object sizes in bytes. */
  totalBytes: number;
}

/** Space of one storage location, part of {@linkcode StorageStats}. */
export interface StorageLocation {
  /** Absolute path. */
  path: string;
  /** Size of the file system in bytes. */
  totalBytes: number;
  /** Free bytes on the file system. */
  freeBytes: number;
  /** Bytes available to the engine's user. */
  availableBytes: number;
}

/**
 * Result of `getStorageStats`: counters kept on every write, never a listing.
 * Object counts and bytes include every stored version (non-current versions of
 * versioned buckets; delete markers are not objects).
 */
export interface StorageStats {
  /** Number of buckets. */
  bucketCount: number;
  /** Number of objects across all buckets. */
  objectCount: number;
  /** Sum of object sizes in bytes across all buckets. */
  totalBytes: number;
  /** Multipart uploads started and neither completed nor aborted. */
  multipartUploadCount: number;
  /** Bytes held by the parts of those uploads. */
  multipartBytes: number;
  /** Whether the start-up scan of the existing data has finished (counts are exact once true). */
  initialScanComplete: boolean;
  /** Events the engine dropped because its bounded queue to the host was full. */
  droppedEvents: number;
  /** Per-bucket numbers. */
  buckets: BucketStats[];
  /** Space of each storage location. */
  storageLocations: StorageLocation[];
}

/** One entry of `listBucketSummaries`. */
export interface BucketSummary {
  /** Bucket name. */
  name: string;
  /** Creation date (ISO 8601). */
  creationDate: string;
  /** Region of the bucket. */
  region?: string;
  /** Number of objects. */
  objectCount: number;
  /** Sum of object sizes in bytes. */
  totalBytes: number;
  /** Whether a bucket policy is set. */
  hasPolicy: boolean;
  /** Whether a CORS configuration is set. */
  hasCors: boolean;
}

/** Result of probing one storage location (a 4 KiB file written, fsynced and removed). */
export interface DriveProbe {
  /** Absolute path of the location. */
  path: string;
  /** Whether the location could be reached. */
  reachable: boolean;
  /** Whether the probe file could be written. */
  writable: boolean;
  /** How long the probe took, in ms. */
  probeLatencyMs: number | null;
  /** Bytes available to the engine's user. */
  availableBytes: number | null;
  /** Why the probe failed, or `null`. */
  error: string | null;
}

/** `getClusterHealth` in standalone mode: no cluster, one probe per storage location. */
export interface StandaloneHealth {
  /** Always `false`: standalone mode. */
  enabled: false;
  /** One probe per storage location. */
  drives: DriveProbe[];
}

/** The state of a cluster drive. */
export type ClusterDriveState =
  /** Probed fine. */
  | "ok"
  /** Gone: its folder or format file is missing or cannot be read. */
  | "offline"
  /** There, but failing: a probe write or an I/O of the storage failed. */
  | "faulty"
  /** (Almost) out of space: below 64 MiB available, or a write ran out of space. */
  | "full"
  /** Fine, and being filled with the shards it lacks (a replaced or returning drive). */
  | "healing";

/** The metadata log (Raft) as this node sees it. */
export interface ClusterRaftReport {
  /** The current leader's node id; `null` when none is known (no quorum, election running). */
  leaderId: string | null;
  /** The Raft term. */
  term: number;
  /** The index of the last committed log entry. */
  commitIndex: number;
  /** This node's role. */
  role: "leader" | "follower" | "candidate" | "learner" | "none";
  /** Node ids of the voting members. */
  voters: string[];
  /** Node ids of the non-voting members. */
  learners: string[];
  /** On the leader: how far each other member's copy of the log is; empty elsewhere. */
  replication: ClusterReplicationReport[];
}

/** One member as the leader replicates the metadata log to it. */
export interface ClusterReplicationReport {
  /** Its node id. */
  nodeId: string;
  /** The last log index it is known to hold; `null` until it answered. */
  matchedIndex: number | null;
  /** Entries it is behind the leader's log. */
  lag: number;
}

/** A member node (this node included, always `up`). */
export interface ClusterNodeReport {
  /** Its node id. */
  id: string;
  /** Its QUIC address, `host:port`. */
  address: string;
  /** `up`: answering; `suspect`: late; `down`: not answering. */
  state: "up" | "suspect" | "down";
  /** When it was last heard from (Unix time, ms); `null` if never. */
  lastSeenMs: number | null;
  /** The last round trip to it in ms; `null` for this node and for a node never reached. */
  rttMs: number | null;
}

/** A cluster drive and its last probe. */
export interface ClusterDriveReport {
  /** The node the drive belongs to. */
  nodeId: string;
  /** The drive folder. */
  path: string;
  /** Its state now. */
  state: ClusterDriveState;
  /** The file system's size; `null` when it cannot be read. */
  totalBytes: number | null;
  /** Bytes available to the engine; `null` when unknown. */
  freeBytes: number | null;
  /** When the drive was last probed (Unix time, ms). */
  lastProbeMs: number;
  /** Time to write, fsync and remove a 4 KiB file, in ms; `null` when that failed. */
  probeLatencyMs: number | null;
  /** Why the state is not `ok`; `null` when it is. */
  error: string | null;
}

/** An erasure set: K data + M parity shards over its drives, with its quorums. */
export interface ClusterSetReport {
  /** The pool of the set (0 until pools are added). */
  pool: number;
  /** The set's index in its pool. */
  id: number;
  /** K: data shards per object. */
  dataShards: number;
  /** M: parity shards per object; this many drives may be lost. */
  parityShards: number;
  /** Drives that can serve reads (`ok`, `healing` or `full`). */
  drivesOnline: number;
  /** Shards a read needs (K). */
  readQuorum: number;
  /** Shards a write needs (K, and K + 1 when K = M). */
  writeQuorum: number;
  /** `drivesOnline >= readQuorum`. */
  readable: boolean;
  /** Enough drives that take writes (`ok` or `healing`) for the write quorum. */
  writable: boolean;
}

/** The quorum summary. */
export interface ClusterQuorumReport {
  /** `ok`: the metadata log has a reachable leader; `lost`: writes and linearizable reads answer 503. */
  metadata: "ok" | "lost";
  /** Every erasure set is readable. */
  dataReadable: boolean;
  /** Every erasure set is writable. */
  dataWritable: boolean;
}

/** Healing counters (since start) and the background scanner. */
export interface ClusterHealingReport {
  /** Objects waiting to be healed (found on read, partial writes). */
  queued: number;
  /** Objects being healed now. */
  inProgress: number;
  /** Objects healed since start. */
  healedObjects: number;
  /** Bytes of shards rewritten since start. */
  healedBytes: number;
  /** Heals that failed since start. */
  failed: number;
  /** The background scanner. */
  scanner: {
    /** Cycles started since start (0: none yet). */
    cycle: number;
    /** ISO 8601; `null` before the first cycle. */
    lastStartedAt: string | null;
    /** ISO 8601; `null` until a cycle finished. */
    lastFinishedAt: string | null;
  };
}

/** Result of `decommissionNode`: what was moved off the node before it left. */
export interface DecommissionReport {
  nodeId: string;
  /** Bodies (whole objects, or parts of multipart ones) rewritten over the other nodes. */
  movedBodies: number;
  movedBytes: number;
}

/** `getClusterHealth` in cluster mode (`cluster` in the config). */
export interface ClusterModeHealth {
  /** Always `true`: cluster mode. */
  enabled: true;
  /** This node's id. */
  nodeId: string;
  /** This node's bound QUIC port. */
  quicPort: number;
  /** The metadata log. */
  raft: ClusterRaftReport;
  /** The member nodes. */
  nodes: ClusterNodeReport[];
  /** Every drive of every node, probed. */
  drives: ClusterDriveReport[];
  /** The erasure sets. */
  sets: ClusterSetReport[];
  /** Whether metadata and data can be read and written. */
  quorum: ClusterQuorumReport;
  /** Healing state. */
  healing: ClusterHealingReport;
}

/**
 * Result of `getClusterHealth`, told apart by `enabled`: `{ enabled: false, drives }`
 * in standalone mode, the cluster report in cluster mode.
 */
export type ClusterHealth = StandaloneHealth | ClusterModeHealth;

/** Data of the `ready` event. */
export interface ReadyEvent {
  /** Protocol version of the engine. */
  protocolVersion: number;
  /** Engine version; the host requires its own package version (see `EngineVersionError`). */
  version: string;
}

/** Data of the `log` event. */
export interface LogEvent {
  /** Severity. */
  level: "info" | "warn" | "error" | (string & Record<never, never>);
  /** Log message. */
  message: string;
}

/** Data of `bucketCreated` and `bucketDeleted`. */
export interface BucketEvent {
  /** Bucket name. */
  bucket: string;
}

/** Data of `objectCreated`. */
export interface ObjectCreatedEvent {
  /** Bucket name. */
  bucket: string;
  /** Object key. */
  key: string;
  /** Object size in bytes. */
  size: number;
  /** ETag of the object. */
  etag: string;
  /** Whether an existing object was replaced. */
  overwrite: boolean;
}

/** Data of `objectDeleted`. */
export interface ObjectDeletedEvent {
  /** Bucket name. */
  bucket: string;
  /** Object key. */
  key: string;
  /** Why, when no client asked: `"lifecycle"` (a bucket's lifecycle rule expired it). */
  reason?: "lifecycle";
}

/** Data of `multipartCompleted`. */
export interface MultipartCompletedEvent {
  /** Bucket name. */
  bucket: string;
  /** Object key. */
  key: string;
  /** Object size in bytes. */
  size: number;
  /** ETag of the object. */
  etag: string;
  /** Id of the completed upload. */
  uploadId: string;
}

/** Every event the engine emits, by name. */
export interface SmartStorageEventMap {
  /** The engine is up and states its protocol version (always its first message). */
  ready: ReadyEvent;
  /** A log line from the engine. */
  log: LogEvent;
  /** A bucket was created (through S3 or `createBucket`). */
  bucketCreated: BucketEvent;
  /** A bucket was deleted. */
  bucketDeleted: BucketEvent;
  /** An object was written (PutObject, CopyObject, ...). */
  objectCreated: ObjectCreatedEvent;
  /** An object was deleted. */
  objectDeleted: ObjectDeletedEvent;
  /** A multipart upload was completed. */
  multipartCompleted: MultipartCompletedEvent;
}

/** Name of an event. */
export type SmartStorageEventName = keyof SmartStorageEventMap;

/** One event as yielded by `SmartStorage.events()`. */
export type SmartStorageEvent = {
  [K in SmartStorageEventName]: { event: K; data: SmartStorageEventMap[K] };
}[SmartStorageEventName];

/** Every method with its params and result. */
export interface MethodMap {
  start: { params: { config: EngineConfig }; result: StartResult };
  stop: { params: Record<string, never>; result: Record<string, never> };
  createBucket: { params: { name: string }; result: { name: string } };
  ensureBucket: { params: EnsureBucketParams; result: { name: string; created: boolean } };
  deleteBucket: { params: { name: string; force?: boolean }; result: { deletedObjects: number } };
  emptyBucket: { params: { name: string }; result: { deletedObjects: number; lockedVersions?: number } };
  reset: { params: Record<string, never>; result: { deletedBuckets: number; lockedBuckets?: string[] } };
  importFolder: { params: FolderParams; result: ImportFolderResult };
  exportFolder: { params: FolderParams; result: ExportFolderResult };
  getStorageStats: { params: Record<string, never>; result: StorageStats };
  listBucketSummaries: { params: Record<string, never>; result: BucketSummary[] };
  listCredentials: { params: Record<string, never>; result: Credential[] };
  replaceCredentials: { params: { credentials: Credential[] }; result: { count: number } };
  getClusterHealth: { params: Record<string, never>; result: ClusterHealth };
  replaceTlsCertificate: { params: TlsMaterial; result: { certificatePem: string } };
  decommissionNode: { params: { nodeId: string }; result: DecommissionReport };
}

/** A bucket and the settings it must have (`ensureBucket`, the `buckets` config). */
export interface EnsureBucketParams {
  name: string;
  /** `Enabled` or `Suspended`. */
  versioning?: "Enabled" | "Suspended";
  /** A bucket policy document (JSON text). */
  policy?: string;
  /** The bucket's CORS rules. */
  cors?: CorsRule[];
}

/** A bucket and a folder on the engine's machine (`importFolder`, `exportFolder`). */
export interface FolderParams {
  bucket: string;
  /** An absolute path (the module resolves relative ones against the host's working folder). */
  folder: string;
  /** Put before each key on import; on export, only keys under it, written without it. */
  prefix?: string;
}

/** Result of `importFolder`. */
export interface ImportFolderResult {
  /** Files imported. */
  imported: number;
  /** Their bytes. */
  bytes: number;
}

/** Result of `exportFolder`. */
export interface ExportFolderResult {
  /** Objects written as files. */
  exported: number;
  /** Their bytes. */
  bytes: number;
  /** Keys not written because they would not make a safe path under the folder. */
  skippedCount: number;
  /** The first 100 of those keys. */
  skipped: string[];
}

/** Name of a method. */
export type MethodName = keyof MethodMap;

/**
 * Where a TLS certificate comes from: PEM files (a chain is allowed), PEM text,
 * or a self-signed certificate for `localhost`, `127.0.0.1` and `::1` generated
 * by the engine.
 */
export type TlsMaterial =
  | { certPath: string; keyPath: string }
  | { certPem: string; keyPem: string }
  | { selfSigned: true };

/** TLS settings of the engine: the certificate and an optional separate HTTPS port. */
export type EngineTlsConfig = TlsMaterial & {
  /**
   * Serve HTTPS on this port and keep `server.port` plain HTTP (`0` = ephemeral).
   * Without it, `server.port` speaks HTTPS only.
   */
  port?: number;
};

/** One server-wide CORS rule (for buckets without a CORS configuration of their own). */
export interface CorsRule {
  /** Allowed origins; `*` wildcards allowed (e.g. `["*"]`, `["https://*.example.com"]`). */
  allowedOrigins: string[];
  /** Allowed methods (`GET`, `PUT`, `POST`, `DELETE`, `HEAD`). */
  allowedMethods: string[];
  /** Request headers a preflight may ask for; `*` allowed. */
  allowedHeaders?: string[];
  /** Response headers exposed to the browser (e.g. `ETag`). */
  exposeHeaders?: string[];
  /** How long a browser may cache a preflight answer, in seconds. */
  maxAgeSeconds?: number;
}

/** The `Config` object sent with `start` (docs/protocol.md). */
export interface EngineConfig {
  /** HTTP listener. */
  server: {
    address: string;
    port: number;
    region: string;
    virtualHostDomains?: string[];
    cors?: CorsRule;
    tls?: EngineTlsConfig;
    maxConnections?: number;
    maxConnectionsPerClient?: number;
    /** One line per request on the engine's stderr (`[request] GET /b/k 200 5 bytes 0.4 ms`). */
    logRequests?: boolean;
    /** Prometheus metrics at `/metrics`: on the S3 port, or on `port`. */
    metrics?: { enabled: boolean; bearerToken?: string; port?: number };
    /** One JSON line per request, to `path` (rotated by size) or stderr. */
    accessLog?: { path?: string; maxFileBytes?: number; keepFiles?: number };
    /** The web console on `port` (pages and S3 on one origin). */
    console?: { enabled: boolean; port: number };
  };
  /**
   * Storage folder and write behaviour. `removeOnExit`: the engine removes the folder
   * when it ends, also when the host dies.
   */
  storage: { directory: string; cleanSlate: boolean; fsync: boolean; removeOnExit?: boolean };
  /** SigV4 authentication and the accepted key pairs. */
  auth: { enabled: boolean; credentials: Credential[]; sigV2?: boolean };
  /** Buckets made at start unless they exist, with their settings. */
  buckets?: EnsureBucketParams[];
  /** Cluster mode: erasure-coded drives, a QUIC port (`quicPort` 0: a free one). */
  cluster?: {
    enabled: boolean;
    drives: string[];
    erasure?: { dataShards: number; parityShards: number };
    quicPort: number;
    nodeId?: string;
    seedNodes?: string[];
    advertiseAddress?: string;
    secret?: string;
  };
  /**
   * Server-side encryption keys. `masterKey`, `previousMasterKeys` and `kmsKeys` are
   * never echoed (the protocol fixture has none); `masterKeyFile` is absolute.
   */
  encryption?: {
    masterKey?: string;
    masterKeyFile?: string;
    previousMasterKeys?: string[];
    kmsKeys?: Record<string, string>;
    defaultKmsKeyId?: string;
    allowSseCOverHttp?: boolean;
  };
  /** The lifecycle worker's day and schedule, in seconds (positive integers). */
  lifecycle?: { dayLengthSeconds?: number; scanIntervalSeconds?: number };
}

/** A response line. */
export interface ResponseMessage {
  id: string;
  success: boolean;
  result?: unknown;
  error?: { code?: string; message?: string };
}

/** An event line. */
export interface EventMessage {
  event: string;
  data?: unknown;
}

// ---------------------------------------------------------------------------
// Shapes: the types above as values, so that the protocol fixture
// (tests/fixtures/protocol.ndjson, also checked by the engine's own tests) can be
// checked against them at run time. `ShapeOf<T>` makes each shape match its type:
// a field added to, removed from or retyped in an interface fails to compile here.

/** A runtime description of a JSON value (see {@linkcode checkShape}). */
export type Shape =
  | "string"
  | "number"
  | "boolean"
  | { readonly nullable: Shape }
  | { readonly optional: Shape }
  | { readonly array: Shape }
  | { readonly object: { readonly [field: string]: Shape } }
  | { readonly oneOf: readonly Shape[] };

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I
  : never;
type IsUnion<T> = [T] extends [UnionToIntersection<T>] ? false : true;
/** The named fields of `T` (no index signature). */
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: unknown };
type ObjectShape<T> = {
  readonly object: {
    readonly [K in Extract<KnownKeys<T>, keyof T>]-?: Record<never, never> extends Pick<T, K>
      ? { readonly optional: ShapeOf<Exclude<T[K], undefined>> }
      : ShapeOf<T[K]>;
  };
};
type MemberShape<T> = T extends unknown ? ObjectShape<T> : never;

/** The {@linkcode Shape} that describes exactly the JSON form of `T`. */
export type ShapeOf<T> = [T] extends [string] ? "string"
  : [T] extends [number] ? "number"
  : [T] extends [boolean] ? "boolean"
  : null extends T ? { readonly nullable: ShapeOf<Exclude<T, null>> }
  : [T] extends [readonly (infer U)[]] ? { readonly array: ShapeOf<U> }
  : IsUnion<T> extends true ? { readonly oneOf: readonly MemberShape<T>[] }
  : ObjectShape<T>;

const NO_PARAMS = { object: {} } as const;
const CREDENTIAL: ShapeOf<Credential> = {
  object: {
    accessKeyId: "string",
    secretAccessKey: "string",
    owner: { optional: { object: { id: { optional: "string" }, displayName: { optional: "string" } } } },
  },
};
const TLS_MATERIAL: ShapeOf<TlsMaterial> = {
  oneOf: [
    { object: { certPath: "string", keyPath: "string" } },
    { object: { certPem: "string", keyPem: "string" } },
    { object: { selfSigned: "boolean" } },
  ],
};
const ENGINE_TLS: ShapeOf<EngineTlsConfig> = {
  oneOf: [
    { object: { certPath: "string", keyPath: "string", port: { optional: "number" } } },
    { object: { certPem: "string", keyPem: "string", port: { optional: "number" } } },
    { object: { selfSigned: "boolean", port: { optional: "number" } } },
  ],
};
const DRIVE_PROBE: ShapeOf<DriveProbe> = {
  object: {
    path: "string",
    reachable: "boolean",
    writable: "boolean",
    probeLatencyMs: { nullable: "number" },
    availableBytes: { nullable: "number" },
    error: { nullable: "string" },
  },
};
const STRINGS = { array: "string" } as const;
const CORS_RULE: ShapeOf<CorsRule> = {
  object: {
    allowedOrigins: STRINGS,
    allowedMethods: STRINGS,
    allowedHeaders: { optional: STRINGS },
    exposeHeaders: { optional: STRINGS },
    maxAgeSeconds: { optional: "number" },
  },
};
const ENSURE_BUCKET: ShapeOf<EnsureBucketParams> = {
  object: {
    name: "string",
    versioning: { optional: "string" },
    policy: { optional: "string" },
    cors: { optional: { array: CORS_RULE } },
  },
};

/** The params of every method. */
export const PARAMS_SHAPES: { readonly [M in MethodName]: ShapeOf<MethodMap[M]["params"]> } = {
  start: {
    object: {
      config: {
        object: {
          server: {
            object: {
              address: "string",
              port: "number",
              region: "string",
              virtualHostDomains: { optional: STRINGS },
              cors: { optional: CORS_RULE },
              tls: { optional: ENGINE_TLS },
              maxConnections: { optional: "number" },
              maxConnectionsPerClient: { optional: "number" },
              logRequests: { optional: "boolean" },
              metrics: {
                optional: {
                  object: { enabled: "boolean", bearerToken: { optional: "string" }, port: { optional: "number" } },
                },
              },
              accessLog: {
                optional: {
                  object: {
                    path: { optional: "string" },
                    maxFileBytes: { optional: "number" },
                    keepFiles: { optional: "number" },
                  },
                },
              },
              console: { optional: { object: { enabled: "boolean", port: "number" } } },
            },
          },
          storage: {
            object: {
              directory: "string",
              cleanSlate: "boolean",
              fsync: "boolean",
              removeOnExit: { optional: "boolean" },
            },
          },
          auth: { object: { enabled: "boolean", credentials: { array: CREDENTIAL }, sigV2: { optional: "boolean" } } },
          buckets: { optional: { array: ENSURE_BUCKET } },
          cluster: {
            optional: {
              object: {
                enabled: "boolean",
                drives: STRINGS,
                erasure: { optional: { object: { dataShards: "number", parityShards: "number" } } },
                quicPort: "number",
                nodeId: { optional: "string" },
                seedNodes: { optional: STRINGS },
                advertiseAddress: { optional: "string" },
                secret: { optional: "string" },
              },
            },
          },
          encryption: {
            optional: {
              object: {
                masterKey: { optional: "string" },
                masterKeyFile: { optional: "string" },
                previousMasterKeys: { optional: STRINGS },
                // A key ring's ids are free: this shape holds none (the fixture carries no keys).
                kmsKeys: { optional: { object: {} } },
                defaultKmsKeyId: { optional: "string" },
                allowSseCOverHttp: { optional: "boolean" },
              },
            },
          },
          lifecycle: {
            optional: { object: { dayLengthSeconds: { optional: "number" }, scanIntervalSeconds: { optional: "number" } } },
          },
        },
      },
    },
  },
  stop: NO_PARAMS,
  createBucket: { object: { name: "string" } },
  ensureBucket: ENSURE_BUCKET,
  deleteBucket: { object: { name: "string", force: { optional: "boolean" } } },
  emptyBucket: { object: { name: "string" } },
  reset: NO_PARAMS,
  importFolder: { object: { bucket: "string", folder: "string", prefix: { optional: "string" } } },
  exportFolder: { object: { bucket: "string", folder: "string", prefix: { optional: "string" } } },
  getStorageStats: NO_PARAMS,
  listBucketSummaries: NO_PARAMS,
  listCredentials: NO_PARAMS,
  replaceCredentials: { object: { credentials: { array: CREDENTIAL } } },
  getClusterHealth: NO_PARAMS,
  replaceTlsCertificate: TLS_MATERIAL,
  decommissionNode: { object: { nodeId: "string" } },
};

/** The result of every method; its keys are the methods this host calls. */
export const RESULT_SHAPES: { readonly [M in MethodName]: ShapeOf<MethodMap[M]["result"]> } = {
  start: {
    object: {
      address: "string",
      port: "number",
      tlsPort: { nullable: "number" },
      useSsl: "boolean",
      certificatePem: { nullable: "string" },
      region: "string",
      directory: "string",
      quicPort: { optional: "number" },
      metricsPort: { optional: "number" },
      consolePort: { optional: "number" },
    },
  },
  stop: { object: {} },
  createBucket: { object: { name: "string" } },
  ensureBucket: { object: { name: "string", created: "boolean" } },
  deleteBucket: { object: { deletedObjects: "number" } },
  emptyBucket: { object: { deletedObjects: "number", lockedVersions: { optional: "number" } } },
  reset: { object: { deletedBuckets: "number", lockedBuckets: { optional: STRINGS } } },
  importFolder: { object: { imported: "number", bytes: "number" } },
  exportFolder: { object: { exported: "number", bytes: "number", skippedCount: "number", skipped: STRINGS } },
  getStorageStats: {
    object: {
      bucketCount: "number",
      objectCount: "number",
      totalBytes: "number",
      multipartUploadCount: "number",
      multipartBytes: "number",
      initialScanComplete: "boolean",
      droppedEvents: "number",
      buckets: { array: { object: { name: "string", objectCount: "number", totalBytes: "number" } } },
      storageLocations: {
        array: { object: { path: "string", totalBytes: "number", freeBytes: "number", availableBytes: "number" } },
      },
    },
  },
  listBucketSummaries: {
    array: {
      object: {
        name: "string",
        creationDate: "string",
        region: { optional: "string" },
        objectCount: "number",
        totalBytes: "number",
        hasPolicy: "boolean",
        hasCors: "boolean",
      },
    },
  },
  listCredentials: { array: CREDENTIAL },
  replaceCredentials: { object: { count: "number" } },
  getClusterHealth: {
    oneOf: [
      { object: { enabled: "boolean", drives: { array: DRIVE_PROBE } } },
      {
        object: {
          enabled: "boolean",
          nodeId: "string",
          quicPort: "number",
          raft: {
            object: {
              leaderId: { nullable: "string" },
              term: "number",
              commitIndex: "number",
              role: "string",
              voters: STRINGS,
              learners: STRINGS,
              replication: {
                array: {
                  object: {
                    nodeId: "string",
                    matchedIndex: { nullable: "number" },
                    lag: "number",
                  },
                },
              },
            },
          },
          nodes: {
            array: {
              object: {
                id: "string",
                address: "string",
                state: "string",
                lastSeenMs: { nullable: "number" },
                rttMs: { nullable: "number" },
              },
            },
          },
          drives: {
            array: {
              object: {
                nodeId: "string",
                path: "string",
                state: "string",
                totalBytes: { nullable: "number" },
                freeBytes: { nullable: "number" },
                lastProbeMs: "number",
                probeLatencyMs: { nullable: "number" },
                error: { nullable: "string" },
              },
            },
          },
          sets: {
            array: {
              object: {
                pool: "number",
                id: "number",
                dataShards: "number",
                parityShards: "number",
                drivesOnline: "number",
                readQuorum: "number",
                writeQuorum: "number",
                readable: "boolean",
                writable: "boolean",
              },
            },
          },
          quorum: { object: { metadata: "string", dataReadable: "boolean", dataWritable: "boolean" } },
          healing: {
            object: {
              queued: "number",
              inProgress: "number",
              healedObjects: "number",
              healedBytes: "number",
              failed: "number",
              scanner: {
                object: {
                  cycle: "number",
                  lastStartedAt: { nullable: "string" },
                  lastFinishedAt: { nullable: "string" },
                },
              },
            },
          },
        },
      },
    ],
  },
  replaceTlsCertificate: { object: { certificatePem: "string" } },
  decommissionNode: { object: { nodeId: "string", movedBodies: "number", movedBytes: "number" } },
};

/** The data of every event; its keys are the events this host knows. */
export const EVENT_SHAPES: { readonly [E in SmartStorageEventName]: ShapeOf<SmartStorageEventMap[E]> } = {
  ready: { object: { protocolVersion: "number", version: "string" } },
  log: { object: { level: "string", message: "string" } },
  bucketCreated: { object: { bucket: "string" } },
  bucketDeleted: { object: { bucket: "string" } },
  objectCreated: { object: { bucket: "string", key: "string", size: "number", etag: "string", overwrite: "boolean" } },
  objectDeleted: { object: { bucket: "string", key: "string", reason: { optional: "string" } } },
  multipartCompleted: {
    object: { bucket: "string", key: "string", size: "number", etag: "string", uploadId: "string" },
  },
};

/** The `error` of a failed response, as the bridge reads it. */
export const ERROR_SHAPE: ShapeOf<Required<NonNullable<ResponseMessage["error"]>>> = {
  object: { code: "string", message: "string" },
};

/**
 * Checks a JSON value against a shape: every field of an object must be known
 * and present (unless optional), with the right type.
 *
 * @param value The parsed JSON value.
 * @param shape What it should look like.
 * @param path Where `value` is, for the messages.
 * @returns One sentence per mismatch; empty when `value` fits.
 *
 * @example
 * ```ts
 * import { checkShape, RESULT_SHAPES } from "./protocol.ts";
 * console.log(checkShape({ name: 42 }, RESULT_SHAPES.createBucket)); // ["$.name: expected a string, got 42"]
 * ```
 */
export function checkShape(value: unknown, shape: Shape, path = "$"): string[] {
  if (typeof shape === "string") {
    const actual: string = typeof value;
    return actual === shape ? [] : [`${path}: expected a ${shape}, got ${describe(value)}`];
  }
  if ("nullable" in shape) return value === null ? [] : checkShape(value, shape.nullable, path);
  if ("optional" in shape) return value === undefined ? [] : checkShape(value, shape.optional, path);
  if ("array" in shape) {
    if (!Array.isArray(value)) return [`${path}: expected an array, got ${describe(value)}`];
    return value.flatMap((item, i) => checkShape(item, shape.array, `${path}[${i}]`));
  }
  if ("oneOf" in shape) {
    const tries = shape.oneOf.map((form) => checkShape(value, form, path));
    if (tries.some((problems) => problems.length === 0)) return [];
    return [`${path}: fits none of its ${tries.length} forms (${tries.map((p) => p.join("; ")).join(" | ")})`];
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [`${path}: expected an object, got ${describe(value)}`];
  }
  const record = value as Record<string, unknown>;
  const problems = Object.entries(shape.object).flatMap(([field, s]) => checkShape(record[field], s, `${path}.${field}`));
  for (const field of Object.keys(record)) {
    if (!(field in shape.object)) problems.push(`${path}.${field}: not a field of the TypeScript type`);
  }
  return problems;
}

function describe(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}
