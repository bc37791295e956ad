//! Reading an object's bytes out as a stream: small objects are read whole in the
//! trip that opens them, larger ones streamed by a reader thread.
//!
//! Plain bytes of a file (above `MAP_MIN`) go out as windows of a memory map of the
//! file (`file_bytes`), which a plain-HTTP socket sends with `sendfile` and no copy
//! here. Windows are mapped and read into the page cache on the blocking pool, never
//! on the socket's thread, and a large GET holds only a few windows at a time.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;

use super::pool;
use crate::file_bytes;

/// Bytes out of storage, in order; an error ends the stream.
pub type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Bytes read per chunk of a file body, and chunks buffered ahead of the socket.
const FILE_CHUNK: usize = 512 * 1024;
const FILE_CHUNKS_AHEAD: usize = 2;
/// Bytes mapped per window of a streamed file body (a multiple of the page size). Each
/// window costs a trip from the reader thread and a mapping; 8 MiB served a 256 MiB GET
/// 1.17x faster than 2 MiB (median of 13 interleaved rounds), and 32 MiB no faster.
/// Windows hold no memory of their own, but pages read in for them stay mapped (and
/// count in RSS) while they are: up to three windows per streamed GET.
const MAP_WINDOW: u64 = 8 * 1024 * 1024;
/// Bodies smaller than this are read, not mapped: for a few pages a copy costs less
/// than setting up and tearing down a mapping.
const MAP_MIN: u64 = 128 * 1024;
/// Objects up to this size are read whole by the blocking task that opens them: one
/// trip to the blocking pool per GET, and no reader task handing chunks over a channel
/// (the wake-ups cost more than the read at 1 MiB). A streamed body holds up to
/// `FILE_CHUNKS_AHEAD + 1` chunks per client too, so this does not raise the bound.
const LOAD_WHOLE_MAX: u64 = 2 * FILE_CHUNK as u64;

/// An opened object's bytes: read already (in one or more chunks), or a file to
/// stream. Which one is storage's business; callers only ask for a byte stream.
pub struct Content(Data);

enum Data {
    Loaded(Vec<Bytes>),
    File(std::fs::File),
    /// Another store's reader (the erasure-coded store decodes shards).
    Source(Box<dyn StreamSource>),
}

/// Streams a range of an object's bytes; for stores whose bytes are not one file.
pub trait StreamSource: Send {
    fn stream(self: Box<Self>, start: u64, len: u64) -> ByteStream;
}

/// Turns stored bytes into the bytes a reader wants, one run of stored bytes at a time
/// (a layer that stores bytes transformed, such as encrypted). Runs are decoded where
/// they are read: on the reading thread for a file, beside the socket otherwise.
pub trait RunDecoder: Send + 'static {
    /// The length of the next run of stored bytes, or `None` when done.
    fn next_run(&mut self) -> Option<usize>;
    /// Decodes one run (exactly the length asked) in place, answering where in `run`
    /// its output lies.
    fn decode(&mut self, run: &mut [u8]) -> std::io::Result<Range<usize>>;
}

impl Content {
    /// Run on the blocking pool right after opening: loads small objects whole
    /// (unless only the headers are wanted).
    pub(super) fn load(file: std::fs::File, size: u64, want_data: bool) -> std::io::Result<Self> {
        if !want_data || size > LOAD_WHOLE_MAX {
            return Ok(Content(Data::File(file)));
        }
        if size >= MAP_MIN {
            let window = file_bytes::window(&Arc::new(file), 0, size)?;
            return Ok(Content(Data::Loaded(vec![window])));
        }
        let chunks = (0..size)
            .step_by(FILE_CHUNK)
            .map(|offset| read_chunk(&file, offset, size))
            .collect::<std::io::Result<_>>()?;
        Ok(Content(Data::Loaded(chunks)))
    }

    /// `load` for the async threads: `None` where it would stream the body, or wait
    /// for the disk (`cached`; a mapped body's pages must all be in the page cache).
    pub(super) fn load_cached(
        file: std::fs::File,
        size: u64,
        want_data: bool,
        reads: super::cached::Reads,
    ) -> Option<Self> {
        if !want_data {
            return Some(Content(Data::File(file)));
        }
        if size > LOAD_WHOLE_MAX {
            return None;
        }
        if size >= MAP_MIN {
            let window = file_bytes::cached_window(&Arc::new(file), 0, size).ok()??;
            return Some(Content(Data::Loaded(vec![window])));
        }
        let read =
            |f: &std::fs::File, buf: &mut [u8], at| super::cached::read_exact_at(f, buf, at, reads);
        let chunk = read_chunk_by(read, &file, 0, size).ok()?;
        Some(Content(Data::Loaded(vec![chunk])))
    }

    /// Bytes read already, in order.
    pub fn loaded(chunks: Vec<Bytes>) -> Self {
        Content(Data::Loaded(chunks))
    }

    pub fn from_source(source: Box<dyn StreamSource>) -> Self {
        Content(Data::Source(source))
    }

    /// The stream of `len` bytes from `start`.
    pub fn stream(self, start: u64, len: u64) -> ByteStream {
        match self.0 {
            Data::Loaded(chunks) => {
                let (mut skip, mut left) = (start as usize, len as usize);
                let mut frames = Vec::with_capacity(chunks.len());
                for chunk in chunks {
                    if skip >= chunk.len() {
                        skip -= chunk.len();
                        continue;
                    }
                    let take = left.min(chunk.len() - skip);
                    if take == 0 {
                        break;
                    }
                    frames.push(Ok(chunk.slice(skip..skip + take)));
                    (skip, left) = (0, left - take);
                }
                Box::pin(futures_util::stream::iter(frames))
            }
            Data::File(file) => file_mapped(file, start, len),
            Data::Source(source) => source.stream(start, len),
        }
    }

    /// The stored bytes from `start` to `end`, in the runs `decoder` asks for, each
    /// decoded by it.
    pub fn decode(self, start: u64, end: u64, decoder: Box<dyn RunDecoder>) -> ByteStream {
        match self.0 {
            Data::File(file) => file_decoded(file, start, decoder),
            data => gathered_decoded(Content(data).stream(start, end - start), decoder),
        }
    }
}

/// Decodes runs of `file` from `start`, read ahead (`read_ahead`) with positioned reads
/// into pooled buffers that go to the socket as they are (no copy), decoding
/// overlapping the socket's writes.
fn file_decoded(file: std::fs::File, start: u64, mut decoder: Box<dyn RunDecoder>) -> ByteStream {
    use std::os::unix::fs::FileExt;
    let mut offset = start;
    read_ahead(std::iter::from_fn(move || {
        let len = decoder.next_run()?;
        let mut buf = pool::take(len);
        let decoded = file
            .read_exact_at(&mut buf, offset)
            .and_then(|()| decoder.decode(&mut buf))
            .map(|range| pool::into_bytes(buf, range));
        offset += len as u64;
        Some(decoded)
    }))
}

/// Streams `len` bytes of `file` from `start` as memory-mapped windows, each read
/// into the page cache before it is handed on.
fn file_mapped(file: std::fs::File, start: u64, len: u64) -> ByteStream {
    let file = Arc::new(file);
    let (mut offset, end) = (start, start + len);
    read_ahead(std::iter::from_fn(move || {
        let next = ((offset / MAP_WINDOW + 1) * MAP_WINDOW).min(end);
        let window = (offset < end).then(|| file_bytes::window(&file, offset, next - offset));
        offset = next;
        window
    }))
}

/// Runs `chunks` on a blocking thread that stays `FILE_CHUNKS_AHEAD` chunks ahead of
/// the socket: it waits while the client is slow (bounded memory), and stops at the
/// first error or when the client goes.
fn read_ahead(chunks: impl Iterator<Item = std::io::Result<Bytes>> + Send + 'static) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(FILE_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        for chunk in chunks {
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    });
    receiver_stream(rx)
}

/// Decodes runs gathered from `stored` as it arrives (bytes loaded already, or
/// another store's stream).
fn gathered_decoded(stored: ByteStream, decoder: Box<dyn RunDecoder>) -> ByteStream {
    let state = (stored, Bytes::new(), decoder, false);
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut stored, mut held, mut decoder, done)| async move {
            let len = if done { None } else { decoder.next_run() }?;
            let mut buf = pool::take(len);
            let mut filled = 0;
            while filled < len {
                if held.is_empty() {
                    held = match stored.next().await {
                        Some(Ok(chunk)) => chunk,
                        Some(Err(e)) => return Some((Err(e), (stored, held, decoder, true))),
                        None => {
                            let short = std::io::ErrorKind::UnexpectedEof.into();
                            return Some((Err(short), (stored, held, decoder, true)));
                        }
                    };
                }
                let take = held.len().min(len - filled);
                buf[filled..filled + take].copy_from_slice(&held.split_to(take));
                filled += take;
            }
            let decoded = decoder.decode(&mut buf).map(|r| pool::into_bytes(buf, r));
            let done = decoded.is_err();
            Some((decoded, (stored, held, decoder, done)))
        },
    ))
}

fn receiver_stream(rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// Reads the chunk of `file` at `offset` (up to `FILE_CHUNK` bytes, not past `end`)
/// into a pooled buffer (see `pool`); a file shorter than that is an error.
fn read_chunk(file: &std::fs::File, offset: u64, end: u64) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    read_chunk_by(std::fs::File::read_exact_at, file, offset, end)
}

/// `read_chunk` with the given positioned read (the ordinary one, or `cached`'s).
fn read_chunk_by(
    read_exact_at: impl Fn(&std::fs::File, &mut [u8], u64) -> std::io::Result<()>,
    file: &std::fs::File,
    offset: u64,
    end: u64,
) -> std::io::Result<Bytes> {
    let len = FILE_CHUNK.min((end - offset) as usize);
    let mut buf = pool::take(len);
    read_exact_at(file, &mut buf, offset)?;
    Ok(pool::into_bytes(buf, 0..len))
}
