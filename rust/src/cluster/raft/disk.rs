//! The files of one drive folder and their encodings (the layout is described in `mod.rs`).
//!
//! Everything here is synchronous and works on one folder; `drives.rs` fans it out.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, Vote};

use super::TypeConfig;

pub(crate) const LOG: &str = "log";
pub(crate) const VOTE: &str = "vote";
pub(crate) const COMMITTED: &str = "committed";
pub(crate) const SNAPSHOT: &str = "snapshot";

pub(crate) type Id = LogId<u64>;
pub(crate) type Meta = SnapshotMeta<u64, super::Member>;
pub(crate) type Ent = Entry<TypeConfig>;

// Record kinds of the log file, whose records are framed by `crate::framed`. A record's body
// is `[kind u8][term u64][node u64][index u64][payload]`.
const KIND_PURGED: u8 = 0; // first record when a prefix was purged: the last purged log id
const KIND_BLANK: u8 = 1;
const KIND_NORMAL: u8 = 2; // payload: the command bytes as given
const KIND_MEMBERSHIP: u8 = 3; // payload: the membership as JSON
const BODY_HEAD: usize = 1 + 8 + 8 + 8;

fn frame(kind: u8, id: &Id, payload: &[u8], out: &mut Vec<u8>) {
    crate::framed::append(out, &[], |body| {
        body.push(kind);
        body.extend_from_slice(&id.leader_id.term.to_le_bytes());
        body.extend_from_slice(&id.leader_id.node_id.to_le_bytes());
        body.extend_from_slice(&id.index.to_le_bytes());
        body.extend_from_slice(payload);
    });
}

/// Appends one entry's record to `out`.
pub(crate) fn encode_entry(e: &Ent, out: &mut Vec<u8>) {
    match &e.payload {
        EntryPayload::Blank => frame(KIND_BLANK, &e.log_id, &[], out),
        EntryPayload::Normal(cmd) => frame(KIND_NORMAL, &e.log_id, cmd, out),
        EntryPayload::Membership(m) => {
            let json = serde_json::to_vec(m).expect("a membership serializes");
            frame(KIND_MEMBERSHIP, &e.log_id, &json, out)
        }
    }
}

/// The whole log file for a log whose prefix up to `purged` is gone; also answers each
/// entry's start offset (needed to truncate).
pub(crate) fn encode_log<'a>(
    purged: Option<&Id>,
    entries: impl Iterator<Item = &'a Ent>,
) -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut out = Vec::new();
    if let Some(p) = purged {
        frame(KIND_PURGED, p, &[], &mut out);
    }
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push((e.log_id.index, out.len() as u64));
        encode_entry(e, &mut out);
    }
    (out, offsets)
}

/// A log file as read back: the valid, contiguous prefix of its records.
#[derive(Default)]
pub(crate) struct LogImage {
    pub purged: Option<Id>,
    pub entries: Vec<Ent>,
}

/// Reads records until the end, a torn or corrupt record (bad length or checksum) or an index
/// that does not follow the previous one; what comes after is ignored (and cut when the file is
/// rewritten).
pub(crate) fn decode_log(bytes: &[u8]) -> LogImage {
    let mut img = LogImage::default();
    let mut next: u64 = 0;
    for (pos, body) in crate::framed::records(bytes, &[]) {
        if body.len() < BODY_HEAD {
            break;
        }
        let u = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
        let id = LogId::new(CommittedLeaderId::new(u(1), u(9)), u(17));
        let payload = &body[BODY_HEAD..];
        let payload = match body[0] {
            KIND_PURGED if pos == 0 => {
                next = id.index + 1;
                img.purged = Some(id);
                continue;
            }
            KIND_BLANK => EntryPayload::Blank,
            KIND_NORMAL => EntryPayload::Normal(payload.to_vec()),
            KIND_MEMBERSHIP => match serde_json::from_slice(payload) {
                Ok(m) => EntryPayload::Membership(m),
                Err(_) => break,
            },
            _ => break,
        };
        if id.index != next {
            break;
        }
        next += 1;
        img.entries.push(Entry {
            log_id: id,
            payload,
        });
    }
    img
}

/// The snapshot file: `[crc32 u32][meta len u32][meta JSON][machine data]`.
pub(crate) fn encode_snapshot(meta: &Meta, data: &[u8]) -> Vec<u8> {
    let meta = serde_json::to_vec(meta).expect("snapshot meta serializes");
    let mut out = Vec::with_capacity(8 + meta.len() + data.len());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_le_bytes());
    out
}

/// `None` for a damaged file (it is written atomically, so that takes a bad disk).
pub(crate) fn decode_snapshot(bytes: &[u8]) -> Option<(Meta, Vec<u8>)> {
    if bytes.len() < 8 || crc32fast::hash(&bytes[4..]).to_le_bytes() != bytes[..4] {
        return None;
    }
    let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let meta = serde_json::from_slice(bytes.get(8..8 + len)?).ok()?;
    Some((meta, bytes[8 + len..].to_vec()))
}

/// The committed file: `[crc32][present u8][term u64][node u64][index u64]`, always the same
/// size so it can be overwritten in place (no truncation, which ext4 turns into a flush).
pub(crate) fn encode_committed(c: Option<&Id>) -> [u8; 29] {
    let mut out = [0u8; 29];
    if let Some(c) = c {
        out[4] = 1;
        out[5..13].copy_from_slice(&c.leader_id.term.to_le_bytes());
        out[13..21].copy_from_slice(&c.leader_id.node_id.to_le_bytes());
        out[21..29].copy_from_slice(&c.index.to_le_bytes());
    }
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode_committed(b: &[u8]) -> Option<Id> {
    if b.len() != 29 || crc32fast::hash(&b[4..]).to_le_bytes() != b[..4] || b[4] != 1 {
        return None;
    }
    let u = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    Some(LogId::new(CommittedLeaderId::new(u(5), u(13)), u(21)))
}

/// Small JSON files (the vote) carry a crc32 so a torn or damaged one reads as absent.
pub(crate) fn encode_small<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let json = serde_json::to_vec(v).expect("serializes");
    let mut out = crc32fast::hash(&json).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}

pub(crate) fn decode_small<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < 4 || crc32fast::hash(&bytes[4..]).to_le_bytes() != bytes[..4] {
        return None;
    }
    serde_json::from_slice(&bytes[4..]).ok()
}

/// A file's bytes, `None` when it does not exist.
pub(crate) fn read_opt(dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    match fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `name` atomically: temp file, fsync, rename, fsync of the folder (the fsyncs only
/// when `fsync` is on).
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8], fsync: bool) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    if fsync {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    if fsync {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Opens the log file for appending (O_APPEND, so a truncation moves the next append too).
/// Never creates it: the log file is only ever created whole (open, resync), so a folder
/// emptied underneath us fails here instead of growing a log without its beginning.
pub(crate) fn open_log(dir: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(dir.join(LOG))
}

/// What a drive folder holds, read at open.
pub(crate) struct DriveImage {
    pub vote: Option<Vote<u64>>,
    pub committed: Option<Id>,
    pub snapshot: Option<(Meta, Vec<u8>)>,
    pub log: LogImage,
    /// The files' raw bytes, to tell whether the folder needs rewriting.
    pub raw_log: Option<Vec<u8>>,
    pub raw_snapshot: Option<Vec<u8>>,
    pub raw_vote: Option<Vec<u8>>,
}

/// Reads a folder (created if missing). An error means the drive is unreadable.
pub(crate) fn read_drive(dir: &Path) -> io::Result<DriveImage> {
    crate::cluster::create_dir_in_place(dir)?;
    let raw_vote = read_opt(dir, VOTE)?;
    let raw_snapshot = read_opt(dir, SNAPSHOT)?;
    let raw_log = read_opt(dir, LOG)?;
    Ok(DriveImage {
        vote: raw_vote.as_deref().and_then(decode_small),
        committed: read_opt(dir, COMMITTED)?
            .as_deref()
            .and_then(decode_committed),
        snapshot: raw_snapshot.as_deref().and_then(decode_snapshot),
        log: decode_log(raw_log.as_deref().unwrap_or_default()),
        raw_log,
        raw_snapshot,
        raw_vote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(index: u64, cmd: &[u8]) -> Ent {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(2, 7), index),
            payload: EntryPayload::Normal(cmd.to_vec()),
        }
    }

    #[test]
    fn log_round_trip_and_torn_tail() {
        let purged = LogId::new(CommittedLeaderId::new(1, 7), 4);
        let entries = [ent(5, b"a"), ent(6, b"bc"), ent(7, b"")];
        let (mut bytes, offsets) = encode_log(Some(&purged), entries.iter());
        assert_eq!(offsets.len(), 3);
        let img = decode_log(&bytes);
        assert_eq!(img.purged, Some(purged));
        assert_eq!(img.entries, entries);
        // A torn last record and garbage after it: the valid prefix is kept.
        bytes.truncate(bytes.len() - 3);
        bytes.extend_from_slice(b"garbage");
        let img = decode_log(&bytes);
        assert_eq!(img.entries, entries[..2]);
        // A flipped bit in the middle stops the read there.
        let entries = [ent(0, b"a"), ent(1, b"bc"), ent(2, b"")];
        let (mut bytes, offsets) = encode_log(None, entries.iter());
        bytes[offsets[1].1 as usize + 10] ^= 1;
        assert_eq!(decode_log(&bytes).entries, entries[..1]);
    }

    #[test]
    fn snapshot_and_small_round_trip() {
        let meta = Meta::default();
        let bytes = encode_snapshot(&meta, b"state");
        let (m, d) = decode_snapshot(&bytes).unwrap();
        assert_eq!((m, d.as_slice()), (meta, &b"state"[..]));
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(decode_snapshot(&bad).is_none());
        let v = Vote::new_committed(3, 7u64);
        assert_eq!(decode_small::<Vote<u64>>(&encode_small(&v)), Some(v));
        assert_eq!(decode_small::<Vote<u64>>(b"xx"), None);
        let c = LogId::new(CommittedLeaderId::new(3, 7), 99);
        assert_eq!(decode_committed(&encode_committed(Some(&c))), Some(c));
        assert_eq!(decode_committed(&encode_committed(None)), None);
    }
}
