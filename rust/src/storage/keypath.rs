//! Object keys <-> file paths inside a bucket folder.
//!
//! A key `photos/2024/cat.jpg` is stored as `photos/2024/cat.jpg._storage_object`, so
//! a person can find and copy every object. Keys that a filesystem cannot hold as-is
//! are escaped so that every valid S3 key round-trips and none leaves its bucket:
//!
//! * `%` is written `%25` and NUL `%00`, so any other `%` in a name is ours;
//! * an empty folder segment (`a//b`) is written `%-`; `.` and `..` as folder
//!   segments are written `%2E` and `%2E%2E`;
//! * a folder name that would end like one of our file suffixes gets its last
//!   character escaped, so it never collides with an object file;
//! * a segment whose encoded form reaches `CHUNK` bytes is split into folders named
//!   `<chunk>%+`, where `%+` means "continues without a slash", so long segments fit
//!   the 255-byte file-name limit.
//!
//! Listing relies on one property of this encoding: within a folder, no entry's key
//! fragment is a proper prefix of a folder entry's fragment, so walking each folder
//! in fragment order yields keys in UTF-8 binary order (see `list.rs`).

use std::path::PathBuf;

pub const DATA_SUFFIX: &str = "._storage_object";
pub const META_SUFFIX: &str = "._storage_object.metadata.json";
/// Encoded segments of this many bytes or more are split into folders.
const CHUNK: usize = 200;
const CONTINUATION: &str = "%+";
const EMPTY_SEGMENT: &str = "%-";
pub const MAX_KEY_BYTES: usize = 1024;

/// Percent-encodes the two bytes a file name cannot or must not hold literally.
fn encode_units(segment: &str) -> Vec<String> {
    segment
        .chars()
        .map(|c| match c {
            '%' => "%25".to_string(),
            '\0' => "%00".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Splits an encoded segment into pieces: all but the last are continuation chunks.
fn chunk(units: Vec<String>) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for unit in units {
        current.push_str(&unit);
        if current.len() >= CHUNK {
            pieces.push(std::mem::take(&mut current));
        }
    }
    pieces.push(current);
    pieces
}

/// The final folder name of a folder segment, with the special cases escaped.
fn escape_folder_name(name: String) -> String {
    match name.as_str() {
        "" => EMPTY_SEGMENT.to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ if name.ends_with(DATA_SUFFIX) || name.ends_with(META_SUFFIX) => {
            let last = name.chars().last().unwrap();
            format!("{}%{:02X}", &name[..name.len() - 1], last as u32)
        }
        _ => name,
    }
}

/// The path of a key relative to its bucket folder, without the file suffix.
pub fn key_to_relative(key: &str) -> PathBuf {
    let mut path = PathBuf::new();
    let segments: Vec<&str> = key.split('/').collect();
    let (leaf, folders) = segments
        .split_last()
        .expect("split yields at least one item");
    for folder in folders {
        let mut pieces = chunk(encode_units(folder));
        let last = pieces.pop().unwrap();
        for piece in pieces {
            path.push(format!("{piece}{CONTINUATION}"));
        }
        path.push(escape_folder_name(last));
    }
    let mut pieces = chunk(encode_units(leaf));
    let last = pieces.pop().unwrap();
    for piece in pieces {
        path.push(format!("{piece}{CONTINUATION}"));
    }
    // The leaf is only a prefix of the file name; the caller appends a suffix.
    path.push(last);
    path
}

fn with_suffix(key: &str, suffix: &str) -> PathBuf {
    let mut rel = key_to_relative(key).into_os_string();
    rel.push(suffix);
    PathBuf::from(rel)
}

pub fn data_relative(key: &str) -> PathBuf {
    with_suffix(key, DATA_SUFFIX)
}

pub fn meta_relative(key: &str) -> PathBuf {
    with_suffix(key, META_SUFFIX)
}

fn percent_decode(name: &str) -> Option<String> {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    String::from_utf8(bytes).ok()
}

/// What a folder entry contributes to the keys below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A folder; every key below it starts with this fragment.
    Folder(String),
    /// An object file; its key ends with this fragment.
    Object(String),
}

impl Entry {
    pub fn fragment(&self) -> &str {
        match self {
            Entry::Folder(f) | Entry::Object(f) => f,
        }
    }
}

/// Decodes a folder entry's name; `None` for metadata sidecars and foreign files.
pub fn decode_entry(name: &str, is_dir: bool) -> Option<Entry> {
    // In the versions tree a key's versions live in a folder named like its object
    // file; key-derived folders never end so (they are escaped), so this is unambiguous.
    if is_dir && name.ends_with(DATA_SUFFIX) {
        return name
            .strip_suffix(DATA_SUFFIX)
            .and_then(percent_decode)
            .map(Entry::Object);
    }
    if is_dir {
        if let Some(stem) = name.strip_suffix(CONTINUATION) {
            return percent_decode(stem).map(Entry::Folder);
        }
        if name == EMPTY_SEGMENT {
            return Some(Entry::Folder("/".to_string()));
        }
        return percent_decode(name).map(|s| Entry::Folder(s + "/"));
    }
    name.strip_suffix(DATA_SUFFIX)
        .and_then(percent_decode)
        .map(Entry::Object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    /// Decodes a relative data path back into its key, as listing does.
    fn decode_path(path: &std::path::Path) -> String {
        let comps: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_str().unwrap().to_string())
            .collect();
        let (leaf, folders) = comps.split_last().unwrap();
        let mut key = String::new();
        for f in folders {
            key.push_str(decode_entry(f, true).unwrap().fragment());
        }
        key.push_str(decode_entry(leaf, false).unwrap().fragment());
        key
    }

    fn assert_round_trip(key: &str) {
        let rel = data_relative(key);
        for comp in rel.components() {
            assert!(
                matches!(comp, Component::Normal(_)),
                "{key:?} -> {rel:?} has {comp:?}"
            );
            assert!(comp.as_os_str().len() <= 255, "{key:?}: component too long");
        }
        assert_eq!(decode_path(&rel), key, "via {rel:?}");
    }

    #[test]
    fn odd_keys_round_trip_and_stay_inside() {
        let long_segment = "x".repeat(600);
        let unicode_long = "é".repeat(300);
        let keys = [
            "a",
            "a/",
            "a//b",
            "/a",
            "//",
            "../x",
            "..",
            ".",
            "./a",
            "a/./b",
            "a/../../b",
            "%",
            "%2E",
            "%-",
            "%+",
            "a%+/b",
            "dir._storage_object/x",
            "x._storage_object",
            "x._storage_object.metadata.json/y",
            "x.metadata.json",
            "sp ace/ü/日本",
            "back\\slash",
            "nul\0byte",
            &long_segment,
            &format!("{long_segment}/{long_segment}/"),
            &unicode_long,
            &format!("{}%%", "y".repeat(199)),
        ];
        for key in keys {
            assert_round_trip(key);
        }
    }

    #[test]
    fn distinct_keys_get_distinct_paths() {
        let keys = [
            "a",
            "a/",
            "a//",
            "a/b",
            "a//b",
            "%2E",
            ".",
            "..",
            "a%+",
            "x._storage_object/",
            "x",
        ];
        let mut seen = std::collections::HashSet::new();
        for key in keys {
            assert!(seen.insert(data_relative(key)), "{key} collides");
        }
    }

    #[test]
    fn plain_keys_stay_readable() {
        assert_eq!(
            data_relative("photos/2024/cat.jpg"),
            PathBuf::from("photos/2024/cat.jpg._storage_object")
        );
        assert_eq!(
            meta_relative("a b"),
            PathBuf::from("a b._storage_object.metadata.json")
        );
    }

    #[test]
    fn metadata_sidecars_are_not_objects() {
        assert_eq!(decode_entry("a._storage_object.metadata.json", false), None);
        assert_eq!(
            decode_entry("a._storage_object", false),
            Some(Entry::Object("a".into()))
        );
    }
}
