//! Cluster mode: one node erasure-codes objects over several drives (docs/cluster.md).
//!
//! - `geometry`/`format`: the drives, their format files and the checks before start;
//! - `bitrot`, `erasure`, `shards`: objects as K data + M parity shard files of
//!   hash-framed blocks, read back (decoding past missing or bad shards) and healed;
//!   `drive_io`: a drive's shard files, wherever the drive is;
//! - `raft`: the metadata log (openraft, one voter per node for now) kept on every drive;
//! - `meta`: the metadata state machine (buckets, object index, versions, uploads);
//! - `store`: the `Storage` implementation over all of that; `drives` (their state,
//!   probed), `body_io` (bodies in and out of shard files), `heal` (queue, scanner);
//! - `quic`: the node's QUIC endpoint; `health`: the report of `getClusterHealth`.

pub mod bitrot;
pub mod body_io;
pub mod decommission;
pub mod drive_io;
pub mod drives;
pub mod erasure;
pub mod format;
pub mod geometry;
pub mod heal;
pub mod health;
pub mod join;
pub mod meta;
pub mod peers;
pub mod quic;
pub mod raft;
pub mod remote_drive;
pub mod rpc;
pub mod shards;
pub mod store;
pub mod tls;
pub mod topology;

/// Creates the folder `dir` inside an existing one. Never its parents: a drive that
/// is gone (an unmounted disk, a removed folder) must stay gone, not be recreated
/// empty on the disk beneath it.
pub(crate) fn create_dir_in_place(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}
