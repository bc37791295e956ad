//! Parsed bucket policies, CORS rules, default encryption, lifecycle rules, owners and
//! access settings, cached in memory (read-mostly) and loaded from the store at start.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::access::{BucketAccess, ObjectOwnership, PublicAccessBlock};
use super::acl::Acl;
use super::bucket_encryption::BucketEncryption;
use super::cors::CorsConfig;
use super::lifecycle::LifecycleConfig;
use super::object_lock::LockConfig;
use super::policy::Policy;
use crate::storage::Storage;
use crate::storage::interface::ConfigKind;

#[derive(Default)]
pub struct BucketSettings {
    policies: RwLock<HashMap<String, Arc<Policy>>>,
    cors: RwLock<HashMap<String, Arc<CorsConfig>>>,
    encryption: RwLock<HashMap<String, Arc<BucketEncryption>>>,
    lifecycle: RwLock<HashMap<String, Arc<LifecycleConfig>>>,
    access: RwLock<HashMap<String, Arc<BucketAccess>>>,
    object_lock: RwLock<HashMap<String, Arc<LockConfig>>>,
}

/// The stored form of a bucket's owner and grants, and of its ownership controls.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredOwnership {
    rule: ObjectOwnership,
}

pub fn acl_document(acl: &Acl) -> Vec<u8> {
    serde_json::to_vec(&acl.to_stored()).expect("an ACL serializes")
}

pub fn ownership_document(rule: ObjectOwnership) -> Vec<u8> {
    serde_json::to_vec(&StoredOwnership { rule }).expect("ownership serializes")
}

pub fn block_document(block: &PublicAccessBlock) -> Vec<u8> {
    serde_json::to_vec(block).expect("a public access block serializes")
}

impl BucketSettings {
    /// Loads what the store holds; documents that no longer parse are skipped with a warning.
    pub async fn load(store: &dyn Storage) -> crate::storage::Result<BucketSettings> {
        let settings = BucketSettings::default();
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Policy).await? {
            match Policy::parse_stored(&bytes, &bucket) {
                Ok(p) => settings.set_policy(&bucket, Some(p)),
                Err(e) => crate::log::warn(&format!(
                    "ignoring stored policy of {bucket}: {}",
                    e.message
                )),
            }
        }
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Cors).await? {
            match serde_json::from_slice::<CorsConfig>(&bytes) {
                Ok(c) => settings.set_cors(&bucket, Some(c)),
                Err(e) => crate::log::warn(&format!("ignoring stored CORS rules of {bucket}: {e}")),
            }
        }
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Acl).await? {
            match serde_json::from_slice(&bytes) {
                Ok(stored) => settings.set_acl(&bucket, Acl::from_stored(&stored)),
                // Read as owned by nobody who can sign: refusing beats widening.
                Err(e) => {
                    crate::log::warn(&format!("unreadable owner of {bucket}: {e}"));
                    settings.set_acl(&bucket, Acl::private("unreadable"));
                }
            }
        }
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Ownership).await? {
            match serde_json::from_slice::<StoredOwnership>(&bytes) {
                Ok(o) => settings.set_ownership(&bucket, Some(o.rule)),
                Err(e) => {
                    crate::log::warn(&format!("ignoring ownership controls of {bucket}: {e}"))
                }
            }
        }
        for (bucket, bytes) in store
            .all_bucket_configs(ConfigKind::PublicAccessBlock)
            .await?
        {
            match serde_json::from_slice::<PublicAccessBlock>(&bytes) {
                Ok(b) => settings.set_block(&bucket, Some(b)),
                // Unreadable: block everything rather than nothing.
                Err(e) => {
                    crate::log::warn(&format!("unreadable public access block of {bucket}: {e}"));
                    let all = PublicAccessBlock {
                        block_public_acls: true,
                        ignore_public_acls: true,
                        block_public_policy: true,
                        restrict_public_buckets: true,
                    };
                    settings.set_block(&bucket, Some(all));
                }
            }
        }
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Encryption).await? {
            match BucketEncryption::from_json(&bytes) {
                Ok(c) => settings.set_encryption(&bucket, Some(c)),
                Err(e) => crate::log::warn(&format!(
                    "ignoring stored default encryption of {bucket}: {e}"
                )),
            }
        }
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::ObjectLock).await? {
            match LockConfig::from_json(&bytes) {
                Ok(c) => {
                    // Lock keeps versioning on; a bucket created with lock whose
                    // versioning a crash never turned on gets it now.
                    if c.enabled && store.versioning(&bucket).await?.as_deref() != Some("Enabled") {
                        store.set_versioning(&bucket, "Enabled").await?;
                    }
                    settings.set_object_lock(&bucket, Some(c));
                }
                // Unreadable: kept as lock on without a default, never as lock off.
                Err(e) => {
                    crate::log::warn(&format!("unreadable object lock of {bucket}: {e}"));
                    settings.set_object_lock(&bucket, Some(LockConfig::enabled()));
                }
            }
        }
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Lifecycle).await? {
            match LifecycleConfig::from_json(&bytes) {
                Ok(c) => settings.set_lifecycle(&bucket, Some(c)),
                Err(e) => {
                    crate::log::warn(&format!("ignoring stored lifecycle rules of {bucket}: {e}"))
                }
            }
        }
        Ok(settings)
    }

    /// The bucket's object lock configuration, if lock is on.
    pub fn object_lock(&self, bucket: &str) -> Option<Arc<LockConfig>> {
        self.object_lock
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
    }

    pub fn set_object_lock(&self, bucket: &str, config: Option<LockConfig>) {
        let mut map = self.object_lock.write().unwrap_or_else(|e| e.into_inner());
        match config {
            Some(c) => map.insert(bucket.to_string(), Arc::new(c)),
            None => map.remove(bucket),
        };
    }

    pub fn policy(&self, bucket: &str) -> Option<Arc<Policy>> {
        self.policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
    }

    pub fn set_policy(&self, bucket: &str, policy: Option<Policy>) {
        let mut map = self.policies.write().unwrap_or_else(|e| e.into_inner());
        match policy {
            Some(p) => map.insert(bucket.to_string(), Arc::new(p)),
            None => map.remove(bucket),
        };
    }

    pub fn cors(&self, bucket: &str) -> Option<Arc<CorsConfig>> {
        self.cors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
    }

    pub fn set_cors(&self, bucket: &str, cors: Option<CorsConfig>) {
        let mut map = self.cors.write().unwrap_or_else(|e| e.into_inner());
        match cors {
            Some(c) => map.insert(bucket.to_string(), Arc::new(c)),
            None => map.remove(bucket),
        };
    }

    /// The bucket's default encryption (PutBucketEncryption), if it has one: what new
    /// objects that ask for no encryption of their own get.
    pub fn default_encryption(&self, bucket: &str) -> Option<Arc<BucketEncryption>> {
        self.encryption
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
    }

    pub fn set_encryption(&self, bucket: &str, encryption: Option<BucketEncryption>) {
        let mut map = self.encryption.write().unwrap_or_else(|e| e.into_inner());
        match encryption {
            Some(c) => map.insert(bucket.to_string(), Arc::new(c)),
            None => map.remove(bucket),
        };
    }

    /// The bucket's lifecycle rules, if it has them.
    pub fn lifecycle(&self, bucket: &str) -> Option<Arc<LifecycleConfig>> {
        self.lifecycle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
    }

    /// Every bucket with lifecycle rules, by name.
    pub fn all_lifecycles(&self) -> Vec<(String, Arc<LifecycleConfig>)> {
        let mut all: Vec<_> = self
            .lifecycle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(b, c)| (b.clone(), c.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn set_lifecycle(&self, bucket: &str, lifecycle: Option<LifecycleConfig>) {
        let mut map = self.lifecycle.write().unwrap_or_else(|e| e.into_inner());
        match lifecycle {
            Some(c) => map.insert(bucket.to_string(), Arc::new(c)),
            None => map.remove(bucket),
        };
    }

    /// The bucket's owner, grants, ownership controls and public access block: a bucket
    /// without a stored owner belongs to the default account, with the default settings.
    pub fn access(&self, bucket: &str) -> Arc<BucketAccess> {
        self.access
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
            .unwrap_or_else(|| Arc::new(default_access()))
    }

    fn change_access(&self, bucket: &str, change: impl FnOnce(&mut BucketAccess)) {
        let mut map = self.access.write().unwrap_or_else(|e| e.into_inner());
        let mut access = map
            .get(bucket)
            .map_or_else(default_access, |a| a.as_ref().clone());
        change(&mut access);
        map.insert(bucket.to_string(), Arc::new(access));
    }

    pub fn set_acl(&self, bucket: &str, acl: Acl) {
        self.change_access(bucket, |a| a.acl = acl);
    }

    pub fn set_ownership(&self, bucket: &str, rule: Option<ObjectOwnership>) {
        self.change_access(bucket, |a| a.ownership = rule);
    }

    pub fn set_block(&self, bucket: &str, block: Option<PublicAccessBlock>) {
        self.change_access(bucket, |a| {
            a.block = block.unwrap_or_default();
            a.block_set = block.is_some();
        });
    }

    /// Takes the contents of a freshly loaded set.
    pub fn replace_with(&self, fresh: BucketSettings) {
        let policies = fresh
            .policies
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let cors = fresh.cors.into_inner().unwrap_or_else(|e| e.into_inner());
        let encryption = fresh
            .encryption
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.policies.write().unwrap_or_else(|e| e.into_inner()) = policies;
        *self.cors.write().unwrap_or_else(|e| e.into_inner()) = cors;
        *self.encryption.write().unwrap_or_else(|e| e.into_inner()) = encryption;
        let lifecycle = fresh
            .lifecycle
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.lifecycle.write().unwrap_or_else(|e| e.into_inner()) = lifecycle;
        let access = fresh.access.into_inner().unwrap_or_else(|e| e.into_inner());
        *self.access.write().unwrap_or_else(|e| e.into_inner()) = access;
        let lock = fresh
            .object_lock
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.object_lock.write().unwrap_or_else(|e| e.into_inner()) = lock;
    }

    /// Forgets a deleted bucket.
    pub fn forget(&self, bucket: &str) {
        self.set_policy(bucket, None);
        self.set_cors(bucket, None);
        self.set_encryption(bucket, None);
        self.set_object_lock(bucket, None);
        self.set_lifecycle(bucket, None);
        self.access
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(bucket);
    }
}

fn default_access() -> BucketAccess {
    BucketAccess {
        acl: Acl::private(crate::auth::DEFAULT_OWNER_ID),
        ownership: None,
        block: PublicAccessBlock::default(),
        block_set: false,
    }
}
