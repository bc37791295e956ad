//! Bucket operations.

use http::StatusCode;

use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::headers::iso8601;
use crate::s3::response::{S3Response, empty, ok_xml, set_header};
use crate::s3::{Ctx, S3Request};
use crate::s3::{dto, xml};

pub async fn list_buckets(ctx: &Ctx, _req: S3Request) -> S3Result<S3Response> {
    let region = ctx.region.clone();
    let buckets = ctx.store.list_buckets(&region).await?;
    let bucket = buckets
        .iter()
        .map(|b| dto::BucketEntry {
            name: b.name.as_str().into(),
            creation_date: iso8601(b.created),
            bucket_region: b.region.as_str().into(),
        })
        .collect();
    Ok(ok_xml(dto::to_xml(&dto::ListAllMyBucketsResult {
        xmlns: dto::NS,
        owner: dto::OWNER,
        buckets: dto::Buckets { bucket },
    })))
}

pub async fn create_bucket(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    let body = req.body.read_small(super::MAX_XML_BODY).await?;
    let config = xml::parse_create_bucket(&body)?;
    // As on AWS: the us-east-1 endpoint creates buckets for any region; a regional
    // endpoint only for its own.
    let region = match config.location_constraint.as_deref().map(str::trim) {
        None | Some("") => ctx.region.clone(),
        Some(constraint) if ctx.region == "us-east-1" || constraint == ctx.region => {
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
    ctx.store.create_bucket(&bucket, &region).await?;
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
    let constraint = if info.region == "us-east-1" {
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
    ctx.store.set_versioning(&bucket, &status).await?;
    Ok(empty(StatusCode::OK))
}

/// The owner has full control: the only ACL this server has.
pub async fn get_acl(
    ctx: &Ctx,
    _req: S3Request,
    bucket: String,
    key: Option<String>,
) -> S3Result<S3Response> {
    match key {
        Some(key) => ctx
            .store
            .head_object(&bucket, &key, None)
            .await
            .map(|_| ())?,
        None => ctx.store.bucket_exists(&bucket).await?,
    }
    Ok(ok_xml(dto::to_xml(
        &dto::AccessControlPolicy::owner_full_control(),
    )))
}
