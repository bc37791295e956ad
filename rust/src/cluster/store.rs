//! The erasure-coded store: the `Storage` interface over the node's drives. Bytes go
//! to shard files first (`body_io`); then one command through the metadata log
//! (`raft`, kept on every drive) makes them visible, decided in the state machine's
//! apply (`meta`), so a conditional write is a true compare-and-swap and a crash
//! before the commit leaves only unreferenced files for the scanner. Reads take the
//! metadata from memory and decode from the first healthy shards.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::body_io::{self, BodySink, SMALL_BODY, StagedBody};
use super::decommission::DecommissionReport;
use super::drive_io::DriveIo;
use super::drives::{Drive, DriveSet, DriveState, Spread};
use super::format::{Drives, FORMAT_VERSION, FormatFile};
use super::heal::{HealQueue, Leases};
use super::health::{
    ClusterReport, DriveReport, HealingReport, Membership, NodeReport, NodeState, RaftReport,
    RaftRole, ReplicationReport, ScannerReport, node_report,
};
use super::join::NetPlan;
use super::meta::{self, Body, Command, Failure, MetaState, Outcome, Version};
use super::peers::PeerMonitor;
use super::quic::{self, QuicNode};
use super::raft::{LogError, LogOptions, Machine, Member, MetaLog, Network};
use super::remote_drive::RemoteDrive;
use super::rpc::Router;
use super::tls::Identity;
use super::topology::NodeRecord;
use crate::config::ClusterConfig;
use crate::storage::interface::*;
use crate::storage::multipart::{choose_parts, multipart_etag};
use crate::storage::objects::etag_of;
use crate::storage::sealing::plain_only;
use crate::storage::versions::{invalid_version_id, new_version_id, valid_version_id};
use crate::storage::writer::{Sink, SinkWriter};
use crate::storage::{Change, Error, Result};

/// Objects up to this size are read whole by the call that opens them (as the
/// filesystem store does); larger ones stream.
const LOAD_WHOLE_MAX: u64 = 1024 * 1024;
/// Log entries between snapshots of the metadata.
const SNAPSHOT_EVERY: u64 = 20_000;
/// How often the other members are pinged (their `up`/`suspect`/`down` and RTT).
const PEER_PING_EVERY: Duration = Duration::from_secs(1);
/// How long bodies no version names any more stay on the drives when several nodes
/// serve them (a GET on another node may be reading them; a crash meanwhile leaves
/// them to the orphan sweep).
const OTHER_READERS_GRACE: Duration = Duration::from_secs(15);
/// How long opening waits for this node's registration before leaving it to the background.
const REGISTER_WAIT: Duration = Duration::from_secs(10);
/// A leader whose last quorum acknowledgement is older reports the metadata quorum lost.
const QUORUM_ACK_MAX_MS: u64 = 3_000;

impl Machine for MetaState {
    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        self.apply_bytes(command)
    }
    fn snapshot(&self) -> Vec<u8> {
        self.snapshot_bytes()
    }
    fn restore(&mut self, snapshot: &[u8]) -> std::io::Result<()> {
        self.restore_bytes(snapshot)
    }
}

/// How often the background tasks run (environment overrides for tests).
struct Intervals {
    probe: Duration,
    scan: Duration,
    /// How old an unreferenced shard file must be before the scanner removes it.
    orphan_grace: Duration,
}

fn interval_from_env(name: &str, default_ms: u64) -> Duration {
    let ms = std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_ms);
    Duration::from_millis(ms.max(10))
}

pub struct Meta {
    pub log: MetaLog<MetaState>,
    state: Arc<RwLock<MetaState>>,
}

pub struct Inner {
    /// The drives as checked at start (ids, geometry, node).
    pub formatted: Drives,
    pub set: Arc<DriveSet>,
    /// The metadata log and the state it applies to; replaced as a whole when the log
    /// has to be opened again (openraft stops for good when a write misses its quorum).
    meta: std::sync::RwLock<Arc<Meta>>,
    log_options: LogOptions,
    /// One reopening at a time, and not more often than every 100 ms.
    reopening: tokio::sync::Mutex<Option<std::time::Instant>>,
    leases: Leases,
    pub heal: Arc<HealQueue>,
    /// Bucket-level changes (create, delete, settings) one at a time, so a change and
    /// its caller's cache update (`Then`) are never interleaved with another.
    admin: tokio::sync::Mutex<()>,
    observer: Option<Observer>,
    /// The node's QUIC endpoint (peers' requests reach the log through it).
    quic: Arc<QuicNode>,
    /// Which other members answer.
    peers: Arc<PeerMonitor>,
    /// The registered nodes' generation the drive set's spread was built from.
    spread_generation: AtomicU64,
}

/// Why the store did not open: a bad configuration or drive, or the QUIC port.
pub enum OpenError {
    Config(String),
    Bind(String),
}

impl From<String> for OpenError {
    fn from(e: String) -> Self {
        OpenError::Config(e)
    }
}

/// Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct ClusterStore(Arc<Inner>);

impl std::ops::Deref for ClusterStore {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A stable 64-bit Raft node id for a node name.
pub(super) fn raft_node_id(node_id: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(node_id.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) >> 1
}

fn unavailable(e: LogError) -> Error {
    Error::Unavailable(e.to_string())
}

impl ClusterStore {
    /// Checks and formats the drives, opens the metadata log on them and starts the
    /// prober, healer and scanner; `plan` is the network half of `cfg`, checked by the
    /// caller before anything was touched. Errors are for people: a bad configuration
    /// or drive.
    pub async fn open(
        cfg: &ClusterConfig,
        plan: NetPlan,
        fsync: bool,
        observer: Option<Observer>,
    ) -> std::result::Result<ClusterStore, OpenError> {
        let (quic_port, address) = (cfg.quic_port, plan.bind.as_str());
        let cfg = cfg.clone();
        let formatted = tokio::task::spawn_blocking(move || super::format::prepare(&cfg))
            .await
            .map_err(|e| e.to_string())??;
        let ids: Vec<String> = formatted.drives.iter().map(|d| d.id.clone()).collect();
        let drives = formatted
            .drives
            .iter()
            .map(|slot| {
                let state = match (slot.online, slot.replaced) {
                    (false, _) => DriveState::Offline,
                    (true, true) => DriveState::Healing,
                    (true, false) => DriveState::Ok,
                };
                let format = FormatFile {
                    version: FORMAT_VERSION,
                    cluster_id: formatted.cluster_id.clone(),
                    node_id: formatted.node_id.clone(),
                    drive_id: slot.id.clone(),
                    drive_index: slot.index,
                    data_shards: formatted.data,
                    parity_shards: formatted.parity,
                    drives: ids.clone(),
                };
                Drive::new(
                    slot.index,
                    slot.path.clone(),
                    &formatted.node_id,
                    format,
                    state,
                )
            })
            .collect::<Vec<_>>();
        let (data, parity) = (formatted.data, formatted.parity);
        let set = Arc::new(DriveSet::new(drives, data, parity, fsync));
        {
            let set = set.clone();
            tokio::task::spawn_blocking(move || set.drives.iter().for_each(|d| _ = d.refresh()))
                .await
                .map_err(|e| e.to_string())?;
        }
        let identity =
            Identity::new(plan.secret.as_deref(), &formatted.node_id).map_err(|e| e.to_string())?;
        let router = Router::new(&formatted.node_id);
        let quic = quic::bind(address, quic_port, &identity, router.clone())
            .await
            .map_err(|e| {
                OpenError::Bind(format!(
                    "cannot listen for QUIC on {address}:{quic_port} (udp): {e}"
                ))
            })?;
        let quic = Arc::new(quic);
        // Other nodes of the cluster may write and read shards on these drives.
        let served = set.drives.iter().map(|d| (d.id.clone(), d.io.clone()));
        router.shards.set_drives(served.collect());
        let state = Arc::new(RwLock::new(MetaState::default()));
        let options = LogOptions {
            node_id: raft_node_id(&formatted.node_id),
            dirs: set.drives.iter().map(Drive::raft_dir).collect(),
            write_quorum: set.write_quorum,
            fsync,
            snapshot_every: SNAPSHOT_EVERY,
            network: Some(Network {
                quic: quic.clone(),
                slot: router.meta.clone(),
            }),
            name: formatted.node_id.clone(),
            advertise: plan.advertise(quic.port()),
            seeds: plan.seeds.clone(),
        };
        let log = match MetaLog::open(options.clone(), state.clone()).await {
            Ok(log) => log,
            Err(e) => {
                quic.close().await;
                return Err(format!("cannot open the metadata log on the drives: {e}").into());
            }
        };
        let store = ClusterStore(Arc::new(Inner {
            formatted,
            set,
            meta: std::sync::RwLock::new(Arc::new(Meta { log, state })),
            log_options: options,
            reopening: tokio::sync::Mutex::new(None),
            leases: Leases::default(),
            heal: Arc::default(),
            admin: tokio::sync::Mutex::new(()),
            observer,
            quic,
            peers: Arc::default(),
            spread_generation: AtomicU64::new(0),
        }));
        let admin: Arc<dyn super::rpc::Admin> = Arc::new(AdminHandle(Arc::downgrade(&store.0)));
        *router.admin.write().unwrap_or_else(|e| e.into_inner()) = Some(admin);
        // Registered before serving when the log has a quorum now (a node that just
        // joined has): its writes name drives the others know.
        let _ = tokio::time::timeout(REGISTER_WAIT, store.register()).await;
        store.ping_members().await;
        store.spawn_background(Intervals {
            probe: interval_from_env("SMARTSTORAGE_PROBE_INTERVAL_MS", 2_000),
            scan: interval_from_env("SMARTSTORAGE_SCAN_INTERVAL_MS", 60_000),
            orphan_grace: interval_from_env("SMARTSTORAGE_ORPHAN_GRACE_MS", 15 * 60_000),
        });
        Ok(store)
    }

    /// The metadata as this node applied it (`fresh` first for the latest).
    pub(super) fn read<T>(&self, f: impl FnOnce(&MetaState) -> Result<T>) -> Result<T> {
        let meta = self.meta();
        self.sync_spread(&meta);
        f(&meta.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Brings the drive set's view of the other nodes up to the registered ones, once
    /// per change of those (cheap otherwise): bodies may name any node's drives.
    pub(super) fn sync_spread(&self, meta: &Meta) {
        let (generation, nodes, first) = {
            let state = meta.state.read().unwrap_or_else(|e| e.into_inner());
            let generation = state.nodes_generation();
            if generation == self.spread_generation.load(Ordering::Acquire) {
                return;
            }
            let nodes: Vec<NodeRecord> = state.nodes().values().cloned().collect();
            (generation, nodes, state.first_node().cloned())
        };
        let quic = self.quic.clone();
        let connect = |addr: &str, drive: &str| -> Option<Arc<dyn DriveIo>> {
            use std::net::ToSocketAddrs;
            let to = addr.to_socket_addrs().ok()?.next()?;
            Some(Arc::new(RemoteDrive::new(
                quic.clone(),
                to,
                drive.to_string(),
            )))
        };
        let me = &self.formatted.node_id;
        let peers = self.peers.clone();
        let spread = Spread::new(nodes, first.as_ref(), me, connect, peers).map(Arc::new);
        *self.set.spread.write().unwrap_or_else(|e| e.into_inner()) = spread;
        self.spread_generation.store(generation, Ordering::Release);
        // A node that just registered is given shards once it answered a ping.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = self.clone();
            runtime.spawn(async move { store.ping_members().await });
        }
    }

    /// This node as the other nodes must know it: its QUIC address and drives.
    fn record(&self) -> NodeRecord {
        NodeRecord {
            name: self.formatted.node_id.clone(),
            addr: self.log_options.advertise.clone(),
            drives: self.set.drives.iter().map(|d| d.id.clone()).collect(),
            leaving: false,
        }
    }

    /// Registers this node in the metadata unless it is there as it is now (a node
    /// that joined, or moved to another address, is then given shards, and bodies it
    /// writes can be found by the others); answers whether it is.
    async fn register(&self) -> bool {
        let record = self.record();
        let known = self.read(|s| {
            let current = s.nodes().get(&record.name);
            let same = current.is_some_and(|n| n.addr == record.addr && n.drives == record.drives);
            Ok(same || s.is_removed(&record.name))
        });
        if known.unwrap_or(false) {
            return true;
        }
        match self.propose(Command::RegisterNode { node: record }).await {
            Ok(_) => true,
            Err(e) => {
                crate::log::warn(&format!("cannot register this node yet: {e}"));
                false
            }
        }
    }

    /// `register` until it is done.
    async fn keep_registering(store: Weak<Inner>) {
        loop {
            let Some(inner) = store.upgrade() else { return };
            if ClusterStore(inner).register().await {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    pub fn meta(&self) -> Arc<Meta> {
        self.meta.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Opens the log again over the drives (state rebuilt from them) if `stale` is
    /// still the current one and stopped; answers whether a new log is in place.
    async fn reopen(&self, stale: &Arc<Meta>) -> bool {
        let mut last = self.reopening.lock().await;
        if !Arc::ptr_eq(&self.meta(), stale) {
            return true; // another caller did it
        }
        if stale.log.status().role != "shutdown"
            || last.is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return false;
        }
        *last = Some(std::time::Instant::now());
        stale.log.shutdown().await;
        let state = Arc::new(RwLock::new(MetaState::default()));
        match MetaLog::open(self.log_options.clone(), state.clone()).await {
            Ok(log) => {
                *self.meta.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(Meta { log, state });
                crate::log::warn("metadata log reopened over the drives");
                true
            }
            Err(e) => {
                crate::log::warn(&format!("metadata log cannot reopen yet: {e}"));
                false
            }
        }
    }

    /// Stops the metadata log (the engine is stopping).
    pub async fn shutdown(&self) {
        self.quic.close().await;
        self.meta().log.shutdown().await;
    }

    /// The bound QUIC port.
    pub fn quic_port(&self) -> u16 {
        self.quic.port()
    }

    /// Commits a command through the log; the bodies it released are deleted once no
    /// reader holds them.
    pub(super) async fn propose(&self, command: Command) -> Result<Outcome> {
        self.propose_raw(command).await?.map_err(Error::from)
    }

    /// `propose`, with the state machine's refusal as it is.
    async fn propose_raw(&self, command: Command) -> Result<std::result::Result<Outcome, Failure>> {
        let command = meta::encode(&command);
        let meta = self.meta();
        let reply = match meta.log.write(command.clone()).await {
            Ok(reply) => reply,
            // Drives that failed a write may be back before the prober noticed (bring
            // them up to date), or the log stopped on a lost quorum (open it again):
            // then try once more.
            Err(e) => {
                let again = match meta.log.status().role.as_str() {
                    "shutdown" => self.reopen(&meta).await,
                    _ => meta.log.resync_drives().await.is_ok_and(|n| n > 0),
                };
                if !again {
                    return Err(unavailable(e));
                }
                self.meta().log.write(command).await.map_err(unavailable)?
            }
        };
        let applied = meta::decode_applied(&reply)?;
        self.release(applied.garbage);
        Ok(applied.outcome)
    }

    fn release(&self, garbage: Vec<Body>) {
        self.remove_bodies(self.leases.doom(garbage));
    }

    /// Deletes the shard files of bodies nothing refers to and no reader here holds.
    /// Leases are this node's: with several nodes, another node may be streaming them
    /// now, so they go after a grace. The files are named now, while every node they
    /// are on is known.
    fn remove_bodies(&self, bodies: Vec<Body>) {
        let files: Vec<_> = (bodies.iter())
            .flat_map(|b| self.set.shards(b, |_| true, false))
            .flatten()
            .collect();
        if files.is_empty() {
            return;
        }
        let remove = move || files.iter().for_each(|f| _ = f.drive.remove(&f.rel));
        match (self.set.spread(), tokio::runtime::Handle::try_current()) {
            (Some(_), Ok(runtime)) => drop(runtime.spawn(async move {
                tokio::time::sleep(OTHER_READERS_GRACE).await;
                let _ = tokio::task::spawn_blocking(remove).await;
            })),
            (None, Ok(runtime)) => drop(runtime.spawn_blocking(remove)),
            (_, Err(_)) => remove(),
        }
    }

    fn notify(&self, change: Change) {
        if let Some(observer) = &self.observer {
            observer(change);
        }
    }

    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ClusterStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(Error::internal)?
    }

    /// The bytes of a payload as a staged body (blocking).
    fn stage(&self, payload: Payload) -> Result<(Option<StagedBody>, u64, [u8; 16])> {
        match payload {
            Payload::Bytes { bytes, .. } if bytes.is_empty() => {
                Ok((None, 0, crate::md5::Md5::digest([])))
            }
            Payload::Bytes { bytes, md5 } => Ok((
                Some({
                    self.sync_spread(&self.meta());
                    body_io::stage_bytes(&self.set, &bytes)?
                }),
                bytes.len() as u64,
                md5,
            )),
            Payload::Staged(staged) => {
                let (size, md5) = (staged.size, staged.md5);
                let body = staged
                    .handle
                    .downcast::<StagedBody>()
                    .map_err(|_| Error::internal("bytes staged by another store"))?;
                Ok((Some(*body), size, md5))
            }
        }
    }

    /// Publishes a staged body: it now belongs to the metadata; a write that missed a
    /// drive is queued for healing.
    pub(super) fn published(&self, staged: Option<StagedBody>) {
        if let Some(staged) = staged {
            let partial = staged.partial;
            if let Some(body) = staged.publish()
                && partial
            {
                self.heal.push(body, Vec::new());
            }
        }
    }

    /// The latest object or one version, metadata and bodies.
    fn lookup(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Version> {
        if let Some(v) = version_id
            && !valid_version_id(v)
        {
            return Err(invalid_version_id(v));
        }
        self.read(|s| match version_id {
            Some(v) => s.version(bucket, key, v).cloned(),
            None => s.current(bucket, key).cloned(),
        })
    }

    /// Reads `len` bytes from `start` of the object made of `bodies` (blocking), in
    /// order, into `each`; the bodies are leased meanwhile, and the shards the read
    /// found bad are queued for healing. `each` may refuse, and the read stops.
    pub(super) fn read_each(
        &self,
        bodies: &[Body],
        start: u64,
        len: u64,
        each: &mut dyn FnMut(Bytes) -> Result<()>,
    ) -> Result<()> {
        let _lease = Lease::new(self, bodies);
        let mut refused = None;
        let (read, damaged) = body_io::read_bodies(&self.set, bodies, start, len, &mut |chunk| {
            let taken = each(chunk);
            let more = taken.is_ok();
            refused = taken.err();
            more
        });
        self.queue_damaged(damaged);
        read?;
        refused.map_or(Ok(()), Err)
    }

    /// Makes the next metadata read linearizable when several nodes share the log: the
    /// leader confirms it still leads, a follower catches up with the leader's read
    /// index. Alone, what this node applied is already everything acknowledged.
    async fn fresh(&self) -> Result<()> {
        let log = &self.meta().log;
        if log.voter_count() <= 1 {
            return Ok(());
        }
        log.read_barrier().await.map_err(unavailable)
    }

    /// A whole object in memory (small ones only).
    fn read_whole(&self, bodies: &[Body], size: u64) -> Result<Vec<Bytes>> {
        let mut chunks = Vec::new();
        self.read_each(bodies, 0, size, &mut |chunk| {
            chunks.push(chunk);
            Ok(())
        })?;
        Ok(chunks)
    }

    fn queue_damaged(&self, damaged: Vec<(Body, Vec<usize>)>) {
        for (body, bad) in damaged {
            self.heal.push(body, bad);
        }
    }

    fn new_marker(bucket: &str, key: &str) -> ObjectMeta {
        ObjectMeta::new(
            bucket,
            key,
            0,
            String::new(),
            Default::default(),
            Vec::new(),
        )
    }

    // --- background work ---

    fn spawn_background(&self, every: Intervals) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(heal_worker(weak.clone()));
        tokio::spawn(ClusterStore::keep_registering(weak.clone()));
        tokio::spawn(prober(weak.clone(), every.probe));
        tokio::spawn(scanner(weak.clone(), every.scan, every.orphan_grace));
        let others = move || {
            (weak.upgrade().map(ClusterStore))
                .map(|store| store.other_members())
                .unwrap_or_default()
        };
        let quic = Arc::downgrade(&self.quic);
        self.peers.spawn(quic, PEER_PING_EVERY, others);
    }

    /// The other members' addresses.
    fn other_members(&self) -> Vec<String> {
        let me = raft_node_id(&self.formatted.node_id);
        let members = self.meta().log.status().members;
        (members.into_iter())
            .filter(|(id, _)| *id != me)
            .map(|(_, m)| m.addr)
            .collect()
    }

    /// Pings the other members now (not at the next round): their drives count as
    /// available only once they answered.
    async fn ping_members(&self) {
        self.peers.ping_all(&self.quic, &self.other_members()).await;
    }
}

/// The store as operators' requests over QUIC reach it.
struct AdminHandle(Weak<Inner>);

impl super::rpc::Admin for AdminHandle {
    fn drives(&self) -> Vec<super::health::DriveReport> {
        let store = self.0.upgrade().map(ClusterStore);
        store.map_or_else(Vec::new, |s| {
            s.set.drives.iter().map(Drive::report).collect()
        })
    }

    fn decommission(
        &self,
        node: String,
    ) -> futures_util::future::BoxFuture<'static, std::result::Result<DecommissionReport, String>>
    {
        let store = self.0.upgrade().map(ClusterStore);
        Box::pin(async move {
            match store {
                Some(store) => store.decommission(&node).await,
                None => Err("the store is closed".into()),
            }
        })
    }
}

/// Holds bodies against deletion while they are read.
struct Lease {
    store: ClusterStore,
    bodies: Vec<Body>,
}

impl Lease {
    fn new(store: &ClusterStore, bodies: &[Body]) -> Lease {
        store.leases.take(bodies);
        Lease {
            store: store.clone(),
            bodies: bodies.to_vec(),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let free = self.store.leases.give_back(&self.bodies);
        self.store.remove_bodies(free);
    }
}

/// A large object's bytes, decoded on a blocking thread as the client takes them.
struct ShardStream {
    lease: Lease,
}

impl StreamSource for ShardStream {
    fn stream(self: Box<Self>, start: u64, len: u64) -> ByteStream {
        // Chunks are data shards of a block: buffer about two blocks ahead.
        let ahead = self
            .lease
            .bodies
            .iter()
            .map(|b| 2 * b.data)
            .max()
            .unwrap_or(2);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(ahead);
        tokio::task::spawn_blocking(move || {
            let lease = self.lease;
            let store = &lease.store;
            let (result, damaged) =
                body_io::read_bodies(&store.set, &lease.bodies, start, len, &mut |chunk| {
                    tx.blocking_send(Ok(chunk)).is_ok()
                });
            store.queue_damaged(damaged);
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        }))
    }
}

async fn heal_worker(store: Weak<Inner>) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        let store = ClusterStore(inner);
        let Some((body, bad)) = store.heal.pop() else {
            let queue = store.heal.clone();
            drop(store);
            // Woken by a push; also looks again now and then (a drive may have come back).
            let _ = tokio::time::timeout(Duration::from_secs(5), queue.wake.notified()).await;
            continue;
        };
        let still_used = store
            .read(|s| Ok(s.is_referenced(&body.id)))
            .unwrap_or(false);
        if !still_used {
            store.heal.done(Some(0));
            continue;
        }
        let worker = store.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _lease = Lease::new(&worker, std::slice::from_ref(&body));
            body_io::heal_body(&worker.set, &body, &bad)
        })
        .await;
        match result {
            Ok(Ok(bytes)) => store.heal.done(Some(bytes)),
            Ok(Err(e)) => {
                crate::log::warn(&format!("heal: {e}"));
                store.heal.done(None)
            }
            Err(_) => store.heal.done(None),
        }
    }
}

async fn prober(store: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = store.upgrade() else { return };
        let store = ClusterStore(inner);
        let set = store.set.clone();
        let changes = tokio::task::spawn_blocking(move || {
            set.drives.iter().map(|d| d.refresh()).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        // A drive back from offline, or an empty one taken in: bring it up to date.
        let came_back = changes.iter().any(|(before, after)| {
            (*before == DriveState::Offline && *after != DriveState::Offline)
                || (*after == DriveState::Healing && *before != DriveState::Healing)
        });
        if came_back {
            // What was written while it was away: the log first, then the shards.
            let meta = store.meta();
            if meta.log.status().role == "shutdown" {
                store.reopen(&meta).await;
            } else if let Err(e) = meta.log.resync_drives().await {
                crate::log::warn(&format!("metadata resync: {e}"));
            }
            scan_once(&store, true).await;
        }
    }
}

async fn scanner(store: Weak<Inner>, every: Duration, grace: Duration) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        let store_now = ClusterStore(inner);
        let started = std::time::Instant::now();
        scan_once(&store_now, false).await;
        collect_orphans(&store_now, grace).await;
        drop(store_now);
        // Scanning takes at most a fifth of the time, however many objects there are.
        tokio::time::sleep(every.max(started.elapsed() * 4)).await;
    }
}

/// Removes shard files nothing refers to: bodies whose write never committed (a
/// refused condition, a crash) or whose removal a failing drive missed, and heal
/// leftovers. Only files older than `grace`, so that writes in flight keep theirs.
async fn collect_orphans(store: &ClusterStore, grace: Duration) {
    let worker = store.clone();
    let _ = tokio::task::spawn_blocking(move || {
        for drive in worker.set.drives.iter().filter(|d| d.readable()) {
            let Ok(dirs) = std::fs::read_dir(drive.data_dir()) else {
                continue;
            };
            for file in dirs
                .flatten()
                .filter_map(|d| std::fs::read_dir(d.path()).ok())
                .flatten()
            {
                let Ok(file) = file else { continue };
                let name = file.file_name().to_string_lossy().into_owned();
                let young = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default() < grace)
                    .unwrap_or(true);
                let used = !name.contains('.')
                    && worker.read(|s| Ok(s.is_referenced(&name))).unwrap_or(true);
                if !young && !used && !worker.leases.is_leased(&name) {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
    })
    .await;
}

/// One scanner cycle: every body's shard files are checked (existence and size), one
/// in `VERIFY_ONE_IN` is hashed in full, and damaged ones are queued for healing. A
/// drive that was `Healing` (replaced) becomes `Ok` after a cycle that found nothing
/// missing on it.
async fn scan_once(store: &ClusterStore, quick: bool) {
    const VERIFY_ONE_IN: usize = 16;
    store.heal.scan_started();
    let bodies = store.read(|s| Ok(s.bodies())).unwrap_or_default();
    let failed_before = store.heal.stats().failed;
    let worker = store.clone();
    let _ = tokio::task::spawn_blocking(move || {
        for (i, body) in bodies.into_iter().enumerate() {
            let bad = match !quick && i % VERIFY_ONE_IN == 0 {
                true => body_io::verify_body(&worker.set, &body),
                false => Vec::new(),
            };
            if !bad.is_empty() || body_io::heal_needed(&worker.set, &body) {
                worker.heal.push(body, bad);
            }
            if i % 256 == 255 {
                std::thread::sleep(Duration::from_millis(1)); // leave the disks to clients
            }
        }
    })
    .await;
    // A replaced drive is whole once what the cycle queued has healed without failure.
    while store.heal.stats().queued > 0 || store.heal.stats().in_progress > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if store.heal.stats().failed == failed_before {
        store.set.drives.iter().for_each(Drive::healed);
    }
    store.heal.scan_finished();
}

fn owned(s: &str) -> String {
    s.to_string()
}

#[async_trait]
impl ObjectWriter for SinkWriter<(StagedBody, [u8; 16])> {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        SinkWriter::write(self, chunk).await
    }
    async fn finish(self: Box<Self>) -> Result<Staged> {
        let (body, md5) = SinkWriter::finish(*self).await?;
        let size = body.body.as_ref().map_or(0, |b| b.size);
        Ok(Staged {
            size,
            md5,
            handle: Box::new(body),
        })
    }
}

#[async_trait]
impl Storage for ClusterStore {
    async fn create_bucket_with(
        &self,
        bucket: &str,
        region: &str,
        configs: Vec<(ConfigKind, Vec<u8>)>,
        then: Then,
    ) -> Result<()> {
        crate::storage::buckets::check_bucket_name(bucket)?;
        let info = BucketInfo {
            name: owned(bucket),
            created: chrono::Utc::now().timestamp_millis(),
            region: owned(region),
            versioning: None,
        };
        let _admin = self.admin.lock().await;
        let configs = configs
            .into_iter()
            .map(|(kind, doc)| (format!("{kind:?}"), serde_bytes::ByteBuf::from(doc)))
            .collect();
        // The new settings reach every node's cache through the shared generation the
        // creation moves on; this node's is updated at once.
        self.propose(Command::CreateBucket { info, configs })
            .await?;
        then();
        self.notify(Change::BucketCreated {
            bucket: owned(bucket),
        });
        Ok(())
    }

    async fn bucket_exists(&self, bucket: &str) -> Result<()> {
        self.fresh().await?;
        self.read(|s| s.bucket_info(bucket).map(|_| ()))
    }

    async fn bucket_info(&self, bucket: &str, _default_region: &str) -> Result<BucketInfo> {
        self.fresh().await?;
        self.read(|s| s.bucket_info(bucket))
    }

    async fn list_buckets(&self, _default_region: &str) -> Result<Vec<BucketInfo>> {
        self.fresh().await?;
        self.read(|s| Ok(s.list_buckets()))
    }

    async fn delete_bucket(&self, bucket: &str, then: Then) -> Result<()> {
        let _admin = self.admin.lock().await;
        self.propose(Command::DeleteBucket {
            bucket: owned(bucket),
        })
        .await?;
        then();
        self.notify(Change::BucketDeleted {
            bucket: owned(bucket),
        });
        Ok(())
    }

    async fn empty_bucket(&self, bucket: &str) -> Result<u64> {
        match self
            .propose(Command::EmptyBucket {
                bucket: owned(bucket),
            })
            .await?
        {
            Outcome::Count(n) => Ok(n),
            other => Err(Error::internal(format!("empty bucket answered {other:?}"))),
        }
    }

    async fn versioning(&self, bucket: &str) -> Result<Option<String>> {
        self.fresh().await?;
        self.read(|s| s.bucket_info(bucket).map(|b| b.versioning))
    }

    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        self.propose(Command::SetVersioning {
            bucket: owned(bucket),
            status: owned(status),
        })
        .await
        .map(|_| ())
    }

    async fn bucket_config(&self, kind: ConfigKind, bucket: &str) -> Result<Option<Vec<u8>>> {
        self.fresh().await?;
        self.read(|s| s.config(bucket, &format!("{kind:?}")))
    }

    async fn set_bucket_config(
        &self,
        kind: ConfigKind,
        bucket: &str,
        document: Option<Vec<u8>>,
        then: Then,
    ) -> Result<()> {
        let _admin = self.admin.lock().await;
        self.propose(Command::SetConfig {
            bucket: owned(bucket),
            kind: format!("{kind:?}"),
            document: document.map(serde_bytes::ByteBuf::from),
        })
        .await?;
        then();
        Ok(())
    }

    async fn all_bucket_configs(&self, kind: ConfigKind) -> Result<Vec<(String, Vec<u8>)>> {
        self.fresh().await?;
        self.read(|s| Ok(s.all_configs(&format!("{kind:?}"))))
    }

    async fn shared_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.fresh().await?;
        self.read(|s| Ok(s.shared(name)))
    }

    async fn set_shared_document(&self, name: &str, document: Option<Vec<u8>>) -> Result<()> {
        let document = document.map(serde_bytes::ByteBuf::from);
        self.propose(Command::SetShared {
            name: owned(name),
            document,
        })
        .await
        .map(|_| ())
    }

    fn shared_generation(&self) -> u64 {
        let meta = self.meta();
        let state = meta.state.read().unwrap_or_else(|e| e.into_inner());
        state.shared_generation()
    }

    fn writer(&self, filter: Option<Box<dyn ByteFilter>>) -> Box<dyn ObjectWriter> {
        let set = self.set.clone();
        self.sync_spread(&self.meta());
        Box::new(SinkWriter::start(
            move || BodySink::open(set, false),
            filter,
        ))
    }

    async fn put_object(&self, put: PutObject) -> Result<ObjectMeta> {
        plain_only(put.seal.is_some())?;
        self.bucket_exists(&put.bucket).await?;
        let (staged, size, md5) = self.blocking(move |s| s.stage(put.payload)).await?;
        let meta = ObjectMeta::new(
            &put.bucket,
            &put.key,
            size,
            etag_of(&md5),
            put.attrs,
            Vec::new(),
        );
        let outcome = self
            .propose(Command::Put {
                bucket: put.bucket.clone(),
                key: put.key.clone(),
                uid: new_version_id(),
                meta,
                bodies: staged.iter().filter_map(|s| s.body.clone()).collect(),
                shared: false,
                precondition: put.precondition,
            })
            .await?;
        self.published(staged);
        let Outcome::Object { meta, overwrite } = outcome else {
            return Err(Error::internal("put answered no object"));
        };
        self.notify(Change::ObjectCreated {
            bucket: put.bucket,
            key: put.key,
            size: meta.size,
            etag: meta.etag_value().to_string(),
            overwrite,
        });
        Ok(*meta)
    }

    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectMeta> {
        self.fresh().await?;
        self.lookup(bucket, key, version_id).map(|v| v.meta)
    }

    async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        want_data: bool,
        customer: Option<&CustomerKey>,
    ) -> Result<Opened> {
        plain_only(customer.is_some())?;
        self.fresh().await?;
        let version = self.lookup(bucket, key, version_id)?;
        if version.meta.delete_marker {
            return Ok(Opened {
                meta: version.meta,
                content: None,
            });
        }
        let Version { meta, bodies, .. } = version;
        let size = meta.size;
        let content = self
            .blocking(move |s| {
                if want_data && size <= LOAD_WHOLE_MAX {
                    return Ok(Content::loaded(s.read_whole(&bodies, size)?));
                }
                let lease = Lease::new(s, &bodies);
                if want_data {
                    body_io::check_readable(&s.set, &bodies)?;
                }
                Ok(Content::from_source(Box::new(ShardStream { lease })))
            })
            .await?;
        Ok(Opened {
            meta,
            content: Some(content),
        })
    }

    async fn latest_delete_marker(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.fresh().await?;
        self.read(|s| s.latest_delete_marker(bucket, key))
    }

    async fn copy_object(&self, copy: CopyObject) -> Result<ObjectMeta> {
        plain_only(copy.seal.is_some() || copy.source_key.is_some())?;
        self.bucket_exists(&copy.bucket).await?;
        // The source can be replaced between reading it and committing the copy (its
        // bytes then go): read it again and copy the newer one, checked again.
        for _ in 0..3 {
            if let Some(copied) = self.try_copy(&copy).await? {
                return Ok(copied);
            }
        }
        Err(Error::Unavailable("the copy source keeps changing".into()))
    }

    async fn delete_object(&self, bucket: &str, deletion: Deletion) -> Result<DeleteOutcome> {
        let (key, version_id) = (deletion.key.as_str(), deletion.version_id.as_deref());
        if let Some(v) = version_id
            && !valid_version_id(v)
        {
            return Err(invalid_version_id(v));
        }
        // A guarded delete names the versions its guard let go; the log refuses it as
        // `Changed` if what it would remove differs by then, and it is judged again.
        let mut tries = 0;
        let outcome = loop {
            let approved = match &deletion.guard {
                Some(_) => {
                    let doomed: Vec<ObjectMeta> = self.read(|s| {
                        Ok(s.doomed(bucket, key, version_id)
                            .into_iter()
                            .map(|v| v.meta.clone())
                            .collect())
                    })?;
                    for meta in &doomed {
                        deletion.check(meta)?;
                    }
                    Some(doomed)
                }
                None => None,
            };
            let outcome = self
                .propose_raw(Command::Delete {
                    bucket: owned(bucket),
                    key: owned(key),
                    version_id: version_id.map(owned),
                    uid: new_version_id(),
                    marker: ClusterStore::new_marker(bucket, key),
                    precondition: deletion.precondition.clone(),
                    approved,
                })
                .await?;
            match outcome {
                Err(Failure::Changed) if tries < 5 => tries += 1,
                outcome => break outcome?,
            }
        };
        let Outcome::Deleted {
            version_id: deleted,
            delete_marker,
            removed_current,
        } = outcome
        else {
            return Err(Error::internal("delete answered no deletion"));
        };
        // As the filesystem store: a delete by key is an event, a version's removal not.
        if version_id.is_none() && (delete_marker || removed_current) {
            self.notify(Change::ObjectDeleted {
                bucket: owned(bucket),
                key: owned(key),
                reason: deletion.reason,
            });
        }
        Ok(DeleteOutcome {
            version_id: deleted,
            delete_marker,
        })
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        objects: Vec<Deletion>,
    ) -> Result<Vec<Result<DeleteOutcome>>> {
        let mut out = Vec::with_capacity(objects.len());
        for deletion in objects {
            out.push(self.delete_object(bucket, deletion).await);
        }
        Ok(out)
    }

    async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: MetaChange,
    ) -> Result<ObjectMeta> {
        // The change is computed from the version as read and applies only to it
        // unchanged (a concurrent change makes it `Changed`: computed again).
        for _ in 0..5 {
            let version = self.lookup(bucket, key, version_id)?;
            if version.meta.delete_marker {
                return Err(Error::DeleteMarker);
            }
            let mut meta = version.meta.clone();
            change(&mut meta)?;
            let outcome = self
                .propose_raw(Command::Update {
                    bucket: owned(bucket),
                    key: owned(key),
                    uid: version.uid,
                    meta,
                    expect: Some(Box::new(version.meta)),
                })
                .await?;
            match outcome {
                Ok(Outcome::Object { meta, .. }) => return Ok(*meta),
                Err(Failure::Changed) => continue,
                Err(f) => return Err(f.into()),
                Ok(other) => return Err(Error::internal(format!("update answered {other:?}"))),
            }
        }
        Err(Error::Unavailable("the object keeps changing".into()))
    }

    async fn list_objects(&self, bucket: &str, query: ListQuery) -> Result<ListPage> {
        self.fresh().await?;
        self.read(|s| s.list_objects(bucket, &query))
    }

    async fn list_versions(&self, bucket: &str, query: VersionQuery) -> Result<VersionPage> {
        self.fresh().await?;
        self.read(|s| s.list_versions(bucket, &query))
    }

    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: NewObjectAttrs,
        checksum: UploadChecksum,
        seal: Option<Seal>,
    ) -> Result<UploadInfo> {
        plain_only(seal.is_some())?;
        let info = UploadInfo::new(bucket, key, attrs, checksum);
        self.propose(Command::CreateUpload { info: info.clone() })
            .await?;
        Ok(info)
    }

    async fn upload_info(&self, upload: &UploadRef) -> Result<UploadInfo> {
        self.fresh().await?;
        self.read(|s| {
            s.upload(&upload.bucket, &upload.key, &upload.upload_id)
                .map(|u| u.info.clone())
        })
    }

    async fn put_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        payload: Payload,
        checksum: Option<StoredChecksum>,
        key: Option<CustomerKey>,
    ) -> Result<PartInfo> {
        plain_only(key.is_some())?;
        self.upload_info(upload).await?;
        let (staged, size, md5) = self.blocking(move |s| s.stage(payload)).await?;
        self.commit_part(upload, part_number, staged, size, md5, checksum)
            .await
    }

    async fn copy_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        source: CopySource,
        check: CopyCheck<PartCopy>,
        keys: CopyKeys,
    ) -> Result<PartInfo> {
        plain_only(keys.source.is_some() || keys.part.is_some())?;
        self.upload_info(upload).await?;
        let src = self.lookup(&source.bucket, &source.key, source.version_id.as_deref())?;
        if src.meta.delete_marker {
            return Err(Error::CopyOfDeleteMarker);
        }
        let PartCopy {
            offset,
            len,
            mut digest,
        } = check(&src.meta)?;
        let (staged, size, md5, checksum) = self
            .blocking(move |s| {
                s.sync_spread(&s.meta());
                let mut sink = BodySink::open(s.set.clone(), len <= SMALL_BODY)?;
                let mut md5 = crate::md5::Md5::new();
                s.read_each(&src.bodies, offset, len, &mut |chunk| {
                    md5.update(&chunk);
                    if let Some(d) = &mut digest {
                        d.update(&chunk);
                    }
                    sink.write(&chunk)
                })?;
                let md5 = md5.finalize();
                let (staged, _) = sink.finish(len, md5)?;
                Ok((Some(staged), len, md5, digest.map(|d| d.finish())))
            })
            .await?;
        self.commit_part(upload, part_number, staged, size, md5, checksum)
            .await
    }

    async fn list_parts(&self, upload: &UploadRef) -> Result<(UploadInfo, Vec<PartInfo>)> {
        self.fresh().await?;
        self.read(|s| {
            let u = s.upload(&upload.bucket, &upload.key, &upload.upload_id)?;
            let parts = u.parts.values().map(|(p, _)| p.clone()).collect();
            Ok((u.info.clone(), parts))
        })
    }

    async fn complete_upload(&self, c: CompleteUpload) -> Result<ObjectMeta> {
        let (info, parts) = self.list_parts(&c.upload).await?;
        let chosen = choose_parts(&parts, &c.parts)?;
        let object_checksum = (c.verify)(&info, &chosen)?;
        let etag = multipart_etag(&chosen)?;
        let sizes: Vec<u64> = chosen.iter().map(|p| p.size).collect();
        let mut attrs = info.attrs.clone();
        attrs.checksum = object_checksum;
        let u = &c.upload;
        let meta = ObjectMeta::new(&u.bucket, &u.key, sizes.iter().sum(), etag, attrs, sizes);
        let outcome = self
            .propose(Command::Complete {
                bucket: u.bucket.clone(),
                key: u.key.clone(),
                upload_id: u.upload_id.clone(),
                parts: chosen
                    .iter()
                    .map(|p| (p.part_number, p.etag.clone()))
                    .collect(),
                uid: new_version_id(),
                meta,
                precondition: c.precondition,
            })
            .await?;
        let Outcome::Object { meta, overwrite } = outcome else {
            return Err(Error::internal("completion answered no object"));
        };
        self.notify(Change::ObjectCreated {
            bucket: u.bucket.clone(),
            key: u.key.clone(),
            size: meta.size,
            etag: meta.etag_value().to_string(),
            overwrite,
        });
        self.notify(Change::MultipartCompleted {
            bucket: u.bucket.clone(),
            key: u.key.clone(),
            size: meta.size,
            etag: meta.etag_value().to_string(),
            upload_id: u.upload_id.clone(),
        });
        Ok(*meta)
    }

    async fn abort_upload(&self, upload: &UploadRef) -> Result<()> {
        self.propose(Command::Abort {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            upload_id: upload.upload_id.clone(),
        })
        .await
        .map(|_| ())
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        self.fresh().await?;
        self.read(|s| s.list_uploads(bucket))
    }

    fn start_initial_scan(&self) {
        // The counters are kept exact in the metadata: nothing to count at start.
    }

    fn scan_complete(&self) -> bool {
        true
    }

    fn counters(&self) -> BTreeMap<String, Counters> {
        self.read(|s| Ok(s.counters())).unwrap_or_default()
    }

    async fn upload_totals(&self) -> Result<(u64, u64)> {
        self.read(|s| Ok(s.upload_totals()))
    }

    async fn capacity(&self) -> Result<Vec<Capacity>> {
        self.blocking(|s| {
            Ok(s.set
                .drives
                .iter()
                .filter_map(|d| crate::storage::capacity::capacity(&d.path).ok())
                .collect())
        })
        .await
    }

    async fn probe(&self) -> Result<Vec<DriveProbe>> {
        self.blocking(|s| {
            Ok(s.set
                .drives
                .iter()
                .map(|d| {
                    let tmp = super::format::tmp_path(&d.path);
                    let _ = std::fs::create_dir_all(&tmp);
                    crate::storage::capacity::probe(&d.path, &tmp)
                })
                .collect())
        })
        .await
    }

    fn location(&self) -> String {
        let paths: Vec<String> = self
            .set
            .drives
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        paths.join(", ")
    }

    /// The log's leader runs the deployment's background work: one node at a time.
    fn runs_background_work(&self) -> bool {
        self.meta().log.status().role == "leader"
    }
}

impl ClusterStore {
    /// The health report: this node, its drives as last probed, the set's quorums,
    /// the metadata log and healing.
    pub fn health(&self) -> ClusterReport {
        let status = self.meta().log.status();
        let me = raft_node_id(&self.formatted.node_id);
        let members: BTreeMap<u64, Member> = status.members.iter().cloned().collect();
        // Logs from before names were kept know this node by number only.
        let name = |id: u64| match members.get(&id) {
            _ if id == me => self.formatted.node_id.clone(),
            Some(m) if !m.name.is_empty() => m.name.clone(),
            _ => id.to_string(),
        };
        let role = match status.role.as_str() {
            "leader" => RaftRole::Leader,
            "follower" => RaftRole::Follower,
            "candidate" => RaftRole::Candidate,
            "learner" => RaftRole::Learner,
            _ => RaftRole::None,
        };
        let replication = (status.matched.iter())
            .map(|&(id, matched)| ReplicationReport {
                node_id: name(id),
                matched_index: matched,
                lag: status.last_log_index - matched.unwrap_or(0).min(status.last_log_index),
            })
            .collect();
        let leads = status.leader_id == Some(me);
        let confirmed = status
            .quorum_ack_ms
            .is_some_and(|ms| ms < QUORUM_ACK_MAX_MS);
        // A follower trusts its leader only while it reaches a majority of the voters
        // itself: a leader cut off with a minority still sends it heartbeats.
        let reachable = (status.voters.iter())
            .filter(|id| {
                **id == me
                    || members
                        .get(id)
                        .is_some_and(|m| self.peers.seen(&m.addr).state == NodeState::Up)
            })
            .count();
        let majority = reachable > status.voters.len() / 2;
        let metadata_ok = status.leader_id.is_some()
            && match leads {
                true => confirmed || members.len() <= 1,
                false => majority,
            };
        let others = (members.iter())
            .filter(|(id, _)| **id != me)
            .map(|(&id, m)| {
                let seen = self.peers.seen(&m.addr);
                NodeReport {
                    id: name(id),
                    address: m.addr.clone(),
                    state: seen.state,
                    last_seen_ms: seen.last_seen_ms,
                    rtt_ms: seen.rtt_ms,
                }
            })
            .collect();
        let raft = RaftReport {
            leader_id: status.leader_id.map(name),
            term: status.term,
            commit_index: status.commit_index,
            role,
            voters: status.voters.into_iter().map(name).collect(),
            learners: status.learners.into_iter().map(name).collect(),
            replication,
        };
        let heal = self.heal.stats();
        let iso = |ms: Option<i64>| {
            ms.and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        let healing = HealingReport {
            queued: heal.queued,
            in_progress: heal.in_progress,
            healed_objects: heal.healed_objects,
            healed_bytes: heal.healed_bytes,
            failed: heal.failed,
            scanner: ScannerReport {
                cycle: heal.scanner.cycle,
                last_started_at: iso(heal.scanner.last_started_at),
                last_finished_at: iso(heal.scanner.last_finished_at),
            },
        };
        let probes = self.set.drives.iter().map(Drive::report).collect();
        let membership = Membership {
            raft,
            metadata_ok,
            others,
        };
        // The other members' drives as their last answers gave them; `offline` while
        // the member does not answer (nothing of it can be reached).
        let theirs: Vec<DriveReport> = (members.iter())
            .filter(|(id, _)| **id != me)
            .flat_map(|(_, m)| {
                let answering = self.peers.seen(&m.addr).state == NodeState::Up;
                let mut drives = self.peers.drives(&m.addr);
                if !answering {
                    drives
                        .iter_mut()
                        .for_each(|d| d.state = DriveState::Offline);
                }
                drives
            })
            .collect();
        let mut report = node_report(
            &self.formatted,
            &self.log_options.advertise,
            self.quic.port(),
            membership,
            probes,
            healing,
        );
        report.drives.extend(theirs);
        report
    }

    /// One attempt at a copy; `None` when its source lost its bytes meanwhile.
    async fn try_copy(&self, copy: &CopyObject) -> Result<Option<ObjectMeta>> {
        let src = &copy.source;
        let source = self.lookup(&src.bucket, &src.key, src.version_id.as_deref())?;
        if source.meta.delete_marker {
            return Err(Error::CopyOfDeleteMarker);
        }
        let checksum = (copy.check)(&source.meta)?;
        let src_meta = &source.meta;
        // A multipart source gets a plain MD5 ETag, as AWS gives copies.
        let etag = if src_meta.parts.is_empty() && !src_meta.etag.contains('-') {
            src_meta.etag.clone()
        } else {
            let (bodies, size) = (source.bodies.clone(), src_meta.size);
            self.blocking(move |s| {
                let mut md5 = crate::md5::Md5::new();
                s.read_each(&bodies, 0, size, &mut |chunk| {
                    md5.update(&chunk);
                    Ok(())
                })?;
                Ok(etag_of(&md5.finalize()))
            })
            .await?
        };
        let mut attrs = copy.attrs.clone().unwrap_or_else(|| src_meta.attrs());
        attrs.tags = copy.tags.clone().unwrap_or_else(|| src_meta.tags.clone());
        attrs.acl = copy.acl.clone();
        attrs.lock = copy.lock.clone();
        attrs.checksum = checksum;
        let meta = ObjectMeta::new(
            &copy.bucket,
            &copy.key,
            src_meta.size,
            etag,
            attrs,
            Vec::new(),
        );
        let outcome = self
            .propose_raw(Command::Put {
                bucket: copy.bucket.clone(),
                key: copy.key.clone(),
                uid: new_version_id(),
                meta,
                bodies: source.bodies.clone(),
                shared: true,
                precondition: copy.precondition.clone(),
            })
            .await?;
        let (meta, overwrite) = match outcome {
            Ok(Outcome::Object { meta, overwrite }) => (meta, overwrite),
            Err(Failure::SourceGone) => return Ok(None),
            Err(f) => return Err(f.into()),
            Ok(other) => return Err(Error::internal(format!("copy answered {other:?}"))),
        };
        self.notify(Change::ObjectCreated {
            bucket: copy.bucket.clone(),
            key: copy.key.clone(),
            size: meta.size,
            etag: meta.etag_value().to_string(),
            overwrite,
        });
        let mut copied = *meta;
        // Reported as x-amz-copy-source-version-id.
        copied.source_version_id = source.meta.version_id;
        Ok(Some(copied))
    }

    async fn commit_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        staged: Option<StagedBody>,
        size: u64,
        md5: [u8; 16],
        checksum: Option<StoredChecksum>,
    ) -> Result<PartInfo> {
        let part = PartInfo {
            part_number,
            etag: etag_of(&md5),
            size,
            last_modified: chrono::Utc::now().timestamp_millis(),
            checksum,
        };
        self.propose(Command::PutPart {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            upload_id: upload.upload_id.clone(),
            part: part.clone(),
            body: staged.as_ref().and_then(|s| s.body.clone()),
        })
        .await?;
        self.published(staged);
        Ok(part)
    }
}
