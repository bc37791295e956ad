//! The node's drives as the store sees them while serving: where each keeps its
//! shard files, and whether it answers now. A prober refreshes each drive's report
//! (`health::probe_drive`) every few seconds; writes skip drives that are not `Ok`
//! (or `Healing`), reads skip drives that are `Offline`. An empty folder found in
//! place of a drive while serving is formatted for its slot and healed in full.
//!
//! With several nodes, the set also knows the other nodes' drives ([`Spread`]): a
//! body names its drives by id, wherever they are, and a drive of another node is as
//! available as its node answers pings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::drive_io::{DriveIo, LocalDrive, ShardRef};
use super::erasure::BLOCK_SIZE;
use super::format::{FormatFile, SYSTEM_DIR, write_format};
pub use super::health::DriveState;
use super::health::{DriveReport, NodeState, now_ms, probe_drive};
use super::meta::Body;
use super::peers::PeerMonitor;
use super::topology::{Candidate, NodeRecord, place, spread_geometry};

pub struct Drive {
    pub index: usize,
    pub path: PathBuf,
    /// The drive's id in the format files: how a drive is recognised after a move.
    pub id: String,
    /// Its shard files.
    pub io: Arc<dyn DriveIo>,
    node_id: String,
    /// The slot's format file, written again on a drive replaced while serving.
    format: FormatFile,
    report: Mutex<DriveReport>,
    /// Replaced (or new): being filled by the healer until a scan finds it whole.
    healing: AtomicBool,
}

impl Drive {
    pub fn new(
        index: usize,
        path: PathBuf,
        node_id: &str,
        format: FormatFile,
        state: DriveState,
    ) -> Drive {
        Drive {
            index,
            id: format.drive_id.clone(),
            report: Mutex::new(DriveReport {
                node_id: node_id.to_string(),
                path: path.display().to_string(),
                state,
                total_bytes: None,
                free_bytes: None,
                last_probe_ms: now_ms(),
                probe_latency_ms: None,
                error: None,
            }),
            io: Arc::new(LocalDrive::new(path.clone())),
            path,
            node_id: node_id.to_string(),
            format,
            healing: AtomicBool::new(state == DriveState::Healing),
        }
    }

    pub fn system_dir(&self) -> PathBuf {
        self.path.join(SYSTEM_DIR)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path.join(data_rel())
    }

    pub fn raft_dir(&self) -> PathBuf {
        self.system_dir().join("raft")
    }

    pub fn report(&self) -> DriveReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn state(&self) -> DriveState {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).state
    }

    /// A healing drive found whole.
    pub fn healed(&self) {
        self.healing.store(false, Ordering::Relaxed);
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        if report.state == DriveState::Healing {
            report.state = DriveState::Ok;
        }
    }

    pub fn writable(&self) -> bool {
        self.state().writable()
    }

    pub fn readable(&self) -> bool {
        self.state().readable()
    }

    /// Probes the drive (blocking); answers its state before and after.
    pub fn refresh(&self) -> (DriveState, DriveState) {
        let before = self.state();
        let mut report = probe_drive(&self.node_id, &self.path);
        if report.state == DriveState::Offline && self.is_empty_folder() {
            // A new disk in place of a lost one: it takes the slot and is filled.
            match write_format(&self.path, &self.format) {
                Ok(()) => {
                    crate::log::warn(&format!("{}: empty drive, healing it", self.path.display()));
                    self.healing.store(true, Ordering::Relaxed);
                    report = probe_drive(&self.node_id, &self.path);
                }
                Err(e) => report.error = Some(format!("cannot format the new drive: {e}")),
            }
        }
        if report.state != DriveState::Offline
            && let Err(e) = super::create_dir_in_place(&self.data_dir())
        {
            report.state = DriveState::Faulty;
            report.error = Some(format!("cannot create {}: {e}", self.data_dir().display()));
        }
        if report.state == DriveState::Ok && self.healing.load(Ordering::Relaxed) {
            report.state = DriveState::Healing;
        }
        let after = report.state;
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = report;
        (before, after)
    }

    fn is_empty_folder(&self) -> bool {
        std::fs::read_dir(&self.path).is_ok_and(|mut entries| entries.next().is_none())
    }
}

/// Where a drive keeps its shard files.
fn data_rel() -> PathBuf {
    Path::new(SYSTEM_DIR).join("data")
}

/// Where a drive keeps its shard of the body `id` (spread over 256 folders).
fn shard_rel(id: &str) -> PathBuf {
    data_rel().join(&id[..2.min(id.len())]).join(id)
}

/// The other nodes' drives, once several nodes registered (`topology`): new bodies
/// spread over all of them.
pub struct Spread {
    /// `(K, M)` of new bodies; `None` when fewer than two nodes stay (decommissioning
    /// the second last): new bodies then stay on this node's set.
    geometry: Option<(usize, usize)>,
    /// Every registered node (this one too): its address and drive ids.
    nodes: Vec<NodeRecord>,
    /// The other nodes' drives by id, and their node's address.
    remote: HashMap<String, (Arc<dyn DriveIo>, String)>,
    peers: Arc<PeerMonitor>,
    /// The drives of the node that started the cluster, in slot order: where bodies
    /// that name no drives are.
    first_node_drives: Vec<String>,
}

impl Spread {
    /// `None` unless at least two nodes are registered.
    pub fn new(
        nodes: Vec<NodeRecord>,
        first_node: Option<&NodeRecord>,
        local: &str,
        connect: impl Fn(&str, &str) -> Option<Arc<dyn DriveIo>>,
        peers: Arc<PeerMonitor>,
    ) -> Option<Spread> {
        // Leaving nodes take no new shards (their drives are still read).
        let staying = nodes.iter().filter(|n| !n.leaving);
        let counts: Vec<usize> = staying.map(|n| n.drives.len()).collect();
        if nodes.len() < 2 {
            return None;
        }
        let mut remote = HashMap::new();
        for node in nodes.iter().filter(|n| n.name != local) {
            for drive in &node.drives {
                if let Some(io) = connect(&node.addr, drive) {
                    remote.insert(drive.clone(), (io, node.addr.clone()));
                }
            }
        }
        Some(Spread {
            geometry: spread_geometry(&counts),
            nodes,
            remote,
            peers,
            first_node_drives: first_node.map(|n| n.drives.clone()).unwrap_or_default(),
        })
    }

    /// A drive of another node: usable while its node answers pings (a suspect one
    /// is skipped: a call to it would wait out a timeout, and parity covers it).
    fn remote(&self, id: &str) -> Option<(DriveState, Arc<dyn DriveIo>)> {
        let (io, addr) = self.remote.get(id)?;
        let state = match self.peers.seen(addr).state {
            NodeState::Up => DriveState::Ok,
            NodeState::Suspect | NodeState::Down => DriveState::Offline,
        };
        Some((state, io.clone()))
    }
}

/// The node's drives, in slot order, and how bodies are spread over them.
pub struct DriveSet {
    pub drives: Vec<Drive>,
    /// Data and parity shards of a large body (`data + parity` = the drive count).
    pub data: usize,
    pub parity: usize,
    /// Shards that must be written (fsynced when `fsync`) before a write is kept.
    pub write_quorum: usize,
    pub fsync: bool,
    /// Several nodes: where new bodies go, and the other nodes' drives.
    pub spread: RwLock<Option<Arc<Spread>>>,
}

impl DriveSet {
    pub fn new(drives: Vec<Drive>, data: usize, parity: usize, fsync: bool) -> DriveSet {
        DriveSet {
            drives,
            data,
            parity,
            write_quorum: super::geometry::write_quorum(data, parity),
            fsync,
            spread: RwLock::new(None),
        }
    }

    pub fn spread(&self) -> Option<Arc<Spread>> {
        self.spread
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A drive by id, this node's or another's, and its state.
    fn resolve(&self, id: &str, spread: Option<&Spread>) -> Option<(DriveState, Arc<dyn DriveIo>)> {
        match self.drives.iter().find(|d| d.id == id) {
            Some(d) => Some((d.state(), d.io.clone())),
            None => spread?.remote(id),
        }
    }

    /// Where each shard of `body` is, or `None` when its drive is not usable for the
    /// purpose (by its state) or unknown; `local_only`: this node's drives only.
    pub fn shards(
        &self,
        body: &Body,
        usable: impl Fn(DriveState) -> bool,
        local_only: bool,
    ) -> Vec<Option<ShardRef>> {
        let shard = |(state, io): (DriveState, Arc<dyn DriveIo>)| {
            usable(state).then(|| ShardRef {
                drive: io,
                rel: shard_rel(&body.id),
            })
        };
        let spread = self.spread();
        let owner = spread
            .as_ref()
            .map_or(&[][..], |s| &s.first_node_drives[..]);
        if body.drives.is_empty() && (owner.is_empty() || self.drives[0].id == owner[0]) {
            // A body of this node's set from before any node registered.
            let n = self.drives.len();
            return (0..body.data + body.parity)
                .map(|i| &self.drives[(body.first_drive + i) % n])
                .map(|d| shard((d.state(), d.io.clone())))
                .collect();
        }
        let ids: Vec<&String> = match body.drives.is_empty() {
            true => (0..body.data + body.parity)
                .map(|i| &owner[(body.first_drive + i) % owner.len()])
                .collect(),
            false => body.drives.iter().collect(),
        };
        let remote = spread.as_deref().filter(|_| !local_only);
        ids.into_iter()
            .map(|id| self.resolve(id, remote).and_then(shard))
            .collect()
    }

    /// A new body's id, geometry and drives; small: at most `SMALL_BODY` bytes (one
    /// data shard). Answers its write quorum too.
    pub fn new_body(&self, small: bool) -> (Body, usize) {
        let mut body = Body {
            id: uuid::Uuid::new_v4().simple().to_string(),
            size: 0,
            data: self.data,
            parity: self.parity,
            block_size: BLOCK_SIZE,
            first_drive: 0,
            drives: Vec::new(),
        };
        let spread = self.spread();
        let spread = spread.as_deref().and_then(|s| Some((s, s.geometry?)));
        let shards_of = |(data, parity): (usize, usize)| (if small { 1 } else { data }) + parity;
        let placed = spread.and_then(|(s, geometry)| {
            let drives = self.place_spread(s, shards_of(geometry), geometry.1)?;
            Some((geometry, drives))
        });
        let (geometry, drives) = placed.unwrap_or_else(|| {
            let geometry = (self.data, self.parity);
            let shards = shards_of(geometry);
            let (first, n) = (self.place(shards), self.drives.len());
            let local = (0..shards).map(|i| self.drives[(first + i) % n].id.clone());
            (geometry, local.collect())
        });
        (body.data, body.parity) = (if small { 1 } else { geometry.0 }, geometry.1);
        body.drives = drives;
        let quorum = super::geometry::write_quorum(geometry.0, geometry.1);
        let shards = body.data + body.parity;
        (body, quorum.min(shards))
    }

    /// Drives over the registered nodes, at most the parity count per node.
    fn place_spread(&self, spread: &Spread, shards: usize, per_node: usize) -> Option<Vec<String>> {
        let candidates: Vec<Candidate> = (spread.nodes.iter())
            .filter(|node| !node.leaving)
            .map(|node| Candidate {
                drives: node
                    .drives
                    .iter()
                    .map(|id| {
                        let state = self.resolve(id, Some(spread)).map(|(s, _)| s);
                        (id.clone(), state.is_some_and(DriveState::writable))
                    })
                    .collect(),
            })
            .collect();
        place(&candidates, shards, per_node)
    }

    /// The first drive of a new body of `shards` shards on this node's set: a random
    /// rotation (so data shards, the ones read, spread over all drives), moved where
    /// the most of its drives take writes when some do not.
    fn place(&self, shards: usize) -> usize {
        let n = self.drives.len();
        let start = uuid::Uuid::new_v4().as_u128() as usize % n;
        let writable = |first: usize| {
            (0..shards)
                .filter(|i| self.drives[(first + i) % n].writable())
                .count()
        };
        (0..n)
            .map(|k| (start + k) % n)
            .max_by_key(|&first| (writable(first), first == start))
            .unwrap_or(start)
    }
}
