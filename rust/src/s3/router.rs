//! Resolves an HTTP request to an S3 operation: bucket and key from path-style or
//! virtual-hosted-style addressing, then the operation from method and query.
//!
//! Two steps, so that errors keep their precedence: [`route`] finds the addressing and
//! the kind of operation ([`Action`]: all that authentication and authorization need),
//! and [`Route::op`] turns it into the typed [`Op`] whose variants carry their
//! parameters, parsed and checked. The pipeline asks for the `Op` after authorizing,
//! so a malformed `partNumber` is answered after `AccessDenied`, as it always was.

use http::{HeaderMap, Method};

use super::error::{S3Code, S3Error, S3Result};
use crate::storage::interface::{MAX_KEY_BYTES, MAX_PART_NUMBER};

/// Decoded query parameters, in request order.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let decode = |s: &str| {
            String::from_utf8_lossy(&super::sigv4::decode_query_component(s)).into_owned()
        };
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    GetBucketAcl,
    ListObjectsV1,
    ListObjectsV2,
    ListMultipartUploads,
    DeleteObjects,
    /// A browser form upload to a bucket URL: authenticated and authorized by its
    /// handler once the form's fields are read.
    PostObject,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectAcl,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    PutBucketPolicy,
    GetBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutBucketEncryption,
    GetBucketEncryption,
    DeleteBucketEncryption,
    PutBucketLifecycle,
    GetBucketLifecycle,
    DeleteBucketLifecycle,
    PutBucketVersioning,
    ListObjectVersions,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    GetObjectAttributes,
    PutBucketAcl,
    PutObjectAcl,
    PutBucketOwnershipControls,
    GetBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    PutPublicAccessBlock,
    GetPublicAccessBlock,
    DeletePublicAccessBlock,
    PutObjectLockConfiguration,
    GetObjectLockConfiguration,
    PutObjectRetention,
    GetObjectRetention,
    PutObjectLegalHold,
    GetObjectLegalHold,
    /// A CORS preflight (`OPTIONS`), answered without authentication.
    Preflight,
    /// A sub-resource this server does not implement (501 once the bucket or key exists).
    Unsupported,
}

impl Action {
    /// The IAM action a policy names for this operation.
    pub fn iam_action(self) -> &'static str {
        use Action::*;
        match self {
            ListBuckets => "s3:ListAllMyBuckets",
            CreateBucket => "s3:CreateBucket",
            HeadBucket | ListObjectsV1 | ListObjectsV2 => "s3:ListBucket",
            DeleteBucket => "s3:DeleteBucket",
            GetBucketLocation => "s3:GetBucketLocation",
            GetBucketVersioning => "s3:GetBucketVersioning",
            GetBucketAcl => "s3:GetBucketAcl",
            ListMultipartUploads => "s3:ListBucketMultipartUploads",
            DeleteObjects | DeleteObject => "s3:DeleteObject",
            PutObject
            | PostObject
            | CopyObject
            | CreateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload => "s3:PutObject",
            GetObject | HeadObject => "s3:GetObject",
            GetObjectAcl => "s3:GetObjectAcl",
            AbortMultipartUpload => "s3:AbortMultipartUpload",
            ListParts => "s3:ListMultipartUploadParts",
            PutBucketPolicy => "s3:PutBucketPolicy",
            GetBucketPolicy => "s3:GetBucketPolicy",
            DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            PutBucketCors | DeleteBucketCors => "s3:PutBucketCORS",
            GetBucketCors => "s3:GetBucketCORS",
            PutBucketEncryption | DeleteBucketEncryption => "s3:PutEncryptionConfiguration",
            GetBucketEncryption => "s3:GetEncryptionConfiguration",
            // AWS authorizes DeleteBucketLifecycle as s3:PutLifecycleConfiguration.
            PutBucketLifecycle | DeleteBucketLifecycle => "s3:PutLifecycleConfiguration",
            GetBucketLifecycle => "s3:GetLifecycleConfiguration",
            PutBucketVersioning => "s3:PutBucketVersioning",
            ListObjectVersions => "s3:ListBucketVersions",
            PutObjectTagging => "s3:PutObjectTagging",
            GetObjectTagging => "s3:GetObjectTagging",
            DeleteObjectTagging => "s3:DeleteObjectTagging",
            GetObjectAttributes => "s3:GetObjectAttributes",
            PutBucketAcl => "s3:PutBucketAcl",
            PutObjectAcl => "s3:PutObjectAcl",
            PutBucketOwnershipControls | DeleteBucketOwnershipControls => {
                "s3:PutBucketOwnershipControls"
            }
            GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            PutPublicAccessBlock | DeletePublicAccessBlock => "s3:PutBucketPublicAccessBlock",
            GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
            GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            PutObjectRetention => "s3:PutObjectRetention",
            GetObjectRetention => "s3:GetObjectRetention",
            PutObjectLegalHold => "s3:PutObjectLegalHold",
            GetObjectLegalHold => "s3:GetObjectLegalHold",
            Preflight => "",
            // Allowed to whoever may do anything: the answer is an error either way.
            Unsupported => "s3:*",
        }
    }
}

/// Query parameters that override response headers on GET and HEAD, with the header
/// each one sets.
pub const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

/// GetObject's and HeadObject's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    /// `partNumber` as sent. It is checked once the object is open ([`parse_part_number`]),
    /// so that a missing key or a failed condition answers first, as on AWS.
    pub part_number: Option<String>,
    /// The `response-*` overrides sent: (response header, value).
    pub response_headers: Vec<(&'static str, String)>,
}

/// An object, and the version named (else the latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

/// An S3 operation with what its handler needs: bucket and key where it has them, the
/// upload id of a multipart operation, the part number (parsed, 1..=10000) of a part
/// upload, the version id where one may be named. Listing parameters (prefix,
/// delimiter, markers, max-keys) stay in the query; their handlers parse them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    ListBuckets,
    CreateBucket {
        bucket: String,
    },
    HeadBucket {
        bucket: String,
    },
    DeleteBucket {
        bucket: String,
    },
    GetBucketLocation {
        bucket: String,
    },
    GetBucketVersioning {
        bucket: String,
    },
    GetBucketAcl {
        bucket: String,
    },
    ListObjectsV1 {
        bucket: String,
    },
    ListObjectsV2 {
        bucket: String,
    },
    ListMultipartUploads {
        bucket: String,
    },
    DeleteObjects {
        bucket: String,
    },
    PutObject {
        bucket: String,
        key: String,
    },
    CopyObject {
        bucket: String,
        key: String,
    },
    GetObject(ReadObject),
    HeadObject(ReadObject),
    DeleteObject {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    GetObjectAcl {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    PutObjectAcl {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    PutBucketAcl {
        bucket: String,
    },
    PutBucketOwnershipControls {
        bucket: String,
    },
    GetBucketOwnershipControls {
        bucket: String,
    },
    DeleteBucketOwnershipControls {
        bucket: String,
    },
    PutPublicAccessBlock {
        bucket: String,
    },
    GetPublicAccessBlock {
        bucket: String,
    },
    DeletePublicAccessBlock {
        bucket: String,
    },
    CreateMultipartUpload {
        bucket: String,
        key: String,
    },
    UploadPart {
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
    },
    UploadPartCopy {
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
    },
    CompleteMultipartUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    AbortMultipartUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ListParts {
        bucket: String,
        key: String,
        upload_id: String,
    },
    PutBucketPolicy {
        bucket: String,
    },
    GetBucketPolicy {
        bucket: String,
    },
    DeleteBucketPolicy {
        bucket: String,
    },
    GetBucketPolicyStatus {
        bucket: String,
    },
    PutBucketCors {
        bucket: String,
    },
    GetBucketCors {
        bucket: String,
    },
    DeleteBucketCors {
        bucket: String,
    },
    PutBucketEncryption {
        bucket: String,
    },
    GetBucketEncryption {
        bucket: String,
    },
    DeleteBucketEncryption {
        bucket: String,
    },
    PutBucketLifecycle {
        bucket: String,
    },
    GetBucketLifecycle {
        bucket: String,
    },
    DeleteBucketLifecycle {
        bucket: String,
    },
    PutBucketVersioning {
        bucket: String,
    },
    ListObjectVersions {
        bucket: String,
    },
    PutObjectTagging {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    GetObjectTagging {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    DeleteObjectTagging {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    GetObjectAttributes {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    PutObjectLockConfiguration {
        bucket: String,
    },
    GetObjectLockConfiguration {
        bucket: String,
    },
    /// Retention and legal hold of the version named (else the latest).
    PutObjectRetention(ObjectVersion),
    GetObjectRetention(ObjectVersion),
    PutObjectLegalHold(ObjectVersion),
    GetObjectLegalHold(ObjectVersion),
    /// A CORS preflight, for a bucket or for the server (no bucket in the address).
    Preflight {
        bucket: Option<String>,
    },
    /// A sub-resource not implemented: `feature` names it in the 501's message.
    Unsupported {
        bucket: Option<String>,
        key: Option<String>,
        feature: String,
    },
}

impl Op {
    /// The kind of operation, without its parameters.
    pub fn action(&self) -> Action {
        match self {
            Op::ListBuckets => Action::ListBuckets,
            Op::CreateBucket { .. } => Action::CreateBucket,
            Op::HeadBucket { .. } => Action::HeadBucket,
            Op::DeleteBucket { .. } => Action::DeleteBucket,
            Op::GetBucketLocation { .. } => Action::GetBucketLocation,
            Op::GetBucketVersioning { .. } => Action::GetBucketVersioning,
            Op::GetBucketAcl { .. } => Action::GetBucketAcl,
            Op::ListObjectsV1 { .. } => Action::ListObjectsV1,
            Op::ListObjectsV2 { .. } => Action::ListObjectsV2,
            Op::ListMultipartUploads { .. } => Action::ListMultipartUploads,
            Op::DeleteObjects { .. } => Action::DeleteObjects,
            Op::PutObject { .. } => Action::PutObject,
            Op::CopyObject { .. } => Action::CopyObject,
            Op::GetObject(_) => Action::GetObject,
            Op::HeadObject(_) => Action::HeadObject,
            Op::DeleteObject { .. } => Action::DeleteObject,
            Op::GetObjectAcl { .. } => Action::GetObjectAcl,
            Op::PutObjectAcl { .. } => Action::PutObjectAcl,
            Op::PutBucketAcl { .. } => Action::PutBucketAcl,
            Op::PutBucketOwnershipControls { .. } => Action::PutBucketOwnershipControls,
            Op::GetBucketOwnershipControls { .. } => Action::GetBucketOwnershipControls,
            Op::DeleteBucketOwnershipControls { .. } => Action::DeleteBucketOwnershipControls,
            Op::PutPublicAccessBlock { .. } => Action::PutPublicAccessBlock,
            Op::GetPublicAccessBlock { .. } => Action::GetPublicAccessBlock,
            Op::DeletePublicAccessBlock { .. } => Action::DeletePublicAccessBlock,
            Op::CreateMultipartUpload { .. } => Action::CreateMultipartUpload,
            Op::UploadPart { .. } => Action::UploadPart,
            Op::UploadPartCopy { .. } => Action::UploadPartCopy,
            Op::CompleteMultipartUpload { .. } => Action::CompleteMultipartUpload,
            Op::AbortMultipartUpload { .. } => Action::AbortMultipartUpload,
            Op::ListParts { .. } => Action::ListParts,
            Op::PutBucketPolicy { .. } => Action::PutBucketPolicy,
            Op::GetBucketPolicy { .. } => Action::GetBucketPolicy,
            Op::DeleteBucketPolicy { .. } => Action::DeleteBucketPolicy,
            Op::GetBucketPolicyStatus { .. } => Action::GetBucketPolicyStatus,
            Op::PutBucketCors { .. } => Action::PutBucketCors,
            Op::GetBucketCors { .. } => Action::GetBucketCors,
            Op::DeleteBucketCors { .. } => Action::DeleteBucketCors,
            Op::PutBucketEncryption { .. } => Action::PutBucketEncryption,
            Op::GetBucketEncryption { .. } => Action::GetBucketEncryption,
            Op::DeleteBucketEncryption { .. } => Action::DeleteBucketEncryption,
            Op::PutBucketLifecycle { .. } => Action::PutBucketLifecycle,
            Op::GetBucketLifecycle { .. } => Action::GetBucketLifecycle,
            Op::DeleteBucketLifecycle { .. } => Action::DeleteBucketLifecycle,
            Op::PutBucketVersioning { .. } => Action::PutBucketVersioning,
            Op::ListObjectVersions { .. } => Action::ListObjectVersions,
            Op::PutObjectTagging { .. } => Action::PutObjectTagging,
            Op::GetObjectTagging { .. } => Action::GetObjectTagging,
            Op::DeleteObjectTagging { .. } => Action::DeleteObjectTagging,
            Op::GetObjectAttributes { .. } => Action::GetObjectAttributes,
            Op::PutObjectLockConfiguration { .. } => Action::PutObjectLockConfiguration,
            Op::GetObjectLockConfiguration { .. } => Action::GetObjectLockConfiguration,
            Op::PutObjectRetention(_) => Action::PutObjectRetention,
            Op::GetObjectRetention(_) => Action::GetObjectRetention,
            Op::PutObjectLegalHold(_) => Action::PutObjectLegalHold,
            Op::GetObjectLegalHold(_) => Action::GetObjectLegalHold,
            Op::Preflight { .. } => Action::Preflight,
            Op::Unsupported { .. } => Action::Unsupported,
        }
    }
}

/// A part number: an integer from 1 to 10000.
pub fn parse_part_number(raw: &str) -> S3Result<u32> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                raw,
            )
        })
}

#[derive(Debug, Clone)]
pub struct Route {
    pub bucket: Option<String>,
    /// Whether the bucket came from the Host header (virtual-hosted style).
    pub virtual_host: bool,
    pub key: Option<String>,
    pub query: Query,
    pub action: Action,
    /// For [`Action::Unsupported`]: the feature asked for.
    pub unsupported: Option<String>,
}

impl Route {
    /// The `versionId` the request names, if any (authorization asks for the
    /// `...Version` permission when there is one).
    pub fn version_id(&self) -> Option<&str> {
        self.query.get("versionId")
    }

    /// The typed operation, its parameters taken from the address and the query and
    /// checked. A part upload's `partNumber` is checked before its `uploadId`; an upload
    /// id that names no upload (a missing one included) is `NoSuchUpload`.
    pub fn op(&self) -> S3Result<Op> {
        // `resolve` only picks a bucket operation with a bucket in the address, and an
        // object operation with a key too.
        let unaddressed = || {
            S3Error::internal(format!(
                "{:?} routed without its bucket or key",
                self.action
            ))
        };
        let bucket = || self.bucket.clone().ok_or_else(unaddressed);
        let object = || Ok::<_, S3Error>((bucket()?, self.key.clone().ok_or_else(unaddressed)?));
        let version_id = || self.version_id().map(str::to_string);
        // ListParts, Complete and Abort are only routed with an uploadId.
        let upload_id = || {
            self.query
                .get("uploadId")
                .map(str::to_string)
                .ok_or_else(|| S3Error::new(S3Code::NoSuchUpload).detail("UploadId", ""))
        };
        let part_number = || parse_part_number(self.query.get("partNumber").unwrap_or_default());
        let object_version = || {
            let (bucket, key) = object()?;
            Ok::<_, S3Error>(ObjectVersion {
                bucket,
                key,
                version_id: version_id(),
            })
        };
        let read = || {
            let (bucket, key) = object()?;
            Ok::<_, S3Error>(ReadObject {
                bucket,
                key,
                version_id: version_id(),
                part_number: self.query.get("partNumber").map(str::to_string),
                response_headers: RESPONSE_OVERRIDES
                    .iter()
                    .filter_map(|(param, header)| {
                        self.query.get(param).map(|v| (*header, v.to_string()))
                    })
                    .collect(),
            })
        };
        Ok(match self.action {
            Action::ListBuckets => Op::ListBuckets,
            Action::CreateBucket => Op::CreateBucket { bucket: bucket()? },
            Action::HeadBucket => Op::HeadBucket { bucket: bucket()? },
            Action::DeleteBucket => Op::DeleteBucket { bucket: bucket()? },
            Action::GetBucketLocation => Op::GetBucketLocation { bucket: bucket()? },
            Action::GetBucketVersioning => Op::GetBucketVersioning { bucket: bucket()? },
            Action::GetBucketAcl => Op::GetBucketAcl { bucket: bucket()? },
            Action::ListObjectsV1 => Op::ListObjectsV1 { bucket: bucket()? },
            Action::ListObjectsV2 => Op::ListObjectsV2 { bucket: bucket()? },
            Action::ListMultipartUploads => Op::ListMultipartUploads { bucket: bucket()? },
            Action::DeleteObjects => Op::DeleteObjects { bucket: bucket()? },
            // The pipeline hands it to its handler before asking for an `Op`.
            Action::PostObject => {
                return Err(S3Error::internal("POST Object has no Op"));
            }
            Action::PutObject => {
                let (bucket, key) = object()?;
                Op::PutObject { bucket, key }
            }
            Action::CopyObject => {
                let (bucket, key) = object()?;
                Op::CopyObject { bucket, key }
            }
            Action::GetObject => Op::GetObject(read()?),
            Action::HeadObject => Op::HeadObject(read()?),
            Action::DeleteObject => {
                let (bucket, key) = object()?;
                Op::DeleteObject {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::GetObjectAcl => {
                let (bucket, key) = object()?;
                Op::GetObjectAcl {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::PutObjectAcl => {
                let (bucket, key) = object()?;
                Op::PutObjectAcl {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::PutBucketAcl => Op::PutBucketAcl { bucket: bucket()? },
            Action::PutBucketOwnershipControls => {
                Op::PutBucketOwnershipControls { bucket: bucket()? }
            }
            Action::GetBucketOwnershipControls => {
                Op::GetBucketOwnershipControls { bucket: bucket()? }
            }
            Action::DeleteBucketOwnershipControls => {
                Op::DeleteBucketOwnershipControls { bucket: bucket()? }
            }
            Action::PutPublicAccessBlock => Op::PutPublicAccessBlock { bucket: bucket()? },
            Action::GetPublicAccessBlock => Op::GetPublicAccessBlock { bucket: bucket()? },
            Action::DeletePublicAccessBlock => Op::DeletePublicAccessBlock { bucket: bucket()? },
            Action::CreateMultipartUpload => {
                let (bucket, key) = object()?;
                Op::CreateMultipartUpload { bucket, key }
            }
            Action::UploadPart => {
                let part_number = part_number()?;
                let (bucket, key) = object()?;
                Op::UploadPart {
                    bucket,
                    key,
                    upload_id: upload_id()?,
                    part_number,
                }
            }
            Action::UploadPartCopy => {
                let part_number = part_number()?;
                let (bucket, key) = object()?;
                Op::UploadPartCopy {
                    bucket,
                    key,
                    upload_id: upload_id()?,
                    part_number,
                }
            }
            Action::CompleteMultipartUpload => {
                let (bucket, key) = object()?;
                Op::CompleteMultipartUpload {
                    bucket,
                    key,
                    upload_id: upload_id()?,
                }
            }
            Action::AbortMultipartUpload => {
                let (bucket, key) = object()?;
                Op::AbortMultipartUpload {
                    bucket,
                    key,
                    upload_id: upload_id()?,
                }
            }
            Action::ListParts => {
                let (bucket, key) = object()?;
                Op::ListParts {
                    bucket,
                    key,
                    upload_id: upload_id()?,
                }
            }
            Action::PutBucketPolicy => Op::PutBucketPolicy { bucket: bucket()? },
            Action::GetBucketPolicy => Op::GetBucketPolicy { bucket: bucket()? },
            Action::DeleteBucketPolicy => Op::DeleteBucketPolicy { bucket: bucket()? },
            Action::GetBucketPolicyStatus => Op::GetBucketPolicyStatus { bucket: bucket()? },
            Action::PutBucketCors => Op::PutBucketCors { bucket: bucket()? },
            Action::GetBucketCors => Op::GetBucketCors { bucket: bucket()? },
            Action::DeleteBucketCors => Op::DeleteBucketCors { bucket: bucket()? },
            Action::PutBucketEncryption => Op::PutBucketEncryption { bucket: bucket()? },
            Action::GetBucketEncryption => Op::GetBucketEncryption { bucket: bucket()? },
            Action::DeleteBucketEncryption => Op::DeleteBucketEncryption { bucket: bucket()? },
            Action::PutBucketLifecycle => Op::PutBucketLifecycle { bucket: bucket()? },
            Action::GetBucketLifecycle => Op::GetBucketLifecycle { bucket: bucket()? },
            Action::DeleteBucketLifecycle => Op::DeleteBucketLifecycle { bucket: bucket()? },
            Action::PutBucketVersioning => Op::PutBucketVersioning { bucket: bucket()? },
            Action::ListObjectVersions => Op::ListObjectVersions { bucket: bucket()? },
            Action::PutObjectTagging => {
                let (bucket, key) = object()?;
                Op::PutObjectTagging {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::GetObjectTagging => {
                let (bucket, key) = object()?;
                Op::GetObjectTagging {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::DeleteObjectTagging => {
                let (bucket, key) = object()?;
                Op::DeleteObjectTagging {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::GetObjectAttributes => {
                let (bucket, key) = object()?;
                Op::GetObjectAttributes {
                    bucket,
                    key,
                    version_id: version_id(),
                }
            }
            Action::PutObjectLockConfiguration => {
                Op::PutObjectLockConfiguration { bucket: bucket()? }
            }
            Action::GetObjectLockConfiguration => {
                Op::GetObjectLockConfiguration { bucket: bucket()? }
            }
            Action::PutObjectRetention => Op::PutObjectRetention(object_version()?),
            Action::GetObjectRetention => Op::GetObjectRetention(object_version()?),
            Action::PutObjectLegalHold => Op::PutObjectLegalHold(object_version()?),
            Action::GetObjectLegalHold => Op::GetObjectLegalHold(object_version()?),
            Action::Preflight => Op::Preflight {
                bucket: self.bucket.clone(),
            },
            Action::Unsupported => Op::Unsupported {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                feature: self.unsupported.clone().unwrap_or_default(),
            },
        })
    }
}

/// Bucket name from a `Host: <bucket>.<domain>` header, for each configured domain.
pub fn virtual_host_bucket(headers: &HeaderMap, domains: &[String]) -> Option<String> {
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    domains.iter().find_map(|domain| {
        let bucket = host.strip_suffix(domain.as_str())?.strip_suffix('.')?;
        (!bucket.is_empty()).then(|| bucket.to_string())
    })
}

fn decode_path(raw: &str) -> S3Result<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| S3Error::msg(S3Code::InvalidArgument, "Object keys must be valid UTF-8."))
}

pub fn route(
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    domains: &[String],
) -> S3Result<Route> {
    let query = Query::parse(uri.query());
    let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
    let vhost = virtual_host_bucket(headers, domains);
    let virtual_host = vhost.is_some();
    let (bucket, key) = match vhost {
        Some(bucket) => (Some(bucket), Some(decode_path(path)?)),
        None => match path.split_once('/') {
            Some((bucket, key)) => (Some(decode_path(bucket)?), Some(decode_path(key)?)),
            None => (
                (!path.is_empty()).then(|| decode_path(path)).transpose()?,
                None,
            ),
        },
    };
    let key = key.filter(|k| !k.is_empty());
    if let Some(key) = &key
        && key.len() > MAX_KEY_BYTES
    {
        return Err(S3Error::new(S3Code::KeyTooLongError)
            .detail("Size", key.len().to_string())
            .detail("MaxSizeAllowed", MAX_KEY_BYTES.to_string()));
    }
    let action = resolve(method, bucket.is_some(), key.is_some(), &query, headers)?;
    let unsupported = (action == Action::Unsupported)
        .then(|| unsupported_feature(key.is_some(), &query))
        .flatten();
    Ok(Route {
        bucket,
        virtual_host,
        key,
        query,
        action,
        unsupported,
    })
}

/// The 501 for a feature this server does not have.
pub fn not_implemented(what: &str) -> S3Error {
    S3Error::msg(
        S3Code::NotImplemented,
        format!("{what} is not implemented by this server."),
    )
}

/// Sub-resources we do not implement yet answer 501 instead of acting as a plain
/// GET/PUT/DELETE on the bucket or object, which would do something else entirely.
const UNSUPPORTED_SUBRESOURCES: [&str; 13] = [
    "website",
    "replication",
    "logging",
    "notification",
    "accelerate",
    "requestPayment",
    "torrent",
    "select",
    "restore",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
];

/// What an unimplemented sub-resource of the request is, for the 501's message.
fn unsupported_feature(has_key: bool, q: &Query) -> Option<String> {
    if q.has("tagging") && !has_key {
        return Some("Bucket tagging".into());
    }
    UNSUPPORTED_SUBRESOURCES
        .iter()
        .find(|s| q.has(s))
        .map(|sub| format!("The '{sub}' sub-resource"))
}

fn resolve(
    method: &Method,
    has_bucket: bool,
    has_key: bool,
    q: &Query,
    headers: &HeaderMap,
) -> S3Result<Action> {
    use Action::*;
    if method == Method::OPTIONS {
        return Ok(Preflight);
    }
    if has_bucket && !has_key {
        let bucket_config = match method.as_str() {
            "PUT" if q.has("policy") => Some(PutBucketPolicy),
            "GET" if q.has("policyStatus") => Some(GetBucketPolicyStatus),
            "GET" if q.has("policy") => Some(GetBucketPolicy),
            "DELETE" if q.has("policy") => Some(DeleteBucketPolicy),
            "PUT" if q.has("cors") => Some(PutBucketCors),
            "GET" if q.has("cors") => Some(GetBucketCors),
            "DELETE" if q.has("cors") => Some(DeleteBucketCors),
            "PUT" if q.has("encryption") => Some(PutBucketEncryption),
            "GET" if q.has("encryption") => Some(GetBucketEncryption),
            "DELETE" if q.has("encryption") => Some(DeleteBucketEncryption),
            "PUT" if q.has("lifecycle") => Some(PutBucketLifecycle),
            "GET" if q.has("lifecycle") => Some(GetBucketLifecycle),
            "DELETE" if q.has("lifecycle") => Some(DeleteBucketLifecycle),
            "PUT" if q.has("acl") => Some(PutBucketAcl),
            "GET" if q.has("acl") => Some(GetBucketAcl),
            "PUT" if q.has("ownershipControls") => Some(PutBucketOwnershipControls),
            "GET" if q.has("ownershipControls") => Some(GetBucketOwnershipControls),
            "DELETE" if q.has("ownershipControls") => Some(DeleteBucketOwnershipControls),
            "PUT" if q.has("publicAccessBlock") => Some(PutPublicAccessBlock),
            "GET" if q.has("publicAccessBlock") => Some(GetPublicAccessBlock),
            "DELETE" if q.has("publicAccessBlock") => Some(DeletePublicAccessBlock),
            "PUT" if q.has("object-lock") => Some(PutObjectLockConfiguration),
            "GET" if q.has("object-lock") => Some(GetObjectLockConfiguration),
            _ => None,
        };
        if let Some(action) = bucket_config {
            return Ok(action);
        }
    }
    if has_key && q.has("acl") {
        match method.as_str() {
            "PUT" => return Ok(PutObjectAcl),
            "GET" => return Ok(GetObjectAcl),
            _ => {}
        }
    }
    if has_key {
        match method.as_str() {
            "PUT" if q.has("retention") => return Ok(PutObjectRetention),
            "GET" if q.has("retention") => return Ok(GetObjectRetention),
            "PUT" if q.has("legal-hold") => return Ok(PutObjectLegalHold),
            "GET" if q.has("legal-hold") => return Ok(GetObjectLegalHold),
            _ => {}
        }
    }
    if has_key && q.has("tagging") {
        match method.as_str() {
            "PUT" => return Ok(PutObjectTagging),
            "GET" => return Ok(GetObjectTagging),
            "DELETE" => return Ok(DeleteObjectTagging),
            _ => {}
        }
    }
    // Routed (authenticated, authorized, the bucket and key looked up) and then
    // refused by the handler, as AWS answers a missing bucket or key first.
    if unsupported_feature(has_key, q).is_some() {
        return Ok(Unsupported);
    }
    let copy = headers.contains_key("x-amz-copy-source");
    let action = match (method.as_str(), has_bucket, has_key) {
        ("GET", false, _) => ListBuckets,
        ("PUT", true, false) if q.has("versioning") => PutBucketVersioning,
        ("GET", true, false) if q.has("versions") => ListObjectVersions,
        ("PUT", true, false) => CreateBucket,
        ("HEAD", true, false) => HeadBucket,
        ("DELETE", true, false) => DeleteBucket,
        ("GET", true, false) if q.has("location") => GetBucketLocation,
        ("GET", true, false) if q.has("versioning") => GetBucketVersioning,
        ("GET", true, false) if q.has("acl") => GetBucketAcl,
        ("GET", true, false) if q.has("uploads") => ListMultipartUploads,
        ("GET", true, false) if q.get("list-type") == Some("2") => ListObjectsV2,
        ("GET", true, false) => ListObjectsV1,
        ("POST", true, false) if q.has("delete") => DeleteObjects,
        ("POST", true, false) => PostObject,
        ("PUT", true, true) if q.has("partNumber") || q.has("uploadId") => {
            if copy {
                UploadPartCopy
            } else {
                UploadPart
            }
        }
        ("PUT", true, true) if copy => CopyObject,
        ("PUT", true, true) => PutObject,
        ("GET", true, true) if q.has("acl") => GetObjectAcl,
        ("GET", true, true) if q.has("attributes") => GetObjectAttributes,
        ("GET", true, true) if q.has("uploadId") => ListParts,
        ("GET", true, true) => GetObject,
        ("HEAD", true, true) => HeadObject,
        ("DELETE", true, true) if q.has("uploadId") => AbortMultipartUpload,
        ("DELETE", true, true) => DeleteObject,
        ("POST", true, true) if q.has("uploads") => CreateMultipartUpload,
        ("POST", true, true) if q.has("uploadId") => CompleteMultipartUpload,
        _ => return Err(S3Error::new(S3Code::MethodNotAllowed).detail("Method", method.as_str())),
    };
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, uri: &str, host: &str) -> S3Result<Route> {
        let mut headers = HeaderMap::new();
        headers.insert("host", host.parse().unwrap());
        route(
            &method.parse().unwrap(),
            &uri.parse().unwrap(),
            &headers,
            &["localhost".to_string()],
        )
    }

    #[test]
    fn path_and_virtual_host_addressing() {
        let p = r("GET", "/b/a%20b/c?x=1", "127.0.0.1:9000").unwrap();
        assert_eq!(
            (p.bucket.as_deref(), p.key.as_deref(), p.action),
            (Some("b"), Some("a b/c"), Action::GetObject)
        );
        let v = r("GET", "/a%2Fb", "b.localhost:9000").unwrap();
        assert_eq!(
            (v.bucket.as_deref(), v.key.as_deref()),
            (Some("b"), Some("a/b"))
        );
        let l = r("GET", "/", "localhost:9000").unwrap();
        assert_eq!(l.action, Action::ListBuckets);
        assert_eq!(
            r("GET", "/b?list-type=2&prefix=a+b", "x")
                .unwrap()
                .query
                .get("prefix"),
            Some("a b")
        );
        assert_eq!(r("GET", "/b/", "x").unwrap().action, Action::ListObjectsV1);
    }

    #[test]
    fn resolves_actions_and_rejects_the_rest() {
        assert_eq!(
            r("POST", "/b?delete", "x").unwrap().action,
            Action::DeleteObjects
        );
        assert_eq!(
            r("PUT", "/b/k?partNumber=1&uploadId=u", "x")
                .unwrap()
                .action,
            Action::UploadPart
        );
        assert_eq!(
            r("POST", "/b/k?uploads", "x").unwrap().action,
            Action::CreateMultipartUpload
        );
        assert_eq!(
            r("PUT", "/b?tagging", "x").unwrap().action,
            Action::Unsupported
        );
        assert_eq!(
            op("GET", "/b/k?torrent").unwrap(),
            Op::Unsupported {
                bucket: Some(s("b")),
                key: Some(s("k")),
                feature: s("The 'torrent' sub-resource")
            }
        );
        assert_eq!(
            r("GET", "/b/k?acl", "x").unwrap().action,
            Action::GetObjectAcl
        );
        assert_eq!(
            r("PUT", "/b/k?acl", "x").unwrap().action,
            Action::PutObjectAcl
        );
        assert_eq!(
            r("DELETE", "/b?publicAccessBlock", "x").unwrap().action,
            Action::DeletePublicAccessBlock
        );
        assert_eq!(
            r("PUT", "/b/k?tagging", "x").unwrap().action,
            Action::PutObjectTagging
        );
        assert_eq!(
            r("PUT", "/b?policy", "x").unwrap().action,
            Action::PutBucketPolicy
        );
        assert_eq!(r("OPTIONS", "/b/k", "x").unwrap().action, Action::Preflight);
        assert_eq!(
            r("POST", "/b/k", "x").unwrap_err().code,
            S3Code::MethodNotAllowed
        );
        let long = format!("/b/{}", "k".repeat(1025));
        assert_eq!(
            r("PUT", &long, "x").unwrap_err().code,
            S3Code::KeyTooLongError
        );
    }

    fn op(method: &str, uri: &str) -> S3Result<Op> {
        r(method, uri, "x").unwrap().op()
    }

    fn copy_op(uri: &str) -> S3Result<Op> {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-copy-source", "/src/k".parse().unwrap());
        route(&Method::PUT, &uri.parse().unwrap(), &headers, &[])
            .unwrap()
            .op()
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn ops_carry_bucket_and_key() {
        assert_eq!(op("GET", "/").unwrap(), Op::ListBuckets);
        assert_eq!(
            op("PUT", "/b").unwrap(),
            Op::CreateBucket { bucket: s("b") }
        );
        assert_eq!(
            op("PUT", "/b/a%20b/c").unwrap(),
            Op::PutObject {
                bucket: s("b"),
                key: s("a b/c")
            }
        );
        assert_eq!(
            copy_op("/b/k").unwrap(),
            Op::CopyObject {
                bucket: s("b"),
                key: s("k")
            }
        );
        assert_eq!(
            op("GET", "/b/k?acl&versionId=v1").unwrap(),
            Op::GetObjectAcl {
                bucket: s("b"),
                key: s("k"),
                version_id: Some(s("v1"))
            }
        );
        assert_eq!(
            op("PUT", "/b/k?acl").unwrap(),
            Op::PutObjectAcl {
                bucket: s("b"),
                key: s("k"),
                version_id: None
            }
        );
        assert_eq!(
            op("GET", "/b?acl").unwrap(),
            Op::GetBucketAcl { bucket: s("b") }
        );
        // Virtual-hosted style: the bucket from the Host header.
        let mut headers = HeaderMap::new();
        headers.insert("host", "vb.localhost:9000".parse().unwrap());
        let vhost = route(
            &Method::DELETE,
            &"/k".parse().unwrap(),
            &headers,
            &["localhost".to_string()],
        )
        .unwrap();
        assert_eq!(
            vhost.op().unwrap(),
            Op::DeleteObject {
                bucket: s("vb"),
                key: s("k"),
                version_id: None
            }
        );
        // A preflight may have no bucket at all.
        assert_eq!(op("OPTIONS", "/").unwrap(), Op::Preflight { bucket: None });
        assert_eq!(
            op("OPTIONS", "/b/k").unwrap(),
            Op::Preflight {
                bucket: Some(s("b"))
            }
        );
    }

    #[test]
    fn multipart_ops_carry_upload_id_and_part_number() {
        assert_eq!(
            op("PUT", "/b/k?partNumber=10000&uploadId=u1").unwrap(),
            Op::UploadPart {
                bucket: s("b"),
                key: s("k"),
                upload_id: s("u1"),
                part_number: 10000
            }
        );
        assert_eq!(
            copy_op("/b/k?uploadId=u2&partNumber=1").unwrap(),
            Op::UploadPartCopy {
                bucket: s("b"),
                key: s("k"),
                upload_id: s("u2"),
                part_number: 1
            }
        );
        let upload = |id: &str| (s("b"), s("k"), s(id));
        match op("POST", "/b/k?uploadId=c").unwrap() {
            Op::CompleteMultipartUpload {
                bucket,
                key,
                upload_id,
            } => assert_eq!((bucket, key, upload_id), upload("c")),
            other => panic!("{other:?}"),
        }
        match op("DELETE", "/b/k?uploadId=a").unwrap() {
            Op::AbortMultipartUpload {
                bucket,
                key,
                upload_id,
            } => assert_eq!((bucket, key, upload_id), upload("a")),
            other => panic!("{other:?}"),
        }
        match op("GET", "/b/k?uploadId=l&max-parts=2").unwrap() {
            Op::ListParts {
                bucket,
                key,
                upload_id,
            } => assert_eq!((bucket, key, upload_id), upload("l")),
            other => panic!("{other:?}"),
        }
        // An empty uploadId is passed on as sent (the store answers NoSuchUpload).
        match op("DELETE", "/b/k?uploadId=").unwrap() {
            Op::AbortMultipartUpload { upload_id, .. } => assert_eq!(upload_id, ""),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_part_numbers_and_missing_upload_ids_are_refused_by_op_not_route() {
        for uri in [
            "/b/k?partNumber=0&uploadId=u",
            "/b/k?partNumber=10001&uploadId=u",
            "/b/k?partNumber=x&uploadId=u",
            "/b/k?partNumber=-1&uploadId=u",
            "/b/k?partNumber=&uploadId=u",
            "/b/k?uploadId=u",
            // The part number is checked before the upload id.
            "/b/k?partNumber=0",
        ] {
            // Routed (so authentication and authorization come first) ...
            assert_eq!(r("PUT", uri, "x").unwrap().action, Action::UploadPart);
            // ... and refused when the operation is asked for, as the handler did.
            let err = op("PUT", uri).unwrap_err();
            assert_eq!(err.code, S3Code::InvalidArgument, "{uri}");
            assert_eq!(
                err.message,
                "Part number must be an integer between 1 and 10000, inclusive"
            );
            assert!(err.details.contains(&("ArgumentName", s("partNumber"))));
            let copy = copy_op(uri).unwrap_err();
            assert_eq!(copy.code, S3Code::InvalidArgument, "{uri}");
        }
        let err = op("PUT", "/b/k?partNumber=3").unwrap_err();
        assert_eq!(err.code, S3Code::NoSuchUpload);
        assert_eq!(err.details, vec![("UploadId", s(""))]);
        assert_eq!(
            copy_op("/b/k?partNumber=3").unwrap_err().code,
            S3Code::NoSuchUpload
        );
        assert_eq!(parse_part_number("+7").unwrap(), 7);
        assert_eq!(
            parse_part_number("4294967296").unwrap_err().code,
            S3Code::InvalidArgument
        );
    }

    #[test]
    fn version_ids_and_read_parameters() {
        assert_eq!(
            op("DELETE", "/b/k?versionId=v1").unwrap(),
            Op::DeleteObject {
                bucket: s("b"),
                key: s("k"),
                version_id: Some(s("v1"))
            }
        );
        for (method, want) in [
            ("PUT", Action::PutObjectTagging),
            ("GET", Action::GetObjectTagging),
            ("DELETE", Action::DeleteObjectTagging),
        ] {
            let o = op(method, "/b/k?tagging&versionId=null").unwrap();
            assert_eq!(o.action(), want);
            let version = match o {
                Op::PutObjectTagging { version_id, .. }
                | Op::GetObjectTagging { version_id, .. }
                | Op::DeleteObjectTagging { version_id, .. } => version_id,
                other => panic!("{other:?}"),
            };
            assert_eq!(version.as_deref(), Some("null"));
        }
        let read = |method: &str, uri: &str| match op(method, uri).unwrap() {
            Op::GetObject(read) | Op::HeadObject(read) => read,
            other => panic!("{other:?}"),
        };
        let plain = read("GET", "/b/k");
        assert_eq!(
            plain,
            ReadObject {
                bucket: s("b"),
                key: s("k"),
                version_id: None,
                part_number: None,
                response_headers: vec![]
            }
        );
        // GetObject's partNumber is kept as sent: it is checked once the object is open.
        let full = read(
            "HEAD",
            "/b/k?versionId=v2&partNumber=zero&response-expires=never&response-content-type=a%2Fb",
        );
        assert_eq!(full.version_id.as_deref(), Some("v2"));
        assert_eq!(full.part_number.as_deref(), Some("zero"));
        assert_eq!(
            full.response_headers,
            vec![("content-type", s("a/b")), ("expires", s("never"))]
        );
    }

    #[test]
    fn op_kind_is_the_routed_action() {
        for (method, uri) in [
            ("GET", "/"),
            ("PUT", "/b"),
            ("HEAD", "/b"),
            ("DELETE", "/b"),
            ("GET", "/b?location"),
            ("GET", "/b?versioning"),
            ("PUT", "/b?versioning"),
            ("GET", "/b?acl"),
            ("GET", "/b"),
            ("GET", "/b?list-type=2"),
            ("GET", "/b?versions"),
            ("GET", "/b?uploads"),
            ("POST", "/b?delete"),
            ("PUT", "/b?policy"),
            ("GET", "/b?policy"),
            ("DELETE", "/b?policy"),
            ("GET", "/b?policyStatus"),
            ("PUT", "/b?cors"),
            ("GET", "/b?cors"),
            ("DELETE", "/b?cors"),
            ("PUT", "/b?encryption"),
            ("GET", "/b?encryption"),
            ("DELETE", "/b?encryption"),
            ("PUT", "/b/k"),
            ("GET", "/b/k"),
            ("HEAD", "/b/k"),
            ("DELETE", "/b/k"),
            ("GET", "/b/k?acl"),
            ("POST", "/b/k?uploads"),
            ("PUT", "/b/k?partNumber=1&uploadId=u"),
            ("POST", "/b/k?uploadId=u"),
            ("DELETE", "/b/k?uploadId=u"),
            ("GET", "/b/k?uploadId=u"),
            ("PUT", "/b/k?tagging"),
            ("GET", "/b/k?tagging"),
            ("DELETE", "/b/k?tagging"),
            ("PUT", "/b?object-lock"),
            ("GET", "/b?object-lock"),
            ("PUT", "/b/k?retention&versionId=v"),
            ("GET", "/b/k?retention"),
            ("PUT", "/b/k?legal-hold"),
            ("GET", "/b/k?legal-hold&versionId=v"),
            ("OPTIONS", "/b/k"),
        ] {
            let routed = r(method, uri, "x").unwrap();
            assert_eq!(
                routed.op().unwrap().action(),
                routed.action,
                "{method} {uri}"
            );
        }
    }
}
