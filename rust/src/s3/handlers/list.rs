//! ListObjects (v1) and ListObjectsV2.

use base64::Engine;

use super::write_owner;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::headers::iso8601;
use crate::s3::response::{ok_xml, S3Response};
use crate::s3::xml::XmlWriter;
use crate::s3::{Ctx, S3Request};
use crate::storage::list::{Item, ListQuery};

const MAX_KEYS: usize = 1000;

/// `max-keys`, `max-uploads`, `max-parts`: a non-negative integer, capped at 1000.
pub fn parse_max(req: &S3Request, name: &str) -> S3Result<usize> {
    match req.route.query.get(name) {
        None => Ok(MAX_KEYS),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(MAX_KEYS))
            .ok_or_else(|| S3Error::invalid_argument("Provided max-keys not an integer or within integer range", name, v)),
    }
}

/// `encoding-type=url` asks for keys URL-encoded in the response (for keys XML cannot carry).
pub fn url_encoding(req: &S3Request) -> S3Result<bool> {
    match req.route.query.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(v) => Err(S3Error::invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", v)),
    }
}

/// Encodes like AWS: everything but unreserved characters and `/`.
pub fn encode_key(key: &str, url: bool) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
    if url { percent_encoding::utf8_percent_encode(key, SET).to_string() } else { key.to_string() }
}

fn encode_token(item: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(item)
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect", "continuation-token", token))
}

pub async fn list_objects(ctx: &Ctx, req: S3Request, v2: bool) -> S3Result<S3Response> {
    let q = &req.route.query;
    let url = url_encoding(&req)?;
    let max = parse_max(&req, "max-keys")?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string);
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
    let query = ListQuery { prefix: prefix.clone(), delimiter: delimiter.clone(), after, max };
    let bucket = req.bucket().to_string();
    let b = bucket.clone();
    let page = ctx.store.blocking(move |s| s.list_objects(&b, &query)).await?;

    let root = "ListBucketResult";
    let mut w = XmlWriter::new(root);
    w.elem("Name", &bucket).elem("Prefix", encode_key(&prefix, url));
    let last = page.items.last().map(|i| i.name().to_string());
    if v2 {
        w.opt_elem("ContinuationToken", token.as_deref());
        w.opt_elem("StartAfter", start_after.as_deref().map(|s| encode_key(s, url)));
        w.elem("KeyCount", page.items.len().to_string());
        if page.truncated {
            w.opt_elem("NextContinuationToken", last.as_deref().map(encode_token));
        }
    } else {
        w.elem("Marker", encode_key(marker.as_deref().unwrap_or_default(), url));
        if page.truncated {
            w.opt_elem("NextMarker", last.as_deref().map(|l| encode_key(l, url)));
        }
    }
    w.elem("MaxKeys", max.to_string());
    w.opt_elem("Delimiter", delimiter.as_deref().map(|d| encode_key(d, url)));
    w.elem("IsTruncated", page.truncated.to_string());
    if url {
        w.elem("EncodingType", "url");
    }
    let fetch_owner = !v2 || q.get("fetch-owner") == Some("true");
    for item in &page.items {
        if let Item::Object(meta) = item {
            w.open("Contents")
                .elem("Key", encode_key(&meta.key, url))
                .elem("LastModified", iso8601(meta.last_modified))
                .elem("ETag", &meta.etag)
                .elem("Size", meta.size.to_string())
                .elem("StorageClass", "STANDARD");
            if fetch_owner {
                write_owner(&mut w, "Owner");
            }
            w.close("Contents");
        }
    }
    for item in &page.items {
        if let Item::Prefix(p) = item {
            w.open("CommonPrefixes").elem("Prefix", encode_key(p, url)).close("CommonPrefixes");
        }
    }
    Ok(ok_xml(w.finish(root)))
}

/// ListObjectVersions; on a bucket that never had versioning every object is version "null".
pub async fn list_object_versions(ctx: &Ctx, req: S3Request) -> S3Result<S3Response> {
    let q = &req.route.query;
    let url = url_encoding(&req)?;
    let max = parse_max(&req, "max-keys")?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string);
    let key_marker = q.get("key-marker").unwrap_or_default().to_string();
    let version_marker = q.get("version-id-marker").unwrap_or_default().to_string();
    if !version_marker.is_empty() && key_marker.is_empty() {
        return Err(S3Error::invalid_argument("A version-id marker cannot be specified without a key marker.", "version-id-marker", &version_marker));
    }
    if !version_marker.is_empty() && !crate::storage::versions::valid_version_id(&version_marker) {
        return Err(crate::storage::versions::invalid_version_id(&version_marker));
    }
    let bucket = req.bucket().to_string();
    let (b, p, d, km, vm) = (bucket.clone(), prefix.clone(), delimiter.clone(), key_marker.clone(), version_marker.clone());
    let page = ctx
        .store
        .blocking(move |s| s.list_versions(&b, &p, d.as_deref(), Some(km.as_str()).filter(|k| !k.is_empty()), Some(vm.as_str()).filter(|v| !v.is_empty()), max))
        .await?;
    let root = "ListVersionsResult";
    let mut w = XmlWriter::new(root);
    w.elem("Name", &bucket)
        .elem("Prefix", encode_key(&prefix, url))
        .elem("KeyMarker", encode_key(&key_marker, url))
        .elem("VersionIdMarker", &version_marker);
    if page.truncated {
        match page.items.last() {
            Some(Ok(v)) => {
                w.elem("NextKeyMarker", encode_key(&v.meta.key, url)).elem("NextVersionIdMarker", v.meta.version_id.as_deref().unwrap_or("null"));
            }
            Some(Err(cp)) => {
                w.elem("NextKeyMarker", encode_key(cp, url));
            }
            None => {}
        }
    }
    w.elem("MaxKeys", max.to_string());
    w.opt_elem("Delimiter", delimiter.as_deref().map(|d| encode_key(d, url)));
    w.elem("IsTruncated", page.truncated.to_string());
    if url {
        w.elem("EncodingType", "url");
    }
    for item in &page.items {
        let Ok(v) = item else { continue };
        let m = &v.meta;
        let element = if m.delete_marker { "DeleteMarker" } else { "Version" };
        w.open(element)
            .elem("Key", encode_key(&m.key, url))
            .elem("VersionId", m.version_id.as_deref().unwrap_or("null"))
            .elem("IsLatest", v.is_latest.to_string())
            .elem("LastModified", iso8601(m.last_modified));
        if !m.delete_marker {
            w.elem("ETag", &m.etag).elem("Size", m.size.to_string()).elem("StorageClass", "STANDARD");
        }
        write_owner(&mut w, "Owner");
        w.close(element);
    }
    for item in &page.items {
        if let Err(cp) = item {
            w.open("CommonPrefixes").elem("Prefix", encode_key(cp, url)).close("CommonPrefixes");
        }
    }
    Ok(ok_xml(w.finish(root)))
}
