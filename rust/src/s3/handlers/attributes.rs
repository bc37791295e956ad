//! GetObjectAttributes: an object's ETag, checksum, parts, storage class and size in one
//! call, each only when `x-amz-object-attributes` asks for it.

use super::object::{hide_missing_key, open_requested};
use super::set_version_header;
use crate::s3::checksum::ChecksumType;
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::headers::http_date;
use crate::s3::response::{S3Response, ok_xml, set_header};
use crate::s3::router::ReadObject;
use crate::s3::{Ctx, S3Request, dto};
use crate::storage::interface::ObjectMeta;

const ATTRIBUTES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];

/// The attributes asked for; an unknown one is refused, none at all too.
fn requested(req: &S3Request) -> S3Result<Vec<&'static str>> {
    let mut wanted = Vec::new();
    for value in req.headers.get_all("x-amz-object-attributes") {
        let value = value.to_str().unwrap_or("\u{0}");
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let known = ATTRIBUTES.iter().find(|a| **a == name).ok_or_else(|| {
                S3Error::msg(S3Code::InvalidArgument, "Invalid attribute name specified.")
            })?;
            wanted.push(*known);
        }
    }
    if wanted.is_empty() {
        return Err(S3Error::msg(
            S3Code::InvalidRequest,
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        ));
    }
    Ok(wanted)
}

/// `x-amz-max-parts` (default 1000) and `x-amz-part-number-marker` (default 0).
fn parts_page(req: &S3Request) -> S3Result<(usize, u32)> {
    let max = match req.header("x-amz-max-parts").map(str::trim) {
        None => 1000,
        Some(v) => v.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            S3Error::invalid_argument(
                "Argument max-parts must be an integer between 0 and 2147483647",
                "max-parts",
                v,
            )
        })? as usize,
    };
    let marker = match req.header("x-amz-part-number-marker").map(str::trim) {
        None => 0,
        Some(v) => v.parse::<u32>().map_err(|_| {
            S3Error::invalid_argument(
                "Argument partNumberMarker must be an integer.",
                "part-number-marker",
                v,
            )
        })?,
    };
    Ok((max.min(1000), marker))
}

/// The parts after `marker`, a page of at most `max`. Their checksums are listed when
/// the object has part checksums, as AWS lists `Part` elements only then.
fn object_parts(meta: &ObjectMeta, max: usize, marker: u32) -> dto::ObjectParts {
    let checksum = meta
        .checksum
        .as_ref()
        .filter(|c| c.parts.len() == meta.parts.len());
    let after: Vec<(u32, u64)> = meta
        .parts
        .iter()
        .enumerate()
        .map(|(i, size)| (i as u32 + 1, *size))
        .filter(|(n, _)| *n > marker)
        .collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    dto::ObjectParts {
        parts_count: meta.parts.len(),
        part_number_marker: marker,
        next_part_number_marker: page.last().map(|(n, _)| *n).filter(|_| truncated),
        max_parts: max,
        is_truncated: truncated,
        part: checksum
            .map(|c| {
                page.iter()
                    .map(|(n, size)| dto::ObjectPart {
                        part_number: *n,
                        size: *size,
                        checksum: dto::ChecksumFields::new(
                            &c.algorithm,
                            c.parts[*n as usize - 1].clone(),
                            None,
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

pub async fn get_object_attributes(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    key: String,
    version_id: Option<String>,
) -> S3Result<S3Response> {
    let wanted = requested(&req)?;
    let (max_parts, marker) = parts_page(&req)?;
    let read = ReadObject {
        bucket,
        key,
        version_id,
        part_number: None,
        response_headers: Vec::new(),
    };
    let customer = crate::s3::sse::customer(
        ctx,
        &req,
        crate::s3::sse::CUSTOMER,
        crate::s3::sse::KeyUse::Read,
    )?;
    let (meta, _) = open_requested(ctx, &read, true, customer.as_ref().map(|c| &c.key))
        .await
        .map_err(|e| hide_missing_key(ctx, &req, &read.bucket, e))?;
    let has = |name: &str| wanted.contains(&name);
    let doc = dto::GetObjectAttributesResponse {
        xmlns: dto::NS,
        etag: has("ETag").then(|| meta.etag_value().to_string()),
        checksum: meta.checksum.as_ref().filter(|_| has("Checksum")).map(|c| {
            let kind = ChecksumType::of_value(&c.value).name();
            dto::ChecksumFields::new(&c.algorithm, c.value.clone(), Some(kind))
        }),
        object_parts: (has("ObjectParts") && !meta.parts.is_empty())
            .then(|| object_parts(&meta, max_parts, marker)),
        storage_class: has("StorageClass").then_some("STANDARD"),
        object_size: has("ObjectSize").then_some(meta.size),
    };
    let mut res = ok_xml(dto::to_xml(&doc));
    set_header(
        &mut res,
        "last-modified",
        &http_date(meta.last_modified_time()),
    );
    set_version_header(&mut res, meta.version_id.as_deref());
    Ok(res)
}
