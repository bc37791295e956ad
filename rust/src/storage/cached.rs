//! File reads that never wait for the disk, for the async threads.
//!
//! A small GET whose names and bytes are all in the kernel's caches is served where
//! the request runs, without a trip to the blocking pool: on a VM that trip's two
//! context switches cost more than the reads (4 KiB GET: 87 → 59 µs of server CPU).
//! Every call here fails with `WouldBlock` where the ordinary call could wait: a
//! path not in the dentry cache (`openat2` with `RESOLVE_CACHED`, Linux 5.12), bytes
//! not in the page cache (`preadv2` with `RWF_NOWAIT`), and on kernels without those
//! flags. The caller then does the whole read on the blocking pool as before.
//! On tmpfs and ramfs, which refuse `RWF_NOWAIT`, the page cache is where the bytes
//! live, so a plain read is what never waits (`Reads::Memory`; a swapped-out page is
//! the exception).
//! Files are opened `O_NOATIME`, so a read never waits on the journal for an atime.

use std::fs::File;
use std::io::{Error, ErrorKind, Result};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cleared for good once the kernel refuses one of the flags.
static SUPPORTED: AtomicBool = AtomicBool::new(true);

fn would_block() -> Error {
    ErrorKind::WouldBlock.into()
}

/// A syscall's error: "would have waited" and "this kernel cannot say" both become
/// `WouldBlock` (the second for good); anything else is left for the ordinary call
/// to meet and report.
fn failed(unsupported: &[i32]) -> Error {
    let e = Error::last_os_error();
    if e.raw_os_error()
        .is_some_and(|code| unsupported.contains(&code))
    {
        SUPPORTED.store(false, Ordering::Relaxed);
    }
    would_block()
}

fn openat2(path: &Path, flags: i32) -> Result<File> {
    if !SUPPORTED.load(Ordering::Relaxed) {
        return Err(would_block());
    }
    let mut name = path.as_os_str().as_bytes().to_vec();
    name.push(0);
    // SAFETY: open_how is plain integers, for which all zeroes is valid (and what the
    // kernel expects of fields it has and this code does not set).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_CACHED;
    // SAFETY: `name` is NUL-terminated and `how` is a valid open_how of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(failed(&[libc::ENOSYS, libc::EINVAL, libc::E2BIG]));
    }
    // SAFETY: the kernel just gave us this descriptor, and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd as RawFd) })
}

/// Opens a file for reading, if its path resolves from the dentry cache.
pub fn open(path: &Path) -> Result<File> {
    openat2(path, libc::O_RDONLY | libc::O_NOATIME)
}

/// How a store's files are read without waiting, by the file system they are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// `RWF_NOWAIT`: what the page cache holds, or `WouldBlock`.
    NoWait,
    /// A file system in memory (tmpfs, ramfs): plain reads.
    Memory,
}

impl Reads {
    /// The way for files under `root`.
    pub fn for_root(root: &Path) -> Reads {
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        const RAMFS_MAGIC: i64 = 0x8584_58f6;
        match super::filesystem_type(root) {
            Some(TMPFS_MAGIC | RAMFS_MAGIC) => Reads::Memory,
            _ => Reads::NoWait,
        }
    }
}

/// Reads into `buf` at `offset` what the page cache holds (maybe less than asked).
fn read_at(file: &File, buf: &mut [u8], offset: u64, reads: Reads) -> Result<usize> {
    if reads == Reads::Memory {
        return std::os::unix::fs::FileExt::read_at(file, buf, offset);
    }
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, which outlives the call. On 64-bit targets the
    // offset goes whole in `pos_l` and `pos_h` is 0.
    let n = unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            file.as_raw_fd(),
            &iov as *const libc::iovec,
            1,
            offset as libc::c_long,
            0 as libc::c_long,
            libc::RWF_NOWAIT,
        )
    };
    if n < 0 {
        return Err(failed(&[libc::ENOSYS, libc::EOPNOTSUPP, libc::EINVAL]));
    }
    Ok(n as usize)
}

/// Fills `buf` from `offset`, all from the page cache; `UnexpectedEof` if the file
/// ends first.
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64, reads: Reads) -> Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset, reads)? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// The whole of a small file, all from the page cache.
pub fn read(path: &Path, reads: Reads) -> Result<Vec<u8>> {
    let file = open(path)?;
    let mut out = vec![0u8; file.metadata()?.len() as usize];
    read_exact_at(&file, &mut out, 0, reads)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn evict(file: &File) {
        file.sync_all().unwrap();
        // SAFETY: a valid descriptor; the advice only drops clean cached pages.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn reads_what_the_cache_holds_and_refuses_what_it_does_not() {
        let dir = std::env::temp_dir().join(format!("cached-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("object");
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&body).unwrap();

        let reads = Reads::for_root(&dir);
        assert!(read(&dir.join("missing"), reads).is_err());
        assert_eq!(read(&path, reads).unwrap(), body);
        let mut part = vec![0u8; 100];
        let short = read_exact_at(&open(&path).unwrap(), &mut part, 9_950, reads).unwrap_err();
        assert_eq!(short.kind(), ErrorKind::UnexpectedEof);
        read_exact_at(&open(&path).unwrap(), &mut part, 9_900, reads).unwrap();
        assert_eq!(part, body[9_900..]);
        assert!(
            SUPPORTED.load(Ordering::Relaxed),
            "this kernel has both flags"
        );

        // Dropped from the page cache, the read would wait for the disk: it refuses.
        let file = open(&path).unwrap();
        evict(&file);
        let evicted = read_exact_at(&file, &mut part, 0, reads);
        std::fs::remove_dir_all(&dir).unwrap();
        match evicted {
            Ok(()) => eprintln!("skipped: this file system keeps the pages cached"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        }
    }

    #[test]
    fn files_in_memory_are_read_plainly_and_keep_the_flags_in_use() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            return eprintln!("skipped: no /dev/shm");
        }
        assert_eq!(Reads::for_root(shm), Reads::Memory);
        let path = shm.join(format!("cached-{}", std::process::id()));
        File::create(&path)
            .unwrap()
            .write_all(b"in memory")
            .unwrap();
        let got = read(&path, Reads::Memory);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got.unwrap(), b"in memory");
        // tmpfs refuses RWF_NOWAIT; reading it plainly must not switch the flags off
        // for every other file.
        assert!(SUPPORTED.load(Ordering::Relaxed));
    }
}
