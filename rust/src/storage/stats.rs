//! Per-bucket object and byte counters, kept exact on every commit and delete so
//! stats never need a listing.
//!
//! At start-up one background scan per bucket counts what is on disk while the
//! server already serves. The scan visits keys in sorted order and records how far
//! it got (its cursor); a write to a key at or before the cursor updates the
//! counters, a write beyond it does not (the scan will count the key's final state).
//! Writers update the counters under the key's write lock and the scan reads each
//! key under its read lock, so each key is counted exactly once.

use std::collections::BTreeMap;
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
struct BucketStats {
    counters: Counters,
    /// `Some(cursor)` while the start-up scan runs (`None` inside: nothing scanned yet).
    scanning: Option<Option<String>>,
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
                b.insert(ns, BucketStats { counters: Counters::default(), scanning: Some(None) });
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
        self.with(|b| {
            let stats = b.entry(bucket.to_string()).or_default();
            let counted = match &stats.scanning {
                None => true,
                Some(cursor) => cursor.as_deref().is_some_and(|c| key <= c),
            };
            if counted {
                stats.counters.apply(old_size, new_size);
            }
        });
    }

    /// The scan reached `key`, which holds `found`. Call with the key's read lock held.
    pub fn scanned(&self, ns: &str, key: &str, found: Counters) {
        self.with(|b| {
            if let Some(stats) = b.get_mut(ns) {
                if stats.scanning.is_some() {
                    stats.scanning = Some(Some(key.to_string()));
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
                let total = out.entry(ns.split('\0').next().unwrap_or_default().to_string()).or_default();
                total.objects += stats.counters.objects;
                total.bytes += stats.counters.bytes;
            }
            out
        })
    }
}

/// A bucket's counter namespaces: its current objects and its stored versions.
fn namespaces(bucket: &str) -> [String; 2] {
    [bucket.to_string(), crate::storage::versions::versions_stats_ns(bucket)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_during_the_scan_are_counted_once() {
        let stats = Stats::default();
        stats.add_unscanned_bucket("b");
        stats.scanned("b", "a", Counters { objects: 1, bytes: 10 });
        stats.replace("b", "a", Some(10), Some(5)); // behind the cursor: counted now
        stats.replace("b", "z", None, Some(7)); // ahead: the scan will count it
        stats.scanned("b", "z", Counters { objects: 1, bytes: 7 });
        stats.scan_finished("b");
        stats.scan_finished("b\0versions");
        stats.replace("b", "y", None, Some(1));
        assert_eq!(stats.bucket("b"), Counters { objects: 3, bytes: 13 });
        assert!(stats.scan_complete());
    }
}
