//! The metadata log between nodes: openraft's RPCs, and the log's own requests (a
//! write forwarded to the leader, the leader's read index, a join), as MessagePack
//! over the node's QUIC endpoint. A log opened without a network (tests, and
//! nothing else) finds every peer unreachable.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock, Weak};

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::{Core, LogError, Member, TypeConfig};
use crate::cluster::quic::QuicNode;

/// A request from another node's log.
#[derive(Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A command for the leader's log, from a node that took the client's request.
    Write(Vec<u8>),
    /// The leader's read index: the caller then waits until it applied that far.
    ReadIndex,
    /// Make node `id` a voter.
    Join {
        id: u64,
        member: Member,
    },
    /// Take node `id` out of the membership.
    Leave {
        id: u64,
    },
}

#[derive(Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Write(Result<Vec<u8>, WireError>),
    ReadIndex(Result<u64, WireError>),
    Join(Result<(), WireError>),
    Leave(Result<(), WireError>),
}

/// A `LogError` on the wire.
#[derive(Serialize, Deserialize, Debug)]
pub enum WireError {
    NotLeader(Option<u64>),
    Unavailable(String),
    Stopped(String),
}

impl From<LogError> for WireError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::NotLeader(l) => WireError::NotLeader(l),
            LogError::Unavailable(s) => WireError::Unavailable(s),
            e => WireError::Stopped(e.to_string()),
        }
    }
}

impl From<WireError> for LogError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NotLeader(l) => LogError::NotLeader(l),
            WireError::Unavailable(s) => LogError::Unavailable(s),
            WireError::Stopped(s) => LogError::Stopped(s),
        }
    }
}

/// Where requests from other nodes find this node's open log (none while it is
/// closed or being reopened: they are answered `Unavailable`).
#[derive(Clone, Default)]
pub struct Slot(Arc<RwLock<Weak<Core>>>);

impl Slot {
    pub(super) fn set(&self, core: &Arc<Core>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(core);
    }

    fn core(&self) -> Option<Arc<Core>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).upgrade()
    }

    /// Answers a request of another node's log.
    pub async fn handle(&self, request: Request) -> Response {
        let Some(core) = self.core() else {
            // Each request gets its own kind of answer: openraft's say the node stopped.
            let closed = || WireError::Unavailable("the metadata log is not open".into());
            let stopped = || openraft::error::Fatal::Stopped;
            return match request {
                Request::AppendEntries(_) => Response::AppendEntries(Err(stopped().into())),
                Request::Vote(_) => Response::Vote(Err(stopped().into())),
                Request::InstallSnapshot(_) => Response::InstallSnapshot(Err(stopped().into())),
                Request::Write(_) => Response::Write(Err(closed())),
                Request::ReadIndex => Response::ReadIndex(Err(closed())),
                Request::Join { .. } => Response::Join(Err(closed())),
                Request::Leave { .. } => Response::Leave(Err(closed())),
            };
        };
        let raft = &core.raft;
        match request {
            Request::AppendEntries(r) => Response::AppendEntries(raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(raft.vote(r).await),
            Request::InstallSnapshot(r) => {
                Response::InstallSnapshot(raft.install_snapshot(r).await)
            }
            Request::Write(command) => {
                Response::Write(core.write_here(command).await.map_err(Into::into))
            }
            Request::ReadIndex => Response::ReadIndex(core.read_index().await.map_err(Into::into)),
            Request::Join { id, member } => {
                Response::Join(core.add_voter(id, member).await.map_err(Into::into))
            }
            Request::Leave { id } => {
                Response::Leave(core.remove_member(id).await.map_err(Into::into))
            }
        }
    }
}

/// How this node's log reaches the others.
#[derive(Clone)]
pub struct Network {
    pub quic: Arc<QuicNode>,
    /// Where the other nodes' requests come in.
    pub slot: Slot,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Network(quic port {})", self.quic.port())
    }
}

fn wire_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Network {
    /// Sends a request to the node at `addr` (`host:port`).
    pub async fn call(&self, addr: &str, request: &Request) -> std::io::Result<Response> {
        let to: SocketAddr = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| wire_error(format!("cannot resolve {addr}")))?;
        use crate::cluster::rpc;
        let bytes = rmp_serde::to_vec(&rpc::Request::<_, ()>::Meta(request)).map_err(wire_error)?;
        let reply = self.quic.call(to, &bytes).await?;
        match rmp_serde::from_slice(&reply).map_err(wire_error)? {
            rpc::Response::Meta(response) => Ok(*response),
            rpc::Response::Error(e) => Err(wire_error(e)),
            _ => Err(wire_error("unexpected answer")),
        }
    }
}

/// openraft's handle on the network; `None`: no peers can be reached.
pub(crate) struct Factory(pub Option<Network>);

pub(crate) struct Peer {
    target: u64,
    member: Member,
    network: Option<Network>,
}

impl RaftNetworkFactory<TypeConfig> for Factory {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &Member) -> Peer {
        Peer {
            target,
            member: node.clone(),
            network: self.0.clone(),
        }
    }
}

impl Peer {
    /// Sends `request` within openraft's deadline; anything but an answer makes the
    /// peer unreachable for now (openraft backs off and retries).
    async fn send<E: std::error::Error>(
        &self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<u64, Member, E>> {
        let unreachable = |e: std::io::Error| {
            let e = wire_error(format!("node {}: {e}", self.member));
            RPCError::Unreachable(Unreachable::new(&e))
        };
        let Some(network) = &self.network else {
            return Err(unreachable(wire_error("no cluster network")));
        };
        match tokio::time::timeout(option.hard_ttl(), network.call(&self.member.addr, &request))
            .await
        {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(unreachable(e)),
            Err(_) => Err(unreachable(wire_error("timed out"))),
        }
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<u64, Member, E> {
    RPCError::Network(NetworkError::new(&wire_error("unexpected answer")))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, Member, RaftError<u64>>> {
        match self.send(Request::AppendEntries(rpc), &option).await? {
            Response::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(remote(self, e))),
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, Member, RaftError<u64, InstallSnapshotError>>,
    > {
        match self.send(Request::InstallSnapshot(rpc), &option).await? {
            Response::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(remote(self, e))),
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, Member, RaftError<u64>>> {
        match self.send(Request::Vote(rpc), &option).await? {
            Response::Vote(r) => r.map_err(|e| RPCError::RemoteError(remote(self, e))),
            _ => Err(unexpected()),
        }
    }
}

fn remote<E: std::error::Error>(peer: &Peer, e: E) -> openraft::error::RemoteError<u64, Member, E> {
    openraft::error::RemoteError::new_with_node(peer.target, peer.member.clone(), e)
}
