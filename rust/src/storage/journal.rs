//! The intent journal: durable small writes with one disk sync per batch of writers.
//!
//! With fsync on, a small PUT would sync its data file, its metadata file and its folder:
//! three syncs, each of which writes its own inode and flushes the disk. A journaled write
//! instead appends one record (the metadata and the bytes, or the key it deletes), under
//! the key's lock, to the live journal file and waits until a sync of that file covers it:
//! the first waiter syncs, and everyone whose record that sync covered returns with it
//! (group commit). Waiters sleep by the sync that will cover them, so the end of a sync
//! wakes the writers it covered and one more to lead the next, not every waiter (at 64
//! writers, waking all of them on every sync and every finished write cost about a
//! tenth of the CPU). The files are then renamed or removed without syncs, and the
//! answer goes out.
//!
//! The records stay until a checkpoint has made the files durable: the checkpoint starts a
//! new journal generation, waits until every write of the old one has finished its
//! renames, syncs the whole file system (`sync_all`), and only then removes the old file.
//! A graceful stop checkpoints too (`Storage::close`). At start, `Journal::open` hands back
//! the records of every generation still on disk, in order, for the store to apply again
//! before it serves, then sync the file system once before the files go.
//!
//! A record on disk is framed by `crate::framed`; its body is the record in MessagePack,
//! and the checksum covers the generation and the body. Reading
//! stops at the first torn or damaged record: a record is only ever acknowledged once a
//! sync covered it, so what follows a damaged one was never acknowledged.
//!
//! Journal files are written with zeros ahead of the records (`PREPARE`) and a checkpoint
//! keeps one old file as the next generation's: a sync of bytes written over a file's
//! existing blocks writes no inode, size or allocation, only the bytes, which on this
//! kind of disk cuts the sync's time by about a third. The old records left in a reused
//! file carry another generation in their checksum, so reading stops at the first.
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
    /// An object of an unversioned bucket deleted.
    Delete { bucket: String, key: String },
}

impl Record {
    fn bucket_key(&self) -> (&str, &str) {
        match self {
            Record::Put { bucket, key, .. } | Record::Delete { bucket, key } => (bucket, key),
        }
    }
}

const SUFFIX: &str = "journal";
/// A checkpointed file kept for the next generation.
const SPARE: &str = "spare";
/// How far ahead of the records a journal file is written with zeros.
const PREPARE: u64 = 4 << 20;
/// A live generation this large asks for a checkpoint before its time.
pub const CHECKPOINT_BYTES: u64 = 64 << 20;

fn file_name(generation: u64) -> String {
    format!("{generation:016x}.{SUFFIX}")
}

/// One record of `generation`, framed: its checksum is salted with the generation, so a
/// record left in a reused file by an older generation does not read back.
fn encode(generation: u64, record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    crate::framed::append(&mut out, &generation.to_le_bytes(), |body| {
        rmp_serde::encode::write(body, record).expect("a record serializes")
    });
    out
}

/// The whole records of `generation` at the start of `bytes`, up to the first torn,
/// damaged or older one.
fn decode(generation: u64, bytes: &[u8]) -> Vec<Record> {
    let salt = generation.to_le_bytes();
    crate::framed::records(bytes, &salt)
        .map_while(|(_, body)| rmp_serde::from_slice(body).ok())
        .collect()
}

/// Writes zeros over `from..to` of `file`, from one static buffer (no allocation, and
/// no fresh pages to fault in, per preparation).
fn write_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    static ZEROS: [u8; 256 << 10] = [0; 256 << 10];
    let mut at = from;
    while at < to {
        let len = (to - at).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..len], at)?;
        at += len as u64;
    }
    Ok(())
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
    /// The file's length: bytes up to it exist already (zeros or older records).
    prepared: u64,
    synced: u64,
    /// A writer is syncing the file now (the others wait for it).
    syncing: bool,
    /// Syncs finished in this generation: the one under way (or next) is number `syncs`.
    syncs: u64,
    /// Where the sync under way ends: records up to it are covered by it.
    sync_target: u64,
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
    /// The oldest generation whose file may still be on disk.
    oldest: u64,
}

pub struct Journal {
    dir: PathBuf,
    state: Mutex<State>,
    /// Waiters for the sync of their record, by the parity of that sync's number: the
    /// end of sync `s` wakes all of `s`'s waiters and one of `s + 1`'s (to lead it),
    /// not those whose records it did not cover.
    synced: [Condvar; 2],
    /// Signalled when a generation's last write in flight finishes.
    drained: Condvar,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// Signalled when the live generation passes `CHECKPOINT_BYTES`.
    full: Condvar,
    #[cfg(test)]
    fail_syncs: std::sync::atomic::AtomicBool,
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
                self.journal.drained.notify_all();
            }
        }
    }
}

impl Journal {
    /// Opens the journal in `dir` (created if missing) and returns it with the records
    /// of every generation left on disk, oldest first: the caller applies them durably
    /// and then calls `discard_replayed`. Until then nothing may be appended.
    pub fn open(dir: &Path) -> io::Result<(Arc<Journal>, Vec<Record>)> {
        if !dir.is_dir() {
            // The folder's own name must survive a power loss with the records in it.
            std::fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
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
            let bytes = std::fs::read(dir.join(file_name(*generation)))?;
            records.extend(decode(*generation, &bytes));
        }
        let next = generations.last().map_or(0, |g| g + 1);
        let journal = Journal {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                live: Live::start(dir, next)?,
                in_flight: BTreeMap::new(),
                recorded: HashMap::new(),
                oldest: generations.first().copied().unwrap_or(next),
            }),
            synced: [Condvar::new(), Condvar::new()],
            drained: Condvar::new(),
            checkpointing: Mutex::new(()),
            full: Condvar::new(),
            #[cfg(test)]
            fail_syncs: Default::default(),
        };
        Ok((Arc::new(journal), records))
    }

    /// Removes the generations before the live one, once their records were applied
    /// durably (at start).
    pub fn discard_replayed(&self) -> io::Result<()> {
        let live = self.lock().live.generation;
        self.remove_before(live)
    }

    /// Removes the files of the generations before `generation`, keeping the newest as
    /// the spare if none is kept yet.
    fn remove_before(&self, generation: u64) -> io::Result<()> {
        let spare = self.dir.join(SPARE);
        let mut keep = !spare.exists();
        let oldest = self.lock().oldest;
        for g in (oldest..generation).rev() {
            let path = self.dir.join(file_name(g));
            let gone = if keep {
                std::fs::rename(&path, &spare)
            } else {
                std::fs::remove_file(&path)
            };
            keep &= gone.is_err();
            match gone {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        sync_dir(&self.dir)?;
        let mut state = self.lock();
        state.oldest = state.oldest.max(generation);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the end of sync number `sync`.
    fn wait_sync<'a>(&self, state: MutexGuard<'a, State>, sync: u64) -> MutexGuard<'a, State> {
        let synced = &self.synced[(sync % 2) as usize];
        synced.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    fn wait_drained<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.drained.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    /// `fdatasync` of a journal file (tests can make it fail, as a failing disk would).
    fn sync(&self, file: &File) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_syncs.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        file.sync_data()
    }

    /// Wakes every waiter, whatever sync it waits for.
    fn wake_all(&self) {
        self.synced.iter().for_each(Condvar::notify_all);
    }

    /// Whether a sync failed: the journal then carries nothing more.
    pub fn is_broken(&self) -> bool {
        self.lock().live.broken
    }

    /// Bytes in the live generation (for the checkpoint's trigger).
    pub fn live_bytes(&self) -> u64 {
        self.lock().live.written
    }

    /// Waits up to `timeout`, or until the live generation passes `CHECKPOINT_BYTES`.
    fn wait_until_full(&self, timeout: std::time::Duration) {
        let state = self.lock();
        if state.live.written < CHECKPOINT_BYTES {
            let _ = self.full.wait_timeout(state, timeout);
        }
    }

    /// Whether `bucket/key` has a record no checkpoint has covered yet.
    pub fn has_record(&self, bucket: &str, key: &str) -> bool {
        let state = self.lock();
        !state.recorded.is_empty() && state.recorded.contains_key(&key_hash(bucket, key))
    }

    /// Appends `record` and returns once it is on the disk. Keep the ticket until the
    /// write's files are in place.
    pub fn append(self: &Arc<Self>, record: &Record) -> io::Result<Ticket> {
        let mut state = self.lock();
        if state.live.broken {
            return Err(io::Error::other("the journal could not be synced"));
        }
        let (generation, file, at) = (
            state.live.generation,
            state.live.file.clone(),
            state.live.written,
        );
        let bytes = encode(generation, record);
        let end = at + bytes.len() as u64;
        // Written under the lock: records must not interleave, and a sync that starts
        // after this returns must cover them.
        if end > state.live.prepared {
            let prepared = end.div_ceil(PREPARE) * PREPARE;
            write_zeros(&file, state.live.prepared, prepared)?;
            state.live.prepared = prepared;
        }
        file.write_all_at(&bytes, at)?;
        if at < CHECKPOINT_BYTES && end >= CHECKPOINT_BYTES {
            self.full.notify_all();
        }
        state.live.written = end;
        let (bucket, key) = record.bucket_key();
        state.recorded.insert(key_hash(bucket, key), generation);
        *state.in_flight.entry(generation).or_default() += 1;
        let ticket = Ticket {
            journal: self.clone(),
            generation,
        };
        loop {
            if state.live.generation == generation && state.live.synced >= end {
                return Ok(ticket);
            }
            if state.live.broken {
                // Unlocked first: the ticket's drop locks the state.
                drop(state);
                return Err(io::Error::other("the journal could not be synced"));
            }
            // A rotation of an unbroken journal synced the old generation's file first.
            if state.live.generation != generation {
                return Ok(ticket);
            }
            if state.live.syncing {
                let covering = match end <= state.live.sync_target {
                    true => state.live.syncs,
                    false => state.live.syncs + 1,
                };
                state = self.wait_sync(state, covering);
                continue;
            }
            state.live.syncing = true;
            let target = state.live.written;
            state.live.sync_target = target;
            drop(state);
            let synced = self.sync(&file);
            state = self.lock();
            state.live.syncing = false;
            let this = state.live.syncs;
            state.live.syncs += 1;
            match &synced {
                Ok(()) => {
                    state.live.synced = state.live.synced.max(target);
                    self.synced[(this % 2) as usize].notify_all();
                    self.synced[((this + 1) % 2) as usize].notify_one();
                }
                Err(_) => {
                    state.live.broken = true;
                    self.wake_all();
                }
            }
            if let Err(e) = synced {
                drop(state);
                return Err(e);
            }
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
            let sync = state.live.syncs;
            state = self.wait_sync(state, sync);
        }
        // Writers of the old generation return once their records are synced: sync them
        // here, for the waiters a rotation would otherwise strand. Not after a failed
        // sync: a second fdatasync can succeed although the bytes of the first were lost,
        // so a broken journal stays broken (its writers fail, and `sync_all` below still
        // makes the files durable).
        if state.live.synced < state.live.written && !state.live.broken {
            let synced = self.sync(&state.live.file);
            match synced {
                Ok(()) => state.live.synced = state.live.written,
                Err(_) => state.live.broken = true,
            }
            // Writers waiting for the next sync: this one covered them, or failed.
            self.wake_all();
            synced?;
        }
        let (old, broken) = (state.live.generation, state.live.broken);
        state.live = Live::start(&self.dir, old + 1)?;
        state.live.broken = broken;
        self.wake_all();
        while state.in_flight.range(..=old).next().is_some() {
            state = self.wait_drained(state);
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

impl Live {
    /// Generation `generation`'s file: the spare if one is kept, else a new one. Its
    /// name is durable when this returns.
    fn start(dir: &Path, generation: u64) -> io::Result<Live> {
        let path = dir.join(file_name(generation));
        match std::fs::rename(dir.join(SPARE), &path) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let prepared = file.metadata()?.len();
        sync_dir(dir)?;
        Ok(Live {
            generation,
            file: Arc::new(file),
            written: 0,
            prepared,
            synced: 0,
            syncing: false,
            syncs: 0,
            sync_target: 0,
            broken: false,
        })
    }
}

impl super::Store {
    /// At start, after `recover`: applies the records a crash left in the journal, syncs
    /// the file system once, removes them, and (`FileSync::Journal`) starts the
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
        if replayed > 0 {
            // Applied without a sync each: the records stay on disk until one sync of the
            // file system has made all their files durable (a crash meanwhile replays
            // them all again, to the same end).
            let carried = super::durable::JournaledWrite::begin();
            for record in records {
                self.replay(record).map_err(io::Error::other)?;
            }
            drop(carried);
            sync_file_system(&self.root)?;
            crate::log::info(&format!("journal: applied {replayed} records again"));
        }
        journal.discard_replayed()?;
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
            Record::Delete { bucket, key } => {
                if self.require_bucket(&bucket).is_ok() {
                    self.delete_object(&bucket, &key, None, None)?;
                }
            }
        }
        Ok(())
    }

    /// The journal, while it can carry writes (until a sync of it fails).
    pub(super) fn usable_journal(&self) -> Option<&Arc<Journal>> {
        self.journal.get().filter(|journal| !journal.is_broken())
    }

    /// Appends `record` for a write `usable_journal` let through; returns once the
    /// record is durable. A failure fails the write: the record may still be replayed,
    /// as an unanswered write may have happened.
    pub(super) fn journal_append(&self, record: &Record) -> super::Result<Ticket> {
        let journal = self
            .journal
            .get()
            .ok_or_else(|| io::Error::other("no journal"))?;
        Ok(self.trash.with_room(|| journal.append(record))?)
    }

    /// Makes every journaled write so far durable as files and drops its record.
    pub(super) fn checkpoint(&self) {
        if let Err(e) = self.try_checkpoint() {
            crate::log::warn(&format!("journal checkpoint failed: {e}"));
        }
    }

    /// `checkpoint`, answering whether it worked.
    pub(super) fn try_checkpoint(&self) -> io::Result<()> {
        match self.journal.get() {
            Some(journal) => journal.checkpoint(|| sync_file_system(&self.root)),
            None => Ok(()),
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
                let every = std::time::Duration::from_secs_f64(every);
                loop {
                    // The wait holds the journal only, so that the store can be dropped.
                    let journal = match store.upgrade() {
                        Some(inner) => inner.journal.get().cloned(),
                        None => None,
                    };
                    let Some(journal) = journal else { return };
                    journal.wait_until_full(every);
                    let Some(inner) = store.upgrade() else { return };
                    if journal.live_bytes() > 0 {
                        super::Store(inner).checkpoint();
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

    /// The journal in `dir`, opened with nothing to replay.
    fn opened(dir: &Path) -> Arc<Journal> {
        let (journal, _) = Journal::open(dir).unwrap();
        journal.discard_replayed().unwrap();
        journal
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
        let one = encode(3, &put("a", b"1"));
        let two = encode(3, &put("b", b"2"));
        let whole = [one.clone(), two.clone()].concat();
        assert_eq!(decode(3, &whole).len(), 2);
        assert!(decode(2, &whole).is_empty(), "another generation's records");
        assert_eq!(decode(3, &whole[..whole.len() - 1]), vec![put("a", b"1")]);
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode(3, &flipped), vec![put("a", b"1")]);
        let mut bad_first = whole;
        bad_first[9] ^= 1;
        assert!(decode(3, &bad_first).is_empty());
        assert!(decode(3, &[0; 100]).is_empty());
    }

    #[test]
    fn a_reused_file_gives_back_only_its_own_generation() {
        let dir = folder("reuse");
        let journal = opened(&dir);
        use std::os::unix::fs::MetadataExt;
        let inode = |g| std::fs::metadata(dir.join(file_name(g))).unwrap().ino();
        let nothing = || Ok(());
        for key in ["a", "b", "c"] {
            drop(journal.append(&put(key, b"old")).unwrap());
        }
        let first = inode(0);
        journal.checkpoint(nothing).unwrap();
        drop(journal.append(&put("d", b"x")).unwrap());
        journal.checkpoint(nothing).unwrap();
        // The third generation reuses the first one's file, records and all.
        drop(journal.append(&put("e", b"new")).unwrap());
        assert_eq!(inode(2), first);
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, 2, "the live file and one spare");
        drop(journal);
        let (_, replayed) = Journal::open(&dir).unwrap();
        assert_eq!(replayed, vec![put("e", b"new")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_waits_for_writes_still_renaming() {
        let dir = folder("wait");
        let journal = opened(&dir);
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
        let journal = opened(&dir);
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

    #[test]
    fn after_a_failed_sync_nothing_more_is_acknowledged() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = folder("failed");
        let journal = opened(&dir);
        drop(journal.append(&put("a", b"1")).unwrap());
        journal.fail_syncs.store(true, Relaxed);
        assert!(journal.append(&put("b", b"2")).is_err());
        assert!(journal.is_broken());
        // The disk answers again: a sync would now succeed, but the journal cannot know
        // what the failed one lost, so it stays broken across checkpoints.
        journal.fail_syncs.store(false, Relaxed);
        let mut synced_files = false;
        journal
            .checkpoint(|| {
                synced_files = true;
                Ok(())
            })
            .unwrap();
        assert!(synced_files, "the checkpoint still syncs the files");
        assert!(journal.is_broken());
        assert!(journal.append(&put("c", b"3")).is_err());
        // A failed checkpoint sync breaks the journal as a writer's does.
        let dir2 = folder("failed-checkpoint");
        let journal = opened(&dir2);
        let ticket = journal.append(&put("a", b"1")).unwrap();
        drop(ticket);
        journal.lock().live.synced = 0;
        journal.fail_syncs.store(true, Relaxed);
        assert!(journal.checkpoint(|| Ok(())).is_err());
        journal.fail_syncs.store(false, Relaxed);
        assert!(journal.is_broken());
        assert!(journal.append(&put("d", b"4")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&dir2).unwrap();
    }

    #[test]
    fn writers_racing_checkpoints_are_all_acknowledged() {
        // Many more writers than one sync covers, and rotations in between: a waiter
        // left unwoken would hang here, so the test runs under a watchdog.
        let dir = folder("race");
        let journal = opened(&dir);
        let (done, finished) = std::sync::mpsc::channel();
        let writers: Vec<_> = (0..32)
            .map(|t| {
                let (j, done) = (journal.clone(), done.clone());
                std::thread::spawn(move || {
                    for i in 0..40 {
                        drop(j.append(&put(&format!("{t}/{i}"), &[1; 64])).unwrap());
                    }
                    done.send(()).unwrap();
                })
            })
            .collect();
        for _ in 0..5 {
            journal.checkpoint(|| Ok(())).unwrap();
        }
        for _ in &writers {
            let waited = finished.recv_timeout(std::time::Duration::from_secs(60));
            assert!(waited.is_ok(), "a writer was never acknowledged");
        }
        writers.into_iter().for_each(|t| t.join().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
