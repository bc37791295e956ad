//! Bucket policies in AWS's JSON grammar: parsing with AWS's validation errors,
//! and evaluation (explicit Deny > Allow > no opinion).

use base64::Engine as _;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;

use super::condition_keys;
use super::error::{S3Code, S3Error, S3Result};

pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Condition keys on an existing object's tags (`s3:ExistingObjectTag/<key>`, lowercased).
pub const EXISTING_OBJECT_TAG: &str = "s3:existingobjecttag/";
/// Condition keys on the tags a request sets (`s3:RequestObjectTag/<key>`, lowercased).
pub const REQUEST_OBJECT_TAG: &str = "s3:requestobjecttag/";
pub const REQUEST_OBJECT_TAG_KEYS: &str = "s3:requestobjecttagkeys";

/// The account of every configured user (a server of one account), as in the KMS key ARNs.
pub const ACCOUNT: &str = super::sse::ACCOUNT;

/// A request's condition keys, lowercased (`aws:sourceip`, `s3:prefix`, ...). Most keys
/// have one value; multivalued keys (`s3:RequestObjectTagKeys`) may have several.
pub type Context = HashMap<String, Vec<String>>;

/// Who signed a request, in each of the forms a policy's Principal may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key: String,
    /// The 64-hex canonical user id (`{"CanonicalUser": ...}`, `{"AWS": ...}`).
    pub canonical_id: String,
    /// `arn:aws:iam::<ACCOUNT>:user/<access key>` (`aws:PrincipalArn`).
    pub arn: String,
}

impl Caller {
    pub fn new(access_key: &str, canonical_id: String) -> Caller {
        Caller {
            access_key: access_key.to_string(),
            canonical_id,
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{access_key}"),
        }
    }
}

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
    Some(Vec<PrincipalId>),
}

#[derive(Debug, Clone)]
enum PrincipalId {
    /// `{"AWS": ...}`: an access key id, a user ARN, or a canonical user id.
    Aws(String),
    /// `{"CanonicalUser": ...}` (lowercased).
    Canonical(String),
    /// `{"Service": ...}`: valid, but no AWS service calls this server.
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a condition operator compares (its negation is kept apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:` (multivalued keys), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone)]
struct Condition {
    test: Test,
    negated: bool,
    set: SetOp,
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
    /// Who signed the request; None for anonymous requests.
    pub principal: Option<&'a Caller>,
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
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

/// Every condition operator: what it tests and whether it is negated.
const OPERATORS: [(&str, Test, bool); 27] = [
    ("StringEquals", Test::String, false),
    ("StringNotEquals", Test::String, true),
    ("StringEqualsIgnoreCase", Test::StringIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Test::StringIgnoreCase, true),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Test::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Test::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Test::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Test::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Test::Numeric(Cmp::Ge), false),
    ("DateEquals", Test::Date(Cmp::Eq), false),
    ("DateNotEquals", Test::Date(Cmp::Eq), true),
    ("DateLessThan", Test::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Test::Date(Cmp::Le), false),
    ("DateGreaterThan", Test::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Test::Date(Cmp::Ge), false),
    ("Bool", Test::Bool, false),
    ("BinaryEquals", Test::Binary, false),
    ("IpAddress", Test::Ip, false),
    ("NotIpAddress", Test::Ip, true),
    ("ArnEquals", Test::Arn, false),
    ("ArnLike", Test::Arn, false),
    ("ArnNotEquals", Test::Arn, true),
    ("ArnNotLike", Test::Arn, true),
    ("Null", Test::Null, false),
];

impl Policy {
    /// Parses and validates a policy for `bucket`, as PutBucketPolicy does.
    pub fn parse(text: &[u8], bucket: &str) -> S3Result<Policy> {
        Self::parse_checked(text, bucket, true)
    }

    /// A stored policy, accepted when it was put: condition keys, condition values and
    /// principal forms are not checked again, so one stored before those checks existed
    /// keeps working (dropping it would drop its Deny statements).
    pub fn parse_stored(text: &[u8], bucket: &str) -> S3Result<Policy> {
        Self::parse_checked(text, bucket, false)
    }

    fn parse_checked(text: &[u8], bucket: &str, strict: bool) -> S3Result<Policy> {
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
            .map(|s| Self::parse_statement(s, bucket, strict))
            .collect::<S3Result<Vec<_>>>()?;
        Ok(Policy { statements })
    }

    fn parse_statement(value: &Value, bucket: &str, strict: bool) -> S3Result<Statement> {
        let obj = value
            .as_object()
            .ok_or_else(|| malformed("Statement must be an object"))?;
        let effect = match obj.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(malformed("Invalid effect")),
        };
        let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
            (Some(p), None) => Some((Self::parse_principal(p, strict)?, false)),
            (None, Some(p)) => Some((Self::parse_principal(p, strict)?, true)),
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
        let conditions = match obj.get("Condition") {
            Some(cond) => Self::parse_conditions(cond, strict)?,
            None => Vec::new(),
        };
        Ok(Statement {
            effect,
            principal,
            action,
            resource,
            conditions,
        })
    }

    /// `{"<operator>": {"<key>": <values>}, ...}`, checked as AWS checks it: known
    /// operators and keys, and values the operator can compare.
    fn parse_conditions(cond: &Value, strict: bool) -> S3Result<Vec<Condition>> {
        let cond = cond
            .as_object()
            .ok_or_else(|| malformed("Condition must be an object"))?;
        let mut conditions = Vec::new();
        for (op, keys) in cond {
            let (test, negated, set, if_exists) = parse_operator(op, strict)
                .ok_or_else(|| malformed(&format!("Invalid Condition type : {op}")))?;
            let keys = keys
                .as_object()
                .ok_or_else(|| malformed("Condition block must map keys to values"))?;
            for (key, values) in keys {
                let key = key.to_ascii_lowercase();
                if strict && !condition_keys::is_known(&key) {
                    return Err(malformed("Policy has an invalid condition key"));
                }
                let values = strings(values, "Condition value")?;
                if let Some(bad) = values.iter().find(|v| strict && !valid_value(test, v)) {
                    return Err(malformed(&format!(
                        "Invalid Condition value for {op} : {bad}"
                    )));
                }
                conditions.push(Condition {
                    test,
                    negated,
                    set,
                    if_exists,
                    key,
                    values,
                });
            }
        }
        Ok(conditions)
    }

    fn parse_principal(value: &Value, strict: bool) -> S3Result<Principals> {
        let invalid = || malformed("Invalid principal in policy");
        let map = match value {
            Value::String(s) if s == "*" => return Ok(Principals::Any),
            Value::Object(map) if !map.is_empty() => map,
            _ => return Err(invalid()),
        };
        let mut ids = Vec::new();
        for (kind, names) in map {
            let names = strings(names, "Principal").map_err(|_| invalid())?;
            for name in names {
                ids.push(match kind.as_str() {
                    "AWS" if name == "*" => return Ok(Principals::Any),
                    "AWS" if valid_aws_principal(&name) => PrincipalId::Aws(name),
                    "CanonicalUser" if is_canonical_id(&name) => {
                        PrincipalId::Canonical(name.to_ascii_lowercase())
                    }
                    "Service" if !name.is_empty() => PrincipalId::Service,
                    _ if strict => return Err(invalid()),
                    "AWS" => PrincipalId::Aws(name),
                    "CanonicalUser" => PrincipalId::Canonical(name.to_ascii_lowercase()),
                    _ => PrincipalId::Service,
                });
            }
        }
        if strict && ids.is_empty() {
            return Err(invalid());
        }
        Ok(Principals::Some(ids))
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
    /// object: its conditions on the request hold; those on object tags (existing, or
    /// set by a body not yet read) and the resource are not tested.
    pub fn may_allow(&self, principal: Option<&Caller>, action: &str, context: &Context) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.names(principal, action)
                && s.conditions
                    .iter()
                    .all(|c| is_tag_key(&c.key) || c.holds(context))
        })
    }

    /// Whether a statement about this principal and action tests object tags, so that
    /// evaluating it needs the object's tags (a read).
    pub fn tests_tags_for(&self, principal: Option<&Caller>, action: &str) -> bool {
        self.tests_keys(principal, action, |k| k.starts_with(EXISTING_OBJECT_TAG))
    }

    /// Whether a statement about this principal and action tests the tags a request
    /// sets, so that PutObjectTagging is decided once its body is read.
    pub fn tests_request_tags_for(&self, principal: Option<&Caller>, action: &str) -> bool {
        self.tests_keys(principal, action, |k| {
            k.starts_with(REQUEST_OBJECT_TAG) || k == REQUEST_OBJECT_TAG_KEYS
        })
    }

    fn tests_keys(&self, principal: Option<&Caller>, action: &str, key: fn(&str) -> bool) -> bool {
        self.statements
            .iter()
            .any(|s| s.names(principal, action) && s.conditions.iter().any(|c| key(&c.key)))
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

fn is_tag_key(key: &str) -> bool {
    key.starts_with(EXISTING_OBJECT_TAG)
        || key.starts_with(REQUEST_OBJECT_TAG)
        || key == REQUEST_OBJECT_TAG_KEYS
}

fn principal_matches(p: &Principals, who: Option<&Caller>) -> bool {
    match (p, who) {
        (Principals::Any, _) => true,
        (Principals::Some(_), None) => false,
        (Principals::Some(ids), Some(caller)) => ids.iter().any(|id| id.names(caller)),
    }
}

impl PrincipalId {
    fn names(&self, caller: &Caller) -> bool {
        match self {
            PrincipalId::Aws(id) => {
                id == &caller.access_key
                    || id.eq_ignore_ascii_case(&caller.canonical_id)
                    || user_of_arn(id) == Some(&caller.access_key)
            }
            PrincipalId::Canonical(id) => id.eq_ignore_ascii_case(&caller.canonical_id),
            PrincipalId::Service => false,
        }
    }
}

/// The user an IAM user ARN names, whatever its account and path
/// (`arn:aws:iam::<account>:user/<path/><name>`).
fn user_of_arn(arn: &str) -> Option<&str> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    resource.strip_prefix("user/")?.rsplit('/').next()
}

/// `{"AWS": ...}`: an IAM ARN, or an account, canonical or access key id.
fn valid_aws_principal(id: &str) -> bool {
    if let Some(rest) = id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return parts.len() == 5 && matches!(parts[1], "iam" | "sts") && !parts[4].is_empty();
    }
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

fn is_canonical_id(id: &str) -> bool {
    id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit())
}

impl Matcher {
    fn matches(&self, text: &str, fold: bool) -> bool {
        self.patterns.iter().any(|p| wildcard_match(p, text, fold)) != self.negated
    }
}

impl Statement {
    /// Whether the statement names this principal and action.
    fn names(&self, principal: Option<&Caller>, action: &str) -> bool {
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

/// `ForAnyValue:`/`ForAllValues:` and `...IfExists` around one of [`OPERATORS`]:
/// (test, negated, set operator, if-exists). `Null` takes neither.
fn parse_operator(op: &str, strict: bool) -> Option<(Test, bool, SetOp, bool)> {
    let (set, rest) = match op.split_once(':') {
        Some(("ForAnyValue", rest)) => (SetOp::AnyValue, rest),
        Some(("ForAllValues", rest)) => (SetOp::AllValues, rest),
        Some(_) if strict => return None,
        Some((_, rest)) => (SetOp::Single, rest),
        None => (SetOp::Single, op),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let (_, test, negated) = OPERATORS.iter().find(|(name, ..)| *name == base)?;
    if strict && *test == Test::Null && (if_exists || set != SetOp::Single) {
        return None;
    }
    Some((*test, *negated, set, if_exists))
}

/// Whether a policy value is one the operator can compare.
fn valid_value(test: Test, value: &str) -> bool {
    match test {
        Test::Numeric(_) => number(value).is_some(),
        Test::Date(_) => date(value).is_some(),
        Test::Bool | Test::Null => {
            value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
        }
        Test::Binary => base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok(),
        Test::Ip => cidr(value).is_some(),
        Test::String | Test::StringIgnoreCase | Test::StringLike | Test::Arn => true,
    }
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A date as AWS's Date operators take it: ISO 8601 (`2026-01-31T12:00:00Z`, with an
/// offset or fraction, without a zone as UTC, or a bare date) or epoch seconds; in ms.
fn date(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc().timestamp_millis());
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// `10.0.0.0/8`, `2001:db8::/32`, or one address.
fn cidr(value: &str) -> Option<(IpAddr, u32)> {
    let (net, bits) = value.split_once('/').unwrap_or((value, ""));
    let net = net.trim().parse::<IpAddr>().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let bits = if bits.is_empty() {
        max
    } else {
        bits.trim().parse().ok()?
    };
    (bits <= max).then_some((net, bits))
}

fn ip_in(value: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr(value) else {
        return false;
    };
    // An IPv4 client reached over an IPv6 socket is compared as IPv4.
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    let (a, b, max): (u128, u128, u32) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = max - bits;
    bits == 0 || (a >> shift) == (b >> shift)
}

/// ArnEquals/ArnLike: each of the six `:`-separated parts matched on its own, with
/// `*`/`?` wildcards, case-sensitively.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6 && a.len() == 6 && p.iter().zip(&a).all(|(p, a)| wildcard_match(p, a, false))
}

impl Cmp {
    fn holds(self, order: Option<Ordering>) -> bool {
        matches!(
            (self, order),
            (Cmp::Eq, Some(Ordering::Equal))
                | (Cmp::Lt, Some(Ordering::Less))
                | (Cmp::Le, Some(Ordering::Less | Ordering::Equal))
                | (Cmp::Gt, Some(Ordering::Greater))
                | (Cmp::Ge, Some(Ordering::Greater | Ordering::Equal))
        )
    }
}

impl Condition {
    /// AWS's rules: a key absent from the request fails a condition, except that a
    /// negated operator, `...IfExists` and `ForAllValues:` hold (and `Null` tests
    /// exactly that). A single-valued operator holds when some value of the key
    /// matches some policy value (negated: none does); `ForAnyValue:` when some value
    /// of the key passes the operator, `ForAllValues:` when every one does.
    fn holds(&self, context: &Context) -> bool {
        let actual = context.get(&self.key).filter(|v| !v.is_empty());
        if self.test == Test::Null {
            let absent = actual.is_none();
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == absent);
        }
        let Some(actual) = actual else {
            return self.if_exists
                || match self.set {
                    SetOp::Single => self.negated,
                    SetOp::AnyValue => false,
                    SetOp::AllValues => true,
                };
        };
        let passes = |v: &String| self.matches(v) != self.negated;
        match self.set {
            SetOp::Single if self.negated => actual.iter().all(passes),
            SetOp::Single | SetOp::AnyValue => actual.iter().any(passes),
            SetOp::AllValues => actual.iter().all(passes),
        }
    }

    /// Whether one value of the key matches one of the policy's values.
    fn matches(&self, actual: &str) -> bool {
        self.values.iter().any(|v| match self.test {
            Test::String => actual == v,
            Test::StringIgnoreCase => actual.to_lowercase() == v.to_lowercase(),
            Test::StringLike => wildcard_match(v, actual, false),
            Test::Numeric(cmp) => match (number(actual), number(v)) {
                (Some(a), Some(b)) => cmp.holds(a.partial_cmp(&b)),
                _ => false,
            },
            Test::Date(cmp) => match (date(actual), date(v)) {
                (Some(a), Some(b)) => cmp.holds(Some(a.cmp(&b))),
                _ => false,
            },
            Test::Bool => actual.eq_ignore_ascii_case(v),
            Test::Binary => base64::engine::general_purpose::STANDARD
                .decode(v)
                .is_ok_and(|b| b == actual.as_bytes()),
            Test::Ip => actual.parse().is_ok_and(|ip| ip_in(v, ip)),
            Test::Arn => arn_matches(v, actual),
            Test::Null => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.entry(k.to_string()).or_default().push(v.to_string());
        }
        c
    }

    const CANONICAL: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

    fn eval(
        policy: &Policy,
        who: Option<&str>,
        action: &str,
        resource: &str,
        c: &Context,
    ) -> Option<Effect> {
        let caller = who.map(|key| Caller::new(key, CANONICAL.into()));
        policy.evaluate(&Request {
            principal: caller.as_ref(),
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

    /// One condition `{op: {"aws:userid": values}}` against the key's values (None: absent).
    fn holds(op: &str, values: &[&str], actual: Option<&[&str]>) -> bool {
        let doc = serde_json::json!({ op: { "aws:userid": values } });
        let conditions = Policy::parse_conditions(&doc, true).unwrap();
        let mut c = Context::new();
        if let Some(actual) = actual {
            c.insert(
                "aws:userid".into(),
                actual.iter().map(|v| v.to_string()).collect(),
            );
        }
        conditions[0].holds(&c)
    }

    #[test]
    fn operators_with_present_and_absent_keys() {
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a [&'a str]>, bool);
        let arn = "arn:aws:iam::000000000000:user/AKID";
        let cases: &[Case] = &[
            ("StringEquals", &["a", "b"], Some(&["b"]), true),
            ("StringEquals", &["a"], Some(&["A"]), false),
            ("StringEquals", &["a"], None, false),
            ("StringEqualsIfExists", &["a"], None, true),
            ("StringEqualsIfExists", &["a"], Some(&["c"]), false),
            ("StringNotEquals", &["a"], Some(&["a"]), false),
            ("StringNotEquals", &["a"], Some(&["c"]), true),
            ("StringNotEquals", &["a"], None, true),
            ("StringNotEqualsIfExists", &["a"], None, true),
            ("StringEqualsIgnoreCase", &["ABC"], Some(&["abc"]), true),
            ("StringNotEqualsIgnoreCase", &["ABC"], Some(&["abc"]), false),
            ("StringNotEqualsIgnoreCase", &["ABC"], None, true),
            ("StringLike", &["home/*"], Some(&["home/x"]), true),
            ("StringLike", &["home/*"], Some(&["Home/x"]), false),
            ("StringLike", &["home/*"], None, false),
            ("StringNotLike", &["home/*"], Some(&["home/x"]), false),
            ("StringNotLike", &["home/*"], Some(&["work/x"]), true),
            ("StringNotLike", &["home/*"], None, true),
            ("NumericLessThanEquals", &["10"], Some(&["10"]), true),
            ("NumericLessThanEquals", &["10"], Some(&["11"]), false),
            ("NumericLessThanEquals", &["10"], None, false),
            ("NumericLessThanEqualsIfExists", &["10"], None, true),
            ("NumericLessThan", &["10"], Some(&["9.5"]), true),
            ("NumericLessThan", &["10"], Some(&["abc"]), false),
            ("NumericGreaterThan", &["10"], Some(&["10"]), false),
            ("NumericGreaterThanEquals", &["10"], Some(&["10"]), true),
            ("NumericEquals", &["10"], Some(&["10.0"]), true),
            ("NumericNotEquals", &["10"], Some(&["10"]), false),
            ("NumericNotEquals", &["10"], None, true),
            (
                "DateLessThan",
                &["2030-01-01T00:00:00Z"],
                Some(&["2026-12-04T03:00:00Z"]),
                true,
            ),
            (
                "DateLessThan",
                &["2030-01-01"],
                Some(&["1900000000"]),
                false,
            ),
            ("DateLessThan", &["2030-01-01"], None, false),
            (
                "DateGreaterThan",
                &["1700000000"],
                Some(&["2026-01-01T00:00:00Z"]),
                true,
            ),
            (
                "DateEquals",
                &["2026-01-01T00:00:00Z"],
                Some(&["1767225600"]),
                true,
            ),
            (
                "DateNotEquals",
                &["2026-01-01T00:00:00Z"],
                Some(&["1767225600"]),
                false,
            ),
            ("DateNotEquals", &["2026-01-01T00:00:00Z"], None, true),
            (
                "DateLessThanEquals",
                &["2026-01-01T01:00:00+01:00"],
                Some(&["2026-01-01T00:00:00Z"]),
                true,
            ),
            (
                "DateGreaterThanEquals",
                &["2026-01-01T00:00:00.500Z"],
                Some(&["2026-01-01T00:00:00Z"]),
                false,
            ),
            ("DateGreaterThanEqualsIfExists", &["2026-01-01"], None, true),
            ("Bool", &["true"], Some(&["true"]), true),
            ("Bool", &["true"], Some(&["false"]), false),
            ("Bool", &["true"], None, false),
            ("BoolIfExists", &["false"], None, true),
            ("BinaryEquals", &["aGVsbG8="], Some(&["hello"]), true),
            ("BinaryEquals", &["aGVsbG8="], Some(&["hellO"]), false),
            ("IpAddress", &["10.0.0.0/8"], Some(&["10.1.2.3"]), true),
            ("IpAddress", &["10.0.0.0/8"], Some(&["11.0.0.1"]), false),
            ("IpAddress", &["10.0.0.0/8"], None, false),
            ("IpAddress", &["203.0.113.7"], Some(&["203.0.113.7"]), true),
            (
                "IpAddress",
                &["2001:db8::/32"],
                Some(&["2001:db8::1"]),
                true,
            ),
            (
                "IpAddress",
                &["2001:db8::/32"],
                Some(&["2001:db9::1"]),
                false,
            ),
            ("NotIpAddress", &["10.0.0.0/8"], Some(&["10.1.2.3"]), false),
            (
                "NotIpAddress",
                &["10.0.0.0/8"],
                Some(&["192.168.0.1"]),
                true,
            ),
            ("NotIpAddress", &["10.0.0.0/8"], None, true),
            ("ArnLike", &["arn:aws:iam::*:user/AK*"], Some(&[arn]), true),
            (
                "ArnLike",
                &["arn:aws:iam::*:user/AK*"],
                Some(&["not-an-arn"]),
                false,
            ),
            ("ArnEquals", &[arn], Some(&[arn]), true),
            (
                "ArnEquals",
                &[arn],
                Some(&["arn:aws:iam::000000000000:user/OTHER"]),
                false,
            ),
            (
                "ArnNotLike",
                &["arn:aws:iam::*:user/AK*"],
                Some(&[arn]),
                false,
            ),
            ("ArnNotLike", &["arn:aws:iam::*:user/AK*"], None, true),
            ("ArnNotEquals", &[arn], None, true),
            ("Null", &["true"], None, true),
            ("Null", &["true"], Some(&["x"]), false),
            ("Null", &["false"], None, false),
            ("Null", &["false"], Some(&["x"]), true),
            // set operators on a multivalued key
            (
                "ForAllValues:StringEquals",
                &["a", "b"],
                Some(&["a", "b"]),
                true,
            ),
            (
                "ForAllValues:StringEquals",
                &["a", "b"],
                Some(&["a", "c"]),
                false,
            ),
            ("ForAllValues:StringEquals", &["a", "b"], None, true),
            ("ForAllValues:StringEquals", &["a", "b"], Some(&[]), true),
            (
                "ForAllValues:StringLike",
                &["proj-*"],
                Some(&["proj-1", "proj-2"]),
                true,
            ),
            (
                "ForAllValues:StringNotEquals",
                &["secret"],
                Some(&["a", "b"]),
                true,
            ),
            (
                "ForAllValues:StringNotEquals",
                &["secret"],
                Some(&["a", "secret"]),
                false,
            ),
            ("ForAllValues:StringNotEquals", &["secret"], None, true),
            ("ForAnyValue:StringEquals", &["a"], Some(&["x", "a"]), true),
            ("ForAnyValue:StringEquals", &["a"], Some(&["x"]), false),
            ("ForAnyValue:StringEquals", &["a"], None, false),
            ("ForAnyValue:StringEqualsIfExists", &["a"], None, true),
            (
                "ForAnyValue:StringNotEquals",
                &["a"],
                Some(&["a", "b"]),
                true,
            ),
            ("ForAnyValue:StringNotEquals", &["a"], Some(&["a"]), false),
            ("ForAnyValue:StringNotEquals", &["a"], None, false),
            // without a set operator: some value matches (negated: none does)
            ("StringEquals", &["a"], Some(&["x", "a"]), true),
            ("StringNotEquals", &["a"], Some(&["x", "a"]), false),
        ];
        for (op, values, actual, expected) in cases {
            assert_eq!(
                holds(op, values, *actual),
                *expected,
                "{op} {values:?} against {actual:?}"
            );
        }
    }

    #[test]
    fn condition_validation_errors() {
        let condition = |op: &str, key: &str, value: serde_json::Value| {
            let doc = serde_json::json!({"Statement": {"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
                "Condition": { op: { key: value } }}});
            Policy::parse(doc.to_string().as_bytes(), "b")
        };
        use serde_json::json;
        for (op, key, value, reason) in [
            (
                "StringEqualz",
                "aws:UserAgent",
                json!("x"),
                "Invalid Condition type : StringEqualz",
            ),
            (
                "ForSomeValues:StringEquals",
                "aws:UserAgent",
                json!("x"),
                "Invalid Condition type",
            ),
            (
                "NullIfExists",
                "aws:UserAgent",
                json!("true"),
                "Invalid Condition type",
            ),
            (
                "ForAnyValue:Null",
                "aws:UserAgent",
                json!("true"),
                "Invalid Condition type",
            ),
            (
                "StringEquals",
                "aws:SourceIpp",
                json!("x"),
                "Policy has an invalid condition key",
            ),
            (
                "StringEquals",
                "s3:foo",
                json!("x"),
                "Policy has an invalid condition key",
            ),
            (
                "StringEquals",
                "s3:RequestObjectTag/",
                json!("x"),
                "invalid condition key",
            ),
            ("StringEquals", "team", json!("x"), "invalid condition key"),
            (
                "NumericLessThan",
                "s3:max-keys",
                json!("ten"),
                "Invalid Condition value",
            ),
            (
                "IpAddress",
                "aws:SourceIp",
                json!("10.0.0.0/33"),
                "Invalid Condition value",
            ),
            (
                "NotIpAddress",
                "aws:SourceIp",
                json!(["10.0.0.0/8", "nope"]),
                "nope",
            ),
            (
                "DateLessThan",
                "aws:CurrentTime",
                json!("yesterday"),
                "Invalid Condition value",
            ),
            (
                "Bool",
                "aws:SecureTransport",
                json!("yes"),
                "Invalid Condition value",
            ),
            (
                "Null",
                "aws:UserAgent",
                json!("maybe"),
                "Invalid Condition value",
            ),
            (
                "BinaryEquals",
                "aws:UserAgent",
                json!("!!"),
                "Invalid Condition value",
            ),
        ] {
            let err = condition(op, key, value).unwrap_err();
            assert_eq!(err.code, S3Code::MalformedPolicy);
            assert!(err.message.contains(reason), "{op} {key}: {}", err.message);
        }
        // key names are case-insensitive; JSON booleans and numbers are values too
        for (op, key, value) in [
            ("Bool", "AWS:SecureTransport", json!(true)),
            ("NumericLessThanEquals", "S3:Max-Keys", json!(10)),
            ("DateGreaterThan", "aws:EpochTime", json!(1700000000)),
            ("StringEquals", "s3:ExistingObjectTag/Team", json!("a")),
            ("StringLike", "aws:SourceVpce", json!("vpce-*")),
        ] {
            assert!(condition(op, key, value).is_ok(), "{op} {key}");
        }
    }

    #[test]
    fn stored_policies_skip_the_newer_checks() {
        // accepted by earlier versions (an unknown key, a value Numeric* cannot compare, a
        // principal form now refused): after an upgrade its Deny statements still apply
        let doc = br#"{"Statement":[
            {"Effect":"Deny","Principal":{"AWS":"odd key"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
             "Condition":{"StringNotEquals":{"aws:foo":"x"}}},
            {"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*",
             "Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}]}"#;
        assert!(Policy::parse(doc, "b").is_err());
        let p = Policy::parse_stored(doc, "b").unwrap();
        let c = ctx(&[("s3:max-keys", "5")]);
        let verdict = |who, action| eval(&p, Some(who), action, "arn:aws:s3:::b/k", &c);
        assert_eq!(verdict("odd key", "s3:GetObject"), Some(Effect::Deny));
        assert_eq!(verdict("AKID", "s3:GetObject"), None);
        assert_eq!(verdict("AKID", "s3:PutObject"), Some(Effect::Deny));
        assert_eq!(verdict("AKID", "s3:DeleteObject"), None);
    }

    #[test]
    fn principal_forms() {
        let caller = Caller::new("AKID", CANONICAL.into());
        let names = |principal: serde_json::Value| {
            let doc = serde_json::json!({"Statement": {"Effect": "Allow", "Principal": principal,
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}});
            let p = Policy::parse(doc.to_string().as_bytes(), "b").unwrap();
            let verdict = |who| {
                p.evaluate(&Request {
                    principal: who,
                    action: "s3:GetObject",
                    resource: "arn:aws:s3:::b/k",
                    context: &Context::new(),
                })
            };
            assert_eq!(verdict(None), None, "anonymous is not a named principal");
            verdict(Some(&caller)) == Some(Effect::Allow)
        };
        use serde_json::json;
        assert!(names(json!({"AWS": "AKID"})));
        assert!(names(json!({"AWS": "arn:aws:iam::123456789012:user/AKID"})));
        assert!(names(
            json!({"AWS": "arn:aws:iam::000000000000:user/team/AKID"})
        ));
        assert!(names(json!({"AWS": ["OTHER", CANONICAL]})));
        assert!(names(json!({"CanonicalUser": CANONICAL.to_uppercase()})));
        assert!(!names(json!({"AWS": "OTHER"})));
        assert!(!names(
            json!({"AWS": "arn:aws:iam::123456789012:user/OTHER"})
        ));
        assert!(!names(json!({"CanonicalUser": "0".repeat(64)})));
        assert!(!names(json!({"Service": "logging.s3.amazonaws.com"})));
        for bad in [
            json!({"Foo": "x"}),
            json!({"AWS": "arn:aws:s3:::b"}),
            json!({"AWS": ""}),
            json!({"AWS": "has space"}),
            json!({"AWS": []}),
            json!({"CanonicalUser": "abc"}),
            json!({}),
            json!("someone"),
        ] {
            let doc = json!({"Statement": {"Effect": "Allow", "Principal": bad,
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}});
            let err = Policy::parse(doc.to_string().as_bytes(), "b").unwrap_err();
            assert_eq!(err.message, "Invalid principal in policy", "{bad}");
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
