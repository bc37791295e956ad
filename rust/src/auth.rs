//! Credentials: the active set is an immutable snapshot swapped atomically, so a
//! request keeps the set it started with and the next request sees the new one.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

pub struct Credentials {
    active: RwLock<Arc<Vec<Credential>>>,
}

/// Refuses empty sets, empty keys and duplicate access key ids.
pub fn validate(set: &[Credential]) -> Result<(), String> {
    if set.is_empty() {
        return Err("the credential set must not be empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    for c in set {
        if c.access_key_id.trim().is_empty() || c.secret_access_key.is_empty() {
            return Err("access key id and secret access key must not be empty".into());
        }
        if !seen.insert(&c.access_key_id) {
            return Err(format!("duplicate access key id {}", c.access_key_id));
        }
    }
    Ok(())
}

impl Credentials {
    pub fn new(set: Vec<Credential>) -> Self {
        Credentials {
            active: RwLock::new(Arc::new(set)),
        }
    }

    pub fn snapshot(&self) -> Arc<Vec<Credential>> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn replace(&self, set: Vec<Credential>) -> Result<usize, String> {
        validate(&set)?;
        let count = set.len();
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(count)
    }
}
