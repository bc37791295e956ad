//! The checksum rules of multipart uploads, as AWS applies them: what
//! CreateMultipartUpload may ask for, which checksum each part carries, and the object
//! checksum CompleteMultipartUpload forms from the parts (checked against the one the
//! client states). An upload created without an algorithm gets a full-object CRC64NVME,
//! as on AWS, when its parts carry no other checksum.

use http::HeaderMap;

use super::checksum::{self, Algorithm, ChecksumType};
use super::error::{S3Code, S3Error, S3Result};
use super::headers::header;
use super::xml::CompletePart;
use crate::storage::interface::{PartInfo, StoredChecksum, UploadChecksum, UploadInfo};

fn invalid(message: impl Into<String>) -> S3Error {
    S3Error::msg(S3Code::InvalidRequest, message)
}

fn lower(a: Algorithm) -> String {
    a.name().to_ascii_lowercase()
}

fn algorithm_mismatch(expected: Algorithm, actual: Algorithm) -> S3Error {
    invalid(format!(
        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
        lower(expected),
        lower(actual)
    ))
}

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of CreateMultipartUpload.
pub fn requested(headers: &HeaderMap) -> S3Result<UploadChecksum> {
    let algorithm = checksum::algorithm_header(headers)?;
    let kind = header(headers, "x-amz-checksum-type")
        .map(|t| {
            ChecksumType::from_name(&t.to_ascii_uppercase())
                .ok_or_else(|| invalid("Value for x-amz-checksum-type header is invalid."))
        })
        .transpose()?;
    let Some(algorithm) = algorithm else {
        return match kind {
            None => Ok(UploadChecksum::default()),
            Some(_) => Err(invalid(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            )),
        };
    };
    let kind = kind.unwrap_or(ChecksumType::default_for(algorithm));
    if !kind.allowed_with(algorithm) {
        return Err(invalid(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            lower(algorithm)
        )));
    }
    Ok(UploadChecksum {
        algorithm: Some(algorithm.name().to_string()),
        checksum_type: Some(kind.name().to_string()),
    })
}

/// The algorithm and type an upload was created with, if any.
pub fn of_upload(info: &UploadInfo) -> Option<(Algorithm, ChecksumType)> {
    let algorithm = Algorithm::from_name(info.checksum_algorithm.as_deref()?)?;
    let kind = info
        .checksum_type
        .as_deref()
        .and_then(ChecksumType::from_name)
        .unwrap_or(ChecksumType::default_for(algorithm));
    Some((algorithm, kind))
}

/// The algorithm of a part's checksum: the upload's (a part naming another is refused),
/// else what the client sent, else CRC64NVME. Computed when the client sent none.
pub fn part_algorithm(info: &UploadInfo, sent: Option<Algorithm>) -> S3Result<Algorithm> {
    match (of_upload(info), sent) {
        (Some((expected, _)), Some(sent)) if expected != sent => {
            Err(algorithm_mismatch(expected, sent))
        }
        (Some((expected, _)), _) => Ok(expected),
        (None, sent) => Ok(sent.unwrap_or(Algorithm::Crc64Nvme)),
    }
}

/// The object checksum a Complete request states (`x-amz-checksum-<algorithm>`), checked
/// for form; a stated `x-amz-checksum-type` must be the upload's. Uploads created without
/// an algorithm ignore a stated checksum, as AWS does.
pub fn stated(headers: &HeaderMap, info: &UploadInfo) -> S3Result<Option<(Algorithm, String)>> {
    let upload = of_upload(info);
    if let Some(kind) = header(headers, "x-amz-checksum-type") {
        let created = upload.map_or("null", |(_, k)| k.name());
        if !kind.trim().eq_ignore_ascii_case(created) {
            return Err(invalid(format!(
                "The upload was created using the {created} checksum mode. The complete request must use the same checksum mode."
            )));
        }
    }
    let Some((algorithm, kind)) = upload else {
        return Ok(None);
    };
    let Some((given, value)) = checksum::ALL
        .into_iter()
        .find_map(|a| header(headers, a.header()).map(|v| (a, v.trim().to_string())))
    else {
        return Ok(None);
    };
    if given != algorithm {
        return Err(algorithm_mismatch(algorithm, given));
    }
    // A composite value may come without its `-<parts>` (minio-go sends it so).
    let digest = match (kind, value.split_once('-')) {
        (ChecksumType::Composite, Some((d, n))) => {
            n.parse::<u32>().is_ok_and(|n| n > 0).then_some(d)
        }
        (_, None) => Some(value.as_str()),
        (ChecksumType::FullObject, Some(_)) => None,
    };
    match digest.map(|d| checksum::check_value(algorithm, d)) {
        Some(Ok(())) => Ok(Some((algorithm, value))),
        _ => Err(invalid(format!(
            "Value for {} header is invalid.",
            algorithm.header()
        ))),
    }
}

/// The object's checksum from the chosen parts (in the order the client listed them).
/// A part checksum the client listed must be the one stored; a COMPOSITE upload needs
/// one listed for every part. A stated object checksum must match the computed one.
pub fn object_checksum(
    info: &UploadInfo,
    listed: &[CompletePart],
    chosen: &[PartInfo],
    stated: Option<&(Algorithm, String)>,
) -> S3Result<Option<StoredChecksum>> {
    let upload = of_upload(info);
    for (part, listed) in chosen.iter().zip(listed) {
        match (listed.checksum(), upload) {
            (Some((name, value)), _) => {
                if !part
                    .checksum
                    .as_ref()
                    .is_some_and(|c| c.algorithm == name && c.value == value)
                {
                    return Err(S3Error::new(S3Code::InvalidPart)
                        .detail("PartNumber", part.part_number.to_string()));
                }
            }
            (None, Some((algorithm, ChecksumType::Composite))) => {
                return Err(invalid(format!(
                    "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                    lower(algorithm),
                    part.part_number
                )));
            }
            (None, _) => {}
        }
    }
    let (algorithm, kind) = upload.unwrap_or((Algorithm::Crc64Nvme, ChecksumType::FullObject));
    let parts: Option<Vec<(String, u64)>> = chosen
        .iter()
        .map(|p| {
            p.checksum
                .as_ref()
                .filter(|c| c.algorithm == algorithm.name())
                .map(|c| (c.value.clone(), p.size))
        })
        .collect();
    let Some(parts) = parts else {
        return Ok(None);
    };
    let full_object = kind == ChecksumType::FullObject;
    let Some(value) = checksum::multipart_checksum(algorithm, &parts, full_object) else {
        return Ok(None);
    };
    let value = if full_object {
        value
    } else {
        format!("{value}-{}", parts.len())
    };
    if let Some((_, stated)) = stated
        && stated.split('-').next() != value.split('-').next()
    {
        return Err(checksum::mismatch(algorithm));
    }
    Ok(Some(StoredChecksum {
        algorithm: algorithm.name().to_string(),
        value,
        parts: parts.into_iter().map(|(v, _)| v).collect(),
    }))
}
