//! Fuzzes SigV2 canonicalisation (rust/src/s3/sigv2.rs `string_to_sign`, with
//! its list of signed sub-resources `SUBRESOURCES`), the query parser it reads
//! (rust/src/s3/router.rs `Query::parse`) and, against both, the router's
//! choice of action (router.rs `route`).
//!
//! Checked once, independently of the engine's list:
//! * `SUBRESOURCES` contains AWS's documented sub-resources, every query
//!   parameter that selects an action in router.rs `resolve` (listed below
//!   from reading it, and each checked to change some request's action), and
//!   every parameter botocore's HmacV1 signer signs; it has no duplicates and
//!   leaves out `list-type` (both list versions are the same permission) and
//!   every parameter of `UNSIGNED`.
//!
//! Checked for a request generated from the input (method, headers,
//! Date/Expires, path, virtual-host bucket, query percent-encoded in randomly
//! chosen ways and parsed back with `Query::parse`):
//! * `Query::parse` never panics on any string and round-trips the encoding;
//! * `string_to_sign` never panics and is deterministic; `sign` is too;
//! * the canonical resource is the path then exactly the parameters of
//!   `SUBRESOURCES`, sorted by name (`?k=v&k`);
//! * parameters that are not in `SUBRESOURCES` never reach the string to sign:
//!   removing them, or adding more anywhere (`prefix`, `X-Amz-Signature`,
//!   `list-type`, case variants such as `ACL` ...), changes nothing;
//! * every signed sub-resource does: removing it or changing its value changes
//!   the string to sign;
//! * what is not signed does not choose the action either: the router resolves
//!   the request to the same action (or error) with only its signed
//!   parameters, and with unsigned ones added (ListObjectsV1 and V2, chosen by
//!   `list-type`, count as one: the same `s3:ListBucket` permission). So a
//!   SigV2 signature can never be replayed as another action;
//! * headers other than Content-MD5, Content-Type and x-amz-* change nothing;
//!   an added x-amz-* header changes it.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use ruststorage::s3::error::S3Code;
use ruststorage::s3::router::{Action, Query, route};
use ruststorage::s3::sigv2::{SUBRESOURCES, StringToSignParts, sign, string_to_sign};
use std::sync::Once;

/// AWS's SigV2 documentation ("Signing and authenticating REST requests"):
/// "The subresources that must be included when constructing the
/// CanonicalizedResource Element are acl, lifecycle, location, logging,
/// notification, partNumber, policy, requestPayment, torrent, uploadId,
/// uploads, versionId, versioning, versions, and website", plus the query
/// parameters overriding response headers (response-*).
const AWS_DOCUMENTED: [&str; 21] = [
    "acl",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

/// Every query parameter that selects an action (or a 501) in router.rs
/// `resolve`: the bucket configuration ones, tagging, UNSUPPORTED_SUBRESOURCES,
/// and those of the method/bucket/key match. `list-type` selects between
/// ListObjectsV1 and V2 and is deliberately not signed (see below).
const ROUTER_ACTIONS: [&str; 31] = [
    // bucket configuration
    "policy",
    "policyStatus",
    "cors",
    // object tagging, bucket tagging (501)
    "tagging",
    // UNSUPPORTED_SUBRESOURCES (501)
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
    // method / bucket / key
    "versioning",
    "acl",
    "versions",
    "location",
    "uploads",
    "delete",
    "partNumber",
    "uploadId",
];

/// botocore's HmacV1Auth.QSAOfInterest (what boto3 signs with SigV2).
const BOTOCORE: [&str; 35] = [
    "accelerate",
    "acl",
    "cors",
    "defaultObjectAcl",
    "location",
    "logging",
    "partNumber",
    "policy",
    "requestPayment",
    "torrent",
    "versioning",
    "versionId",
    "versions",
    "website",
    "uploads",
    "uploadId",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "delete",
    "lifecycle",
    "tagging",
    "restore",
    "storageClass",
    "notification",
    "replication",
    "analytics",
    "metrics",
    "inventory",
    "select",
    "select-type",
    "object-lock",
];

/// Parameters that are never signed sub-resources (names are case-sensitive):
/// listing and paging options, authentication parameters, case and spelling
/// variants of sub-resources.
const UNSIGNED: [&str; 46] = [
    "prefix",
    "delimiter",
    "list-type",
    "max-keys",
    "marker",
    "start-after",
    "fetch-owner",
    "continuation-token",
    "encoding-type",
    "key-marker",
    "version-id-marker",
    "upload-id-marker",
    "part-number-marker",
    "max-uploads",
    "max-parts",
    "x-id",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "ACL",
    "Acl",
    "UploadId",
    "uploadid",
    "versionid",
    "VersionId",
    "PartNumber",
    "Policy",
    "policystatus",
    "PolicyStatus",
    "Tagging",
    "Uploads",
    "Delete",
    "CORS",
    "response-content-typ",
    "acl ",
    " acl",
    "acl\u{0}",
    "acl=",
    "versions.",
];

fn is_signed(k: &str) -> bool {
    SUBRESOURCES.contains(&k)
}

/// An action, or the error code the router answers with.
type Outcome = Result<Action, S3Code>;

/// Resolves `method uri` (Host `host`, domain `localhost`). ListObjectsV2 is
/// reported as V1: `list-type` is unsigned, and both are `s3:ListBucket`.
fn resolve(method: &Method, uri: &Uri, host: &str, copy: bool) -> Outcome {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(host).unwrap());
    if copy {
        headers.insert("x-amz-copy-source", HeaderValue::from_static("/b/src"));
    }
    match route(method, uri, &headers, &["localhost".to_string()]) {
        Ok(r) if r.action == Action::ListObjectsV2 => Ok(Action::ListObjectsV1),
        Ok(r) => Ok(r.action),
        Err(e) => Err(e.code),
    }
}

/// The engine's list, checked against the three lists above and the router.
fn check_lists() {
    for (list, name) in [
        (&AWS_DOCUMENTED[..], "AWS's documented"),
        (&ROUTER_ACTIONS[..], "router.rs"),
        (&BOTOCORE[..], "botocore's"),
    ] {
        for k in list {
            assert!(
                SUBRESOURCES.contains(k),
                "{name} sub-resource {k:?} is not signed (sigv2.rs SUBRESOURCES)"
            );
        }
    }
    for k in UNSIGNED {
        assert!(!SUBRESOURCES.contains(&k), "{k:?} must not be signed");
    }
    for (i, k) in SUBRESOURCES.iter().enumerate() {
        assert!(
            !SUBRESOURCES[..i].contains(k),
            "{k:?} twice in SUBRESOURCES"
        );
    }
    // Each ROUTER_ACTIONS name does select something for some request.
    let methods =
        ["GET", "PUT", "HEAD", "DELETE", "POST"].map(|m| Method::from_bytes(m.as_bytes()).unwrap());
    for k in ROUTER_ACTIONS {
        let selects = methods.iter().any(|m| {
            ["/b", "/b/k"].iter().any(|path| {
                [false, true].iter().any(|&copy| {
                    let plain = resolve(m, &path.parse().unwrap(), "localhost:9000", copy);
                    plain
                        != resolve(
                            m,
                            &format!("{path}?{k}").parse().unwrap(),
                            "localhost:9000",
                            copy,
                        )
                })
            })
        });
        assert!(
            selects,
            "{k:?} selects no action in router.rs: remove it from ROUTER_ACTIONS"
        );
    }
    // list-type=2 selects ListObjectsV2, the same permission as V1.
    let get = Method::GET;
    let r = |uri: &str| {
        route(&get, &uri.parse().unwrap(), &HeaderMap::new(), &[])
            .unwrap()
            .action
    };
    assert_eq!(r("/b?list-type=2"), Action::ListObjectsV2);
    assert_eq!(r("/b"), Action::ListObjectsV1);
    assert_eq!(
        Action::ListObjectsV2.iam_action(),
        Action::ListObjectsV1.iam_action()
    );
}

fn text(u: &mut Unstructured, max: usize) -> ArbResult<String> {
    const CHARS: &[char] = &[
        'a', 'Z', '0', '/', ' ', '&', '=', '+', '%', '?', '#', '\n', ':', ',', 'é', '🦀', '\u{0}',
    ];
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| u.choose(CHARS).copied()).collect()
}

/// A name that differs from a sub-resource by the case of one letter, or by a
/// character added or removed.
fn variant(u: &mut Unstructured) -> ArbResult<String> {
    let base: Vec<char> = u.choose(&SUBRESOURCES)?.chars().collect();
    let i = u.choose_index(base.len())?;
    let mut v = base.clone();
    match u.int_in_range(0..=2)? {
        0 => {
            v[i] = if v[i].is_ascii_lowercase() {
                v[i].to_ascii_uppercase()
            } else {
                v[i].to_ascii_lowercase()
            };
        }
        1 => drop(v.remove(i)),
        _ => v.insert(i, *u.choose(&[' ', '-', '_', 's', '\t', '.'])?),
    }
    Ok(v.into_iter().collect())
}

fn param_name(u: &mut Unstructured) -> ArbResult<String> {
    Ok(match u.int_in_range(0..=5)? {
        0 => u.choose(&SUBRESOURCES)?.to_string(),
        1 => u.choose(&ROUTER_ACTIONS)?.to_string(),
        2 => u.choose(&BOTOCORE)?.to_string(),
        3 => u.choose(&UNSIGNED)?.to_string(),
        4 => variant(u)?,
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

/// The raw query with only the segments whose (decoded) name passes `keep`.
fn filter_raw(raw: &str, keep: impl Fn(&str) -> bool) -> String {
    raw.split('&')
        .filter(|seg| {
            Query::parse(Some(seg))
                .0
                .first()
                .is_some_and(|(k, _)| keep(k))
        })
        .collect::<Vec<_>>()
        .join("&")
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

/// What is not signed does not choose the action: the router answers the same
/// with only the signed parameters, and with unsigned ones added.
fn check_route(u: &mut Unstructured, raw: &str) -> ArbResult<()> {
    let method = Method::from_bytes(
        u.choose(&["GET", "PUT", "HEAD", "DELETE", "POST", "OPTIONS", "PATCH"])?
            .as_bytes(),
    )
    .unwrap();
    let path = *u.choose(&["/", "/b", "/b/", "/b/k", "/b/k/x", "/b/%61"])?;
    let host = *u.choose(&["localhost:9000", "b.localhost", "example.com"])?;
    let copy = u.ratio(1, 4)?;
    let at = |raw: &str| -> Option<Outcome> {
        let uri: Uri = format!("{path}?{raw}").parse().ok()?;
        Some(resolve(&method, &uri, host, copy))
    };
    let Some(full) = at(raw) else { return Ok(()) };
    let signed = filter_raw(raw, is_signed);
    assert_eq!(
        at(&signed),
        Some(full.clone()),
        "{method} {path}?{raw}: unsigned parameters change the action (signed part: {signed:?})"
    );
    let mut more = raw.to_string();
    for _ in 0..u.int_in_range(1..=3)? {
        let k = if u.arbitrary()? {
            u.choose(&UNSIGNED)?.to_string()
        } else {
            variant(u)?
        };
        if is_signed(&k) {
            continue;
        }
        let k = encode(u, &k)?;
        more = if more.is_empty() {
            k
        } else if u.arbitrary()? {
            format!("{k}=1&{more}")
        } else {
            format!("{more}&{k}")
        };
    }
    if let Some(with_more) = at(&more) {
        assert_eq!(
            with_more, full,
            "{method} {path}?{more}: added unsigned parameters change the action"
        );
    }
    Ok(())
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

    // The canonical resource (no headers: the string to sign is then
    // "METHOD\n\n\nDATE\n" + resource) is the path, then exactly the signed
    // sub-resources, sorted by name (a stable sort: equal names keep their order).
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
    let mut signed: Vec<&(String, String)> = query.0.iter().filter(|(k, _)| is_signed(k)).collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let expected_subs: String = signed
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            format!(
                "{}{k}{}{v}",
                if i == 0 { '?' } else { '&' },
                if v.is_empty() { "" } else { "=" }
            )
        })
        .collect();
    assert_eq!(subs, expected_subs, "canonical sub-resources of {raw:?}");

    // Unsigned parameters change nothing, removed or added anywhere.
    let signed_only = Query(
        query
            .0
            .iter()
            .filter(|(k, _)| is_signed(k))
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
        let k = match u.int_in_range(0..=2)? {
            0 => u.choose(&UNSIGNED)?.to_string(),
            1 => variant(u)?,
            _ => text(u, 10)?,
        };
        if is_signed(&k) {
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

    // Every signed sub-resource counts: removed or changed, the string to sign changes.
    for (i, (k, _)) in query
        .0
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| is_signed(k))
    {
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

    check_route(u, &raw)
}

static LISTS: Once = Once::new();

fuzz_target!(|input: &[u8]| {
    LISTS.call_once(check_lists);
    // Any string parses.
    let q = Query::parse(Some(&String::from_utf8_lossy(input)));
    let _ = (q.get("acl"), q.has("uploads"));
    let _ = check(&mut Unstructured::new(input));
});
