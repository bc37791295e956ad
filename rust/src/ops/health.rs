//! Health probes on the S3 port, unauthenticated and cheap: liveness, readiness (storage
//! writable; in cluster mode, quorum held), and MinIO's paths for probes written for it.
//!
//! They can never shadow a bucket: `health` and `minio` are reserved bucket names (S3's
//! CreateBucket refuses them, see `s3::bucket_names`), and only path-style requests are
//! probes, so `health.<domain>/live` stays an object request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::health::MetadataQuorum;
use crate::cluster::store::ClusterStore;
use crate::storage::interface::Storage;

/// How long a readiness answer is reused: probing writes (and fsyncs) a small file, and
/// an unauthenticated caller must not be able to make the server do that at will.
const READY_REUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Live,
    Ready,
    /// MinIO's cluster probes: the write (or read) quorum.
    ClusterWrite,
    ClusterRead,
}

impl Probe {
    pub fn of(path: &str) -> Option<Probe> {
        Some(match path {
            "/health/live" | "/minio/health/live" => Probe::Live,
            "/health/ready" | "/minio/health/ready" => Probe::Ready,
            "/minio/health/cluster" => Probe::ClusterWrite,
            "/minio/health/cluster/read" => Probe::ClusterRead,
            _ => return None,
        })
    }

    pub fn operation(self) -> &'static str {
        match self {
            Probe::Live => "HealthLive",
            Probe::Ready => "HealthReady",
            Probe::ClusterWrite | Probe::ClusterRead => "HealthCluster",
        }
    }
}

/// The probes' view of the engine, with the last readiness answer.
pub struct Health {
    store: Arc<dyn Storage>,
    cluster: Option<ClusterStore>,
    last_ready: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Health {
    pub fn new(store: Arc<dyn Storage>, cluster: Option<ClusterStore>) -> Health {
        Health {
            store,
            cluster,
            last_ready: Default::default(),
        }
    }

    /// `Ok` or why not.
    pub async fn check(&self, probe: Probe) -> Result<(), String> {
        match probe {
            Probe::Live => Ok(()),
            Probe::Ready => self.ready().await,
            Probe::ClusterWrite | Probe::ClusterRead => match &self.cluster {
                Some(cluster) => quorum(cluster, probe == Probe::ClusterRead),
                None => self.ready().await,
            },
        }
    }

    async fn ready(&self) -> Result<(), String> {
        let mut last = self.last_ready.lock().await;
        if let Some((at, answer)) = last.as_ref()
            && at.elapsed() < READY_REUSE
        {
            return answer.clone();
        }
        let answer = self.probe_ready().await;
        *last = Some((Instant::now(), answer.clone()));
        answer
    }

    async fn probe_ready(&self) -> Result<(), String> {
        if let Some(cluster) = &self.cluster {
            // The drives' states as the background prober last saw them: nothing to write.
            return quorum(cluster, false);
        }
        let probes = self.store.probe().await.map_err(|e| e.to_string())?;
        match probes.iter().find(|p| !p.writable) {
            Some(p) => Err(format!(
                "storage at {} is not writable: {}",
                p.path,
                p.error.as_deref().unwrap_or("unknown error")
            )),
            None => Ok(()),
        }
    }
}

/// Whether the cluster can take writes (or, `read_only`, serve reads) through this node.
fn quorum(cluster: &ClusterStore, read_only: bool) -> Result<(), String> {
    let quorum = cluster.health().quorum;
    if quorum.metadata == MetadataQuorum::Lost {
        return Err("metadata quorum lost".into());
    }
    match read_only {
        true if !quorum.data_readable => Err("read quorum lost: too few drives answer".into()),
        false if !quorum.data_writable => {
            Err("write quorum lost: too few drives are writable".into())
        }
        _ => Ok(()),
    }
}
