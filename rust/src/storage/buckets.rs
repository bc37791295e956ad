//! Buckets: a folder per bucket under the root, plus a small record
//! (`.buckets/<name>.json`) with its creation date and region.

use serde::{Deserialize, Serialize};
use std::io::ErrorKind;

use super::bucket_config::ConfigKind;
use super::error::{Error, Result};
use super::{BUCKETS_DIR, Change, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketInfo {
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created: i64,
    pub region: String,
    /// "Enabled" or "Suspended"; None for a bucket that never had versioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
}

/// AWS's general-purpose bucket naming rules.
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-';
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&c| allowed(c))
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"]
            .iter()
            .any(|p| name.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| name.ends_with(s))
}

pub fn check_bucket_name(name: &str) -> Result<()> {
    if valid_bucket_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidBucketName {
            bucket: name.to_string(),
        })
    }
}

impl Store {
    fn bucket_record_path(&self, bucket: &str) -> std::path::PathBuf {
        self.root.join(BUCKETS_DIR).join(format!("{bucket}.json"))
    }

    pub fn bucket_names(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() && valid_bucket_name(&name) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn create_bucket(&self, name: &str, region: &str) -> Result<()> {
        self.create_bucket_with(name, region, &[], Box::new(|| {}))
    }

    /// Creates a bucket whose settings documents are written (and `then` run) before
    /// its folder appears. Creations take turns, so one that finds the folder absent
    /// cannot overwrite the documents of a bucket another is creating.
    pub fn create_bucket_with(
        &self,
        name: &str,
        region: &str,
        configs: &[(ConfigKind, Vec<u8>)],
        then: Box<dyn FnOnce() + Send>,
    ) -> Result<()> {
        check_bucket_name(name)?;
        let _turn = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        if self.bucket_dir(name).exists() {
            return Err(Error::BucketExists {
                bucket: name.to_string(),
            });
        }
        for kind in ConfigKind::ALL {
            match configs.iter().find(|(k, _)| *k == kind) {
                Some((_, bytes)) => self.write_bucket_config(kind, name, bytes)?,
                // What a deleted bucket of this name may have left behind.
                None => {
                    self.delete_bucket_config(kind, name)?;
                }
            }
        }
        then();
        match std::fs::create_dir(self.bucket_dir(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Error::BucketExists {
                    bucket: name.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let info = BucketInfo {
            name: name.to_string(),
            created: chrono::Utc::now().timestamp_millis(),
            region: region.to_string(),
            versioning: None,
        };
        let json = serde_json::to_vec_pretty(&info).map_err(Error::internal)?;
        if let Err(e) = self.write_file_atomic(&self.bucket_record_path(name), &json) {
            // A bucket without its record would outlive the error the client saw.
            let _ = std::fs::remove_dir(self.bucket_dir(name));
            return Err(e.into());
        }
        self.stats.add_bucket(name);
        self.versioning_cache().insert(name.to_string(), None);
        self.notify(Change::BucketCreated {
            bucket: name.to_string(),
        });
        Ok(())
    }

    /// The bucket's record; a folder without one (copied in by hand) gets its folder's dates.
    pub fn bucket_info(&self, name: &str, default_region: &str) -> Result<BucketInfo> {
        let dir = self.require_bucket(name)?;
        if let Ok(bytes) = std::fs::read(self.bucket_record_path(name))
            && let Ok(info) = serde_json::from_slice::<BucketInfo>(&bytes)
        {
            return Ok(info);
        }
        let modified = std::fs::metadata(&dir)?.modified()?;
        let created = chrono::DateTime::<chrono::Utc>::from(modified).timestamp_millis();
        Ok(BucketInfo {
            name: name.to_string(),
            created,
            region: default_region.to_string(),
            versioning: None,
        })
    }

    pub fn list_buckets(&self, default_region: &str) -> Result<Vec<BucketInfo>> {
        let mut out = Vec::new();
        for name in self.bucket_names()? {
            match self.bucket_info(&name, default_region) {
                Ok(info) => out.push(info),
                Err(Error::NoSuchBucket { .. }) => {} // deleted meanwhile
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Sets "Enabled" or "Suspended" in the bucket's record.
    pub fn set_versioning(&self, name: &str, status: &str) -> Result<()> {
        let _open = self.enter_bucket(name)?;
        let mut info = self.bucket_info(name, "us-east-1")?;
        info.versioning = Some(status.to_string());
        let json = serde_json::to_vec_pretty(&info).map_err(Error::internal)?;
        self.write_file_atomic(&self.bucket_record_path(name), &json)?;
        self.versioning_cache()
            .insert(name.to_string(), info.versioning);
        Ok(())
    }

    fn versioning_cache(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Option<String>>> {
        self.versioning.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// "Enabled", "Suspended", or None for a bucket that never had versioning.
    pub fn versioning(&self, name: &str) -> Option<String> {
        if let Some(state) = self.versioning_cache().get(name) {
            return state.clone();
        }
        let state = std::fs::read(self.bucket_record_path(name))
            .ok()
            .and_then(|b| serde_json::from_slice::<BucketInfo>(&b).ok())
            .and_then(|i| i.versioning);
        self.versioning_cache()
            .insert(name.to_string(), state.clone());
        state
    }

    /// Removes every object, version and unfinished upload of a bucket, keeping the
    /// bucket and its settings; answers how many objects it held (as counted). Writes
    /// wait meanwhile (the bucket is closed). Each entry of the bucket folder leaves
    /// with one rename, so a crash midway leaves a partly emptied bucket, never a torn
    /// object, and emptying again finishes the job.
    pub fn empty_bucket(&self, name: &str) -> Result<u64> {
        let _closed = self.close_bucket(name);
        let dir = self.require_bucket(name)?;
        let removed = self.stats.bucket(name).objects;
        let trash = self.temp_path("trash");
        std::fs::create_dir(&trash)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            std::fs::rename(entry.path(), trash.join(entry.file_name()))?;
        }
        self.sync_entries(&dir)?;
        super::trash::remove_tree_in_background(trash);
        self.discard_tree_later(&self.versions_root(name))?;
        self.abort_uploads_of_bucket(name)?;
        self.dirs.clear();
        self.meta_cache.clear();
        self.stats.remove_bucket(name);
        self.stats.add_bucket(name);
        Ok(removed)
    }

    /// Deletes an empty bucket with everything kept about it; `then` (the caller's cache
    /// update) runs before any write to a bucket of the same name can start.
    pub fn delete_bucket(&self, name: &str, then: impl FnOnce()) -> Result<()> {
        // Records of the bucket's keys must not be replayed into a bucket of its name
        // created later.
        self.checkpoint();
        let _closed = self.close_bucket(name);
        let dir = self.require_bucket(name)?;
        if super::list::has_any_object(&dir)?
            || super::list::has_any_object(&self.versions_root(name))?
        {
            return Err(Error::BucketNotEmpty {
                bucket: name.to_string(),
            });
        }
        self.abort_uploads_of_bucket(name)?;
        self.discard_tree_later(&dir)?;
        self.discard_tree_later(&self.versions_root(name))?;
        self.dirs.clear();
        self.meta_cache.clear();
        match std::fs::remove_file(self.bucket_record_path(name)) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        for kind in ConfigKind::ALL {
            self.delete_bucket_config(kind, name)?;
        }
        self.stats.remove_bucket(name);
        self.versioning_cache().remove(name);
        then();
        self.notify(Change::BucketDeleted {
            bucket: name.to_string(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;
    use crate::storage::Error;
    use crate::storage::{Store, list, writer::TempData};
    use std::collections::HashSet;

    /// DeleteBucket racing a writer: every write either lands before the bucket's
    /// emptiness check (and is then deleted explicitly) or fails with NoSuchBucket;
    /// none is acknowledged into a bucket that is being taken away.
    #[test]
    fn delete_bucket_never_swallows_an_acknowledged_write() {
        let root = std::env::temp_dir().join(format!(
            "smartstorage-race-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let store = Store::open(&root, false, None).unwrap();
        for round in 0..30 {
            store.create_bucket("race", "us-east-1").unwrap();
            let writer = {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0.. {
                        let path = store.temp_path("data");
                        std::fs::write(&path, b"x").unwrap();
                        let key = format!("dir{}/k{i}", i % 3);
                        match store.put_object(
                            "race",
                            &key,
                            TempData::new(path, 1, [0; 16]),
                            Default::default(),
                            Vec::new(),
                            "\"e\"".into(),
                            None,
                        ) {
                            Ok(_) => acked.push(key),
                            Err(Error::NoSuchBucket { .. }) => return acked,
                            Err(e) => panic!("round {round}: {e}"),
                        }
                    }
                    unreachable!()
                })
            };
            // Let some writes land first, so that the two really race.
            while list::has_any_object(&store.bucket_dir("race"))
                .map(|any| !any)
                .unwrap_or(true)
            {
                std::thread::yield_now();
            }
            let mut deleted = HashSet::new();
            loop {
                let mut keys = Vec::new();
                let _ = list::for_each_key(&store.bucket_dir("race"), &mut |k| {
                    keys.push(k.to_string())
                });
                for key in keys {
                    if store
                        .delete_object("race", &key, None, None)
                        .unwrap()
                        .is_some()
                    {
                        deleted.insert(key);
                    }
                }
                match store.delete_bucket("race", || {}) {
                    Ok(()) => break,
                    Err(Error::BucketNotEmpty { .. }) => {}
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            let acked = writer.join().unwrap();
            let lost: Vec<_> = acked.iter().filter(|k| !deleted.contains(*k)).collect();
            assert!(
                lost.is_empty(),
                "round {round}: acknowledged writes vanished with the bucket: {lost:?}"
            );
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn bucket_names_follow_aws_rules() {
        for ok in [
            "abc",
            "my-bucket",
            "my.bucket.1",
            "a".repeat(63).as_str(),
            "1bucket",
        ] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "a".repeat(64).as_str(),
            "My-Bucket",
            "my_bucket",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "a-.b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            ".tmp",
            "has space",
            "a/b",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
