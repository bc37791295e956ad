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

    /// Its header (and trailer) name.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        ALL.into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The CRC of the CRC algorithms (which can be combined over concatenated data).
    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Algorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }
}

/// A CRC value as AWS encodes it: big-endian, 4 bytes for CRC32(C), 8 for CRC64NVME.
fn crc_bytes(algorithm: Algorithm, value: u64) -> Vec<u8> {
    match algorithm {
        Algorithm::Crc64Nvme => value.to_be_bytes().to_vec(),
        _ => (value as u32).to_be_bytes().to_vec(),
    }
}

/// How a multipart object's checksum is formed (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    /// The checksum of the parts' checksums, stored as `<value>-<parts>`.
    Composite,
    /// The checksum of the whole object, combined from the parts' CRCs.
    FullObject,
}

impl ChecksumType {
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }

    pub fn from_name(name: &str) -> Option<ChecksumType> {
        [ChecksumType::Composite, ChecksumType::FullObject]
            .into_iter()
            .find(|t| t.name() == name.trim())
    }

    /// What AWS assumes when CreateMultipartUpload names only the algorithm.
    pub fn default_for(algorithm: Algorithm) -> ChecksumType {
        match algorithm {
            Algorithm::Crc64Nvme => ChecksumType::FullObject,
            _ => ChecksumType::Composite,
        }
    }

    /// Whole-object checksums can only be combined from CRCs; CRC64NVME parts are only
    /// ever combined whole.
    pub fn allowed_with(self, algorithm: Algorithm) -> bool {
        match self {
            ChecksumType::FullObject => algorithm.crc().is_some(),
            ChecksumType::Composite => algorithm != Algorithm::Crc64Nvme,
        }
    }

    /// The type of a stored value: composite ones carry their part count.
    pub fn of_value(value: &str) -> ChecksumType {
        if value.contains('-') {
            ChecksumType::Composite
        } else {
            ChecksumType::FullObject
        }
    }
}

enum State {
    Crc(crc_fast::Digest),
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
        let state = match (algorithm.crc(), algorithm) {
            (Some(crc), _) => State::Crc(crc_fast::Digest::new(crc)),
            (None, Algorithm::Sha1) => State::Sha1(Sha1::new()),
            (None, _) => State::Sha256(Sha256::new()),
        };
        Hasher { algorithm, state }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc(h) => h.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The base64 value, as sent in headers.
    pub fn finish(self) -> String {
        let bytes = match self.state {
            State::Crc(h) => crc_bytes(self.algorithm, h.finalize()),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// A part copy's checksum, computed by the store as it copies.
impl crate::storage::interface::PartDigest for Hasher {
    fn update(&mut self, data: &[u8]) {
        Hasher::update(self, data);
    }

    fn finish(self: Box<Self>) -> crate::storage::interface::StoredChecksum {
        crate::storage::interface::StoredChecksum {
            algorithm: self.algorithm.name().to_string(),
            value: Hasher::finish(*self),
            parts: Vec::new(),
        }
    }
}

/// `x-amz-checksum-algorithm` (CreateMultipartUpload, CopyObject), if sent.
pub fn algorithm_header(headers: &HeaderMap) -> S3Result<Option<Algorithm>> {
    header(headers, "x-amz-checksum-algorithm")
        .map(|name| {
            Algorithm::from_name(name).ok_or_else(|| {
                S3Error::msg(
                    S3Code::InvalidRequest,
                    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
                )
            })
        })
        .transpose()
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
        let value = header(headers, algorithm.header())
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
    let crc = algorithm.crc()?;
    let mut total: Option<u64> = None;
    for (d, (_, size)) in decoded.iter().zip(parts) {
        let value = match d.len() {
            4 => u32::from_be_bytes(d.as_slice().try_into().ok()?) as u64,
            8 => u64::from_be_bytes(d.as_slice().try_into().ok()?),
            _ => return None,
        };
        total = Some(match total {
            None => value,
            Some(t) => crc_fast::checksum_combine(crc, t, value, *size),
        });
    }
    Some(b64.encode(crc_bytes(algorithm, total?)))
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
    fn header_names_follow_the_algorithm_names() {
        for a in ALL {
            assert_eq!(
                a.header(),
                format!("x-amz-checksum-{}", a.name().to_ascii_lowercase())
            );
        }
    }

    fn value_of(algorithm: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }

    #[test]
    fn full_object_crcs_combine_from_parts() {
        let pieces: [&[u8]; 4] = [b"hello ", b"", b"wor", b"ld, and a little more"];
        let whole: Vec<u8> = pieces.concat();
        for a in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let parts: Vec<(String, u64)> = pieces
                .iter()
                .map(|d| (value_of(a, d), d.len() as u64))
                .collect();
            assert_eq!(
                multipart_checksum(a, &parts, true).unwrap(),
                value_of(a, &whole),
                "{a:?}"
            );
        }
        let parts = [(value_of(Algorithm::Sha256, b"x"), 1)];
        assert_eq!(multipart_checksum(Algorithm::Sha256, &parts, true), None);
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        let parts = [
            (value_of(Algorithm::Sha1, b"a"), 1),
            (value_of(Algorithm::Sha1, b"b"), 1),
        ];
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw: Vec<u8> = parts
            .iter()
            .flat_map(|(v, _)| b64.decode(v).unwrap())
            .collect();
        assert_eq!(
            multipart_checksum(Algorithm::Sha1, &parts, false).unwrap(),
            value_of(Algorithm::Sha1, &raw)
        );
    }

    #[test]
    fn checksum_types_follow_aws_rules() {
        use ChecksumType::*;
        assert_eq!(ChecksumType::default_for(Algorithm::Crc64Nvme), FullObject);
        assert_eq!(ChecksumType::default_for(Algorithm::Sha256), Composite);
        assert!(!FullObject.allowed_with(Algorithm::Sha1));
        assert!(!Composite.allowed_with(Algorithm::Crc64Nvme));
        assert!(FullObject.allowed_with(Algorithm::Crc32c));
        assert_eq!(ChecksumType::of_value("abc=-3"), Composite);
        assert_eq!(ChecksumType::from_name("full_object"), None);
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
        assert_eq!(
            value_of(Algorithm::Crc64Nvme, b"hello world!"),
            "2RYNH6jkGOM="
        );
        assert_eq!(value(Algorithm::Sha1), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(
            value(Algorithm::Sha256),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }
}
