//! Object bytes that go from the page cache to a plain-HTTP socket without a copy
//! through this process.
//!
//! Storage hands a file's bytes on as `Bytes` over a memory map of the file
//! ([`window`]), and remembers which file and offset each mapping shows. hyper writes a
//! response body as the `Bytes` it was given (vectored writes, no copy), so when
//! [`SendfileStream`] is asked to write a slice that lies inside such a mapping it
//! sends those bytes with `sendfile(2)` from the file instead: the kernel then hands
//! page-cache pages to the socket and nobody copies them. Anything else written
//! (headers, small bodies, TLS records) goes out with an ordinary write.
//!
//! This is only correct because a mapped file never changes: storage never writes or
//! truncates a committed data file (a new version is a new file renamed into place), so
//! the file holds exactly the bytes the mapping shows for as long as it is mapped, even
//! while the object is overwritten or deleted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// `len` bytes of `file` from `offset` as `Bytes` over a memory map of the file. The
/// bytes are in the page cache on return (read in here, on the caller's thread, when
/// they were not), so sending them later does not wait for the disk; a file shorter
/// than `offset + len` is an error. The mapping lasts until the `Bytes` and every
/// slice of it are dropped.
pub fn window(file: &Arc<File>, offset: u64, len: u64) -> io::Result<Bytes> {
    map_window(file, offset, len, true).map(|window| window.expect("read in"))
}

/// `window`, if its bytes are all in the page cache already: `None` where reading
/// them in would wait for the disk. For the async threads.
pub fn cached_window(file: &Arc<File>, offset: u64, len: u64) -> io::Result<Option<Bytes>> {
    map_window(file, offset, len, false)
}

fn map_window(file: &Arc<File>, offset: u64, len: u64, read_in: bool) -> io::Result<Option<Bytes>> {
    // A file cut short from outside: a mapping past its end would read zeros or fault.
    if file.metadata()?.len() < offset + len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let lead = offset % page_size();
    let map_len = (lead + len) as usize;
    // SAFETY: storage never writes or truncates a committed data file (see the module
    // comment), so the mapped bytes cannot change while mapped. A file cut short from
    // outside fails the size check above; one cut short after it would fault a reader
    // of the mapping in user space (TLS encryption), as it would any program's.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset - lead)
            .len(map_len)
            .map(&**file)?
    };
    if !all_resident(&map) {
        if !read_in {
            return Ok(None);
        }
        read_into_cache(&map)?;
    }
    let base = map.as_ptr() as usize;
    let region = Region {
        len: map_len,
        fd: file.as_raw_fd(),
        file_offset: offset - lead,
    };
    regions()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(base, region);
    let mapped = Mapped {
        map,
        _file: file.clone(),
    };
    Ok(Some(
        Bytes::from_owner(mapped).slice(lead as usize..map_len),
    ))
}

/// Whether every page of the mapped range is in the page cache (the common case),
/// checked without touching the pages.
fn all_resident(map: &memmap2::Mmap) -> bool {
    let pages = map.len().div_ceil(page_size() as usize);
    let mut resident = vec![0u8; pages];
    // SAFETY: the range is exactly the live mapping, and `resident` has one byte per page.
    let rc = unsafe { libc::mincore(map.as_ptr() as *mut _, map.len(), resident.as_mut_ptr()) };
    rc == 0 && resident.iter().all(|page| page & 1 == 1)
}

/// Reads the mapped range into the page cache.
fn read_into_cache(map: &memmap2::Mmap) -> io::Result<()> {
    match map.advise(memmap2::Advice::PopulateRead) {
        // Linux before 5.14 has no MADV_POPULATE_READ.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            touch_pages(map);
            Ok(())
        }
        done => done,
    }
}

/// Faults every page of `map` in by reading a byte of it.
fn touch_pages(map: &memmap2::Mmap) {
    for at in (0..map.len()).step_by(page_size() as usize) {
        std::hint::black_box(map[at]);
    }
}

/// The owner of a window's bytes: the mapping, and the file kept open for `sendfile`.
struct Mapped {
    map: memmap2::Mmap,
    _file: Arc<File>,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        let base = self.map.as_ptr() as usize;
        regions()
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&base);
    }
}

/// A live mapping: which file, from which offset, it shows.
struct Region {
    len: usize,
    fd: RawFd,
    file_offset: u64,
}

/// Live mappings by start address. An address is in at most one of them, and only
/// while that mapping exists, so an address found here shows that file's bytes.
fn regions() -> &'static RwLock<BTreeMap<usize, Region>> {
    static REGIONS: RwLock<BTreeMap<usize, Region>> = RwLock::new(BTreeMap::new());
    &REGIONS
}

/// Where the bytes of `slice` lie in a file, if they lie in a live mapping: the file
/// descriptor, the offset, and how many of the slice's bytes the mapping holds.
fn in_file(slice: &[u8]) -> Option<(RawFd, u64, usize)> {
    let at = slice.as_ptr() as usize;
    let regions = regions().read().unwrap_or_else(|e| e.into_inner());
    let (&base, region) = regions.range(..=at).next_back()?;
    let into = at - base;
    (into < region.len).then(|| {
        let len = slice.len().min(region.len - into);
        (region.fd, region.file_offset + into as u64, len)
    })
}

fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64)
}

/// A plain TCP connection that sends slices of [`window`]s with `sendfile(2)`.
pub struct SendfileStream {
    inner: TcpStream,
}

impl SendfileStream {
    pub fn new(inner: TcpStream) -> Self {
        SendfileStream { inner }
    }

    /// Sends up to `len` bytes of `fd` from `offset`, waiting until the socket can take some.
    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        fd: RawFd,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let socket = self.inner.as_raw_fd();
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            let sent = self.inner.try_io(Interest::WRITABLE, || {
                let mut off = offset as libc::off_t;
                // SAFETY: both descriptors are open (the window's owner keeps the file
                // open while hyper holds the slice being written), `off` is a valid pointer.
                let n = unsafe { libc::sendfile(socket, fd, &mut off, len) };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(n as usize)
            });
            match sent {
                // The file ended before the mapping did: it was cut short from outside.
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Writes the leading slices that are not in a file with one ordinary vectored
    /// write, or, when the first one is, sends from the file.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let (mut plain, mut plain_bytes) = (0, 0);
        for buf in bufs {
            if !buf.is_empty() {
                if let Some((fd, offset, len)) = in_file(buf) {
                    if plain_bytes == 0 {
                        return self.poll_sendfile(cx, fd, offset, len);
                    }
                    break;
                }
                plain_bytes += buf.len();
            }
            plain += 1;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, &bufs[..plain])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An open file holding `bytes`, its name removed already.
    fn file_of(bytes: &[u8]) -> Arc<File> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("file-bytes-{}-{n}", std::process::id()));
        File::create(&path).unwrap().write_all(bytes).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Arc::new(file)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4093) as u8).collect()
    }

    #[test]
    fn a_window_shows_the_file_range_and_is_known_until_dropped() {
        let data = pattern(3 * 4096 + 100);
        let file = file_of(&data);
        let window = window(&file, 5000, 7000).unwrap();
        assert_eq!(&window[..], &data[5000..12000]);
        let (_, offset, len) = in_file(&window[10..]).unwrap();
        assert_eq!((offset, len), (5010, 6990));
        let address = window.as_ptr() as usize;
        drop(window);
        assert!(
            !regions()
                .read()
                .unwrap()
                .contains_key(&(address - 5000 % 4096))
        );
    }

    fn resident_pages(map: &memmap2::Mmap) -> usize {
        let mut resident = vec![0u8; map.len().div_ceil(page_size() as usize)];
        // SAFETY: as in make_resident.
        let rc = unsafe { libc::mincore(map.as_ptr() as *mut _, map.len(), resident.as_mut_ptr()) };
        assert_eq!(rc, 0);
        resident.iter().filter(|page| *page & 1 == 1).count()
    }

    #[test]
    fn touching_pages_reads_them_in() {
        let data = pattern(5 * 4096 + 1);
        let file = file_of(&data);
        // Written out and dropped from the page cache (where the file system allows it).
        file.sync_all().unwrap();
        // SAFETY: an open descriptor; the call only advises the kernel.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        // SAFETY: a private test file nobody writes.
        let map = unsafe { memmap2::MmapOptions::new().map(&*file).unwrap() };
        if resident_pages(&map) == 6 {
            eprintln!("skipped: this file system keeps the pages cached");
            return;
        }
        touch_pages(&map);
        assert_eq!(resident_pages(&map), 6);
        assert_eq!(&map[..], &data[..]);
    }

    #[test]
    fn a_window_past_the_end_of_the_file_is_an_error() {
        let file = file_of(&pattern(4096));
        let err = window(&file, 0, 4097).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn memory_outside_every_window_is_not_in_a_file() {
        assert!(in_file(&pattern(100)).is_none());
    }

    #[tokio::test]
    async fn sendfile_stream_writes_headers_and_windows_in_order() {
        let data = pattern(5 * 1024 * 1024 + 17);
        let file = file_of(&data);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut stream = SendfileStream::new(tokio::net::TcpStream::connect(addr).await.unwrap());
        let body = window(&file, 17, data.len() as u64 - 17).unwrap();
        let mut head = b"head:".to_vec();
        let mut rest = body.clone();
        // Mixed slices, as hyper queues them: plain bytes, then a window.
        while !head.is_empty() || !rest.is_empty() {
            let slices = [IoSlice::new(&head), IoSlice::new(&rest)];
            let n =
                std::future::poll_fn(|cx| Pin::new(&mut stream).poll_write_vectored(cx, &slices))
                    .await
                    .unwrap();
            let from_head = n.min(head.len());
            head.drain(..from_head);
            bytes::Buf::advance(&mut rest, n - from_head);
        }
        stream.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..5], b"head:");
        assert!(
            got[5..] == data[17..],
            "the sent body differs from the file"
        );
    }
}
