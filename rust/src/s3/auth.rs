//! Authenticates a request with AWS Signature V4: the Authorization header or a
//! presigned URL. The outcome says who signed and how the body must be checked
//! (a payload hash, a chain of chunk signatures, or nothing).

use chrono::{NaiveDate, TimeZone, Utc};
use http::{HeaderMap, Method, Uri};

use super::error::{S3Code, S3Error, S3Result};
use super::headers::header;
use super::router::Query;
use super::sigv2;
use super::sigv4::{self, CanonicalParts};
use crate::auth::Credentials;

const MAX_SKEW_SECS: i64 = 15 * 60;
const MAX_PRESIGN_EXPIRES: i64 = 7 * 24 * 3600;

/// How the body's integrity is tied to the signature.
pub enum Payload {
    /// Nothing to check (auth off, or UNSIGNED-PAYLOAD).
    Unchecked,
    /// The body must hash to this hex SHA-256.
    Sha256(String),
    /// aws-chunked with a signature per chunk, chained from the seed signature.
    StreamingSigned(ChunkSigning),
}

#[derive(Clone)]
pub struct ChunkSigning {
    pub key: Vec<u8>,
    pub amz_date: String,
    pub scope: String,
    pub seed: String,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: the trailers must carry `x-amz-trailer-signature`.
    pub trailer: bool,
}

pub struct Authenticated {
    /// The access key that signed, or None for an anonymous request.
    pub access_key: Option<String>,
    pub payload: Payload,
    /// `AWS4-HMAC-SHA256` or `AWS` (SigV2), as the `s3:signatureversion` condition key names them.
    pub signature_version: &'static str,
}

impl Authenticated {
    pub fn anonymous() -> Self {
        Authenticated {
            access_key: None,
            payload: Payload::Unchecked,
            signature_version: "",
        }
    }
}

pub struct AuthInput<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub query: &'a Query,
    /// The bucket, when it came from the Host header (SigV2 signs it in the resource).
    pub vhost_bucket: Option<&'a str>,
    pub region: &'a str,
    pub credentials: &'a Credentials,
    /// Whether Signature Version 2 is accepted.
    pub sig_v2: bool,
}

fn malformed(message: impl Into<String>) -> S3Error {
    S3Error::msg(S3Code::AuthorizationHeaderMalformed, message)
}

/// `20130524T000000Z` from `x-amz-date`, or from an RFC 1123 `Date` header.
fn parse_amz_date(value: &str) -> Option<chrono::DateTime<Utc>> {
    // By hand: chrono's format parser took 2% of a small GET's CPU.
    let b = value.trim().as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(4..6)?, number(6..8)?)?;
    let time = date.and_hms_opt(number(9..11)?, number(11..13)?, number(13..15)?)?;
    Some(Utc.from_utc_datetime(&time))
}

/// An HTTP date (`Wed, 25 Nov 2026 17:13:17 GMT`), also with a numeric or UTC zone as
/// some SigV2 clients send it.
fn parse_date_header(value: &str) -> Option<chrono::DateTime<Utc>> {
    if let Ok(t) = httpdate::parse_http_date(value.trim()) {
        return Some(t.into());
    }
    let value = value.trim().replace(" UTC", " +0000");
    chrono::DateTime::parse_from_rfc2822(&value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn request_time(headers: &HeaderMap) -> S3Result<(String, chrono::DateTime<Utc>)> {
    if let Some(value) = header(headers, "x-amz-date") {
        let t = parse_amz_date(value).ok_or_else(|| {
            S3Error::msg(
                S3Code::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        return Ok((value.trim().to_string(), t));
    }
    if let Some(t) = header(headers, "date").and_then(parse_date_header) {
        return Ok((t.format("%Y%m%dT%H%M%SZ").to_string(), t));
    }
    Err(S3Error::msg(
        S3Code::AccessDenied,
        "AWS authentication requires a valid Date or x-amz-date header",
    ))
}

fn check_skew(t: chrono::DateTime<Utc>) -> S3Result<()> {
    let now = Utc::now();
    if (now - t).num_seconds().abs() > MAX_SKEW_SECS {
        return Err(S3Error::new(S3Code::RequestTimeTooSkewed)
            .detail("RequestTime", t.format("%Y%m%dT%H%M%SZ").to_string())
            .detail("ServerTime", now.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .detail(
                "MaxAllowedSkewMilliseconds",
                (MAX_SKEW_SECS * 1000).to_string(),
            ));
    }
    Ok(())
}

/// `AKID/20130524/us-east-1/s3/aws4_request`, checked against the request date and our region.
struct Scope {
    access_key: String,
    date: String,
    region: String,
}

impl Scope {
    fn parse(
        credential: &str,
        amz_date: &str,
        region: &str,
        bad: fn(String) -> S3Error,
    ) -> S3Result<Scope> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key, date, req_region, service, terminal] = parts[..] else {
            return Err(bad(format!(
                "The Credential {credential} is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
            )));
        };
        if terminal != "aws4_request" || service != "s3" {
            return Err(bad(format!(
                "The Credential {credential} is malformed; incorrect service or terminal \"{service}/{terminal}\""
            )));
        }
        if date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
            || !amz_date.starts_with(date)
        {
            return Err(bad(format!(
                "Invalid credential date \"{date}\". This date is not the same as X-Amz-Date: \"{}\".",
                &amz_date[..8.min(amz_date.len())]
            )));
        }
        if req_region != region {
            return Err(bad(format!("The authorization header is malformed; the region '{req_region}' is wrong; expecting '{region}'")).detail("Region", region));
        }
        Ok(Scope {
            access_key: access_key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
        })
    }

    fn string(&self) -> String {
        format!("{}/{}/s3/aws4_request", self.date, self.region)
    }
}

pub(super) fn secret_for(credentials: &Credentials, access_key: &str) -> S3Result<String> {
    credentials
        .snapshot()
        .iter()
        .find(|c| c.access_key_id == access_key)
        .map(|c| c.secret_access_key.clone())
        .ok_or_else(|| {
            S3Error::new(S3Code::InvalidAccessKeyId).detail("AWSAccessKeyId", access_key)
        })
}

fn spaced_hex(s: &str) -> String {
    s.bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every `x-amz-*` header must be covered by the signature, or it could be added by
/// anyone holding a presigned URL (metadata, tags, even `x-amz-copy-source`).
fn check_all_amz_headers_signed(headers: &HeaderMap, signed: &[&str]) -> S3Result<()> {
    let unsigned: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-") && !signed.contains(k))
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    Err(S3Error::msg(
        S3Code::AccessDenied,
        "There were headers present in the request which were not signed",
    )
    .detail("HeadersNotSigned", unsigned.join(", ")))
}

/// Verifies a signature over the canonical request; returns the signing key.
fn verify(
    input: &AuthInput,
    scope: &Scope,
    amz_date: &str,
    signed: &[&str],
    payload_hash: &str,
    provided: &str,
) -> S3Result<Vec<u8>> {
    check_all_amz_headers_signed(input.headers, signed)?;
    let secret = secret_for(input.credentials, &scope.access_key)?;
    let canonical = sigv4::canonical_request(&CanonicalParts {
        method: input.method.as_str(),
        raw_path: input.uri.path(),
        raw_query: input.uri.query(),
        headers: input.headers,
        signed_headers: signed,
        payload_hash,
    })
    .ok_or_else(|| {
        S3Error::msg(
            S3Code::AccessDenied,
            "There were headers present in the request which were not signed",
        )
    })?;
    let sts = sigv4::string_to_sign(amz_date, &scope.string(), &canonical);
    let key = sigv4::signing_key(&secret, &scope.date, &scope.region, "s3");
    if !sigv4::signatures_equal(&sigv4::sign(&key, &sts), provided.trim()) {
        return Err(S3Error::new(S3Code::SignatureDoesNotMatch)
            .detail("AWSAccessKeyId", scope.access_key.clone())
            .detail("StringToSign", sts.clone())
            .detail("SignatureProvided", provided.to_string())
            .detail("StringToSignBytes", spaced_hex(&sts))
            .detail("CanonicalRequest", canonical.clone())
            .detail("CanonicalRequestBytes", spaced_hex(&canonical)));
    }
    Ok(key)
}

fn signed_headers(list: &str) -> Vec<&str> {
    list.split(';')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect()
}

/// The schemes of an `Authorization` header this server verifies.
enum Scheme<'a> {
    V4(&'a str),
    V2(&'a str),
}

fn invalid_authorization(message: &str, value: &str) -> S3Error {
    S3Error::msg(S3Code::InvalidArgument, message)
        .detail("ArgumentName", "Authorization")
        .detail("ArgumentValue", value)
}

/// `<scheme> <parameters>`, answered as AWS answers a header it cannot use: no space
/// (or a second one in a SigV2 header) and an unknown scheme are InvalidArgument.
fn scheme(value: &str) -> S3Result<Scheme<'_>> {
    const ONE_SPACE: &str =
        "Authorization header is invalid -- one and only one ' ' (space) required";
    let Some((name, rest)) = value.split_once(' ') else {
        return Err(invalid_authorization(ONE_SPACE, value));
    };
    match name {
        sigv4::ALGORITHM => Ok(Scheme::V4(rest)),
        "AWS" if rest.contains(' ') => Err(invalid_authorization(ONE_SPACE, value)),
        "AWS" => Ok(Scheme::V2(rest)),
        _ => Err(invalid_authorization(
            "Unsupported Authorization Type",
            value,
        )),
    }
}

pub fn authenticate(input: &AuthInput) -> S3Result<Authenticated> {
    // An empty header is no header: AWS answers such a request as an anonymous one.
    let authorization = header(input.headers, "authorization")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let presigned = input.query.has("X-Amz-Algorithm")
        || input.query.has("X-Amz-Signature")
        || input.query.has("X-Amz-Credential");
    if authorization.is_some() && presigned {
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        )
        .detail("ArgumentName", "Authorization"));
    }
    let scheme = authorization.map(scheme).transpose()?;
    let v2_query = input.query.has("AWSAccessKeyId") && input.query.has("Signature");
    let v2 = matches!(scheme, Some(Scheme::V2(_)))
        || (authorization.is_none() && !presigned && v2_query);
    if v2 && !input.sig_v2 {
        return Err(S3Error::msg(
            S3Code::InvalidRequest,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ));
    }
    match scheme {
        Some(Scheme::V4(rest)) => header_auth(input, rest),
        Some(Scheme::V2(rest)) => v2_header_auth(input, rest),
        None if presigned => presigned_auth(input),
        None if v2_query => v2_query_auth(input),
        None => Ok(Authenticated::anonymous()),
    }
}

/// As for header authentication, the host must be signed: otherwise a signature
/// made for one server (or virtual-hosted bucket) would be good for another.
fn require_signed_host(signed: &[&str]) -> S3Result<()> {
    if signed.contains(&"host") {
        Ok(())
    } else {
        Err(S3Error::msg(
            S3Code::AccessDenied,
            "Host header must be signed",
        ))
    }
}

fn header_auth(input: &AuthInput, rest: &str) -> S3Result<Authenticated> {
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v.trim()),
            Some(("SignedHeaders", v)) => signed = Some(v.trim()),
            Some(("Signature", v)) => signature = Some(v.trim()),
            _ => {}
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(malformed(
            "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.",
        ));
    };
    let (amz_date, time) = request_time(input.headers)?;
    let scope = Scope::parse(credential, &amz_date, input.region, malformed)?;
    let signed = signed_headers(signed);
    require_signed_host(&signed)?;
    let content_sha = header(input.headers, "x-amz-content-sha256")
        .ok_or_else(|| {
            S3Error::msg(
                S3Code::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256",
            )
        })?
        .trim()
        .to_string();
    let payload_kind = classify_payload(&content_sha)?;
    check_skew(time)?;
    let key = verify(input, &scope, &amz_date, &signed, &content_sha, signature)?;
    let payload = match payload_kind {
        PayloadKind::Hash => Payload::Sha256(content_sha.to_ascii_lowercase()),
        PayloadKind::Unsigned => Payload::Unchecked,
        PayloadKind::SignedChunks => {
            let trailer = content_sha.ends_with("-TRAILER");
            Payload::StreamingSigned(ChunkSigning {
                key,
                amz_date,
                scope: scope.string(),
                seed: signature.to_string(),
                trailer,
            })
        }
    };
    Ok(Authenticated {
        access_key: Some(scope.access_key),
        payload,
        signature_version: sigv4::ALGORITHM,
    })
}

enum PayloadKind {
    Hash,
    Unsigned,
    SignedChunks,
}

fn classify_payload(value: &str) -> S3Result<PayloadKind> {
    match value {
        "UNSIGNED-PAYLOAD" | "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok(PayloadKind::Unsigned),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            Ok(PayloadKind::SignedChunks)
        }
        v if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(PayloadKind::Hash),
        v => Err(S3Error::invalid_argument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
            "x-amz-content-sha256",
            v,
        )),
    }
}

fn query_error(message: impl Into<String>) -> S3Error {
    S3Error::msg(S3Code::AuthorizationQueryParametersError, message)
}

fn presigned_auth(input: &AuthInput) -> S3Result<Authenticated> {
    let q = input.query;
    let get = |name: &str| {
        q.get(name).ok_or_else(|| query_error(format!("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters. ({name} is missing)")))
    };
    if get("X-Amz-Algorithm")? != sigv4::ALGORITHM {
        return Err(query_error(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let (credential, amz_date, expires, signed, signature) = (
        get("X-Amz-Credential")?,
        get("X-Amz-Date")?,
        get("X-Amz-Expires")?,
        get("X-Amz-SignedHeaders")?,
        get("X-Amz-Signature")?,
    );
    let time = parse_amz_date(amz_date).ok_or_else(|| {
        query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    let expires: i64 = expires
        .parse()
        .map_err(|_| query_error("X-Amz-Expires should be a number"))?;
    if expires < 0 {
        return Err(query_error("X-Amz-Expires must be non-negative"));
    }
    if expires > MAX_PRESIGN_EXPIRES {
        return Err(query_error(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    let scope = Scope::parse(credential, amz_date, input.region, query_error)?;
    let signed = signed_headers(signed);
    require_signed_host(&signed)?;
    let payload_hash = header(input.headers, "x-amz-content-sha256")
        .unwrap_or("UNSIGNED-PAYLOAD")
        .to_string();
    let now = Utc::now();
    if (time - now).num_seconds() > MAX_SKEW_SECS {
        return Err(S3Error::msg(
            S3Code::AccessDenied,
            "Request is not valid yet",
        ));
    }
    verify(input, &scope, amz_date, &signed, &payload_hash, signature)?;
    // Good for `expires` seconds from X-Amz-Date, so 0 is never good.
    if now >= time + chrono::Duration::seconds(expires) {
        return Err(S3Error::msg(S3Code::AccessDenied, "Request has expired")
            .detail("X-Amz-Expires", expires.to_string())
            .detail(
                "Expires",
                (time + chrono::Duration::seconds(expires))
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            )
            .detail("ServerTime", now.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
    }
    let payload = match classify_payload(&payload_hash)? {
        PayloadKind::Hash => Payload::Sha256(payload_hash.to_ascii_lowercase()),
        _ => Payload::Unchecked,
    };
    Ok(Authenticated {
        access_key: Some(scope.access_key),
        payload,
        signature_version: sigv4::ALGORITHM,
    })
}

/// Verifies a SigV2 signature (HMAC-SHA1 over the SigV2 string to sign).
fn v2_verify(
    input: &AuthInput,
    access_key: &str,
    date_or_expires: &str,
    provided: &str,
) -> S3Result<Authenticated> {
    let secret = secret_for(input.credentials, access_key)?;
    let string_to_sign = |raw_path: &str| {
        sigv2::string_to_sign(&sigv2::StringToSignParts {
            method: input.method.as_str(),
            headers: input.headers,
            date_or_expires,
            raw_path,
            vhost_bucket: input.vhost_bucket,
            query: input.query,
        })
    };
    let sts = string_to_sign(input.uri.path());
    // Some clients (botocore) sign bucket-level requests as `/bucket/` while sending `/bucket`.
    let path = input.uri.path();
    let bucket_level = input.vhost_bucket.is_none() && path.len() > 1 && !path[1..].contains('/');
    let matches = |sts: &str| sigv4::signatures_equal(&sigv2::sign(&secret, sts), provided.trim());
    let valid = matches(&sts) || (bucket_level && matches(&string_to_sign(&format!("{path}/"))));
    if !valid {
        return Err(S3Error::new(S3Code::SignatureDoesNotMatch)
            .detail("AWSAccessKeyId", access_key)
            .detail("StringToSign", sts.clone())
            .detail("SignatureProvided", provided)
            .detail("StringToSignBytes", spaced_hex(&sts)));
    }
    Ok(Authenticated {
        access_key: Some(access_key.to_string()),
        payload: Payload::Unchecked,
        signature_version: "AWS",
    })
}

/// `Authorization: AWS <AccessKeyId>:<Signature>` with a `Date` (or `x-amz-date`) header.
fn v2_header_auth(input: &AuthInput, rest: &str) -> S3Result<Authenticated> {
    let (access_key, signature) = rest.trim().split_once(':').ok_or_else(|| {
        S3Error::msg(
            S3Code::InvalidArgument,
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
        )
    })?;
    let date = header(input.headers, "x-amz-date").or_else(|| header(input.headers, "date"));
    let time = date.and_then(parse_date_header);
    let time = time.ok_or_else(|| {
        S3Error::msg(
            S3Code::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })?;
    check_skew(time)?;
    // With x-amz-date present, it is signed among the x-amz-* headers and the Date line is empty.
    let date_line = if header(input.headers, "x-amz-date").is_some() {
        ""
    } else {
        date.unwrap_or_default()
    };
    v2_verify(input, access_key, date_line, signature)
}

/// `?AWSAccessKeyId=..&Expires=<epoch seconds>&Signature=..` (SigV2 presigned URLs).
fn v2_query_auth(input: &AuthInput) -> S3Result<Authenticated> {
    let q = input.query;
    let expires = q.get("Expires").unwrap_or_default();
    let expires_at: i64 = expires.parse().map_err(|_| S3Error::msg(S3Code::AccessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"))?;
    let authenticated = v2_verify(
        input,
        q.get("AWSAccessKeyId").unwrap_or_default(),
        expires,
        q.get("Signature").unwrap_or_default(),
    )?;
    if Utc::now().timestamp() > expires_at {
        return Err(S3Error::msg(S3Code::AccessDenied, "Request has expired")
            .detail(
                "Expires",
                chrono::DateTime::<Utc>::from_timestamp(expires_at, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            )
            .detail(
                "ServerTime",
                Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ));
    }
    Ok(authenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_only_in_their_basic_format() {
        let t = parse_amz_date(" 20130524T235960Z").map(|t| t.to_rfc3339());
        assert_eq!(t, None, "second 60");
        let t = parse_amz_date("20130524T235959Z").map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("2013-05-24T23:59:59+00:00"));
        for bad in [
            "20130524T235959",
            "20130524 235959Z",
            "2013052AT235959Z",
            "20131324T000000Z",
            "20130230T000000Z",
            "20130524T240000Z",
            "+0130524T000000Z",
            "2013-05-24T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    fn code_and_message(value: &str) -> (S3Code, String) {
        match scheme(value) {
            Err(e) => (e.code, e.message),
            Ok(_) => panic!("{value:?} was accepted"),
        }
    }

    #[test]
    fn authorization_schemes_as_aws_answers_them() {
        assert!(matches!(
            scheme("AWS4-HMAC-SHA256 Credential=a"),
            Ok(Scheme::V4("Credential=a"))
        ));
        assert!(matches!(scheme("AWS key:sig"), Ok(Scheme::V2("key:sig"))));
        let one_space = "Authorization header is invalid -- one and only one ' ' (space) required";
        for value in ["garbage", "AWS", "AWS key:s ig"] {
            assert_eq!(
                code_and_message(value),
                (S3Code::InvalidArgument, one_space.into())
            );
        }
        for value in ["Bearer x", "AWS4-HMAC-SHA25 Credential=a", "aws key:sig"] {
            let expected = (
                S3Code::InvalidArgument,
                "Unsupported Authorization Type".into(),
            );
            assert_eq!(code_and_message(value), expected);
        }
    }
}
