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
pub mod network;
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
use openraft::{Config, Raft, ServerState, SnapshotPolicy};

use log_store::{LogStore, Shared};
pub use network::{Network, Slot};
use state_machine::{Applied, StateMachine};

openraft::declare_raft_types!(
    /// The openraft types of the metadata log: commands and responses are opaque bytes.
    pub TypeConfig:
        D = Vec<u8>,
        R = Vec<u8>,
        NodeId = u64,
        Node = Member,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A member of the log: the node's name (the id users see) and its QUIC address
/// (`host:port`). Logs written before names were kept read with an empty name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub addr: String,
    #[serde(default)]
    pub name: String,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.name, self.addr)
    }
}

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
    /// How the other nodes are reached; `None`: this node is alone, for good.
    pub network: Option<Network>,
    /// This node's name (its Raft id is `node_id`).
    pub name: String,
    /// `host:port` where the other nodes reach this one.
    pub advertise: String,
    /// Nodes to join through (`host:port`); empty: a new log starts a new cluster.
    pub seeds: Vec<String>,
}

impl LogOptions {
    fn member(&self) -> Member {
        Member {
            addr: self.advertise.clone(),
            name: self.name.clone(),
        }
    }
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
    /// Every member (voters and learners) with its name and address.
    pub members: Vec<(u64, Member)>,
    /// The last index in this node's log.
    pub last_log_index: u64,
    /// On the leader: per other member, the last index it is known to hold.
    pub matched: Vec<(u64, Option<u64>)>,
    /// On the leader: how long ago a quorum last acknowledged it.
    pub quorum_ack_ms: Option<u64>,
}

/// A drive whose last write failed is not ok.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveLogState {
    pub dir: PathBuf,
    pub ok: bool,
    pub error: Option<String>,
}

pub struct MetaLog<M: Machine> {
    core: Arc<Core>,
    _machine: std::marker::PhantomData<fn() -> M>,
}

/// What the log is, whatever the machine (other nodes' requests reach it through the
/// network's `Slot`).
pub(crate) struct Core {
    node_id: u64,
    raft: Raft<TypeConfig>,
    shared: Arc<Shared>,
    applied: Arc<std::sync::Mutex<Applied>>,
    writes: tokio::sync::mpsc::UnboundedSender<batch::Waiter>,
    network: Option<Network>,
}

/// How long `open` waits for this node to lead and catch up, alone.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a join may take (the leader first copies the log to the new node).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the leader waits for a quorum to take a write or confirm its leadership.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a request to the leader may take (its outcome is unknown after that).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a leader to be elected before it is `Unavailable`.
const LEADER_WAIT: Duration = Duration::from_secs(3);

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
            network::Factory(opts.network.clone()),
            LogStore {
                shared: shared.clone(),
            },
            sm,
        )
        .await
        .map_err(|e| LogError::Stopped(e.to_string()))?;
        let (writes, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(batch::run(raft.clone(), shared.clone(), rx));
        let core = Arc::new(Core {
            node_id: opts.node_id,
            raft,
            shared,
            applied,
            writes,
            network: opts.network.clone(),
        });
        if let Some(network) = &opts.network {
            network.slot.set(&core);
        }
        if let Err(e) = core.start(fresh, &opts).await {
            core.shutdown().await;
            return Err(e);
        }
        Ok(MetaLog {
            core,
            _machine: std::marker::PhantomData,
        })
    }

    /// Proposes a command; answers the machine's response once it is committed and
    /// applied (forwarded to the leader when another node leads).
    pub async fn write(&self, command: Vec<u8>) -> Result<Vec<u8>, LogError> {
        self.core.write(command).await
    }

    /// Linearizable read barrier: after it returns, reading the machine sees every write
    /// acknowledged (on any node) before the call.
    pub async fn read_barrier(&self) -> Result<(), LogError> {
        self.core.read_barrier().await
    }

    pub fn status(&self) -> RaftStatus {
        self.core.status()
    }

    /// Takes node `id` out of the membership (see `Core::remove_member`).
    pub async fn remove_member(&self, id: u64) -> Result<(), LogError> {
        self.core.remove_member(id).await
    }

    /// How many voters the log has now.
    pub fn voter_count(&self) -> usize {
        let metrics = self.core.raft.metrics();
        let m = metrics.borrow();
        m.membership_config.membership().voter_ids().count()
    }

    pub fn drives(&self) -> Vec<DriveLogState> {
        self.core.shared.drives.states()
    }

    /// Brings drives that failed or came back empty (a replaced disk) up to date: writes
    /// them the current snapshot and log. Called by the owner when a drive returns.
    /// Answers how many drives were rewritten. A drive that still fails stays not ok.
    pub async fn resync_drives(&self) -> Result<usize, LogError> {
        self.core.resync_drives().await
    }

    /// Stops the Raft node and waits for the drive writes under way (call it before dropping).
    pub async fn shutdown(&self) {
        self.core.shutdown().await
    }
}

impl Core {
    /// Alone (no seeds, no other voter): makes this node lead (a fresh log is
    /// initialized; a restarted one resumes leading or elects itself at once) and waits
    /// until the committed log is applied. A fresh log with seeds joins through them. A
    /// restarted member of several waits for nothing: requests wait for a leader.
    async fn start(&self, fresh: bool, opts: &LogOptions) -> Result<(), LogError> {
        if fresh && !opts.seeds.is_empty() {
            return self.join(opts).await;
        }
        // The metrics show the stored membership only once the core has loaded it.
        let loaded = |m: &openraft::RaftMetrics<u64, Member>| {
            fresh || m.membership_config.log_id().is_some()
        };
        let metrics = self
            .raft
            .wait(Some(OPEN_TIMEOUT))
            .metrics(loaded, "the stored membership is loaded")
            .await
            .map_err(|e| LogError::Unavailable(format!("the log did not load: {e}")))?;
        let voters = metrics.membership_config.membership().voter_ids().count();
        if !fresh && voters > 1 {
            return Ok(());
        }
        if fresh {
            self.raft
                .initialize(std::collections::BTreeMap::from([(
                    self.node_id,
                    opts.member(),
                )]))
                .await
                .map_err(|e| LogError::Stopped(format!("initialize: {e}")))?;
        }
        let id = self.node_id;
        let is_leader = |m: &openraft::RaftMetrics<u64, Member>| {
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

    /// Joins the cluster through a seed: asks it (it forwards to the leader) to make this
    /// node a voter, then waits until this node has applied the log.
    async fn join(&self, opts: &LogOptions) -> Result<(), LogError> {
        let Some(network) = &opts.network else {
            return Err(LogError::Invalid("seeds without a network".into()));
        };
        let request = network::Request::Join {
            id: self.node_id,
            member: opts.member(),
        };
        let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
        let mut last = String::from("no seed answered");
        while tokio::time::Instant::now() < deadline {
            for seed in &opts.seeds {
                match network.call(seed, &request).await {
                    Ok(network::Response::Join(Ok(()))) => {
                        // The leader made us a voter; our copy of the membership (where
                        // the leader's address is) arrives with the log.
                        let id = self.node_id;
                        let member = |m: &openraft::RaftMetrics<u64, Member>| {
                            m.membership_config.membership().get_node(&id).is_some()
                                && m.current_leader.is_some_and(|l| {
                                    m.membership_config.membership().get_node(&l).is_some()
                                })
                        };
                        self.raft
                            .wait(Some(OPEN_TIMEOUT))
                            .metrics(member, "the membership arrived")
                            .await
                            .map_err(|e| LogError::Unavailable(format!("joined, but {e}")))?;
                        return tokio::time::timeout(OPEN_TIMEOUT, self.read_barrier())
                            .await
                            .map_err(|_| LogError::Unavailable("catching up timed out".into()))?;
                    }
                    Ok(network::Response::Join(Err(e))) => last = format!("{seed}: {e:?}"),
                    Ok(_) => last = format!("{seed}: unexpected answer"),
                    Err(e) => last = format!("{seed}: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(LogError::Unavailable(format!(
            "could not join the cluster: {last}"
        )))
    }

    /// The leader's id, waiting a little for an election under way.
    async fn leader(&self) -> Result<u64, LogError> {
        // The usual case, on every write and barrier: a leader is known; waiting would
        // clone the whole metrics.
        if let Some(leader) = self.raft.metrics().borrow().current_leader {
            return Ok(leader);
        }
        let known = |m: &openraft::RaftMetrics<u64, Member>| m.current_leader.is_some();
        self.raft
            .wait(Some(LEADER_WAIT))
            .metrics(known, "a leader is known")
            .await
            .map_err(|_| LogError::Unavailable("no metadata leader (no quorum of nodes)".into()))?
            .current_leader
            .ok_or_else(|| LogError::Unavailable("no metadata leader".into()))
    }

    /// A node's address, from the membership.
    fn addr_of(&self, id: u64) -> Result<String, LogError> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        membership
            .get_node(&id)
            .map(|n| n.addr.clone())
            .ok_or_else(|| LogError::Unavailable(format!("node {id} is not a member")))
    }

    /// Sends a request to the leader's log.
    async fn to_leader(
        &self,
        leader: u64,
        request: network::Request,
    ) -> Result<network::Response, LogError> {
        let network = self
            .network
            .as_ref()
            .ok_or(LogError::NotLeader(Some(leader)))?;
        let addr = self.addr_of(leader)?;
        let unavailable = |e: &dyn fmt::Display| {
            LogError::Unavailable(format!("metadata leader {leader} at {addr}: {e}"))
        };
        match tokio::time::timeout(FORWARD_TIMEOUT, network.call(&addr, &request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(unavailable(&e)),
            Err(_) => Err(unavailable(&"no answer in time")),
        }
    }

    async fn write(&self, command: Vec<u8>) -> Result<Vec<u8>, LogError> {
        let leader = self.leader().await?;
        if leader == self.node_id {
            return self.write_here(command).await;
        }
        match self
            .to_leader(leader, network::Request::Write(command))
            .await?
        {
            network::Response::Write(r) => r.map_err(Into::into),
            _ => Err(LogError::Unavailable(
                "unexpected answer from the leader".into(),
            )),
        }
    }

    /// Proposes a command to this node's Raft (which must lead); answers the machine's
    /// response once it is committed and applied.
    pub(crate) async fn write_here(&self, command: Vec<u8>) -> Result<Vec<u8>, LogError> {
        // Refuse early rather than feed openraft a write the drives cannot take (it would stop).
        self.shared.drives.check_quorum()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writes
            .send((command, tx))
            .map_err(|_| LogError::Stopped("write batcher gone".into()))?;
        // A leader cut off from its followers would wait for ever: the outcome is unknown
        // after this (the entry commits if they come back in time), the answer a 503.
        match tokio::time::timeout(COMMIT_TIMEOUT, rx).await {
            Ok(answer) => answer.map_err(|_| LogError::Stopped("write batcher gone".into()))?,
            Err(_) => Err(LogError::Unavailable(
                "no quorum of nodes took the write in time".into(),
            )),
        }
    }

    async fn read_barrier(&self) -> Result<(), LogError> {
        let leader = self.leader().await?;
        if leader == self.node_id {
            return self.leader_barrier().await;
        }
        let index = match self.to_leader(leader, network::Request::ReadIndex).await? {
            network::Response::ReadIndex(r) => r.map_err(LogError::from)?,
            _ => {
                return Err(LogError::Unavailable(
                    "unexpected answer from the leader".into(),
                ));
            }
        };
        self.raft
            .wait(Some(LEADER_WAIT))
            .applied_index_at_least(Some(index), "caught up with the leader")
            .await
            .map(|_| ())
            .map_err(|e| LogError::Unavailable(format!("not caught up with the leader: {e}")))
    }

    /// Linearizable read barrier on the leader (openraft ensure_linearizable).
    async fn leader_barrier(&self) -> Result<(), LogError> {
        let confirmed = tokio::time::timeout(COMMIT_TIMEOUT, self.raft.ensure_linearizable())
            .await
            .map_err(|_| LogError::Unavailable("no quorum of nodes confirmed the leader".into()))?;
        match confirmed {
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

    /// The leader's read index, for a follower's read barrier.
    pub(crate) async fn read_index(&self) -> Result<u64, LogError> {
        let confirmed = tokio::time::timeout(COMMIT_TIMEOUT, self.raft.get_read_log_id())
            .await
            .map_err(|_| LogError::Unavailable("no quorum of nodes confirmed the leader".into()))?;
        match confirmed {
            Ok((read, _applied)) => Ok(read.map_or(0, |l| l.index)),
            Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(LogError::NotLeader(f.leader_id))
            }
            Err(RaftError::APIError(e)) => Err(LogError::Unavailable(e.to_string())),
            Err(e) => Err(self.stopped(e)),
        }
    }

    /// Makes node `id` a voter: on the leader, copies it the log as a learner,
    /// then changes the membership (joint consensus); elsewhere, asks the leader.
    pub(crate) async fn add_voter(&self, id: u64, member: Member) -> Result<(), LogError> {
        let leader = self.leader().await?;
        if leader != self.node_id {
            return match self
                .to_leader(leader, network::Request::Join { id, member })
                .await?
            {
                network::Response::Join(r) => r.map_err(Into::into),
                _ => Err(LogError::Unavailable(
                    "unexpected answer from the leader".into(),
                )),
            };
        }
        let fail = |e: &dyn fmt::Display| LogError::Unavailable(format!("adding node {id}: {e}"));
        let voters: BTreeSet<u64> = self.status().voters.into_iter().collect();
        if voters.contains(&id) {
            return Ok(());
        }
        self.raft
            .add_learner(id, member, true)
            .await
            .map_err(|e| fail(&e))?;
        self.raft
            .change_membership(
                openraft::ChangeMembers::AddVoterIds(BTreeSet::from([id])),
                false,
            )
            .await
            .map_err(|e| fail(&e))?;
        Ok(())
    }

    /// Takes node `id` out of the membership (joint consensus; it is not kept as a
    /// learner): on the leader, or asked of it.
    pub(crate) async fn remove_member(&self, id: u64) -> Result<(), LogError> {
        let leader = self.leader().await?;
        if leader != self.node_id {
            return match self
                .to_leader(leader, network::Request::Leave { id })
                .await?
            {
                network::Response::Leave(r) => r.map_err(Into::into),
                _ => Err(LogError::Unavailable(
                    "unexpected answer from the leader".into(),
                )),
            };
        }
        let status = self.status();
        if !status.voters.contains(&id) && !status.learners.contains(&id) {
            return Ok(());
        }
        self.raft
            .change_membership(
                openraft::ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                false,
            )
            .await
            .map_err(|e| LogError::Unavailable(format!("removing node {id}: {e}")))?;
        Ok(())
    }

    fn stopped(&self, e: impl fmt::Display) -> LogError {
        batch::stopped(&self.shared, e)
    }

    fn status(&self) -> RaftStatus {
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
            members: membership.nodes().map(|(id, m)| (*id, m.clone())).collect(),
            last_log_index: m.last_log_index.unwrap_or(0),
            matched: (m.replication.iter().flatten())
                .filter(|(id, _)| **id != self.node_id)
                .map(|(id, l)| (*id, l.map(|l| l.index)))
                .collect(),
            quorum_ack_ms: m.millis_since_quorum_ack,
        }
    }

    async fn resync_drives(&self) -> Result<usize, LogError> {
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

    async fn shutdown(&self) {
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
