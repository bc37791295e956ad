//! Making folder entries durable. A new or removed name survives a power loss only
//! once its folder is fsynced, so with fsync on every change to object, version and
//! record names syncs the folder it changed before the request is acknowledged.
//! A batch (DeleteObjects) syncs each folder it touched once, at its end, instead of
//! once per key.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::Store;

thread_local! {
    /// The folders the batch running on this thread has left to sync.
    static BATCH: RefCell<Option<BTreeSet<PathBuf>>> = const { RefCell::new(None) };
}

/// Syncs a folder; one that is gone (emptied and removed since) has nothing to sync.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir) {
        Ok(folder) => folder.sync_all(),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Makes the names in `dir` durable (fsync on): now, or at the end of this thread's batch.
    pub(super) fn sync_entries(&self, dir: &Path) -> std::io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        let deferred = BATCH.with(|batch| {
            batch
                .borrow_mut()
                .as_mut()
                .map(|dirs| dirs.insert(dir.to_path_buf()))
                .is_some()
        });
        if deferred { Ok(()) } else { sync_dir(dir) }
    }

    /// A name in `dir`, a folder of a bucket's tree, was added or removed: listings
    /// must re-read the folder, and (fsync on) the change must be durable. Call before
    /// answering the request that made it.
    pub(super) fn names_changed(&self, dir: &Path) -> std::io::Result<()> {
        self.dirs.touch(dir);
        self.sync_entries(dir)
    }

    /// Creates `dir` and its missing parents up to `root` (included), durably; each
    /// folder that gains an entry is marked changed for listings. Retries if a
    /// concurrent removal of an emptied folder takes a parent away meanwhile.
    pub(super) fn create_dirs(&self, root: &Path, dir: &Path) -> std::io::Result<()> {
        let rel = dir.strip_prefix(root).map_err(std::io::Error::other)?;
        let mut attempt = 0;
        loop {
            if dir.is_dir() {
                return Ok(());
            }
            let result = (|| {
                let mut d = root.to_path_buf();
                for comp in std::iter::once(None).chain(rel.components().map(Some)) {
                    if let Some(comp) = comp {
                        d.push(comp);
                    }
                    match std::fs::create_dir(&d) {
                        Ok(()) => self.names_changed(d.parent().unwrap())?,
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            })();
            match result {
                Err(e) if e.kind() == ErrorKind::NotFound && attempt < 8 => attempt += 1,
                other => return other,
            }
        }
    }

    /// Runs `f` on this (blocking) thread with folder syncs deferred to its end.
    pub fn batch<T>(&self, f: impl FnOnce() -> T) -> std::io::Result<T> {
        /// Ends the batch even if `f` panics: the pool reuses this thread.
        struct End;
        impl Drop for End {
            fn drop(&mut self) {
                BATCH.with(|batch| batch.borrow_mut().take());
            }
        }
        BATCH.with(|batch| *batch.borrow_mut() = Some(BTreeSet::new()));
        let end = End;
        let out = f();
        let dirs = BATCH
            .with(|batch| batch.borrow_mut().take())
            .unwrap_or_default();
        drop(end);
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(out)
    }
}
