//! The management protocol's messages as types (docs/protocol.md): every request with
//! its typed params, every result, every event, and the one error type. The engine
//! reads and writes only these. `tests/fixtures/protocol.ndjson` holds an example of
//! each; the tests below check it against these types, and
//! `tests/protocol_fixture.test.ts` checks it against `src/protocol.ts`.
//! A leaf: it uses the config, credential, TLS and storage types, never the engine.

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

pub use crate::auth::Credential;
pub use crate::config::Config;
pub use crate::tls::TlsConfig;

/// The version of this protocol, sent in the `ready` event.
pub const PROTOCOL_VERSION: u32 = 1;

/// Declares the methods once: the request enum (tagged on `method`, typed `params`),
/// the method names, and the result of each method.
macro_rules! methods {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal ($params:ty) -> $result:ty;)*) => {
        /// A request: `{"method": "...", "params": {...}}` (the envelope's `id` is apart).
        #[derive(Debug, Serialize, Deserialize)]
        #[serde(tag = "method", content = "params")]
        #[allow(clippy::large_enum_variant)] // one at a time, never stored in bulk
        pub enum Request {
            $($(#[doc = $doc])* #[serde(rename = $name)] $variant($params),)*
        }

        /// The method of a request, known before its params are read.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Method {
            $(#[serde(rename = $name)] $variant,)*
        }

        /// The result of a request; serialized as the result alone.
        #[derive(Debug, Serialize)]
        #[serde(untagged)]
        pub enum Reply {
            $($variant($result),)*
        }

        impl Method {
            /// Every method.
            #[allow(dead_code)]
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// The method's name on the wire.
            #[allow(dead_code)]
            pub fn name(self) -> &'static str {
                match self {
                    $(Method::$variant => $name,)*
                }
            }

            /// Reads `params` as this method's params.
            pub fn request(self, params: Value) -> Result<Request, ParamsError> {
                Ok(match self {
                    $(Method::$variant => Request::$variant(from_params(params)?),)*
                })
            }

            /// Reads `result` as this method's result (for tests of the fixture).
            #[cfg(test)]
            pub fn reply(self, result: Value) -> serde_json::Result<Reply> {
                Ok(match self {
                    $(Method::$variant => Reply::$variant(serde_json::from_value(result)?),)*
                })
            }
        }

        impl Request {
            /// The method of this request.
            pub fn method(&self) -> Method {
                match self {
                    $(Request::$variant(_) => Method::$variant,)*
                }
            }
        }

        impl Reply {
            /// The method this is the result of.
            #[allow(dead_code)]
            pub fn method(&self) -> Method {
                match self {
                    $(Reply::$variant(_) => Method::$variant,)*
                }
            }
        }
    };
}

methods! {
    /// Starts the S3 server (`config` omitted or `null`: every default).
    Start = "start" (StartParams) -> StartInfo;
    /// Stops the server, drains in-flight requests and ends the process.
    Stop = "stop" (NoParams) -> NoResult;
    /// Creates a bucket.
    CreateBucket = "createBucket" (CreateBucketParams) -> BucketName;
    /// Creates a bucket unless it exists, then applies the settings given (idempotent).
    EnsureBucket = "ensureBucket" (EnsureBucketParams) -> EnsuredBucket;
    /// Deletes a bucket; with `force`, its objects, versions and uploads first.
    DeleteBucket = "deleteBucket" (DeleteBucketParams) -> DeletedObjects;
    /// Deletes every object, version and unfinished upload of a bucket; it stays.
    EmptyBucket = "emptyBucket" (CreateBucketParams) -> DeletedObjects;
    /// Deletes every bucket with everything in it.
    Reset = "reset" (NoParams) -> DeletedBuckets;
    /// Puts every file under a folder into a bucket; keys are the files' relative paths.
    ImportFolder = "importFolder" (FolderParams) -> ImportedFolder;
    /// Writes every object of a bucket (under a prefix) into a folder as files.
    ExportFolder = "exportFolder" (FolderParams) -> ExportedFolder;
    /// Counters of buckets, objects, bytes, uploads and dropped events.
    GetStorageStats = "getStorageStats" (NoParams) -> StorageStats;
    /// One summary per bucket.
    ListBucketSummaries = "listBucketSummaries" (NoParams) -> Vec<BucketSummary>;
    /// The accepted key pairs, secrets included.
    ListCredentials = "listCredentials" (NoParams) -> Vec<Credential>;
    /// Replaces the accepted key pairs atomically.
    ReplaceCredentials = "replaceCredentials" (ReplaceCredentialsParams) -> CredentialCount;
    /// Cluster health; standalone: one probe per storage location.
    GetClusterHealth = "getClusterHealth" (NoParams) -> ClusterHealth;
    /// Replaces the served TLS certificate (params: the certificate source, no port).
    ReplaceTlsCertificate = "replaceTlsCertificate" (TlsConfig) -> TlsCertificate;
    /// Cluster mode: moves every body off a node, then removes it from the cluster.
    DecommissionNode = "decommissionNode" (DecommissionParams) -> DecommissionReport;
}

impl Method {
    /// The method named by a request's `method` field.
    pub fn from_name(method: &Value) -> Result<Method, ProtocolError> {
        Method::deserialize(method)
            .map_err(|_| ProtocolError::unknown_method(method.as_str().unwrap_or_default()))
    }
}

// ---------------------------------------------------------------------------
// Params

/// Params of methods that take none (`{}`; other fields are ignored).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NoParams {}

/// Params of `start`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StartParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
}

/// Params of `createBucket`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateBucketParams {
    pub name: String,
}

/// Params of `ensureBucket`: the bucket and the settings it must have (as in `buckets`
/// of the config).
pub type EnsureBucketParams = crate::config::BucketConfig;

/// Params of `deleteBucket`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBucketParams {
    pub name: String,
    /// Delete what the bucket holds first (else a bucket that holds anything is refused).
    #[serde(default)]
    pub force: bool,
}

/// Params of `importFolder` and `exportFolder`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderParams {
    pub bucket: String,
    /// A folder on the engine's machine (absolute, or relative to the engine's working folder).
    pub folder: String,
    /// Put before each key on import; on export, only keys under it, written without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Params of `replaceCredentials`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplaceCredentialsParams {
    pub credentials: Vec<Credential>,
}

/// Params that do not fit their method; names the field when one is at fault.
#[derive(Debug)]
pub struct ParamsError {
    pub field: Option<String>,
    pub source: serde_json::Error,
}

impl std::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "params.{field}: {}", self.source),
            None => write!(f, "params: {}", self.source),
        }
    }
}

/// `params` (missing or `null`: `{}`) as `T`, remembering which field failed.
fn from_params<T: DeserializeOwned>(params: Value) -> Result<T, ParamsError> {
    match params {
        Value::Null => {
            T::deserialize(Value::Object(Default::default())).map_err(|source| ParamsError {
                field: None,
                source,
            })
        }
        Value::Object(map) => {
            let mut fields = Fields {
                entries: map.into_iter(),
                pending: None,
                failed: None,
            };
            let result = T::deserialize(MapAccessDeserializer::new(&mut fields));
            result.map_err(|source| ParamsError {
                field: fields.failed.take(),
                source,
            })
        }
        other => T::deserialize(other).map_err(|source| ParamsError {
            field: None,
            source,
        }),
    }
}

/// The fields of a params object, handed to serde one by one so that an error can
/// name its field.
struct Fields {
    entries: serde_json::map::IntoIter,
    pending: Option<(String, Value)>,
    failed: Option<String>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let parsed = seed.deserialize(Value::String(key.clone()))?;
        self.pending = Some((key, value));
        Ok(Some(parsed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| serde::de::Error::custom("value without a key"))?;
        seed.deserialize(value)
            .inspect_err(|_| self.failed = Some(key))
    }
}

// ---------------------------------------------------------------------------
// Results

/// Result of methods that return nothing: `{}`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoResult {}

/// Result of `start`: where the server listens (also `Engine::info`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartInfo {
    pub address: String,
    /// The port of `server.port`: HTTPS when TLS is on without its own port, else HTTP.
    pub port: u16,
    /// The HTTPS port when HTTP and HTTPS are served on separate ports.
    pub tls_port: Option<u16>,
    /// Cluster mode: the bound QUIC port of the node (absent in standalone mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quic_port: Option<u16>,
    /// The metrics' own port (`server.metrics.port`), when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
    /// The web console's port (`server.console`), when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_port: Option<u16>,
    /// Whether `port` speaks HTTPS.
    pub use_ssl: bool,
    /// The certificate chain served over HTTPS (PEM), so a client can trust exactly it.
    pub certificate_pem: Option<String>,
    pub region: String,
    pub directory: String,
}

/// Result of `createBucket`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketName {
    pub name: String,
}

/// Result of `ensureBucket`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsuredBucket {
    pub name: String,
    /// False when the bucket existed already.
    pub created: bool,
}

/// Result of `deleteBucket` and `emptyBucket`: how many objects went.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(Default)]
pub struct DeletedObjects {
    pub deleted_objects: u64,
    /// Versions kept because object lock protects them (retention or legal hold).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub locked_versions: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Result of `reset`: how many buckets went.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(Default)]
pub struct DeletedBuckets {
    pub deleted_buckets: u64,
    /// Buckets kept because they hold versions under object lock (emptied of the rest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked_buckets: Vec<String>,
}

/// Result of `importFolder`: how many files went in, and their bytes.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedFolder {
    pub imported: u64,
    pub bytes: u64,
}

/// Result of `exportFolder`: how many objects were written as files, their bytes, and
/// the keys not written because they would not make a safe path under the folder.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportedFolder {
    pub exported: u64,
    pub bytes: u64,
    /// How many keys were skipped.
    pub skipped_count: u64,
    /// The first 100 of them.
    pub skipped: Vec<String>,
}

/// Params of `decommissionNode`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecommissionParams {
    pub node_id: String,
}

pub use crate::cluster::decommission::DecommissionReport;

/// Result of `replaceCredentials`: how many pairs are now accepted.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialCount {
    pub count: usize,
}

/// Result of `replaceTlsCertificate`: the chain now served (PEM).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsCertificate {
    pub certificate_pem: String,
}

/// Result of `getStorageStats`: counters kept on every write, never a listing.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageStats {
    pub bucket_count: u64,
    pub object_count: u64,
    pub total_bytes: u64,
    pub multipart_upload_count: u64,
    pub multipart_bytes: u64,
    pub initial_scan_complete: bool,
    /// Events dropped because the host did not read fast enough.
    pub dropped_events: u64,
    pub buckets: Vec<BucketStats>,
    pub storage_locations: Vec<StorageLocation>,
}

/// One bucket's counters in [`StorageStats`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketStats {
    pub name: String,
    pub object_count: u64,
    pub total_bytes: u64,
}

/// The space of one storage location in [`StorageStats`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageLocation {
    pub path: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub available_bytes: u64,
}

impl From<crate::storage::interface::Capacity> for StorageLocation {
    fn from(c: crate::storage::interface::Capacity) -> Self {
        StorageLocation {
            path: c.path,
            total_bytes: c.total_bytes,
            free_bytes: c.free_bytes,
            available_bytes: c.available_bytes,
        }
    }
}

/// One entry of `listBucketSummaries`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketSummary {
    pub name: String,
    /// ISO 8601.
    pub creation_date: String,
    pub region: String,
    pub object_count: u64,
    pub total_bytes: u64,
    pub has_policy: bool,
    pub has_cors: bool,
}

/// Result of `getClusterHealth`: `enabled` tells the shape. Standalone:
/// `{ enabled: false, drives: [probe of the storage folder] }`; cluster mode: the
/// report of `cluster::health` (`{ enabled: true, nodeId, quicPort, raft, nodes,
/// drives, sets, quorum, healing }`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ClusterHealth {
    Standalone(StandaloneHealth),
    Cluster(Box<crate::cluster::health::ClusterReport>),
}

impl ClusterHealth {
    /// The standalone answer: one probe per storage location.
    pub fn standalone(drives: Vec<DriveProbe>) -> ClusterHealth {
        ClusterHealth::Standalone(StandaloneHealth {
            enabled: false,
            drives,
        })
    }
}

impl From<crate::cluster::health::ClusterReport> for ClusterHealth {
    fn from(report: crate::cluster::health::ClusterReport) -> Self {
        ClusterHealth::Cluster(Box::new(report))
    }
}

/// Read by `enabled` (so that an error names the right shape's field).
impl<'de> Deserialize<'de> for ClusterHealth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        match value.get("enabled") {
            Some(Value::Bool(true)) => serde_json::from_value(value)
                .map(|r| ClusterHealth::Cluster(Box::new(r)))
                .map_err(D::Error::custom),
            Some(Value::Bool(false)) => serde_json::from_value(value)
                .map(ClusterHealth::Standalone)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "getClusterHealth: `enabled` must be a boolean",
            )),
        }
    }
}

/// `getClusterHealth` in standalone mode.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandaloneHealth {
    /// Always `false` (standalone).
    pub enabled: bool,
    pub drives: Vec<DriveProbe>,
}

/// A probe of one storage location (a 4 KiB file written, fsynced and removed).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriveProbe {
    pub path: String,
    pub reachable: bool,
    pub writable: bool,
    pub probe_latency_ms: Option<f64>,
    pub available_bytes: Option<u64>,
    pub error: Option<String>,
}

impl From<crate::storage::interface::DriveProbe> for DriveProbe {
    fn from(p: crate::storage::interface::DriveProbe) -> Self {
        DriveProbe {
            path: p.path,
            reachable: p.reachable,
            writable: p.writable,
            probe_latency_ms: p.probe_latency_ms,
            available_bytes: p.available_bytes,
            error: p.error,
        }
    }
}

// ---------------------------------------------------------------------------
// Responses and errors

/// A response line: `{"id", "success": true, "result"}` or `{"id", "success": false, "error"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response<R = Reply> {
    /// The request's id, echoed (`null` when it had none).
    pub id: Value,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<R>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProtocolError>,
}

impl<R> Response<R> {
    pub fn new(id: Value, outcome: Result<R, ProtocolError>) -> Self {
        match outcome {
            Ok(result) => Response {
                id,
                success: true,
                result: Some(result),
                error: None,
            },
            Err(error) => Response {
                id,
                success: false,
                result: None,
                error: Some(error),
            },
        }
    }
}

/// Every failure of a request: a code the host can act on, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolError {
    pub code: Cow<'static, str>,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ProtocolError {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn unknown_method(method: &str) -> Self {
        Self::new("UnknownMethod", format!("unknown method {method:?}"))
    }

    pub fn not_started() -> Self {
        Self::new("NotStarted", "call start first")
    }

    pub fn already_started() -> Self {
        Self::new("AlreadyStarted", "the server is already running")
    }

    /// Params that do not fit `method`: `InvalidConfig` for `start`, else `InvalidParams`.
    pub fn invalid_params(method: Method, e: ParamsError) -> Self {
        match method {
            Method::Start => Self::new("InvalidConfig", format!("config: {}", e.source)),
            _ => Self::new("InvalidParams", e.to_string()),
        }
    }
}

impl From<crate::s3::error::S3Error> for ProtocolError {
    fn from(e: crate::s3::error::S3Error) -> Self {
        Self::new(e.code.as_str(), e.message)
    }
}

// ---------------------------------------------------------------------------
// Events

/// An event line: `{"event": "...", "data": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "camelCase")]
pub enum Event {
    /// Always the engine's first line.
    Ready(Ready),
    Log(Log),
    BucketCreated(BucketEvent),
    BucketDeleted(BucketEvent),
    ObjectCreated(ObjectCreated),
    ObjectDeleted(ObjectDeleted),
    MultipartCompleted(MultipartCompleted),
}

impl Event {
    /// The `ready` event of this engine.
    pub fn ready() -> Event {
        Event::Ready(Ready {
            protocol_version: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

/// Data of `ready`: the protocol version and the engine's version (its Cargo version,
/// which the host compares with its own package version).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ready {
    pub protocol_version: u32,
    pub version: String,
}

/// Data of `log`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

/// Data of `bucketCreated` and `bucketDeleted`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketEvent {
    pub bucket: String,
}

/// Data of `objectCreated`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectCreated {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    pub overwrite: bool,
}

/// Data of `objectDeleted`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDeleted {
    pub bucket: String,
    pub key: String,
    /// Why, when no client asked: `"lifecycle"` (a lifecycle rule expired it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Data of `multipartCompleted`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MultipartCompleted {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub upload_id: String,
}

impl From<crate::storage::interface::Change> for Event {
    fn from(change: crate::storage::interface::Change) -> Self {
        use crate::storage::interface::Change;
        match change {
            Change::BucketCreated { bucket } => Event::BucketCreated(BucketEvent { bucket }),
            Change::BucketDeleted { bucket } => Event::BucketDeleted(BucketEvent { bucket }),
            Change::ObjectCreated {
                bucket,
                key,
                size,
                etag,
                overwrite,
            } => Event::ObjectCreated(ObjectCreated {
                bucket,
                key,
                size,
                etag,
                overwrite,
            }),
            Change::ObjectDeleted {
                bucket,
                key,
                reason,
            } => Event::ObjectDeleted(ObjectDeleted {
                bucket,
                key,
                reason: reason.map(|r| match r {
                    crate::storage::interface::DeleteReason::Lifecycle => "lifecycle".into(),
                }),
            }),
            Change::MultipartCompleted {
                bucket,
                key,
                size,
                etag,
                upload_id,
            } => Event::MultipartCompleted(MultipartCompleted {
                bucket,
                key,
                size,
                etag,
                upload_id,
            }),
        }
    }
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// The shared example of every message; also read by tests/protocol_fixture.test.ts.
    const FIXTURE: &str = include_str!("../../../tests/fixtures/protocol.ndjson");

    fn lines() -> Vec<(usize, Value)> {
        FIXTURE
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                (
                    i + 1,
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("fixture line {}: not JSON: {e}", i + 1)),
                )
            })
            .collect()
    }

    /// `value` with `id` removed.
    fn without_id(value: &Value) -> Value {
        let mut v = value.clone();
        v.as_object_mut().unwrap().remove("id");
        v
    }

    fn event_name(event: &Event) -> &'static str {
        // Exhaustive: a new event must be added here, and so to the fixture.
        match event {
            Event::Ready(_) => "ready",
            Event::Log(_) => "log",
            Event::BucketCreated(_) => "bucketCreated",
            Event::BucketDeleted(_) => "bucketDeleted",
            Event::ObjectCreated(_) => "objectCreated",
            Event::ObjectDeleted(_) => "objectDeleted",
            Event::MultipartCompleted(_) => "multipartCompleted",
        }
    }
    const EVENTS: [&str; 7] = [
        "ready",
        "log",
        "bucketCreated",
        "bucketDeleted",
        "objectCreated",
        "objectDeleted",
        "multipartCompleted",
    ];

    /// Every line of the fixture is what these types read and write: requests
    /// deserialize into `Request` and serialize back unchanged, responses and events
    /// round-trip through their types with no unknown or missing field, and error
    /// responses are exactly what the engine answers to their requests.
    #[test]
    fn fixture_round_trips_through_the_types() {
        let mut methods_of: HashMap<String, Method> = HashMap::new();
        let mut failing: HashMap<String, ProtocolError> = HashMap::new();
        let mut answered = BTreeSet::new();
        let mut events = BTreeSet::new();
        let mut errors = 0;
        for (n, line) in lines() {
            if line.get("method").is_some() {
                let id = line["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("line {n}: request without a string id"))
                    .to_string();
                let parsed = Method::from_name(&line["method"]).and_then(|m| {
                    m.request(line.get("params").cloned().unwrap_or(Value::Null))
                        .map_err(|e| ProtocolError::invalid_params(m, e))
                });
                match parsed {
                    Ok(request) => {
                        let derived: Request = serde_json::from_value(without_id(&line))
                            .unwrap_or_else(|e| panic!("line {n}: {e}"));
                        assert_eq!(derived.method(), request.method(), "line {n}");
                        let back = serde_json::to_value(&request).unwrap();
                        assert_eq!(
                            back,
                            without_id(&line),
                            "line {n}: the request does not round-trip (unknown or defaulted field)"
                        );
                        methods_of.insert(id, request.method());
                    }
                    Err(e) => {
                        failing.insert(id, e);
                    }
                }
            } else if line.get("success").is_some() {
                let id = line["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("line {n}: response without a string id"))
                    .to_string();
                let response: Response<Value> = serde_json::from_value(line.clone())
                    .unwrap_or_else(|e| panic!("line {n}: {e}"));
                let typed = match (response.result, response.error) {
                    (Some(result), None) => {
                        assert!(response.success, "line {n}");
                        let method = *methods_of.get(&id).unwrap_or_else(|| {
                            panic!("line {n}: no request with id {id} before it")
                        });
                        let reply = method.reply(result).unwrap_or_else(|e| {
                            panic!("line {n}: not a {} result: {e}", method.name())
                        });
                        assert_eq!(reply.method(), method);
                        answered.insert(method.name());
                        Response::new(response.id, Ok(reply))
                    }
                    (None, Some(error)) => {
                        assert!(!response.success, "line {n}");
                        let expected = failing.remove(&id).unwrap_or_else(|| {
                            panic!("line {n}: error response to a request the engine accepts")
                        });
                        assert_eq!(
                            error, expected,
                            "line {n}: the engine answers its request with another error"
                        );
                        errors += 1;
                        Response::new(response.id, Err(error))
                    }
                    _ => panic!("line {n}: a response has exactly one of result and error"),
                };
                assert_eq!(
                    serde_json::to_value(&typed).unwrap(),
                    line,
                    "line {n}: the response does not round-trip"
                );
            } else {
                let event: Event = serde_json::from_value(line.clone())
                    .unwrap_or_else(|e| panic!("line {n}: not an event: {e}"));
                assert_eq!(
                    serde_json::to_value(&event).unwrap(),
                    line,
                    "line {n}: the event does not round-trip"
                );
                if let Event::Ready(ready) = &event {
                    assert_eq!(ready.protocol_version, PROTOCOL_VERSION, "line {n}");
                }
                events.insert(event_name(&event));
            }
        }
        assert!(
            failing.is_empty(),
            "requests the engine refuses need their error response in the fixture: {failing:?}"
        );
        let all: BTreeSet<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            answered, all,
            "the fixture must hold a request and its result for every method"
        );
        assert_eq!(
            events,
            EVENTS.into_iter().collect(),
            "the fixture must hold every event"
        );
        assert!(errors > 0, "the fixture must hold an error response");
        let first = &lines()[0].1;
        assert_eq!(
            first["event"], "ready",
            "the fixture starts like the engine, with ready"
        );
    }

    /// What the engine writes for `ready` has the fixture's shape.
    #[test]
    fn ready_carries_the_protocol_and_cargo_versions() {
        let ready = serde_json::to_value(Event::ready()).unwrap();
        assert_eq!(ready["data"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(ready["data"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn an_unknown_method_and_bad_params_get_their_codes() {
        assert_eq!(
            Method::from_name(&Value::from("noSuchMethod")).unwrap_err(),
            ProtocolError::unknown_method("noSuchMethod")
        );
        assert_eq!(
            Method::from_name(&Value::from(42)).unwrap_err().code,
            "UnknownMethod"
        );
        let bad = |method: Method, params: Value| {
            ProtocolError::invalid_params(method, method.request(params).unwrap_err())
        };
        let e = bad(Method::CreateBucket, serde_json::json!({ "name": 42 }));
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            (
                "InvalidParams",
                "params.name: invalid type: integer `42`, expected a string"
            )
        );
        assert_eq!(
            bad(Method::CreateBucket, serde_json::json!({})).message,
            "params: missing field `name`"
        );
        let e = bad(
            Method::ReplaceCredentials,
            serde_json::json!({ "credentials": "nope" }),
        );
        assert!(
            e.message.starts_with("params.credentials: invalid type"),
            "{}",
            e.message
        );
        let e = bad(
            Method::Start,
            serde_json::json!({ "config": { "nope": 1 } }),
        );
        assert_eq!(e.code, "InvalidConfig");
        assert!(
            e.message.starts_with("config: unknown field `nope`"),
            "{}",
            e.message
        );
        // Missing or null params are {}; extra fields of params are ignored, as before.
        assert!(matches!(
            Method::Stop.request(Value::Null),
            Ok(Request::Stop(_))
        ));
        assert!(matches!(
            Method::Start.request(serde_json::json!({ "config": null })),
            Ok(Request::Start(StartParams { config: None }))
        ));
        assert!(matches!(
            Method::GetStorageStats.request(serde_json::json!({ "x": 1 })),
            Ok(Request::GetStorageStats(_))
        ));
    }
}
