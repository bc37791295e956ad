//! What nodes ask each other over QUIC: one MessagePack `Request` per stream, one
//! `Response` back. The metadata log's requests are its own (`raft::network`).

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

use super::decommission::DecommissionReport;
use super::health::DriveReport;

use super::quic::{Reply, Service};
use super::raft::{self, Slot};
use super::remote_drive::{ShardRequest, ShardResponse, ShardServer};

/// `M` is the metadata log's request (borrowed to send, owned when received), `S` a
/// drive's.
#[derive(Serialize, Deserialize)]
pub enum Request<M = raft::network::Request, S = ShardRequest> {
    /// Are you there, and who are you?
    Ping,
    Meta(M),
    Shard(S),
    /// From an operator's CLI (it holds the secret): remove a node, moving its data.
    Decommission {
        node: String,
    },
}

#[derive(Serialize, Deserialize)]
pub enum Response {
    Pong {
        node: String,
        /// Its drives as last probed.
        drives: Vec<DriveReport>,
    },
    Meta(Box<raft::network::Response>),
    Shard(ShardResponse),
    Decommissioned(Result<DecommissionReport, String>),
    /// The request could not be read.
    Error(String),
}

/// What an operator may ask a node (its store, once open).
pub trait Admin: Send + Sync {
    fn decommission(&self, node: String) -> BoxFuture<'static, Result<DecommissionReport, String>>;
    /// This node's drives as last probed (answered with every ping).
    fn drives(&self) -> Vec<DriveReport>;
}

/// Answers other nodes' requests on this node.
#[derive(Clone)]
pub struct Router {
    pub node: String,
    pub meta: Slot,
    pub shards: Arc<ShardServer>,
    pub admin: Arc<RwLock<Option<Arc<dyn Admin>>>>,
}

impl Router {
    pub fn new(node: &str) -> Arc<Router> {
        Arc::new(Router {
            node: node.to_string(),
            meta: Slot::default(),
            shards: Arc::default(),
            admin: Arc::default(),
        })
    }

    async fn answer(&self, request: Vec<u8>) -> Response {
        match rmp_serde::from_slice::<Request>(&request) {
            Ok(Request::Ping) => Response::Pong {
                node: self.node.clone(),
                drives: (self
                    .admin
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref())
                .map(|admin| admin.drives())
                .unwrap_or_default(),
            },
            Ok(Request::Meta(m)) => Response::Meta(Box::new(self.meta.handle(m).await)),
            Ok(Request::Shard(s)) => {
                let shards = self.shards.clone();
                match tokio::task::spawn_blocking(move || shards.handle(s)).await {
                    Ok(response) => Response::Shard(response),
                    Err(e) => Response::Error(format!("drive request failed: {e}")),
                }
            }
            Ok(Request::Decommission { node }) => {
                let admin = self.admin.read().unwrap_or_else(|e| e.into_inner()).clone();
                Response::Decommissioned(match admin {
                    Some(admin) => admin.decommission(node).await,
                    None => Err("this node is not serving yet".into()),
                })
            }
            Err(e) => Response::Error(format!("unreadable request: {e}")),
        }
    }
}

impl Service for Router {
    fn call(self: &Router, request: Vec<u8>) -> Reply {
        // The reply future must own what it uses: the handles are cheap to clone.
        let router = self.clone();
        Box::pin(async move {
            let response = router.answer(request).await;
            rmp_serde::to_vec(&response).unwrap_or_else(|e| {
                rmp_serde::to_vec(&Response::Error(e.to_string())).unwrap_or_default()
            })
        })
    }
}

/// Sends `ping` to a node and gives its name and its drives.
pub async fn ping(
    quic: &super::quic::QuicNode,
    addr: std::net::SocketAddr,
) -> std::io::Result<(String, Vec<DriveReport>)> {
    let request = rmp_serde::to_vec(&Request::<(), ()>::Ping).map_err(std::io::Error::other)?;
    let reply = quic.call(addr, &request).await?;
    match rmp_serde::from_slice(&reply).map_err(std::io::Error::other)? {
        Response::Pong { node, drives } => Ok((node, drives)),
        _ => Err(std::io::Error::other("unexpected answer to ping")),
    }
}

/// The `decommission` CLI: asks the node at `via` (`host:port` of its QUIC endpoint)
/// to remove `node`, over mutual TLS from the cluster secret.
pub async fn decommission_via(
    via: &str,
    secret: &str,
    node: &str,
) -> Result<DecommissionReport, String> {
    let to = tokio::net::lookup_host(via)
        .await
        .map_err(|e| format!("{via}: {e}"))?
        .next()
        .ok_or_else(|| format!("{via}: no address"))?;
    let identity =
        super::tls::Identity::new(Some(secret), "operator").map_err(|e| e.to_string())?;
    let local = if to.is_ipv6() { "::" } else { "0.0.0.0" };
    let quic = super::quic::bind(local, 0, &identity, Router::new("operator"))
        .await
        .map_err(|e| format!("cannot open a QUIC endpoint: {e}"))?;
    let request = Request::<(), ()>::Decommission { node: node.into() };
    let request = rmp_serde::to_vec(&request).map_err(|e| e.to_string())?;
    let reply = quic.call(to, &request).await;
    quic.close().await;
    let reply = reply.map_err(|e| format!("{via}: {e}"))?;
    match rmp_serde::from_slice(&reply).map_err(|e| e.to_string())? {
        Response::Decommissioned(result) => result,
        Response::Error(e) => Err(e),
        _ => Err(format!("{via}: unexpected answer")),
    }
}
