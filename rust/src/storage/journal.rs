//! The intent journal: durable small writes with one disk sync per batch of writers.
//!
//! With fsync on, a small PUT would sync its data file, its metadata file and its folder:
//! three syncs, each of which writes its own inode and flushes the disk. A journaled write
//! instead appends one record (the metadata and the bytes) to the
//! live journal file and waits until a sync of that file covers it: the first waiter syncs,
//! and everyone whose record that sync covered returns with it (group commit). The files
//! themselves are then written and renamed without syncs, and the answer goes out.
//!
//! The records stay until a checkpoint has made the files durable: the checkpoint starts a
//! new journal generation, waits until every write of the old one has finished its
//! renames, syncs the whole file system (`sync_all`), and only then removes the old file.
//! At start, `Journal::open` hands back the records of every generation still on disk, in
//! order, for the store to apply again through its durable path before it serves.
//!
//! A record on disk is `[len u32][crc32 u32][body]` (little endian); the body is the
//! record in MessagePack. Reading stops at the first torn or damaged record: a record is
//! only ever acknowledged once a sync covered it, so what follows a damaged one was never
//! acknowledged.
//!
//! A key with a record in the journal must not be changed by a write the journal does not
//! carry, or applying the record again at start would undo that change: such writes call
//! `checkpoint` first when `has_record` says so (see `Store::lock_key`).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::durable::sync_dir;

use serde::{Deserialize, Serialize};

/// One journaled write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// An object (of an unversioned bucket) published with this metadata (as stored,
    /// JSON) and these bytes (as stored: sealed, when encrypted).
    Put {
        bucket: String,
        key: String,
        #[serde(with = "serde_bytes")]
        meta: Vec<u8>,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
}

impl Record {
    fn bucket_key(&self) -> (&str, &str) {
        match self {
            Record::Put { bucket, key, .. } => (bucket, key),
        }
    }
}

const SUFFIX: &str = "journal";

fn file_name(generation: u64) -> String {
    format!("{generation:016x}.{SUFFIX}")
}

fn encode(record: &Record) -> Vec<u8> {
    let body = rmp_serde::to_vec(record).expect("a record serializes");
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The whole records at the start of `bytes`, up to the first torn or damaged one.
fn decode(bytes: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        let Some(body) = rest.get(8..8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        match rmp_serde::from_slice(body) {
            Ok(record) => records.push(record),
            Err(_) => break,
        }
        rest = &rest[8 + len..];
    }
    records
}

fn key_hash(bucket: &str, key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (bucket, key).hash(&mut hasher);
    hasher.finish()
}

/// The live generation's file and what has been appended to it and synced.
struct Live {
    generation: u64,
    file: Arc<File>,
    written: u64,
    synced: u64,
    /// A writer is syncing the file now (the others wait for it).
    syncing: bool,
    /// A sync failed: nothing appended since can be known durable, so every later
    /// append fails (the store then syncs files itself).
    broken: bool,
}

struct State {
    live: Live,
    /// Per generation, journaled writes appended but not yet finished (their renames).
    in_flight: BTreeMap<u64, usize>,
    /// Keys (by `key_hash`) with a record in a generation not yet checkpointed: the
    /// newest such generation. A collision costs an early checkpoint, nothing else.
    recorded: HashMap<u64, u64>,
}

pub struct Journal {
    dir: PathBuf,
    state: Mutex<State>,
    /// Signalled when a sync ends or a generation's last write finishes.
    changed: Condvar,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
}

/// A journaled write between its append and the end of its renames: a checkpoint waits
/// for it. Dropped when the write is finished (or abandoned).
pub struct Ticket {
    journal: Arc<Journal>,
    generation: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.journal.lock();
        if let Some(n) = state.in_flight.get_mut(&self.generation) {
            *n -= 1;
            if *n == 0 {
                state.in_flight.remove(&self.generation);
            }
        }
        drop(state);
        self.journal.changed.notify_all();
    }
}

impl Journal {
    /// Opens the journal in `dir` (created if missing) and returns it with the records
    /// of every generation left on disk, oldest first: the caller applies them durably
    /// and then calls `discard_replayed`. Until then nothing may be appended.
    pub fn open(dir: &Path) -> io::Result<(Arc<Journal>, Vec<Record>)> {
        std::fs::create_dir_all(dir)?;
        let mut generations = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(hex) = name.strip_suffix(&format!(".{SUFFIX}"))
                && let Ok(generation) = u64::from_str_radix(hex, 16)
            {
                generations.push(generation);
            }
        }
        generations.sort_unstable();
        let mut records = Vec::new();
        for generation in &generations {
            records.extend(decode(&std::fs::read(dir.join(file_name(*generation)))?));
        }
        let next = generations.last().map_or(0, |g| g + 1);
        let journal = Journal {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                live: Live {
                    generation: next,
                    file: Arc::new(create(dir, next)?),
                    written: 0,
                    synced: 0,
                    syncing: false,
                    broken: false,
                },
                in_flight: BTreeMap::new(),
                recorded: HashMap::new(),
            }),
            changed: Condvar::new(),
            checkpointing: Mutex::new(()),
        };
        sync_dir(dir)?;
        Ok((Arc::new(journal), records))
    }

    /// Removes the generations before the live one, once their records were applied
    /// durably (at start).
    pub fn discard_replayed(&self) -> io::Result<()> {
        let live = self.lock().live.generation;
        self.remove_before(live)
    }

    fn remove_before(&self, generation: u64) -> io::Result<()> {
        for g in 0..generation {
            match std::fs::remove_file(self.dir.join(file_name(g))) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        sync_dir(&self.dir)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes in the live generation (for the checkpoint's trigger).
    pub fn live_bytes(&self) -> u64 {
        self.lock().live.written
    }

    /// Whether `bucket/key` has a record no checkpoint has covered yet.
    pub fn has_record(&self, bucket: &str, key: &str) -> bool {
        let state = self.lock();
        !state.recorded.is_empty() && state.recorded.contains_key(&key_hash(bucket, key))
    }

    /// Appends `record` and returns once it is on the disk. Keep the ticket until the
    /// write's files are in place.
    pub fn append(self: &Arc<Self>, record: &Record) -> io::Result<Ticket> {
        let bytes = encode(record);
        let mut state = self.lock();
        if state.live.broken {
            return Err(io::Error::other("the journal could not be synced"));
        }
        let (generation, file, at) = (
            state.live.generation,
            state.live.file.clone(),
            state.live.written,
        );
        // Written under the lock: records must not interleave, and a sync that starts
        // after this returns must cover them.
        file.write_all_at(&bytes, at)?;
        let end = at + bytes.len() as u64;
        state.live.written = end;
        let (bucket, key) = record.bucket_key();
        state.recorded.insert(key_hash(bucket, key), generation);
        *state.in_flight.entry(generation).or_default() += 1;
        let ticket = Ticket {
            journal: self.clone(),
            generation,
        };
        loop {
            // A rotation synced the old generation's file before it switched.
            if state.live.generation != generation || state.live.synced >= end {
                return Ok(ticket);
            }
            if state.live.broken {
                return Err(io::Error::other("the journal could not be synced"));
            }
            if state.live.syncing {
                state = self.wait(state);
                continue;
            }
            state.live.syncing = true;
            let target = state.live.written;
            drop(state);
            let synced = file.sync_data();
            state = self.lock();
            state.live.syncing = false;
            match &synced {
                Ok(()) => state.live.synced = state.live.synced.max(target),
                Err(_) => state.live.broken = true,
            }
            self.changed.notify_all();
            synced?;
        }
    }

    /// Makes every record so far unnecessary: starts a new generation, waits for the
    /// writes of the old ones to finish, calls `sync_all` (which must make every file
    /// and folder the store wrote durable: `syncfs`), then removes the old files.
    pub fn checkpoint(&self, sync_all: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let _one = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.lock();
        if state.live.written == 0 && state.recorded.is_empty() {
            return Ok(());
        }
        while state.live.syncing {
            state = self.wait(state);
        }
        // Writers of the old generation return once their records are synced: sync them
        // here, for the waiters a rotation would otherwise strand.
        if state.live.synced < state.live.written {
            state.live.file.sync_data()?;
            state.live.synced = state.live.written;
        }
        let old = state.live.generation;
        let file = create(&self.dir, old + 1)?;
        sync_dir(&self.dir)?;
        state.live = Live {
            generation: old + 1,
            file: Arc::new(file),
            written: 0,
            synced: 0,
            syncing: false,
            broken: false,
        };
        self.changed.notify_all();
        while state.in_flight.range(..=old).next().is_some() {
            state = self.wait(state);
        }
        drop(state);
        sync_all()?;
        self.remove_before(old + 1)?;
        self.lock()
            .recorded
            .retain(|_, generation| *generation > old);
        Ok(())
    }
}

fn create(dir: &Path, generation: u64) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(file_name(generation)))
}

impl super::Store {
    /// At start, after `recover`: applies the records a crash left in the journal
    /// through the durable path, removes them, and (`FileSync::Journal`) starts the
    /// journal and its checkpoints. Records are replayed whatever the mode now, since a
    /// store journaled before may be opened with fsync off.
    pub(super) fn replay_journal(&self) -> io::Result<()> {
        let dir = self.root.join(super::JOURNAL_DIR);
        let on = self.file_sync == super::durable::FileSync::Journal;
        if !on && !dir.exists() {
            return Ok(());
        }
        let (journal, records) = Journal::open(&dir)?;
        let replayed = records.len();
        for record in records {
            self.replay(record).map_err(io::Error::other)?;
        }
        journal.discard_replayed()?;
        if replayed > 0 {
            crate::log::info(&format!("journal: applied {replayed} records again"));
        }
        if !on {
            drop(journal);
            return std::fs::remove_dir_all(&dir);
        }
        let _ = self.journal.set(journal);
        self.spawn_checkpoints();
        Ok(())
    }

    fn replay(&self, record: Record) -> super::Result<()> {
        match record {
            Record::Put {
                bucket,
                key,
                meta,
                data,
            } => {
                let Ok(meta) = serde_json::from_slice::<super::meta::ObjectMeta>(&meta) else {
                    return Ok(());
                };
                if self.require_bucket(&bucket).is_err() {
                    return Ok(());
                }
                let staged = self.stage_bytes(&data, [0; 16])?;
                self.commit_object(&bucket, &key, staged, &meta, None)?;
            }
        }
        Ok(())
    }

    /// Makes every journaled write so far durable as files and drops its record.
    pub(super) fn checkpoint(&self) {
        if let Some(journal) = self.journal.get()
            && let Err(e) = journal.checkpoint(|| sync_file_system(&self.root))
        {
            crate::log::warn(&format!("journal checkpoint failed: {e}"));
        }
    }

    /// Checkpoints the journal every `SMARTSTORAGE_JOURNAL_CHECKPOINT_SECONDS` (1) while
    /// it has records, until the store is dropped.
    fn spawn_checkpoints(&self) {
        let every = std::env::var("SMARTSTORAGE_JOURNAL_CHECKPOINT_SECONDS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(super::JOURNAL_CHECKPOINT_SECONDS);
        let store = Arc::downgrade(&self.0);
        let _ = std::thread::Builder::new()
            .name("journal-checkpoints".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs_f64(every));
                    let Some(inner) = store.upgrade() else { return };
                    let store = super::Store(inner);
                    if store.journal.get().is_some_and(|j| j.live_bytes() > 0) {
                        store.checkpoint();
                    }
                }
            });
    }
}

/// `syncfs(2)` of the file system that holds `path`.
pub fn sync_file_system(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = File::open(path)?;
    // SAFETY: plain system call on a descriptor open for the call.
    match unsafe { libc::syncfs(dir.as_raw_fd()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, data: &[u8]) -> Record {
        Record::Put {
            bucket: "b".into(),
            key: key.into(),
            meta: format!("{{\"key\":\"{key}\"}}").into_bytes(),
            data: data.to_vec(),
        }
    }

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn records_come_back_in_order_after_a_restart_until_a_checkpoint() {
        let dir = folder("order");
        let (journal, old) = Journal::open(&dir).unwrap();
        assert!(old.is_empty());
        let written = [put("a", b"1"), put("a", b"2"), put("c", &[7; 70_000])];
        for r in &written {
            drop(journal.append(r).unwrap());
        }
        assert!(journal.has_record("b", "a") && journal.has_record("b", "c"));
        assert!(!journal.has_record("b", "z") && !journal.has_record("ba", ""));
        drop(journal);
        let (journal, replayed) = Journal::open(&dir).unwrap();
        assert_eq!(replayed, written);
        journal.discard_replayed().unwrap();
        drop(journal.append(&put("d", b"4")).unwrap());
        let mut synced = false;
        journal
            .checkpoint(|| {
                synced = true;
                Ok(())
            })
            .unwrap();
        assert!(synced);
        assert!(!journal.has_record("b", "d"));
        drop(journal.append(&put("e", b"5")).unwrap());
        drop(journal);
        let (_, replayed) = Journal::open(&dir).unwrap();
        assert_eq!(replayed, vec![put("e", b"5")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_or_damaged_record_ends_the_journal() {
        let one = encode(&put("a", b"1"));
        let two = encode(&put("b", b"2"));
        let whole = [one.clone(), two.clone()].concat();
        assert_eq!(decode(&whole).len(), 2);
        assert_eq!(decode(&whole[..whole.len() - 1]), vec![put("a", b"1")]);
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode(&flipped), vec![put("a", b"1")]);
        let mut bad_first = whole;
        bad_first[9] ^= 1;
        assert!(decode(&bad_first).is_empty());
        assert!(decode(&[0; 100]).is_empty());
    }

    #[test]
    fn a_checkpoint_waits_for_writes_still_renaming() {
        let dir = folder("wait");
        let (journal, _) = Journal::open(&dir).unwrap();
        journal.discard_replayed().unwrap();
        let ticket = journal.append(&put("a", b"1")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let j = journal.clone();
        let checkpoint = std::thread::spawn(move || {
            j.checkpoint(|| {
                tx.send(()).unwrap();
                Ok(())
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(rx.try_recv().is_err(), "synced before the write finished");
        drop(ticket);
        checkpoint.join().unwrap().unwrap();
        assert!(rx.try_recv().is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_share_syncs_and_all_come_back() {
        let dir = folder("group");
        let (journal, _) = Journal::open(&dir).unwrap();
        journal.discard_replayed().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let j = journal.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        drop(
                            j.append(&put(&format!("{t}/{i}"), &[t as u8; 100]))
                                .unwrap(),
                        );
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(journal);
        let (_, replayed) = Journal::open(&dir).unwrap();
        assert_eq!(replayed.len(), 400);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
