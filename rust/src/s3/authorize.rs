//! Authorization: with auth on, the bucket policy decides (explicit Deny > Allow),
//! and without a verdict signed requests are allowed and anonymous ones denied.
//! With auth off, everything is allowed.

use super::Ctx;
use super::auth::Authenticated;
use super::condition_keys::{self, Facts};
use super::error::{S3Code, S3Error, S3Result};
use super::policy::{Caller, Context, Effect, Policy, Request};
use super::router::{Action, Route};
use super::tagging::Tags;

/// What the account root (the first credential) may always do to its bucket's policy,
/// so no policy can lock it out, as on AWS. Other keys are subject to Deny like anyone.
const ROOT_ALWAYS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

/// Bucket administration that a policy can never grant to anonymous callers: AWS
/// allows these only to the bucket owner's account.
const NEVER_ANONYMOUS: [&str; 12] = [
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:GetBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:PutBucketCORS",
    "s3:GetBucketCORS",
    "s3:PutBucketVersioning",
    "s3:GetBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:GetEncryptionConfiguration",
];

use super::policy::EXISTING_OBJECT_TAG as TAG_PREFIX;

pub struct Authz {
    pub enabled: bool,
    pub principal: Option<String>,
    /// The signer as a policy's Principal may name it.
    caller: Option<Caller>,
    /// Whether the signer is the account root (the first configured credential).
    root: bool,
    pub context: Context,
}

/// The canonical user id of a configured user. Placeholder: one owner for now.
fn canonical_id_of(_ctx: &Ctx, _access_key: &str) -> String {
    super::dto::OWNER_ID.to_string()
}

pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

impl Authz {
    /// The condition keys a policy can test for this request.
    pub fn new(
        ctx: &Ctx,
        signer: &Authenticated,
        route: &Route,
        headers: &http::HeaderMap,
        remote: std::net::IpAddr,
        secure: bool,
        presigned: bool,
    ) -> Authz {
        let (enabled, principal) = (ctx.auth_enabled, signer.access_key.clone());
        let root = principal.as_ref().is_some_and(|key| {
            ctx.credentials
                .snapshot()
                .first()
                .is_some_and(|c| &c.access_key_id == key)
        });
        let caller = principal
            .as_deref()
            .map(|key| Caller::new(key, canonical_id_of(ctx, key)));
        let context = condition_keys::context(&Facts {
            caller: caller.as_ref(),
            signature_version: signer.signature_version,
            presigned,
            headers,
            query: &route.query,
            remote,
            secure,
        });
        Authz {
            enabled,
            principal,
            caller,
            root,
            context,
        }
    }

    /// Checks one action on one resource of `bucket`.
    pub fn check(
        &self,
        ctx: &Ctx,
        bucket: Option<&str>,
        action: &str,
        resource: &str,
    ) -> S3Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let verdict = bucket
            .and_then(|b| ctx.settings.policy(b))
            .and_then(|policy| self.evaluate(&policy, action, resource, &self.context));
        self.decide(verdict, action)
    }

    /// Checks an action on one object (the version named, else the latest), testing
    /// `s3:ExistingObjectTag/<key>` against that object's own tags when the policy asks.
    pub async fn check_object(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        action: &str,
    ) -> S3Result<()> {
        self.check_object_with(ctx, bucket, key, version, action, &self.context)
            .await
    }

    /// PutObjectTagging under a policy that tests the tags it sets (`s3:RequestObjectTag/*`,
    /// `s3:RequestObjectTagKeys`): decided here, once the body's tags are known.
    pub async fn check_body_tags(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        tags: &Tags,
    ) -> S3Result<()> {
        let action = put_tagging_action(version);
        if !self.tests_body_tags(ctx, bucket, action) {
            return Ok(());
        }
        let mut context = self.context.clone();
        condition_keys::add_request_tags(&mut context, tags);
        self.check_object_with(ctx, bucket, key, version, action, &context)
            .await
    }

    fn tests_body_tags(&self, ctx: &Ctx, bucket: &str, action: &str) -> bool {
        self.enabled
            && ctx
                .settings
                .policy(bucket)
                .is_some_and(|p| p.tests_request_tags_for(self.caller.as_ref(), action))
    }

    async fn check_object_with(
        &self,
        ctx: &Ctx,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        action: &str,
        context: &Context,
    ) -> S3Result<()> {
        let resource = object_arn(bucket, key);
        let principal = self.caller.as_ref();
        let policy = ctx
            .settings
            .policy(bucket)
            .filter(|p| self.enabled && p.tests_tags_for(principal, action));
        let Some(policy) = policy else {
            let verdict = ctx
                .settings
                .policy(bucket)
                .and_then(|policy| self.evaluate(&policy, action, &resource, context));
            return self.decide(verdict, action);
        };
        // An anonymous caller no statement could allow is refused before any read.
        if principal.is_none() && !policy.may_allow(None, action, context) {
            return self.decide(None, action);
        }
        let mut context = context.clone();
        for (tag, value) in object_tags(ctx, bucket, key, version).await {
            context.insert(
                format!("{TAG_PREFIX}{}", tag.to_ascii_lowercase()),
                vec![value],
            );
        }
        self.decide(self.evaluate(&policy, action, &resource, &context), action)
    }

    /// Whether the bucket's policy could allow this caller any of `actions` on some
    /// object: lets DeleteObjects refuse an anonymous caller before reading its body.
    pub fn may_be_allowed(&self, ctx: &Ctx, bucket: &str, actions: &[&str]) -> bool {
        !self.enabled
            || self.principal.is_some()
            || ctx
                .settings
                .policy(bucket)
                .is_some_and(|p| actions.iter().any(|a| p.may_allow(None, a, &self.context)))
    }

    fn evaluate(
        &self,
        policy: &Policy,
        action: &str,
        resource: &str,
        context: &Context,
    ) -> Option<Effect> {
        policy.evaluate(&Request {
            principal: self.caller.as_ref(),
            action,
            resource,
            context,
        })
    }

    fn decide(&self, verdict: Option<Effect>, action: &str) -> S3Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let signed = self.principal.is_some();
        match verdict {
            _ if !signed && NEVER_ANONYMOUS.contains(&action) => {
                Err(S3Error::new(S3Code::AccessDenied))
            }
            Some(Effect::Deny) if !(self.root && ROOT_ALWAYS.contains(&action)) => {
                Err(S3Error::new(S3Code::AccessDenied))
            }
            Some(Effect::Allow) => Ok(()),
            _ if signed => Ok(()),
            _ => Err(S3Error::new(S3Code::AccessDenied)),
        }
    }

    /// Admits a request before any of its body is read: its own action is authorized
    /// (DeleteObjects per key by its handler, but a caller no statement could allow is
    /// refused here; preflights are never signed), and a bucket that does not exist is
    /// NoSuchBucket rather than a refusal, as on AWS (no policy can allow anything on
    /// it). A client waiting on `Expect: 100-continue` learns of a missing bucket before
    /// it sends the body: hyper sends `100 Continue` only once the body is read.
    pub async fn admit(&self, ctx: &Ctx, route: &Route, headers: &http::HeaderMap) -> S3Result<()> {
        let verdict = match (route.action, route.bucket.as_deref()) {
            (Action::Preflight, _) => Ok(()),
            (Action::DeleteObjects, Some(bucket)) => {
                let actions = ["s3:DeleteObject", "s3:DeleteObjectVersion"];
                if self.may_be_allowed(ctx, bucket, &actions) {
                    Ok(())
                } else {
                    Err(S3Error::new(S3Code::AccessDenied))
                }
            }
            _ => self.check_route(ctx, route).await,
        };
        let bucket = route
            .bucket
            .as_deref()
            .filter(|_| !matches!(route.action, Action::CreateBucket | Action::Preflight));
        match (verdict, bucket) {
            (Err(refused), Some(bucket)) if refused.code == S3Code::AccessDenied => {
                match ctx.store.bucket_exists(bucket).await.map_err(S3Error::from) {
                    Err(missing) if missing.code == S3Code::NoSuchBucket => Err(missing),
                    _ => Err(refused),
                }
            }
            (Ok(()), Some(bucket)) if super::body::expects_continue(headers) => {
                Ok(ctx.store.bucket_exists(bucket).await?)
            }
            (verdict, _) => verdict,
        }
    }

    /// Checks the request's own action on its own resource.
    pub async fn check_route(&self, ctx: &Ctx, route: &Route) -> S3Result<()> {
        let version = route.version_id();
        // Naming a version asks for the *Version permission, as in IAM.
        let action = match (route.action, version.is_some()) {
            (Action::GetObject | Action::HeadObject, true) => "s3:GetObjectVersion",
            (Action::DeleteObject, true) => "s3:DeleteObjectVersion",
            (Action::GetObjectTagging, true) => "s3:GetObjectVersionTagging",
            (Action::PutObjectTagging, true) => "s3:PutObjectVersionTagging",
            (Action::DeleteObjectTagging, true) => "s3:DeleteObjectVersionTagging",
            (Action::GetObjectAttributes, true) => "s3:GetObjectVersionAttributes",
            (action, _) => action.iam_action(),
        };
        match (&route.bucket, &route.key) {
            // Decided by check_body_tags; only a caller no statement could allow is refused now.
            (Some(b), Some(_))
                if route.action == Action::PutObjectTagging
                    && self.tests_body_tags(ctx, b, action) =>
            {
                let allowed = self.caller.is_some()
                    || ctx
                        .settings
                        .policy(b)
                        .is_some_and(|p| p.may_allow(None, action, &self.context));
                self.decide(allowed.then_some(Effect::Allow), action)
            }
            (Some(b), Some(k)) => self.check_object(ctx, b, k, version, action).await,
            (Some(b), None) => self.check(ctx, Some(b), action, &bucket_arn(b)),
            _ => self.check(ctx, None, action, "arn:aws:s3:::*"),
        }
    }
}

fn put_tagging_action(version: Option<&str>) -> &'static str {
    match version {
        Some(_) => "s3:PutObjectVersionTagging",
        None => "s3:PutObjectTagging",
    }
}

/// The tags of one object version (the latest without an id); none if it does not exist.
async fn object_tags(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let meta = ctx.store.head_object(bucket, key, version).await;
    meta.map(|m| m.tags).unwrap_or_default()
}
