//! Speed of the shard data plane on a 256 MiB object:
//! `cargo run --release --example erasure_speed`.
//!
//! Shard files go to /dev/shm (tmpfs) when there is one, so the figures are the
//! CPU cost (hash + Reed-Solomon + copies + syscalls), not the disk's speed.
//! Prints wall-clock MiB/s and CPU seconds (user + system) per GiB of object.

use ruststorage::cluster::bitrot;
use ruststorage::cluster::drive_io::{LocalDrive, ShardRef};
use ruststorage::cluster::erasure::{Codec, Layout, split};
use ruststorage::cluster::shards::{ShardReader, ShardWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const SIZE: usize = 256 << 20;

/// CPU time (user, system) this process has used, in seconds.
fn cpu_seconds() -> (f64, f64) {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// Runs `f` and prints its speed over `bytes` object bytes.
fn measure(label: &str, bytes: usize, f: impl FnOnce()) {
    let (wall, (user, sys)) = (Instant::now(), cpu_seconds());
    f();
    let wall = wall.elapsed().as_secs_f64();
    let (user, sys) = (cpu_seconds().0 - user, cpu_seconds().1 - sys);
    let mib = bytes as f64 / (1 << 20) as f64;
    let gib = bytes as f64 / (1 << 30) as f64;
    println!(
        "{label:<36} {:>6.0} MiB/s  CPU {:>5.2} s/GiB (user {:.2}, sys {:.2})",
        mib / wall,
        (user + sys) / gib,
        user / gib,
        sys / gib
    );
}

fn object(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    data
}

/// Encode + hash in memory, no files: the floor under a PUT.
fn encode_in_memory(layout: Layout, data: &[u8]) {
    let mut codec = Codec::new(layout);
    let frame_len = layout.frame_len(layout.block_size);
    let mut frames = vec![vec![0u8; frame_len]; layout.total()];
    for block in data.chunks(layout.block_size) {
        let mut shards: Vec<&mut [u8]> =
            frames.iter_mut().map(|f| bitrot::payload_mut(f)).collect();
        split(block, &mut shards[..layout.data]);
        codec.encode(&mut shards).unwrap();
        frames.iter_mut().for_each(|f| bitrot::seal(f));
    }
}

fn write(files: &[Option<ShardRef>], layout: Layout, data: &[u8]) {
    let mut writer = ShardWriter::create(files.to_vec(), layout, layout.total(), false).unwrap();
    // 64 KiB pieces, like a request body arriving from the network.
    for piece in data.chunks(64 << 10) {
        writer.write(piece).unwrap();
    }
    writer.finish().unwrap();
}

/// Reads the whole object; correctness is the unit tests' job, so only the
/// length is checked here (a compare would add its own cost to the figure).
fn read(files: &[Option<ShardRef>], layout: Layout, size: usize) {
    let mut reader = ShardReader::open(files.to_vec(), layout, size as u64);
    let mut got = 0;
    reader
        .read_range(0, size as u64, &mut |chunk| {
            got += chunk.len();
            true
        })
        .unwrap();
    assert_eq!(got, size);
}

fn main() {
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("erasure-speed-{}", std::process::id()));
    println!(
        "256 MiB object, 1 MiB blocks, shard files in {}",
        dir.display()
    );
    let data = object(SIZE);
    for (k, m) in [(2, 2), (4, 2)] {
        let layout = Layout::new(k, m);
        let files: Vec<Option<ShardRef>> = (0..layout.total())
            .map(|i| {
                let root = dir.join(format!("{k}+{m}/drive{i}"));
                std::fs::create_dir_all(&root).unwrap(); // a drive is there before its files
                let drive = Arc::new(LocalDrive::new(root));
                let rel = PathBuf::from(format!("part.{i}"));
                Some(ShardRef { drive, rel })
            })
            .collect();
        measure(&format!("{k}+{m} encode+hash (memory)"), SIZE, || {
            encode_in_memory(layout, &data)
        });
        measure(&format!("{k}+{m} write (ShardWriter)"), SIZE, || {
            write(&files, layout, &data)
        });
        measure(&format!("{k}+{m} healthy read"), SIZE, || {
            read(&files, layout, SIZE)
        });
        let mut degraded = files.clone();
        degraded[0] = None;
        measure(&format!("{k}+{m} read, data shard 0 missing"), SIZE, || {
            read(&degraded, layout, SIZE)
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}
