//! Authorization: with auth on, `access::decide` judges each request from the
//! owners of the bucket and object, the bucket policy and the ACLs. With auth off,
//! everything is allowed.

use super::Ctx;
use super::access::{self, BucketAccess};
use super::acl::{ANONYMOUS_ID, Acl, Permission, Requester};
use super::auth::Authenticated;
use super::condition_keys;
use super::error::{S3Code, S3Error, S3Result};
use super::policy::{Caller, Context, Effect, Policy, Request};
use super::router::{Action, Route};
use super::tagging::Tags;
use crate::auth::Identity;
use std::sync::{Arc, OnceLock};

/// What the bucket owner's root (its first credential) may always do to its bucket's
/// policy, so no policy can lock it out, as on AWS. Other keys are subject to Deny.
const ROOT_ALWAYS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

/// Bucket administration that a policy can never grant to anonymous callers: AWS
/// allows these only to the bucket owner's account.
const NEVER_ANONYMOUS: [&str; 20] = [
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
    "s3:PutLifecycleConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:GetBucketOwnershipControls",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketObjectLockConfiguration",
    "s3:GetBucketObjectLockConfiguration",
];

use super::policy::EXISTING_OBJECT_TAG as TAG_PREFIX;

pub struct Authz {
    pub enabled: bool,
    /// The access key that signed; None for anonymous requests.
    pub principal: Option<String>,
    /// The user that key acts for.
    pub identity: Option<Identity>,
    /// The signer as a policy's Principal may name it.
    caller: Option<Caller>,
    /// What the condition keys are drawn from: most requests meet no policy, so the
    /// keys are built only when one is evaluated (they cost a tenth of a small GET).
    facts: condition_keys::Facts,
    context: OnceLock<Context>,
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
        headers: &Arc<http::HeaderMap>,
        remote: std::net::IpAddr,
        secure: bool,
        auth_type: condition_keys::AuthType,
    ) -> Authz {
        let (enabled, principal) = (ctx.auth_enabled, signer.access_key.clone());
        let identity = principal
            .as_deref()
            .map(|key| ctx.credentials.identity(key).unwrap_or_else(nobody));
        let caller = principal
            .as_deref()
            .zip(identity.as_ref())
            .map(|(key, who)| Caller::new(key, who.id.clone()));
        let facts = condition_keys::Facts {
            signature_version: signer.signature_version,
            auth_type,
            headers: headers.clone(),
            query: condition_keys::query_keys(&route.query),
            remote,
            secure,
        };
        Authz {
            enabled,
            principal,
            identity,
            caller,
            facts,
            context: OnceLock::new(),
        }
    }

    /// The request's condition keys, built on first use.
    fn context(&self) -> &Context {
        self.context
            .get_or_init(|| condition_keys::context(&self.facts, self.caller.as_ref()))
    }

    /// Who is asking, as ACLs see it.
    pub fn requester(&self) -> Requester<'_> {
        match &self.identity {
            Some(who) => Requester::User(&who.id),
            None => Requester::Anonymous,
        }
    }

    /// The canonical id of the requester (anonymous callers have one too).
    pub fn requester_id(&self) -> &str {
        self.identity.as_ref().map_or(ANONYMOUS_ID, |who| &who.id)
    }

    /// Checks one action on one resource of `bucket`.
    pub fn check(
        &self,
        ctx: &Ctx,
        bucket: Option<&str>,
        action: &str,
        resource: &str,
    ) -> S3Result<()> {
        self.check_with(ctx, bucket, action, resource, None)
    }

    fn check_with(
        &self,
        ctx: &Ctx,
        bucket: Option<&str>,
        action: &str,
        resource: &str,
        context: Option<&Context>,
    ) -> S3Result<()> {
        if !self.enabled {
            return Ok(());
        }
        // Service-level actions (ListBuckets, CreateBucket) need a signature only.
        let Some(bucket) = bucket else {
            return self.decide_unowned();
        };
        let policy = ctx.settings.policy(bucket);
        let verdict = policy
            .as_ref()
            .and_then(|policy| self.evaluate(policy, action, resource, context));
        let access = ctx.settings.access(bucket);
        self.decide(&access, policy.as_deref(), verdict, action, None)
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
        if !self.enabled {
            return Ok(());
        }
        self.check_object_with(ctx, bucket, key, version, action, None)
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
        let mut context = self.context().clone();
        condition_keys::add_request_tags(&mut context, tags);
        self.check_object_with(ctx, bucket, key, version, action, Some(&context))
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
        context: Option<&Context>,
    ) -> S3Result<()> {
        let resource = object_arn(bucket, key);
        let principal = self.caller.as_ref();
        let access = ctx.settings.access(bucket);
        let policy = ctx.settings.policy(bucket);
        let needs_tags = policy
            .as_ref()
            .is_some_and(|p| p.tests_tags_for(principal, action));
        // Who owns the object matters for what acts on the object itself (reads, its
        // ACL, its tags), not for writes and deletes, which the bucket governs. When the
        // bucket owner reads, only an object someone else owns could refuse it: the read
        // checks that once it has the object (`check_opened`), sparing every read a
        // second lookup.
        let owner_reads = matches!(action, "s3:GetObject" | "s3:GetObjectVersion")
            && self.requester_id() == access.owner();
        let needs_owner = access.acls_enabled()
            && !owner_reads
            && !matches!(access::acl_permission(action), Some((_, false)));
        if !needs_tags && !needs_owner {
            return self.check_with(ctx, Some(bucket), action, &resource, context);
        }
        let (meta, missing) = match ctx.store.head_object(bucket, key, version).await {
            Ok(meta) => (Some(meta), None),
            Err(e) => (None, Some(S3Error::from(e))),
        };
        let mut tagged = None;
        if needs_tags && let Some(meta) = &meta {
            let mut with_tags = context.unwrap_or_else(|| self.context()).clone();
            for (tag, value) in &meta.tags {
                with_tags.insert(
                    format!("{TAG_PREFIX}{}", tag.to_ascii_lowercase()),
                    vec![value.clone()],
                );
            }
            tagged = Some(with_tags);
        }
        let context = tagged.as_ref().or(context);
        let verdict = policy
            .as_ref()
            .and_then(|p| self.evaluate(p, action, &resource, context));
        let object_acl = meta.map(|m| object_acl(&access, m.acl.as_ref()));
        let decided = self.decide(
            &access,
            policy.as_deref(),
            verdict,
            action,
            object_acl.as_ref(),
        );
        // No object to grant anything: who may list the bucket learns it is missing
        // (404, answered here so nothing written meanwhile is acted on), as on AWS;
        // anyone else is refused, and so is everyone under an explicit Deny.
        let explained = verdict != Some(Effect::Deny);
        match (decided, missing) {
            (Err(refused), Some(missing)) if explained => {
                let may_list = self.check(ctx, Some(bucket), "s3:ListBucket", &bucket_arn(bucket));
                Err(if may_list.is_ok() { missing } else { refused })
            }
            (decided, _) => decided,
        }
    }

    /// Checks a read again once its object is open: an object another user owns may
    /// refuse what its bucket's owner was let through for (see `check_object`).
    pub fn check_opened(
        &self,
        ctx: &Ctx,
        bucket: &str,
        meta: &crate::storage::interface::ObjectMeta,
        action: &str,
    ) -> S3Result<()> {
        let access = ctx.settings.access(bucket);
        let foreign = meta.acl.as_ref().filter(|acl| acl.owner != access.owner());
        let (Some(stored), true) = (foreign, self.enabled && access.acls_enabled()) else {
            return Ok(());
        };
        let policy = ctx.settings.policy(bucket);
        let resource = object_arn(bucket, &meta.key);
        let verdict = policy
            .as_ref()
            .and_then(|p| self.evaluate(p, action, &resource, None));
        let acl = Acl::from_stored(stored);
        self.decide(&access, policy.as_deref(), verdict, action, Some(&acl))
    }

    /// Whether the bucket's policy could allow this caller any of `actions` on some
    /// object: lets DeleteObjects refuse an anonymous caller before reading its body.
    pub fn may_be_allowed(&self, ctx: &Ctx, bucket: &str, actions: &[&str]) -> bool {
        let access = ctx.settings.access(bucket);
        let public_write = access.acls_enabled()
            && access.acl.allows(
                Requester::Anonymous,
                Permission::Write,
                access.block.ignore_public_acls,
            );
        !self.enabled
            || self.principal.is_some()
            || public_write
            || ctx
                .settings
                .policy(bucket)
                .is_some_and(|p| actions.iter().any(|a| p.may_allow(None, a, self.context())))
    }

    fn evaluate(
        &self,
        policy: &Policy,
        action: &str,
        resource: &str,
        context: Option<&Context>,
    ) -> Option<Effect> {
        policy.evaluate(&Request {
            principal: self.caller.as_ref(),
            action,
            resource,
            context: context.unwrap_or_else(|| self.context()),
        })
    }

    /// An action on no bucket (ListBuckets, CreateBucket): any signed caller may.
    fn decide_unowned(&self) -> S3Result<()> {
        match self.identity {
            Some(_) => Ok(()),
            None => Err(S3Error::new(S3Code::AccessDenied)),
        }
    }

    /// Judges an action on a bucket, or on an object of it (`object`: its ACL, when it
    /// exists and ACLs count).
    fn decide(
        &self,
        access: &BucketAccess,
        policy: Option<&Policy>,
        verdict: Option<Effect>,
        action: &str,
        object: Option<&Acl>,
    ) -> S3Result<()> {
        if self.identity.is_none() && NEVER_ANONYMOUS.contains(&action) {
            return Err(S3Error::new(S3Code::AccessDenied));
        }
        let permission = access::acl_permission(action);
        let object = object.filter(|_| access.acls_enabled());
        let on_bucket = matches!(permission, Some((_, false)));
        let resource_owner = match object {
            Some(acl) if !on_bucket => acl.owner.as_str(),
            _ => access.owner(),
        };
        let acl = match permission {
            Some((needed, true)) => object.map(|acl| (acl, needed)),
            Some((needed, false)) if access.acls_enabled() => Some((&access.acl, needed)),
            _ => None,
        };
        let facts = access::Facts {
            requester: self.requester(),
            root: self.identity.as_ref().is_some_and(|who| who.root),
            bucket_owner: access.owner(),
            resource_owner,
            policy: verdict,
            policy_public: policy.is_some_and(Policy::is_public),
            acl,
            block: access.block,
            owner_always: ROOT_ALWAYS.contains(&action),
        };
        if access::decide(&facts) {
            Ok(())
        } else {
            Err(S3Error::new(S3Code::AccessDenied))
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
            (Action::GetObjectAcl, true) => "s3:GetObjectVersionAcl",
            (Action::PutObjectAcl, true) => "s3:PutObjectVersionAcl",
            (action, _) => action.iam_action(),
        };
        match (&route.bucket, &route.key) {
            // A bucket to be: nobody owns it yet (the handler answers a taken name).
            _ if route.action == Action::CreateBucket => self.check(ctx, None, action, ""),
            // Decided by check_body_tags; only a caller no statement could allow is refused now.
            (Some(b), Some(_))
                if route.action == Action::PutObjectTagging
                    && self.tests_body_tags(ctx, b, action) =>
            {
                let possible = self.caller.is_some()
                    || ctx
                        .settings
                        .policy(b)
                        .is_some_and(|p| p.may_allow(None, action, self.context()));
                match possible {
                    true => Ok(()),
                    false => Err(S3Error::new(S3Code::AccessDenied)),
                }
            }
            (Some(b), Some(k)) => self.check_object(ctx, b, k, version, action).await,
            (Some(b), None) => self.check(ctx, Some(b), action, &bucket_arn(b)),
            _ => self.check(ctx, None, action, "arn:aws:s3:::*"),
        }
    }
}

/// An object's ACL: as stored, or for objects from before owners existed, the bucket
/// owner's with full control.
pub fn object_acl(
    access: &BucketAccess,
    stored: Option<&crate::storage::interface::StoredAcl>,
) -> Acl {
    match stored {
        Some(stored) => Acl::from_stored(stored),
        None => Acl::private(access.owner()),
    }
}

/// A signer whose key the set no longer has (replaced mid-request) acts for nobody.
fn nobody() -> Identity {
    Identity {
        id: "unknown".into(),
        display_name: "unknown".into(),
        root: false,
    }
}

fn put_tagging_action(version: Option<&str>) -> &'static str {
    match version {
        Some(_) => "s3:PutObjectVersionTagging",
        None => "s3:PutObjectTagging",
    }
}
