/**
 * smartstorage: an S3-compatible object storage server for tests, local
 * development and small single-node production. The engine is one Rust binary
 * (`ruststorage`); this module starts and drives it from Deno, Bun or Node.
 *
 * @example Start a throw-away S3 server
 * ```ts
 * import { SmartStorage } from "@push-rocks/smartstorage";
 *
 * await using storage = await SmartStorage.createAndStart({ ephemeral: true });
 * await storage.createBucket("photos");
 * const s3 = await storage.getS3Descriptor();
 * console.log(`S3 endpoint: http://${s3.endpoint}:${s3.port}`);
 * ```
 *
 * @module
 */

export { type S3Descriptor, SmartStorage } from "./src/smart_storage.ts";
export {
  type AuthConfig,
  DEFAULT_CREDENTIAL,
  DEFAULTS,
  randomCredential,
  type ResolvedConfig,
  resolveConfig,
  type ServerConfig,
  type SmartStorageConfig,
  type StorageConfig,
  type TlsConfig,
  resolveTlsMaterial,
} from "./src/config.ts";
export {
  BinaryNotFoundError,
  ConfigError,
  EngineExitedError,
  NotRunningError,
  ProtocolError,
  ProtocolVersionError,
  RequestTimeoutError,
  SmartStorageError,
  type SmartStorageErrorOptions,
} from "./src/errors.ts";
export { BINARY_ENV_VAR, platformKey, resolveBinary, type ResolveBinaryOptions } from "./src/binary.ts";
export { detectRuntime, type Runtime } from "./src/runtime.ts";
export {
  type BucketEvent,
  type BucketStats,
  type BucketSummary,
  type ClusterHealth,
  type CorsRule,
  type Credential,
  type DriveProbe,
  type EngineConfig,
  type EngineTlsConfig,
  type LogEvent,
  type MultipartCompletedEvent,
  type ObjectCreatedEvent,
  type ObjectDeletedEvent,
  PROTOCOL_VERSION,
  type ReadyEvent,
  type SmartStorageEvent,
  type SmartStorageEventMap,
  type SmartStorageEventName,
  type StartResult,
  type StorageLocation,
  type StorageStats,
  type TlsMaterial,
} from "./src/protocol.ts";
