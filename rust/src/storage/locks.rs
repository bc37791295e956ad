//! Striped per-key locks. A writer holds one only for the two renames that publish an
//! object's data and metadata; a reader holds it while it opens both files. Open
//! files keep their content after a rename, so readers always see a whole version.
//!
//! Locks are striped, so two keys can share a lock: never take a second lock from
//! the same table while holding one (std's RwLock is not re-entrant).

use std::hash::{Hash, Hasher};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

const STRIPES: usize = 1024;

pub struct KeyLocks {
    stripes: Vec<RwLock<()>>,
}

impl KeyLocks {
    pub fn new() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| RwLock::new(())).collect(),
        }
    }

    fn stripe(&self, bucket: &str, key: &str) -> &RwLock<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut hasher);
        &self.stripes[hasher.finish() as usize % STRIPES]
    }

    pub fn read(&self, bucket: &str, key: &str) -> RwLockReadGuard<'_, ()> {
        self.stripe(bucket, key)
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The read lock, if no writer holds it now.
    pub fn try_read(&self, bucket: &str, key: &str) -> Option<RwLockReadGuard<'_, ()>> {
        match self.stripe(bucket, key).try_read() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    pub fn write(&self, bucket: &str, key: &str) -> RwLockWriteGuard<'_, ()> {
        self.stripe(bucket, key)
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}
