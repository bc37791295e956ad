//! Removed files whose blocks are freed off the request path.
//!
//! Unlinking a file's last name frees its blocks, and on a file system mounted with
//! online discard (`-o discard`, common on cloud and virtual disks) ext4 trims them
//! inside that `unlink`, or inside the `rename` that replaces the file. On the bench
//! machine's disk that made a 1,000-key DeleteObjects about five times slower, and
//! overwrites of small objects 2.5 times slower, than on the same disk without
//! discard. There, what a request removes is parked in `.tmp` instead (renamed there,
//! or for a file about to be replaced, given a second name there), which readers see
//! exactly as they saw the unlink, and a thread of the store's own unlinks it.
//! Elsewhere files are removed at once, as before: a parked name costs an overwrite
//! about a tenth of its rate, and space freed at once is what a client deleting
//! objects on a full disk expects. Whole folder trees (an emptied or deleted bucket,
//! and with online discard a finished upload's parts) are moved into `.tmp` and
//! removed by a blocking task of their own.
//!
//! What a crash leaves in `.tmp`, start-up removes with the other temporaries; start-up
//! itself (the journal's replay) frees at once, since the thread starts after it, so that
//! `.tmp` is empty when the store opens. A store dropped removes what is left at once.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

/// Files queued at most; beyond, removals free at once. A burst of deletes must not grow
/// memory without bound (about 100 bytes a file), and at about 0.1 ms a file this keeps
/// the space parked at any moment to what the thread frees within ten seconds: a client
/// deleting objects to make room on a full disk gets it back within that, most often at
/// once. A DeleteObjects of 10,000 keys (20,000 files) fits.
const MAX_QUEUED: usize = 100_000;

#[derive(Default)]
struct Queue {
    parked: Vec<PathBuf>,
    /// Batches taken from the queue so far, by the thread or by writers that found the
    /// disk full.
    taken: u64,
}

pub(super) struct Trash {
    queue: Mutex<Queue>,
    arrived: Condvar,
    /// Signalled when a batch has been freed.
    settled: Condvar,
    /// Batches freed so far (changed under the queue's lock).
    done: AtomicU64,
    /// Files parked so far.
    #[cfg(test)]
    pushed: std::sync::atomic::AtomicUsize,
    /// Whether a thread empties the trash (if none could be started, removals free at once).
    emptied: AtomicBool,
    /// Whether single files are parked: the file system trims blocks as it frees them.
    parks_files: bool,
}

impl Trash {
    /// A trash for the store at `root`. Until `start_emptying`, removals free at once:
    /// start-up (recovery, the journal's replay) leaves `.tmp` empty. Unit tests park
    /// wherever they run, so that they take the parking paths on any disk.
    pub(super) fn new(root: &Path) -> Arc<Trash> {
        let discards = cfg!(test) || online_discard(root);
        if discards {
            crate::log::info(
                "the file system discards freed blocks online: removed files are unlinked in the background",
            );
        }
        Trash::with(discards)
    }

    fn with(parks_files: bool) -> Arc<Trash> {
        Arc::new(Trash {
            queue: Mutex::default(),
            arrived: Condvar::new(),
            settled: Condvar::new(),
            done: AtomicU64::new(0),
            #[cfg(test)]
            pushed: Default::default(),
            emptied: AtomicBool::new(false),
            parks_files,
        })
    }

    /// Starts the thread that empties the trash, which ends once the trash is dropped;
    /// from then on removals may be parked.
    pub(super) fn start_emptying(trash: &Arc<Trash>) {
        let weak = Arc::downgrade(trash);
        let started = std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || empty_until_dropped(weak));
        match started {
            Ok(_) => trash.emptied.store(true, Ordering::Release),
            Err(e) => crate::log::warn(&format!("no trash thread, removals free at once: {e}")),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a file removed now is parked: on a discarding file system, once the thread
    /// runs, while the queue has room.
    fn parks_files(&self) -> bool {
        self.parks_files
            && self.emptied.load(Ordering::Acquire)
            && self.lock().parked.len() < MAX_QUEUED
    }

    fn push(&self, parked: PathBuf) {
        #[cfg(test)]
        self.pushed.fetch_add(1, Ordering::Relaxed);
        self.lock().parked.push(parked);
        self.arrived.notify_one();
    }

    /// Waits up to `timeout` for entries, and takes them all.
    fn take(&self, timeout: Duration) -> Vec<PathBuf> {
        let queue = self.lock();
        let (mut queue, _) = self
            .arrived
            .wait_timeout_while(queue, timeout, |q| q.parked.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        take_batch(&mut queue)
    }

    /// Frees a batch taken from the queue, and says so (also if freeing it panicked:
    /// writers waiting for it must not wait for ever).
    fn free_batch(&self, batch: Vec<PathBuf>) {
        struct Done<'a>(&'a Trash);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                let _queue = self.0.lock();
                self.0.done.fetch_add(1, Ordering::Release);
                self.0.settled.notify_all();
            }
        }
        let _done = Done(self);
        free(batch);
    }

    /// Frees, in the caller's thread, what waits in the queue, then waits for the batches
    /// taken before (by the thread or other writers). Returns whether any batch was freed
    /// since `seen` (`done` before the write that found the disk full): then room may be
    /// back.
    fn free_now(&self, seen: u64) -> bool {
        let batch = take_batch(&mut self.lock());
        if !batch.is_empty() {
            self.free_batch(batch);
        }
        let queue = self.lock();
        let taken = queue.taken;
        drop(
            self.settled
                .wait_while(queue, |_| self.done.load(Ordering::Acquire) < taken)
                .unwrap_or_else(|e| e.into_inner()),
        );
        self.done.load(Ordering::Acquire) != seen
    }

    /// Waits until everything parked so far is freed.
    #[cfg(test)]
    fn settle(&self) {
        let queue = self.lock();
        let _settled = self
            .settled
            .wait_while(queue, |q| {
                self.done.load(Ordering::Acquire) < q.taken || !q.parked.is_empty()
            })
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Runs `write`; where it fails for want of space while removed files wait in the
    /// trash, frees them at once and runs it again: a client that deleted objects to make
    /// room on a full disk gets the room now, not when the thread gets there. `write`
    /// must be safe to run twice (it starts over, or resumes where it stopped).
    pub(super) fn with_room<T>(&self, mut write: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        let seen = self.done.load(Ordering::Acquire);
        match write() {
            Err(e) if is_full(&e) && self.free_now(seen) => write(),
            result => result,
        }
    }
}

/// Takes what waits in the queue as one batch.
fn take_batch(queue: &mut Queue) -> Vec<PathBuf> {
    let batch = std::mem::take(&mut queue.parked);
    if !batch.is_empty() {
        queue.taken += 1;
    }
    batch
}

/// Whether an error says the disk (or the quota) is full.
fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl Drop for Trash {
    fn drop(&mut self) {
        let queue = self.queue.get_mut().unwrap_or_else(|e| e.into_inner());
        free(std::mem::take(&mut queue.parked));
    }
}

/// The trash's thread. It lets go of the trash at least once a second, so that
/// dropping the store drops the trash soon after.
fn empty_until_dropped(trash: Weak<Trash>) {
    while let Some(trash) = trash.upgrade() {
        let parked = trash.take(Duration::from_secs(1));
        if !parked.is_empty() {
            trash.free_batch(parked);
        }
    }
}

fn free(parked: Vec<PathBuf>) {
    for path in parked {
        match std::fs::remove_file(&path) {
            // Gone with its folder (a test's store removed under it).
            Err(e) if e.kind() != ErrorKind::NotFound => {
                crate::log::warn(&format!("cannot remove {}: {e}", path.display()))
            }
            _ => {}
        }
    }
}

/// Removes a tree of temporaries off the caller's path (at once outside a runtime); what
/// a crash leaves of it, start-up removes with the other temporaries. Trees stay out of
/// the trash's queue, so that one big bucket does not hold up the files behind it.
pub(super) fn remove_tree_in_background(tree: PathBuf) {
    let remove = move || {
        if let Err(e) = std::fs::remove_dir_all(&tree) {
            crate::log::warn(&format!("cannot remove {}: {e}", tree.display()));
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(remove)),
        Err(_) => remove(),
    }
}

/// Whether the file system holding `root` trims blocks as it frees them: mounted with
/// `discard` (ext4, XFS) or `discard=sync` (btrfs; its `discard=async` queues them).
fn online_discard(root: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(meta), Ok(mounts)) = (
        std::fs::metadata(root),
        std::fs::read_to_string("/proc/self/mountinfo"),
    ) else {
        return false;
    };
    let dev = format!("{}:{}", libc::major(meta.dev()), libc::minor(meta.dev()));
    discards(&mounts, &dev)
}

/// Whether `mountinfo` (the text of `/proc/self/mountinfo`) mounts device `dev`
/// ("major:minor") with online discard. Its fields: id, parent, major:minor, root,
/// mount point, options, optional tags, "-", type, source, the file system's options.
fn discards(mountinfo: &str, dev: &str) -> bool {
    mountinfo
        .lines()
        .filter(|line| line.split(' ').nth(2) == Some(dev))
        .filter_map(|line| line.split(" - ").nth(1)?.split(' ').nth(2))
        .any(|options| {
            options
                .split(',')
                .any(|o| o == "discard" || o == "discard=sync")
        })
}

impl super::Store {
    /// Removes the file `path` as `remove_file` does (an error if it does not exist); with
    /// online discard its blocks are freed later, by the trash's thread. For files: a
    /// folder would be moved whole.
    pub(super) fn remove_file_soon(&self, path: &Path) -> io::Result<()> {
        if !self.trash.parks_files() {
            return std::fs::remove_file(path);
        }
        let parked = self.temp_path("trash");
        match std::fs::rename(path, &parked) {
            Ok(()) => {
                self.trash.push(parked);
                Ok(())
            }
            // Where `path` is there, the shard folder was not (a store from before the
            // shards, in recovery, or `.tmp` removed from outside): unlink it here.
            Err(e)
                if e.kind() == ErrorKind::NotFound && std::fs::symlink_metadata(path).is_err() =>
            {
                Err(e)
            }
            // Also e.g. a bucket folder on another file system: no rename into `.tmp`.
            Err(_) => std::fs::remove_file(path),
        }
    }

    /// With online discard, gives the file `path`, about to be replaced by a rename, a
    /// second name in the trash, so that the rename does not free its blocks. Best
    /// effort: where linking fails (no such file, the link limit), the rename frees them.
    pub(super) fn park_replaced(&self, path: &Path) {
        if !self.trash.parks_files() {
            return;
        }
        let parked = self.temp_path("trash");
        if std::fs::hard_link(path, &parked).is_ok() {
            self.trash.push(parked);
        }
    }

    /// Removes a folder tree so that it vanishes at once (a rename into `.tmp`, atomic),
    /// then its files: at once, or with online discard in the background. Ok if it does
    /// not exist.
    pub fn discard_tree(&self, path: &Path) -> io::Result<()> {
        self.move_tree_out(path, self.trash.parks_files)
    }

    /// `discard_tree` for whole buckets: the files are always removed in the background.
    /// Freeing the blocks of a thousand fsynced files took seconds on a busy disk, and
    /// nobody needs to wait for it.
    pub fn discard_tree_later(&self, path: &Path) -> io::Result<()> {
        self.move_tree_out(path, true)
    }

    /// Waits until the trash's thread has freed everything parked so far.
    #[cfg(test)]
    pub(super) fn settle_trash(&self) {
        self.trash.settle();
    }

    fn move_tree_out(&self, path: &Path, later: bool) -> io::Result<()> {
        let parked = self.temp_path("trash");
        match std::fs::rename(path, &parked) {
            Ok(()) if later => {
                remove_tree_in_background(parked);
                Ok(())
            }
            Ok(()) => std::fs::remove_dir_all(&parked),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict
45 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict
30 27 254:16 / /data rw,relatime - ext4 /dev/vdb rw,nodiscard
31 27 0:40 / /srv rw,relatime shared:7 - btrfs /dev/vdc rw,ssd,discard=async,space_cache=v2
32 27 0:41 / /fast rw,relatime - btrfs /dev/vdd rw,discard=sync
33 27 7:0 / /mnt/x rw,relatime - xfs /dev/loop0 rw,attr2,discard,noquota
34 27 0:22 / /tmp rw,nosuid - tmpfs tmpfs rw,size=1024k";

    #[test]
    fn online_discard_is_read_from_the_file_systems_own_options() {
        assert!(discards(MOUNTS, "254:0"), "ext4 with discard");
        assert!(!discards(MOUNTS, "254:16"), "nodiscard");
        assert!(
            !discards(MOUNTS, "0:40"),
            "btrfs discard=async queues the trims"
        );
        assert!(discards(MOUNTS, "0:41"), "btrfs discard=sync");
        assert!(discards(MOUNTS, "7:0"), "xfs with discard");
        assert!(!discards(MOUNTS, "0:22"), "tmpfs");
        assert!(!discards(MOUNTS, "8:1"), "a device not mounted");
    }

    #[test]
    fn parked_files_are_freed_by_the_thread_and_on_drop() {
        let dir = std::env::temp_dir().join(format!("trash-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let files: Vec<_> = (0..3).map(|i| dir.join(format!("f{i}"))).collect();
        let trash = Trash::with(true);
        Trash::start_emptying(&trash);
        for file in &files {
            std::fs::write(file, b"bytes").unwrap();
            trash.push(file.clone());
        }
        trash.settle();
        assert!(files.iter().all(|f| !f.exists()), "the thread left some");

        // What is still queued when the trash is dropped goes with it.
        let late = dir.join("late");
        std::fs::write(&late, b"late").unwrap();
        let unstarted = Trash {
            queue: Mutex::new(Queue {
                parked: vec![late.clone()],
                taken: 0,
            }),
            arrived: Condvar::new(),
            settled: Condvar::new(),
            done: AtomicU64::new(0),
            pushed: Default::default(),
            emptied: AtomicBool::new(false),
            parks_files: true,
        };
        drop(unstarted);
        assert!(!late.exists(), "a dropped trash left a file behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_disk_frees_the_trash_at_once_and_writes_again() {
        let dir = std::env::temp_dir().join(format!("trash-full-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let waiting = dir.join("waiting");
        std::fs::write(&waiting, b"room").unwrap();
        // No thread: only the writer can free what waits.
        let trash = Trash::with(true);
        trash.emptied.store(true, Ordering::Release);
        trash.push(waiting.clone());
        let full = || io::Error::from_raw_os_error(libc::ENOSPC);
        let mut tries = 0;
        let wrote = trash.with_room(|| {
            tries += 1;
            if waiting.exists() {
                Err(full())
            } else {
                Ok(tries)
            }
        });
        assert_eq!(
            wrote.unwrap(),
            2,
            "the write was not run again once the trash was freed"
        );
        // A writer whose write began before another writer freed the queue finds the
        // queue empty, yet may find room: it writes again too.
        let seen = trash.done.load(Ordering::Acquire);
        trash.push(dir.join("gone"));
        assert!(
            trash.free_now(trash.done.load(Ordering::Acquire)),
            "the first writer"
        );
        assert!(trash.free_now(seen), "the second writer gave up");
        // With nothing waiting, a full disk is the writer's error at once.
        let mut tries = 0;
        let failed = trash.with_room(|| -> io::Result<()> {
            tries += 1;
            Err(full())
        });
        assert_eq!(
            (failed.unwrap_err().raw_os_error(), tries),
            (Some(libc::ENOSPC), 1)
        );
        // Other errors are not retried either.
        trash.push(dir.join("gone"));
        let mut tries = 0;
        let denied = trash.with_room(|| -> io::Result<()> {
            tries += 1;
            Err(io::Error::from(ErrorKind::PermissionDenied))
        });
        assert!(denied.is_err() && tries == 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The journal's replay at start-up overwrites objects; what it replaces is freed at
    /// once, so that `.tmp` is empty when the store opens (the crash test checks that),
    /// not after the trash's thread gets to it.
    #[test]
    fn start_up_parks_nothing_and_leaves_tmp_empty() {
        use super::super::versions::tests::put;
        use super::super::{JOURNAL_DIR, Store, TMP_DIR, journal};
        let root = std::env::temp_dir().join(format!("trash-replay-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&root, false, None).unwrap();
        store.create_bucket("bkt", "us-east-1").unwrap();
        let mut meta = put(&store, "bkt", "k", b"old");
        drop(store);
        // A write acknowledged through the journal before a crash, not yet checkpointed.
        meta.size = 3;
        let (journal, _) = journal::Journal::open(&root.join(JOURNAL_DIR)).unwrap();
        let record = journal::Record::Put {
            bucket: "bkt".into(),
            key: "k".into(),
            meta: serde_json::to_vec(&meta).unwrap(),
            data: b"new".to_vec(),
        };
        drop(journal.append(&record).unwrap());
        drop(journal);

        let store = Store::open(&root, false, None).unwrap();
        let (_, mut file) = store.open_object("bkt", "k").unwrap();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut body).unwrap();
        assert_eq!(body, b"new", "the journal's write was not replayed");
        let parked = |store: &Store| store.trash.pushed.load(Ordering::Relaxed);
        assert_eq!(parked(&store), 0, "start-up parked replaced files");
        let left: Vec<_> = std::fs::read_dir(root.join(TMP_DIR))
            .unwrap()
            .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
            .collect();
        assert!(left.is_empty(), "start-up left files in .tmp: {left:?}");
        // Once open, an overwrite parks the replaced data and metadata.
        put(&store, "bkt", "k", b"newer");
        assert_eq!(
            parked(&store),
            2,
            "an overwrite after start-up was not parked"
        );
        drop(store);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
