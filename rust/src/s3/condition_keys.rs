//! The condition keys of a request (its context for bucket-policy conditions), and
//! the keys a policy may name.

use std::net::IpAddr;
use std::sync::Arc;

use super::policy::{Caller, Context, REQUEST_OBJECT_TAG, REQUEST_OBJECT_TAG_KEYS};
use super::router::Query;
use super::tagging::Tags;

/// How a request is signed (`s3:authType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// In the `Authorization` header.
    Header,
    /// In the query string (a presigned URL).
    QueryString,
    /// In the fields of a browser form (POST Object).
    Post,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Header => "REST-HEADER",
            AuthType::QueryString => "REST-QUERY-STRING",
            AuthType::Post => "POST",
        }
    }
}

/// What a request's condition keys are drawn from, besides its signer. Kept by the
/// authorizer, which builds the keys only when a policy asks.
pub struct Facts {
    /// `AWS4-HMAC-SHA256` or `AWS` (SigV2).
    pub signature_version: &'static str,
    pub auth_type: AuthType,
    pub headers: Arc<http::HeaderMap>,
    /// Only the query parameters that are condition keys (`QUERY_KEYS`).
    pub query: Query,
    pub remote: IpAddr,
    pub secure: bool,
}

/// Request headers that are condition keys of the same name (`s3:<header>`).
const HEADER_KEYS: [&str; 13] = [
    "x-amz-acl",
    "x-amz-content-sha256",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
];

/// Query parameters that are condition keys.
const QUERY_KEYS: [(&str, &str); 4] = [
    ("prefix", "s3:prefix"),
    ("delimiter", "s3:delimiter"),
    ("max-keys", "s3:max-keys"),
    ("versionId", "s3:versionid"),
];

/// The parameters of `query` that `context` reads.
pub fn query_keys(query: &Query) -> Query {
    Query(
        query
            .0
            .iter()
            .filter(|(name, _)| QUERY_KEYS.iter().any(|(param, _)| param == name))
            .cloned()
            .collect(),
    )
}

/// The condition keys of one request, lowercased.
pub fn context(f: &Facts, caller: Option<&Caller>) -> Context {
    let mut c = Context::new();
    let mut set = |key: &str, value: String| {
        c.insert(key.to_string(), vec![value]);
    };
    let now = chrono::Utc::now();
    set("aws:sourceip", f.remote.to_canonical().to_string());
    set("aws:securetransport", f.secure.to_string());
    set(
        "aws:currenttime",
        now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    set("aws:epochtime", now.timestamp().to_string());
    match caller {
        Some(caller) => {
            set("aws:principaltype", "User".into());
            set("aws:principalarn", caller.arn.clone());
            set("aws:username", caller.access_key.clone());
            set("aws:userid", caller.access_key.clone());
            set("s3:signatureversion", f.signature_version.into());
            set("s3:authtype", f.auth_type.as_str().into());
        }
        None => set("aws:principaltype", "Anonymous".into()),
    }
    let header = |name: &str| f.headers.get(name).and_then(|v| v.to_str().ok());
    for (name, key) in [("user-agent", "aws:useragent"), ("referer", "aws:referer")] {
        if let Some(v) = header(name) {
            set(key, v.to_string());
        }
    }
    for name in HEADER_KEYS {
        if let Some(v) = header(name) {
            set(&format!("s3:{name}"), v.trim().to_string());
        }
    }
    // `bucket/key` as AWS's examples compare it, whether sent with a leading `/` or
    // percent-encoded.
    if let Some(v) = header("x-amz-copy-source") {
        let decoded = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
        set(
            "s3:x-amz-copy-source",
            decoded.trim_start_matches('/').to_string(),
        );
    }
    for (param, key) in QUERY_KEYS {
        if let Some(v) = f.query.get(param) {
            set(key, v.to_string());
        }
    }
    // Tags set while writing; malformed ones are refused by the handler (InvalidTag).
    if let Some(tags) = header("x-amz-tagging").and_then(|v| super::tagging::from_header(v).ok()) {
        add_request_tags(&mut c, &tags);
    }
    c
}

/// `s3:RequestObjectTag/<key>` for each tag and `s3:RequestObjectTagKeys` (multivalued).
pub fn add_request_tags(c: &mut Context, tags: &Tags) {
    for (key, value) in tags {
        let name = format!("{REQUEST_OBJECT_TAG}{}", key.to_ascii_lowercase());
        c.insert(name, vec![value.clone()]);
    }
    c.insert(
        REQUEST_OBJECT_TAG_KEYS.to_string(),
        tags.keys().cloned().collect(),
    );
}

/// AWS global condition keys (any service may be asked about them), lowercased.
const GLOBAL_KEYS: [&str; 40] = [
    "aws:assumedroot",
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:currenttime",
    "aws:ec2instancesourceprivateipv4",
    "aws:ec2instancesourcevpc",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:multifactorauthage",
    "aws:multifactorauthpresent",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalisawsservice",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:principaltype",
    "aws:referer",
    "aws:requestedregion",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
    "aws:securetransport",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceidentity",
    "aws:sourceip",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcevpc",
    "aws:sourcevpcarn",
    "aws:sourcevpce",
    "aws:tagkeys",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
];

/// Amazon S3's own condition keys, lowercased.
const S3_KEYS: [&str; 35] = [
    "s3:accessgrantsinstancearn",
    "s3:accesspointnetworkorigin",
    "s3:authtype",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "s3:delimiter",
    "s3:existingjoboperation",
    "s3:existingjobpriority",
    "s3:if-match",
    "s3:if-none-match",
    "s3:jobsuspendedcause",
    "s3:locationconstraint",
    "s3:max-keys",
    "s3:object-lock-legal-hold",
    "s3:object-lock-mode",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-retain-until-date",
    "s3:objectcreationoperation",
    "s3:prefix",
    "s3:requestjoboperation",
    "s3:requestjobpriority",
    "s3:requestobjecttagkeys",
    "s3:resourceaccount",
    "s3:signatureage",
    "s3:signatureversion",
    "s3:tlsversion",
    "s3:versionid",
    "s3:x-amz-copy-source",
    "s3:x-amz-object-ownership",
    "s3:x-amz-acl",
    "s3:x-amz-content-sha256",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write",
];

/// Keys with a tag key after the prefix.
const TAG_KEY_PREFIXES: [&str; 6] = [
    "aws:principaltag/",
    "aws:requesttag/",
    "aws:resourcetag/",
    "s3:buckettag/",
    "s3:existingobjecttag/",
    "s3:requestobjecttag/",
];

/// Whether a policy may name this (lowercased) condition key, as PutBucketPolicy
/// checks. Known keys this server never sets (`aws:SourceVpc`, ...) are absent from
/// every request, as on AWS for requests that do not carry them.
pub fn is_known(key: &str) -> bool {
    GLOBAL_KEYS.contains(&key)
        || S3_KEYS.contains(&key)
        || HEADER_KEYS
            .iter()
            .any(|h| key.strip_prefix("s3:") == Some(h))
        || TAG_KEY_PREFIXES
            .iter()
            .any(|p| key.strip_prefix(p).is_some_and(|tag| !tag.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys() {
        for key in [
            "aws:sourceip",
            "s3:x-amz-acl",
            "s3:x-amz-storage-class",
            "s3:existingobjecttag/team",
            "s3:requestobjecttagkeys",
            "aws:principaltag/dept",
        ] {
            assert!(is_known(key), "{key}");
        }
        for key in [
            "aws:sourceipx",
            "s3:prefixes",
            "s3:requestobjecttag/",
            "foo",
            "ec2:vpc",
        ] {
            assert!(!is_known(key), "{key}");
        }
    }

    #[test]
    fn request_context() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-acl", "bucket-owner-full-control".parse().unwrap());
        headers.insert("x-amz-tagging", "Project=x&team=a%20b".parse().unwrap());
        headers.insert("x-amz-copy-source", "/src/a%20b.txt".parse().unwrap());
        let query = Query::parse(Some("versionId=v1&prefix=home/"));
        let caller = Caller::new("AKID", "0".repeat(64));
        let facts = Facts {
            signature_version: "AWS4-HMAC-SHA256",
            auth_type: AuthType::QueryString,
            headers: Arc::new(headers),
            query: query_keys(&query),
            remote: "::ffff:10.1.2.3".parse().unwrap(),
            secure: false,
        };
        let c = context(&facts, Some(&caller));
        let one = |k: &str| c.get(k).map(|v| v.join(","));
        assert_eq!(one("aws:sourceip").as_deref(), Some("10.1.2.3"));
        assert_eq!(one("aws:securetransport").as_deref(), Some("false"));
        assert_eq!(one("s3:authtype").as_deref(), Some("REST-QUERY-STRING"));
        assert_eq!(
            one("s3:x-amz-acl").as_deref(),
            Some("bucket-owner-full-control")
        );
        assert_eq!(one("s3:x-amz-copy-source").as_deref(), Some("src/a b.txt"));
        assert_eq!(one("s3:versionid").as_deref(), Some("v1"));
        assert_eq!(one("s3:prefix").as_deref(), Some("home/"));
        assert_eq!(one("s3:requestobjecttag/project").as_deref(), Some("x"));
        assert_eq!(one("s3:requestobjecttag/team").as_deref(), Some("a b"));
        assert_eq!(
            one("s3:requestobjecttagkeys").as_deref(),
            Some("Project,team")
        );
        assert_eq!(
            one("aws:principalarn").as_deref(),
            Some("arn:aws:iam::000000000000:user/AKID")
        );
        assert_eq!(one("s3:delimiter"), None);
    }
}
