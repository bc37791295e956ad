//! Making writes durable. A new or removed name survives a power loss only once its
//! folder is synced, so with fsync on every change to object, version and record names
//! is made durable before the request is acknowledged: through the group commit
//! (`group_sync.rs`), whose `syncfs` covers the data and metadata files written before
//! too. A batch (DeleteObjects) asks once, at its end, instead of once per key.

use std::cell::Cell;
use std::io::ErrorKind;
use std::path::Path;

use super::Store;

thread_local! {
    /// Whether a batch runs on this thread (`Some`), and whether it changed names.
    static BATCH: Cell<Option<bool>> = const { Cell::new(None) };
}

impl Store {
    /// Everything written so far is durable once this returns (fsync on).
    pub(super) fn make_durable(&self) -> std::io::Result<()> {
        match &self.group_sync {
            Some(group) => group.sync(),
            None => Ok(()),
        }
    }

    /// Makes the names in `dir` durable (fsync on): now, or at the end of this thread's batch.
    pub(super) fn sync_entries(&self, _dir: &Path) -> std::io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        match BATCH.get() {
            Some(_) => {
                BATCH.set(Some(true));
                Ok(())
            }
            None => self.make_durable(),
        }
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

    /// Runs `f` on this (blocking) thread with the syncs of its name changes deferred
    /// to its end, where one covers them all.
    pub fn batch<T>(&self, f: impl FnOnce() -> T) -> std::io::Result<T> {
        /// Ends the batch even if `f` panics: the pool reuses this thread.
        struct End;
        impl Drop for End {
            fn drop(&mut self) {
                BATCH.set(None);
            }
        }
        BATCH.set(Some(false));
        let end = End;
        let out = f();
        let changed = BATCH.get() == Some(true);
        drop(end);
        if changed {
            self.make_durable()?;
        }
        Ok(out)
    }
}
