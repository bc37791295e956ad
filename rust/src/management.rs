//! The management protocol (docs/protocol.md): NDJSON requests on stdin, responses
//! and events on stdout. One task owns stdout, so lines never interleave; events go
//! through a bounded queue and are dropped (and counted) if the host stops reading.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::Engine;
use crate::storage::Change;

pub const PROTOCOL_VERSION: u32 = 1;
const OUT_QUEUE: usize = 4096;

struct Out {
    tx: mpsc::Sender<String>,
    dropped_events: AtomicU64,
}

impl Out {
    fn event(&self, event: &str, data: Value) {
        let line = json!({ "event": event, "data": data }).to_string();
        if self.tx.try_send(line).is_err() {
            self.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn respond(&self, id: Value, result: Result<Value, (String, String)>) {
        let line = match result {
            Ok(result) => json!({ "id": id, "success": true, "result": result }),
            Err((code, message)) => json!({ "id": id, "success": false, "error": { "code": code, "message": message } }),
        };
        let _ = self.tx.send(line.to_string()).await;
    }
}

type CallResult = Result<Value, (String, String)>;

fn err(code: &str, message: impl Into<String>) -> (String, String) {
    (code.to_string(), message.into())
}

fn param<T: serde::de::DeserializeOwned>(params: &Value, name: &str) -> Result<T, (String, String)> {
    serde_json::from_value(params.get(name).cloned().unwrap_or(Value::Null))
        .map_err(|e| err("InvalidParams", format!("params.{name}: {e}")))
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
                if stdout.write_all(line.as_bytes()).await.is_err() || stdout.write_all(b"\n").await.is_err() {
                    break 'outer;
                }
                next = rx.try_recv().ok();
            }
            if stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let out = Arc::new(Out { tx, dropped_events: AtomicU64::new(0) });
    {
        let out = out.clone();
        crate::log::set_sink(Box::new(move |level, message| out.event("log", json!({ "level": level, "message": message }))));
    }
    out.event("ready", json!({ "protocolVersion": PROTOCOL_VERSION, "version": env!("CARGO_PKG_VERSION") }));

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
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let method = request.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
        let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
        if method == "stop" {
            if let Some(engine) = engine.take() {
                engine.stop().await;
            }
            out.respond(id, Ok(json!({}))).await;
            break;
        }
        let result = call(&mut engine, &out, &method, &params).await;
        out.respond(id, result).await;
    }
    if let Some(engine) = engine.take() {
        engine.stop().await;
    }
    // Observers held by the stopped store may still own senders, so end the writer explicitly.
    let _ = out.tx.send(String::new()).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    0
}

async fn call(engine: &mut Option<Engine>, out: &Arc<Out>, method: &str, params: &Value) -> CallResult {
    if method == "start" {
        if engine.is_some() {
            return Err(err("AlreadyStarted", "the server is already running"));
        }
        let config: Config = match params.get("config") {
            None | Some(Value::Null) => Config::default(),
            Some(c) => serde_json::from_value(c.clone()).map_err(|e| err("InvalidConfig", format!("config: {e}")))?,
        };
        let events = out.clone();
        let observer = Box::new(move |change: Change| {
            if let Ok(Value::Object(mut obj)) = serde_json::to_value(&change) {
                let name = obj.remove("event").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                events.event(&name, obj.remove("data").unwrap_or(Value::Null));
            }
        });
        let started = Engine::start(config, Some(observer)).await.map_err(|e| err(e.code, e.message))?;
        let info = serde_json::to_value(&started.info).unwrap_or(Value::Null);
        let scheme = if started.info.use_ssl { "https" } else { "http" };
        crate::log::info(&format!("listening on {scheme}://{}:{}", started.info.address, started.info.port));
        if let Some(tls_port) = started.info.tls_port {
            crate::log::info(&format!("listening on https://{}:{tls_port}", started.info.address));
        }
        *engine = Some(started);
        return Ok(info);
    }
    let known = ["replaceTlsCertificate", "createBucket", "getStorageStats", "listBucketSummaries", "listCredentials", "replaceCredentials", "getClusterHealth"];
    if !known.contains(&method) {
        return Err(err("UnknownMethod", format!("unknown method {method:?}")));
    }
    let Some(engine) = engine.as_ref() else {
        return Err(err("NotStarted", "call start first"));
    };
    let store = &engine.ctx.store;
    match method {
        "createBucket" => {
            let name: String = param(params, "name")?;
            let region = engine.ctx.region.clone();
            let n = name.clone();
            store.blocking(move |s| s.create_bucket(&n, &region)).await.map_err(|e| err(e.code.as_str(), e.message))?;
            Ok(json!({ "name": name }))
        }
        "getStorageStats" => {
            let mut stats = engine.storage_stats().await.map_err(|e| err("StorageError", e))?;
            stats["droppedEvents"] = json!(out.dropped_events.load(Ordering::Relaxed));
            Ok(stats)
        }
        "listBucketSummaries" => engine.bucket_summaries().await.map_err(|e| err(e.code.as_str(), e.message)),
        "listCredentials" => Ok(serde_json::to_value(&*engine.credentials.snapshot()).unwrap_or(Value::Null)),
        "replaceCredentials" => {
            let set: Vec<crate::auth::Credential> = param(params, "credentials")?;
            let count = engine.credentials.replace(set).map_err(|e| err("InvalidCredentials", e))?;
            Ok(json!({ "count": count }))
        }
        "replaceTlsCertificate" => {
            let cfg: crate::tls::TlsConfig = serde_json::from_value(params.clone()).map_err(|e| err("InvalidParams", format!("params: {e}")))?;
            if cfg.port.is_some() {
                return Err(err("InvalidParams", "the HTTPS port cannot be changed at runtime"));
            }
            let tls = engine.tls.as_ref().ok_or_else(|| err("TlsNotEnabled", "the server was started without server.tls"))?;
            let pem = tls.replace(&cfg).map_err(|e| err("InvalidCertificate", e))?;
            Ok(json!({ "certificatePem": pem }))
        }
        "getClusterHealth" => engine.cluster_health().await.map_err(|e| err(e.code.as_str(), e.message)),
        _ => unreachable!(),
    }
}
