//! Removing a node from a cluster (`decommissionNode`): it is marked leaving (no new
//! shards go to it), every body with a shard on its drives is rewritten over the
//! other nodes and swapped in by one metadata command per batch (a body deleted
//! meanwhile is simply dropped), and once nothing is left on it, it leaves the Raft
//! membership (joint consensus) and the node list. Run by another node: the one
//! that leaves may stop at any moment.

use serde::{Deserialize, Serialize};

use super::body_io::{BodySink, SMALL_BODY, StagedBody};
use super::meta::{Body, Command, Outcome};
use super::store::{ClusterStore, raft_node_id};
use super::topology::NodeRecord;
use crate::storage::Error;
use crate::storage::writer::Sink;

/// Bodies rewritten per metadata command.
const BATCH: usize = 16;
/// Passes over the bodies before giving up (writes that placed a shard on the node
/// just before it was marked leaving are caught by the next pass).
const PASSES: usize = 5;

/// Result of `decommissionNode`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecommissionReport {
    pub node_id: String,
    /// Bodies (objects, or parts of multipart ones) rewritten over the other nodes.
    pub moved_bodies: u64,
    pub moved_bytes: u64,
}

impl ClusterStore {
    pub async fn decommission(&self, name: &str) -> Result<DecommissionReport, String> {
        let text = |e: Error| e.to_string();
        if name == self.formatted.node_id {
            return Err(format!(
                "node {name} cannot decommission itself: ask another node of the cluster"
            ));
        }
        let node = self
            .read(|s| Ok(s.nodes().get(name).cloned()))
            .map_err(text)?
            .ok_or_else(|| format!("no node named {name} in the cluster"))?;
        self.propose(Command::RetireNode { name: name.into() })
            .await
            .map_err(text)?;
        let mut report = DecommissionReport {
            node_id: name.into(),
            moved_bodies: 0,
            moved_bytes: 0,
        };
        for pass in 0.. {
            self.sync_spread(&self.meta());
            let bodies = self.read(|s| Ok(on_node(s, &node))).map_err(text)?;
            if bodies.is_empty() {
                break;
            }
            if pass == PASSES {
                return Err(format!(
                    "{} bodies are still on {name} after {PASSES} passes",
                    bodies.len()
                ));
            }
            for batch in bodies.chunks(BATCH) {
                let (moves, staged) = self.rewrite(batch.to_vec()).await.map_err(text)?;
                let bytes: u64 = moves.iter().map(|(_, b)| b.size).sum();
                let outcome = self
                    .propose(Command::ReplaceBodies { moves })
                    .await
                    .map_err(text)?;
                staged.into_iter().for_each(|s| self.published(Some(s)));
                if let Outcome::Count(n) = outcome {
                    report.moved_bodies += n;
                    report.moved_bytes += bytes;
                }
            }
        }
        let meta = self.meta();
        meta.log
            .remove_member(raft_node_id(name))
            .await
            .map_err(|e| e.to_string())?;
        self.propose(Command::UnregisterNode { name: name.into() })
            .await
            .map_err(text)?;
        crate::log::warn(&format!(
            "node {name} decommissioned: {} bodies ({} bytes) moved off it",
            report.moved_bodies, report.moved_bytes
        ));
        Ok(report)
    }

    /// Copies each body to a new one placed over the staying nodes (blocking reads
    /// and writes, as UploadPartCopy does; decoding past the leaving node's shards if
    /// it is gone).
    async fn rewrite(
        &self,
        bodies: Vec<Body>,
    ) -> crate::storage::Result<(Vec<(String, Body)>, Vec<StagedBody>)> {
        self.blocking(move |store| {
            let mut moves = Vec::new();
            let mut staged = Vec::new();
            for body in bodies {
                let mut sink = BodySink::open(store.set.clone(), body.size <= SMALL_BODY)?;
                // Leased while read (as any read), so a delete meanwhile waits for it.
                store.read_each(std::slice::from_ref(&body), 0, body.size, &mut |c| {
                    sink.write(&c)
                })?;
                let (copy, _) = sink.finish(body.size, [0; 16])?;
                let new = copy.body.clone().expect("a finished body");
                moves.push((body.id.clone(), new));
                staged.push(copy);
            }
            Ok((moves, staged))
        })
        .await
    }
}

/// The bodies with a shard on `node`'s drives.
fn on_node(state: &super::meta::MetaState, node: &NodeRecord) -> Vec<Body> {
    let first = state.first_node().is_some_and(|n| n.name == node.name);
    (state.bodies().into_iter())
        .filter(|b| match b.drives.is_empty() {
            true => first,
            false => b.drives.iter().any(|d| node.drives.contains(d)),
        })
        .collect()
}
