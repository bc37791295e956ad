//! The node's drives as the store sees them while serving: where each keeps its
//! shard files, and whether it answers now. A prober refreshes each drive's report
//! (`health::probe_drive`) every few seconds; writes skip drives that are not `Ok`
//! (or `Healing`), reads skip drives that are `Offline`. An empty folder found in
//! place of a drive while serving is formatted for its slot and healed in full.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::drive_io::{DriveIo, LocalDrive, ShardRef};
use super::format::{FormatFile, SYSTEM_DIR, write_format};
pub use super::health::DriveState;
use super::health::{DriveReport, now_ms, probe_drive};

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

    /// Its shard of the body `id` (spread over 256 folders).
    pub fn shard(&self, id: &str) -> ShardRef {
        ShardRef {
            drive: self.io.clone(),
            rel: data_rel().join(&id[..2.min(id.len())]).join(id),
        }
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

    /// Takes new shards.
    pub fn writable(&self) -> bool {
        matches!(self.state(), DriveState::Ok | DriveState::Healing)
    }

    /// Serves shards (a healing drive may lack some; reads verify every frame anyway).
    pub fn readable(&self) -> bool {
        self.state() != DriveState::Offline
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

/// The node's drives, in slot order, and how bodies are spread over them.
pub struct DriveSet {
    pub drives: Vec<Drive>,
    /// Data and parity shards of a large body (`data + parity` = the drive count).
    pub data: usize,
    pub parity: usize,
    /// Shards that must be written (fsynced when `fsync`) before a write is kept.
    pub write_quorum: usize,
    pub fsync: bool,
}

impl DriveSet {
    /// Where each shard of a body goes: shard `i` on drive `(first + i) % n`, or
    /// `None` when that drive is not usable for the purpose.
    pub fn shards(
        &self,
        id: &str,
        first: usize,
        shards: usize,
        usable: impl Fn(&Drive) -> bool,
    ) -> Vec<Option<ShardRef>> {
        (0..shards)
            .map(|i| &self.drives[(first + i) % self.drives.len()])
            .map(|d| usable(d).then(|| d.shard(id)))
            .collect()
    }

    /// The first drive of a new body of `shards` shards: a random rotation (so data
    /// shards, the ones read, spread over all drives), moved where the most of its
    /// drives take writes when some do not.
    pub fn place(&self, shards: usize) -> usize {
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
