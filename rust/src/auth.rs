//! Credentials: the active set is an immutable snapshot swapped atomically, so a
//! request keeps the set it started with and the next request sees the new one.
//! A credential acts for its owner (a user, as S3 knows users: a canonical id and a
//! display name); credentials without one act for the default account.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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
    active: RwLock<Arc<Active>>,
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

/// A credential set with its users looked up once, not on every request.
struct Active {
    set: Arc<Vec<Credential>>,
    by_key: HashMap<String, Identity>,
    /// Display names by canonical id (the default account's included).
    names: HashMap<String, String>,
}

impl Active {
    fn new(set: Vec<Credential>) -> Active {
        let mut names =
            HashMap::from([(DEFAULT_OWNER_ID.to_string(), DEFAULT_OWNER_NAME.to_string())]);
        let (mut by_key, mut users) = (HashMap::new(), std::collections::HashSet::new());
        for c in &set {
            let (id, display_name) = c.owner();
            // The first key of a user is its root.
            let root = users.insert(id.clone());
            names.insert(id.clone(), display_name.clone());
            by_key.insert(
                c.access_key_id.clone(),
                Identity {
                    id,
                    display_name,
                    root,
                },
            );
        }
        Active {
            set: Arc::new(set),
            by_key,
            names,
        }
    }
}

impl Credentials {
    pub fn new(set: Vec<Credential>) -> Self {
        Credentials {
            active: RwLock::new(Arc::new(Active::new(set))),
        }
    }

    fn active(&self) -> Arc<Active> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn snapshot(&self) -> Arc<Vec<Credential>> {
        self.active().set.clone()
    }

    /// The user an access key acts for; None for an unknown key.
    pub fn identity(&self, access_key: &str) -> Option<Identity> {
        self.active().by_key.get(access_key).cloned()
    }

    /// The display name of a canonical id: a configured user's, else None.
    pub fn display_name(&self, id: &str) -> Option<String> {
        self.active().names.get(id).cloned()
    }

    pub fn replace(&self, set: Vec<Credential>) -> Result<usize, String> {
        validate(&set)?;
        let count = set.len();
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Active::new(set));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, owner: Option<(&str, &str)>) -> Credential {
        Credential {
            access_key_id: id.into(),
            secret_access_key: "secret".into(),
            owner: owner.map(|(id, name)| OwnerSpec {
                id: (!id.is_empty()).then(|| id.into()),
                display_name: (!name.is_empty()).then(|| name.into()),
            }),
        }
    }

    #[test]
    fn keys_act_for_their_owners_and_the_first_is_root() {
        let creds = Credentials::new(vec![
            key("A1", Some(("alice-id", "alice"))),
            key("D1", None),
            key("A2", Some(("alice-id", "alice"))),
            key("B1", Some(("", "bob"))),
            key("D2", None),
        ]);
        let who = |k: &str| creds.identity(k).unwrap();
        assert_eq!((who("A1").id.as_str(), who("A1").root), ("alice-id", true));
        assert!(!who("A2").root && who("A2").display_name == "alice");
        assert_eq!(
            (who("D1").id.as_str(), who("D1").root),
            (DEFAULT_OWNER_ID, true)
        );
        assert!(!who("D2").root);
        // Named by display name only: a stable derived 64-hex id.
        let bob = who("B1").id;
        assert_eq!(bob.len(), 64);
        assert_eq!(bob, derived_id("bob"));
        assert_eq!(creds.display_name(&bob).as_deref(), Some("bob"));
        assert_eq!(
            creds.display_name(DEFAULT_OWNER_ID).as_deref(),
            Some(DEFAULT_OWNER_NAME)
        );
        assert!(creds.identity("nobody").is_none() && creds.display_name("x").is_none());
    }

    #[test]
    fn owners_are_validated() {
        let two_names = [key("A", Some(("id", "one"))), key("B", Some(("id", "two")))];
        assert!(
            validate(&two_names)
                .unwrap_err()
                .contains("two display names")
        );
        assert!(
            validate(&[key("A", Some(("", "")))])
                .unwrap_err()
                .contains("needs an id")
        );
        assert!(
            validate(&[key("A", Some(("a\"b", "")))])
                .unwrap_err()
                .contains("quotes")
        );
        assert!(validate(&[key("A", Some(("id", "x"))), key("B", None)]).is_ok());
    }
}
