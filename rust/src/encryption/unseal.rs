//! Reading a sealed object: a plaintext range becomes the stored range of the packages
//! that hold it (one contiguous run, across parts too), each opened as it arrives.
//! A package that fails to open ends the stream with an error: altered bytes are
//! never returned.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::package::{self, DataKey, OVERHEAD, PACKAGE};
use crate::storage::interface::{ByteStream, Content, StreamSource};

pub struct Unsealing {
    stored: Content,
    key: Arc<DataKey>,
    /// Plaintext length of each sealed stream (the parts, or the whole object).
    parts: Vec<u64>,
}

impl Unsealing {
    pub fn new(stored: Content, key: Arc<DataKey>, parts: Vec<u64>) -> Self {
        Unsealing { stored, key, parts }
    }
}

/// One package to open, and the plaintext of it to return.
struct Package {
    index: u64,
    last: bool,
    stored: usize,
    skip: usize,
    take: usize,
}

/// Walks the packages of a plaintext range, part by part.
struct Cursor {
    parts: Vec<u64>,
    part: usize,
    /// Plaintext offset in the current part, at a package boundary.
    offset: u64,
    skip: u64,
    remaining: u64,
}

impl Cursor {
    /// The cursor at `start`, and the stored offset of its first package.
    fn at(parts: Vec<u64>, start: u64, len: u64) -> (Cursor, u64) {
        let (mut part, mut base, mut stored_base) = (0, 0, 0);
        while part < parts.len() && start >= base + parts[part] {
            base += parts[part];
            stored_base += package::stored_len(parts[part]);
            part += 1;
        }
        let within = start - base;
        let offset = within / PACKAGE * PACKAGE;
        let stored_start = stored_base + package::stored_len(offset);
        let cursor = Cursor {
            parts,
            part,
            offset,
            skip: within - offset,
            remaining: len,
        };
        (cursor, stored_start)
    }

    fn next(&mut self) -> Option<Package> {
        if self.remaining == 0 {
            return None;
        }
        while self.part < self.parts.len() && self.offset >= self.parts[self.part] {
            self.part += 1;
            self.offset = 0;
        }
        let size = *self.parts.get(self.part)?;
        let plain = (size - self.offset).min(PACKAGE);
        let take = (plain - self.skip).min(self.remaining);
        let package = Package {
            index: self.offset / PACKAGE,
            last: self.offset + plain == size,
            stored: (plain + OVERHEAD) as usize,
            skip: self.skip as usize,
            take: take as usize,
        };
        self.remaining -= take;
        self.skip = 0;
        self.offset += plain;
        Some(package)
    }

    /// The stored bytes from the cursor's first package to the end of its last.
    fn stored_len(&self) -> u64 {
        let mut probe = Cursor {
            parts: self.parts.clone(),
            ..*self
        };
        let mut total = 0;
        while let Some(p) = probe.next() {
            total += p.stored as u64;
        }
        total
    }
}

struct State {
    stored: ByteStream,
    buffer: BytesMut,
    cursor: Cursor,
    key: Arc<DataKey>,
    failed: bool,
}

fn tampered() -> std::io::Error {
    std::io::Error::other("an encrypted object's stored bytes fail authentication")
}

impl StreamSource for Unsealing {
    fn stream(self: Box<Self>, start: u64, len: u64) -> ByteStream {
        let (cursor, stored_start) = Cursor::at(self.parts, start, len);
        let stored_len = cursor.stored_len();
        let state = State {
            stored: self.stored.stream(stored_start, stored_len),
            buffer: BytesMut::new(),
            cursor,
            key: self.key,
            failed: false,
        };
        Box::pin(futures_util::stream::unfold(state, |mut s| async move {
            if s.failed {
                return None;
            }
            let package = s.cursor.next()?;
            while s.buffer.len() < package.stored {
                match s.stored.next().await {
                    Some(Ok(chunk)) => s.buffer.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        s.failed = true;
                        return Some((Err(e), s));
                    }
                    None => {
                        s.failed = true;
                        return Some((Err(tampered()), s));
                    }
                }
            }
            let mut sealed = s.buffer.split_to(package.stored);
            let opened = package::open_package(&s.key, &mut sealed, package.index, package.last)
                .map(|plain| plain.len());
            match opened {
                Some(_) => {
                    let start = package::NONCE + package.skip;
                    let plain: Bytes = sealed.freeze().slice(start..start + package.take);
                    Some((Ok(plain), s))
                }
                None => {
                    crate::log::warn("an encrypted object failed authentication on read");
                    s.failed = true;
                    Some((Err(tampered()), s))
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::package::Sealer;

    async fn read(parts: &[Vec<u8>], start: u64, len: u64) -> std::io::Result<Vec<u8>> {
        let key = Arc::new(DataKey::new(&[1u8; 32]));
        let stored: Vec<u8> = parts
            .iter()
            .flat_map(|p| Sealer::seal_all(key.clone(), p))
            .collect();
        let sizes = parts.iter().map(|p| p.len() as u64).collect();
        let source = Box::new(Unsealing::new(
            Content::loaded(vec![Bytes::from(stored)]),
            key,
            sizes,
        ));
        let mut out = Vec::new();
        let mut stream = source.stream(start, len);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn any_range_across_packages_and_parts() {
        let a: Vec<u8> = (0..(2 * PACKAGE + 7)).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..(PACKAGE + 1)).map(|i| (i % 13) as u8).collect();
        let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        let parts = vec![a, b];
        let n = whole.len() as u64;
        for (start, len) in [
            (0, n),
            (5, 10),
            (PACKAGE - 3, 6),
            (2 * PACKAGE, 10),
            (2 * PACKAGE + 5, PACKAGE),
            (n - 1, 1),
        ] {
            let got = read(&parts, start, len).await.unwrap();
            assert_eq!(
                got,
                &whole[start as usize..(start + len) as usize],
                "{start}+{len}"
            );
        }
    }
}
