//! Request bodies as a stream of chunks: plain bodies straight from hyper, and
//! `aws-chunked` bodies (what AWS SDKs send for streaming uploads) decoded on the
//! fly, keeping their trailers (checksums) for verification.

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::error::{S3Code, S3Error, S3Result};

const MAX_CHUNK_LINE: usize = 4096;

#[derive(Debug, PartialEq)]
enum State {
    Header,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decodes `hex-size[;chunk-signature=...]\r\n<data>\r\n ... 0\r\n<trailers>\r\n`.
#[derive(Debug)]
pub struct ChunkedDecoder {
    buf: BytesMut,
    state: State,
    pub trailers: Vec<(String, String)>,
    /// Each chunk's `chunk-signature`, in order (verified by the auth layer).
    pub signatures: Vec<String>,
}

fn bad_chunk() -> S3Error {
    S3Error::msg(S3Code::IncompleteBody, "The aws-chunked body is malformed.")
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder { buf: BytesMut::new(), state: State::Header, trailers: Vec::new(), signatures: Vec::new() }
    }

    fn take_line(&mut self) -> S3Result<Option<String>> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(pos) => {
                let line = self.buf.split_to(pos + 2);
                let text = std::str::from_utf8(&line[..pos]).map_err(|_| bad_chunk())?;
                Ok(Some(text.to_string()))
            }
            None if self.buf.len() > MAX_CHUNK_LINE => Err(bad_chunk()),
            None => Ok(None),
        }
    }

    /// Feeds raw bytes; returns the decoded data they complete.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Bytes>) -> S3Result<()> {
        self.buf.extend_from_slice(input);
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else { return Ok(()) };
                    let (size, ext) = line.split_once(';').unwrap_or((&line, ""));
                    let size = u64::from_str_radix(size.trim(), 16).map_err(|_| bad_chunk())?;
                    if let Some(sig) = ext.trim().strip_prefix("chunk-signature=") {
                        self.signatures.push(sig.to_string());
                    }
                    self.state = if size == 0 { State::Trailers } else { State::Data(size) };
                }
                State::Data(left) => {
                    if self.buf.is_empty() {
                        return Ok(());
                    }
                    let n = left.min(self.buf.len() as u64) as usize;
                    out.push(self.buf.split_to(n).freeze());
                    self.state = if left == n as u64 { State::DataEnd } else { State::Data(left - n as u64) };
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad_chunk());
                    }
                    self.buf.advance(2);
                    self.state = State::Header;
                }
                State::Trailers => {
                    let Some(line) = self.take_line()? else { return Ok(()) };
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    let (name, value) = line.split_once(':').ok_or_else(bad_chunk)?;
                    self.trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                }
                State::Done => {
                    if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
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
            State::Done => Ok(()),
            // Some clients omit the blank line after the last trailer.
            State::Trailers if self.buf.is_empty() => Ok(()),
            _ => Err(S3Error::new(S3Code::IncompleteBody)),
        }
    }
}

pub fn is_aws_chunked(headers: &HeaderMap) -> bool {
    let sha = headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).unwrap_or("");
    let encoding = headers.get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("");
    sha.starts_with("STREAMING-") || encoding.split(',').any(|e| e.trim() == "aws-chunked")
}

/// A request body read chunk by chunk.
pub struct RequestBody {
    incoming: Incoming,
    decoder: Option<ChunkedDecoder>,
    pending: std::collections::VecDeque<Bytes>,
    ended: bool,
    pub received: u64,
}

impl RequestBody {
    pub fn new(incoming: Incoming, headers: &HeaderMap) -> Self {
        RequestBody {
            incoming,
            decoder: is_aws_chunked(headers).then(ChunkedDecoder::new),
            pending: Default::default(),
            ended: false,
            received: 0,
        }
    }

    /// The next chunk of (decoded) body data; `None` at the end.
    pub async fn next(&mut self) -> S3Result<Option<Bytes>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                self.received += chunk.len() as u64;
                return Ok(Some(chunk));
            }
            if self.ended {
                return Ok(None);
            }
            match self.incoming.frame().await {
                None => {
                    self.ended = true;
                    if let Some(decoder) = &self.decoder {
                        decoder.finish()?;
                    }
                }
                Some(Err(_)) => return Err(S3Error::new(S3Code::IncompleteBody)),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    match &mut self.decoder {
                        Some(decoder) => {
                            let mut out = Vec::new();
                            decoder.feed(&data, &mut out)?;
                            self.pending.extend(out.into_iter().filter(|b| !b.is_empty()));
                        }
                        None if !data.is_empty() => self.pending.push_back(data),
                        None => {}
                    }
                }
            }
        }
    }

    /// Reads a small body whole (XML documents); larger than `limit` is an error.
    pub async fn read_small(&mut self, limit: usize) -> S3Result<Bytes> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.next().await? {
            if buf.len() + chunk.len() > limit {
                return Err(S3Error::msg(S3Code::MalformedXML, "The XML you provided was too large."));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> S3Result<(Vec<u8>, ChunkedDecoder)> {
        let mut d = ChunkedDecoder::new();
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
            let (data, d) = decode_all(signed, step).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(d.signatures, ["abc", "def", "fin"]);
            let (data, d) = decode_all(trailer, step).unwrap();
            assert_eq!(data, b"hello");
            assert_eq!(d.trailers, [("x-amz-checksum-crc32".to_string(), "NhCmhg==".to_string())]);
        }
    }

    #[test]
    fn rejects_truncated_and_garbled_bodies() {
        assert!(decode_all(b"5\r\nhel", 100).is_err());
        assert!(decode_all(b"zz\r\nhello\r\n0\r\n\r\n", 100).is_err());
        assert!(decode_all(b"5\r\nhelloXX0\r\n\r\n", 100).is_err());
        assert!(decode_all(&[b'1'; 5000], 100).is_err());
    }
}
