//! Checksummed records in an append-only file, shared by the intent journal
//! (`storage/journal.rs`) and the cluster's raft log (`cluster/raft/disk.rs`).
//!
//! A record is `[len u32][crc32 u32][body]`, little endian. The CRC covers a caller's
//! `salt` and then the body: the journal salts with its generation, so records left in a
//! reused file from an older generation do not read back; the raft log has none.
//! Reading stops at the first record that is torn (runs past the end), damaged (bad
//! CRC) or empty: a file written ahead with zeros ends where its zeros begin.

const HEAD: usize = 8;

/// Appends one record to `out`, its body written by `body` straight into `out`.
pub fn append(out: &mut Vec<u8>, salt: &[u8], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEAD]);
    body(out);
    let len = u32::try_from(out.len() - start - HEAD).expect("a record under 4 GiB");
    let crc = checksum(salt, &out[start + HEAD..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEAD].copy_from_slice(&crc.to_le_bytes());
}

/// The whole records at the start of `bytes`, each as (its offset, its body).
pub fn records<'a>(bytes: &'a [u8], salt: &'a [u8]) -> impl Iterator<Item = (usize, &'a [u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let head = bytes.get(pos..pos + HEAD)?;
        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(head[4..].try_into().unwrap());
        let body = bytes.get(pos + HEAD..pos + HEAD + len)?;
        if len == 0 || checksum(salt, body) != crc {
            return None;
        }
        let at = pos;
        pos += HEAD + len;
        Some((at, body))
    })
}

fn checksum(salt: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(salt);
    hasher.update(body);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two(salt: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        append(&mut out, salt, |b| b.extend_from_slice(b"one"));
        append(&mut out, salt, |b| b.extend_from_slice(b"second"));
        out
    }

    fn bodies<'a>(bytes: &'a [u8], salt: &'a [u8]) -> Vec<&'a [u8]> {
        records(bytes, salt).map(|(_, body)| body).collect()
    }

    #[test]
    fn reads_back_whole_records_up_to_the_first_bad_one() {
        let file = two(b"salt");
        assert_eq!(bodies(&file, b"salt"), [b"one".as_slice(), b"second"]);
        assert_eq!(records(&file, b"salt").nth(1).unwrap().0, 11);
        assert!(bodies(&file, b"other").is_empty(), "another salt's records");
        assert_eq!(bodies(&file[..file.len() - 1], b"salt"), [b"one"], "torn");
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(bodies(&flipped, b"salt"), [b"one"], "damaged");
        let mut zeros = file.clone();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(bodies(&zeros, b"salt").len(), 2, "a zero tail ends it");
        assert!(
            bodies(&[0; 64], b"").is_empty(),
            "zeros are no record, salt or not"
        );
    }
}
