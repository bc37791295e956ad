//! Bucket lifecycle rules (PutBucketLifecycleConfiguration): the validated model kept
//! as the bucket's `Lifecycle` document (JSON), which objects a rule picks, and when
//! they become eligible (`dates`). `parse` reads and checks the request XML as AWS
//! does; `worker` applies the Enabled rules in the background.

pub mod dates;
pub mod parse;
pub mod worker;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::dto;
use crate::storage::interface::ObjectMeta;

/// The storage classes a transition may name (there is one tier here: they are kept
/// and answered, never acted on).
pub const STORAGE_CLASSES: [&str; 6] = [
    "GLACIER",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// AbortIncompleteMultipartUpload's DaysAfterInitiation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_upload_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
}

/// Which objects a rule applies to. `shape` keeps how the request said it, so that
/// GET answers the same document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub shape: FilterShape,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FilterShape {
    /// `<Filter>` with at most one condition.
    #[default]
    Single,
    /// `<Filter><And>...</And></Filter>`.
    And,
    /// The legacy `<Prefix>` of a rule without `<Filter>`.
    RulePrefix,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Seconds since the epoch, at midnight UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoncurrentExpiration {
    pub noncurrent_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    pub storage_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoncurrentTransition {
    pub noncurrent_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<u32>,
    pub storage_class: String,
}

impl Filter {
    /// Whether an object (or version) of `key` with these tags and size is picked.
    pub fn matches(&self, key: &str, tags: &BTreeMap<String, String>, size: u64) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
            && self.size_greater_than.is_none_or(|gt| size > gt)
            && self.size_less_than.is_none_or(|lt| size < lt)
    }

    /// Whether a delete marker of `key` is picked: it has no tags and no size, so only a
    /// filter without tag or size conditions picks it.
    pub fn matches_marker(&self, key: &str) -> bool {
        self.tags.is_empty()
            && self.size_greater_than.is_none()
            && self.size_less_than.is_none()
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
    }

    pub fn has_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    fn to_dto(&self) -> (Option<dto::LifecycleFilter>, Option<dto::Text>) {
        let tags = || {
            self.tags
                .iter()
                .map(|(k, v)| dto::Tag {
                    key: k.clone().into(),
                    value: v.clone().into(),
                })
                .collect::<Vec<_>>()
        };
        match self.shape {
            FilterShape::RulePrefix => (None, Some(self.prefix.clone().unwrap_or_default().into())),
            FilterShape::And => (
                Some(dto::LifecycleFilter {
                    and: Some(dto::LifecycleAnd {
                        prefix: self.prefix.clone().map(Into::into),
                        tags: tags(),
                        size_greater_than: self.size_greater_than,
                        size_less_than: self.size_less_than,
                    }),
                    ..Default::default()
                }),
                None,
            ),
            FilterShape::Single => (
                Some(dto::LifecycleFilter {
                    prefix: self.prefix.clone().map(Into::into),
                    tag: tags().into_iter().next(),
                    size_greater_than: self.size_greater_than,
                    size_less_than: self.size_less_than,
                    and: None,
                }),
                None,
            ),
        }
    }
}

impl LifecycleConfig {
    /// The stored form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a lifecycle configuration serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<LifecycleConfig, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// The GetBucketLifecycleConfiguration document.
    pub fn to_dto(&self) -> dto::LifecycleConfiguration {
        let date = |secs: i64| dates::iso_midnight(secs).into();
        dto::LifecycleConfiguration {
            xmlns: dto::NS,
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let (filter, prefix) = r.filter.to_dto();
                    dto::LifecycleRule {
                        id: r.id.clone().into(),
                        filter,
                        prefix,
                        status: if r.enabled { "Enabled" } else { "Disabled" },
                        transitions: r
                            .transitions
                            .iter()
                            .map(|t| dto::LifecycleTransition {
                                date: t.date.map(date),
                                days: t.days,
                                storage_class: t.storage_class.clone().into(),
                            })
                            .collect(),
                        noncurrent_transitions: r
                            .noncurrent_transitions
                            .iter()
                            .map(|t| dto::NoncurrentVersionTransition {
                                noncurrent_days: t.noncurrent_days,
                                storage_class: t.storage_class.clone().into(),
                                newer_noncurrent_versions: t.newer_noncurrent_versions,
                            })
                            .collect(),
                        expiration: r.expiration.as_ref().map(|e| dto::LifecycleExpiration {
                            date: e.date.map(date),
                            days: e.days,
                            expired_object_delete_marker: e.expired_object_delete_marker,
                        }),
                        noncurrent_expiration: r.noncurrent_expiration.as_ref().map(|n| {
                            dto::NoncurrentVersionExpiration {
                                noncurrent_days: n.noncurrent_days,
                                newer_noncurrent_versions: n.newer_noncurrent_versions,
                            }
                        }),
                        abort_incomplete_multipart_upload: r.abort_upload_days.map(|d| {
                            dto::AbortIncompleteMultipartUpload {
                                days_after_initiation: d,
                            }
                        }),
                    }
                })
                .collect(),
        }
    }

    /// When the current object `meta` expires under the Enabled Expiration rules, and by
    /// which rule (the earliest, as `x-amz-expiration` names it); seconds since the epoch.
    pub fn current_expiry(&self, meta: &ObjectMeta, clock: dates::Clock) -> Option<(i64, &str)> {
        if meta.delete_marker {
            return None;
        }
        self.enabled()
            .filter(|r| r.filter.matches(&meta.key, &meta.tags, meta.size))
            .filter_map(|r| {
                let e = r.expiration.as_ref()?;
                let at = match (e.days, e.date) {
                    (Some(days), _) => clock.eligible_at(meta.last_modified, days),
                    (None, Some(date)) => clock.date(date),
                    (None, None) => return None,
                };
                Some((at, r.id.as_str()))
            })
            .min_by_key(|(at, _)| *at)
    }
}

/// The `x-amz-expiration` value of a current object, if a rule will expire it.
pub fn expiration_header(
    config: Option<&LifecycleConfig>,
    meta: &ObjectMeta,
    clock: dates::Clock,
) -> Option<String> {
    let (at, rule) = config?.current_expiry(meta, clock)?;
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    let rule = rule.replace('\\', "\\\\").replace('"', "\\\"");
    Some(format!(
        "expiry-date=\"{}\", rule-id=\"{rule}\"",
        httpdate::fmt_http_date(when)
    ))
}
