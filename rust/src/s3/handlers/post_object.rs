//! POST Object: a browser's `multipart/form-data` upload to a bucket URL. The fields
//! before the file are read (bounded: anyone may send them), the form's signature and
//! policy checked, the signer authorized for `s3:PutObject` as a PutObject would be,
//! and the file part streamed through PutObject's own write, the form's fields standing
//! in for its headers. Fields after the file are ignored, as on AWS.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use hyper::body::Incoming;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;

use super::MAX_PUT_SIZE;
use super::list::encode_key;
use super::object::{set_put_headers, store_object};
use crate::s3::auth::{Authenticated, Payload};
use crate::s3::authorize::Authz;
use crate::s3::body::RequestBody;
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::form_auth::{self, missing_field};
use crate::s3::post_policy::{Fields, PostPolicy};
use crate::s3::response::{S3Response, empty, set_header, xml};
use crate::s3::router::{Query, Route};
use crate::s3::{Ctx, S3Request, dto, headers, tagging};
use crate::storage::interface::{MAX_KEY_BYTES, ObjectMeta};

/// What the fields before the file may add up to (names and values), as on AWS.
pub const MAX_FORM_FIELDS_BYTES: usize = 20 * 1024;

/// Fields that sign the form: never object headers.
const SIGNING_FIELDS: [&str; 5] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-signature",
    "x-amz-security-token",
];

/// Form fields stored with the object as PutObject stores their headers.
const HEADER_FIELDS: [&str; 6] = [
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// What of a refused form's body is still read (and dropped) before the answer, so that
/// a browser still sending it reads the answer rather than a broken connection.
const MAX_DRAIN: u64 = 16 * 1024 * 1024;

pub async fn post_object(
    ctx: &Ctx,
    route: &Route,
    request_headers: &HeaderMap,
    incoming: Incoming,
    remote: std::net::IpAddr,
    secure: bool,
) -> S3Result<S3Response> {
    let body = RequestBody::new(incoming, &HeaderMap::new(), Payload::Unchecked, false)?;
    let body = Arc::new(Mutex::new(body));
    let result = upload(ctx, route, request_headers, body.clone(), remote, secure).await;
    // Not after the body itself failed (a stalled or broken upload).
    let body_failed =
        |e: &S3Error| matches!(e.code, S3Code::RequestTimeout | S3Code::IncompleteBody);
    if result.as_ref().is_err_and(|e| !body_failed(e)) {
        let mut body = body.lock().await;
        let start = body.received;
        while body.received - start < MAX_DRAIN && matches!(body.next().await, Ok(Some(_))) {}
    }
    result
}

/// What the parser may have been handed before the file part begins: the fields (20 KiB),
/// their part headers and boundaries, and the one chunk it reads ahead. Part headers are
/// buffered until they end, so without this a header that never ends would grow forever.
const MAX_BEFORE_FILE: u64 = 1024 * 1024;

/// The request body as the multipart parser reads it: one chunk per poll (it would
/// otherwise take all that is ready), refused past [`MAX_BEFORE_FILE`] until `file_begun`,
/// and shared so that what is left of it can be drained after a refusal.
fn form_stream(
    body: Arc<Mutex<RequestBody>>,
    file_begun: Arc<AtomicBool>,
) -> OneChunkPerPoll<BoxStream<'static, S3Result<Bytes>>> {
    let chunks = futures_util::stream::unfold(body, move |body| {
        let file_begun = file_begun.clone();
        async move {
            let mut guard = body.lock().await;
            let next = match guard.next().await {
                Ok(Some(_))
                    if !file_begun.load(Ordering::Relaxed) && guard.received > MAX_BEFORE_FILE =>
                {
                    Err(fields_too_large())
                }
                next => next,
            };
            drop(guard);
            match next {
                Ok(Some(chunk)) => Some((Ok(chunk), body)),
                Ok(None) => None,
                Err(e) => Some((Err(e), body)),
            }
        }
    });
    OneChunkPerPoll {
        inner: chunks.boxed(),
        yielded: false,
    }
}

/// Yields at most one item per poll, so a consumer that reads all that is ready holds
/// one chunk at a time.
struct OneChunkPerPoll<S> {
    inner: S,
    yielded: bool,
}

impl<S: futures_util::Stream + Unpin> futures_util::Stream for OneChunkPerPoll<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        if std::mem::take(&mut self.yielded) {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let item = std::task::ready!(self.inner.poll_next_unpin(cx));
        self.yielded = item.is_some();
        std::task::Poll::Ready(item)
    }
}

fn fields_too_large() -> S3Error {
    S3Error::new(S3Code::MaxPostPreDataLengthExceededError).detail(
        "MaxPostPreDataLengthBytes",
        MAX_FORM_FIELDS_BYTES.to_string(),
    )
}

async fn upload(
    ctx: &Ctx,
    route: &Route,
    request_headers: &HeaderMap,
    body: Arc<Mutex<RequestBody>>,
    remote: std::net::IpAddr,
    secure: bool,
) -> S3Result<S3Response> {
    let bucket = route
        .bucket
        .clone()
        .ok_or_else(|| S3Error::internal("POST Object routed without a bucket"))?;
    let boundary = form_boundary(request_headers)?;
    ctx.store.bucket_exists(&bucket).await?;
    let file_begun = Arc::new(AtomicBool::new(false));
    let mut form = multer::Multipart::new(form_stream(body, file_begun.clone()), boundary);
    let (fields, file) = read_fields(&mut form).await?;
    file_begun.store(true, Ordering::Relaxed);
    let file = file.ok_or_else(|| {
        S3Error::invalid_argument(
            "POST requires exactly one file upload per request.",
            "file",
            "0",
        )
    })?;
    let key = fields.get("key").ok_or_else(|| missing_field("key"))?;
    let signer = if ctx.auth_enabled {
        form_auth::authenticate(ctx, &fields)?
    } else {
        Authenticated::anonymous()
    };
    let policy = fields.get("policy").map(PostPolicy::parse).transpose()?;
    if let Some(policy) = &policy {
        policy.check(&fields, &bucket, chrono::Utc::now())?;
    }
    let key = key.replace("${filename}", file.file_name().unwrap_or_default());
    check_key(&key)?;
    let put_headers = put_headers(&fields)?;
    // Condition keys see the form's fields as the headers they stand for.
    let mut condition_headers = request_headers.clone();
    condition_headers.extend(put_headers.clone());
    let condition_headers = Arc::new(condition_headers);
    let authz = Authz::new(
        ctx,
        &signer,
        route,
        &condition_headers,
        remote,
        secure,
        crate::s3::condition_keys::AuthType::Post,
    );
    authz
        .check_object(ctx, &bucket, &key, None, "s3:PutObject")
        .await?;
    let (min, max) = policy
        .as_ref()
        .and_then(PostPolicy::length_range)
        .unwrap_or((0, MAX_PUT_SIZE));
    let part = bounded(file, min, max.min(MAX_PUT_SIZE));
    let mut req = S3Request {
        query: Query::default(),
        body: RequestBody::from_part(part, &put_headers)?,
        headers: Arc::new(put_headers),
        authz,
        secure,
    };
    let (meta, customer) = store_object(ctx, &mut req, bucket.clone(), key.clone()).await?;
    let location = object_url(route, request_headers, secure, &bucket, &key);
    let mut res = respond(&fields, &bucket, &key, &meta, &location);
    set_put_headers(ctx, &mut res, &meta, customer.as_ref());
    Ok(res)
}

/// The boundary of a `multipart/form-data` body; any other body is refused as AWS does.
fn form_boundary(headers: &HeaderMap) -> S3Result<String> {
    headers::header(headers, "content-type")
        .filter(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("multipart/form-data"))
        })
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            S3Error::new(S3Code::PreconditionFailed).detail(
                "Condition",
                "Bucket POST must be of the enclosure-type multipart/form-data",
            )
        })
}

/// A multipart error: the request body's own (a timeout, a broken connection) as it
/// was, anything else a malformed form.
fn form_error(err: multer::Error) -> S3Error {
    if let multer::Error::StreamReadFailed(inner) = &err
        && let Some(s3) = inner.downcast_ref::<S3Error>()
    {
        return s3.clone();
    }
    S3Error::new(S3Code::MalformedPOSTRequest)
}

/// Reads the fields up to the `file` field (names lowercased), and that field.
async fn read_fields(
    form: &mut multer::Multipart<'static>,
) -> S3Result<(Fields, Option<multer::Field<'static>>)> {
    let mut fields = Fields::default();
    let mut size = 0;
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field
            .name()
            .ok_or_else(|| S3Error::new(S3Code::MalformedPOSTRequest))?
            .to_ascii_lowercase();
        if name == "file" {
            return Ok((fields, Some(field)));
        }
        size += name.len();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(form_error)? {
            size += chunk.len();
            if size > MAX_FORM_FIELDS_BYTES {
                return Err(fields_too_large());
            }
            value.extend_from_slice(&chunk);
        }
        if size > MAX_FORM_FIELDS_BYTES {
            return Err(fields_too_large());
        }
        let value =
            String::from_utf8(value).map_err(|_| S3Error::new(S3Code::MalformedPOSTRequest))?;
        fields.0.push((name, value));
    }
    Ok((fields, None))
}

fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(S3Error::invalid_argument(
            "User key must have a length greater than 0.",
            "key",
            key,
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(S3Code::KeyTooLongError)
            .detail("Size", key.len().to_string())
            .detail("MaxSizeAllowed", MAX_KEY_BYTES.to_string()));
    }
    Ok(())
}

/// The headers a PutObject of this form would carry: object headers, `x-amz-*` (meta,
/// encryption, checksums, storage class), `acl` as `x-amz-acl` and the `tagging`
/// document as `x-amz-tagging`. The first of repeated fields counts.
fn put_headers(fields: &Fields) -> S3Result<HeaderMap> {
    let mut out = HeaderMap::new();
    for (name, value) in &fields.0 {
        let (header, value) = match name.as_str() {
            "acl" => ("x-amz-acl", value.clone()),
            "tagging" => ("x-amz-tagging", tagging_header(value)?),
            n if HEADER_FIELDS.contains(&n) => (n, value.clone()),
            n if n.starts_with("x-amz-") && !SIGNING_FIELDS.contains(&n) => (n, value.clone()),
            _ => continue,
        };
        let invalid = || S3Error::invalid_argument("Invalid form field value", name, &value);
        let header = HeaderName::from_bytes(header.as_bytes()).map_err(|_| invalid())?;
        let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| invalid())?;
        out.entry(header).or_insert(value);
    }
    Ok(out)
}

/// Characters a query component keeps as they are.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The form's `<Tagging>` document as an `x-amz-tagging` header value.
fn tagging_header(doc: &str) -> S3Result<String> {
    let tags = tagging::from_xml(doc.as_bytes())?;
    let pairs: Vec<String> = tags
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY),
                utf8_percent_encode(v, QUERY)
            )
        })
        .collect();
    Ok(pairs.join("&"))
}

/// The file part, stopped once it passes `max` bytes (nothing is stored) and refused at
/// its end if it has fewer than `min`.
fn bounded(
    file: multer::Field<'static>,
    min: u64,
    max: u64,
) -> BoxStream<'static, S3Result<Bytes>> {
    futures_util::stream::unfold(Some((file, 0u64)), move |state| async move {
        let (mut file, seen) = state?;
        match file.chunk().await {
            Ok(Some(chunk)) => {
                let seen = seen + chunk.len() as u64;
                if seen > max {
                    let err = S3Error::new(S3Code::EntityTooLarge)
                        .detail("MaxSizeAllowed", max.to_string());
                    return Some((Err(err), None));
                }
                Some((Ok(chunk), Some((file, seen))))
            }
            Ok(None) if seen < min => {
                let err = S3Error::new(S3Code::EntityTooSmall)
                    .detail("ProposedSize", seen.to_string())
                    .detail("MinSizeAllowed", min.to_string());
                Some((Err(err), None))
            }
            Ok(None) => None,
            Err(e) => Some((Err(form_error(e)), None)),
        }
    })
    .boxed()
}

/// The stored object's URL, addressed as the request addressed its bucket.
fn object_url(route: &Route, headers: &HeaderMap, secure: bool, bucket: &str, key: &str) -> String {
    let scheme = if secure { "https" } else { "http" };
    let host = headers::header(headers, "host").unwrap_or("localhost");
    let key = encode_key(key, true);
    if route.virtual_host {
        format!("{scheme}://{host}/{key}")
    } else {
        format!("{scheme}://{host}/{bucket}/{key}")
    }
}

/// `success_action_redirect` (303 to it, with bucket, key and ETag in its query), else
/// `success_action_status`: 200 (empty), 201 (a PostResponse document), else 204.
fn respond(
    fields: &Fields,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    location: &str,
) -> S3Response {
    let redirect = fields
        .get("success_action_redirect")
        .or_else(|| fields.get("redirect"))
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"));
    if let Some(url) = redirect {
        let separator = if url.contains('?') { '&' } else { '?' };
        let target = format!(
            "{url}{separator}bucket={}&key={}&etag={}",
            utf8_percent_encode(bucket, QUERY),
            utf8_percent_encode(key, QUERY),
            utf8_percent_encode(&meta.etag, QUERY)
        );
        let mut res = empty(StatusCode::SEE_OTHER);
        set_header(&mut res, "location", &target);
        return res;
    }
    let mut res = match fields.get("success_action_status") {
        Some("200") => empty(StatusCode::OK),
        Some("201") => xml(
            StatusCode::CREATED,
            dto::to_xml(&dto::PostResponse {
                location: location.into(),
                bucket: bucket.into(),
                key: key.into(),
                etag: meta.etag.clone(),
            }),
        ),
        _ => empty(StatusCode::NO_CONTENT),
    };
    set_header(&mut res, "location", location);
    res
}
