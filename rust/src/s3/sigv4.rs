//! AWS Signature Version 4, the pure parts: canonical request, string to sign,
//! signing key, chunk and trailer signatures. `auth.rs` applies them to requests.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// The last key each thread derived is kept: a client signs every request of a day
/// with the same one, and deriving it is four HMACs.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<([String; 4], Vec<u8>)>> = const { std::cell::RefCell::new(None) };
    }
    let scope = [secret, date, region, service];
    LAST.with_borrow_mut(|last| match last {
        Some((cached, key)) if *cached == scope => key.clone(),
        _ => {
            let key = derive_signing_key(secret, date, region, service);
            *last = Some((scope.map(str::to_string), key.clone()));
            key
        }
    })
}

fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// URI-encodes as SigV4 requires: unreserved characters stay, all else is `%XX`.
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

fn decode(raw: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(raw).collect()
}

/// Decodes one query-string name or value: `+` is a space, then `%XX`. The router and
/// the signature both use this, so the request that is signed is the one that is served.
pub fn decode_query_component(raw: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(&raw.replace('+', " ")).collect()
}

/// The canonical URI of an S3 request: the path, decoded once and re-encoded.
pub fn canonical_uri(raw_path: &str) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    uri_encode(&decode(path), true)
}

/// Sorted, re-encoded query parameters, without `X-Amz-Signature` (presigned URLs).
pub fn canonical_query(raw_query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&decode_query_component(k), false),
                uri_encode(&decode_query_component(v), false),
            )
        })
        .filter(|(k, _)| k != "X-Amz-Signature")
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value\n` for each signed header (values trimmed, inner spaces collapsed).
pub fn canonical_headers(headers: &HeaderMap, signed: &[&str]) -> Option<String> {
    let mut out = String::with_capacity(64 * signed.len());
    for name in signed {
        let mut values = headers.get_all(*name).iter().peekable();
        values.peek()?;
        out.push_str(name);
        out.push(':');
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, word) in String::from_utf8_lossy(value.as_bytes())
                .split_whitespace()
                .enumerate()
            {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    Some(out)
}

pub struct CanonicalParts<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub signed_headers: &'a [&'a str],
    pub payload_hash: &'a str,
}

pub fn canonical_request(p: &CanonicalParts) -> Option<String> {
    Some(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        p.method,
        canonical_uri(p.raw_path),
        canonical_query(p.raw_query),
        canonical_headers(p.headers, p.signed_headers)?,
        p.signed_headers.join(";"),
        p.payload_hash
    ))
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// The signature of one aws-chunked chunk, chained to the previous one.
pub fn chunk_signature(
    key: &[u8],
    amz_date: &str,
    scope: &str,
    previous: &str,
    chunk_sha256: &str,
) -> String {
    let sts = format!(
        "{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}"
    );
    sign(key, &sts)
}

/// The signature of the trailer block of a signed streaming upload.
pub fn trailer_signature(
    key: &[u8],
    amz_date: &str,
    scope: &str,
    previous: &str,
    trailers: &str,
) -> String {
    let sts = format!(
        "{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n{previous}\n{}",
        sha256_hex(trailers.as_bytes())
    );
    sign(key, &sts)
}

/// Constant-time comparison of two signatures.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_signing_key_is_the_one_for_its_scope() {
        let derived = |date, region| derive_signing_key(SECRET, date, region, "s3");
        for (date, region) in [
            ("20130524", "us-east-1"),
            ("20130525", "us-east-1"),
            ("20130525", "eu-west-1"),
            ("20130525", "eu-west-1"),
        ] {
            assert_eq!(
                signing_key(SECRET, date, region, "s3"),
                derived(date, region)
            );
        }
        assert_ne!(
            signing_key("other", "20130525", "eu-west-1", "s3"),
            derived("20130525", "eu-west-1")
        );
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

    /// The GET example of AWS's "Signature Calculations for the Authorization Header".
    #[test]
    fn aws_documented_get_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        headers.insert("range", "bytes=0-9".parse().unwrap());
        headers.insert("x-amz-content-sha256", EMPTY_SHA256.parse().unwrap());
        headers.insert("x-amz-date", "20130524T000000Z".parse().unwrap());
        let signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"];
        let creq = canonical_request(&CanonicalParts {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: None,
            headers: &headers,
            signed_headers: &signed,
            payload_hash: EMPTY_SHA256,
        })
        .unwrap();
        let sts = string_to_sign("20130524T000000Z", SCOPE, &creq);
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(
            sign(&key, &sts),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The first chunk of AWS's aws-chunked example (64 KiB of 'a').
    #[test]
    fn aws_documented_chunk_example() {
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let chunk = vec![b'a'; 65536];
        let sig = chunk_signature(&key, "20130524T000000Z", SCOPE, seed, &sha256_hex(&chunk));
        assert_eq!(
            sig,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
    }

    #[test]
    fn encoding_and_query_canonicalisation() {
        assert_eq!(canonical_uri("/b/a%20b/c+d~e"), "/b/a%20b/c%2Bd~e");
        assert_eq!(canonical_uri("/b/%E2%82%AC"), "/b/%E2%82%AC");
        assert_eq!(
            canonical_query(Some(
                "prefix=a%2Fb&list-type=2&delimiter=%2F&X-Amz-Signature=x"
            )),
            "delimiter=%2F&list-type=2&prefix=a%2Fb"
        );
        assert_eq!(canonical_query(Some("uploads")), "uploads=");
        assert!(
            signatures_equal("abc", "abc")
                && !signatures_equal("abc", "abd")
                && !signatures_equal("abc", "ab")
        );
    }
}
