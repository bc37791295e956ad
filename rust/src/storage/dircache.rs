//! Folders read in key order, and a cache of the big ones between listing pages.
//!
//! A filesystem lists a folder in hash order, so every listing page must read and
//! sort the whole folder it starts in: for a flat bucket of a million keys that is
//! a second per 1000-key page. The cache keeps the sorted entries of big folders
//! (compactly: one string of fragments plus 12 bytes per entry) so the next page
//! starts with a binary search instead.
//!
//! Every change the engine makes to a folder's entries bumps a generation counter
//! (striped by folder path) before the change is acknowledged; a cached folder is
//! used only while its counter, the cache-wide epoch and the folder's mtime are what
//! they were before it was read. A change made behind the engine's back is seen
//! through the mtime, except within the filesystem's timestamp granularity.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::keypath::{self, Entry};

/// Folders with fewer entries are cheap to re-read and are not cached.
const CACHE_MIN_ENTRIES: usize = 4096;
/// Bound on the entries held by the cache (about 30 MB with 16-byte fragments).
const CACHE_MAX_ENTRIES: usize = 2_000_000;
const STRIPES: usize = 4096;
/// Marks an object entry in `SortedDir::entries`.
const OBJECT: u32 = u32::MAX;

/// A folder's entries, sorted by the key fragment each contributes.
#[derive(Default)]
pub struct SortedDir {
    /// The fragments, back to back in read order.
    text: String,
    /// (start, end) of each entry's fragment in `text`, and the index of its path
    /// in `folders` (or `OBJECT`), in fragment order.
    entries: Vec<(u32, u32, u32)>,
    folders: Vec<PathBuf>,
}

/// A folder's entries, decoded (sidecars and foreign files skipped), in the
/// filesystem's order; a folder removed by a concurrent delete has none.
pub fn decoded_entries(
    dir: &Path,
) -> std::io::Result<impl Iterator<Item = std::io::Result<(Entry, std::fs::DirEntry)>>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => Some(read),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(read.into_iter().flatten().filter_map(|entry| {
        let decode = |entry: std::fs::DirEntry| {
            let is_dir = entry.file_type()?.is_dir();
            Ok(entry
                .file_name()
                .to_str()
                .and_then(|name| keypath::decode_entry(name, is_dir))
                .map(|decoded| (decoded, entry)))
        };
        entry.and_then(decode).transpose()
    }))
}

impl SortedDir {
    /// Reads and sorts `dir`.
    pub fn read(dir: &Path) -> std::io::Result<SortedDir> {
        let mut sorted = SortedDir::default();
        for decoded in decoded_entries(dir)? {
            let (name, entry) = decoded?;
            let start = sorted.text.len() as u32;
            sorted.text.push_str(name.fragment());
            let folder = match name {
                Entry::Object(_) => OBJECT,
                Entry::Folder(_) => {
                    sorted.folders.push(entry.path());
                    (sorted.folders.len() - 1) as u32
                }
            };
            sorted
                .entries
                .push((start, sorted.text.len() as u32, folder));
        }
        let text = &sorted.text;
        sorted.entries.sort_unstable_by(|a, b| {
            text[a.0 as usize..a.1 as usize].cmp(&text[b.0 as usize..b.1 as usize])
        });
        Ok(sorted)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn fragment(&self, i: usize) -> &str {
        let (start, end, _) = self.entries[i];
        &self.text[start as usize..end as usize]
    }

    /// The path of entry `i` if it is a folder.
    pub fn folder(&self, i: usize) -> Option<&Path> {
        let index = self.entries[i].2;
        (index != OBJECT).then(|| self.folders[index as usize].as_path())
    }

    /// The first entry a walk of this folder (whose keys start with `acc`) must look
    /// at to reach keys at or after `bound`: every earlier entry sorts before `bound`
    /// and is not a folder that could hold it.
    pub fn first_at_or_after(&self, acc: &str, bound: &str) -> usize {
        let start = self.entries.partition_point(|&(s, e, _)| {
            cmp_joined(acc, &self.text[s as usize..e as usize], bound).is_lt()
        });
        // A folder whose fragment is a prefix of `bound` holds keys after it. No entry
        // can sort between such a folder and `bound` (it would have to extend the
        // folder's fragment, which no entry of the same folder does: see keypath.rs).
        match start.checked_sub(1) {
            Some(prev)
                if self.folder(prev).is_some()
                    && joined_is_prefix(acc, self.fragment(prev), bound) =>
            {
                prev
            }
            _ => start,
        }
    }
}

/// Compares `a` followed by `b` with `s`, without joining them.
fn cmp_joined(a: &str, b: &str, s: &str) -> std::cmp::Ordering {
    let (a, b, s) = (a.as_bytes(), b.as_bytes(), s.as_bytes());
    let n = a.len().min(s.len());
    a[..n].cmp(&s[..n]).then_with(|| {
        if a.len() > s.len() {
            std::cmp::Ordering::Greater
        } else {
            b.cmp(&s[a.len()..])
        }
    })
}

/// Whether `a` followed by `b` is a prefix of `s`.
fn joined_is_prefix(a: &str, b: &str, s: &str) -> bool {
    s.starts_with(a) && s[a.len()..].starts_with(b)
}

struct Cached {
    dir: Arc<SortedDir>,
    generation: (u64, u64),
    mtime: Option<SystemTime>,
    last_used: u64,
}

#[derive(Default)]
struct CacheMap {
    folders: HashMap<PathBuf, Cached>,
    entries: usize,
    clock: u64,
}

pub struct DirCache {
    generations: Vec<AtomicU64>,
    epoch: AtomicU64,
    map: Mutex<CacheMap>,
}

impl DirCache {
    pub fn new() -> Self {
        DirCache {
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            map: Default::default(),
        }
    }

    fn stripe(&self, dir: &Path) -> &AtomicU64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut hasher);
        &self.generations[hasher.finish() as usize % STRIPES]
    }

    fn generation(&self, dir: &Path) -> (u64, u64) {
        (
            self.stripe(dir).load(Ordering::Acquire),
            self.epoch.load(Ordering::Acquire),
        )
    }

    /// Records that `dir` gained or lost an entry. Call after the change and before
    /// acknowledging it.
    pub fn touch(&self, dir: &Path) {
        self.stripe(dir).fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets every folder (a bucket was deleted).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.folders.clear();
        map.entries = 0;
    }

    /// `dir` in key order, from the cache if it has not changed since it was read.
    pub fn sorted(&self, dir: &Path) -> std::io::Result<Arc<SortedDir>> {
        // Both read before the folder, so a change during the read invalidates it.
        let generation = self.generation(dir);
        let mtime = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
        {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.clock += 1;
            let clock = map.clock;
            if let Some(cached) = map.folders.get_mut(dir)
                && cached.generation == generation
                && cached.mtime == mtime
            {
                cached.last_used = clock;
                return Ok(cached.dir.clone());
            }
        }
        let sorted = Arc::new(SortedDir::read(dir)?);
        if sorted.len() >= CACHE_MIN_ENTRIES && sorted.len() <= CACHE_MAX_ENTRIES {
            self.insert(
                dir,
                Cached {
                    dir: sorted.clone(),
                    generation,
                    mtime,
                    last_used: 0,
                },
            );
        }
        Ok(sorted)
    }

    fn insert(&self, dir: &Path, mut cached: Cached) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.clock += 1;
        cached.last_used = map.clock;
        map.entries += cached.dir.len();
        if let Some(old) = map.folders.insert(dir.to_path_buf(), cached) {
            map.entries -= old.dir.len();
        }
        while map.entries > CACHE_MAX_ENTRIES {
            let Some(oldest) = map
                .folders
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            if let Some(old) = map.folders.remove(&oldest) {
                map.entries -= old.dir.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_comparison_matches_joining() {
        for (a, b, s) in [
            ("ab", "c", "abc"),
            ("ab", "c", "abd"),
            ("ab", "d", "abc"),
            ("abc", "", "ab"),
            ("", "x", ""),
            ("a", "bc", "ab"),
            ("b", "", "ab"),
        ] {
            assert_eq!(
                cmp_joined(a, b, s),
                format!("{a}{b}").as_str().cmp(s),
                "{a}+{b} vs {s}"
            );
            assert_eq!(
                joined_is_prefix(a, b, s),
                s.starts_with(&format!("{a}{b}")),
                "{a}+{b} prefix of {s}"
            );
        }
    }

    #[test]
    fn a_change_after_reading_is_never_served_from_the_cache() {
        let dir = std::env::temp_dir().join(format!(
            "smartstorage-dircache-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for i in 0..CACHE_MIN_ENTRIES {
            std::fs::write(dir.join(format!("k{i:05}{}", keypath::DATA_SUFFIX)), b"").unwrap();
        }
        let cache = DirCache::new();
        let first = cache.sorted(&dir).unwrap();
        assert_eq!(first.len(), CACHE_MIN_ENTRIES + 1);
        assert_eq!((first.fragment(0), first.folder(0)), ("k00000", None));
        assert_eq!(
            first.folder(first.len() - 1),
            Some(dir.join("sub").as_path())
        );
        assert!(
            Arc::ptr_eq(&first, &cache.sorted(&dir).unwrap()),
            "an unchanged big folder comes from the cache"
        );
        std::fs::write(dir.join(format!("a{}", keypath::DATA_SUFFIX)), b"").unwrap();
        cache.touch(&dir);
        let second = cache.sorted(&dir).unwrap();
        assert_eq!(
            (second.len(), second.fragment(0)),
            (CACHE_MIN_ENTRIES + 2, "a")
        );
        assert_eq!(second.first_at_or_after("", "k00001"), 2);
        assert_eq!(
            second.first_at_or_after("", "sub/x"),
            second.len() - 1,
            "the folder holding the bound"
        );
        assert_eq!(second.first_at_or_after("", "z"), second.len());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
