//! ceiling: the "as cheap as it gets" reference row of scripts/bench.
//!
//! An HTTP/1.1 server on hyper + tokio (multi-threaded runtime, keep-alive,
//! TCP_NODELAY, writev, as the engine serves) that answers just enough S3 for
//! s3load, and does no work beyond that:
//!
//! - no storage and NO SIGNATURE CHECK: the Authorization header is ignored;
//! - PUT of an object reads the body and throws it away, remembers only the
//!   size under its key (a sharded map of key -> size) and answers 200 with a
//!   fixed ETag; PUT of a bucket answers 200;
//! - GET of an object answers 200 with Content-Length = the size last PUT under
//!   that key and a body that is a slice of one static zeroed buffer (the body
//!   costs no allocation or copy per request; objects up to its 1 MiB go out as
//!   one frame, larger ones as several slices of it); HEAD the same headers, no
//!   body;
//!   a key never PUT: 404 NoSuchKey;
//! - DELETE of an object 204; GET / (ListBuckets) a minimal valid answer;
//!   ListObjectsV2 (list-type=2, prefix, max-keys, continuation-token) and
//!   DeleteObjects (POST ?delete) over the map, so s3load's listing and clean-up
//!   work too.
//!
//!     ceiling [ADDR:]PORT
use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};

/// The one buffer every GET body is cut from: a static (read-only data of the
/// binary), so a slice of it is a `Bytes` with no reference count to touch.
const ZERO_LEN: usize = 1 << 20;
static ZEROS: [u8; ZERO_LEN] = [0; ZERO_LEN];

/// What a fixed ETag looks like (the MD5 of nothing: the body is not hashed).
const FIXED_ETAG: &str = "\"d41d8cd98f00b204e9800998ecf8427e\"";

/// A GET body: `left` zero bytes, as slices of `ZEROS`.
struct Zeros {
    left: u64,
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(ZERO_LEN as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

type Out = Either<Zeros, Full<Bytes>>;

/// key ("bucket/key", percent-decoded) -> size, in shards so that concurrent
/// requests rarely wait on one lock.
struct Sizes {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<String, u64>>>,
}

impl Sizes {
    fn new() -> Self {
        Sizes {
            hasher: RandomState::new(),
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
    fn shard(&self, key: &str) -> &Mutex<HashMap<String, u64>> {
        &self.shards[(self.hasher.hash_one(key) % self.shards.len() as u64) as usize]
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.shard(key).lock().unwrap().get(key).copied()
    }
    fn put(&self, key: &str, size: u64) {
        let mut m = self.shard(key).lock().unwrap();
        match m.get_mut(key) {
            Some(v) => *v = size,
            None => {
                m.insert(key.to_owned(), size);
            }
        }
    }
    fn remove(&self, key: &str) {
        self.shard(key).lock().unwrap().remove(key);
    }
    /// Keys starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, n)| (k.clone(), *n))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort_unstable();
        v
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding; borrows when there is nothing to decode.
fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push(hex(b[i + 1]).unwrap() * 16 + hex(b[i + 2]).unwrap());
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn query<'a>(uri: &'a Uri, name: &str) -> Option<Cow<'a, str>> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| decode(v))
    })
}

fn xml_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;"),
    )
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn empty(status: StatusCode) -> Response<Out> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::new())));
    *r.status_mut() = status;
    r
}

fn xml(status: StatusCode, body: String) -> Response<Out> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

fn error(status: StatusCode, code: &str) -> Response<Out> {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code}</Message></Error>"
        ),
    )
}

/// Reads a request body to its end and returns its length (the bytes are dropped).
async fn drain(body: Incoming) -> Result<u64, hyper::Error> {
    let mut body = body;
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}

async fn handle(req: Request<Incoming>, sizes: Arc<Sizes>) -> Result<Response<Out>, Infallible> {
    let (parts, body) = req.into_parts();
    let path = decode(parts.uri.path().trim_start_matches('/'));
    let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
    Ok(match (&parts.method, bucket.is_empty(), key.is_empty()) {
        (&Method::GET, true, _) => xml(
            StatusCode::OK,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>ceiling</ID><DisplayName>ceiling</DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>".to_owned(),
        ),
        (&Method::PUT, false, true) => empty(StatusCode::OK),
        (&Method::PUT, false, false) => match drain(body).await {
            Ok(n) => {
                sizes.put(&path, n);
                let mut r = empty(StatusCode::OK);
                r.headers_mut().insert(ETAG, HeaderValue::from_static(FIXED_ETAG));
                r
            }
            Err(_) => error(StatusCode::BAD_REQUEST, "IncompleteBody"),
        },
        (m @ (&Method::GET | &Method::HEAD), false, false) => match sizes.get(&path) {
            Some(n) => {
                let mut r = Response::new(Either::Left(Zeros { left: if m == Method::GET { n } else { 0 } }));
                let h = r.headers_mut();
                h.insert(CONTENT_LENGTH, n.into());
                h.insert(ETAG, HeaderValue::from_static(FIXED_ETAG));
                h.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                r
            }
            None if m == Method::HEAD => empty(StatusCode::NOT_FOUND),
            None => error(StatusCode::NOT_FOUND, "NoSuchKey"),
        },
        (&Method::DELETE, false, false) => {
            sizes.remove(&path);
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, false, true) => list(&parts.uri, bucket, &sizes),
        (&Method::POST, false, true) if query(&parts.uri, "delete").is_some() => {
            let body = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Ok(error(StatusCode::BAD_REQUEST, "IncompleteBody")),
            };
            let text = String::from_utf8_lossy(&body);
            let mut rest: &str = &text;
            while let Some(i) = rest.find("<Key>") {
                rest = &rest[i + 5..];
                let Some(j) = rest.find("</Key>") else { break };
                sizes.remove(&format!("{bucket}/{}", xml_unescape(&rest[..j])));
                rest = &rest[j..];
            }
            xml(
                StatusCode::OK,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>".to_owned(),
            )
        }
        _ => error(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
    })
}

/// ListObjectsV2 over the map: keys under `prefix`, after the continuation token
/// (the last key of the page before), at most max-keys of them.
fn list(uri: &Uri, bucket: &str, sizes: &Sizes) -> Response<Out> {
    if query(uri, "list-type").as_deref() != Some("2") {
        return error(StatusCode::NOT_IMPLEMENTED, "NotImplemented");
    }
    let prefix = query(uri, "prefix").unwrap_or_default();
    let max: usize = query(uri, "max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let after = query(uri, "continuation-token").map(|t| format!("{bucket}/{t}"));
    let all = sizes.list(&format!("{bucket}/{prefix}"));
    let start = after.map_or(0, |a| all.partition_point(|(k, _)| *k <= a));
    let page = &all[start..(start + max).min(all.len())];
    let truncated = start + page.len() < all.len();
    let mut b = String::with_capacity(200 + page.len() * 120);
    b.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    b.push_str(&format!(
        "<Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml_escape(bucket),
        xml_escape(&prefix),
        page.len()
    ));
    let skip = bucket.len() + 1;
    for (k, n) in page {
        b.push_str(&format!(
            "<Contents><Key>{}</Key><Size>{n}</Size><ETag>{}</ETag><StorageClass>STANDARD</StorageClass></Contents>",
            xml_escape(&k[skip..]),
            xml_escape(FIXED_ETAG)
        ));
    }
    if truncated && let Some((k, _)) = page.last() {
        b.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            xml_escape(&k[skip..])
        ));
    }
    b.push_str("</ListBucketResult>");
    xml(StatusCode::OK, b)
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: ceiling [ADDR:]PORT");
        std::process::exit(2)
    });
    let addr = if arg.contains(':') {
        arg
    } else {
        format!("127.0.0.1:{arg}")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .unwrap_or_else(|e| {
                eprintln!("ceiling: cannot listen on {addr}: {e}");
                std::process::exit(1)
            });
        eprintln!("ceiling: listening on {addr} (no storage, no signature check)");
        let sizes = Arc::new(Sizes::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let sizes = sizes.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(req, sizes.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .writev(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
