//! The report of `getClusterHealth` in cluster mode (the shape of
//! ../shared/cluster.md, typed in src/protocol.ts as `ClusterModeHealth`), and the
//! helpers that make its parts: a drive probe, a set's quorums, the quorum summary,
//! and the report of a one-node cluster.
//!
//! Times: `lastSeenMs` and `lastProbeMs` are Unix times in milliseconds;
//! `lastStartedAt`/`lastFinishedAt` are ISO 8601 (as the protocol's other dates).

use super::format::{Drives, format_path, tmp_path};
use super::geometry::{read_quorum, write_quorum};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A drive is `full` below this many bytes available (or when a write says ENOSPC).
pub const FULL_BELOW_BYTES: u64 = 64 * 1024 * 1024;

/// `getClusterHealth` in cluster mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterReport {
    /// Always `true` here (the standalone answer has `false`).
    pub enabled: bool,
    pub node_id: String,
    /// The bound QUIC port (the real one when 0 was configured).
    pub quic_port: u16,
    pub raft: RaftReport,
    pub nodes: Vec<NodeReport>,
    pub drives: Vec<DriveReport>,
    pub sets: Vec<SetReport>,
    pub quorum: QuorumReport,
    pub healing: HealingReport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RaftRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    /// Not a member (yet), or the Raft node is shut down.
    None,
}

/// The metadata log (openraft) as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RaftReport {
    /// The current leader, `null` when none is known (no quorum, election running).
    pub leader_id: Option<String>,
    pub term: u64,
    pub commit_index: u64,
    pub role: RaftRole,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    /// On the leader: how far each other member's copy of the log is; empty elsewhere.
    pub replication: Vec<ReplicationReport>,
}

/// One member as the leader replicates to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationReport {
    pub node_id: String,
    /// The last log index it is known to hold; `null` until it answered.
    pub matched_index: Option<u64>,
    /// Entries it is behind the leader's log.
    pub lag: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeState {
    Up,
    Suspect,
    Down,
}

/// A member node (this one included, always `up`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeReport {
    pub id: String,
    /// Its QUIC address, `host:port`.
    pub address: String,
    pub state: NodeState,
    /// When it was last heard from (Unix ms; this node: now); `null` if never.
    pub last_seen_ms: Option<u64>,
    /// The last round trip to it; `null` for this node and for a node never reached.
    pub rtt_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DriveState {
    /// Probed fine.
    Ok,
    /// Gone: the folder or its format file is missing or cannot be read.
    Offline,
    /// There, but failing: the probe write or an I/O of the storage failed.
    Faulty,
    /// Less than [`FULL_BELOW_BYTES`] available, or a write ran out of space.
    Full,
    /// Fine, and being filled with the shards it lacks (a replaced or returning drive).
    Healing,
}

impl DriveState {
    /// Takes new shards.
    pub fn writable(self) -> bool {
        matches!(self, DriveState::Ok | DriveState::Healing)
    }
    /// Serves shards (a healing drive may lack some; reads verify every frame anyway).
    pub fn readable(self) -> bool {
        self != DriveState::Offline
    }
}

/// One drive and its last probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriveReport {
    pub node_id: String,
    pub path: String,
    pub state: DriveState,
    /// The file system's size; `null` when it cannot be read.
    pub total_bytes: Option<u64>,
    /// Bytes available to the engine (statvfs `f_bavail`); `null` when unknown.
    pub free_bytes: Option<u64>,
    /// When the drive was last probed (Unix ms).
    pub last_probe_ms: u64,
    /// Time to write, fsync and remove a 4 KiB file; `null` when that failed.
    pub probe_latency_ms: Option<f64>,
    /// Why the state is not `ok`; `null` when it is.
    pub error: Option<String>,
}

/// An erasure set (part 1: one set, pool 0, id 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetReport {
    pub pool: usize,
    pub id: usize,
    pub data_shards: usize,
    pub parity_shards: usize,
    /// Drives that can serve reads (`ok`, `healing` or `full`).
    pub drives_online: usize,
    pub read_quorum: usize,
    pub write_quorum: usize,
    /// `drivesOnline >= readQuorum`.
    pub readable: bool,
    /// Drives that can take writes (`ok` or `healing`) `>= writeQuorum`.
    pub writable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MetadataQuorum {
    Ok,
    Lost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuorumReport {
    /// The metadata log has a leader this node can reach (writes and linearizable reads work).
    pub metadata: MetadataQuorum,
    /// Every set is readable.
    pub data_readable: bool,
    /// Every set is writable.
    pub data_writable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealingReport {
    /// Objects waiting to be healed (found on read, partial writes).
    pub queued: u64,
    pub in_progress: u64,
    /// Since start.
    pub healed_objects: u64,
    pub healed_bytes: u64,
    pub failed: u64,
    pub scanner: ScannerReport,
}

/// The background scanner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScannerReport {
    /// Cycles started since start (0: none yet).
    pub cycle: u64,
    /// ISO 8601; `null` before the first cycle.
    pub last_started_at: Option<String>,
    /// ISO 8601; `null` until a cycle finished.
    pub last_finished_at: Option<String>,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The state of a drive from what is known of it; `healing` wins over `ok` only.
pub fn drive_state(
    reachable: bool,
    writable: bool,
    free_bytes: Option<u64>,
    healing: bool,
) -> DriveState {
    if !reachable {
        DriveState::Offline
    } else if free_bytes.is_some_and(|free| free < FULL_BELOW_BYTES) {
        DriveState::Full
    } else if !writable {
        DriveState::Faulty
    } else if healing {
        DriveState::Healing
    } else {
        DriveState::Ok
    }
}

/// Probes a cluster drive now: its format file is read, a 4 KiB file is written,
/// fsynced and removed in `<drive>/.smartstorage/tmp`, and statvfs gives the sizes.
/// Never `healing` (the storage knows that: see [`drive_state`]).
pub fn probe_drive(node_id: &str, path: &Path) -> DriveReport {
    use crate::storage::capacity;
    let last_probe_ms = now_ms();
    let report = |state, probe: Option<&capacity::DriveProbe>, error: Option<String>| {
        let sizes = capacity::capacity(path).ok();
        DriveReport {
            node_id: node_id.to_string(),
            path: path.display().to_string(),
            state,
            total_bytes: sizes.as_ref().map(|c| c.total_bytes),
            free_bytes: sizes.as_ref().map(|c| c.available_bytes),
            last_probe_ms,
            probe_latency_ms: probe.and_then(|p| p.probe_latency_ms),
            error,
        }
    };
    if !path.is_dir() {
        return report(
            DriveState::Offline,
            None,
            Some("the drive folder is missing".into()),
        );
    }
    if let Err(e) = std::fs::metadata(format_path(path)) {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "the drive has no format file (replaced or wiped)".to_string()
        } else {
            format!("cannot read the format file: {e}")
        };
        return report(DriveState::Offline, None, Some(why));
    }
    let probe = capacity::probe(path, &tmp_path(path));
    let out_of_space = probe
        .error
        .as_deref()
        .is_some_and(|e| e.contains("No space left"));
    let mut state = drive_state(
        probe.reachable,
        probe.writable,
        probe.available_bytes,
        false,
    );
    if out_of_space {
        state = DriveState::Full;
    }
    let error = match state {
        DriveState::Full if probe.error.is_none() => Some(format!(
            "{} bytes available, below {FULL_BELOW_BYTES}",
            probe.available_bytes.unwrap_or(0)
        )),
        _ => probe.error.clone(),
    };
    report(state, Some(&probe), error)
}

/// A set's quorum figures from its drives' states.
pub fn set_report(
    pool: usize,
    id: usize,
    data: usize,
    parity: usize,
    states: &[DriveState],
) -> SetReport {
    let online = states
        .iter()
        .filter(|s| matches!(s, DriveState::Ok | DriveState::Healing | DriveState::Full))
        .count();
    let writers = states
        .iter()
        .filter(|s| matches!(s, DriveState::Ok | DriveState::Healing))
        .count();
    let (rq, wq) = (read_quorum(data, parity), write_quorum(data, parity));
    SetReport {
        pool,
        id,
        data_shards: data,
        parity_shards: parity,
        drives_online: online,
        read_quorum: rq,
        write_quorum: wq,
        readable: online >= rq,
        writable: writers >= wq,
    }
}

/// The summary: metadata as the caller judged it, data from every set.
pub fn quorum_report(metadata_ok: bool, sets: &[SetReport]) -> QuorumReport {
    QuorumReport {
        metadata: if metadata_ok {
            MetadataQuorum::Ok
        } else {
            MetadataQuorum::Lost
        },
        data_readable: sets.iter().all(|s| s.readable),
        data_writable: sets.iter().all(|s| s.writable),
    }
}

/// What a node knows of the cluster beyond its drives.
pub struct Membership {
    pub raft: RaftReport,
    /// A leader is known and, when this node leads, a quorum acknowledged it lately.
    pub metadata_ok: bool,
    /// The other members, as last heard from.
    pub others: Vec<NodeReport>,
}

/// A node's report: this node (always `up`, at `address`, `host:port`) and the other
/// members, one set of `drives` with the drive probes given (in slot order, e.g. from
/// [`probe_drive`]).
pub fn node_report(
    drives: &Drives,
    address: &str,
    quic_port: u16,
    membership: Membership,
    probes: Vec<DriveReport>,
    healing: HealingReport,
) -> ClusterReport {
    let states: Vec<DriveState> = probes.iter().map(|p| p.state).collect();
    let sets = vec![set_report(0, 0, drives.data, drives.parity, &states)];
    let quorum = quorum_report(membership.metadata_ok, &sets);
    let me = NodeReport {
        id: drives.node_id.clone(),
        address: address.to_string(),
        state: NodeState::Up,
        last_seen_ms: Some(now_ms()),
        rtt_ms: None,
    };
    ClusterReport {
        enabled: true,
        node_id: drives.node_id.clone(),
        quic_port,
        raft: membership.raft,
        nodes: std::iter::once(me).chain(membership.others).collect(),
        drives: probes,
        sets,
        quorum,
        healing,
    }
}

/// `host:port`, an IPv6 host in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::format::prepare;
    use crate::config::ClusterConfig;

    fn raft(leader: Option<&str>) -> RaftReport {
        RaftReport {
            leader_id: leader.map(String::from),
            term: 1,
            commit_index: 3,
            role: RaftRole::Leader,
            voters: vec!["node-1".into()],
            learners: vec![],
            replication: vec![],
        }
    }

    #[test]
    fn states_and_quorums() {
        use DriveState::*;
        assert_eq!(drive_state(false, false, None, false), Offline);
        assert_eq!(drive_state(true, false, Some(1 << 40), false), Faulty);
        assert_eq!(drive_state(true, true, Some(1), false), Full);
        assert_eq!(drive_state(true, true, Some(1 << 40), true), Healing);
        assert_eq!(drive_state(true, true, None, false), Ok);
        let s = set_report(0, 0, 2, 2, &[Ok, Ok, Ok, Offline]);
        assert_eq!((s.drives_online, s.read_quorum, s.write_quorum), (3, 2, 3));
        assert!(s.readable && s.writable);
        let s = set_report(0, 0, 2, 2, &[Ok, Full, Faulty, Offline]);
        assert!(s.readable && !s.writable);
        let s = set_report(0, 0, 2, 2, &[Ok, Faulty, Faulty, Offline]);
        assert!(!s.readable && !s.writable);
        let q = quorum_report(false, &[set_report(0, 0, 2, 2, &[Ok, Ok, Ok, Ok])]);
        assert_eq!(q.metadata, MetadataQuorum::Lost);
        assert!(q.data_readable && q.data_writable);
    }

    #[test]
    fn probes_and_reports_a_one_node_cluster() {
        let dir = std::env::temp_dir().join(format!("health-{}", uuid::Uuid::new_v4().simple()));
        let paths: Vec<_> = (0..4).map(|i| dir.join(format!("d{i}"))).collect();
        let drives = prepare(&ClusterConfig {
            enabled: true,
            drives: paths.clone(),
            erasure: None,
            node_id: Some("node-1".into()),
            ..ClusterConfig::default()
        })
        .unwrap();
        std::fs::remove_dir_all(&paths[3]).unwrap();
        let probes: Vec<_> = drives
            .drives
            .iter()
            .map(|d| probe_drive(&drives.node_id, &d.path))
            .collect();
        assert_eq!(probes[0].state, DriveState::Ok, "{:?}", probes[0]);
        assert!(probes[0].probe_latency_ms.is_some() && probes[0].total_bytes.is_some());
        assert_eq!(probes[3].state, DriveState::Offline);
        assert!(probes[3].error.is_some());
        let membership = Membership {
            raft: raft(Some("node-1")),
            metadata_ok: true,
            others: vec![],
        };
        let report = node_report(
            &drives,
            "127.0.0.1:4348",
            4348,
            membership,
            probes,
            HealingReport::default(),
        );
        assert_eq!(report.sets[0].drives_online, 3);
        assert_eq!(report.quorum.metadata, MetadataQuorum::Ok);
        assert!(report.quorum.data_writable);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["enabled"], true);
        assert_eq!(json["nodeId"], "node-1");
        assert_eq!(json["quicPort"], 4348);
        assert_eq!(json["nodes"][0]["address"], "127.0.0.1:4348");
        assert_eq!(json["nodes"][0]["state"], "up");
        assert_eq!(json["drives"][3]["state"], "offline");
        assert_eq!(json["raft"]["role"], "leader");
        assert_eq!(json["quorum"]["metadata"], "ok");
        assert_eq!(
            json["healing"]["scanner"]["lastStartedAt"],
            serde_json::Value::Null
        );
        assert_eq!(json["sets"][0]["writeQuorum"], 3);
        let back: ClusterReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
