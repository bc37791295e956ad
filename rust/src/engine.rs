//! A running engine: store + HTTP server, built from a `Config`. Shared by the
//! `serve` command and the management protocol.

use std::sync::Arc;

use crate::auth::Credentials;
use crate::cluster::store::{ClusterStore, OpenError};
use crate::config::Config;
pub use crate::management::protocol::StartInfo;
use crate::management::protocol::{
    BucketSummary, ClusterHealth, DeletedBuckets, DeletedObjects, EnsureBucketParams,
    EnsuredBucket, ProtocolError,
};
use crate::ops::access_log::AccessLog;
use crate::ops::metrics::Metrics;
use crate::ops::observe::Observers;
use crate::ops::{MetricsAt, Ops};
use crate::s3::Ctx;
use crate::s3::error::S3Error;
use crate::server::{self, Role, ServerHandle};
use crate::storage::interface::Deletion;
use crate::storage::{Observer, Storage, Store};
use crate::tls::TlsState;

/// How long a starting cluster node waits for the shared settings (its log's leader).
const SHARED_LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

pub struct Engine {
    pub ctx: Arc<Ctx>,
    /// Cluster mode: the store (for its health report) and the QUIC endpoint.
    cluster: Option<ClusterStore>,
    pub tls: Option<Arc<TlsState>>,
    pub credentials: Arc<Credentials>,
    pub auth_enabled: bool,
    server: ServerHandle,
    /// The lifecycle worker, aborted at stop.
    lifecycle: tokio::task::JoinHandle<()>,
    pub info: StartInfo,
    /// The storage folder, when it goes with the engine (`storage.removeOnExit`).
    remove_on_exit: Option<std::path::PathBuf>,
}

/// A start-up failure with a code the host can act on.
#[derive(Debug)]
pub struct StartError {
    pub code: &'static str,
    pub message: String,
}

impl From<StartError> for ProtocolError {
    fn from(e: StartError) -> Self {
        ProtocolError::new(e.code, e.message)
    }
}

fn fail(code: &'static str, message: String) -> StartError {
    StartError { code, message }
}

/// The configured store: the erasure-coded cluster store over `cluster.drives`, or
/// the filesystem store in `storage.directory`.
async fn open_store(
    config: &Config,
    observer: Option<Observer>,
) -> Result<(Arc<dyn Storage>, Option<ClusterStore>), StartError> {
    if let Some(cluster) = config.cluster.as_ref().filter(|c| c.enabled) {
        // Checked before cleanSlate empties a drive.
        let plan = crate::cluster::join::plan(cluster, &config.server.address)
            .map_err(|e| fail("InvalidConfig", format!("cluster: {e}")))?;
        if config.storage.clean_slate {
            // Empties every drive folder: the cluster starts new, with a new cluster id.
            for drive in &cluster.drives {
                crate::config::clean_slate(drive).map_err(|e| {
                    fail(
                        "StorageError",
                        format!("cannot empty {}: {e}", drive.display()),
                    )
                })?;
            }
        }
        let store = ClusterStore::open(cluster, plan, config.storage.fsync, observer)
            .await
            .map_err(|e| match e {
                OpenError::Config(e) => fail("InvalidConfig", format!("cluster: {e}")),
                OpenError::Bind(e) => fail("BindError", e),
            })?;
        return Ok((Arc::new(store.clone()), Some(store)));
    }
    let dir = config.storage.directory.clone();
    if dir.as_os_str().is_empty() {
        return Err(fail(
            "InvalidConfig",
            "storage.directory must not be empty".into(),
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(fail(
            "InvalidConfig",
            format!(
                "storage.directory {} exists and is not a folder",
                dir.display()
            ),
        ));
    }
    if config.storage.clean_slate {
        crate::config::clean_slate(&dir).map_err(|e| {
            fail(
                "StorageError",
                format!("cannot empty {}: {e}", dir.display()),
            )
        })?;
    }
    let fsync = config.storage.fsync;
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, fsync, observer))
        .await
        .map_err(|e| fail("StorageError", e.to_string()))?
        .map_err(|e| {
            fail(
                "StorageError",
                format!(
                    "cannot open storage folder {}: {e}",
                    config.storage.directory.display()
                ),
            )
        })?;
    Ok((Arc::new(store), None))
}

impl Engine {
    pub async fn start(config: Config, observer: Option<Observer>) -> Result<Engine, StartError> {
        let credentials = if config.auth.credentials.is_empty() && !config.auth.enabled {
            vec![crate::config::placeholder_credential()]
        } else {
            config.auth.credentials.clone()
        };
        if config.server.max_connections == 0 || config.server.max_connections_per_client == 0 {
            return Err(fail(
                "InvalidConfig",
                "server.maxConnections and server.maxConnectionsPerClient must be at least 1"
                    .into(),
            ));
        }
        crate::auth::validate(&credentials)
            .map_err(|e| fail("InvalidConfig", format!("auth.credentials: {e}")))?;
        config
            .lifecycle
            .validate()
            .map_err(|e| fail("InvalidConfig", e))?;
        let keys = crate::encryption::key_ring(&config).map_err(|e| fail("InvalidConfig", e))?;
        let (store, cluster) = open_store(&config, observer).await?;
        let store: Arc<dyn Storage> = Arc::new(crate::encryption::EncryptedStore::new(store, keys));
        let started = Self::serve(config, credentials, store, cluster.clone()).await;
        if let (Err(_), Some(cluster)) = (&started, &cluster) {
            // Its QUIC port and log go with the failed start (a retry may bind them).
            cluster.shutdown().await;
        }
        started
    }

    /// Serves `store`: binds the listeners, loads the shared settings, makes the
    /// configured buckets.
    async fn serve(
        config: Config,
        credentials: Vec<crate::auth::Credential>,
        store: Arc<dyn Storage>,
        cluster: Option<ClusterStore>,
    ) -> Result<Engine, StartError> {
        let tls = match &config.server.tls {
            Some(cfg) => {
                Some(Arc::new(TlsState::new(cfg).map_err(|e| {
                    fail("InvalidConfig", format!("server.tls: {e}"))
                })?))
            }
            None => None,
        };
        let bind = |port: u16| {
            let address = config.server.address.clone();
            async move {
                let listener = server::bind(&address, port).await.map_err(|e| {
                    fail(
                        "BindError",
                        format!("cannot listen on {address}:{port}: {e}"),
                    )
                })?;
                let bound = listener
                    .local_addr()
                    .map_err(|e| fail("BindError", e.to_string()))?
                    .port();
                Ok::<_, StartError>((listener, bound))
            }
        };
        let (main_listener, port) = bind(config.server.port).await?;
        let tls_port = config.server.tls.as_ref().and_then(|t| t.port);
        let mut listeners = Vec::new();
        let mut info = StartInfo {
            address: config.server.address.clone(),
            port,
            tls_port: None,
            quic_port: None,
            use_ssl: tls.is_some() && tls_port.is_none(),
            certificate_pem: tls.as_ref().map(|t| t.certificate_pem()),
            region: config.server.region.clone(),
            directory: store.location(),
            metrics_port: None,
            console_port: None,
        };
        info.quic_port = cluster.as_ref().map(ClusterStore::quic_port);
        let listener = |tcp, tls, role| server::Listener { tcp, tls, role };
        match (tls_port, &tls) {
            (Some(p), Some(tls)) => {
                let (tls_listener, bound) = bind(p).await?;
                info.tls_port = Some(bound);
                listeners.push(listener(main_listener, None, Role::S3));
                listeners.push(listener(tls_listener, Some(tls.clone()), Role::S3));
            }
            _ => listeners.push(listener(main_listener, tls.clone(), Role::S3)),
        }
        let metrics = config.server.metrics.as_ref().filter(|m| m.enabled);
        let metrics_at = match metrics.and_then(|m| m.port) {
            Some(p) => {
                let (metrics_listener, bound) = bind(p).await?;
                info.metrics_port = Some(bound);
                listeners.push(listener(metrics_listener, tls.clone(), Role::Metrics));
                MetricsAt::OwnPort
            }
            None if metrics.is_some() => MetricsAt::S3Port,
            None => MetricsAt::Off,
        };
        let observers = observers(&config.server, config.auth.enabled)?;
        if let Some(console) = config.server.console.as_ref().filter(|c| c.enabled) {
            let (console_listener, bound) = bind(console.port).await?;
            info.console_port = Some(bound);
            let console = crate::console::Console::new(
                info.tls_port.unwrap_or(port),
                tls.is_some(),
                cluster.clone(),
                observers.metrics.clone(),
            );
            listeners.push(listener(
                console_listener,
                tls.clone(),
                Role::Console(Arc::new(console)),
            ));
        }
        let credentials = Arc::new(Credentials::new(credentials));
        let default_cors = match &config.server.cors {
            Some(rule) => {
                let rule = rule
                    .to_rule()
                    .map_err(|e| fail("InvalidConfig", format!("server.cors: {e}")))?;
                Some(Arc::new(crate::s3::cors::CorsConfig { rules: vec![rule] }))
            }
            None => None,
        };
        let ctx = Arc::new(Ctx {
            store,
            region: config.server.region.clone(),
            virtual_host_domains: config.server.virtual_host_domains.clone(),
            auth_enabled: config.auth.enabled,
            sig_v2: config.auth.sig_v2,
            credentials: credentials.clone(),
            settings: Default::default(),
            default_cors,
            shared_seen: crate::s3::shared::NEVER_LOADED.into(),
            allow_sse_c_over_http: config.encryption.allow_sse_c_over_http,
            observed: observers.active(),
            lifecycle_clock: crate::s3::lifecycle::dates::Clock {
                day_seconds: config.lifecycle.day_length_seconds,
            },
        });
        let ops = Arc::new(Ops::new(
            observers,
            ctx.store.clone(),
            cluster.clone(),
            metrics_at,
            config.server.virtual_host_domains.clone(),
        ));
        // Policies, CORS rules and credentials another node set at runtime (they win
        // over the config's). A cluster node may wait for its log's leader a while;
        // past that it starts, answering 503 until they load.
        let loading = std::time::Instant::now();
        while let Err(e) = ctx.sync_shared().await {
            if cluster.is_none() || loading.elapsed() > SHARED_LOAD_WAIT {
                match cluster {
                    None => return Err(fail("StorageError", e.to_string())),
                    Some(_) => crate::log::warn(&format!(
                        "starting before the shared settings loaded: {e}"
                    )),
                }
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        ctx.store.start_initial_scan();
        let limits = server::Limits {
            connections: config.server.max_connections,
            per_client: config.server.max_connections_per_client,
        };
        let server = server::spawn(listeners, ctx.clone(), ops, limits);
        let lifecycle = crate::s3::lifecycle::worker::spawn(
            ctx.clone(),
            crate::s3::lifecycle::worker::Schedule {
                clock: ctx.lifecycle_clock,
                interval: std::time::Duration::from_secs(config.lifecycle.scan_interval_seconds),
            },
        );
        let engine = Engine {
            lifecycle,
            ctx,
            cluster,
            tls,
            credentials,
            auth_enabled: config.auth.enabled,
            server,
            info,
            remove_on_exit: config
                .storage
                .remove_on_exit
                .then(|| config.storage.directory.clone()),
        };
        for bucket in config.buckets {
            let name = bucket.name.clone();
            if let Err(e) = engine.ensure_bucket(bucket).await {
                engine.stop().await;
                return Err(StartError {
                    code: e.code.as_str(),
                    message: format!("buckets: {name}: {}", e.message),
                });
            }
        }
        Ok(engine)
    }

    /// Stops serving (in-flight requests drain), then removes the storage folder if it
    /// goes with the engine.
    pub async fn stop(self) {
        self.lifecycle.abort();
        self.server.stop().await;
        // A folder removed below needs nothing made durable.
        if self.remove_on_exit.is_none()
            && let Err(e) = self.ctx.store.close().await
        {
            crate::log::warn(&format!("closing the store: {e}"));
        }
        if let Some(store) = &self.cluster {
            store.shutdown().await;
        }
        if let Some(dir) = self.remove_on_exit {
            // The store is closed; nothing writes into the folder any more.
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                crate::log::warn(&format!("cannot remove {}: {e}", dir.display()));
            }
        }
    }
}

/// The answers to the management queries (docs/protocol.md).
impl Engine {
    /// The counters; `droppedEvents` is the protocol's to fill in (0 here).
    pub async fn bucket_summaries(&self) -> Result<Vec<BucketSummary>, crate::s3::error::S3Error> {
        let buckets = self.ctx.store.list_buckets(&self.ctx.region).await?;
        Ok(crate::management::reports::bucket_summaries(
            &self.ctx, &buckets,
        ))
    }

    /// Deletes a bucket (with `force`, what it holds first); answers how many objects went.
    /// A bucket that keeps versions under object lock stays (`BucketNotEmpty`, saying so).
    pub async fn delete_bucket(&self, name: &str, force: bool) -> Result<u64, S3Error> {
        let store = &self.ctx.store;
        let deleted = if force {
            let emptied = self.empty_bucket(name).await?;
            if emptied.locked_versions > 0 {
                return Err(S3Error::msg(
                    crate::s3::error::S3Code::BucketNotEmpty,
                    format!(
                        "{name} keeps {} version(s) under object lock (retention or legal hold)",
                        emptied.locked_versions
                    ),
                ));
            }
            emptied.deleted_objects
        } else {
            0
        };
        let (settings, bucket) = (self.ctx.settings.clone(), name.to_string());
        store
            .delete_bucket(name, Box::new(move || settings.forget(&bucket)))
            .await?;
        Ok(deleted)
    }

    /// Deletes every object, version and upload of a bucket, but for the versions object
    /// lock protects (retention or legal hold): a lock bucket is emptied version by
    /// version, each deletion guarded as an S3 one without governance bypass.
    pub async fn empty_bucket(&self, name: &str) -> Result<DeletedObjects, S3Error> {
        let store = &self.ctx.store;
        if self.ctx.settings.object_lock(name).is_none() {
            let deleted_objects = store.empty_bucket(name).await?;
            return Ok(DeletedObjects {
                deleted_objects,
                locked_versions: 0,
            });
        }
        // Listed whole first: deleting while paging would move the markers.
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let query = crate::storage::interface::VersionQuery {
                prefix: String::new(),
                delimiter: None,
                key_marker: key_marker.take(),
                version_marker: version_marker.take(),
                max: 1000,
            };
            let page = store.list_versions(name, query).await?;
            versions.extend(
                page.items
                    .into_iter()
                    .filter_map(Result::ok)
                    .map(|v| v.meta),
            );
            match versions.last().filter(|_| page.truncated) {
                Some(last) => {
                    key_marker = Some(last.key.clone());
                    version_marker = Some(last.version_id.clone().unwrap_or_else(|| "null".into()));
                }
                None => break,
            }
        }
        let guard = crate::s3::object_lock::deletion_guard(false);
        let mut emptied = DeletedObjects::default();
        for batch in versions.chunks(1000) {
            let deletions = batch
                .iter()
                .map(|m| Deletion {
                    key: m.key.clone(),
                    version_id: Some(m.version_id.clone().unwrap_or_else(|| "null".into())),
                    precondition: None,
                    guard: Some(guard.clone()),
                    reason: None,
                })
                .collect();
            for (meta, result) in batch
                .iter()
                .zip(store.delete_objects(name, deletions).await?)
            {
                match result {
                    Ok(_) if !meta.delete_marker => emptied.deleted_objects += 1,
                    Ok(_) => {}
                    Err(crate::storage::Error::Refused(_)) => emptied.locked_versions += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for upload in store.list_uploads(name).await? {
            let upload = crate::storage::interface::UploadRef {
                bucket: name.to_string(),
                key: upload.key,
                upload_id: upload.upload_id,
            };
            match store.abort_upload(&upload).await {
                Ok(()) | Err(crate::storage::Error::NoSuchUpload { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(emptied)
    }

    /// Deletes every bucket with everything in it; buckets that keep versions under
    /// object lock stay (emptied of everything else) and are named in the answer.
    pub async fn reset(&self) -> Result<DeletedBuckets, S3Error> {
        let buckets = self.ctx.store.list_buckets(&self.ctx.region).await?;
        let mut reset = DeletedBuckets::default();
        for bucket in &buckets {
            match self.delete_bucket(&bucket.name, true).await {
                Ok(_) => reset.deleted_buckets += 1,
                Err(e)
                    if e.code == crate::s3::error::S3Code::BucketNotEmpty
                        && self.ctx.settings.object_lock(&bucket.name).is_some() =>
                {
                    reset.locked_buckets.push(bucket.name.clone());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(reset)
    }

    /// Creates a bucket unless it exists, then applies the settings given.
    pub async fn ensure_bucket(
        &self,
        params: EnsureBucketParams,
    ) -> Result<EnsuredBucket, S3Error> {
        use crate::storage::interface::ConfigKind;
        let (store, name) = (&self.ctx.store, params.name);
        crate::s3::check_not_reserved(&name)?;
        let created = match store.create_bucket(&name, &self.ctx.region).await {
            Ok(()) => true,
            Err(crate::storage::Error::BucketExists { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if let Some(status) = params.versioning {
            if status != "Enabled" && status != "Suspended" {
                return Err(S3Error::invalid_argument(
                    "versioning must be Enabled or Suspended",
                    "versioning",
                    &status,
                ));
            }
            crate::s3::object_lock::check_versioning_change(&self.ctx.settings, &name, &status)?;
            store.set_versioning(&name, &status).await?;
        }
        if let Some(policy) = params.policy {
            let document = policy.into_bytes();
            let parsed = crate::s3::policy::Policy::parse(&document, &name)?;
            let (settings, bucket) = (self.ctx.settings.clone(), name.clone());
            let then = Box::new(move || settings.set_policy(&bucket, Some(parsed)));
            store
                .set_bucket_config(ConfigKind::Policy, &name, Some(document), then)
                .await?;
        }
        if let Some(rules) = params.cors {
            let rules = rules
                .iter()
                .map(|r| r.to_rule())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| S3Error::invalid_argument(e, "cors", ""))?;
            let config = crate::s3::cors::CorsConfig { rules };
            let document = serde_json::to_vec_pretty(&config).map_err(S3Error::internal)?;
            let (settings, bucket) = (self.ctx.settings.clone(), name.clone());
            let then = Box::new(move || settings.set_cors(&bucket, Some(config)));
            store
                .set_bucket_config(ConfigKind::Cors, &name, Some(document), then)
                .await?;
        }
        Ok(EnsuredBucket { name, created })
    }

    /// Cluster mode: moves everything off the node `node_id` and removes it.
    pub async fn decommission_node(
        &self,
        node_id: &str,
    ) -> Result<crate::cluster::decommission::DecommissionReport, ProtocolError> {
        let Some(store) = &self.cluster else {
            return Err(ProtocolError::new(
                "NotCluster",
                "decommissionNode needs cluster mode",
            ));
        };
        (store.decommission(node_id).await).map_err(|e| ProtocolError::new("DecommissionFailed", e))
    }

    /// Cluster mode: the node's report; standalone: no cluster, but the local drives are probed.
    pub async fn cluster_health(&self) -> Result<ClusterHealth, crate::s3::error::S3Error> {
        crate::management::reports::cluster_health(&self.ctx, self.cluster.as_ref()).await
    }
}

/// The request observers the config asks for (`server.logRequests`, `.accessLog`, `.metrics`).
fn observers(
    server: &crate::config::ServerConfig,
    auth_enabled: bool,
) -> Result<Observers, StartError> {
    let access_log = match &server.access_log {
        Some(log) => {
            if log.max_file_bytes == 0 || log.keep_files == 0 {
                return Err(fail(
                    "InvalidConfig",
                    "server.accessLog: maxFileBytes and keepFiles must be at least 1".into(),
                ));
            }
            let opened = AccessLog::open(log.path.as_deref(), log.max_file_bytes, log.keep_files);
            Some(opened.map_err(|e| {
                fail(
                    "InvalidConfig",
                    format!(
                        "server.accessLog: cannot write {:?}: {e}",
                        log.path
                            .as_deref()
                            .unwrap_or_else(|| std::path::Path::new("stderr"))
                    ),
                )
            })?)
        }
        None => None,
    };
    let metrics = match server.metrics.as_ref().filter(|m| m.enabled) {
        Some(m) => {
            if let Some(token) = &m.bearer_token
                && (token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(fail(
                    "InvalidConfig",
                    "server.metrics.bearerToken must be printable ASCII without spaces".into(),
                ));
            }
            // They name buckets: with auth on, not to anyone who can reach the S3 port.
            if auth_enabled && m.port.is_none() && m.bearer_token.is_none() {
                return Err(fail(
                    "InvalidConfig",
                    "server.metrics: with auth on, metrics on the S3 port need a bearerToken (or a port of their own)".into(),
                ));
            }
            Some(Arc::new(Metrics::new(m.bearer_token.clone())))
        }
        // The console charts the request rate from them (they are served only if asked for).
        None if server.console.as_ref().is_some_and(|c| c.enabled) => {
            Some(Arc::new(Metrics::new(None)))
        }
        None => None,
    };
    Ok(Observers {
        request_log: server.log_requests,
        access_log,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Auth on with no credential must fail start, never fall back to a built-in pair.
    #[tokio::test]
    async fn auth_on_without_credentials_is_invalid_config() {
        let mut config = Config::default();
        config.storage.directory = std::env::temp_dir().join("ruststorage-never-created");
        config.auth.enabled = true;
        let Err(e) = Engine::start(config, None).await else {
            panic!("started with auth on and no credentials")
        };
        assert_eq!(e.code, "InvalidConfig");
        assert!(e.message.contains("auth.credentials"), "{}", e.message);
    }
}
