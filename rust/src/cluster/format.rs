//! The drives of a cluster node and their format files, checked and written before the
//! storage writes anything (`prepare`).
//!
//! Each drive holds `<drive>/.smartstorage/format.json` ([`FormatFile`]): the cluster's
//! id, the node's id, the drive's own id and slot (`driveIndex`), the geometry, and the
//! ids of all drives of the set in slot order. It is written once (atomically: a
//! temporary file, fsync, rename, fsync of the folder) when the drive joins and only
//! read afterwards.
//!
//! What `prepare` does with the configured folders:
//!
//! - **all fresh** (missing or empty folders; missing ones are created): a new cluster id, node id
//!   `cluster.nodeId` or `node-<8 hex>`, one drive id per slot; slot = position in
//!   `cluster.drives`.
//! - **all formatted alike**: reused; a given `cluster.nodeId` must be the stored one.
//! - **drives listed in another order**: fine. A formatted drive's slot is its stored
//!   `driveIndex`, never its position in the list, so the shard→drive map cannot be
//!   scrambled by editing the config. [`Drives::drives`] is in slot order.
//! - **some formatted, some empty**: the empty ones replace the lost slots (the slot
//!   at their list position if it is free, else the free slots in order), are formatted
//!   with that slot's drive id and come back `replaced: true`, so the storage heals them
//!   in full. Allowed only while at least the write quorum of drives is intact.
//! - **a format of another cluster**, **standalone data** (anything not hidden, a file,
//!   or the standalone layout's `.buckets`, `.uploads`, `.versions`, `.tmp`, ...),
//!   **a format of another geometry or drive count**, **two folders with one drive id**:
//!   errors naming the drive; nothing is written.
//! - **unreachable** (a file in place of the folder, permission denied, an unreadable or
//!   corrupt format file, and in an existing cluster a folder that is missing altogether,
//!   so that a vanished mount point is never filled anew): `online: false`, or an error when fewer than the write quorum
//!   of drives remain usable. An offline drive keeps its slot (a guess when it cannot be
//!   read: the free slot at its list position); nothing is written to it.

use super::geometry;
use crate::config::ClusterConfig;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder of a drive that holds the cluster's own files (format, probes).
pub const SYSTEM_DIR: &str = ".smartstorage";
/// The format file inside [`SYSTEM_DIR`].
pub const FORMAT_FILE: &str = "format.json";
/// The temporary folder inside [`SYSTEM_DIR`] (probe files, partial writes).
pub const TMP_DIR: &str = "tmp";
/// The version of [`FormatFile`] written and understood.
pub const FORMAT_VERSION: u32 = 1;

/// `<drive>/.smartstorage/format.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatFile {
    pub version: u32,
    pub cluster_id: String,
    pub node_id: String,
    pub drive_id: String,
    pub drive_index: usize,
    pub data_shards: usize,
    pub parity_shards: usize,
    /// The drive ids of the set, in slot order.
    pub drives: Vec<String>,
}

/// The node's drives, ready for the storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drives {
    pub cluster_id: String,
    pub node_id: String,
    pub data: usize,
    pub parity: usize,
    /// In slot order: `drives[i].index == i`.
    pub drives: Vec<DriveSlot>,
}

/// One drive of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveSlot {
    /// The folder as configured.
    pub path: PathBuf,
    /// The slot: the shard index this drive holds.
    pub index: usize,
    pub id: String,
    /// Reachable and formatted at start.
    pub online: bool,
    /// An empty folder formatted in place of a lost drive: to be healed in full.
    pub replaced: bool,
}

/// `<drive>/.smartstorage/format.json`.
pub fn format_path(drive: &Path) -> PathBuf {
    drive.join(SYSTEM_DIR).join(FORMAT_FILE)
}

/// `<drive>/.smartstorage/tmp`.
pub fn tmp_path(drive: &Path) -> PathBuf {
    drive.join(SYSTEM_DIR).join(TMP_DIR)
}

/// What a configured folder holds at start.
#[derive(Debug)]
enum Found {
    /// Not there at all: created when the cluster is made; offline in an existing one.
    Missing,
    /// Empty but for hidden leftovers that are not standalone data.
    Fresh,
    Formatted(FormatFile),
    Unreachable(String),
}

/// Names at a drive's top level that are the standalone layout's (design.md).
fn standalone_marker(name: &str) -> bool {
    use crate::storage::{
        BUCKETS_DIR, CORS_DIR, ENCRYPTION_DIR, LEGACY_MULTIPART_DIR, LIFECYCLE_DIR, POLICIES_DIR,
        TMP_DIR, UPLOADS_DIR, VERSIONS_DIR,
    };
    [
        BUCKETS_DIR,
        CORS_DIR,
        ENCRYPTION_DIR,
        LEGACY_MULTIPART_DIR,
        LIFECYCLE_DIR,
        POLICIES_DIR,
        TMP_DIR,
        UPLOADS_DIR,
        VERSIONS_DIR,
    ]
    .contains(&name)
}

/// Reads a drive without writing anything; `Err` for standalone data.
fn inspect(drive: &Path) -> Result<Found, String> {
    let meta = match std::fs::metadata(drive) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Ok(Found::Unreachable(e.to_string())),
    };
    if !meta.is_dir() {
        return Ok(Found::Unreachable("not a folder".into()));
    }
    let entries = match std::fs::read_dir(drive) {
        Ok(entries) => entries,
        Err(e) => return Ok(Found::Unreachable(e.to_string())),
    };
    let mut has_system_dir = false;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Ok(Found::Unreachable(e.to_string())),
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == SYSTEM_DIR {
            has_system_dir = true;
            continue;
        }
        // A mount point's lost+found is the file system's, not data.
        if name == "lost+found" {
            continue;
        }
        let is_file = entry.file_type().map(|t| !t.is_dir()).unwrap_or(true);
        if !name.starts_with('.') || standalone_marker(&name) || is_file {
            return Err(format!(
                "drive {} holds standalone data ({name}) and no cluster format: \
                 use an empty folder per drive (standalone data is not converted)",
                drive.display()
            ));
        }
    }
    if !has_system_dir {
        return Ok(Found::Fresh);
    }
    let path = format_path(drive);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<FormatFile>(&bytes) {
            Ok(format) if format.version != FORMAT_VERSION => Err(format!(
                "drive {}: format version {} is not supported (this engine reads version {FORMAT_VERSION})",
                drive.display(),
                format.version
            )),
            Ok(format) => Ok(Found::Formatted(format)),
            Err(e) => Ok(Found::Unreachable(format!(
                "{} is corrupt: {e}",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Fresh),
        Err(e) => Ok(Found::Unreachable(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes `<drive>/.smartstorage/format.json` atomically (creating the folders).
pub fn write_format(drive: &Path, format: &FormatFile) -> std::io::Result<()> {
    let system = drive.join(SYSTEM_DIR);
    std::fs::create_dir_all(system.join(TMP_DIR))?;
    let tmp = system.join(format!(
        "{FORMAT_FILE}.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(format).map_err(std::io::Error::other)?)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, system.join(FORMAT_FILE))?;
        std::fs::File::open(&system)?.sync_all()?;
        // The drive folder itself may be new: make its entry durable too.
        std::fs::File::open(drive)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Checks the configured drives and their format files, formats fresh drives, and gives
/// the drives in slot order (see the module's comment for every case). Nothing is written
/// unless every check passes.
pub fn prepare(cfg: &ClusterConfig) -> Result<Drives, String> {
    let (k, m) = geometry::validate(cfg)?;
    let n = cfg.drives.len();
    let write_quorum = geometry::write_quorum(k, m);
    let mut found = Vec::with_capacity(n);
    for drive in &cfg.drives {
        found.push(inspect(drive)?);
    }

    // The cluster: the id held by the most formatted drives; any other is an error.
    let formatted: Vec<(usize, FormatFile)> = found
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match f {
            Found::Formatted(format) => Some((i, format.clone())),
            _ => None,
        })
        .collect();
    let Some(reference) = formatted
        .iter()
        .max_by_key(|(_, f)| {
            formatted
                .iter()
                .filter(|(_, g)| g.cluster_id == f.cluster_id)
                .count()
        })
        .map(|(_, f)| f.clone())
    else {
        return format_new(cfg, found, k, m, write_quorum);
    };
    for (i, format) in &formatted {
        let drive = cfg.drives[*i].display();
        if format.cluster_id != reference.cluster_id {
            return Err(format!(
                "drive {drive} belongs to another cluster (cluster id {}; the other drives are cluster {}): \
                 remove it from cluster.drives or give an empty folder",
                format.cluster_id, reference.cluster_id
            ));
        }
        if format.node_id != reference.node_id
            || format.data_shards != reference.data_shards
            || format.parity_shards != reference.parity_shards
            || format.drives != reference.drives
        {
            return Err(format!(
                "drive {drive}: its format file disagrees with the other drives of cluster {} \
                 (node id, geometry or drive list)",
                reference.cluster_id
            ));
        }
        if reference.drives.get(format.drive_index) != Some(&format.drive_id) {
            return Err(format!(
                "drive {drive}: its format file is inconsistent (drive id {} is not slot {} of the set)",
                format.drive_id, format.drive_index
            ));
        }
        if let Some((j, _)) = formatted
            .iter()
            .find(|(j, g)| j < i && g.drive_id == format.drive_id)
        {
            return Err(format!(
                "drives {} and {drive} are the same drive {} (a copy?): give each slot its own drive",
                cfg.drives[*j].display(),
                format.drive_id
            ));
        }
    }
    if reference.drives.len() != n {
        return Err(format!(
            "cluster {} was formatted with {} drives, but cluster.drives lists {n}: \
             a set cannot grow or shrink",
            reference.cluster_id,
            reference.drives.len()
        ));
    }
    if (reference.data_shards, reference.parity_shards) != (k, m) && cfg.erasure.is_some() {
        return Err(format!(
            "cluster {} is {}+{}, but cluster.erasure asks for {k}+{m}: the geometry cannot change",
            reference.cluster_id, reference.data_shards, reference.parity_shards
        ));
    }
    let (k, m) = (reference.data_shards, reference.parity_shards);
    let write_quorum = geometry::write_quorum(k, m);
    // A drive folder that vanished is not replaced by creating it anew (it may be an
    // unmounted disk's mount point that was removed, or a typo): to replace a drive,
    // give an empty folder.
    for f in found.iter_mut() {
        if matches!(f, Found::Missing) {
            *f = Found::Unreachable(
                "the folder is missing (to replace the drive, create an empty folder)".into(),
            );
        }
    }
    if let Some(node_id) = &cfg.node_id
        && *node_id != reference.node_id
    {
        return Err(format!(
            "cluster.nodeId is {node_id:?}, but the drives belong to node {:?}: \
             drop nodeId or give the stored one",
            reference.node_id
        ));
    }

    // Slots: formatted drives take their stored slot; the others take the free ones.
    let mut slot_of: Vec<Option<usize>> = vec![None; n];
    let mut taken = vec![false; n];
    for (i, format) in &formatted {
        slot_of[*i] = Some(format.drive_index);
        taken[format.drive_index] = true;
    }
    for i in 0..n {
        if slot_of[i].is_none() && !taken[i] {
            slot_of[i] = Some(i);
            taken[i] = true;
        }
    }
    for slot in slot_of.iter_mut().filter(|s| s.is_none()) {
        let free = taken.iter().position(|t| !t).expect("n drives, n slots");
        taken[free] = true;
        *slot = Some(free);
    }

    let intact = formatted.len();
    let fresh = found.iter().filter(|f| matches!(f, Found::Fresh)).count();
    if fresh > 0 && intact < write_quorum {
        return Err(format!(
            "only {intact} of {n} drives hold cluster {}'s format: replacing {fresh} empty drive(s) \
             needs at least {write_quorum} intact drives (the write quorum of {k}+{m})",
            reference.cluster_id
        ));
    }
    check_usable(cfg, &found, write_quorum)?;

    let mut slots = Vec::with_capacity(n);
    for (i, f) in found.iter().enumerate() {
        let index = slot_of[i].expect("every drive has a slot");
        let id = reference.drives[index].clone();
        let (online, replaced) = match f {
            Found::Formatted(_) => (true, false),
            Found::Unreachable(_) => (false, false),
            Found::Missing => unreachable!("made Unreachable above"),
            Found::Fresh => {
                let format = FormatFile {
                    drive_id: id.clone(),
                    drive_index: index,
                    ..reference.clone()
                };
                match write_format(&cfg.drives[i], &format) {
                    Ok(()) => (true, true),
                    Err(_) => (false, false),
                }
            }
        };
        slots.push(DriveSlot {
            path: cfg.drives[i].clone(),
            index,
            id,
            online,
            replaced,
        });
    }
    finish(reference.cluster_id, reference.node_id, k, m, slots)
}

/// Errors when fewer than `write_quorum` drives can be used (formatted or fresh).
fn check_usable(cfg: &ClusterConfig, found: &[Found], write_quorum: usize) -> Result<(), String> {
    let usable = found
        .iter()
        .filter(|f| !matches!(f, Found::Unreachable(_)))
        .count();
    if usable >= write_quorum {
        return Ok(());
    }
    let unreachable: Vec<String> = found
        .iter()
        .zip(&cfg.drives)
        .filter_map(|(f, d)| match f {
            Found::Unreachable(e) => Some(format!("{} ({e})", d.display())),
            _ => None,
        })
        .collect();
    Err(format!(
        "only {usable} of {} drives are usable, fewer than the write quorum of {write_quorum}; unreachable: {}",
        cfg.drives.len(),
        unreachable.join(", ")
    ))
}

/// A new cluster on drives none of which is formatted.
fn format_new(
    cfg: &ClusterConfig,
    found: Vec<Found>,
    k: usize,
    m: usize,
    write_quorum: usize,
) -> Result<Drives, String> {
    check_usable(cfg, &found, write_quorum)?;
    let cluster_id = uuid::Uuid::new_v4().to_string();
    let node_id = cfg
        .node_id
        .clone()
        .unwrap_or_else(|| format!("node-{}", short_id()));
    let ids: Vec<String> = (0..cfg.drives.len())
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let mut slots = Vec::with_capacity(ids.len());
    for (index, (drive, f)) in cfg.drives.iter().zip(&found).enumerate() {
        let online = matches!(f, Found::Fresh | Found::Missing)
            && write_format(
                drive,
                &FormatFile {
                    version: FORMAT_VERSION,
                    cluster_id: cluster_id.clone(),
                    node_id: node_id.clone(),
                    drive_id: ids[index].clone(),
                    drive_index: index,
                    data_shards: k,
                    parity_shards: m,
                    drives: ids.clone(),
                },
            )
            .is_ok();
        slots.push(DriveSlot {
            path: drive.clone(),
            index,
            id: ids[index].clone(),
            online,
            replaced: false,
        });
    }
    finish(cluster_id, node_id, k, m, slots)
}

/// Orders the slots and checks that enough drives came online after writing.
fn finish(
    cluster_id: String,
    node_id: String,
    data: usize,
    parity: usize,
    mut drives: Vec<DriveSlot>,
) -> Result<Drives, String> {
    drives.sort_by_key(|d| d.index);
    let online = drives.iter().filter(|d| d.online).count();
    let write_quorum = geometry::write_quorum(data, parity);
    if online < write_quorum {
        let offline: Vec<String> = drives
            .iter()
            .filter(|d| !d.online)
            .map(|d| d.path.display().to_string())
            .collect();
        return Err(format!(
            "only {online} of {} drives could be used, fewer than the write quorum of {write_quorum}; offline: {}",
            drives.len(),
            offline.join(", ")
        ));
    }
    Ok(Drives {
        cluster_id,
        node_id,
        data,
        parity,
        drives,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ErasureConfig;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new() -> Tmp {
            let dir =
                std::env::temp_dir().join(format!("format-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            Tmp(dir)
        }
        fn drives(&self, n: usize) -> Vec<PathBuf> {
            (0..n).map(|i| self.0.join(format!("d{i}"))).collect()
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chmod")
                .args(["-R", "u+rwx"])
                .arg(&self.0)
                .status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn cfg(drives: &[PathBuf]) -> ClusterConfig {
        ClusterConfig {
            enabled: true,
            drives: drives.to_vec(),
            erasure: None,
            node_id: None,
            ..ClusterConfig::default()
        }
    }

    fn read(drive: &Path) -> FormatFile {
        serde_json::from_slice(&std::fs::read(format_path(drive)).unwrap()).unwrap()
    }

    #[test]
    fn fresh_drives_get_a_new_cluster_and_are_reused() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        std::fs::create_dir(&drives[1]).unwrap(); // one exists empty, three are created
        let first = prepare(&cfg(&drives)).unwrap();
        assert_eq!((first.data, first.parity), (2, 2));
        assert!(first.node_id.starts_with("node-") && first.node_id.len() == 13);
        assert_eq!(first.drives.len(), 4);
        for (i, slot) in first.drives.iter().enumerate() {
            assert_eq!(slot.index, i);
            assert_eq!(slot.path, drives[i]);
            assert!(slot.online && !slot.replaced);
            let format = read(&drives[i]);
            assert_eq!(format.version, 1);
            assert_eq!(format.cluster_id, first.cluster_id);
            assert_eq!(format.node_id, first.node_id);
            assert_eq!(format.drive_id, slot.id);
            assert_eq!(format.drive_index, i);
            assert_eq!((format.data_shards, format.parity_shards), (2, 2));
            assert_eq!(
                format.drives,
                first
                    .drives
                    .iter()
                    .map(|d| d.id.clone())
                    .collect::<Vec<_>>()
            );
            assert!(tmp_path(&drives[i]).is_dir());
        }
        let second = prepare(&cfg(&drives)).unwrap();
        assert_eq!(first, second);
        // The stored node id may be given, and must match when given.
        let mut named = cfg(&drives);
        named.node_id = Some(first.node_id.clone());
        assert_eq!(prepare(&named).unwrap(), first);
        named.node_id = Some("node-other".into());
        let e = prepare(&named).unwrap_err();
        assert!(e.contains("belong to node"), "{e}");
    }

    #[test]
    fn given_node_id_and_geometry_are_kept() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        let mut c = cfg(&drives);
        c.node_id = Some("node-1".into());
        c.erasure = Some(ErasureConfig {
            data_shards: 3,
            parity_shards: 1,
        });
        let d = prepare(&c).unwrap();
        assert_eq!((d.node_id.as_str(), d.data, d.parity), ("node-1", 3, 1));
        // Without erasure the stored geometry is used; another one is refused.
        c.erasure = None;
        let again = prepare(&c).unwrap();
        assert_eq!((again.data, again.parity), (3, 1));
        c.erasure = Some(ErasureConfig {
            data_shards: 2,
            parity_shards: 2,
        });
        let e = prepare(&c).unwrap_err();
        assert!(e.contains("cannot change"), "{e}");
    }

    #[test]
    fn reordered_drives_keep_their_slots() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        let first = prepare(&cfg(&drives)).unwrap();
        let reordered = vec![
            drives[2].clone(),
            drives[0].clone(),
            drives[3].clone(),
            drives[1].clone(),
        ];
        let second = prepare(&cfg(&reordered)).unwrap();
        assert_eq!(first, second, "slots follow the format, not the list");
    }

    #[test]
    fn empty_folders_replace_lost_drives() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        let first = prepare(&cfg(&drives)).unwrap();
        std::fs::remove_dir_all(&drives[1]).unwrap();
        std::fs::create_dir(&drives[1]).unwrap();
        let second = prepare(&cfg(&drives)).unwrap();
        assert_eq!(second.cluster_id, first.cluster_id);
        assert_eq!(second.drives[1].id, first.drives[1].id);
        assert!(second.drives[1].replaced && second.drives[1].online);
        assert!(second.drives.iter().filter(|d| d.replaced).count() == 1);
        assert_eq!(read(&drives[1]).drive_index, 1);
        // Once formatted it is an ordinary drive.
        let third = prepare(&cfg(&drives)).unwrap();
        assert!(third.drives.iter().all(|d| d.online && !d.replaced));
    }

    #[test]
    fn a_replacement_takes_the_free_slot_even_when_reordered() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        let first = prepare(&cfg(&drives)).unwrap();
        std::fs::remove_dir_all(&drives[0]).unwrap();
        // The new folder is listed last, where slot 3 is taken by d3.
        let new = tmp.0.join("new");
        std::fs::create_dir(&new).unwrap();
        let list = vec![
            drives[3].clone(),
            drives[1].clone(),
            drives[2].clone(),
            new.clone(),
        ];
        let second = prepare(&cfg(&list)).unwrap();
        assert_eq!(second.drives[0].path, new);
        assert_eq!(second.drives[0].id, first.drives[0].id);
        assert!(second.drives[0].replaced);
        assert_eq!(second.drives[3].path, drives[3]);
    }

    #[test]
    fn too_many_replacements_are_refused() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4); // 2+2: write quorum 3
        prepare(&cfg(&drives)).unwrap();
        for d in &drives[..2] {
            std::fs::remove_dir_all(d).unwrap();
            std::fs::create_dir(d).unwrap();
        }
        let e = prepare(&cfg(&drives)).unwrap_err();
        assert!(e.contains("needs at least 3 intact drives"), "{e}");
        assert!(
            !format_path(&drives[0]).exists(),
            "nothing written on refusal"
        );
    }

    #[test]
    fn a_missing_folder_of_an_existing_cluster_is_offline_not_recreated() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        let first = prepare(&cfg(&drives)).unwrap();
        std::fs::remove_dir_all(&drives[2]).unwrap();
        let second = prepare(&cfg(&drives)).unwrap();
        assert!(!second.drives[2].online && !second.drives[2].replaced);
        assert_eq!(second.drives[2].id, first.drives[2].id);
        assert!(!drives[2].exists(), "a vanished drive is not created anew");
        std::fs::remove_dir_all(&drives[3]).unwrap();
        let e = prepare(&cfg(&drives)).unwrap_err();
        assert!(
            e.contains("to replace the drive, create an empty folder"),
            "{e}"
        );
    }

    #[test]
    fn a_drive_of_another_cluster_is_refused() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        prepare(&cfg(&drives)).unwrap();
        let other = Tmp::new();
        let others = other.drives(2);
        prepare(&cfg(&others)).unwrap();
        let mut list = drives.clone();
        list[2] = others[0].clone();
        let e = prepare(&cfg(&list)).unwrap_err();
        assert!(e.contains("belongs to another cluster"), "{e}");
        assert!(e.contains(&others[0].display().to_string()), "{e}");
    }

    #[test]
    fn a_foreign_format_among_fresh_drives_is_refused() {
        let tmp = Tmp::new();
        let others = tmp.drives(2);
        prepare(&cfg(&others)).unwrap();
        let mut list = vec![tmp.0.join("a"), tmp.0.join("b"), tmp.0.join("c")];
        list.push(others[0].clone());
        let e = prepare(&cfg(&list)).unwrap_err();
        // The lone formatted drive names a 2-drive cluster.
        assert!(e.contains("formatted with 2 drives"), "{e}");
        assert!(!tmp.0.join("a").exists(), "nothing written on refusal");
    }

    #[test]
    fn standalone_data_is_refused() {
        for content in [
            "bucket",
            ".buckets",
            ".uploads",
            ".versions",
            ".tmp",
            "file",
        ] {
            let tmp = Tmp::new();
            let drives = tmp.drives(4);
            std::fs::create_dir(&drives[2]).unwrap();
            if content == "file" {
                std::fs::write(drives[2].join(".hidden-file"), b"x").unwrap();
            } else {
                std::fs::create_dir(drives[2].join(content)).unwrap();
            }
            let e = prepare(&cfg(&drives)).unwrap_err();
            assert!(e.contains("holds standalone data"), "{content}: {e}");
            assert!(!drives[0].exists(), "nothing written on refusal");
        }
        // Hidden folders of others and lost+found are no data.
        let tmp = Tmp::new();
        let drives = tmp.drives(2);
        std::fs::create_dir_all(drives[0].join(".Trash-1000")).unwrap();
        std::fs::create_dir_all(drives[1].join("lost+found")).unwrap();
        prepare(&cfg(&drives)).unwrap();
    }

    #[test]
    fn unreachable_drives_are_offline_or_an_error() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4); // 2+2: write quorum 3
        let first = prepare(&cfg(&drives)).unwrap();
        // A file in place of a drive: offline, its slot kept.
        std::fs::rename(&drives[3], tmp.0.join("away")).unwrap();
        std::fs::write(&drives[3], b"not a folder").unwrap();
        let second = prepare(&cfg(&drives)).unwrap();
        assert!(!second.drives[3].online && !second.drives[3].replaced);
        assert_eq!(second.drives[3].id, first.drives[3].id);
        assert!(second.drives[..3].iter().all(|d| d.online));
        // A second one lost: below the write quorum.
        std::fs::write(format_path(&drives[2]), b"{corrupt").unwrap();
        let e = prepare(&cfg(&drives)).unwrap_err();
        assert!(e.contains("fewer than the write quorum of 3"), "{e}");
        assert!(e.contains("corrupt"), "{e}");
    }

    #[test]
    fn permission_denied_is_offline() {
        if unsafe { libc::geteuid() } == 0 {
            return; // root reads through chmod 000
        }
        use std::os::unix::fs::PermissionsExt;
        let tmp = Tmp::new();
        let drives = tmp.drives(3); // 2+1: write quorum 2
        prepare(&cfg(&drives)).unwrap();
        std::fs::set_permissions(&drives[0], std::fs::Permissions::from_mode(0o000)).unwrap();
        let d = prepare(&cfg(&drives)).unwrap();
        assert!(!d.drives[0].online);
        assert!(d.drives[1].online && d.drives[2].online);
    }

    #[test]
    fn fresh_cluster_with_an_unreachable_drive() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        std::fs::write(&drives[0], b"file").unwrap();
        let d = prepare(&cfg(&drives)).unwrap();
        assert!(!d.drives[0].online);
        assert!(d.drives[1..].iter().all(|s| s.online));
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        std::fs::write(&drives[0], b"file").unwrap();
        std::fs::write(&drives[1], b"file").unwrap();
        let e = prepare(&cfg(&drives)).unwrap_err();
        assert!(e.contains("fewer than the write quorum"), "{e}");
    }

    #[test]
    fn a_copied_drive_is_refused() {
        let tmp = Tmp::new();
        let drives = tmp.drives(4);
        prepare(&cfg(&drives)).unwrap();
        std::fs::remove_dir_all(&drives[3]).unwrap();
        std::fs::create_dir_all(drives[3].join(SYSTEM_DIR)).unwrap();
        std::fs::copy(format_path(&drives[0]), format_path(&drives[3])).unwrap();
        let e = prepare(&cfg(&drives)).unwrap_err();
        assert!(e.contains("are the same drive"), "{e}");
    }

    #[test]
    fn a_changed_drive_count_is_refused() {
        let tmp = Tmp::new();
        let drives = tmp.drives(5);
        prepare(&cfg(&drives[..4])).unwrap();
        let e = prepare(&cfg(&drives)).unwrap_err();
        assert!(e.contains("formatted with 4 drives"), "{e}");
    }

    #[test]
    fn config_errors_come_first() {
        let tmp = Tmp::new();
        let drives = tmp.drives(2);
        let e = prepare(&cfg(&[drives[0].clone(), drives[0].join("x")])).unwrap_err();
        assert!(e.contains("nested"), "{e}");
        assert!(!drives[0].exists());
    }
}
