//! Fuzzes bucket policies (rust/src/s3/policy.rs): `Policy::parse`,
//! `Policy::evaluate` and the `*`/`?` matcher behind Action, Resource and
//! StringLike/StringNotLike.
//!
//! The first input byte picks a mode:
//! * raw: the rest is the policy document. Parsing never panics, whatever the
//!   bytes; a parsed policy evaluates without panicking, deterministically.
//! * wildcard: the rest is a pattern and a text (split at 0xFF).
//!   `wildcard_match` agrees with a reference, the pattern as an anchored
//!   `(?s)` regex (`*` -> `.*`, `?` -> `.`, everything else literal); with
//!   `fold` it agrees with the reference on the lowercased strings.
//! * structured: a policy generated from the input (effects, principals,
//!   actions and resources with wildcards, conditions of every operator) and
//!   requests to evaluate against it. Evaluation never panics and is
//!   deterministic; the verdict does not depend on statement order; a Deny of
//!   everything added anywhere makes every request Deny; an Allow of
//!   everything added makes every non-Deny verdict Allow and keeps Deny.
//! * resource/condition semantics: a one-statement policy denying
//!   `arn:aws:s3:::b/<pattern>` denies exactly the keys the reference matcher
//!   matches (no key escapes a Deny, no other key is caught), and StringLike /
//!   StringNotLike on `s3:prefix` allow exactly what the reference says.
#![no_main]

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use ruststorage::s3::policy::{Caller, Context, Effect, Policy, Request, wildcard_match};
use serde_json::{Value, json};
use std::collections::HashMap;

const BUCKET: &str = "b";

/// The pattern as an anchored regex: `*` any run, `?` any one character.
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
    regex::RegexBuilder::new(&re)
        .size_limit(1 << 26)
        .build()
        .expect("reference regex")
        .is_match(text)
}

fn check_wildcard(pattern: &str, text: &str) {
    assert_eq!(
        wildcard_match(pattern, text, false),
        reference(pattern, text),
        "pattern {pattern:?} text {text:?}"
    );
    assert_eq!(
        wildcard_match(pattern, text, true),
        reference(&pattern.to_lowercase(), &text.to_lowercase()),
        "pattern {pattern:?} text {text:?} (fold)"
    );
}

const CHARS: &[char] = &[
    '*', '?', '/', 'a', 'b', 'A', 'B', '.', '\\', 'é', 'É', '🦀', '\n', ':',
];

fn text(u: &mut Unstructured, max: usize) -> ArbResult<String> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| u.choose(CHARS).copied()).collect()
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:GetObjectTagging",
    "s3:PutBucketPolicy",
    "s3:ListAllMyBuckets",
    "s3:GetObjectVersion",
];
const ACTION_PATTERNS: &[&str] = &[
    "s3:*",
    "s3:Get*",
    "s3:*Object",
    "s3:?etObject",
    "S3:GETOBJECT",
    "s3:List*",
    "*",
    "s3:Put*Tagging",
    "s3:DeleteObjekt",
];
const PRINCIPALS: &[&str] = &[
    "AKID1",
    "AKID2",
    "arn:aws:iam::123456789012:user/AKID1",
    "arn:aws:iam::123456789012:root",
];
const OPERATORS: &[&str] = &[
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
const CONTEXT_KEYS: &[&str] = &[
    "aws:SourceIp",
    "s3:prefix",
    "s3:max-keys",
    "aws:SecureTransport",
    "s3:ExistingObjectTag/t",
    "aws:CurrentTime",
];
const VALUES: &[&str] = &[
    "10.0.0.0/8",
    "127.0.0.1",
    "::1/128",
    "::ffff:10.0.0.0/104",
    "0.0.0.0/0",
    "1.2.3.4/33",
    "10.0.0.0/-1",
    "true",
    "false",
    "10",
    "-1e308",
    "NaN",
    "inf",
    "2024-01-01T00:00:00Z",
    "home/*",
    "",
];

fn value(u: &mut Unstructured) -> ArbResult<String> {
    if u.ratio(2, 3)? {
        Ok(u.choose(VALUES)?.to_string())
    } else {
        text(u, 12)
    }
}

fn string_or_list(u: &mut Unstructured, items: Vec<String>) -> ArbResult<Value> {
    Ok(if items.len() == 1 && u.arbitrary()? {
        json!(items[0])
    } else {
        json!(items)
    })
}

fn statement(u: &mut Unstructured) -> ArbResult<Value> {
    let mut s = serde_json::Map::new();
    s.insert(
        "Effect".into(),
        json!(if u.arbitrary()? { "Allow" } else { "Deny" }),
    );
    let principal = match u.int_in_range(0..=3)? {
        0 => json!("*"),
        1 => json!({"AWS": "*"}),
        _ => {
            let n = u.int_in_range(1..=2)?;
            let ids = (0..n)
                .map(|_| Ok(u.choose(PRINCIPALS)?.to_string()))
                .collect::<ArbResult<Vec<_>>>()?;
            json!({ "AWS": string_or_list(u, ids)? })
        }
    };
    s.insert(
        if u.ratio(1, 5)? {
            "NotPrincipal"
        } else {
            "Principal"
        }
        .into(),
        principal,
    );
    let n = u.int_in_range(1..=3)?;
    let actions = (0..n)
        .map(|_| {
            Ok(if u.arbitrary()? {
                u.choose(ACTIONS)?
            } else {
                u.choose(ACTION_PATTERNS)?
            }
            .to_string())
        })
        .collect::<ArbResult<Vec<_>>>()?;
    s.insert(
        if u.ratio(1, 5)? {
            "NotAction"
        } else {
            "Action"
        }
        .into(),
        string_or_list(u, actions)?,
    );
    let n = u.int_in_range(1..=3)?;
    let resources = (0..n)
        .map(|_| {
            Ok(match u.int_in_range(0..=4)? {
                0 => format!("arn:aws:s3:::{BUCKET}"),
                1 => format!("arn:aws:s3:::{BUCKET}/*"),
                2 => "arn:aws:s3:::*".to_string(),
                3 => format!("arn:aws:s3:::?/{}", text(u, 8)?),
                _ => format!("arn:aws:s3:::{BUCKET}/{}", text(u, 10)?),
            })
        })
        .collect::<ArbResult<Vec<_>>>()?;
    s.insert(
        if u.ratio(1, 5)? {
            "NotResource"
        } else {
            "Resource"
        }
        .into(),
        string_or_list(u, resources)?,
    );
    if u.arbitrary()? {
        let mut cond = serde_json::Map::new();
        for _ in 0..u.int_in_range(1..=3)? {
            let mut op = u.choose(OPERATORS)?.to_string();
            if u.ratio(1, 4)? {
                op.push_str("IfExists");
            }
            if u.ratio(1, 6)? {
                op = format!("{}:{op}", u.choose(&["ForAnyValue", "ForAllValues"])?);
            }
            let n = u.int_in_range(1..=2)?;
            let values = (0..n).map(|_| value(u)).collect::<ArbResult<Vec<_>>>()?;
            let key = u.choose(CONTEXT_KEYS)?.to_string();
            cond.insert(op, json!({ key: string_or_list(u, values)? }));
        }
        s.insert("Condition".into(), Value::Object(cond));
    }
    Ok(Value::Object(s))
}

fn document(statements: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"Version": "2012-10-17", "Statement": statements})).unwrap()
}

struct Req {
    principal: Option<&'static str>,
    action: String,
    resource: String,
    context: HashMap<String, String>,
}

impl Req {
    fn eval(&self, p: &Policy) -> Option<Effect> {
        let caller = self.principal.map(|key| Caller::new(key, "0".repeat(64)));
        let context: Context = self
            .context
            .iter()
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect();
        p.evaluate(&Request {
            principal: caller.as_ref(),
            action: &self.action,
            resource: &self.resource,
            context: &context,
        })
    }
}

fn request(u: &mut Unstructured) -> ArbResult<Req> {
    let principal = *u.choose(&[None, Some("AKID1"), Some("AKID2")])?;
    let action = u.choose(ACTIONS)?.to_string();
    let resource = if u.ratio(1, 4)? {
        format!("arn:aws:s3:::{BUCKET}")
    } else {
        format!("arn:aws:s3:::{BUCKET}/{}", text(u, 12)?)
    };
    let mut context = HashMap::new();
    for _ in 0..u.int_in_range(0..=4)? {
        context.insert(u.choose(CONTEXT_KEYS)?.to_ascii_lowercase(), value(u)?);
    }
    Ok(Req {
        principal,
        action,
        resource,
        context,
    })
}

fn parse(doc: &[u8]) -> Option<Policy> {
    let p = Policy::parse(doc, BUCKET).ok()?;
    let _ = (p.is_public(), p.tests_tags_for(None, "s3:GetObject"));
    Some(p)
}

fn structured(u: &mut Unstructured) -> ArbResult<()> {
    let n = u.int_in_range(1..=4)?;
    let statements = (0..n)
        .map(|_| statement(u))
        .collect::<ArbResult<Vec<_>>>()?;
    let Some(policy) = parse(&document(&statements)) else {
        return Ok(());
    };
    let reversed: Vec<Value> = statements.iter().rev().cloned().collect();
    let reversed = parse(&document(&reversed)).expect("the same statements in another order parse");
    let everything = json!([
        format!("arn:aws:s3:::{BUCKET}"),
        format!("arn:aws:s3:::{BUCKET}/*")
    ]);
    let all = |effect: &str| json!({"Effect": effect, "Principal": "*", "Action": "s3:*", "Resource": everything});
    let at = u.int_in_range(0..=statements.len())?;
    let mut with = statements.clone();
    with.insert(at, all("Deny"));
    let deny_all = parse(&document(&with)).expect("adding a Deny of everything parses");
    let mut with = statements.clone();
    with.insert(at, all("Allow"));
    let allow_all = parse(&document(&with)).expect("adding an Allow of everything parses");
    for _ in 0..u.int_in_range(1..=4)? {
        let r = request(u)?;
        let verdict = r.eval(&policy);
        assert_eq!(verdict, r.eval(&policy), "not deterministic");
        assert_eq!(
            verdict,
            r.eval(&reversed),
            "depends on statement order: {} {}",
            r.action,
            r.resource
        );
        assert_eq!(
            r.eval(&deny_all),
            Some(Effect::Deny),
            "escaped a Deny of everything: {} {}",
            r.action,
            r.resource
        );
        let expected = if verdict == Some(Effect::Deny) {
            Some(Effect::Deny)
        } else {
            Some(Effect::Allow)
        };
        assert_eq!(
            r.eval(&allow_all),
            expected,
            "Allow of everything: {} {}",
            r.action,
            r.resource
        );
    }
    Ok(())
}

fn semantics(u: &mut Unstructured) -> ArbResult<()> {
    let pattern = text(u, 10)?;
    let key = text(u, 12)?;
    // Deny on bucket/<pattern>: exactly the keys the pattern matches.
    let resource_pattern = format!("arn:aws:s3:::{BUCKET}/{pattern}");
    let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": resource_pattern});
    let p = parse(&document(&[deny])).expect("a Deny on bucket/<anything> parses");
    let resource = format!("arn:aws:s3:::{BUCKET}/{key}");
    let denied = reference(&resource_pattern, &resource);
    let r = Req {
        principal: None,
        action: "s3:GetObject".into(),
        resource,
        context: HashMap::new(),
    };
    assert_eq!(
        r.eval(&p),
        denied.then_some(Effect::Deny),
        "Deny on {resource_pattern:?}, key {key:?}"
    );
    // StringLike / StringNotLike on s3:prefix.
    let matches = reference(&pattern, &key);
    for (op, like) in [("StringLike", true), ("StringNotLike", false)] {
        let allow = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
            "Resource": format!("arn:aws:s3:::{BUCKET}"), "Condition": {op: {"s3:prefix": pattern}}});
        let p = parse(&document(&[allow])).expect("a StringLike condition parses");
        let context = HashMap::from([("s3:prefix".to_string(), key.clone())]);
        let r = Req {
            principal: Some("AKID1"),
            action: "s3:ListBucket".into(),
            resource: format!("arn:aws:s3:::{BUCKET}"),
            context,
        };
        let allowed = matches == like;
        assert_eq!(
            r.eval(&p),
            allowed.then_some(Effect::Allow),
            "{op} {pattern:?} on prefix {key:?}"
        );
    }
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Some(p) = parse(rest) {
                let mut u = Unstructured::new(rest);
                if let Ok(r) = request(&mut u) {
                    assert_eq!(r.eval(&p), r.eval(&p), "not deterministic");
                }
            }
        }
        1 => {
            let mut parts = rest.splitn(2, |&b| b == 0xFF);
            let pattern = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
            check_wildcard(&pattern, &text);
        }
        2 => {
            let _ = structured(&mut Unstructured::new(rest));
        }
        _ => {
            let _ = semantics(&mut Unstructured::new(rest));
        }
    }
});
