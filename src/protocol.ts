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

/** Result of `getStorageStats`. */
export interface StorageStats {
  /** Number of buckets. */
  bucketCount: number;
  /** Number of objects across all buckets. */
  objectCount: number;
  /** Sum of object sizes in bytes across all buckets. */
  totalBytes: number;
  /** Per-bucket numbers. */
  buckets: BucketStats[];
}

/** One entry of `listBucketSummaries`. */
export interface BucketSummary {
  /** Bucket name. */
  name: string;
  /** Creation date (ISO 8601). */
  creationDate: string;
  /** Number of objects. */
  objectCount: number;
  /** Sum of object sizes in bytes. */
  totalBytes: number;
  /** Whether a bucket policy is set. */
  hasPolicy: boolean;
  /** Whether a CORS configuration is set. */
  hasCors: boolean;
}

/** Result of `getClusterHealth`; `{ enabled: false }` in standalone mode. */
export interface ClusterHealth {
  /** Whether cluster mode is on. */
  enabled: boolean;
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
}

/** Name of a method. */
export type MethodName = keyof MethodMap;

/** The `Config` object sent with `start` (docs/protocol.md). */
export interface EngineConfig {
  /** HTTP listener. */
  server: { address: string; port: number; region: string };
  /** Storage folder and write behaviour. */
  storage: { directory: string; cleanSlate: boolean; fsync: boolean };
  /** SigV4 authentication and the accepted key pairs. */
  auth: { enabled: boolean; credentials: Credential[] };
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
