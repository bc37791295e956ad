//! Bucket policy, CORS and default encryption configuration, and CORS preflight.

use http::StatusCode;

use super::MAX_XML_BODY;
use crate::s3::bucket_encryption::BucketEncryption;
use crate::s3::cors::{self, CorsConfig};
use crate::s3::dto;
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::policy::{MAX_POLICY_BYTES, Policy};
use crate::s3::response::{S3Response, empty, ok_xml, set_header};
use crate::s3::{Ctx, S3Request};
use crate::storage::interface::ConfigKind;

fn json_response(bytes: Vec<u8>) -> S3Response {
    let mut res = http::Response::new(crate::s3::response::full(bytes));
    set_header(&mut res, "content-type", "application/json");
    res
}

pub async fn put_policy(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    let body = req
        .body
        .read_small(MAX_POLICY_BYTES + 1)
        .await
        .map_err(|_| S3Error::msg(S3Code::MalformedPolicy, "Policies must be less than 20 KB"))?;
    let policy = Policy::parse(&body, &bucket)?;
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    ctx.store
        .set_bucket_config(
            ConfigKind::Policy,
            &name,
            Some(body.to_vec()),
            Box::new(move || settings.set_policy(&bucket, Some(policy))),
        )
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_policy(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let name = bucket.clone();
    let bytes = ctx.store.bucket_config(ConfigKind::Policy, &bucket).await?;
    bytes
        .map(json_response)
        .ok_or_else(|| S3Error::new(S3Code::NoSuchBucketPolicy).detail("BucketName", name))
}

pub async fn delete_policy(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    ctx.store
        .set_bucket_config(
            ConfigKind::Policy,
            &name,
            None,
            Box::new(move || settings.set_policy(&bucket, None)),
        )
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_policy_status(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let policy = ctx
        .settings
        .policy(&bucket)
        .ok_or_else(|| S3Error::new(S3Code::NoSuchBucketPolicy).detail("BucketName", &bucket))?;
    Ok(ok_xml(dto::to_xml(&dto::PolicyStatus {
        xmlns: dto::NS,
        is_public: policy.is_public(),
    })))
}

pub async fn put_cors(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let config = CorsConfig::from_xml(&body)?;
    let json = serde_json::to_vec_pretty(&config).map_err(S3Error::internal)?;
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    ctx.store
        .set_bucket_config(
            ConfigKind::Cors,
            &name,
            Some(json.to_vec()),
            Box::new(move || settings.set_cors(&bucket, Some(config))),
        )
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_cors(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let config = ctx.settings.cors(&bucket).ok_or_else(|| {
        S3Error::new(S3Code::NoSuchCORSConfiguration).detail("BucketName", &bucket)
    })?;
    Ok(ok_xml(dto::to_xml(&config.to_dto())))
}

pub async fn delete_cors(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    ctx.store
        .set_bucket_config(
            ConfigKind::Cors,
            &name,
            None,
            Box::new(move || settings.set_cors(&bucket, None)),
        )
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn put_encryption(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    // A missing bucket is answered before the document is judged, as AWS does.
    ctx.store.bucket_exists(&bucket).await?;
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let config = BucketEncryption::from_xml(&body)?;
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    ctx.store
        .set_bucket_config(
            ConfigKind::Encryption,
            &name,
            Some(config.to_json()),
            Box::new(move || settings.set_encryption(&bucket, Some(config))),
        )
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_encryption(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let config = ctx.settings.default_encryption(&bucket).ok_or_else(|| {
        S3Error::new(S3Code::ServerSideEncryptionConfigurationNotFoundError)
            .detail("BucketName", &bucket)
    })?;
    Ok(ok_xml(dto::to_xml(&config.to_dto())))
}

pub async fn delete_encryption(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    ctx.store
        .set_bucket_config(
            ConfigKind::Encryption,
            &name,
            None,
            Box::new(move || settings.set_encryption(&bucket, None)),
        )
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Answers a preflight from the bucket's rules (or the server default).
pub async fn preflight(ctx: &Ctx, req: S3Request, bucket: Option<String>) -> S3Result<S3Response> {
    let origin = req.header("origin").ok_or_else(|| {
        S3Error::msg(
            S3Code::BadRequest,
            "Insufficient information. Origin request header needed.",
        )
    })?;
    let method = req.header("access-control-request-method").ok_or_else(|| {
        S3Error::msg(
            S3Code::BadRequest,
            "Invalid Access-Control-Request-Method: null",
        )
    })?;
    let config = ctx.cors_for(bucket.as_deref()).ok_or_else(|| {
        S3Error::msg(
            S3Code::AccessForbidden,
            "CORSResponse: CORS is not enabled for this bucket.",
        )
        .detail("Method", method)
        .detail("ResourceType", "OBJECT")
    })?;
    let requested = cors::requested_headers(req.header("access-control-request-headers"));
    let rule = config.find(origin, method, &requested).ok_or_else(|| {
        S3Error::new(S3Code::AccessForbidden)
            .detail("Method", method)
            .detail("ResourceType", "OBJECT")
    })?;
    let mut res = empty(StatusCode::OK);
    for (name, value) in cors::response_headers(rule, origin, Some(&requested)) {
        set_header(&mut res, name, &value);
    }
    Ok(res)
}
