//! XML request bodies: serde parsers for the documents S3 defines (bounded in size
//! by the caller), refusing DTDs, unknown entities and deep nesting. Response
//! documents are types in `dto.rs`.

use serde::Deserialize;

use super::error::{S3Code, S3Error, S3Result};

const MAX_DEPTH: usize = 32;

fn valid_reference(r: &quick_xml::events::BytesRef) -> bool {
    match r.resolve_char_ref() {
        Ok(Some(c)) => {
            c == '\t' || c == '\n' || c == '\r' || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        }
        Ok(None) => matches!(r.as_ref(), "lt" | "gt" | "amp" | "apos" | "quot"),
        Err(_) => false,
    }
}

/// Walks the whole document, requiring balanced tags and no second top-level element.
fn check_rest(text: &str, root: &str) -> S3Result<()> {
    use quick_xml::events::Event;
    let malformed = || S3Error::new(S3Code::MalformedXML);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut seen_root) = (0usize, false);
    // Only namespace declarations are allowed as attributes, and an ACL grantee's
    // `xsi:type`; our documents have none else.
    let attributes_ok = |e: &quick_xml::events::BytesStart| {
        e.attributes().all(|a| {
            a.is_ok_and(|a| {
                let key = a.key.as_ref();
                key == "xmlns" || key.starts_with("xmlns:") || key == "xsi:type"
            })
        })
    };
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) | Event::Empty(e) if !attributes_ok(&e) => return Err(malformed()),
            Event::Start(_) if depth >= MAX_DEPTH => return Err(malformed()),
            // No DTDs (no entity expansion of any kind) and only the predefined entities.
            Event::DocType(_) => return Err(malformed()),
            Event::GeneralRef(r) if !valid_reference(&r) => return Err(malformed()),
            Event::Start(e) => {
                if depth == 0 {
                    if seen_root || e.local_name().into_inner() != root {
                        return Err(malformed());
                    }
                    seen_root = true;
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 0 => {
                if seen_root || e.local_name().into_inner() != root {
                    return Err(malformed());
                }
                seen_root = true;
            }
            Event::End(_) => depth = depth.checked_sub(1).ok_or_else(malformed)?,
            Event::Text(t) if depth == 0 && !t.as_ref().trim().is_empty() => {
                return Err(malformed());
            }
            Event::CData(_) if depth == 0 => return Err(malformed()),
            Event::Eof if depth == 0 && seen_root => return Ok(()),
            Event::Eof => return Err(malformed()),
            _ => {}
        }
    }
}

/// Parses a request document whose root element must be `root`.
pub fn parse_document<'de, T: Deserialize<'de>>(body: &'de [u8], root: &str) -> S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::new(S3Code::MalformedXML))?;
    check_rest(text, root)?;
    quick_xml::de::from_str(text).map_err(|_| S3Error::new(S3Code::MalformedXML))
}

#[derive(Debug, Deserialize, Default)]
pub struct CreateBucketConfiguration {
    #[serde(rename = "LocationConstraint")]
    pub location_constraint: Option<String>,
}

pub fn parse_create_bucket(body: &[u8]) -> S3Result<CreateBucketConfiguration> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(CreateBucketConfiguration::default());
    }
    parse_document(body, "CreateBucketConfiguration")
}

/// PutBucketAcl / PutObjectAcl bodies. The grantee's kind is read from which child
/// it has (`ID`, `URI`, `EmailAddress`), which is what its `xsi:type` says.
#[derive(Debug, Deserialize)]
pub struct AccessControlPolicy {
    #[serde(rename = "Owner")]
    pub owner: Option<AclOwner>,
    #[serde(rename = "AccessControlList")]
    pub list: Option<GrantList>,
}

#[derive(Debug, Deserialize)]
pub struct AclOwner {
    #[serde(rename = "ID")]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct GrantList {
    #[serde(rename = "Grant", default)]
    pub grants: Vec<GrantDoc>,
}

#[derive(Debug, Deserialize)]
pub struct GrantDoc {
    #[serde(rename = "Grantee")]
    pub grantee: Option<GranteeDoc>,
    #[serde(rename = "Permission")]
    pub permission: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GranteeDoc {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "URI")]
    pub uri: Option<String>,
    #[serde(rename = "EmailAddress")]
    pub email: Option<String>,
}

/// An ACL document; anything that does not parse is `MalformedACLError`, as on AWS.
pub fn parse_access_control_policy(body: &[u8]) -> S3Result<AccessControlPolicy> {
    parse_document(body, "AccessControlPolicy").map_err(|e| match e.code {
        S3Code::MalformedXML => S3Error::new(S3Code::MalformedACLError),
        _ => e,
    })
}

#[derive(Debug, Deserialize)]
struct OwnershipControls {
    #[serde(rename = "Rule", default)]
    rules: Vec<OwnershipRule>,
}

#[derive(Debug, Deserialize)]
struct OwnershipRule {
    #[serde(rename = "ObjectOwnership")]
    object_ownership: Option<String>,
}

/// The one rule's `ObjectOwnership` of a PutBucketOwnershipControls body.
pub fn parse_ownership_controls(body: &[u8]) -> S3Result<String> {
    let doc: OwnershipControls = parse_document(body, "OwnershipControls")?;
    match doc.rules.as_slice() {
        [
            OwnershipRule {
                object_ownership: Some(rule),
            },
        ] => Ok(rule.trim().to_string()),
        _ => Err(S3Error::new(S3Code::MalformedXML)),
    }
}

#[derive(Debug, Deserialize)]
pub struct PublicAccessBlockConfiguration {
    #[serde(rename = "BlockPublicAcls")]
    pub block_public_acls: Option<bool>,
    #[serde(rename = "IgnorePublicAcls")]
    pub ignore_public_acls: Option<bool>,
    #[serde(rename = "BlockPublicPolicy")]
    pub block_public_policy: Option<bool>,
    #[serde(rename = "RestrictPublicBuckets")]
    pub restrict_public_buckets: Option<bool>,
}

pub fn parse_public_access_block(body: &[u8]) -> S3Result<PublicAccessBlockConfiguration> {
    parse_document(body, "PublicAccessBlockConfiguration")
}

#[derive(Debug, Deserialize)]
pub struct DeleteRequest {
    #[serde(rename = "Quiet", default)]
    pub quiet: bool,
    #[serde(rename = "Object", default)]
    pub objects: Vec<DeleteEntry>,
}

#[derive(Debug, Deserialize)]
pub struct DeleteEntry {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "VersionId")]
    pub version_id: Option<String>,
    /// Deletes only if the current object has this ETag (conditional delete).
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
}

pub fn parse_delete(body: &[u8]) -> S3Result<DeleteRequest> {
    parse_document(body, "Delete")
}

#[derive(Debug, Deserialize)]
struct VersioningConfiguration {
    #[serde(rename = "Status")]
    status: Option<String>,
}

/// `Enabled` or `Suspended` from a PutBucketVersioning body.
pub fn parse_versioning(body: &[u8]) -> S3Result<String> {
    let doc: VersioningConfiguration = parse_document(body, "VersioningConfiguration")?;
    match doc.status.as_deref() {
        Some(s @ ("Enabled" | "Suspended")) => Ok(s.to_string()),
        _ => Err(S3Error::new(S3Code::MalformedXML)),
    }
}

#[derive(Debug, Deserialize)]
pub struct CompleteRequest {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Deserialize)]
pub struct CompletePart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "ChecksumCRC32")]
    pub crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME")]
    pub crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1")]
    pub sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256")]
    pub sha256: Option<String>,
}

impl CompletePart {
    /// The part checksum the client listed, as (algorithm name, value).
    pub fn checksum(&self) -> Option<(&'static str, &str)> {
        [
            ("CRC32", &self.crc32),
            ("CRC32C", &self.crc32c),
            ("CRC64NVME", &self.crc64nvme),
            ("SHA1", &self.sha1),
            ("SHA256", &self.sha256),
        ]
        .into_iter()
        .find_map(|(name, v)| v.as_deref().map(|v| (name, v.trim())))
    }
}

pub fn parse_complete(body: &[u8]) -> S3Result<CompleteRequest> {
    parse_document(body, "CompleteMultipartUpload")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_delete_and_complete_bodies() {
        let d = parse_delete(b"<Delete xmlns=\"x\"><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object><Object><Key>c</Key></Object></Delete>").unwrap();
        assert!(d.quiet);
        assert_eq!(
            d.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
            ["a & b", "c"]
        );
        let c = parse_complete(b"<CompleteMultipartUpload><Part><ETag>\"e1\"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part></CompleteMultipartUpload>").unwrap();
        assert_eq!(c.parts[0].part_number, 1);
        assert_eq!(c.parts[0].etag, "\"e1\"");
        assert_eq!(c.parts[0].checksum(), Some(("CRC32", "x")));
    }

    #[test]
    fn malformed_bodies_are_malformed_xml() {
        for body in [
            &b"<Delete><Object><Key>a</Key>"[..],
            b"not xml",
            b"<Delete><Quiet>maybe</Quiet></Delete>",
            b"<Delete><Object><Key>a</Key></Object></Delete><extra>",
            b"<Other><Object><Key>a</Key></Object></Other>",
        ] {
            assert_eq!(parse_delete(body).unwrap_err().code, S3Code::MalformedXML);
        }
        assert_eq!(parse_complete(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>").unwrap_err().code, S3Code::MalformedXML);
        assert!(
            parse_create_bucket(b"")
                .unwrap()
                .location_constraint
                .is_none()
        );
        for hostile in [
            &br#"<!DOCTYPE l [<!ENTITY a "aaaa">]><CreateBucketConfiguration><LocationConstraint>&a;</LocationConstraint></CreateBucketConfiguration>"#[..],
            b"<CreateBucketConfiguration><LocationConstraint>&nope;</LocationConstraint></CreateBucketConfiguration>",
            b"<CreateBucketConfiguration><LocationConstraint>&#0;</LocationConstraint></CreateBucketConfiguration>",
            br#"<CreateBucketConfiguration a="1"/>"#,
        ] {
            assert_eq!(parse_create_bucket(hostile).unwrap_err().code, S3Code::MalformedXML, "{}", String::from_utf8_lossy(hostile));
        }
        assert_eq!(parse_create_bucket(b"<CreateBucketConfiguration><LocationConstraint>a&amp;&#x41;</LocationConstraint></CreateBucketConfiguration>").unwrap().location_constraint.as_deref(), Some("a&A"));
        let deep = format!(
            "<Delete>{}{}</Delete>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert_eq!(
            parse_delete(deep.as_bytes()).unwrap_err().code,
            S3Code::MalformedXML
        );
    }
}
