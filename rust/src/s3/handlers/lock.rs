//! Object Lock: the bucket's configuration (`?object-lock`), a version's retention
//! (`?retention`) and legal hold (`?legal-hold`), and what the object paths ask of
//! it (a new version's lock, a deletion's guard, the lock headers of GET and HEAD).
//! The rules are `s3::object_lock`'s.

use http::StatusCode;

use super::{MAX_XML_BODY, set_version_header};
use crate::s3::authorize::object_arn;
use crate::s3::error::{S3Code, S3Error, S3Result};
use crate::s3::object_lock::{self as lock, LockConfig};
use crate::s3::response::{S3Response, empty, ok_xml, set_header};
use crate::s3::router::ObjectVersion;
use crate::s3::{Ctx, S3Request, dto};
use crate::storage::interface::{ConfigKind, DeleteGuard, ObjectMeta, StoredLock};

/// The lock configuration of a bucket with lock on, else InvalidRequest, as AWS
/// answers retention and legal hold requests there.
fn lock_on(ctx: &Ctx, bucket: &str) -> S3Result<std::sync::Arc<LockConfig>> {
    ctx.settings
        .object_lock(bucket)
        .filter(|c| c.enabled)
        .ok_or_else(lock::missing_configuration)
}

/// The version's bucket exists and has lock on (the per-version requests' precondition).
async fn lock_bucket(ctx: &Ctx, o: &ObjectVersion) -> S3Result<()> {
    ctx.store.bucket_exists(&o.bucket).await?;
    lock_on(ctx, &o.bucket).map(|_| ())
}

pub async fn put_configuration(
    ctx: &Ctx,
    mut req: S3Request,
    bucket: String,
) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let config = LockConfig::from_xml(&body)?;
    // Lock may be turned on for an existing bucket only while versioning is on (and
    // keeps it on from then).
    if ctx.settings.object_lock(&bucket).is_none()
        && ctx.store.versioning(&bucket).await?.as_deref() != Some("Enabled")
    {
        return Err(S3Error::msg(
            S3Code::InvalidBucketState,
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
        ));
    }
    super::bucket_config::save_config(
        ctx,
        ConfigKind::ObjectLock,
        bucket,
        Some(config.to_json()),
        move |s, b| s.set_object_lock(b, Some(config)),
    )
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_configuration(ctx: &Ctx, _req: S3Request, bucket: String) -> S3Result<S3Response> {
    ctx.store.bucket_exists(&bucket).await?;
    let config = ctx.settings.object_lock(&bucket).ok_or_else(|| {
        S3Error::new(S3Code::ObjectLockConfigurationNotFoundError).detail("BucketName", &bucket)
    })?;
    Ok(ok_xml(dto::to_xml(&config.to_dto())))
}

/// Whether the request asks to bypass governance retention and its caller may.
fn bypass(ctx: &Ctx, req: &S3Request, bucket: &str, key: &str) -> bool {
    req.header(lock::BYPASS_HEADER)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        && req
            .authz
            .check(
                ctx,
                Some(bucket),
                "s3:BypassGovernanceRetention",
                &object_arn(bucket, key),
            )
            .is_ok()
}

/// The guard a deletion in `bucket` carries: none where lock is off.
pub fn deletion_guard(ctx: &Ctx, req: &S3Request, bucket: &str, key: &str) -> Option<DeleteGuard> {
    ctx.settings
        .object_lock(bucket)
        .map(|_| lock::deletion_guard(bypass(ctx, req, bucket, key)))
}

/// The lock of a version a PutObject, CopyObject, CreateMultipartUpload or POST writes:
/// the `x-amz-object-lock-*` headers (which need s3:PutObjectRetention and
/// s3:PutObjectLegalHold, as on AWS), else the bucket's default retention.
pub fn new_version_lock(
    ctx: &Ctx,
    req: &S3Request,
    bucket: &str,
    key: &str,
) -> S3Result<StoredLock> {
    let now = lock::now_ms();
    let requested = lock::requested(&req.headers, now)?;
    let config = ctx.settings.object_lock(bucket);
    let new = lock::lock_for_new(config.as_deref(), requested, now)?;
    let resource = object_arn(bucket, key);
    if requested.0.is_some() {
        req.authz
            .check(ctx, Some(bucket), "s3:PutObjectRetention", &resource)?;
    }
    if requested.1.is_some() {
        req.authz
            .check(ctx, Some(bucket), "s3:PutObjectLegalHold", &resource)?;
    }
    Ok(new)
}

/// PutObject with lock parameters (its own, or the bucket's default retention) needs
/// Content-MD5 or a flexible checksum, as on AWS.
pub fn check_put_integrity(ctx: &Ctx, req: &S3Request, bucket: &str) -> S3Result<()> {
    let default = ctx
        .settings
        .object_lock(bucket)
        .is_some_and(|c| c.default_retention.is_some());
    if (default || lock::names_lock(&req.headers)) && !lock::has_integrity_check(&req.headers) {
        return Err(lock::integrity_check_missing());
    }
    Ok(())
}

/// The lock headers of GET and HEAD, to a caller allowed to read them (as on AWS).
pub fn set_lock_headers(
    ctx: &Ctx,
    req: &S3Request,
    bucket: &str,
    meta: &ObjectMeta,
    res: &mut S3Response,
) {
    if meta.lock.is_empty() {
        return;
    }
    let resource = object_arn(bucket, &meta.key);
    let may = |action| {
        req.authz
            .check(ctx, Some(bucket), action, &resource)
            .is_ok()
    };
    let headers = lock::response_headers(
        &meta.lock,
        may("s3:GetObjectRetention"),
        may("s3:GetObjectLegalHold"),
    );
    for (name, value) in headers {
        set_header(res, name, &value);
    }
}

/// The version asked about, which must be an object (a delete marker is 405, as on AWS).
async fn version_of(ctx: &Ctx, o: &ObjectVersion) -> S3Result<ObjectMeta> {
    let meta = ctx
        .store
        .head_object(&o.bucket, &o.key, o.version_id.as_deref())
        .await?;
    if meta.delete_marker {
        return Err(crate::storage::Error::DeleteMarker.into());
    }
    Ok(meta)
}

pub async fn put_retention(
    ctx: &Ctx,
    mut req: S3Request,
    o: ObjectVersion,
) -> S3Result<S3Response> {
    lock_bucket(ctx, &o).await?;
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let now = lock::now_ms();
    let retention = lock::retention_from_xml(&body, now)?;
    let bypass = bypass(ctx, &req, &o.bucket, &o.key);
    // Judged under the key's lock, against the retention the version has then.
    let change = move |m: &mut ObjectMeta| {
        lock::check_retention_change(&m.lock, retention, lock::now_ms(), bypass)?;
        lock::set_retention(&mut m.lock, retention);
        Ok(())
    };
    update_version(ctx, &o, change).await
}

pub async fn get_retention(ctx: &Ctx, _req: S3Request, o: ObjectVersion) -> S3Result<S3Response> {
    lock_bucket(ctx, &o).await?;
    let meta = version_of(ctx, &o).await?;
    let retention = lock::retention_of(&meta.lock)
        .ok_or_else(|| S3Error::new(S3Code::NoSuchObjectLockConfiguration))?;
    Ok(ok_xml(dto::to_xml(&dto::Retention {
        xmlns: dto::NS,
        mode: retention.mode.as_str().to_string(),
        retain_until_date: crate::s3::headers::iso8601(retention.until),
    })))
}

pub async fn put_legal_hold(
    ctx: &Ctx,
    mut req: S3Request,
    o: ObjectVersion,
) -> S3Result<S3Response> {
    lock_bucket(ctx, &o).await?;
    let body = req.body.read_small(MAX_XML_BODY).await?;
    let hold = lock::legal_hold_from_xml(&body)?;
    let change = move |m: &mut ObjectMeta| {
        m.lock.legal_hold = Some(hold);
        Ok(())
    };
    update_version(ctx, &o, change).await
}

pub async fn get_legal_hold(ctx: &Ctx, _req: S3Request, o: ObjectVersion) -> S3Result<S3Response> {
    lock_bucket(ctx, &o).await?;
    let meta = version_of(ctx, &o).await?;
    // A version whose hold was never set has no legal hold configuration, as on AWS.
    let hold = meta
        .lock
        .legal_hold
        .ok_or_else(|| S3Error::new(S3Code::NoSuchObjectLockConfiguration))?;
    Ok(ok_xml(dto::to_xml(&dto::LegalHold {
        xmlns: dto::NS,
        status: lock::hold_status(hold),
    })))
}

/// Applies `change` to the version under storage's key lock; answers 200 with its id.
async fn update_version(
    ctx: &Ctx,
    o: &ObjectVersion,
    change: impl Fn(&mut ObjectMeta) -> crate::storage::Result<()> + Send + Sync + 'static,
) -> S3Result<S3Response> {
    let meta = ctx
        .store
        .update_object(&o.bucket, &o.key, o.version_id.as_deref(), Box::new(change))
        .await?;
    let mut res = empty(StatusCode::OK);
    set_version_header(&mut res, meta.version_id.as_deref());
    Ok(res)
}
