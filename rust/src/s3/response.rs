//! Building responses: bodies, XML documents, and the error document.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

use super::error::{S3Code, S3Error};
use super::xml::XmlWriter;

pub type ResBody = UnsyncBoxBody<Bytes, std::io::Error>;
pub type S3Response = Response<ResBody>;

pub fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
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
    res.headers_mut().insert(http::header::CONTENT_TYPE, "application/xml".parse().unwrap());
    res
}

pub fn ok_xml(doc: String) -> S3Response {
    xml(StatusCode::OK, doc)
}

/// Bytes read per chunk of a file body, and chunks buffered ahead of the socket.
const FILE_CHUNK: usize = 512 * 1024;
const FILE_CHUNKS_AHEAD: usize = 2;

/// Streams `len` bytes of `file` from `start`. One blocking thread reads ahead with
/// positioned reads into fresh buffers that go to the socket as they are (no copy),
/// and waits while the client is slow (bounded memory); it stops when the client goes.
pub fn file_body(file: std::fs::File, start: u64, len: u64) -> ResBody {
    use std::os::unix::fs::FileExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(FILE_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let (mut offset, end) = (start, start + len);
        while offset < end {
            let mut buf = vec![0u8; FILE_CHUNK.min((end - offset) as usize)];
            let chunk = match file.read_at(&mut buf, offset) {
                Ok(0) => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    buf.truncate(n);
                    offset += n as u64;
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk.map(hyper::body::Frame::data), rx)) });
    http_body_util::StreamBody::new(stream).boxed_unsync()
}

/// Sets a header from a string, skipping values that cannot be a header value.
pub fn set_header(res: &mut S3Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value)) {
        res.headers_mut().insert(name, value);
    }
}

/// The S3 error document (no body for HEAD requests and 304s, as AWS sends them).
pub fn error_response(err: &S3Error, resource: &str, request_id: &str, head: bool) -> S3Response {
    let status = err.code.status();
    let mut res = if head || err.code == S3Code::NotModified {
        empty(status)
    } else {
        let mut w = XmlWriter::bare("Error");
        w.elem("Code", err.code.as_str()).elem("Message", &err.message);
        for (name, value) in &err.details {
            w.elem(name, value);
        }
        w.elem("Resource", resource).elem("RequestId", request_id).elem("HostId", request_id);
        xml(status, w.finish("Error"))
    };
    for (name, value) in &err.headers {
        set_header(&mut res, name, value);
    }
    res
}
