//! Storage: the interface the S3 layer uses (`interface.rs`, errors in `error.rs`)
//! and its filesystem implementation. In the filesystem store buckets are folders
//! under the root, objects plain files with a JSON metadata sidecar (see
//! `keypath.rs`), everything written atomically (see `commit.rs`); `fs.rs` runs its
//! blocking file I/O on tokio's blocking pool behind the interface.

pub mod bucket_config;
pub mod buckets;
mod cached;
pub mod capacity;
pub mod commit;
mod content;
mod dircache;
mod durable;
pub mod error;
mod fs;
pub mod interface;
mod journal;
pub mod keypath;
pub mod list;
mod locks;
pub mod meta;
mod metacache;
pub mod multipart;
pub mod objects;
pub mod pool;
pub mod sealing;
pub mod stats;
mod trash;
pub mod versions;
pub mod writeback;
pub mod writer;

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use content::{ByteStream, Content};
pub use error::{Error, Result};
pub use interface::Storage;

/// A change that the host can observe (sent over the bridge as an event).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "camelCase")]
pub enum Change {
    BucketCreated {
        bucket: String,
    },
    BucketDeleted {
        bucket: String,
    },
    #[serde(rename_all = "camelCase")]
    ObjectCreated {
        bucket: String,
        key: String,
        size: u64,
        etag: String,
        overwrite: bool,
    },
    ObjectDeleted {
        bucket: String,
        key: String,
        /// Why, when not at a client's request.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<DeleteReason>,
    },
    #[serde(rename_all = "camelCase")]
    MultipartCompleted {
        bucket: String,
        key: String,
        size: u64,
        etag: String,
        upload_id: String,
    },
}

pub type Observer = Box<dyn Fn(Change) + Send + Sync>;

/// Why storage deleted something no client asked it to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeleteReason {
    /// A bucket's lifecycle rule expired it.
    Lifecycle,
}

pub struct Inner {
    pub root: PathBuf,
    tmp: PathBuf,
    /// Whether writes are fsynced, and how new files reach the disk before their rename.
    file_sync: durable::FileSync,
    /// How small GETs read without waiting for the disk (`cached.rs`).
    reads: cached::Reads,
    /// Object keys' locks; write locks are taken through `lock_key` (`metacache.rs`).
    locks: locks::KeyLocks,
    /// The metadata of current objects read recently (`metacache.rs`).
    meta_cache: metacache::MetaCache,
    /// Locks for multipart uploads: a table of their own, because completing an upload
    /// holds its upload lock while it takes the key's lock (one table could stripe both
    /// onto one lock and deadlock).
    upload_locks: locks::KeyLocks,
    /// One lock per bucket (striped): held shared by every write that adds to a bucket,
    /// exclusively by DeleteBucket. Lock order: upload lock, bucket gate, key lock.
    bucket_gates: locks::KeyLocks,
    /// Sorted entries of big folders between listing pages (see `dircache.rs`).
    dirs: dircache::DirCache,
    /// Bucket creations take turns (see `create_bucket_with`).
    creating: std::sync::Mutex<()>,
    pub stats: stats::Stats,
    /// Each bucket's versioning state, read from its record once (every write asks).
    versioning: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
    observer: Option<Observer>,
    /// `Storage::shared_document`s: one process shares them with itself only, so
    /// memory is enough (the credentials of the config are the ones at start).
    pub shared: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// The intent journal of small durable writes (`FileSync::Journal`), once the
    /// records a crash left were applied at start.
    journal: std::sync::OnceLock<Arc<journal::Journal>>,
    /// Removed files waiting to be unlinked off the request path (`trash.rs`).
    trash: Arc<trash::Trash>,
}

/// Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Store(Arc<Inner>);

impl std::ops::Deref for Store {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub const TMP_DIR: &str = ".tmp";
/// Subfolders of `TMP_DIR` that temporaries are spread over (see `temp_path`).
const TMP_SHARDS: usize = 16;
/// Multipart uploads, one folder per bucket: `.uploads/<bucket>/<uploadId>/`.
pub const UPLOADS_DIR: &str = ".uploads";
/// Where engines before per-bucket upload folders kept every upload (`.multipart/<uploadId>/`);
/// moved to `UPLOADS_DIR` at start.
pub const LEGACY_MULTIPART_DIR: &str = ".multipart";
pub const BUCKETS_DIR: &str = ".buckets";
pub const POLICIES_DIR: &str = ".policies";
pub const CORS_DIR: &str = ".cors";
pub const ENCRYPTION_DIR: &str = ".encryption";
/// Lifecycle configurations (PutBucketLifecycleConfiguration).
pub const LIFECYCLE_DIR: &str = ".lifecycle";
/// Owners and access settings of buckets (ACL, ownership controls, public access block).
pub const ACCESS_DIR: &str = ".access";
/// Object lock configurations of buckets (whether lock is on, the default retention).
pub const OBJECT_LOCK_DIR: &str = ".object-lock";
pub const VERSIONS_DIR: &str = ".versions";
/// The intent journal's generations (`journal.rs`).
pub const JOURNAL_DIR: &str = ".journal";
/// How often the journal is checkpointed, in seconds, unless the environment's
/// `SMARTSTORAGE_JOURNAL_CHECKPOINT_SECONDS` says otherwise.
const JOURNAL_CHECKPOINT_SECONDS: f64 = 1.0;

/// The type (`f_type` magic) of the file system `path` is on, if `statfs` can tell.
pub(super) fn filesystem_type(path: &Path) -> Option<i64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statfs writes into the zeroed struct it is given.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c_path.as_ptr(), &mut fs) } == 0).then_some(fs.f_type as i64)
}

impl Store {
    /// Opens (creating if needed) a store at `root`, finishes any commit a crash
    /// interrupted, and counts what each bucket holds.
    pub fn open(root: &Path, fsync: bool, observer: Option<Observer>) -> std::io::Result<Store> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        for dir in [
            TMP_DIR,
            UPLOADS_DIR,
            BUCKETS_DIR,
            POLICIES_DIR,
            CORS_DIR,
            ENCRYPTION_DIR,
            LIFECYCLE_DIR,
            ACCESS_DIR,
            OBJECT_LOCK_DIR,
            VERSIONS_DIR,
        ] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        let trash = trash::Trash::new(&root);
        let inner = Inner {
            tmp: root.join(TMP_DIR),
            file_sync: durable::FileSync::for_root(&root, fsync),
            reads: cached::Reads::for_root(&root),
            root,
            locks: locks::KeyLocks::new(),
            meta_cache: metacache::MetaCache::new(),
            upload_locks: locks::KeyLocks::new(),
            bucket_gates: locks::KeyLocks::new(),
            dirs: dircache::DirCache::new(),
            creating: std::sync::Mutex::new(()),
            stats: stats::Stats::default(),
            versioning: Default::default(),
            observer,
            shared: Default::default(),
            journal: Default::default(),
            trash,
        };
        let store = Store(Arc::new(inner));
        if let Some(how) = store.file_sync.describe() {
            crate::log::info(&format!("durable writes: {how}"));
        }
        commit::recover(&store)?;
        for shard in 0..TMP_SHARDS {
            std::fs::create_dir_all(store.tmp.join(format!("{shard:x}")))?;
        }
        store.replay_journal()?;
        trash::Trash::start_emptying(&store.trash);
        for bucket in store.bucket_names()? {
            store.stats.add_unscanned_bucket(&bucket);
        }
        Ok(store)
    }

    /// Counts every bucket's objects in the background (see `stats.rs`).
    pub fn spawn_initial_scan(&self) {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            for bucket in store.bucket_names().unwrap_or_default() {
                let dir = store.bucket_dir(&bucket);
                let result = list::for_each_key(&dir, &mut |key| {
                    let _guard = store.locks.read(&bucket, key);
                    let found = match commit::read_meta(&dir.join(keypath::meta_relative(key))) {
                        Ok(meta) => stats::Counters {
                            objects: 1,
                            bytes: meta.size,
                        },
                        Err(_) => stats::Counters::default(),
                    };
                    store.stats.scanned(&bucket, key, found);
                });
                store.stats.scan_finished(&bucket);
                let versions_ns = versions::versions_stats_ns(&bucket);
                let versions_result =
                    list::for_each_key(&store.versions_root(&bucket), &mut |key| {
                        let _guard = store.locks.read(&bucket, key);
                        store.stats.scanned(
                            &versions_ns,
                            key,
                            store.stored_version_counters(&bucket, key),
                        );
                    });
                store.stats.scan_finished(&versions_ns);
                if let Err(e) = result.and(versions_result) {
                    crate::log::warn(&format!("initial scan of bucket {bucket} failed: {e}"));
                }
            }
            crate::log::info(&format!(
                "initial scan finished in {} ms",
                started.elapsed().as_millis()
            ));
        });
    }

    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// Fails with `NoSuchBucket` unless the bucket exists.
    pub fn require_bucket(&self, bucket: &str) -> Result<PathBuf> {
        let dir = self.bucket_dir(bucket);
        if buckets::valid_bucket_name(bucket) && dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::no_such_bucket(bucket))
        }
    }

    /// Holds the bucket open for a write that adds to it: DeleteBucket cannot take the
    /// bucket away until the guard drops, so the write either lands before its
    /// emptiness check (which then fails) or finds no bucket (`NoSuchBucket`); it
    /// never lands in a bucket being deleted. Never take while holding a key lock.
    pub fn enter_bucket(
        &self,
        bucket: &str,
    ) -> Result<(PathBuf, std::sync::RwLockReadGuard<'_, ()>)> {
        let guard = self.bucket_gates.read(bucket, "");
        Ok((self.require_bucket(bucket)?, guard))
    }

    /// Holds the bucket against every write (DeleteBucket).
    fn close_bucket(&self, bucket: &str) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.bucket_gates.write(bucket, "")
    }

    fn notify(&self, change: Change) {
        if let Some(observer) = &self.observer {
            observer(change);
        }
    }

    pub fn capacity(&self) -> std::io::Result<capacity::Capacity> {
        capacity::capacity(&self.root)
    }

    pub fn probe(&self) -> capacity::DriveProbe {
        capacity::probe(&self.root, &self.tmp)
    }

    /// A fresh temporary path on the same filesystem as the objects, in one of
    /// `TMP_SHARDS` folders picked at random: every create, rename and unlink locks its
    /// folder, and one shared folder made concurrent small PUTs queue on that lock.
    pub fn temp_path(&self, ext: &str) -> PathBuf {
        let id = uuid::Uuid::new_v4();
        let shard = id.as_u128() as usize % TMP_SHARDS;
        self.tmp.join(format!("{shard:x}/{}.{ext}", id.simple()))
    }

    /// Runs blocking filesystem work off the async threads.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(Error::internal)?
    }
}
