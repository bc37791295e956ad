//! Prometheus metrics (`/metrics`, OpenMetrics text): request counters and latency
//! histograms kept as requests end, and gauges read from storage (and the cluster) at
//! each scrape. Exposition is `prometheus-client`'s; nothing here formats the text.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::observe::Finished;
use crate::cluster::store::ClusterStore;
use crate::storage::interface::{Counters, Storage};

/// Change events the TypeScript host was too slow to take (counted by the bridge).
pub static EVENTS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Buckets named in per-bucket series; the rest are summed under `bucket="_other"`, so a
/// server with many buckets cannot blow up a Prometheus server's series count.
pub const MAX_BUCKET_LABELS: usize = 100;
const OTHER_BUCKETS: &str = "_other";

/// The OpenMetrics text format's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabel {
    bucket: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuorumLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The request counters' sums, as the console shows them.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub total: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

type Histograms = Family<OperationLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The request-side metrics, alive for the engine's lifetime.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    /// All of `requests`, summed as they come (the console's request-rate chart).
    requests_total: Counter,
    durations: Histograms,
    received: Counter,
    sent: Counter,
    in_flight: Gauge,
    started: Instant,
    bearer_token: Option<String>,
}

/// One request in flight; the gauge goes down when it is dropped, however the request ends.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A cluster state (`up`, `ok`, ...) as its protocol spells it.
fn state_name(state: impl serde::Serialize) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

impl Metrics {
    pub fn new(bearer_token: Option<String>) -> Metrics {
        Metrics {
            requests: Family::default(),
            requests_total: Counter::default(),
            durations: Histograms::new_with_constructor(latency_histogram),
            received: Counter::default(),
            sent: Counter::default(),
            in_flight: Gauge::default(),
            started: Instant::now(),
            bearer_token,
        }
    }

    /// Whether `Authorization` carries the configured bearer token (always, without one).
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(token) = &self.bearer_token else {
            return true;
        };
        let given = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        given.as_bytes().ct_eq(token.as_bytes()).into()
    }

    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub fn observe(&self, done: &Finished) {
        let operation = done.operation().to_string();
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                status_class: status_class(done.status),
            })
            .inc();
        self.requests_total.inc();
        self.durations
            .get_or_create(&OperationLabel { operation })
            .observe(done.duration.as_secs_f64());
        self.received.inc_by(done.bytes_in);
        self.sent.inc_by(done.bytes_out);
    }

    /// Requests served, bytes received and sent, since start.
    pub fn totals(&self) -> Totals {
        Totals {
            total: self.requests_total.get(),
            bytes_received: self.received.get(),
            bytes_sent: self.sent.get(),
        }
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// The exposition: this process's counters, and what storage holds right now.
    pub async fn render(
        &self,
        store: &dyn Storage,
        cluster: Option<&ClusterStore>,
    ) -> Result<String, String> {
        let mut registry = Registry::with_prefix("smartstorage");
        self.register_requests(&mut registry);
        register_storage(&mut registry, store).await?;
        if let Some(cluster) = cluster {
            register_cluster(&mut registry, cluster);
        }
        registry.register(
            "build",
            "The engine's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        let uptime = Gauge::<f64, AtomicU64>::default();
        uptime.set(self.uptime().as_secs_f64());
        registry.register_with_unit(
            "uptime",
            "Time since the engine started",
            Unit::Seconds,
            uptime,
        );
        let dropped = Counter::<u64>::default();
        dropped.inc_by(EVENTS_DROPPED.load(Ordering::Relaxed));
        registry.register(
            "events_dropped",
            "Change events not delivered to the host because its queue was full",
            dropped,
        );
        let unlogged = Counter::<u64>::default();
        unlogged.inc_by(super::access_log::DROPPED.load(Ordering::Relaxed));
        registry.register(
            "access_log_dropped",
            "Access log lines dropped because the writer fell behind",
            unlogged,
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(|e| e.to_string())?;
        Ok(text)
    }

    fn register_requests(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Requests answered, by S3 operation and status class",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's head to the end of its response, by S3 operation",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register_with_unit(
            "received",
            "Bytes read from clients' connections",
            Unit::Bytes,
            self.received.clone(),
        );
        registry.register_with_unit(
            "sent",
            "Response body bytes sent",
            Unit::Bytes,
            self.sent.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests being served",
            self.in_flight.clone(),
        );
    }
}

/// The largest buckets by name, the rest summed under `_other`.
fn capped(counters: BTreeMap<String, Counters>) -> Vec<(String, Counters)> {
    let mut all: Vec<(String, Counters)> = counters.into_iter().collect();
    all.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(&b.0)));
    if all.len() > MAX_BUCKET_LABELS {
        let rest = all.split_off(MAX_BUCKET_LABELS);
        let mut other = Counters::default();
        for (_, c) in rest {
            other.objects += c.objects;
            other.bytes += c.bytes;
        }
        all.push((OTHER_BUCKETS.into(), other));
    }
    all
}

async fn register_storage(registry: &mut Registry, store: &dyn Storage) -> Result<(), String> {
    let counters = store.counters();
    let bucket_count = counters.len() as u64;
    let per_bucket = capped(counters);
    let objects = Family::<BucketLabel, Gauge>::default();
    let bytes = Family::<BucketLabel, Gauge>::default();
    let (mut total_objects, mut total_bytes) = (0u64, 0u64);
    for (bucket, c) in &per_bucket {
        let label = BucketLabel {
            bucket: bucket.clone(),
        };
        objects.get_or_create(&label).set(c.objects as i64);
        bytes.get_or_create(&label).set(c.bytes as i64);
        total_objects += c.objects;
        total_bytes += c.bytes;
    }
    registry.register(
        "bucket_objects",
        "Objects (and older versions) per bucket",
        objects,
    );
    registry.register_with_unit(
        "bucket_stored",
        "Bytes stored per bucket",
        Unit::Bytes,
        bytes,
    );
    gauge(
        registry,
        "objects",
        "Objects (and older versions) stored",
        None,
        total_objects,
    );
    gauge(
        registry,
        "stored",
        "Bytes stored",
        Some(Unit::Bytes),
        total_bytes,
    );
    gauge(registry, "buckets", "Buckets", None, bucket_count);
    let (uploads, upload_bytes) = store.upload_totals().await.map_err(|e| e.to_string())?;
    gauge(
        registry,
        "multipart_uploads_open",
        "Unfinished multipart uploads",
        None,
        uploads,
    );
    gauge(
        registry,
        "multipart_uploads_stored",
        "Bytes held by unfinished multipart uploads",
        Some(Unit::Bytes),
        upload_bytes,
    );
    let free = Family::<PathLabel, Gauge>::default();
    let total = Family::<PathLabel, Gauge>::default();
    for c in store.capacity().await.map_err(|e| e.to_string())? {
        let label = PathLabel { path: c.path };
        free.get_or_create(&label).set(c.available_bytes as i64);
        total.get_or_create(&label).set(c.total_bytes as i64);
    }
    registry.register_with_unit(
        "disk_free",
        "Bytes available to the engine on each storage location",
        Unit::Bytes,
        free,
    );
    registry.register_with_unit(
        "disk_size",
        "Size of each storage location's file system",
        Unit::Bytes,
        total,
    );
    Ok(())
}

fn gauge(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, value: u64) {
    let g = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    g.set(value as i64);
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, g),
        None => registry.register(name, help, g),
    }
}

fn register_cluster(registry: &mut Registry, cluster: &ClusterStore) {
    let report = cluster.health();
    let nodes = Family::<StateLabel, Gauge>::default();
    // This node counts as up: it is answering.
    nodes
        .get_or_create(&StateLabel { state: "up".into() })
        .inc();
    for node in report.nodes.iter().filter(|n| n.id != report.node_id) {
        nodes
            .get_or_create(&StateLabel {
                state: state_name(node.state),
            })
            .inc();
    }
    registry.register(
        "cluster_nodes",
        "Cluster nodes by state, as this node sees them",
        nodes,
    );
    let drives = Family::<StateLabel, Gauge>::default();
    for drive in &report.drives {
        drives
            .get_or_create(&StateLabel {
                state: state_name(drive.state),
            })
            .inc();
    }
    registry.register("cluster_drives", "Drives by state, as last probed", drives);
    let quorum = Family::<QuorumLabel, Gauge>::default();
    let metadata_ok = state_name(report.quorum.metadata) == "ok";
    for (kind, held) in [
        ("metadata", metadata_ok),
        ("read", report.quorum.data_readable),
        ("write", report.quorum.data_writable),
    ] {
        quorum.get_or_create(&QuorumLabel { kind }).set(held as i64);
    }
    registry.register(
        "cluster_quorum",
        "1 while the quorum of this kind is held",
        quorum,
    );
    let healing = &report.healing;
    gauge(
        registry,
        "cluster_heal_queued",
        "Objects waiting to be healed",
        None,
        healing.queued,
    );
    gauge(
        registry,
        "cluster_heal_in_progress",
        "Objects being healed",
        None,
        healing.in_progress,
    );
    for (name, help, value, unit) in [
        (
            "cluster_healed_objects",
            "Objects healed since start",
            healing.healed_objects,
            None,
        ),
        (
            "cluster_healed",
            "Bytes healed since start",
            healing.healed_bytes,
            Some(Unit::Bytes),
        ),
        (
            "cluster_heal_failures",
            "Heals that failed since start",
            healing.failed,
            None,
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        match unit {
            Some(unit) => registry.register_with_unit(name, help, unit, c),
            None => registry.register(name, help, c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_past_the_cap_are_summed_under_other() {
        let counters: BTreeMap<String, Counters> = (0..MAX_BUCKET_LABELS + 5)
            .map(|i| {
                (
                    format!("b{i:03}"),
                    Counters {
                        objects: 1,
                        bytes: i as u64,
                    },
                )
            })
            .collect();
        let capped = capped(counters);
        assert_eq!(capped.len(), MAX_BUCKET_LABELS + 1);
        assert_eq!(capped[0].0, format!("b{:03}", MAX_BUCKET_LABELS + 4));
        let other = &capped.last().unwrap().1;
        assert_eq!((other.objects, other.bytes), (5, 10));
    }

    #[test]
    fn the_bearer_token_is_required_when_set() {
        let m = Metrics::new(Some("s3cr3t".into()));
        assert!(m.admits(Some("Bearer s3cr3t")));
        assert!(!m.admits(Some("Bearer s3cr3")));
        assert!(!m.admits(Some("s3cr3t")));
        assert!(!m.admits(None));
        assert!(Metrics::new(None).admits(None));
    }
}
