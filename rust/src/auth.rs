//! Credentials: the active set is an immutable snapshot swapped atomically, so a
//! request keeps the set it started with and the next request sees the new one.
//! A credential acts for its owner (a user, as S3 knows users: a canonical id and a
//! display name); credentials without one act for the default account.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};

/// The account credentials without an owner act for (everything was owned by it
/// before users existed, so stored buckets and objects without an owner are its).
pub const DEFAULT_OWNER_ID: &str =
    "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
pub const DEFAULT_OWNER_NAME: &str = "smartstorage";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerSpec>,
}

/// The user a credential belongs to, as configured: a canonical id (derived from
/// the display name when not given) and a display name (the id when not given).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Who signed a request: the user's canonical id and display name, and whether the
/// key is the account's root (its first credential), which no policy locks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub display_name: String,
    pub root: bool,
}

impl Credential {
    /// The canonical id and display name this credential acts for.
    pub fn owner(&self) -> (String, String) {
        match &self.owner {
            None => (DEFAULT_OWNER_ID.into(), DEFAULT_OWNER_NAME.into()),
            Some(spec) => {
                let name = spec.display_name.as_deref().filter(|n| !n.is_empty());
                let id = match (spec.id.as_deref().filter(|i| !i.is_empty()), name) {
                    (Some(id), _) => id.to_string(),
                    (None, Some(name)) => derived_id(name),
                    (None, None) => DEFAULT_OWNER_ID.into(),
                };
                let name = name.map_or_else(|| id.clone(), str::to_string);
                (id, name)
            }
        }
    }
}

/// A stable 64-hex canonical id for a user configured by display name only.
fn derived_id(display_name: &str) -> String {
    hex::encode(Sha256::digest(format!("smartstorage-user:{display_name}")))
}

/// Canonical ids and display names: printable, bounded, no quotes (they appear in
/// `x-amz-grant-*` header values).
fn valid_owner_text(text: &str) -> bool {
    !text.trim().is_empty()
        && text.len() <= 256
        && !text.chars().any(|c| c.is_control() || c == '"')
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
        if let Some(spec) = &c.owner {
            let given = [spec.id.as_deref(), spec.display_name.as_deref()];
            if given.iter().all(Option::is_none) {
                return Err(format!(
                    "the owner of {} needs an id or a displayName",
                    c.access_key_id
                ));
            }
            if given.iter().flatten().any(|t| !valid_owner_text(t)) {
                return Err(format!(
                    "the owner of {}: id and displayName must be printable text without quotes, at most 256 bytes",
                    c.access_key_id
                ));
            }
        }
    }
    // One user, one display name: a canonical id named twice must be named alike.
    let mut names = std::collections::HashMap::new();
    for c in set {
        let (id, name) = c.owner();
        if let Some(other) = names.insert(id.clone(), name.clone())
            && other != name
        {
            return Err(format!(
                "owner id {id} has two display names: {other} and {name}"
            ));
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

    /// The user an access key acts for; None for an unknown key.
    pub fn identity(&self, access_key: &str) -> Option<Identity> {
        let set = self.snapshot();
        let signer = set.iter().find(|c| c.access_key_id == access_key)?;
        let (id, display_name) = signer.owner();
        let root = set
            .iter()
            .find(|c| c.owner().0 == id)
            .is_some_and(|first| first.access_key_id == access_key);
        Some(Identity {
            id,
            display_name,
            root,
        })
    }

    /// The display name of a canonical id: a configured user's, else None.
    pub fn display_name(&self, id: &str) -> Option<String> {
        if id == DEFAULT_OWNER_ID {
            return Some(DEFAULT_OWNER_NAME.into());
        }
        self.snapshot()
            .iter()
            .map(Credential::owner)
            .find(|(known, _)| known == id)
            .map(|(_, name)| name)
    }

    pub fn replace(&self, set: Vec<Credential>) -> Result<usize, String> {
        validate(&set)?;
        let count = set.len();
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(count)
    }
}
