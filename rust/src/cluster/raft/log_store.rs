//! `RaftLogStorage` over the drives: the log is kept whole in memory (it never grows past
//! `snapshot_every` entries plus what arrived while a snapshot was built) and every change is
//! written to all healthy drives.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageError, StorageIOError, Vote};

use super::disk::{self, Ent, Id, Meta};
use super::drives::Drives;
use super::{LogError, TypeConfig};

/// The last snapshot, as on the drives.
#[derive(Clone)]
pub(crate) struct StoredSnapshot {
    pub meta: Meta,
    pub data: Arc<Vec<u8>>,
}

/// The in-memory copy of what every healthy drive holds.
#[derive(Default)]
pub(crate) struct Mem {
    pub entries: BTreeMap<u64, Ent>,
    /// Start offset of each entry in the log file, for truncation.
    pub offsets: BTreeMap<u64, u64>,
    pub file_len: u64,
    pub purged: Option<Id>,
    pub vote: Option<Vote<u64>>,
    pub committed: Option<Id>,
    pub snapshot: Option<StoredSnapshot>,
}

impl Mem {
    /// Replaces the log; answers the bytes of the log file that goes with it.
    pub fn set_log(
        &mut self,
        purged: Option<Id>,
        entries: impl IntoIterator<Item = Ent>,
    ) -> Vec<u8> {
        self.purged = purged;
        self.entries = entries.into_iter().map(|e| (e.log_id.index, e)).collect();
        self.log_file()
    }

    /// The whole log file, re-encoded (byte for byte what the drives hold).
    pub fn log_file(&mut self) -> Vec<u8> {
        let (bytes, offsets) = disk::encode_log(self.purged.as_ref(), self.entries.values());
        self.offsets = offsets.into_iter().collect();
        self.file_len = bytes.len() as u64;
        bytes
    }

    pub fn last_log_id(&self) -> Option<Id> {
        self.entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(self.purged)
    }
}

/// An append waiting for the drives: the file offset it starts at, its records, openraft's
/// callback.
pub(crate) type Queued = (u64, Vec<u8>, LogFlushed<TypeConfig>);

/// State shared by the log store, the state machine and `MetaLog`.
pub(crate) struct Shared {
    pub drives: Drives,
    /// Serializes every write to the drives (openraft requires log and vote IO in order; a
    /// resync or a snapshot must not interleave with an append either).
    pub io: Arc<tokio::sync::Mutex<()>>,
    pub mem: Mutex<Mem>,
    /// A background write of the committed id is queued.
    pub committed_pending: AtomicBool,
    /// Appended entries (encoded) waiting for the drives, with openraft's callbacks.
    pub queue: Mutex<Vec<Queued>>,
}

impl Shared {
    pub fn mem(&self) -> MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the IO lock, after writing out the queued appends (every other write must come
    /// after them).
    pub async fn lock_io(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let io = self.io.lock().await;
        self.flush_appends().await;
        io
    }

    /// Writes all queued appends as one write per drive (one fsync: group commit) and reports
    /// them to openraft. Call with the IO lock held.
    async fn flush_appends(&self) {
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return;
        }
        let start = batch[0].0;
        let mut bytes = Vec::new();
        let mut callbacks = Vec::with_capacity(batch.len());
        for (_, b, cb) in batch {
            bytes.extend_from_slice(&b);
            callbacks.push(cb);
        }
        let fsync = self.drives.fsync;
        let r = self
            .drives
            .each_ok(move |dir, files| {
                let f = match &mut files.log {
                    Some(f) => f,
                    None => files.log.insert(disk::open_log(dir)?),
                };
                // An open handle keeps working after its folder is deleted or moved (a disk
                // pulled, replaced, unmounted lazily): the path must still name this file,
                // rather than write into a ghost; and never append anywhere but at the end
                // of exactly the log we know.
                use std::os::unix::fs::MetadataExt;
                let md = f.metadata()?;
                let at_path = std::fs::metadata(dir.join(disk::LOG))
                    .map_err(|e| io::Error::other(format!("log file is gone: {e}")))?;
                if (at_path.dev(), at_path.ino()) != (md.dev(), md.ino()) {
                    return Err(io::Error::other("log file was replaced"));
                }
                if md.len() != start {
                    return Err(io::Error::other(format!(
                        "log file is {} bytes, {start} expected",
                        md.len()
                    )));
                }
                io::Write::write_all(f, &bytes)?;
                if fsync {
                    f.sync_data()?;
                }
                Ok(())
            })
            .await;
        for cb in callbacks {
            cb.log_io_completed(
                r.as_ref()
                    .map(|_| ())
                    .map_err(|e| io::Error::other(e.to_string())),
            );
        }
    }

    /// Writes a snapshot to every healthy drive and makes it the current one.
    pub async fn save_snapshot(&self, meta: Meta, data: Arc<Vec<u8>>) -> Result<(), LogError> {
        let _io = self.lock_io().await;
        let bytes = Arc::new(disk::encode_snapshot(&meta, &data));
        let fsync = self.drives.fsync;
        self.drives
            .each_ok(move |dir, _| disk::write_atomic(dir, disk::SNAPSHOT, &bytes, fsync))
            .await?;
        self.mem().snapshot = Some(StoredSnapshot { meta, data });
        Ok(())
    }

    /// Rewrites a whole drive folder from memory: snapshot first, then log, vote, committed, so
    /// that a crash halfway never leaves a compacted log without the snapshot it needs.
    /// Call with the `io` lock held.
    pub fn rewrite_drive(&self, i: usize) -> io::Result<()> {
        let (log, snap, vote, committed) = {
            let mut m = self.mem();
            let snap = m
                .snapshot
                .as_ref()
                .map(|s| disk::encode_snapshot(&s.meta, &s.data));
            let vote = m.vote.as_ref().map(disk::encode_small);
            let committed = disk::encode_committed(m.committed.as_ref());
            (m.log_file(), snap, vote, committed)
        };
        let dir = &self.drives.list[i].dir;
        let fsync = self.drives.fsync;
        crate::cluster::create_dir_in_place(dir)?;
        match snap {
            Some(s) => disk::write_atomic(dir, disk::SNAPSHOT, &s, fsync)?,
            None => remove_if_present(&dir.join(disk::SNAPSHOT))?,
        }
        disk::write_atomic(dir, disk::LOG, &log, fsync)?;
        match vote {
            Some(v) => disk::write_atomic(dir, disk::VOTE, &v, fsync)?,
            None => remove_if_present(&dir.join(disk::VOTE))?,
        }
        disk::write_atomic(dir, disk::COMMITTED, &committed, fsync)
    }

    /// Whether a drive that is marked ok still holds our files (a disk swapped underneath us
    /// comes back empty while the old file handle keeps "working").
    pub fn looks_current(&self, i: usize) -> bool {
        let (file_len, has_snap) = {
            let m = self.mem();
            (m.file_len, m.snapshot.is_some())
        };
        let dir = &self.drives.list[i].dir;
        let len = std::fs::metadata(dir.join(disk::LOG)).map(|m| m.len()).ok();
        len == Some(file_len) && dir.join(disk::SNAPSHOT).exists() == has_snap
    }
}

fn remove_if_present(p: &std::path::Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn io_err(e: LogError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The log store handed to openraft (and its own reader).
#[derive(Clone)]
pub(crate) struct LogStore {
    pub shared: Arc<Shared>,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Ent>, StorageError<u64>> {
        let m = self.shared.mem();
        Ok(m.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let m = self.shared.mem();
        Ok(LogState {
            last_purged_log_id: m.purged,
            last_log_id: m.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let _io = self.shared.lock_io().await;
        let bytes = disk::encode_small(vote);
        let fsync = self.shared.drives.fsync;
        self.shared
            .drives
            .each_ok(move |dir, _| disk::write_atomic(dir, disk::VOTE, &bytes, fsync))
            .await
            .map_err(|e| StorageIOError::write_vote(&io_err(e)))?;
        self.shared.mem().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.shared.mem().vote)
    }

    /// Written in place, without fsync and in the background (coalescing a burst into one
    /// write): openraft only uses it to re-apply the committed log at start, so a stale or torn
    /// (checksum) value merely means less is re-applied before the leader commits again.
    async fn save_committed(&mut self, committed: Option<Id>) -> Result<(), StorageError<u64>> {
        self.shared.mem().committed = committed;
        if self.shared.committed_pending.swap(true, Ordering::AcqRel) {
            return Ok(()); // the pending write will take the newest value
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let _io = shared.io.lock().await;
            shared.committed_pending.store(false, Ordering::Release);
            let bytes = disk::encode_committed(shared.mem().committed.as_ref());
            // A drive failing here is marked not ok; the quorum verdict is the next append's.
            let _ = shared
                .drives
                .each_ok(move |dir, files| {
                    let f = match &mut files.committed {
                        Some(f) => f,
                        None => files.committed.insert(
                            std::fs::OpenOptions::new()
                                .write(true)
                                .create(true)
                                .truncate(false)
                                .open(dir.join(disk::COMMITTED))?,
                        ),
                    };
                    std::os::unix::fs::FileExt::write_all_at(f, &bytes, 0)
                })
                .await;
        });
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<Id>, StorageError<u64>> {
        Ok(self.shared.mem().committed)
    }

    /// The entries are readable at once and queued; a task then writes every queued entry in
    /// one go. (openraft 0.9 awaits each append's flush before the next, so in practice a batch
    /// is one append; the group commit that counts is `batch.rs`, several commands per entry.)
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Ent> + Send,
        I::IntoIter: Send,
    {
        let mut bytes = Vec::new();
        {
            let mut m = self.shared.mem();
            let start = m.file_len;
            for e in entries {
                let at = m.file_len + bytes.len() as u64;
                disk::encode_entry(&e, &mut bytes);
                m.offsets.insert(e.log_id.index, at);
                m.entries.insert(e.log_id.index, e);
            }
            m.file_len += bytes.len() as u64;
            // Queued under the mem lock so queue order is file order.
            self.shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((start, bytes, callback));
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            drop(shared.lock_io().await);
        });
        Ok(())
    }

    async fn truncate(&mut self, log_id: Id) -> Result<(), StorageError<u64>> {
        let _io = self.shared.lock_io().await;
        let at = {
            let mut m = self.shared.mem();
            let Some(&at) = m.offsets.get(&log_id.index) else {
                return Ok(()); // nothing at or after it
            };
            m.entries.split_off(&log_id.index);
            m.offsets.split_off(&log_id.index);
            m.file_len = at;
            at
        };
        let fsync = self.shared.drives.fsync;
        self.shared
            .drives
            .each_ok(move |dir, files| {
                let f = match &mut files.log {
                    Some(f) => f,
                    None => files.log.insert(disk::open_log(dir)?),
                };
                f.set_len(at)?; // O_APPEND: the next append lands at the new end
                if fsync {
                    f.sync_data()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| StorageIOError::write_logs(&io_err(e)).into())
    }

    /// Compacts: the kept entries go to a new file that replaces the old one atomically.
    async fn purge(&mut self, log_id: Id) -> Result<(), StorageError<u64>> {
        let _io = self.shared.lock_io().await;
        let bytes = {
            let mut m = self.shared.mem();
            let kept = m.entries.split_off(&(log_id.index + 1));
            m.set_log(Some(log_id), kept.into_values())
        };
        let fsync = self.shared.drives.fsync;
        self.shared
            .drives
            .each_ok(move |dir, files| {
                files.log = None;
                disk::write_atomic(dir, disk::LOG, &bytes, fsync)
            })
            .await
            .map_err(|e| StorageIOError::write_logs(&io_err(e)).into())
    }
}
