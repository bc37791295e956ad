//! What nodes ask each other over QUIC: one MessagePack `Request` per stream, one
//! `Response` back. The metadata log's requests are its own (`raft::network`).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::quic::{Reply, Service};
use super::raft::{self, Slot};

/// `M` is the metadata log's request: borrowed to send, owned when received.
#[derive(Serialize, Deserialize)]
pub enum Request<M = raft::network::Request> {
    /// Are you there, and who are you?
    Ping,
    Meta(M),
}

#[derive(Serialize, Deserialize)]
pub enum Response {
    Pong {
        node: String,
    },
    Meta(Box<raft::network::Response>),
    /// The request could not be read.
    Error(String),
}

/// Answers other nodes' requests on this node.
pub struct Router {
    pub node: String,
    pub meta: Slot,
}

impl Router {
    pub fn new(node: &str) -> Arc<Router> {
        Arc::new(Router {
            node: node.to_string(),
            meta: Slot::default(),
        })
    }

    async fn answer(&self, request: Vec<u8>) -> Response {
        match rmp_serde::from_slice::<Request>(&request) {
            Ok(Request::Ping) => Response::Pong {
                node: self.node.clone(),
            },
            Ok(Request::Meta(m)) => Response::Meta(Box::new(self.meta.handle(m).await)),
            Err(e) => Response::Error(format!("unreadable request: {e}")),
        }
    }
}

impl Service for Router {
    fn call(self: &Router, request: Vec<u8>) -> Reply {
        // The reply future must own what it uses: clone the cheap handles.
        let router = Router {
            node: self.node.clone(),
            meta: self.meta.clone(),
        };
        Box::pin(async move {
            let response = router.answer(request).await;
            rmp_serde::to_vec(&response).unwrap_or_else(|e| {
                rmp_serde::to_vec(&Response::Error(e.to_string())).unwrap_or_default()
            })
        })
    }
}

/// Sends `ping` to a node and gives its name.
pub async fn ping(
    quic: &super::quic::QuicNode,
    addr: std::net::SocketAddr,
) -> std::io::Result<String> {
    let request = rmp_serde::to_vec(&Request::<()>::Ping).map_err(std::io::Error::other)?;
    let reply = quic.call(addr, &request).await?;
    match rmp_serde::from_slice(&reply).map_err(std::io::Error::other)? {
        Response::Pong { node } => Ok(node),
        _ => Err(std::io::Error::other("unexpected answer to ping")),
    }
}
