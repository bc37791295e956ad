//! The storage interface: everything the S3 layer (and the management protocol) may
//! ask of storage. Objects go in as bytes (pushed through an `ObjectWriter`, or whole
//! when small) and come out as a `ByteStream`; nothing above this trait sees a path
//! or a file. The filesystem store (`fs.rs`) is the first implementation; an
//! encrypting layer, the erasure-coded multi-drive store and the replicated cluster
//! store implement the same trait, so no handler changes with them.
//!
//! Checks that must run under storage's lock (a copy's source conditions, a
//! completion's checksums, whether a version may be deleted or changed) are passed in
//! as closures; their errors come back as `Error::Refused`, untouched.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;

use super::error::Result;

// The data types of the interface, re-exported so that callers name storage through
// this module only.
pub use super::bucket_config::ConfigKind;
pub use super::buckets::BucketInfo;
pub use super::capacity::{Capacity, DriveProbe};
pub use super::commit::Precondition;
pub use super::content::{ByteStream, Content, RunDecoder, StreamSource};
pub use super::keypath::MAX_KEY_BYTES;
pub use super::list::{Item, ListPage, ListQuery};
pub use super::meta::{
    NewObjectAttrs, ObjectMeta, StoredAcl, StoredChecksum, StoredGrant, StoredLock,
};
pub use super::multipart::{MAX_PART_NUMBER, MIN_PART_SIZE, PartInfo, UploadChecksum, UploadInfo};
pub use super::sealing::{BodyOf, ByteFilter, CustomerKey, Refusal, Scheme, Seal, Sealed};
pub use super::stats::Counters;
pub use super::versions::{DeleteOutcome, VersionEntry, VersionPage, valid_version_id};
pub use super::{Change, DeleteReason, Observer};

/// An object's bytes on their way in: whole (small bodies) or staged by an `ObjectWriter`.
pub enum Payload {
    Bytes { bytes: Bytes, md5: [u8; 16] },
    Staged(Staged),
}

/// Bytes written through an `ObjectWriter`, not yet visible to anyone; dropped
/// unpublished, they vanish.
pub struct Staged {
    pub size: u64,
    pub md5: [u8; 16],
    /// The implementation's own handle on the bytes (a temporary file, say).
    pub(crate) handle: Box<dyn std::any::Any + Send>,
}

/// Receives an object's bytes in order, before anything is published.
#[async_trait]
pub trait ObjectWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    async fn finish(self: Box<Self>) -> Result<Staged>;
}

/// An object (or version) opened for reading: its metadata and, unless it is a
/// delete marker, its bytes.
pub struct Opened {
    pub meta: ObjectMeta,
    pub content: Option<Content>,
}

/// A new object: where, what, and on what condition.
pub struct PutObject {
    pub bucket: String,
    pub key: String,
    pub payload: Payload,
    pub attrs: NewObjectAttrs,
    pub precondition: Option<Precondition>,
    /// Encryption at rest: needed for a whole payload; a staged one was sealed as written.
    pub seal: Option<Seal>,
}

/// Checks the source of a copy under its lock; for a part copy, answers the range
/// (offset, length) to copy.
/// May run more than once: a store whose source changed under a copy checks again.
pub type CopyCheck<T> = Box<dyn Fn(&ObjectMeta) -> Result<T> + Send + Sync>;

/// Sees every byte a part copy copies and names the part's checksum at the end (the
/// S3 layer's flexible checksum: storage only feeds it).
pub trait PartDigest: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(self: Box<Self>) -> StoredChecksum;
}

/// What an UploadPartCopy copies: `len` bytes at `offset`, fed to `digest`.
pub struct PartCopy {
    pub offset: u64,
    pub len: u64,
    pub digest: Option<Box<dyn PartDigest>>,
}

/// The client keys of an UploadPartCopy: its source's and its upload's.
#[derive(Clone, Debug, Default)]
pub struct CopyKeys {
    pub source: Option<CustomerKey>,
    pub part: Option<CustomerKey>,
}

/// The object a copy reads.
#[derive(Debug, Clone)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

pub struct CopyObject {
    pub source: CopySource,
    pub bucket: String,
    pub key: String,
    /// Replaces the source's attributes (else they are copied).
    pub attrs: Option<NewObjectAttrs>,
    /// Replaces the source's tags (else they are copied).
    pub tags: Option<BTreeMap<String, String>>,
    /// The copy's owner and grants: never the source's.
    pub acl: Option<StoredAcl>,
    /// The copy's object lock: never the source's.
    pub lock: StoredLock,
    /// Checks the source and names the checksum the copy gets.
    pub check: CopyCheck<Option<StoredChecksum>>,
    pub precondition: Option<Precondition>,
    /// How the copy is encrypted at rest (none: it is not).
    pub seal: Option<Seal>,
    /// The client key the source is sealed under.
    pub source_key: Option<CustomerKey>,
}

/// Sees the parts chosen for completion; may refuse, or name the object's checksum.
pub type CompleteCheck =
    Box<dyn FnOnce(&UploadInfo, &[PartInfo]) -> Result<Option<StoredChecksum>> + Send>;

pub struct CompleteUpload {
    pub upload: UploadRef,
    /// The client's part list: part number and ETag, in its order.
    pub parts: Vec<(u32, String)>,
    pub precondition: Option<Precondition>,
    pub verify: CompleteCheck,
}

/// One multipart upload of one key.
#[derive(Debug, Clone)]
pub struct UploadRef {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// Judges, under the key's lock, a version about to be removed for good (its object
/// lock, say); an error refuses the deletion and comes back as `Error::Refused`.
/// May run more than once (a store whose version changed meanwhile asks again).
pub type DeleteGuard = std::sync::Arc<dyn Fn(&ObjectMeta) -> Result<()> + Send + Sync>;

/// One deletion: a key, the version named (else as versioning decides), a condition
/// on the key's current object (`If-Match`) and a guard on every version it would
/// remove for good, both checked under the key's lock.
#[derive(Clone)]
pub struct Deletion {
    pub key: String,
    pub version_id: Option<String>,
    pub precondition: Option<Precondition>,
    pub guard: Option<DeleteGuard>,
    /// Why, when no client asked (carried by the change event).
    pub reason: Option<DeleteReason>,
}

impl std::fmt::Debug for Deletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deletion")
            .field("key", &self.key)
            .field("version_id", &self.version_id)
            .field("precondition", &self.precondition)
            .field("guard", &self.guard.is_some())
            .field("reason", &self.reason)
            .finish()
    }
}

impl Deletion {
    /// Runs the guard (if any) on a version about to be removed for good.
    pub fn check(&self, meta: &ObjectMeta) -> Result<()> {
        match &self.guard {
            Some(guard) => guard(meta),
            None => Ok(()),
        }
    }
}

/// What ListObjectVersions asks for.
pub struct VersionQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub version_marker: Option<String>,
    pub max: usize,
}

/// A change to an object's stored metadata (its tags, its lock), made under the key's
/// lock; it may refuse (its error comes back as `Error::Refused`) and may run more than
/// once (a store whose version changed meanwhile makes it again).
pub type MetaChange = Box<dyn Fn(&mut ObjectMeta) -> Result<()> + Send + Sync>;

/// Runs after a change and before the next change to the same thing can start
/// (the caller's cache of bucket settings stays in step with storage).
pub type Then = Box<dyn FnOnce() + Send>;

/// A new bucket's first settings documents, by kind.
pub type BucketConfigs = Vec<(ConfigKind, Vec<u8>)>;

/// Object storage, as the S3 layer sees it.
#[async_trait]
pub trait Storage: Send + Sync {
    // --- buckets ---
    async fn create_bucket(&self, bucket: &str, region: &str) -> Result<()> {
        self.create_bucket_with(bucket, region, Vec::new(), Box::new(|| {}))
            .await
    }
    /// Creates a bucket whose first settings documents (its owner, ...) are in place
    /// before it can be seen, and runs `then` (the caller's cache update) before that
    /// too; nothing is written when the bucket exists.
    async fn create_bucket_with(
        &self,
        bucket: &str,
        region: &str,
        configs: Vec<(ConfigKind, Vec<u8>)>,
        then: Then,
    ) -> Result<()>;
    /// Fails with `NoSuchBucket` unless the bucket exists.
    async fn bucket_exists(&self, bucket: &str) -> Result<()>;
    async fn bucket_info(&self, bucket: &str, default_region: &str) -> Result<BucketInfo>;
    async fn list_buckets(&self, default_region: &str) -> Result<Vec<BucketInfo>>;
    /// Deletes an empty bucket (its unfinished uploads and settings go with it).
    async fn delete_bucket(&self, bucket: &str, then: Then) -> Result<()>;
    /// Deletes every object, version and unfinished upload, keeping the bucket and its
    /// settings; answers how many objects (and older versions) it held, as counted.
    /// No per-object change events.
    async fn empty_bucket(&self, bucket: &str) -> Result<u64>;
    /// `Enabled` or `Suspended`; none if the bucket never had versioning.
    async fn versioning(&self, bucket: &str) -> Result<Option<String>>;
    async fn set_versioning(&self, bucket: &str, status: &str) -> Result<()>;

    // --- bucket settings: documents kept with the bucket, opaque to storage ---
    async fn bucket_config(&self, kind: ConfigKind, bucket: &str) -> Result<Option<Vec<u8>>>;
    /// Stores (`Some`) or removes (`None`) a bucket's document.
    async fn set_bucket_config(
        &self,
        kind: ConfigKind,
        bucket: &str,
        document: Option<Vec<u8>>,
        then: Then,
    ) -> Result<()>;
    /// Every stored document of a kind, by bucket.
    async fn all_bucket_configs(&self, kind: ConfigKind) -> Result<Vec<(String, Vec<u8>)>>;

    // --- deployment-wide documents ---
    /// A document every node of the deployment shares, by name (opaque here: the
    /// credentials set at runtime, for one). `None` if never set.
    async fn shared_document(&self, name: &str) -> Result<Option<Vec<u8>>>;
    async fn set_shared_document(&self, name: &str, document: Option<Vec<u8>>) -> Result<()>;
    /// Changes whenever bucket configs or shared documents may have been changed by
    /// another process (a cluster's other nodes); a cache of them is stale then.
    /// Constant where only this process changes them.
    fn shared_generation(&self) -> u64 {
        0
    }

    // --- objects ---
    /// Starts receiving a body that is too large to hold in memory; `filter` turns its
    /// bytes into the bytes stored (the size staged is theirs, the MD5 the body's).
    fn writer(&self, filter: Option<Box<dyn ByteFilter>>) -> Box<dyn ObjectWriter>;
    /// Starts receiving the body of an object or part, sealing it as it arrives if the
    /// object or the upload is to be encrypted. Only an encrypting store can seal.
    async fn body_writer(&self, body: BodyOf<'_>) -> Result<Box<dyn ObjectWriter>> {
        match body {
            BodyOf::Object(None) | BodyOf::Part(_, None) => Ok(self.writer(None)),
            _ => Err(super::Error::Sealing(Refusal::Unsupported)),
        }
    }
    async fn put_object(&self, put: PutObject) -> Result<ObjectMeta>;
    /// The metadata of the latest object, or of one version.
    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectMeta>;
    /// The latest object or one version, metadata and bytes of the same version.
    /// `want_data: false` (HEAD) lets storage skip reading ahead. An object sealed under
    /// a client key opens only with it (`customer`), and no other object with one.
    async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        want_data: bool,
        customer: Option<&CustomerKey>,
    ) -> Result<Opened>;
    /// The delete marker that is the latest version of a key, if it is one.
    async fn latest_delete_marker(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>>;
    async fn copy_object(&self, copy: CopyObject) -> Result<ObjectMeta>;
    /// Deletes as the bucket's versioning asks: the version named, else a delete
    /// marker in a versioned bucket, else the object itself; nothing if the
    /// precondition fails on the current object (`PreconditionFailed`, `NoSuchKey`).
    async fn delete_object(&self, bucket: &str, deletion: Deletion) -> Result<DeleteOutcome>;
    /// Many `delete_object`s in one go, one result each, in order.
    async fn delete_objects(
        &self,
        bucket: &str,
        deletions: Vec<Deletion>,
    ) -> Result<Vec<Result<DeleteOutcome>>>;
    /// Changes the stored metadata (tags, say) of the latest object or of one version.
    async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: MetaChange,
    ) -> Result<ObjectMeta>;

    // --- listing ---
    async fn list_objects(&self, bucket: &str, query: ListQuery) -> Result<ListPage>;
    async fn list_versions(&self, bucket: &str, query: VersionQuery) -> Result<VersionPage>;

    // --- multipart uploads ---
    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: NewObjectAttrs,
        checksum: UploadChecksum,
        seal: Option<Seal>,
    ) -> Result<UploadInfo>;
    /// The upload, if it exists and belongs to its bucket and key.
    async fn upload_info(&self, upload: &UploadRef) -> Result<UploadInfo>;
    async fn put_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        payload: Payload,
        checksum: Option<StoredChecksum>,
        key: Option<CustomerKey>,
    ) -> Result<PartInfo>;
    /// Copies a range of an object into a part; `check` answers (offset, length).
    async fn copy_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        source: CopySource,
        check: CopyCheck<PartCopy>,
        keys: CopyKeys,
    ) -> Result<PartInfo>;
    async fn list_parts(&self, upload: &UploadRef) -> Result<(UploadInfo, Vec<PartInfo>)>;
    async fn complete_upload(&self, complete: CompleteUpload) -> Result<ObjectMeta>;
    async fn abort_upload(&self, upload: &UploadRef) -> Result<()>;
    async fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>>;

    // --- operations ---
    /// Counts what each bucket holds, in the background, while serving.
    fn start_initial_scan(&self);
    fn scan_complete(&self) -> bool;
    /// Objects and bytes per bucket.
    fn counters(&self) -> BTreeMap<String, Counters>;
    /// Unfinished uploads: how many, and their bytes.
    async fn upload_totals(&self) -> Result<(u64, u64)>;
    /// What the disks hold and can hold.
    async fn capacity(&self) -> Result<Vec<Capacity>>;
    /// Whether each disk answers, and how fast.
    async fn probe(&self) -> Result<Vec<DriveProbe>>;
    /// Where the data lives, for people (a folder, a set of drives).
    fn location(&self) -> String;
    /// A graceful stop, after the last request: leaves every acknowledged write durable
    /// in its final form, so that the next start has nothing to recover.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
    /// Whether this node should run deployment-wide background work (lifecycle passes)
    /// now: one node of a cluster does (its log's leader); a single store always.
    fn runs_background_work(&self) -> bool {
        true
    }
}
