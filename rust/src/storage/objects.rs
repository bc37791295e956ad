//! Object reads, writes and copies on top of the commit protocol.

use crate::md5::Md5;
use std::io::Read;

use super::commit::{Precondition, read_meta};
use super::error::{Error, Result};
use super::keypath;
use super::meta::{NewObjectAttrs, ObjectMeta, StoredChecksum};
use super::sealing::ByteFilter;
use super::writer::{TempData, TempWriter, temp_writer};
use super::{Change, Store, buckets, cached};

/// Quoted hex MD5, the ETag of a single-part object.
pub fn etag_of(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode(md5))
}

impl Store {
    /// Starts streaming a new object's body to a temporary file.
    pub fn begin_write(&self, filter: Option<Box<dyn ByteFilter>>) -> TempWriter {
        temp_writer(
            self.temp_path("data"),
            self.file_sync,
            filter,
            self.trash.clone(),
        )
    }

    /// Writes a body already in memory to a temporary file (on disk when `fsync` is on,
    /// unless the journal may carry it: then its commit makes it durable).
    pub fn stage_bytes(&self, bytes: &[u8], md5: [u8; 16]) -> std::io::Result<TempData> {
        let data = TempData::new(self.temp_path("data"), bytes.len() as u64, md5);
        match self.file_sync.journal_carries(data.size) {
            true => self.trash.with_room(|| std::fs::write(&data.path, bytes))?,
            false => self.write_new_file(&data.path, bytes)?,
        }
        Ok(data)
    }

    /// Publishes a finished upload as `bucket/key`.
    // The write's parts become one request type with the storage interface (issue 15).
    #[allow(clippy::too_many_arguments)]
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        data: TempData,
        attrs: NewObjectAttrs,
        parts: Vec<u64>,
        etag: String,
        precondition: Option<&Precondition>,
    ) -> Result<ObjectMeta> {
        let mut meta = ObjectMeta::new(bucket, key, data.size, etag, attrs, parts);
        if let Some((version_id, seq)) = self.version_for_write(bucket) {
            meta.version_id = Some(version_id);
            meta.seq = Some(seq);
        }
        let old = self.commit_object(bucket, key, data, &meta, precondition)?;
        self.notify(Change::ObjectCreated {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: meta.size,
            etag: meta.etag_value().to_string(),
            overwrite: old.is_some(),
        });
        Ok(meta)
    }

    pub fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta> {
        let bucket_dir = self.require_bucket(bucket)?;
        self.read_current_meta(&bucket_dir, bucket, key)
    }

    /// The metadata of the key's current object in a bucket known to exist.
    pub(super) fn read_current_meta(
        &self,
        bucket_dir: &std::path::Path,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectMeta> {
        let _guard = self.locks.read(bucket, key);
        self.current_meta(bucket_dir, bucket, key, read_meta)
            .map_err(|e| Error::key_io(key, e))
    }

    /// The key's current metadata, from the cache or else its file (read with `read`,
    /// then cached). Call under the key's read lock.
    fn current_meta(
        &self,
        bucket_dir: &std::path::Path,
        bucket: &str,
        key: &str,
        read: impl FnOnce(&std::path::Path) -> std::io::Result<ObjectMeta>,
    ) -> std::io::Result<ObjectMeta> {
        if let Some(meta) = self.meta_cache.get(bucket, key) {
            return Ok(meta);
        }
        let meta = read(&bucket_dir.join(keypath::meta_relative(key)))?;
        self.meta_cache.insert(bucket, key, &meta);
        Ok(meta)
    }

    /// Opens an object for reading: metadata and data of the same version.
    pub fn open_object(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, std::fs::File)> {
        let bucket_dir = self.require_bucket(bucket)?;
        let _guard = self.locks.read(bucket, key);
        let meta = self
            .current_meta(&bucket_dir, bucket, key, read_meta)
            .map_err(|e| Error::key_io(key, e))?;
        let file = std::fs::File::open(bucket_dir.join(keypath::data_relative(key)))
            .map_err(|e| Error::key_io(key, e))?;
        Ok((meta, file))
    }

    /// `open_object` with a small body (or none, for `want_data: false`) read whole,
    /// if the names, the bytes and the key's lock are all to be had without waiting
    /// (`cached`). `None` means "do `open_object` on the blocking pool", which also
    /// finds and reports whatever went wrong here.
    pub fn open_object_cached(
        &self,
        bucket: &str,
        key: &str,
        want_data: bool,
    ) -> Option<(ObjectMeta, super::content::Content)> {
        if !buckets::valid_bucket_name(bucket) {
            return None;
        }
        // No check of the bucket folder: without it, opening the metadata fails.
        let bucket_dir = self.bucket_dir(bucket);
        let _guard = self.locks.try_read(bucket, key)?;
        let read_cached = |path: &std::path::Path| {
            serde_json::from_slice(&cached::read(path, self.reads)?).map_err(std::io::Error::other)
        };
        let meta = self
            .current_meta(&bucket_dir, bucket, key, read_cached)
            .ok()?;
        let file = cached::open(&bucket_dir.join(keypath::data_relative(key))).ok()?;
        let content = super::content::Content::load_cached(file, meta.size, want_data, self.reads)?;
        Some((meta, content))
    }

    /// Copies an object. The data file is hard-linked (committed data files are never
    /// modified in place, so sharing the inode is safe), or copied if linking fails.
    /// `attrs` replaces the source's attributes (metadata directive REPLACE); `tags`
    /// replaces its tags (tagging directive REPLACE).
    #[allow(clippy::too_many_arguments)]
    pub fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        src_version: Option<&str>,
        dst_bucket: &str,
        dst_key: &str,
        attrs: Option<NewObjectAttrs>,
        tags: Option<std::collections::BTreeMap<String, String>>,
        acl: Option<super::meta::StoredAcl>,
        lock: super::meta::StoredLock,
        check: impl FnOnce(&ObjectMeta) -> Result<Option<StoredChecksum>>,
        precondition: Option<&Precondition>,
    ) -> Result<ObjectMeta> {
        self.require_bucket(dst_bucket)?;
        let src_dir = self.require_bucket(src_bucket)?;
        let tmp = self.temp_path("data");
        let (src_meta, linked, checksum) = {
            let _guard = self.locks.read(src_bucket, src_key);
            let (meta, src_data) = match src_version {
                Some(version) => {
                    let (meta, data) =
                        self.locate_version(&src_dir, src_bucket, src_key, version)?;
                    // A delete marker cannot be copied.
                    let data = data.ok_or(Error::CopyOfDeleteMarker)?;
                    (meta, data)
                }
                None => {
                    let meta = self
                        .current_meta(&src_dir, src_bucket, src_key, read_meta)
                        .map_err(|e| Error::key_io(src_key, e))?;
                    (meta, src_dir.join(keypath::data_relative(src_key)))
                }
            };
            let checksum = check(&meta)?;
            let linked = self.link_or_copy(&src_data, &tmp)?;
            (meta, linked, checksum)
        };
        let mut data = TempData::new(tmp.clone(), src_meta.size, [0; 16]);
        // A multipart source gets a plain MD5 ETag, as AWS gives copies.
        let etag = if src_meta.parts.is_empty() && !src_meta.etag.contains('-') {
            src_meta.etag.clone()
        } else {
            etag_of(&md5_file(&data.path)?)
        };
        data.md5 = [0; 16];
        let mut attrs = attrs.unwrap_or_else(|| src_meta.attrs());
        attrs.tags = tags.unwrap_or_else(|| src_meta.tags.clone());
        attrs.acl = acl;
        attrs.lock = lock;
        attrs.checksum = checksum;
        let mut copied = self.put_object(
            dst_bucket,
            dst_key,
            data,
            attrs,
            Vec::new(),
            etag,
            precondition,
        )?;
        if linked {
            // Renaming a hard link onto another link of the same file (a copy onto its
            // source) leaves both names: drop the temporary one.
            let _ = std::fs::remove_file(&tmp);
        }
        // Reported as x-amz-copy-source-version-id.
        copied.source_version_id = src_meta.version_id;
        Ok(copied)
    }
}

pub fn md5_file(path: &std::path::Path) -> std::io::Result<[u8; 16]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize())
}
