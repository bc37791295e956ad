//! The management protocol (docs/protocol.md): NDJSON requests on stdin, responses
//! and events on stdout. One task owns stdout, so lines never interleave; events go
//! through a bounded queue and are dropped (and counted) if the host stops reading.
//! The messages themselves are the types in `protocol`.

pub mod protocol;
pub mod reports;

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::ops::metrics::EVENTS_DROPPED;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::s3::shared::SharedError;
use crate::storage::interface::Change;
use protocol::{
    BucketName, CreateBucketParams, CredentialCount, DeleteBucketParams, DeletedObjects, Event,
    Log, Method, ProtocolError, Reply, Request, Response, StartInfo, StartParams, TlsCertificate,
};

const OUT_QUEUE: usize = 4096;

struct Out {
    tx: mpsc::Sender<String>,
}

impl Out {
    fn event(&self, event: Event) {
        let Ok(line) = serde_json::to_string(&event) else {
            return;
        };
        if self.tx.try_send(line).is_err() {
            EVENTS_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn respond(&self, response: Response) {
        let line = serde_json::to_string(&response).unwrap_or_else(|e| {
            let error =
                ProtocolError::new("InternalError", format!("cannot encode the result: {e}"));
            serde_json::to_string(&Response::<Reply>::new(response.id.clone(), Err(error)))
                .unwrap_or_default()
        });
        let _ = self.tx.send(line).await;
    }
}

/// A request line's envelope; anything that is not an object has no id and no method.
struct Envelope {
    id: Value,
    method: Value,
    params: Value,
}

impl From<Value> for Envelope {
    fn from(value: Value) -> Self {
        let mut map = match value {
            Value::Object(map) => map,
            _ => Default::default(),
        };
        let mut take = |key: &str| map.remove(key).unwrap_or(Value::Null);
        Envelope {
            id: take("id"),
            method: take("method"),
            params: take("params"),
        }
    }
}

pub async fn run() -> i32 {
    let (tx, mut rx) = mpsc::channel::<String>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::BufWriter::with_capacity(64 * 1024, tokio::io::stdout());
        // Write everything queued, then flush once: one syscall for a burst of events.
        'outer: while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(line) = next.take() {
                // The empty line is our own "all said" marker: everything before it is flushed.
                if line.is_empty() {
                    let _ = stdout.flush().await;
                    break 'outer;
                }
                if stdout.write_all(line.as_bytes()).await.is_err()
                    || stdout.write_all(b"\n").await.is_err()
                {
                    break 'outer;
                }
                next = rx.try_recv().ok();
            }
            if stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let out = Arc::new(Out { tx });
    {
        let out = out.clone();
        crate::log::set_sink(Box::new(move |level, message| {
            out.event(Event::Log(Log {
                level: level.into(),
                message: message.into(),
            }))
        }));
    }
    out.event(Event::ready());

    let mut engine: Option<Engine> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            // The host went away: never outlive it.
            Ok(None) | Err(_) => break,
        };
        if line.trim().is_empty() {
            continue;
        }
        let request: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                crate::log::warn(&format!("unparseable request line: {e}"));
                continue;
            }
        };
        let Envelope { id, method, params } = Envelope::from(request);
        let request = Method::from_name(&method).and_then(|method| {
            admit(method, engine.is_some())?;
            method
                .request(params)
                .map_err(|e| ProtocolError::invalid_params(method, e))
        });
        let stop = request.as_ref().is_ok_and(|r| r.method() == Method::Stop);
        let outcome = match request {
            Ok(request) => handle(&mut engine, &out, request).await,
            Err(e) => Err(e),
        };
        out.respond(Response::new(id, outcome)).await;
        if stop {
            break;
        }
    }
    if let Some(engine) = engine.take() {
        engine.stop().await;
    }
    // Observers held by the stopped store may still own senders, so end the writer explicitly.
    let _ = out.tx.send(String::new()).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    0
}

/// Whether `method` may run now, checked before its params are read.
fn admit(method: Method, started: bool) -> Result<(), ProtocolError> {
    match method {
        Method::Start if started => Err(ProtocolError::already_started()),
        Method::Start | Method::Stop => Ok(()),
        _ if !started => Err(ProtocolError::not_started()),
        _ => Ok(()),
    }
}

fn running(engine: &Option<Engine>) -> Result<&Engine, ProtocolError> {
    engine.as_ref().ok_or_else(ProtocolError::not_started)
}

async fn handle(
    engine: &mut Option<Engine>,
    out: &Arc<Out>,
    request: Request,
) -> Result<Reply, ProtocolError> {
    match request {
        Request::Start(params) => start(engine, out, params).await.map(Reply::Start),
        Request::Stop(_) => {
            if let Some(engine) = engine.take() {
                engine.stop().await;
            }
            Ok(Reply::Stop(Default::default()))
        }
        Request::CreateBucket(CreateBucketParams { name }) => {
            let engine = running(engine)?;
            let region = engine.ctx.region.clone();
            crate::s3::check_not_reserved(&name)?;
            engine
                .ctx
                .store
                .create_bucket(&name, &region)
                .await
                .map_err(crate::s3::error::S3Error::from)?;
            Ok(Reply::CreateBucket(BucketName { name }))
        }
        Request::EnsureBucket(params) => Ok(Reply::EnsureBucket(
            running(engine)?.ensure_bucket(params).await?,
        )),
        Request::DeleteBucket(DeleteBucketParams { name, force }) => {
            let deleted_objects = running(engine)?.delete_bucket(&name, force).await?;
            Ok(Reply::DeleteBucket(DeletedObjects {
                deleted_objects,
                locked_versions: 0,
            }))
        }
        Request::EmptyBucket(CreateBucketParams { name }) => Ok(Reply::EmptyBucket(
            running(engine)?.empty_bucket(&name).await?,
        )),
        Request::Reset(_) => Ok(Reply::Reset(running(engine)?.reset().await?)),
        Request::ImportFolder(params) => Ok(Reply::ImportFolder(
            crate::seed::import_folder(&*running(engine)?.ctx.store, params).await?,
        )),
        Request::ExportFolder(params) => Ok(Reply::ExportFolder(
            crate::seed::export_folder(&*running(engine)?.ctx.store, params).await?,
        )),
        Request::GetStorageStats(_) => Ok(Reply::GetStorageStats(
            crate::management::reports::storage_stats(&running(engine)?.ctx).await,
        )),
        Request::ListBucketSummaries(_) => Ok(Reply::ListBucketSummaries(
            running(engine)?.bucket_summaries().await?,
        )),
        Request::ListCredentials(_) => {
            let engine = running(engine)?;
            engine
                .ctx
                .sync_shared()
                .await
                .map_err(|e| ProtocolError::new("StorageError", e.to_string()))?;
            Ok(Reply::ListCredentials(
                engine.ctx.credentials.snapshot().to_vec(),
            ))
        }
        Request::ReplaceCredentials(params) => {
            let count = running(engine)?
                .ctx
                .replace_credentials(params.credentials)
                .await
                .map_err(|e| match e {
                    SharedError::Invalid(e) => ProtocolError::new("InvalidCredentials", e),
                    SharedError::Store(e) => ProtocolError::new("StorageError", e),
                })?;
            Ok(Reply::ReplaceCredentials(CredentialCount { count }))
        }
        Request::GetClusterHealth(_) => Ok(Reply::GetClusterHealth(
            running(engine)?.cluster_health().await?,
        )),
        Request::DecommissionNode(params) => Ok(Reply::DecommissionNode(
            running(engine)?.decommission_node(&params.node_id).await?,
        )),
        Request::ReplaceTlsCertificate(cfg) => {
            let engine = running(engine)?;
            if cfg.port.is_some() {
                return Err(ProtocolError::new(
                    "InvalidParams",
                    "the HTTPS port cannot be changed at runtime",
                ));
            }
            let tls = engine.tls.as_ref().ok_or_else(|| {
                ProtocolError::new("TlsNotEnabled", "the server was started without server.tls")
            })?;
            let certificate_pem = tls
                .replace(&cfg)
                .map_err(|e| ProtocolError::new("InvalidCertificate", e))?;
            Ok(Reply::ReplaceTlsCertificate(TlsCertificate {
                certificate_pem,
            }))
        }
    }
}

async fn start(
    engine: &mut Option<Engine>,
    out: &Arc<Out>,
    params: StartParams,
) -> Result<StartInfo, ProtocolError> {
    if engine.is_some() {
        return Err(ProtocolError::already_started());
    }
    let events = out.clone();
    let observer = Box::new(move |change: Change| events.event(Event::from(change)));
    let started = Engine::start(params.config.unwrap_or_default(), Some(observer)).await?;
    let info = started.info.clone();
    let scheme = if info.use_ssl { "https" } else { "http" };
    crate::log::info(&format!(
        "listening on {scheme}://{}:{}",
        info.address, info.port
    ));
    if let Some(tls_port) = info.tls_port {
        crate::log::info(&format!("listening on https://{}:{tls_port}", info.address));
    }
    *engine = Some(started);
    Ok(info)
}
