//! The HTTP(S) server: accepts connections on each listener, serves each with
//! hyper (after a TLS handshake on HTTPS listeners), and shuts down gracefully
//! (stop accepting, let in-flight requests finish, bounded).

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connection_guards::{PerClient, WriteStallGuard};
use crate::request_log;
use crate::s3::{self, Ctx};
use crate::tls::TlsState;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADER_BUFFER: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections the server holds at once, in all and per client address.
#[derive(Clone, Copy)]
pub struct Limits {
    pub connections: usize,
    pub per_client: usize,
}

pub struct ServerHandle {
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub async fn bind(address: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((address, port)).await
}

/// Serves one connection's requests until it closes (or the drain ends it).
async fn run_connection<S>(
    io: S,
    ctx: Arc<Ctx>,
    peer: std::net::IpAddr,
    secure: bool,
    log_requests: bool,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move {
            if !log_requests {
                return Ok::<_, Infallible>(s3::serve(ctx, req, peer, secure).await);
            }
            let entry = request_log::Entry::new(&req);
            Ok(request_log::wrap(
                entry,
                s3::serve(ctx, req, peer, secure).await,
            ))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BUFFER)
        // Queue large body chunks for writev instead of copying them into a buffer.
        .writev(true)
        .serve_connection(TokioIo::new(WriteStallGuard::new(io)), service);
    let _ = watcher.watch(conn).await;
}

/// Sent, without reading the request, to a client over its connection limit: SDKs
/// retry a 503 SlowDown with backoff.
const SLOW_DOWN: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: 126\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

/// Answers and closes; the request is read (a little, briefly) and discarded first,
/// because closing with unread data makes the kernel send a reset instead of the answer.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(SLOW_DOWN).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 16 * 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Serves every listener (with TLS where given) until `stop`; with `log_requests`, each
/// request is logged on stderr (`request_log.rs`).
pub fn spawn(
    listeners: Vec<(TcpListener, Option<Arc<TlsState>>)>,
    ctx: Arc<Ctx>,
    limits: Limits,
    log_requests: bool,
) -> ServerHandle {
    let (shutdown, stop) = watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let per_client = Arc::new(PerClient::new(limits.per_client));
    let tasks = listeners
        .into_iter()
        .map(|(listener, tls)| {
            let (ctx, mut stop, slots, per_client) = (ctx.clone(), stop.clone(), slots.clone(), per_client.clone());
            tokio::spawn(async move {
                let graceful = hyper_util::server::graceful::GracefulShutdown::new();
                loop {
                    let Ok(slot) = slots.clone().acquire_owned().await else { break };
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, peer)) = accepted else { continue };
                            let Some(client_slot) = per_client.claim(peer.ip()) else {
                                drop(slot);
                                // An HTTPS client could not read the plain answer: it is just closed.
                                if tls.is_none() {
                                    tokio::spawn(refuse(stream));
                                }
                                continue;
                            };
                            let _ = stream.set_nodelay(true);
                            let (ctx, watcher, tls) = (ctx.clone(), graceful.watcher(), tls.clone());
                            tokio::spawn(async move {
                                let _slots = (slot, client_slot);
                                match tls {
                                    None => run_connection(stream, ctx, peer.ip(), false, log_requests, watcher).await,
                                    // A client speaking plain HTTP to this port fails the handshake and is closed.
                                    Some(tls) => {
                                        if let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
                                            run_connection(stream, ctx, peer.ip(), true, log_requests, watcher).await;
                                        }
                                    }
                                }
                            });
                        }
                        _ = stop.changed() => break,
                    }
                }
                drop(listener);
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
            })
        })
        .collect();
    ServerHandle { shutdown, tasks }
}

impl ServerHandle {
    /// Stops accepting, waits for in-flight requests (bounded), then returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
