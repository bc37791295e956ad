//! The key ring of a deployment, from its configuration. The master key comes from
//! `encryption.masterKey` or `masterKeyFile`; without one, a cluster derives it from
//! its shared secret (every node gets the same key), and a standalone server generates
//! one beside its data (`.keys/master.key`, mode 0600) and warns: that protects copies
//! of the objects' files, not a copy of the whole folder.

use std::path::Path;

use super::keys::{KeyRing, MasterSource, decode_key};
use crate::config::Config;
use zeroize::Zeroizing;

/// Where a standalone server keeps a master key it generated.
const GENERATED_KEY: &str = ".keys/master.key";

pub fn key_ring(config: &Config) -> Result<KeyRing, String> {
    let enc = &config.encryption;
    let master = match (&enc.master_key, &enc.master_key_file) {
        (Some(_), Some(_)) => {
            return Err("encryption: give masterKey or masterKeyFile, not both".into());
        }
        (Some(key), None) => {
            MasterSource::Key(decode_key(key).map_err(|e| format!("encryption.masterKey: {e}"))?)
        }
        (None, Some(path)) => MasterSource::Key(read_key_file(path)?),
        (None, None) => match config.cluster.as_ref().filter(|c| c.enabled) {
            Some(cluster) => match cluster.secret.as_deref() {
                Some(secret) => MasterSource::Key(derive_from_secret(secret)),
                None => MasterSource::None,
            },
            None => MasterSource::Generated(config.storage.directory.join(GENERATED_KEY)),
        },
    };
    KeyRing::new(master, &enc.kms_keys, enc.default_kms_key_id.as_deref())
        .map_err(|e| format!("encryption: {e}"))
}

fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("encryption.masterKeyFile {}: {e}", path.display()))?,
    );
    if bytes.len() == 32 {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    decode_key(&text).map_err(|e| format!("encryption.masterKeyFile {}: {e}", path.display()))
}

fn derive_from_secret(secret: &str) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; 32]);
    hkdf::Hkdf::<sha2::Sha256>::new(Some(b"smartstorage encryption"), secret.as_bytes())
        .expand(b"master key v1", &mut key)
        .expect("32 bytes is a valid HKDF length");
    key
}

/// The generated master key of a standalone server: read, or made once (when first needed).
pub(super) fn generated(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if path.exists() {
        return read_key_file(path);
    }
    let dir = path.parent().expect("the key has a folder");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut key = Zeroizing::new(vec![0u8; 32]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| "no random source".to_string())?;
    use base64::Engine as _;
    let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&key[..]));
    // Written whole under a temporary name, then renamed: a crash leaves no half key.
    let tmp = dir.join("master.key.tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    crate::log::warn(&format!(
        "no encryption.masterKey configured: generated one at {} (it protects SSE-S3 objects only as long as it is kept apart from them)",
        path.display()
    ));
    Ok(key)
}
