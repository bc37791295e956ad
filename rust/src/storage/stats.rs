//! Per-bucket object and byte counters, kept exact on every commit and delete so
//! stats never need a listing.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Default)]
pub struct Stats {
    buckets: Mutex<BTreeMap<String, Counters>>,
}

impl Stats {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Counters>) -> R) -> R {
        f(&mut self.buckets.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_bucket(&self, bucket: &str, counters: Counters) {
        self.with(|b| b.insert(bucket.to_string(), counters));
    }

    pub fn remove_bucket(&self, bucket: &str) {
        self.with(|b| b.remove(bucket));
    }

    /// Records that `bucket/key` now holds `new_size` bytes (None: deleted), having held `old_size`.
    pub fn replace(&self, bucket: &str, old_size: Option<u64>, new_size: Option<u64>) {
        self.with(|b| {
            let c = b.entry(bucket.to_string()).or_default();
            if let Some(old) = old_size {
                c.objects = c.objects.saturating_sub(1);
                c.bytes = c.bytes.saturating_sub(old);
            }
            if let Some(new) = new_size {
                c.objects += 1;
                c.bytes += new;
            }
        });
    }

    pub fn bucket(&self, bucket: &str) -> Counters {
        self.with(|b| b.get(bucket).copied().unwrap_or_default())
    }

    pub fn all(&self) -> BTreeMap<String, Counters> {
        self.with(|b| b.clone())
    }
}
