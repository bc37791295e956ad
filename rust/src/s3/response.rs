//! Building responses: bodies, XML documents, and the error document.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

use super::error::{S3Code, S3Error};

pub type ResBody = UnsyncBoxBody<Bytes, std::io::Error>;
pub type S3Response = Response<ResBody>;

pub fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty_body() -> ResBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn empty(status: StatusCode) -> S3Response {
    let mut res = Response::new(empty_body());
    *res.status_mut() = status;
    res
}

pub fn xml(status: StatusCode, doc: String) -> S3Response {
    let mut res = Response::new(full(doc));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/xml".parse().unwrap(),
    );
    res
}

pub fn ok_xml(doc: String) -> S3Response {
    xml(StatusCode::OK, doc)
}

/// Bytes read per chunk of a file body, and chunks buffered ahead of the socket.
const FILE_CHUNK: usize = 512 * 1024;
const FILE_CHUNKS_AHEAD: usize = 2;
/// Objects up to this size are read whole by the blocking task that opens them: one
/// trip to the blocking pool per GET, and no reader task handing chunks over a channel
/// (the wake-ups cost more than the read at 1 MiB). A streamed body holds up to
/// `FILE_CHUNKS_AHEAD + 1` chunks per client too, so this does not raise the bound.
const LOAD_WHOLE_MAX: u64 = 2 * FILE_CHUNK as u64;
/// Below this size a loaded object gets an exact-size buffer instead of pooled chunks.
const LOAD_UNPOOLED_MAX: u64 = 64 * 1024;
/// Chunk buffers kept for reuse (at most 16 MiB).
const POOLED_CHUNKS: usize = 32;

/// An opened object's data: read already (in one or more chunks), or a file to stream.
pub enum ObjectData {
    Loaded(Vec<Bytes>),
    File(std::fs::File),
}

impl ObjectData {
    /// Run on the blocking pool right after opening: loads small objects whole
    /// (unless only the headers are wanted).
    pub fn load(file: std::fs::File, size: u64, want_data: bool) -> std::io::Result<ObjectData> {
        use std::os::unix::fs::FileExt;
        if !want_data || size > LOAD_WHOLE_MAX {
            return Ok(ObjectData::File(file));
        }
        if size <= LOAD_UNPOOLED_MAX {
            let mut buf = vec![0; size as usize];
            file.read_exact_at(&mut buf, 0)?;
            return Ok(ObjectData::Loaded(vec![buf.into()]));
        }
        let chunks = (0..size)
            .step_by(FILE_CHUNK)
            .map(|offset| read_chunk(&file, offset, size))
            .collect::<std::io::Result<_>>()?;
        Ok(ObjectData::Loaded(chunks))
    }

    /// The body for `len` bytes from `start`.
    pub fn body(self, start: u64, len: u64) -> ResBody {
        match self {
            ObjectData::Loaded(chunks) => {
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
                    frames.push(Ok(hyper::body::Frame::data(chunk.slice(skip..skip + take))));
                    (skip, left) = (0, left - take);
                }
                http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
            }
            ObjectData::File(file) => file_body(file, start, len),
        }
    }
}

/// A chunk buffer that returns to the pool once hyper has written it: reusing it
/// saves the page faults and zeroing of a fresh half-megabyte allocation per chunk.
struct PooledChunk {
    buf: Vec<u8>,
    len: usize,
}

static CHUNK_POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

impl PooledChunk {
    fn take() -> PooledChunk {
        let buf = CHUNK_POOL
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| vec![0; FILE_CHUNK]);
        PooledChunk { buf, len: 0 }
    }
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        let mut pool = CHUNK_POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED_CHUNKS {
            pool.push(std::mem::take(&mut self.buf));
        }
    }
}

/// Reads the chunk of `file` at `offset` (up to `FILE_CHUNK` bytes, not past `end`)
/// into a pooled buffer; a file shorter than that is an error.
fn read_chunk(file: &std::fs::File, offset: u64, end: u64) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut chunk = PooledChunk::take();
    chunk.len = FILE_CHUNK.min((end - offset) as usize);
    file.read_exact_at(&mut chunk.buf[..chunk.len], offset)?;
    Ok(Bytes::from_owner(chunk))
}

/// Streams `len` bytes of `file` from `start`. One blocking thread reads ahead with
/// positioned reads into pooled buffers that go to the socket as they are (no copy),
/// and waits while the client is slow (bounded memory); it stops when the client goes.
fn file_body(file: std::fs::File, start: u64, len: u64) -> ResBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(FILE_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let end = start + len;
        for offset in (start..end).step_by(FILE_CHUNK) {
            let read = read_chunk(&file, offset, end);
            let failed = read.is_err();
            if tx.blocking_send(read).is_err() || failed {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (chunk.map(hyper::body::Frame::data), rx))
    });
    http_body_util::StreamBody::new(stream).boxed_unsync()
}

/// Sets a header from a string, skipping values that cannot be a header value.
pub fn set_header(res: &mut S3Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        http::HeaderValue::from_str(value),
    ) {
        res.headers_mut().insert(name, value);
    }
}

/// The S3 error document (no body for HEAD requests and 304s, as AWS sends them).
pub fn error_response(err: &S3Error, resource: &str, request_id: &str, head: bool) -> S3Response {
    let status = err.code.status();
    let mut res = if head || err.code == S3Code::NotModified {
        empty(status)
    } else {
        let doc = super::dto::ErrorDocument {
            code: err.code.as_str(),
            message: &err.message,
            details: &err.details,
            resource,
            request_id,
        };
        xml(status, doc.to_xml())
    };
    for (name, value) in &err.headers {
        set_header(&mut res, name, value);
    }
    res
}
