//! S3's server-side encryption headers: what a request asks for (SSE-S3, SSE-KMS,
//! SSE-C, a copy source's SSE-C key), checked as AWS checks them, and what responses
//! echo. Storage does the encrypting (`crate::encryption`); this module only speaks S3.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::error::{S3Code, S3Error, S3Result};
use super::response::{S3Response, set_header};
use super::{Ctx, S3Request};
use crate::encryption::keys::MANAGED_KMS_ALIAS;
use crate::storage::interface::{CustomerKey, Scheme, Seal, Sealed};

const SSE: &str = "x-amz-server-side-encryption";
const KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
const CONTEXT: &str = "x-amz-server-side-encryption-context";
const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
/// The SSE-C headers of the object written or read, and of a copy's source.
/// The names of a set of SSE-C headers (named in full: no name is built per request).
#[derive(Clone, Copy)]
pub struct CustomerHeaders {
    pub algorithm: &'static str,
    pub key: &'static str,
    pub key_md5: &'static str,
}

/// The SSE-C headers of the object a request writes or reads.
pub const CUSTOMER: CustomerHeaders = CustomerHeaders {
    algorithm: "x-amz-server-side-encryption-customer-algorithm",
    key: "x-amz-server-side-encryption-customer-key",
    key_md5: "x-amz-server-side-encryption-customer-key-MD5",
};

/// The SSE-C headers of a copy's source.
pub const COPY_SOURCE_CUSTOMER: CustomerHeaders = CustomerHeaders {
    algorithm: "x-amz-copy-source-server-side-encryption-customer-algorithm",
    key: "x-amz-copy-source-server-side-encryption-customer-key",
    key_md5: "x-amz-copy-source-server-side-encryption-customer-key-MD5",
};

/// The account number in the key ARNs echoed (a server of one account).
pub const ACCOUNT: &str = "000000000000";

/// A client key from SSE-C headers, and its MD5 (base64) to echo.
pub struct Customer {
    pub key: CustomerKey,
    pub md5: String,
}

fn ssec_message(what: &str) -> String {
    format!("Requests specifying Server Side Encryption with Customer provided keys must {what}")
}

/// What SSE-C headers are for: AWS checks them a little differently for each.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// A new object or part: all three headers needed.
    Write,
    /// GET, HEAD, GetObjectAttributes: the MD5 may be left out; a bad key is refused
    /// as a wrong one.
    Read,
    /// A copy's source: the MD5 may be left out.
    CopySource,
    /// CompleteMultipartUpload: checked only when all three are given.
    Complete,
}

/// The SSE-C headers named by `names`, checked: none at all is `None`.
pub fn customer(
    ctx: &Ctx,
    req: &S3Request,
    names: CustomerHeaders,
    used: KeyUse,
) -> S3Result<Option<Customer>> {
    let (algorithm, key, md5) = (
        req.header(names.algorithm),
        req.header(names.key),
        req.header(names.key_md5),
    );
    let given = [algorithm, key, md5].iter().filter(|h| h.is_some()).count();
    if given == 0 || (used == KeyUse::Complete && given < 3) {
        return Ok(None);
    }
    // AWS names x-amz-server-side-encryption in every SSE-C argument error, of a
    // copy's source too, with the value "null".
    let invalid = |message: String| S3Error::invalid_argument(message, SSE, "null");
    secure_enough(ctx, req)?;
    match algorithm.map(str::trim) {
        None => {
            return Err(invalid(ssec_message(
                "provide a valid encryption algorithm.",
            )));
        }
        Some("AES256") => {}
        Some(other) => {
            return Err(S3Error::new(S3Code::InvalidEncryptionAlgorithmError)
                .detail("ArgumentName", SSE)
                .detail("ArgumentValue", other));
        }
    }
    let Some(key) = key else {
        return Err(invalid(ssec_message("provide an appropriate secret key.")));
    };
    let bytes = Zeroizing::new(B64.decode(key.trim()).unwrap_or_default());
    if bytes.len() != 32 {
        if used == KeyUse::Read {
            return Err(S3Error::msg(
                S3Code::AccessDenied,
                ssec_message("provide the correct secret key."),
            ));
        }
        return Err(invalid(
            "The secret key was invalid for the specified algorithm.".into(),
        ));
    }
    let computed = B64.encode(crate::md5::Md5::digest(&bytes[..]));
    match md5 {
        None if matches!(used, KeyUse::Write | KeyUse::Complete) => {
            return Err(invalid(ssec_message(
                "provide the client calculated MD5 of the secret key.",
            )));
        }
        Some(given) if given.trim() != computed => {
            return Err(invalid(
                "The calculated MD5 hash of the key did not match the hash that was provided."
                    .into(),
            ));
        }
        _ => {}
    }
    let mut array = Zeroizing::new([0u8; 32]);
    array.copy_from_slice(&bytes);
    Ok(Some(Customer {
        key: CustomerKey(array),
        md5: computed,
    }))
}

/// SSE-C keys travel only over HTTPS (unless configured otherwise): checked first.
fn secure_enough(ctx: &Ctx, req: &S3Request) -> S3Result<()> {
    if !req.secure && !ctx.allow_sse_c_over_http {
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            ssec_message("be made over a secure connection."),
        ));
    }
    Ok(())
}

/// A copy whose source key is wrong is a bad request (a GET with it is refused, 403).
pub fn copy_source_error(err: crate::storage::Error) -> S3Error {
    use crate::storage::{Error, interface::Refusal};
    match err {
        Error::Sealing(Refusal::WrongKey) => S3Error::msg(
            S3Code::InvalidRequest,
            "The provided encryption parameters did not match the ones used originally.",
        ),
        other => other.into(),
    }
}

/// How a new object (PUT, copy, multipart) is to be encrypted: as its headers ask,
/// else as its bucket's default encryption says, else not at all.
pub fn seal_for_write(
    ctx: &Ctx,
    req: &S3Request,
    bucket: &str,
) -> S3Result<(Option<Seal>, Option<Customer>)> {
    let method = req.header(SSE).map(str::trim);
    let key_id = req.header(KMS_KEY_ID).map(str::trim);
    let names_customer = [CUSTOMER.algorithm, CUSTOMER.key, CUSTOMER.key_md5]
        .iter()
        .any(|name| req.header(name).is_some());
    // AWS refuses SSE-C beside another method before it looks at the SSE-C headers.
    if let (true, Some(method)) = (names_customer, method) {
        secure_enough(ctx, req)?;
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )
        .detail("ArgumentName", SSE)
        .detail("ArgumentValue", method));
    }
    let customer = customer(ctx, req, CUSTOMER, KeyUse::Write)?;
    let kms = matches!(method, Some("aws:kms" | "aws:kms:dsse"));
    if key_id.is_some() && !kms {
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        ));
    }
    if let Some(c) = customer {
        return Ok((Some(Seal::Customer(c.key.clone())), Some(c)));
    }
    let seal = match method {
        None => bucket_default(ctx, bucket),
        Some("AES256") => Some(Seal::Managed),
        Some(_) if kms => Some(Seal::KeyRing {
            key_id: key_id.filter(|id| !id.is_empty()).map(str::to_string),
            context: encryption_context(req)?,
            bucket_key: bucket_key_header(req)?,
            dual_layer: method == Some("aws:kms:dsse"),
        }),
        Some(other) => {
            return Err(S3Error::msg(
                S3Code::InvalidArgument,
                "The encryption method specified is not supported",
            )
            .detail("ArgumentName", SSE)
            .detail("ArgumentValue", other));
        }
    };
    Ok((seal, None))
}

/// The bucket's default encryption (PutBucketEncryption), for objects that ask for none.
fn bucket_default(ctx: &Ctx, bucket: &str) -> Option<Seal> {
    let default = ctx.settings.default_encryption(bucket)?;
    Some(match default.algorithm.as_str() {
        "AES256" => Seal::Managed,
        _ => Seal::KeyRing {
            key_id: default.kms_key_id.clone(),
            context: None,
            bucket_key: default.bucket_key_enabled,
            dual_layer: default.algorithm == "aws:kms:dsse",
        },
    })
}

/// `x-amz-server-side-encryption-context`: base64 of a JSON object of strings.
fn encryption_context(req: &S3Request) -> S3Result<Option<String>> {
    let Some(value) = req.header(CONTEXT).map(str::trim) else {
        return Ok(None);
    };
    let parsed = B64
        .decode(value)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok());
    match parsed {
        Some(serde_json::Value::Object(map)) if map.values().all(|v| v.is_string()) => {
            Ok(Some(value.to_string()))
        }
        _ => Err(S3Error::msg(
            S3Code::InvalidArgument,
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
        )
        .detail("ArgumentName", CONTEXT)),
    }
}

fn bucket_key_header(req: &S3Request) -> S3Result<bool> {
    match req.header(BUCKET_KEY).map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(S3Error::invalid_argument(
            "Invalid value for bucket key enabled header",
            BUCKET_KEY,
            v,
        )),
    }
}

/// Whether a request names an encryption for its object (which makes a copy onto
/// itself legal).
pub fn names_encryption(req: &S3Request) -> bool {
    req.header(SSE).is_some() || req.header(CUSTOMER.algorithm).is_some()
}

/// Reads (GET, HEAD) take no encryption method: only SSE-C keys.
pub fn refuse_method_on_read(req: &S3Request) -> S3Result<()> {
    for name in [SSE, KMS_KEY_ID, CONTEXT] {
        if req.header(name).is_some() {
            return Err(S3Error::msg(
                S3Code::InvalidArgument,
                format!("{name} header is not supported for this operation."),
            ));
        }
    }
    Ok(())
}

/// The ARN a key ring key is reported as.
pub fn key_arn(region: &str, id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_string()
    } else if id == MANAGED_KMS_ALIAS {
        format!("arn:aws:kms:{region}:{ACCOUNT}:alias/{id}")
    } else {
        format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
    }
}

/// The encryption headers of a response about an object (or upload) sealed as
/// `sealed`; for SSE-C, with the MD5 of the key the request gave.
pub fn echo(ctx: &Ctx, res: &mut S3Response, sealed: Option<&Sealed>, customer_md5: Option<&str>) {
    let Some(sealed) = sealed else {
        return;
    };
    match sealed.scheme {
        Scheme::Managed => set_header(res, SSE, "AES256"),
        Scheme::KeyRing => {
            let method = if sealed.dual_layer {
                "aws:kms:dsse"
            } else {
                "aws:kms"
            };
            set_header(res, SSE, method);
            let id = sealed.key_id.as_deref().unwrap_or(MANAGED_KMS_ALIAS);
            set_header(res, KMS_KEY_ID, &key_arn(&ctx.region, id));
            if sealed.bucket_key {
                set_header(res, BUCKET_KEY, "true");
            }
        }
        // Only with the request's key: CompleteMultipartUpload echoes no SSE-C headers.
        Scheme::Customer => {
            if let Some(md5) = customer_md5 {
                set_header(res, CUSTOMER.algorithm, "AES256");
                set_header(res, CUSTOMER.key_md5, md5);
            }
        }
    }
}

/// An SSE-C key named again for an upload (at completion) must be the upload's.
pub fn check_upload_key(sealed: Option<&Sealed>, key: &CustomerKey) -> S3Result<()> {
    use crate::storage::{Error, interface::Refusal};
    match sealed {
        Some(s) if s.scheme == Scheme::Customer => {
            if crate::encryption::keys::recognises(s, key) {
                Ok(())
            } else {
                Err(Error::Sealing(Refusal::PartKeyMismatch).into())
            }
        }
        _ => Err(Error::Sealing(Refusal::PartKeyUnexpected).into()),
    }
}

/// PutObject, CopyObject and CreateMultipartUpload also echo the SSE-KMS encryption
/// context (reads do not).
pub fn echo_context(res: &mut S3Response, sealed: Option<&Sealed>) {
    if let Some(context) = sealed.and_then(|s| s.context.as_deref()) {
        set_header(res, CONTEXT, context);
    }
}
