//! Object tags: the `x-amz-tagging` header and the `<Tagging>` document, with AWS's limits.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::dto;
use super::error::{S3Code, S3Error, S3Result};

pub type Tags = BTreeMap<String, String>;

const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

fn invalid(message: &str) -> S3Error {
    S3Error::msg(S3Code::InvalidTag, message)
}

/// Checks AWS's limits while collecting tags in order.
fn collect(pairs: impl IntoIterator<Item = (String, String)>) -> S3Result<Tags> {
    let mut tags = Tags::new();
    for (key, value) in pairs {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid("Your TagKey cannot be prefixed with aws:"));
        }
        if tags.insert(key, value).is_some() {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(S3Error::msg(
            S3Code::BadRequest,
            "Object tags cannot be greater than 10",
        ));
    }
    Ok(tags)
}

/// `x-amz-tagging: k1=v1&k2=v2` (URL-encoded).
pub fn from_header(value: &str) -> S3Result<Tags> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    collect(value.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (decode(k), decode(v))
    }))
}

#[derive(Deserialize)]
struct Tagging {
    #[serde(rename = "TagSet")]
    tag_set: TagSet,
}

#[derive(Deserialize)]
struct TagSet {
    #[serde(rename = "Tag", default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: String,
}

pub fn from_xml(body: &[u8]) -> S3Result<Tags> {
    let doc: Tagging = super::xml::parse_document(body, "Tagging")?;
    collect(doc.tag_set.tags.into_iter().map(|t| (t.key, t.value)))
}

pub fn to_xml(tags: &Tags) -> String {
    let tag = tags
        .iter()
        .map(|(k, v)| dto::Tag {
            key: k.as_str().into(),
            value: v.as_str().into(),
        })
        .collect();
    dto::to_xml(&dto::Tagging {
        xmlns: dto::NS,
        tag_set: dto::TagSet { tag },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_xml_round_trip_with_limits() {
        let tags = from_header("a=1&b%20c=d%26e&empty=").unwrap();
        assert_eq!(tags.get("b c").map(String::as_str), Some("d&e"));
        assert_eq!(from_xml(to_xml(&tags).as_bytes()).unwrap(), tags);
        assert_eq!(from_header("a=1&a=2").unwrap_err().code, S3Code::InvalidTag);
        assert_eq!(
            from_header(&format!("{}=v", "k".repeat(129)))
                .unwrap_err()
                .code,
            S3Code::InvalidTag
        );
        assert_eq!(
            from_header(&format!("k={}", "v".repeat(257)))
                .unwrap_err()
                .code,
            S3Code::InvalidTag
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            from_header(&eleven.join("&")).unwrap_err().code,
            S3Code::BadRequest
        );
        assert_eq!(
            from_xml(b"<Tagging><TagSet><Tag><Value>x</Value></Tag></TagSet></Tagging>")
                .unwrap_err()
                .code,
            S3Code::MalformedXML
        );
    }
}
