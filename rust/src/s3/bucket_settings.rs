//! Parsed bucket policies, CORS rules and default encryption, cached in memory
//! (read-mostly) and loaded from the store at start.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::bucket_encryption::BucketEncryption;
use super::cors::CorsConfig;
use super::policy::Policy;
use crate::storage::Storage;
use crate::storage::interface::ConfigKind;

#[derive(Default)]
pub struct BucketSettings {
    policies: RwLock<HashMap<String, Arc<Policy>>>,
    cors: RwLock<HashMap<String, Arc<CorsConfig>>>,
    encryption: RwLock<HashMap<String, Arc<BucketEncryption>>>,
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
        for (bucket, bytes) in store.all_bucket_configs(ConfigKind::Encryption).await? {
            match BucketEncryption::from_json(&bytes) {
                Ok(c) => settings.set_encryption(&bucket, Some(c)),
                Err(e) => crate::log::warn(&format!(
                    "ignoring stored default encryption of {bucket}: {e}"
                )),
            }
        }
        Ok(settings)
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
    }

    /// Forgets a deleted bucket.
    pub fn forget(&self, bucket: &str) {
        self.set_policy(bucket, None);
        self.set_cors(bucket, None);
        self.set_encryption(bucket, None);
    }
}
