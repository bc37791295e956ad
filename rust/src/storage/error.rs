//! What can go wrong in storage, in storage's own words. The S3 layer turns each
//! variant into its S3 code in one table (`s3::error`, `From<storage::Error>`).

/// A storage failure: a missing thing, a refused change, or the disk's own error.
#[derive(Debug)]
pub enum Error {
    InvalidBucketName {
        bucket: String,
    },
    NoSuchBucket {
        bucket: String,
    },
    /// The bucket exists already (buckets have one owner here).
    BucketExists {
        bucket: String,
    },
    BucketNotEmpty {
        bucket: String,
    },
    NoSuchKey {
        key: String,
    },
    NoSuchVersion {
        key: String,
        version_id: String,
    },
    InvalidVersionId {
        version_id: String,
    },
    /// The version named is a delete marker, where an object version is needed.
    DeleteMarker,
    /// A copy names a delete marker as its source.
    CopyOfDeleteMarker,
    NoSuchUpload {
        upload_id: String,
    },
    /// A conditional write's condition (`IfNoneMatch`, `IfMatch`) did not hold.
    PreconditionFailed {
        condition: &'static str,
    },
    /// A conditional write lost a race with a delete of its key.
    ConditionalConflict,
    /// Completing an upload with no parts.
    NoParts,
    /// Parts listed out of ascending order.
    PartOrder,
    /// A listed part does not exist (or has another ETag).
    NoSuchPart {
        part_number: u32,
        etag: String,
    },
    /// A part other than the last is smaller than the minimum.
    PartTooSmall {
        part_number: u32,
        etag: String,
        size: u64,
        min: u64,
    },
    /// The disk is full (or the quota spent).
    Full,
    /// Too few drives answer to read or write this safely (cluster mode); try again later.
    Unavailable(String),
    Io(std::io::Error),
    /// A broken invariant or unreadable record; logged where it is turned into a response.
    Internal(String),
    /// Encrypted bytes could not be written or read as asked.
    Sealing(super::sealing::Refusal),
    /// A caller's own check (run under storage's lock) refused; its error passes through.
    Refused(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Error::Internal(err.to_string())
    }
    pub fn no_such_key(key: &str) -> Self {
        Error::NoSuchKey {
            key: key.to_string(),
        }
    }
    pub fn no_such_bucket(bucket: &str) -> Self {
        Error::NoSuchBucket {
            bucket: bucket.to_string(),
        }
    }
    /// A missing metadata or data file means a missing key; anything else is the disk's error.
    pub fn key_io(key: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match err.kind() {
            NotFound | NotADirectory | InvalidData => Error::no_such_key(key),
            _ => err.into(),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::Full,
            _ => Error::Io(err),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::internal(err)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
            Error::Refused(e) => write!(f, "refused: {e}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for Error {}
