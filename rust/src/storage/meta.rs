//! The metadata stored beside each object (`<key>._storage_object.metadata.json`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::sealing::Sealed;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Quoted, as sent in the `ETag` header: `"<md5>"` or `"<md5-of-md5s>-<parts>"`.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified: i64,
    pub content_type: String,
    /// Standard headers stored with the object (`content-encoding`, `cache-control`, ...).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// User metadata without the `x-amz-meta-` prefix, names lowercased.
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    /// A flexible checksum the client sent or asked for (`x-amz-checksum-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The version id in a bucket that has (had) versioning: a time-ordered id, or
    /// "null" for writes while versioning is suspended. None in never-versioned buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Orders the versions of a key (newest is greatest), "null" ones included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<String>,
    /// A delete marker: a version without data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// For the result of a copy only: the source's version id (never stored).
    #[serde(skip)]
    pub source_version_id: Option<String>,
    /// Part sizes of a multipart object, in order; empty for single-part objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// Set when the bytes are encrypted at rest (then `size` and `parts` count stored
    /// bytes in storage, plaintext bytes above the encrypting layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Sealed>,
    /// Who owns the object and whom it grants what; None for objects written before
    /// owners existed (the layer above decides what that means).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<StoredAcl>,
    /// The version's object lock (retention, legal hold).
    #[serde(default, skip_serializing_if = "StoredLock::is_empty")]
    pub lock: StoredLock,
}

/// A version's object lock (WORM) settings, kept as the layer above set them: storage
/// stores them and consults them only through a caller's `DeleteGuard`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredLock {
    /// The retention mode, as the layer above names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Until when the retention holds (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<i64>,
    /// The legal hold, once set (on or off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
}

impl StoredLock {
    pub fn is_empty(&self) -> bool {
        *self == StoredLock::default()
    }
}

/// An owner and the grants it made, kept as given: storage does not interpret
/// grantees or permissions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredAcl {
    pub owner: String,
    #[serde(default)]
    pub grants: Vec<StoredGrant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredGrant {
    pub grantee: String,
    pub permission: String,
}

/// The request-supplied attributes of an object to be written.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewObjectAttrs {
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub checksum: Option<StoredChecksum>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<StoredAcl>,
    #[serde(default, skip_serializing_if = "StoredLock::is_empty")]
    pub lock: StoredLock,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoredChecksum {
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    /// Base64, as in the `x-amz-checksum-*` header.
    pub value: String,
    /// A multipart object's part checksums (same algorithm), in part order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

impl ObjectMeta {
    pub fn new(
        bucket: &str,
        key: &str,
        size: u64,
        etag: String,
        attrs: NewObjectAttrs,
        parts: Vec<u64>,
    ) -> Self {
        ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size,
            etag,
            last_modified: chrono::Utc::now().timestamp_millis(),
            content_type: attrs
                .content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
            headers: attrs.headers,
            user_metadata: attrs.user_metadata,
            checksum: attrs.checksum,
            tags: attrs.tags,
            version_id: None,
            seq: None,
            delete_marker: false,
            source_version_id: None,
            parts,
            encryption: attrs.encryption,
            acl: attrs.acl,
            lock: attrs.lock,
        }
    }

    /// The attributes a copy takes over: all but the lock, which no copy inherits.
    pub fn attrs(&self) -> NewObjectAttrs {
        NewObjectAttrs {
            content_type: Some(self.content_type.clone()),
            headers: self.headers.clone(),
            user_metadata: self.user_metadata.clone(),
            checksum: self.checksum.clone(),
            tags: self.tags.clone(),
            encryption: self.encryption.clone(),
            acl: self.acl.clone(),
            lock: StoredLock::default(),
        }
    }

    /// The ETag without quotes.
    pub fn etag_value(&self) -> &str {
        self.etag.trim_matches('"')
    }

    pub fn last_modified_time(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.last_modified.max(0) as u64)
    }
}
