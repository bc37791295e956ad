//! Bucket policies in AWS's JSON grammar: parsing with AWS's validation errors,
//! and evaluation (explicit Deny > Allow > no opinion).

use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;

use super::error::{S3Code, S3Error, S3Result};

pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Condition keys on an existing object's tags (`s3:ExistingObjectTag/<key>`, lowercased).
pub const EXISTING_OBJECT_TAG: &str = "s3:existingobjecttag/";

/// S3 actions a bucket policy may name, and whether each applies to objects
/// (`arn:aws:s3:::bucket/key`) or to the bucket (`arn:aws:s3:::bucket`).
const OBJECT_ACTIONS: [&str; 30] = [
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionTorrent",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging",
    "s3:RestoreObject",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:BypassGovernanceRetention",
];
const BUCKET_ACTIONS: [&str; 47] = [
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucketWebsite",
    "s3:DeleteBucketOwnershipControls",
    "s3:GetAccelerateConfiguration",
    "s3:GetAnalyticsConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetEncryptionConfiguration",
    "s3:GetInventoryConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetMetricsConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:PutAccelerateConfiguration",
    "s3:PutBucketAcl",
    "s3:PutBucketCORS",
    "s3:PutBucketLogging",
    "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketRequestPayment",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutBucketWebsite",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:PutInventoryConfiguration",
    "s3:PutMetricsConfiguration",
];
const SERVICE_ACTIONS: [&str; 2] = ["s3:ListAllMyBuckets", "s3:ListBuckets"];

/// Whether an action pattern names any S3 action we know, and which kinds it covers.
fn action_kinds(pattern: &str) -> (bool, bool) {
    let covers = |list: &[&str]| list.iter().any(|a| wildcard_match(pattern, a, true));
    (
        covers(&OBJECT_ACTIONS),
        covers(&BUCKET_ACTIONS) || covers(&SERVICE_ACTIONS),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list that may be negated (`Action` vs `NotAction`, ...).
#[derive(Debug, Clone)]
struct Matcher {
    patterns: Vec<String>,
    negated: bool,
}

#[derive(Debug, Clone)]
enum Principals {
    Any,
    Some(Vec<String>),
}

#[derive(Debug, Clone)]
struct Condition {
    operator: String,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principal: Option<(Principals, bool)>,
    action: Matcher,
    resource: Matcher,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// Who is asking, and about what.
pub struct Request<'a> {
    /// The access key that signed the request; None for anonymous requests.
    pub principal: Option<&'a str>,
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition keys, lowercased (`aws:sourceip`, `s3:prefix`, ...).
    pub context: &'a HashMap<String, String>,
}

fn malformed(reason: &str) -> S3Error {
    S3Error::msg(S3Code::MalformedPolicy, reason)
}

fn strings(value: &Value, what: &str) -> S3Result<Vec<String>> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(malformed(&format!(
                    "{what} must be a string or a list of strings"
                ))),
            })
            .collect(),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err(malformed(&format!(
            "{what} must be a string or a list of strings"
        ))),
    }
}

/// `*` (any run of characters, `/` included) and `?` (any one character)
/// wildcards; `fold` compares case-insensitively (actions).
///
/// A `*` or `?` in the pattern is always a wildcard, never a literal: the policy
/// grammar has no escape for them, and a `*` in the text (a key may contain one)
/// must not be consumed as a literal match of the pattern's `*`, or a key like
/// `secret/*x` would slip past a Deny on `secret/*`.
pub fn wildcard_match(pattern: &str, text: &str, fold: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Greedy matching with backtracking to the last `*`: O(len(p) * len(t)).
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

const OPERATORS: [&str; 18] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "IpAddress",
    "NotIpAddress",
    "Bool",
    "Null",
    "DateLessThan",
    "DateGreaterThan",
];

impl Policy {
    /// Parses and validates a policy for `bucket`, as PutBucketPolicy does.
    pub fn parse(text: &[u8], bucket: &str) -> S3Result<Policy> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(malformed("Policies must be less than 20 KB"));
        }
        let doc: Value = serde_json::from_slice(text)
            .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        let obj = doc.as_object().ok_or_else(|| {
            malformed("Policies must be valid JSON and the first byte must be '{'")
        })?;
        if let Some(version) = obj.get("Version")
            && !matches!(version.as_str(), Some("2012-10-17") | Some("2008-10-17"))
        {
            return Err(malformed("The policy must contain a valid version string"));
        }
        let statements = match obj.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items.clone(),
            Some(item @ Value::Object(_)) => vec![item.clone()],
            _ => return Err(malformed("Missing required field Statement")),
        };
        let statements = statements
            .iter()
            .map(|s| Self::parse_statement(s, bucket))
            .collect::<S3Result<Vec<_>>>()?;
        Ok(Policy { statements })
    }

    fn parse_statement(value: &Value, bucket: &str) -> S3Result<Statement> {
        let obj = value
            .as_object()
            .ok_or_else(|| malformed("Statement must be an object"))?;
        let effect = match obj.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(malformed("Invalid effect")),
        };
        let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
            (Some(p), None) => Some((Self::parse_principal(p)?, false)),
            (None, Some(p)) => Some((Self::parse_principal(p)?, true)),
            (None, None) => return Err(malformed("Missing required field Principal")),
            _ => {
                return Err(malformed(
                    "Principal and NotPrincipal cannot both be present",
                ));
            }
        };
        let action = Self::matcher(obj, "Action", "NotAction")?;
        for a in &action.patterns {
            let (object, bucket_level) = action_kinds(a);
            if !(object || bucket_level) {
                return Err(malformed("Policy has invalid action"));
            }
        }
        let resource = Self::matcher(obj, "Resource", "NotResource")?;
        for r in &resource.patterns {
            let Some(rest) = r.strip_prefix("arn:aws:s3:::") else {
                return Err(malformed("Policy has invalid resource"));
            };
            let resource_bucket = rest.split('/').next().unwrap_or_default();
            if !wildcard_match(resource_bucket, bucket, false) {
                return Err(malformed("Policy has invalid resource"));
            }
        }
        // Some action must be able to apply to some resource (object actions need
        // `bucket/...` resources, bucket actions the bucket itself).
        if !action.negated && !resource.negated {
            let applies = action.patterns.iter().any(|a| {
                let (object, bucket_level) = action_kinds(a);
                resource.patterns.iter().any(|r| {
                    let is_object_resource =
                        r.trim_start_matches("arn:aws:s3:::").contains('/') || r.ends_with('*');
                    let is_bucket_resource = !r.trim_start_matches("arn:aws:s3:::").contains('/');
                    (object && is_object_resource) || (bucket_level && is_bucket_resource)
                })
            });
            if !applies {
                return Err(malformed(
                    "Action does not apply to any resource(s) in statement",
                ));
            }
        }
        let mut conditions = Vec::new();
        if let Some(cond) = obj.get("Condition") {
            let cond = cond
                .as_object()
                .ok_or_else(|| malformed("Condition must be an object"))?;
            for (op, keys) in cond {
                let bare = op.split_once(':').map_or(op.as_str(), |(_, o)| o); // ForAnyValue:/ForAllValues:
                let (base, if_exists) = match bare.strip_suffix("IfExists") {
                    Some(b) => (b, true),
                    None => (bare, false),
                };
                if !OPERATORS.contains(&base) {
                    return Err(malformed(&format!("Invalid Condition type : {op}")));
                }
                let keys = keys
                    .as_object()
                    .ok_or_else(|| malformed("Condition block must map keys to values"))?;
                for (key, values) in keys {
                    conditions.push(Condition {
                        operator: base.to_string(),
                        if_exists,
                        key: key.to_ascii_lowercase(),
                        values: strings(values, "Condition value")?,
                    });
                }
            }
        }
        Ok(Statement {
            effect,
            principal,
            action,
            resource,
            conditions,
        })
    }

    fn parse_principal(value: &Value) -> S3Result<Principals> {
        match value {
            Value::String(s) if s == "*" => Ok(Principals::Any),
            Value::Object(map) => {
                let aws = map
                    .get("AWS")
                    .ok_or_else(|| malformed("Invalid principal in policy"))?;
                let ids = strings(aws, "Principal")?;
                if ids.iter().any(|i| i == "*") {
                    Ok(Principals::Any)
                } else {
                    Ok(Principals::Some(ids))
                }
            }
            _ => Err(malformed("Invalid principal in policy")),
        }
    }

    fn matcher(
        obj: &serde_json::Map<String, Value>,
        name: &str,
        not_name: &str,
    ) -> S3Result<Matcher> {
        match (obj.get(name), obj.get(not_name)) {
            (Some(v), None) => Ok(Matcher {
                patterns: strings(v, name)?,
                negated: false,
            }),
            (None, Some(v)) => Ok(Matcher {
                patterns: strings(v, not_name)?,
                negated: true,
            }),
            (None, None) => Err(malformed(&format!("Missing required field {name}"))),
            _ => Err(malformed(&format!(
                "{name} and {not_name} cannot both be present"
            ))),
        }
    }

    /// Explicit Deny, Allow, or None when no statement applies.
    pub fn evaluate(&self, req: &Request) -> Option<Effect> {
        let mut verdict = None;
        for s in &self.statements {
            if s.applies(req) {
                if s.effect == Effect::Deny {
                    return Some(Effect::Deny);
                }
                verdict = Some(Effect::Allow);
            }
        }
        verdict
    }

    /// Whether some Allow statement could grant `action` to this principal on some
    /// object: its conditions on the request hold; those on object tags and the
    /// resource are not tested (some object may match them).
    pub fn may_allow(
        &self,
        principal: Option<&str>,
        action: &str,
        context: &HashMap<String, String>,
    ) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.names(principal, action)
                && s.conditions
                    .iter()
                    .all(|c| c.key.starts_with(EXISTING_OBJECT_TAG) || c.holds(context))
        })
    }

    /// Whether a statement about this principal and action tests object tags, so that
    /// evaluating it needs the object's tags (a read).
    pub fn tests_tags_for(&self, principal: Option<&str>, action: &str) -> bool {
        self.statements.iter().any(|s| {
            s.names(principal, action)
                && s.conditions
                    .iter()
                    .any(|c| c.key.starts_with(EXISTING_OBJECT_TAG))
        })
    }

    /// Whether the policy grants anything to everyone (GetBucketPolicyStatus).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && matches!(s.principal, Some((Principals::Any, false)))
                && s.conditions.is_empty()
        })
    }
}

fn principal_matches(p: &Principals, who: Option<&str>) -> bool {
    match (p, who) {
        (Principals::Any, _) => true,
        (Principals::Some(_), None) => false,
        // A plain access key id, or an ARN naming it (`arn:aws:iam::123:user/AKID`).
        (Principals::Some(ids), Some(key)) => ids
            .iter()
            .any(|id| id == key || id.rsplit(['/', ':']).next() == Some(key)),
    }
}

impl Matcher {
    fn matches(&self, text: &str, fold: bool) -> bool {
        self.patterns.iter().any(|p| wildcard_match(p, text, fold)) != self.negated
    }
}

impl Statement {
    /// Whether the statement names this principal and action.
    fn names(&self, principal: Option<&str>, action: &str) -> bool {
        let principal_ok = match &self.principal {
            Some((p, negated)) => principal_matches(p, principal) != *negated,
            None => true,
        };
        principal_ok && self.action.matches(action, true)
    }

    fn applies(&self, req: &Request) -> bool {
        self.names(req.principal, req.action)
            && self.resource.matches(req.resource, false)
            && self.conditions.iter().all(|c| c.holds(req.context))
    }
}

fn ip_in(cidr: &str, ip: IpAddr) -> bool {
    let (net, bits) = cidr.split_once('/').unwrap_or((cidr, ""));
    let Ok(net) = net.trim().parse::<IpAddr>() else {
        return false;
    };
    let (ip, net) = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), net),
            None => return false,
        },
        pair => pair,
    };
    let (a, b, max): (u128, u128, u32) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let bits: u32 = if bits.is_empty() {
        max
    } else {
        bits.trim().parse().unwrap_or(u32::MAX)
    };
    if bits > max {
        return false;
    }
    let shift = max - bits;
    bits == 0 || (a >> shift) == (b >> shift)
}

impl Condition {
    fn holds(&self, context: &HashMap<String, String>) -> bool {
        let Some(actual) = context.get(&self.key) else {
            return match self.operator.as_str() {
                "Null" => self.values.iter().any(|v| v == "true"),
                _ if self.if_exists => true,
                // Negated operators hold when the key is absent.
                op => op.contains("Not"),
            };
        };
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|v| f(v));
        let num = |s: &str| s.trim().parse::<f64>().ok();
        let cmp_num = |f: fn(f64, f64) -> bool| {
            any(&|v| matches!((num(actual), num(v)), (Some(a), Some(b)) if f(a, b)))
        };
        let date = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|d| d.timestamp())
        };
        match self.operator.as_str() {
            "StringEquals" => any(&|v| v == actual),
            "StringNotEquals" => !any(&|v| v == actual),
            "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(actual)),
            "StringNotEqualsIgnoreCase" => !any(&|v| v.eq_ignore_ascii_case(actual)),
            "StringLike" => any(&|v| wildcard_match(v, actual, false)),
            "StringNotLike" => !any(&|v| wildcard_match(v, actual, false)),
            "NumericEquals" => cmp_num(|a, b| a == b),
            "NumericNotEquals" => !cmp_num(|a, b| a == b),
            "NumericLessThan" => cmp_num(|a, b| a < b),
            "NumericLessThanEquals" => cmp_num(|a, b| a <= b),
            "NumericGreaterThan" => cmp_num(|a, b| a > b),
            "NumericGreaterThanEquals" => cmp_num(|a, b| a >= b),
            "IpAddress" => actual.parse().is_ok_and(|ip| any(&|v| ip_in(v, ip))),
            "NotIpAddress" => actual.parse().is_ok_and(|ip| !any(&|v| ip_in(v, ip))),
            "Bool" => any(&|v| v.eq_ignore_ascii_case(actual)),
            "Null" => any(&|v| v == "false"),
            "DateLessThan" => {
                any(&|v| matches!((date(actual), date(v)), (Some(a), Some(b)) if a < b))
            }
            "DateGreaterThan" => {
                any(&|v| matches!((date(actual), date(v)), (Some(a), Some(b)) if a > b))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn eval(
        policy: &Policy,
        who: Option<&str>,
        action: &str,
        resource: &str,
        c: &HashMap<String, String>,
    ) -> Option<Effect> {
        policy.evaluate(&Request {
            principal: who,
            action,
            resource,
            context: c,
        })
    }

    #[test]
    fn public_read_with_deny_overrides() {
        let p = Policy::parse(br#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":["s3:Get*"],"Resource":["arn:aws:s3:::pub/*"]},
            {"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::123:user/BADKEY"]},"Action":"s3:*","Resource":"arn:aws:s3:::pub/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/secret/*"}]}"#, "pub").unwrap();
        let c = ctx(&[]);
        assert_eq!(
            eval(&p, None, "s3:GetObject", "arn:aws:s3:::pub/a.txt", &c),
            Some(Effect::Allow)
        );
        assert_eq!(
            eval(&p, None, "s3:PutObject", "arn:aws:s3:::pub/a.txt", &c),
            None
        );
        assert_eq!(
            eval(
                &p,
                Some("BADKEY"),
                "s3:GetObject",
                "arn:aws:s3:::pub/a.txt",
                &c
            ),
            Some(Effect::Deny)
        );
        assert_eq!(
            eval(&p, None, "s3:GetObject", "arn:aws:s3:::pub/secret/x", &c),
            Some(Effect::Deny)
        );
        assert!(p.is_public());
    }

    #[test]
    fn conditions() {
        let p = Policy::parse(br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"StringLike":{"s3:prefix":["home/*"]},"NumericLessThanEquals":{"s3:max-keys":"10"}}}}"#, "b").unwrap();
        let ok = ctx(&[
            ("aws:sourceip", "10.1.2.3"),
            ("s3:prefix", "home/x"),
            ("s3:max-keys", "5"),
        ]);
        assert_eq!(
            eval(&p, None, "s3:ListBucket", "arn:aws:s3:::b", &ok),
            Some(Effect::Allow)
        );
        let wrong_ip = ctx(&[
            ("aws:sourceip", "192.168.1.1"),
            ("s3:prefix", "home/x"),
            ("s3:max-keys", "5"),
        ]);
        assert_eq!(
            eval(&p, None, "s3:ListBucket", "arn:aws:s3:::b", &wrong_ip),
            None
        );
        let no_prefix = ctx(&[("aws:sourceip", "10.1.2.3"), ("s3:max-keys", "5")]);
        assert_eq!(
            eval(&p, None, "s3:ListBucket", "arn:aws:s3:::b", &no_prefix),
            None
        );
    }

    #[test]
    fn existing_object_tag_conditions() {
        let p = Policy::parse(br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"StringEquals":{"s3:ExistingObjectTag/public":"yes"}}}}"#, "b").unwrap();
        assert!(p.tests_tags_for(None, "s3:GetObject"));
        assert!(
            p.may_allow(None, "s3:GetObject", &ctx(&[])),
            "tag conditions may hold for some object"
        );
        assert!(!p.tests_tags_for(None, "s3:PutObject"));
        let tagged = ctx(&[("s3:existingobjecttag/public", "yes")]);
        assert_eq!(
            eval(&p, None, "s3:GetObject", "arn:aws:s3:::b/k", &tagged),
            Some(Effect::Allow)
        );
        assert_eq!(
            eval(&p, None, "s3:GetObject", "arn:aws:s3:::b/k", &ctx(&[])),
            None
        );
    }

    #[test]
    fn may_allow_tests_the_request_conditions_only() {
        let p = Policy::parse(br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/tmp/*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#, "b").unwrap();
        assert!(p.may_allow(
            None,
            "s3:DeleteObject",
            &ctx(&[("aws:sourceip", "10.1.2.3")])
        ));
        assert!(!p.may_allow(
            None,
            "s3:DeleteObject",
            &ctx(&[("aws:sourceip", "192.168.1.1")])
        ));
        assert!(!p.may_allow(None, "s3:GetObject", &ctx(&[("aws:sourceip", "10.1.2.3")])));
        assert!(!p.tests_tags_for(None, "s3:DeleteObject"));
    }

    #[test]
    fn validation_errors() {
        for (doc, reason) in [
            (&br#"not json"#[..], "valid JSON"),
            (br#"{"Statement":[]}"#, "Statement"),
            (br#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}"#, "effect"),
            (br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::b/*"}}"#, "action"),
            (br#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObjekt","Resource":"arn:aws:s3:::b/*"}}"#, "action"),
            (br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b"}}"#, "does not apply"),
            (br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}}"#, "resource"),
            (br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*"}}"#, "Resource"),
            (br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"Bogus":{"a":"b"}}}}"#, "Condition"),
        ] {
            let err = Policy::parse(doc, "b").unwrap_err();
            assert_eq!(err.code, S3Code::MalformedPolicy);
            assert!(err.message.contains(reason), "{} lacks {reason}", err.message);
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("s3:Get*", "s3:getobject", true));
        assert!(wildcard_match(
            "arn:aws:s3:::b/a?c/*",
            "arn:aws:s3:::b/abc/d/e",
            false
        ));
        assert!(!wildcard_match(
            "arn:aws:s3:::b/a?c",
            "arn:aws:s3:::b/ac",
            false
        ));
        assert!(
            ip_in("::ffff:10.0.0.0/104", "10.1.1.1".parse().unwrap())
                || ip_in("10.0.0.0/8", "::ffff:10.1.1.1".parse().unwrap())
        );
        // A `*`/`?` in the pattern is a wildcard even where the text has the same character.
        assert!(wildcard_match("b/secret/*", "b/secret/*x", false));
        assert!(wildcard_match("a*b", "a*cb", false));
        assert!(wildcard_match("a?c", "a?c", false) && wildcard_match("a?c", "a*c", false));
        assert!(wildcard_match("*", "*", false) && wildcard_match("**", "*", false));
        assert!(!wildcard_match("a*", "b*", false));
    }

    #[test]
    fn deny_cannot_be_escaped_with_wildcard_characters_in_the_key() {
        let p = Policy::parse(br#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub2/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub2/secret/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub2/hidden?"}]}"#, "pub2").unwrap();
        let c = ctx(&[]);
        let arn = |key: &str| format!("arn:aws:s3:::pub2/{key}");
        let verdict = |key: &str| eval(&p, None, "s3:GetObject", &arn(key), &c);
        let secret = ["secret/x", "secret/*x", "secret/a*b", "secret/*"];
        let denied = secret.into_iter().chain(["secret/?", "secret/**"]);
        for key in denied.chain(["hidden?", "hidden*", "hiddenX"]) {
            assert_eq!(verdict(key), Some(Effect::Deny), "{key}");
        }
        for key in ["public/x", "public/*", "secret", "hidden", "hidden??"] {
            assert_eq!(verdict(key), Some(Effect::Allow), "{key}");
        }
    }

    /// `wildcard_match` against a reference: the pattern translated to an anchored
    /// regex (`*` -> `.*`, `?` -> `.`, everything else literal). Patterns and texts
    /// come from a small alphabet with the wildcard characters, `/`, case pairs and
    /// multi-byte characters, so wildcards and literals collide often.
    mod against_regex {
        use super::super::wildcard_match;
        use proptest::prelude::*;

        const ALPHABET: &[char] = &[
            '*', '?', '/', 'a', 'b', 'A', '.', '\\', 'é', 'É', 'ß', '日', '🦀', '\n',
        ];

        fn reference(pattern: &str, text: &str) -> bool {
            let mut re = String::from("(?s)^");
            for c in pattern.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
                }
            }
            re.push('$');
            regex::Regex::new(&re).unwrap().is_match(text)
        }

        fn string(max: usize) -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(ALPHABET), 0..max)
                .prop_map(|v| v.into_iter().collect())
        }

        /// A text the pattern must match: each `*` replaced by a random string,
        /// each `?` by a random character.
        fn instance(pattern: &str, fills: &[String], singles: &[char]) -> String {
            let (mut out, mut f, mut s) =
                (String::new(), fills.iter().cycle(), singles.iter().cycle());
            for c in pattern.chars() {
                match c {
                    '*' => out.push_str(f.next().unwrap()),
                    '?' => out.push(*s.next().unwrap()),
                    c => out.push(c),
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn agrees_with_regex(pattern in string(10), text in string(12)) {
                prop_assert_eq!(wildcard_match(&pattern, &text, false), reference(&pattern, &text), "pattern {:?} text {:?}", pattern, text);
            }

            #[test]
            fn folded_agrees_with_regex_on_lowercase(pattern in string(10), text in string(12)) {
                let expected = reference(&pattern.to_lowercase(), &text.to_lowercase());
                prop_assert_eq!(wildcard_match(&pattern, &text, true), expected, "pattern {:?} text {:?}", pattern, text);
            }

            #[test]
            fn matches_its_own_instances(
                pattern in string(10),
                fills in prop::collection::vec(string(5), 1..4),
                singles in prop::collection::vec(prop::sample::select(ALPHABET), 1..4),
            ) {
                let text = instance(&pattern, &fills, &singles);
                prop_assert!(reference(&pattern, &text));
                prop_assert!(wildcard_match(&pattern, &text, false), "pattern {:?} text {:?}", pattern, text);
                prop_assert!(wildcard_match(&pattern, &text, true), "pattern {:?} text {:?} (folded)", pattern, text);
            }
        }
    }
}
