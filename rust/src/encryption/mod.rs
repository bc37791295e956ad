//! Encryption at rest: a layer over any store (the filesystem store, the cluster
//! store) that implements the same `Storage` trait. Bodies are sealed as they are
//! received (by the writer's own thread, after MD5 hashing: `package::Sealer` is its
//! byte filter), so no plaintext reaches a temporary file, a part or an object; reads
//! open only the packages a range needs.
//!
//! Below this layer an encrypted object's `size` and `parts` count stored bytes; above
//! it, plaintext bytes. Every `ObjectMeta` and `PartInfo` passing up is translated here.

pub mod keys;
pub mod package;
mod setup;
mod unseal;

pub use setup::key_ring;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::storage::interface::*;
use crate::storage::{Error, Result};
use keys::KeyRing;
use package::{DataKey, Sealer};

/// What a refused read of a copy's source says when the source is sealed: the copy is
/// then made by reading and writing the bytes here.
const SEALED_SOURCE: &str = "the copy source is encrypted";

/// A copy's check, shared between the copy below and the one made here.
type SharedCheck<T> = Arc<dyn Fn(&ObjectMeta) -> Result<T> + Send + Sync>;

pub struct EncryptedStore {
    inner: Arc<dyn Storage>,
    keys: Arc<KeyRing>,
}

impl EncryptedStore {
    pub fn new(inner: Arc<dyn Storage>, keys: KeyRing) -> Self {
        EncryptedStore {
            inner,
            keys: Arc::new(keys),
        }
    }

    /// The record and data key of an upload's parts (none for an upload not encrypted).
    async fn upload_key(
        &self,
        upload: &UploadRef,
        key: Option<&CustomerKey>,
    ) -> Result<Option<(Sealed, Arc<DataKey>)>> {
        let info = self.inner.upload_info(upload).await?;
        let Some(sealed) = info.attrs.encryption else {
            return match key {
                None => Ok(None),
                Some(_) => Err(Error::Sealing(Refusal::PartKeyUnexpected)),
            };
        };
        match self.keys.open(&sealed, key) {
            Ok(data_key) => Ok(Some((sealed, data_key))),
            Err(Refusal::KeyNeeded) => Err(Error::Sealing(Refusal::PartKeyNeeded)),
            Err(Refusal::WrongKey) => Err(Error::Sealing(Refusal::PartKeyMismatch)),
            Err(Refusal::NotSealedWithKey) => Err(Error::Sealing(Refusal::PartKeyUnexpected)),
            Err(other) => Err(Error::Sealing(other)),
        }
    }

    /// A copy that must read and write the bytes (its source or its destination is
    /// encrypted): the source version opened is the one checked and copied.
    async fn copy_through(
        &self,
        copy: CopyObject,
        check: SharedCheck<Option<StoredChecksum>>,
    ) -> Result<ObjectMeta> {
        let src = &copy.source;
        let opened = self
            .open_object(
                &src.bucket,
                &src.key,
                src.version_id.as_deref(),
                true,
                copy.source_key.as_ref(),
            )
            .await?;
        let Some(content) = opened.content else {
            return Err(Error::CopyOfDeleteMarker);
        };
        let source = opened.meta;
        let checksum = check(&source)?;
        let mut attrs = copy.attrs.unwrap_or_else(|| source.attrs());
        attrs.checksum = checksum;
        attrs.tags = copy.tags.unwrap_or_else(|| source.tags.clone());
        attrs.acl = copy.acl;
        attrs.lock = copy.lock;
        attrs.encryption = None;
        let mut writer = self.body_writer(BodyOf::Object(copy.seal.as_ref())).await?;
        let mut stream = content.stream(0, source.size);
        while let Some(chunk) = stream.next().await {
            writer.write(chunk?).await?;
        }
        let staged = writer.finish().await?;
        let mut meta = self
            .put_object(PutObject {
                bucket: copy.bucket,
                key: copy.key,
                payload: Payload::Staged(staged),
                attrs,
                precondition: copy.precondition,
                seal: copy.seal,
            })
            .await?;
        meta.source_version_id = source.version_id;
        Ok(meta)
    }
}

/// The MD5 the store below makes an object's (or part's) ETag of: the plaintext's for
/// the master key, as on AWS; for the other schemes AWS's ETag is no MD5 of the data,
/// and here it is one bound to the object's own wrapped key.
fn etag_md5(plain_md5: [u8; 16], sealed: Option<&Sealed>) -> [u8; 16] {
    match sealed {
        Some(s) if s.scheme != Scheme::Managed => {
            let mut h = crate::md5::Md5::new();
            h.update(plain_md5);
            h.update(s.data_key.as_bytes());
            h.finalize()
        }
        _ => plain_md5,
    }
}

/// Plaintext sizes in a sealed object's metadata (stored sizes below this layer).
fn plain_meta(mut meta: ObjectMeta) -> ObjectMeta {
    if meta.encryption.is_some() && !meta.delete_marker {
        if meta.parts.is_empty() {
            meta.size = package::plain_len(meta.size);
        } else {
            for part in meta.parts.iter_mut() {
                *part = package::plain_len(*part);
            }
            meta.size = meta.parts.iter().sum();
        }
    }
    meta
}

fn plain_part(mut part: PartInfo, sealed: bool) -> PartInfo {
    if sealed {
        part.size = package::plain_len(part.size);
    }
    part
}

/// Bytes staged through this layer: the store's own, and the record of their sealing.
struct Held {
    staged: Staged,
    sealed: Option<Sealed>,
}

/// Counts the plaintext passing to the store's writer (which seals it on its thread).
struct SealingWriter {
    inner: Box<dyn ObjectWriter>,
    sealed: Option<Sealed>,
    plain: u64,
}

#[async_trait]
impl ObjectWriter for SealingWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.plain += chunk.len() as u64;
        self.inner.write(chunk).await
    }

    async fn finish(self: Box<Self>) -> Result<Staged> {
        let staged = self.inner.finish().await?;
        Ok(Staged {
            size: self.plain,
            md5: staged.md5,
            handle: Box::new(Held {
                staged,
                sealed: self.sealed,
            }),
        })
    }
}

impl EncryptedStore {
    fn sealing_writer(&self, sealing: Option<(Sealed, Arc<DataKey>)>) -> Box<dyn ObjectWriter> {
        let (sealed, filter) = match sealing {
            Some((sealed, key)) => (
                Some(sealed),
                Some(Box::new(Sealer::new(key)) as Box<dyn ByteFilter>),
            ),
            None => (None, None),
        };
        Box::new(SealingWriter {
            inner: self.inner.writer(filter),
            sealed,
            plain: 0,
        })
    }

    /// The payload for the store below, sealed (a whole one here, a staged one as it
    /// was written), and its record.
    fn seal_payload(
        &self,
        payload: Payload,
        sealing: impl FnOnce() -> Result<Option<(Sealed, Arc<DataKey>)>>,
    ) -> Result<(Payload, Option<Sealed>)> {
        match payload {
            Payload::Bytes { bytes, md5 } => match sealing()? {
                None => Ok((Payload::Bytes { bytes, md5 }, None)),
                Some((sealed, key)) => {
                    let bytes = Bytes::from(Sealer::seal_all(key, &bytes));
                    let md5 = etag_md5(md5, Some(&sealed));
                    Ok((Payload::Bytes { bytes, md5 }, Some(sealed)))
                }
            },
            Payload::Staged(staged) => {
                let held = staged
                    .handle
                    .downcast::<Held>()
                    .map_err(|_| Error::internal("a body staged past the encrypting layer"))?;
                let mut inner = held.staged;
                inner.md5 = etag_md5(inner.md5, held.sealed.as_ref());
                Ok((Payload::Staged(inner), held.sealed))
            }
        }
    }

    fn new_sealing(&self, seal: Option<&Seal>) -> Result<Option<(Sealed, Arc<DataKey>)>> {
        seal.map(|s| self.keys.seal_new(s).map_err(Error::Sealing))
            .transpose()
    }
}

#[async_trait]
impl Storage for EncryptedStore {
    async fn create_bucket_with(
        &self,
        bucket: &str,
        region: &str,
        configs: Vec<(ConfigKind, Vec<u8>)>,
        then: Then,
    ) -> Result<()> {
        self.inner
            .create_bucket_with(bucket, region, configs, then)
            .await
    }
    async fn bucket_exists(&self, bucket: &str) -> Result<()> {
        self.inner.bucket_exists(bucket).await
    }
    async fn bucket_info(&self, bucket: &str, default_region: &str) -> Result<BucketInfo> {
        self.inner.bucket_info(bucket, default_region).await
    }
    async fn list_buckets(&self, default_region: &str) -> Result<Vec<BucketInfo>> {
        self.inner.list_buckets(default_region).await
    }
    async fn delete_bucket(&self, bucket: &str, then: Then) -> Result<()> {
        self.inner.delete_bucket(bucket, then).await
    }
    async fn empty_bucket(&self, bucket: &str) -> Result<u64> {
        self.inner.empty_bucket(bucket).await
    }
    async fn versioning(&self, bucket: &str) -> Result<Option<String>> {
        self.inner.versioning(bucket).await
    }
    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        self.inner.set_versioning(bucket, status).await
    }
    async fn bucket_config(&self, kind: ConfigKind, bucket: &str) -> Result<Option<Vec<u8>>> {
        self.inner.bucket_config(kind, bucket).await
    }
    async fn set_bucket_config(
        &self,
        kind: ConfigKind,
        bucket: &str,
        document: Option<Vec<u8>>,
        then: Then,
    ) -> Result<()> {
        self.inner
            .set_bucket_config(kind, bucket, document, then)
            .await
    }
    async fn all_bucket_configs(&self, kind: ConfigKind) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner.all_bucket_configs(kind).await
    }
    async fn shared_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.inner.shared_document(name).await
    }
    async fn set_shared_document(&self, name: &str, document: Option<Vec<u8>>) -> Result<()> {
        self.inner.set_shared_document(name, document).await
    }
    fn shared_generation(&self) -> u64 {
        self.inner.shared_generation()
    }

    /// A plain body (the bytes go below as given, or as `filter` turns them).
    fn writer(&self, filter: Option<Box<dyn ByteFilter>>) -> Box<dyn ObjectWriter> {
        Box::new(SealingWriter {
            inner: self.inner.writer(filter),
            sealed: None,
            plain: 0,
        })
    }

    async fn body_writer(&self, body: BodyOf<'_>) -> Result<Box<dyn ObjectWriter>> {
        let sealing = match body {
            BodyOf::Object(seal) => self.new_sealing(seal)?,
            BodyOf::Part(upload, key) => self.upload_key(upload, key).await?,
        };
        Ok(self.sealing_writer(sealing))
    }

    async fn put_object(&self, put: PutObject) -> Result<ObjectMeta> {
        let seal = put.seal.clone();
        let (payload, sealed) =
            self.seal_payload(put.payload, || self.new_sealing(seal.as_ref()))?;
        let mut attrs = put.attrs;
        attrs.encryption = sealed;
        let meta = self
            .inner
            .put_object(PutObject {
                payload,
                attrs,
                seal: None,
                ..put
            })
            .await?;
        Ok(plain_meta(meta))
    }

    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectMeta> {
        Ok(plain_meta(
            self.inner.head_object(bucket, key, version_id).await?,
        ))
    }

    async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        want_data: bool,
        customer: Option<&CustomerKey>,
    ) -> Result<Opened> {
        let opened = self
            .inner
            .open_object(bucket, key, version_id, want_data, None)
            .await?;
        let Some(sealed) = opened.meta.encryption.clone() else {
            if customer.is_some() && opened.content.is_some() {
                return Err(Error::Sealing(Refusal::NotSealedWithKey));
            }
            return Ok(opened);
        };
        let data_key = self.keys.open(&sealed, customer).map_err(Error::Sealing)?;
        let meta = plain_meta(opened.meta);
        let layout = if meta.parts.is_empty() {
            vec![meta.size]
        } else {
            meta.parts.clone()
        };
        let content = opened
            .content
            .map(|c| Content::from_source(Box::new(unseal::Unsealing::new(c, data_key, layout))));
        Ok(Opened { meta, content })
    }

    async fn latest_delete_marker(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.inner.latest_delete_marker(bucket, key).await
    }

    async fn copy_object(&self, mut copy: CopyObject) -> Result<ObjectMeta> {
        let check: SharedCheck<Option<StoredChecksum>> =
            Arc::from(std::mem::replace(&mut copy.check, Box::new(|_| Ok(None))));
        if copy.seal.is_some() || copy.source_key.is_some() {
            return self.copy_through(copy, check).await;
        }
        // Plain to plain: the store below copies (linking where it can), unless the
        // source turns out to be sealed.
        let plain_check = check.clone();
        let attempt = CopyObject {
            source: copy.source.clone(),
            bucket: copy.bucket.clone(),
            key: copy.key.clone(),
            attrs: copy.attrs.clone(),
            tags: copy.tags.clone(),
            acl: copy.acl.clone(),
            lock: copy.lock.clone(),
            check: Box::new(move |m: &ObjectMeta| {
                if m.encryption.is_some() {
                    return Err(Error::Unavailable(SEALED_SOURCE.into()));
                }
                plain_check(m)
            }),
            precondition: copy.precondition.clone(),
            seal: None,
            source_key: None,
        };
        match self.inner.copy_object(attempt).await {
            Err(Error::Unavailable(m)) if m == SEALED_SOURCE => {
                self.copy_through(copy, check).await
            }
            result => result,
        }
    }

    async fn delete_object(&self, bucket: &str, deletion: Deletion) -> Result<DeleteOutcome> {
        self.inner.delete_object(bucket, deletion).await
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        deletions: Vec<Deletion>,
    ) -> Result<Vec<Result<DeleteOutcome>>> {
        self.inner.delete_objects(bucket, deletions).await
    }

    async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: MetaChange,
    ) -> Result<ObjectMeta> {
        let meta = self
            .inner
            .update_object(bucket, key, version_id, change)
            .await?;
        Ok(plain_meta(meta))
    }

    async fn list_objects(&self, bucket: &str, query: ListQuery) -> Result<ListPage> {
        let mut page = self.inner.list_objects(bucket, query).await?;
        page.items = std::mem::take(&mut page.items)
            .into_iter()
            .map(|item| match item {
                Item::Object(meta) => Item::Object(plain_meta(meta)),
                prefix => prefix,
            })
            .collect();
        Ok(page)
    }

    async fn list_versions(&self, bucket: &str, query: VersionQuery) -> Result<VersionPage> {
        let mut page = self.inner.list_versions(bucket, query).await?;
        page.items = std::mem::take(&mut page.items)
            .into_iter()
            .map(|item| {
                item.map(|entry| VersionEntry {
                    meta: plain_meta(entry.meta),
                    ..entry
                })
            })
            .collect();
        Ok(page)
    }

    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        mut attrs: NewObjectAttrs,
        checksum: UploadChecksum,
        seal: Option<Seal>,
    ) -> Result<UploadInfo> {
        attrs.encryption = self.new_sealing(seal.as_ref())?.map(|(sealed, _)| sealed);
        self.inner
            .create_upload(bucket, key, attrs, checksum, None)
            .await
    }

    async fn upload_info(&self, upload: &UploadRef) -> Result<UploadInfo> {
        self.inner.upload_info(upload).await
    }

    async fn put_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        payload: Payload,
        checksum: Option<StoredChecksum>,
        key: Option<CustomerKey>,
    ) -> Result<PartInfo> {
        let sealing = self.upload_key(upload, key.as_ref()).await?;
        let is_sealed = sealing.is_some();
        let (payload, staged_sealing) = self.seal_payload(payload, || Ok(sealing))?;
        if staged_sealing.is_some() != is_sealed {
            return Err(Error::internal("a part staged for another upload"));
        }
        let part = self
            .inner
            .put_part(upload, part_number, payload, checksum, None)
            .await?;
        Ok(plain_part(part, is_sealed))
    }

    async fn copy_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        source: CopySource,
        check: CopyCheck<PartCopy>,
        keys: CopyKeys,
    ) -> Result<PartInfo> {
        let upload_key = self.upload_key(upload, keys.part.as_ref()).await?;
        let check: SharedCheck<PartCopy> = Arc::from(check);
        if upload_key.is_none() && keys.source.is_none() {
            let plain_check = check.clone();
            let attempt = self
                .inner
                .copy_part(
                    upload,
                    part_number,
                    source.clone(),
                    Box::new(move |m: &ObjectMeta| {
                        if m.encryption.is_some() {
                            return Err(Error::Unavailable(SEALED_SOURCE.into()));
                        }
                        plain_check(m)
                    }),
                    CopyKeys::default(),
                )
                .await;
            match attempt {
                Err(Error::Unavailable(m)) if m == SEALED_SOURCE => {}
                result => return result,
            }
        }
        let opened = self
            .open_object(
                &source.bucket,
                &source.key,
                source.version_id.as_deref(),
                true,
                keys.source.as_ref(),
            )
            .await?;
        let Some(content) = opened.content else {
            return Err(Error::CopyOfDeleteMarker);
        };
        let range = check(&opened.meta)?;
        let mut writer = self
            .body_writer(BodyOf::Part(upload, keys.part.as_ref()))
            .await?;
        let mut digest = range.digest;
        let mut stream = content.stream(range.offset, range.len);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if let Some(d) = digest.as_mut() {
                d.update(&chunk);
            }
            writer.write(chunk).await?;
        }
        let staged = writer.finish().await?;
        self.put_part(
            upload,
            part_number,
            Payload::Staged(staged),
            digest.map(|d| d.finish()),
            keys.part,
        )
        .await
    }

    async fn list_parts(&self, upload: &UploadRef) -> Result<(UploadInfo, Vec<PartInfo>)> {
        let (info, parts) = self.inner.list_parts(upload).await?;
        let sealed = info.attrs.encryption.is_some();
        let parts = parts.into_iter().map(|p| plain_part(p, sealed)).collect();
        Ok((info, parts))
    }

    async fn complete_upload(&self, complete: CompleteUpload) -> Result<ObjectMeta> {
        let verify = complete.verify;
        let complete = CompleteUpload {
            verify: Box::new(move |info: &UploadInfo, parts: &[PartInfo]| {
                if info.attrs.encryption.is_none() {
                    return verify(info, parts);
                }
                let parts: Vec<PartInfo> =
                    parts.iter().map(|p| plain_part(p.clone(), true)).collect();
                let all_but_last = parts.split_last().map_or(&[][..], |(_, init)| init);
                if let Some(small) = all_but_last.iter().find(|p| p.size < MIN_PART_SIZE) {
                    return Err(Error::PartTooSmall {
                        part_number: small.part_number,
                        etag: small.etag.clone(),
                        size: small.size,
                        min: MIN_PART_SIZE,
                    });
                }
                verify(info, &parts)
            }),
            ..complete
        };
        Ok(plain_meta(self.inner.complete_upload(complete).await?))
    }

    async fn abort_upload(&self, upload: &UploadRef) -> Result<()> {
        self.inner.abort_upload(upload).await
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        self.inner.list_uploads(bucket).await
    }

    fn start_initial_scan(&self) {
        self.inner.start_initial_scan()
    }
    fn scan_complete(&self) -> bool {
        self.inner.scan_complete()
    }
    fn counters(&self) -> BTreeMap<String, Counters> {
        self.inner.counters()
    }
    async fn upload_totals(&self) -> Result<(u64, u64)> {
        self.inner.upload_totals().await
    }
    async fn capacity(&self) -> Result<Vec<Capacity>> {
        self.inner.capacity().await
    }
    async fn probe(&self) -> Result<Vec<DriveProbe>> {
        self.inner.probe().await
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
    fn runs_background_work(&self) -> bool {
        self.inner.runs_background_work()
    }
}
