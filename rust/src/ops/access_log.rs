//! The access log (`server.accessLog`, `serve --access-log [PATH]`): one JSON line per
//! request, on stderr or in a file rotated by size. Lines carry who asked for what and
//! how it went; never a secret, a signature or a query parameter's value.
//!
//! A thread of its own writes them, so a slow disk never holds a request up; when it
//! falls `QUEUE` lines behind, further lines are dropped and counted (`DROPPED`, in the
//! metrics as `smartstorage_access_log_dropped_total`).

use chrono::{DateTime, SecondsFormat, Utc};
use file_rotate::{ContentLimit, FileRotate, compression::Compression, suffix::AppendCount};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

use super::observe::{Finished, Started};

const QUEUE: usize = 8192;

pub static DROPPED: AtomicU64 = AtomicU64::new(0);

pub struct AccessLog {
    tx: SyncSender<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    time: String,
    request_id: Option<&'a str>,
    remote: Option<String>,
    access_key_id: Option<&'a str>,
    operation: &'a str,
    method: &'a str,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    duration_ms: f64,
    /// False when the connection ended before the whole response was sent.
    complete: bool,
}

impl AccessLog {
    /// Lines to `path` (rotated past `max_bytes`, keeping `keep` old files as `path.1`,
    /// `path.2`, ...), or to stderr without a path.
    pub fn open(path: Option<&Path>, max_bytes: u64, keep: usize) -> std::io::Result<AccessLog> {
        let mut out: Box<dyn Write + Send> = match path {
            Some(path) => {
                // FileRotate panics on a folder it cannot write; find out here instead.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                Box::new(FileRotate::new(
                    path,
                    AppendCount::new(keep),
                    ContentLimit::BytesSurpassed(max_bytes as usize),
                    Compression::None,
                    None,
                ))
            }
            None => Box::new(std::io::stderr()),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    // Flush once the queue is empty: one write per burst, not per line.
                    if let Ok(next) = rx.try_recv() {
                        let _ = out.write_all(next.as_bytes());
                        continue;
                    }
                    let _ = out.flush();
                }
                let _ = out.flush();
            })?;
        Ok(AccessLog { tx })
    }

    pub fn write(&self, started: &Started, done: &Finished) {
        let facts = done.facts.as_ref();
        let line = Line {
            time: DateTime::<Utc>::from(started.wall).to_rfc3339_opts(SecondsFormat::Millis, true),
            request_id: facts
                .map(|f| f.request_id.as_str())
                .filter(|id| !id.is_empty()),
            remote: started.remote.map(|ip| ip.to_string()),
            access_key_id: facts.and_then(|f| f.access_key.as_deref()),
            operation: done.operation(),
            method: &started.method,
            bucket: facts.and_then(|f| f.bucket.as_deref()),
            key: facts.and_then(|f| f.key.as_deref()),
            status: done.status,
            bytes_in: done.bytes_in,
            bytes_out: done.bytes_out,
            duration_ms: (done.duration.as_secs_f64() * 1e6).round() / 1e3,
            complete: done.complete,
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        if let Err(TrySendError::Full(_)) = self.tx.try_send(text) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}
