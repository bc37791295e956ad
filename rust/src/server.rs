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
use crate::console::Console;
use crate::file_bytes::SendfileStream;
use crate::ops::Ops;
use crate::ops::observe::Counted;
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

/// What a listener serves.
#[derive(Clone)]
pub enum Role {
    /// S3, with the health probes (and the metrics, when they share the port).
    S3,
    /// Only the metrics, on a port of their own.
    Metrics,
    /// The web console, with S3 beside it (`console/`).
    Console(Arc<Console>),
}

/// One port to serve: HTTPS where `tls` is given.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Arc<TlsState>>,
    pub role: Role,
}

/// Serves one connection's requests until it closes (or the drain ends it). Bytes read
/// are counted only while something observes requests.
async fn run_connection<S>(
    io: S,
    shared: Shared,
    peer: std::net::IpAddr,
    secure: bool,
    role: Role,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if shared.ops.observers.active() {
        let (io, received) = Counted::new(io);
        serve_requests(io, shared, peer, secure, role, received, watcher).await
    } else {
        serve_requests(io, shared, peer, secure, role, Default::default(), watcher).await
    }
}

async fn serve_requests<S>(
    io: S,
    shared: Shared,
    peer: std::net::IpAddr,
    secure: bool,
    role: Role,
    received: Arc<std::sync::atomic::AtomicU64>,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let (shared, received, role) = (shared.clone(), received.clone(), role.clone());
        async move {
            let observers = &shared.ops.observers;
            let started = observers
                .active()
                .then(|| observers.start(&req, peer, &received));
            let res = match role {
                Role::Metrics => shared.ops.scrape(&req).await,
                Role::Console(console) => {
                    crate::console::serve(shared.ctx, &console, req, peer, secure).await
                }
                Role::S3 => match shared.ops.answer(&req).await {
                    Some(res) => res,
                    None => s3::serve(shared.ctx, req, peer, secure).await,
                },
            };
            Ok::<_, Infallible>(match started {
                Some(started) => observers.wrap(started, res),
                None => res,
            })
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

/// What every connection's requests are served with.
#[derive(Clone)]
struct Shared {
    ctx: Arc<Ctx>,
    ops: Arc<Ops>,
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

/// Serves every listener (with TLS where given) until `stop`; requests are observed
/// (logs, metrics) as `ops` says.
pub fn spawn(
    listeners: Vec<Listener>,
    ctx: Arc<Ctx>,
    ops: Arc<Ops>,
    limits: Limits,
) -> ServerHandle {
    let shared = Shared { ctx, ops };
    let (shutdown, stop) = watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let per_client = Arc::new(PerClient::new(limits.per_client));
    let tasks = listeners
        .into_iter()
        .map(|Listener { tcp: listener, tls, role }| {
            let (shared, mut stop, slots, per_client) = (shared.clone(), stop.clone(), slots.clone(), per_client.clone());
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
                            let (shared, watcher, tls, role) = (shared.clone(), graceful.watcher(), tls.clone(), role.clone());
                            tokio::spawn(async move {
                                let _slots = (slot, client_slot);
                                match tls {
                                    None => {
                                        let stream = SendfileStream::new(stream);
                                        run_connection(stream, shared, peer.ip(), false, role, watcher).await
                                    }
                                    // A client speaking plain HTTP to this port fails the handshake and is closed.
                                    Some(tls) => {
                                        if let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
                                            run_connection(stream, shared, peer.ip(), true, role, watcher).await;
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
