//! The background worker that applies the Enabled lifecycle rules: it expires current
//! objects (a delete marker in a versioned or suspended bucket, as a DELETE makes),
//! removes noncurrent versions and expired delete markers, and aborts stale multipart
//! uploads. It reaches storage only through the interface, with the calls the DELETE
//! and AbortMultipartUpload handlers make, so counters and change events stay exact.
//!
//! One pass walks the buckets with rules in name order and each bucket in key order;
//! where it got to is kept as a shared document, so a restarted engine (or the next
//! leader of a cluster) continues the pass there. Only a node whose store says so
//! (`Storage::runs_background_work`: a cluster's leader) runs passes. Throttle: a
//! pause of `PAUSE` after every deletion or abort (at most 100 a second).

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use super::LifecycleConfig;
use super::dates::{Clock, now_seconds};
use crate::s3::Ctx;
use crate::storage::interface::{
    DeleteReason, Deletion, Item, ListQuery, ObjectMeta, Precondition, UploadRef, VersionQuery,
};
use crate::storage::{Error, Result};

/// The shared document that holds the progress of the current pass.
const PROGRESS: &str = "lifecycle-progress";
/// Between two deletions (or aborts): the throttle.
const PAUSE: Duration = Duration::from_millis(10);
/// Keys listed per page, and examined between two saves of the progress.
const PAGE: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub clock: Clock,
    /// Between the starts of two passes.
    pub interval: Duration,
}

/// Where a pass got to: the bucket, and the last key done in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct Progress {
    bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// Runs passes until the task is aborted (the engine stops).
pub fn spawn(ctx: Arc<Ctx>, schedule: Schedule) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if ctx.store.runs_background_work()
                && let Err(e) = Pass::new(&ctx, schedule.clock).run().await
            {
                // The next pass continues where this one stopped.
                crate::log::warn(&format!("lifecycle: pass interrupted: {e}"));
            }
            tokio::time::sleep(schedule.interval).await;
        }
    })
}

struct Pass<'a> {
    ctx: &'a Ctx,
    clock: Clock,
    now: i64,
    /// Whether a progress document may exist (to be cleared at the end).
    saved: std::sync::atomic::AtomicBool,
}

/// Every deletion the worker asks of storage is made here (the one place a check that
/// storage must run under the key's lock joins them).
fn deletion(key: &str, version_id: Option<&str>, etag: Option<&str>) -> Deletion {
    Deletion {
        key: key.to_string(),
        version_id: version_id.map(str::to_string),
        // The object judged, not one written since.
        precondition: etag.map(|e| Precondition::IfMatch(e.to_string())),
        reason: Some(DeleteReason::Lifecycle),
        // Never a locked version (retention or legal hold), governance included.
        guard: Some(crate::s3::object_lock::deletion_guard(false)),
    }
}

fn version_of(meta: &ObjectMeta) -> &str {
    meta.version_id.as_deref().unwrap_or("null")
}

impl<'a> Pass<'a> {
    fn new(ctx: &'a Ctx, clock: Clock) -> Self {
        Pass {
            ctx,
            clock,
            now: now_seconds(),
            saved: false.into(),
        }
    }

    async fn run(&self) -> Result<()> {
        // A cluster's rules may have been changed on another node.
        self.ctx.sync_shared().await?;
        let progress = self.progress().await?;
        if progress.is_some() {
            self.saved.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for (bucket, config) in self.ctx.settings.all_lifecycles() {
            let after = match &progress {
                Some(p) if bucket < p.bucket => continue,
                Some(p) if bucket == p.bucket => p.after.clone(),
                _ => None,
            };
            match self.bucket(&bucket, &config, after).await {
                Err(Error::NoSuchBucket { .. }) => {}
                other => other?,
            }
        }
        // Each write of a shared document is a log entry in a cluster: none when idle.
        if self.saved.load(std::sync::atomic::Ordering::Relaxed) {
            self.ctx.store.set_shared_document(PROGRESS, None).await?;
        }
        Ok(())
    }

    async fn progress(&self) -> Result<Option<Progress>> {
        let doc = self.ctx.store.shared_document(PROGRESS).await?;
        Ok(doc.and_then(|d| serde_json::from_slice(&d).ok()))
    }

    async fn save(&self, bucket: &str, after: Option<&str>) -> Result<()> {
        let progress = Progress {
            bucket: bucket.to_string(),
            after: after.map(str::to_string),
        };
        let doc = serde_json::to_vec(&progress).expect("progress serializes");
        self.ctx
            .store
            .set_shared_document(PROGRESS, Some(doc))
            .await
    }

    async fn bucket(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        after: Option<String>,
    ) -> Result<()> {
        self.save(bucket, after.as_deref()).await?;
        if after.is_none() {
            self.uploads(bucket, config).await?;
        }
        let acts_on_objects = config
            .enabled()
            .any(|r| r.expiration.is_some() || r.noncurrent_expiration.is_some());
        if !acts_on_objects {
            return Ok(());
        }
        match self.ctx.store.versioning(bucket).await? {
            None => self.unversioned(bucket, config, after).await,
            Some(_) => self.versioned(bucket, config, after).await,
        }
    }

    /// Aborts the uploads an AbortIncompleteMultipartUpload rule has made stale.
    async fn uploads(&self, bucket: &str, config: &LifecycleConfig) -> Result<()> {
        if !config.enabled().any(|r| r.abort_upload_days.is_some()) {
            return Ok(());
        }
        for upload in self.ctx.store.list_uploads(bucket).await? {
            let stale = config.enabled().any(|r| {
                r.abort_upload_days.is_some_and(|days| {
                    r.filter.matches_marker(&upload.key)
                        && self.clock.due(upload.initiated, days, self.now)
                })
            });
            if !stale {
                continue;
            }
            let target = UploadRef {
                bucket: bucket.to_string(),
                key: upload.key.clone(),
                upload_id: upload.upload_id.clone(),
            };
            match self.ctx.store.abort_upload(&target).await {
                Ok(()) | Err(Error::NoSuchUpload { .. }) => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(PAUSE).await;
        }
        Ok(())
    }

    /// The tags of an object, if a rule's filter needs them (listings may not carry them).
    async fn with_tags(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        meta: ObjectMeta,
    ) -> Result<ObjectMeta> {
        if !config.enabled().any(|r| r.filter.has_tags()) || !meta.tags.is_empty() {
            return Ok(meta);
        }
        let version = meta.version_id.clone();
        match self
            .ctx
            .store
            .head_object(bucket, &meta.key, version.as_deref())
            .await
        {
            Ok(full) => Ok(full),
            Err(Error::NoSuchKey { .. } | Error::NoSuchVersion { .. }) => Ok(meta),
            Err(e) => Err(e),
        }
    }

    async fn unversioned(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        mut after: Option<String>,
    ) -> Result<()> {
        loop {
            let query = ListQuery {
                prefix: String::new(),
                delimiter: None,
                after: after.clone(),
                max: PAGE,
            };
            let page = self.ctx.store.list_objects(bucket, query).await?;
            for item in page.items {
                let Item::Object(meta) = item else { continue };
                after = Some(meta.key.clone());
                let meta = self.with_tags(bucket, config, meta).await?;
                if self.current_due(config, &meta) {
                    self.remove(bucket, deletion(&meta.key, None, Some(&meta.etag)))
                        .await?;
                }
            }
            if !page.truncated {
                return Ok(());
            }
            self.save(bucket, after.as_deref()).await?;
        }
    }

    fn current_due(&self, config: &LifecycleConfig, meta: &ObjectMeta) -> bool {
        config
            .current_expiry(meta, self.clock)
            .is_some_and(|(at, _)| self.now >= at)
    }

    async fn versioned(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        after: Option<String>,
    ) -> Result<()> {
        let (mut key_marker, mut version_marker) = (after, None::<String>);
        // The versions of one key, newest first, gathered across pages.
        let mut key_versions: Vec<(ObjectMeta, bool)> = Vec::new();
        let mut last_done: Option<String> = None;
        loop {
            let query = VersionQuery {
                prefix: String::new(),
                delimiter: None,
                key_marker: key_marker.clone(),
                version_marker: version_marker.clone(),
                max: PAGE,
            };
            let page = self.ctx.store.list_versions(bucket, query).await?;
            for entry in page.items.into_iter().flatten() {
                if key_versions
                    .first()
                    .is_some_and(|(m, _)| m.key != entry.meta.key)
                {
                    let done = std::mem::take(&mut key_versions);
                    last_done = Some(done[0].0.key.clone());
                    self.key(bucket, config, done).await?;
                }
                key_marker = Some(entry.meta.key.clone());
                version_marker = Some(version_of(&entry.meta).to_string());
                key_versions.push((entry.meta, entry.is_latest));
            }
            if !page.truncated {
                if !key_versions.is_empty() {
                    self.key(bucket, config, key_versions).await?;
                }
                return Ok(());
            }
            // Saved at a key boundary: a resumed pass lists the key still gathering again.
            if last_done.is_some() {
                self.save(bucket, last_done.as_deref()).await?;
            }
        }
    }

    /// Applies the rules to one key of a versioned (or suspended) bucket.
    async fn key(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        versions: Vec<(ObjectMeta, bool)>,
    ) -> Result<()> {
        let Some((first, latest)) = versions.first() else {
            return Ok(());
        };
        let key = first.key.clone();
        if *latest && !first.delete_marker {
            let current = self.with_tags(bucket, config, first.clone()).await?;
            if self.current_due(config, &current) {
                self.remove(bucket, deletion(&key, None, Some(&current.etag)))
                    .await?;
            }
        }
        // Noncurrent versions: each became noncurrent when its successor was written.
        let mut left = usize::from(*latest);
        for (j, pair) in versions.windows(2).enumerate() {
            let (successor, version) = (&pair[0].0, &pair[1].0);
            let version = self.with_tags(bucket, config, version.clone()).await?;
            let due = config.enabled().any(|r| {
                r.noncurrent_expiration.as_ref().is_some_and(|n| {
                    let picked = if version.delete_marker {
                        r.filter.matches_marker(&key)
                    } else {
                        r.filter.matches(&key, &version.tags, version.size)
                    };
                    picked
                        && j >= n.newer_noncurrent_versions.unwrap_or(0) as usize
                        && self
                            .clock
                            .due(successor.last_modified, n.noncurrent_days, self.now)
                })
            });
            if !(due
                && self
                    .remove(bucket, deletion(&key, Some(version_of(&version)), None))
                    .await?)
            {
                left += 1;
            }
        }
        // An expired delete marker: the only version left of its key.
        if *latest && first.delete_marker && left == 1 && self.marker_due(config, first) {
            self.remove(bucket, deletion(&key, Some(version_of(first)), None))
                .await?;
        }
        Ok(())
    }

    fn marker_due(&self, config: &LifecycleConfig, marker: &ObjectMeta) -> bool {
        config.enabled().any(|r| {
            r.filter.matches_marker(&marker.key)
                && r.expiration.as_ref().is_some_and(|e| {
                    e.expired_object_delete_marker == Some(true)
                        || e.days
                            .is_some_and(|d| self.clock.due(marker.last_modified, d, self.now))
                        || e.date.is_some_and(|d| self.now >= d)
                })
        })
    }

    /// Deletes as asked; answers whether it was deleted. A version that changed since it
    /// was judged, or that a check refuses (a lock), is skipped; storage failing ends the pass.
    async fn remove(&self, bucket: &str, d: Deletion) -> Result<bool> {
        let what = format!("{bucket}/{} {:?}", d.key, d.version_id);
        let result = self.ctx.store.delete_object(bucket, d).await;
        tokio::time::sleep(PAUSE).await;
        match result {
            Ok(_) => Ok(true),
            Err(Error::Refused(e)) => {
                crate::log::debug(&format!("lifecycle: {what} kept: {e}"));
                Ok(false)
            }
            Err(
                Error::PreconditionFailed { .. }
                | Error::NoSuchKey { .. }
                | Error::NoSuchVersion { .. }
                | Error::ConditionalConflict,
            ) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
