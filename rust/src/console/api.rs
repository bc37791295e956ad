//! The console's two JSON answers beside S3: what the page needs before sign-in
//! (`info`), and the overview the S3 API has no call for (`overview`: bucket summaries,
//! and for the operator's account the server's figures and health).

use http::{HeaderMap, Method, Uri};
use serde::Serialize;

use super::Console;
use crate::management::protocol::{BucketSummary, ClusterHealth, StorageStats};
use crate::management::reports;
use crate::ops::metrics::Totals;
use crate::s3::Ctx;
use crate::s3::auth::{self, AuthInput};
use crate::s3::error::S3Error;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    version: &'static str,
    region: String,
    auth_enabled: bool,
    s3: S3Endpoint,
}

/// Where presigned links point: the S3 port of the scheme the console is served over.
#[derive(Serialize)]
struct S3Endpoint {
    port: u16,
    tls: bool,
}

pub fn info(ctx: &Ctx, console: &Console) -> Info {
    Info {
        version: env!("CARGO_PKG_VERSION"),
        region: ctx.region.clone(),
        auth_enabled: ctx.auth_enabled,
        s3: S3Endpoint {
            port: console.s3_port,
            tls: console.tls,
        },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    identity: Caller,
    buckets: Vec<ConsoleBucket>,
    /// Only for the operator's account (the keys without an `owner`).
    server: Option<ServerFigures>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Caller {
    access_key_id: Option<String>,
    display_name: String,
    admin: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConsoleBucket {
    #[serde(flatten)]
    summary: BucketSummary,
    versioning: Option<String>,
    object_lock: bool,
    has_lifecycle: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerFigures {
    version: &'static str,
    uptime_seconds: f64,
    requests: Option<Totals>,
    stats: StorageStats,
    health: ClusterHealth,
}

/// Why an overview was refused: the S3 error its signature earned.
pub struct Refused(pub S3Error);

/// The caller's buckets with their figures; the server's too for the operator. Signed as
/// an S3 request is (the page signs it with the same key).
pub async fn overview(
    ctx: &Ctx,
    console: &Console,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Overview, Refused> {
    let caller = caller(ctx, method, uri, headers).map_err(Refused)?;
    ctx.sync_shared().await.map_err(|e| Refused(e.into()))?;
    let mut buckets = ctx
        .store
        .list_buckets(&ctx.region)
        .await
        .map_err(|e| Refused(e.into()))?;
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    // As ListBuckets: each user sees the buckets it owns (with auth off, every bucket).
    let owner = caller
        .as_ref()
        .map_or(crate::auth::DEFAULT_OWNER_ID, |c| c.id.as_str());
    buckets.retain(|b| !ctx.auth_enabled || ctx.settings.access(&b.name).owner() == owner);
    let summaries = reports::bucket_summaries(ctx, &buckets);
    let buckets = buckets
        .into_iter()
        .zip(summaries)
        .map(|(info, summary)| ConsoleBucket {
            object_lock: ctx.settings.object_lock(&info.name).is_some(),
            has_lifecycle: ctx.settings.lifecycle(&info.name).is_some(),
            versioning: info.versioning,
            summary,
        })
        .collect();
    let admin = owner == crate::auth::DEFAULT_OWNER_ID;
    let server = match admin {
        true => Some(server_figures(ctx, console).await.map_err(Refused)?),
        false => None,
    };
    Ok(Overview {
        identity: Caller {
            access_key_id: caller.as_ref().map(|c| c.access_key.clone()),
            display_name: caller.map_or_else(
                || crate::auth::DEFAULT_OWNER_NAME.to_string(),
                |c| c.display_name,
            ),
            admin,
        },
        buckets,
        server,
    })
}

struct Signer {
    access_key: String,
    id: String,
    display_name: String,
}

/// Who signed (`None` with auth off); an unsigned or badly signed request is refused.
fn caller(
    ctx: &Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Signer>, S3Error> {
    if !ctx.auth_enabled {
        return Ok(None);
    }
    let query = crate::s3::router::Query::parse(uri.query());
    let authenticated = auth::authenticate(&AuthInput {
        method,
        uri,
        headers,
        query: &query,
        vhost_bucket: None,
        region: &ctx.region,
        credentials: &ctx.credentials,
        sig_v2: ctx.sig_v2,
    })?;
    let identity = authenticated
        .access_key
        .as_deref()
        .and_then(|key| Some((key, ctx.credentials.identity(key)?)));
    match identity {
        Some((key, identity)) => Ok(Some(Signer {
            access_key: key.to_string(),
            id: identity.id,
            display_name: identity.display_name,
        })),
        None => Err(S3Error::msg(
            crate::s3::error::S3Code::AccessDenied,
            "sign in: the console's API takes signed requests only",
        )),
    }
}

async fn server_figures(ctx: &Ctx, console: &Console) -> Result<ServerFigures, S3Error> {
    let health = reports::cluster_health(ctx, console.cluster.as_ref()).await?;
    Ok(ServerFigures {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: console.started.elapsed().as_secs_f64(),
        requests: console.metrics.as_ref().map(|m| m.totals()),
        stats: reports::storage_stats(ctx).await,
        health,
    })
}
