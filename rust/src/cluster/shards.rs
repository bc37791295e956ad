//! Shard files: writing an object as K data + M parity files of bitrot frames,
//! reading byte ranges back (decoding past missing or corrupt shards), checking
//! them for the scanner and healing them.
//!
//! Blocking code; callers run it on tokio's blocking pool. Shard files are reached
//! through their drive's [`DriveIo`](crate::cluster::drive_io::DriveIo), wherever
//! it is. Each frame is appended with one call and read with one positioned read. A
//! writer reuses its frame buffers from block to block; a reader hands its data
//! frames out to the socket and takes the next ones from the buffer pool.

use crate::cluster::bitrot::{self, HASH_LEN};
use crate::cluster::drive_io::{ShardIn, ShardOut, ShardRef};
use crate::cluster::erasure::{Codec, Layout, split};
use crate::storage::pool;
use bytes::Bytes;
use std::io;

#[derive(Debug)]
pub enum ShardError {
    /// Too few shards could be written or read.
    Quorum {
        available: usize,
        needed: usize,
    },
    Io(io::Error),
}

impl std::fmt::Display for ShardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardError::Quorum { available, needed } => {
                write!(f, "only {available} shards available, {needed} needed")
            }
            ShardError::Io(e) => write!(f, "shard I/O: {e}"),
        }
    }
}

impl std::error::Error for ShardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShardError::Io(e) => Some(e),
            ShardError::Quorum { .. } => None,
        }
    }
}

impl From<io::Error> for ShardError {
    fn from(e: io::Error) -> Self {
        ShardError::Io(e)
    }
}

fn codec_error(e: reed_solomon_simd::Error) -> ShardError {
    ShardError::Io(io::Error::other(e))
}

/// Mutable views of the payloads of frame buffers, as the codec wants them.
fn payloads(frames: &mut [Vec<u8>]) -> Vec<&mut [u8]> {
    frames.iter_mut().map(|f| bitrot::payload_mut(f)).collect()
}

fn check_layout(layout: Layout) -> Result<(), ShardError> {
    if layout.is_supported() {
        return Ok(());
    }
    let message = format!("unsupported erasure layout {layout:?}");
    Err(io::Error::new(io::ErrorKind::InvalidInput, message).into())
}

/// What [`ShardWriter::finish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Object bytes written.
    pub size: u64,
    /// Per shard index: whether its file holds every frame (and was fsynced if asked).
    pub written: Vec<bool>,
}

/// Streams an object into K+M shard files.
pub struct ShardWriter {
    layout: Layout,
    /// `None` once a file failed (or was never there).
    files: Vec<Option<Box<dyn ShardOut>>>,
    write_quorum: usize,
    fsync: bool,
    /// Frame buffers of the block being filled, one per shard, reused.
    frames: Vec<Vec<u8>>,
    /// Object bytes in the data shards of `frames` so far.
    filled: usize,
    codec: Codec,
    size: u64,
}

impl ShardWriter {
    /// Creates the files (and their parent folders). Fails with Quorum if fewer
    /// than `write_quorum` could be created.
    pub fn create(
        files: Vec<Option<ShardRef>>,
        layout: Layout,
        write_quorum: usize,
        fsync: bool,
    ) -> Result<Self, ShardError> {
        check_layout(layout)?;
        let files = files
            .iter()
            .map(|f| f.as_ref().and_then(|f| f.drive.create(&f.rel, fsync).ok()))
            .collect();
        let writer = ShardWriter {
            layout,
            files,
            write_quorum,
            fsync,
            frames: vec![Vec::new(); layout.total()],
            filled: 0,
            codec: Codec::new(layout),
            size: 0,
        };
        writer.check_quorum()?;
        Ok(writer)
    }

    fn live(&self) -> usize {
        self.files.iter().filter(|f| f.is_some()).count()
    }

    fn check_quorum(&self) -> Result<(), ShardError> {
        let available = self.live();
        if available < self.write_quorum {
            return Err(ShardError::Quorum {
                available,
                needed: self.write_quorum,
            });
        }
        Ok(())
    }

    /// Appends object bytes (any chunk size); encodes and writes whole blocks as
    /// they fill. A file whose write fails is dropped (its shard counted as not
    /// written); when fewer than write_quorum remain, Quorum error.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), ShardError> {
        let block_size = self.layout.block_size;
        while !data.is_empty() {
            if self.filled == 0 {
                self.size_frames(block_size);
            }
            let take = (block_size - self.filled).min(data.len());
            self.fill(&data[..take]);
            data = &data[take..];
            if self.filled == block_size {
                self.write_frames()?;
            }
        }
        Ok(())
    }

    fn size_frames(&mut self, block_len: usize) {
        let frame_len = self.layout.frame_len(block_len);
        for frame in &mut self.frames {
            frame.resize(frame_len, 0);
        }
    }

    /// Copies object bytes straight into the data shards of the block being
    /// filled (laid out for a full block), so each byte is copied once.
    fn fill(&mut self, mut bytes: &[u8]) {
        let shard_len = self.frames[0].len() - HASH_LEN;
        while !bytes.is_empty() {
            let (shard, at) = (self.filled / shard_len, self.filled % shard_len);
            let n = (shard_len - at).min(bytes.len());
            let payload = bitrot::payload_mut(&mut self.frames[shard]);
            payload[at..at + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
        }
    }

    /// Zero-pads the data shards after the block's bytes, computes parity, seals
    /// every frame and appends frame i to file i.
    fn write_frames(&mut self) -> Result<(), ShardError> {
        let k = self.layout.data;
        let mut shards = payloads(&mut self.frames);
        let shard_len = shards[0].len();
        for (i, shard) in shards[..k].iter_mut().enumerate() {
            let used = self.filled.saturating_sub(i * shard_len).min(shard_len);
            shard[used..].fill(0);
        }
        self.codec.encode(&mut shards).map_err(codec_error)?;
        for (frame, file) in self.frames.iter_mut().zip(&mut self.files) {
            let Some(f) = file else { continue };
            bitrot::seal(frame);
            if f.append(frame).is_err() {
                *file = None;
            }
        }
        self.size += self.filled as u64;
        self.filled = 0;
        self.check_quorum()
    }

    /// The last, short block has shorter shards: re-lay its bytes out for them.
    fn relayout_short_block(&mut self) {
        let k = self.layout.data;
        let mut block = Vec::with_capacity(self.filled);
        for frame in &self.frames[..k] {
            let rest = self.filled - block.len();
            let payload = bitrot::payload(frame);
            block.extend_from_slice(&payload[..rest.min(payload.len())]);
        }
        self.size_frames(block.len());
        split(&block, &mut payloads(&mut self.frames)[..k]);
    }

    /// Writes the last partial block, commits every file (fsyncs it and its folder
    /// when fsync is on).
    pub fn finish(mut self) -> Result<WriteOutcome, ShardError> {
        if self.filled > 0 {
            self.relayout_short_block();
            self.write_frames()?;
        }
        self.commit_all();
        self.check_quorum()?;
        Ok(WriteOutcome {
            size: self.size,
            written: self.files.iter().map(Option::is_some).collect(),
        })
    }

    /// Commits each file; a shard that fails counts as not written. With fsync, all
    /// drives at once (each on its own disk in production: one flush's wait, not one
    /// per drive); without, a commit has nothing to wait for.
    fn commit_all(&mut self) {
        let commit = |file: &mut Option<Box<dyn ShardOut>>| {
            if file.as_mut().is_some_and(|f| f.commit().is_err()) {
                *file = None;
            }
        };
        if !self.fsync {
            self.files.iter_mut().for_each(commit);
            return;
        }
        std::thread::scope(|scope| {
            for file in &mut self.files {
                scope.spawn(move || commit(file));
            }
        });
    }
}

/// One shard file as a reader sees it.
enum Slot {
    /// Not opened yet.
    Closed,
    Open(Box<dyn ShardIn>),
    /// Missing, the wrong length, unreadable or corrupt: never read again.
    Bad,
}

/// Reads byte ranges of an object back from its shard files.
pub struct ShardReader {
    layout: Layout,
    size: u64,
    files: Vec<Option<ShardRef>>,
    slots: Vec<Slot>,
    /// Frame buffers, one per shard, reused from block to block.
    frames: Vec<Vec<u8>>,
    /// Which frames hold the current block's verified (or rebuilt) shard.
    present: Vec<bool>,
    codec: Codec,
}

impl ShardReader {
    /// Lazy: files are opened on first read.
    pub fn open(files: Vec<Option<ShardRef>>, layout: Layout, size: u64) -> Self {
        let total = layout.total();
        ShardReader {
            layout,
            size,
            slots: (0..total).map(|_| Slot::Closed).collect(),
            files,
            frames: vec![Vec::new(); total],
            present: vec![false; total],
            codec: Codec::new(layout),
        }
    }

    /// Shard indexes found missing or corrupt so far (for healing).
    pub fn bad_shards(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| matches!(self.slots[i], Slot::Bad))
            .collect()
    }

    /// Reads object bytes [offset, offset+len) in order, handing chunks (at most
    /// one shard of a block each) to `out`; `out` returns false to stop early. Reads data
    /// shards only while they are all good (no decoding on the healthy path); a
    /// missing/short/corrupt shard makes it read parity and reconstruct. Fewer
    /// than K good shards for a block => Quorum. Never hands out unverified bytes.
    pub fn read_range(
        &mut self,
        offset: u64,
        len: u64,
        out: &mut dyn FnMut(Bytes) -> bool,
    ) -> Result<(), ShardError> {
        check_layout(self.layout)?;
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Ok(());
        }
        let block_size = self.layout.block_size as u64;
        for block in offset / block_size..=(end - 1) / block_size {
            let start = block * block_size;
            let lo = (offset.max(start) - start) as usize;
            let hi = (end.min(start + block_size) - start) as usize;
            let shard_len = self
                .layout
                .shard_len(self.layout.block_len(self.size, block));
            self.load_block(block, lo / shard_len..(hi - 1) / shard_len + 1)?;
            if !self.hand_out(shard_len, lo, hi, out) {
                break;
            }
        }
        Ok(())
    }

    /// Block bytes [lo, hi), one piece per data shard, handed to `out` without a
    /// copy: each piece owns its frame buffer, which goes back to the pool once the
    /// socket has it. Answers false when `out` does.
    fn hand_out(
        &mut self,
        shard_len: usize,
        lo: usize,
        hi: usize,
        out: &mut dyn FnMut(Bytes) -> bool,
    ) -> bool {
        for shard in lo / shard_len..=(hi - 1) / shard_len {
            let base = shard * shard_len;
            let (from, to) = (lo.max(base) - base, hi.min(base + shard_len) - base);
            let frame = std::mem::take(&mut self.frames[shard]);
            if !out(pool::into_bytes(frame, HASH_LEN + from..HASH_LEN + to)) {
                return false;
            }
        }
        true
    }

    /// Makes frames `need` (data shard indexes) of `block` hold verified shards,
    /// reading only those when they are good, else decoding from any K good shards.
    fn load_block(&mut self, block: u64, need: std::ops::Range<usize>) -> Result<(), ShardError> {
        let frame_len = self
            .layout
            .frame_len(self.layout.block_len(self.size, block));
        for frame in &mut self.frames {
            if frame.capacity() == 0 {
                *frame = pool::take(frame_len); // handed out with the last block
            } else {
                frame.resize(frame_len, 0);
            }
        }
        self.present.fill(false);
        let mut healthy = true;
        for i in need {
            healthy &= self.fetch(i, block);
        }
        if healthy {
            return Ok(());
        }
        let k = self.layout.data;
        let mut available = self.present.iter().filter(|&&p| p).count();
        for i in 0..self.layout.total() {
            if available == k {
                break;
            }
            if !self.present[i] && self.fetch(i, block) {
                available += 1;
            }
        }
        if available < k {
            return Err(ShardError::Quorum {
                available,
                needed: k,
            });
        }
        let mut shards = payloads(&mut self.frames);
        self.codec
            .reconstruct_data(&mut shards, &self.present)
            .map_err(codec_error)?;
        self.present[..k].fill(true);
        Ok(())
    }

    /// Reads and verifies shard `i`'s frame of `block`; on any failure the shard
    /// is marked bad (and never read again).
    fn fetch(&mut self, i: usize, block: u64) -> bool {
        let ok = self.try_fetch(i, block).unwrap_or(false);
        if !ok {
            self.slots[i] = Slot::Bad;
        }
        self.present[i] = ok;
        ok
    }

    fn try_fetch(&mut self, i: usize, block: u64) -> io::Result<bool> {
        if matches!(self.slots[i], Slot::Closed) {
            self.slots[i] = self.open_slot(i)?;
        }
        let Slot::Open(file) = &mut self.slots[i] else {
            return Ok(false);
        };
        let frame = &mut self.frames[i];
        file.read_exact_at(frame, self.layout.frame_offset(block))?;
        Ok(bitrot::check(frame))
    }

    /// Opens shard file `i`, which must have exactly the expected length.
    fn open_slot(&self, i: usize) -> io::Result<Slot> {
        let Some(f) = self.files.get(i).and_then(Option::as_ref) else {
            return Ok(Slot::Bad);
        };
        let file = f.drive.open(&f.rel)?;
        if file.size() != self.layout.shard_file_len(self.size) {
            return Ok(Slot::Bad);
        }
        Ok(Slot::Open(file))
    }
}

/// State of one shard file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardState {
    Ok,
    Missing,
    WrongSize,
    Corrupt,
}

fn stat_one(file: Option<&ShardRef>, expected: u64) -> ShardState {
    match file.map(|f| f.drive.len(&f.rel)) {
        Some(Ok(len)) if len == expected => ShardState::Ok,
        Some(Ok(_)) => ShardState::WrongSize,
        _ => ShardState::Missing,
    }
}

/// Cheap check for the background scanner: each file exists with the expected length.
pub fn stat(files: &[Option<ShardRef>], layout: Layout, size: u64) -> Vec<ShardState> {
    let expected = layout.shard_file_len(size);
    files
        .iter()
        .map(|f| stat_one(f.as_ref(), expected))
        .collect()
}

/// Whether every frame of a shard file verifies.
fn frames_verify(f: &ShardRef, layout: Layout, size: u64) -> io::Result<bool> {
    let mut file = f.drive.open(&f.rel)?;
    let mut frame = Vec::new();
    for block in 0..layout.blocks(size) {
        frame.resize(layout.frame_len(layout.block_len(size, block)), 0);
        file.read_exact_at(&mut frame, layout.frame_offset(block))?;
        if !bitrot::check(&frame) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Full check: every frame's hash.
pub fn verify(files: &[Option<ShardRef>], layout: Layout, size: u64) -> Vec<ShardState> {
    let states = stat(files, layout, size);
    states
        .into_iter()
        .zip(files)
        .map(|(state, path)| match (state, path) {
            (ShardState::Ok, Some(p)) if !frames_verify(p, layout, size).unwrap_or(false) => {
                ShardState::Corrupt
            }
            (state, _) => state,
        })
        .collect()
}

/// Rebuilds the shard files named by `targets` from the good ones (written aside,
/// fsynced if asked, put in place). Targets without a file are skipped. Returns
/// bytes written. On an error, what is not in place yet is dropped, leaving nothing.
pub fn heal(
    files: &[Option<ShardRef>],
    targets: &[usize],
    layout: Layout,
    size: u64,
    fsync: bool,
) -> Result<u64, ShardError> {
    check_layout(layout)?;
    if let Some(&t) = targets.iter().find(|&&t| t >= layout.total()) {
        let message = format!("no shard {t} in a {}+{} layout", layout.data, layout.parity);
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message).into());
    }
    let mut reader = ShardReader::open(files.to_vec(), layout, size);
    let mut outs = Vec::new();
    for &t in targets {
        reader.slots[t] = Slot::Bad; // never a source
        if let Some(f) = files.get(t).and_then(Option::as_ref) {
            outs.push((t, f.drive.create_replacement(&f.rel, fsync)?));
        }
    }
    let rebuild_parity = outs.iter().any(|&(t, _)| t >= layout.data);
    let mut written = 0;
    for block in 0..layout.blocks(size) {
        reader.load_block(block, 0..layout.data)?;
        if rebuild_parity {
            let mut shards = payloads(&mut reader.frames);
            reader.codec.encode(&mut shards).map_err(codec_error)?;
        }
        for (t, out) in &mut outs {
            let frame = &mut reader.frames[*t];
            bitrot::seal(frame);
            out.append(frame)?;
            written += frame.len() as u64;
        }
    }
    for (_, out) in &mut outs {
        out.commit()?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::drive_io::LocalDrive;
    use std::fs::{self, File};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    /// Small blocks keep the tests fast; 1000 is not a multiple of K or 64,
    /// so padding is exercised.
    const BS: usize = 1000;

    fn layouts() -> [Layout; 3] {
        [
            Layout::with_block_size(2, 2, BS),
            Layout::with_block_size(4, 2, BS),
            Layout::with_block_size(3, 1, BS),
        ]
    }

    const SIZES: [usize; 6] = [0, 1, BS - 1, BS, BS + 1, 3 * BS + BS / 2];

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let dir = std::env::temp_dir().join(format!("shards-test-{}", uuid::Uuid::new_v4()));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn object(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// The shard file `rel` on a local drive at `root`.
    fn local(root: &Path, rel: impl Into<PathBuf>) -> Option<ShardRef> {
        let drive = Arc::new(LocalDrive::new(root.to_path_buf()));
        Some(ShardRef {
            drive,
            rel: rel.into(),
        })
    }

    /// An object's shard files, one per drive under `dir`, and where they are on disk.
    fn paths(dir: &Path, layout: Layout) -> (Vec<Option<ShardRef>>, Vec<PathBuf>) {
        (0..layout.total())
            .map(|i| {
                let root = dir.join(format!("drive{i}"));
                // The drive's folders exist; a writer creates only the file's own folder.
                fs::create_dir_all(root.join("bucket")).unwrap();
                let rel = format!("bucket/obj/part.{i}");
                (local(&root, &rel), root.join(rel))
            })
            .unzip()
    }

    fn write_object(files: &[Option<ShardRef>], layout: Layout, data: &[u8], chunk: usize) {
        let mut writer = ShardWriter::create(files.to_vec(), layout, layout.data, false).unwrap();
        for piece in data.chunks(chunk) {
            writer.write(piece).unwrap();
        }
        let outcome = writer.finish().unwrap();
        assert_eq!(outcome.size, data.len() as u64);
        assert!(outcome.written.iter().all(|&w| w));
    }

    /// Reads a range, checking each chunk is at most one block; returns the
    /// bytes handed out (also on error) and the result.
    fn read(reader: &mut ShardReader, offset: u64, len: u64) -> (Vec<u8>, Result<(), ShardError>) {
        let mut got = Vec::new();
        let block_size = reader.layout.block_size;
        let result = reader.read_range(offset, len, &mut |chunk| {
            assert!(!chunk.is_empty() && chunk.len() <= block_size);
            got.extend_from_slice(&chunk);
            true
        });
        (got, result)
    }

    fn read_all(files: &[Option<ShardRef>], layout: Layout, size: usize) -> (Vec<u8>, Vec<usize>) {
        let mut reader = ShardReader::open(files.to_vec(), layout, size as u64);
        let (got, result) = read(&mut reader, 0, size as u64);
        result.unwrap();
        (got, reader.bad_shards())
    }

    fn flip(path: &Path, pos: u64) {
        let mut bytes = fs::read(path).unwrap();
        bytes[pos as usize] ^= 0x40;
        fs::write(path, bytes).unwrap();
    }

    fn contents(disk: &[PathBuf]) -> Vec<Vec<u8>> {
        disk.iter().map(|p| fs::read(p).unwrap()).collect()
    }

    fn subsets(total: usize, max: usize) -> impl Iterator<Item = Vec<usize>> {
        (0u32..1 << total)
            .filter(move |m| m.count_ones() as usize <= max)
            .map(move |m| (0..total).filter(|i| m & (1 << i) != 0).collect())
    }

    #[test]
    fn round_trips() {
        let dir = TempDir::new();
        for layout in layouts() {
            for size in SIZES {
                for chunk in [7, BS, 4 * BS] {
                    let data = object(size, size as u64 + 1);
                    let (files, disk) =
                        paths(&dir.0.join(format!("{layout:?}-{size}-{chunk}")), layout);
                    write_object(&files, layout, &data, chunk);
                    for path in &disk {
                        let len = fs::metadata(path).unwrap().len();
                        assert_eq!(len, layout.shard_file_len(size as u64));
                    }
                    let (got, bad) = read_all(&files, layout, size);
                    assert!(got == data, "{layout:?} size {size} chunk {chunk}");
                    assert!(bad.is_empty());
                    let ok = vec![ShardState::Ok; layout.total()];
                    assert_eq!(stat(&files, layout, size as u64), ok);
                    assert_eq!(verify(&files, layout, size as u64), ok);
                }
            }
        }
    }

    #[test]
    fn blocks_that_fill_their_shards_exactly() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(2, 2, 1024); // two 512-byte shards, no padding
        for size in [1023, 1024, 1025, 3 * 1024] {
            for chunk in [5, 512, 1024, 5000] {
                let data = object(size, 13);
                let (files, _) = paths(&dir.0.join(format!("{size}-{chunk}")), layout);
                write_object(&files, layout, &data, chunk);
                assert_eq!(read_all(&files, layout, size).0, data);
                let mut degraded = files.clone();
                degraded[0] = None;
                degraded[1] = None;
                assert_eq!(read_all(&degraded, layout, size).0, data);
            }
        }
    }

    #[test]
    fn types_move_to_the_blocking_pool() {
        fn send<T: Send + 'static>() {}
        send::<ShardWriter>();
        send::<ShardReader>();
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        error::<ShardError>();
    }

    #[test]
    fn unsupported_layout_is_refused() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(0, 2, BS);
        let result = ShardWriter::create(paths(&dir.0, layout).0, layout, 1, false);
        assert!(matches!(result, Err(ShardError::Io(_))));
    }

    #[test]
    fn fsync_write() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(2, 1, BS);
        let (files, _) = paths(&dir.0, layout);
        let data = object(2 * BS + 3, 9);
        let mut writer = ShardWriter::create(files.clone(), layout, 3, true).unwrap();
        writer.write(&data).unwrap();
        assert_eq!(writer.finish().unwrap().written, vec![true; 3]);
        assert_eq!(read_all(&files, layout, data.len()).0, data);
    }

    const SIZE: usize = 3 * BS + BS / 2;

    fn ranges() -> Vec<(u64, u64)> {
        let (bs, size) = (BS as u64, SIZE as u64);
        vec![
            (0, 1),
            (0, bs),
            (bs - 1, 1),
            (bs - 1, 2),
            (bs, bs),
            (bs - 1, bs + 2),
            (bs + 1, 2 * bs),
            (2 * bs + 5, 10 * bs),
            (size - 1, 1),
            (size - 1, 100),
            (size, 5),
            (size + 10, 5),
            (17, 0),
            (0, u64::MAX),
        ]
    }

    #[test]
    fn range_reads_at_block_edges() {
        let dir = TempDir::new();
        for layout in layouts() {
            let data = object(SIZE, 3);
            let (files, _) = paths(&dir.0.join(format!("{layout:?}")), layout);
            write_object(&files, layout, &data, 333);
            let mut degraded = files.clone();
            degraded[1] = None;
            for files in [&files, &degraded] {
                let mut reader = ShardReader::open(files.clone(), layout, SIZE as u64);
                for (offset, len) in ranges() {
                    let (got, result) = read(&mut reader, offset, len);
                    result.unwrap();
                    let start = (offset as usize).min(SIZE);
                    let end = offset.saturating_add(len).min(SIZE as u64) as usize;
                    assert!(got == data[start..end], "{layout:?} {offset}+{len}");
                }
            }
        }
    }

    #[test]
    fn read_stops_when_asked() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(2, 2, BS);
        let data = object(SIZE, 4);
        let (files, _) = paths(&dir.0, layout);
        write_object(&files, layout, &data, SIZE);
        let mut reader = ShardReader::open(files, layout, SIZE as u64);
        let mut chunks = Vec::new();
        reader
            .read_range(10, SIZE as u64, &mut |c| {
                chunks.push(c);
                false
            })
            .unwrap();
        // Chunks are a block's data shards: the first one ends where shard 0 does.
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0][..], data[10..layout.shard_len(BS)]);
    }

    #[test]
    fn missing_shard_combinations() {
        let dir = TempDir::new();
        for layout in layouts() {
            for size in [1, SIZE] {
                let data = object(size, 5);
                let (files, _) = paths(&dir.0.join(format!("{layout:?}-{size}")), layout);
                write_object(&files, layout, &data, BS);
                for lost in subsets(layout.total(), layout.parity) {
                    // Half offline drives, half files that are not there.
                    let mut damaged = files.clone();
                    for (n, &i) in lost.iter().enumerate() {
                        damaged[i] = if n % 2 == 1 {
                            local(&dir.0, "nowhere")
                        } else {
                            None
                        };
                    }
                    let (got, bad) = read_all(&damaged, layout, size);
                    assert!(got == data, "{layout:?} size {size} lost {lost:?}");
                    assert!(bad.iter().all(|i| lost.contains(i)), "{bad:?} vs {lost:?}");
                    // With one byte only data shard 0 is read; else every data shard.
                    let read = if size == 1 { 1 } else { layout.data };
                    let mut lost_read = lost.iter().filter(|&&i| i < read);
                    assert!(lost_read.all(|i| bad.contains(i)), "{bad:?} vs {lost:?}");
                }
            }
        }
    }

    #[test]
    fn flipped_byte_is_detected_and_read_around() {
        let dir = TempDir::new();
        for layout in layouts() {
            let data = object(SIZE, 6);
            let (files, disk) = paths(&dir.0.join(format!("{layout:?}")), layout);
            write_object(&files, layout, &data, BS);
            let frame1 = layout.frame_offset(1);
            let last = layout.shard_file_len(SIZE as u64) - 1;
            for (i, path) in disk.iter().enumerate() {
                // In a hash, in a payload, in the last (short) frame.
                for pos in [frame1 + 3, frame1 + HASH_LEN as u64 + 10, last] {
                    flip(path, pos);
                    let (got, bad) = read_all(&files, layout, SIZE);
                    assert!(got == data, "{layout:?} shard {i} pos {pos}");
                    let expect_bad = if i < layout.data { vec![i] } else { vec![] };
                    assert_eq!(bad, expect_bad);
                    let states = verify(&files, layout, SIZE as u64);
                    for (j, state) in states.into_iter().enumerate() {
                        let corrupt = j == i;
                        assert_eq!(state == ShardState::Corrupt, corrupt, "{j}");
                    }
                    flip(path, pos);
                }
            }
        }
    }

    #[test]
    fn more_than_parity_bad_is_quorum_never_wrong_bytes() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(2, 2, BS);
        let data = object(SIZE, 7);
        let (files, disk) = paths(&dir.0, layout);
        write_object(&files, layout, &data, BS);
        // Three of four shards rot in block 1: block 0 reads, then Quorum.
        let pos = layout.frame_offset(1) + HASH_LEN as u64 + 1;
        for path in &disk[..3] {
            flip(path, pos);
        }
        let mut reader = ShardReader::open(files.clone(), layout, SIZE as u64);
        let (got, result) = read(&mut reader, 0, SIZE as u64);
        assert!(got == data[..BS]);
        assert!(matches!(
            result,
            Err(ShardError::Quorum {
                available: 1,
                needed: 2
            })
        ));
        // Three files gone: nothing at all.
        let mut gone = files.clone();
        gone[0] = None;
        gone[1] = None;
        gone[3] = None;
        let mut reader = ShardReader::open(gone, layout, SIZE as u64);
        let (got, result) = read(&mut reader, 0, SIZE as u64);
        assert!(got.is_empty());
        assert!(matches!(result, Err(ShardError::Quorum { .. })));
        assert!(result.unwrap_err().to_string().contains("needed"));
    }

    fn dir_entries(disk: &[PathBuf]) -> usize {
        let parents: std::collections::BTreeSet<_> =
            disk.iter().filter_map(|p| p.parent()).collect();
        parents
            .iter()
            .map(|d| fs::read_dir(d).map_or(0, |r| r.count()))
            .sum()
    }

    #[test]
    fn heal_restores_identical_files() {
        let dir = TempDir::new();
        for layout in layouts() {
            for size in [0, 1, SIZE] {
                let data = object(size, 8);
                let (files, disk) = paths(&dir.0.join(format!("{layout:?}-{size}")), layout);
                write_object(&files, layout, &data, BS);
                let original = contents(&disk);
                for targets in subsets(layout.total(), layout.parity) {
                    // Damage each target a different way: gone, short, rotten.
                    for (n, &t) in targets.iter().enumerate() {
                        let path = &disk[t];
                        match (n % 3, size) {
                            (0, _) | (_, 0) => fs::remove_file(path).unwrap(),
                            (1, _) => fs::write(path, &original[t][..10]).unwrap(),
                            _ => flip(path, (HASH_LEN + 1) as u64),
                        }
                    }
                    let written = heal(&files, &targets, layout, size as u64, true).unwrap();
                    let file_len = layout.shard_file_len(size as u64);
                    assert_eq!(written, file_len * targets.len() as u64);
                    let now = contents(&disk);
                    assert!(now == original, "{layout:?} {size} {targets:?}");
                    assert_eq!(dir_entries(&disk), layout.total(), "temp files left");
                }
            }
        }
    }

    #[test]
    fn heal_without_enough_sources_changes_nothing() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(3, 1, BS);
        let data = object(SIZE, 9);
        let (files, disk) = paths(&dir.0, layout);
        write_object(&files, layout, &data, BS);
        let original = contents(&disk);
        let result = heal(&files, &[0, 3], layout, SIZE as u64, false);
        assert!(matches!(result, Err(ShardError::Quorum { .. })));
        assert!(contents(&disk) == original);
        assert_eq!(dir_entries(&disk), layout.total());
    }

    #[test]
    fn stat_and_verify_classify() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(4, 2, BS);
        let data = object(SIZE, 10);
        let (mut files, disk) = paths(&dir.0, layout);
        write_object(&files, layout, &data, BS);
        fs::remove_file(&disk[1]).unwrap();
        let short = layout.shard_file_len(SIZE as u64) - 1;
        File::options()
            .write(true)
            .open(&disk[2])
            .unwrap()
            .set_len(short)
            .unwrap();
        flip(&disk[3], 5);
        files[4] = None;
        use ShardState::*;
        let size = SIZE as u64;
        assert_eq!(
            stat(&files, layout, size),
            [Ok, Missing, WrongSize, Ok, Missing, Ok]
        );
        let full = [Ok, Missing, WrongSize, Corrupt, Missing, Ok];
        assert_eq!(verify(&files, layout, size), full);
        // Two good shards of six cannot give four data shards.
        let mut reader = ShardReader::open(files, layout, size);
        let (got, result) = read(&mut reader, 0, size);
        assert!(got.is_empty() && result.is_err());
        assert_eq!(reader.bad_shards(), [1, 2, 3, 4]);
    }

    #[test]
    fn writer_quorum_when_files_cannot_be_created() {
        let dir = TempDir::new();
        let layout = Layout::with_block_size(2, 2, BS);
        // A regular file where a folder should be: creating beneath it fails.
        let blocker = dir.0.join("blocker");
        fs::write(&blocker, b"x").unwrap();
        let (mut files, _) = paths(&dir.0, layout);
        for file in &mut files[..3] {
            *file = local(&dir.0, "blocker/part");
        }
        let result = ShardWriter::create(files.clone(), layout, 3, false);
        assert!(matches!(
            result,
            Err(ShardError::Quorum {
                available: 1,
                needed: 3
            })
        ));

        // One unwritable and one offline: quorum 2 still met, reads decode.
        files[1] = paths(&dir.0, layout).0[1].clone();
        files[2] = None;
        let data = object(SIZE, 11);
        let mut writer = ShardWriter::create(files.clone(), layout, 2, false).unwrap();
        writer.write(&data).unwrap();
        let outcome = writer.finish().unwrap();
        assert_eq!(outcome.written, [false, true, false, true]);
        let (got, bad) = read_all(&files, layout, SIZE);
        assert!(got == data);
        // Data shard 0 is missing, so the reader went through parity 2 (offline) to 3.
        assert_eq!(bad, [0, 2]);
    }

    #[test]
    fn writer_drops_a_file_whose_write_fails() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let dir = TempDir::new();
        let layout = Layout::with_block_size(2, 2, BS);
        let (mut files, _) = paths(&dir.0, layout);
        files[3] = local(Path::new("/dev"), "full");
        let data = object(SIZE, 12);
        let mut writer = ShardWriter::create(files.clone(), layout, 3, false).unwrap();
        writer.write(&data).unwrap();
        assert_eq!(writer.finish().unwrap().written, [true, true, true, false]);
        assert_eq!(read_all(&files[..3], layout, SIZE).0, data);

        let mut writer = ShardWriter::create(files, layout, 4, false).unwrap();
        let result = writer.write(&data);
        assert!(matches!(
            result,
            Err(ShardError::Quorum {
                available: 3,
                needed: 4
            })
        ));
    }
}
