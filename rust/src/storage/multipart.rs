//! Multipart uploads: `.uploads/<bucket>/<uploadId>/upload.json` describes the
//! upload, `part-<N>` holds each part's bytes and `part-<N>.json` its ETag and size.
//! One folder per bucket, so listing a bucket's uploads and deleting a bucket cost
//! what that bucket holds, not every upload on the server. Engines before it kept
//! all uploads in `.multipart/<uploadId>/`; `recover_uploads` moves them at start.
//! Completion concatenates the parts (kernel-side copies) into one temporary file and
//! publishes it through the ordinary commit, so a completed object is a plain file.

use crate::md5::Md5;
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::commit::Precondition;
use super::error::{Error, Result};
use super::interface::PartCopy;
use super::meta::{NewObjectAttrs, ObjectMeta, StoredChecksum};
use super::writer::TempData;
use super::{Change, LEGACY_MULTIPART_DIR, Store, UPLOADS_DIR};

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
    /// The checksum algorithm its parts use (x-amz-checksum-algorithm at creation), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT` (x-amz-checksum-type at creation), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

/// How an upload's object checksum is formed, as CreateMultipartUpload named it.
#[derive(Debug, Clone, Default)]
pub struct UploadChecksum {
    pub algorithm: Option<String>,
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

impl UploadInfo {
    /// A new upload of `key`, with a fresh id (32 hex digits), started now.
    pub fn new(bucket: &str, key: &str, attrs: NewObjectAttrs, checksum: UploadChecksum) -> Self {
        UploadInfo {
            bucket: bucket.to_string(),
            key: key.to_string(),
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            initiated: chrono::Utc::now().timestamp_millis(),
            attrs,
            checksum_algorithm: checksum.algorithm,
            checksum_type: checksum.checksum_type,
        }
    }
}

fn no_such_upload(upload_id: &str) -> Error {
    Error::NoSuchUpload {
        upload_id: upload_id.to_string(),
    }
}

/// Upload ids are ours (32 hex digits); anything else cannot name a folder of ours.
fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// The parts a completion names, checked against those uploaded: at least one, in
/// ascending order, each with its ETag, all but the last at least `MIN_PART_SIZE`.
pub fn choose_parts(parts: &[PartInfo], requested: &[(u32, String)]) -> Result<Vec<PartInfo>> {
    if requested.is_empty() {
        return Err(Error::NoParts);
    }
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(Error::PartOrder);
    }
    let mut chosen = Vec::with_capacity(requested.len());
    for (number, etag) in requested {
        let part = parts
            .iter()
            .find(|p| p.part_number == *number && strip_quotes(&p.etag) == strip_quotes(etag))
            .ok_or_else(|| Error::NoSuchPart {
                part_number: *number,
                etag: etag.clone(),
            })?;
        chosen.push(part.clone());
    }
    if let Some(small) = chosen[..chosen.len() - 1]
        .iter()
        .find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(Error::PartTooSmall {
            part_number: small.part_number,
            etag: small.etag.clone(),
            size: small.size,
            min: MIN_PART_SIZE,
        });
    }
    Ok(chosen)
}

/// A multipart object's ETag: the MD5 of its parts' MD5s, and their count.
pub fn multipart_etag(chosen: &[PartInfo]) -> Result<String> {
    let mut md5s = Md5::new();
    for part in chosen {
        md5s.update(hex::decode(strip_quotes(&part.etag)).map_err(Error::internal)?);
    }
    Ok(format!(
        "\"{}-{}\"",
        hex::encode(md5s.finalize()),
        chosen.len()
    ))
}

impl Store {
    /// The folder of a bucket's uploads (the bucket name is valid: no path tricks).
    fn bucket_uploads_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(UPLOADS_DIR).join(bucket)
    }

    fn upload_dir(&self, bucket: &str, upload_id: &str) -> PathBuf {
        self.bucket_uploads_dir(bucket).join(upload_id)
    }

    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: NewObjectAttrs,
        checksum: UploadChecksum,
    ) -> Result<UploadInfo> {
        let _open = self.enter_bucket(bucket)?;
        let info = UploadInfo::new(bucket, key, attrs, checksum);
        let dir = self.upload_dir(bucket, &info.upload_id);
        self.create_dirs(&self.root.join(UPLOADS_DIR), dir.parent().unwrap())?;
        std::fs::create_dir(&dir)?;
        self.sync_entries(dir.parent().unwrap())?;
        let json = serde_json::to_vec_pretty(&info).map_err(Error::internal)?;
        self.write_file_atomic(&dir.join("upload.json"), &json)?;
        Ok(info)
    }

    /// The upload, if it exists and belongs to `bucket/key`.
    pub fn upload_info(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        self.require_bucket(bucket)?;
        if !valid_upload_id(upload_id) {
            return Err(no_such_upload(upload_id));
        }
        let bytes =
            std::fs::read(self.upload_dir(bucket, upload_id).join("upload.json")).map_err(|e| {
                match e.kind() {
                    ErrorKind::NotFound => no_such_upload(upload_id),
                    _ => e.into(),
                }
            })?;
        let info: UploadInfo = serde_json::from_slice(&bytes).map_err(Error::internal)?;
        if info.bucket != bucket || info.key != key {
            return Err(no_such_upload(upload_id));
        }
        Ok(info)
    }

    /// Stores a finished part, replacing an earlier upload of the same part number.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        mut data: TempData,
        checksum: Option<StoredChecksum>,
    ) -> Result<PartInfo> {
        self.upload_info(bucket, key, upload_id)?;
        self.sync_uncarried(&data)?;
        let part = PartInfo {
            part_number,
            etag: super::objects::etag_of(&data.md5),
            size: data.size,
            last_modified: chrono::Utc::now().timestamp_millis(),
            checksum,
        };
        let dir = self.upload_dir(bucket, upload_id);
        let json = serde_json::to_vec(&part).map_err(Error::internal)?;
        let json_tmp = self.temp_path("partmeta");
        self.write_new_file(&json_tmp, &json)?;
        let _guard = self.upload_locks.write(bucket, upload_id);
        if !dir.is_dir() {
            let _ = std::fs::remove_file(&json_tmp);
            return Err(no_such_upload(upload_id));
        }
        // A part uploaded again replaces the earlier one's files (`trash.rs`).
        let part_path = dir.join(format!("part-{part_number}"));
        let part_json = part_path.with_extension("json");
        self.park_replaced(&part_path);
        self.park_replaced(&part_json);
        let moved = std::fs::rename(&data.path, &part_path)
            .and_then(|_| std::fs::rename(&json_tmp, &part_json));
        if let Err(e) = moved {
            let _ = std::fs::remove_file(&json_tmp);
            return Err(e.into());
        }
        data.mark_published();
        // An acknowledged part survives a power loss (fsync on).
        self.sync_entries(&dir)?;
        Ok(part)
    }

    /// Copies `len` bytes at `offset` of an object into a temporary file (UploadPartCopy).
    pub fn copy_range_to_temp(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        check: impl FnOnce(&ObjectMeta) -> Result<PartCopy>,
    ) -> Result<(TempData, Option<StoredChecksum>)> {
        let (meta, mut file) = match version {
            None => self.open_object(bucket, key)?,
            Some(v) => match self.open_version(bucket, key, v)? {
                (meta, Some(file)) => (meta, file),
                (_, None) => {
                    return Err(Error::CopyOfDeleteMarker);
                }
            },
        };
        let PartCopy {
            offset,
            len,
            mut digest,
        } = check(&meta)?;
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
                return Err(Error::no_such_key(key)); // shrank under us: cannot happen with renames
            }
            hasher.update(&buf[..n]);
            if let Some(d) = &mut digest {
                d.update(&buf[..n]);
            }
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        self.file_sync.sync(&out)?;
        data.size = len;
        data.md5 = hasher.finalize();
        Ok((data, digest.map(|d| d.finish())))
    }

    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(UploadInfo, Vec<PartInfo>)> {
        let info = self.upload_info(bucket, key, upload_id)?;
        let mut parts = Vec::new();
        let dir = self.upload_dir(bucket, upload_id);
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("part-") && name.ends_with(".json") {
                let bytes = std::fs::read(dir.join(&name))?;
                parts.push(serde_json::from_slice::<PartInfo>(&bytes).map_err(Error::internal)?);
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
        verify: impl FnOnce(&UploadInfo, &[PartInfo]) -> Result<Option<StoredChecksum>>,
    ) -> Result<ObjectMeta> {
        let _guard = self.upload_locks.write(bucket, upload_id);
        let (info, parts) = self.list_parts(bucket, key, upload_id)?;
        let chosen = choose_parts(&parts, requested)?;
        let object_checksum = verify(&info, &chosen)?;
        let dir = self.upload_dir(bucket, upload_id);
        let path = self.temp_path("data");
        let mut data = TempData::new(path.clone(), 0, [0; 16]);
        let mut out = std::fs::File::create(&path)?;
        for part in &chosen {
            let mut src = std::fs::File::open(dir.join(format!("part-{}", part.part_number)))?;
            std::io::copy(&mut src, &mut out)?; // copy_file_range on Linux: no user-space copy
            data.size += part.size;
        }
        self.file_sync.sync(&out)?;
        drop(out);
        let etag = multipart_etag(&chosen)?;
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

    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.upload_info(bucket, key, upload_id)?;
        let _guard = self.upload_locks.write(bucket, upload_id);
        let dir = self.upload_dir(bucket, upload_id);
        if !dir.is_dir() {
            return Err(no_such_upload(upload_id));
        }
        Ok(self.discard_tree(&dir)?)
    }

    /// Every upload in progress for `bucket`, sorted by key then initiation time.
    /// Reads that bucket's uploads only.
    pub fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        self.require_bucket(bucket)?;
        let mut uploads = Vec::new();
        let entries = match std::fs::read_dir(self.bucket_uploads_dir(bucket)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(uploads),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let path = entry?.path().join("upload.json");
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if let Ok(info) = serde_json::from_slice::<UploadInfo>(&bytes)
                && info.bucket == bucket
            {
                uploads.push(info);
            }
        }
        uploads.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(a.initiated.cmp(&b.initiated))
                .then(a.upload_id.cmp(&b.upload_id))
        });
        Ok(uploads)
    }

    /// The upload folders of all buckets.
    fn all_upload_dirs(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for bucket in std::fs::read_dir(self.root.join(UPLOADS_DIR))? {
            let bucket = bucket?;
            if bucket.file_type()?.is_dir() {
                for upload in std::fs::read_dir(bucket.path())? {
                    dirs.push(upload?.path());
                }
            }
        }
        Ok(dirs)
    }

    /// Uploads in progress in all buckets and the bytes of their parts so far.
    pub fn multipart_totals(&self) -> std::io::Result<(u64, u64)> {
        let (mut uploads, mut bytes) = (0, 0);
        for dir in self.all_upload_dirs()? {
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

    /// Removes every upload of a bucket (DeleteBucket, with the bucket closed).
    pub fn abort_uploads_of_bucket(&self, bucket: &str) -> Result<()> {
        Ok(self.discard_tree_later(&self.bucket_uploads_dir(bucket))?)
    }

    /// At start: moves uploads of the old layout (`.multipart/<uploadId>/`) into their
    /// bucket's folder, and removes upload folders without their upload.json (a crash
    /// while one was created or removed: nobody can list or abort them). Returns how
    /// many folders it removed. Each move is one rename, so a crash during the move
    /// leaves every upload in one of the two places, and the next start goes on.
    pub(super) fn recover_uploads(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        let legacy = self.root.join(LEGACY_MULTIPART_DIR);
        if legacy.is_dir() {
            let mut moved = 0;
            let mut kept = 0;
            for entry in std::fs::read_dir(&legacy)? {
                let path = entry?.path();
                if !path.is_dir() {
                    continue;
                }
                let info = match std::fs::read(path.join("upload.json")) {
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        std::fs::remove_dir_all(&path)?;
                        removed += 1;
                        continue;
                    }
                    read => read
                        .ok()
                        .and_then(|bytes| serde_json::from_slice::<UploadInfo>(&bytes).ok()),
                };
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                match info {
                    Some(info)
                        if super::buckets::valid_bucket_name(&info.bucket)
                            && info.upload_id == name
                            && valid_upload_id(name) =>
                    {
                        let target = self.upload_dir(&info.bucket, name);
                        self.create_dirs(&self.root.join(UPLOADS_DIR), target.parent().unwrap())?;
                        std::fs::rename(&path, &target)?;
                        self.sync_entries(target.parent().unwrap())?;
                        moved += 1;
                    }
                    // Unreadable: kept where it is, for a person to look at.
                    _ => kept += 1,
                }
            }
            self.sync_entries(&legacy)?;
            if kept == 0 {
                let _ = std::fs::remove_dir(&legacy);
            } else {
                crate::log::warn(&format!(
                    "{kept} upload folders in {} have no readable upload.json; left there",
                    legacy.display()
                ));
            }
            if moved > 0 {
                crate::log::info(&format!(
                    "moved {moved} multipart uploads to per-bucket folders in {UPLOADS_DIR}"
                ));
            }
        }
        for dir in self.all_upload_dirs()? {
            if dir.is_dir() && !dir.join("upload.json").is_file() {
                std::fs::remove_dir_all(&dir)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> PathBuf {
        std::env::temp_dir().join(format!(
            "smartstorage-multipart-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    fn keys(uploads: &[UploadInfo]) -> Vec<&str> {
        uploads.iter().map(|u| u.key.as_str()).collect()
    }

    /// Each bucket's uploads live in a folder of their own: listing reads only it,
    /// and DeleteBucket removes only it.
    #[test]
    fn uploads_are_kept_per_bucket() {
        let root = temp_root();
        let store = Store::open(&root, false, None).unwrap();
        for b in ["one", "two"] {
            store.create_bucket(b, "us-east-1").unwrap();
        }
        let a = store
            .create_upload("one", "a", Default::default(), Default::default())
            .unwrap();
        store
            .create_upload("one", "b", Default::default(), Default::default())
            .unwrap();
        store
            .create_upload("two", "c", Default::default(), Default::default())
            .unwrap();
        assert!(
            root.join(UPLOADS_DIR)
                .join("one")
                .join(&a.upload_id)
                .join("upload.json")
                .is_file()
        );
        assert_eq!(keys(&store.list_uploads("one").unwrap()), ["a", "b"]);
        assert_eq!(keys(&store.list_uploads("two").unwrap()), ["c"]);
        assert!(
            matches!(
                store.upload_info("two", "a", &a.upload_id),
                Err(Error::NoSuchUpload { .. })
            ),
            "an upload id is bound to its bucket"
        );
        store.delete_bucket("two", || {}).unwrap();
        assert!(!root.join(UPLOADS_DIR).join("two").exists());
        assert_eq!(keys(&store.list_uploads("one").unwrap()), ["a", "b"]);
        assert_eq!(store.multipart_totals().unwrap(), (2, 0));
        store.abort_upload("one", "a", &a.upload_id).unwrap();
        assert_eq!(keys(&store.list_uploads("one").unwrap()), ["b"]);
        let _ = std::fs::remove_dir_all(root);
    }

    /// Uploads of the old layout (`.multipart/<uploadId>/`, any bucket) move to their
    /// bucket's folder at start, parts included; a folder without upload.json (a
    /// crash's leftover) goes; one whose upload.json cannot be read stays where it is.
    #[test]
    fn uploads_of_the_old_layout_move_to_their_bucket_at_start() {
        let root = temp_root();
        let store = Store::open(&root, false, None).unwrap();
        for b in ["one", "two"] {
            store.create_bucket(b, "us-east-1").unwrap();
        }
        drop(store);
        let legacy = root.join(LEGACY_MULTIPART_DIR);
        let mut ids = Vec::new();
        for (bucket, key) in [("one", "x"), ("two", "y"), ("one", "z")] {
            let info = UploadInfo {
                bucket: bucket.into(),
                key: key.into(),
                upload_id: uuid::Uuid::new_v4().simple().to_string(),
                initiated: 1,
                attrs: Default::default(),
                checksum_algorithm: None,
                checksum_type: None,
            };
            let dir = legacy.join(&info.upload_id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("upload.json"), serde_json::to_vec(&info).unwrap()).unwrap();
            ids.push(info.upload_id);
        }
        let with_part = legacy.join(&ids[0]);
        std::fs::write(with_part.join("part-1"), b"part one").unwrap();
        let part = PartInfo {
            part_number: 1,
            etag: super::super::objects::etag_of(&Md5::digest(b"part one")),
            size: 8,
            last_modified: 1,
            checksum: None,
        };
        std::fs::write(
            with_part.join("part-1.json"),
            serde_json::to_vec(&part).unwrap(),
        )
        .unwrap();
        let orphan = legacy.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&orphan).unwrap();
        std::fs::write(orphan.join("part-1"), b"lost").unwrap();
        let unreadable = legacy.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&unreadable).unwrap();
        std::fs::write(unreadable.join("upload.json"), b"{not json").unwrap();

        let store = Store::open(&root, false, None).unwrap();
        assert_eq!(keys(&store.list_uploads("one").unwrap()), ["x", "z"]);
        assert_eq!(keys(&store.list_uploads("two").unwrap()), ["y"]);
        assert!(
            !orphan.exists(),
            "a folder without upload.json is a crash's leftover"
        );
        assert!(
            unreadable.join("upload.json").is_file(),
            "an unreadable upload is left for a person to look at"
        );
        assert!(!with_part.exists());
        let (_, parts) = store.list_parts("one", "x", &ids[0]).unwrap();
        assert_eq!(parts.len(), 1);
        let meta = store
            .complete_upload(
                "one",
                "x",
                &ids[0],
                &[(1, part.etag.clone())],
                None,
                |_, _| Ok(None),
            )
            .unwrap();
        assert_eq!(meta.size, 8);
        let (_, mut file) = store.open_object("one", "x").unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        assert_eq!(bytes, b"part one");
        // Once nothing is left in it, the old folder goes.
        std::fs::remove_dir_all(&unreadable).unwrap();
        drop(store);
        let store = Store::open(&root, false, None).unwrap();
        assert!(!legacy.exists());
        assert_eq!(keys(&store.list_uploads("one").unwrap()), ["z"]);
        let _ = std::fs::remove_dir_all(root);
    }
}
