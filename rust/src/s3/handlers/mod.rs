//! Thin handlers, one file per operation family: parse the request, call the store,
//! build the response.

pub mod access;
pub mod attributes;
pub mod bucket;
pub mod bucket_config;
mod copy_checksum;
pub mod list;
pub mod lock;
pub mod multipart;
pub mod object;
pub mod post_object;

use super::error::{S3Code, S3Error, S3Result};
use super::response::{S3Response, set_header};
use super::{Ctx, S3Request};
use crate::storage::interface::{BodyOf, CopySource, ObjectMeta, Payload, StoredChecksum};

/// AWS's limit for a single PUT (and for one part).
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Upper bounds for XML request bodies, which are read into memory: bucket settings,
/// tagging and CORS (AWS's CORS limit) are small; a 1000-key DeleteObjects and a
/// 10,000-part CompleteMultipartUpload need more.
pub const MAX_XML_BODY: usize = 64 * 1024;
pub const MAX_LIST_XML_BODY: usize = 4 * 1024 * 1024;

/// Tags set while writing (`x-amz-tagging`) need s3:PutObjectTagging as well, as on AWS:
/// on the object being written, which its writer will own (no existing object asked).
pub async fn check_tagging_header(
    ctx: &Ctx,
    req: &S3Request,
    bucket: &str,
    key: &str,
) -> S3Result<()> {
    if req
        .header("x-amz-tagging")
        .is_some_and(|t| !t.trim().is_empty())
    {
        let resource = crate::s3::authorize::object_arn(bucket, key);
        req.authz
            .check(ctx, Some(bucket), "s3:PutObjectTagging", &resource)?;
    }
    Ok(())
}

/// The copy source of CopyObject/UploadPartCopy, once the caller may read it (the
/// `...Version` permission when a version is named, with that version's tags).
pub async fn authorized_copy_source(ctx: &Ctx, req: &S3Request) -> S3Result<CopySource> {
    let source = copy_source(req)?;
    let action = if source.version_id.is_some() {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    req.authz
        .check_object(
            ctx,
            &source.bucket,
            &source.key,
            source.version_id.as_deref(),
            action,
        )
        .await?;
    Ok(source)
}

/// The declared body size: decoded length for aws-chunked bodies, else Content-Length.
/// A form's file part has none: it is read to its end.
fn declared_size(req: &S3Request) -> S3Result<Option<u64>> {
    if req.body.is_part() {
        return Ok(None);
    }
    let name = if super::body::is_aws_chunked(&req.headers) {
        "x-amz-decoded-content-length"
    } else {
        "content-length"
    };
    match req.header(name) {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| S3Error::invalid_argument(format!("Invalid {name}"), name, v)),
        None if req.headers.contains_key("transfer-encoding") => Ok(None),
        None => Err(S3Error::new(S3Code::MissingContentLength)),
    }
}

/// Bodies up to this size are received into memory and written to disk in the same
/// blocking trip that publishes them: one thread hand-off per small PUT instead of three.
const SMALL_BODY: u64 = 128 * 1024;

/// Reads the request body whole and checks it (size, Content-MD5, payload hash,
/// checksum): small bodies into memory, larger ones staged by storage. Nothing becomes
/// visible until it is published. `precheck` (e.g. "the bucket exists") runs before a
/// large body is streamed to storage, so that a doomed upload is refused before it is
/// read, and takes precedence over a small body's own errors; publishing a small body
/// must check the same again.
pub async fn receive_body<F, Fut>(
    ctx: &Ctx,
    req: &mut S3Request,
    body_of: BodyOf<'_>,
    precheck: F,
) -> S3Result<Payload>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = crate::storage::Result<()>>,
{
    let declared = declared_size(req)?;
    if let Some(size) = declared.filter(|size| *size > MAX_PUT_SIZE) {
        return Err(too_large(size));
    }
    if let Some(size) = declared.filter(|size| *size <= SMALL_BODY) {
        return match read_small_body(req, size).await {
            Ok(received) => Ok(received),
            Err(e) => {
                precheck().await?;
                Err(e)
            }
        };
    }
    precheck().await?;
    let mut writer = ctx.store.body_writer(body_of).await?;
    while let Some(chunk) = req.body.next().await? {
        if declared.is_none() && req.body.received > MAX_PUT_SIZE {
            return Err(too_large(req.body.received));
        }
        if req.body.received > declared.unwrap_or(MAX_PUT_SIZE) {
            return Err(S3Error::new(S3Code::IncompleteBody));
        }
        writer.write(chunk).await?;
    }
    let data = writer.finish().await?;
    if declared.is_some_and(|size| size != data.size) {
        return Err(S3Error::new(S3Code::IncompleteBody));
    }
    req.body.check_md5(&data.md5)?;
    Ok(Payload::Staged(data))
}

fn too_large(size: u64) -> S3Error {
    S3Error::new(S3Code::EntityTooLarge)
        .detail("ProposedSize", size.to_string())
        .detail("MaxSizeAllowed", MAX_PUT_SIZE.to_string())
}

async fn read_small_body(req: &mut S3Request, declared: u64) -> S3Result<Payload> {
    let mut buf = bytes::BytesMut::with_capacity(declared as usize);
    while let Some(chunk) = req.body.next().await? {
        if req.body.received > declared {
            return Err(S3Error::new(S3Code::IncompleteBody));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != declared {
        return Err(S3Error::new(S3Code::IncompleteBody));
    }
    let md5: [u8; 16] = crate::md5::Md5::digest(&buf);
    req.body.check_md5(&md5)?;
    Ok(Payload::Bytes {
        bytes: buf.freeze(),
        md5,
    })
}

/// The verified checksum of a body that has been read, in storable form.
pub fn body_checksum(req: &S3Request) -> Option<StoredChecksum> {
    req.body
        .checksum_value
        .as_ref()
        .map(|(a, v)| StoredChecksum {
            algorithm: a.name().to_string(),
            value: v.clone(),
            parts: Vec::new(),
        })
}

/// `x-amz-checksum-mode: ENABLED`: the client wants stored checksums returned.
pub fn checksum_mode(req: &S3Request) -> bool {
    req.header("x-amz-checksum-mode")
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("ENABLED"))
}

/// A stored checksum as the `Checksum*` elements of a document, with its type.
pub fn checksum_fields(checksum: Option<&StoredChecksum>) -> super::dto::ChecksumFields {
    checksum.map_or_else(Default::default, |c| {
        let kind = crate::s3::checksum::ChecksumType::of_value(&c.value);
        super::dto::ChecksumFields::new(&c.algorithm, c.value.clone(), Some(kind.name()))
    })
}

/// `x-amz-version-id` on responses about a versioned object.
/// `x-amz-expiration`: when an Enabled lifecycle rule will expire this current object.
pub fn set_expiration_header(ctx: &Ctx, res: &mut S3Response, meta: &ObjectMeta) {
    let config = ctx.settings.lifecycle(&meta.bucket);
    if let Some(value) =
        crate::s3::lifecycle::expiration_header(config.as_deref(), meta, ctx.lifecycle_clock)
    {
        set_header(res, "x-amz-expiration", &value);
    }
}

pub fn set_version_header(res: &mut S3Response, version_id: Option<&str>) {
    if let Some(v) = version_id {
        set_header(res, "x-amz-version-id", v);
    }
}

pub fn set_checksum_header(res: &mut S3Response, checksum: Option<&StoredChecksum>) {
    if let Some(c) = checksum {
        set_header(
            res,
            &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
            &c.value,
        );
        set_header(
            res,
            "x-amz-checksum-type",
            crate::s3::checksum::ChecksumType::of_value(&c.value).name(),
        );
    }
}

/// Parses `x-amz-copy-source` (`bucket/key[?versionId=..]` or `/bucket/key`, URL-encoded).
pub fn copy_source(req: &S3Request) -> S3Result<CopySource> {
    let raw = req.header("x-amz-copy-source").unwrap_or_default();
    let invalid = || {
        S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            raw,
        )
    };
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v.to_string())),
        None => (raw, None),
    };
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(CopySource {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: version,
        }),
        _ => Err(invalid()),
    }
}
