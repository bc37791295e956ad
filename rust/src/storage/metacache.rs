//! The metadata of current objects, kept in memory: a GET or HEAD of a key read
//! recently skips opening and parsing its metadata file (4 KiB GET: one open, one
//! read and a JSON parse fewer).
//!
//! It can never be older than the file. An entry is added only by a reader holding
//! the key's read lock, from the file it read under that lock, and every change of a
//! key's current metadata happens under the key's write lock, taken through
//! `Store::lock_key`, whose guard drops the key's entry before it unlocks. A bucket's
//! deletion clears everything. Bounded by weight (about the bytes held); the least
//! useful entries go first.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLockWriteGuard};

use quick_cache::{Equivalent, Weighter, sync::Cache};

use super::Store;
use super::meta::ObjectMeta;

/// What the cache may hold, in weight (about bytes).
const CAPACITY: u64 = 32 << 20;
/// A guess at an entry's weight, for sizing the table.
const TYPICAL_ENTRY: u64 = 1024;

type Key = (String, String);

/// A lookup by bucket and key without building a `(String, String)`; hashes as one.
struct Lookup<'a>(&'a str, &'a str);

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0, self.1).hash(state)
    }
}

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

#[derive(Clone)]
struct ByWeight;

impl Weighter<Key, Arc<ObjectMeta>> for ByWeight {
    fn weight(&self, key: &Key, meta: &Arc<ObjectMeta>) -> u64 {
        let map = |m: &std::collections::BTreeMap<String, String>| {
            m.iter().map(|(k, v)| k.len() + v.len() + 48).sum::<usize>()
        };
        let bytes = key.0.len()
            + 2 * key.1.len()
            + meta.etag.len()
            + meta.content_type.len()
            + map(&meta.headers)
            + map(&meta.user_metadata)
            + map(&meta.tags)
            + 8 * meta.parts.len()
            + 256;
        bytes as u64
    }
}

pub struct MetaCache(Cache<Key, Arc<ObjectMeta>, ByWeight>);

impl MetaCache {
    pub fn new() -> Self {
        MetaCache(Cache::with_weighter(
            (CAPACITY / TYPICAL_ENTRY) as usize,
            CAPACITY,
            ByWeight,
        ))
    }

    /// The key's current metadata, if cached. Call under the key's read lock.
    pub fn get(&self, bucket: &str, key: &str) -> Option<ObjectMeta> {
        self.0.get(&Lookup(bucket, key)).map(|meta| (*meta).clone())
    }

    /// Remembers metadata just read from the key's file. Call under the key's read
    /// lock, the one held while the file was read.
    pub fn insert(&self, bucket: &str, key: &str, meta: &ObjectMeta) {
        self.0.insert(
            (bucket.to_string(), key.to_string()),
            Arc::new(meta.clone()),
        );
    }

    fn forget(&self, bucket: &str, key: &str) {
        self.0.remove(&Lookup(bucket, key));
    }

    pub fn clear(&self) {
        self.0.clear();
    }
}

/// A key's write lock. Whatever the holder changed, the key's cached metadata is
/// dropped before the lock is released.
pub struct KeyWrite<'a> {
    _lock: RwLockWriteGuard<'a, ()>,
    cache: &'a MetaCache,
    bucket: &'a str,
    key: &'a str,
}

impl Drop for KeyWrite<'_> {
    fn drop(&mut self) {
        self.cache.forget(self.bucket, self.key);
    }
}

impl Store {
    /// Takes `bucket/key`'s write lock: the only way to take it for a change of the
    /// key's objects or versions (see the module's comment).
    /// A change the journal does not carry first checkpoints a journal that holds a
    /// record of the key (before the lock: a checkpoint waits for journaled writes,
    /// which take key locks), so that replaying the record cannot undo the change.
    pub(super) fn lock_key<'a>(&'a self, bucket: &'a str, key: &'a str) -> KeyWrite<'a> {
        if !super::durable::journaled()
            && self
                .journal
                .get()
                .is_some_and(|j| j.has_record(bucket, key))
        {
            self.checkpoint();
        }
        KeyWrite {
            _lock: self.locks.write(bucket, key),
            cache: &self.meta_cache,
            bucket,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str, size: u64) -> ObjectMeta {
        serde_json::from_value(serde_json::json!({
            "key": key, "size": size, "etag": "\"e\"", "lastModified": 0, "contentType": "t"
        }))
        .unwrap()
    }

    #[test]
    fn entries_are_found_by_bucket_and_key_and_forgotten_one_by_one() {
        let cache = MetaCache::new();
        cache.insert("b", "k", &meta("k", 1));
        cache.insert("b", "k2", &meta("k2", 2));
        // The pair is the key: "b"+"k2" is not "bk"+"2".
        assert!(cache.get("bk", "2").is_none());
        assert_eq!(cache.get("b", "k").unwrap().size, 1);
        cache.forget("b", "k");
        assert!(cache.get("b", "k").is_none());
        assert_eq!(cache.get("b", "k2").unwrap().size, 2);
        cache.clear();
        assert!(cache.get("b", "k2").is_none());
    }

    #[test]
    fn the_cache_stays_within_its_weight() {
        let cache = MetaCache::new();
        let n = 4 * CAPACITY / 300;
        for i in 0..n {
            cache.insert("bucket", &format!("key-{i}"), &meta("k", i));
        }
        assert!(cache.0.weight() <= CAPACITY);
        assert!((cache.0.len() as u64) < n);
    }
}
