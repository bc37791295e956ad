//! Reused buffers for bytes on their way to the socket. A body read for a GET goes
//! out as `Bytes` that own their buffer; when hyper has written one, its buffer comes
//! back here instead of being freed. A fresh half-megabyte allocation costs page
//! faults and zeroing on every chunk (several percent of a large GET's CPU).

use bytes::Bytes;
use std::ops::Range;
use std::sync::Mutex;

/// Buffers shorter than this are plain allocations: the allocator serves them from
/// its own free lists, and a pool of them would only hold memory.
const POOLED_MIN: usize = 64 * 1024;
/// Buffers kept for reuse. Callers take up to about a megabyte (a shard frame of a
/// 1+M layout), so the pool holds at most about 32 MiB.
const POOLED_MAX: usize = 32;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of `len` bytes (contents unspecified), from the pool when `len` is
/// large enough to be pooled and one is free.
pub fn take(len: usize) -> Vec<u8> {
    if len < POOLED_MIN {
        return vec![0; len];
    }
    let mut buf = POOL
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .unwrap_or_default();
    buf.resize(len, 0);
    buf
}

/// `buf[range]` as `Bytes` without a copy; the buffer returns to the pool once every
/// slice of it has been dropped.
pub fn into_bytes(buf: Vec<u8>, range: Range<usize>) -> Bytes {
    if buf.capacity() < POOLED_MIN {
        return Bytes::from(buf).slice(range);
    }
    Bytes::from_owner(Pooled(buf)).slice(range)
}

struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED_MAX {
            pool.push(std::mem::take(&mut self.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_see_their_bytes_and_buffers_come_back() {
        let mut buf = take(POOLED_MIN * 2);
        assert_eq!(buf.len(), POOLED_MIN * 2);
        buf[10..14].copy_from_slice(b"abcd");
        let ptr = buf.as_ptr();
        let bytes = into_bytes(buf, 10..14);
        assert_eq!(&bytes[..], b"abcd");
        let twin = bytes.clone();
        drop(bytes);
        assert_eq!(&twin[..], b"abcd");
        drop(twin);
        // Other tests share the pool: look for the buffer rather than expect it on top.
        let pool = POOL.lock().unwrap();
        assert!(pool.iter().any(|b| b.as_ptr() == ptr));
    }

    #[test]
    fn small_buffers_are_exact_and_unpooled() {
        let buf = take(100);
        assert_eq!(buf.len(), 100);
        let bytes = into_bytes(buf, 0..100);
        assert_eq!(bytes.len(), 100);
    }
}
