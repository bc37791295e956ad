//! The flexible checksums of current AWS SDKs (`x-amz-checksum-*`): computed over
//! the decoded body, verified against a header or an aws-chunked trailer, stored,
//! and returned on GET/HEAD with `x-amz-checksum-mode: ENABLED`.

use base64::Engine;
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::{S3Code, S3Error, S3Result};
use super::headers::header;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

pub const ALL: [Algorithm; 5] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Crc64Nvme,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    pub fn header(self) -> String {
        format!("x-amz-checksum-{}", self.name().to_ascii_lowercase())
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        ALL.into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

/// A running checksum over the body.
pub struct Hasher {
    pub algorithm: Algorithm,
    state: State,
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => State::Crc32c(0),
            Algorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
            Algorithm::Sha1 => State::Sha1(Sha1::new()),
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
        };
        Hasher { algorithm, state }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            State::Crc64Nvme(h) => h.write(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The base64 value, as sent in headers.
    pub fn finish(self) -> String {
        let bytes = match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(c) => c.to_be_bytes().to_vec(),
            State::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// Where the expected value of a request's checksum comes from.
pub enum Expected {
    Header(String),
    Trailer,
    /// The client named an algorithm but sent no value: compute and store it.
    None,
}

/// The checksum a request asks for, if any.
pub fn requested(headers: &HeaderMap) -> S3Result<Option<(Algorithm, Expected)>> {
    if let Some(trailer) = header(headers, "x-amz-trailer") {
        let algorithm = trailer
            .trim()
            .strip_prefix("x-amz-checksum-")
            .and_then(Algorithm::from_name)
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "The value specified in the x-amz-trailer header is not supported",
                    "x-amz-trailer",
                    trailer,
                )
            })?;
        return Ok(Some((algorithm, Expected::Trailer)));
    }
    let given: Vec<Algorithm> = ALL
        .into_iter()
        .filter(|a| headers.contains_key(a.header()))
        .collect();
    if given.len() > 1 {
        return Err(S3Error::msg(
            S3Code::InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    if let Some(algorithm) = given.first() {
        let value = header(headers, &algorithm.header())
            .unwrap_or_default()
            .to_string();
        check_value(*algorithm, &value)?;
        return Ok(Some((*algorithm, Expected::Header(value))));
    }
    if let Some(name) = header(headers, "x-amz-sdk-checksum-algorithm") {
        let algorithm = Algorithm::from_name(name).ok_or_else(|| {
            S3Error::invalid_argument(
                "Checksum algorithm provided is unsupported.",
                "x-amz-sdk-checksum-algorithm",
                name,
            )
        })?;
        return Ok(Some((algorithm, Expected::None)));
    }
    Ok(None)
}

impl Algorithm {
    fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }
}

/// A checksum value must be base64 of the algorithm's digest length.
pub fn check_value(algorithm: Algorithm, value: &str) -> S3Result<()> {
    match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
        Ok(bytes) if bytes.len() == algorithm.digest_len() => Ok(()),
        _ => Err(S3Error::msg(
            S3Code::InvalidRequest,
            format!("Value for {} header is invalid.", algorithm.header()),
        )),
    }
}

/// The checksum of a multipart object from its parts' checksums (base64) and sizes:
/// COMPOSITE is the checksum of the concatenated part checksums; FULL_OBJECT is the
/// checksum of the whole object, which CRC32 and CRC32C can combine from the parts.
pub fn multipart_checksum(
    algorithm: Algorithm,
    parts: &[(String, u64)],
    full_object: bool,
) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decoded: Option<Vec<Vec<u8>>> = parts.iter().map(|(v, _)| b64.decode(v).ok()).collect();
    let decoded = decoded?;
    if !full_object {
        let mut h = Hasher::new(algorithm);
        for d in &decoded {
            h.update(d);
        }
        return Some(h.finish());
    }
    let crc = |d: &Vec<u8>| {
        <[u8; 4]>::try_from(d.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    };
    let combined = match algorithm {
        Algorithm::Crc32 => {
            let mut total = crc32fast::Hasher::new();
            for (d, (_, size)) in decoded.iter().zip(parts) {
                total.combine(&crc32fast::Hasher::new_with_initial_len(crc(d)?, *size));
            }
            total.finalize()
        }
        Algorithm::Crc32c => {
            let mut total = 0u32;
            for (d, (_, size)) in decoded.iter().zip(parts) {
                total = crc32c::crc32c_combine(total, crc(d)?, *size as usize);
            }
            total
        }
        _ => return None,
    };
    Some(b64.encode(combined.to_be_bytes()))
}

pub fn mismatch(algorithm: Algorithm) -> S3Error {
    S3Error::msg(
        S3Code::BadDigest,
        format!(
            "The {} you specified did not match the calculated checksum.",
            algorithm.name()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_checksums_combine() {
        let part = |data: &[u8]| {
            let mut h = Hasher::new(Algorithm::Crc32);
            h.update(data);
            (h.finish(), data.len() as u64)
        };
        let (a, b) = (b"hello ".as_slice(), b"world".as_slice());
        let parts = [part(a), part(b)];
        assert_eq!(
            multipart_checksum(Algorithm::Crc32, &parts, true).unwrap(),
            "DUoRhQ=="
        );
        let mut c = Hasher::new(Algorithm::Crc32c);
        c.update(b"hello world");
        let crc32c_parts: Vec<(String, u64)> = [a, b]
            .iter()
            .map(|d| {
                let mut h = Hasher::new(Algorithm::Crc32c);
                h.update(d);
                (h.finish(), d.len() as u64)
            })
            .collect();
        assert_eq!(
            multipart_checksum(Algorithm::Crc32c, &crc32c_parts, true).unwrap(),
            c.finish()
        );
    }

    #[test]
    fn known_values() {
        let value = |a| {
            let mut h = Hasher::new(a);
            h.update(b"hello ");
            h.update(b"world");
            h.finish()
        };
        assert_eq!(value(Algorithm::Crc32), "DUoRhQ==");
        assert_eq!(value(Algorithm::Crc32c), "yZRlqg==");
        assert_eq!(value(Algorithm::Sha1), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(
            value(Algorithm::Sha256),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }
}
