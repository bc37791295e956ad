//! Request bodies as a stream of chunks: plain bodies straight from hyper, and
//! `aws-chunked` bodies (what AWS SDKs send for streaming uploads) decoded on the
//! fly, keeping their trailers (checksums) for verification.

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::auth::{ChunkSigning, Payload};
use super::checksum::{self, Algorithm, Expected};
use super::error::{S3Code, S3Error, S3Result};
use super::sigv4;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::time::Instant;

/// Longest chunk header or trailer line (a chunk header with its signature is ~90 bytes).
const MAX_CHUNK_LINE: usize = 4096;
/// Trailers one body may carry (AWS sends a checksum and a signature), and their total size:
/// what the decoder keeps must not grow with what a client sends.
const MAX_TRAILERS: usize = 16;
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Line breaks some clients send after the last trailer; anything more is not a body.
const MAX_TAIL_BYTES: usize = 64;

/// A body must keep moving: nothing for `BODY_IDLE_TIMEOUT` (AWS uses 20 s), or less
/// than `BODY_MIN_RATE` bytes per second on average once `BODY_GRACE` has passed, ends
/// it with RequestTimeout. A client trickling bytes cannot hold a connection (and a
/// temp file) for long, and a real upload is thousands of times faster than the floor.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
const BODY_GRACE: Duration = Duration::from_secs(10);
const BODY_MIN_RATE: u64 = 1024;

/// When the next bytes of a body must have arrived, given what arrived so far. The
/// clock starts at the first read (a client sending `Expect: 100-continue` waits for it).
#[derive(Default)]
struct Pace {
    start: Option<Instant>,
    raw_received: u64,
}

impl Pace {
    fn deadline(&mut self) -> Instant {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        let earned =
            BODY_GRACE + Duration::from_secs_f64(self.raw_received as f64 / BODY_MIN_RATE as f64);
        (start + earned).min(now + BODY_IDLE_TIMEOUT)
    }
}

#[derive(Debug, PartialEq)]
enum State {
    Header,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decodes `hex-size[;chunk-signature=...]\r\n<data>\r\n ... 0\r\n<trailers>\r\n`.
pub struct ChunkedDecoder {
    buf: BytesMut,
    state: State,
    pub trailers: Vec<(String, String)>,
    trailer_bytes: usize,
    tail_bytes: usize,
    verifier: Option<ChunkVerifier>,
}

/// Checks each chunk's signature as the chunk ends, chained from the seed signature.
struct ChunkVerifier {
    signing: ChunkSigning,
    previous: String,
    current: Option<(String, Sha256)>,
    trailer_signature: Option<String>,
}

fn signature_mismatch() -> S3Error {
    S3Error::msg(
        S3Code::SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

impl ChunkVerifier {
    fn start_chunk(&mut self, signature: Option<&str>) -> S3Result<()> {
        let signature = signature.ok_or_else(signature_mismatch)?;
        self.current = Some((signature.to_string(), Sha256::new()));
        Ok(())
    }

    fn end_chunk(&mut self) -> S3Result<()> {
        let (provided, hasher) = self.current.take().ok_or_else(bad_chunk)?;
        let s = &self.signing;
        let expected = sigv4::chunk_signature(
            &s.key,
            &s.amz_date,
            &s.scope,
            &self.previous,
            &hex::encode(hasher.finalize()),
        );
        if !sigv4::signatures_equal(&expected, &provided) {
            return Err(signature_mismatch());
        }
        self.previous = expected;
        Ok(())
    }

    fn check_trailers(&self, trailers: &[(String, String)]) -> S3Result<()> {
        // STREAMING-...-PAYLOAD-TRAILER: the trailers must be signed; without the
        // TRAILER variant there may be none (they would be unsigned).
        let provided = match (&self.trailer_signature, self.signing.trailer) {
            (Some(provided), true) => provided,
            (None, false) if trailers.is_empty() => return Ok(()),
            _ => return Err(signature_mismatch()),
        };
        let block: String = trailers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let s = &self.signing;
        let expected =
            sigv4::trailer_signature(&s.key, &s.amz_date, &s.scope, &self.previous, &block);
        if sigv4::signatures_equal(&expected, provided) {
            Ok(())
        } else {
            Err(signature_mismatch())
        }
    }
}

fn bad_chunk() -> S3Error {
    S3Error::msg(S3Code::IncompleteBody, "The aws-chunked body is malformed.")
}

impl ChunkedDecoder {
    pub fn new(signing: Option<ChunkSigning>) -> Self {
        let verifier = signing.map(|signing| ChunkVerifier {
            previous: signing.seed.clone(),
            signing,
            current: None,
            trailer_signature: None,
        });
        ChunkedDecoder {
            buf: BytesMut::new(),
            state: State::Header,
            trailers: Vec::new(),
            trailer_bytes: 0,
            tail_bytes: 0,
            verifier,
        }
    }

    fn take_line(&mut self) -> S3Result<Option<String>> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(pos) if pos > MAX_CHUNK_LINE => Err(bad_chunk()),
            Some(pos) => {
                let line = self.buf.split_to(pos + 2);
                let text = std::str::from_utf8(&line[..pos]).map_err(|_| bad_chunk())?;
                Ok(Some(text.to_string()))
            }
            // A line of the full length may already have its CR, waiting for the LF.
            None if self.buf.len()
                > MAX_CHUNK_LINE + usize::from(self.buf.last() == Some(&b'\r')) =>
            {
                Err(bad_chunk())
            }
            None => Ok(None),
        }
    }

    /// Feeds raw bytes; returns the decoded data they complete.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Bytes>) -> S3Result<()> {
        self.buf.extend_from_slice(input);
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    let (size, ext) = line.split_once(';').unwrap_or((&line, ""));
                    let size = u64::from_str_radix(size.trim(), 16).map_err(|_| bad_chunk())?;
                    let signature = ext.trim().strip_prefix("chunk-signature=");
                    if let Some(v) = &mut self.verifier {
                        v.start_chunk(signature)?;
                        if size == 0 {
                            v.end_chunk()?;
                        }
                    }
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if self.buf.is_empty() {
                        return Ok(());
                    }
                    let n = left.min(self.buf.len() as u64) as usize;
                    let data = self.buf.split_to(n).freeze();
                    if let Some((_, hasher)) =
                        self.verifier.as_mut().and_then(|v| v.current.as_mut())
                    {
                        hasher.update(&data);
                    }
                    out.push(data);
                    self.state = if left == n as u64 {
                        State::DataEnd
                    } else {
                        State::Data(left - n as u64)
                    };
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad_chunk());
                    }
                    self.buf.advance(2);
                    if let Some(v) = &mut self.verifier {
                        v.end_chunk()?;
                    }
                    self.state = State::Header;
                }
                State::Trailers => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    self.trailer_bytes += line.len();
                    if self.trailers.len() >= MAX_TRAILERS || self.trailer_bytes > MAX_TRAILER_BYTES
                    {
                        return Err(bad_chunk());
                    }
                    let (name, value) = line.split_once(':').ok_or_else(bad_chunk)?;
                    let (name, value) =
                        (name.trim().to_ascii_lowercase(), value.trim().to_string());
                    match &mut self.verifier {
                        Some(v) if name == "x-amz-trailer-signature" => {
                            v.trailer_signature = Some(value)
                        }
                        _ => self.trailers.push((name, value)),
                    }
                }
                State::Done => {
                    self.tail_bytes += self.buf.len();
                    if self.tail_bytes > MAX_TAIL_BYTES
                        || self.buf.iter().any(|b| !b.is_ascii_whitespace())
                    {
                        return Err(bad_chunk());
                    }
                    self.buf.clear();
                    return Ok(());
                }
            }
        }
    }

    /// Checks the body ended where the encoding says it does.
    pub fn finish(&self) -> S3Result<()> {
        match self.state {
            State::Done => {}
            // Some clients omit the blank line after the last trailer.
            State::Trailers if self.buf.is_empty() => {}
            _ => return Err(S3Error::new(S3Code::IncompleteBody)),
        }
        match &self.verifier {
            Some(v) => v.check_trailers(&self.trailers),
            None => Ok(()),
        }
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn is_aws_chunked(headers: &HeaderMap) -> bool {
    let sha = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    sha.starts_with("STREAMING-") || encoding.split(',').any(|e| e.trim() == "aws-chunked")
}

/// Whether the client waits for `100 Continue` before it sends the body (hyper sends it
/// when the body is first read), so that an error answered first saves the upload.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    super::headers::header(headers, "expect")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// Where a body's bytes come from: the HTTP request, or a part of it (POST Object's
/// file, already paced and bounded by the request body it is read from).
enum Source {
    Http(Incoming),
    /// In a mutex only to be `Sync` like the rest of a request; it is reached through
    /// `&mut` (`get_mut`), never locked.
    Part(std::sync::Mutex<futures_util::stream::BoxStream<'static, S3Result<Bytes>>>),
}

/// A request body read chunk by chunk.
pub struct RequestBody {
    source: Source,
    decoder: Option<ChunkedDecoder>,
    pending: std::collections::VecDeque<Bytes>,
    ended: bool,
    pace: Pace,
    pub received: u64,
    /// The signed payload hash to check at the end.
    sha256: Option<(String, Sha256)>,
    checksum: Option<(checksum::Hasher, Expected)>,
    /// The verified checksum of the whole body, once it has been read.
    pub checksum_value: Option<(Algorithm, String)>,
    /// The `Content-MD5` the client sent.
    content_md5: Option<[u8; 16]>,
}

/// Parses `Content-MD5` (base64 of 16 bytes); anything else is InvalidDigest.
fn parse_content_md5(headers: &HeaderMap) -> S3Result<Option<[u8; 16]>> {
    use base64::Engine;
    let Some(value) = headers
        .get("content-md5")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .map(Some)
        .ok_or_else(|| S3Error::new(S3Code::InvalidDigest).detail("Content-MD5", value))
}

impl RequestBody {
    pub fn new(
        incoming: Incoming,
        headers: &HeaderMap,
        payload: Payload,
        verify_checksums: bool,
    ) -> S3Result<Self> {
        let (sha256, signing) = match payload {
            Payload::Unchecked => (None, None),
            Payload::Sha256(hex) => (Some((hex, Sha256::new())), None),
            Payload::StreamingSigned(signing) => (None, Some(signing)),
        };
        let checksum = if verify_checksums {
            checksum::requested(headers)?
        } else {
            None
        };
        let checksum =
            checksum.map(|(algorithm, expected)| (checksum::Hasher::new(algorithm), expected));
        let content_md5 = parse_content_md5(headers)?;
        Ok(RequestBody {
            content_md5,
            source: Source::Http(incoming),
            decoder: is_aws_chunked(headers).then(|| ChunkedDecoder::new(signing)),
            pending: Default::default(),
            ended: false,
            pace: Pace::default(),
            received: 0,
            sha256,
            checksum,
            checksum_value: None,
        })
    }

    /// A body read from a stream of unknown length (POST Object's file part), checked
    /// against the `x-amz-checksum-*` of `headers` as a PutObject body is.
    pub fn from_part(
        part: futures_util::stream::BoxStream<'static, S3Result<Bytes>>,
        headers: &HeaderMap,
    ) -> S3Result<Self> {
        let checksum = checksum::requested(headers)?
            .map(|(algorithm, expected)| (checksum::Hasher::new(algorithm), expected));
        Ok(RequestBody {
            content_md5: None,
            source: Source::Part(std::sync::Mutex::new(part)),
            decoder: None,
            pending: Default::default(),
            ended: false,
            pace: Pace::default(),
            received: 0,
            sha256: None,
            checksum,
            checksum_value: None,
        })
    }

    /// Whether the body's length is unknown until it ends (a form's file part: no
    /// Content-Length describes it).
    pub fn is_part(&self) -> bool {
        matches!(self.source, Source::Part(_))
    }

    /// Refuses a body that came with neither `Content-MD5` nor an `x-amz-checksum-*`
    /// (checked as it is read): what AWS requires of some requests.
    pub fn require_integrity(&self) -> S3Result<()> {
        if self.content_md5.is_none() && self.checksum.is_none() && self.checksum_value.is_none() {
            return Err(S3Error::msg(
                S3Code::InvalidRequest,
                "Missing required header for this request: Content-MD5 OR x-amz-checksum-*",
            ));
        }
        Ok(())
    }

    /// The checksum algorithm the client named for this body, if any.
    pub fn checksum_algorithm(&self) -> Option<Algorithm> {
        self.checksum.as_ref().map(|(h, _)| h.algorithm)
    }

    /// Computes `algorithm` over a body for which the client named no checksum, to be
    /// stored with it (AWS gives every object one, CRC64NVME unless told otherwise).
    pub fn compute_checksum_by_default(&mut self, algorithm: Algorithm) {
        if self.checksum.is_none() && self.received == 0 {
            self.checksum = Some((checksum::Hasher::new(algorithm), Expected::None));
        }
    }

    /// Checks the payload hash and checksum once the whole body has been read.
    fn verify_end(&mut self) -> S3Result<()> {
        if let Some(decoder) = &self.decoder {
            decoder.finish()?;
        }
        if let Some((expected, hasher)) = self.sha256.take() {
            let computed = hex::encode(hasher.finalize());
            if computed != expected {
                return Err(S3Error::new(S3Code::XAmzContentSHA256Mismatch)
                    .detail("ClientComputedContentSHA256", expected)
                    .detail("S3ComputedContentSHA256", computed));
            }
        }
        if let Some((hasher, expected)) = self.checksum.take() {
            let algorithm = hasher.algorithm;
            let computed = hasher.finish();
            let expected = match expected {
                Expected::Header(v) => Some(v),
                Expected::Trailer => Some(
                    self.decoder
                        .as_ref()
                        .and_then(|d| d.trailer(algorithm.header()))
                        .map(str::to_string)
                        .ok_or_else(|| {
                            S3Error::msg(
                                S3Code::InvalidRequest,
                                format!(
                                    "The {} trailer was declared but not sent.",
                                    algorithm.header()
                                ),
                            )
                        })?,
                ),
                Expected::None => None,
            };
            if let Some(e) = &expected {
                checksum::check_value(algorithm, e)?;
            }
            if expected.is_some_and(|e| e.trim() != computed) {
                return Err(checksum::mismatch(algorithm));
            }
            self.checksum_value = Some((algorithm, computed));
        }
        Ok(())
    }

    /// The next chunk of (decoded) body data; `None` at the end.
    pub async fn next(&mut self) -> S3Result<Option<Bytes>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                self.received += chunk.len() as u64;
                if let Some((_, hasher)) = &mut self.sha256 {
                    hasher.update(&chunk);
                }
                if let Some((hasher, _)) = &mut self.checksum {
                    hasher.update(&chunk);
                }
                return Ok(Some(chunk));
            }
            if self.ended {
                return Ok(None);
            }
            let incoming = match &mut self.source {
                Source::Http(incoming) => incoming,
                Source::Part(part) => {
                    use futures_util::StreamExt;
                    let part = part.get_mut().unwrap_or_else(|e| e.into_inner());
                    match part.next().await.transpose()? {
                        Some(data) if data.is_empty() => {}
                        Some(data) => self.pending.push_back(data),
                        None => {
                            self.ended = true;
                            self.verify_end()?;
                        }
                    }
                    continue;
                }
            };
            let frame = tokio::time::timeout_at(self.pace.deadline(), incoming.frame())
                .await
                .map_err(|_| S3Error::new(S3Code::RequestTimeout))?;
            match frame {
                None => {
                    self.ended = true;
                    self.verify_end()?;
                }
                Some(Err(_)) => return Err(S3Error::new(S3Code::IncompleteBody)),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    self.pace.raw_received += data.len() as u64;
                    match &mut self.decoder {
                        Some(decoder) => {
                            let mut out = Vec::new();
                            decoder.feed(&data, &mut out)?;
                            self.pending
                                .extend(out.into_iter().filter(|b| !b.is_empty()));
                        }
                        None if !data.is_empty() => self.pending.push_back(data),
                        None => {}
                    }
                }
            }
        }
    }

    /// Checks the body's MD5 against `Content-MD5`, if the client sent one.
    pub fn check_md5(&self, computed: &[u8; 16]) -> S3Result<()> {
        use base64::Engine;
        match self.content_md5 {
            Some(expected) if &expected != computed => {
                let b64 = base64::engine::general_purpose::STANDARD;
                Err(S3Error::new(S3Code::BadDigest)
                    .detail("ExpectedDigest", b64.encode(expected))
                    .detail("CalculatedDigest", b64.encode(computed)))
            }
            _ => Ok(()),
        }
    }

    /// Reads a small body whole (XML documents); larger than `limit` is an error.
    pub async fn read_small(&mut self, limit: usize) -> S3Result<Bytes> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.next().await? {
            if buf.len() + chunk.len() > limit {
                return Err(S3Error::msg(
                    S3Code::MalformedXML,
                    "The XML you provided was too large.",
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        if self.content_md5.is_some() {
            self.check_md5(&crate::md5::Md5::digest(&buf))?;
        }
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> S3Result<(Vec<u8>, ChunkedDecoder)> {
        let mut d = ChunkedDecoder::new(None);
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            d.feed(piece, &mut out)?;
        }
        d.finish()?;
        Ok((out.concat(), d))
    }

    #[test]
    fn decodes_signed_and_trailer_bodies_in_any_split() {
        let signed = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=fin\r\n\r\n";
        let trailer = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
        for step in [1, 2, 3, 7, 1000] {
            let (data, _) = decode_all(signed, step).unwrap();
            assert_eq!(data, b"hello world");
            let (data, d) = decode_all(trailer, step).unwrap();
            assert_eq!(data, b"hello");
            assert_eq!(
                d.trailers,
                [("x-amz-checksum-crc32".to_string(), "NhCmhg==".to_string())]
            );
        }
    }

    /// AWS's documented aws-chunked example: 65536 + 1024 bytes of 'a'.
    #[test]
    fn verifies_chunk_signatures_of_the_aws_example() {
        let signing = ChunkSigning {
            key: sigv4::signing_key(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "20130524",
                "us-east-1",
                "s3",
            ),
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
            trailer: false,
        };
        let sigs = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ];
        let mut body = Vec::new();
        for (size, sig) in [(65536usize, sigs[0]), (1024, sigs[1]), (0, sigs[2])] {
            body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
            body.extend(std::iter::repeat_n(b'a', size));
            body.extend_from_slice(b"\r\n");
        }
        let run = |body: &[u8]| {
            let mut d = ChunkedDecoder::new(Some(signing.clone()));
            let mut out = Vec::new();
            for piece in body.chunks(1000) {
                d.feed(piece, &mut out)?;
            }
            d.finish().map(|_| out.concat().len())
        };
        assert_eq!(run(&body).unwrap(), 66560);
        let mut tampered = body.clone();
        tampered[200] = b'b';
        assert_eq!(
            run(&tampered).unwrap_err().code,
            S3Code::SignatureDoesNotMatch
        );
        // Unsigned trailers after a signed body, and the TRAILER variant without its signature, are refused.
        let mut with_trailer = body[..body.len() - 2].to_vec();
        with_trailer.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        assert_eq!(
            run(&with_trailer).unwrap_err().code,
            S3Code::SignatureDoesNotMatch
        );
        let trailer_signing = ChunkSigning {
            trailer: true,
            ..signing.clone()
        };
        let mut d = ChunkedDecoder::new(Some(trailer_signing));
        let mut out = Vec::new();
        d.feed(&body, &mut out).unwrap();
        assert_eq!(d.finish().unwrap_err().code, S3Code::SignatureDoesNotMatch);
    }

    /// What the decoder keeps is bounded, however much a client sends.
    #[test]
    fn bounds_trailers_and_lines() {
        let mut many = b"0\r\n".to_vec();
        many.extend(std::iter::repeat_n(&b"a:b\r\n"[..], 1000).flatten());
        assert!(decode_all(&many, 1 << 20).is_err());
        let mut huge = b"0\r\nx-amz-meta:".to_vec();
        huge.extend(std::iter::repeat_n(b'v', 5000));
        huge.extend_from_slice(b"\r\n\r\n");
        assert!(
            decode_all(&huge, 1 << 20).is_err(),
            "an over-long line must fail even with its CRLF in the same read"
        );
        let mut fat_header = vec![b'1'; 5000];
        fat_header.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert!(decode_all(&fat_header, 1 << 20).is_err());
        let mut sixteen = b"0\r\n".to_vec();
        for i in 0..MAX_TRAILERS {
            sixteen.extend_from_slice(format!("x-t{i}:v\r\n").as_bytes());
        }
        sixteen.extend_from_slice(b"\r\n");
        assert_eq!(
            decode_all(&sixteen, 7).unwrap().1.trailers.len(),
            MAX_TRAILERS
        );
        let mut padded = b"0\r\n\r\n".to_vec();
        padded.extend(std::iter::repeat_n(b'\n', MAX_TAIL_BYTES + 1));
        assert!(
            decode_all(&padded, 3).is_err(),
            "endless blank lines after the body"
        );
        assert!(decode_all(b"0\r\n\r\n\r\n", 3).is_ok());
        // A header of exactly the longest length passes however it is split, even between CR and LF.
        let mut longest =
            format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_LINE - 2)).into_bytes();
        for step in [
            1,
            MAX_CHUNK_LINE,
            MAX_CHUNK_LINE + 1,
            MAX_CHUNK_LINE + 2,
            1 << 20,
        ] {
            assert_eq!(
                decode_all(&longest, step).unwrap().0,
                b"x",
                "split every {step} bytes"
            );
        }
        longest.insert(2, b'e');
        assert!(
            decode_all(&longest, MAX_CHUNK_LINE + 1).is_err(),
            "one byte longer is refused"
        );
    }

    #[test]
    fn rejects_truncated_and_garbled_bodies() {
        assert!(decode_all(b"5\r\nhel", 100).is_err());
        assert!(decode_all(b"zz\r\nhello\r\n0\r\n\r\n", 100).is_err());
        assert!(decode_all(b"5\r\nhelloXX0\r\n\r\n", 100).is_err());
        assert!(decode_all(&[b'1'; 5000], 100).is_err());
    }
}
