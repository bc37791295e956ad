//! Reading a sealed object: a plaintext range becomes the stored range of the packages
//! that hold it (one contiguous run, across parts too), opened a few packages at a time
//! where they are read (the file reader's thread), each batch going out as one buffer.
//! A package that fails to open ends the stream with an error: altered bytes are
//! never returned.

use std::ops::Range;
use std::sync::Arc;

use super::package::{self, DataKey, OVERHEAD, PACKAGE};
use crate::storage::interface::{ByteStream, Content, RunDecoder, StreamSource};

/// Packages opened per run: half a megabyte of plaintext, the size of a file read.
const RUN_PACKAGES: usize = 8;

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

/// The part holding plaintext position `pos` (the one it ends when `ending`), its
/// plaintext start, and its stored start.
fn part_at(parts: &[u64], pos: u64, ending: bool) -> (usize, u64, u64) {
    let (mut part, mut base, mut stored_base) = (0, 0, 0);
    while part < parts.len() && (pos > base + parts[part] || (!ending && pos == base + parts[part]))
    {
        base += parts[part];
        stored_base += package::stored_len(parts[part]);
        part += 1;
    }
    (part, base, stored_base)
}

impl Cursor {
    /// The cursor over `len` bytes from `start`, and the stored range of its packages.
    fn at(parts: Vec<u64>, start: u64, len: u64) -> (Cursor, Range<u64>) {
        let (part, base, stored_base) = part_at(&parts, start, false);
        let within = start - base;
        let offset = within / PACKAGE * PACKAGE;
        let stored_start = stored_base + package::stored_len(offset);
        let (end_part, end_base, end_stored_base) = part_at(&parts, start + len, true);
        let stored_end = match parts.get(end_part) {
            Some(&size) => {
                let within = (start + len - end_base).div_ceil(PACKAGE) * PACKAGE;
                end_stored_base + package::stored_len(within.min(size))
            }
            None => end_stored_base,
        };
        let cursor = Cursor {
            parts,
            part,
            offset,
            skip: within - offset,
            remaining: len,
        };
        (cursor, stored_start..stored_end.max(stored_start))
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
}

/// Opens runs of packages, moving their plaintext together.
struct Opener {
    cursor: Cursor,
    key: Arc<DataKey>,
    run: Vec<Package>,
}

fn tampered() -> std::io::Error {
    crate::log::warn("an encrypted object failed authentication on read");
    std::io::Error::other("an encrypted object's stored bytes fail authentication")
}

impl RunDecoder for Opener {
    fn next_run(&mut self) -> Option<usize> {
        self.run.clear();
        while self.run.len() < RUN_PACKAGES {
            match self.cursor.next() {
                Some(package) => self.run.push(package),
                None => break,
            }
        }
        let len = self.run.iter().map(|p| p.stored).sum();
        (len > 0).then_some(len)
    }

    fn decode(&mut self, run: &mut [u8]) -> std::io::Result<Range<usize>> {
        let (mut at, mut end) = (0, 0);
        let start = self.run.first().map_or(0, |p| p.skip);
        for p in &self.run {
            // Only a run's first package skips any plaintext: each opens where the
            // plaintext kept so far ends.
            let place = (at, p.stored, end);
            if package::open_package(&self.key, run, place, p.index, p.last).is_none() {
                return Err(tampered());
            }
            end += p.skip + p.take;
            at += p.stored;
        }
        Ok(start..end)
    }
}

impl StreamSource for Unsealing {
    fn stream(self: Box<Self>, start: u64, len: u64) -> ByteStream {
        let (cursor, stored) = Cursor::at(self.parts, start, len);
        let opener = Opener {
            cursor,
            key: self.key,
            run: Vec::with_capacity(RUN_PACKAGES),
        };
        self.stored
            .decode(stored.start, stored.end, Box::new(opener))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::package::Sealer;
    use bytes::Bytes;
    use futures_util::StreamExt;

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
        let b: Vec<u8> = (0..(RUN_PACKAGES as u64 * PACKAGE + PACKAGE + 1))
            .map(|i| (i % 13) as u8)
            .collect();
        let a_len = a.len() as u64;
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
            (a_len - 1, 2),
            (0, a_len),
            (a_len, n - a_len),
            (PACKAGE + 1, n - PACKAGE - 2),
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
