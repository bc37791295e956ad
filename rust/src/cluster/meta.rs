//! The cluster's metadata as a deterministic state machine: buckets and their
//! settings, every key's versions, unfinished uploads, and how many versions and
//! parts refer to each stored body (copies share bodies). It changes only by
//! `Command`s applied in log order (`raft`), so every replica of the log builds the
//! same state; anything not deterministic (new version ids, clocks) is decided by
//! the proposer and carried in the command. Readers take the state under a read lock.
//!
//! The bytes are not here: a `Body` names shard files on the drives. When the last
//! reference to a body goes, `apply` hands it back as garbage for the store to delete.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::topology::NodeRecord;
use crate::storage::interface::{
    BucketInfo, Counters, Item, ListPage, ListQuery, ObjectMeta, PartInfo, Precondition,
    UploadInfo, VersionEntry, VersionPage, VersionQuery,
};
use crate::storage::{Error, Result};

const NULL_VERSION: &str = "null";

/// One stored body: the shard files named `id`, `data + parity` of them: shard `i` on
/// the drive `drives[i]` (by id, on any node), or, when `drives` is empty (a body of
/// one node's set), on that node's drive `(first_drive + i) % drives`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub id: String,
    pub size: u64,
    pub data: usize,
    pub parity: usize,
    pub block_size: usize,
    pub first_drive: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drives: Vec<String>,
}

/// One version of a key (an unversioned bucket's object is its key's only version).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    /// Unique per write, in every bucket: what a compare-and-swap names.
    pub uid: String,
    pub meta: ObjectMeta,
    /// The bytes in order, one body per part; none for a delete marker or an empty object.
    pub bodies: Vec<Body>,
}

impl Version {
    fn name(&self) -> &str {
        self.meta.version_id.as_deref().unwrap_or(NULL_VERSION)
    }
    /// An object version that counts (delete markers hold no bytes and are not objects).
    fn counted(&self) -> Option<u64> {
        (!self.meta.delete_marker).then_some(self.meta.size)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub info: UploadInfo,
    pub parts: BTreeMap<u32, (PartInfo, Option<Body>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bucket {
    info: BucketInfo,
    configs: BTreeMap<String, ByteBuf>,
    /// Each key's versions, oldest first; a key has at least one.
    keys: BTreeMap<String, Vec<Version>>,
    uploads: BTreeMap<String, Upload>,
    /// Object versions and their bytes; derived, rebuilt on restore.
    #[serde(skip)]
    counters: Counters,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MetaState {
    buckets: BTreeMap<String, Bucket>,
    /// How many versions and upload parts name each body.
    refs: HashMap<String, u32>,
    /// The nodes that registered, by name: where new bodies may go.
    #[serde(default)]
    nodes: BTreeMap<String, NodeRecord>,
    /// The first node that registered: the one that started the cluster, whose own
    /// drives hold the bodies written before any node registered (they name no drives).
    #[serde(default)]
    first_node: Option<String>,
    /// Nodes decommissioned: they may not register again (under that name).
    #[serde(default)]
    removed: std::collections::BTreeSet<String>,
    /// Documents every node shares (`Storage::shared_document`), by name.
    #[serde(default)]
    shared: BTreeMap<String, ByteBuf>,
    /// Change with every change of `nodes`, and of bucket configs or `shared`; unique
    /// in the process (a store tells by them that a view it keeps is stale, even
    /// across states).
    #[serde(skip)]
    nodes_generation: u64,
    #[serde(skip)]
    shared_generation: u64,
}

/// Where generations come from.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A change, as proposed to the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    CreateBucket {
        info: BucketInfo,
        /// The bucket's first settings documents (its owner, ...), by kind.
        #[serde(default)]
        configs: BTreeMap<String, serde_bytes::ByteBuf>,
    },
    DeleteBucket {
        bucket: String,
    },
    EmptyBucket {
        bucket: String,
    },
    SetVersioning {
        bucket: String,
        status: String,
    },
    SetConfig {
        bucket: String,
        kind: String,
        document: Option<ByteBuf>,
    },
    /// A new version: `meta` without its version id (the bucket's versioning decides it
    /// from `uid`, which is a fresh time-ordered id). `shared`: the bodies belong to an
    /// existing version (a copy), which must still hold them.
    Put {
        bucket: String,
        key: String,
        uid: String,
        meta: ObjectMeta,
        bodies: Vec<Body>,
        shared: bool,
        precondition: Option<Precondition>,
    },
    /// Deletes a version, or (without one) the object or, in a versioned bucket, adds
    /// `marker` as a delete marker.
    Delete {
        bucket: String,
        key: String,
        version_id: Option<String>,
        uid: String,
        marker: ObjectMeta,
        /// `If-Match` on the current object (absent in commands logged before it existed).
        #[serde(default)]
        precondition: Option<Precondition>,
        /// A guarded delete: the versions it may remove for good, as the guard saw and
        /// let them go. Any other (or one changed since) makes it `Changed`.
        #[serde(default)]
        approved: Option<Vec<ObjectMeta>>,
    },
    /// Replaces the metadata of the version `uid`, if it is still there (and still
    /// `expect`, when given: the change was computed from it).
    Update {
        bucket: String,
        key: String,
        uid: String,
        meta: ObjectMeta,
        #[serde(default)]
        expect: Option<Box<ObjectMeta>>,
    },
    CreateUpload {
        info: UploadInfo,
    },
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part: PartInfo,
        body: Option<Body>,
    },
    /// Publishes the upload as a version made of the parts named (number, ETag).
    Complete {
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        uid: String,
        meta: ObjectMeta,
        precondition: Option<Precondition>,
    },
    Abort {
        bucket: String,
        key: String,
        upload_id: String,
    },
    SetShared {
        name: String,
        document: Option<ByteBuf>,
    },
    /// A node being decommissioned: no new shards go to it.
    RetireNode {
        name: String,
    },
    /// A decommissioned node, gone for good.
    UnregisterNode {
        name: String,
    },
    /// Bodies rewritten elsewhere: each `(old id, new body)` takes the old one's place
    /// in every version and part (unless the old one is gone meanwhile).
    ReplaceBodies {
        moves: Vec<(String, Body)>,
    },
    /// A node says where it answers and which drives it has (again after a change).
    RegisterNode {
        node: NodeRecord,
    },
}

/// What a command did, and the bodies nothing refers to any more.
#[derive(Debug, Serialize, Deserialize)]
pub struct Applied {
    pub outcome: std::result::Result<Outcome, Failure>,
    pub garbage: Vec<Body>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    /// A version written (`overwrite`: it replaced a current object).
    Object {
        meta: Box<ObjectMeta>,
        overwrite: bool,
    },
    Deleted {
        version_id: Option<String>,
        delete_marker: bool,
        /// Whether an object stopped being current.
        removed_current: bool,
    },
    Count(u64),
}

/// Why a command changed nothing (storage's errors, in a form the log can carry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Failure {
    NoSuchBucket(String),
    BucketExists(String),
    BucketNotEmpty(String),
    NoSuchKey(String),
    NoSuchVersion(String, String),
    NoSuchUpload(String),
    NoSuchPart(u32, String),
    PreconditionFailed(String),
    /// What the command was computed from changed meanwhile: compute it again.
    Changed,
    /// A copy's source lost its bytes (overwritten or deleted) before the copy took them.
    SourceGone,
    NoSuchNode(String),
    /// A decommissioned node tried to register again.
    NodeRemoved(String),
    /// The command could not be read.
    Malformed(String),
    /// A conditional write lost a race with a delete of its key.
    ConditionalConflict,
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::NoSuchBucket(bucket) => Error::NoSuchBucket { bucket },
            Failure::BucketExists(bucket) => Error::BucketExists { bucket },
            Failure::BucketNotEmpty(bucket) => Error::BucketNotEmpty { bucket },
            Failure::NoSuchKey(key) => Error::NoSuchKey { key },
            Failure::NoSuchVersion(key, version_id) => Error::NoSuchVersion { key, version_id },
            Failure::NoSuchUpload(upload_id) => Error::NoSuchUpload { upload_id },
            Failure::NoSuchPart(part_number, etag) => Error::NoSuchPart { part_number, etag },
            Failure::PreconditionFailed(c) => Error::PreconditionFailed {
                condition: if c == "If-Match" {
                    "If-Match"
                } else {
                    "If-None-Match"
                },
            },
            Failure::Changed | Failure::SourceGone => {
                Error::internal("metadata changed while it was written")
            }
            Failure::NoSuchNode(n) => Error::internal(format!("no node named {n}")),
            Failure::NodeRemoved(n) => {
                Error::internal(format!("node {n} was decommissioned: give it a new name"))
            }
            Failure::Malformed(m) => Error::internal(m),
            Failure::ConditionalConflict => Error::ConditionalConflict,
        }
    }
}

fn failure(e: Error) -> Failure {
    match e {
        Error::PreconditionFailed { condition } => Failure::PreconditionFailed(condition.into()),
        Error::NoSuchKey { key } => Failure::NoSuchKey(key),
        Error::ConditionalConflict => Failure::ConditionalConflict,
        other => Failure::Malformed(other.to_string()),
    }
}

type Applying = std::result::Result<Outcome, Failure>;

impl MetaState {
    /// Applies a command (serialized by `encode`) and answers its `Applied`, serialized.
    pub fn apply_bytes(&mut self, command: &[u8]) -> Vec<u8> {
        let applied = match rmp_serde::from_slice::<Command>(command) {
            Ok(command) => self.apply(command),
            Err(e) => Applied {
                outcome: Err(Failure::Malformed(e.to_string())),
                garbage: Vec::new(),
            },
        };
        encode(&applied)
    }

    pub fn snapshot_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn restore_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut state: MetaState = rmp_serde::from_slice(bytes).map_err(std::io::Error::other)?;
        for bucket in state.buckets.values_mut() {
            bucket.counters = Counters::default();
            for version in bucket.keys.values().flatten() {
                if let Some(size) = version.counted() {
                    bucket.counters.objects += 1;
                    bucket.counters.bytes += size;
                }
            }
        }
        state.nodes_generation = next_generation();
        state.shared_generation = next_generation();
        *self = state;
        Ok(())
    }

    pub fn apply(&mut self, command: Command) -> Applied {
        let mut garbage = Vec::new();
        let outcome = self.apply_command(command, &mut garbage);
        Applied { outcome, garbage }
    }

    fn apply_command(&mut self, command: Command, garbage: &mut Vec<Body>) -> Applying {
        match command {
            Command::CreateBucket { info, configs } => {
                if self.buckets.contains_key(&info.name) {
                    return Err(Failure::BucketExists(info.name));
                }
                if !configs.is_empty() {
                    self.shared_generation = next_generation();
                }
                let bucket = Bucket {
                    info,
                    configs,
                    keys: BTreeMap::new(),
                    uploads: BTreeMap::new(),
                    counters: Counters::default(),
                };
                self.buckets.insert(bucket.info.name.clone(), bucket);
                Ok(Outcome::Done)
            }
            Command::DeleteBucket { bucket } => {
                if !self.bucket_ref(&bucket)?.keys.is_empty() {
                    return Err(Failure::BucketNotEmpty(bucket));
                }
                let removed = self.buckets.remove(&bucket).expect("checked above");
                self.shared_generation = next_generation();
                for upload in removed.uploads.into_values() {
                    self.release_upload(upload, garbage);
                }
                Ok(Outcome::Done)
            }
            Command::EmptyBucket { bucket } => {
                let b = self.bucket_mut(&bucket)?;
                let count = b.counters.objects;
                let keys = std::mem::take(&mut b.keys);
                let uploads = std::mem::take(&mut b.uploads);
                b.counters = Counters::default();
                for version in keys.into_values().flatten() {
                    self.release(&version.bodies, garbage);
                }
                for upload in uploads.into_values() {
                    self.release_upload(upload, garbage);
                }
                Ok(Outcome::Count(count))
            }
            Command::SetVersioning { bucket, status } => {
                self.bucket_mut(&bucket)?.info.versioning = Some(status);
                Ok(Outcome::Done)
            }
            Command::SetConfig {
                bucket,
                kind,
                document,
            } => {
                let b = self.bucket_mut(&bucket)?;
                match document {
                    Some(doc) => b.configs.insert(kind, doc),
                    None => b.configs.remove(&kind),
                };
                self.shared_generation = next_generation();
                Ok(Outcome::Done)
            }
            Command::Put {
                bucket,
                key,
                uid,
                meta,
                bodies,
                shared,
                precondition,
            } => {
                self.bucket_ref(&bucket)?;
                if shared && bodies.iter().any(|b| !self.refs.contains_key(&b.id)) {
                    return Err(Failure::SourceGone);
                }
                let current = self.current(&bucket, &key).ok().map(|v| &v.meta);
                if let Some(p) = &precondition {
                    p.check(current, &key).map_err(failure)?;
                }
                self.add_version(&bucket, &key, uid, meta, bodies, garbage)
            }
            Command::Delete {
                bucket,
                key,
                version_id,
                uid,
                marker,
                precondition,
                approved,
            } => {
                self.bucket_ref(&bucket)?;
                if let Some(p) = &precondition {
                    let current = self.current(&bucket, &key).ok().map(|v| &v.meta);
                    p.check(current, &key).map_err(failure)?;
                }
                if let Some(approved) = &approved
                    && self
                        .doomed(&bucket, &key, version_id.as_deref())
                        .iter()
                        .any(|v| !approved.contains(&v.meta))
                {
                    return Err(Failure::Changed);
                }
                self.delete(&bucket, &key, version_id, uid, marker, garbage)
            }
            Command::Update {
                bucket,
                key,
                uid,
                meta,
                expect,
            } => {
                let version = self
                    .bucket_mut(&bucket)?
                    .keys
                    .get_mut(&key)
                    .and_then(|vs| vs.iter_mut().find(|v| v.uid == uid))
                    .filter(|v| expect.as_deref().is_none_or(|e| *e == v.meta))
                    .ok_or(Failure::Changed)?;
                version.meta = meta.clone();
                Ok(Outcome::Object {
                    meta: Box::new(meta),
                    overwrite: false,
                })
            }
            Command::CreateUpload { info } => {
                let upload = Upload {
                    info,
                    parts: BTreeMap::new(),
                };
                self.bucket_mut(&upload.info.bucket)?
                    .uploads
                    .insert(upload.info.upload_id.clone(), upload);
                Ok(Outcome::Done)
            }
            Command::PutPart {
                bucket,
                key,
                upload_id,
                part,
                body,
            } => {
                let upload = self.upload_mut(&bucket, &key, &upload_id)?;
                let old = upload.parts.insert(part.part_number, (part, body.clone()));
                self.retain(body.as_slice());
                if let Some((_, Some(old))) = old {
                    self.release(&[old], garbage);
                }
                Ok(Outcome::Done)
            }
            Command::Complete {
                bucket,
                key,
                upload_id,
                parts,
                uid,
                meta,
                precondition,
            } => {
                let upload = self.upload_mut(&bucket, &key, &upload_id)?;
                let mut bodies = Vec::new();
                for (number, etag) in &parts {
                    match upload.parts.get(number) {
                        Some((part, body)) if same_etag(&part.etag, etag) => {
                            bodies.extend(body.clone())
                        }
                        _ => return Err(Failure::NoSuchPart(*number, etag.clone())),
                    }
                }
                let current = self.current(&bucket, &key).ok().map(|v| &v.meta);
                if let Some(p) = &precondition {
                    p.check(current, &key).map_err(failure)?;
                }
                let upload = self
                    .bucket_mut(&bucket)?
                    .uploads
                    .remove(&upload_id)
                    .expect("found above");
                // The version takes its own references before the upload lets go of all.
                let outcome = self.add_version(&bucket, &key, uid, meta, bodies, garbage)?;
                self.release_upload(upload, garbage);
                Ok(outcome)
            }
            Command::Abort {
                bucket,
                key,
                upload_id,
            } => {
                self.upload_mut(&bucket, &key, &upload_id)?;
                let upload = self
                    .bucket_mut(&bucket)?
                    .uploads
                    .remove(&upload_id)
                    .expect("found above");
                self.release_upload(upload, garbage);
                Ok(Outcome::Done)
            }
            Command::RetireNode { name } => {
                let node = self.nodes.get_mut(&name);
                node.ok_or(Failure::NoSuchNode(name))?.leaving = true;
                self.nodes_generation = next_generation();
                Ok(Outcome::Done)
            }
            Command::UnregisterNode { name } => {
                self.nodes
                    .remove(&name)
                    .ok_or(Failure::NoSuchNode(name.clone()))?;
                self.removed.insert(name);
                self.nodes_generation = next_generation();
                Ok(Outcome::Done)
            }
            Command::ReplaceBodies { moves } => {
                let mut moved = 0;
                for (old, new) in moves {
                    if self.replace_body(&old, &new, garbage) {
                        moved += 1;
                    } else {
                        garbage.push(new);
                    }
                }
                Ok(Outcome::Count(moved))
            }
            Command::SetShared { name, document } => {
                match document {
                    Some(doc) => self.shared.insert(name, doc),
                    None => self.shared.remove(&name),
                };
                self.shared_generation = next_generation();
                Ok(Outcome::Done)
            }
            Command::RegisterNode { mut node } => {
                if self.removed.contains(&node.name) {
                    return Err(Failure::NodeRemoved(node.name));
                }
                self.first_node.get_or_insert_with(|| node.name.clone());
                node.leaving = self.nodes.get(&node.name).is_some_and(|n| n.leaving);
                self.nodes.insert(node.name.clone(), node);
                self.nodes_generation = next_generation();
                Ok(Outcome::Done)
            }
        }
    }

    /// Puts `new` in the place of the body `old` wherever it is named; answers false
    /// (nothing changed) when nothing names it any more.
    fn replace_body(&mut self, old: &str, new: &Body, garbage: &mut Vec<Body>) -> bool {
        let Some(count) = self.refs.remove(old) else {
            return false;
        };
        let mut replaced = None;
        for b in self.buckets.values_mut() {
            let versions = b
                .keys
                .values_mut()
                .flatten()
                .flat_map(|v| v.bodies.iter_mut());
            let parts = b.uploads.values_mut().flat_map(|u| u.parts.values_mut());
            let parts = parts.filter_map(|(_, body)| body.as_mut());
            for body in versions.chain(parts).filter(|body| body.id == old) {
                replaced = Some(std::mem::replace(body, new.clone()));
            }
        }
        self.refs.insert(new.id.clone(), count);
        garbage.extend(replaced);
        true
    }

    /// Whether the node `name` was decommissioned.
    pub fn is_removed(&self, name: &str) -> bool {
        self.removed.contains(name)
    }

    /// The registered nodes, by name.
    pub fn nodes(&self) -> &BTreeMap<String, NodeRecord> {
        &self.nodes
    }

    /// See `first_node`.
    pub fn first_node(&self) -> Option<&NodeRecord> {
        self.nodes.get(self.first_node.as_ref()?)
    }

    /// See `nodes_generation`.
    pub fn nodes_generation(&self) -> u64 {
        self.nodes_generation
    }

    pub fn shared(&self, name: &str) -> Option<Vec<u8>> {
        self.shared.get(name).map(|d| d.to_vec())
    }

    /// See `shared_generation`.
    pub fn shared_generation(&self) -> u64 {
        self.shared_generation
    }

    fn bucket_ref(&self, bucket: &str) -> std::result::Result<&Bucket, Failure> {
        self.buckets
            .get(bucket)
            .ok_or_else(|| Failure::NoSuchBucket(bucket.to_string()))
    }

    fn bucket_mut(&mut self, bucket: &str) -> std::result::Result<&mut Bucket, Failure> {
        self.buckets
            .get_mut(bucket)
            .ok_or_else(|| Failure::NoSuchBucket(bucket.to_string()))
    }

    fn upload_mut(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> std::result::Result<&mut Upload, Failure> {
        self.bucket_mut(bucket)?
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.info.key == key)
            .ok_or_else(|| Failure::NoSuchUpload(upload_id.to_string()))
    }

    fn retain(&mut self, bodies: &[Body]) {
        for body in bodies {
            *self.refs.entry(body.id.clone()).or_default() += 1;
        }
    }

    fn release(&mut self, bodies: &[Body], garbage: &mut Vec<Body>) {
        for body in bodies {
            if let Some(n) = self.refs.get_mut(&body.id) {
                *n -= 1;
                if *n == 0 {
                    self.refs.remove(&body.id);
                    garbage.push(body.clone());
                }
            }
        }
    }

    fn release_upload(&mut self, upload: Upload, garbage: &mut Vec<Body>) {
        let bodies: Vec<Body> = upload.parts.into_values().filter_map(|(_, b)| b).collect();
        self.release(&bodies, garbage);
    }

    /// Adds a version as the bucket's versioning asks: the key's only one (never
    /// versioned), a new one (enabled), or the one named "null" (suspended).
    fn add_version(
        &mut self,
        bucket: &str,
        key: &str,
        uid: String,
        mut meta: ObjectMeta,
        bodies: Vec<Body>,
        garbage: &mut Vec<Body>,
    ) -> Applying {
        let versioning = self.bucket_ref(bucket)?.info.versioning.clone();
        meta.version_id = match versioning.as_deref() {
            None => None,
            Some("Enabled") => Some(uid.clone()),
            Some(_) => Some(NULL_VERSION.to_string()),
        };
        meta.seq = versioning.is_some().then(|| uid.clone());
        let overwrite = self.current(bucket, key).is_ok();
        let replaces_null = versioning.as_deref() != Some("Enabled");
        let new = Version {
            uid,
            meta: meta.clone(),
            bodies,
        };
        self.retain(&new.bodies);
        let b = self.bucket_mut(bucket)?;
        let versions = b.keys.entry(key.to_string()).or_default();
        let mut dropped = Vec::new();
        if replaces_null {
            let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(versions)
                .into_iter()
                .partition(|v| v.name() != NULL_VERSION);
            *versions = keep;
            dropped = drop;
        }
        if let Some(size) = new.counted() {
            b.counters.objects += 1;
            b.counters.bytes += size;
        }
        versions.push(new);
        for old in &dropped {
            if let Some(size) = old.counted() {
                b.counters.objects -= 1;
                b.counters.bytes -= size;
            }
        }
        for old in dropped {
            self.release(&old.bodies, garbage);
        }
        Ok(Outcome::Object {
            meta: Box::new(meta),
            overwrite,
        })
    }

    fn delete(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        uid: String,
        marker: ObjectMeta,
        garbage: &mut Vec<Body>,
    ) -> Applying {
        let versioning = self.bucket_ref(bucket)?.info.versioning.clone();
        let removed_current = self.current(bucket, key).is_ok();
        match (version_id, versioning) {
            (Some(id), _) => {
                let removed = self.remove_versions(bucket, key, |v| v.name() == id, garbage)?;
                let current_after = self.current(bucket, key).is_ok();
                Ok(Outcome::Deleted {
                    delete_marker: removed.iter().any(|v| v.meta.delete_marker),
                    version_id: Some(id),
                    removed_current: removed_current && !current_after,
                })
            }
            (None, None) => {
                self.remove_versions(bucket, key, |_| true, garbage)?;
                Ok(Outcome::Deleted {
                    version_id: None,
                    delete_marker: false,
                    removed_current,
                })
            }
            (None, Some(_)) => {
                let mut marker = marker;
                marker.delete_marker = true;
                match self.add_version(bucket, key, uid, marker, Vec::new(), garbage)? {
                    Outcome::Object { meta, .. } => Ok(Outcome::Deleted {
                        version_id: meta.version_id,
                        delete_marker: true,
                        removed_current,
                    }),
                    other => Ok(other),
                }
            }
        }
    }

    /// Removes the versions of a key that `which` picks; the key goes with its last.
    fn remove_versions(
        &mut self,
        bucket: &str,
        key: &str,
        which: impl Fn(&Version) -> bool,
        garbage: &mut Vec<Body>,
    ) -> std::result::Result<Vec<Version>, Failure> {
        let b = self.bucket_mut(bucket)?;
        let Some(versions) = b.keys.get_mut(key) else {
            return Ok(Vec::new());
        };
        let (drop, keep): (Vec<_>, Vec<_>) = std::mem::take(versions).into_iter().partition(which);
        if keep.is_empty() {
            b.keys.remove(key);
        } else {
            *versions = keep;
        }
        for old in &drop {
            if let Some(size) = old.counted() {
                b.counters.objects -= 1;
                b.counters.bytes -= size;
            }
        }
        for old in &drop {
            self.release(&old.bodies, garbage);
        }
        Ok(drop)
    }

    // --- reads ---

    fn bucket(&self, bucket: &str) -> Result<&Bucket> {
        self.buckets
            .get(bucket)
            .ok_or_else(|| Error::no_such_bucket(bucket))
    }

    pub fn bucket_info(&self, bucket: &str) -> Result<BucketInfo> {
        Ok(self.bucket(bucket)?.info.clone())
    }

    pub fn list_buckets(&self) -> Vec<BucketInfo> {
        self.buckets.values().map(|b| b.info.clone()).collect()
    }

    pub fn config(&self, bucket: &str, kind: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.bucket(bucket)?.configs.get(kind).map(|d| d.to_vec()))
    }

    pub fn all_configs(&self, kind: &str) -> Vec<(String, Vec<u8>)> {
        self.buckets
            .iter()
            .filter_map(|(name, b)| b.configs.get(kind).map(|d| (name.clone(), d.to_vec())))
            .collect()
    }

    /// The key's current object (its latest version, unless that is a delete marker).
    pub fn current(&self, bucket: &str, key: &str) -> Result<&Version> {
        self.bucket(bucket)?
            .keys
            .get(key)
            .and_then(|vs| vs.last())
            .filter(|v| !v.meta.delete_marker)
            .ok_or_else(|| Error::no_such_key(key))
    }

    /// One version by id ("null" names an unversioned write).
    /// The versions a delete would remove for good (as `delete` decides): the version
    /// named, else by the bucket's versioning the key's only one, its null one, or none
    /// (a delete marker is added).
    pub fn doomed(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Vec<&Version> {
        let Some(b) = self.buckets.get(bucket) else {
            return Vec::new();
        };
        let versioning = b.info.versioning.as_deref();
        let which = |v: &Version| match (version_id, versioning) {
            (Some(id), _) => v.name() == id,
            (None, None) => true,
            (None, Some("Enabled")) => false,
            (None, Some(_)) => v.name() == NULL_VERSION,
        };
        b.keys
            .get(key)
            .map(|vs| vs.iter().filter(|v| which(v)).collect())
            .unwrap_or_default()
    }

    pub fn version(&self, bucket: &str, key: &str, version_id: &str) -> Result<&Version> {
        self.bucket(bucket)?
            .keys
            .get(key)
            .and_then(|vs| vs.iter().find(|v| v.name() == version_id))
            .ok_or_else(|| Error::NoSuchVersion {
                key: key.to_string(),
                version_id: version_id.to_string(),
            })
    }

    pub fn latest_delete_marker(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        Ok(self
            .bucket(bucket)?
            .keys
            .get(key)
            .and_then(|vs| vs.last())
            .filter(|v| v.meta.delete_marker)
            .map(|v| v.meta.clone()))
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<&Upload> {
        self.bucket(bucket)?
            .uploads
            .get(upload_id)
            .filter(|u| u.info.key == key)
            .ok_or_else(|| Error::NoSuchUpload {
                upload_id: upload_id.to_string(),
            })
    }

    /// A bucket's uploads by key, then initiation time.
    pub fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        let mut uploads: Vec<UploadInfo> = self
            .bucket(bucket)?
            .uploads
            .values()
            .map(|u| u.info.clone())
            .collect();
        uploads.sort_by(|a, b| {
            (a.key.as_str(), a.initiated, a.upload_id.as_str()).cmp(&(
                b.key.as_str(),
                b.initiated,
                b.upload_id.as_str(),
            ))
        });
        Ok(uploads)
    }

    /// Unfinished uploads in all buckets and the bytes of their parts.
    pub fn upload_totals(&self) -> (u64, u64) {
        let uploads = self.buckets.values().flat_map(|b| b.uploads.values());
        uploads.fold((0, 0), |(n, bytes), u| {
            (
                n + 1,
                bytes + u.parts.values().map(|(p, _)| p.size).sum::<u64>(),
            )
        })
    }

    pub fn counters(&self) -> BTreeMap<String, Counters> {
        self.buckets
            .iter()
            .map(|(name, b)| (name.clone(), b.counters))
            .collect()
    }

    /// Every body with a reference, once each (for the scanner).
    pub fn bodies(&self) -> Vec<Body> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for b in self.buckets.values() {
            let versions = b.keys.values().flatten().flat_map(|v| v.bodies.iter());
            let parts = b.uploads.values().flat_map(|u| u.parts.values());
            for body in versions.chain(parts.filter_map(|(_, body)| body.as_ref())) {
                if seen.insert(body.id.as_str()) {
                    out.push(body.clone());
                }
            }
        }
        out
    }

    /// Whether a body has a reference.
    pub fn is_referenced(&self, id: &str) -> bool {
        self.refs.contains_key(id)
    }

    /// One page of ListObjects: current objects and common prefixes in key order.
    pub fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        let b = self.bucket(bucket)?;
        let mut page = Pager::new(q.max);
        if q.max > 0 {
            let mut visit = |found: Walked<'_>| match found {
                Walked::Prefix(p) => page.push(Item::Prefix(p.to_string())),
                Walked::Key(versions) => match versions.last() {
                    Some(v) if !v.meta.delete_marker => page.push(Item::Object(v.meta.clone())),
                    _ => true,
                },
            };
            let shows =
                |versions: &[Version]| versions.last().is_some_and(|v| !v.meta.delete_marker);
            let delimiter = q.delimiter.as_deref();
            walk(
                &b.keys,
                &q.prefix,
                delimiter,
                q.after.as_deref(),
                &mut visit,
                &shows,
            );
        }
        Ok(ListPage {
            items: page.items,
            truncated: page.truncated,
        })
    }

    /// One page of ListObjectVersions: keys in order, each key's versions newest first.
    pub fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<VersionPage> {
        let b = self.bucket(bucket)?;
        let mut page = Pager::new(q.max);
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let after = q.key_marker.as_deref().filter(|k| !k.is_empty());
        let version_marker = q.version_marker.as_deref().filter(|v| !v.is_empty());
        // With a version marker, the listing resumes inside the marker key.
        if let (Some(key), Some(_)) = (after, version_marker)
            && key.starts_with(&q.prefix)
            && common_prefix(key, &q.prefix, delimiter).is_none()
            && let Some(versions) = b.keys.get(key)
            && !push_versions(&mut page, versions, version_marker)
        {
            return Ok(page.into_versions());
        }
        let mut visit = |found: Walked<'_>| match found {
            Walked::Prefix(p) => page.push(Err(p.to_string())),
            Walked::Key(versions) => push_versions(&mut page, versions, None),
        };
        walk(&b.keys, &q.prefix, delimiter, after, &mut visit, &|_| true);
        Ok(page.into_versions())
    }
}

/// A listing page being filled: one item past `max` marks it truncated.
struct Pager<T> {
    items: Vec<T>,
    truncated: bool,
    max: usize,
}

impl<T> Pager<T> {
    fn new(max: usize) -> Self {
        Pager {
            items: Vec::new(),
            truncated: false,
            max,
        }
    }

    /// Adds an item; false once the page is full.
    fn push(&mut self, item: T) -> bool {
        if self.items.len() >= self.max {
            self.truncated = true;
            return false;
        }
        self.items.push(item);
        true
    }
}

type VersionItem = std::result::Result<VersionEntry, String>;

impl Pager<VersionItem> {
    fn into_versions(self) -> VersionPage {
        VersionPage {
            items: self.items,
            truncated: self.truncated,
        }
    }
}

/// Adds a key's versions newest first, those up to the version `skip_to` left out.
fn push_versions(
    page: &mut Pager<VersionItem>,
    versions: &[Version],
    skip_to: Option<&str>,
) -> bool {
    let mut skipping = skip_to.is_some();
    for (i, v) in versions.iter().rev().enumerate() {
        if skipping {
            skipping = Some(v.name()) != skip_to;
            continue;
        }
        let entry = VersionEntry {
            meta: v.meta.clone(),
            is_latest: i == 0,
        };
        if !page.push(Ok(entry)) {
            return false;
        }
    }
    true
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim().trim_matches('"') == b.trim().trim_matches('"')
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("metadata serializes")
}

pub fn decode_applied(bytes: &[u8]) -> Result<Applied> {
    rmp_serde::from_slice(bytes).map_err(Error::internal)
}

enum Walked<'a> {
    Key(&'a [Version]),
    Prefix(&'a str),
}

/// The common prefix a key rolls up into, if any.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(delimiter)
        .map(|i| &key[..prefix.len() + i + delimiter.len()])
}

/// The least string greater than every string that starts with `prefix`, if one exists.
fn past_prefix(prefix: &str) -> Option<String> {
    let last = prefix.chars().next_back()?;
    let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32)?;
    Some(format!(
        "{}{next}",
        &prefix[..prefix.len() - last.len_utf8()]
    ))
}

/// Visits, in key order, the keys under `prefix` after `after` and the common
/// prefixes they roll up into (each once, and only if `shows` holds for one of its
/// keys), the way the filesystem store's walk does; stops when `visit` says false.
fn walk<'a>(
    keys: &'a BTreeMap<String, Vec<Version>>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    visit: &mut dyn FnMut(Walked<'a>) -> bool,
    shows: &dyn Fn(&[Version]) -> bool,
) {
    let mut start = match after {
        Some(a) if a >= prefix => Bound::Excluded(a.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    let mut skip: Option<&str> = None;
    'restart: loop {
        for (key, versions) in keys.range::<String, _>((start.clone(), Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                return;
            }
            if skip.is_some_and(|s| key.starts_with(s)) {
                continue;
            }
            let Some(cp) = common_prefix(key, prefix, delimiter) else {
                if !visit(Walked::Key(versions)) {
                    return;
                }
                continue;
            };
            if !shows(versions) {
                continue; // another key may still show the prefix
            }
            if after.is_none_or(|a| cp > a) && !visit(Walked::Prefix(cp)) {
                return;
            }
            match past_prefix(cp) {
                Some(next) => {
                    start = Bound::Included(next);
                    continue 'restart;
                }
                None => skip = Some(cp),
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str) -> Command {
        Command::CreateBucket {
            info: BucketInfo {
                name: name.into(),
                created: 0,
                region: "us-east-1".into(),
                versioning: None,
            },
            configs: BTreeMap::new(),
        }
    }

    fn meta(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta::new(
            "b",
            key,
            size,
            "\"e\"".into(),
            Default::default(),
            Vec::new(),
        )
    }

    fn body(id: &str) -> Body {
        Body {
            id: id.into(),
            size: 10,
            data: 2,
            parity: 2,
            block_size: 1 << 20,
            first_drive: 0,
            drives: Vec::new(),
        }
    }

    #[test]
    fn bodies_and_snapshots_of_one_node_clusters_still_read() {
        // A body and a state as written before bodies named drives and nodes registered.
        #[derive(Serialize)]
        struct OldBody {
            id: String,
            size: u64,
            data: usize,
            parity: usize,
            block_size: usize,
            first_drive: usize,
        }
        #[derive(Serialize)]
        struct OldState {
            buckets: BTreeMap<String, ()>,
            refs: HashMap<String, u32>,
        }
        let old = OldBody {
            id: "x".into(),
            size: 10,
            data: 2,
            parity: 2,
            block_size: 1 << 20,
            first_drive: 3,
        };
        let read: Body = rmp_serde::from_slice(&encode(&old)).unwrap();
        assert_eq!(read.first_drive, 3);
        assert!(read.drives.is_empty());
        let old = OldState {
            buckets: BTreeMap::new(),
            refs: HashMap::new(),
        };
        let mut state = MetaState::default();
        state.restore_bytes(&encode(&old)).unwrap();
        assert!(state.nodes().is_empty());
    }

    #[test]
    fn registered_nodes_are_kept_and_each_change_is_seen() {
        let mut s = MetaState::default();
        let before = s.nodes_generation();
        let node = NodeRecord {
            name: "n1".into(),
            addr: "10.0.0.1:4348".into(),
            drives: vec!["d1".into(), "d2".into()],
            leaving: false,
        };
        s.apply(Command::RegisterNode { node: node.clone() });
        let after = s.nodes_generation();
        assert_ne!(before, after);
        assert_eq!(s.nodes().get("n1"), Some(&node));
        let mut restored = MetaState::default();
        restored.restore_bytes(&s.snapshot_bytes()).unwrap();
        assert_eq!(restored.nodes().get("n1"), Some(&node));
        assert_ne!(restored.nodes_generation(), after);
    }

    fn put(s: &mut MetaState, key: &str, uid: &str, bodies: Vec<Body>) -> Applied {
        s.apply(Command::Put {
            bucket: "b".into(),
            key: key.into(),
            uid: uid.into(),
            meta: meta(key, 10),
            bodies,
            shared: false,
            precondition: None,
        })
    }

    fn ids(garbage: &[Body]) -> Vec<&str> {
        garbage.iter().map(|b| b.id.as_str()).collect()
    }

    #[test]
    fn overwrites_release_bodies_unless_versioned() {
        let mut s = MetaState::default();
        s.apply(bucket("b"));
        assert!(put(&mut s, "k", "1", vec![body("a")]).garbage.is_empty());
        assert_eq!(ids(&put(&mut s, "k", "2", vec![body("b")]).garbage), ["a"]);
        s.apply(Command::SetVersioning {
            bucket: "b".into(),
            status: "Enabled".into(),
        });
        assert!(put(&mut s, "k", "3", vec![body("c")]).garbage.is_empty());
        assert_eq!(s.counters()["b"].objects, 2);
        // Deleting the key adds a marker and keeps both versions.
        let d = s.apply(Command::Delete {
            bucket: "b".into(),
            key: "k".into(),
            version_id: None,
            uid: "4".into(),
            marker: meta("k", 0),
            precondition: None,
            approved: None,
        });
        assert!(matches!(
            d.outcome,
            Ok(Outcome::Deleted {
                delete_marker: true,
                removed_current: true,
                ..
            })
        ));
        assert!(s.current("b", "k").is_err());
        assert!(s.latest_delete_marker("b", "k").unwrap().is_some());
        // Deleting the marker by id brings the newest version back.
        let d = s.apply(Command::Delete {
            bucket: "b".into(),
            key: "k".into(),
            version_id: Some("4".into()),
            uid: "5".into(),
            marker: meta("k", 0),
            precondition: None,
            approved: None,
        });
        assert!(d.garbage.is_empty());
        assert_eq!(s.current("b", "k").unwrap().uid, "3");
        let d = s.apply(Command::Delete {
            bucket: "b".into(),
            key: "k".into(),
            version_id: Some("null".into()),
            uid: "6".into(),
            marker: meta("k", 0),
            precondition: None,
            approved: None,
        });
        assert_eq!(ids(&d.garbage), ["b"]);
        assert_eq!(s.counters()["b"].objects, 1);
    }

    /// A guarded delete names what its guard let go: a version changed since (its lock
    /// set meanwhile, say) makes it `Changed`, and nothing goes; an update computed from
    /// a stale version is refused alike.
    #[test]
    fn guarded_deletes_and_updates_apply_only_to_what_was_judged() {
        let mut s = MetaState::default();
        s.apply(bucket("b"));
        s.apply(Command::SetVersioning {
            bucket: "b".into(),
            status: "Enabled".into(),
        });
        put(&mut s, "k", "1", vec![body("a")]);
        let seen = s.version("b", "k", "1").unwrap().meta.clone();
        let mut held = seen.clone();
        held.lock.legal_hold = Some(true);
        let update = |expect: &ObjectMeta, meta: &ObjectMeta| Command::Update {
            bucket: "b".into(),
            key: "k".into(),
            uid: "1".into(),
            meta: meta.clone(),
            expect: Some(Box::new(expect.clone())),
        };
        assert!(s.apply(update(&seen, &held)).outcome.is_ok());
        // Computed from the version before the hold: refused.
        assert_eq!(
            s.apply(update(&seen, &seen)).outcome.unwrap_err(),
            Failure::Changed
        );
        let delete = |approved: Vec<ObjectMeta>| Command::Delete {
            bucket: "b".into(),
            key: "k".into(),
            version_id: Some("1".into()),
            uid: "2".into(),
            marker: meta("k", 0),
            precondition: None,
            approved: Some(approved),
        };
        assert_eq!(
            s.apply(delete(vec![seen])).outcome.unwrap_err(),
            Failure::Changed
        );
        assert!(s.version("b", "k", "1").is_ok());
        assert!(s.apply(delete(vec![held])).outcome.is_ok());
        assert!(s.version("b", "k", "1").is_err());
    }

    #[test]
    fn copies_share_bodies_until_the_last_goes() {
        let mut s = MetaState::default();
        s.apply(bucket("b"));
        put(&mut s, "src", "1", vec![body("a")]);
        let copy = |s: &mut MetaState| {
            s.apply(Command::Put {
                bucket: "b".into(),
                key: "dst".into(),
                uid: "2".into(),
                meta: meta("dst", 10),
                bodies: vec![body("a")],
                shared: true,
                precondition: None,
            })
        };
        assert!(copy(&mut s).outcome.is_ok());
        let del = |s: &mut MetaState, key: &str| {
            s.apply(Command::Delete {
                bucket: "b".into(),
                key: key.into(),
                version_id: None,
                uid: "9".into(),
                marker: meta(key, 0),
                precondition: None,
                approved: None,
            })
        };
        assert!(del(&mut s, "src").garbage.is_empty());
        assert_eq!(ids(&del(&mut s, "dst").garbage), ["a"]);
        // A copy whose source went meanwhile is refused, not given dangling bytes.
        assert_eq!(copy(&mut s).outcome.unwrap_err(), Failure::SourceGone);
    }

    #[test]
    fn preconditions_are_decided_in_apply() {
        let mut s = MetaState::default();
        s.apply(bucket("b"));
        let create = |s: &mut MetaState, uid: &str| {
            s.apply(Command::Put {
                bucket: "b".into(),
                key: "k".into(),
                uid: uid.into(),
                meta: meta("k", 10),
                bodies: vec![body(uid)],
                shared: false,
                precondition: Some(Precondition::IfNoneMatchAny),
            })
        };
        assert!(create(&mut s, "1").outcome.is_ok());
        let second = create(&mut s, "2");
        assert_eq!(
            second.outcome.unwrap_err(),
            Failure::PreconditionFailed("If-None-Match".into())
        );
        // The refused write's body was never referenced.
        assert!(!s.is_referenced("2"));
        // A conditional delete: refused on another ETag (the body stays), and on a
        // missing key; done on a match.
        let delete = |s: &mut MetaState, key: &str, etag: &str| {
            s.apply(Command::Delete {
                bucket: "b".into(),
                key: key.into(),
                version_id: None,
                uid: "3".into(),
                marker: meta(key, 0),
                precondition: Some(Precondition::IfMatch(etag.into())),
                approved: None,
            })
            .outcome
        };
        assert_eq!(
            delete(&mut s, "k", "\"other\"").unwrap_err(),
            Failure::PreconditionFailed("If-Match".into())
        );
        assert!(s.is_referenced("1"));
        assert_eq!(
            delete(&mut s, "absent", "*").unwrap_err(),
            Failure::NoSuchKey("absent".into())
        );
        assert!(delete(&mut s, "k", "\"e\"").is_ok());
        assert!(!s.is_referenced("1"));
    }

    #[test]
    fn multipart_completion_keeps_chosen_parts_only() {
        let mut s = MetaState::default();
        s.apply(bucket("b"));
        let info = UploadInfo {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            initiated: 0,
            attrs: Default::default(),
            checksum_algorithm: None,
            checksum_type: None,
        };
        s.apply(Command::CreateUpload { info });
        for (n, id) in [(1, "p1"), (2, "p2"), (3, "p3")] {
            let part = PartInfo {
                part_number: n,
                etag: format!("\"{id}\""),
                size: 10,
                last_modified: 0,
                checksum: None,
            };
            let a = s.apply(Command::PutPart {
                bucket: "b".into(),
                key: "k".into(),
                upload_id: "u".into(),
                part,
                body: Some(body(id)),
            });
            assert!(a.outcome.is_ok());
        }
        assert_eq!(s.upload_totals(), (1, 30));
        let done = s.apply(Command::Complete {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            parts: vec![(1, "p1".into()), (3, "\"p3\"".into())],
            uid: "v".into(),
            meta: meta("k", 20),
            precondition: None,
        });
        assert!(done.outcome.is_ok());
        assert_eq!(ids(&done.garbage), ["p2"]);
        let bodies: Vec<_> = s.current("b", "k").unwrap().bodies.clone();
        assert_eq!(ids(&bodies), ["p1", "p3"]);
        assert_eq!(s.upload_totals(), (0, 0));
    }

    #[test]
    fn snapshots_restore_state_and_counters() {
        let mut s = MetaState::default();
        s.apply(bucket("b"));
        put(&mut s, "a/1", "1", vec![body("x")]);
        put(&mut s, "a/2", "2", vec![body("y")]);
        let mut t = MetaState::default();
        t.restore_bytes(&s.snapshot_bytes()).unwrap();
        assert_eq!(t.counters(), s.counters());
        assert_eq!(t.bodies().len(), 2);
        let applied =
            decode_applied(&t.apply_bytes(&encode(&Command::DeleteBucket { bucket: "b".into() })))
                .unwrap();
        assert_eq!(
            applied.outcome.unwrap_err(),
            Failure::BucketNotEmpty("b".into())
        );
    }

    #[test]
    fn past_prefix_bounds_the_prefix_range() {
        assert_eq!(past_prefix("a/").as_deref(), Some("a0"));
        assert_eq!(past_prefix("").as_deref(), None);
        assert_eq!(past_prefix("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(past_prefix("x\u{10FFFF}"), None);
    }

    /// The same random history in the filesystem store and in the state machine lists
    /// the same pages, for random prefixes, delimiters, markers and page sizes.
    #[test]
    fn listings_match_the_filesystem_store() {
        use crate::storage::Store;
        let root = std::env::temp_dir().join(format!("meta-vs-fs-{}", uuid::Uuid::new_v4()));
        let fs = Store::open(&root, false, None).unwrap();
        fs.create_bucket("bkt", "us-east-1").unwrap();
        let mut s = MetaState::default();
        s.apply(bucket("bkt"));
        let keys = [
            "a", "a/b", "a/b/c", "a/c", "ab", "b/a", "b//x", "c", "a/b/d", "\u{e9}/x",
        ];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        for step in 0..400u64 {
            let key = keys[next(keys.len())];
            match next(10) {
                0 => {
                    let status = ["Enabled", "Suspended"][next(2)];
                    fs.set_versioning("bkt", status).unwrap();
                    s.apply(Command::SetVersioning {
                        bucket: "bkt".into(),
                        status: status.into(),
                    });
                }
                1 | 2 => {
                    let marker = fs.versioning("bkt").is_some();
                    if marker {
                        fs.delete_with_marker("bkt", key, None, None).unwrap();
                    } else {
                        fs.delete_object("bkt", key, None, None).unwrap();
                    }
                    s.apply(Command::Delete {
                        bucket: "bkt".into(),
                        key: key.into(),
                        version_id: None,
                        uid: crate::storage::versions::new_version_id(),
                        marker: meta(key, 0),
                        precondition: None,
                        approved: None,
                    });
                }
                _ => {
                    let data = fs.stage_bytes(&vec![0; step as usize], [0; 16]).unwrap();
                    fs.put_object(
                        "bkt",
                        key,
                        data,
                        Default::default(),
                        Vec::new(),
                        "\"e\"".into(),
                        None,
                    )
                    .unwrap();
                    s.apply(Command::Put {
                        bucket: "bkt".into(),
                        key: key.into(),
                        uid: crate::storage::versions::new_version_id(),
                        meta: meta(key, step),
                        bodies: Vec::new(),
                        shared: false,
                        precondition: None,
                    });
                }
            }
        }
        let render = |items: Vec<Item>| -> Vec<String> {
            items
                .into_iter()
                .map(|i| match i {
                    Item::Object(m) => format!("{} {}", m.key, m.size),
                    Item::Prefix(p) => format!("prefix {p}"),
                })
                .collect()
        };
        let render_versions = |items: Vec<VersionItem>| -> Vec<String> {
            items
                .into_iter()
                .map(|i| match i {
                    Ok(v) => format!(
                        "{} {} {} {}",
                        v.meta.key, v.meta.size, v.meta.delete_marker, v.is_latest
                    ),
                    Err(p) => format!("prefix {p}"),
                })
                .collect()
        };
        let prefixes = ["", "a", "a/", "a/b", "bkt", "z"];
        let delimiters = [None, Some("/"), Some("bkt"), Some("/c")];
        for _ in 0..300 {
            let prefix = prefixes[next(prefixes.len())].to_string();
            let delimiter = delimiters[next(delimiters.len())].map(str::to_string);
            let after = [
                None,
                Some(keys[next(keys.len())].to_string()),
                Some("a/".to_string()),
            ][next(3)]
            .clone();
            let query = ListQuery {
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                after: after.clone(),
                max: 1 + next(4),
            };
            let (a, b) = (
                fs.list_objects("bkt", &query).unwrap(),
                s.list_objects("bkt", &query).unwrap(),
            );
            assert_eq!(a.truncated, b.truncated, "{query:?}");
            assert_eq!(render(a.items), render(b.items), "{query:?}");
            // Version markers name the same write in both: the version with a given size.
            let marker_key = after.clone();
            let version_marker = marker_key.as_ref().and_then(|k| {
                let versions = s.bucket("bkt").ok()?.keys.get(k)?;
                let v = &versions[next(versions.len())];
                let fs_id = fs
                    .list_versions("bkt", k, None, None, None, 1000)
                    .ok()?
                    .items
                    .into_iter()
                    .flatten()
                    .find(|e| {
                        e.meta.key == *k
                            && e.meta.size == v.meta.size
                            && e.meta.delete_marker == v.meta.delete_marker
                            && !v.meta.delete_marker
                    })?
                    .meta
                    .version_id?;
                Some((fs_id, v.name().to_string()))
            });
            let max = 1 + next(5);
            let a = fs
                .list_versions(
                    "bkt",
                    &prefix,
                    delimiter.as_deref(),
                    after.as_deref(),
                    version_marker.as_ref().map(|v| v.0.as_str()),
                    max,
                )
                .unwrap();
            let b = s
                .list_versions(
                    "bkt",
                    &VersionQuery {
                        prefix: prefix.clone(),
                        delimiter: delimiter.clone(),
                        key_marker: after.clone(),
                        version_marker: version_marker.as_ref().map(|v| v.1.clone()),
                        max,
                    },
                )
                .unwrap();
            assert_eq!(
                a.truncated, b.truncated,
                "{prefix:?} {delimiter:?} {after:?} {version_marker:?}"
            );
            assert_eq!(
                render_versions(a.items),
                render_versions(b.items),
                "{prefix:?} {delimiter:?} {after:?} {version_marker:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
