//! Fuzzes the aws-chunked body decoder (rust/src/s3/body.rs, `ChunkedDecoder`),
//! which parses every streaming upload before anything else looks at it.
//!
//! The first input byte picks a mode; the rest is the body or, for the
//! generating modes, the choices that build one.
//!
//! Every body, in every mode, is decoded whole, byte by byte, in pseudo-random
//! pieces (empty ones included), cut between every CR and its LF, and cut before
//! every CR. Checked each time:
//! * no panic; the outcome (decoded data, error code, trailers, `finish()`) is
//!   the same however the input is split, over-long lines included;
//! * the verdict, the data and the trailers are those of `model`, an
//!   independent whole-input reading of the format: lines (chunk headers,
//!   trailers) of at most 4096 bytes, at most 16 trailers and 16 KiB of
//!   trailer lines, at most 64 bytes (whitespace) after the final blank line,
//!   chained chunk signatures, and with signature checking:
//!   `trailer: true` needs a valid `x-amz-trailer-signature` trailer,
//!   `trailer: false` refuses any trailer (it would be unsigned);
//! * what the decoder keeps is bounded whatever the input: at most 16
//!   trailers, at most 16 KiB of trailer names and values, never more than the
//!   input; decoded data never exceeds the input; trailer names are lowercase
//!   and trimmed, values trimmed; `trailer(name)` is the first value; with
//!   signature checking the trailer signature is never kept as a trailer, a
//!   non-trailer body that verifies has no trailers and a trailer body that
//!   verifies did send `x-amz-trailer-signature`; the only error codes are
//!   IncompleteBody and (signed) SignatureDoesNotMatch.
//!
//! Modes:
//! * 0, 1, 2 raw: any bytes, decoded unsigned / signed / signed with trailer.
//! * 3 expanded raw: like raw (the next byte picks the decoder), but
//!   `0xFE hi lo b` stands for `b` repeated up to 8192 times, so that inputs
//!   of libFuzzer's length still reach and pass the 4096-byte line and 16 KiB
//!   trailer limits.
//! * 4 valid unsigned: a correct encoding of random data (random chunk sizes,
//!   hex spellings, extensions, whitespace, trailers) decodes to exactly that
//!   data and those trailers.
//! * 5 valid signed, no trailers (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): decodes
//!   and verifies; a changed data byte or chunk signature, an added trailer
//!   (with or without a valid trailer signature), and the same body checked as
//!   the TRAILER variant are refused with SignatureDoesNotMatch.
//! * 6 valid signed with trailers (…-PAYLOAD-TRAILER): decodes and verifies;
//!   a missing or wrong trailer signature, a changed or added trailer, a
//!   changed data byte or chunk signature, and the same body checked as the
//!   non-trailer variant are refused with SignatureDoesNotMatch.
//! * 7 limits: a chunk header, signed chunk header or trailer of an exact
//!   length around 4096 bytes, N trailers of M bytes each, or N bytes of
//!   whitespace after the final blank line: accepted exactly when within the
//!   limits.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use ruststorage::s3::auth::ChunkSigning;
use ruststorage::s3::body::ChunkedDecoder;
use ruststorage::s3::sigv4;
use std::ops::Range;
use std::sync::Once;

/// The limits the decoder documents (body.rs).
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16;
const MAX_TRAILER_BYTES: usize = 16 * 1024;
const MAX_TAIL_BYTES: usize = 64;

const INCOMPLETE: &str = "IncompleteBody";
const MISMATCH: &str = "SignatureDoesNotMatch";
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// Everything observable after decoding one body.
#[derive(Debug, PartialEq)]
struct Outcome {
    data: Vec<u8>,
    /// The first `feed` error; feeding stops there, as the request body does.
    feed_error: Option<&'static str>,
    /// `finish()`, when every feed succeeded.
    finish: Option<Result<(), &'static str>>,
    trailers: Vec<(String, String)>,
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

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn decode(pieces: &[&[u8]], signing: Option<&ChunkSigning>) -> Outcome {
    let input = pieces.concat();
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
    let outcome = Outcome {
        data,
        feed_error,
        finish,
        trailers: d.trailers.clone(),
    };
    assert!(
        outcome.data.len() <= input.len(),
        "decoded {} bytes out of {}",
        outcome.data.len(),
        input.len()
    );
    // What the decoder keeps is bounded, whatever the input.
    let kept: usize = d.trailers.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(
        d.trailers.len() <= MAX_TRAILERS,
        "keeps {} trailers",
        d.trailers.len()
    );
    assert!(
        kept <= MAX_TRAILER_BYTES && kept <= input.len(),
        "keeps {kept} bytes of trailers out of {}",
        input.len()
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
    match (signing, outcome.error()) {
        (None, error) => assert!(matches!(error, None | Some(INCOMPLETE)), "{error:?}"),
        (Some(_), error) => assert!(
            matches!(error, None | Some(INCOMPLETE) | Some(MISMATCH)),
            "{error:?}"
        ),
    }
    if let Some(s) = signing {
        assert!(
            !d.trailers.iter().any(|(k, _)| k == TRAILER_SIGNATURE),
            "the trailer signature was kept as a trailer"
        );
        if outcome.ok() && !s.trailer {
            assert!(
                d.trailers.is_empty(),
                "unsigned trailers accepted: {:?}",
                d.trailers
            );
        }
        if outcome.ok() && s.trailer {
            assert!(
                contains_ignore_case(&input, TRAILER_SIGNATURE.as_bytes()),
                "TRAILER body accepted without a trailer signature"
            );
        }
    }
    outcome
}

/// The aws-chunked format, read from the whole input at once (no streaming),
/// written from the format's rules rather than from the decoder's states:
/// `hex-size[;ext]\r\n data \r\n` ... `0[;ext]\r\n` then trailer lines
/// `name:value\r\n`, an optional blank line and at most 64 bytes of
/// whitespace after it. Returns the data and the (normalised) trailers, or the error code.
///
/// Lines are at most MAX_LINE bytes (without CRLF) and UTF-8; trailer lines
/// count towards MAX_TRAILER_BYTES, and a trailer line is refused once
/// MAX_TRAILERS trailers are kept. With `signing`: every chunk header carries
/// `chunk-signature=` (the extension, trimmed), chained from the seed over the
/// chunk's SHA-256; `x-amz-trailer-signature` is taken out of the trailers
/// (the last one counts); at the end, the TRAILER variant needs it to sign
/// `name:value\n` of every trailer, chained from the last chunk signature, and
/// the other variant accepts no trailers at all. Structural errors come before
/// the trailer check, each error at the point of the input where it occurs.
fn model(
    input: &[u8],
    signing: Option<&ChunkSigning>,
) -> Result<(Vec<u8>, Vec<(String, String)>), &'static str> {
    fn line<'a>(input: &'a [u8], pos: &mut usize) -> Result<Option<&'a str>, &'static str> {
        let rest = &input[*pos..];
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(n) if n <= MAX_LINE => {
                *pos += n + 2;
                std::str::from_utf8(&rest[..n])
                    .map(Some)
                    .map_err(|_| INCOMPLETE)
            }
            Some(_) => Err(INCOMPLETE),
            None => Ok(None),
        }
    }
    let mut pos = 0;
    let mut data = Vec::new();
    let mut previous = signing.map(|s| s.seed.clone());
    let mut verify = |chunk: &[u8], provided: Option<&str>| -> Result<(), &'static str> {
        if let (Some(s), Some(prev)) = (signing, &mut previous) {
            let expected = sigv4::chunk_signature(
                &s.key,
                &s.amz_date,
                &s.scope,
                prev,
                &sigv4::sha256_hex(chunk),
            );
            if provided != Some(expected.as_str()) {
                return Err(MISMATCH);
            }
            *prev = expected;
        }
        Ok(())
    };
    // Chunks.
    loop {
        let Some(header) = line(input, &mut pos)? else {
            return Err(INCOMPLETE);
        };
        let (size, ext) = header.split_once(';').unwrap_or((header, ""));
        let size = u64::from_str_radix(size.trim(), 16).map_err(|_| INCOMPLETE)?;
        let provided = ext.trim().strip_prefix("chunk-signature=");
        if signing.is_some() && provided.is_none() {
            return Err(MISMATCH);
        }
        if size == 0 {
            verify(b"", provided)?;
            break;
        }
        let left = (input.len() - pos) as u64;
        if left < size {
            return Err(INCOMPLETE);
        }
        let chunk = &input[pos..pos + size as usize];
        pos += size as usize;
        data.extend_from_slice(chunk);
        if input.len() - pos < 2 || &input[pos..pos + 2] != b"\r\n" {
            return Err(INCOMPLETE);
        }
        pos += 2;
        verify(chunk, provided)?;
    }
    // Trailers.
    let mut trailers = Vec::new();
    let mut trailer_signature = None;
    let mut trailer_bytes = 0;
    loop {
        let Some(l) = line(input, &mut pos)? else {
            // No blank line: the body must end right after the last trailer.
            if pos < input.len() {
                return Err(INCOMPLETE);
            }
            break;
        };
        if l.is_empty() {
            let tail = &input[pos..];
            if tail.len() > MAX_TAIL_BYTES || tail.iter().any(|b| !b.is_ascii_whitespace()) {
                return Err(INCOMPLETE);
            }
            break;
        }
        trailer_bytes += l.len();
        if trailers.len() >= MAX_TRAILERS || trailer_bytes > MAX_TRAILER_BYTES {
            return Err(INCOMPLETE);
        }
        let (name, value) = l.split_once(':').ok_or(INCOMPLETE)?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
        if signing.is_some() && name == TRAILER_SIGNATURE {
            trailer_signature = Some(value);
        } else {
            trailers.push((name, value));
        }
    }
    if let (Some(s), Some(prev)) = (signing, &previous) {
        match (s.trailer, trailer_signature) {
            (true, Some(provided)) => {
                let block: String = trailers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
                if provided != sigv4::trailer_signature(&s.key, &s.amz_date, &s.scope, prev, &block)
                {
                    return Err(MISMATCH);
                }
            }
            (false, None) if trailers.is_empty() => {}
            _ => return Err(MISMATCH),
        }
    }
    Ok((data, trailers))
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

/// Cuts `body` at the given offsets (sorted, within the body).
fn cut_at(body: &[u8], cuts: impl Iterator<Item = usize>) -> Vec<&[u8]> {
    let (mut pieces, mut at) = (Vec::new(), 0);
    for cut in cuts {
        pieces.push(&body[at..cut]);
        at = cut;
    }
    pieces.push(&body[at..]);
    pieces
}

/// Ways to split `body` into feed() calls: whole, byte by byte, random pieces
/// of 0..=max bytes (0 = an empty feed), between every CR and its LF, and
/// before every CR (where line limits and CRLF searches are most likely to
/// depend on what has arrived). Long bodies (the limit tests) skip the finest
/// splits: feeding 64 KiB byte by byte costs too much time per run.
fn splits(body: &[u8], seed: u64) -> Vec<Vec<&[u8]>> {
    let mut all = vec![vec![body]];
    if body.len() <= 2048 {
        all.push(body.chunks(1).collect());
    }
    for (round, max, longest) in [
        (1u64, 3usize, 8192),
        (2, 17, 32768),
        (3, 300, usize::MAX),
        (4, 2000, usize::MAX),
    ] {
        if body.len() > longest || (max == 2000 && body.len() <= 8192) {
            continue;
        }
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
    let crlf = |i: &usize| body[*i - 1] == b'\r' && body[*i] == b'\n';
    all.push(cut_at(body, (1..body.len()).filter(crlf)));
    all.push(cut_at(body, (0..body.len()).filter(|&i| body[i] == b'\r')));
    all
}

/// Decodes `body` in every split, checks they all agree with each other and
/// with the model; returns the outcome.
fn check(body: &[u8], signing: Option<&ChunkSigning>, seed: u64) -> Outcome {
    let mut splits = splits(body, seed).into_iter();
    let first = decode(&splits.next().unwrap(), signing);
    for pieces in splits {
        let other = decode(&pieces, signing);
        if first != other {
            let cuts: Vec<usize> = pieces
                .iter()
                .scan(0, |at, p| {
                    *at += p.len();
                    Some(*at)
                })
                .collect();
            let cuts = if cuts.len() > 40 {
                format!(
                    "{} pieces, cut after bytes {:?} ...",
                    cuts.len(),
                    &cuts[..40]
                )
            } else {
                format!("cut after bytes {cuts:?}")
            };
            panic!(
                "a body of {} bytes decodes differently in pieces ({cuts}) than in one feed:\n whole: {first:?}\n split: {other:?}",
                body.len()
            );
        }
    }
    match model(body, signing) {
        Ok((data, trailers)) => {
            assert!(first.ok(), "refused, the model accepts: {first:?}");
            assert_eq!(first.data, data, "data differs from the model's");
            assert_eq!(first.trailers, trailers, "trailers differ from the model's");
        }
        Err(code) => assert_eq!(
            first.error(),
            Some(code),
            "the model says {code}: {first:?}"
        ),
    }
    first
}

fn signing(trailer: bool) -> ChunkSigning {
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
        trailer,
    }
}

/// The model's (and the generators') signatures are the engine's sigv4
/// functions: check them once against AWS's documented aws-chunked example
/// (65536 + 1024 bytes of 'a').
fn check_aws_example() {
    let s = signing(false);
    let mut previous = s.seed.clone();
    for (size, expected) in [
        (
            65536,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        ),
        (
            1024,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        ),
        (
            0,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ),
    ] {
        previous = sigv4::chunk_signature(
            &s.key,
            &s.amz_date,
            &s.scope,
            &previous,
            &sigv4::sha256_hex(&vec![b'a'; size]),
        );
        assert_eq!(previous, expected);
    }
}

/// A body to encode: data cut into chunks, trailers, spelling choices.
struct Plan {
    chunks: Vec<Vec<u8>>,
    /// Trailers as written (names and values may carry spaces and capitals).
    trailers: Vec<(String, String)>,
    /// Where the trailer signature line goes among the trailers (signed bodies).
    signature_at: usize,
    upper_hex: bool,
    leading_zeros: usize,
    /// Spaces around the size and inside the extension (both are trimmed).
    spaces: bool,
    /// Unsigned bodies: the extension written on chunk headers.
    extension: Extension,
    final_blank_line: bool,
    /// Whitespace after the final blank line (allowed).
    tail: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Extension {
    None,
    /// A chained chunk signature, unchecked by an unsigned decoder.
    Signature,
    Other,
}

const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-_. ";
const VALUE_CHARS: &[u8] = b"abcXYZ0189+/=-_.:; ,\t";

fn token(u: &mut Unstructured, chars: &[u8], max: usize) -> ArbResult<String> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| Ok(*u.choose(chars)? as char)).collect()
}

fn trailer(u: &mut Unstructured) -> ArbResult<(String, String)> {
    loop {
        let name = if u.arbitrary()? {
            u.choose(&[
                "x-amz-checksum-crc32",
                "x-amz-checksum-sha256",
                "X-Amz-Checksum-CRC64NVME",
                " x-amz-meta-a ",
            ])?
            .to_string()
        } else {
            format!("x{}", token(u, NAME_CHARS, 12)?)
        };
        if !name.trim().eq_ignore_ascii_case(TRAILER_SIGNATURE) {
            return Ok((name, token(u, VALUE_CHARS, 40)?));
        }
    }
}

fn plan(u: &mut Unstructured, max_trailers: usize) -> ArbResult<Plan> {
    let mut chunks = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let n = u.int_in_range(1..=64)?;
        let chunk: Vec<u8> = (0..n).map(|_| u.arbitrary()).collect::<ArbResult<_>>()?;
        chunks.push(chunk);
    }
    let mut trailers = Vec::new();
    for _ in 0..u.int_in_range(0..=max_trailers)? {
        trailers.push(trailer(u)?);
    }
    let final_blank_line = u.arbitrary()?;
    let tail = if final_blank_line && u.ratio(1, 4)? {
        token(u, b" \t\r\n", 4)?.into_bytes()
    } else {
        Vec::new()
    };
    Ok(Plan {
        signature_at: u.int_in_range(0..=trailers.len())?,
        chunks,
        trailers,
        upper_hex: u.arbitrary()?,
        leading_zeros: u.int_in_range(0..=3)?,
        spaces: u.ratio(1, 4)?,
        extension: *u.choose(&[Extension::None, Extension::Signature, Extension::Other])?,
        final_blank_line,
        tail,
    })
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
    /// Byte range of the trailer signature's value.
    trailer_sig_at: Option<Range<usize>>,
    /// The trailers as the decoder stores them (the trailer signature included
    /// when it is written and nothing checks it).
    trailers: Vec<(String, String)>,
}

/// Changes to a plan's encoding, to build bodies that must be refused.
#[derive(Default, Clone, Copy)]
struct Tamper {
    /// Append a character to this trailer's value after signing.
    trailer_value: Option<usize>,
    /// Leave out the trailer signature line.
    no_trailer_signature: bool,
    /// Add an (unsigned) trailer after signing, at this position.
    extra_trailer: Option<usize>,
}

/// Encodes a plan. With `signing`, every chunk carries its chained signature;
/// `trailer_signature` adds `x-amz-trailer-signature` (chained from the last
/// chunk signature, over the plan's trailers) at `plan.signature_at`.
fn encode(
    p: &Plan,
    signing: Option<&ChunkSigning>,
    trailer_signature: bool,
    tamper: Tamper,
) -> Encoded {
    let mut e = Encoded::default();
    let key = self::signing(false);
    // Unsigned bodies may still carry chained chunk signatures (they are ignored).
    let chain = signing.or((p.extension == Extension::Signature).then_some(&key));
    let mut previous = chain.map(|s| s.seed.clone());
    let empty: &[u8] = b"";
    let sp = if p.spaces { " " } else { "" };
    for chunk in p.chunks.iter().map(Vec::as_slice).chain([empty]) {
        let size = chunk.len();
        let hex = if p.upper_hex {
            format!("{size:X}")
        } else {
            format!("{size:x}")
        };
        let head = format!("{sp}{}{hex}{sp}", "0".repeat(p.leading_zeros));
        e.body.extend_from_slice(head.as_bytes());
        match (chain, &mut previous) {
            (Some(s), Some(prev)) => {
                *prev = sigv4::chunk_signature(
                    &s.key,
                    &s.amz_date,
                    &s.scope,
                    prev,
                    &sigv4::sha256_hex(chunk),
                );
                e.body
                    .extend_from_slice(format!(";{sp}chunk-signature=").as_bytes());
                e.sig_at.push(e.body.len()..e.body.len() + 64);
                e.body.extend_from_slice(format!("{prev}{sp}").as_bytes());
            }
            _ if p.extension == Extension::Other => e.body.extend_from_slice(b";ext=1"),
            _ => {}
        }
        e.body.extend_from_slice(b"\r\n");
        if size > 0 {
            e.data.push(e.body.len()..e.body.len() + size);
            e.body.extend_from_slice(chunk);
            e.body.extend_from_slice(b"\r\n");
        }
    }
    let signature = match (trailer_signature, chain, &previous) {
        (true, Some(s), Some(prev)) => {
            let block: String = normalised(&p.trailers)
                .iter()
                .map(|(k, v)| format!("{k}:{v}\n"))
                .collect();
            Some(sigv4::trailer_signature(
                &s.key,
                &s.amz_date,
                &s.scope,
                prev,
                &block,
            ))
        }
        _ => None,
    };
    let mut lines: Vec<(String, String)> = p.trailers.clone();
    if let Some(i) = tamper.trailer_value {
        lines[i].1.push('Z');
    }
    let mut signature_at = p.signature_at;
    if let Some(at) = tamper.extra_trailer {
        lines.insert(at, ("x-amz-meta-added".into(), "1".into()));
        if at <= signature_at {
            signature_at += 1;
        }
    }
    for (i, (k, v)) in lines.iter().enumerate() {
        if i == signature_at {
            if let (Some(sig), false) = (&signature, tamper.no_trailer_signature) {
                e.body
                    .extend_from_slice(format!("{TRAILER_SIGNATURE}:").as_bytes());
                e.trailer_sig_at = Some(e.body.len()..e.body.len() + 64);
                e.body.extend_from_slice(format!("{sig}\r\n").as_bytes());
                if signing.is_none() {
                    e.trailers.push((TRAILER_SIGNATURE.into(), sig.clone()));
                }
            }
        }
        e.body.extend_from_slice(format!("{k}:{v}\r\n").as_bytes());
        e.trailers.extend(normalised(&[(k.clone(), v.clone())]));
    }
    if signature_at >= lines.len() {
        if let (Some(sig), false) = (&signature, tamper.no_trailer_signature) {
            e.body
                .extend_from_slice(format!("{TRAILER_SIGNATURE}:").as_bytes());
            e.trailer_sig_at = Some(e.body.len()..e.body.len() + 64);
            e.body.extend_from_slice(format!("{sig}\r\n").as_bytes());
            if signing.is_none() {
                e.trailers.push((TRAILER_SIGNATURE.into(), sig.clone()));
            }
        }
    }
    if p.final_blank_line {
        e.body.extend_from_slice(b"\r\n");
        e.body.extend_from_slice(&p.tail);
    }
    e
}

fn valid_unsigned(u: &mut Unstructured, seed: u64) -> ArbResult<()> {
    // 16 trailers at most, the trailer signature line included.
    let p = plan(u, MAX_TRAILERS - 1)?;
    let with_signature_line = p.extension == Extension::Signature && u.arbitrary()?;
    let e = encode(&p, None, with_signature_line, Tamper::default());
    let got = check(&e.body, None, seed);
    assert!(got.ok(), "valid encoding refused: {got:?}");
    assert_eq!(got.data, p.chunks.concat());
    // Without a verifier the trailer signature is just another trailer.
    assert_eq!(got.trailers, e.trailers);
    Ok(())
}

/// Checks `body` is refused with SignatureDoesNotMatch.
fn refused(body: &[u8], signing: &ChunkSigning, seed: u64, what: &str) {
    let got = check(body, Some(signing), seed);
    assert_eq!(got.error(), Some(MISMATCH), "{what} accepted: {got:?}");
}

/// Changed data bytes and chunk signatures are refused.
fn tamper_chunks(u: &mut Unstructured, e: &Encoded, s: &ChunkSigning, seed: u64) -> ArbResult<()> {
    if !e.data.is_empty() {
        let range = &e.data[u.choose_index(e.data.len())?];
        let at = range.start + u.choose_index(range.len())?;
        let mut tampered = e.body.clone();
        tampered[at] ^= u.int_in_range(1..=255)?;
        refused(&tampered, s, seed, &format!("changed data byte {at}"));
    }
    // Every body has at least the final chunk's signature.
    let range = &e.sig_at[u.choose_index(e.sig_at.len())?];
    let at = range.start + u.choose_index(range.len())?;
    let mut tampered = e.body.clone();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    refused(&tampered, s, seed, &format!("changed signature byte {at}"));
    Ok(())
}

/// STREAMING-AWS4-HMAC-SHA256-PAYLOAD: signed chunks, no trailers.
fn valid_signed(u: &mut Unstructured, seed: u64) -> ArbResult<()> {
    let mut p = plan(u, MAX_TRAILERS - 2)?;
    let unsigned_trailers = std::mem::take(&mut p.trailers);
    p.signature_at = 0;
    let s = signing(false);
    let e = encode(&p, Some(&s), false, Tamper::default());
    let got = check(&e.body, Some(&s), seed);
    assert!(got.ok(), "valid signed encoding refused: {got:?}");
    assert_eq!(got.data, p.chunks.concat());
    assert!(got.trailers.is_empty());
    tamper_chunks(u, &e, &s, seed)?;
    // Trailers are unsigned in this variant: refused, with or without a trailer signature.
    let mut with = Plan {
        trailers: unsigned_trailers,
        ..p
    };
    if with.trailers.is_empty() {
        with.trailers.push(trailer(u)?);
    }
    with.signature_at = u.int_in_range(0..=with.trailers.len())?;
    refused(
        &encode(&with, Some(&s), false, Tamper::default()).body,
        &s,
        seed,
        "unsigned trailers",
    );
    refused(
        &encode(&with, Some(&s), true, Tamper::default()).body,
        &s,
        seed,
        "trailers in the non-trailer variant",
    );
    with.trailers.clear();
    with.signature_at = 0;
    refused(
        &encode(&with, Some(&s), true, Tamper::default()).body,
        &s,
        seed,
        "a trailer signature in the non-trailer variant",
    );
    // The same valid body read as the TRAILER variant: no trailer signature.
    refused(
        &e.body,
        &signing(true),
        seed,
        "TRAILER variant without trailer signature",
    );
    Ok(())
}

/// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks and trailers.
fn valid_signed_trailer(u: &mut Unstructured, seed: u64) -> ArbResult<()> {
    let p = plan(u, MAX_TRAILERS - 2)?;
    let s = signing(true);
    let e = encode(&p, Some(&s), true, Tamper::default());
    let got = check(&e.body, Some(&s), seed);
    assert!(got.ok(), "valid signed TRAILER encoding refused: {got:?}");
    assert_eq!(got.data, p.chunks.concat());
    assert_eq!(got.trailers, normalised(&p.trailers));
    tamper_chunks(u, &e, &s, seed)?;
    let tamper = |t: Tamper| encode(&p, Some(&s), true, t).body;
    refused(
        &tamper(Tamper {
            no_trailer_signature: true,
            ..Tamper::default()
        }),
        &s,
        seed,
        "no trailer signature",
    );
    let range = e.trailer_sig_at.clone().expect("signed");
    let at = range.start + u.choose_index(range.len())?;
    let mut wrong = e.body.clone();
    wrong[at] = if wrong[at] == b'0' { b'1' } else { b'0' };
    refused(
        &wrong,
        &s,
        seed,
        &format!("changed trailer signature byte {at}"),
    );
    if !p.trailers.is_empty() {
        let i = u.choose_index(p.trailers.len())?;
        refused(
            &tamper(Tamper {
                trailer_value: Some(i),
                ..Tamper::default()
            }),
            &s,
            seed,
            &format!("changed trailer {i}"),
        );
    }
    let at = u.int_in_range(0..=p.trailers.len())?;
    refused(
        &tamper(Tamper {
            extra_trailer: Some(at),
            ..Tamper::default()
        }),
        &s,
        seed,
        "added trailer",
    );
    // The same valid body read as the non-trailer variant: its trailers are refused.
    refused(
        &e.body,
        &signing(false),
        seed,
        "trailers in the non-trailer variant",
    );
    Ok(())
}

/// A line length: around MAX_LINE, or anywhere from 70 to 6000 bytes.
fn line_length(u: &mut Unstructured) -> ArbResult<usize> {
    Ok(if u.arbitrary()? {
        u.int_in_range(MAX_LINE - 3..=MAX_LINE + 3)?
    } else {
        u.int_in_range(70..=6000)?
    })
}

/// Bodies at and around the limits: accepted exactly when within them.
fn limits(u: &mut Unstructured, seed: u64) -> ArbResult<()> {
    let kind = u.int_in_range(0..=4)?;
    let (body, signing, expect_ok) = match kind {
        // A chunk header of exactly `len` bytes (its extension padded), first or final chunk.
        0 => {
            let len = line_length(u)?;
            let pad = "e".repeat(len - 2);
            let body = if u.arbitrary()? {
                format!("1;{pad}\r\nx\r\n0\r\n\r\n")
            } else {
                format!("1\r\nx\r\n0;{pad}\r\n\r\n")
            };
            (body.into_bytes(), None, len <= MAX_LINE)
        }
        // A trailer line of exactly `len` bytes.
        1 => {
            let len = line_length(u)?;
            let blank = if u.arbitrary()? { "\r\n" } else { "" };
            (
                format!(
                    "1\r\nx\r\n0\r\nx-amz-meta-a:{}\r\n{blank}",
                    "v".repeat(len - 13)
                )
                .into_bytes(),
                None,
                len <= MAX_LINE,
            )
        }
        // A correctly signed chunk header of exactly `len` bytes (trailing spaces).
        2 => {
            let len = line_length(u)?.max(90);
            let s = signing(false);
            let sig = |prev: &str, chunk: &[u8]| {
                sigv4::chunk_signature(
                    &s.key,
                    &s.amz_date,
                    &s.scope,
                    prev,
                    &sigv4::sha256_hex(chunk),
                )
            };
            let first = sig(&s.seed, b"x");
            let last = sig(&first, b"");
            let pad_first = u.arbitrary()?;
            let header = |size: &str, sig: &str, pad: bool| {
                let line = format!("{size};chunk-signature={sig}");
                let n = if pad { len - line.len() } else { 0 };
                format!("{line}{}\r\n", " ".repeat(n))
            };
            let body = format!(
                "{}x\r\n{}\r\n",
                header("1", &first, pad_first),
                header("0", &last, !pad_first)
            );
            (body.into_bytes(), Some(s), len <= MAX_LINE)
        }
        // `n` bytes of whitespace after the final blank line.
        3 => {
            let n = if u.arbitrary()? {
                u.int_in_range(MAX_TAIL_BYTES - 2..=MAX_TAIL_BYTES + 2)?
            } else {
                u.int_in_range(0..=200)?
            };
            let mut body = b"1\r\nx\r\n0\r\nx-amz-meta-a:b\r\n\r\n".to_vec();
            for _ in 0..n {
                body.push(*u.choose(b" \t\r\n")?);
            }
            (body, None, n <= MAX_TAIL_BYTES)
        }
        // `n` trailers of `m` bytes each (at least their name).
        _ => {
            // 17 trailers are already too many.
            let n = u.int_in_range(0..=MAX_TRAILERS + 2)?;
            let m = if u.arbitrary()? {
                u.int_in_range(3..=MAX_LINE + 2)?
            } else {
                *u.choose(&[3, 1023, 1024, 1025, 4096, 4097])?
            };
            let mut body = b"0\r\n".to_vec();
            let mut lengths = Vec::new();
            for i in 0..n {
                let name = format!("x-{i}:");
                let line: Vec<u8> = name
                    .bytes()
                    .chain(std::iter::repeat_n(b'v', m.saturating_sub(name.len())))
                    .collect();
                lengths.push(line.len());
                body.extend_from_slice(&line);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"\r\n");
            let within = n <= MAX_TRAILERS
                && lengths.iter().sum::<usize>() <= MAX_TRAILER_BYTES
                && lengths.iter().all(|&l| l <= MAX_LINE);
            (body, None, within)
        }
    };
    let got = check(&body, signing.as_ref(), seed);
    assert_eq!(got.ok(), expect_ok, "limits ({kind}): {got:?}");
    Ok(())
}

/// `0xFE hi lo b` -> `b` repeated ((hi << 8 | lo) % 8192) + 1 times; the rest as is.
fn expand(template: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < template.len() && out.len() < 64 * 1024 {
        if template[i] == 0xFE && i + 3 < template.len() {
            let n = ((template[i + 1] as usize) << 8 | template[i + 2] as usize) % 8192 + 1;
            out.extend(std::iter::repeat_n(template[i + 3], n));
            i += 4;
        } else {
            out.push(template[i]);
            i += 1;
        }
    }
    out
}

static AWS_EXAMPLE: Once = Once::new();

fuzz_target!(|input: &[u8]| {
    AWS_EXAMPLE.call_once(check_aws_example);
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let seed = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut u = Unstructured::new(rest);
    match mode % 8 {
        0 => drop(check(rest, None, seed)),
        1 => drop(check(rest, Some(&signing(false)), seed)),
        2 => drop(check(rest, Some(&signing(true)), seed)),
        3 => {
            let Some((&which, template)) = rest.split_first() else {
                return;
            };
            let body = expand(template);
            let s = match which % 3 {
                0 => None,
                n => Some(signing(n == 2)),
            };
            check(&body, s.as_ref(), seed);
        }
        4 => drop(valid_unsigned(&mut u, seed)),
        5 => drop(valid_signed(&mut u, seed)),
        6 => drop(valid_signed_trailer(&mut u, seed)),
        _ => drop(limits(&mut u, seed)),
    }
});
