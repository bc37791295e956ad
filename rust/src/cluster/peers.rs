//! Whether the other nodes answer: a task pings every member each second over QUIC
//! and keeps, per address, when it last answered and how long the round trip took.
//! A node is `up` when it answered within `SUSPECT_AFTER`, `suspect` until
//! `DOWN_AFTER`, `down` after that or when it never answered.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::health::{DriveReport, NodeState, now_ms};
use super::quic::QuicNode;

const SUSPECT_AFTER: Duration = Duration::from_secs(3);
const DOWN_AFTER: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
struct Contact {
    at: Instant,
    at_ms: u64,
    rtt: Duration,
}

/// What is known of one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seen {
    pub state: NodeState,
    /// Unix ms of the last answer.
    pub last_seen_ms: Option<u64>,
    pub rtt_ms: Option<f64>,
}

#[derive(Default)]
pub struct PeerMonitor {
    contacts: Mutex<HashMap<String, Contact>>,
    /// Each node's drives, as its last answer gave them.
    drives: Mutex<HashMap<String, Vec<DriveReport>>>,
}

impl PeerMonitor {
    /// What is known of the node at `addr` (`host:port`).
    pub fn seen(&self, addr: &str) -> Seen {
        let contact = self
            .contacts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(addr)
            .copied();
        let Some(c) = contact else {
            return Seen {
                state: NodeState::Down,
                last_seen_ms: None,
                rtt_ms: None,
            };
        };
        let silent = c.at.elapsed();
        let state = if silent < SUSPECT_AFTER {
            NodeState::Up
        } else if silent < DOWN_AFTER {
            NodeState::Suspect
        } else {
            NodeState::Down
        };
        Seen {
            state,
            last_seen_ms: Some(c.at_ms),
            rtt_ms: Some(c.rtt.as_secs_f64() * 1000.0),
        }
    }

    /// Pings every address once, at the same time, and records who answered.
    pub async fn ping_all(&self, quic: &QuicNode, addrs: &[String]) {
        let pings = addrs.iter().map(|addr| async move {
            let to: SocketAddr = tokio::net::lookup_host(addr.as_str()).await.ok()?.next()?;
            let start = Instant::now();
            let answer = tokio::time::timeout(PING_TIMEOUT, super::rpc::ping(quic, to)).await;
            let (_, drives) = answer.ok()?.ok()?;
            Some((addr.clone(), start.elapsed(), drives))
        });
        let answered = futures_util::future::join_all(pings).await;
        let mut contacts = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
        let mut known = self.drives.lock().unwrap_or_else(|p| p.into_inner());
        for (addr, rtt, drives) in answered.into_iter().flatten() {
            let contact = Contact {
                at: Instant::now(),
                at_ms: now_ms(),
                rtt,
            };
            contacts.insert(addr.clone(), contact);
            known.insert(addr, drives);
        }
    }

    /// The drives of the node at `addr` as it last reported them (none if it never
    /// answered).
    pub fn drives(&self, addr: &str) -> Vec<DriveReport> {
        let known = self.drives.lock().unwrap_or_else(|p| p.into_inner());
        known.get(addr).cloned().unwrap_or_default()
    }

    /// Pings the addresses `members` gives, every `every`, while `quic` is open.
    pub fn spawn(
        self: &Arc<Self>,
        quic: Weak<QuicNode>,
        every: Duration,
        members: impl Fn() -> Vec<String> + Send + 'static,
    ) {
        let monitor = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (Some(monitor), Some(quic)) = (monitor.upgrade(), quic.upgrade()) else {
                    return;
                };
                monitor.ping_all(&quic, &members()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{quic, rpc::Router, tls::Identity};

    async fn node(name: &str) -> QuicNode {
        let identity = Identity::new(Some("peer monitor test secret"), name).unwrap();
        quic::bind("127.0.0.1", 0, &identity, Router::new(name))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn answers_make_a_node_up_silence_does_not() {
        let (a, b) = (node("a").await, node("b").await);
        let b_addr = format!("127.0.0.1:{}", b.port());
        let monitor = PeerMonitor::default();
        assert_eq!(monitor.seen(&b_addr).state, NodeState::Down);
        monitor.ping_all(&a, std::slice::from_ref(&b_addr)).await;
        let seen = monitor.seen(&b_addr);
        assert_eq!(seen.state, NodeState::Up);
        assert!(seen.rtt_ms.is_some_and(|r| r > 0.0) && seen.last_seen_ms.is_some());
        // b goes: another round records nothing new, the old contact stays as it was.
        b.close().await;
        monitor.ping_all(&a, std::slice::from_ref(&b_addr)).await;
        assert_eq!(monitor.seen(&b_addr).last_seen_ms, seen.last_seen_ms);
        // Silence turns up into suspect, then down.
        let backdate = |ago: u64| {
            let mut contacts = monitor.contacts.lock().unwrap();
            let c = contacts.get_mut(&b_addr).unwrap();
            c.at = Instant::now() - Duration::from_secs(ago);
        };
        backdate(5);
        assert_eq!(monitor.seen(&b_addr).state, NodeState::Suspect);
        backdate(11);
        assert_eq!(monitor.seen(&b_addr).state, NodeState::Down);
        // An address nobody answers at is down.
        monitor.ping_all(&a, &["127.0.0.1:9".to_string()]).await;
        assert_eq!(monitor.seen("127.0.0.1:9").state, NodeState::Down);
        a.close().await;
    }
}
