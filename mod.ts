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

// The public API only: the class, its configuration, results, events and errors.
// Everything else stays importable from its module under src/ (the tests do so).

export {
  type S3ClientConfig,
  type S3Descriptor,
  type S3Env,
  SmartStorage,
} from "./src/smart_storage.ts";
export type { LocalCluster, LocalClusterOptions } from "./src/local_cluster.ts";
export type {
  AuthConfig,
  BucketSettings,
  ClusterConfig,
  BucketSpec,
  EncryptionConfig,
  LifecycleSettings,
  ResolvedConfig,
  ServerConfig,
  MetricsConfig,
  AccessLogConfig,
  SmartStorageConfig,
  StorageConfig,
  TlsConfig,
} from "./src/config.ts";
export {
  BinaryNotFoundError,
  ConfigError,
  EngineExitedError,
  EngineVersionError,
  NotRunningError,
  ProtocolError,
  ProtocolVersionError,
  RequestTimeoutError,
  SmartStorageError,
  type SmartStorageErrorOptions,
  StartTimeoutError,
} from "./src/errors.ts";
export type {
  BucketEvent,
  BucketStats,
  BucketSummary,
  ClusterDriveReport,
  ClusterDriveState,
  ClusterHealingReport,
  ClusterHealth,
  ClusterModeHealth,
  ClusterNodeReport,
  ClusterQuorumReport,
  ClusterRaftReport,
  ClusterReplicationReport,
  ClusterSetReport,
  CorsRule,
  Credential,
  CredentialOwner,
  DecommissionReport,
  DriveProbe,
  EngineConfig,
  EngineTlsConfig,
  ExportFolderResult,
  ImportFolderResult,
  LogEvent,
  MultipartCompletedEvent,
  ObjectCreatedEvent,
  ObjectDeletedEvent,
  ReadyEvent,
  SmartStorageEvent,
  SmartStorageEventMap,
  SmartStorageEventName,
  StandaloneHealth,
  StartResult,
  StorageLocation,
  StorageStats,
  TlsMaterial,
} from "./src/protocol.ts";
