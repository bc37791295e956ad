//! Building responses: bodies, XML documents, and the error document.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

use super::error::{S3Code, S3Error, S3Result};

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

/// An object's byte stream once its first chunk is in hand: a read that fails at
/// once (a damaged or unreadable object) is answered with a 500, not a cut-off 200.
pub async fn started(
    mut stream: crate::storage::interface::ByteStream,
) -> S3Result<crate::storage::interface::ByteStream> {
    use futures_util::StreamExt;
    match stream.next().await {
        Some(Ok(first)) => Ok(Box::pin(
            futures_util::stream::iter([Ok(first)]).chain(stream),
        )),
        Some(Err(e)) => Err(S3Error::internal(format!("reading an object: {e}"))),
        None => Ok(stream),
    }
}

/// A response body streaming an object's bytes from storage.
pub fn stream_body(stream: crate::storage::interface::ByteStream) -> ResBody {
    use futures_util::TryStreamExt;
    http_body_util::StreamBody::new(stream.map_ok(hyper::body::Frame::data)).boxed_unsync()
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
