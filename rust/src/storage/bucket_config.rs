//! Per-bucket configuration documents stored beside the buckets:
//! policies in `.policies/<bucket>.policy.json`, CORS rules in `.cors/<bucket>.cors.json`,
//! default encryption in `.encryption/<bucket>.encryption.json`, the owner and access
//! settings in `.access/<bucket>.{acl,ownership,public-access-block}.json`, the object
//! lock configuration in `.object-lock/<bucket>.object-lock.json`, lifecycle rules in
//! `.lifecycle/<bucket>.lifecycle.json`.
//! The store keeps bytes; the S3 layer parses, validates and caches them.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::error::Result;
use super::{
    ACCESS_DIR, CORS_DIR, ENCRYPTION_DIR, LIFECYCLE_DIR, OBJECT_LOCK_DIR, POLICIES_DIR, Store,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Policy,
    Cors,
    /// Default server-side encryption (PutBucketEncryption), as JSON.
    Encryption,
    /// The bucket's owner and grants.
    Acl,
    /// Object Ownership (PutBucketOwnershipControls).
    Ownership,
    /// Block Public Access (PutPublicAccessBlock).
    PublicAccessBlock,
    /// Object Lock: whether it is on, and the default retention of new versions.
    ObjectLock,
    /// Lifecycle rules (PutBucketLifecycleConfiguration), as JSON.
    Lifecycle,
}

impl ConfigKind {
    pub const ALL: [ConfigKind; 8] = [
        ConfigKind::Policy,
        ConfigKind::Cors,
        ConfigKind::Encryption,
        ConfigKind::Acl,
        ConfigKind::Ownership,
        ConfigKind::PublicAccessBlock,
        ConfigKind::ObjectLock,
        ConfigKind::Lifecycle,
    ];

    fn dir_and_suffix(self) -> (&'static str, &'static str) {
        match self {
            ConfigKind::Policy => (POLICIES_DIR, ".policy.json"),
            ConfigKind::Cors => (CORS_DIR, ".cors.json"),
            ConfigKind::Encryption => (ENCRYPTION_DIR, ".encryption.json"),
            ConfigKind::Acl => (ACCESS_DIR, ".acl.json"),
            ConfigKind::Ownership => (ACCESS_DIR, ".ownership.json"),
            ConfigKind::PublicAccessBlock => (ACCESS_DIR, ".public-access-block.json"),
            ConfigKind::ObjectLock => (OBJECT_LOCK_DIR, ".object-lock.json"),
            ConfigKind::Lifecycle => (LIFECYCLE_DIR, ".lifecycle.json"),
        }
    }
}

impl Store {
    fn config_path(&self, kind: ConfigKind, bucket: &str) -> PathBuf {
        let (dir, suffix) = kind.dir_and_suffix();
        self.root.join(dir).join(format!("{bucket}{suffix}"))
    }

    /// Stores (`Some`) or removes (`None`) a bucket's document, then runs `then` (the
    /// caller's cache update) before another change to this document or the bucket's
    /// deletion can start, so the file and the cache always end in the same state.
    pub fn set_bucket_config(
        &self,
        kind: ConfigKind,
        bucket: &str,
        bytes: Option<&[u8]>,
        then: impl FnOnce(),
    ) -> Result<()> {
        let _open = self.enter_bucket(bucket)?;
        let _writing = self.locks.write(bucket, kind.dir_and_suffix().1);
        match bytes {
            Some(bytes) => self.write_file_atomic(&self.config_path(kind, bucket), bytes)?,
            None => {
                self.delete_bucket_config(kind, bucket)?;
            }
        }
        then();
        Ok(())
    }

    /// Writes a document (no lock: the bucket is being created, or the caller holds it).
    pub(super) fn write_bucket_config(
        &self,
        kind: ConfigKind,
        bucket: &str,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        self.write_file_atomic(&self.config_path(kind, bucket), bytes)
    }

    pub fn get_bucket_config(&self, kind: ConfigKind, bucket: &str) -> Result<Option<Vec<u8>>> {
        self.require_bucket(bucket)?;
        match std::fs::read(self.config_path(kind, bucket)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the document; true if there was one.
    pub fn delete_bucket_config(&self, kind: ConfigKind, bucket: &str) -> std::io::Result<bool> {
        match std::fs::remove_file(self.config_path(kind, bucket)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every stored document of a kind, for buckets that exist.
    pub fn all_bucket_configs(&self, kind: ConfigKind) -> std::io::Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for bucket in self.bucket_names()? {
            if let Ok(bytes) = std::fs::read(self.config_path(kind, &bucket)) {
                out.push((bucket, bytes));
            }
        }
        Ok(out)
    }
}
