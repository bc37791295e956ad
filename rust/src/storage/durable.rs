//! Making folder entries durable. A new or removed name survives a power loss only
//! once its folder is fsynced, so with fsync on every change to object, version and
//! record names syncs the folder it changed before the request is acknowledged.
//! A batch (DeleteObjects) syncs each folder it touched once, at its end, instead of
//! once per key.
//!
//! A new file's bytes must be durable before a rename publishes it (`FileSync`). On a
//! journaled ext4 that costs no journal commit of its own: syncing a folder commits
//! the whole journal, and every commit first flushes the disk's cache, so bytes that
//! reached the disk before the rename are durable once the folder is synced, and any
//! earlier commit that holds the rename holds them too. A small PUT then waits for one
//! journal commit, shared with every concurrent writer, instead of three.
//!
//! Elsewhere (but on tmpfs) small unversioned PUTs and single deletes go through the
//! store's own intent journal (`journal.rs`): their files and folders are not synced; one
//! record each, synced once per batch of writers, carries them until a checkpoint.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::Store;

thread_local! {
    /// The folders the batch running on this thread has left to sync.
    static BATCH: RefCell<Option<BTreeSet<PathBuf>>> = const { RefCell::new(None) };
    /// This thread is publishing a write the journal carries: its names need no sync.
    static JOURNALED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread's write as carried by the journal (see `journal.rs`) until dropped:
/// the folders it changes are not synced, a checkpoint makes them durable.
pub(super) struct JournaledWrite(());

impl JournaledWrite {
    pub(super) fn begin() -> Self {
        JOURNALED.with(|j| j.set(true));
        JournaledWrite(())
    }
}

impl Drop for JournaledWrite {
    fn drop(&mut self) {
        JOURNALED.with(|j| j.set(false));
    }
}

/// Whether this thread is publishing a journaled write.
pub(super) fn journaled() -> bool {
    JOURNALED.with(|j| j.get())
}

/// Whether this thread runs a batch (`Store::batch`).
pub(super) fn in_batch() -> bool {
    BATCH.with(|batch| batch.borrow().is_some())
}

/// The largest body the journal carries; larger ones are fdatasynced as files.
pub const JOURNAL_MAX_BODY: u64 = 256 * 1024;

/// Syncs a folder; one that is gone (emptied and removed since) has nothing to sync.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir) {
        Ok(folder) => folder.sync_all(),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// How a new file's bytes are made durable before a rename publishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSync {
    /// fsync off.
    Off,
    /// `fdatasync` the file.
    Each,
    /// Write the file's pages to the disk and wait for them (`sync_file_range`); the
    /// sync of the folder it is then renamed into makes them durable (journaled ext4
    /// only, see above). Only for files whose publication syncs a folder.
    WithFolder,
    /// As `Each`, except that bodies up to `JOURNAL_MAX_BODY` of unversioned objects
    /// are carried by the intent journal (`journal.rs`): one sync per batch of writers.
    Journal,
}

impl FileSync {
    /// The way for a store at `root`.
    pub fn for_root(root: &Path, fsync: bool) -> FileSync {
        match (fsync, journaled_ext4(root)) {
            (false, _) => FileSync::Off,
            (true, true) => FileSync::WithFolder,
            // In memory a sync costs next to nothing: nothing to share.
            (true, false)
                if super::cached::Reads::for_root(root) == super::cached::Reads::Memory =>
            {
                FileSync::Each
            }
            (true, false) => FileSync::Journal,
        }
    }

    /// For the start-up log (fsync on).
    pub fn describe(self) -> Option<&'static str> {
        match self {
            FileSync::Off => None,
            FileSync::Each => Some("each new file is fdatasynced, then its folder"),
            FileSync::WithFolder => Some(
                "journaled ext4: new files are written back, then one folder sync commits them",
            ),
            FileSync::Journal => Some(
                "small writes go through the intent journal (one sync per batch of writers); other new files are fdatasynced, then their folder",
            ),
        }
    }

    pub fn is_on(self) -> bool {
        self != FileSync::Off
    }

    /// Whether a body of `size` bytes may be left unsynced by its writer, because the
    /// journal will carry it if its object is unversioned (else the commit syncs it).
    pub fn journal_carries(self, size: u64) -> bool {
        self == FileSync::Journal && size <= JOURNAL_MAX_BODY
    }

    pub fn sync(self, file: &std::fs::File) -> std::io::Result<()> {
        match self {
            FileSync::Off => Ok(()),
            FileSync::Each | FileSync::Journal => file.sync_data(),
            FileSync::WithFolder => {
                let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER;
                // SAFETY: plain system call on a descriptor open for the call.
                match unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, flags) } {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            }
        }
    }
}

/// Whether `root` is on ext4 with its journal inside (jbd2 names it `<device>-8`, the
/// journal's inode): without a journal, or with it on another device, a folder sync
/// is not known to commit other files' metadata, and each file is fdatasynced.
fn journaled_ext4(root: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;
    if super::filesystem_type(root) != Some(EXT4_SUPER_MAGIC) {
        return false;
    }
    let Ok(dev) = std::fs::metadata(root).map(|m| m.dev()) else {
        return false;
    };
    let block = format!("/sys/dev/block/{}:{}", libc::major(dev), libc::minor(dev));
    std::fs::canonicalize(block)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|name| Path::new(&format!("/proc/fs/jbd2/{name}-8")).exists())
}

impl Store {
    /// Makes the names in `dir` durable (fsync on): now, or at the end of this thread's batch.
    pub(super) fn sync_entries(&self, dir: &Path) -> std::io::Result<()> {
        if !self.file_sync.is_on() || journaled() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_journaled_ext4_defers_file_syncs_to_the_folder() {
        let shm = Path::new("/dev/shm");
        assert_eq!(FileSync::for_root(shm, false), FileSync::Off);
        // tmpfs has no journal: every file is fdatasynced.
        if shm.is_dir() {
            assert_eq!(FileSync::for_root(shm, true), FileSync::Each);
        }
        // Elsewhere small writes go through the intent journal.
        assert_eq!(
            FileSync::for_root(Path::new("/no/such/folder"), true),
            FileSync::Journal
        );
    }
}
