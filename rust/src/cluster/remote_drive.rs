//! Drives of other nodes: [`RemoteDrive`] answers the `DriveIo` calls by asking the
//! node that has the drive over QUIC, and [`ShardServer`] is that node's side, over
//! its own `LocalDrive`s.
//!
//! A shard file being written stays open on the serving node between calls (a
//! `ShardOut` behind a handle), so a replacement keeps its write-aside-then-rename
//! semantics; a handle nobody used for `HANDLE_IDLE` is dropped (a replacement's
//! temporary file goes with it; a plain shard file stays for the orphan scanner).
//! Reads are stateless: every positioned read opens the file. Paths are checked on
//! the serving side: relative, plain components, under the drive's shard folder.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::drive_io::{DriveIo, ShardIn, ShardOut};
use super::quic::QuicNode;

/// Where every shard file of a drive lives, relative to the drive.
const SHARD_AREA: &str = ".smartstorage/data";
const HANDLE_IDLE: Duration = Duration::from_secs(60);
/// A call that takes longer fails (the node is down or cut off).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
pub enum ShardRequest {
    Create {
        drive: String,
        rel: String,
        fsync: bool,
        replacement: bool,
    },
    Append {
        handle: u64,
        frame: ByteBuf,
    },
    Commit {
        handle: u64,
    },
    /// The writer gave up: drop the handle (as a dropped `ShardOut`).
    Drop {
        handle: u64,
    },
    ReadAt {
        drive: String,
        rel: String,
        offset: u64,
        len: u64,
    },
    Len {
        drive: String,
        rel: String,
    },
    Remove {
        drive: String,
        rel: String,
    },
}

#[derive(Serialize, Deserialize)]
pub enum ShardResponse {
    Done,
    Handle(u64),
    Len(u64),
    Bytes(ByteBuf),
    Error { kind: WireKind, message: String },
}

/// The `io::ErrorKind`s callers tell apart.
#[derive(Serialize, Deserialize, Clone, Copy)]
pub enum WireKind {
    NotFound,
    PermissionDenied,
    StorageFull,
    InvalidInput,
    UnexpectedEof,
    Other,
}

impl From<io::Error> for ShardResponse {
    fn from(e: io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::NotFound => WireKind::NotFound,
            io::ErrorKind::PermissionDenied => WireKind::PermissionDenied,
            io::ErrorKind::StorageFull => WireKind::StorageFull,
            io::ErrorKind::InvalidInput => WireKind::InvalidInput,
            io::ErrorKind::UnexpectedEof => WireKind::UnexpectedEof,
            _ => WireKind::Other,
        };
        ShardResponse::Error {
            kind,
            message: e.to_string(),
        }
    }
}

fn into_io(kind: WireKind, message: String) -> io::Error {
    let kind = match kind {
        WireKind::NotFound => io::ErrorKind::NotFound,
        WireKind::PermissionDenied => io::ErrorKind::PermissionDenied,
        WireKind::StorageFull => io::ErrorKind::StorageFull,
        WireKind::InvalidInput => io::ErrorKind::InvalidInput,
        WireKind::UnexpectedEof => io::ErrorKind::UnexpectedEof,
        WireKind::Other => io::ErrorKind::Other,
    };
    io::Error::new(kind, message)
}

/// A shard path as another node may name it: relative, plain, in the shard area.
fn checked(rel: &str) -> io::Result<PathBuf> {
    let path = Path::new(rel);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || !path.starts_with(SHARD_AREA) || path == Path::new(SHARD_AREA) {
        let message = format!("not a shard path: {rel:?}");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    Ok(path.to_path_buf())
}

/// This node's side: its drives by id, and the shard files other nodes are writing.
#[derive(Default)]
pub struct ShardServer {
    drives: RwLock<HashMap<String, Arc<dyn DriveIo>>>,
    outs: Mutex<HashMap<u64, OpenOut>>,
}

/// A shard file another node is writing, and when it last did.
struct OpenOut {
    out: Box<dyn ShardOut>,
    used: Instant,
}

impl ShardServer {
    /// The drives other nodes may use (replaces the previous list).
    pub fn set_drives(&self, drives: Vec<(String, Arc<dyn DriveIo>)>) {
        *self.drives.write().unwrap_or_else(|p| p.into_inner()) = drives.into_iter().collect();
    }

    fn drive(&self, id: &str) -> io::Result<Arc<dyn DriveIo>> {
        let drives = self.drives.read().unwrap_or_else(|p| p.into_inner());
        drives
            .get(id)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no drive {id} here")))
    }

    fn take(&self, handle: u64) -> io::Result<Box<dyn ShardOut>> {
        let mut outs = self.outs.lock().unwrap_or_else(|p| p.into_inner());
        // Writers that went away without a word leave their handles behind.
        outs.retain(|_, open| open.used.elapsed() < HANDLE_IDLE);
        outs.remove(&handle).map(|open| open.out).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no shard writer {handle}"))
        })
    }

    fn put(&self, handle: u64, out: Box<dyn ShardOut>) {
        let mut outs = self.outs.lock().unwrap_or_else(|p| p.into_inner());
        let used = Instant::now();
        outs.insert(handle, OpenOut { out, used });
    }

    /// Answers one request (blocking: run it on the blocking pool).
    pub fn handle(&self, request: ShardRequest) -> ShardResponse {
        self.answer(request).unwrap_or_else(Into::into)
    }

    fn answer(&self, request: ShardRequest) -> io::Result<ShardResponse> {
        Ok(match request {
            ShardRequest::Create {
                drive,
                rel,
                fsync,
                replacement,
            } => {
                let (drive, rel) = (self.drive(&drive)?, checked(&rel)?);
                let out = match replacement {
                    true => drive.create_replacement(&rel, fsync)?,
                    false => drive.create(&rel, fsync)?,
                };
                let handle = uuid::Uuid::new_v4().as_u64_pair().0;
                self.put(handle, out);
                ShardResponse::Handle(handle)
            }
            ShardRequest::Append { handle, frame } => {
                let mut out = self.take(handle)?;
                out.append(&frame)?;
                self.put(handle, out);
                ShardResponse::Done
            }
            ShardRequest::Commit { handle } => {
                let mut out = self.take(handle)?;
                out.commit()?;
                self.put(handle, out);
                ShardResponse::Done
            }
            ShardRequest::Drop { handle } => {
                drop(self.take(handle));
                ShardResponse::Done
            }
            ShardRequest::ReadAt {
                drive,
                rel,
                offset,
                len,
            } => {
                let mut file = self.drive(&drive)?.open(&checked(&rel)?)?;
                let len = usize::try_from(len).map_err(io::Error::other)?;
                if len > super::quic::MAX_MESSAGE {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "read too large",
                    ));
                }
                let mut buf = vec![0; len];
                file.read_exact_at(&mut buf, offset)?;
                ShardResponse::Bytes(ByteBuf::from(buf))
            }
            ShardRequest::Len { drive, rel } => {
                ShardResponse::Len(self.drive(&drive)?.len(&checked(&rel)?)?)
            }
            ShardRequest::Remove { drive, rel } => {
                self.drive(&drive)?.remove(&checked(&rel)?)?;
                ShardResponse::Done
            }
        })
    }
}

/// A drive of another node, reached over QUIC (blocking calls, from the blocking pool).
#[derive(Clone)]
pub struct RemoteDrive {
    quic: Arc<QuicNode>,
    node: SocketAddr,
    drive: String,
    runtime: tokio::runtime::Handle,
}

impl RemoteDrive {
    pub fn new(quic: Arc<QuicNode>, node: SocketAddr, drive: String) -> RemoteDrive {
        RemoteDrive {
            quic,
            node,
            drive,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn encode(request: ShardRequest) -> io::Result<Vec<u8>> {
        rmp_serde::to_vec(&super::rpc::Request::<(), ShardRequest>::Shard(request))
            .map_err(io::Error::other)
    }

    /// One call to the node's `ShardServer`; its error answer becomes an `io::Error`.
    fn call(&self, request: ShardRequest) -> io::Result<ShardResponse> {
        use super::rpc;
        let bytes = Self::encode(request)?;
        let reply = self.runtime.block_on(async {
            tokio::time::timeout(CALL_TIMEOUT, self.quic.call(self.node, &bytes))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "the drive's node did not answer")
                })?
        })?;
        match rmp_serde::from_slice(&reply).map_err(io::Error::other)? {
            rpc::Response::Shard(ShardResponse::Error { kind, message }) => {
                Err(into_io(kind, message))
            }
            rpc::Response::Shard(response) => Ok(response),
            rpc::Response::Error(e) => Err(io::Error::other(e)),
            _ => Err(unexpected()),
        }
    }

    fn rel(rel: &Path) -> io::Result<String> {
        rel.to_str()
            .map(str::to_string)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a path that is not UTF-8"))
    }

    fn create_out(
        &self,
        rel: &Path,
        fsync: bool,
        replacement: bool,
    ) -> io::Result<Box<dyn ShardOut>> {
        let request = ShardRequest::Create {
            drive: self.drive.clone(),
            rel: Self::rel(rel)?,
            fsync,
            replacement,
        };
        match self.call(request)? {
            ShardResponse::Handle(handle) => Ok(Box::new(RemoteOut {
                drive: self.clone(),
                handle,
            })),
            _ => Err(unexpected()),
        }
    }
}

fn unexpected() -> io::Error {
    io::Error::other("unexpected answer from a drive's node")
}

impl DriveIo for RemoteDrive {
    fn create(&self, rel: &Path, fsync: bool) -> io::Result<Box<dyn ShardOut>> {
        self.create_out(rel, fsync, false)
    }

    fn create_replacement(&self, rel: &Path, fsync: bool) -> io::Result<Box<dyn ShardOut>> {
        self.create_out(rel, fsync, true)
    }

    fn open(&self, rel: &Path) -> io::Result<Box<dyn ShardIn>> {
        let size = self.len(rel)?;
        Ok(Box::new(RemoteIn {
            drive: self.clone(),
            rel: Self::rel(rel)?,
            size,
        }))
    }

    fn len(&self, rel: &Path) -> io::Result<u64> {
        let request = ShardRequest::Len {
            drive: self.drive.clone(),
            rel: Self::rel(rel)?,
        };
        match self.call(request)? {
            ShardResponse::Len(len) => Ok(len),
            _ => Err(unexpected()),
        }
    }

    fn remove(&self, rel: &Path) -> io::Result<()> {
        let request = ShardRequest::Remove {
            drive: self.drive.clone(),
            rel: Self::rel(rel)?,
        };
        self.call(request).map(|_| ())
    }
}

struct RemoteOut {
    drive: RemoteDrive,
    handle: u64,
}

impl ShardOut for RemoteOut {
    fn append(&mut self, frame: &[u8]) -> io::Result<()> {
        let request = ShardRequest::Append {
            handle: self.handle,
            frame: ByteBuf::from(frame.to_vec()),
        };
        self.drive.call(request).map(|_| ())
    }

    fn commit(&mut self) -> io::Result<()> {
        let request = ShardRequest::Commit {
            handle: self.handle,
        };
        self.drive.call(request).map(|_| ())
    }
}

impl Drop for RemoteOut {
    /// Frees the serving node's handle without waiting (a drop may happen anywhere,
    /// an async task included).
    fn drop(&mut self) {
        let request = ShardRequest::Drop {
            handle: self.handle,
        };
        let Ok(bytes) = RemoteDrive::encode(request) else {
            return;
        };
        let (quic, node) = (self.drive.quic.clone(), self.drive.node);
        self.drive.runtime.spawn(async move {
            let _ = tokio::time::timeout(CALL_TIMEOUT, quic.call(node, &bytes)).await;
        });
    }
}

struct RemoteIn {
    drive: RemoteDrive,
    rel: String,
    size: u64,
}

impl ShardIn for RemoteIn {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let request = ShardRequest::ReadAt {
            drive: self.drive.drive.clone(),
            rel: self.rel.clone(),
            offset,
            len: buf.len() as u64,
        };
        match self.drive.call(request)? {
            ShardResponse::Bytes(bytes) if bytes.len() == buf.len() => {
                buf.copy_from_slice(&bytes);
                Ok(())
            }
            _ => Err(unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::drive_io::LocalDrive;
    use crate::cluster::{quic, rpc::Router, tls::Identity};

    const SECRET: &str = "remote drive test secret";

    struct Tmp(PathBuf);

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A node serving one drive `d1` in a fresh folder, and a caller node.
    async fn pair(secret: &str) -> (QuicNode, Arc<QuicNode>, Tmp) {
        let root = std::env::temp_dir().join(format!("remote-drive-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join(SHARD_AREA)).unwrap();
        let router = Router::new("server");
        router
            .shards
            .set_drives(vec![("d1".into(), Arc::new(LocalDrive::new(root.clone())))]);
        let identity = Identity::new(Some(SECRET), "server").unwrap();
        let server = quic::bind("127.0.0.1", 0, &identity, router).await.unwrap();
        let identity = Identity::new(Some(secret), "caller").unwrap();
        let caller = quic::bind("127.0.0.1", 0, &identity, Router::new("caller"))
            .await
            .unwrap();
        (server, Arc::new(caller), Tmp(root))
    }

    fn remote(caller: &Arc<QuicNode>, server: &QuicNode, drive: &str) -> RemoteDrive {
        let at = format!("127.0.0.1:{}", server.port()).parse().unwrap();
        RemoteDrive::new(caller.clone(), at, drive.into())
    }

    /// Runs blocking drive calls off the async workers, as the store does.
    async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::task::spawn_blocking(f).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_reads_replaces_and_removes_on_the_other_node() {
        let (server, caller, tmp) = pair(SECRET).await;
        let drive = remote(&caller, &server, "d1");
        let root = tmp.0.clone();
        blocking(move || {
            let rel = Path::new(".smartstorage/data/ab/abc");
            let mut out = drive.create(rel, true).unwrap();
            out.append(b"hello ").unwrap();
            out.append(&vec![7u8; 300_000]).unwrap();
            out.commit().unwrap();
            drop(out);
            let on_disk = std::fs::read(root.join(rel)).unwrap();
            assert_eq!(&on_disk[..6], b"hello ");
            assert_eq!(on_disk.len(), 300_006);
            assert_eq!(drive.len(rel).unwrap(), 300_006);
            let mut file = drive.open(rel).unwrap();
            assert_eq!(file.size(), 300_006);
            let mut buf = [0u8; 4];
            file.read_exact_at(&mut buf, 2).unwrap();
            assert_eq!(&buf, b"llo ");
            let past_end = file.read_exact_at(&mut buf, 300_004);
            assert_eq!(past_end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);

            // A replacement given up leaves the file as it was and no temporary file.
            let mut out = drive.create_replacement(rel, true).unwrap();
            out.append(b"new").unwrap();
            drop(out);
            std::thread::sleep(Duration::from_millis(300)); // the drop is sent, not awaited
            assert_eq!(std::fs::read(root.join(rel)).unwrap().len(), 300_006);
            let names = std::fs::read_dir(root.join(".smartstorage/data/ab"))
                .unwrap()
                .count();
            assert_eq!(names, 1);
            // Committed, it takes the file's place.
            let mut out = drive.create_replacement(rel, true).unwrap();
            out.append(b"new").unwrap();
            out.commit().unwrap();
            assert_eq!(std::fs::read(root.join(rel)).unwrap(), b"new");

            drive.remove(rel).unwrap();
            assert_eq!(drive.len(rel).unwrap_err().kind(), io::ErrorKind::NotFound);
        })
        .await;
        server.close().await;
        caller.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paths_outside_the_shard_area_and_unknown_drives_are_refused() {
        let (server, caller, tmp) = pair(SECRET).await;
        std::fs::write(tmp.0.join("secret.txt"), b"x").unwrap();
        let drive = remote(&caller, &server, "d1");
        let unknown = remote(&caller, &server, "d9");
        blocking(move || {
            for rel in [
                "secret.txt",
                "../secret.txt",
                ".smartstorage/data/../../secret.txt",
                "/etc/passwd",
                ".smartstorage/raft/vote",
                ".smartstorage/data",
                "",
            ] {
                let e = drive.len(Path::new(rel)).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{rel:?}: {e}");
                assert!(drive.create(Path::new(rel), false).is_err(), "{rel:?}");
                assert!(drive.remove(Path::new(rel)).is_err(), "{rel:?}");
            }
            let e = unknown
                .len(Path::new(".smartstorage/data/ab/abc"))
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        })
        .await;
        assert!(tmp.0.join("secret.txt").exists());
        server.close().await;
        caller.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_without_the_secret_gets_nothing() {
        let (server, caller, tmp) = pair("not the secret of that cluster").await;
        let drive = remote(&caller, &server, "d1");
        std::fs::create_dir_all(tmp.0.join(".smartstorage/data/ab")).unwrap();
        std::fs::write(tmp.0.join(".smartstorage/data/ab/abc"), b"data").unwrap();
        blocking(move || {
            assert!(drive.len(Path::new(".smartstorage/data/ab/abc")).is_err());
            assert!(
                drive
                    .create(Path::new(".smartstorage/data/ab/new"), false)
                    .is_err()
            );
        })
        .await;
        assert!(!tmp.0.join(".smartstorage/data/ab/new").exists());
        server.close().await;
        caller.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_object_spans_local_and_remote_drives_and_survives_their_node() {
        use crate::cluster::drive_io::ShardRef;
        use crate::cluster::erasure::Layout;
        use crate::cluster::shards::{ShardReader, ShardWriter};
        let (server, caller, remote_root) = pair(SECRET).await;
        let local_root = Tmp(std::env::temp_dir().join(format!("local-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(local_root.0.join(SHARD_AREA)).unwrap();
        let local: Arc<dyn DriveIo> = Arc::new(LocalDrive::new(local_root.0.clone()));
        let far: Arc<dyn DriveIo> = Arc::new(remote(&caller, &server, "d1"));
        // 2+2: shards 0 and 2 here, 1 and 3 on the other node (two files per drive).
        let files = |id: &str| -> Vec<Option<ShardRef>> {
            (0..4)
                .map(|i| {
                    let drive = if i % 2 == 0 {
                        local.clone()
                    } else {
                        far.clone()
                    };
                    let rel = PathBuf::from(format!("{SHARD_AREA}/ob/{id}.{i}"));
                    Some(ShardRef { drive, rel })
                })
                .collect()
        };
        let layout = Layout::new(2, 2);
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (size, written) = {
            let (files, data) = (files("obj"), data.clone());
            blocking(move || {
                let mut writer = ShardWriter::create(files, layout, 3, true).unwrap();
                writer.write(&data).unwrap();
                let outcome = writer.finish().unwrap();
                (outcome.size, outcome.written)
            })
            .await
        };
        assert_eq!((size, written), (data.len() as u64, vec![true; 4]));
        assert_eq!(
            std::fs::read_dir(remote_root.0.join(SHARD_AREA).join("ob"))
                .unwrap()
                .count(),
            2
        );
        let read = |files: Vec<Option<ShardRef>>| async move {
            blocking(move || {
                let mut reader = ShardReader::open(files, layout, size);
                let mut out = Vec::new();
                let result = reader.read_range(0, size, &mut |chunk| {
                    out.extend_from_slice(&chunk);
                    true
                });
                (result.is_ok(), out)
            })
            .await
        };
        assert_eq!(read(files("obj")).await, (true, data.clone()));
        // The other node goes: its two shards are parity for the two here.
        server.close().await;
        assert_eq!(read(files("obj")).await, (true, data));
        caller.close().await;
    }
}
