//! Every XML document the server sends, as a type, and the one function that turns
//! them into text (`to_xml`). Element names and order follow the S3 API reference;
//! handlers fill these in and never write markup.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[cfg(test)]
use crate::auth::{DEFAULT_OWNER_ID as OWNER_ID, DEFAULT_OWNER_NAME as OWNER_NAME};

/// Serializes a response document, with the XML declaration.
pub fn to_xml<T: Serialize>(doc: &T) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    quick_xml::se::to_writer(&mut out, doc).expect("response documents always serialize");
    out
}

/// For documents with flattened fields (checksums), which serde hands over as a map
/// whose root element quick-xml cannot name by itself.
pub fn to_xml_rooted<T: Serialize>(root: &str, doc: &T) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    quick_xml::se::to_writer_with_root(&mut out, root, doc)
        .expect("response documents always serialize");
    out
}

/// Text as XML 1.0 can carry it: characters it cannot carry at all (most control
/// characters, even as references) become U+FFFD, so documents stay well-formed;
/// clients that need such keys exactly ask for `encoding-type=url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    fn clean(&self) -> std::borrow::Cow<'_, str> {
        let allowed = |c: char| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        };
        if self.0.chars().all(allowed) {
            return self.0.as_str().into();
        }
        self.0
            .chars()
            .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
            .collect::<String>()
            .into()
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.clean())
    }
}

impl<T: Into<String>> From<T> for Text {
    fn from(text: T) -> Self {
        Text(text.into())
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    /// Known for users of this server; absent for ids it does not know.
    #[serde(rename = "DisplayName", skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Text>,
}

/// `<CommonPrefixes><Prefix>..</Prefix></CommonPrefixes>`
#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CommonPrefix {
    pub prefix: Text,
}

// ---- buckets ---------------------------------------------------------------------

#[derive(Serialize, Debug)]
#[serde(rename = "ListAllMyBucketsResult", rename_all = "PascalCase")]
pub struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub owner: Owner,
    pub buckets: Buckets,
    /// Where the next page starts, when this one is truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<Text>,
    /// The `prefix` asked for, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
}

#[derive(Serialize, Debug, Default)]
pub struct Buckets {
    #[serde(rename = "Bucket")]
    pub bucket: Vec<BucketEntry>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEntry {
    pub name: Text,
    pub creation_date: String,
    pub bucket_region: Text,
}

#[derive(Serialize, Debug)]
#[serde(rename = "LocationConstraint")]
pub struct LocationConstraint {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    /// Empty for us-east-1, as AWS answers.
    #[serde(rename = "$text")]
    pub region: Text,
}

#[derive(Serialize, Debug)]
#[serde(rename = "VersioningConfiguration", rename_all = "PascalCase")]
pub struct VersioningConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    /// Absent for a bucket that never had versioning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// GetBucketAcl / GetObjectAcl.
#[derive(Serialize, Debug)]
#[serde(rename = "AccessControlPolicy", rename_all = "PascalCase")]
pub struct AccessControlPolicy {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub owner: Owner,
    pub access_control_list: AccessControlList,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlList {
    pub grant: Vec<Grant>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: &'static str,
}

/// A canonical user (`ID`, `DisplayName`) or a group (`URI`).
#[derive(Serialize, Debug)]
pub struct Grantee {
    #[serde(rename = "@xmlns:xsi")]
    pub xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    pub kind: &'static str,
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "DisplayName", skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Text>,
    #[serde(rename = "URI", skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl Grantee {
    pub fn user(id: &str, display_name: Option<String>) -> Grantee {
        Grantee {
            xmlns_xsi: XSI,
            kind: "CanonicalUser",
            id: Some(id.to_string()),
            display_name: display_name.map(Text),
            uri: None,
        }
    }

    pub fn group(uri: &str) -> Grantee {
        Grantee {
            xmlns_xsi: XSI,
            kind: "Group",
            id: None,
            display_name: None,
            uri: Some(uri.to_string()),
        }
    }
}

#[derive(Serialize, Debug)]
#[serde(rename = "OwnershipControls", rename_all = "PascalCase")]
pub struct OwnershipControls {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub rule: OwnershipRule,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct OwnershipRule {
    pub object_ownership: &'static str,
}

#[derive(Serialize, Debug)]
#[serde(rename = "PublicAccessBlockConfiguration", rename_all = "PascalCase")]
pub struct PublicAccessBlockConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// GetObjectLockConfiguration's answer.
#[derive(Serialize, Debug)]
#[serde(rename = "ObjectLockConfiguration", rename_all = "PascalCase")]
pub struct ObjectLockConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub object_lock_enabled: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<ObjectLockRule>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectLockRule {
    pub default_retention: DefaultRetention,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DefaultRetention {
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

/// GetObjectRetention's answer.
#[derive(Serialize, Debug)]
#[serde(rename = "Retention", rename_all = "PascalCase")]
pub struct Retention {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub mode: String,
    pub retain_until_date: String,
}

/// GetObjectLegalHold's answer.
#[derive(Serialize, Debug)]
#[serde(rename = "LegalHold", rename_all = "PascalCase")]
pub struct LegalHold {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub status: &'static str,
}

#[derive(Serialize, Debug)]
#[serde(rename = "PolicyStatus", rename_all = "PascalCase")]
pub struct PolicyStatus {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub is_public: bool,
}

#[derive(Serialize, Debug)]
#[serde(rename = "Tagging", rename_all = "PascalCase")]
pub struct Tagging {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub tag_set: TagSet,
}

#[derive(Serialize, Debug, Default)]
pub struct TagSet {
    #[serde(rename = "Tag")]
    pub tag: Vec<Tag>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: Text,
    pub value: Text,
}

#[derive(Serialize, Debug)]
#[serde(rename = "CORSConfiguration")]
pub struct CorsConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "CORSRule")]
    pub rules: Vec<CorsRule>,
}

#[derive(Serialize, Debug)]
pub struct CorsRule {
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<Text>,
    #[serde(rename = "AllowedOrigin")]
    pub allowed_origins: Vec<Text>,
    #[serde(rename = "AllowedMethod")]
    pub allowed_methods: Vec<Text>,
    #[serde(rename = "AllowedHeader")]
    pub allowed_headers: Vec<Text>,
    #[serde(rename = "ExposeHeader")]
    pub expose_headers: Vec<Text>,
    #[serde(rename = "MaxAgeSeconds", skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// GetBucketLifecycleConfiguration.
#[derive(Serialize, Debug)]
#[serde(rename = "LifecycleConfiguration")]
pub struct LifecycleConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Rule")]
    pub rules: Vec<LifecycleRule>,
}

#[derive(Serialize, Debug)]
pub struct LifecycleRule {
    #[serde(rename = "ID")]
    pub id: Text,
    #[serde(rename = "Filter", skip_serializing_if = "Option::is_none")]
    pub filter: Option<LifecycleFilter>,
    /// The legacy rule-level prefix (a rule without `Filter`).
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
    #[serde(rename = "Status")]
    pub status: &'static str,
    #[serde(rename = "Transition")]
    pub transitions: Vec<LifecycleTransition>,
    #[serde(rename = "NoncurrentVersionTransition")]
    pub noncurrent_transitions: Vec<NoncurrentVersionTransition>,
    #[serde(rename = "Expiration", skip_serializing_if = "Option::is_none")]
    pub expiration: Option<LifecycleExpiration>,
    #[serde(
        rename = "NoncurrentVersionExpiration",
        skip_serializing_if = "Option::is_none"
    )]
    pub noncurrent_expiration: Option<NoncurrentVersionExpiration>,
    #[serde(
        rename = "AbortIncompleteMultipartUpload",
        skip_serializing_if = "Option::is_none"
    )]
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
}

#[derive(Serialize, Debug, Default)]
pub struct LifecycleFilter {
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
    #[serde(rename = "Tag", skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    #[serde(
        rename = "ObjectSizeGreaterThan",
        skip_serializing_if = "Option::is_none"
    )]
    pub size_greater_than: Option<u64>,
    #[serde(rename = "ObjectSizeLessThan", skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
    #[serde(rename = "And", skip_serializing_if = "Option::is_none")]
    pub and: Option<LifecycleAnd>,
}

#[derive(Serialize, Debug)]
pub struct LifecycleAnd {
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
    #[serde(rename = "Tag")]
    pub tags: Vec<Tag>,
    #[serde(
        rename = "ObjectSizeGreaterThan",
        skip_serializing_if = "Option::is_none"
    )]
    pub size_greater_than: Option<u64>,
    #[serde(rename = "ObjectSizeLessThan", skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
}

#[derive(Serialize, Debug)]
pub struct LifecycleTransition {
    #[serde(rename = "Date", skip_serializing_if = "Option::is_none")]
    pub date: Option<Text>,
    #[serde(rename = "Days", skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(rename = "StorageClass")]
    pub storage_class: Text,
}

#[derive(Serialize, Debug)]
pub struct NoncurrentVersionTransition {
    #[serde(rename = "NoncurrentDays")]
    pub noncurrent_days: u32,
    #[serde(rename = "StorageClass")]
    pub storage_class: Text,
    #[serde(
        rename = "NewerNoncurrentVersions",
        skip_serializing_if = "Option::is_none"
    )]
    pub newer_noncurrent_versions: Option<u32>,
}

#[derive(Serialize, Debug)]
pub struct LifecycleExpiration {
    #[serde(rename = "Date", skip_serializing_if = "Option::is_none")]
    pub date: Option<Text>,
    #[serde(rename = "Days", skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(
        rename = "ExpiredObjectDeleteMarker",
        skip_serializing_if = "Option::is_none"
    )]
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Serialize, Debug)]
pub struct NoncurrentVersionExpiration {
    #[serde(rename = "NoncurrentDays")]
    pub noncurrent_days: u32,
    #[serde(
        rename = "NewerNoncurrentVersions",
        skip_serializing_if = "Option::is_none"
    )]
    pub newer_noncurrent_versions: Option<u32>,
}

#[derive(Serialize, Debug)]
pub struct AbortIncompleteMultipartUpload {
    #[serde(rename = "DaysAfterInitiation")]
    pub days_after_initiation: u32,
}

/// GetBucketEncryption: the bucket's one default rule.
#[derive(Serialize, Debug)]
#[serde(rename = "ServerSideEncryptionConfiguration")]
pub struct ServerSideEncryptionConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Rule")]
    pub rule: ServerSideEncryptionRule,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ServerSideEncryptionRule {
    pub apply_server_side_encryption_by_default: ServerSideEncryptionByDefault,
    pub bucket_key_enabled: bool,
}

#[derive(Serialize, Debug)]
pub struct ServerSideEncryptionByDefault {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: Text,
    #[serde(rename = "KMSMasterKeyID", skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Text>,
}

// ---- objects ---------------------------------------------------------------------

/// The `Checksum<ALGORITHM>` element of a checksum (at most one is set) and, where the
/// document has one, its `ChecksumType`; flattened into the documents that carry them.
#[derive(Serialize, Debug, Default)]
pub struct ChecksumFields {
    #[serde(rename = "ChecksumCRC32", skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(rename = "ChecksumType", skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<&'static str>,
}

impl ChecksumFields {
    /// `value` of `algorithm` (a name from the checksum module), with its type if given.
    pub fn new(algorithm: &str, value: String, checksum_type: Option<&'static str>) -> Self {
        let mut fields = ChecksumFields {
            checksum_type,
            ..Default::default()
        };
        let slot = match algorithm {
            "CRC32" => &mut fields.crc32,
            "CRC32C" => &mut fields.crc32c,
            "CRC64NVME" => &mut fields.crc64nvme,
            "SHA1" => &mut fields.sha1,
            _ => &mut fields.sha256,
        };
        *slot = Some(value);
        fields
    }
}

#[derive(Serialize, Debug)]
#[serde(rename = "CopyObjectResult", rename_all = "PascalCase")]
pub struct CopyObjectResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

/// GetObjectAttributes: only the attributes asked for are present.
#[derive(Serialize, Debug, Default)]
#[serde(rename = "GetObjectAttributesResponse", rename_all = "PascalCase")]
pub struct GetObjectAttributesResponse {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "ETag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_parts: Option<ObjectParts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_size: Option<u64>,
}

/// A page of a multipart object's parts. `PartsCount` is what SDKs read as TotalPartsCount.
#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectParts {
    pub parts_count: usize,
    pub part_number_marker: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_part_number_marker: Option<u32>,
    pub max_parts: usize,
    pub is_truncated: bool,
    pub part: Vec<ObjectPart>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectPart {
    pub part_number: u32,
    pub size: u64,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Serialize, Debug)]
#[serde(rename = "DeleteResult")]
pub struct DeleteResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    /// `<Deleted>` and `<Error>` elements in the order of the request.
    #[serde(rename = "$value")]
    pub entries: Vec<DeleteEntry>,
}

#[derive(Serialize, Debug)]
pub enum DeleteEntry {
    Deleted(Deleted),
    Error(DeleteError),
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Deleted {
    pub key: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker_version_id: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteError {
    pub key: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<Text>,
    pub code: &'static str,
    pub message: Text,
}

// ---- multipart -------------------------------------------------------------------

#[derive(Serialize, Debug)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: Text,
    pub key: Text,
    pub upload_id: String,
}

#[derive(Serialize, Debug)]
#[serde(rename = "CopyPartResult", rename_all = "PascalCase")]
pub struct CopyPartResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

/// POST Object's answer to `success_action_status=201` (no namespace, as AWS sends it).
#[derive(Serialize, Debug)]
#[serde(rename = "PostResponse", rename_all = "PascalCase")]
pub struct PostResponse {
    pub location: Text,
    pub bucket: Text,
    pub key: Text,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Serialize, Debug)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub location: Text,
    pub bucket: Text,
    pub key: Text,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Serialize, Debug)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
pub struct ListPartsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: Text,
    pub key: Text,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: &'static str,
    pub part_number_marker: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_part_number_marker: Option<u32>,
    pub max_parts: usize,
    pub is_truncated: bool,
    pub part: Vec<Part>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Part {
    pub part_number: u32,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Serialize, Debug)]
#[serde(rename = "ListMultipartUploadsResult", rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: Text,
    pub key_marker: Text,
    pub upload_id_marker: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key_marker: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_upload_id_marker: Option<String>,
    pub prefix: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<Text>,
    pub max_uploads: usize,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    pub upload: Vec<Upload>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Upload {
    pub key: Text,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: &'static str,
    pub initiated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

// ---- listings --------------------------------------------------------------------

/// ListObjects (v1) and ListObjectsV2 share the root element; each fills its own fields.
#[derive(Serialize, Debug)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListBucketResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub name: Text,
    pub prefix: Text,
    /// v1
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<Text>,
    /// v2
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<Text>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectEntry {
    pub key: Text,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    pub storage_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

#[derive(Serialize, Debug)]
#[serde(rename = "ListVersionsResult", rename_all = "PascalCase")]
pub struct ListVersionsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub name: Text,
    pub prefix: Text,
    pub key_marker: Text,
    pub version_id_marker: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key_marker: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_version_id_marker: Option<String>,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<Text>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// `<Version>` and `<DeleteMarker>` elements, newest first per key.
    #[serde(rename = "$value")]
    pub entries: Vec<VersionEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Serialize, Debug)]
pub enum VersionEntry {
    Version(VersionInfo),
    DeleteMarker(DeleteMarkerInfo),
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    pub key: Text,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    pub storage_class: &'static str,
    pub owner: Owner,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMarkerInfo {
    pub key: Text,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: String,
    pub owner: Owner,
}

// ---- errors ----------------------------------------------------------------------

/// `<Error>` (no namespace, as AWS sends it): code, message, the code's extra
/// fields in order, then resource and request id.
pub struct ErrorDocument<'a> {
    pub code: &'static str,
    pub message: &'a str,
    pub details: &'a [(&'static str, String)],
    pub resource: &'a str,
    pub request_id: &'a str,
}

impl Serialize for ErrorDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5 + self.details.len()))?;
        map.serialize_entry("Code", self.code)?;
        map.serialize_entry("Message", &Text::from(self.message))?;
        for (name, value) in self.details {
            map.serialize_entry(name, &Text::from(value.as_str()))?;
        }
        map.serialize_entry("Resource", &Text::from(self.resource))?;
        map.serialize_entry("RequestId", self.request_id)?;
        map.serialize_entry("HostId", self.request_id)?;
        map.end()
    }
}

impl ErrorDocument<'_> {
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        quick_xml::se::to_writer_with_root(&mut out, "Error", self)
            .expect("error documents always serialize");
        out
    }
}

#[cfg(test)]
mod tests {
    //! Each document against the shape of its example in the S3 API reference.
    use super::*;

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    fn default_owner() -> Owner {
        Owner {
            id: OWNER_ID.into(),
            display_name: Some(OWNER_NAME.into()),
        }
    }

    fn doc(body: &str) -> String {
        format!("{DECL}{body}")
    }

    #[test]
    fn text_is_escaped_and_kept_well_formed() {
        let tags = Tagging {
            xmlns: NS,
            tag_set: TagSet {
                tag: vec![Tag {
                    key: "a<b>&\"c\"".into(),
                    value: "x\u{1}y\tz".into(),
                }],
            },
        };
        assert_eq!(
            to_xml(&tags),
            doc(&format!(
                "<Tagging xmlns=\"{NS}\"><TagSet><Tag><Key>a&lt;b&gt;&amp;\"c\"</Key><Value>x\u{FFFD}y\tz</Value></Tag></TagSet></Tagging>"
            ))
        );
    }

    #[test]
    fn bucket_documents() {
        let list = ListAllMyBucketsResult {
            xmlns: NS,
            owner: default_owner(),
            buckets: Buckets {
                bucket: vec![BucketEntry {
                    name: "photos".into(),
                    creation_date: "2026-12-02T00:00:00.000Z".into(),
                    bucket_region: "us-east-1".into(),
                }],
            },
            continuation_token: None,
            prefix: None,
        };
        assert_eq!(
            to_xml(&list),
            doc(&format!(
                "<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner><Buckets><Bucket><Name>photos</Name><CreationDate>2026-12-02T00:00:00.000Z</CreationDate><BucketRegion>us-east-1</BucketRegion></Bucket></Buckets></ListAllMyBucketsResult>"
            ))
        );
        assert_eq!(
            to_xml(&LocationConstraint {
                xmlns: NS,
                region: "eu-west-1".into()
            }),
            doc(&format!(
                "<LocationConstraint xmlns=\"{NS}\">eu-west-1</LocationConstraint>"
            ))
        );
        assert_eq!(
            to_xml(&LocationConstraint {
                xmlns: NS,
                region: "".into()
            }),
            doc(&format!("<LocationConstraint xmlns=\"{NS}\"/>"))
        );
        assert_eq!(
            to_xml(&VersioningConfiguration {
                xmlns: NS,
                status: None
            }),
            doc(&format!("<VersioningConfiguration xmlns=\"{NS}\"/>"))
        );
        assert_eq!(
            to_xml(&VersioningConfiguration {
                xmlns: NS,
                status: Some("Enabled".into())
            }),
            doc(&format!(
                "<VersioningConfiguration xmlns=\"{NS}\"><Status>Enabled</Status></VersioningConfiguration>"
            ))
        );
        assert_eq!(
            to_xml(&AccessControlPolicy {
                xmlns: NS,
                owner: default_owner(),
                access_control_list: AccessControlList {
                    grant: vec![
                        Grant {
                            grantee: Grantee::user(OWNER_ID, Some(OWNER_NAME.into())),
                            permission: "FULL_CONTROL",
                        },
                        Grant {
                            grantee: Grantee::group(
                                "http://acs.amazonaws.com/groups/global/AllUsers"
                            ),
                            permission: "READ",
                        },
                    ],
                },
            }),
            doc(&format!(
                "<AccessControlPolicy xmlns=\"{NS}\"><Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\"><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant><Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"
            ))
        );
        assert_eq!(
            to_xml(&PolicyStatus {
                xmlns: NS,
                is_public: true
            }),
            doc(&format!(
                "<PolicyStatus xmlns=\"{NS}\"><IsPublic>true</IsPublic></PolicyStatus>"
            ))
        );
        let cors = CorsConfiguration {
            xmlns: NS,
            rules: vec![CorsRule {
                id: None,
                allowed_origins: vec!["*".into()],
                allowed_methods: vec!["GET".into(), "PUT".into()],
                allowed_headers: vec![],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(600),
            }],
        };
        assert_eq!(
            to_xml(&cors),
            doc(&format!(
                "<CORSConfiguration xmlns=\"{NS}\"><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>"
            ))
        );
    }

    #[test]
    fn object_documents() {
        let copy = CopyObjectResult {
            xmlns: NS,
            last_modified: "2026-12-02T00:00:00.000Z".into(),
            etag: "\"e\"".into(),
            checksum: ChecksumFields::default(),
        };
        assert_eq!(
            to_xml_rooted("CopyObjectResult", &copy),
            doc(&format!(
                "<CopyObjectResult xmlns=\"{NS}\"><LastModified>2026-12-02T00:00:00.000Z</LastModified><ETag>\"e\"</ETag></CopyObjectResult>"
            ))
        );
        let attributes = GetObjectAttributesResponse {
            xmlns: NS,
            etag: Some("e".into()),
            checksum: Some(ChecksumFields::new(
                "CRC64NVME",
                "c=".into(),
                Some("FULL_OBJECT"),
            )),
            object_parts: Some(ObjectParts {
                parts_count: 2,
                part_number_marker: 0,
                next_part_number_marker: Some(1),
                max_parts: 1,
                is_truncated: true,
                part: vec![ObjectPart {
                    part_number: 1,
                    size: 5,
                    checksum: ChecksumFields::new("CRC64NVME", "p=".into(), None),
                }],
            }),
            storage_class: Some("STANDARD"),
            object_size: Some(6),
        };
        assert_eq!(
            to_xml(&attributes),
            doc(&format!(
                "<GetObjectAttributesResponse xmlns=\"{NS}\"><ETag>e</ETag><Checksum><ChecksumCRC64NVME>c=</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType></Checksum><ObjectParts><PartsCount>2</PartsCount><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>1</NextPartNumberMarker><MaxParts>1</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber><Size>5</Size><ChecksumCRC64NVME>p=</ChecksumCRC64NVME></Part></ObjectParts><StorageClass>STANDARD</StorageClass><ObjectSize>6</ObjectSize></GetObjectAttributesResponse>"
            ))
        );
        let deleted = DeleteResult {
            xmlns: NS,
            entries: vec![
                DeleteEntry::Deleted(Deleted {
                    key: "a".into(),
                    version_id: None,
                    delete_marker: Some(true),
                    delete_marker_version_id: Some("v1".into()),
                }),
                DeleteEntry::Error(DeleteError {
                    key: "b".into(),
                    version_id: Some("v2".into()),
                    code: "AccessDenied",
                    message: "Access Denied".into(),
                }),
                DeleteEntry::Deleted(Deleted {
                    key: "c".into(),
                    version_id: None,
                    delete_marker: None,
                    delete_marker_version_id: None,
                }),
            ],
        };
        assert_eq!(
            to_xml(&deleted),
            doc(&format!(
                "<DeleteResult xmlns=\"{NS}\"><Deleted><Key>a</Key><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>v1</DeleteMarkerVersionId></Deleted><Error><Key>b</Key><VersionId>v2</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error><Deleted><Key>c</Key></Deleted></DeleteResult>"
            ))
        );
        assert_eq!(
            to_xml(&DeleteResult {
                xmlns: NS,
                entries: vec![]
            }),
            doc(&format!("<DeleteResult xmlns=\"{NS}\"/>"))
        );
    }

    #[test]
    fn multipart_documents() {
        let init = InitiateMultipartUploadResult {
            xmlns: NS,
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
        };
        assert_eq!(
            to_xml(&init),
            doc(&format!(
                "<InitiateMultipartUploadResult xmlns=\"{NS}\"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>"
            ))
        );
        let copy = CopyPartResult {
            xmlns: NS,
            last_modified: "t".into(),
            etag: "\"e\"".into(),
            checksum: ChecksumFields::new("CRC64NVME", "c=".into(), None),
        };
        assert_eq!(
            to_xml_rooted("CopyPartResult", &copy),
            doc(&format!(
                "<CopyPartResult xmlns=\"{NS}\"><LastModified>t</LastModified><ETag>\"e\"</ETag><ChecksumCRC64NVME>c=</ChecksumCRC64NVME></CopyPartResult>"
            ))
        );
        let done = CompleteMultipartUploadResult {
            xmlns: NS,
            location: "http://h/b/k".into(),
            bucket: "b".into(),
            key: "k".into(),
            etag: "\"e-2\"".into(),
            checksum: ChecksumFields::new("CRC32", "AAAAAA==-2".into(), Some("COMPOSITE")),
        };
        assert_eq!(
            to_xml_rooted("CompleteMultipartUploadResult", &done),
            doc(&format!(
                "<CompleteMultipartUploadResult xmlns=\"{NS}\"><Location>http://h/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>\"e-2\"</ETag><ChecksumCRC32>AAAAAA==-2</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"
            ))
        );
        let owner = format!("<ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName>");
        let parts = ListPartsResult {
            xmlns: NS,
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            initiator: default_owner(),
            owner: default_owner(),
            storage_class: "STANDARD",
            part_number_marker: 0,
            next_part_number_marker: Some(1),
            max_parts: 1000,
            is_truncated: false,
            part: vec![Part {
                part_number: 1,
                last_modified: "t".into(),
                etag: "\"p\"".into(),
                size: 5,
                checksum: ChecksumFields::new("SHA256", "x".into(), None),
            }],
            checksum_algorithm: Some("SHA256".into()),
            checksum_type: Some("COMPOSITE".into()),
        };
        assert_eq!(
            to_xml(&parts),
            doc(&format!(
                "<ListPartsResult xmlns=\"{NS}\"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><Initiator>{owner}</Initiator><Owner>{owner}</Owner><StorageClass>STANDARD</StorageClass><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>1</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><LastModified>t</LastModified><ETag>\"p\"</ETag><Size>5</Size><ChecksumSHA256>x</ChecksumSHA256></Part><ChecksumAlgorithm>SHA256</ChecksumAlgorithm><ChecksumType>COMPOSITE</ChecksumType></ListPartsResult>"
            ))
        );
        let uploads = ListMultipartUploadsResult {
            xmlns: NS,
            bucket: "b".into(),
            key_marker: "".into(),
            upload_id_marker: "".into(),
            next_key_marker: Some("k".into()),
            next_upload_id_marker: Some("u".into()),
            prefix: "".into(),
            delimiter: Some("/".into()),
            max_uploads: 1,
            is_truncated: true,
            encoding_type: None,
            upload: vec![Upload {
                key: "k".into(),
                upload_id: "u".into(),
                initiator: default_owner(),
                owner: default_owner(),
                storage_class: "STANDARD",
                initiated: "t".into(),
                checksum_algorithm: None,
                checksum_type: None,
            }],
            common_prefixes: vec![CommonPrefix {
                prefix: "d/".into(),
            }],
        };
        assert_eq!(
            to_xml(&uploads),
            doc(&format!(
                "<ListMultipartUploadsResult xmlns=\"{NS}\"><Bucket>b</Bucket><KeyMarker/><UploadIdMarker/><NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker><Prefix/><Delimiter>/</Delimiter><MaxUploads>1</MaxUploads><IsTruncated>true</IsTruncated><Upload><Key>k</Key><UploadId>u</UploadId><Initiator>{owner}</Initiator><Owner>{owner}</Owner><StorageClass>STANDARD</StorageClass><Initiated>t</Initiated></Upload><CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes></ListMultipartUploadsResult>"
            ))
        );
    }

    #[test]
    fn listing_documents() {
        let v2 = ListBucketResult {
            xmlns: NS,
            name: "b".into(),
            prefix: "p".into(),
            marker: None,
            next_marker: None,
            continuation_token: None,
            start_after: None,
            key_count: Some(2),
            next_continuation_token: Some("tok".into()),
            max_keys: 2,
            delimiter: Some("/".into()),
            is_truncated: true,
            encoding_type: Some("url"),
            contents: vec![ObjectEntry {
                key: "pa".into(),
                last_modified: "t".into(),
                etag: "\"e\"".into(),
                size: 3,
                storage_class: "STANDARD",
                owner: None,
            }],
            common_prefixes: vec![CommonPrefix {
                prefix: "pd/".into(),
            }],
        };
        assert_eq!(
            to_xml(&v2),
            doc(&format!(
                "<ListBucketResult xmlns=\"{NS}\"><Name>b</Name><Prefix>p</Prefix><KeyCount>2</KeyCount><NextContinuationToken>tok</NextContinuationToken><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><EncodingType>url</EncodingType><Contents><Key>pa</Key><LastModified>t</LastModified><ETag>\"e\"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>pd/</Prefix></CommonPrefixes></ListBucketResult>"
            ))
        );
        let owner =
            format!("<Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner>");
        let versions = ListVersionsResult {
            xmlns: NS,
            name: "b".into(),
            prefix: "".into(),
            key_marker: "".into(),
            version_id_marker: "".into(),
            next_key_marker: None,
            next_version_id_marker: None,
            max_keys: 1000,
            delimiter: None,
            is_truncated: false,
            encoding_type: None,
            entries: vec![
                VersionEntry::DeleteMarker(DeleteMarkerInfo {
                    key: "k".into(),
                    version_id: "v2".into(),
                    is_latest: true,
                    last_modified: "t2".into(),
                    owner: default_owner(),
                }),
                VersionEntry::Version(VersionInfo {
                    key: "k".into(),
                    version_id: "v1".into(),
                    is_latest: false,
                    last_modified: "t1".into(),
                    etag: "\"e\"".into(),
                    size: 1,
                    storage_class: "STANDARD",
                    owner: default_owner(),
                }),
            ],
            common_prefixes: vec![],
        };
        assert_eq!(
            to_xml(&versions),
            doc(&format!(
                "<ListVersionsResult xmlns=\"{NS}\"><Name>b</Name><Prefix/><KeyMarker/><VersionIdMarker/><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><DeleteMarker><Key>k</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest><LastModified>t2</LastModified>{owner}</DeleteMarker><Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><LastModified>t1</LastModified><ETag>\"e\"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass>{owner}</Version></ListVersionsResult>"
            ))
        );
    }

    #[test]
    fn error_document() {
        let details = [
            ("ArgumentName", "x-amz-a".to_string()),
            ("ArgumentValue", "<v>".to_string()),
        ];
        let e = ErrorDocument {
            code: "InvalidArgument",
            message: "Bad & wrong",
            details: &details,
            resource: "/b/k",
            request_id: "RID",
        };
        assert_eq!(
            e.to_xml(),
            doc(
                "<Error><Code>InvalidArgument</Code><Message>Bad &amp; wrong</Message><ArgumentName>x-amz-a</ArgumentName><ArgumentValue>&lt;v&gt;</ArgumentValue><Resource>/b/k</Resource><RequestId>RID</RequestId><HostId>RID</HostId></Error>"
            )
        );
    }
}
