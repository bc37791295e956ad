//! Engine configuration: the `start` command's `config` and the `serve` flags.
//! Every field has a default, so `{}` is a valid configuration.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::auth::Credential;

// The defaults shared with the TypeScript module and CLI (`DEFAULTS` in src/config.ts,
// `CLI_DEFAULTS` in src/cli.ts); tests/defaults.test.ts checks that they agree.

/// The storage folder of `serve` and of a `start` without `storage.directory`.
pub const DEFAULT_DIRECTORY: &str = "./.nogit/smartstorage";
/// The port of `serve` (the protocol's `server.port` defaults to 0, a free port).
pub const DEFAULT_SERVE_PORT: u16 = 3000;
pub const DEFAULT_ADDRESS: &str = "127.0.0.1";
pub const DEFAULT_REGION: &str = "us-east-1";
/// The published placeholder pair used when auth is off and no credentials are given
/// (nothing is checked then); never accepted with auth on.
pub const PLACEHOLDER_CREDENTIAL: (&str, &str) =
    ("SMARTSTORAGEACCESSKEY", "smartstorage-secret-access-key");

pub fn placeholder_credential() -> Credential {
    Credential {
        access_key_id: PLACEHOLDER_CREDENTIAL.0.into(),
        secret_access_key: PLACEHOLDER_CREDENTIAL.1.into(),
        owner: None,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    /// Buckets made at start unless they exist, with these settings (idempotent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<BucketConfig>,
    /// Cluster mode (erasure-coded drives, see docs/cluster.md); standalone without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// Server-side encryption keys (README, "Encryption").
    pub encryption: EncryptionConfig,
    /// The lifecycle worker's clock and schedule (README, "Lifecycle").
    #[serde(skip_serializing_if = "LifecycleSettings::is_default")]
    pub lifecycle: LifecycleSettings,
}

/// `lifecycle`: how long a lifecycle day is and how often the worker passes over the
/// buckets. A shorter day is a test setting (as Ceph's `rgw_lc_debug_interval`): rules'
/// days count in its unit and "midnight" is any multiple of it since the epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LifecycleSettings {
    pub day_length_seconds: u64,
    pub scan_interval_seconds: u64,
}

pub const DEFAULT_LIFECYCLE_DAY_SECONDS: u64 = 86_400;
pub const DEFAULT_LIFECYCLE_SCAN_SECONDS: u64 = 3_600;

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            day_length_seconds: DEFAULT_LIFECYCLE_DAY_SECONDS,
            scan_interval_seconds: DEFAULT_LIFECYCLE_SCAN_SECONDS,
        }
    }
}

impl LifecycleSettings {
    fn is_default(&self) -> bool {
        *self == LifecycleSettings::default()
    }

    /// Both must be positive (whole seconds; the JSON types refuse the rest).
    pub fn validate(&self) -> Result<(), String> {
        if self.day_length_seconds == 0 {
            return Err("lifecycle.dayLengthSeconds must be a positive integer".into());
        }
        if self.scan_interval_seconds == 0 {
            return Err("lifecycle.scanIntervalSeconds must be a positive integer".into());
        }
        Ok(())
    }
}

/// `encryption`: the keys of SSE-S3 and SSE-KMS, and whether SSE-C may use plain HTTP.
/// Keys are never written back out.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The master key wrapping SSE-S3 data keys: 32 bytes, base64.
    #[serde(skip_serializing)]
    pub master_key: Option<String>,
    /// A file holding the master key (base64, or the 32 bytes themselves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// Master keys replaced by `masterKey`: objects sealed under them still open.
    #[serde(skip_serializing)]
    pub previous_master_keys: Vec<String>,
    /// The local key ring of SSE-KMS: key id -> 32 bytes, base64.
    #[serde(skip_serializing)]
    pub kms_keys: std::collections::BTreeMap<String, String>,
    /// The key ring key used for `aws:kms` without a key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_kms_key_id: Option<String>,
    /// Accept SSE-C keys over plain HTTP (AWS refuses them): for local testing only.
    #[serde(
        rename = "allowSseCOverHttp",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub allow_sse_c_over_http: bool,
}

/// `cluster`: one node with several drives today; more nodes join later (docs/cluster.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// On when `cluster` is given (as in the TypeScript config); `false` keeps standalone mode.
    pub enabled: bool,
    /// Folders, one per disk; objects are spread over them as data and parity shards.
    pub drives: Vec<PathBuf>,
    /// Data and parity shards per object; without it, from the drive count (`cluster::geometry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erasure: Option<ErasureConfig>,
    /// The node's QUIC port; 0 picks a free one (the real one is in `info` and the health).
    pub quic_port: u16,
    /// Generated once and kept on the drives when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// QUIC addresses (`host:port`) of nodes to join through; empty: a new log starts a
    /// new cluster here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seed_nodes: Vec<String>,
    /// The host other nodes reach this one at; default: the server address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<String>,
    /// The shared cluster secret: nodes without it can neither join nor talk. Never
    /// written back out.
    #[serde(skip_serializing)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErasureConfig {
    pub data_shards: usize,
    pub parity_shards: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: true,
            drives: Vec::new(),
            erasure: None,
            quic_port: 0,
            node_id: None,
            seed_nodes: Vec::new(),
            advertise_address: None,
            secret: None,
        }
    }
}

/// The QUIC port of `serve --cluster` (the protocol's `cluster.quicPort` defaults to 0).
pub const DEFAULT_QUIC_PORT: u16 = 4348;

/// A bucket and the settings it must have (`buckets`, and `ensureBucket`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketConfig {
    pub name: String,
    /// `Enabled` or `Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    /// A bucket policy document (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// CORS rules of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<CorsRuleConfig>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServerConfig {
    pub address: String,
    /// 0 binds an ephemeral port.
    pub port: u16,
    pub region: String,
    /// `Host: <bucket>.<domain>` is virtual-hosted-style addressing for these domains.
    pub virtual_host_domains: Vec<String>,
    /// Server-wide CORS rule for buckets without their own CORS configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsRuleConfig>,
    /// Serve HTTPS (see `tls.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Connections served at once (further clients wait in the listen backlog), and
    /// from one client address (IPv6: one /64). Raise the second behind a proxy.
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// One line per request on stderr (`ops/request_log.rs`): method, path, status, bytes, ms.
    pub log_requests: bool,
    /// Prometheus metrics at `/metrics` (`ops/metrics.rs`); off without this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// One JSON line per request (`ops/access_log.rs`); off without this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogConfig>,
    /// The web console on a port of its own (`console/`); off without this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleConfig>,
}

/// `server.console`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// Its port (0: any free one). It never shares the S3 port: its pages and the S3
    /// API answered beside them share one origin, which must not be the S3 endpoint's.
    pub port: u16,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            port: 0,
        }
    }
}

/// `server.metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Required of scrapers (`Authorization: Bearer <token>`) when set.
    #[serde(skip_serializing)]
    pub bearer_token: Option<String>,
    /// A port of their own (0: any free one); on the S3 port without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            bearer_token: None,
            port: None,
        }
    }
}

/// `server.accessLog`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccessLogConfig {
    /// A file (rotated by size); stderr without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A file is rotated (to `<path>.1`, ...) once it grows past this.
    pub max_file_bytes: u64,
    /// Rotated files kept.
    pub keep_files: usize,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            path: None,
            max_file_bytes: 64 * 1024 * 1024,
            keep_files: 5,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: DEFAULT_ADDRESS.into(),
            port: 0,
            region: DEFAULT_REGION.into(),
            virtual_host_domains: vec!["localhost".into()],
            cors: None,
            tls: None,
            max_connections: 4096,
            max_connections_per_client: 128,
            log_requests: false,
            metrics: None,
            access_log: None,
            console: None,
        }
    }
}

/// The server-wide CORS rule, as JSON (the per-bucket rules come as S3's XML).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CorsRuleConfig {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

impl CorsRuleConfig {
    /// The rule, checked like a PutBucketCors rule but with messages about the JSON config.
    pub fn to_rule(&self) -> Result<crate::s3::cors::CorsRule, String> {
        if self.allowed_origins.is_empty() || self.allowed_methods.is_empty() {
            return Err("allowedOrigins and allowedMethods must not be empty".into());
        }
        let rule = crate::s3::cors::CorsRule {
            id: None,
            allowed_origins: self.allowed_origins.clone(),
            allowed_methods: self.allowed_methods.clone(),
            allowed_headers: self.allowed_headers.clone(),
            expose_headers: self.expose_headers.clone(),
            max_age_seconds: self.max_age_seconds,
        };
        crate::s3::cors::CorsConfig {
            rules: vec![rule.clone()],
        }
        .validate()
        .map_err(|e| e.message)?;
        Ok(rule)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StorageConfig {
    pub directory: PathBuf,
    /// Empty the directory before starting.
    pub clean_slate: bool,
    /// fsync data and metadata before acknowledging a write (off: atomic, but not power-loss safe).
    pub fsync: bool,
    /// Remove the directory when the engine ends (the host's ephemeral folder): also when
    /// the host dies without stopping it, since the engine ends when its stdin closes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub remove_on_exit: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            directory: PathBuf::from(DEFAULT_DIRECTORY),
            clean_slate: false,
            fsync: true,
            remove_on_exit: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthConfig {
    pub enabled: bool,
    pub credentials: Vec<Credential>,
    /// Accept legacy Signature Version 2 (HMAC-SHA1) requests. On by default because
    /// boto3's `generate_presigned_url` and older tools still produce them.
    #[serde(rename = "sigV2")]
    pub sig_v2: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            credentials: Vec::new(),
            sig_v2: true,
        }
    }
}

/// Empties `dir` (keeping the folder itself), refusing paths that are clearly not a storage folder.
pub fn clean_slate(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.parent().is_none() {
        return Err(std::io::Error::other(format!(
            "refusing to empty {}",
            dir.display()
        )));
    }
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?
                } else {
                    std::fs::remove_file(&path)?
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
