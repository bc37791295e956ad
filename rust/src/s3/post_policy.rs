//! POST Object's policy document (browser-based uploads): an expiration and the
//! conditions the form must meet, as AWS's "Creating a POST policy" describes them.
//! Field names are case-insensitive; every form field must be named by a condition,
//! except the few AWS exempts.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::{S3Code, S3Error, S3Result};

/// Form fields no condition has to name (AWS's list): the signature, the file, the
/// policy itself, and `x-ignore-*`.
fn exempt(field: &str) -> bool {
    matches!(
        field,
        "x-amz-signature" | "file" | "policy" | "awsaccesskeyid" | "signature"
    ) || field.starts_with("x-ignore-")
}

/// The form's fields before the file, names lowercased, in the order sent.
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of a field (names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Eq { field: String, value: String },
    StartsWith { field: String, prefix: String },
    LengthRange { min: u64, max: u64 },
}

impl Condition {
    /// As AWS quotes a failed condition in its message.
    fn describe(&self) -> String {
        let q = |s: &str| Value::String(s.to_string()).to_string();
        match self {
            Condition::Eq { field, value } => {
                format!("[\"eq\", {}, {}]", q(&format!("${field}")), q(value))
            }
            Condition::StartsWith { field, prefix } => {
                format!(
                    "[\"starts-with\", {}, {}]",
                    q(&format!("${field}")),
                    q(prefix)
                )
            }
            Condition::LengthRange { min, max } => {
                format!("[\"content-length-range\", {min}, {max}]")
            }
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Condition::Eq { field, .. } | Condition::StartsWith { field, .. } => Some(field),
            Condition::LengthRange { .. } => None,
        }
    }

    /// Whether `value` (the field's, empty when the form lacks it) meets the condition.
    fn holds(&self, value: &str) -> bool {
        match self {
            Condition::Eq { value: want, .. } => value == want,
            // A comma-separated Content-Type is a list: each entry must match.
            Condition::StartsWith { field, prefix } if field == "content-type" => value
                .split(',')
                .all(|entry| entry.trim().starts_with(prefix.as_str())),
            Condition::StartsWith { prefix, .. } => value.starts_with(prefix.as_str()),
            Condition::LengthRange { .. } => true,
        }
    }
}

#[derive(Debug)]
pub struct PostPolicy {
    pub expiration: DateTime<Utc>,
    conditions: Vec<Condition>,
}

fn invalid(message: impl std::fmt::Display) -> S3Error {
    S3Error::msg(
        S3Code::InvalidPolicyDocument,
        format!("Invalid Policy: {message}"),
    )
}

fn denied(message: impl std::fmt::Display) -> S3Error {
    S3Error::msg(
        S3Code::AccessDenied,
        format!("Invalid according to Policy: {message}"),
    )
}

/// A condition's value: a string, or a number written as one.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn bound(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_condition(c: &Value) -> S3Result<Condition> {
    let bad = || invalid(format!("Invalid Condition: {c}"));
    match c {
        Value::Object(map) if map.len() == 1 => {
            let (field, value) = map.iter().next().ok_or_else(bad)?;
            Ok(Condition::Eq {
                field: field.to_ascii_lowercase(),
                value: text(value).ok_or_else(bad)?,
            })
        }
        Value::Array(items) if items.len() == 3 => {
            let op = items[0].as_str().ok_or_else(bad)?.to_ascii_lowercase();
            if op == "content-length-range" {
                let (min, max) = (bound(&items[1]), bound(&items[2]));
                return match (min, max) {
                    (Some(min), Some(max)) if min <= max => Ok(Condition::LengthRange { min, max }),
                    _ => Err(bad()),
                };
            }
            let field = items[1]
                .as_str()
                .and_then(|f| f.strip_prefix('$'))
                .ok_or_else(bad)?
                .to_ascii_lowercase();
            let value = text(&items[2]).ok_or_else(bad)?;
            match op.as_str() {
                "eq" => Ok(Condition::Eq { field, value }),
                "starts-with" => Ok(Condition::StartsWith {
                    field,
                    prefix: value,
                }),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

impl PostPolicy {
    /// Decodes the form's `policy` field (base64 of a JSON document).
    pub fn parse(policy_b64: &str) -> S3Result<PostPolicy> {
        let json = base64::engine::general_purpose::STANDARD
            .decode(policy_b64.trim())
            .map_err(|_| invalid("Invalid base64 encoding."))?;
        let doc: Value = serde_json::from_slice(&json).map_err(|_| invalid("Invalid JSON."))?;
        let doc = doc.as_object().ok_or_else(|| invalid("Invalid JSON."))?;
        let expiration = doc
            .get("expiration")
            .ok_or_else(|| invalid("Policy missing expiration."))?;
        let expiration = expiration
            .as_str()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc))
            .ok_or_else(|| invalid(format!("Invalid 'expiration' value: {expiration}")))?;
        let conditions = doc
            .get("conditions")
            .ok_or_else(|| invalid("Policy missing conditions."))?
            .as_array()
            .ok_or_else(|| invalid("Invalid 'conditions' value: must be a list."))?
            .iter()
            .map(parse_condition)
            .collect::<S3Result<_>>()?;
        Ok(PostPolicy {
            expiration,
            conditions,
        })
    }

    /// The object's size bounds (`content-length-range`, every one of them).
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().fold(None, |acc, c| match c {
            Condition::LengthRange { min, max } => {
                let (lo, hi) = acc.unwrap_or((0, u64::MAX));
                Some((lo.max(*min), hi.min(*max)))
            }
            _ => acc,
        })
    }

    /// Checks the form against the policy at `now`: not expired, every condition met
    /// (`bucket` is the addressed bucket unless the form names one), no field left
    /// unnamed. The size range is checked as the file streams in.
    pub fn check(&self, fields: &Fields, bucket: &str, now: DateTime<Utc>) -> S3Result<()> {
        if now > self.expiration {
            return Err(denied("Policy expired."));
        }
        for c in &self.conditions {
            let Some(field) = c.field() else { continue };
            let value = match field {
                "bucket" => fields.get("bucket").unwrap_or(bucket),
                _ => fields.get(field).unwrap_or_default(),
            };
            if !c.holds(value) {
                return Err(denied(format!("Policy Condition failed: {}", c.describe())));
            }
        }
        let named = |f: &str| self.conditions.iter().any(|c| c.field() == Some(f));
        let mut extra: Vec<&str> = Vec::new();
        for (name, _) in &fields.0 {
            if !exempt(name) && !named(name) && !extra.contains(&name.as_str()) {
                extra.push(name);
            }
        }
        if !extra.is_empty() {
            return Err(denied(format!("Extra input fields: {}", extra.join(", "))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> S3Result<PostPolicy> {
        PostPolicy::parse(&base64::engine::general_purpose::STANDARD.encode(json))
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
        )
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    const EXP: &str = "\"expiration\": \"2030-06-01T12:00:00.000Z\"";

    fn check(conditions: &str, form: &[(&str, &str)]) -> Result<(), String> {
        let p = policy(&format!("{{{EXP}, \"conditions\": [{conditions}]}}")).unwrap();
        p.check(&fields(form), "bkt", now())
            .map_err(|e| format!("{}: {}", e.code.as_str(), e.message))
    }

    #[test]
    fn exact_and_eq_match_case_insensitive_names() {
        let c = r#"{"key": "a/b"}, ["eq", "$Content-Type", "text/plain"], {"bucket": "bkt"}"#;
        assert!(check(c, &[("Key", "a/b"), ("content-type", "text/plain")]).is_ok());
        assert_eq!(
            check(c, &[("key", "a/c"), ("Content-Type", "text/plain")]).unwrap_err(),
            r#"AccessDenied: Invalid according to Policy: Policy Condition failed: ["eq", "$key", "a/b"]"#
        );
        // The addressed bucket stands in for a form without a bucket field.
        let other = r#"{"bucket": "other"}, {"key": "k"}"#;
        assert!(check(other, &[("key", "k")]).is_err());
        assert!(check(other, &[("key", "k"), ("bucket", "other")]).is_ok());
    }

    #[test]
    fn starts_with_empty_prefix_and_content_type_lists() {
        let c = r#"["starts-with", "$key", "user/"], ["starts-with", "$Content-Type", "image/"], ["starts-with", "$x-amz-meta-tag", ""]"#;
        let ok = [
            ("key", "user/x"),
            ("content-type", "image/png, image/gif"),
            ("x-amz-meta-tag", "anything"),
        ];
        assert!(check(c, &ok).is_ok());
        let mut bad_list = ok;
        bad_list[1] = ("content-type", "image/png,text/plain");
        assert!(
            check(c, &bad_list)
                .unwrap_err()
                .ends_with(r#"["starts-with", "$content-type", "image/"]"#)
        );
        let mut bad_key = ok;
        bad_key[0] = ("key", "other/x");
        assert!(check(c, &bad_key).unwrap_err().contains("starts-with"));
        // An empty prefix matches a missing field too.
        assert!(check(c, &ok[..2]).is_ok());
    }

    #[test]
    fn extra_fields_are_refused_except_exempt_ones() {
        let c = r#"{"key": "k"}"#;
        let exempt = [
            ("key", "k"),
            ("x-amz-signature", "s"),
            ("Policy", "p"),
            ("x-ignore-me", "1"),
            ("AWSAccessKeyId", "a"),
            ("signature", "s"),
        ];
        assert!(check(c, &exempt).is_ok());
        assert_eq!(
            check(
                c,
                &[("key", "k"), ("x-amz-meta-a", "1"), ("acl", "private")]
            )
            .unwrap_err(),
            "AccessDenied: Invalid according to Policy: Extra input fields: x-amz-meta-a, acl"
        );
    }

    #[test]
    fn expiration_and_length_range() {
        let p = policy(r#"{"expiration": "2029-12-31T23:59:59Z", "conditions": []}"#).unwrap();
        let err = p.check(&Fields::default(), "b", now()).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                S3Code::AccessDenied,
                "Invalid according to Policy: Policy expired."
            )
        );
        let p = policy(&format!(
            "{{{EXP}, \"conditions\": [[\"content-length-range\", 10, \"100\"], [\"content-length-range\", 20, 1000]]}}"
        ))
        .unwrap();
        assert_eq!(p.length_range(), Some((20, 100)));
    }

    #[test]
    fn malformed_documents() {
        for doc in [
            "not json",
            "[]",
            r#"{"conditions": []}"#,
            r#"{"expiration": "tomorrow", "conditions": []}"#,
            r#"{"expiration": "2030-06-01T12:00:00Z"}"#,
            r#"{"expiration": "2030-06-01T12:00:00Z", "conditions": [["ends-with", "$key", "x"]]}"#,
            r#"{"expiration": "2030-06-01T12:00:00Z", "conditions": [["eq", "key", "x"]]}"#,
            r#"{"expiration": "2030-06-01T12:00:00Z", "conditions": [["content-length-range", 10, 1]]}"#,
            r#"{"expiration": "2030-06-01T12:00:00Z", "conditions": [{"a": "1", "b": "2"}]}"#,
            r#"{"expiration": "2030-06-01T12:00:00Z", "conditions": [42]}"#,
        ] {
            let err = policy(doc).unwrap_err();
            assert_eq!(err.code, S3Code::InvalidPolicyDocument, "{doc}");
        }
        assert_eq!(
            PostPolicy::parse("***").unwrap_err().code,
            S3Code::InvalidPolicyDocument
        );
    }
}
