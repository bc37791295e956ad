//! Owners and access: bucket and object ACLs, Object Ownership, Block Public Access,
//! and the owner and ACL a new bucket or object gets.

use http::StatusCode;

use super::MAX_XML_BODY;
use crate::s3::access::{BucketAccess, ObjectOwnership, PublicAccessBlock};
use crate::s3::acl::{Acl, Grantee, Target};
use crate::s3::authorize::object_acl;
use crate::s3::bucket_settings::{acl_document, block_document, ownership_document};
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::response::{S3Response, empty, ok_xml};
use crate::s3::{Ctx, S3Request, dto, xml};
use crate::storage::interface::{BucketConfigs, ConfigKind, StoredAcl, Then};

/// An owner as listings and ACLs show it: with its display name when it is a user here.
pub fn owner_of(ctx: &Ctx, id: &str) -> dto::Owner {
    dto::Owner {
        id: id.to_string(),
        display_name: ctx.credentials.display_name(id).map(dto::Text),
    }
}

/// The owner of a stored object (objects from before owners existed: the bucket's).
pub fn object_owner(ctx: &Ctx, bucket: &str, stored: Option<&StoredAcl>) -> dto::Owner {
    match stored {
        Some(acl) => owner_of(ctx, &acl.owner),
        None => owner_of(ctx, ctx.settings.access(bucket).owner()),
    }
}

fn known_user(ctx: &Ctx) -> impl Fn(&str) -> bool + '_ {
    |id: &str| ctx.credentials.display_name(id).is_some()
}

/// Whom a request's writes belong to: its signer's user; for an unsigned request (or
/// auth off), `unsigned` (the bucket's owner for objects; the default account for
/// buckets). AWS gives what anonymous callers write to an anonymous owner nobody can
/// act as, so the bucket owner cannot even read it; like Ceph RGW, we give it to the
/// bucket owner, which is what a bucket taking browser uploads needs.
fn writer(req: &S3Request, unsigned: &str) -> String {
    match &req.authz.identity {
        Some(who) if req.authz.enabled => who.id.clone(),
        _ => unsigned.to_string(),
    }
}

/// The owner and ACL a new object gets: as its request asks (`x-amz-acl` or
/// `x-amz-grant-*`), else private; owned as the bucket's Object Ownership says. None
/// when that is the default (private to the bucket owner), which is what an object
/// without a stored ACL means.
pub fn new_object_acl(ctx: &Ctx, req: &S3Request, bucket: &str) -> S3Result<Option<StoredAcl>> {
    let access = ctx.settings.access(bucket);
    let canned = req.header("x-amz-acl").map(str::trim);
    let owner = access.object_owner(&writer(req, access.owner()), canned);
    let target = Target::Object {
        bucket_owner: access.owner(),
    };
    let known = known_user(ctx);
    let acl = match Acl::from_headers(&req.headers, &owner, target, &known)? {
        Some(acl) => {
            access.admit_acl(&acl, canned)?;
            acl
        }
        None => Acl::private(&owner),
    };
    let acl = if access.acls_enabled() {
        acl
    } else {
        Acl::private(access.owner())
    };
    Ok((acl != Acl::private(access.owner())).then(|| acl.to_stored()))
}

/// What CreateBucket stores with the new bucket (its owner and ACL, its Object
/// Ownership), and the cache update that goes with it.
pub fn new_bucket_access(
    ctx: &Ctx,
    req: &S3Request,
    bucket: &str,
) -> S3Result<(BucketConfigs, Then)> {
    let owner = writer(req, crate::auth::DEFAULT_OWNER_ID);
    let known = known_user(ctx);
    let canned = req.header("x-amz-acl").map(str::trim);
    let acl = Acl::from_headers(&req.headers, &owner, Target::Bucket, &known)?;
    let ownership = match req.header("x-amz-object-ownership").map(str::trim) {
        None => None,
        Some(rule) => Some(ObjectOwnership::parse(rule).ok_or_else(|| {
            S3Error::invalid_argument(
                "Invalid x-amz-object-ownership header",
                "x-amz-object-ownership",
                rule,
            )
        })?),
    };
    let probe = BucketAccess {
        acl: Acl::private(&owner),
        ownership,
        block: PublicAccessBlock::default(),
        block_set: false,
    };
    if let Some(acl) = &acl
        && probe.admit_acl(acl, canned).is_err()
    {
        return Err(S3Error::new(S3Code::InvalidBucketAclWithObjectOwnership));
    }
    let acl = acl.unwrap_or_else(|| Acl::private(&owner));
    let mut configs = vec![(ConfigKind::Acl, acl_document(&acl))];
    configs.extend(ownership.map(|rule| (ConfigKind::Ownership, ownership_document(rule))));
    let (settings, name) = (ctx.settings.clone(), bucket.to_string());
    let then: Then = Box::new(move || {
        settings.set_acl(&name, acl);
        settings.set_ownership(&name, ownership);
        settings.set_block(&name, None);
    });
    Ok((configs, then))
}

fn policy_document(ctx: &Ctx, acl: &Acl) -> dto::AccessControlPolicy {
    let grant = acl
        .grants
        .iter()
        .map(|g| dto::Grant {
            grantee: match &g.grantee {
                Grantee::User(id) => dto::Grantee::user(id, ctx.credentials.display_name(id)),
                Grantee::Group(uri) => dto::Grantee::group(uri),
            },
            permission: g.permission.as_str(),
        })
        .collect();
    dto::AccessControlPolicy {
        xmlns: dto::NS,
        owner: owner_of(ctx, &acl.owner),
        access_control_list: dto::AccessControlList { grant },
    }
}

/// The ACL a PutBucketAcl / PutObjectAcl asks for: from its headers or its body (not
/// both), for a resource owned by `owner`.
async fn requested_acl(
    ctx: &Ctx,
    req: &mut S3Request,
    owner: &str,
    target: Target<'_>,
) -> S3Result<(Acl, Option<String>)> {
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let canned = req.header("x-amz-acl").map(|c| c.trim().to_string());
    let known = known_user(ctx);
    let from_headers = Acl::from_headers(&req.headers, owner, target, &known)?;
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    let acl = match (from_headers, has_body) {
        (Some(_), true) => {
            return Err(S3Error::msg(
                S3Code::UnexpectedContent,
                "This request does not support content",
            ));
        }
        (Some(acl), false) => acl,
        (None, true) => Acl::from_document(&body, owner, &known)?,
        (None, false) => {
            return Err(S3Error::msg(
                S3Code::MissingSecurityHeader,
                "Your request was missing a required header",
            )
            .detail("MissingHeaderName", "x-amz-acl"));
        }
    };
    Ok((acl, canned))
}

pub async fn get_bucket_acl(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let access = ctx.settings.access(&bucket);
    Ok(ok_xml(dto::to_xml(&policy_document(ctx, &access.acl))))
}

pub async fn put_bucket_acl(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let access = ctx.settings.access(&bucket);
    let (acl, canned) = requested_acl(ctx, &mut req, access.owner(), Target::Bucket).await?;
    access.admit_acl(&acl, canned.as_deref())?;
    let document = acl_document(&acl);
    super::bucket_config::save_config(ctx, ConfigKind::Acl, bucket, Some(document), move |s, b| {
        s.set_acl(b, acl)
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_object_acl(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
    key: String,
    version_id: Option<String>,
) -> S3Result<S3Response> {
    let meta = ctx
        .store
        .head_object(&bucket, &key, version_id.as_deref())
        .await?;
    let acl = object_acl(&ctx.settings.access(&bucket), meta.acl.as_ref());
    let mut res = ok_xml(dto::to_xml(&policy_document(ctx, &acl)));
    if let Some(v) = &meta.version_id {
        crate::s3::response::set_header(&mut res, "x-amz-version-id", v);
    }
    Ok(res)
}

pub async fn put_object_acl(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
    key: String,
    version_id: Option<String>,
) -> S3Result<S3Response> {
    let meta = ctx
        .store
        .head_object(&bucket, &key, version_id.as_deref())
        .await?;
    let access = ctx.settings.access(&bucket);
    let owner = object_acl(&access, meta.acl.as_ref()).owner;
    let target = Target::Object {
        bucket_owner: access.owner(),
    };
    let (acl, canned) = requested_acl(ctx, &mut req, &owner, target).await?;
    access.admit_acl(&acl, canned.as_deref())?;
    let stored = acl.to_stored();
    let updated = ctx
        .store
        .update_object(
            &bucket,
            &key,
            version_id.as_deref(),
            Box::new(move |m| {
                m.acl = Some(stored.clone());
                Ok(())
            }),
        )
        .await?;
    let mut res = empty(StatusCode::OK);
    if let Some(v) = &updated.version_id {
        crate::s3::response::set_header(&mut res, "x-amz-version-id", v);
    }
    Ok(res)
}

pub async fn put_ownership(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let rule = xml::parse_ownership_controls(&body)?;
    let rule = ObjectOwnership::parse(&rule).ok_or_else(|| S3Error::new(S3Code::MalformedXML))?;
    ctx.store.bucket_exists(&bucket).await?;
    // ACLs can only be disabled on a bucket whose own ACL grants nobody else anything.
    let access = ctx.settings.access(&bucket);
    if rule == ObjectOwnership::BucketOwnerEnforced && access.acl != Acl::private(access.owner()) {
        return Err(S3Error::new(S3Code::InvalidBucketAclWithObjectOwnership));
    }
    let document = ownership_document(rule);
    super::bucket_config::save_config(
        ctx,
        ConfigKind::Ownership,
        bucket,
        Some(document),
        move |s, b| s.set_ownership(b, Some(rule)),
    )
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_ownership(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let rule = ctx.settings.access(&bucket).ownership.ok_or_else(|| {
        S3Error::new(S3Code::OwnershipControlsNotFoundError).detail("BucketName", &bucket)
    })?;
    Ok(ok_xml(dto::to_xml(&dto::OwnershipControls {
        xmlns: dto::NS,
        rule: dto::OwnershipRule {
            object_ownership: rule.as_str(),
        },
    })))
}

pub async fn delete_ownership(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    super::bucket_config::save_config(ctx, ConfigKind::Ownership, bucket, None, move |s, b| {
        s.set_ownership(b, None)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn put_public_access_block(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
) -> S3Result<S3Response> {
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let doc = xml::parse_public_access_block(&body)?;
    let block = PublicAccessBlock {
        block_public_acls: doc.block_public_acls.unwrap_or(false),
        ignore_public_acls: doc.ignore_public_acls.unwrap_or(false),
        block_public_policy: doc.block_public_policy.unwrap_or(false),
        restrict_public_buckets: doc.restrict_public_buckets.unwrap_or(false),
    };
    let document = block_document(&block);
    super::bucket_config::save_config(
        ctx,
        ConfigKind::PublicAccessBlock,
        bucket,
        Some(document),
        move |s, b| s.set_block(b, Some(block)),
    )
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_public_access_block(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let access = ctx.settings.access(&bucket);
    if !access.block_set {
        return Err(S3Error::new(S3Code::NoSuchPublicAccessBlockConfiguration)
            .detail("BucketName", &bucket));
    }
    let b = access.block;
    Ok(ok_xml(dto::to_xml(&dto::PublicAccessBlockConfiguration {
        xmlns: dto::NS,
        block_public_acls: b.block_public_acls,
        ignore_public_acls: b.ignore_public_acls,
        block_public_policy: b.block_public_policy,
        restrict_public_buckets: b.restrict_public_buckets,
    })))
}

pub async fn delete_public_access_block(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
) -> S3Result<S3Response> {
    super::bucket_config::save_config(
        ctx,
        ConfigKind::PublicAccessBlock,
        bucket,
        None,
        move |s, b| s.set_block(b, None),
    )
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
