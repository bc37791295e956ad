//! The node's QUIC endpoint (quinn over rustls, TLS 1.3 only, ALPN
//! `smartstorage-cluster/1`). Alone, a node listens so that part 2 only adds peers.
//!
//! Protocol today: a peer opens a bidirectional stream, sends `ping` and finishes its
//! side; the node answers `pong <node id>` and finishes. Anything else is answered
//! `error unknown request`. Requests are small (at most [`MAX_REQUEST`] bytes).
//!
//! The certificate is self-signed and generated at bind (names `localhost`,
//! `127.0.0.1`, `::1`, and the node id); part 2 replaces it with one signed by the
//! cluster's CA and adds client certificates (mutual TLS).

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// The ALPN protocol of node-to-node QUIC.
pub const ALPN: &[u8] = b"smartstorage-cluster/1";
/// The largest request read from a stream.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A bound, answering QUIC endpoint.
pub struct QuicNode {
    endpoint: quinn::Endpoint,
    port: u16,
    certificate: CertificateDer<'static>,
    accept_loop: tokio::task::JoinHandle<()>,
}

fn tls_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("QUIC TLS: {e}"))
}

/// Binds a QUIC server on `address:port` (port 0: a free UDP port) and answers peers
/// in a task on the current tokio runtime.
pub async fn bind(address: &str, port: u16, node_id: &str) -> std::io::Result<QuicNode> {
    let addr: SocketAddr = tokio::net::lookup_host((address, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {address}")))?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !node_id.is_empty() {
        names.push(node_id.to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names).map_err(tls_error)?;
    let certificate = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .map_err(tls_error)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(tls_error)?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint = quinn::Endpoint::server(config, addr)?;
    let port = endpoint.local_addr()?.port();
    let accept_loop = tokio::spawn(accept(endpoint.clone(), node_id.to_string()));
    Ok(QuicNode {
        endpoint,
        port,
        certificate,
        accept_loop,
    })
}

async fn accept(endpoint: quinn::Endpoint, node_id: String) {
    while let Some(incoming) = endpoint.accept().await {
        let node_id = node_id.clone();
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else {
                return;
            };
            while let Ok((send, recv)) = connection.accept_bi().await {
                tokio::spawn(answer(send, recv, node_id.clone()));
            }
        });
    }
}

async fn answer(mut send: quinn::SendStream, mut recv: quinn::RecvStream, node_id: String) {
    let Ok(request) = recv.read_to_end(MAX_REQUEST).await else {
        return;
    };
    let reply = match request.trim_ascii() {
        b"ping" => format!("pong {node_id}"),
        _ => "error unknown request".to_string(),
    };
    if send.write_all(reply.as_bytes()).await.is_ok() {
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

    /// The self-signed certificate served (DER), for peers that trust exactly it.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate
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

/// A client configuration that trusts exactly `certificate` (TLS 1.3, our ALPN).
pub fn client_config(
    certificate: &CertificateDer<'static>,
) -> std::io::Result<quinn::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.clone()).map_err(tls_error)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(tls_error)?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

/// Sends `ping` to a node and gives its answer (`pong <node id>`).
pub async fn ping(
    addr: SocketAddr,
    server_name: &str,
    config: quinn::ClientConfig,
) -> std::io::Result<String> {
    let local: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().expect("address")
    } else {
        "0.0.0.0:0".parse().expect("address")
    };
    let endpoint = quinn::Endpoint::client(local)?;
    let connection = endpoint
        .connect_with(config, addr, server_name)
        .map_err(std::io::Error::other)?
        .await
        .map_err(std::io::Error::other)?;
    let (mut send, mut recv) = connection.open_bi().await.map_err(std::io::Error::other)?;
    send.write_all(b"ping")
        .await
        .map_err(std::io::Error::other)?;
    send.finish().map_err(std::io::Error::other)?;
    let reply = recv
        .read_to_end(MAX_REQUEST)
        .await
        .map_err(std::io::Error::other)?;
    connection.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    String::from_utf8(reply).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_ping_with_its_node_id() {
        let node = bind("127.0.0.1", 0, "node-test").await.unwrap();
        assert_ne!(node.port(), 0);
        let addr: SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
        let config = client_config(node.certificate_der()).unwrap();
        assert_eq!(
            ping(addr, "localhost", config.clone()).await.unwrap(),
            "pong node-test"
        );
        // Twice, on two connections; and by the node id as the server name.
        assert_eq!(
            ping(addr, "node-test", config.clone()).await.unwrap(),
            "pong node-test"
        );
        node.close().await;
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            ping(addr, "localhost", config),
        )
        .await;
        assert!(
            !matches!(closed, Ok(Ok(_))),
            "a closed node must not answer"
        );
    }

    #[tokio::test]
    async fn another_certificate_is_refused() {
        let node = bind("127.0.0.1", 0, "node-a").await.unwrap();
        let other = bind("127.0.0.1", 0, "node-b").await.unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
        let wrong = client_config(other.certificate_der()).unwrap();
        assert!(ping(addr, "localhost", wrong).await.is_err());
        node.close().await;
        other.close().await;
    }

    #[tokio::test]
    async fn unknown_requests_get_an_error_line() {
        let node = bind("127.0.0.1", 0, "node-x").await.unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let connection = endpoint
            .connect_with(
                client_config(node.certificate_der()).unwrap(),
                addr,
                "localhost",
            )
            .unwrap()
            .await
            .unwrap();
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(b"hello").await.unwrap();
        send.finish().unwrap();
        let reply = recv.read_to_end(1024).await.unwrap();
        assert_eq!(reply, b"error unknown request");
        connection.close(0u32.into(), b"done");
        node.close().await;
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error() {
        let node = bind("127.0.0.1", 0, "node-a").await.unwrap();
        assert!(bind("127.0.0.1", node.port(), "node-b").await.is_err());
        node.close().await;
    }
}
