//! What the nodes of one deployment share besides objects: bucket policies and CORS
//! rules (cached parsed in `BucketSettings`) and the credentials set at runtime. The
//! store keeps them (replicated in a cluster) and says when another node changed
//! them (`Storage::shared_generation`); a request then reloads them before it is
//! authenticated, so a change made on one node holds on every node.

use std::sync::atomic::Ordering;

use super::Ctx;
use super::bucket_settings::BucketSettings;
use crate::auth::{Credential, validate};

/// The shared document that holds the credentials set by `replaceCredentials`.
const CREDENTIALS: &str = "credentials";

/// `Ctx::shared_seen` before the first load: no store answers it.
pub const NEVER_LOADED: u64 = u64::MAX;

impl Ctx {
    /// Reloads the shared settings if another node changed them since the last load.
    /// Fails if they cannot be loaded (a cluster node without its log's quorum): a
    /// request must not be judged by settings known to be stale.
    pub async fn sync_shared(&self) -> crate::storage::Result<()> {
        let now = self.store.shared_generation();
        let seen = self.shared_seen.swap(now, Ordering::AcqRel);
        if now == seen {
            return Ok(());
        }
        let loaded = self.reload_shared().await;
        if loaded.is_err() {
            // The next request tries again.
            self.shared_seen.store(seen, Ordering::Release);
        }
        loaded
    }

    async fn reload_shared(&self) -> crate::storage::Result<()> {
        let settings = BucketSettings::load(self.store.as_ref()).await?;
        self.settings.replace_with(settings);
        if let Some(doc) = self.store.shared_document(CREDENTIALS).await? {
            match serde_json::from_slice::<Vec<Credential>>(&doc) {
                Ok(set) => {
                    if let Err(e) = self.credentials.replace(set) {
                        crate::log::warn(&format!("ignoring the shared credentials: {e}"));
                    }
                }
                Err(e) => crate::log::warn(&format!("ignoring the shared credentials: {e}")),
            }
        }
        Ok(())
    }

    /// Replaces the credentials of every node: checked, kept by the store, then in use
    /// here (the other nodes load them with their next request).
    pub async fn replace_credentials(&self, set: Vec<Credential>) -> Result<usize, SharedError> {
        validate(&set).map_err(SharedError::Invalid)?;
        let doc = serde_json::to_vec(&set).expect("credentials serialize");
        self.store
            .set_shared_document(CREDENTIALS, Some(doc))
            .await
            .map_err(|e| SharedError::Store(e.to_string()))?;
        self.credentials.replace(set).map_err(SharedError::Invalid)
    }
}

/// Why credentials were not replaced.
pub enum SharedError {
    Invalid(String),
    Store(String),
}
