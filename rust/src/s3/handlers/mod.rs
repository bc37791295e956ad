//! Thin handlers, one file per operation family: parse the request, call the store,
//! build the response.

pub mod bucket;
pub mod bucket_config;
pub mod list;
pub mod multipart;
pub mod object;

use super::error::{S3Code, S3Error, S3Result};
use super::xml::XmlWriter;
use super::{Ctx, S3Request};
use super::response::{set_header, S3Response};
use crate::storage::meta::StoredChecksum;
use crate::storage::writer::TempData;

pub const OWNER_ID: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
pub const OWNER_NAME: &str = "smartstorage";
/// AWS's limit for a single PUT (and for one part).
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Upper bound for XML request bodies (a 1000-key DeleteObjects fits easily).
pub const MAX_XML_BODY: usize = 4 * 1024 * 1024;

pub fn write_owner(w: &mut XmlWriter, element: &str) {
    w.open(element).elem("ID", OWNER_ID).elem("DisplayName", OWNER_NAME).close(element);
}

/// The declared body size: decoded length for aws-chunked bodies, else Content-Length.
fn declared_size(req: &S3Request) -> S3Result<Option<u64>> {
    let name = if super::body::is_aws_chunked(&req.headers) { "x-amz-decoded-content-length" } else { "content-length" };
    match req.header(name) {
        Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| S3Error::invalid_argument(format!("Invalid {name}"), name, v)),
        None if req.headers.contains_key("transfer-encoding") => Ok(None),
        None => Err(S3Error::new(S3Code::MissingContentLength)),
    }
}

/// Streams the request body into a temporary file, checking its size and Content-MD5.
/// Nothing becomes visible here: the caller publishes the result or drops it.
pub async fn body_to_temp(ctx: &Ctx, req: &mut S3Request) -> S3Result<TempData> {
    let declared = declared_size(req)?;
    if declared.is_some_and(|size| size > MAX_PUT_SIZE) {
        return Err(S3Error::new(S3Code::EntityTooLarge)
            .detail("ProposedSize", declared.unwrap_or_default().to_string())
            .detail("MaxSizeAllowed", MAX_PUT_SIZE.to_string()));
    }
    let mut writer = ctx.store.begin_write();
    while let Some(chunk) = req.body.next().await? {
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
    Ok(data)
}

/// The verified checksum of a body that has been read, in storable form.
pub fn body_checksum(req: &S3Request) -> Option<StoredChecksum> {
    req.body.checksum_value.as_ref().map(|(a, v)| StoredChecksum { algorithm: a.name().to_string(), value: v.clone() })
}

/// `x-amz-version-id` on responses about a versioned object.
pub fn set_version_header(res: &mut S3Response, version_id: Option<&str>) {
    if let Some(v) = version_id {
        set_header(res, "x-amz-version-id", v);
    }
}

pub fn set_checksum_header(res: &mut S3Response, checksum: Option<&StoredChecksum>) {
    if let Some(c) = checksum {
        set_header(res, &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()), &c.value);
        set_header(res, "x-amz-checksum-type", if c.value.contains('-') { "COMPOSITE" } else { "FULL_OBJECT" });
    }
}

/// The source of a copy: bucket, key and optional version.
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
}

/// Parses `x-amz-copy-source` (`bucket/key[?versionId=..]` or `/bucket/key`, URL-encoded).
pub fn copy_source(req: &S3Request) -> S3Result<CopySource> {
    let raw = req.header("x-amz-copy-source").unwrap_or_default();
    let invalid = || S3Error::invalid_argument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey", "x-amz-copy-source", raw);
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v.to_string())),
        None => (raw, None),
    };
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(CopySource { bucket: bucket.to_string(), key: key.to_string(), version }),
        _ => Err(invalid()),
    }
}
