//! Resolves an HTTP request to an S3 action: bucket and key from path-style or
//! virtual-hosted-style addressing, then the operation from method and query.

use http::{HeaderMap, Method};

use super::error::{S3Code, S3Error, S3Result};
use crate::storage::keypath::MAX_KEY_BYTES;

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
    PutBucketVersioning,
    ListObjectVersions,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    /// A CORS preflight (`OPTIONS`), answered without authentication.
    Preflight,
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
            PutBucketVersioning => "s3:PutBucketVersioning",
            ListObjectVersions => "s3:ListBucketVersions",
            PutObjectTagging => "s3:PutObjectTagging",
            GetObjectTagging => "s3:GetObjectTagging",
            DeleteObjectTagging => "s3:DeleteObjectTagging",
            Preflight => "",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub bucket: Option<String>,
    /// Whether the bucket came from the Host header (virtual-hosted style).
    pub virtual_host: bool,
    pub key: Option<String>,
    pub query: Query,
    pub action: Action,
}

/// Bucket name from a `Host: <bucket>.<domain>` header, for each configured domain.
fn virtual_host_bucket(headers: &HeaderMap, domains: &[String]) -> Option<String> {
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
    Ok(Route {
        bucket,
        virtual_host,
        key,
        query,
        action,
    })
}

fn not_implemented(what: &str) -> S3Error {
    S3Error::msg(
        S3Code::NotImplemented,
        format!("{what} is not implemented by this server."),
    )
}

/// Sub-resources we do not implement yet answer 501 instead of acting as a plain
/// GET/PUT/DELETE on the bucket or object, which would do something else entirely.
const UNSUPPORTED_SUBRESOURCES: [&str; 21] = [
    "lifecycle",
    "website",
    "replication",
    "encryption",
    "logging",
    "notification",
    "object-lock",
    "retention",
    "legal-hold",
    "accelerate",
    "requestPayment",
    "ownershipControls",
    "attributes",
    "torrent",
    "select",
    "restore",
    "analytics",
    "inventory",
    "metrics",
    "publicAccessBlock",
    "intelligent-tiering",
];

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
            _ => None,
        };
        if let Some(action) = bucket_config {
            return Ok(action);
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
    if q.has("tagging") {
        return Err(not_implemented("Bucket tagging"));
    }
    if let Some(sub) = UNSUPPORTED_SUBRESOURCES.iter().find(|s| q.has(s)) {
        return Err(not_implemented(&format!("The '{sub}' sub-resource")));
    }
    let copy = headers.contains_key("x-amz-copy-source");
    let action = match (method.as_str(), has_bucket, has_key) {
        ("GET", false, _) => ListBuckets,
        ("PUT", true, false) if q.has("versioning") => PutBucketVersioning,
        ("PUT", true, false) if q.has("acl") => {
            return Err(not_implemented("Changing this bucket setting"));
        }
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
        ("PUT", true, true) if q.has("acl") => return Err(not_implemented("PutObjectAcl")),
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
            r("PUT", "/b?tagging", "x").unwrap_err().code,
            S3Code::NotImplemented
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
}
