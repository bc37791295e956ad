//! AWS Signature Version 2 (legacy, HMAC-SHA1): still what boto3's
//! `generate_presigned_url` produces by default and what some older tools send.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha1::Sha1;

use super::router::Query;

/// Query parameters that are part of the signed resource: AWS's list, every parameter
/// that selects what a request does here (so a signature for one action can never be
/// replayed as another by adding one), and the ones botocore signs. `list-type` is left
/// out: botocore does not sign it and both list versions are the same permission.
pub const SUBRESOURCES: [&str; 43] = [
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "defaultObjectAcl",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "partNumber",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// `/bucket/key?sub=resource`: the path as sent (with the bucket for
/// virtual-hosted requests) and the signed sub-resources in order.
fn canonical_resource(raw_path: &str, vhost_bucket: Option<&str>, query: &Query) -> String {
    let mut out = match vhost_bucket {
        Some(bucket) => format!("/{bucket}{raw_path}"),
        None => raw_path.to_string(),
    };
    let mut subs: Vec<&(String, String)> = query
        .0
        .iter()
        .filter(|(k, _)| SUBRESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

fn canonical_amz_headers(headers: &HeaderMap) -> String {
    let mut names: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-"))
        .collect();
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|name| {
            let values: Vec<String> = headers
                .get_all(*name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect()
}

pub struct StringToSignParts<'a> {
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    /// The `Date` header, or `Expires` for query authentication.
    pub date_or_expires: &'a str,
    pub raw_path: &'a str,
    pub vhost_bucket: Option<&'a str>,
    pub query: &'a Query,
}

pub fn string_to_sign(p: &StringToSignParts) -> String {
    let get = |name: &str| {
        p.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        p.method,
        get("content-md5"),
        get("content-type"),
        p.date_or_expires,
        canonical_amz_headers(p.headers),
        canonical_resource(p.raw_path, p.vhost_bucket, p.query)
    )
}

pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET example of AWS's "Signing and authenticating REST requests" (SigV2).
    #[test]
    fn aws_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert("date", "Tue, 27 Mar 2007 19:36:42 +0000".parse().unwrap());
        let query = Query::default();
        let sts = string_to_sign(&StringToSignParts {
            method: "GET",
            headers: &headers,
            date_or_expires: "Tue, 27 Mar 2007 19:36:42 +0000",
            raw_path: "/photos/puppy.jpg",
            vhost_bucket: Some("awsexamplebucket1"),
            query: &query,
        });
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(
            sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
    }
}
