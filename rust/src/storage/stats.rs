//! Per-bucket object and byte counters, kept exact on every commit and delete so
//! stats never need a listing.
//!
//! At start-up one background scan per bucket counts what is on disk while the
//! server already serves. The scan visits keys in sorted order and records how far
//! it got (its cursor). A write to a key at or before the cursor updates the
//! counters. The first write to a key beyond it claims the key: it counts the key's
//! new state (not the old one, which nobody counted) and the scan skips the key when
//! it gets there. So a key the scan never sees (created in a folder after the scan
//! read that folder) is counted too. Writers update the counters under the key's
//! write lock and the scan reads each key under its read lock, so each key is
//! counted exactly once.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub objects: u64,
    pub bytes: u64,
}

impl Counters {
    fn apply(&mut self, old_size: Option<u64>, new_size: Option<u64>) {
        if let Some(old) = old_size {
            self.objects = self.objects.saturating_sub(1);
            self.bytes = self.bytes.saturating_sub(old);
        }
        if let Some(new) = new_size {
            self.objects += 1;
            self.bytes += new;
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Scan {
    /// The last key the scan visited (None: none yet).
    cursor: Option<String>,
    /// Keys beyond the cursor that writers have claimed.
    claimed: HashSet<String>,
}

#[derive(Debug, Clone, Default)]
struct BucketStats {
    counters: Counters,
    /// `Some` while the start-up scan runs.
    scanning: Option<Scan>,
}

#[derive(Default)]
pub struct Stats {
    buckets: Mutex<BTreeMap<String, BucketStats>>,
}

impl Stats {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, BucketStats>) -> R) -> R {
        f(&mut self.buckets.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A new, empty bucket: nothing to scan.
    pub fn add_bucket(&self, bucket: &str) {
        self.with(|b| {
            for ns in namespaces(bucket) {
                b.insert(ns, BucketStats::default());
            }
        });
    }

    /// A bucket found on disk at start-up, to be counted by the scan.
    pub fn add_unscanned_bucket(&self, bucket: &str) {
        self.with(|b| {
            for ns in namespaces(bucket) {
                b.insert(
                    ns,
                    BucketStats {
                        counters: Counters::default(),
                        scanning: Some(Scan::default()),
                    },
                );
            }
        });
    }

    pub fn remove_bucket(&self, bucket: &str) {
        self.with(|b| {
            for ns in namespaces(bucket) {
                b.remove(&ns);
            }
        });
    }

    /// Records that `bucket/key` went from `old_size` to `new_size` (None: absent).
    /// Call with the key's write lock held.
    pub fn replace(&self, bucket: &str, key: &str, old_size: Option<u64>, new_size: Option<u64>) {
        self.change(bucket, key, old_size, new_size, || Counters {
            objects: new_size.is_some() as u64,
            bytes: new_size.unwrap_or(0),
        });
    }

    /// Records that one item of `key` in namespace `ns` went from `old_size` to
    /// `new_size`; `state_after` gives all the key's counters after the change, needed
    /// only if this write claims the key from the scan (a key holds several items in
    /// the versions namespace). Call with the key's write lock held.
    pub fn change(
        &self,
        ns: &str,
        key: &str,
        old_size: Option<u64>,
        new_size: Option<u64>,
        state_after: impl FnOnce() -> Counters,
    ) {
        // Decided and applied in two steps, so that `state_after` (file reads) runs
        // outside the lock; the key's lock keeps the scan off this key in between.
        let claims = self.with(|b| match b.get(ns).and_then(|s| s.scanning.as_ref()) {
            Some(scan) => {
                scan.cursor.as_deref().is_none_or(|c| key > c) && !scan.claimed.contains(key)
            }
            None => false,
        });
        let claimed_state = claims.then(state_after);
        self.with(|b| {
            let stats = b.entry(ns.to_string()).or_default();
            match (claimed_state, &mut stats.scanning) {
                (Some(state), Some(scan)) => {
                    scan.claimed.insert(key.to_string());
                    stats.counters.objects += state.objects;
                    stats.counters.bytes += state.bytes;
                }
                _ => stats.counters.apply(old_size, new_size),
            }
        });
    }

    /// The scan reached `key`, which holds `found`. Call with the key's read lock held.
    pub fn scanned(&self, ns: &str, key: &str, found: Counters) {
        self.with(|b| {
            if let Some(stats) = b.get_mut(ns)
                && let Some(scan) = &mut stats.scanning
            {
                scan.cursor = Some(key.to_string());
                if !scan.claimed.remove(key) {
                    stats.counters.objects += found.objects;
                    stats.counters.bytes += found.bytes;
                }
            }
        });
    }

    pub fn scan_finished(&self, ns: &str) {
        self.with(|b| {
            if let Some(stats) = b.get_mut(ns) {
                stats.scanning = None;
            }
        });
    }

    pub fn scan_complete(&self) -> bool {
        self.with(|b| b.values().all(|s| s.scanning.is_none()))
    }

    /// A bucket's totals: current objects plus stored non-current versions.
    pub fn bucket(&self, bucket: &str) -> Counters {
        self.all().get(bucket).copied().unwrap_or_default()
    }

    pub fn all(&self) -> BTreeMap<String, Counters> {
        self.with(|b| {
            let mut out: BTreeMap<String, Counters> = BTreeMap::new();
            for (ns, stats) in b.iter() {
                let total = out
                    .entry(ns.split('\0').next().unwrap_or_default().to_string())
                    .or_default();
                total.objects += stats.counters.objects;
                total.bytes += stats.counters.bytes;
            }
            out
        })
    }
}

/// A bucket's counter namespaces: its current objects and its stored versions.
fn namespaces(bucket: &str) -> [String; 2] {
    [
        bucket.to_string(),
        crate::storage::versions::versions_stats_ns(bucket),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_during_the_scan_are_counted_once() {
        let stats = Stats::default();
        stats.add_unscanned_bucket("b");
        stats.scanned(
            "b",
            "a",
            Counters {
                objects: 1,
                bytes: 10,
            },
        );
        stats.replace("b", "a", Some(10), Some(5)); // behind the cursor: counted now
        stats.replace("b", "z", Some(100), Some(7)); // ahead: claimed with its new state
        stats.replace("b", "z", Some(7), Some(8)); // claimed already: a plain change
        stats.replace("b", "m", None, Some(4)); // created where the scan already read the folder
        stats.replace("b", "n", Some(50), None); // deleted ahead of the scan
        stats.scanned("b", "n", Counters::default());
        stats.scanned(
            "b",
            "z",
            Counters {
                objects: 1,
                bytes: 8,
            },
        ); // claimed: not counted again
        stats.scan_finished("b");
        stats.scan_finished("b\0versions");
        stats.replace("b", "y", None, Some(1));
        assert_eq!(
            stats.bucket("b"),
            Counters {
                objects: 4,
                bytes: 18
            }
        );
        assert!(stats.scan_complete());
    }
}
