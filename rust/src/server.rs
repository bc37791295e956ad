//! The HTTP(S) server: accepts connections on each listener, serves each with
//! hyper (after a TLS handshake on HTTPS listeners), and shuts down gracefully
//! (stop accepting, let in-flight requests finish, bounded).

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use hyper_util::server::graceful::Watcher;
use tokio::sync::watch;

use crate::s3::{self, Ctx};
use crate::tls::TlsState;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADER_BUFFER: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; further clients wait in the listen backlog.
const MAX_CONNECTIONS: usize = 4096;

pub struct ServerHandle {
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub async fn bind(address: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((address, port)).await
}

/// Serves one connection's requests until it closes (or the drain ends it).
async fn run_connection<S>(io: S, ctx: Arc<Ctx>, peer: std::net::IpAddr, secure: bool, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(s3::serve(ctx, req, peer, secure).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BUFFER)
        // Queue large body chunks for writev instead of copying them into a buffer.
        .writev(true)
        .serve_connection(TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}

/// Serves every listener (with TLS where given) until `stop`.
pub fn spawn(listeners: Vec<(TcpListener, Option<Arc<TlsState>>)>, ctx: Arc<Ctx>) -> ServerHandle {
    let (shutdown, stop) = watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let tasks = listeners
        .into_iter()
        .map(|(listener, tls)| {
            let (ctx, mut stop, slots) = (ctx.clone(), stop.clone(), slots.clone());
            tokio::spawn(async move {
                let graceful = hyper_util::server::graceful::GracefulShutdown::new();
                loop {
                    let Ok(slot) = slots.clone().acquire_owned().await else { break };
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, peer)) = accepted else { continue };
                            let _ = stream.set_nodelay(true);
                            let (ctx, watcher, tls) = (ctx.clone(), graceful.watcher(), tls.clone());
                            tokio::spawn(async move {
                                let _slot = slot;
                                match tls {
                                    None => run_connection(stream, ctx, peer.ip(), false, watcher).await,
                                    // A client speaking plain HTTP to this port fails the handshake and is closed.
                                    Some(tls) => {
                                        if let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
                                            run_connection(stream, ctx, peer.ip(), true, watcher).await;
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
