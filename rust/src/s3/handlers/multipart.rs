//! Multipart uploads.

use http::StatusCode;

use super::access::{new_object_acl, object_owner};
use super::list::{encode_key, parse_max, url_encoding};
use super::{
    MAX_LIST_XML_BODY, MAX_PUT_SIZE, authorized_copy_source, body_checksum, check_tagging_header,
    checksum_fields, receive_body,
};
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::headers::{Conditions, iso8601, object_attrs};
use crate::s3::response::{S3Response, empty, ok_xml, set_header};
use crate::s3::{Ctx, S3Request};
use crate::s3::{checksum, multipart_checksum, sse};
use crate::s3::{dto, xml};
use crate::storage::Error;
use crate::storage::interface::{
    BodyOf, CompleteUpload, CopyKeys, ObjectMeta, PartCopy, PartInfo, UploadInfo, UploadRef,
};

pub async fn create(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    key: String,
) -> S3Result<S3Response> {
    check_tagging_header(ctx, &req, &bucket, &key).await?;
    let mut attrs = object_attrs(&req.headers)?;
    attrs.acl = new_object_acl(ctx, &req, &bucket)?;
    // The upload carries the lock to the object it completes.
    attrs.lock = super::lock::new_version_lock(ctx, &req, &bucket, &key)?;
    let checksum = multipart_checksum::requested(&req.headers)?;
    let (seal, customer) = sse::seal_for_write(ctx, &req, &bucket)?;
    let info = ctx
        .store
        .create_upload(&bucket, &key, attrs, checksum, seal)
        .await?;
    let sealed = info.attrs.encryption.clone();
    let mut res = ok_xml(dto::to_xml(&dto::InitiateMultipartUploadResult {
        xmlns: dto::NS,
        bucket: info.bucket.into(),
        key: info.key.into(),
        upload_id: info.upload_id,
    }));
    sse::echo(
        ctx,
        &mut res,
        sealed.as_ref(),
        customer.as_ref().map(|c| c.md5.as_str()),
    );
    sse::echo_context(&mut res, sealed.as_ref());
    if let (Some(a), Some(t)) = (&info.checksum_algorithm, &info.checksum_type) {
        set_header(&mut res, "x-amz-checksum-algorithm", a);
        set_header(&mut res, "x-amz-checksum-type", t);
    }
    Ok(res)
}

pub async fn upload_part(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
    key: String,
    id: String,
    number: u32,
) -> S3Result<S3Response> {
    let upload = UploadRef {
        bucket,
        key,
        upload_id: id,
    };
    // The upload decides which checksum its parts carry, before the body is read.
    let info = ctx.store.upload_info(&upload).await?;
    let algorithm = multipart_checksum::part_algorithm(&info, req.body.checksum_algorithm())?;
    req.body.compute_checksum_by_default(algorithm);
    let customer = sse::customer(ctx, &req, sse::CUSTOMER, sse::KeyUse::Write)?;
    let key = customer.as_ref().map(|c| c.key.clone());
    let body_of = BodyOf::Part(&upload, key.as_ref());
    let payload = receive_body(ctx, &mut req, body_of, || async { Ok(()) }).await?;
    let checksum = body_checksum(&req);
    let part = ctx
        .store
        .put_part(&upload, number, payload, checksum.clone(), key)
        .await?;
    let mut res = empty(StatusCode::OK);
    set_header(&mut res, "etag", &part.etag);
    let md5 = customer.as_ref().map(|c| c.md5.as_str());
    sse::echo(ctx, &mut res, info.attrs.encryption.as_ref(), md5);
    if let Some(c) = &checksum {
        set_header(
            &mut res,
            &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
            &c.value,
        );
    }
    Ok(res)
}

/// `bytes=first-last` of `x-amz-copy-source-range`, checked against the source size.
fn copy_range(value: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(value) = value else {
        return Ok((0, size));
    };
    let invalid = || {
        S3Error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            value,
        )
    };
    let (first, last) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let (first, last) = (
        first.parse::<u64>().map_err(|_| invalid())?,
        last.parse::<u64>().map_err(|_| invalid())?,
    );
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(S3Error::invalid_argument(
            format!("Range specified is not valid for source object of size: {size}"),
            "x-amz-copy-source-range",
            value,
        ));
    }
    Ok((first, last - first + 1))
}

pub async fn upload_part_copy(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    key: String,
    id: String,
    number: u32,
) -> S3Result<S3Response> {
    let source = authorized_copy_source(ctx, &req).await?;
    let upload = UploadRef {
        bucket,
        key,
        upload_id: id,
    };
    // The copied part carries the upload's checksum, as an uploaded one does.
    let info = ctx.store.upload_info(&upload).await?;
    let algorithm = multipart_checksum::part_algorithm(&info, None)?;
    let part_customer = sse::customer(ctx, &req, sse::CUSTOMER, sse::KeyUse::Write)?;
    let source_customer = sse::customer(
        ctx,
        &req,
        sse::COPY_SOURCE_CUSTOMER,
        sse::KeyUse::CopySource,
    )?;
    let keys = CopyKeys {
        source: source_customer.map(|c| c.key),
        part: part_customer.as_ref().map(|c| c.key.clone()),
    };
    let headers = req.headers.clone();
    let check = move |meta: &ObjectMeta| -> S3Result<PartCopy> {
        Conditions::from(&headers, &crate::s3::headers::COPY_SOURCE_CONDITIONS)
            .check(meta, S3Code::PreconditionFailed)?;
        let (offset, len) = copy_range(
            crate::s3::headers::header(&headers, "x-amz-copy-source-range"),
            meta.size,
        )?;
        if len > MAX_PUT_SIZE {
            return Err(S3Error::new(S3Code::EntityTooLarge));
        }
        Ok(PartCopy {
            offset,
            len,
            digest: Some(Box::new(checksum::Hasher::new(algorithm))),
        })
    };
    let part = ctx
        .store
        .copy_part(
            &upload,
            number,
            source,
            Box::new(move |meta| check(meta).map_err(Error::from)),
            keys,
        )
        .await
        .map_err(sse::copy_source_error)?;
    let doc = dto::CopyPartResult {
        xmlns: dto::NS,
        last_modified: iso8601(part.last_modified),
        etag: part.etag,
        checksum: part.checksum.as_ref().map_or_else(Default::default, |c| {
            dto::ChecksumFields::new(&c.algorithm, c.value.clone(), None)
        }),
    };
    let mut res = ok_xml(dto::to_xml_rooted("CopyPartResult", &doc));
    let md5 = part_customer.as_ref().map(|c| c.md5.as_str());
    sse::echo(ctx, &mut res, info.attrs.encryption.as_ref(), md5);
    Ok(res)
}

pub async fn complete(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
    key: String,
    id: String,
) -> S3Result<S3Response> {
    let upload = UploadRef {
        bucket,
        key,
        upload_id: id,
    };
    let info = ctx.store.upload_info(&upload).await?;
    let stated = multipart_checksum::stated(&req.headers, &info)?;
    // SSE-C headers are optional here; given, they must be the upload's key.
    let customer = sse::customer(ctx, &req, sse::CUSTOMER, sse::KeyUse::Complete)?;
    if let Some(c) = &customer {
        sse::check_upload_key(info.attrs.encryption.as_ref(), &c.key)?;
    }
    let body = req.body.read_small(MAX_LIST_XML_BODY).await?;
    let listed = xml::parse_complete(&body)?.parts;
    let parts: Vec<(u32, String)> = listed
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let precondition =
        super::object::conditional_write(ctx, &req, &upload.bucket, &upload.key).await?;
    let verify = move |info: &UploadInfo, chosen: &[PartInfo]| {
        multipart_checksum::object_checksum(info, &listed, chosen, stated.as_ref())
            .map_err(Error::from)
    };
    let (bucket, key) = (upload.bucket.clone(), upload.key.clone());
    let meta = ctx
        .store
        .complete_upload(CompleteUpload {
            upload,
            parts,
            precondition,
            verify: Box::new(verify),
        })
        .await?;
    let host = req.header("host").unwrap_or("localhost");
    let location = format!("http://{host}/{bucket}/{}", encode_key(&key, true));
    let doc = dto::CompleteMultipartUploadResult {
        xmlns: dto::NS,
        location: location.into(),
        bucket: bucket.into(),
        key: key.into(),
        etag: meta.etag.clone(),
        checksum: checksum_fields(meta.checksum.as_ref()),
    };
    let mut res = ok_xml(dto::to_xml_rooted("CompleteMultipartUploadResult", &doc));
    super::set_version_header(&mut res, meta.version_id.as_deref());
    super::set_expiration_header(ctx, &mut res, &meta);
    // AWS echoes no SSE-C headers here (the others, yes).
    sse::echo(ctx, &mut res, meta.encryption.as_ref(), None);
    Ok(res)
}

pub async fn abort(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
    key: String,
    id: String,
) -> S3Result<S3Response> {
    let upload = UploadRef {
        bucket,
        key,
        upload_id: id,
    };
    ctx.store.abort_upload(&upload).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn list_parts(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    key: String,
    id: String,
) -> S3Result<S3Response> {
    let max = parse_max(&req, "max-parts")?;
    let marker = match req.query.get("part-number-marker") {
        None | Some("") => 0,
        Some(v) => v.parse::<u32>().map_err(|_| {
            S3Error::invalid_argument("Invalid part number marker", "part-number-marker", v)
        })?,
    };
    let upload = UploadRef {
        bucket,
        key,
        upload_id: id,
    };
    let (info, parts) = ctx.store.list_parts(&upload).await?;
    let owner = object_owner(ctx, &upload.bucket, info.attrs.acl.as_ref());
    let UploadRef {
        bucket,
        key,
        upload_id: id,
    } = upload;
    let remaining: Vec<_> = parts
        .into_iter()
        .filter(|p| p.part_number > marker)
        .collect();
    let truncated = remaining.len() > max;
    let page = &remaining[..remaining.len().min(max)];
    let doc = dto::ListPartsResult {
        xmlns: dto::NS,
        bucket: bucket.into(),
        key: key.into(),
        upload_id: id,
        initiator: owner.clone(),
        owner,
        storage_class: "STANDARD",
        part_number_marker: marker,
        next_part_number_marker: page.last().map(|p| p.part_number),
        max_parts: max,
        is_truncated: truncated,
        part: page
            .iter()
            .map(|p| dto::Part {
                part_number: p.part_number,
                last_modified: iso8601(p.last_modified),
                etag: p.etag.clone(),
                size: p.size,
                checksum: p.checksum.as_ref().map_or_else(Default::default, |c| {
                    dto::ChecksumFields::new(&c.algorithm, c.value.clone(), None)
                }),
            })
            .collect(),
        checksum_algorithm: info.checksum_algorithm,
        checksum_type: info.checksum_type,
    };
    Ok(ok_xml(dto::to_xml(&doc)))
}

pub async fn list_uploads(ctx: &Ctx, req: S3Request, bucket: String) -> S3Result<S3Response> {
    let q = &req.query;
    let url = url_encoding(&req)?;
    let max = parse_max(&req, "max-uploads")?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let delimiter = q
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let key_marker = q.get("key-marker").unwrap_or_default().to_string();
    let id_marker = q.get("upload-id-marker").unwrap_or_default().to_string();
    let uploads = ctx.store.list_uploads(&bucket).await?;

    // Uploads after the markers, under the prefix; those past the delimiter roll up.
    let mut entries: Vec<Result<UploadInfo, String>> = Vec::new();
    // One key's uploads come in the order they were started, so the upload-id-marker is a
    // position in that order, not an id to compare with.
    let mut past_id_marker = false;
    for u in uploads.into_iter().filter(|u| u.key.starts_with(&prefix)) {
        let after =
            key_marker.is_empty() || u.key > key_marker || (u.key == key_marker && past_id_marker);
        if u.key == key_marker && !id_marker.is_empty() && u.upload_id == id_marker {
            past_id_marker = true;
        }
        if !after {
            continue;
        }
        let rolled = delimiter.as_ref().and_then(|d| {
            u.key[prefix.len()..]
                .find(d.as_str())
                .map(|i| u.key[..prefix.len() + i + d.len()].to_string())
        });
        match rolled {
            Some(cp) if matches!(entries.last(), Some(Err(last)) if *last == cp) => {}
            Some(cp) => entries.push(Err(cp)),
            None => entries.push(Ok(u)),
        }
    }
    let truncated = entries.len() > max;
    entries.truncate(max);
    let (next_key_marker, next_upload_id_marker) = match entries.last().filter(|_| truncated) {
        Some(Ok(u)) => (
            Some(encode_key(&u.key, url).into()),
            Some(u.upload_id.clone()),
        ),
        Some(Err(cp)) => (Some(encode_key(cp, url).into()), None),
        None => (None, None),
    };
    let doc = dto::ListMultipartUploadsResult {
        xmlns: dto::NS,
        bucket: bucket.as_str().into(),
        key_marker: encode_key(&key_marker, url).into(),
        upload_id_marker: id_marker.into(),
        next_key_marker,
        next_upload_id_marker,
        prefix: encode_key(&prefix, url).into(),
        delimiter: delimiter.map(Into::into),
        max_uploads: max,
        is_truncated: truncated,
        encoding_type: url.then_some("url"),
        upload: entries
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(|u| dto::Upload {
                key: encode_key(&u.key, url).into(),
                upload_id: u.upload_id.clone(),
                initiator: object_owner(ctx, &bucket, u.attrs.acl.as_ref()),
                owner: object_owner(ctx, &bucket, u.attrs.acl.as_ref()),
                storage_class: "STANDARD",
                initiated: iso8601(u.initiated),
                checksum_algorithm: u.checksum_algorithm.clone(),
                checksum_type: u.checksum_type.clone(),
            })
            .collect(),
        common_prefixes: entries
            .iter()
            .filter_map(|e| e.as_ref().err())
            .map(|cp| dto::CommonPrefix {
                prefix: encode_key(cp, url).into(),
            })
            .collect(),
    };
    Ok(ok_xml(dto::to_xml(&doc)))
}
