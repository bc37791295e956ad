/**
 * Types of the management protocol spoken with `ruststorage --management`
 * (see docs/protocol.md): methods with their params and results, and events.
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

/** Result of `getClusterHealth`; `{ enabled: false, drives: [...] }` in standalone mode. */
export interface ClusterHealth {
  /** Whether cluster mode is on. */
  enabled: boolean;
  /** One probe per storage location. */
  drives?: DriveProbe[];
  /** Further fields reported in cluster mode. */
  [key: string]: unknown;
}

/** Data of the `ready` event. */
export interface ReadyEvent {
  /** Protocol version of the engine. */
  protocolVersion: number;
  /** Engine version. */
  version: string;
}

/** Data of the `log` event. */
export interface LogEvent {
  /** Severity. */
  level: "info" | "warn" | "error" | (string & {});
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
  getStorageStats: { params: Record<string, never>; result: StorageStats };
  listBucketSummaries: { params: Record<string, never>; result: BucketSummary[] };
  listCredentials: { params: Record<string, never>; result: Credential[] };
  replaceCredentials: { params: { credentials: Credential[] }; result: { count: number } };
  getClusterHealth: { params: Record<string, never>; result: ClusterHealth };
  replaceTlsCertificate: { params: TlsMaterial; result: { certificatePem: string } };
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
  };
  /** Storage folder and write behaviour. */
  storage: { directory: string; cleanSlate: boolean; fsync: boolean };
  /** SigV4 authentication and the accepted key pairs. */
  auth: { enabled: boolean; credentials: Credential[]; sigV2?: boolean };
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
