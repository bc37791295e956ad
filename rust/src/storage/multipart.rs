//! Multipart uploads: `.multipart/<uploadId>/upload.json` describes the upload,
//! `part-<N>` holds each part's bytes and `part-<N>.json` its ETag and size.
//! Completion concatenates the parts (kernel-side copies) into one temporary file and
//! publishes it through the ordinary commit, so a completed object is a plain file.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::commit::Precondition;
use super::meta::{NewObjectAttrs, ObjectMeta, StoredChecksum};
use super::objects::no_such_key;
use super::writer::TempData;
use super::{Change, Store, MULTIPART_DIR};
use crate::s3::error::{S3Code, S3Error, S3Result};

pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PART_NUMBER: u32 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadInfo {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// Milliseconds since the Unix epoch.
    pub initiated: i64,
    pub attrs: NewObjectAttrs,
    /// `COMPOSITE` or `FULL_OBJECT` (x-amz-checksum-type at creation), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartInfo {
    pub part_number: u32,
    /// Quoted hex MD5.
    pub etag: String,
    pub size: u64,
    pub last_modified: i64,
    /// The part's flexible checksum, when the client sent or asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
}

fn no_such_upload(upload_id: &str) -> S3Error {
    S3Error::new(S3Code::NoSuchUpload).detail("UploadId", upload_id)
}

/// Upload ids are ours (32 hex digits); anything else cannot name a folder of ours.
fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

impl Store {
    fn upload_dir(&self, upload_id: &str) -> PathBuf {
        self.root.join(MULTIPART_DIR).join(upload_id)
    }

    pub fn create_upload(&self, bucket: &str, key: &str, attrs: NewObjectAttrs, checksum_type: Option<String>) -> S3Result<UploadInfo> {
        let _open = self.enter_bucket(bucket)?;
        let info = UploadInfo {
            bucket: bucket.to_string(),
            key: key.to_string(),
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            initiated: chrono::Utc::now().timestamp_millis(),
            attrs,
            checksum_type,
        };
        let dir = self.upload_dir(&info.upload_id);
        std::fs::create_dir(&dir)?;
        let json = serde_json::to_vec_pretty(&info).map_err(S3Error::internal)?;
        self.write_file_atomic(&dir.join("upload.json"), &json)?;
        Ok(info)
    }

    /// The upload, if it exists and belongs to `bucket/key`.
    pub fn upload_info(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadInfo> {
        self.require_bucket(bucket)?;
        if !valid_upload_id(upload_id) {
            return Err(no_such_upload(upload_id));
        }
        let bytes = std::fs::read(self.upload_dir(upload_id).join("upload.json")).map_err(|e| match e.kind() {
            ErrorKind::NotFound => no_such_upload(upload_id),
            _ => e.into(),
        })?;
        let info: UploadInfo = serde_json::from_slice(&bytes).map_err(S3Error::internal)?;
        if info.bucket != bucket || info.key != key {
            return Err(no_such_upload(upload_id));
        }
        Ok(info)
    }

    /// Stores a finished part, replacing an earlier upload of the same part number.
    pub fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part_number: u32, mut data: TempData, checksum: Option<StoredChecksum>) -> S3Result<PartInfo> {
        self.upload_info(bucket, key, upload_id)?;
        let part = PartInfo {
            part_number,
            etag: super::objects::etag_of(&data.md5),
            size: data.size,
            last_modified: chrono::Utc::now().timestamp_millis(),
            checksum,
        };
        let dir = self.upload_dir(upload_id);
        let json = serde_json::to_vec(&part).map_err(S3Error::internal)?;
        let json_tmp = self.temp_path("partmeta");
        std::fs::write(&json_tmp, json)?;
        let _guard = self.upload_locks.write(bucket, upload_id);
        if !dir.is_dir() {
            let _ = std::fs::remove_file(&json_tmp);
            return Err(no_such_upload(upload_id));
        }
        let moved = std::fs::rename(&data.path, dir.join(format!("part-{part_number}")))
            .and_then(|_| std::fs::rename(&json_tmp, dir.join(format!("part-{part_number}.json"))));
        if let Err(e) = moved {
            let _ = std::fs::remove_file(&json_tmp);
            return Err(e.into());
        }
        data.mark_published();
        Ok(part)
    }

    /// Copies `len` bytes at `offset` of an object into a temporary file (UploadPartCopy).
    pub fn copy_range_to_temp(&self, bucket: &str, key: &str, version: Option<&str>, check: impl FnOnce(&ObjectMeta) -> S3Result<(u64, u64)>) -> S3Result<TempData> {
        let (meta, mut file) = match version {
            None => self.open_object(bucket, key)?,
            Some(v) => match self.open_version(bucket, key, v)? {
                (meta, Some(file)) => (meta, file),
                (_, None) => return Err(S3Error::msg(S3Code::InvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")),
            },
        };
        let (offset, len) = check(&meta)?;
        file.seek(SeekFrom::Start(offset))?;
        let path = self.temp_path("data");
        let mut out = std::fs::File::create(&path)?;
        let mut data = TempData::new(path, 0, [0; 16]);
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1024 * 1024];
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(no_such_key(key)); // shrank under us: cannot happen with renames
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        if self.fsync {
            out.sync_data()?;
        }
        data.size = len;
        data.md5 = hasher.finalize().into();
        Ok(data)
    }

    pub fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<(UploadInfo, Vec<PartInfo>)> {
        let info = self.upload_info(bucket, key, upload_id)?;
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(self.upload_dir(upload_id))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("part-") && name.ends_with(".json") {
                let bytes = std::fs::read(self.upload_dir(upload_id).join(&name))?;
                parts.push(serde_json::from_slice::<PartInfo>(&bytes).map_err(S3Error::internal)?);
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok((info, parts))
    }

    /// Validates the client's part list, concatenates the parts and publishes the object.
    /// `verify` sees the chosen parts (checksums) and may refuse or name the object's checksum.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: &[(u32, String)],
        precondition: Option<&Precondition>,
        verify: impl FnOnce(&UploadInfo, &[PartInfo]) -> S3Result<Option<StoredChecksum>>,
    ) -> S3Result<ObjectMeta> {
        let _guard = self.upload_locks.write(bucket, upload_id);
        let (info, parts) = self.list_parts(bucket, key, upload_id)?;
        if requested.is_empty() {
            return Err(S3Error::msg(S3Code::MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema."));
        }
        if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(S3Error::new(S3Code::InvalidPartOrder));
        }
        let mut chosen = Vec::with_capacity(requested.len());
        for (number, etag) in requested {
            let part = parts
                .iter()
                .find(|p| p.part_number == *number && strip_quotes(&p.etag) == strip_quotes(etag))
                .ok_or_else(|| S3Error::new(S3Code::InvalidPart).detail("PartNumber", number.to_string()).detail("ETag", etag.clone()))?;
            chosen.push(part.clone());
        }
        if let Some(small) = chosen[..chosen.len() - 1].iter().find(|p| p.size < MIN_PART_SIZE) {
            return Err(S3Error::new(S3Code::EntityTooSmall)
                .detail("ProposedSize", small.size.to_string())
                .detail("MinSizeAllowed", MIN_PART_SIZE.to_string())
                .detail("PartNumber", small.part_number.to_string())
                .detail("ETag", small.etag.clone()));
        }
        let object_checksum = verify(&info, &chosen)?;
        let dir = self.upload_dir(upload_id);
        let path = self.temp_path("data");
        let mut data = TempData::new(path.clone(), 0, [0; 16]);
        let mut out = std::fs::File::create(&path)?;
        let mut md5s = Md5::new();
        for part in &chosen {
            let mut src = std::fs::File::open(dir.join(format!("part-{}", part.part_number)))?;
            std::io::copy(&mut src, &mut out)?; // copy_file_range on Linux: no user-space copy
            md5s.update(hex::decode(strip_quotes(&part.etag)).map_err(S3Error::internal)?);
            data.size += part.size;
        }
        if self.fsync {
            out.sync_data()?;
        }
        drop(out);
        let etag = format!("\"{}-{}\"", hex::encode(md5s.finalize()), chosen.len());
        let sizes = chosen.iter().map(|p| p.size).collect();
        let mut attrs = info.attrs.clone();
        attrs.checksum = object_checksum;
        let meta = self.put_object(bucket, key, data, attrs, sizes, etag, precondition)?;
        self.discard_tree(&dir)?;
        self.notify(Change::MultipartCompleted {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: meta.size,
            etag: meta.etag_value().to_string(),
            upload_id: upload_id.to_string(),
        });
        Ok(meta)
    }

    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<()> {
        self.upload_info(bucket, key, upload_id)?;
        let _guard = self.upload_locks.write(bucket, upload_id);
        if !self.upload_dir(upload_id).is_dir() {
            return Err(no_such_upload(upload_id));
        }
        Ok(self.discard_tree(&self.upload_dir(upload_id))?)
    }

    /// Every upload in progress for `bucket`, sorted by key then initiation time.
    pub fn list_uploads(&self, bucket: &str) -> S3Result<Vec<UploadInfo>> {
        self.require_bucket(bucket)?;
        let mut uploads = Vec::new();
        for entry in std::fs::read_dir(self.root.join(MULTIPART_DIR))? {
            let path = entry?.path().join("upload.json");
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if let Ok(info) = serde_json::from_slice::<UploadInfo>(&bytes) {
                if info.bucket == bucket {
                    uploads.push(info);
                }
            }
        }
        uploads.sort_by(|a, b| a.key.cmp(&b.key).then(a.initiated.cmp(&b.initiated)).then(a.upload_id.cmp(&b.upload_id)));
        Ok(uploads)
    }

    /// Uploads in progress in all buckets and the bytes of their parts so far.
    pub fn multipart_totals(&self) -> std::io::Result<(u64, u64)> {
        let (mut uploads, mut bytes) = (0, 0);
        for entry in std::fs::read_dir(self.root.join(MULTIPART_DIR))? {
            let dir = entry?.path();
            if !dir.join("upload.json").is_file() {
                continue;
            }
            uploads += 1;
            for part in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = part.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("part-") && !name.ends_with(".json") {
                    bytes += part.metadata().map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        Ok((uploads, bytes))
    }

    pub fn abort_uploads_of_bucket(&self, bucket: &str) -> S3Result<()> {
        for upload in self.list_uploads(bucket)? {
            self.discard_tree(&self.upload_dir(&upload.upload_id))?;
        }
        Ok(())
    }
}

