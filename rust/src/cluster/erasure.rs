//! Reed-Solomon layout of an object over K data + M parity shard files.
//!
//! An object is cut into blocks of `block_size` object bytes (the last one
//! shorter). Block `b` is split into K data shards of `shard_len(block_len)`
//! bytes each (data shard `i` holds block bytes `[i*shard_len, (i+1)*shard_len)`,
//! zero-padded), and M parity shards are computed from them. Shard `i` of every
//! block is appended to shard file `i` as a bitrot frame (see `bitrot`), so a
//! shard file's length follows from (object size, K, block size) alone.

use crate::cluster::bitrot::HASH_LEN;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Object bytes per block.
pub const BLOCK_SIZE: usize = 1 << 20;

/// Shard blocks are rounded up to this many bytes. reed-solomon-simd 3 only
/// needs an even length, but multiples of 64 keep the SIMD kernels on their
/// fast path and are the one length every version of the crate encodes alike.
pub const SHARD_ALIGN: usize = 64;

/// How objects are cut into shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    pub data: usize,
    pub parity: usize,
    pub block_size: usize,
}

impl Layout {
    pub fn new(data: usize, parity: usize) -> Layout {
        Layout::with_block_size(data, parity, BLOCK_SIZE)
    }

    /// A layout with another block size (tests use small ones).
    pub fn with_block_size(data: usize, parity: usize, block_size: usize) -> Layout {
        Layout {
            data,
            parity,
            block_size,
        }
    }

    /// Whether reed-solomon-simd can code this layout.
    pub fn is_supported(&self) -> bool {
        self.data > 0
            && self.block_size > 0
            && (self.parity == 0 || ReedSolomonEncoder::supports(self.data, self.parity))
    }

    /// Data + parity shards.
    pub fn total(&self) -> usize {
        self.data + self.parity
    }

    /// Number of blocks of an object.
    pub fn blocks(&self, object_size: u64) -> u64 {
        object_size.div_ceil(self.block_size as u64)
    }

    /// Object bytes in block `block` (the last one may be shorter).
    pub fn block_len(&self, object_size: u64, block: u64) -> usize {
        let start = block * self.block_size as u64;
        object_size
            .saturating_sub(start)
            .min(self.block_size as u64) as usize
    }

    /// Bytes of each shard of a block of `block_len` object bytes.
    pub fn shard_len(&self, block_len: usize) -> usize {
        block_len.div_ceil(self.data).next_multiple_of(SHARD_ALIGN)
    }

    /// Bytes of each frame (hash + shard) of a block of `block_len` object bytes.
    pub fn frame_len(&self, block_len: usize) -> usize {
        HASH_LEN + self.shard_len(block_len)
    }

    /// Where block `block`'s frame starts in every shard file (all frames
    /// before it are full-size).
    pub fn frame_offset(&self, block: u64) -> u64 {
        block * self.frame_len(self.block_size) as u64
    }

    /// Length of every shard file of an object of `object_size` bytes.
    pub fn shard_file_len(&self, object_size: u64) -> u64 {
        let blocks = self.blocks(object_size);
        if blocks == 0 {
            return 0;
        }
        let last = self.block_len(object_size, blocks - 1);
        self.frame_offset(blocks - 1) + self.frame_len(last) as u64
    }
}

/// Copies a block into the K data shards (all `shard_len` long), zero-padding the tail.
pub fn split(block: &[u8], data_shards: &mut [&mut [u8]]) {
    let Some(shard_len) = data_shards.first().map(|s| s.len()) else {
        return;
    };
    for (i, shard) in data_shards.iter_mut().enumerate() {
        let start = (i * shard_len).min(block.len());
        let end = ((i + 1) * shard_len).min(block.len());
        shard[..end - start].copy_from_slice(&block[start..end]);
        shard[end - start..].fill(0);
    }
}

/// Reed-Solomon coder for one layout; keeps its work space between blocks.
pub struct Codec {
    layout: Layout,
    encoder: Option<(ReedSolomonEncoder, usize)>,
    decoder: Option<(ReedSolomonDecoder, usize)>,
}

pub type CodecError = reed_solomon_simd::Error;

impl Codec {
    pub fn new(layout: Layout) -> Codec {
        Codec {
            layout,
            encoder: None,
            decoder: None,
        }
    }

    /// Computes the parity shards `shards[K..K+M]` from the data shards
    /// `shards[..K]` (all the same, even, length).
    pub fn encode(&mut self, shards: &mut [&mut [u8]]) -> Result<(), CodecError> {
        let (k, m) = (self.layout.data, self.layout.parity);
        if m == 0 {
            return Ok(());
        }
        let shard_len = shards[0].len();
        let encoder = match &mut self.encoder {
            Some((encoder, len)) if *len == shard_len => encoder,
            slot => {
                &mut slot
                    .insert((ReedSolomonEncoder::new(k, m, shard_len)?, shard_len))
                    .0
            }
        };
        for shard in &shards[..k] {
            encoder.add_original_shard(&shard[..])?;
        }
        let result = encoder.encode()?;
        for (shard, recovery) in shards[k..].iter_mut().zip(result.recovery_iter()) {
            shard.copy_from_slice(recovery);
        }
        Ok(())
    }

    /// Rebuilds every shard not marked `present` (data and parity) from K present ones.
    pub fn reconstruct(
        &mut self,
        shards: &mut [&mut [u8]],
        present: &[bool],
    ) -> Result<(), CodecError> {
        self.reconstruct_data(shards, present)?;
        if present[self.layout.data..].iter().all(|&p| p) {
            return Ok(());
        }
        self.encode(shards)
    }

    /// Rebuilds the data shards not marked `present` from K present shards
    /// (data or parity). Parity shards are left alone: [`Codec::encode`] redoes them.
    pub fn reconstruct_data(
        &mut self,
        shards: &mut [&mut [u8]],
        present: &[bool],
    ) -> Result<(), CodecError> {
        let (k, m) = (self.layout.data, self.layout.parity);
        if present[..k].iter().all(|&p| p) {
            return Ok(());
        }
        let shard_len = shards[0].len();
        let decoder = match &mut self.decoder {
            Some((decoder, len)) if *len == shard_len => decoder,
            slot => {
                &mut slot
                    .insert((ReedSolomonDecoder::new(k, m, shard_len)?, shard_len))
                    .0
            }
        };
        // Exactly K shards, data first: more would only cost copying.
        let mut given = 0;
        for (i, shard) in shards.iter().enumerate() {
            if given == k {
                break;
            }
            if !present[i] {
                continue;
            }
            if i < k {
                decoder.add_original_shard(i, &shard[..])?;
            } else {
                decoder.add_recovery_shard(i - k, &shard[..])?;
            }
            given += 1;
        }
        let result = decoder.decode()?;
        for (i, shard) in shards[..k].iter_mut().enumerate() {
            if let Some(restored) = result.restored_original(i) {
                shard.copy_from_slice(restored);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[test]
    fn shard_file_lengths() {
        let l = Layout::with_block_size(3, 1, 1000);
        assert_eq!(l.shard_len(1000), 384); // ceil(1000/3)=334 -> 384
        assert_eq!(l.shard_len(1), 64);
        assert_eq!(l.shard_file_len(0), 0);
        assert_eq!(l.shard_file_len(1), (HASH_LEN + 64) as u64);
        assert_eq!(l.shard_file_len(1000), (HASH_LEN + 384) as u64);
        assert_eq!(l.shard_file_len(1001), (2 * HASH_LEN + 384 + 64) as u64);
        assert_eq!(
            l.shard_file_len(3500),
            (4 * HASH_LEN + 3 * 384 + 192) as u64
        );
        let big = Layout::new(4, 2);
        assert_eq!(big.total(), 6);
        assert_eq!(
            big.shard_file_len(256 << 20),
            256 * (HASH_LEN as u64 + (256 << 10))
        );
        assert_eq!(big.block_len(3 * BLOCK_SIZE as u64 / 2, 1), BLOCK_SIZE / 2);
        assert!(big.is_supported());
    }

    #[test]
    fn layout_serializes() {
        let l = Layout::new(4, 2);
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Layout>(&json).unwrap(), l);
    }

    fn encoded(layout: Layout, block: &[u8]) -> Vec<Vec<u8>> {
        let len = layout.shard_len(block.len());
        let mut shards = vec![vec![0u8; len]; layout.total()];
        let mut refs: Vec<&mut [u8]> = shards.iter_mut().map(|s| &mut s[..]).collect();
        split(block, &mut refs[..layout.data]);
        Codec::new(layout).encode(&mut refs).unwrap();
        shards
    }

    #[test]
    fn split_pads_and_reconstructs_every_pair() {
        let layout = Layout::with_block_size(4, 2, 1000);
        let block = pattern(999, 7);
        let good = encoded(layout, &block);
        let joined: Vec<u8> = good[..4].concat();
        assert_eq!(&joined[..999], &block[..]);
        assert!(joined[999..].iter().all(|&b| b == 0));

        let mut codec = Codec::new(layout);
        for a in 0..6 {
            for b in a..6 {
                let mut shards = good.clone();
                let mut present = vec![true; 6];
                for lost in [a, b] {
                    present[lost] = false;
                    shards[lost].fill(0xEE);
                }
                let mut refs: Vec<&mut [u8]> = shards.iter_mut().map(|s| &mut s[..]).collect();
                codec.reconstruct(&mut refs, &present).unwrap();
                assert_eq!(shards, good, "lost {a},{b}");
            }
        }
    }

    #[test]
    fn too_few_shards_is_an_error() {
        let layout = Layout::with_block_size(2, 1, 256);
        let mut shards = encoded(layout, &pattern(256, 1));
        let mut refs: Vec<&mut [u8]> = shards.iter_mut().map(|s| &mut s[..]).collect();
        let present = [false, true, false];
        assert!(
            Codec::new(layout)
                .reconstruct_data(&mut refs, &present)
                .is_err()
        );
    }
}
