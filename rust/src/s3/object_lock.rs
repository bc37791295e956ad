//! S3 Object Lock (WORM): a bucket's lock configuration (on, and the default retention
//! of new versions), a version's retention and legal hold, and the decisions on them:
//! what a new version gets, whether a version may be deleted, whether its retention
//! may change. Storage keeps the lock as a neutral `StoredLock` beside each version and
//! asks `deletion_guard` under its key lock; every rule lives here.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::dto;
use super::error::{S3Code, S3Error, S3Result};
use crate::storage::interface::{DeleteGuard, ObjectMeta, StoredLock};

/// The header that asks for governance retention to be overridden.
pub const BYPASS_HEADER: &str = "x-amz-bypass-governance-retention";
const MODE_HEADER: &str = "x-amz-object-lock-mode";
const UNTIL_HEADER: &str = "x-amz-object-lock-retain-until-date";
const HOLD_HEADER: &str = "x-amz-object-lock-legal-hold";
/// AWS's upper bounds for a default retention.
const MAX_DAYS: u32 = 36_500;
const MAX_YEARS: u32 = 100;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    /// Deletable and shortenable by who may `s3:BypassGovernanceRetention`.
    Governance,
    /// Nobody deletes or shortens it before it ends.
    Compliance,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "GOVERNANCE" => Some(Mode::Governance),
            "COMPLIANCE" => Some(Mode::Compliance),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Governance => "GOVERNANCE",
            Mode::Compliance => "COMPLIANCE",
        }
    }
}

/// A bucket's object lock configuration, as stored (`ConfigKind::ObjectLock`, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockConfig {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

/// The retention a new version that asks for none gets: a period of days or years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultRetention {
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

/// A retention as set on a version: a mode, and until when (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: Mode,
    pub until: i64,
}

// ---- request documents ---------------------------------------------------------------

#[derive(Deserialize)]
struct ConfigXml {
    #[serde(rename = "ObjectLockEnabled")]
    enabled: Option<String>,
    #[serde(rename = "Rule")]
    rule: Option<RuleXml>,
}

#[derive(Deserialize)]
struct RuleXml {
    #[serde(rename = "DefaultRetention")]
    default_retention: Option<DefaultRetentionXml>,
}

#[derive(Deserialize)]
struct DefaultRetentionXml {
    #[serde(rename = "Mode")]
    mode: Option<String>,
    #[serde(rename = "Days")]
    days: Option<String>,
    #[serde(rename = "Years")]
    years: Option<String>,
}

#[derive(Deserialize)]
struct RetentionXml {
    #[serde(rename = "Mode")]
    mode: Option<String>,
    #[serde(rename = "RetainUntilDate")]
    until: Option<String>,
}

#[derive(Deserialize)]
struct LegalHoldXml {
    #[serde(rename = "Status")]
    status: Option<String>,
}

fn malformed() -> S3Error {
    S3Error::new(S3Code::MalformedXML)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A period of a default retention: a positive whole number up to `max`.
fn period(raw: &str, unit: &str, max: u32) -> S3Result<u32> {
    let n: i64 = raw.trim().parse().map_err(|_| malformed())?;
    if n <= 0 {
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            format!("Default retention period must be a positive integer value for '{unit}'"),
        ));
    }
    if n > max as i64 {
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            format!("Default retention period too large for '{unit}'"),
        ));
    }
    Ok(n as u32)
}

impl LockConfig {
    /// Parses a PutObjectLockConfiguration body: `ObjectLockEnabled` must be `Enabled`;
    /// a rule needs a mode and exactly one of Days and Years (else MalformedXML), each
    /// a positive number (else InvalidArgument).
    pub fn from_xml(body: &[u8]) -> S3Result<LockConfig> {
        let doc: ConfigXml = super::xml::parse_document(body, "ObjectLockConfiguration")?;
        if doc.enabled.as_deref().map(str::trim) != Some("Enabled") {
            return Err(malformed());
        }
        let default_retention = match doc.rule {
            None => None,
            Some(RuleXml {
                default_retention: None,
            }) => return Err(malformed()),
            Some(RuleXml {
                default_retention: Some(d),
            }) => {
                let mode = d
                    .mode
                    .as_deref()
                    .and_then(Mode::parse)
                    .ok_or_else(malformed)?;
                let (days, years) = match (d.days.as_deref(), d.years.as_deref()) {
                    (Some(days), None) => (Some(period(days, "Days", MAX_DAYS)?), None),
                    (None, Some(years)) => (None, Some(period(years, "Years", MAX_YEARS)?)),
                    _ => return Err(malformed()),
                };
                Some(DefaultRetention { mode, days, years })
            }
        };
        Ok(LockConfig {
            enabled: true,
            default_retention,
        })
    }

    /// The configuration a bucket created with `x-amz-bucket-object-lock-enabled` gets.
    pub fn enabled() -> LockConfig {
        LockConfig {
            enabled: true,
            default_retention: None,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a lock configuration serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<LockConfig, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    pub fn to_dto(&self) -> dto::ObjectLockConfiguration {
        dto::ObjectLockConfiguration {
            xmlns: dto::NS,
            object_lock_enabled: "Enabled",
            rule: self
                .default_retention
                .as_ref()
                .map(|d| dto::ObjectLockRule {
                    default_retention: dto::DefaultRetention {
                        mode: d.mode.as_str(),
                        days: d.days,
                        years: d.years,
                    },
                }),
        }
    }

    /// The default retention from `now`, for a new version that asks for none.
    pub fn default_from(&self, now: i64) -> Option<Retention> {
        let d = self.default_retention.as_ref()?;
        let until = match (d.days, d.years) {
            (Some(days), _) => now + days as i64 * DAY_MS,
            (None, Some(years)) => chrono::DateTime::from_timestamp_millis(now)
                .and_then(|t| t.checked_add_months(chrono::Months::new(years * 12)))
                .map_or(now + years as i64 * 365 * DAY_MS, |t| t.timestamp_millis()),
            (None, None) => return None,
        };
        Some(Retention {
            mode: d.mode,
            until,
        })
    }
}

fn parse_date(raw: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

fn in_the_future(until: i64, now: i64) -> S3Result<()> {
    if until <= now {
        return Err(S3Error::msg(
            S3Code::InvalidArgument,
            "The retain until date must be in the future!",
        ));
    }
    Ok(())
}

/// Parses a PutObjectRetention body: a mode and a future date, or neither (which
/// removes a retention, where that is allowed).
pub fn retention_from_xml(body: &[u8], now: i64) -> S3Result<Option<Retention>> {
    let doc: RetentionXml = super::xml::parse_document(body, "Retention")?;
    match (doc.mode, doc.until) {
        (None, None) => Ok(None),
        (Some(mode), Some(until)) => {
            let mode = Mode::parse(&mode).ok_or_else(malformed)?;
            let until = parse_date(&until).ok_or_else(malformed)?;
            in_the_future(until, now)?;
            Ok(Some(Retention { mode, until }))
        }
        _ => Err(malformed()),
    }
}

/// Parses a PutObjectLegalHold body: `ON` or `OFF`.
pub fn legal_hold_from_xml(body: &[u8]) -> S3Result<bool> {
    let doc: LegalHoldXml = super::xml::parse_document(body, "LegalHold")?;
    match doc.status.as_deref().map(str::trim) {
        Some("ON") => Ok(true),
        Some("OFF") => Ok(false),
        _ => Err(malformed()),
    }
}

/// The lock a write's `x-amz-object-lock-*` headers ask for: (retention, legal hold),
/// each None when not asked for.
pub type Requested = (Option<Retention>, Option<bool>);

pub fn requested(headers: &http::HeaderMap, now: i64) -> S3Result<Requested> {
    let header = |name| super::headers::header(headers, name).map(str::trim);
    let retention = match (header(MODE_HEADER), header(UNTIL_HEADER)) {
        (None, None) => None,
        (Some(mode), Some(until)) => {
            let mode = Mode::parse(mode).ok_or_else(|| {
                S3Error::invalid_argument("Unknown wormMode directive.", MODE_HEADER, mode)
            })?;
            let until = parse_date(until).ok_or_else(|| {
                S3Error::invalid_argument(
                    "The retain until date must be provided in ISO 8601 format",
                    UNTIL_HEADER,
                    until,
                )
            })?;
            in_the_future(until, now)?;
            Some(Retention { mode, until })
        }
        _ => {
            return Err(S3Error::msg(
                S3Code::InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
            ));
        }
    };
    let hold = match header(HOLD_HEADER) {
        None => None,
        Some("ON") => Some(true),
        Some("OFF") => Some(false),
        Some(other) => {
            return Err(S3Error::invalid_argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
                HOLD_HEADER,
                other,
            ));
        }
    };
    Ok((retention, hold))
}

/// The lock of a new version in a bucket with `config` (None: lock is off): what the
/// request asks for, else the bucket's default retention. Asking without lock is
/// InvalidRequest, as on AWS.
pub fn lock_for_new(
    config: Option<&LockConfig>,
    (retention, hold): Requested,
    now: i64,
) -> S3Result<StoredLock> {
    let Some(config) = config.filter(|c| c.enabled) else {
        if retention.is_some() || hold.is_some() {
            return Err(missing_configuration());
        }
        return Ok(StoredLock::default());
    };
    let mut lock = StoredLock {
        legal_hold: hold,
        ..Default::default()
    };
    set_retention(&mut lock, retention.or_else(|| config.default_from(now)));
    Ok(lock)
}

/// Refuses a change of versioning that lock forbids (suspending it), as AWS does.
pub fn check_versioning_change(
    settings: &super::bucket_settings::BucketSettings,
    bucket: &str,
    status: &str,
) -> S3Result<()> {
    if status != "Enabled" && settings.object_lock(bucket).is_some() {
        return Err(S3Error::msg(
            S3Code::InvalidBucketState,
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
        ));
    }
    Ok(())
}

pub fn missing_configuration() -> S3Error {
    S3Error::msg(
        S3Code::InvalidRequest,
        "Bucket is missing Object Lock Configuration",
    )
}

/// A version's retention as stored, if it has one.
pub fn retention_of(lock: &StoredLock) -> Option<Retention> {
    let mode = lock.mode.as_deref().and_then(Mode::parse)?;
    Some(Retention {
        mode,
        until: lock.retain_until?,
    })
}

pub fn set_retention(lock: &mut StoredLock, retention: Option<Retention>) {
    lock.mode = retention.map(|r| r.mode.as_str().to_string());
    lock.retain_until = retention.map(|r| r.until);
}

fn protected() -> S3Error {
    S3Error::msg(
        S3Code::AccessDenied,
        "Access Denied because object protected by object lock.",
    )
}

/// Whether a version may be removed for good now: not under legal hold, and past its
/// retention (or under governance retention, with `bypass`).
pub fn check_deletable(lock: &StoredLock, now: i64, bypass: bool) -> S3Result<()> {
    if lock.legal_hold == Some(true) {
        return Err(protected());
    }
    match retention_of(lock) {
        Some(r) if r.until > now && !(r.mode == Mode::Governance && bypass) => Err(protected()),
        _ => Ok(()),
    }
}

/// Whether a version's retention may become `new`: a running COMPLIANCE retention only
/// lengthens (in the same mode); a running GOVERNANCE one is shortened, removed or
/// weakened only with `bypass`. An expired one may become anything.
pub fn check_retention_change(
    old: &StoredLock,
    new: Option<Retention>,
    now: i64,
    bypass: bool,
) -> S3Result<()> {
    let Some(old) = retention_of(old).filter(|r| r.until > now) else {
        return Ok(());
    };
    let keeps = |mode_ok: bool| new.is_some_and(|n| mode_ok && n.until >= old.until);
    let allowed = match old.mode {
        Mode::Compliance => keeps(new.is_some_and(|n| n.mode == Mode::Compliance)),
        Mode::Governance => bypass || keeps(true),
    };
    if allowed { Ok(()) } else { Err(protected()) }
}

/// The guard every deletion of a lock bucket carries, checked by storage under the
/// key's lock on each version it would remove for good (`bypass_governance`: the
/// caller asked for, and may, `s3:BypassGovernanceRetention`). Lifecycle expiration
/// uses it with `false`.
pub fn deletion_guard(bypass_governance: bool) -> DeleteGuard {
    Arc::new(move |meta: &ObjectMeta| {
        check_deletable(&meta.lock, now_ms(), bypass_governance).map_err(Into::into)
    })
}

/// The headers GET and HEAD answer with about a version's lock.
pub fn response_headers(
    lock: &StoredLock,
    show_retention: bool,
    show_hold: bool,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let (Some(r), true) = (retention_of(lock), show_retention) {
        out.push((MODE_HEADER, r.mode.as_str().to_string()));
        out.push((UNTIL_HEADER, super::headers::iso8601(r.until)));
    }
    if let (Some(hold), true) = (lock.legal_hold, show_hold) {
        out.push((HOLD_HEADER, hold_status(hold).to_string()));
    }
    out
}

pub fn hold_status(hold: bool) -> &'static str {
    if hold { "ON" } else { "OFF" }
}

/// Whether a write asks for anything through the lock headers.
pub fn names_lock(headers: &http::HeaderMap) -> bool {
    [MODE_HEADER, UNTIL_HEADER, HOLD_HEADER]
        .iter()
        .any(|h| headers.contains_key(*h))
}

/// Whether a PutObject carries an integrity check of its body (Content-MD5 or a
/// flexible checksum), which AWS requires of writes with object lock parameters.
pub fn has_integrity_check(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        let name = name.as_str();
        name == "content-md5"
            || name == "x-amz-sdk-checksum-algorithm"
            || (name.starts_with("x-amz-checksum-") && name != "x-amz-checksum-type")
    }) || super::headers::header(headers, "x-amz-trailer")
        .is_some_and(|t| t.trim().starts_with("x-amz-checksum-"))
}

pub fn integrity_check_missing() -> S3Error {
    S3Error::msg(
        S3Code::InvalidRequest,
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(inner: &str) -> S3Result<LockConfig> {
        LockConfig::from_xml(
            format!(
                "<ObjectLockConfiguration xmlns=\"{}\">{inner}</ObjectLockConfiguration>",
                dto::NS
            )
            .as_bytes(),
        )
    }

    fn rule(inner: &str) -> S3Result<LockConfig> {
        config(&format!(
            "<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>{inner}</DefaultRetention></Rule>"
        ))
    }

    #[test]
    fn parses_configurations_and_refuses_what_aws_refuses() {
        assert_eq!(
            config("<ObjectLockEnabled>Enabled</ObjectLockEnabled>").unwrap(),
            LockConfig::enabled()
        );
        let days = rule("<Mode>GOVERNANCE</Mode><Days>3</Days>").unwrap();
        assert_eq!(days.default_from(0).unwrap().until, 3 * DAY_MS);
        assert_eq!(LockConfig::from_json(&days.to_json()).unwrap(), days);
        let years = rule("<Mode>COMPLIANCE</Mode><Years>1</Years>").unwrap();
        let r = years.default_from(0).unwrap();
        assert_eq!((r.mode, r.until), (Mode::Compliance, 365 * DAY_MS));
        assert!(
            dto::to_xml(&years.to_dto()).contains(
                "<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>1</Years></DefaultRetention></Rule>"
            )
        );
        for (doc, code) in [
            (config(""), S3Code::MalformedXML),
            (
                config("<ObjectLockEnabled>Disabled</ObjectLockEnabled>"),
                S3Code::MalformedXML,
            ),
            (
                config("<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule></Rule>"),
                S3Code::MalformedXML,
            ),
            (
                rule("<Mode>SOMETIMES</Mode><Days>1</Days>"),
                S3Code::MalformedXML,
            ),
            (rule("<Days>1</Days>"), S3Code::MalformedXML),
            (rule("<Mode>GOVERNANCE</Mode>"), S3Code::MalformedXML),
            (
                rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"),
                S3Code::MalformedXML,
            ),
            (
                rule("<Mode>GOVERNANCE</Mode><Days>x</Days>"),
                S3Code::MalformedXML,
            ),
            (
                rule("<Mode>GOVERNANCE</Mode><Days>0</Days>"),
                S3Code::InvalidArgument,
            ),
            (
                rule("<Mode>GOVERNANCE</Mode><Years>-1</Years>"),
                S3Code::InvalidArgument,
            ),
            (
                rule("<Mode>GOVERNANCE</Mode><Years>101</Years>"),
                S3Code::InvalidArgument,
            ),
        ] {
            assert_eq!(doc.unwrap_err().code, code);
        }
    }

    #[test]
    fn parses_retention_and_legal_hold() {
        let body = |inner: &str| format!("<Retention>{inner}</Retention>").into_bytes();
        let r = retention_from_xml(
            &body("<Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>"),
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.mode, Mode::Compliance);
        assert_eq!(retention_from_xml(&body(""), 0).unwrap(), None);
        let past =
            body("<Mode>GOVERNANCE</Mode><RetainUntilDate>2000-01-01T00:00:00Z</RetainUntilDate>");
        let err = retention_from_xml(&past, now_ms()).unwrap_err();
        assert_eq!(err.code, S3Code::InvalidArgument);
        assert_eq!(err.message, "The retain until date must be in the future!");
        for bad in [
            body("<Mode>NONE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>"),
            body("<Mode>GOVERNANCE</Mode>"),
            body("<Mode>GOVERNANCE</Mode><RetainUntilDate>tomorrow</RetainUntilDate>"),
        ] {
            assert_eq!(
                retention_from_xml(&bad, 0).unwrap_err().code,
                S3Code::MalformedXML
            );
        }
        assert!(legal_hold_from_xml(b"<LegalHold><Status>ON</Status></LegalHold>").unwrap());
        assert!(!legal_hold_from_xml(b"<LegalHold><Status>OFF</Status></LegalHold>").unwrap());
        assert_eq!(
            legal_hold_from_xml(b"<LegalHold><Status>on</Status></LegalHold>")
                .unwrap_err()
                .code,
            S3Code::MalformedXML
        );
    }

    fn lock(mode: Mode, until: i64, hold: bool) -> StoredLock {
        let mut l = StoredLock {
            legal_hold: hold.then_some(true),
            ..Default::default()
        };
        set_retention(&mut l, Some(Retention { mode, until }));
        l
    }

    #[test]
    fn deletion_decisions() {
        let now = 1_000;
        assert!(check_deletable(&StoredLock::default(), now, false).is_ok());
        assert!(check_deletable(&lock(Mode::Compliance, 2_000, false), now, true).is_err());
        assert!(check_deletable(&lock(Mode::Compliance, 500, false), now, false).is_ok());
        assert!(check_deletable(&lock(Mode::Governance, 2_000, false), now, false).is_err());
        assert!(check_deletable(&lock(Mode::Governance, 2_000, false), now, true).is_ok());
        let held = StoredLock {
            legal_hold: Some(true),
            ..Default::default()
        };
        assert!(check_deletable(&held, now, true).is_err());
        let guard = deletion_guard(false);
        let mut meta = ObjectMeta::new("b", "k", 0, String::new(), Default::default(), vec![]);
        assert!(guard(&meta).is_ok());
        meta.lock = held;
        assert!(matches!(
            guard(&meta),
            Err(crate::storage::Error::Refused(_))
        ));
    }

    #[test]
    fn retention_change_decisions() {
        let now = 1_000;
        let r = |mode, until| Some(Retention { mode, until });
        let compliance = lock(Mode::Compliance, 2_000, false);
        assert!(
            check_retention_change(&compliance, r(Mode::Compliance, 3_000), now, false).is_ok()
        );
        assert!(
            check_retention_change(&compliance, r(Mode::Compliance, 1_500), now, true).is_err()
        );
        assert!(
            check_retention_change(&compliance, r(Mode::Governance, 3_000), now, true).is_err()
        );
        assert!(check_retention_change(&compliance, None, now, true).is_err());
        let governance = lock(Mode::Governance, 2_000, false);
        assert!(
            check_retention_change(&governance, r(Mode::Governance, 3_000), now, false).is_ok()
        );
        assert!(
            check_retention_change(&governance, r(Mode::Compliance, 3_000), now, false).is_ok()
        );
        assert!(
            check_retention_change(&governance, r(Mode::Governance, 1_500), now, false).is_err()
        );
        assert!(check_retention_change(&governance, None, now, false).is_err());
        assert!(check_retention_change(&governance, None, now, true).is_ok());
        // Expired: anything goes.
        let expired = lock(Mode::Compliance, 500, false);
        assert!(check_retention_change(&expired, None, now, false).is_ok());
    }

    #[test]
    fn new_versions_get_the_request_or_the_default() {
        let config = LockConfig {
            enabled: true,
            default_retention: Some(DefaultRetention {
                mode: Mode::Governance,
                days: Some(1),
                years: None,
            }),
        };
        let d = lock_for_new(Some(&config), (None, None), 0).unwrap();
        assert_eq!(d, lock(Mode::Governance, DAY_MS, false));
        let asked = Some(Retention {
            mode: Mode::Compliance,
            until: 5,
        });
        let a = lock_for_new(Some(&config), (asked, Some(true)), 0).unwrap();
        assert_eq!(a, lock(Mode::Compliance, 5, true));
        assert_eq!(
            lock_for_new(None, (None, Some(false)), 0).unwrap_err().code,
            S3Code::InvalidRequest
        );
        assert!(lock_for_new(None, (None, None), 0).unwrap().is_empty());
    }
}
