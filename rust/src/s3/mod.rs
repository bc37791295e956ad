//! The S3 protocol layer: routing, request bodies, headers, XML, errors, handlers.

pub mod access;
pub mod acl;
pub mod auth;
pub mod authorize;
pub mod body;
pub mod bucket_encryption;
pub mod bucket_settings;
pub mod checksum;
pub mod condition_keys;
pub mod cors;
pub mod dto;
pub mod error;
pub mod form_auth;
mod handlers;
pub mod headers;
pub mod lifecycle;
pub mod multipart_checksum;
pub mod object_lock;
pub mod policy;
pub mod post_policy;
pub mod response;
pub mod router;
pub mod shared;
pub mod sigv2;
pub mod sigv4;
pub mod sse;
pub mod tagging;
pub mod xml;

use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;

use crate::storage::Storage;
use error::S3Result;
use response::{S3Response, error_response, set_header};
use router::{Action, Op};

/// Everything a handler may need, shared by all requests.
pub struct Ctx {
    pub store: Arc<dyn Storage>,
    pub region: String,
    /// Domains under which `<bucket>.<domain>` is virtual-hosted-style addressing.
    pub virtual_host_domains: Vec<String>,
    pub auth_enabled: bool,
    /// Whether Signature Version 2 requests are accepted.
    pub sig_v2: bool,
    pub credentials: Arc<crate::auth::Credentials>,
    pub settings: Arc<bucket_settings::BucketSettings>,
    /// Server-wide CORS rules for buckets without their own.
    pub default_cors: Option<Arc<cors::CorsConfig>>,
    /// The store's `shared_generation` the settings and credentials were loaded at.
    pub shared_seen: std::sync::atomic::AtomicU64,
    /// SSE-C over plain HTTP (`encryption.allowSseCOverHttp`, for local testing).
    pub allow_sse_c_over_http: bool,
    /// Whether anything (access log, metrics, request log) reads [`RequestFacts`].
    pub observed: bool,
    /// The lifecycle day (`lifecycle.dayLengthSeconds`), for `x-amz-expiration`.
    pub lifecycle_clock: lifecycle::dates::Clock,
}

/// What a request was, left in its response's extensions for the access log and the
/// metrics (only while something observes requests).
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// The S3 operation (`GetObject`), or what else answered (`HealthReady`).
    pub operation: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub access_key: Option<String>,
    pub request_id: String,
}

/// Bucket names this server keeps for itself: `/health/...` and `/minio/health/...`
/// are its health probes (`ops/health.rs`), so no bucket may answer there.
pub const RESERVED_BUCKET_NAMES: [&str; 2] = ["health", "minio"];

/// Refuses a reserved name as S3 refuses an invalid one.
pub fn check_not_reserved(bucket: &str) -> error::S3Result<()> {
    match RESERVED_BUCKET_NAMES.contains(&bucket) {
        true => Err(crate::storage::Error::InvalidBucketName {
            bucket: bucket.to_string(),
        }
        .into()),
        false => Ok(()),
    }
}

impl Ctx {
    /// The CORS rules that apply to a bucket: its own, else the server's default.
    pub fn cors_for(&self, bucket: Option<&str>) -> Option<Arc<cors::CorsConfig>> {
        bucket
            .and_then(|b| self.settings.cors(b))
            .or_else(|| self.default_cors.clone())
    }
}

/// One request as handlers see it: the query (for listing parameters), headers and
/// body. Its operation and that operation's parameters come beside it, as a [`router::Op`].
pub struct S3Request {
    pub query: router::Query,
    pub headers: Arc<http::HeaderMap>,
    pub body: body::RequestBody,
    pub authz: authorize::Authz,
    /// Whether it came over TLS.
    pub secure: bool,
}

impl S3Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        headers::header(&self.headers, name)
    }
}

/// 16 hex digits, as AWS's. From the thread's CSPRNG: a fresh UUID read the kernel's
/// generator on every request.
fn new_request_id() -> String {
    hex::encode_upper(rand::random::<u64>().to_be_bytes())
}

/// The request pipeline: route -> authenticate -> authorize -> handler -> response
/// (+ CORS headers), errors as S3 documents.
pub async fn serve(
    ctx: Arc<Ctx>,
    req: Request<Incoming>,
    remote: std::net::IpAddr,
    secure: bool,
) -> S3Response {
    let request_id = new_request_id();
    let (parts, incoming) = req.into_parts();
    // Shared with the handler and the authorizer without a copy.
    let headers = Arc::new(parts.headers);
    let head = parts.method == http::Method::HEAD;
    let resource = parts.uri.path().to_string();
    let mut bucket = None;
    let mut signed = false;
    let mut facts = ctx.observed.then(RequestFacts::default);
    let result = async {
        check_header_size(&parts.uri, &headers)?;
        ctx.sync_shared().await?;
        let route = router::route(
            &parts.method,
            &parts.uri,
            &headers,
            &ctx.virtual_host_domains,
        )?;
        bucket = route.bucket.clone();
        if let Some(facts) = facts.as_mut() {
            facts.operation = format!("{:?}", route.action);
            facts.bucket = route.bucket.clone();
            facts.key = route.key.clone();
        }
        if route.action == Action::PostObject {
            // The form carries the credentials and policy: its handler authenticates
            // and authorizes once it has read them.
            return handlers::post_object::post_object(
                &ctx, &route, &headers, incoming, remote, secure,
            )
            .await;
        }
        let authenticated = if ctx.auth_enabled && route.action != Action::Preflight {
            auth::authenticate(&auth::AuthInput {
                method: &parts.method,
                uri: &parts.uri,
                headers: &headers,
                query: &route.query,
                vhost_bucket: route.bucket.as_deref().filter(|_| route.virtual_host),
                region: &ctx.region,
                credentials: &ctx.credentials,
                sig_v2: ctx.sig_v2,
            })?
        } else {
            auth::Authenticated::anonymous()
        };
        signed = authenticated.access_key.is_some();
        if let Some(facts) = facts.as_mut() {
            facts.access_key = authenticated.access_key.clone();
        }
        let presigned = route.query.has("X-Amz-Signature") || route.query.has("Signature");
        let auth_type = match presigned {
            true => condition_keys::AuthType::QueryString,
            false => condition_keys::AuthType::Header,
        };
        let authz = authorize::Authz::new(
            &ctx,
            &authenticated,
            &route,
            &headers,
            remote,
            secure,
            auth_type,
        );
        authz.admit(&ctx, &route, &headers).await?;
        // CompleteMultipartUpload's x-amz-checksum-* describe the object, not the XML body.
        let body_checksums = route.action != Action::CompleteMultipartUpload;
        let body =
            body::RequestBody::new(incoming, &headers, authenticated.payload, body_checksums)?;
        // The operation's own parameters (upload id, part number, ...) are checked here,
        // after authorization, where the handlers always checked them.
        let op = route.op()?;
        let req = S3Request {
            query: route.query,
            headers: headers.clone(),
            body,
            authz,
            secure,
        };
        dispatch(&ctx, op, req).await
    }
    .await;
    let mut res = match result {
        Ok(res) => res,
        Err(err) => {
            let mut res = error_response(&err, &resource, &request_id, head);
            // The body may be unread: say so (RFC 9112 9.6) rather than silently drop the
            // connection. A refused or unsigned caller does not keep its connection either,
            // so it cannot hold a slot with one cheap request every few seconds.
            let unsigned = ctx.auth_enabled && !signed;
            if has_body(&headers) || unsigned || err.code.status() == http::StatusCode::FORBIDDEN {
                set_header(&mut res, "connection", "close");
            }
            res
        }
    };
    let id = http::HeaderValue::from_str(&request_id).expect("hex digits");
    res.headers_mut().insert(REQUEST_ID, id.clone());
    if let Some(mut facts) = facts {
        if facts.operation.is_empty() {
            facts.operation = "Unrouted".into();
        }
        facts.request_id = request_id.clone();
        res.extensions_mut().insert(facts);
    }
    res.headers_mut().insert(ID_2, id);
    res.headers_mut().insert(
        http::header::SERVER,
        http::HeaderValue::from_static("SmartStorage"),
    );
    if parts.method != http::Method::OPTIONS {
        add_cors_headers(&ctx, bucket.as_deref(), &parts.method, &headers, &mut res);
    }
    res
}

const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-amz-request-id");
const ID_2: http::HeaderName = http::HeaderName::from_static("x-amz-id-2");

/// Request line plus headers, as the client sent them (roughly), must fit 64 KiB.
const MAX_HEADER_SECTION: usize = 64 * 1024;

fn check_header_size(uri: &http::Uri, headers: &http::HeaderMap) -> error::S3Result<()> {
    let target = uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    let size = target
        + headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if size > MAX_HEADER_SECTION {
        return Err(
            error::S3Error::new(error::S3Code::RequestHeaderSectionTooLarge)
                .detail("MaxSizeAllowed", MAX_HEADER_SECTION.to_string()),
        );
    }
    Ok(())
}

fn has_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers::header(headers, "content-length").is_some_and(|v| v.trim() != "0")
}

/// CORS headers on an actual (non-preflight) response, errors included, so browsers can read it.
fn add_cors_headers(
    ctx: &Ctx,
    bucket: Option<&str>,
    method: &http::Method,
    headers: &http::HeaderMap,
    res: &mut S3Response,
) {
    let Some(origin) = headers::header(headers, "origin") else {
        return;
    };
    let Some(config) = ctx.cors_for(bucket) else {
        return;
    };
    if let Some(rule) = config.find(origin, method.as_str(), &[]) {
        for (name, value) in cors::response_headers(rule, origin, None) {
            set_header(res, name, &value);
        }
    }
}

async fn dispatch(ctx: &Ctx, op: Op, req: S3Request) -> S3Result<S3Response> {
    use handlers::*;
    match op {
        Op::ListBuckets => bucket::list_buckets(ctx, req).await,
        Op::CreateBucket { bucket } => bucket::create_bucket(ctx, req, bucket).await,
        Op::HeadBucket { bucket } => bucket::head_bucket(ctx, req, bucket).await,
        Op::DeleteBucket { bucket } => bucket::delete_bucket(ctx, req, bucket).await,
        Op::GetBucketLocation { bucket } => bucket::get_location(ctx, req, bucket).await,
        Op::GetBucketVersioning { bucket } => bucket::get_versioning(ctx, req, bucket).await,
        Op::GetBucketAcl { bucket } => access::get_bucket_acl(ctx, req, bucket).await,
        Op::PutBucketAcl { bucket } => access::put_bucket_acl(ctx, req, bucket).await,
        Op::GetObjectAcl {
            bucket,
            key,
            version_id,
        } => access::get_object_acl(ctx, req, bucket, key, version_id).await,
        Op::PutObjectAcl {
            bucket,
            key,
            version_id,
        } => access::put_object_acl(ctx, req, bucket, key, version_id).await,
        Op::PutBucketOwnershipControls { bucket } => access::put_ownership(ctx, req, bucket).await,
        Op::GetBucketOwnershipControls { bucket } => access::get_ownership(ctx, req, bucket).await,
        Op::DeleteBucketOwnershipControls { bucket } => {
            access::delete_ownership(ctx, req, bucket).await
        }
        Op::PutPublicAccessBlock { bucket } => {
            access::put_public_access_block(ctx, req, bucket).await
        }
        Op::GetPublicAccessBlock { bucket } => {
            access::get_public_access_block(ctx, req, bucket).await
        }
        Op::DeletePublicAccessBlock { bucket } => {
            access::delete_public_access_block(ctx, req, bucket).await
        }
        Op::ListObjectsV1 { bucket } => list::list_objects(ctx, req, bucket, false).await,
        Op::ListObjectsV2 { bucket } => list::list_objects(ctx, req, bucket, true).await,
        Op::DeleteObjects { bucket } => object::delete_objects(ctx, req, bucket).await,
        Op::PutObject { bucket, key } => object::put_object(ctx, req, bucket, key).await,
        Op::CopyObject { bucket, key } => object::copy_object(ctx, req, bucket, key).await,
        Op::GetObject(read) => object::get_object(ctx, req, read, false).await,
        Op::HeadObject(read) => object::get_object(ctx, req, read, true).await,
        Op::DeleteObject {
            bucket,
            key,
            version_id,
        } => object::delete_object(ctx, req, bucket, key, version_id).await,
        Op::CreateMultipartUpload { bucket, key } => multipart::create(ctx, req, bucket, key).await,
        Op::UploadPart {
            bucket,
            key,
            upload_id,
            part_number,
        } => multipart::upload_part(ctx, req, bucket, key, upload_id, part_number).await,
        Op::UploadPartCopy {
            bucket,
            key,
            upload_id,
            part_number,
        } => multipart::upload_part_copy(ctx, req, bucket, key, upload_id, part_number).await,
        Op::CompleteMultipartUpload {
            bucket,
            key,
            upload_id,
        } => multipart::complete(ctx, req, bucket, key, upload_id).await,
        Op::AbortMultipartUpload {
            bucket,
            key,
            upload_id,
        } => multipart::abort(ctx, req, bucket, key, upload_id).await,
        Op::ListParts {
            bucket,
            key,
            upload_id,
        } => multipart::list_parts(ctx, req, bucket, key, upload_id).await,
        Op::ListMultipartUploads { bucket } => multipart::list_uploads(ctx, req, bucket).await,
        Op::PutBucketPolicy { bucket } => bucket_config::put_policy(ctx, req, bucket).await,
        Op::GetBucketPolicy { bucket } => bucket_config::get_policy(ctx, req, bucket).await,
        Op::DeleteBucketPolicy { bucket } => bucket_config::delete_policy(ctx, req, bucket).await,
        Op::GetBucketPolicyStatus { bucket } => {
            bucket_config::get_policy_status(ctx, req, bucket).await
        }
        Op::PutBucketCors { bucket } => bucket_config::put_cors(ctx, req, bucket).await,
        Op::GetBucketCors { bucket } => bucket_config::get_cors(ctx, req, bucket).await,
        Op::DeleteBucketCors { bucket } => bucket_config::delete_cors(ctx, req, bucket).await,
        Op::PutBucketEncryption { bucket } => bucket_config::put_encryption(ctx, req, bucket).await,
        Op::GetBucketEncryption { bucket } => bucket_config::get_encryption(ctx, req, bucket).await,
        Op::DeleteBucketEncryption { bucket } => {
            bucket_config::delete_encryption(ctx, req, bucket).await
        }
        Op::PutBucketLifecycle { bucket } => bucket_config::put_lifecycle(ctx, req, bucket).await,
        Op::GetBucketLifecycle { bucket } => bucket_config::get_lifecycle(ctx, req, bucket).await,
        Op::DeleteBucketLifecycle { bucket } => {
            bucket_config::delete_lifecycle(ctx, req, bucket).await
        }
        Op::Preflight { bucket } => bucket_config::preflight(ctx, req, bucket).await,
        Op::PutObjectLockConfiguration { bucket } => {
            lock::put_configuration(ctx, req, bucket).await
        }
        Op::GetObjectLockConfiguration { bucket } => {
            lock::get_configuration(ctx, req, bucket).await
        }
        Op::PutObjectRetention(o) => lock::put_retention(ctx, req, o).await,
        Op::GetObjectRetention(o) => lock::get_retention(ctx, req, o).await,
        Op::PutObjectLegalHold(o) => lock::put_legal_hold(ctx, req, o).await,
        Op::GetObjectLegalHold(o) => lock::get_legal_hold(ctx, req, o).await,
        Op::Unsupported {
            bucket,
            key,
            feature,
        } => bucket::unsupported(ctx, bucket, key, feature).await,
        Op::PutBucketVersioning { bucket } => bucket::put_versioning(ctx, req, bucket).await,
        Op::ListObjectVersions { bucket } => list::list_object_versions(ctx, req, bucket).await,
        Op::PutObjectTagging {
            bucket,
            key,
            version_id,
        } => object::put_tagging(ctx, req, bucket, key, version_id).await,
        Op::GetObjectTagging {
            bucket,
            key,
            version_id,
        } => object::get_tagging(ctx, req, bucket, key, version_id).await,
        Op::DeleteObjectTagging {
            bucket,
            key,
            version_id,
        } => object::delete_tagging(ctx, req, bucket, key, version_id).await,
        Op::GetObjectAttributes {
            bucket,
            key,
            version_id,
        } => attributes::get_object_attributes(ctx, req, bucket, key, version_id).await,
    }
}
