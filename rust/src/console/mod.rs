//! The web console (`server.console`): a small page app compiled into the binary, served
//! on a port of its own. That port answers the whole S3 API too, so the page signs its S3
//! requests itself (SigV4 in the browser, keys kept in the tab's session storage) against
//! its own origin: there is no console session or cookie to steal or to ride cross-site,
//! and no CORS rule is needed or given.
//!
//! Paths: `/_console/...` are the console's (no bucket can be named `_console`: bucket
//! names start with a letter or digit), an unsigned `GET /` is sent there, and anything
//! else is S3. Every answer forbids framing; S3's answers on this origin are sandboxed,
//! so an HTML object opened here cannot run script beside the page that holds the keys.

pub mod api;
pub mod assets;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Instant;

use crate::cluster::store::ClusterStore;
use crate::ops::metrics::Metrics;
use crate::ops::{aws_signed, plain, with_facts};
use crate::s3::Ctx;
use crate::s3::response::{S3Response, full};

const PREFIX: &str = "/_console/";

/// The page may load only its own files and talk only to its own origin.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
/// S3's answers on the console's origin: nothing in them runs, nothing frames them.
const S3_POLICY: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

pub struct Console {
    assets: assets::Assets,
    /// The S3 port for links (the HTTPS one when the console is served over TLS).
    s3_port: u16,
    tls: bool,
    cluster: Option<ClusterStore>,
    /// Request counters for the request-rate chart (kept while the console is on).
    metrics: Option<Arc<Metrics>>,
    started: Instant,
}

impl Console {
    pub fn new(
        s3_port: u16,
        tls: bool,
        cluster: Option<ClusterStore>,
        metrics: Option<Arc<Metrics>>,
    ) -> Console {
        Console {
            assets: assets::Assets::load(),
            s3_port,
            tls,
            cluster,
            metrics,
            started: Instant::now(),
        }
    }
}

/// One request on the console's port.
pub async fn serve(
    ctx: Arc<Ctx>,
    console: &Console,
    req: Request<Incoming>,
    remote: std::net::IpAddr,
    secure: bool,
) -> S3Response {
    let path = req.uri().path();
    let mut res = if let Some(name) = path.strip_prefix(PREFIX) {
        let res = match name {
            "api/info" => json(StatusCode::OK, &api::info(&ctx, console)),
            "api/overview" if is_read(req.method()) => {
                let answer =
                    api::overview(&ctx, console, req.method(), req.uri(), req.headers()).await;
                match answer {
                    Ok(overview) => json(StatusCode::OK, &overview),
                    Err(api::Refused(e)) => json(
                        e.code.status(),
                        &serde_json::json!({ "error": e.code.as_str(), "message": e.message }),
                    ),
                }
            }
            _ => file(console, name, req.method()),
        };
        page_headers(with_facts(res, "Console"))
    } else if path == "/_console" || path == "/" && is_read(req.method()) && !aws_signed(&req) {
        page_headers(with_facts(redirect(PREFIX), "Console"))
    } else {
        let mut res = crate::s3::serve(ctx, req, remote, secure).await;
        set(&mut res, header::CONTENT_SECURITY_POLICY, S3_POLICY);
        res
    };
    set(&mut res, header::X_FRAME_OPTIONS, "DENY");
    set(&mut res, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    res
}

fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

fn file(console: &Console, name: &str, method: &Method) -> S3Response {
    if !is_read(method) {
        let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n");
        set(&mut res, header::ALLOW, "GET, HEAD");
        return res;
    }
    match console.assets.get(name) {
        Some((content_type, bytes)) => {
            let mut res = Response::new(full(bytes.into_owned()));
            set(&mut res, header::CONTENT_TYPE, content_type);
            res
        }
        None => plain(StatusCode::NOT_FOUND, "no such console file\n"),
    }
}

/// Headers of the console's own answers: the page policy, and nothing kept or leaked.
fn page_headers(mut res: S3Response) -> S3Response {
    set(&mut res, header::CONTENT_SECURITY_POLICY, PAGE_POLICY);
    set(&mut res, header::REFERRER_POLICY, "no-referrer");
    set(&mut res, header::CACHE_CONTROL, "no-store");
    set(&mut res, "cross-origin-opener-policy", "same-origin");
    set(&mut res, "cross-origin-resource-policy", "same-origin");
    res
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> S3Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    set(&mut res, header::CONTENT_TYPE, "application/json");
    res
}

fn redirect(to: &'static str) -> S3Response {
    let mut res = Response::new(full(""));
    *res.status_mut() = StatusCode::FOUND;
    set(&mut res, header::LOCATION, to);
    res
}

fn set(res: &mut S3Response, name: impl header::IntoHeaderName, value: &'static str) {
    res.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}
