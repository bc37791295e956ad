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

use super::commit::{Precondition, read_meta};
use super::error::{Error, Result};
use super::interface::DeleteGuard;
use super::keypath::{self, DATA_SUFFIX};
use super::list::Found;
use super::meta::ObjectMeta;
use super::{Store, VERSIONS_DIR};

pub const NULL_VERSION: &str = "null";

/// A new time-ordered id: 16 hex digits of nanoseconds, 8 random.
pub fn new_version_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:016x}{}",
        nanos as u64,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

pub fn valid_version_id(id: &str) -> bool {
    id == NULL_VERSION || (id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn invalid_version_id(id: &str) -> Error {
    Error::InvalidVersionId {
        version_id: id.to_string(),
    }
}

fn no_such_version(key: &str, id: &str) -> Error {
    Error::NoSuchVersion {
        key: key.to_string(),
        version_id: id.to_string(),
    }
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
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(out);
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json")
                && let Ok(meta) = read_meta(&path)
            {
                out.push(meta);
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

    fn write_version_meta(
        &self,
        bucket: &str,
        dir: &Path,
        meta: &ObjectMeta,
    ) -> std::io::Result<()> {
        self.create_dirs(&self.versions_root(bucket), dir)?;
        let json = serde_json::to_vec_pretty(meta).map_err(std::io::Error::other)?;
        self.write_file_atomic(&dir.join(format!("{}.json", version_name(meta))), &json)
    }

    /// Keeps the current version `meta` (data at `data_path`) as a non-current one.
    /// Call with the key's write lock held.
    pub(super) fn archive_current(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        data_path: &Path,
    ) -> std::io::Result<()> {
        let dir = self.versions_dir(bucket, key);
        self.create_dirs(&self.versions_root(bucket), &dir)?;
        // A replayed commit finds the target there already: replaced, never written into.
        self.replace_with_copy(data_path, &dir.join(format!("{}.data", version_name(meta))))?;
        self.write_version_meta(bucket, &dir, meta)?;
        self.stats.change(
            &versions_stats_ns(bucket),
            key,
            None,
            Some(meta.size),
            || self.stored_version_counters(bucket, key),
        );
        self.stats.replace(bucket, key, Some(meta.size), None);
        Ok(())
    }

    /// Counts the stored non-current versions of a key (delete markers hold no bytes and are not objects).
    pub fn stored_version_counters(&self, bucket: &str, key: &str) -> super::stats::Counters {
        let versions = self.stored_versions(bucket, key).unwrap_or_default();
        let objects: Vec<&ObjectMeta> = versions.iter().filter(|m| !m.delete_marker).collect();
        super::stats::Counters {
            objects: objects.len() as u64,
            bytes: objects.iter().map(|m| m.size).sum(),
        }
    }

    /// Removes a non-current version's files; `counted`: whether the stats count it.
    /// Call with the key's write lock held.
    fn remove_stored_version(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        counted: bool,
    ) -> std::io::Result<()> {
        let dir = self.versions_dir(bucket, key);
        let name = version_name(meta);
        for file in [format!("{name}.json"), format!("{name}.data")] {
            match self.remove_file_soon(&dir.join(file)) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.sync_entries(&dir)?;
        if counted && !meta.delete_marker {
            self.stats.change(
                &versions_stats_ns(bucket),
                key,
                Some(meta.size),
                None,
                || self.stored_version_counters(bucket, key),
            );
        }
        // Drop the key's folder (and emptied parents) once it holds nothing.
        let root = self.versions_root(bucket);
        let mut d = Some(dir.as_path());
        while let Some(p) = d {
            if p == root || std::fs::remove_dir(p).is_err() {
                break;
            }
            self.dirs.touch(p.parent().unwrap());
            d = p.parent();
        }
        Ok(())
    }

    /// Before a new version `new_id` replaces the current object `old`: archives `old`
    /// unless it is the same version (null over null, or a replayed commit).
    /// Returns whether `old` was archived. Call with the key's write lock held.
    pub(super) fn archive_replaced(
        &self,
        bucket: &str,
        key: &str,
        new_id: &str,
        old: Option<&ObjectMeta>,
        data_path: &Path,
    ) -> std::io::Result<bool> {
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
    pub(super) fn unarchive(
        &self,
        bucket: &str,
        key: &str,
        old: &ObjectMeta,
    ) -> std::io::Result<()> {
        self.remove_stored_version(bucket, key, old, true)?;
        self.stats.replace(bucket, key, None, Some(old.size));
        Ok(())
    }

    /// After a new null version is published over `replaced` (the former current
    /// version, if any): the non-current null version or null delete marker it
    /// replaces goes. Read directly, not through `stored_versions`, which hides a
    /// stored version named like the current one (the new null version now).
    pub(super) fn drop_replaced_null(
        &self,
        bucket: &str,
        key: &str,
        new_id: &str,
        replaced: Option<&ObjectMeta>,
    ) -> std::io::Result<()> {
        if new_id != NULL_VERSION {
            return Ok(());
        }
        let Ok(null) = read_meta(
            &self
                .versions_dir(bucket, key)
                .join(format!("{NULL_VERSION}.json")),
        ) else {
            return Ok(());
        };
        // Beside a null current version, a stored null one is a stale copy a crash left
        // between archiving and committing: hidden, so never counted.
        let counted = replaced.is_none_or(|old| version_name(old) != NULL_VERSION);
        self.remove_stored_version(bucket, key, &null, counted)
    }

    /// If the key has no current object and its newest stored version is an object
    /// (not a delete marker), makes that version current again.
    fn promote_newest(&self, bucket: &str, key: &str, bucket_dir: &Path) -> std::io::Result<()> {
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        if meta_path.exists() {
            return Ok(());
        }
        let Some(newest) = self.stored_versions(bucket, key)?.into_iter().next() else {
            return Ok(());
        };
        if newest.delete_marker {
            return Ok(());
        }
        let dir = self.versions_dir(bucket, key);
        self.create_parents(bucket_dir, &data_path)?;
        let name = version_name(&newest).to_string();
        // A data file left without its metadata (a crash between the two unlinks of a
        // delete) may share its inode with another object: replaced, never written into.
        self.replace_with_copy(&dir.join(format!("{name}.data")), &data_path)?;
        let json = serde_json::to_vec_pretty(&newest).map_err(std::io::Error::other)?;
        // The metadata's atomic write syncs this folder, the data link included.
        self.write_file_atomic(&meta_path, &json)?;
        self.dirs.touch(data_path.parent().unwrap());
        self.remove_stored_version(bucket, key, &newest, true)?;
        self.stats.replace(bucket, key, None, Some(newest.size));
        Ok(())
    }

    /// DELETE without a version id in a versioned bucket: the current object becomes
    /// non-current (or is dropped, if it is the null version and versioning is
    /// suspended) and a delete marker becomes the latest version.
    pub fn delete_with_marker(
        &self,
        bucket: &str,
        key: &str,
        precondition: Option<&Precondition>,
        guard: Option<&DeleteGuard>,
    ) -> Result<DeleteOutcome> {
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let (marker_id, seq) = self
            .version_for_write(bucket)
            .unwrap_or_else(|| (NULL_VERSION.into(), new_version_id()));
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        {
            let _guard = self.lock_key(bucket, key);
            let old = read_meta(&meta_path).ok();
            if let Some(p) = precondition {
                p.check(old.as_ref(), key)?;
            }
            // A marker named like the current version (null) replaces it, and any
            // stored null version, for good.
            if let Some(guard) = guard {
                if let Some(old) = old.as_ref().filter(|o| version_name(o) == marker_id) {
                    guard(old)?;
                }
                let null = self
                    .versions_dir(bucket, key)
                    .join(format!("{marker_id}.json"));
                if let Ok(stored) = read_meta(&null) {
                    guard(&stored)?;
                }
            }
            let archived =
                self.archive_replaced(bucket, key, &marker_id, old.as_ref(), &data_path)?;
            self.drop_replaced_null(bucket, key, &marker_id, old.as_ref())?;
            for path in [&meta_path, &data_path] {
                match self.remove_file_soon(path) {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            self.names_changed(data_path.parent().unwrap())?;
            if let (Some(old), false) = (&old, archived) {
                self.stats.replace(bucket, key, Some(old.size), None);
            }
            let mut marker = ObjectMeta::new(
                bucket,
                key,
                0,
                String::new(),
                Default::default(),
                Vec::new(),
            );
            marker.version_id = Some(marker_id.clone());
            marker.seq = Some(seq);
            marker.delete_marker = true;
            self.write_version_meta(bucket, &self.versions_dir(bucket, key), &marker)?;
        }
        self.remove_empty_parents(&bucket_dir, &data_path);
        Ok(DeleteOutcome {
            version_id: Some(marker_id),
            delete_marker: true,
        })
    }

    /// DELETE of one version: removes it for good; if it was the latest, the next
    /// newest version becomes the latest.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        precondition: Option<&Precondition>,
        guard: Option<&DeleteGuard>,
    ) -> Result<DeleteOutcome> {
        let check = |meta: &ObjectMeta| guard.map_or(Ok(()), |g| g(meta));
        if !valid_version_id(version_id) {
            return Err(invalid_version_id(version_id));
        }
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        let mut outcome = DeleteOutcome {
            version_id: Some(version_id.to_string()),
            delete_marker: false,
        };
        {
            let _guard = self.lock_key(bucket, key);
            let current = read_meta(&meta_path).ok();
            if let Some(p) = precondition {
                p.check(current.as_ref(), key)?;
            }
            match current {
                Some(current) if version_name(&current) == version_id => {
                    check(&current)?;
                    self.remove_file_soon(&meta_path)?;
                    let _ = self.remove_file_soon(&data_path);
                    self.names_changed(data_path.parent().unwrap())?;
                    self.stats.replace(bucket, key, Some(current.size), None);
                }
                _ => {
                    if let Some(stored) = self
                        .stored_versions(bucket, key)?
                        .into_iter()
                        .find(|m| version_name(m) == version_id)
                    {
                        check(&stored)?;
                        outcome.delete_marker = stored.delete_marker;
                        self.remove_stored_version(bucket, key, &stored, true)?;
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
    pub(super) fn locate_version(
        &self,
        bucket_dir: &Path,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<(ObjectMeta, Option<PathBuf>)> {
        if !valid_version_id(version_id) {
            return Err(invalid_version_id(version_id));
        }
        if let Ok(current) = read_meta(&bucket_dir.join(keypath::meta_relative(key)))
            && version_name(&current) == version_id
        {
            return Ok((current, Some(bucket_dir.join(keypath::data_relative(key)))));
        }
        let dir = self.versions_dir(bucket, key);
        let meta = read_meta(&dir.join(format!("{version_id}.json")))
            .map_err(|_| no_such_version(key, version_id))?;
        let data = (!meta.delete_marker).then(|| dir.join(format!("{version_id}.data")));
        Ok((meta, data))
    }

    /// Changes the metadata of one version (its tags, say), current or not.
    pub fn update_version_meta(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: impl FnOnce(&mut ObjectMeta) -> Result<()>,
    ) -> Result<ObjectMeta> {
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let _guard = self.lock_key(bucket, key);
        let (mut meta, data) = self.locate_version(&bucket_dir, bucket, key, version_id)?;
        if meta.delete_marker || data.is_none() {
            return Err(Error::DeleteMarker);
        }
        change(&mut meta)?;
        let json = serde_json::to_vec_pretty(&meta).map_err(Error::internal)?;
        let current = read_meta(&bucket_dir.join(keypath::meta_relative(key))).ok();
        let path = match current {
            Some(c) if version_name(&c) == version_id => {
                bucket_dir.join(keypath::meta_relative(key))
            }
            _ => self
                .versions_dir(bucket, key)
                .join(format!("{version_id}.json")),
        };
        self.write_file_atomic(&path, &json)?;
        Ok(meta)
    }

    /// A specific version's metadata and data (None for a delete marker).
    pub fn open_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<(ObjectMeta, Option<std::fs::File>)> {
        let bucket_dir = self.require_bucket(bucket)?;
        let _guard = self.locks.read(bucket, key);
        let (meta, data) = self.locate_version(&bucket_dir, bucket, key, version_id)?;
        let file = data
            .map(std::fs::File::open)
            .transpose()
            .map_err(|_| no_such_version(key, version_id))?;
        Ok((meta, file))
    }

    /// The delete marker that is the latest version of a key, if it is one.
    pub fn latest_delete_marker(&self, bucket: &str, key: &str) -> Option<ObjectMeta> {
        let _guard = self.locks.read(bucket, key);
        self.stored_versions(bucket, key)
            .ok()?
            .into_iter()
            .next()
            .filter(|m| m.delete_marker)
    }

    /// ListObjectVersions: the versions of the keys under `prefix`, keys in order,
    /// versions newest first, starting after (`key_marker`, `version_marker`).
    ///
    /// A key's versions are in two trees: its current version in the bucket folder,
    /// the others in the versions folder. Both are walked from the marker, a batch
    /// of names at a time, and merged; a page costs about what it holds (plus the
    /// versions of the keys it touches), however many keys follow it.
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionPage> {
        let bucket_dir = self.require_bucket(bucket)?;
        let trees = [bucket_dir.clone(), self.versions_root(bucket)];
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let after = key_marker.filter(|k| !k.is_empty());
        let version_marker = version_marker.filter(|v| !v.is_empty());
        let mut page = VersionPage::default();
        let push =
            |page: &mut VersionPage, item: Result<VersionEntry, String>| -> ControlFlow<()> {
                if page.items.len() >= max {
                    page.truncated = true;
                    return ControlFlow::Break(());
                }
                page.items.push(item);
                ControlFlow::Continue(())
            };
        // Emits a key's versions newest first, those up to `skip_to` (a version id) left out.
        let versions_of =
            |page: &mut VersionPage, key: &str, skip_to: Option<&str>| -> Result<ControlFlow<()>> {
                let mut versions = Vec::new();
                {
                    let _guard = self.locks.read(bucket, key);
                    if let Ok(current) = read_meta(&bucket_dir.join(keypath::meta_relative(key))) {
                        versions.push(current);
                    }
                    versions.extend(self.stored_versions(bucket, key)?);
                }
                let mut skipping = skip_to.is_some();
                for (i, meta) in versions.into_iter().enumerate() {
                    if skipping {
                        skipping = Some(version_name(&meta)) != skip_to;
                        continue;
                    }
                    if push(
                        page,
                        Ok(VersionEntry {
                            meta,
                            is_latest: i == 0,
                        }),
                    )
                    .is_break()
                    {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(ControlFlow::Continue(()))
            };
        let rolls_up = |key: &str| delimiter.is_some_and(|d| key[prefix.len()..].contains(d));
        // With a version marker, the listing resumes inside the marker key.
        if let (Some(key), Some(_)) = (after, version_marker)
            && key.starts_with(prefix)
            && !rolls_up(key)
            && versions_of(&mut page, key, version_marker)?.is_break()
        {
            return Ok(page);
        }
        let mut query = super::list::ListQuery {
            prefix: prefix.to_string(),
            delimiter: delimiter.map(str::to_string),
            after: after.map(str::to_string),
            max: 0,
        };
        loop {
            // Enough names for the rest of the page (each yields at least one entry,
            // but for a key deleted meanwhile), and one more to tell if it is truncated.
            let batch = max.saturating_sub(page.items.len()).min(1000) + 1;
            let mut names: Vec<(String, bool)> = Vec::new();
            // Names up to `bound` are complete in both trees; past it, one tree may
            // hold names the batch did not reach.
            let mut bound: Option<String> = None;
            for tree in &trees {
                let mut found = Vec::new();
                let _ = super::list::walk_names(tree, &query, &self.dirs, &mut |name| {
                    found.push(match name {
                        Found::Key(k) => (k.to_string(), false),
                        Found::Prefix(p) => (p.to_string(), true),
                    });
                    if found.len() >= batch {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })?;
                if found.len() >= batch {
                    let last = &found[found.len() - 1].0;
                    if bound.as_ref().is_none_or(|b| last < b) {
                        bound = Some(last.clone());
                    }
                }
                names.extend(found);
            }
            names.sort();
            names.dedup();
            if let Some(bound) = &bound {
                names.retain(|(name, _)| name <= bound);
            }
            for (name, is_prefix) in &names {
                let flow = if *is_prefix {
                    push(&mut page, Err(name.clone()))
                } else {
                    versions_of(&mut page, name, None)?
                };
                if flow.is_break() {
                    return Ok(page);
                }
            }
            match bound {
                Some(bound) => query.after = Some(bound),
                None => return Ok(page),
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn temp_store() -> (Store, PathBuf) {
        let root = std::env::temp_dir().join(format!(
            "smartstorage-versions-{}",
            uuid::Uuid::new_v4().simple()
        ));
        (Store::open(&root, false, None).unwrap(), root)
    }

    /// Stores `body` as `bucket/key` (the ETag is not its MD5).
    pub(in crate::storage) fn put(
        store: &Store,
        bucket: &str,
        key: &str,
        body: &[u8],
    ) -> ObjectMeta {
        let data = store.stage_bytes(body, [0; 16]).unwrap();
        store
            .put_object(
                bucket,
                key,
                data,
                Default::default(),
                Vec::new(),
                "\"e\"".into(),
                None,
            )
            .unwrap()
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// What a bucket should hold: each key's (version id, is a delete marker), newest first.
    #[derive(Default)]
    struct Model(BTreeMap<String, Vec<(String, bool)>>);

    impl Model {
        fn added(&mut self, key: &str, id: &str, marker: bool) {
            let versions = self.0.entry(key.to_string()).or_default();
            versions.retain(|(v, _)| id != NULL_VERSION || v != NULL_VERSION);
            versions.insert(0, (id.to_string(), marker));
        }
        fn removed(&mut self, key: &str, id: &str) {
            let versions = self.0.get_mut(key).unwrap();
            versions.retain(|(v, _)| v != id);
            if versions.is_empty() {
                self.0.remove(key);
            }
        }
        /// The full listing, rendered like `render`.
        fn listing(&self, prefix: &str, delimiter: Option<&str>) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for (key, versions) in self
                .0
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                if let Some(i) =
                    delimiter.and_then(|d| key[prefix.len()..].find(d).map(|i| i + d.len()))
                {
                    let cp = format!("prefix {}", &key[..prefix.len() + i]);
                    if out.last() != Some(&cp) {
                        out.push(cp);
                    }
                    continue;
                }
                for (i, (id, marker)) in versions.iter().enumerate() {
                    out.push(format!(
                        "{key} {id} {}{}",
                        if *marker { "marker" } else { "version" },
                        if i == 0 { " latest" } else { "" }
                    ));
                }
            }
            out
        }
    }

    fn render(item: &Result<VersionEntry, String>) -> String {
        match item {
            Ok(v) => format!(
                "{} {} {}{}",
                v.meta.key,
                version_name(&v.meta),
                if v.meta.delete_marker {
                    "marker"
                } else {
                    "version"
                },
                if v.is_latest { " latest" } else { "" }
            ),
            Err(cp) => format!("prefix {cp}"),
        }
    }

    /// Every page of a listing, following the next markers as the handler sets them.
    fn paged(
        store: &Store,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        max: usize,
    ) -> Vec<String> {
        let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
        let mut out = Vec::new();
        loop {
            let page = store
                .list_versions(
                    bucket,
                    prefix,
                    delimiter,
                    key_marker.as_deref(),
                    version_marker.as_deref(),
                    max,
                )
                .unwrap();
            assert!(page.items.len() <= max);
            out.extend(page.items.iter().map(render));
            if !page.truncated {
                return out;
            }
            assert_eq!(page.items.len(), max, "a truncated page is full");
            match page.items.last().unwrap() {
                Ok(v) => {
                    (key_marker, version_marker) = (
                        Some(v.meta.key.clone()),
                        Some(version_name(&v.meta).to_string()),
                    )
                }
                Err(cp) => (key_marker, version_marker) = (Some(cp.clone()), None),
            }
        }
    }

    fn check(store: &Store, model: &Model, round: &str) {
        for (prefix, delimiter) in [
            ("", None),
            ("", Some("/")),
            ("a/", Some("/")),
            ("a", None),
            ("f/", None),
            ("f/0", Some("1")),
            ("", Some("-")),
            ("zzz", None),
        ] {
            let want = model.listing(prefix, delimiter);
            let sizes: &[usize] =
                if prefix.starts_with('f') || prefix.is_empty() && delimiter.is_none() {
                    &[1000, 7]
                } else {
                    &[1, 2, 3, 1000]
                };
            for &max in sizes {
                let got = paged(store, "bkt", prefix, delimiter, max);
                if got != want {
                    let at = got
                        .iter()
                        .zip(&want)
                        .position(|(g, w)| g != w)
                        .unwrap_or(got.len().min(want.len()));
                    panic!(
                        "{round}: prefix {prefix:?} delimiter {delimiter:?} max {max}: {} entries, want {}; first difference at {at}: got {:?}, want {:?}",
                        got.len(),
                        want.len(),
                        got.get(at),
                        want.get(at)
                    );
                }
            }
        }
    }

    fn read_object(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
        let (_, mut file) = store.open_object(bucket, key).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        bytes
    }

    fn read_version(store: &Store, bucket: &str, key: &str, id: &str) -> Vec<u8> {
        let (_, file) = store.open_version(bucket, key, id).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file.unwrap(), &mut bytes).unwrap();
        bytes
    }

    fn copy(store: &Store, from: &str, to: &str) {
        store
            .copy_object(
                "bkt",
                from,
                None,
                "bkt",
                to,
                None,
                None,
                None,
                Default::default(),
                |m| Ok(m.checksum.clone()),
                None,
            )
            .unwrap();
    }

    /// A crash between the two unlinks of a delete (metadata first, then data) leaves
    /// the data file without its metadata; that file may be a hard link shared with
    /// another object (here `j`, a copy of the deleted version). Promoting the next
    /// version there must replace the file, not write into it.
    #[test]
    fn promotion_over_a_leftover_data_file_leaves_its_other_links_alone() {
        let (store, root) = temp_store();
        store.create_bucket("bkt", "us-east-1").unwrap();
        store.set_versioning("bkt", "Enabled").unwrap();
        let v1 = put(&store, "bkt", "k", b"AAAA").version_id.unwrap();
        let v2 = put(&store, "bkt", "k", b"BBBB").version_id.unwrap();
        copy(&store, "k", "j");
        // The state the crash leaves: k's metadata gone, its data file still there.
        std::fs::remove_file(store.bucket_dir("bkt").join(keypath::meta_relative("k"))).unwrap();
        store.delete_version("bkt", "k", &v2, None, None).unwrap();
        assert_eq!(
            read_object(&store, "bkt", "j"),
            b"BBBB",
            "the copy of the deleted version was overwritten"
        );
        assert_eq!(read_object(&store, "bkt", "k"), b"AAAA");
        assert_eq!(
            store.head_object("bkt", "k").unwrap().version_id.as_deref(),
            Some(v1.as_str())
        );
        let _ = std::fs::remove_dir_all(root);
    }

    /// Where hard links fail (forced here), archiving, promotion and CopyObject copy
    /// into a fresh temporary file and rename it into place: every version and copy
    /// keeps its own bytes, including over a leftover data file, and no temporary stays.
    #[test]
    fn without_hard_links_every_version_keeps_its_bytes() {
        let (store, root) = temp_store();
        store.create_bucket("bkt", "us-east-1").unwrap();
        store.set_versioning("bkt", "Enabled").unwrap();
        super::super::commit::NO_HARD_LINKS.with(|c| c.set(true));
        let v1 = put(&store, "bkt", "k", b"AAAA").version_id.unwrap();
        copy(&store, "k", "j");
        let v2 = put(&store, "bkt", "k", b"BBBB").version_id.unwrap();
        let v3 = put(&store, "bkt", "k", b"CCCC").version_id.unwrap();
        copy(&store, "k", "i");
        assert_eq!(read_version(&store, "bkt", "k", &v1), b"AAAA");
        assert_eq!(read_version(&store, "bkt", "k", &v2), b"BBBB");
        // Promotion by copy, once onto a free path, once over a leftover data file.
        store.delete_version("bkt", "k", &v3, None, None).unwrap();
        assert_eq!(read_object(&store, "bkt", "k"), b"BBBB");
        std::fs::remove_file(store.bucket_dir("bkt").join(keypath::meta_relative("k"))).unwrap();
        store.delete_version("bkt", "k", &v2, None, None).unwrap();
        assert_eq!(read_object(&store, "bkt", "k"), b"AAAA");
        assert_eq!(read_object(&store, "bkt", "j"), b"AAAA");
        assert_eq!(read_object(&store, "bkt", "i"), b"CCCC");
        assert_eq!(
            store.head_object("bkt", "k").unwrap().version_id.as_deref(),
            Some(v1.as_str())
        );
        store.settle_trash(); // on a file system with online discard
        for key in ["k", "j", "i"] {
            let data = std::fs::metadata(store.bucket_dir("bkt").join(keypath::data_relative(key)))
                .unwrap();
            assert_eq!(
                std::os::unix::fs::MetadataExt::nlink(&data),
                1,
                "{key} shares its file"
            );
        }
        let left: Vec<_> = std::fs::read_dir(root.join(super::super::TMP_DIR))
            .unwrap()
            .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
            .collect();
        assert!(left.is_empty(), "temporaries left: {left:?}");
        super::super::commit::NO_HARD_LINKS.with(|c| c.set(false));
        let _ = std::fs::remove_dir_all(root);
    }

    /// A deletion's guard sees, under the key's lock, each version it would remove for
    /// good (the one named; the null one a marker replaces), and its refusal keeps it.
    #[test]
    fn a_refusing_guard_keeps_the_version() {
        let (store, root) = temp_store();
        store.create_bucket("bkt", "us-east-1").unwrap();
        store.set_versioning("bkt", "Enabled").unwrap();
        let v1 = put(&store, "bkt", "k", b"AAAA").version_id.unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let refuse: DeleteGuard = std::sync::Arc::new(move |m: &ObjectMeta| {
            log.lock().unwrap().push(m.version_id.clone());
            Err(Error::internal("locked"))
        });
        assert!(
            store
                .delete_version("bkt", "k", &v1, None, Some(&refuse))
                .is_err()
        );
        assert_eq!(read_version(&store, "bkt", "k", &v1), b"AAAA");
        // A marker over a versioned key removes nothing: the guard is not asked.
        store
            .delete_with_marker("bkt", "k", None, Some(&refuse))
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![Some(v1.clone())]);
        // Suspended: the marker replaces the null version for good, so the guard judges it.
        store.set_versioning("bkt", "Suspended").unwrap();
        put(&store, "bkt", "k", b"NULL");
        assert!(
            store
                .delete_with_marker("bkt", "k", None, Some(&refuse))
                .is_err()
        );
        assert_eq!(read_object(&store, "bkt", "k"), b"NULL");
        let _ = std::fs::remove_dir_all(root);
    }

    /// ListObjectVersions walks the bucket folder and the versions folder from the
    /// marker and merges them: every page size, prefix and delimiter gives exactly
    /// the listing a model of the bucket's history predicts, also after changes made
    /// between listings to folders big enough for the sorted-folder cache (both trees).
    #[test]
    fn list_versions_pages_match_a_model_of_the_history() {
        let (store, root) = temp_store();
        store.create_bucket("bkt", "us-east-1").unwrap();
        store.set_versioning("bkt", "Enabled").unwrap();
        let mut model = Model::default();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // More than `CACHE_MIN_ENTRIES` keys in one folder, each with an older version:
        // `f/` is cached in the bucket tree and in the versions tree.
        let flat: Vec<String> = (0..4400).map(|i| format!("f/{i:05}")).collect();
        for key in &flat {
            for _ in 0..2 {
                let id = put(&store, "bkt", key, b"x").version_id.unwrap();
                model.added(key, &id, false);
            }
        }
        let odd = [
            "a",
            "a/",
            "a/b",
            "a/b/c",
            "a/c",
            "a-b",
            "a-b/c",
            "a0",
            "bkt",
            "c/d/e",
            "d-",
            "d-/e",
            "e//f",
            "f/00001/x",
            "é",
        ];
        let ops = |store: &Store, model: &mut Model, rng: &mut Rng, n: usize| {
            for _ in 0..n {
                let key = if rng.below(3) == 0 {
                    flat[rng.below(flat.len())].clone()
                } else {
                    odd[rng.below(odd.len())].to_string()
                };
                let own = |listing: Vec<String>| -> Vec<String> {
                    listing
                        .into_iter()
                        .filter(|r| r.starts_with(&format!("{key} ")))
                        .collect()
                };
                let before = own(model.listing(&key, None));
                let op = rng.below(5);
                match op {
                    0 | 1 => {
                        let id = put(store, "bkt", &key, b"yy").version_id.unwrap();
                        model.added(&key, &id, false);
                    }
                    2 => {
                        let id = store
                            .delete_with_marker("bkt", &key, None, None)
                            .unwrap()
                            .version_id
                            .unwrap();
                        model.added(&key, &id, true);
                    }
                    _ => {
                        let Some(versions) = model.0.get(&key) else {
                            continue;
                        };
                        let (id, _) = versions[rng.below(versions.len())].clone();
                        store.delete_version("bkt", &key, &id, None, None).unwrap();
                        model.removed(&key, &id);
                    }
                }
                // The key's own versions, after each change.
                let got = own(store
                    .list_versions("bkt", &key, None, None, None, 1000)
                    .unwrap()
                    .items
                    .iter()
                    .map(render)
                    .collect());
                assert_eq!(
                    got,
                    own(model.listing(&key, None)),
                    "after change {op} to {key}, which held {before:?}"
                );
            }
        };
        ops(&store, &mut model, &mut rng, 300);
        check(&store, &model, "enabled");
        store.set_versioning("bkt", "Suspended").unwrap();
        ops(&store, &mut model, &mut rng, 150);
        // Whole keys go from the big folders (their version folders are removed).
        for key in &flat[100..160] {
            for (id, _) in model.0.get(key).cloned().unwrap_or_default() {
                store.delete_version("bkt", key, &id, None, None).unwrap();
                model.removed(key, &id);
            }
        }
        check(&store, &model, "suspended");
        store.set_versioning("bkt", "Enabled").unwrap();
        ops(&store, &mut model, &mut rng, 150);
        check(&store, &model, "enabled again");
        let _ = std::fs::remove_dir_all(root);
    }
}
