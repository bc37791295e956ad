//! Reads a PutBucketLifecycleConfiguration body and checks it as AWS does: a document
//! that does not fit the schema (two conditions in a Filter outside `And`, Days and
//! Date together, an unknown element, a non-number) is MalformedXML; values the schema
//! allows but S3 refuses (days <= 0, a Date not at midnight, duplicate IDs, more than
//! 1,000 rules, ...) are InvalidArgument; a rule without an action is InvalidRequest.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

use super::dates::parse_date;
use super::{
    Expiration, Filter, FilterShape, LifecycleConfig, NoncurrentExpiration, NoncurrentTransition,
    Rule, STORAGE_CLASSES, Transition,
};
use crate::s3::error::{S3Code, S3Error, S3Result};

pub const MAX_RULES: usize = 1000;
pub const MAX_ID_LEN: usize = 255;
/// NewerNoncurrentVersions: 1 to 100.
pub const MAX_NEWER_NONCURRENT: u32 = 100;

#[derive(Deserialize)]
struct ConfigurationXml {
    #[serde(rename = "Rule", default)]
    rules: Vec<RuleXml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleXml {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "Filter")]
    filter: Option<FilterXml>,
    #[serde(rename = "Prefix")]
    prefix: Option<String>,
    #[serde(rename = "Expiration")]
    expiration: Option<ExpirationXml>,
    #[serde(rename = "NoncurrentVersionExpiration")]
    noncurrent_expiration: Option<NoncurrentXml>,
    #[serde(rename = "AbortIncompleteMultipartUpload")]
    abort: Option<AbortXml>,
    #[serde(rename = "Transition", default)]
    transitions: Vec<TransitionXml>,
    #[serde(rename = "NoncurrentVersionTransition", default)]
    noncurrent_transitions: Vec<NoncurrentXml>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilterXml {
    #[serde(rename = "Prefix")]
    prefix: Option<String>,
    #[serde(rename = "Tag")]
    tag: Option<TagXml>,
    #[serde(rename = "ObjectSizeGreaterThan")]
    size_gt: Option<String>,
    #[serde(rename = "ObjectSizeLessThan")]
    size_lt: Option<String>,
    #[serde(rename = "And")]
    and: Option<AndXml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AndXml {
    #[serde(rename = "Prefix")]
    prefix: Option<String>,
    #[serde(rename = "Tag", default)]
    tags: Vec<TagXml>,
    #[serde(rename = "ObjectSizeGreaterThan")]
    size_gt: Option<String>,
    #[serde(rename = "ObjectSizeLessThan")]
    size_lt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagXml {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpirationXml {
    #[serde(rename = "Days")]
    days: Option<String>,
    #[serde(rename = "Date")]
    date: Option<String>,
    #[serde(rename = "ExpiredObjectDeleteMarker")]
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionXml {
    #[serde(rename = "Days")]
    days: Option<String>,
    #[serde(rename = "Date")]
    date: Option<String>,
    #[serde(rename = "StorageClass")]
    storage_class: Option<String>,
}

/// NoncurrentVersionExpiration and NoncurrentVersionTransition.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoncurrentXml {
    #[serde(rename = "NoncurrentDays")]
    days: Option<String>,
    #[serde(rename = "NewerNoncurrentVersions")]
    newer: Option<String>,
    #[serde(rename = "StorageClass")]
    storage_class: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortXml {
    #[serde(rename = "DaysAfterInitiation")]
    days: Option<String>,
}

fn malformed() -> S3Error {
    S3Error::new(S3Code::MalformedXML)
}

fn invalid(message: impl Into<String>) -> S3Error {
    S3Error::msg(S3Code::InvalidArgument, message)
}

/// An integer element: not a number is MalformedXML (the schema's type).
fn number(text: &str) -> S3Result<i64> {
    text.trim().parse().map_err(|_| malformed())
}

/// A day count that must be positive (`what` names it in the message, as AWS does).
fn positive_days(text: &str, what: &str) -> S3Result<u32> {
    let n = number(text)?;
    if n <= 0 {
        return Err(invalid(format!("'{what}' must be a positive integer")));
    }
    u32::try_from(n).map_err(|_| invalid(format!("'{what}' is too large")))
}

fn size(text: &str) -> S3Result<u64> {
    let n = number(text)?;
    u64::try_from(n).map_err(|_| invalid("Object size filters must be non-negative"))
}

fn date(text: &str) -> S3Result<i64> {
    match parse_date(text) {
        None => Err(malformed()),
        Some(Err(())) => Err(invalid("'Date' must be at midnight GMT")),
        Some(Ok(secs)) => Ok(secs),
    }
}

fn newer_versions(text: Option<&str>) -> S3Result<Option<u32>> {
    text.map(|t| {
        let n = number(t)?;
        if !(1..=i64::from(MAX_NEWER_NONCURRENT)).contains(&n) {
            return Err(invalid(
                "'NewerNoncurrentVersions' must be a positive integer no greater than 100",
            ));
        }
        Ok(n as u32)
    })
    .transpose()
}

fn tag(t: TagXml, tags: &mut BTreeMap<String, String>) -> S3Result<()> {
    let (Some(key), value) = (t.key, t.value) else {
        return Err(malformed());
    };
    let value = value.unwrap_or_default();
    if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
        return Err(S3Error::new(S3Code::InvalidTag));
    }
    if tags.insert(key, value).is_some() {
        return Err(invalid("Duplicate Tag Keys are not allowed."));
    }
    Ok(())
}

fn filter(xml: Option<FilterXml>, rule_prefix: Option<String>) -> S3Result<Filter> {
    let xml = match (xml, rule_prefix) {
        (Some(_), Some(_)) | (None, None) => return Err(malformed()),
        (None, Some(prefix)) => {
            return Ok(Filter {
                shape: FilterShape::RulePrefix,
                prefix: Some(prefix),
                ..Default::default()
            });
        }
        (Some(f), None) => f,
    };
    let conditions = [
        xml.prefix.is_some(),
        xml.tag.is_some(),
        xml.size_gt.is_some(),
        xml.size_lt.is_some(),
        xml.and.is_some(),
    ];
    if conditions.iter().filter(|c| **c).count() > 1 {
        return Err(malformed());
    }
    let mut out = Filter::default();
    let (size_gt, size_lt) = match xml.and {
        Some(and) => {
            out.shape = FilterShape::And;
            out.prefix = and.prefix;
            for t in and.tags {
                tag(t, &mut out.tags)?;
            }
            (and.size_gt, and.size_lt)
        }
        None => {
            out.prefix = xml.prefix;
            if let Some(t) = xml.tag {
                tag(t, &mut out.tags)?;
            }
            (xml.size_gt, xml.size_lt)
        }
    };
    out.size_greater_than = size_gt.as_deref().map(size).transpose()?;
    out.size_less_than = size_lt.as_deref().map(size).transpose()?;
    if let (Some(gt), Some(lt)) = (out.size_greater_than, out.size_less_than)
        && gt >= lt
    {
        return Err(invalid(
            "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
        ));
    }
    Ok(out)
}

fn storage_class(text: Option<String>) -> S3Result<String> {
    let class = text.map(|c| c.trim().to_string()).ok_or_else(malformed)?;
    if !STORAGE_CLASSES.contains(&class.as_str()) {
        return Err(malformed());
    }
    Ok(class)
}

fn expiration(xml: ExpirationXml) -> S3Result<Expiration> {
    let marker = match xml.marker.as_deref().map(str::trim) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(malformed()),
    };
    match (&xml.days, &xml.date, marker) {
        (Some(_), Some(_), _) | (None, None, None) => return Err(malformed()),
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            return Err(invalid(
                "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.",
            ));
        }
        _ => {}
    }
    Ok(Expiration {
        days: xml
            .days
            .as_deref()
            .map(|d| positive_days(d, "Days' for Expiration action"))
            .transpose()?,
        date: xml.date.as_deref().map(date).transpose()?,
        expired_object_delete_marker: marker,
    })
}

fn transition(xml: TransitionXml) -> S3Result<Transition> {
    let storage_class = storage_class(xml.storage_class)?;
    let days = match (&xml.days, &xml.date) {
        (Some(_), Some(_)) | (None, None) => return Err(malformed()),
        (Some(d), None) => {
            let n = number(d)?;
            if n < 0 {
                return Err(invalid("'Days' in Transition action must be nonnegative"));
            }
            if n < 30 && (storage_class == "STANDARD_IA" || storage_class == "ONEZONE_IA") {
                return Err(invalid(format!(
                    "'Days' in Transition action must be greater than or equal to 30 for storageClass '{storage_class}'"
                )));
            }
            Some(u32::try_from(n).map_err(|_| invalid("'Days' is too large"))?)
        }
        (None, Some(_)) => None,
    };
    Ok(Transition {
        days,
        date: xml.date.as_deref().map(date).transpose()?,
        storage_class,
    })
}

fn rule(xml: RuleXml) -> S3Result<Rule> {
    let enabled = match xml.status.as_deref().map(str::trim) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(malformed()),
    };
    let id = match xml.id {
        Some(id) if id.chars().count() > MAX_ID_LEN => {
            return Err(invalid("ID length should not exceed allowed limit of 255"));
        }
        Some(id) if !id.is_empty() => id,
        // AWS names a rule without an ID itself.
        _ => generated_id(),
    };
    let filter = filter(xml.filter, xml.prefix)?;
    let expiration = xml.expiration.map(expiration).transpose()?;
    let noncurrent_expiration = xml
        .noncurrent_expiration
        .map(|n| {
            if n.storage_class.is_some() {
                return Err(malformed());
            }
            let days = n.days.as_deref().ok_or_else(malformed)?;
            Ok(NoncurrentExpiration {
                noncurrent_days: positive_days(
                    days,
                    "NoncurrentDays' for NoncurrentVersionExpiration action",
                )?,
                newer_noncurrent_versions: newer_versions(n.newer.as_deref())?,
            })
        })
        .transpose()?;
    let abort_upload_days = xml
        .abort
        .map(|a| {
            let days = a.days.as_deref().ok_or_else(malformed)?;
            positive_days(
                days,
                "DaysAfterInitiation' for AbortIncompleteMultipartUpload action",
            )
        })
        .transpose()?;
    let transitions = xml
        .transitions
        .into_iter()
        .map(transition)
        .collect::<S3Result<Vec<_>>>()?;
    let noncurrent_transitions = xml
        .noncurrent_transitions
        .into_iter()
        .map(|n| {
            let days = n.days.as_deref().ok_or_else(malformed)?;
            let days = number(days)?;
            if days < 0 {
                return Err(invalid(
                    "'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative",
                ));
            }
            Ok(NoncurrentTransition {
                noncurrent_days: u32::try_from(days)
                    .map_err(|_| invalid("'NoncurrentDays' is too large"))?,
                newer_noncurrent_versions: newer_versions(n.newer.as_deref())?,
                storage_class: storage_class(n.storage_class)?,
            })
        })
        .collect::<S3Result<Vec<_>>>()?;
    let rule = Rule {
        id,
        enabled,
        filter,
        expiration,
        noncurrent_expiration,
        abort_upload_days,
        transitions,
        noncurrent_transitions,
    };
    check_rule(&rule)?;
    Ok(rule)
}

/// The checks across a rule's parts.
fn check_rule(rule: &Rule) -> S3Result<()> {
    if rule.expiration.is_none()
        && rule.noncurrent_expiration.is_none()
        && rule.abort_upload_days.is_none()
        && rule.transitions.is_empty()
        && rule.noncurrent_transitions.is_empty()
    {
        return Err(S3Error::msg(
            S3Code::InvalidRequest,
            "At least one action needs to be specified in a rule",
        ));
    }
    let sized = rule.filter.size_greater_than.is_some() || rule.filter.size_less_than.is_some();
    if rule.abort_upload_days.is_some() && (rule.filter.has_tags() || sized) {
        return Err(invalid(
            "AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters.",
        ));
    }
    if rule.filter.has_tags()
        && rule
            .expiration
            .as_ref()
            .is_some_and(|e| e.expired_object_delete_marker.is_some())
    {
        return Err(invalid(
            "ExpiredObjectDeleteMarker cannot be specified with Tags.",
        ));
    }
    if let (Some(days), Some(t)) = (
        rule.expiration.as_ref().and_then(|e| e.days),
        rule.transitions.iter().filter_map(|t| t.days).max(),
    ) && days <= t
    {
        return Err(invalid(
            "'Days' in the Expiration action for filter must be greater than 'Days' in the Transition action",
        ));
    }
    Ok(())
}

/// A rule ID as AWS makes one when none is given.
fn generated_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..48)
        .map(|_| {
            let n: u8 = rng.random_range(0..36);
            char::from(if n < 10 { b'0' + n } else { b'A' + n - 10 })
        })
        .collect()
}

impl LifecycleConfig {
    /// Parses and checks a PutBucketLifecycleConfiguration body.
    pub fn from_xml(body: &[u8]) -> S3Result<LifecycleConfig> {
        let doc: ConfigurationXml = crate::s3::xml::parse_document(body, "LifecycleConfiguration")?;
        if doc.rules.is_empty() {
            return Err(malformed());
        }
        if doc.rules.len() > MAX_RULES {
            return Err(invalid(
                "The number of lifecycle rules should not exceed allowed limit of 1000 rules",
            ));
        }
        let rules = doc
            .rules
            .into_iter()
            .map(rule)
            .collect::<S3Result<Vec<_>>>()?;
        let mut ids = HashSet::new();
        if !rules.iter().all(|r| ids.insert(r.id.as_str())) {
            return Err(invalid(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
        Ok(LifecycleConfig { rules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::dto;

    fn doc(rules: &str) -> Vec<u8> {
        format!(
            "<LifecycleConfiguration xmlns=\"{}\">{rules}</LifecycleConfiguration>",
            dto::NS
        )
        .into_bytes()
    }

    fn code(rules: &str) -> S3Code {
        LifecycleConfig::from_xml(&doc(rules)).unwrap_err().code
    }

    #[test]
    fn round_trips_every_element() {
        let rules = "<Rule><ID>all</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>100</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition><NoncurrentVersionTransition><NoncurrentDays>5</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition><Expiration><Days>365</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule><Rule><ID>legacy</ID><Prefix>tmp/</Prefix><Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>";
        let config = LifecycleConfig::from_xml(&doc(rules)).unwrap();
        assert_eq!(config.rules.len(), 2);
        let all = &config.rules[0];
        assert!(all.enabled);
        assert_eq!(all.filter.shape, FilterShape::And);
        assert_eq!(all.filter.tags.get("a").map(String::as_str), Some("1"));
        assert_eq!(
            all.noncurrent_expiration
                .as_ref()
                .unwrap()
                .newer_noncurrent_versions,
            Some(2)
        );
        assert_eq!(config.rules[1].filter.shape, FilterShape::RulePrefix);
        assert_eq!(
            LifecycleConfig::from_json(&config.to_json()).unwrap(),
            config
        );
        let answered = dto::to_xml(&config.to_dto());
        let again = LifecycleConfig::from_xml(answered.as_bytes()).unwrap();
        assert_eq!(again, config, "{answered}");
    }

    #[test]
    fn names_rules_without_an_id() {
        let config = LifecycleConfig::from_xml(&doc(
            "<Rule><Filter></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
        ))
        .unwrap();
        assert_eq!(config.rules[0].id.len(), 48);
        assert!(config.rules[0].filter.matches("any", &BTreeMap::new(), 0));
    }

    #[test]
    fn refuses_what_aws_refuses() {
        let exp = |filter: &str, action: &str| {
            format!("<Rule><ID>r</ID>{filter}<Status>Enabled</Status>{action}</Rule>")
        };
        let days = "<Expiration><Days>1</Days></Expiration>";
        let cases = [
            (String::new(), S3Code::MalformedXML),
            (exp("<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>", days), S3Code::MalformedXML),
            (exp("<Filter/>", "<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"), S3Code::MalformedXML),
            (exp("<Filter/>", "<Expiration></Expiration>"), S3Code::MalformedXML),
            (exp("<Filter/>", "<Expiration><Days>x</Days></Expiration>"), S3Code::MalformedXML),
            (exp("", days), S3Code::MalformedXML),
            (exp("<Filter/><Prefix>a</Prefix>", days), S3Code::MalformedXML),
            (exp("<Filter/>", "<Bogus/>"), S3Code::MalformedXML),
            ("<Rule><Filter/><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule>".into(), S3Code::MalformedXML),
            (exp("<Filter/>", "<Transition><Days>1</Days><StorageClass>TAPE</StorageClass></Transition>"), S3Code::MalformedXML),
            (exp("<Filter/>", "<Expiration><Days>0</Days></Expiration>"), S3Code::InvalidArgument),
            (exp("<Filter/>", "<Expiration><Days>-1</Days></Expiration>"), S3Code::InvalidArgument),
            (exp("<Filter/>", "<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"), S3Code::InvalidArgument),
            (exp("<Filter/>", "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"), S3Code::InvalidArgument),
            (exp("<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>"), S3Code::InvalidArgument),
            (exp("<Filter/>", "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"), S3Code::InvalidArgument),
            (exp("<Filter/>", "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>"), S3Code::InvalidArgument),
            (exp("<Filter/>", "<Transition><Days>1</Days><StorageClass>STANDARD_IA</StorageClass></Transition>"), S3Code::InvalidArgument),
            (exp("<Filter><And><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter>", days), S3Code::InvalidArgument),
            (exp("<Filter/>", ""), S3Code::InvalidRequest),
            (exp("<Filter/>", days).repeat(2), S3Code::InvalidArgument),
            (format!("<Rule><ID>{}</ID><Filter/><Status>Enabled</Status>{days}</Rule>", "x".repeat(256)), S3Code::InvalidArgument),
            ("<Rule><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>".repeat(1001), S3Code::InvalidArgument),
        ];
        for (rules, expected) in cases {
            assert_eq!(code(&rules), expected, "{rules}");
        }
    }
}
