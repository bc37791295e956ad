//! Open-time reconciliation: read every drive folder, pick the most advanced copy, rewrite the
//! others from it.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::LogError;
use super::disk::{self, DriveImage, Ent, Id};
use super::drives::Drives;
use super::log_store::{Mem, Shared, StoredSnapshot};

/// The part of a drive's copy that can be used: its snapshot plus a log that continues it
/// without a hole.
struct Usable<'a> {
    purged: Option<Id>,
    entries: &'a [Ent],
    snap_last: Option<Id>,
    last: Option<Id>,
}

fn usable(img: &DriveImage) -> Usable<'_> {
    let snap_last = img.snapshot.as_ref().and_then(|(m, _)| m.last_log_id);
    let log_last = img.log.entries.last().map(|e| e.log_id).or(img.log.purged);
    // A log purged past the snapshot has a hole after it; a log ending before the snapshot
    // adds nothing. Either way only the snapshot counts.
    let (purged, entries) = if img.log.purged > snap_last || log_last < snap_last {
        (snap_last, &img.log.entries[..0])
    } else {
        (img.log.purged, &img.log.entries[..])
    };
    let last = entries.last().map(|e| e.log_id).or(purged).max(snap_last);
    Usable {
        purged,
        entries,
        snap_last,
        last,
    }
}

/// Reads the drives, builds the in-memory state from the best copy, rewrites the drives that
/// differ from it (lagging, empty, torn tail) and marks the drives ok that hold it.
/// Blocking. Answers the state and whether the log is brand new (never initialized).
pub(crate) fn recover(
    dirs: &[PathBuf],
    quorum: usize,
    fsync: bool,
) -> Result<(Shared, bool), LogError> {
    let drives = Drives::new(dirs, quorum, fsync);
    let images: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = dirs
            .iter()
            .map(|d| s.spawn(move || disk::read_drive(d)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("panic")))
            })
            .collect()
    });
    let mut readable = Vec::new();
    for (i, img) in images.into_iter().enumerate() {
        match img {
            Ok(img) => readable.push((i, img)),
            Err(e) => drives.set(i, &Err(e)),
        }
    }
    // Every acknowledged write is on `quorum` drives; to be sure to see it, the readable drives
    // must overlap any `quorum` of them.
    let need = quorum.max(dirs.len() - quorum + 1);
    if readable.len() < need {
        return Err(LogError::Unavailable(format!(
            "{} of {} log drives readable, {need} needed: {:?}",
            readable.len(),
            dirs.len(),
            drives.states()
        )));
    }

    let best = readable
        .iter()
        .max_by(|a, b| {
            let (ua, ub) = (usable(&a.1), usable(&b.1));
            (ua.last, ua.snap_last)
                .cmp(&(ub.last, ub.snap_last))
                // equal: the lower drive number wins (max_by keeps the last of equals)
                .then(Ordering::Greater)
        })
        .map(|(_, img)| img)
        .expect("at least one readable drive");
    let u = usable(best);
    let fresh = u.last.is_none();
    if fresh && readable.len() < dirs.len() {
        // Never start a new log while a drive that might hold the old one is missing.
        return Err(LogError::Unavailable(format!(
            "no log on the readable drives and some unreadable: {:?}",
            drives.states()
        )));
    }

    let mut mem = Mem {
        snapshot: best.snapshot.as_ref().map(|(meta, data)| StoredSnapshot {
            meta: meta.clone(),
            data: Arc::new(data.clone()),
        }),
        ..Default::default()
    };
    let log = mem.set_log(u.purged, u.entries.iter().cloned());
    // The vote never goes back: the highest any drive holds. A brand-new log starts unvoted so
    // openraft accepts `initialize`.
    if !fresh {
        for (_, img) in &readable {
            if img.vote.is_some()
                && (mem.vote.is_none()
                    || img.vote.partial_cmp(&mem.vote) == Some(Ordering::Greater))
            {
                mem.vote = img.vote;
            }
        }
    }
    // Committed: the highest any drive recorded that the chosen log holds.
    mem.committed = readable
        .iter()
        .filter_map(|(_, img)| img.committed)
        .filter(|c| Some(*c) <= u.last && holds(&mem, c))
        .max();

    let snap = mem
        .snapshot
        .as_ref()
        .map(|s| disk::encode_snapshot(&s.meta, &s.data));
    let vote = mem.vote.as_ref().map(disk::encode_small);
    let shared = Shared {
        drives,
        io: Arc::new(tokio::sync::Mutex::new(())),
        mem: Mutex::new(mem),
        committed_pending: Default::default(),
        queue: Default::default(),
    };
    for (i, img) in &readable {
        let same =
            img.raw_log.as_ref() == Some(&log) && img.raw_snapshot == snap && img.raw_vote == vote;
        let r = if same {
            Ok(())
        } else {
            shared.rewrite_drive(*i)
        };
        shared.drives.set(*i, &r);
    }
    shared.drives.check_quorum()?;
    Ok((shared, fresh))
}

/// Whether the log id is in the log or covered by the snapshot/purge point.
fn holds(mem: &Mem, id: &Id) -> bool {
    match mem.entries.get(&id.index) {
        Some(e) => e.log_id == *id,
        None => {
            let base = mem
                .purged
                .max(mem.snapshot.as_ref().and_then(|s| s.meta.last_log_id));
            Some(*id) <= base
        }
    }
}
