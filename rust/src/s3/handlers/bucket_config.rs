//! Bucket policy, CORS, default encryption and lifecycle configuration, and CORS preflight.

use http::StatusCode;

use super::{MAX_LIST_XML_BODY, MAX_XML_BODY};
use crate::s3::bucket_encryption::BucketEncryption;
use crate::s3::bucket_settings::BucketSettings;
use crate::s3::cors::{self, CorsConfig};
use crate::s3::dto;
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::lifecycle::LifecycleConfig;
use crate::s3::policy::{MAX_POLICY_BYTES, Policy};
use crate::s3::response::{S3Response, empty, ok_xml, set_header};
use crate::s3::{Ctx, S3Request};
use crate::storage::interface::ConfigKind;

/// Stores (or, with `None`, removes) one of a bucket's configuration documents, and
/// applies it to the live settings once it is stored.
pub(super) async fn save_config(
    ctx: &Ctx,
    kind: ConfigKind,
    bucket: String,
    document: Option<Vec<u8>>,
    apply: impl FnOnce(&BucketSettings, &str) + Send + 'static,
) -> S3Result<()> {
    let settings = ctx.settings.clone();
    let name = bucket.clone();
    let then = Box::new(move || apply(&settings, &bucket));
    ctx.store
        .set_bucket_config(kind, &name, document, then)
        .await?;
    Ok(())
}

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
    if policy.is_public() && ctx.settings.access(&bucket).block.block_public_policy {
        return Err(S3Error::new(S3Code::AccessDenied));
    }
    save_config(
        ctx,
        ConfigKind::Policy,
        bucket,
        Some(body.to_vec()),
        move |s, b| s.set_policy(b, Some(policy)),
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
    save_config(ctx, ConfigKind::Policy, bucket, None, move |s, b| {
        s.set_policy(b, None)
    })
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
    save_config(
        ctx,
        ConfigKind::Cors,
        bucket,
        Some(json.to_vec()),
        move |s, b| s.set_cors(b, Some(config)),
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
    save_config(ctx, ConfigKind::Cors, bucket, None, move |s, b| {
        s.set_cors(b, None)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn put_encryption(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    // A missing bucket is answered before the document is judged, as AWS does.
    ctx.store.bucket_exists(&bucket).await?;
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let config = BucketEncryption::from_xml(&body)?;
    save_config(
        ctx,
        ConfigKind::Encryption,
        bucket,
        Some(config.to_json()),
        move |s, b| s.set_encryption(b, Some(config)),
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
    save_config(ctx, ConfigKind::Encryption, bucket, None, move |s, b| {
        s.set_encryption(b, None)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn put_lifecycle(ctx: &Ctx, mut req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    // Up to 1,000 rules, each with its filter and actions.
    let body = req.body.read_small(MAX_LIST_XML_BODY).await?;
    req.body.require_integrity()?;
    let config = LifecycleConfig::from_xml(&body)?;
    save_config(
        ctx,
        ConfigKind::Lifecycle,
        bucket,
        Some(config.to_json()),
        move |s, b| s.set_lifecycle(b, Some(config)),
    )
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_lifecycle(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let config = ctx.settings.lifecycle(&bucket).ok_or_else(|| {
        S3Error::new(S3Code::NoSuchLifecycleConfiguration).detail("BucketName", &bucket)
    })?;
    Ok(ok_xml(dto::to_xml(&config.to_dto())))
}

pub async fn delete_lifecycle(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    save_config(ctx, ConfigKind::Lifecycle, bucket, None, move |s, b| {
        s.set_lifecycle(b, None)
    })
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
