//! HTTP header semantics S3 shares across handlers: stored object attributes,
//! conditional requests, ranges, dates.

use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{S3Code, S3Error, S3Result};
use crate::storage::interface::{NewObjectAttrs, ObjectMeta};

/// Standard headers stored with an object and returned on GET/HEAD.
pub const STORED_HEADERS: [&str; 6] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-amz-website-redirect-location",
];
const MAX_USER_METADATA: usize = 2048;
/// Storage classes accepted (all stored alike, on the local disk).
const STORAGE_CLASSES: [&str; 11] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The attributes a PUT, CopyObject(REPLACE) or CreateMultipartUpload request sets.
pub fn object_attrs(headers: &HeaderMap) -> S3Result<NewObjectAttrs> {
    let mut attrs = NewObjectAttrs {
        content_type: header(headers, "content-type").map(str::to_string),
        ..Default::default()
    };
    for name in STORED_HEADERS {
        if let Some(value) = header(headers, name) {
            let value = if name == "content-encoding" {
                strip_aws_chunked(value)
            } else {
                Some(value.to_string())
            };
            if let Some(value) = value {
                attrs.headers.insert(name.to_string(), value);
            }
        }
    }
    let mut size = 0;
    for (name, value) in headers {
        if let Some(meta_name) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = metadata_value(value.as_bytes());
            size += meta_name.len() + value.len();
            attrs.user_metadata.insert(meta_name.to_string(), value);
        }
    }
    if let Some(class) = header(headers, "x-amz-storage-class")
        && !STORAGE_CLASSES.contains(&class.trim())
    {
        return Err(
            S3Error::new(S3Code::InvalidStorageClass).detail("StorageClassRequested", class)
        );
    }
    if let Some(tagging) = header(headers, "x-amz-tagging") {
        attrs.tags = super::tagging::from_header(tagging)?;
    }
    if size > MAX_USER_METADATA {
        return Err(S3Error::new(S3Code::MetadataTooLarge)
            .detail("Size", size.to_string())
            .detail("MaxSizeAllowed", MAX_USER_METADATA.to_string()));
    }
    Ok(attrs)
}

/// A user metadata value as sent: UTF-8 text as is, other bytes read as ISO-8859-1
/// (as AWS reads them, and as clients that encode headers in Latin-1 send them).
/// RFC 2047 encoded words are ASCII and kept as sent.
fn metadata_value(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A stored metadata value as a header can carry it: printable ASCII as is, anything
/// else as one RFC 2047 encoded word of its UTF-8 (`=?UTF-8?B?...?=`), as AWS returns
/// non-ASCII metadata.
fn metadata_header_value(value: &str) -> String {
    use base64::Engine;
    if value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return value.to_string();
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    format!("=?UTF-8?B?{encoded}?=")
}

/// `aws-chunked` describes the transfer, not the object: it is never stored.
fn strip_aws_chunked(value: &str) -> Option<String> {
    let rest: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "aws-chunked")
        .collect();
    (!rest.is_empty()).then(|| rest.join(", "))
}

/// Headers describing a stored object, as sent on GET and HEAD.
pub fn set_object_headers(out: &mut HeaderMap, meta: &ObjectMeta) {
    use http::header::{ACCEPT_RANGES, CONTENT_TYPE, ETAG, LAST_MODIFIED};
    const TAGGING_COUNT: HeaderName = HeaderName::from_static("x-amz-tagging-count");
    // A value that is no valid header value is left out, as `set_header` does.
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    };
    set(ETAG, &meta.etag);
    set(LAST_MODIFIED, &http_date(meta.last_modified_time()));
    set(CONTENT_TYPE, &meta.content_type);
    for (name, value) in &meta.headers {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            set(name, value);
        }
    }
    for (name, value) in &meta.user_metadata {
        if let Ok(name) = HeaderName::try_from(format!("x-amz-meta-{name}")) {
            set(name, &metadata_header_value(value));
        }
    }
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if !meta.tags.is_empty() {
        out.insert(TAGGING_COUNT, HeaderValue::from(meta.tags.len()));
    }
}

pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// ISO 8601 with milliseconds, as S3 XML documents carry dates.
pub fn iso8601(millis: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn parse_http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

/// Whole seconds, as HTTP dates compare.
fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',')
        .map(|e| e.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|e| e == "*" || e == etag)
}

/// The names the four conditional headers go by: `if-match`, `if-none-match`,
/// `if-modified-since`, `if-unmodified-since`, in that order.
pub type ConditionNames = [&'static str; 4];

/// The conditional headers of a read or write.
pub const CONDITIONS: ConditionNames = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

/// The conditional headers on a copy's source.
pub const COPY_SOURCE_CONDITIONS: ConditionNames = [
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since",
];

/// The four conditional headers, under the given names (plain or `x-amz-copy-source-` ones).
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
}

impl<'a> Conditions<'a> {
    pub fn from(headers: &'a HeaderMap, names: &ConditionNames) -> Self {
        let get = |name| header(headers, name);
        Conditions {
            if_match: get(names[0]),
            if_none_match: get(names[1]),
            if_modified_since: get(names[2]),
            if_unmodified_since: get(names[3]),
        }
    }

    /// Evaluates as RFC 9110 and S3 do: a failed If-Match / If-Unmodified-Since is
    /// 412; a failed If-None-Match / If-Modified-Since is 304 on reads (`not_modified`)
    /// and 412 otherwise (copies).
    pub fn check(&self, meta: &ObjectMeta, not_modified: S3Code) -> S3Result<()> {
        let modified = secs(meta.last_modified_time());
        let fail = |code: S3Code| {
            let err = S3Error::new(code);
            if code == S3Code::NotModified {
                err.header("etag", meta.etag.clone())
                    .header("last-modified", http_date(meta.last_modified_time()))
            } else {
                err.detail("Condition", "If-Match")
            }
        };
        if let Some(list) = self.if_match {
            if !etag_matches(list, &meta.etag) {
                return Err(fail(S3Code::PreconditionFailed));
            }
        } else if let Some(since) = self.if_unmodified_since.and_then(parse_http_date)
            && modified > secs(since)
        {
            return Err(fail(S3Code::PreconditionFailed));
        }
        if let Some(list) = self.if_none_match {
            if etag_matches(list, &meta.etag) {
                return Err(fail(not_modified));
            }
        } else if let Some(since) = self.if_modified_since.and_then(parse_http_date)
            && modified <= secs(since)
        {
            return Err(fail(not_modified));
        }
        Ok(())
    }
}

/// A byte range `[start, end]` (inclusive) of an object of `size` bytes, from a
/// `Range: bytes=...` header. Unparseable or multi-range headers are ignored (whole
/// object), as AWS does; a syntactically valid but unsatisfiable one is 416.
pub fn parse_range(value: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let unsatisfiable = || {
        S3Error::new(S3Code::InvalidRange)
            .detail("RangeRequested", value)
            .detail("ActualObjectSize", size.to_string())
            .header("content-range", format!("bytes */{size}"))
    };
    let range = if first.is_empty() {
        let Ok(n) = last.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return Ok(None);
        };
        let end = if last.is_empty() {
            u64::MAX
        } else {
            match last.parse::<u64>() {
                Ok(end) if end >= start => end,
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(unsatisfiable());
        }
        (start, end.min(size - 1))
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_and_s3() {
        assert_eq!(parse_range("bytes=0-4", 10).unwrap(), Some((0, 4)));
        assert_eq!(parse_range("bytes=5-", 10).unwrap(), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range("bytes=-30", 10).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=8-100", 10).unwrap(), Some((8, 9)));
        assert_eq!(parse_range("bytes=5-2", 10).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 10).unwrap(), None);
        for bad in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
            let err = parse_range(bad, 10).unwrap_err();
            assert_eq!(err.code, S3Code::InvalidRange);
            assert!(
                err.headers
                    .contains(&("content-range", "bytes */10".to_string()))
            );
        }
        assert_eq!(
            parse_range("bytes=0-", 0).unwrap_err().code,
            S3Code::InvalidRange
        );
    }

    #[test]
    fn aws_chunked_is_never_stored() {
        assert_eq!(strip_aws_chunked("aws-chunked"), None);
        assert_eq!(
            strip_aws_chunked("aws-chunked, gzip").as_deref(),
            Some("gzip")
        );
    }

    #[test]
    fn non_ascii_metadata_is_kept_and_returned_as_encoded_words() {
        assert_eq!(metadata_value("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(metadata_value(b"caf\xe9"), "caf\u{e9}");
        assert_eq!(metadata_value(b"=?UTF-8?B?w6k=?="), "=?UTF-8?B?w6k=?=");
        assert_eq!(metadata_header_value("plain value"), "plain value");
        assert_eq!(metadata_header_value("\u{e9}"), "=?UTF-8?B?w6k=?=");
        assert_eq!(
            metadata_header_value("=?UTF-8?B?w6k=?="),
            "=?UTF-8?B?w6k=?="
        );
    }

    #[test]
    fn etag_lists_match() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("abc", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
