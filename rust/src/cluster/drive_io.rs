//! One drive's shard files behind a small trait, so that the erasure code, reads
//! and heals do not care where a drive is: [`LocalDrive`] is a folder of this node;
//! a drive of another node can answer the same calls over RPC.
//!
//! Blocking calls (callers run on tokio's blocking pool). A shard file is named by
//! its path relative to its drive: no absolute path leaves a drive.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::writeback::Writeback;

/// A drive's shard storage.
pub trait DriveIo: Send + Sync {
    /// Creates (or truncates) the shard file `rel`, and its folder if need be.
    /// `fsync`: `commit` makes it durable.
    fn create(&self, rel: &Path, fsync: bool) -> io::Result<Box<dyn ShardOut>>;
    /// Starts a replacement for the shard file `rel`, written aside: `commit` puts
    /// it in place; dropped before that, it leaves nothing behind.
    fn create_replacement(&self, rel: &Path, fsync: bool) -> io::Result<Box<dyn ShardOut>>;
    fn open(&self, rel: &Path) -> io::Result<Box<dyn ShardIn>>;
    /// The length of the shard file `rel`.
    fn len(&self, rel: &Path) -> io::Result<u64>;
    fn remove(&self, rel: &Path) -> io::Result<()>;
}

/// A shard file being written, frame by frame.
pub trait ShardOut: Send {
    fn append(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Makes the file durable (when created with fsync) and, for a replacement,
    /// puts it in place of the shard file.
    fn commit(&mut self) -> io::Result<()>;
}

/// A shard file open for reading.
pub trait ShardIn: Send {
    /// Its length when opened.
    fn size(&self) -> u64;
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

/// A shard file: its drive and its path there.
#[derive(Clone)]
pub struct ShardRef {
    pub drive: Arc<dyn DriveIo>,
    pub rel: PathBuf,
}

/// A drive that is a folder of this node.
pub struct LocalDrive {
    root: PathBuf,
}

impl LocalDrive {
    pub fn new(root: PathBuf) -> LocalDrive {
        LocalDrive { root }
    }
}

/// The folder of a file (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Fsyncs a folder so a file created or renamed in it survives a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a file and its folder, never the folders above: a drive that is gone
/// stays gone.
fn create_in_place(path: &Path) -> io::Result<File> {
    crate::cluster::create_dir_in_place(parent(path))?;
    File::create(path)
}

impl DriveIo for LocalDrive {
    fn create(&self, rel: &Path, fsync: bool) -> io::Result<Box<dyn ShardOut>> {
        let path = self.root.join(rel);
        let file = create_in_place(&path)?;
        Ok(Box::new(LocalOut {
            file,
            path,
            temp: None,
            fsync,
            written: 0,
            writeback: Writeback::default(),
        }))
    }

    fn create_replacement(&self, rel: &Path, fsync: bool) -> io::Result<Box<dyn ShardOut>> {
        let path = self.root.join(rel);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = path.with_file_name(format!(".{name}.heal-{}", uuid::Uuid::new_v4()));
        let file = create_in_place(&temp)?;
        Ok(Box::new(LocalOut {
            file,
            path,
            temp: Some(temp),
            fsync,
            written: 0,
            writeback: Writeback::default(),
        }))
    }

    fn open(&self, rel: &Path) -> io::Result<Box<dyn ShardIn>> {
        let file = File::open(self.root.join(rel))?;
        let size = file.metadata()?.len();
        Ok(Box::new(LocalIn { file, size }))
    }

    fn len(&self, rel: &Path) -> io::Result<u64> {
        Ok(fs::metadata(self.root.join(rel))?.len())
    }

    fn remove(&self, rel: &Path) -> io::Result<()> {
        fs::remove_file(self.root.join(rel))
    }
}

struct LocalOut {
    file: File,
    /// Where the shard file is.
    path: PathBuf,
    /// A replacement's temporary name, until it is renamed to `path`.
    temp: Option<PathBuf>,
    fsync: bool,
    written: u64,
    /// With fsync on, for a shard file written in place.
    writeback: Writeback,
}

impl ShardOut for LocalOut {
    fn append(&mut self, frame: &[u8]) -> io::Result<()> {
        self.file.write_all(frame)?;
        self.written += frame.len() as u64;
        if self.fsync && self.temp.is_none() {
            // The disk works while the body streams in; the fsync waits for less.
            self.writeback.wrote(&self.file, self.written);
        }
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        std::mem::take(&mut self.writeback).finish()?;
        let Some(temp) = &self.temp else {
            if self.fsync {
                self.file.sync_data()?;
                sync_dir(parent(&self.path))?;
            }
            return Ok(());
        };
        if self.fsync {
            self.file.sync_all()?;
        }
        fs::rename(temp, &self.path)?;
        self.temp = None;
        if self.fsync {
            sync_dir(parent(&self.path))?;
        }
        Ok(())
    }
}

impl Drop for LocalOut {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = fs::remove_file(temp);
        }
    }
}

struct LocalIn {
    file: File,
    size: u64,
}

impl ShardIn for LocalIn {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_goes_in_place_or_leaves_nothing() {
        let root = std::env::temp_dir().join(format!("drive-io-{}", uuid::Uuid::new_v4()));
        fs::create_dir(&root).unwrap();
        let drive = LocalDrive::new(root.clone());
        let rel = Path::new("ab/shard");
        let mut out = drive.create(rel, true).unwrap();
        out.append(b"old").unwrap();
        out.commit().unwrap();

        for fsync in [false, true] {
            let mut new = drive.create_replacement(rel, fsync).unwrap();
            new.append(b"new!").unwrap();
            drop(new);
            assert_eq!(fs::read_dir(root.join("ab")).unwrap().count(), 1);
            assert_eq!(drive.len(rel).unwrap(), 3);
        }
        let mut new = drive.create_replacement(rel, true).unwrap();
        new.append(b"new!").unwrap();
        new.commit().unwrap();
        drop(new);
        let mut input = drive.open(rel).unwrap();
        let mut buf = [0; 3];
        input.read_exact_at(&mut buf, 1).unwrap();
        assert_eq!((input.size(), &buf), (4, b"ew!"));
        assert!(input.read_exact_at(&mut buf, 2).is_err());
        drive.remove(rel).unwrap();
        assert_eq!(fs::read_dir(root.join("ab")).unwrap().count(), 0);

        // The drive's own folder is never created.
        assert!(drive.create(Path::new("gone/cd/shard"), false).is_err());
        assert_eq!(parent(Path::new("part.1")), Path::new("."));
        fs::remove_dir_all(&root).unwrap();
    }
}
