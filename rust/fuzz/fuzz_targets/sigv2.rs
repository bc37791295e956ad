//! Fuzzes SigV2 canonicalisation (rust/src/s3/sigv2.rs `string_to_sign`) and
//! the query parser it reads (rust/src/s3/router.rs `Query::parse`).
//!
//! A request (method, headers, Date/Expires, path, virtual-host bucket, query)
//! is generated from the input; its query string is percent-encoded in
//! randomly chosen ways and parsed back with `Query::parse`. Checked:
//! * `Query::parse` never panics on any string and round-trips the encoding;
//! * `string_to_sign` never panics and is deterministic; `sign` is too;
//! * parameters that are not signed sub-resources never reach the string to
//!   sign: removing them, or adding more (`prefix`, `X-Amz-Signature`,
//!   `policyStatus`, case variants such as `ACL` ...), changes nothing;
//! * every signed sub-resource does: the canonical resource (after the path)
//!   names it with its value, and removing it or changing its value changes the
//!   string to sign;
//! * headers other than Content-MD5, Content-Type and x-amz-* change nothing;
//!   an added x-amz-* header changes it.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use ruststorage::s3::router::Query;
use ruststorage::s3::sigv2::{StringToSignParts, sign, string_to_sign};

/// The CanonicalizedResource sub-resources of AWS's SigV2 documentation
/// ("Signing and authenticating REST requests"), response-* overrides included:
/// the server must sign every one, or a signed URL could be replayed with
/// another `versionId`, `uploadId`, `partNumber`, ...
const SIGNED: [&str; 25] = [
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];
/// Further names botocore's HmacV1 signer treats as sub-resources
/// (`QSAOfInterest`): the server may sign them or not.
const MAY_SIGN: [&str; 10] = [
    "accelerate",
    "analytics",
    "defaultObjectAcl",
    "inventory",
    "metrics",
    "object-lock",
    "replication",
    "select",
    "select-type",
    "storageClass",
];
/// Parameters that are never signed sub-resources (names are case-sensitive).
const UNSIGNED: [&str; 22] = [
    "prefix",
    "delimiter",
    "list-type",
    "max-keys",
    "marker",
    "continuation-token",
    "encoding-type",
    "x-id",
    "policyStatus",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "ACL",
    "UploadId",
    "versionid",
    "Policy",
    "response-content-typ",
    "acl ",
    " acl",
    "acl\u{0}",
];

fn is_signed(k: &str) -> bool {
    SIGNED.contains(&k)
}
fn may_be_signed(k: &str) -> bool {
    SIGNED.contains(&k) || MAY_SIGN.contains(&k)
}

fn text(u: &mut Unstructured, max: usize) -> ArbResult<String> {
    const CHARS: &[char] = &[
        'a', 'Z', '0', '/', ' ', '&', '=', '+', '%', '?', '#', '\n', ':', ',', 'é', '🦀', '\u{0}',
    ];
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| u.choose(CHARS).copied()).collect()
}

fn param_name(u: &mut Unstructured) -> ArbResult<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.choose(&SIGNED)?.to_string(),
        1 => u.choose(&MAY_SIGN)?.to_string(),
        2 => u.choose(&UNSIGNED)?.to_string(),
        _ => text(u, 12)?,
    })
}

/// Percent-encodes so that `Query::parse` decodes back to `s`; which of the
/// optional encodings are used is up to the input.
fn encode(u: &mut Unstructured, s: &str) -> ArbResult<String> {
    let mut out = String::new();
    for c in s.chars() {
        let must = matches!(c, '&' | '=' | '+' | '%' | '#') || !c.is_ascii_graphic();
        match c {
            ' ' if u.arbitrary()? => out.push('+'),
            c if must || u.ratio(1, 8)? => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&if u.arbitrary()? {
                        format!("%{b:02X}")
                    } else {
                        format!("%{b:02x}")
                    });
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn raw_query(u: &mut Unstructured, params: &[(String, String)]) -> ArbResult<String> {
    let mut raw = String::new();
    for (k, v) in params
        .iter()
        .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
    {
        if u.ratio(1, 8)? {
            raw.push('&'); // empty segments are skipped
        }
        if !raw.is_empty() {
            raw.push('&');
        }
        raw.push_str(&encode(u, k)?);
        if !v.is_empty() || u.arbitrary()? {
            raw.push('=');
            raw.push_str(&encode(u, v)?);
        }
    }
    Ok(raw)
}

struct Req {
    method: String,
    headers: HeaderMap,
    date: String,
    path: String,
    vhost: Option<String>,
}

impl Req {
    fn sts(&self, headers: &HeaderMap, query: &Query) -> String {
        string_to_sign(&StringToSignParts {
            method: &self.method,
            headers,
            date_or_expires: &self.date,
            raw_path: &self.path,
            vhost_bucket: self.vhost.as_deref(),
            query,
        })
    }
}

fn headers(u: &mut Unstructured) -> ArbResult<HeaderMap> {
    const NAMES: &[&str] = &[
        "content-md5",
        "content-type",
        "date",
        "x-amz-date",
        "x-amz-meta-a",
        "X-Amz-Meta-B",
        "x-amz-acl",
        "x-amz-security-token",
        "host",
        "user-agent",
    ];
    let mut map = HeaderMap::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let name = if u.ratio(3, 4)? {
            u.choose(NAMES)?.to_string()
        } else {
            text(u, 10)?
        };
        let value: Vec<u8> = if u.arbitrary()? {
            text(u, 20)?.into_bytes()
        } else {
            u.arbitrary()?
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            map.append(name, value);
        }
    }
    Ok(map)
}

fn check(u: &mut Unstructured) -> ArbResult<()> {
    let method = if u.ratio(3, 4)? {
        u.choose(&["GET", "PUT", "HEAD", "DELETE", "POST"])?
            .to_string()
    } else {
        text(u, 8)?
    };
    let req = Req {
        method,
        headers: headers(u)?,
        date: text(u, 30)?,
        path: format!("/{}", text(u, 40)?),
        vhost: if u.arbitrary()? {
            Some(text(u, 12)?)
        } else {
            None
        },
    };
    let mut params = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let k = param_name(u)?;
        let v = if u.arbitrary()? {
            String::new()
        } else {
            text(u, 16)?
        };
        params.push((k, v));
    }
    let raw = raw_query(u, &params)?;
    let query = Query::parse(Some(&raw));
    // Round trip (a pair with no name and no value is not sent: it would be an empty segment).
    let expected: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
        .cloned()
        .collect();
    assert_eq!(query.0, expected, "Query::parse({raw:?})");

    let sts = req.sts(&req.headers, &query);
    assert_eq!(
        sts,
        req.sts(&req.headers.clone(), &query.clone()),
        "not deterministic"
    );
    assert!(sts.starts_with(&format!("{}\n", req.method)));
    let signature = sign("secret/KEY+1", &sts);
    assert_eq!(signature, sign("secret/KEY+1", &sts));
    assert_eq!(signature.len(), 28, "base64 of a SHA-1 HMAC");

    // Unsigned parameters change nothing, removed or added anywhere.
    let signed_only = Query(
        query
            .0
            .iter()
            .filter(|(k, _)| may_be_signed(k))
            .cloned()
            .collect(),
    );
    assert_eq!(
        req.sts(&req.headers, &signed_only),
        sts,
        "an unsigned parameter reached the string to sign: {raw:?}"
    );
    let mut more = query.0.clone();
    for _ in 0..u.int_in_range(1..=3)? {
        let k = if u.arbitrary()? {
            u.choose(&UNSIGNED)?.to_string()
        } else {
            text(u, 10)?
        };
        if may_be_signed(&k) {
            continue;
        }
        let at = u.int_in_range(0..=more.len())?;
        more.insert(at, (k, text(u, 10)?));
    }
    assert_eq!(
        req.sts(&req.headers, &Query(more.clone())),
        sts,
        "unsigned parameters changed the string to sign: {more:?}"
    );

    // The canonical resource (no headers: the string to sign is then
    // "METHOD\n\n\nDATE\n" + resource) is the path, then the signed sub-resources.
    let bare = req.sts(&HeaderMap::new(), &query);
    let prefix = format!("{}\n\n\n{}\n", req.method, req.date);
    let resource = bare
        .strip_prefix(&prefix)
        .expect("string to sign without headers");
    let path = match &req.vhost {
        Some(b) => format!("/{b}{}", req.path),
        None => req.path.clone(),
    };
    let subs = resource
        .strip_prefix(&path)
        .expect("canonical resource starts with the path");
    if query.0.iter().any(|(k, _)| is_signed(k)) {
        assert!(subs.starts_with('?'), "sub-resources {subs:?}");
    }
    if !query.0.iter().any(|(k, _)| may_be_signed(k)) {
        assert_eq!(subs, "", "sub-resources without any in the query");
    }
    for (i, (k, v)) in query
        .0
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| is_signed(k))
    {
        let named = if v.is_empty() {
            k.clone()
        } else {
            format!("{k}={v}")
        };
        assert!(
            subs.contains(&named),
            "signed sub-resource {named:?} missing from {subs:?}"
        );
        let mut without = query.0.clone();
        without.remove(i);
        assert_ne!(
            req.sts(&req.headers, &Query(without)),
            sts,
            "removing {k:?} changes nothing"
        );
        let mut changed = query.0.clone();
        changed[i].1.push('x');
        assert_ne!(
            req.sts(&req.headers, &Query(changed)),
            sts,
            "changing {k:?}'s value changes nothing"
        );
    }

    // Headers: only Content-MD5, Content-Type and x-amz-* count.
    let mut extra = req.headers.clone();
    extra.append("user-agent", HeaderValue::from_static("fuzz/1"));
    extra.append("x-not-amz", HeaderValue::from_static("v"));
    extra.append("authorization", HeaderValue::from_static("AWS AKID:sig"));
    assert_eq!(
        req.sts(&extra, &query),
        sts,
        "an unsigned header reached the string to sign"
    );
    extra.append("x-amz-meta-fuzz", HeaderValue::from_static("v"));
    assert_ne!(
        req.sts(&extra, &query),
        sts,
        "an x-amz-* header is not signed"
    );
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    // Any string parses.
    let q = Query::parse(Some(&String::from_utf8_lossy(input)));
    let _ = (q.get("acl"), q.has("uploads"));
    let _ = check(&mut Unstructured::new(input));
});
