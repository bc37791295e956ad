//! Operating the server: health probes, Prometheus metrics, the access log and the
//! request log, and the observer that feeds the last three. None of it is S3: the
//! server (`server.rs`) asks here first, and hands everything else to the S3 layer.

pub mod access_log;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod request_log;

use http::{Method, Request, Response, StatusCode};
use std::sync::Arc;

use crate::cluster::store::ClusterStore;
use crate::s3::RequestFacts;
use crate::s3::response::{S3Response, full};
use crate::storage::interface::Storage;
use health::{Health, Probe};
use metrics::Metrics;
use observe::Observers;

/// Where the metrics are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAt {
    Off,
    /// On the S3 port, at `/metrics`.
    S3Port,
    /// On a listener of their own (any path).
    OwnPort,
}

pub struct Ops {
    pub observers: Arc<Observers>,
    health: Health,
    store: Arc<dyn Storage>,
    cluster: Option<ClusterStore>,
    metrics_at: MetricsAt,
    /// For telling a path-style probe from an object of a virtual-hosted bucket.
    virtual_host_domains: Vec<String>,
}

impl Ops {
    pub fn new(
        observers: Observers,
        store: Arc<dyn Storage>,
        cluster: Option<ClusterStore>,
        metrics_at: MetricsAt,
        virtual_host_domains: Vec<String>,
    ) -> Ops {
        Ops {
            observers: Arc::new(observers),
            health: Health::new(store.clone(), cluster.clone()),
            store,
            cluster,
            metrics_at,
            virtual_host_domains,
        }
    }

    fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.observers.metrics.as_ref()
    }

    /// A health probe, or a metrics scrape on the S3 port: answered here. Anything else
    /// (`None`) is S3's.
    pub async fn answer<B>(&self, req: &Request<B>) -> Option<S3Response> {
        let path = req.uri().path();
        let probe = Probe::of(path);
        let scrape = self.metrics_at == MetricsAt::S3Port && path == "/metrics" && is_scrape(req);
        if probe.is_none() && !scrape
            || !matches!(*req.method(), Method::GET | Method::HEAD)
            || crate::s3::router::virtual_host_bucket(req.headers(), &self.virtual_host_domains)
                .is_some()
        {
            return None;
        }
        Some(match probe {
            Some(probe) => {
                let answer = self.health.check(probe).await;
                with_facts(health_response(answer), probe.operation())
            }
            None => self.scrape(req).await,
        })
    }

    /// A scrape: the exposition, or 401 without the configured bearer token.
    pub async fn scrape<B>(&self, req: &Request<B>) -> S3Response {
        let Some(metrics) = self.metrics() else {
            return with_facts(plain(StatusCode::NOT_FOUND, "metrics are off\n"), "Metrics");
        };
        let authorization = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !metrics.admits(authorization) {
            let mut res = plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            res.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            return with_facts(res, "Metrics");
        }
        let res = match metrics.render(&*self.store, self.cluster.as_ref()).await {
            Ok(text) => {
                let mut res = Response::new(full(text));
                res.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                res
            }
            Err(e) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("storage did not answer: {e}\n"),
            ),
        };
        with_facts(res, "Metrics")
    }
}

/// On the S3 port, `/metrics` is a scrape unless the request carries AWS credentials (a
/// bucket named `metrics` stays reachable to signed requests).
fn is_scrape<B>(req: &Request<B>) -> bool {
    !aws_signed(req)
}

/// Whether a request carries AWS credentials: an `Authorization` header other than a
/// bearer token, or a presigned query (SigV4 or SigV2).
pub(crate) fn aws_signed<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| !a.starts_with("Bearer "))
        || req
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature=") || q.contains("Signature="))
}

fn health_response(answer: Result<(), String>) -> S3Response {
    let (status, body) = match answer {
        Ok(()) => (StatusCode::OK, serde_json::json!({ "status": "ok" })),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "unavailable", "reason": reason }),
        ),
    };
    let mut res = Response::new(full(format!("{body}\n")));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    res
}

pub(crate) fn plain(status: StatusCode, text: &str) -> S3Response {
    let mut res = Response::new(full(text.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

pub(crate) fn with_facts(mut res: S3Response, operation: &str) -> S3Response {
    res.extensions_mut().insert(RequestFacts {
        operation: operation.to_string(),
        ..Default::default()
    });
    res
}
