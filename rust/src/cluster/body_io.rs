//! Bodies in and out of shard files (blocking code, run on tokio's blocking pool):
//! staging a new body over the writable drives, reading a range of an object made
//! of one or more bodies (decoding around missing or bad shards), and healing.
//!
//! A body of up to `SMALL_BODY` bytes is stored as one data shard and the set's
//! parity count of parity shards: it survives as many lost drives as a large body,
//! and a read touches one file. (The design doc kept such bodies inline in the
//! metadata; the metadata lives in memory here, so bytes stay on the drives.)

use bytes::Bytes;
use std::sync::Arc;

use super::drive_io::ShardRef;
use super::drives::{DriveSet, DriveState};
use super::erasure::Layout;
use super::meta::Body;
use super::shards::{self, ShardError, ShardReader, ShardState, ShardWriter};
use crate::storage::writer::Sink;
use crate::storage::{Error, Result};

pub const SMALL_BODY: u64 = 128 * 1024;

impl From<ShardError> for Error {
    fn from(e: ShardError) -> Error {
        match e {
            ShardError::Quorum { available, needed } => {
                Error::Unavailable(format!("{available} shards available, {needed} needed"))
            }
            ShardError::Io(e) => e.into(),
        }
    }
}

pub fn layout(body: &Body) -> Layout {
    Layout {
        data: body.data,
        parity: body.parity,
        block_size: body.block_size,
    }
}

/// A new body's shards, written and not yet published; dropped unpublished, removed.
pub struct StagedBody {
    pub body: Option<Body>,
    /// Some shards could not be written (a drive is away): heal once it is back.
    pub partial: bool,
    set: Arc<DriveSet>,
}

impl StagedBody {
    /// Hands the body over to the metadata that now names it.
    pub fn publish(mut self) -> Option<Body> {
        self.body.take()
    }
}

impl Drop for StagedBody {
    fn drop(&mut self) {
        if let Some(body) = self.body.take() {
            let set = self.set.clone();
            let remove = move || remove_body(&set, &body);
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn_blocking(remove)),
                Err(_) => remove(),
            }
        }
    }
}

/// Removes every shard file of a body that a drive holds (blocking; best effort: the
/// scanner collects what a failing drive keeps).
pub fn remove_body(set: &DriveSet, body: &Body) {
    let files = set.shards(body, |_| true, false);
    for file in files.into_iter().flatten() {
        let _ = file.drive.remove(&file.rel);
    }
}

/// Streams a body into shard files over the writable drives; dropped before
/// `finish`, its files go.
pub struct BodySink {
    writer: ShardWriter,
    staged: StagedBody,
}

impl BodySink {
    /// `small`: the body is known to be at most `SMALL_BODY` bytes.
    pub fn open(set: Arc<DriveSet>, small: bool) -> Result<BodySink> {
        let (body, quorum) = set.new_body(small);
        let files = set.shards(&body, DriveState::writable, false);
        let writer = ShardWriter::create(files, layout(&body), quorum, set.fsync)?;
        let staged = StagedBody {
            body: Some(body),
            partial: false,
            set,
        };
        Ok(BodySink { writer, staged })
    }
}

impl Sink for BodySink {
    type Output = (StagedBody, [u8; 16]);
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        Ok(self.writer.write(chunk)?)
    }
    fn finish(self, size: u64, md5: [u8; 16]) -> Result<Self::Output> {
        let BodySink { writer, mut staged } = self;
        let outcome = writer.finish()?;
        staged.partial = outcome.written.iter().any(|w| !w);
        if let Some(body) = staged.body.as_mut() {
            body.size = size;
        }
        Ok((staged, md5))
    }
}

/// Writes a body held in memory (blocking).
pub fn stage_bytes(set: &Arc<DriveSet>, bytes: &[u8]) -> Result<StagedBody> {
    let mut sink = BodySink::open(set.clone(), bytes.len() as u64 <= SMALL_BODY)?;
    sink.write(bytes)?;
    Ok(sink.finish(bytes.len() as u64, [0; 16])?.0)
}

fn reader_files(set: &DriveSet, body: &Body) -> Vec<Option<ShardRef>> {
    set.shards(body, DriveState::readable, false)
}

/// Reads `len` bytes from `start` of the object made of `bodies`, in order, handing
/// them to `out` until it answers false. Answers the bodies whose reads met missing
/// or bad shards, with those shards' indexes, for the healer.
pub fn read_bodies(
    set: &DriveSet,
    bodies: &[Body],
    start: u64,
    len: u64,
    out: &mut dyn FnMut(Bytes) -> bool,
) -> (Result<()>, Vec<(Body, Vec<usize>)>) {
    let mut damaged = Vec::new();
    let (mut offset, end) = (0u64, start + len);
    let more = std::cell::Cell::new(true);
    let mut wrapped = |chunk: Bytes| {
        more.set(out(chunk));
        more.get()
    };
    for body in bodies {
        let (body_start, body_end) = (offset, offset + body.size);
        offset = body_end;
        if body_end <= start || body_start >= end {
            continue;
        }
        let from = start.max(body_start) - body_start;
        let to = end.min(body_end) - body_start;
        let mut reader = ShardReader::open(reader_files(set, body), layout(body), body.size);
        let result = reader.read_range(from, to - from, &mut wrapped);
        let bad = reader.bad_shards();
        if !bad.is_empty() {
            damaged.push((body.clone(), bad));
        }
        if let Err(e) = result {
            return (Err(e.into()), damaged);
        }
        if !more.get() {
            break;
        }
    }
    (Ok(()), damaged)
}

/// Fails with `Unavailable` unless every body has enough shard files to be read;
/// checked before a streamed answer starts, so that it can still be a 503.
pub fn check_readable(set: &DriveSet, bodies: &[Body]) -> Result<()> {
    for body in bodies {
        let files = reader_files(set, body);
        let expected = layout(body).shard_file_len(body.size);
        // Data shards first: a whole body answers after its first K lengths.
        let mut good = 0;
        for file in files.iter().flatten() {
            if good < body.data && file.drive.len(&file.rel).is_ok_and(|n| n == expected) {
                good += 1;
            }
        }
        if good < body.data {
            return Err(Error::Unavailable(format!(
                "body {}: {good} of {} shards readable",
                body.id,
                body.data + body.parity
            )));
        }
    }
    Ok(())
}

/// Whether a body misses a shard file (or has a short one) on a drive of this node
/// that can take it (each node looks after its own drives).
pub fn heal_needed(set: &DriveSet, body: &Body) -> bool {
    let files = set.shards(body, DriveState::writable, true);
    let states = shards::stat(&files, layout(body), body.size);
    (0..states.len()).any(|i| states[i] != ShardState::Ok && files[i].is_some())
}

fn healable_files(set: &DriveSet, body: &Body) -> Vec<Option<ShardRef>> {
    set.shards(body, DriveState::writable, false)
}

/// Rebuilds a body's missing, short or known-bad shards on the drives that take them
/// (blocking). Answers the bytes written; 0 when nothing needed healing or could be.
pub fn heal_body(set: &DriveSet, body: &Body, known_bad: &[usize]) -> Result<u64> {
    let shards = body.data + body.parity;
    let files = healable_files(set, body);
    let states = shards::stat(&reader_files(set, body), layout(body), body.size);
    let targets: Vec<usize> = (0..shards)
        .filter(|i| states[*i] != ShardState::Ok || known_bad.contains(i))
        .filter(|i| files[*i].is_some())
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    Ok(shards::heal(
        &files,
        &targets,
        layout(body),
        body.size,
        set.fsync,
    )?)
}

/// Full check of a body's shards on this node's drives (every frame's hash): the
/// indexes that are not good on drives that are readable.
pub fn verify_body(set: &DriveSet, body: &Body) -> Vec<usize> {
    let files = set.shards(body, DriveState::readable, true);
    shards::verify(&files, layout(body), body.size)
        .iter()
        .enumerate()
        .filter(|(i, s)| files[*i].is_some() && **s != ShardState::Ok)
        .map(|(i, _)| i)
        .collect()
}
