//! The HTTP server: accepts connections, serves each with hyper, and shuts down
//! gracefully (stop accepting, let in-flight requests finish, bounded).

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::s3::{self, Ctx};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADER_BUFFER: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ServerHandle {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn bind(address: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((address, port)).await
}

pub fn spawn(listener: TcpListener, ctx: Arc<Ctx>) -> std::io::Result<ServerHandle> {
    let (shutdown, mut stop) = watch::channel(false);
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let ctx = ctx.clone();
                    let service = service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(s3::serve(ctx, req, peer.ip()).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .max_buf_size(MAX_HEADER_BUFFER)
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                _ = stop.changed() => break,
            }
        }
        drop(listener);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    });
    Ok(ServerHandle { shutdown, task })
}

impl ServerHandle {
    /// Stops accepting, waits for in-flight requests (bounded), then returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
