//! Authorization: with auth on, the bucket policy decides (explicit Deny > Allow),
//! and without a verdict signed requests are allowed and anonymous ones denied.
//! With auth off, everything is allowed.

use std::collections::HashMap;

use super::error::{S3Code, S3Error, S3Result};
use super::policy::{Effect, Request};
use super::router::{Action, Route};
use super::Ctx;

/// Actions the bucket owner may always perform, so a policy can never lock it out.
const OWNER_ALWAYS: [&str; 3] = ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

pub struct Authz {
    pub enabled: bool,
    pub principal: Option<String>,
    pub context: HashMap<String, String>,
}

pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

impl Authz {
    /// The condition keys a policy can test for this request.
    pub fn new(enabled: bool, principal: Option<String>, route: &Route, headers: &http::HeaderMap, remote: std::net::IpAddr, secure: bool, presigned: bool) -> Authz {
        let mut c = HashMap::new();
        let now = chrono::Utc::now();
        c.insert("aws:sourceip".into(), remote.to_canonical().to_string());
        c.insert("aws:securetransport".into(), secure.to_string());
        c.insert("aws:currenttime".into(), now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        c.insert("aws:epochtime".into(), now.timestamp().to_string());
        c.insert("aws:principaltype".into(), if principal.is_some() { "User" } else { "Anonymous" }.into());
        if let Some(p) = &principal {
            c.insert("aws:username".into(), p.clone());
            c.insert("aws:userid".into(), p.clone());
            c.insert("s3:signatureversion".into(), "AWS4-HMAC-SHA256".into());
            c.insert("s3:authtype".into(), if presigned { "REST-QUERY-STRING" } else { "REST-HEADER" }.into());
        }
        for (header, key) in [("user-agent", "aws:useragent"), ("referer", "aws:referer"), ("x-amz-content-sha256", "s3:x-amz-content-sha256")] {
            if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
                c.insert(key.into(), v.to_string());
            }
        }
        for (param, key) in [("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")] {
            if let Some(v) = route.query.get(param) {
                c.insert(key.into(), v.to_string());
            }
        }
        Authz { enabled, principal, context: c }
    }

    /// Adds `s3:ExistingObjectTag/<key>` for the object a request names, when the
    /// bucket's policy tests such a key (only then is the metadata read).
    pub async fn add_existing_object_tags(&mut self, ctx: &Ctx, route: &Route) {
        const PREFIX: &str = "s3:existingobjecttag/";
        let (Some(bucket), Some(key)) = (&route.bucket, &route.key) else { return };
        if !self.enabled || !ctx.settings.policy(bucket).is_some_and(|p| p.tests_key_prefix(PREFIX)) {
            return;
        }
        let (b, k) = (bucket.clone(), key.clone());
        if let Ok(meta) = ctx.store.blocking(move |s| s.head_object(&b, &k)).await {
            for (tag, value) in meta.tags {
                self.context.insert(format!("{PREFIX}{}", tag.to_ascii_lowercase()), value);
            }
        }
    }

    /// Checks one action on one resource of `bucket`.
    pub fn check(&self, ctx: &Ctx, bucket: Option<&str>, action: &str, resource: &str) -> S3Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let verdict = bucket.and_then(|b| ctx.settings.policy(b)).and_then(|policy| {
            policy.evaluate(&Request { principal: self.principal.as_deref(), action, resource, context: &self.context })
        });
        match verdict {
            Some(Effect::Deny) if !(self.principal.is_some() && OWNER_ALWAYS.contains(&action)) => Err(S3Error::new(S3Code::AccessDenied)),
            Some(Effect::Allow) => Ok(()),
            _ if self.principal.is_some() => Ok(()),
            _ => Err(S3Error::new(S3Code::AccessDenied)),
        }
    }

    /// Checks the request's own action on its own resource.
    pub fn check_route(&self, ctx: &Ctx, route: &Route) -> S3Result<()> {
        let resource = match (&route.bucket, &route.key) {
            (Some(b), Some(k)) => object_arn(b, k),
            (Some(b), None) => bucket_arn(b),
            _ => "arn:aws:s3:::*".to_string(),
        };
        // Naming a version asks for the *Version permission, as in IAM.
        let action = match (route.action, route.query.has("versionId")) {
            (Action::GetObject | Action::HeadObject, true) => "s3:GetObjectVersion",
            (Action::DeleteObject, true) => "s3:DeleteObjectVersion",
            (action, _) => action.iam_action(),
        };
        self.check(ctx, route.bucket.as_deref(), action, &resource)
    }
}
