//! The filesystem store behind the storage interface: each call runs the store's
//! blocking file work on tokio's blocking pool, in one trip.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;

use super::Store;
use super::bucket_config::ConfigKind;
use super::buckets::BucketInfo;
use super::capacity::{Capacity, DriveProbe};
use super::content::Content;
use super::error::{Error, Result};
use super::interface::*;
use super::list::{ListPage, ListQuery};
use super::meta::{NewObjectAttrs, ObjectMeta, StoredChecksum};
use super::multipart::{PartInfo, UploadChecksum, UploadInfo};
use super::objects::etag_of;
use super::sealing::plain_only;
use super::stats::Counters;
use super::versions::{DeleteOutcome, VersionPage};
use super::writer::{TempData, TempWriter};

impl Store {
    /// The bytes of a payload as a temporary file of this store (blocking).
    fn stage(&self, payload: Payload) -> Result<TempData> {
        match payload {
            Payload::Bytes { bytes, md5 } => Ok(self.stage_bytes(&bytes, md5)?),
            // The staged MD5 is the caller's (an encrypting layer's ETag MD5, say).
            Payload::Staged(staged) => {
                let md5 = staged.md5;
                let mut data = *staged
                    .handle
                    .downcast::<TempData>()
                    .map_err(|_| Error::internal("bytes staged by another store"))?;
                data.md5 = md5;
                Ok(data)
            }
        }
    }

    /// Deletes one object or version as the bucket's versioning asks (blocking).
    fn delete_one(&self, bucket: &str, d: &Deletion) -> Result<DeleteOutcome> {
        let (key, precondition, guard) =
            (d.key.as_str(), d.precondition.as_ref(), d.guard.as_ref());
        let (outcome, hidden) = match d.version_id.as_deref() {
            Some(v) => (
                self.delete_version(bucket, key, v, precondition, guard)?,
                false,
            ),
            None if self.versioning(bucket).is_some() => (
                self.delete_with_marker(bucket, key, precondition, guard)?,
                true,
            ),
            None => {
                let removed = self.delete_object(bucket, key, precondition, guard)?;
                (DeleteOutcome::default(), removed.is_some())
            }
        };
        // A delete by key is an event (the key is gone or hidden); a version's removal not.
        if hidden {
            self.notify(super::Change::ObjectDeleted {
                bucket: bucket.to_string(),
                key: key.to_string(),
                reason: d.reason,
            });
        }
        Ok(outcome)
    }
}

#[async_trait]
impl ObjectWriter for TempWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        TempWriter::write(self, chunk).await
    }
    async fn finish(self: Box<Self>) -> Result<Staged> {
        let data = TempWriter::finish(*self).await?;
        Ok(Staged {
            size: data.size,
            md5: data.md5,
            handle: Box::new(data),
        })
    }
}

fn owned(s: &str) -> String {
    s.to_string()
}

#[async_trait]
impl Storage for Store {
    async fn create_bucket_with(
        &self,
        bucket: &str,
        region: &str,
        configs: Vec<(ConfigKind, Vec<u8>)>,
        then: Then,
    ) -> Result<()> {
        let (b, r) = (owned(bucket), owned(region));
        self.blocking(move |s| s.create_bucket_with(&b, &r, &configs, then))
            .await
    }

    async fn bucket_exists(&self, bucket: &str) -> Result<()> {
        let b = owned(bucket);
        self.blocking(move |s| s.require_bucket(&b).map(|_| ()))
            .await
    }

    async fn bucket_info(&self, bucket: &str, default_region: &str) -> Result<BucketInfo> {
        let (b, r) = (owned(bucket), owned(default_region));
        self.blocking(move |s| s.bucket_info(&b, &r)).await
    }

    async fn list_buckets(&self, default_region: &str) -> Result<Vec<BucketInfo>> {
        let r = owned(default_region);
        self.blocking(move |s| s.list_buckets(&r)).await
    }

    async fn delete_bucket(&self, bucket: &str, then: Then) -> Result<()> {
        let b = owned(bucket);
        self.blocking(move |s| s.delete_bucket(&b, then)).await
    }

    async fn empty_bucket(&self, bucket: &str) -> Result<u64> {
        let b = owned(bucket);
        self.blocking(move |s| s.empty_bucket(&b)).await
    }

    async fn versioning(&self, bucket: &str) -> Result<Option<String>> {
        let b = owned(bucket);
        self.blocking(move |s| s.require_bucket(&b).map(|_| s.versioning(&b)))
            .await
    }

    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        let (b, st) = (owned(bucket), owned(status));
        self.blocking(move |s| s.set_versioning(&b, &st)).await
    }

    async fn bucket_config(&self, kind: ConfigKind, bucket: &str) -> Result<Option<Vec<u8>>> {
        let b = owned(bucket);
        self.blocking(move |s| s.get_bucket_config(kind, &b)).await
    }

    async fn set_bucket_config(
        &self,
        kind: ConfigKind,
        bucket: &str,
        document: Option<Vec<u8>>,
        then: Then,
    ) -> Result<()> {
        let b = owned(bucket);
        self.blocking(move |s| s.set_bucket_config(kind, &b, document.as_deref(), then))
            .await
    }

    async fn all_bucket_configs(&self, kind: ConfigKind) -> Result<Vec<(String, Vec<u8>)>> {
        self.blocking(move |s| Ok(s.all_bucket_configs(kind)?))
            .await
    }

    async fn shared_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        Ok(shared.get(name).cloned())
    }

    async fn set_shared_document(&self, name: &str, document: Option<Vec<u8>>) -> Result<()> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match document {
            Some(doc) => shared.insert(owned(name), doc),
            None => shared.remove(name),
        };
        Ok(())
    }

    fn writer(&self, filter: Option<Box<dyn ByteFilter>>) -> Box<dyn ObjectWriter> {
        Box::new(self.begin_write(filter))
    }

    async fn put_object(&self, put: PutObject) -> Result<ObjectMeta> {
        plain_only(put.seal.is_some())?;
        self.blocking(move |s| {
            let data = s.stage(put.payload)?;
            let etag = etag_of(&data.md5);
            s.put_object(
                &put.bucket,
                &put.key,
                data,
                put.attrs,
                Vec::new(),
                etag,
                put.precondition.as_ref(),
            )
        })
        .await
    }

    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectMeta> {
        let (b, k, v) = (owned(bucket), owned(key), version_id.map(owned));
        self.blocking(move |s| match v {
            Some(v) => s.open_version(&b, &k, &v).map(|(meta, _)| meta),
            None => s.head_object(&b, &k),
        })
        .await
    }

    async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        want_data: bool,
        customer: Option<&CustomerKey>,
    ) -> Result<Opened> {
        plain_only(customer.is_some())?;
        if version_id.is_none()
            && let Some((meta, content)) = self.open_object_cached(bucket, key, want_data)
        {
            return Ok(Opened {
                meta,
                content: Some(content),
            });
        }
        let (b, k, v) = (owned(bucket), owned(key), version_id.map(owned));
        self.blocking(move |s| {
            let (meta, file) = match v {
                Some(v) => s.open_version(&b, &k, &v)?,
                None => s
                    .open_object(&b, &k)
                    .map(|(meta, file)| (meta, Some(file)))?,
            };
            let content = file
                .map(|file| Content::load(file, meta.size, want_data))
                .transpose()?;
            Ok(Opened { meta, content })
        })
        .await
    }

    async fn latest_delete_marker(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        let (b, k) = (owned(bucket), owned(key));
        self.blocking(move |s| Ok(s.latest_delete_marker(&b, &k)))
            .await
    }

    async fn copy_object(&self, copy: CopyObject) -> Result<ObjectMeta> {
        plain_only(copy.seal.is_some() || copy.source_key.is_some())?;
        self.blocking(move |s| {
            s.copy_object(
                &copy.source.bucket,
                &copy.source.key,
                copy.source.version_id.as_deref(),
                &copy.bucket,
                &copy.key,
                copy.attrs,
                copy.tags,
                copy.acl,
                copy.lock,
                copy.check,
                copy.precondition.as_ref(),
            )
        })
        .await
    }

    async fn delete_object(&self, bucket: &str, deletion: Deletion) -> Result<DeleteOutcome> {
        let b = owned(bucket);
        self.blocking(move |s| s.delete_one(&b, &deletion)).await
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        objects: Vec<Deletion>,
    ) -> Result<Vec<Result<DeleteOutcome>>> {
        let b = owned(bucket);
        self.blocking(move |s| {
            // One folder sync per folder for the whole batch (fsync on), not one per key.
            let delete_all = || {
                objects
                    .iter()
                    .map(|d| s.delete_one(&b, d))
                    .collect::<Vec<_>>()
            };
            Ok(s.batch(delete_all)?)
        })
        .await
    }

    async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: MetaChange,
    ) -> Result<ObjectMeta> {
        let (b, k, v) = (owned(bucket), owned(key), version_id.map(owned));
        self.blocking(move |s| match v {
            Some(v) => s.update_version_meta(&b, &k, &v, change),
            None => s.update_meta(&b, &k, change),
        })
        .await
    }

    async fn list_objects(&self, bucket: &str, query: ListQuery) -> Result<ListPage> {
        let b = owned(bucket);
        self.blocking(move |s| s.list_objects(&b, &query)).await
    }

    async fn list_versions(&self, bucket: &str, q: VersionQuery) -> Result<VersionPage> {
        let b = owned(bucket);
        self.blocking(move |s| {
            s.list_versions(
                &b,
                &q.prefix,
                q.delimiter.as_deref(),
                q.key_marker.as_deref(),
                q.version_marker.as_deref(),
                q.max,
            )
        })
        .await
    }

    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: NewObjectAttrs,
        checksum: UploadChecksum,
        seal: Option<Seal>,
    ) -> Result<UploadInfo> {
        plain_only(seal.is_some())?;
        let (b, k) = (owned(bucket), owned(key));
        self.blocking(move |s| s.create_upload(&b, &k, attrs, checksum))
            .await
    }

    async fn upload_info(&self, upload: &UploadRef) -> Result<UploadInfo> {
        let u = upload.clone();
        self.blocking(move |s| s.upload_info(&u.bucket, &u.key, &u.upload_id))
            .await
    }

    async fn put_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        payload: Payload,
        checksum: Option<StoredChecksum>,
        key: Option<CustomerKey>,
    ) -> Result<PartInfo> {
        plain_only(key.is_some())?;
        let u = upload.clone();
        self.blocking(move |s| {
            let data = s.stage(payload)?;
            s.put_part(&u.bucket, &u.key, &u.upload_id, part_number, data, checksum)
        })
        .await
    }

    async fn copy_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        source: CopySource,
        check: CopyCheck<PartCopy>,
        keys: CopyKeys,
    ) -> Result<PartInfo> {
        plain_only(keys.source.is_some() || keys.part.is_some())?;
        let u = upload.clone();
        self.blocking(move |s| {
            s.upload_info(&u.bucket, &u.key, &u.upload_id)?;
            let (data, checksum) = s.copy_range_to_temp(
                &source.bucket,
                &source.key,
                source.version_id.as_deref(),
                check,
            )?;
            s.put_part(&u.bucket, &u.key, &u.upload_id, part_number, data, checksum)
        })
        .await
    }

    async fn list_parts(&self, upload: &UploadRef) -> Result<(UploadInfo, Vec<PartInfo>)> {
        let u = upload.clone();
        self.blocking(move |s| s.list_parts(&u.bucket, &u.key, &u.upload_id))
            .await
    }

    async fn complete_upload(&self, c: CompleteUpload) -> Result<ObjectMeta> {
        self.blocking(move |s| {
            let u = &c.upload;
            s.complete_upload(
                &u.bucket,
                &u.key,
                &u.upload_id,
                &c.parts,
                c.precondition.as_ref(),
                c.verify,
            )
        })
        .await
    }

    async fn abort_upload(&self, upload: &UploadRef) -> Result<()> {
        let u = upload.clone();
        self.blocking(move |s| s.abort_upload(&u.bucket, &u.key, &u.upload_id))
            .await
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        let b = owned(bucket);
        self.blocking(move |s| s.list_uploads(&b)).await
    }

    fn start_initial_scan(&self) {
        self.spawn_initial_scan();
    }

    fn scan_complete(&self) -> bool {
        self.stats.scan_complete()
    }

    fn counters(&self) -> BTreeMap<String, Counters> {
        self.stats.all()
    }

    async fn upload_totals(&self) -> Result<(u64, u64)> {
        self.blocking(|s| Ok(s.multipart_totals()?)).await
    }

    async fn capacity(&self) -> Result<Vec<Capacity>> {
        self.blocking(|s| Ok(vec![s.capacity()?])).await
    }

    async fn probe(&self) -> Result<Vec<DriveProbe>> {
        self.blocking(|s| Ok(vec![s.probe()])).await
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    async fn close(&self) -> Result<()> {
        self.blocking(|s| Ok(s.try_checkpoint()?)).await
    }
}
