//! What the engine reports about its storage, in the management protocol's shapes: the
//! host's management calls and the web console read the same figures.

use std::sync::atomic::Ordering;

use super::protocol::{BucketStats, BucketSummary, ClusterHealth, StorageStats};
use crate::cluster::store::ClusterStore;
use crate::ops::metrics::EVENTS_DROPPED;
use crate::s3::Ctx;
use crate::storage::interface::BucketInfo;

/// Counters kept on every write (never a listing), and the disks' space.
pub async fn storage_stats(ctx: &Ctx) -> StorageStats {
    let store = &ctx.store;
    let capacity = store.capacity().await.unwrap_or_default();
    let (uploads, upload_bytes) = store.upload_totals().await.unwrap_or_default();
    let all = store.counters();
    StorageStats {
        bucket_count: all.len() as u64,
        object_count: all.values().map(|c| c.objects).sum(),
        total_bytes: all.values().map(|c| c.bytes).sum(),
        multipart_upload_count: uploads,
        multipart_bytes: upload_bytes,
        initial_scan_complete: store.scan_complete(),
        dropped_events: EVENTS_DROPPED.load(Ordering::Relaxed),
        buckets: all
            .iter()
            .map(|(name, c)| BucketStats {
                name: name.clone(),
                object_count: c.objects,
                total_bytes: c.bytes,
            })
            .collect(),
        storage_locations: capacity.into_iter().map(Into::into).collect(),
    }
}

/// Buckets' counters and settings flags, in the order given.
pub fn bucket_summaries<'a>(
    ctx: &Ctx,
    buckets: impl IntoIterator<Item = &'a BucketInfo>,
) -> Vec<BucketSummary> {
    let counters = ctx.store.counters();
    buckets
        .into_iter()
        .map(|b| {
            let c = counters.get(&b.name).copied().unwrap_or_default();
            BucketSummary {
                name: b.name.clone(),
                creation_date: crate::s3::headers::iso8601(b.created),
                region: b.region.clone(),
                object_count: c.objects,
                total_bytes: c.bytes,
                has_policy: ctx.settings.policy(&b.name).is_some(),
                has_cors: ctx.settings.cors(&b.name).is_some(),
            }
        })
        .collect()
}

/// Cluster mode: the node's report; standalone: no cluster, but the local drives are probed.
pub async fn cluster_health(
    ctx: &Ctx,
    cluster: Option<&ClusterStore>,
) -> Result<ClusterHealth, crate::s3::error::S3Error> {
    if let Some(store) = cluster {
        return Ok(store.health().into());
    }
    let probes = ctx.store.probe().await?;
    Ok(ClusterHealth::standalone(
        probes.into_iter().map(Into::into).collect(),
    ))
}
