//! ListObjects (v1) and ListObjectsV2.

use base64::Engine;

use super::access::object_owner;
use crate::s3::dto;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::headers::iso8601;
use crate::s3::response::{S3Response, ok_xml};
use crate::s3::{Ctx, S3Request};
use crate::storage::interface::{Item, ListQuery, VersionQuery, valid_version_id};

const MAX_KEYS: usize = 1000;

/// `max-keys`, `max-uploads`, `max-parts`: a non-negative integer, capped at 1000.
pub fn parse_max(req: &S3Request, name: &str) -> S3Result<usize> {
    match req.query.get(name) {
        None => Ok(MAX_KEYS),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(MAX_KEYS))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                    name,
                    v,
                )
            }),
    }
}

/// `encoding-type=url` asks for keys URL-encoded in the response (for keys XML cannot carry).
pub fn url_encoding(req: &S3Request) -> S3Result<bool> {
    match req.query.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(v) => Err(S3Error::invalid_argument(
            "Invalid Encoding Method specified in Request",
            "encoding-type",
            v,
        )),
    }
}

/// Encodes like AWS: everything but unreserved characters and `/`.
pub fn encode_key(key: &str, url: bool) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    if url {
        percent_encoding::utf8_percent_encode(key, SET).to_string()
    } else {
        key.to_string()
    }
}

pub fn encode_token(item: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(item)
}

pub fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "The continuation token provided is incorrect",
                "continuation-token",
                token,
            )
        })
}

pub async fn list_objects(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
    v2: bool,
) -> S3Result<S3Response> {
    let q = &req.query;
    let url = url_encoding(&req)?;
    let max = parse_max(&req, "max-keys")?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let delimiter = q
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let token = q.get("continuation-token").map(str::to_string);
    let start_after = q.get("start-after").map(str::to_string);
    let marker = q.get("marker").map(str::to_string);
    let after = if v2 {
        match &token {
            Some(t) => Some(decode_token(t)?),
            None => start_after.clone(),
        }
    } else {
        marker.clone()
    };
    let query = ListQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        after,
        max,
    };
    let page = ctx.store.list_objects(&bucket, query).await?;

    let last = page
        .items
        .last()
        .map(|i| i.name().to_string())
        .filter(|_| page.truncated);
    let fetch_owner = !v2 || q.get("fetch-owner") == Some("true");
    let doc = dto::ListBucketResult {
        xmlns: dto::NS,
        name: bucket.as_str().into(),
        prefix: encode_key(&prefix, url).into(),
        marker: (!v2).then(|| encode_key(marker.as_deref().unwrap_or_default(), url).into()),
        next_marker: last
            .as_deref()
            .filter(|_| !v2)
            .map(|l| encode_key(l, url).into()),
        continuation_token: token.filter(|_| v2).map(Into::into),
        start_after: start_after
            .filter(|_| v2)
            .map(|s| encode_key(&s, url).into()),
        key_count: v2.then_some(page.items.len()),
        next_continuation_token: last.as_deref().filter(|_| v2).map(encode_token),
        max_keys: max,
        delimiter: delimiter.as_deref().map(|d| encode_key(d, url).into()),
        is_truncated: page.truncated,
        encoding_type: url.then_some("url"),
        contents: page
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Object(meta) => Some(dto::ObjectEntry {
                    key: encode_key(&meta.key, url).into(),
                    last_modified: iso8601(meta.last_modified),
                    etag: meta.etag.clone(),
                    size: meta.size,
                    storage_class: "STANDARD",
                    owner: fetch_owner.then(|| object_owner(ctx, &bucket, meta.acl.as_ref())),
                }),
                Item::Prefix(_) => None,
            })
            .collect(),
        common_prefixes: page
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Prefix(p) => Some(dto::CommonPrefix {
                    prefix: encode_key(p, url).into(),
                }),
                Item::Object(_) => None,
            })
            .collect(),
    };
    Ok(ok_xml(dto::to_xml(&doc)))
}

/// ListObjectVersions; on a bucket that never had versioning every object is version "null".
pub async fn list_object_versions(
    ctx: &Ctx,
    req: S3Request,
    bucket: String,
) -> S3Result<S3Response> {
    let q = &req.query;
    let url = url_encoding(&req)?;
    let max = parse_max(&req, "max-keys")?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let delimiter = q
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let key_marker = q.get("key-marker").unwrap_or_default().to_string();
    let version_marker = q.get("version-id-marker").unwrap_or_default().to_string();
    if !version_marker.is_empty() && key_marker.is_empty() {
        return Err(S3Error::invalid_argument(
            "A version-id marker cannot be specified without a key marker.",
            "version-id-marker",
            &version_marker,
        ));
    }
    if !version_marker.is_empty() && !valid_version_id(&version_marker) {
        return Err(crate::storage::Error::InvalidVersionId {
            version_id: version_marker,
        }
        .into());
    }
    let query = VersionQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        key_marker: Some(key_marker.clone()).filter(|k| !k.is_empty()),
        version_marker: Some(version_marker.clone()).filter(|v| !v.is_empty()),
        max,
    };
    let page = ctx.store.list_versions(&bucket, query).await?;
    let (next_key_marker, next_version_id_marker) =
        match page.items.last().filter(|_| page.truncated) {
            Some(Ok(v)) => (
                Some(encode_key(&v.meta.key, url).into()),
                Some(v.meta.version_id.clone().unwrap_or_else(|| "null".into())),
            ),
            Some(Err(cp)) => (Some(encode_key(cp, url).into()), None),
            None => (None, None),
        };
    let entries = page
        .items
        .iter()
        .filter_map(|item| item.as_ref().ok())
        .map(|v| {
            let m = &v.meta;
            let (key, version_id) = (
                encode_key(&m.key, url).into(),
                m.version_id.clone().unwrap_or_else(|| "null".into()),
            );
            let last_modified = iso8601(m.last_modified);
            if m.delete_marker {
                dto::VersionEntry::DeleteMarker(dto::DeleteMarkerInfo {
                    key,
                    version_id,
                    is_latest: v.is_latest,
                    last_modified,
                    owner: object_owner(ctx, &bucket, m.acl.as_ref()),
                })
            } else {
                let (etag, size) = (m.etag.clone(), m.size);
                dto::VersionEntry::Version(dto::VersionInfo {
                    key,
                    version_id,
                    is_latest: v.is_latest,
                    last_modified,
                    etag,
                    size,
                    storage_class: "STANDARD",
                    owner: object_owner(ctx, &bucket, m.acl.as_ref()),
                })
            }
        })
        .collect();
    let doc = dto::ListVersionsResult {
        xmlns: dto::NS,
        name: bucket.into(),
        prefix: encode_key(&prefix, url).into(),
        key_marker: encode_key(&key_marker, url).into(),
        version_id_marker: version_marker.into(),
        next_key_marker,
        next_version_id_marker,
        max_keys: max,
        delimiter: delimiter.as_deref().map(|d| encode_key(d, url).into()),
        is_truncated: page.truncated,
        encoding_type: url.then_some("url"),
        entries,
        common_prefixes: page
            .items
            .iter()
            .filter_map(|item| item.as_ref().err())
            .map(|cp| dto::CommonPrefix {
                prefix: encode_key(cp, url).into(),
            })
            .collect(),
    };
    Ok(ok_xml(dto::to_xml(&doc)))
}
