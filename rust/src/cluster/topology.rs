//! The nodes of a cluster and how a new body's shards spread over them.
//!
//! Every node registers itself in the replicated metadata (`Command::RegisterNode`:
//! its name, its QUIC address, its drive ids). Once more than one node has, new
//! bodies are written over all of them: the geometry comes from the drive counts
//! ([`spread_geometry`]: the most shards, at most 16, with no node holding more than
//! the parity count M, so losing any one node loses at most M shards of any body),
//! and each body names its drives (`Body::drives`), so placement can change as nodes
//! come and go without moving what is stored.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::geometry::{MAX_SET_DRIVES, default_erasure};

/// A node as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    /// Its QUIC address (`host:port`), as its peers reach it.
    pub addr: String,
    /// Its drives' ids, in slot order.
    pub drives: Vec<String>,
    /// Being decommissioned: takes no new shards; its bodies are moved off it.
    #[serde(default)]
    pub leaving: bool,
}

/// `(K, M)` for a body spread over nodes with these drive counts: the largest shard
/// count `n` (≤ 16 and ≤ the drives there are) whose parity `M` (MinIO's default for
/// `n`, raised to `ceil(n / nodes)` so no node needs more than `M` shards) is at most
/// half of `n` and leaves room for `n` shards at `M` per node. `None` for fewer than
/// two nodes (a single node keeps its own set's geometry).
pub fn spread_geometry(drives_per_node: &[usize]) -> Option<(usize, usize)> {
    let nodes = drives_per_node.iter().filter(|d| **d > 0).count();
    if nodes < 2 {
        return None;
    }
    let total: usize = drives_per_node.iter().sum();
    (2..=total.min(MAX_SET_DRIVES)).rev().find_map(|n| {
        let parity = default_erasure(n)?.parity_shards.max(n.div_ceil(nodes));
        let room: usize = drives_per_node.iter().map(|d| (*d).min(parity)).sum();
        (2 * parity <= n && room >= n).then_some((n - parity, parity))
    })
}

/// A node as placement sees it: its drives, each with whether it takes writes now.
pub struct Candidate {
    pub drives: Vec<(String, bool)>,
}

impl Candidate {
    fn writable(&self) -> usize {
        self.drives.iter().filter(|(_, w)| *w).count()
    }
}

/// The drives of a new body of `shards` shards, at most `per_node` on one node: nodes
/// with writable drives first, each node's writable drives first, in random order;
/// then shards dealt round the chosen nodes so that the data shards (the first ones,
/// the ones reads use) spread over the nodes. `None` when the nodes cannot hold them.
pub fn place(nodes: &[Candidate], shards: usize, per_node: usize) -> Option<Vec<String>> {
    let mut rng = rand::rng();
    let mut order: Vec<&Candidate> = nodes.iter().collect();
    order.shuffle(&mut rng);
    order.sort_by_key(|c| std::cmp::Reverse(c.writable().min(per_node)));
    // How many shards each node takes: one at a time round the nodes, on writable
    // drives first, then (nodes away) on the others, which healing fills later.
    let mut take = vec![0usize; order.len()];
    let mut placed = 0;
    for room in [
        &(|c: &Candidate| c.writable().min(per_node)) as &dyn Fn(&Candidate) -> usize,
        &|c: &Candidate| c.drives.len().min(per_node),
    ] {
        loop {
            let before = placed;
            for (i, node) in order.iter().enumerate() {
                if placed < shards && take[i] < room(node) {
                    take[i] += 1;
                    placed += 1;
                }
            }
            if placed == before {
                break;
            }
        }
    }
    if placed < shards {
        return None;
    }
    let mut picks: Vec<Vec<String>> = order
        .iter()
        .zip(&take)
        .map(|(node, &n)| {
            let mut drives: Vec<&(String, bool)> = node.drives.iter().collect();
            drives.shuffle(&mut rng);
            drives.sort_by_key(|(_, writable)| !writable);
            drives
                .into_iter()
                .take(n)
                .map(|(id, _)| id.clone())
                .rev()
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(shards);
    while out.len() < shards {
        for pick in picks.iter_mut() {
            out.extend(pick.pop());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn geometry_keeps_any_one_node_within_parity() {
        assert_eq!(spread_geometry(&[4]), None);
        assert_eq!(spread_geometry(&[4, 0]), None);
        assert_eq!(spread_geometry(&[2, 2]), Some((2, 2)));
        assert_eq!(spread_geometry(&[2, 2, 2]), Some((3, 3)));
        assert_eq!(spread_geometry(&[4, 4, 4]), Some((8, 4)));
        assert_eq!(spread_geometry(&[8, 8, 8]), Some((10, 6)));
        assert_eq!(spread_geometry(&[4, 4, 4, 4, 4]), Some((12, 4)));
        // Unequal nodes: the big one cannot take more than M.
        assert_eq!(spread_geometry(&[6, 2]), Some((2, 2)));
        assert_eq!(spread_geometry(&[1, 1]), Some((1, 1)));
        assert_eq!(spread_geometry(&[1, 1, 1]), Some((2, 1)));
        for nodes in 2..=8 {
            for drives in 1..=8 {
                let counts = vec![drives; nodes];
                let (k, m) = spread_geometry(&counts).expect("a geometry");
                assert!(m <= k && k + m <= MAX_SET_DRIVES, "{counts:?}: {k}+{m}");
                assert!(
                    k + m <= nodes * drives.min(m),
                    "{counts:?}: {k}+{m} do not fit"
                );
            }
        }
    }

    fn node(name: &str, drives: usize, writable: usize) -> Candidate {
        Candidate {
            drives: (0..drives)
                .map(|i| (format!("{name}-{i}"), i < writable))
                .collect(),
        }
    }

    fn per_node(drives: &[String]) -> HashMap<String, usize> {
        let mut count = HashMap::new();
        for d in drives {
            *count.entry(d[..2].to_string()).or_default() += 1;
        }
        count
    }

    #[test]
    fn placement_spreads_and_prefers_writable_drives() {
        let nodes = [node("n1", 2, 2), node("n2", 2, 2), node("n3", 2, 2)];
        for _ in 0..50 {
            let drives = place(&nodes, 6, 3).unwrap();
            assert_eq!(drives.len(), 6);
            let distinct: std::collections::HashSet<_> = drives.iter().collect();
            assert_eq!(distinct.len(), 6, "{drives:?}");
            // The three data shards are on three nodes.
            assert_eq!(per_node(&drives[..3]).len(), 3, "{drives:?}");
        }
        // One node down: the small body (1 + 3 shards) goes to the two others only.
        let nodes = [node("n1", 2, 2), node("n2", 2, 0), node("n3", 2, 2)];
        for _ in 0..50 {
            let drives = place(&nodes, 4, 3).unwrap();
            assert!(!per_node(&drives).contains_key("n2"), "{drives:?}");
        }
        // One drive of n1 down: n1's one shard goes to its writable drive.
        let nodes = [node("n1", 2, 1), node("n2", 2, 2), node("n3", 2, 2)];
        for _ in 0..50 {
            let drives = place(&nodes, 3, 3).unwrap();
            assert!(!drives.contains(&"n1-1".to_string()), "{drives:?}");
        }
        assert_eq!(place(&[node("n1", 2, 2), node("n2", 2, 2)], 6, 2), None);
        let big = place(&[node("n1", 8, 8), node("n2", 2, 2)], 4, 2).unwrap();
        assert_eq!(per_node(&big).values().copied().max(), Some(2));
    }
}
