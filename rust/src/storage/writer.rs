//! Streams a request body into a temporary file (or another `Sink`) on a blocking
//! thread, hashing MD5 as it goes (beside the writes, on a thread of its own, once a
//! body is large). The bounded channels give backpressure: the network is read no
//! faster than the disk is written and the bytes hashed, so memory stays bounded at
//! any object size.

use crate::md5::Md5;
use bytes::Bytes;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::durable::FileSync;
use super::error::{Error, Result};
use super::sealing::ByteFilter;
use super::trash::Trash;
use super::writeback::Writeback;

const QUEUE_DEPTH: usize = 8;
const WRITE_BUFFER: usize = 512 * 1024;

enum Msg {
    Data(Bytes),
    Finish,
}

/// A finished temporary file, not yet visible to anyone. Removed on drop unless published.
pub struct TempData {
    pub path: PathBuf,
    pub size: u64,
    pub md5: [u8; 16],
    published: bool,
}

impl TempData {
    pub fn new(path: PathBuf, size: u64, md5: [u8; 16]) -> Self {
        TempData {
            path,
            size,
            md5,
            published: false,
        }
    }
    pub fn mark_published(&mut self) {
        self.published = true;
    }
}

impl Drop for TempData {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a streamed body goes, on the blocking thread: a temporary file here; the
/// erasure-coded store's shard files.
pub trait Sink: Send + 'static {
    type Output: Send + 'static;
    fn write(&mut self, chunk: &[u8]) -> Result<()>;
    /// Called once every byte has been written, with their count and MD5.
    fn finish(self, size: u64, md5: [u8; 16]) -> Result<Self::Output>;
}

/// Streams a body into a `Sink` on a blocking thread, hashing MD5 as it goes (then
/// passing it through the filter, if any: the sink gets, and counts, what the filter
/// gives). A sink dropped without `finish` (the request was abandoned, or a write
/// failed) must leave nothing behind.
pub struct SinkWriter<T> {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<Result<T>>,
}

impl<T: Send + 'static> SinkWriter<T> {
    pub fn start<S: Sink<Output = T>>(
        open: impl FnOnce() -> Result<S> + Send + 'static,
        mut filter: Option<Box<dyn ByteFilter>>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE_DEPTH);
        let (done_tx, done) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let mut sink = open()?;
                let mut md5 = BodyMd5::default();
                let mut size = 0u64;
                let mut filtered = Vec::new();
                let mut put = |sink: &mut S, bytes: &[u8]| {
                    size += bytes.len() as u64;
                    sink.write(bytes)
                };
                loop {
                    match rx.blocking_recv() {
                        Some(Msg::Data(chunk)) => {
                            md5.update(&chunk);
                            match filter.as_mut() {
                                Some(f) => {
                                    filtered.clear();
                                    f.update(&chunk, &mut filtered)?;
                                    put(&mut sink, &filtered)?;
                                }
                                None => put(&mut sink, &chunk)?,
                            }
                        }
                        Some(Msg::Finish) => break,
                        None => return Err(Error::internal("upload abandoned")),
                    }
                }
                if let Some(f) = filter.as_mut() {
                    filtered.clear();
                    f.finish(&mut filtered)?;
                    put(&mut sink, &filtered)?;
                }
                let md5 = md5.finish()?;
                sink.finish(size, md5)
            })();
            let _ = done_tx.send(result);
        });
        SinkWriter { tx, done }
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if self.tx.send(Msg::Data(chunk)).await.is_err() {
            // The writer thread stopped early: its error says why.
            return Err(self.take_error().await);
        }
        Ok(())
    }

    async fn take_error(&mut self) -> Error {
        match (&mut self.done).await {
            Ok(Err(e)) => e,
            _ => Error::internal("body writer stopped"),
        }
    }

    pub async fn finish(mut self) -> Result<T> {
        if self.tx.send(Msg::Finish).await.is_err() {
            return Err(self.take_error().await);
        }
        match self.done.await {
            Ok(result) => result,
            Err(_) => Err(Error::internal("body writer vanished")),
        }
    }
}

/// Bytes hashed on the writing thread before the MD5 moves to a thread of its own:
/// for smaller bodies the hand-over costs more than it saves.
const HASH_BESIDE_AFTER: u64 = 1024 * 1024;
/// Bytes handed to the hashing thread at a time, and batches queued for it.
const HASH_BATCH: usize = 512 * 1024;
const HASH_QUEUE: usize = 2;

/// The MD5 of a body as it streams: computed on the writing thread at first, then
/// on a thread of its own, so that on two cores hashing and writing (and for
/// encrypted bodies, encrypting) overlap and a large PUT is bound by the slower of
/// them, not their sum.
#[derive(Default)]
struct BodyMd5 {
    inline: Md5,
    hashed: u64,
    beside: Option<Beside>,
}

struct Beside {
    batch: Vec<Bytes>,
    batched: usize,
    tx: mpsc::Sender<Vec<Bytes>>,
    digest: oneshot::Receiver<[u8; 16]>,
}

impl BodyMd5 {
    fn update(&mut self, chunk: &Bytes) {
        let Some(beside) = self.beside.as_mut() else {
            self.inline.update(chunk);
            self.hashed += chunk.len() as u64;
            if self.hashed >= HASH_BESIDE_AFTER {
                self.beside = Some(Beside::start(std::mem::take(&mut self.inline)));
            }
            return;
        };
        beside.batch.push(chunk.clone());
        beside.batched += chunk.len();
        if beside.batched >= HASH_BATCH {
            beside.send();
        }
    }

    fn finish(self) -> Result<[u8; 16]> {
        let Some(mut beside) = self.beside else {
            return Ok(self.inline.finalize());
        };
        beside.send();
        drop(beside.tx);
        beside
            .digest
            .blocking_recv()
            .map_err(|_| Error::internal("MD5 thread vanished"))
    }
}

impl Beside {
    /// Continues `md5` on a blocking thread of its own.
    fn start(mut md5: Md5) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(HASH_QUEUE);
        let (digest_tx, digest) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            while let Some(batch) = rx.blocking_recv() {
                batch.iter().for_each(|chunk| md5.update(chunk));
            }
            let _ = digest_tx.send(md5.finalize());
        });
        Beside {
            batch: Vec::new(),
            batched: 0,
            tx,
            digest,
        }
    }

    fn send(&mut self) {
        self.batched = 0;
        // The thread only stops once `tx` is dropped.
        let _ = self.tx.blocking_send(std::mem::take(&mut self.batch));
    }
}

/// A temporary file being written; removed if dropped before `finish`.
struct FileSink {
    out: std::io::BufWriter<std::fs::File>,
    data: TempData,
    sync: FileSync,
    /// Bytes taken (some may still be in `out`'s buffer).
    taken: u64,
    /// With fsync on: how far the file is on its way to the disk.
    writeback: Writeback,
    /// Files removed but not yet freed, freed at once if the disk is full.
    trash: Arc<Trash>,
}

impl Sink for FileSink {
    type Output = TempData;
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let (out, taken, mut again) = (&mut self.out, self.taken, false);
        self.trash.with_room(|| {
            if !again {
                again = true;
                return out.write_all(chunk);
            }
            let in_file = out.get_ref().metadata()?.len();
            write_rest(out, chunk, taken, in_file)
        })?;
        self.taken += chunk.len() as u64;
        if self.sync.is_on() {
            let in_file = self.taken - self.out.buffer().len() as u64;
            self.writeback.wrote(self.out.get_ref(), in_file);
        }
        Ok(())
    }
    fn finish(mut self, size: u64, md5: [u8; 16]) -> Result<TempData> {
        // A failed flush keeps what it could not write: running it again resumes.
        self.trash.with_room(|| self.out.flush())?;
        self.writeback.finish()?;
        if !self.sync.journal_carries(size) {
            self.sync.sync(self.out.get_ref())?;
        }
        (self.data.size, self.data.md5) = (size, md5);
        Ok(self.data)
    }
}

/// Writes what is left of `chunk` after writing it failed: of the bytes, `taken` before
/// it, those in `out`'s file (`in_file` long: written in order) or in its buffer are in.
fn write_rest<W: Write>(
    out: &mut std::io::BufWriter<W>,
    chunk: &[u8],
    taken: u64,
    in_file: u64,
) -> std::io::Result<()> {
    let held = in_file + out.buffer().len() as u64;
    let done = held.saturating_sub(taken).min(chunk.len() as u64) as usize;
    out.write_all(&chunk[done..])
}

pub type TempWriter = SinkWriter<TempData>;

/// Starts streaming a body to the temporary file `path`.
pub(super) fn temp_writer(
    path: PathBuf,
    sync: FileSync,
    filter: Option<Box<dyn ByteFilter>>,
    trash: Arc<Trash>,
) -> TempWriter {
    SinkWriter::start(
        move || {
            let file = std::fs::File::create(&path)?;
            Ok(FileSink {
                out: std::io::BufWriter::with_capacity(WRITE_BUFFER, file),
                data: TempData::new(path, 0, [0; 16]),
                sync,
                taken: 0,
                writeback: Writeback::default(),
                trash,
            })
        },
        filter,
    )
}

#[cfg(test)]
mod tests {
    use super::write_rest;
    use std::io::{self, BufWriter, Write};

    /// A disk with room for `room` bytes, full beyond.
    struct Disk {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let free = self.room - self.data.len();
            if free == 0 && !buf.is_empty() {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(free);
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Chunks smaller than, as large as and larger than the buffer, on a disk that fills
    /// up anywhere (in a buffer's flush, in a large chunk's direct write): each chunk
    /// written again lands once, in order.
    #[test]
    fn a_chunk_written_again_after_a_full_disk_lands_once() {
        let chunks: Vec<Vec<u8>> = [5usize, 16, 40, 3, 16, 7, 33]
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 50 + j) as u8).collect())
            .collect();
        let whole = chunks.concat();
        for step in 1..whole.len() {
            let disk = Disk {
                data: Vec::new(),
                room: step,
            };
            let mut out = BufWriter::with_capacity(16, disk);
            let mut taken = 0;
            for chunk in &chunks {
                let (mut result, mut tries) = (out.write_all(chunk), 0);
                while let Err(e) = result {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
                    tries += 1;
                    assert!(
                        tries < 100,
                        "a chunk never landed (room freed {step} at a time)"
                    );
                    out.get_mut().room += step; // room freed
                    let in_file = out.get_ref().data.len() as u64;
                    result = write_rest(&mut out, chunk, taken, in_file);
                }
                taken += chunk.len() as u64;
            }
            while out.flush().is_err() {
                out.get_mut().room += step;
            }
            assert_eq!(
                out.get_ref().data,
                whole,
                "room freed {step} bytes at a time"
            );
        }
    }
}
