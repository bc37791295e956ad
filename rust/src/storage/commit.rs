//! Atomic publication of an object's data and metadata.
//!
//! 1. The data is streamed to `.tmp/<shard>/<txn>.data` (fsynced when `fsync` is on).
//! 2. The metadata is written to `.tmp/<shard>/<txn>.meta`, fsynced, and renamed to
//!    `.tmp/<shard>/<txn>.commit`: that rename is the commit point.
//! 3. Under the key's lock, `<txn>.data` is renamed onto the object file and
//!    `<txn>.commit` onto the metadata file.
//!
//! A crash before step 2 leaves only temporaries, which `recover` deletes (the old
//! object stays). A crash after it leaves a `.commit` file, which `recover` finishes
//! (the new object appears whole). Readers never see a mix: see `locks.rs`.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::Store;
use super::error::{Error, Result};
use super::interface::DeleteGuard;
use super::journal::Record;
use super::keypath;
use super::meta::ObjectMeta;
use super::writer::TempData;

impl Store {
    /// Creates `path` with `bytes`, on disk when fsync is on (see `FileSync`: the
    /// caller renames it into a folder it then syncs).
    pub(super) fn write_new_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.trash.with_room(|| {
            let mut file = std::fs::File::create(path)?;
            file.write_all(bytes)?;
            self.file_sync.sync(&file)
        })
    }

    /// Writes a small file atomically (temp, sync, rename, folder sync).
    pub fn write_file_atomic(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.temp_path("small");
        let result = (|| {
            self.write_new_file(&tmp, bytes)?;
            std::fs::rename(&tmp, path)?;
            self.sync_entries(path.parent().unwrap())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Gives `src`'s bytes the new name `dst` (a fresh temporary path): a hard link,
    /// or where linking fails (a filesystem without hard links, the link count limit)
    /// a copy, fsynced when `fsync` is on. Never opens an existing file for writing:
    /// a committed data file may share its inode with other objects and versions.
    /// Returns whether it linked.
    pub(super) fn link_or_copy(&self, src: &Path, dst: &Path) -> std::io::Result<bool> {
        if !hard_links_disabled() && std::fs::hard_link(src, dst).is_ok() {
            return Ok(true);
        }
        let copied = (|| {
            let mut from = std::fs::File::open(src)?;
            let mut to = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dst)?;
            std::io::copy(&mut from, &mut to)?; // copy_file_range on Linux
            if self.file_sync.is_on() {
                to.sync_data()?;
            }
            Ok(false)
        })();
        if copied.is_err() {
            let _ = std::fs::remove_file(dst);
        }
        copied
    }

    /// Puts `src`'s bytes at `dst`, which may exist: staged under a temporary name
    /// (`link_or_copy`) and renamed over `dst`. So `dst`'s old file, which may share
    /// its inode with another object or version, is never written, and a crash leaves
    /// either the old file or the new one.
    pub(super) fn replace_with_copy(&self, src: &Path, dst: &Path) -> std::io::Result<()> {
        let tmp = self.temp_path("data");
        self.link_or_copy(src, &tmp)?;
        self.park_replaced(dst);
        let renamed = std::fs::rename(&tmp, dst);
        // Renaming a link onto another link of the same file leaves both names.
        let _ = std::fs::remove_file(&tmp);
        renamed
    }

    /// Creates the folders between the bucket folder and `file`, never the bucket itself.
    pub(super) fn create_parents(&self, bucket_dir: &Path, file: &Path) -> std::io::Result<()> {
        let parent = file.parent().expect("object paths have a parent");
        let rel = parent
            .strip_prefix(bucket_dir)
            .map_err(std::io::Error::other)?;
        let mut dir = bucket_dir.to_path_buf();
        for comp in rel.components() {
            dir.push(comp);
            match std::fs::create_dir(&dir) {
                Ok(()) => self.names_changed(dir.parent().unwrap())?,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes the folders above `file` that its removal left empty, up to (not
    /// including) the bucket folder. Not synced: an empty folder that comes back after
    /// a power loss holds no object.
    pub(super) fn remove_empty_parents(&self, bucket_dir: &Path, file: &Path) {
        let mut dir: Option<&Path> = file.parent();
        while let Some(d) = dir {
            if d == bucket_dir || !d.starts_with(bucket_dir) || std::fs::remove_dir(d).is_err() {
                break;
            }
            self.dirs.touch(d.parent().unwrap());
            dir = d.parent();
        }
    }

    /// Publishes `data` as `bucket/key` with `meta`, if `precondition` holds for the
    /// object it replaces; returns the replaced object's size.
    pub fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        mut data: TempData,
        meta: &ObjectMeta,
        precondition: Option<&Precondition>,
    ) -> Result<Option<u64>> {
        let json = serde_json::to_vec_pretty(meta).map_err(Error::internal)?;
        let meta_tmp = data.path.with_extension("meta");
        let result = (|| {
            // Before the journal's record: a checkpoint waits for journaled writes, so
            // one must not then wait for a gate DeleteBucket is queued on.
            let (bucket_dir, _open) = self.enter_bucket(bucket)?;
            let record = self.stage_commit(bucket, key, &data, meta, &meta_tmp, &json)?;
            let _carried = record
                .as_ref()
                .map(|_| super::durable::JournaledWrite::begin());
            self.apply_commit(
                &bucket_dir,
                bucket,
                key,
                &data.path,
                &meta_tmp,
                false,
                meta,
                precondition,
                record,
            )
        })();
        match result {
            Ok(old) => {
                data.mark_published();
                Ok(old)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&meta_tmp);
                Err(e)
            }
        }
    }

    /// Writes the staged metadata and makes data and metadata durable before the commit,
    /// or returns the journal record that will (`apply_commit` appends it under the
    /// key's lock, so records follow the order in which writes take effect). The
    /// journal carries small unversioned objects while it works.
    fn stage_commit(
        &self,
        bucket: &str,
        key: &str,
        data: &TempData,
        meta: &ObjectMeta,
        meta_tmp: &Path,
        json: &[u8],
    ) -> Result<Option<Record>> {
        if !self.file_sync.journal_carries(data.size) {
            self.write_new_file(meta_tmp, json)?;
            return Ok(None);
        }
        self.trash.with_room(|| std::fs::write(meta_tmp, json))?;
        // A record being replayed is still carried by the file it was read from.
        if super::durable::journaled() {
            return Ok(None);
        }
        if self.usable_journal().is_some() && meta.version_id.is_none() {
            return Ok(Some(Record::Put {
                bucket: bucket.to_string(),
                key: key.to_string(),
                meta: json.to_vec(),
                data: std::fs::read(&data.path)?,
            }));
        }
        // Not carried after all (a versioned bucket, or the journal failed).
        self.sync_uncarried(data)?;
        std::fs::File::open(meta_tmp)?.sync_data()?;
        Ok(None)
    }

    /// Syncs a body its writer left unsynced for the journal (`journal_carries`), for a
    /// write the journal does not carry after all (an uploaded part, a versioned object).
    pub(super) fn sync_uncarried(&self, data: &TempData) -> std::io::Result<()> {
        if self.file_sync.journal_carries(data.size) {
            std::fs::File::open(&data.path)?.sync_data()?;
        }
        Ok(())
    }

    /// Moves the staged files into place under the key's lock. Unless `committed`
    /// (recovery), first checks the precondition, keeps the replaced version (versioned
    /// buckets), and renames the staged metadata to `<txn>.commit`: the commit point.
    /// A failure before the data is in place undoes all of that, so a refused write
    /// never reappears after a restart. Retries if a concurrent delete removed an
    /// emptied parent folder between creating it and renaming into it.
    #[allow(clippy::too_many_arguments)]
    fn apply_commit(
        &self,
        bucket_dir: &Path,
        bucket: &str,
        key: &str,
        data_tmp: &Path,
        staged_meta: &Path,
        recovering: bool,
        new: &ObjectMeta,
        precondition: Option<&Precondition>,
        record: Option<Record>,
    ) -> Result<Option<u64>> {
        // Held until the names are in place: a checkpoint waits for them.
        let mut _ticket = None;
        let commit = if recovering {
            staged_meta.to_path_buf()
        } else {
            staged_meta.with_extension("commit")
        };
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        let mut committed = recovering;
        let mut archived: Option<ObjectMeta> = None;
        for attempt in 0.. {
            self.create_parents(bucket_dir, &data_path)?;
            let guard = self.lock_key(bucket, key);
            let old = read_meta(&meta_path).ok();
            // Takes back everything done before the data was in place (not in recovery,
            // where the commit was made before the crash).
            let rollback = |archived: &mut Option<ObjectMeta>, committed: &mut bool| {
                if recovering {
                    return;
                }
                if let Some(a) = archived.take() {
                    let _ = self.unarchive(bucket, key, &a);
                }
                if *committed {
                    let _ = std::fs::rename(&commit, staged_meta);
                    *committed = false;
                }
            };
            if !committed && let Some(p) = precondition {
                p.check(old.as_ref(), key)?;
            }
            // Again on a retry: another write of the key may have come in between.
            if let Some(record) = &record {
                _ticket = Some(self.journal_append(record)?);
            }
            if archived.is_none()
                && let (Some(id), Some(old)) = (&new.version_id, &old)
                && self.archive_replaced(bucket, key, id, Some(old), &data_path)?
            {
                archived = Some(old.clone());
            }
            if !committed {
                if let Err(e) = std::fs::rename(staged_meta, &commit) {
                    rollback(&mut archived, &mut committed);
                    return Err(e.into());
                }
                committed = true;
            }
            // The renames below would free the replaced files' blocks (`trash.rs`). Not
            // in recovery, which then empties `.tmp` under the trash's thread.
            if old.is_some() && archived.is_none() && !recovering {
                self.park_replaced(&data_path);
                self.park_replaced(&meta_path);
            }
            match std::fs::rename(data_tmp, &data_path) {
                Ok(()) => {
                    // The data is in place: from here a failure is finished by recovery.
                    std::fs::rename(&commit, &meta_path)?;
                    if let Some(id) = &new.version_id {
                        self.drop_replaced_null(bucket, key, id, old.as_ref())?;
                    }
                    let old = old.map(|m| m.size);
                    self.stats.replace(
                        bucket,
                        key,
                        if archived.is_some() { None } else { old },
                        Some(new.size),
                    );
                    drop(guard);
                    self.names_changed(data_path.parent().unwrap())?;
                    return Ok(old);
                }
                Err(e) => {
                    rollback(&mut archived, &mut committed);
                    if e.kind() == ErrorKind::NotFound && attempt < 8 && data_tmp.exists() {
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
        unreachable!()
    }

    /// Rewrites an object's metadata (not its data) atomically, e.g. to change its tags.
    pub fn update_meta(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectMeta) -> Result<()>,
    ) -> Result<ObjectMeta> {
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        let _guard = self.lock_key(bucket, key);
        let mut meta = read_meta(&meta_path).map_err(|e| Error::key_io(key, e))?;
        change(&mut meta)?;
        let json = serde_json::to_vec_pretty(&meta).map_err(Error::internal)?;
        self.park_replaced(&meta_path);
        self.write_file_atomic(&meta_path, &json)?;
        Ok(meta)
    }

    /// Removes `bucket/key` if `precondition` holds for it and `guard` lets it go;
    /// returns the removed object's size, or None if it did not exist.
    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        precondition: Option<&Precondition>,
        guard: Option<&DeleteGuard>,
    ) -> Result<Option<u64>> {
        // The journal carries a delete outside a batch (a batch syncs each folder once);
        // the bucket's gate, as for a journaled commit, lets DeleteBucket checkpoint it.
        let journal = self
            .usable_journal()
            .filter(|_| !super::durable::in_batch());
        let (bucket_dir, _open) = self.enter_bucket(bucket)?;
        let _carried = journal.map(|_| super::durable::JournaledWrite::begin());
        let mut _ticket = None;
        let data_path = bucket_dir.join(keypath::data_relative(key));
        let meta_path = bucket_dir.join(keypath::meta_relative(key));
        let removed = {
            let _guard = self.lock_key(bucket, key);
            let old = read_meta(&meta_path).ok();
            if let Some(p) = precondition {
                p.check(old.as_ref(), key)?;
            }
            if let (Some(guard), Some(old)) = (guard, &old) {
                guard(old)?;
            }
            if old.is_some() && journal.is_some() {
                _ticket = Some(self.journal_append(&Record::Delete {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })?);
            }
            let old = old.map(|m| m.size);
            // Metadata first: an object without metadata is invisible, never half-listed.
            match self.remove_file_soon(&meta_path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            match self.remove_file_soon(&data_path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            if old.is_some() {
                self.stats.replace(bucket, key, old, None);
            }
            old
        };
        self.names_changed(data_path.parent().unwrap())?;
        self.remove_empty_parents(&bucket_dir, &data_path);
        Ok(removed)
    }
}

/// A condition on the object a write replaces (conditional writes).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Precondition {
    /// `If-None-Match: *`: only create, never overwrite.
    IfNoneMatchAny,
    /// `If-Match: <etag>`: only overwrite this version.
    IfMatch(String),
    /// The condition of a write that began while the key had a current object: if that
    /// object is gone by the commit (a delete won the race), the write conflicts, as on AWS.
    BeganOverObject(Box<Precondition>),
}

impl Precondition {
    pub fn check(&self, existing: Option<&ObjectMeta>, key: &str) -> Result<()> {
        let failed = |condition| Err(Error::PreconditionFailed { condition });
        match (self, existing) {
            (Precondition::BeganOverObject(_), None) => Err(Error::ConditionalConflict),
            (Precondition::BeganOverObject(inner), Some(_)) => inner.check(existing, key),
            (Precondition::IfNoneMatchAny, Some(_)) => failed("If-None-Match"),
            (Precondition::IfMatch(_), None) => Err(Error::no_such_key(key)),
            (Precondition::IfMatch(etag), Some(m))
                if etag.trim() != "*" && etag.trim().trim_matches('"') != m.etag_value() =>
            {
                failed("If-Match")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Makes `link_or_copy` copy on this thread, as on a filesystem without hard links.
    pub(super) static NO_HARD_LINKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn hard_links_disabled() -> bool {
    #[cfg(test)]
    return NO_HARD_LINKS.with(|c| c.get());
    #[cfg(not(test))]
    false
}

pub fn read_meta(path: &Path) -> std::io::Result<ObjectMeta> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

/// Finishes commits a crash interrupted and deletes uncommitted temporaries.
pub fn recover(store: &Store) -> std::io::Result<()> {
    let mut finished = 0;
    // Commits sit in the shards; stores from before the shards kept them in `.tmp` itself.
    let mut commits = Vec::new();
    for entry in std::fs::read_dir(&store.tmp)? {
        let path = entry?.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path)? {
                commits.push(inner?.path());
            }
        } else {
            commits.push(path);
        }
    }
    for path in commits {
        if path.extension().and_then(|e| e.to_str()) != Some("commit") {
            continue;
        }
        let meta = match read_meta(&path) {
            Ok(meta) => meta,
            Err(_) => continue, // unreadable: treated as uncommitted below
        };
        let data_tmp: PathBuf = path.with_extension("data");
        let bucket_dir = store.root.join(&meta.bucket);
        if !bucket_dir.is_dir() {
            continue;
        }
        if data_tmp.exists() {
            store
                .apply_commit(
                    &bucket_dir,
                    &meta.bucket,
                    &meta.key,
                    &data_tmp,
                    &path,
                    true,
                    &meta,
                    None,
                    None,
                )
                .map_err(std::io::Error::other)?;
        } else {
            // The data was moved into place before the crash; publish the metadata.
            let meta_path = bucket_dir.join(keypath::meta_relative(&meta.key));
            std::fs::rename(&path, meta_path)?;
        }
        finished += 1;
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(&store.tmp)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?
        } else {
            std::fs::remove_file(&path)?
        }
        removed += 1;
    }
    removed += store.recover_uploads()?;
    if finished + removed > 0 {
        crate::log::info(&format!(
            "recovery: finished {finished} interrupted commits, removed {removed} temporary files"
        ));
    }
    Ok(())
}
