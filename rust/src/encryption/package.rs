//! The format of sealed bytes: a stream (an object, or each part of a multipart
//! object) is cut into packages of 64 KiB of plaintext, each AES-256-GCM encrypted and
//! authenticated on its own, so a range read decrypts only the packages it touches:
//!
//! `nonce (12) ‖ ciphertext (≤ 64 KiB) ‖ tag (16)`
//!
//! The associated data binds each package to its place (index in its stream, and
//! whether it is the last), so a package moved, dropped or cut off fails to open.
//! Nonces are a random 8-byte prefix per stream and a package counter: unique per data
//! key however many times a part is uploaded again.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Plaintext bytes per package.
pub const PACKAGE: u64 = 64 * 1024;
const TAG_LEN: usize = 16;
/// Bytes of nonce at the start of each package.
pub const NONCE: usize = NONCE_LEN;
/// Stored bytes per package beyond its plaintext.
pub const OVERHEAD: u64 = (NONCE_LEN + TAG_LEN) as u64;
const STORED_PACKAGE: u64 = PACKAGE + OVERHEAD;

/// The stored length of `plain` bytes.
pub fn stored_len(plain: u64) -> u64 {
    plain + OVERHEAD * plain.div_ceil(PACKAGE)
}

/// The plaintext length of `stored` bytes (the inverse of `stored_len`).
pub fn plain_len(stored: u64) -> u64 {
    stored - OVERHEAD * stored.div_ceil(STORED_PACKAGE)
}

/// An object's data key, ready to seal and open packages.
pub struct DataKey(LessSafeKey);

impl DataKey {
    pub fn new(bytes: &[u8; 32]) -> Self {
        DataKey(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key"),
        ))
    }
}

fn aad(index: u64, last: bool) -> [u8; 9] {
    let mut aad = [0u8; 9];
    aad[..8].copy_from_slice(&index.to_be_bytes());
    aad[8] = last as u8;
    aad
}

/// Seals one stream as its plaintext arrives (a `ByteFilter` for a writer).
pub struct Sealer {
    key: std::sync::Arc<DataKey>,
    prefix: [u8; 8],
    index: u64,
    pending: Vec<u8>,
}

impl Sealer {
    pub fn new(key: std::sync::Arc<DataKey>) -> Self {
        let mut prefix = [0u8; 8];
        SystemRandom::new()
            .fill(&mut prefix)
            .expect("the system's random source");
        Sealer {
            key,
            prefix,
            index: 0,
            pending: Vec::with_capacity(PACKAGE as usize),
        }
    }

    /// Seals a whole stream at once.
    pub fn seal_all(key: std::sync::Arc<DataKey>, plain: &[u8]) -> Vec<u8> {
        let mut sealer = Sealer::new(key);
        let mut out = Vec::with_capacity(stored_len(plain.len() as u64) as usize);
        sealer.push(plain, &mut out);
        sealer.end(&mut out);
        out
    }

    /// Seals every full package of `input` but the last (which may turn out to be the
    /// stream's last), holding the rest back.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        let full = PACKAGE as usize;
        while !input.is_empty() {
            if self.pending.len() == full {
                self.seal_pending(false, out);
            }
            let take = (full - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
    }

    /// Seals what is held back as the last package.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            self.seal_pending(true, out);
        }
    }

    fn seal_pending(&mut self, last: bool, out: &mut Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.prefix);
        let counter = u32::try_from(self.index).expect("under 2^32 packages per stream");
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(&self.pending);
        let tag = self
            .key
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(self.index, last)),
                &mut out[start..],
            )
            .expect("sealing cannot fail below the size limit");
        out.extend_from_slice(tag.as_ref());
        self.pending.clear();
        self.index += 1;
    }
}

impl crate::storage::interface::ByteFilter for Sealer {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        self.push(input, out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.end(out);
        Ok(())
    }
}

/// Opens the stored package at `buf[at..at + stored]` in place, moving its plaintext
/// to `buf[to..]` (`to <= at`: packages opened one after another end up contiguous).
/// Answers the plaintext length, or `None` when the package fails authentication.
pub fn open_package(
    key: &DataKey,
    buf: &mut [u8],
    (at, stored, to): (usize, usize, usize),
    index: u64,
    last: bool,
) -> Option<usize> {
    if stored < OVERHEAD as usize || to > at {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&buf[at..at + NONCE_LEN]).ok()?;
    let sealed = (at + NONCE_LEN - to)..;
    let plain = key
        .0
        .open_within(
            nonce,
            Aad::from(aad(index, last)),
            &mut buf[to..at + stored],
            sealed,
        )
        .ok()?;
    Some(plain.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn package_len(plain: u64, index: u64) -> u64 {
        (plain - index * PACKAGE).min(PACKAGE)
    }

    fn key() -> Arc<DataKey> {
        Arc::new(DataKey::new(&[7u8; 32]))
    }

    #[test]
    fn lengths_invert() {
        for plain in [
            0,
            1,
            100,
            PACKAGE - 1,
            PACKAGE,
            PACKAGE + 1,
            5 * PACKAGE,
            5 * PACKAGE + 3,
        ] {
            assert_eq!(plain_len(stored_len(plain)), plain, "{plain}");
        }
        assert_eq!(stored_len(0), 0);
        assert_eq!(stored_len(1), 1 + OVERHEAD);
    }

    #[test]
    fn seals_and_opens_every_package() {
        let plain: Vec<u8> = (0..(3 * PACKAGE + 10)).map(|i| i as u8).collect();
        let mut stored = Sealer::seal_all(key(), &plain);
        assert_eq!(stored.len() as u64, stored_len(plain.len() as u64));
        let k = key();
        let mut got = Vec::new();
        let count = (plain.len() as u64).div_ceil(PACKAGE);
        let mut rest = stored.as_mut_slice();
        for index in 0..count {
            let n = (package_len(plain.len() as u64, index) + OVERHEAD) as usize;
            let (pkg, tail) = rest.split_at_mut(n);
            let len = open_package(&k, pkg, (0, n, 0), index, index + 1 == count).unwrap();
            got.extend_from_slice(&pkg[..len]);
            rest = tail;
        }
        assert_eq!(got, plain);
    }

    #[test]
    fn a_flipped_byte_or_a_moved_package_fails() {
        let plain = vec![1u8; (2 * PACKAGE) as usize];
        let stored = Sealer::seal_all(key(), &plain);
        let n = STORED_PACKAGE as usize;
        let mut flipped = stored.clone();
        flipped[20] ^= 1;
        assert!(open_package(&key(), &mut flipped, (0, n, 0), 0, false).is_none());
        let mut second = stored[n..].to_vec();
        let whole = (0, second.len(), 0);
        // the second package read as the first, or as not the last
        assert!(open_package(&key(), &mut second.clone(), whole, 0, false).is_none());
        assert!(open_package(&key(), &mut second.clone(), whole, 1, false).is_none());
        assert!(open_package(&key(), &mut second, whole, 1, true).is_some());
        // opened in place at an offset, its plaintext moves to the front
        let mut both = stored.clone();
        assert_eq!(
            open_package(&key(), &mut both, (0, n, 0), 0, false),
            Some(PACKAGE as usize)
        );
        let rest = (n, both.len() - n, PACKAGE as usize);
        assert_eq!(
            open_package(&key(), &mut both, rest, 1, true),
            Some(PACKAGE as usize)
        );
        assert_eq!(&both[..2 * PACKAGE as usize], &plain[..]);
    }
}
