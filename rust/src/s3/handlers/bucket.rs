//! Bucket operations.

use http::StatusCode;

use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::headers::iso8601;
use crate::s3::object_lock::LockConfig;
use crate::s3::response::{S3Response, empty, ok_xml, set_header};
use crate::s3::{Ctx, S3Request};
use crate::s3::{dto, xml};
use crate::storage::interface::ConfigKind;

const US_EAST_1: &str = "us-east-1";

/// AWS's page size when a ListBuckets parameter is sent without `max-buckets`, and
/// the largest `max-buckets`.
const MAX_BUCKETS: usize = 10_000;

/// `max-buckets`: 1 to 10000. Without any paging parameter every bucket is listed.
fn parse_max_buckets(req: &S3Request) -> S3Result<usize> {
    let Some(v) = req.query.get("max-buckets") else {
        let paged = ["continuation-token", "prefix", "bucket-region"]
            .iter()
            .any(|p| req.query.has(p));
        return Ok(if paged { MAX_BUCKETS } else { usize::MAX });
    };
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_BUCKETS).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Argument max-buckets must be an integer between 1 and 10000",
                "max-buckets",
                v,
            )
        })
}

/// ListBuckets, by name, paged by `max-buckets` and an opaque `continuation-token`
/// (the last name listed), filtered by `prefix` and `bucket-region`.
pub async fn list_buckets(ctx: &Ctx, req: S3Request) -> S3Result<S3Response> {
    let max = parse_max_buckets(&req)?;
    let after = req
        .query
        .get("continuation-token")
        .map(super::list::decode_token)
        .transpose()?;
    let prefix = req.query.get("prefix").unwrap_or_default();
    let region = req.query.get("bucket-region");
    let mut buckets = ctx.store.list_buckets(&ctx.region).await?;
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    // Each user lists the buckets it owns (with auth off, every bucket).
    let me = req.authz.identity.as_ref().map(|who| who.id.as_str());
    let owner = me.unwrap_or(crate::auth::DEFAULT_OWNER_ID);
    let mut listed = buckets.iter().filter(|b| {
        (!ctx.auth_enabled || ctx.settings.access(&b.name).owner() == owner)
            && b.name.starts_with(prefix)
            && after.as_ref().is_none_or(|a| b.name.as_str() > a.as_str())
            && region.is_none_or(|r| b.region == r)
    });
    let page: Vec<_> = listed.by_ref().take(max).collect();
    let truncated = listed.next().is_some();
    let continuation_token = page
        .last()
        .filter(|_| truncated)
        .map(|b| super::list::encode_token(&b.name).into());
    let bucket = page
        .iter()
        .map(|b| dto::BucketEntry {
            name: b.name.as_str().into(),
            creation_date: iso8601(b.created),
            bucket_region: b.region.as_str().into(),
        })
        .collect();
    Ok(ok_xml(dto::to_xml(&dto::ListAllMyBucketsResult {
        xmlns: dto::NS,
        owner: super::access::owner_of(ctx, owner),
        buckets: dto::Buckets { bucket },
        continuation_token,
        prefix: req.query.get("prefix").map(Into::into),
    })))
}

pub async fn create_bucket(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    crate::s3::check_not_reserved(&bucket)?;
    let body = req.body.read_small(super::MAX_XML_BODY).await?;
    let config = xml::parse_create_bucket(&body)?;
    // As on AWS: the us-east-1 endpoint creates buckets for any region; a regional
    // endpoint only for its own.
    let region = match config.location_constraint.as_deref().map(str::trim) {
        None | Some("") => ctx.region.clone(),
        Some(constraint) if ctx.region == US_EAST_1 || constraint == ctx.region => {
            constraint.to_string()
        }
        Some(constraint) => {
            return Err(S3Error::msg(
                S3Code::IllegalLocationConstraintException,
                format!(
                    "The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to."
                ),
            ));
        }
    };
    let (mut configs, then) = super::access::new_bucket_access(ctx, &req, &bucket)?;
    let locked = match req
        .header("x-amz-bucket-object-lock-enabled")
        .map(str::trim)
    {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(S3Error::invalid_argument(
                "Invalid x-amz-bucket-object-lock-enabled header",
                "x-amz-bucket-object-lock-enabled",
                v,
            ));
        }
    };
    let then: crate::storage::interface::Then = match locked {
        true => {
            configs.push((ConfigKind::ObjectLock, LockConfig::enabled().to_json()));
            let (settings, name) = (ctx.settings.clone(), bucket.clone());
            Box::new(move || {
                then();
                settings.set_object_lock(&name, Some(LockConfig::enabled()));
            })
        }
        false => then,
    };
    let created = ctx
        .store
        .create_bucket_with(&bucket, &region, configs, then)
        .await;
    // Lock turns versioning on (a crash before this is repaired at the next start).
    if created.is_ok() && locked {
        ctx.store.set_versioning(&bucket, "Enabled").await?;
    }
    if let Err(e) = created {
        let exists = matches!(e, crate::storage::Error::BucketExists { .. });
        // Another user's bucket: its name is taken.
        let owner = ctx.settings.access(&bucket).owner().to_string();
        if exists && ctx.auth_enabled && owner != req.authz.requester_id() {
            return Err(S3Error::new(S3Code::BucketAlreadyExists).detail("BucketName", &bucket));
        }
        // AWS's legacy answer in us-east-1: re-creating a bucket you own there succeeds
        // (and changes nothing); everywhere else it is 409 BucketAlreadyOwnedByYou.
        let legacy = exists
            && ctx.region == US_EAST_1
            && ctx.store.bucket_info(&bucket, &ctx.region).await?.region == US_EAST_1;
        if !legacy {
            return Err(e.into());
        }
    }
    let mut res = empty(StatusCode::OK);
    set_header(&mut res, "location", &format!("/{bucket}"));
    Ok(res)
}

pub async fn head_bucket(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let info = ctx.store.bucket_info(&bucket, &ctx.region).await?;
    let mut res = empty(StatusCode::OK);
    set_header(&mut res, "x-amz-bucket-region", &info.region);
    Ok(res)
}

pub async fn delete_bucket(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let (settings, name) = (ctx.settings.clone(), bucket.clone());
    ctx.store
        .delete_bucket(&bucket, Box::new(move || settings.forget(&name)))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_location(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let info = ctx.store.bucket_info(&bucket, &ctx.region).await?;
    // AWS answers an empty constraint for us-east-1.
    let constraint = if info.region == US_EAST_1 {
        ""
    } else {
        info.region.as_str()
    };
    Ok(ok_xml(dto::to_xml(&dto::LocationConstraint {
        xmlns: dto::NS,
        region: constraint.into(),
    })))
}

/// A bucket that never had versioning answers a document without Status, as AWS does.
pub async fn get_versioning(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let status = ctx.store.versioning(&bucket).await?;
    Ok(ok_xml(dto::to_xml(&dto::VersioningConfiguration {
        xmlns: dto::NS,
        status,
    })))
}

pub async fn put_versioning(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    let body = req.body.read_small(super::MAX_XML_BODY).await?;
    let status = xml::parse_versioning(&body)?;
    crate::s3::object_lock::check_versioning_change(&ctx.settings, &bucket, &status)?;
    ctx.store.set_versioning(&bucket, &status).await?;
    Ok(empty(StatusCode::OK))
}

/// A sub-resource this server does not implement: a missing bucket or key is answered
/// first (404, as AWS does), then 501 naming the feature.
pub async fn unsupported(
    ctx: &Ctx,
    bucket: Option<String>,
    key: Option<String>,
    feature: String,
) -> S3Result<S3Response> {
    match (bucket, key) {
        (Some(bucket), Some(key)) => ctx
            .store
            .head_object(&bucket, &key, None)
            .await
            .map(|_| ())?,
        (Some(bucket), None) => ctx.store.bucket_exists(&bucket).await?,
        _ => {}
    }
    Err(crate::s3::router::not_implemented(&feature))
}
