//! Object operations: PUT, GET/HEAD (ranges, conditions), DELETE, DeleteObjects, CopyObject.

use http::StatusCode;

use super::access::new_object_acl;
use super::copy_checksum;
use super::lock;
use super::{
    MAX_LIST_XML_BODY, MAX_XML_BODY, authorized_copy_source, body_checksum, check_tagging_header,
    checksum_mode, receive_body, set_checksum_header, set_version_header,
};
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::headers::{
    CONDITIONS, COPY_SOURCE_CONDITIONS, Conditions, iso8601, object_attrs, parse_range,
    set_object_headers,
};
use crate::s3::response::{ResBody, S3Response, empty, ok_xml, set_header, started, stream_body};
use crate::s3::router::{ReadObject, parse_part_number};
use crate::s3::{Ctx, S3Request};
use crate::s3::{dto, sse, xml};
use crate::storage::Error;
use crate::storage::interface::{
    BodyOf, Content, CopyObject, CustomerKey, Deletion, MAX_KEY_BYTES, ObjectMeta, Opened,
    Precondition, PutObject, StoredChecksum,
};

/// `If-None-Match: *` (create only) or `If-Match: <etag>` (replace only that version) on a write.
pub fn write_precondition(req: &S3Request) -> S3Result<Option<Precondition>> {
    match (req.header("if-none-match"), req.header("if-match")) {
        (Some(v), _) if v.trim() == "*" => Ok(Some(Precondition::IfNoneMatchAny)),
        (Some(v), _) => Err(S3Error::msg(
            S3Code::NotImplemented,
            format!("If-None-Match: {v} is not supported on writes; only '*' is."),
        )),
        (None, Some(etag)) => Ok(Some(Precondition::IfMatch(etag.to_string()))),
        (None, None) => Ok(None),
    }
}

/// A write's condition, taken before the write begins: over a current object, a delete
/// that wins the race before the commit makes the write `409 ConditionalRequestConflict`.
pub async fn conditional_write(
    ctx: &Ctx,
    req: &S3Request,
    bucket: &str,
    key: &str,
) -> S3Result<Option<Precondition>> {
    let Some(condition) = write_precondition(req)? else {
        return Ok(None);
    };
    let current = ctx.store.head_object(bucket, key, None).await;
    Ok(Some(match current {
        Ok(meta) if !meta.delete_marker => Precondition::BeganOverObject(Box::new(condition)),
        _ => condition,
    }))
}

pub async fn put_object(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
    key: String,
) -> S3Result<S3Response> {
    lock::check_put_integrity(ctx, &req, &bucket)?;
    let (meta, customer) = store_object(ctx, &mut req, bucket, key).await?;
    let mut res = empty(StatusCode::OK);
    set_put_headers(ctx, &mut res, &meta, customer.as_ref());
    Ok(res)
}

/// PutObject's write, from the request's headers and body: also POST Object's, whose
/// form fields come as headers and whose file part is the body.
pub async fn store_object(
    ctx: &Ctx,
    req: &mut S3Request,
    bucket: String,
    key: String,
) -> S3Result<(ObjectMeta, Option<sse::Customer>)> {
    check_tagging_header(ctx, req, &bucket, &key).await?;
    let mut attrs = object_attrs(&req.headers)?;
    attrs.acl = new_object_acl(ctx, req, &bucket)?;
    attrs.lock = lock::new_version_lock(ctx, req, &bucket, &key)?;
    let (seal, customer) = sse::seal_for_write(ctx, req, &bucket)?;
    let precondition = conditional_write(ctx, req, &bucket, &key).await?;
    req.body
        .compute_checksum_by_default(crate::s3::checksum::Algorithm::Crc64Nvme);
    let body_of = BodyOf::Object(seal.as_ref());
    let payload = receive_body(ctx, req, body_of, || ctx.store.bucket_exists(&bucket)).await?;
    attrs.checksum = body_checksum(req);
    let meta = ctx
        .store
        .put_object(PutObject {
            bucket,
            key,
            payload,
            attrs,
            precondition,
            seal,
        })
        .await?;
    Ok((meta, customer))
}

/// The headers of a write's answer: ETag, encryption, checksum, version.
pub fn set_put_headers(
    ctx: &Ctx,
    res: &mut S3Response,
    meta: &ObjectMeta,
    customer: Option<&sse::Customer>,
) {
    set_header(res, "etag", &meta.etag);
    let md5 = customer.map(|c| c.md5.as_str());
    sse::echo(ctx, res, meta.encryption.as_ref(), md5);
    sse::echo_context(res, meta.encryption.as_ref());
    set_checksum_header(res, meta.checksum.as_ref());
    set_version_header(res, meta.version_id.as_deref());
    super::set_expiration_header(ctx, res, meta);
}

/// Opens the requested version (or the latest), answering for delete markers as AWS
/// does: 404 NoSuchKey for a latest marker, 405 for a marker asked for by id, both
/// with `x-amz-delete-marker: true`.
pub(super) async fn open_requested(
    ctx: &Ctx,
    read: &ReadObject,
    head: bool,
    customer: Option<&CustomerKey>,
) -> S3Result<(ObjectMeta, Content)> {
    let (bucket, key) = (read.bucket.as_str(), read.key.as_str());
    let marker_headers = |err: S3Error, m: &ObjectMeta| {
        err.header("x-amz-delete-marker", "true")
            .header(
                "x-amz-version-id",
                m.version_id.clone().unwrap_or_else(|| "null".into()),
            )
            .header(
                "last-modified",
                crate::s3::headers::http_date(m.last_modified_time()),
            )
    };
    let version = read.version_id.as_deref();
    match ctx
        .store
        .open_object(bucket, key, version, !head, customer)
        .await
    {
        Ok(Opened {
            meta,
            content: Some(content),
        }) => Ok((meta, content)),
        Ok(Opened {
            meta,
            content: None,
        }) => Err(marker_headers(
            S3Error::new(S3Code::MethodNotAllowed)
                .detail("Method", if head { "HEAD" } else { "GET" })
                .detail("ResourceType", "DeleteMarker"),
            &meta,
        )),
        Err(e @ Error::NoSuchKey { .. }) if version.is_none() => {
            match ctx.store.latest_delete_marker(bucket, key).await? {
                Some(m) => Err(marker_headers(e.into(), &m)),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The byte range of part `part` of a multipart object (`?partNumber=`); part 1 of a
/// single-part object is the whole object.
fn part_range(meta: &ObjectMeta, part: &str) -> S3Result<Option<(u64, u64)>> {
    let n = parse_part_number(part)? as usize;
    let unsatisfiable = || {
        S3Error::new(S3Code::InvalidPartNumber)
            .header("content-range", format!("bytes */{}", meta.size))
    };
    if meta.parts.is_empty() {
        return if n == 1 {
            Ok(None)
        } else {
            Err(unsatisfiable())
        };
    }
    if n > meta.parts.len() {
        return Err(unsatisfiable());
    }
    let start: u64 = meta.parts[..n - 1].iter().sum();
    let size = meta.parts[n - 1];
    if size == 0 {
        return Ok(None);
    }
    Ok(Some((start, start + size - 1)))
}

/// The checksum of what a GET returns: the object's for the whole object, a part's for
/// `partNumber` of a multipart object with part checksums, none for other ranges.
fn read_checksum(
    meta: &ObjectMeta,
    range: Option<(u64, u64)>,
    read: &ReadObject,
) -> S3Result<Option<StoredChecksum>> {
    let Some(c) = &meta.checksum else {
        return Ok(None);
    };
    match (range, read.part_number.as_deref()) {
        (None, _) => Ok(Some(c.clone())),
        (Some(_), Some(part)) => {
            let n = parse_part_number(part)? as usize;
            Ok(c.parts.get(n - 1).map(|value| StoredChecksum {
                algorithm: c.algorithm.clone(),
                value: value.clone(),
                parts: Vec::new(),
            }))
        }
        (Some(_), None) => Ok(None),
    }
}

/// Without s3:ListBucket a caller may not learn which keys exist: a missing key is
/// AccessDenied for it, as on AWS.
pub(super) fn hide_missing_key(ctx: &Ctx, req: &S3Request, bucket: &str, err: S3Error) -> S3Error {
    if err.code == S3Code::NoSuchKey
        && req
            .authz
            .check(
                ctx,
                Some(bucket),
                "s3:ListBucket",
                &crate::s3::authorize::bucket_arn(bucket),
            )
            .is_err()
    {
        return S3Error::new(S3Code::AccessDenied);
    }
    err
}

pub async fn get_object(
    ctx: &Ctx,
    req: S3Request,
    read: ReadObject,
    head: bool,
) -> S3Result<S3Response> {
    if req.authz.enabled && req.authz.principal.is_none() && !read.response_headers.is_empty() {
        return Err(S3Error::msg(
            S3Code::InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    sse::refuse_method_on_read(&req)?;
    let customer = sse::customer(ctx, &req, sse::CUSTOMER, sse::KeyUse::Read)?;
    let (meta, data) = open_requested(ctx, &read, head, customer.as_ref().map(|c| &c.key))
        .await
        .map_err(|e| hide_missing_key(ctx, &req, &read.bucket, e))?;
    let action = match read.version_id {
        Some(_) => "s3:GetObjectVersion",
        None => "s3:GetObject",
    };
    req.authz.check_opened(ctx, &read.bucket, &meta, action)?;
    Conditions::from(&req.headers, &CONDITIONS).check(&meta, S3Code::NotModified)?;
    let range = match (req.header("range"), read.part_number.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(S3Error::msg(
                S3Code::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        (Some(value), None) => parse_range(value, meta.size)?,
        (None, Some(part)) => part_range(&meta, part)?,
        (None, None) => None,
    };
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, meta.size),
    };
    let body: ResBody = if head || len == 0 {
        crate::s3::response::empty_body()
    } else {
        stream_body(started(data.stream(start, len)).await?)
    };
    let mut res = http::Response::new(body);
    *res.status_mut() = status;
    set_object_headers(res.headers_mut(), &meta);
    for (name, value) in &read.response_headers {
        set_header(&mut res, name, value);
    }
    res.headers_mut()
        .insert(http::header::CONTENT_LENGTH, len.into());
    if let Some((start, end)) = range {
        set_header(
            &mut res,
            "content-range",
            &format!("bytes {start}-{end}/{}", meta.size),
        );
    }
    if checksum_mode(&req) {
        set_checksum_header(&mut res, read_checksum(&meta, range, &read)?.as_ref());
    }
    if !meta.parts.is_empty() && read.part_number.is_some() {
        set_header(
            &mut res,
            "x-amz-mp-parts-count",
            &meta.parts.len().to_string(),
        );
    }
    set_version_header(&mut res, meta.version_id.as_deref());
    lock::set_lock_headers(ctx, &req, &read.bucket, &meta, &mut res);
    if read.version_id.is_none() {
        super::set_expiration_header(ctx, &mut res, &meta);
    }
    let md5 = customer.as_ref().map(|c| c.md5.as_str());
    sse::echo(ctx, &mut res, meta.encryption.as_ref(), md5);
    Ok(res)
}

/// `If-Match` on a delete: an ETag, or `*` for "exists" (the current object, as on AWS).
fn delete_precondition(etag: Option<&str>) -> Option<Precondition> {
    etag.map(|e| Precondition::IfMatch(e.to_string()))
}

pub async fn delete_object(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    key: String,
    version_id: Option<String>,
) -> S3Result<S3Response> {
    let deletion = Deletion {
        guard: lock::deletion_guard(ctx, &req, &bucket, &key),
        key,
        version_id,
        precondition: delete_precondition(req.header("if-match")),
        reason: None,
    };
    let outcome = ctx.store.delete_object(&bucket, deletion).await?;
    let mut res = empty(StatusCode::NO_CONTENT);
    set_version_header(&mut res, outcome.version_id.as_deref());
    if outcome.delete_marker {
        set_header(&mut res, "x-amz-delete-marker", "true");
    }
    Ok(res)
}

pub async fn delete_objects(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let body = req.body.read_small(MAX_LIST_XML_BODY).await?;
    let request = xml::parse_delete(&body)?;
    if request.objects.is_empty() || request.objects.len() > 1000 {
        return Err(S3Error::msg(
            S3Code::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        ));
    }
    let quiet = request.quiet;
    // Each key is authorized on its own (with its own tags), as AWS does.
    let mut checked = Vec::with_capacity(request.objects.len());
    for o in request.objects {
        let action = if o.version_id.is_some() {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        };
        let check = if o.key.is_empty() || o.key.len() > MAX_KEY_BYTES {
            Err(S3Error::new(if o.key.is_empty() {
                S3Code::InvalidArgument
            } else {
                S3Code::KeyTooLongError
            }))
        } else {
            req.authz
                .check_object(ctx, &bucket, &o.key, o.version_id.as_deref(), action)
                .await
        };
        checked.push((o.key, o.version_id, o.etag, check));
    }
    let allowed = checked
        .iter()
        .filter(|(.., check)| check.is_ok())
        .map(|(key, version_id, etag, _)| Deletion {
            key: key.clone(),
            version_id: version_id.clone(),
            precondition: delete_precondition(etag.as_deref()),
            guard: lock::deletion_guard(ctx, &req, &bucket, key),
            reason: None,
        })
        .collect();
    let mut deleted = ctx
        .store
        .delete_objects(&bucket, allowed)
        .await?
        .into_iter();
    let results = checked.into_iter().map(|(key, version, _, check)| {
        let result = check.and_then(|_| match deleted.next() {
            Some(result) => result.map_err(S3Error::from),
            None => Err(S3Error::internal("a deletion went missing")),
        });
        (key, version, result)
    });
    let entries = results
        .into_iter()
        .filter_map(|(key, version, result)| match result {
            Ok(_) if quiet => None,
            Ok(outcome) => Some(dto::DeleteEntry::Deleted(dto::Deleted {
                key: key.into(),
                version_id: version,
                delete_marker: outcome.delete_marker.then_some(true),
                delete_marker_version_id: outcome.version_id.filter(|_| outcome.delete_marker),
            })),
            Err(e) => Some(dto::DeleteEntry::Error(dto::DeleteError {
                key: key.into(),
                version_id: version.map(Into::into),
                code: e.code.as_str(),
                message: e.message.into(),
            })),
        })
        .collect();
    Ok(ok_xml(dto::to_xml(&dto::DeleteResult {
        xmlns: dto::NS,
        entries,
    })))
}

pub async fn copy_object(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    key: String,
) -> S3Result<S3Response> {
    let source = authorized_copy_source(ctx, &req).await?;
    check_tagging_header(ctx, &req, &bucket, &key).await?;
    let replace = match req.header("x-amz-metadata-directive").map(str::trim) {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(
                "Unknown metadata directive.",
                "x-amz-metadata-directive",
                other,
            ));
        }
    };
    let changes_something = replace
        || req.header("x-amz-tagging-directive") == Some("REPLACE")
        || req.header("x-amz-storage-class").is_some()
        || sse::names_encryption(&req);
    if source.bucket == bucket
        && source.key == key
        && source.version_id.is_none()
        && !changes_something
    {
        return Err(S3Error::msg(
            S3Code::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let replace_tags = match req.header("x-amz-tagging-directive").map(str::trim) {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(
                "Unknown tagging directive.",
                "x-amz-tagging-directive",
                other,
            ));
        }
    };
    let new_attrs = object_attrs(&req.headers)?;
    let attrs = if replace {
        Some(new_attrs.clone())
    } else {
        None
    };
    let headers = req.headers.clone();
    let tags = replace_tags.then_some(new_attrs.tags);
    let acl = new_object_acl(ctx, &req, &bucket)?;
    // A copy gets the destination's lock (its headers, else the bucket's default),
    // never the source's.
    let new_lock = lock::new_version_lock(ctx, &req, &bucket, &key)?;
    let precondition = conditional_write(ctx, &req, &bucket, &key).await?;
    let (seal, customer) = sse::seal_for_write(ctx, &req, &bucket)?;
    let source_key = sse::customer(
        ctx,
        &req,
        sse::COPY_SOURCE_CUSTOMER,
        sse::KeyUse::CopySource,
    )?
    .map(|c| c.key);
    let mut plan = copy_checksum::Plan::new(crate::s3::checksum::algorithm_header(&req.headers)?);
    let mut hashed = 0;
    let meta = loop {
        let (headers, decide) = (headers.clone(), plan.clone());
        let check = move |m: &ObjectMeta| {
            Conditions::from(&headers, &COPY_SOURCE_CONDITIONS)
                .check(m, S3Code::PreconditionFailed)
                .map_err(Error::from)?;
            decide.decide(m)
        };
        let copy = CopyObject {
            source: source.clone(),
            bucket: bucket.clone(),
            key: key.clone(),
            attrs: attrs.clone(),
            tags: tags.clone(),
            acl: acl.clone(),
            lock: new_lock.clone(),
            check: Box::new(check),
            precondition: precondition.clone(),
            seal: seal.clone(),
            source_key: source_key.clone(),
        };
        match ctx.store.copy_object(copy).await {
            Err(e) if copy_checksum::Plan::needs_hash(&e) && hashed < 3 => {
                hashed += 1;
                plan.hash_source(ctx, &source, source_key.as_ref()).await?;
            }
            result => break result.map_err(sse::copy_source_error)?,
        }
    };
    let mut res = ok_xml(dto::to_xml_rooted(
        "CopyObjectResult",
        &dto::CopyObjectResult {
            xmlns: dto::NS,
            last_modified: iso8601(meta.last_modified),
            etag: meta.etag.clone(),
            checksum: super::checksum_fields(meta.checksum.as_ref()),
        },
    ));
    set_version_header(&mut res, meta.version_id.as_deref());
    super::set_expiration_header(ctx, &mut res, &meta);
    if let Some(v) = &meta.source_version_id {
        set_header(&mut res, "x-amz-copy-source-version-id", v);
    }
    let md5 = customer.as_ref().map(|c| c.md5.as_str());
    sse::echo(ctx, &mut res, meta.encryption.as_ref(), md5);
    sse::echo_context(&mut res, meta.encryption.as_ref());
    Ok(res)
}

/// Changes the tags of the current object, or of the version named by `versionId`.
async fn change_tags(
    ctx: &Ctx,
    bucket: String,
    key: String,
    version: Option<String>,
    change: impl Fn(&mut ObjectMeta) + Send + Sync + 'static,
) -> S3Result<ObjectMeta> {
    let change = move |m: &mut ObjectMeta| {
        change(m);
        Ok(())
    };
    Ok(ctx
        .store
        .update_object(&bucket, &key, version.as_deref(), Box::new(change))
        .await?)
}

pub async fn put_tagging(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
    key: String,
    version: Option<String>,
) -> S3Result<S3Response> {
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let tags = crate::s3::tagging::from_xml(&body)?;
    req.authz
        .check_body_tags(ctx, &bucket, &key, version.as_deref(), &tags)
        .await?;
    let meta = change_tags(ctx, bucket, key, version, move |m| m.tags = tags.clone()).await?;
    let mut res = empty(StatusCode::OK);
    set_version_header(&mut res, meta.version_id.as_deref());
    Ok(res)
}

pub async fn get_tagging(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
    key: String,
    version: Option<String>,
) -> S3Result<S3Response> {
    let meta = ctx
        .store
        .head_object(&bucket, &key, version.as_deref())
        .await?;
    let mut res = ok_xml(crate::s3::tagging::to_xml(&meta.tags));
    set_version_header(&mut res, meta.version_id.as_deref());
    Ok(res)
}

pub async fn delete_tagging(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
    key: String,
    version: Option<String>,
) -> S3Result<S3Response> {
    let meta = change_tags(ctx, bucket, key, version, |m| m.tags.clear()).await?;
    let mut res = empty(StatusCode::NO_CONTENT);
    set_version_header(&mut res, meta.version_id.as_deref());
    Ok(res)
}
