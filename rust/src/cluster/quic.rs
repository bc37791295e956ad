//! The node's QUIC endpoint: one quinn endpoint per node both answers peers and
//! calls them, over mutual TLS under the cluster CA (see `tls`), TLS 1.3 only.
//!
//! A call is one bidirectional stream: the caller writes its request and finishes its
//! side, the node answers and finishes. What the bytes mean is the `Service`'s
//! business (`rpc`). Connections are kept per peer address and made again when one
//! closed. A handshake that fails (a process without the cluster secret) is refused
//! and logged.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::tls::{Identity, SERVER_NAME};

/// The largest message read from a stream (a Raft snapshot chunk or an entry batch
/// is far smaller; only nodes of the cluster can send at all).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// A connection that hears nothing for this long is dead; keep-alives every
/// `KEEP_ALIVE` make silence mean a dead peer, not an idle one.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);
/// A handshake that takes longer fails (the peer is down or cut off).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("a small duration")));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    Arc::new(t)
}

/// An answer being worked out.
pub type Reply = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// What a node answers to calls.
pub trait Service: Send + Sync + 'static {
    fn call(&self, request: Vec<u8>) -> Reply;
}

/// A bound, answering QUIC endpoint that also calls other nodes.
pub struct QuicNode {
    endpoint: quinn::Endpoint,
    port: u16,
    client: quinn::ClientConfig,
    connections: Mutex<HashMap<SocketAddr, quinn::Connection>>,
    accept_loop: tokio::task::JoinHandle<()>,
}

fn net_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Binds a QUIC endpoint on `address:port` (port 0: a free UDP port) that answers
/// peers through `service` in tasks on the current tokio runtime.
pub async fn bind(
    address: &str,
    port: u16,
    identity: &Identity,
    service: Arc<dyn Service>,
) -> std::io::Result<QuicNode> {
    let addr: SocketAddr = tokio::net::lookup_host((address, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {address}")))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(identity.server_crypto()?));
    server.transport_config(transport());
    let endpoint = quinn::Endpoint::server(server, addr)?;
    let mut client = quinn::ClientConfig::new(Arc::new(identity.client_crypto()?));
    client.transport_config(transport());
    let port = endpoint.local_addr()?.port();
    let accept_loop = tokio::spawn(accept(endpoint.clone(), service));
    Ok(QuicNode {
        endpoint,
        port,
        client,
        connections: Mutex::new(HashMap::new()),
        accept_loop,
    })
}

async fn accept(endpoint: quinn::Endpoint, service: Arc<dyn Service>) {
    while let Some(incoming) = endpoint.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let connection = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    crate::log::warn(&format!("refused cluster peer {remote}: {e}"));
                    return;
                }
            };
            while let Ok((send, recv)) = connection.accept_bi().await {
                tokio::spawn(answer(send, recv, service.clone()));
            }
        });
    }
}

async fn answer(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    service: Arc<dyn Service>,
) {
    let Ok(request) = recv.read_to_end(MAX_MESSAGE).await else {
        return;
    };
    let reply = service.call(request).await;
    if send.write_all(&reply).await.is_ok() {
        let _ = send.finish();
        // Wait until the peer has the answer (or is gone) before dropping the stream.
        let _ = send.stopped().await;
    }
}

impl QuicNode {
    /// The bound UDP port (the real one when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.port
    }

    async fn connection(
        &self,
        addr: SocketAddr,
        fresh: bool,
    ) -> std::io::Result<quinn::Connection> {
        if !fresh {
            let known = self
                .connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&addr)
                .cloned();
            if let Some(c) = known.filter(|c| c.close_reason().is_none()) {
                return Ok(c);
            }
        }
        let connecting = self
            .endpoint
            .connect_with(self.client.clone(), addr, SERVER_NAME)
            .map_err(net_error)?;
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| net_error("connection timed out"))?
            .map_err(net_error)?;
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, connection.clone());
        Ok(connection)
    }

    /// Sends `request` to the node at `addr` and answers its reply. A kept connection
    /// that turns out dead is made again once.
    pub async fn call(&self, addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
        let connection = self.connection(addr, false).await?;
        let (mut send, mut recv) = match connection.open_bi().await {
            Ok(streams) => streams,
            Err(_) => self
                .connection(addr, true)
                .await?
                .open_bi()
                .await
                .map_err(net_error)?,
        };
        send.write_all(request).await.map_err(net_error)?;
        send.finish().map_err(net_error)?;
        recv.read_to_end(MAX_MESSAGE).await.map_err(net_error)
    }

    /// Closes every connection, stops answering and waits (at most a second) for
    /// peers to be told.
    pub async fn close(&self) {
        self.endpoint.close(0u32.into(), b"closing");
        self.accept_loop.abort();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.endpoint.wait_idle())
            .await;
    }
}

impl Drop for QuicNode {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.endpoint.close(0u32.into(), b"dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `<name>:<request>`.
    struct Echo(&'static str);

    impl Service for Echo {
        fn call(&self, request: Vec<u8>) -> Reply {
            let mut reply = format!("{}:", self.0).into_bytes();
            reply.extend(request);
            Box::pin(async move { reply })
        }
    }

    async fn node(secret: Option<&str>, name: &'static str) -> QuicNode {
        let identity = Identity::new(secret, name).unwrap();
        bind("127.0.0.1", 0, &identity, Arc::new(Echo(name)))
            .await
            .unwrap()
    }

    fn at(node: &QuicNode) -> SocketAddr {
        format!("127.0.0.1:{}", node.port()).parse().unwrap()
    }

    const SECRET: &str = "a cluster secret for tests";

    #[tokio::test]
    async fn nodes_of_one_secret_call_each_other() {
        let (a, b) = (node(Some(SECRET), "a").await, node(Some(SECRET), "b").await);
        assert_eq!(a.call(at(&b), b"hi").await.unwrap(), b"b:hi");
        assert_eq!(b.call(at(&a), b"yo").await.unwrap(), b"a:yo");
        // The kept connection serves the next call; a large request goes through whole.
        let big = vec![7u8; 3 << 20];
        let reply = a.call(at(&b), &big).await.unwrap();
        assert_eq!(reply.len(), big.len() + 2);
        // A restarted peer (same port, new process) is reached through a new connection.
        let port = b.port();
        b.close().await;
        drop(b);
        let identity = Identity::new(Some(SECRET), "b2").unwrap();
        // The old socket closes once its endpoint's tasks have wound down.
        let mut b2 = None;
        for _ in 0..50 {
            match bind("127.0.0.1", port, &identity, Arc::new(Echo("b2"))).await {
                Ok(node) => {
                    b2 = Some(node);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        let b2 = b2.expect("the port is free again");
        assert_eq!(a.call(at(&b2), b"again").await.unwrap(), b"b2:again");
        a.close().await;
        b2.close().await;
    }

    #[tokio::test]
    async fn another_secret_can_neither_call_nor_answer() {
        let (a, stranger) = (
            node(Some(SECRET), "a").await,
            node(Some("not the cluster secret"), "x").await,
        );
        let call = |from: &'static QuicNode, to| async move {
            tokio::time::timeout(std::time::Duration::from_secs(5), from.call(to, b"hi")).await
        };
        let (a, stranger): (&'static QuicNode, &'static QuicNode) =
            (Box::leak(Box::new(a)), Box::leak(Box::new(stranger)));
        assert!(
            !matches!(call(stranger, at(a)).await, Ok(Ok(_))),
            "a stranger called in"
        );
        assert!(
            !matches!(call(a, at(stranger)).await, Ok(Ok(_))),
            "a stranger answered"
        );
        // Nor does a node without a secret (a random one) take calls.
        let lone = Box::leak(Box::new(node(None, "lone").await));
        assert!(!matches!(call(a, at(lone)).await, Ok(Ok(_))));
        a.close().await;
        stranger.close().await;
        lone.close().await;
    }

    #[tokio::test]
    async fn a_closed_node_does_not_answer() {
        let (a, b) = (node(Some(SECRET), "a").await, node(Some(SECRET), "b").await);
        assert!(a.call(at(&b), b"x").await.is_ok());
        b.close().await;
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(5), a.call(at(&b), b"x")).await;
        assert!(
            !matches!(closed, Ok(Ok(_))),
            "a closed node must not answer"
        );
        a.close().await;
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error() {
        let a = node(None, "a").await;
        let identity = Identity::new(None, "b").unwrap();
        assert!(
            bind("127.0.0.1", a.port(), &identity, Arc::new(Echo("b")))
                .await
                .is_err()
        );
        a.close().await;
    }
}
