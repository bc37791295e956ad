//! Fuzzes the aws-chunked body decoder (rust/src/s3/body.rs, `ChunkedDecoder`),
//! which parses every streaming upload before anything else looks at it.
//!
//! The first input byte picks a mode; the rest is the body or, for the
//! generating modes, the choices that build one.
//!
//! * raw (unsigned or signed decoder): any bytes, fed whole, byte by byte, and
//!   in pseudo-random pieces (empty ones included). Never panics; the outcome
//!   (decoded data, error code, trailers, chunk signatures, `finish()`) is the
//!   same however the input is split; decoded data never exceeds the input, and
//!   neither do the trailers and signatures it keeps; trailer names are
//!   lowercase and trimmed, values trimmed; `trailer(name)` is the first value.
//! * valid unsigned: a correct encoding of random data (random chunk sizes,
//!   hex spellings, extensions, trailers) decodes to exactly that data and those
//!   trailers, in every split.
//! * valid signed: a correctly signed encoding (chunk signatures chained from
//!   the seed, trailer signature) decodes and verifies in every split; changing
//!   one data byte, one chunk signature or one signed trailer value is refused
//!   with SignatureDoesNotMatch.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use ruststorage::s3::auth::ChunkSigning;
use ruststorage::s3::body::ChunkedDecoder;
use ruststorage::s3::sigv4;
use std::ops::Range;

/// Everything observable after decoding one body.
#[derive(Debug, PartialEq)]
struct Outcome {
    data: Vec<u8>,
    /// The first `feed` error; feeding stops there, as the request body does.
    feed_error: Option<&'static str>,
    /// `finish()`, when every feed succeeded.
    finish: Option<Result<(), &'static str>>,
    trailers: Vec<(String, String)>,
    signatures: Vec<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.feed_error.is_none() && self.finish == Some(Ok(()))
    }
    fn error(&self) -> Option<&'static str> {
        self.feed_error.or(match self.finish {
            Some(Err(code)) => Some(code),
            _ => None,
        })
    }
}

fn decode(pieces: &[&[u8]], signing: Option<&ChunkSigning>) -> Outcome {
    let input_len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut d = ChunkedDecoder::new(signing.cloned());
    let mut out: Vec<Bytes> = Vec::new();
    let mut feed_error = None;
    for piece in pieces {
        if let Err(e) = d.feed(piece, &mut out) {
            feed_error = Some(e.code.as_str());
            break;
        }
    }
    let finish = feed_error
        .is_none()
        .then(|| d.finish().map_err(|e| e.code.as_str()));
    let data = out.concat();
    assert!(
        data.len() <= input_len,
        "decoded {} bytes out of {input_len}",
        data.len()
    );
    // What the decoder keeps comes from the input, never more than the input.
    let kept: usize = d
        .trailers
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum::<usize>()
        + d.signatures.iter().map(String::len).sum::<usize>();
    assert!(
        kept <= input_len,
        "keeps {kept} bytes of trailers/signatures out of {input_len}"
    );
    for (i, (name, value)) in d.trailers.iter().enumerate() {
        assert_eq!(
            *name,
            name.trim().to_ascii_lowercase(),
            "trailer name not normalised"
        );
        assert_eq!(value, value.trim(), "trailer value not trimmed");
        let first = d.trailers.iter().position(|(k, _)| k == name).unwrap();
        assert!(first <= i);
        assert_eq!(d.trailer(name), Some(d.trailers[first].1.as_str()));
    }
    if !d.trailers.iter().any(|(k, _)| k.is_empty()) {
        assert_eq!(d.trailer(""), None);
    }
    Outcome {
        data,
        feed_error,
        finish,
        trailers: d.trailers.clone(),
        signatures: d.signatures.clone(),
    }
}

/// xorshift64*: split points derived from the input, reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Ways to split `body` into feed() calls: whole, byte by byte, and random
/// pieces of 0..=max bytes (0 = an empty feed).
fn splits(body: &[u8], seed: u64) -> Vec<Vec<&[u8]>> {
    let mut all = vec![vec![body], body.chunks(1).collect()];
    for (round, max) in [(1u64, 3usize), (2, 17), (3, 300)] {
        let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(round) | 1);
        let (mut pieces, mut at) = (Vec::new(), 0);
        while at < body.len() {
            let n = (rng.next() % (max as u64 + 1)) as usize;
            let end = (at + n).min(body.len());
            pieces.push(&body[at..end]);
            at = end;
        }
        all.push(pieces);
    }
    all
}

/// Decodes `body` in every split and checks they all agree; returns the outcome.
fn decode_every_split(body: &[u8], signing: Option<&ChunkSigning>, seed: u64) -> Outcome {
    let mut splits = splits(body, seed).into_iter();
    let first = decode(&splits.next().unwrap(), signing);
    for pieces in splits {
        let sizes: Vec<usize> = pieces.iter().map(|p| p.len()).collect();
        let other = decode(&pieces, signing);
        assert_eq!(
            first, other,
            "split into {sizes:?} decodes differently from one feed"
        );
    }
    first
}

fn signing() -> ChunkSigning {
    ChunkSigning {
        key: sigv4::signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        ),
        amz_date: "20130524T000000Z".into(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
    }
}

/// A body to encode: data cut into chunks, trailers, spelling choices.
struct Plan {
    chunks: Vec<Vec<u8>>,
    trailers: Vec<(String, String)>,
    upper_hex: bool,
    leading_zeros: usize,
    final_blank_line: bool,
}

const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-_.";
const VALUE_CHARS: &[u8] = b"abcXYZ0189+/=-_.:; ,\t";

fn token(u: &mut Unstructured, chars: &[u8], max: usize) -> ArbResult<String> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| Ok(*u.choose(chars)? as char)).collect()
}

fn plan(u: &mut Unstructured) -> ArbResult<Plan> {
    let mut chunks = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let n = u.int_in_range(1..=64)?;
        let chunk: Vec<u8> = (0..n).map(|_| u.arbitrary()).collect::<ArbResult<_>>()?;
        chunks.push(chunk);
    }
    let mut trailers = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let name = if u.arbitrary()? {
            u.choose(&[
                "x-amz-checksum-crc32",
                "x-amz-checksum-sha256",
                "X-Amz-Checksum-CRC64NVME",
                "x-amz-meta-a",
            ])?
            .to_string()
        } else {
            format!("x{}", token(u, NAME_CHARS, 12)?)
        };
        if name.eq_ignore_ascii_case("x-amz-trailer-signature") {
            continue; // the verifier's own trailer
        }
        let value = token(u, VALUE_CHARS, 40)?;
        trailers.push((name, value));
    }
    Ok(Plan {
        chunks,
        trailers,
        upper_hex: u.arbitrary()?,
        leading_zeros: u.int_in_range(0..=3)?,
        final_blank_line: u.arbitrary()?,
    })
}

fn size_line(p: &Plan, size: usize, ext: &str) -> String {
    let hex = if p.upper_hex {
        format!("{size:X}")
    } else {
        format!("{size:x}")
    };
    format!("{}{hex}{ext}\r\n", "0".repeat(p.leading_zeros))
}

/// How the decoder stores a trailer line `name:value`.
fn normalised(trailers: &[(String, String)]) -> Vec<(String, String)> {
    trailers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// An encoded body and where its parts are.
#[derive(Default)]
struct Encoded {
    body: Vec<u8>,
    /// Byte ranges of the chunk data.
    data: Vec<Range<usize>>,
    /// Byte ranges of the chunk signatures (64 hex digits each).
    sig_at: Vec<Range<usize>>,
    sigs: Vec<String>,
}

/// Encodes a plan; with `signing`, every chunk carries its chained signature
/// and the trailers are followed by x-amz-trailer-signature. `tamper` appends a
/// character to that trailer's value after signing.
fn encode(p: &Plan, signing: Option<&ChunkSigning>, tamper: Option<usize>) -> Encoded {
    let mut e = Encoded::default();
    let body = &mut e.body;
    let mut previous = signing.map(|s| s.seed.clone());
    let empty: &[u8] = b"";
    for chunk in p.chunks.iter().map(Vec::as_slice).chain([empty]) {
        let ext = match (signing, &mut previous) {
            (Some(s), Some(prev)) => {
                *prev = sigv4::chunk_signature(
                    &s.key,
                    &s.amz_date,
                    &s.scope,
                    prev,
                    &sigv4::sha256_hex(chunk),
                );
                e.sigs.push(prev.clone());
                format!(";chunk-signature={prev}")
            }
            _ => String::new(),
        };
        body.extend_from_slice(size_line(p, chunk.len(), &ext).as_bytes());
        if !ext.is_empty() {
            e.sig_at.push(body.len() - 66..body.len() - 2);
        }
        if !chunk.is_empty() {
            e.data.push(body.len()..body.len() + chunk.len());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
    }
    for (i, (k, v)) in p.trailers.iter().enumerate() {
        let extra = if tamper == Some(i) { "Z" } else { "" };
        body.extend_from_slice(format!("{k}:{v}{extra}\r\n").as_bytes());
    }
    if let (Some(s), Some(prev), false) = (signing, &previous, p.trailers.is_empty()) {
        let block: String = normalised(&p.trailers)
            .iter()
            .map(|(k, v)| format!("{k}:{v}\n"))
            .collect();
        let sig = sigv4::trailer_signature(&s.key, &s.amz_date, &s.scope, prev, &block);
        body.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
    }
    if p.final_blank_line {
        body.extend_from_slice(b"\r\n");
    }
    e
}

fn valid_unsigned(u: &mut Unstructured, seed: u64) -> ArbResult<()> {
    let p = plan(u)?;
    // Unsigned bodies may still carry chunk-signature extensions: the decoder records them.
    let key = signing();
    let signed_ext = if u.arbitrary()? { Some(&key) } else { None };
    let Encoded { body, sigs, .. } = encode(&p, signed_ext, None);
    let got = decode_every_split(&body, None, seed);
    assert!(got.ok(), "valid encoding refused: {got:?}");
    assert_eq!(got.data, p.chunks.concat());
    let mut trailers = normalised(&p.trailers);
    if signed_ext.is_some() && !p.trailers.is_empty() {
        // without a verifier the trailer signature is just another trailer
        let last = got.trailers.last().unwrap();
        assert_eq!(last.0, "x-amz-trailer-signature");
        trailers.push(last.clone());
    }
    assert_eq!(got.trailers, trailers);
    assert_eq!(got.signatures, sigs);
    Ok(())
}

fn valid_signed(u: &mut Unstructured, seed: u64) -> ArbResult<()> {
    let p = plan(u)?;
    let signing = signing();
    let Encoded {
        body,
        data,
        sig_at,
        sigs,
    } = encode(&p, Some(&signing), None);
    let got = decode_every_split(&body, Some(&signing), seed);
    assert!(got.ok(), "valid signed encoding refused: {got:?}");
    assert_eq!(got.data, p.chunks.concat());
    assert_eq!(got.trailers, normalised(&p.trailers));
    assert_eq!(got.signatures, sigs);
    let refused = |body: &[u8], what: &str| {
        let got = decode_every_split(body, Some(&signing), seed);
        assert_eq!(
            got.error(),
            Some("SignatureDoesNotMatch"),
            "{what} accepted: {got:?}"
        );
    };

    // One changed data byte: that chunk's signature no longer matches.
    if !data.is_empty() {
        let range = &data[u.choose_index(data.len())?];
        let at = range.start + u.choose_index(range.len())?;
        let mut tampered = body.clone();
        tampered[at] ^= u.int_in_range(1..=255)?;
        refused(&tampered, &format!("changed data byte {at}"));
    }
    // One changed signature character (every body has at least the final chunk's).
    let range = &sig_at[u.choose_index(sig_at.len())?];
    let at = range.start + u.choose_index(range.len())?;
    let mut tampered = body.clone();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    refused(&tampered, &format!("changed signature byte {at}"));
    // One changed trailer value under the original trailer signature.
    if !p.trailers.is_empty() {
        let i = u.choose_index(p.trailers.len())?;
        refused(
            &encode(&p, Some(&signing), Some(i)).body,
            &format!("changed trailer {i}"),
        );
    }
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let seed = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut u = Unstructured::new(rest);
    match mode % 4 {
        0 => {
            decode_every_split(rest, None, seed);
        }
        1 => {
            decode_every_split(rest, Some(&signing()), seed);
        }
        2 => {
            let _ = valid_unsigned(&mut u, seed);
        }
        _ => {
            let _ = valid_signed(&mut u, seed);
        }
    }
});
