//! The replicated metadata log: openraft (one voter per node for now) over a `Machine` the
//! caller provides, with its log and snapshots kept on every drive of the node.
//!
//! # On the drives
//!
//! Each drive folder (`<drive>/.smartstorage/raft`) holds the same four files:
//!
//! - `vote`: the Raft vote, JSON behind a crc32, replaced atomically (temp file, fsync, rename,
//!   fsync of the folder);
//! - `committed`: the last committed log id (fixed 29 bytes with a crc32), overwritten in place
//!   without fsync (openraft only uses it to re-apply at start; torn or stale is harmless);
//! - `log`: append-only records `[len u32][crc32 u32][kind, term, node, index, payload]`. A file
//!   whose prefix was purged starts with a record naming the last purged log id. Reading stops
//!   at the first torn or corrupt record (a crash mid-append), and open rewrites the file
//!   without it. Truncation cuts the file at the entry's offset; a purge (after each snapshot)
//!   writes the kept entries to a new file that replaces the old one atomically;
//! - `snapshot`: `[crc32][meta len][meta JSON][machine bytes]`, replaced atomically.
//!
//! Every write goes to all drives that are ok, in parallel (blocking pool), fsynced when
//! `fsync` is on; it succeeds once `write_quorum` drives did. A drive whose write fails is
//! marked not ok and gets nothing more until `resync_drives` rewrites it. Healthy drives
//! therefore hold byte-identical files, which the in-memory copy (`log_store::Mem`) can
//! re-encode at any time. Appends are queued and written by whichever task next takes the IO
//! lock, all queued entries at once; each append first checks the file is still the one it
//! knows (not unlinked by a swapped disk, of the expected length). Group commit proper happens
//! one level up (`batch.rs`): the commands that arrive while an entry is being written share
//! the next entry, hence one write and one fsync per drive.
//!
//! A write that misses the quorum is a storage error, which stops openraft: `write` answers
//! `Unavailable` (and checks the healthy drive count first, so later writes fail at once, never
//! hang). Once drives are back the log has to be reopened (`shutdown`, `open`), which rebuilds
//! them. A single failed drive with the quorum intact only needs `resync_drives`.
//!
//! At open every folder is read; the copy with the most advanced snapshot + contiguous log
//! (highest last log id) wins and every readable drive that differs (was offline, was replaced,
//! has a torn tail) is rewritten from it (`recover.rs`). Open fails with `Unavailable` unless
//! max(write_quorum, drives - write_quorum + 1) drives are readable: only then do the readable
//! drives overlap every quorum that acknowledged a write. A brand-new log is only created when
//! every drive is readable (and empty).
//!
//! The machine handed to `open` must be empty: it is restored from the snapshot, then the
//! committed log after it is applied.
//!
//! Modules: `disk` (file encodings), `drives` (the fan-out), `log_store` / `state_machine`
//! (openraft's storage traits), `recover` (open), `batch` (concurrent writes share an entry),
//! `network` (stub until QUIC).

mod batch;
mod disk;
mod drives;
mod log_store;
mod network;
mod recover;
mod state_machine;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::error::RaftError;
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};

use log_store::{LogStore, Shared};
use state_machine::{Applied, StateMachine};

openraft::declare_raft_types!(
    /// The openraft types of the metadata log: commands and responses are opaque bytes.
    pub TypeConfig:
        D = Vec<u8>,
        R = Vec<u8>,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The replicated state machine, seen by the log as opaque bytes (the caller serializes its commands).
pub trait Machine: Send + Sync + 'static {
    /// Applies one committed command; deterministic; returns the response bytes.
    fn apply(&mut self, command: &[u8]) -> Vec<u8>;
    /// The whole state, for a snapshot.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the whole state with a snapshot's.
    fn restore(&mut self, snapshot: &[u8]) -> std::io::Result<()>;
}

#[derive(Clone, Debug)]
pub struct LogOptions {
    pub node_id: u64,
    /// One folder per drive (e.g. <drive>/.smartstorage/raft); created if missing.
    pub dirs: Vec<PathBuf>,
    /// A write is durable once this many drives hold it (fsynced when fsync is on); fewer => LogError::Unavailable.
    pub write_quorum: usize,
    pub fsync: bool,
    /// Take a snapshot (and drop the log before it) every this many entries.
    pub snapshot_every: u64,
}

#[derive(Debug)]
pub enum LogError {
    /// Fewer than `write_quorum` drives could take (or give back) the log.
    Unavailable(String),
    Io(std::io::Error),
    /// This node does not lead (cannot happen with one voter unless it is stopping).
    NotLeader(Option<u64>),
    /// The Raft node stopped (shut down, or a storage failure made it stop: reopen the log).
    Stopped(String),
    /// Bad options.
    Invalid(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Unavailable(s) => write!(f, "metadata log unavailable: {s}"),
            LogError::Io(e) => write!(f, "metadata log I/O error: {e}"),
            LogError::NotLeader(l) => write!(f, "not the metadata log leader (leader: {l:?})"),
            LogError::Stopped(s) => write!(f, "metadata log stopped: {s}"),
            LogError::Invalid(s) => write!(f, "invalid metadata log options: {s}"),
        }
    }
}

impl std::error::Error for LogError {}

impl From<std::io::Error> for LogError {
    fn from(e: std::io::Error) -> Self {
        LogError::Io(e)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    pub leader_id: Option<u64>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// "leader" | "follower" | "candidate" | "learner" (| "shutdown")
    pub role: String,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
}

/// A drive whose last write failed is not ok.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveLogState {
    pub dir: PathBuf,
    pub ok: bool,
    pub error: Option<String>,
}

pub struct MetaLog<M: Machine> {
    node_id: u64,
    raft: Raft<TypeConfig>,
    shared: Arc<Shared>,
    applied: Arc<std::sync::Mutex<Applied>>,
    writes: tokio::sync::mpsc::UnboundedSender<batch::Waiter>,
    _machine: std::marker::PhantomData<fn() -> M>,
}

/// How long `open` waits for this node to lead and catch up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

impl<M: Machine> MetaLog<M> {
    /// Opens (or creates: initializes a one-voter cluster of node_id) the log over the drives, restores the machine from the newest snapshot found on the drives, replays the committed log, and waits (bounded, a few seconds) until this node leads.
    /// `machine` must be in its empty state.
    pub async fn open(opts: LogOptions, machine: Arc<RwLock<M>>) -> Result<Self, LogError> {
        if opts.dirs.is_empty() || opts.write_quorum == 0 || opts.write_quorum > opts.dirs.len() {
            return Err(LogError::Invalid(format!(
                "{} drives, write quorum {}",
                opts.dirs.len(),
                opts.write_quorum
            )));
        }
        let (dirs, quorum, fsync) = (opts.dirs.clone(), opts.write_quorum, opts.fsync);
        let (shared, fresh) =
            tokio::task::spawn_blocking(move || recover::recover(&dirs, quorum, fsync))
                .await
                .map_err(|e| LogError::Stopped(e.to_string()))??;
        let shared = Arc::new(shared);

        // The machine starts from the snapshot; openraft re-applies the committed log after it.
        let mut applied = Applied::default();
        if let Some(s) = shared.mem().snapshot.clone() {
            machine
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .restore(&s.data)?;
            applied = Applied {
                last: s.meta.last_log_id,
                membership: s.meta.last_membership.clone(),
            };
        }

        let config = Config {
            cluster_name: "smartstorage-meta".into(),
            heartbeat_interval: 250,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(opts.snapshot_every.max(1)),
            // The snapshot holds everything: drop the whole log before it.
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        }
        .validate()
        .map_err(|e| LogError::Invalid(e.to_string()))?;

        let sm = StateMachine::new(machine, applied, shared.clone());
        let applied = sm.applied.clone();
        let raft = Raft::new(
            opts.node_id,
            Arc::new(config),
            network::Network,
            LogStore {
                shared: shared.clone(),
            },
            sm,
        )
        .await
        .map_err(|e| LogError::Stopped(e.to_string()))?;
        let (writes, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(batch::run(raft.clone(), shared.clone(), rx));
        let log = MetaLog {
            node_id: opts.node_id,
            raft,
            shared,
            applied,
            writes,
            _machine: std::marker::PhantomData,
        };
        if let Err(e) = log.start(fresh).await {
            log.shutdown().await;
            return Err(e);
        }
        Ok(log)
    }

    /// Makes this node lead (a fresh log is initialized; a restarted one, as its only voter,
    /// resumes leading or elects itself at once) and waits until the committed log is applied.
    async fn start(&self, fresh: bool) -> Result<(), LogError> {
        if fresh {
            self.raft
                .initialize(BTreeSet::from([self.node_id]))
                .await
                .map_err(|e| LogError::Stopped(format!("initialize: {e}")))?;
        }
        let id = self.node_id;
        let is_leader = |m: &openraft::RaftMetrics<u64, BasicNode>| {
            m.state == ServerState::Leader && m.current_leader == Some(id)
        };
        if !is_leader(&self.raft.metrics().borrow()) {
            // No need to sit out an election timeout when we are the only voter.
            let _ = self.raft.trigger().elect().await;
        }
        self.raft
            .wait(Some(OPEN_TIMEOUT))
            .metrics(is_leader, "this node leads")
            .await
            .map_err(|e| LogError::Unavailable(format!("did not become leader: {e}")))?;
        tokio::time::timeout(OPEN_TIMEOUT, self.read_barrier())
            .await
            .map_err(|_| LogError::Unavailable("log replay timed out".into()))?
    }

    /// Proposes a command; answers the machine's response once it is committed (on write_quorum drives) and applied.
    pub async fn write(&self, command: Vec<u8>) -> Result<Vec<u8>, LogError> {
        // Refuse early rather than feed openraft a write the drives cannot take (it would stop).
        self.shared.drives.check_quorum()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writes
            .send((command, tx))
            .map_err(|_| LogError::Stopped("write batcher gone".into()))?;
        rx.await
            .map_err(|_| LogError::Stopped("write batcher gone".into()))?
    }

    /// Linearizable read barrier (openraft ensure_linearizable): after it returns, reading the machine sees every write acknowledged before the call.
    pub async fn read_barrier(&self) -> Result<(), LogError> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(e)) => match e {
                openraft::error::CheckIsLeaderError::ForwardToLeader(f) => {
                    Err(LogError::NotLeader(f.leader_id))
                }
                e => Err(LogError::Unavailable(e.to_string())),
            },
            Err(e) => Err(self.stopped(e)),
        }
    }

    fn stopped(&self, e: impl fmt::Display) -> LogError {
        batch::stopped(&self.shared, e)
    }

    pub fn status(&self) -> RaftStatus {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let membership = m.membership_config.membership();
        RaftStatus {
            // A stopped node (storage failure, shutdown) leads nothing whatever it last knew.
            leader_id: m
                .current_leader
                .filter(|_| m.state != ServerState::Shutdown),
            term: m.current_term,
            commit_index: self.shared.mem().committed.map_or(0, |c| c.index),
            // Ours rather than the metrics', which trail the responses.
            applied_index: self
                .applied
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last
                .map_or(0, |a| a.index),
            role: role.into(),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
        }
    }

    pub fn drives(&self) -> Vec<DriveLogState> {
        self.shared.drives.states()
    }

    /// Brings drives that failed or came back empty (a replaced disk) up to date: writes them the current snapshot and log. Called by the owner when a drive returns.
    /// Answers how many drives were rewritten. A drive that still fails stays not ok.
    pub async fn resync_drives(&self) -> Result<usize, LogError> {
        let _io = self.shared.lock_io().await;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut rewritten = 0;
            for i in 0..shared.drives.list.len() {
                if shared.drives.is_ok(i) && shared.looks_current(i) {
                    continue;
                }
                let r = shared.rewrite_drive(i);
                if r.is_ok() {
                    rewritten += 1;
                }
                shared.drives.set(i, &r);
            }
            rewritten
        })
        .await
        .map_err(|e| LogError::Stopped(e.to_string()))
    }

    /// Stops the Raft node and waits for the drive writes under way (call it before dropping).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
        for _ in 0..100 {
            let _io = self.shared.lock_io().await;
            if !self
                .shared
                .committed_pending
                .load(std::sync::atomic::Ordering::Acquire)
            {
                break;
            }
            drop(_io);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
