//! The one S3 error type: a code that knows its HTTP status, a message, and the
//! optional extra fields AWS puts in some error documents. `to_response` is the only
//! place that turns an error into an HTTP response.

use http::StatusCode;

macro_rules! s3_codes {
    ($($name:ident $(as $code:literal)? => $status:expr, $msg:expr;)*) => {
        /// Every S3 error code the server can answer with.
        #[allow(dead_code)] // some are only produced by features still to come
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum S3Code { $($name,)* }

        impl S3Code {
            pub fn as_str(self) -> &'static str {
                match self { $(S3Code::$name => s3_codes!(@code $name $($code)?),)* }
            }
            pub fn status(self) -> StatusCode {
                match self { $(S3Code::$name => StatusCode::from_u16($status).unwrap(),)* }
            }
            /// AWS's default message for the code.
            pub fn default_message(self) -> &'static str {
                match self { $(S3Code::$name => $msg,)* }
            }
        }
    };
    (@code $name:ident) => { stringify!($name) };
    (@code $name:ident $code:literal) => { $code };
}

s3_codes! {
    AccessDenied => 403, "Access Denied";
    AccessControlListNotSupported => 400, "The bucket does not allow ACLs";
    AccessForbidden => 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    AuthorizationQueryParametersError => 400, "Error parsing the X-Amz-Credential parameter.";
    AuthorizationHeaderMalformed => 400, "The authorization header is malformed.";
    BadRequest => 400, "Bad Request";
    BadDigest => 400, "The Content-MD5 you specified did not match what we received.";
    BucketAlreadyExists => 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou => 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => 409, "The bucket you tried to delete is not empty";
    EntityTooLarge => 400, "Your proposed upload exceeds the maximum allowed size";
    EntityTooSmall => 400, "Your proposed upload is smaller than the minimum allowed object size.";
    IllegalLocationConstraintException => 400, "The specified location-constraint is not valid for this endpoint.";
    IncompleteBody => 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InternalError => 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => 403, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument => 400, "Invalid Argument";
    InvalidBucketName => 400, "The specified bucket is not valid.";
    InvalidBucketState => 409, "The request is not valid with the current state of the bucket.";
    InvalidEncryptionAlgorithmError => 400, "The Encryption request you specified is not valid. Supported value: AES256.";
    InvalidBucketAclWithObjectOwnership => 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting";
    InvalidDigest => 400, "The Content-MD5 you specified is not valid.";
    InvalidLocationConstraint => 400, "The specified location-constraint is not valid.";
    InvalidPolicyDocument => 400, "The content of the form does not meet the conditions specified in the policy document.";
    InvalidPartNumber => 416, "The requested partnumber is not satisfiable";
    InvalidPart => 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartOrder => 400, "The list of parts was not in ascending order. Parts must be ordered by part number.";
    InvalidRange => 416, "The requested range is not satisfiable";
    InvalidRequest => 400, "Invalid Request";
    InvalidTag => 400, "The tag provided was not a valid tag.";
    InvalidStorageClass => 400, "The storage class you specified is not valid";
    KeyTooLongError => 400, "Your key is too long";
    KmsNotFound as "KMS.NotFoundException" => 400, "Invalid keyId";
    MalformedACLError => 400, "The XML you provided was not well-formed or did not validate against our published schema";
    MalformedXML => 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MalformedPOSTRequest => 400, "The body of your POST request is not well-formed multipart/form-data.";
    MalformedPolicy => 400, "Policies must be valid JSON and the first byte must be '{'";
    // The code as AWS's error table names it (some AWS answers have been seen without "Error").
    MaxPostPreDataLengthExceededError => 400, "Your POST request fields preceding the upload file were too large.";
    MetadataTooLarge => 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed => 405, "The specified method is not allowed against this resource.";
    MissingContentLength => 411, "You must provide the Content-Length HTTP header.";
    MissingSecurityHeader => 400, "Your request is missing a required header.";
    NoSuchBucket => 404, "The specified bucket does not exist";
    NoSuchBucketPolicy => 404, "The bucket policy does not exist";
    NoSuchCORSConfiguration => 404, "The CORS configuration does not exist";
    NoSuchLifecycleConfiguration => 404, "The lifecycle configuration does not exist";
    NoSuchVersion => 404, "The specified version does not exist.";
    NoSuchKey => 404, "The specified key does not exist.";
    NoSuchObjectLockConfiguration => 404, "The specified object does not have a ObjectLock configuration";
    NoSuchPublicAccessBlockConfiguration => 404, "The public access block configuration was not found";
    NoSuchUpload => 404, "The specified multipart upload does not exist. The upload ID might not be valid, or the multipart upload might have been aborted or completed.";
    NotImplemented => 501, "A header you provided implies functionality that is not implemented.";
    NotModified => 304, "Not Modified";
    ObjectLockConfigurationNotFoundError => 404, "Object Lock configuration does not exist for this bucket";
    OwnershipControlsNotFoundError => 404, "The bucket ownership controls were not found";
    PreconditionFailed => 412, "At least one of the pre-conditions you specified did not hold";
    ConditionalRequestConflict => 409, "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.";
    RequestHeaderSectionTooLarge => 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => 403, "The difference between the request time and the current time is too large.";
    RequestTimeout => 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    ServerSideEncryptionConfigurationNotFoundError => 404, "The server side encryption configuration was not found";
    ServiceUnavailable => 503, "Service is unable to handle request.";
    SignatureDoesNotMatch => 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    SlowDown => 503, "Please reduce your request rate.";
    UnexpectedContent => 400, "This request does not support content";
    UnresolvableGrantByEmailAddress => 400, "The email address you provided does not match any account on record.";
    XAmzContentSHA256Mismatch => 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
    XMinioStorageFull => 507, "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.";
}

/// An S3 error as sent to the client.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub code: S3Code,
    pub message: String,
    /// Extra child elements of `<Error>` (e.g. `ArgumentName`, `StringToSign`).
    pub details: Vec<(&'static str, String)>,
    /// Extra response headers (e.g. `Content-Range` on 416).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: S3Code) -> Self {
        S3Error {
            code,
            message: code.default_message().to_string(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }
    pub fn msg(code: S3Code, message: impl Into<String>) -> Self {
        S3Error {
            message: message.into(),
            ..S3Error::new(code)
        }
    }
    pub fn detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> Self {
        S3Error::msg(S3Code::InvalidArgument, message)
            .detail("ArgumentName", name)
            .detail("ArgumentValue", value)
    }
    /// An unexpected server-side failure; logged, never shown in detail to clients.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        crate::log::error(&format!("internal error: {err}"));
        S3Error::new(S3Code::InternalError)
    }
}

impl From<S3Code> for S3Error {
    fn from(code: S3Code) -> Self {
        S3Error::new(code)
    }
}

impl From<std::io::Error> for S3Error {
    /// I/O outside storage (temporary files of a request body): as storage's own.
    fn from(err: std::io::Error) -> Self {
        crate::storage::Error::from(err).into()
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

/// An S3 check run inside storage (a copy's source conditions, a completion's
/// checksums) refuses with its own error, which storage hands back untouched.
impl From<S3Error> for crate::storage::Error {
    fn from(err: S3Error) -> Self {
        crate::storage::Error::Refused(Box::new(err))
    }
}

/// Encryption refusals, as AWS words them.
fn sealing_error(refusal: crate::storage::interface::Refusal) -> S3Error {
    use crate::storage::interface::Refusal as R;
    let (code, message) = match refusal {
        R::KeyNeeded => (
            S3Code::InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        ),
        R::WrongKey => (
            S3Code::AccessDenied,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.",
        ),
        R::NotSealedWithKey => (
            S3Code::InvalidRequest,
            "The encryption parameters are not applicable to this object.",
        ),
        R::PartKeyNeeded => (
            S3Code::InvalidRequest,
            "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.",
        ),
        R::PartKeyMismatch => (
            S3Code::InvalidRequest,
            "The provided encryption parameters did not match the ones used originally.",
        ),
        R::PartKeyUnexpected => (
            S3Code::InvalidRequest,
            "The multipart upload initiate did not request encryption. Subsequent part requests must not include encryption parameters.",
        ),
        R::UnknownKey(id) => {
            return S3Error::msg(S3Code::KmsNotFound, format!("Invalid keyId {id}"));
        }
        R::NoMasterKey => {
            crate::log::warn("SSE-S3 asked for, but no master key is configured");
            (
                S3Code::ServiceUnavailable,
                "Server-side encryption with a managed key is not configured on this server.",
            )
        }
        R::Tampered => {
            crate::log::warn("an encrypted object's key or bytes fail authentication");
            (
                S3Code::InternalError,
                "We encountered an internal error. Please try again.",
            )
        }
        R::Unsupported => (
            S3Code::NotImplemented,
            "Server-side encryption is not available on this store.",
        ),
    };
    S3Error::msg(code, message)
}

/// The one table from storage's errors to S3's.
impl From<crate::storage::Error> for S3Error {
    fn from(err: crate::storage::Error) -> Self {
        use crate::storage::Error as E;
        match err {
            E::InvalidBucketName { bucket } => {
                S3Error::new(S3Code::InvalidBucketName).detail("BucketName", bucket)
            }
            E::NoSuchBucket { bucket } => {
                S3Error::new(S3Code::NoSuchBucket).detail("BucketName", bucket)
            }
            E::BucketExists { bucket } => {
                S3Error::new(S3Code::BucketAlreadyOwnedByYou).detail("BucketName", bucket)
            }
            E::BucketNotEmpty { bucket } => {
                S3Error::new(S3Code::BucketNotEmpty).detail("BucketName", bucket)
            }
            E::NoSuchKey { key } => S3Error::new(S3Code::NoSuchKey).detail("Key", key),
            E::NoSuchVersion { key, version_id } => S3Error::new(S3Code::NoSuchVersion)
                .detail("Key", key)
                .detail("VersionId", version_id),
            E::InvalidVersionId { version_id } => {
                S3Error::invalid_argument("Invalid version id specified", "versionId", &version_id)
            }
            E::DeleteMarker => {
                S3Error::new(S3Code::MethodNotAllowed).detail("ResourceType", "DeleteMarker")
            }
            E::CopyOfDeleteMarker => S3Error::msg(
                S3Code::InvalidRequest,
                "The source of a copy request may not specifically refer to a delete marker by version id.",
            ),
            E::NoSuchUpload { upload_id } => {
                S3Error::new(S3Code::NoSuchUpload).detail("UploadId", upload_id)
            }
            E::PreconditionFailed { condition } => {
                S3Error::new(S3Code::PreconditionFailed).detail("Condition", condition)
            }
            E::ConditionalConflict => S3Error::new(S3Code::ConditionalRequestConflict),
            E::NoParts => S3Error::new(S3Code::MalformedXML),
            E::PartOrder => S3Error::new(S3Code::InvalidPartOrder),
            E::NoSuchPart { part_number, etag } => S3Error::new(S3Code::InvalidPart)
                .detail("PartNumber", part_number.to_string())
                .detail("ETag", etag),
            E::PartTooSmall {
                part_number,
                etag,
                size,
                min,
            } => S3Error::new(S3Code::EntityTooSmall)
                .detail("ProposedSize", size.to_string())
                .detail("MinSizeAllowed", min.to_string())
                .detail("PartNumber", part_number.to_string())
                .detail("ETag", etag),
            E::Full => S3Error::new(S3Code::XMinioStorageFull),
            E::Unavailable(m) => {
                crate::log::warn(&format!("storage unavailable: {m}"));
                S3Error::new(S3Code::ServiceUnavailable)
            }
            E::Io(e) => S3Error::internal(e),
            E::Internal(m) => S3Error::internal(m),
            E::Sealing(refusal) => sealing_error(refusal),
            E::Refused(e) => match e.downcast::<S3Error>() {
                Ok(s3) => *s3,
                Err(other) => S3Error::internal(other),
            },
        }
    }
}

pub type S3Result<T> = Result<T, S3Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_aws_statuses() {
        let table = [
            (S3Code::NoSuchKey, 404),
            (S3Code::NoSuchBucket, 404),
            (S3Code::BucketNotEmpty, 409),
            (S3Code::InvalidRange, 416),
            (S3Code::PreconditionFailed, 412),
            (S3Code::ConditionalRequestConflict, 409),
            (S3Code::SignatureDoesNotMatch, 403),
            (S3Code::MissingContentLength, 411),
            (S3Code::MalformedXML, 400),
        ];
        for (code, status) in table {
            assert_eq!(code.status().as_u16(), status, "{}", code.as_str());
        }
        assert_eq!(S3Code::NoSuchKey.as_str(), "NoSuchKey");
    }

    /// Every storage error has its S3 code and status, as AWS answers the same case.
    #[test]
    fn storage_errors_map_to_s3_codes() {
        use crate::storage::Error as E;
        let s = String::from;
        let table: Vec<(E, S3Code, u16)> = vec![
            (
                E::InvalidBucketName { bucket: s("B") },
                S3Code::InvalidBucketName,
                400,
            ),
            (
                E::NoSuchBucket { bucket: s("b") },
                S3Code::NoSuchBucket,
                404,
            ),
            (
                E::BucketExists { bucket: s("b") },
                S3Code::BucketAlreadyOwnedByYou,
                409,
            ),
            (
                E::BucketNotEmpty { bucket: s("b") },
                S3Code::BucketNotEmpty,
                409,
            ),
            (E::NoSuchKey { key: s("k") }, S3Code::NoSuchKey, 404),
            (
                E::NoSuchVersion {
                    key: s("k"),
                    version_id: s("v"),
                },
                S3Code::NoSuchVersion,
                404,
            ),
            (
                E::InvalidVersionId { version_id: s("x") },
                S3Code::InvalidArgument,
                400,
            ),
            (E::DeleteMarker, S3Code::MethodNotAllowed, 405),
            (E::CopyOfDeleteMarker, S3Code::InvalidRequest, 400),
            (
                E::NoSuchUpload { upload_id: s("u") },
                S3Code::NoSuchUpload,
                404,
            ),
            (
                E::PreconditionFailed {
                    condition: "If-Match",
                },
                S3Code::PreconditionFailed,
                412,
            ),
            (E::NoParts, S3Code::MalformedXML, 400),
            (E::PartOrder, S3Code::InvalidPartOrder, 400),
            (
                E::NoSuchPart {
                    part_number: 2,
                    etag: s("e"),
                },
                S3Code::InvalidPart,
                400,
            ),
            (
                E::PartTooSmall {
                    part_number: 1,
                    etag: s("e"),
                    size: 1,
                    min: 5,
                },
                S3Code::EntityTooSmall,
                400,
            ),
            (E::Full, S3Code::XMinioStorageFull, 507),
            (
                E::Unavailable(s("2 of 4 drives")),
                S3Code::ServiceUnavailable,
                503,
            ),
            (
                E::Io(std::io::Error::other("disk")),
                S3Code::InternalError,
                500,
            ),
            (E::Internal(s("bug")), S3Code::InternalError, 500),
        ];
        for (err, code, status) in table {
            let name = format!("{err:?}");
            let s3 = S3Error::from(err);
            assert_eq!(
                (s3.code, s3.code.status().as_u16()),
                (code, status),
                "{name}"
            );
        }
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(S3Error::from(E::from(full)).code, S3Code::XMinioStorageFull);
        let refused = E::from(S3Error::new(S3Code::BadDigest).detail("X", "y"));
        let back = S3Error::from(refused);
        assert_eq!(
            (back.code, back.details.len()),
            (S3Code::BadDigest, 1),
            "passes through"
        );
        let details = S3Error::from(E::NoSuchKey { key: s("a/b") }).details;
        assert_eq!(details, [("Key", s("a/b"))]);
    }
}
