//! A bucket's default server-side encryption (PutBucketEncryption): parsed and checked
//! from the request XML as AWS checks it, stored as storage-neutral JSON, and answered
//! as the `ServerSideEncryptionConfiguration` document of `dto.rs`. The object path
//! asks `BucketSettings::default_encryption` for it.

use serde::{Deserialize, Serialize};

use super::dto;
use super::error::{S3Code, S3Error, S3Result};

/// The algorithms a default rule can name.
pub const ALGORITHMS: [&str; 3] = ["AES256", "aws:kms", "aws:kms:dsse"];

/// The default encryption of new objects that ask for none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketEncryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    /// The KMS key (only with `aws:kms` / `aws:kms:dsse`); none means the default key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

// ---- the request document ----------------------------------------------------------

#[derive(Deserialize)]
struct ConfigurationXml {
    #[serde(rename = "Rule", default)]
    rules: Vec<RuleXml>,
}

#[derive(Deserialize)]
struct RuleXml {
    #[serde(rename = "ApplyServerSideEncryptionByDefault")]
    by_default: Option<ByDefaultXml>,
    #[serde(rename = "BucketKeyEnabled")]
    bucket_key_enabled: Option<String>,
}

#[derive(Deserialize)]
struct ByDefaultXml {
    #[serde(rename = "SSEAlgorithm")]
    algorithm: Option<String>,
    #[serde(rename = "KMSMasterKeyID")]
    kms_key_id: Option<String>,
}

fn malformed() -> S3Error {
    S3Error::new(S3Code::MalformedXML)
}

impl BucketEncryption {
    /// Parses a PutBucketEncryption body: exactly one rule with a default of a known
    /// algorithm (else MalformedXML, as AWS answers); a KMS key only with a KMS
    /// algorithm (else InvalidArgument).
    pub fn from_xml(body: &[u8]) -> S3Result<BucketEncryption> {
        let doc: ConfigurationXml =
            super::xml::parse_document(body, "ServerSideEncryptionConfiguration")?;
        let [rule] = <[RuleXml; 1]>::try_from(doc.rules).map_err(|_| malformed())?;
        let by_default = rule.by_default.ok_or_else(malformed)?;
        let algorithm = by_default
            .algorithm
            .map(|a| a.trim().to_string())
            .filter(|a| ALGORITHMS.contains(&a.as_str()))
            .ok_or_else(malformed)?;
        let bucket_key_enabled = match rule.bucket_key_enabled.as_deref().map(str::trim) {
            None => false,
            Some(b) if b.eq_ignore_ascii_case("true") => true,
            Some(b) if b.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(malformed()),
        };
        if by_default.kms_key_id.is_some() && algorithm == "AES256" {
            return Err(S3Error::msg(
                S3Code::InvalidArgument,
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            )
            .detail("ArgumentName", "ApplyServerSideEncryptionByDefault"));
        }
        let kms_key_id = by_default
            .kms_key_id
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        Ok(BucketEncryption {
            algorithm,
            kms_key_id,
            bucket_key_enabled,
        })
    }

    /// The stored form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("the encryption configuration serializes")
    }

    /// Reads the stored form, checking it as a request would be checked.
    pub fn from_json(bytes: &[u8]) -> Result<BucketEncryption, String> {
        let config: BucketEncryption = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !ALGORITHMS.contains(&config.algorithm.as_str()) {
            return Err(format!("unknown algorithm {:?}", config.algorithm));
        }
        Ok(config)
    }

    /// The GetBucketEncryption document.
    pub fn to_dto(&self) -> dto::ServerSideEncryptionConfiguration {
        dto::ServerSideEncryptionConfiguration {
            xmlns: dto::NS,
            rule: dto::ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: dto::ServerSideEncryptionByDefault {
                    sse_algorithm: self.algorithm.clone().into(),
                    kms_master_key_id: self.kms_key_id.clone().map(Into::into),
                },
                bucket_key_enabled: self.bucket_key_enabled,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(inner: &str) -> Vec<u8> {
        format!("<ServerSideEncryptionConfiguration xmlns=\"{}\">{inner}</ServerSideEncryptionConfiguration>", dto::NS).into_bytes()
    }

    #[test]
    fn parses_the_three_algorithms() {
        let aes = BucketEncryption::from_xml(&doc(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>",
        ))
        .unwrap();
        assert_eq!(
            aes,
            BucketEncryption {
                algorithm: "AES256".into(),
                kms_key_id: None,
                bucket_key_enabled: false
            }
        );
        let kms = BucketEncryption::from_xml(&doc(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:1:key/k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule>",
        ))
        .unwrap();
        assert_eq!(
            kms.kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/k")
        );
        assert!(kms.bucket_key_enabled);
        assert_eq!(BucketEncryption::from_json(&kms.to_json()).unwrap(), kms);
        let dsse = BucketEncryption::from_xml(&doc(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>",
        ))
        .unwrap();
        assert_eq!(dsse.algorithm, "aws:kms:dsse");
        assert_eq!(
            dto::to_xml(&kms.to_dto()),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServerSideEncryptionConfiguration xmlns=\"{}\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:1:key/k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>",
                dto::NS
            )
        );
    }

    #[test]
    fn refuses_what_aws_refuses() {
        let by_default = |inner: &str| {
            doc(&format!(
                "<Rule><ApplyServerSideEncryptionByDefault>{inner}</ApplyServerSideEncryptionByDefault></Rule>"
            ))
        };
        for (body, code) in [
            (b"<ServerSideEncryptionConfiguration>".to_vec(), S3Code::MalformedXML),
            (doc(""), S3Code::MalformedXML),
            (doc("<Rule></Rule>"), S3Code::MalformedXML),
            (by_default(""), S3Code::MalformedXML),
            (by_default("<SSEAlgorithm>DES</SSEAlgorithm>"), S3Code::MalformedXML),
            (
                doc("<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>maybe</BucketKeyEnabled></Rule>"),
                S3Code::MalformedXML,
            ),
            (
                doc(&"<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>".repeat(2)),
                S3Code::MalformedXML,
            ),
            (
                by_default("<SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>"),
                S3Code::InvalidArgument,
            ),
        ] {
            assert_eq!(
                BucketEncryption::from_xml(&body).unwrap_err().code,
                code,
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
