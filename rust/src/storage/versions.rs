//! Object versions. The latest version of a key stays where an unversioned object
//! lives (`<bucket>/<key>._storage_object`), so reads of the latest version cost the
//! same as without versioning. Older versions and delete markers live in
//! `.versions/<bucket>/<key>._storage_object/<versionId>.data|.json`: a folder named
//! like the key's object file, which no key-derived folder can be (see `keypath.rs`).
//!
//! A key whose latest version is a delete marker has no object file; its newest
//! entry in the versions folder is the marker. Archiving hard-links the current data
//! file, so it moves no bytes, and happens under the key's write lock.

use std::io::ErrorKind;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::commit::read_meta;
use super::keypath::{self, DATA_SUFFIX};
use super::meta::ObjectMeta;
use super::{Store, VERSIONS_DIR};
use crate::s3::error::{S3Code, S3Error, S3Result};

pub const NULL_VERSION: &str = "null";

/// A new time-ordered id: 16 hex digits of nanoseconds, 8 random.
pub fn new_version_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:016x}{}", nanos as u64, &uuid::Uuid::new_v4().simple().to_string()[..8])
}

pub fn valid_version_id(id: &str) -> bool {
    id == NULL_VERSION || (id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn invalid_version_id(id: &str) -> S3Error {
    S3Error::invalid_argument("Invalid version id specified", "versionId", id)
}

fn no_such_version(key: &str, id: &str) -> S3Error {
    S3Error::new(S3Code::NoSuchVersion).detail("Key", key).detail("VersionId", id)
}

/// The namespace under which the versions folder's counters are kept.
pub fn versions_stats_ns(bucket: &str) -> String {
    format!("{bucket}\0versions")
}

/// What a delete did.
#[derive(Debug, Clone, Default)]
pub struct DeleteOutcome {
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

/// One entry of ListObjectVersions.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub meta: ObjectMeta,
    pub is_latest: bool,
}

#[derive(Debug, Default)]
pub struct VersionPage {
    /// Versions, delete markers and (as `Err`) common prefixes, in listing order.
    pub items: Vec<Result<VersionEntry, String>>,
    pub truncated: bool,
}

fn version_name(meta: &ObjectMeta) -> &str {
    meta.version_id.as_deref().unwrap_or(NULL_VERSION)
}

impl Store {
    pub fn versions_root(&self, bucket: &str) -> PathBuf {
        self.root.join(VERSIONS_DIR).join(bucket)
    }

    fn versions_dir(&self, bucket: &str, key: &str) -> PathBuf {
        let mut rel = keypath::key_to_relative(key).into_os_string();
        rel.push(DATA_SUFFIX);
        self.versions_root(bucket).join(rel)
    }

    /// The version id and order for a new write, by the bucket's versioning state.
    pub fn version_for_write(&self, bucket: &str) -> Option<(String, String)> {
        let seq = new_version_id();
        match self.versioning(bucket).as_deref() {
            Some("Enabled") => Some((seq.clone(), seq)),
            Some(_) => Some((NULL_VERSION.to_string(), seq)),
            None => None,
        }
    }

    /// The non-current versions and delete markers of a key, newest first.
    fn stored_versions(&self, bucket: &str, key: &str) -> std::io::Result<Vec<ObjectMeta>> {
        let dir = self.versions_dir(bucket, key);
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                if let Ok(meta) = read_meta(&path) {
                    out.push(meta);
                }
            }
        }
        // A crash between archiving and committing can leave a stored copy of the
        // current version: the current one is authoritative.
        if let Ok(current) = read_meta(&self.bucket_dir(bucket).join(keypath::meta_relative(key))) {
            out.retain(|m| version_name(m) != version_name(&current));
        }
        out.sort_by(|a, b| b.seq.cmp(&a.seq));
        Ok(out)
    }

    fn write_version_meta(&self, bucket: &str, dir: &Path, meta: &ObjectMeta) -> std::io::Result<()> {
        self.create_dirs(&self.versions_root(bucket), dir)?;
        let json = serde_json::to_vec_pretty(meta).map_err(std::io::Error::other)?;
        self.write_file_atomic(&dir.join(format!("{}.json", version_name(meta))), &json)
    }

    /// Keeps the current version `meta` (data at `data_path`) as a non-current one.
    /// Call with the key's write lock held.
    pub(super) fn archive_current(&self, bucket: &str, key: &str, meta: &ObjectMeta, data_path: &Path) -> std::io::Result<()> {
        let dir = self.versions_dir(bucket, key);
        self.create_dirs(&self.versions_root(bucket), &dir)?;
        let target = dir.join(format!("{}.data", version_name(meta)));
        let _ = std::fs::remove_file(&target);
        if std::fs::hard_link(data_path, &target).is_err() {
            std::fs::copy(data_path, &target)?;
        }
        self.write_version_meta(bucket, &dir, meta)?;
        self.stats.change(&versions_stats_ns(bucket), key, None, Some(meta.size), || self.stored_version_counters(bucket, key));
        self.stats.replace(bucket, key, Some(meta.size), None);
        Ok(())
    }

    /// Counts the stored non-current versions of a key (delete markers hold no bytes and are not objects).
    pub fn stored_version_counters(&self, bucket: &str, key: &str) -> super::stats::Counters {
        let versions = self.stored_versions(bucket, key).unwrap_or_default();
        let objects: Vec<&ObjectMeta> = versions.iter().filter(|m| !m.delete_marker).collect();
        super::stats::Counters { objects: objects.len() as u64, bytes: objects.iter().map(|m| m.size).sum() }
    }

    /// Removes a non-current version's files. Call with the key's write lock held.
    fn remove_stored_version(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> std::io::Result<()> {
        let dir = self.versions_dir(bucket, key);
        let name = version_name(meta);
        for file in [format!("{name}.json"), format!("{name}.data")] {
            match std::fs::remove_file(dir.join(file)) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.sync_entries(&dir)?;
        if !meta.delete_marker {
            self.stats.change(&versions_stats_ns(bucket), key, Some(meta.size), None, || self.stored_version_counters(bucket, key));
        }
        // Drop the key's folder (and emptied parents) once it holds nothing.
        let root = self.versions_root(bucket);
        let mut d = Some(dir.as_path());
        while let Some(p) = d {
            if p == root || std::fs::remove_dir(p).is_err() {
                break;
            }
            d = p.parent();
        }
        Ok(())
    }

    /// Before a new version `new_id` replaces the current object `old`: archives `old`
    /// unless it is the same version (null over null, or a replayed commit).
    /// Returns whether `old` was archived. Call with the key's write lock held.
    pub(super) fn archive_replaced(&self, bucket: &str, key: &str, new_id: &str, old: Option<&ObjectMeta>, data_path: &Path) -> std::io::Result<bool> {
        match old {
            Some(old) if version_name(old) != new_id => {
                if let Err(e) = self.archive_current(bucket, key, old, data_path) {
                    let _ = self.unarchive(bucket, key, old);
                    return Err(e);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Undoes `archive_replaced` when the write it made room for failed.
    pub(super) fn unarchive(&self, bucket: &str, key: &str, old: &ObjectMeta) -> std::io::Result<()> {
        self.remove_stored_version(bucket, key, old)?;
        self.stats.replace(bucket, key, None, Some(old.size));
        Ok(())
    }

    /// After a new null version is published: the non-current null version it replaces goes.
    pub(super) fn drop_replaced_null(&self, bucket: &str, key: &str, new_id: &str) -> std::io::Result<()> {
        if new_id == NULL_VERSION {
            if let Some(null) = self.stored_versions(bucket, key)?.into_iter().find(|m| version_name(m) == NULL_VERSION) {
                self.remove_stored_version(bucket, key, &null)?;
            }
        }
        Ok(())
    }

    /// If the key has no current object and its newest stored version is an object
    /// (not a delete marker), makes that version current again.
    fn promote_newest(&self, bucket: &str, key: &str, bucket_dir: &Path) -> std::io::Result<()> {
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        if meta_path.exists() {
            return Ok(());
        }
        let Some(newest) = self.stored_versions(bucket, key)?.into_iter().next() else { return Ok(()) };
        if newest.delete_marker {
            return Ok(());
        }
        let dir = self.versions_dir(bucket, key);
        self.create_parents(bucket_dir, &data_path)?;
        let name = version_name(&newest).to_string();
        std::fs::hard_link(dir.join(format!("{name}.data")), &data_path).or_else(|_| std::fs::copy(dir.join(format!("{name}.data")), &data_path).map(|_| ()))?;
        let json = serde_json::to_vec_pretty(&newest).map_err(std::io::Error::other)?;
        // The metadata's atomic write syncs this folder, the data link included.
        self.write_file_atomic(&meta_path, &json)?;
        self.dirs.touch(data_path.parent().unwrap());
        self.remove_stored_version(bucket, key, &newest)?;
        self.stats.replace(bucket, key, None, Some(newest.size));
        Ok(())
    }

    /// DELETE without a version id in a versioned bucket: the current object becomes
    /// non-current (or is dropped, if it is the null version and versioning is
    /// suspended) and a delete marker becomes the latest version.
    pub fn delete_with_marker(&self, bucket: &str, key: &str) -> S3Result<DeleteOutcome> {
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let (marker_id, seq) = self.version_for_write(bucket).unwrap_or_else(|| (NULL_VERSION.into(), new_version_id()));
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        {
            let _guard = self.locks.write(bucket, key);
            let old = read_meta(&meta_path).ok();
            let archived = self.archive_replaced(bucket, key, &marker_id, old.as_ref(), &data_path)?;
            self.drop_replaced_null(bucket, key, &marker_id)?;
            for path in [&meta_path, &data_path] {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            self.names_changed(data_path.parent().unwrap())?;
            if let (Some(old), false) = (&old, archived) {
                self.stats.replace(bucket, key, Some(old.size), None);
            }
            let mut marker = ObjectMeta::new(bucket, key, 0, String::new(), Default::default(), Vec::new());
            marker.version_id = Some(marker_id.clone());
            marker.seq = Some(seq);
            marker.delete_marker = true;
            self.write_version_meta(bucket, &self.versions_dir(bucket, key), &marker)?;
        }
        self.remove_empty_parents(&bucket_dir, &data_path);
        self.notify(super::Change::ObjectDeleted { bucket: bucket.to_string(), key: key.to_string() });
        Ok(DeleteOutcome { version_id: Some(marker_id), delete_marker: true })
    }

    /// DELETE of one version: removes it for good; if it was the latest, the next
    /// newest version becomes the latest.
    pub fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> S3Result<DeleteOutcome> {
        if !valid_version_id(version_id) {
            return Err(invalid_version_id(version_id));
        }
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        let mut outcome = DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker: false };
        {
            let _guard = self.locks.write(bucket, key);
            match read_meta(&meta_path).ok() {
                Some(current) if version_name(&current) == version_id => {
                    std::fs::remove_file(&meta_path)?;
                    let _ = std::fs::remove_file(&data_path);
                    self.names_changed(data_path.parent().unwrap())?;
                    self.stats.replace(bucket, key, Some(current.size), None);
                }
                _ => {
                    if let Some(stored) = self.stored_versions(bucket, key)?.into_iter().find(|m| version_name(m) == version_id) {
                        outcome.delete_marker = stored.delete_marker;
                        self.remove_stored_version(bucket, key, &stored)?;
                    }
                }
            }
            self.promote_newest(bucket, key, &bucket_dir)?;
        }
        self.remove_empty_parents(&bucket_dir, &data_path);
        Ok(outcome)
    }

    /// Where a version is: its metadata and data file (None for a delete marker).
    /// Call with the key's lock held.
    pub(super) fn locate_version(&self, bucket_dir: &Path, bucket: &str, key: &str, version_id: &str) -> S3Result<(ObjectMeta, Option<PathBuf>)> {
        if !valid_version_id(version_id) {
            return Err(invalid_version_id(version_id));
        }
        if let Ok(current) = read_meta(&bucket_dir.join(keypath::meta_relative(key))) {
            if version_name(&current) == version_id {
                return Ok((current, Some(bucket_dir.join(keypath::data_relative(key)))));
            }
        }
        let dir = self.versions_dir(bucket, key);
        let meta = read_meta(&dir.join(format!("{version_id}.json"))).map_err(|_| no_such_version(key, version_id))?;
        let data = (!meta.delete_marker).then(|| dir.join(format!("{version_id}.data")));
        Ok((meta, data))
    }

    /// Changes the metadata of one version (its tags, say), current or not.
    pub fn update_version_meta(&self, bucket: &str, key: &str, version_id: &str, change: impl FnOnce(&mut ObjectMeta)) -> S3Result<ObjectMeta> {
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let _guard = self.locks.write(bucket, key);
        let (mut meta, data) = self.locate_version(&bucket_dir, bucket, key, version_id)?;
        if meta.delete_marker || data.is_none() {
            return Err(S3Error::new(S3Code::MethodNotAllowed).detail("ResourceType", "DeleteMarker"));
        }
        change(&mut meta);
        let json = serde_json::to_vec_pretty(&meta).map_err(S3Error::internal)?;
        let current = read_meta(&bucket_dir.join(keypath::meta_relative(key))).ok();
        let path = match current {
            Some(c) if version_name(&c) == version_id => bucket_dir.join(keypath::meta_relative(key)),
            _ => self.versions_dir(bucket, key).join(format!("{version_id}.json")),
        };
        self.write_file_atomic(&path, &json)?;
        Ok(meta)
    }

    /// A specific version's metadata and data (None for a delete marker).
    pub fn open_version(&self, bucket: &str, key: &str, version_id: &str) -> S3Result<(ObjectMeta, Option<std::fs::File>)> {
        let bucket_dir = self.require_bucket(bucket)?;
        let _guard = self.locks.read(bucket, key);
        let (meta, data) = self.locate_version(&bucket_dir, bucket, key, version_id)?;
        let file = data.map(std::fs::File::open).transpose().map_err(|_| no_such_version(key, version_id))?;
        Ok((meta, file))
    }

    /// The delete marker that is the latest version of a key, if it is one.
    pub fn latest_delete_marker(&self, bucket: &str, key: &str) -> Option<ObjectMeta> {
        let _guard = self.locks.read(bucket, key);
        self.stored_versions(bucket, key).ok()?.into_iter().next().filter(|m| m.delete_marker)
    }

    /// ListObjectVersions: every version of every key under `prefix`, keys in order,
    /// versions newest first, starting after (`key_marker`, `version_marker`).
    pub fn list_versions(&self, bucket: &str, prefix: &str, delimiter: Option<&str>, key_marker: Option<&str>, version_marker: Option<&str>, max: usize) -> S3Result<VersionPage> {
        let bucket_dir = self.require_bucket(bucket)?;
        // Keys from both trees, merged and ordered by the set.
        let after = key_marker.filter(|k| !k.is_empty());
        let has_version_marker = version_marker.is_some_and(|v| !v.is_empty());
        let include = |key: &str| after.is_none_or(|a| key > a || (key == a && has_version_marker));
        let mut keys = std::collections::BTreeSet::new();
        for dir in [bucket_dir.clone(), self.versions_root(bucket)] {
            let _ = super::list::walk_keys(&dir, "", prefix, None, &mut |key| {
                if include(key) {
                    keys.insert(key.to_string());
                }
                ControlFlow::Continue(())
            })?;
        }
        let mut page = VersionPage::default();
        let push = |page: &mut VersionPage, item: Result<VersionEntry, String>| -> ControlFlow<()> {
            if page.items.len() >= max {
                page.truncated = true;
                return ControlFlow::Break(());
            }
            page.items.push(item);
            ControlFlow::Continue(())
        };
        for key in keys {
            if let Some(d) = delimiter.filter(|d| !d.is_empty()) {
                if let Some(i) = key[prefix.len()..].find(d) {
                    let cp = key[..prefix.len() + i + d.len()].to_string();
                    let seen = matches!(page.items.last(), Some(Err(last)) if *last == cp);
                    if !seen && after.is_none_or(|a| cp.as_str() > a) && push(&mut page, Err(cp)).is_break() {
                        break;
                    }
                    continue;
                }
            }
            let mut versions = Vec::new();
            {
                let _guard = self.locks.read(bucket, &key);
                if let Ok(current) = read_meta(&bucket_dir.join(keypath::meta_relative(&key))) {
                    versions.push(current);
                }
                versions.extend(self.stored_versions(bucket, &key)?);
            }
            let mut skipping = after == Some(key.as_str());
            for (i, meta) in versions.into_iter().enumerate() {
                if skipping {
                    if Some(version_name(&meta)) == version_marker {
                        skipping = false;
                    }
                    continue;
                }
                if push(&mut page, Ok(VersionEntry { meta, is_latest: i == 0 })).is_break() {
                    return Ok(page);
                }
            }
        }
        Ok(page)
    }
}
