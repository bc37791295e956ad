//! The node's drives as the store sees them while serving: where each keeps its
//! shard files, and whether it answers now. A prober refreshes each drive's state
//! every few seconds; writes skip drives that are not `Ok`, reads skip drives that
//! are `Offline`.

use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::storage::capacity;

/// The folder on each drive that holds everything of ours.
pub const SYSTEM_DIR: &str = ".smartstorage";
/// Below this much free space a drive takes no new shards.
const FULL_BELOW_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriveState {
    Ok,
    /// Not there, or not readable (its format file cannot be read).
    Offline,
    /// Readable, but a probe write failed.
    Faulty,
    /// Too little space for new shards; still read.
    Full,
    /// A replaced drive, being filled by the healer; read around until it is done.
    Healing,
}

/// What the last probe found.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub state: DriveState,
    pub total_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    /// When the probe ran (Unix milliseconds) and how long its write took.
    pub last_probe_ms: i64,
    pub probe_latency_ms: Option<f64>,
    pub error: Option<String>,
}

pub struct Drive {
    pub index: usize,
    pub path: PathBuf,
    /// The drive's id in the format files: how a drive is recognised after a move.
    pub id: String,
    probe: Mutex<Probe>,
}

impl Drive {
    pub fn new(index: usize, path: PathBuf, id: String, state: DriveState) -> Drive {
        Drive {
            index,
            path,
            id,
            probe: Mutex::new(Probe {
                state,
                total_bytes: None,
                free_bytes: None,
                last_probe_ms: 0,
                probe_latency_ms: None,
                error: None,
            }),
        }
    }

    pub fn system_dir(&self) -> PathBuf {
        self.path.join(SYSTEM_DIR)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.system_dir().join("data")
    }

    pub fn raft_dir(&self) -> PathBuf {
        self.system_dir().join("raft")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.system_dir().join("tmp")
    }

    /// Where this drive keeps its shard of the body `id` (spread over 256 folders).
    pub fn shard_path(&self, id: &str) -> PathBuf {
        self.data_dir().join(&id[..2.min(id.len())]).join(id)
    }

    pub fn probe(&self) -> Probe {
        self.probe.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn state(&self) -> DriveState {
        self.probe.lock().unwrap_or_else(|e| e.into_inner()).state
    }

    pub fn set_state(&self, state: DriveState) {
        self.probe.lock().unwrap_or_else(|e| e.into_inner()).state = state;
    }

    /// Takes new shards.
    pub fn writable(&self) -> bool {
        self.state() == DriveState::Ok
    }

    /// Serves shards (a healing drive may lack some; reads verify every frame anyway).
    pub fn readable(&self) -> bool {
        !matches!(self.state(), DriveState::Offline)
    }

    /// Probes the drive (blocking): its format file must be there and name it, a small
    /// file must write and sync, and it must have room. Answers the state before and after.
    pub fn refresh(&self) -> (DriveState, DriveState) {
        let before = self.state();
        let mut probe = Probe {
            state: DriveState::Ok,
            total_bytes: None,
            free_bytes: None,
            last_probe_ms: chrono::Utc::now().timestamp_millis(),
            probe_latency_ms: None,
            error: None,
        };
        match self.check_format() {
            Err(e) => {
                probe.state = DriveState::Offline;
                probe.error = Some(e);
            }
            Ok(()) => {
                let tmp = self.tmp_dir();
                let written = std::fs::create_dir_all(&tmp).and_then(|_| capacity::write_probe(&tmp));
                probe.probe_latency_ms = written.as_ref().ok().copied();
                if let Ok(c) = capacity::capacity(&self.path) {
                    probe.total_bytes = Some(c.total_bytes);
                    probe.free_bytes = Some(c.available_bytes);
                }
                let no_room = probe.free_bytes.is_some_and(|f| f < FULL_BELOW_BYTES);
                match written {
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                        probe.state = DriveState::Full;
                        probe.error = Some(e.to_string());
                    }
                    Err(e) => {
                        probe.state = DriveState::Faulty;
                        probe.error = Some(e.to_string());
                    }
                    Ok(_) if no_room => probe.state = DriveState::Full,
                    Ok(_) if before == DriveState::Healing => probe.state = DriveState::Healing,
                    Ok(_) => {}
                }
            }
        }
        let after = probe.state;
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = probe;
        (before, after)
    }

    /// The drive is the one formatted for this slot.
    fn check_format(&self) -> Result<(), String> {
        let path = self.system_dir().join("format.json");
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let format: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        match format.get("driveId").and_then(|v| v.as_str()) {
            Some(id) if id == self.id => Ok(()),
            other => Err(format!(
                "{} names drive {other:?}, not {}",
                path.display(),
                self.id
            )),
        }
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
}

impl DriveSet {
    /// Where each shard of a body goes: shard `i` on drive `(first + i) % n`, or
    /// `None` when that drive is not usable for the purpose.
    pub fn shard_files(
        &self,
        id: &str,
        first: usize,
        shards: usize,
        usable: impl Fn(&Drive) -> bool,
    ) -> Vec<Option<PathBuf>> {
        (0..shards)
            .map(|i| &self.drives[(first + i) % self.drives.len()])
            .map(|d| usable(d).then(|| d.shard_path(id)))
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
