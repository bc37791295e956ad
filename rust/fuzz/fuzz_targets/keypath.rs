//! Fuzzes the key <-> file path mapping (rust/src/storage/keypath.rs), the one
//! place that decides where a client-chosen key lands on disk.
//!
//! For every valid S3 key (UTF-8, at most 1024 bytes):
//! * the data and metadata paths are relative, made only of normal components
//!   (no `..`, `.`, root or prefix), each at most 255 bytes, none with NUL;
//! * the data path decodes back to the key the way listing decodes folders;
//! * data and metadata paths differ and the metadata path is not an object;
//! * two different keys never share a data path (the input is split in two).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path};

#[allow(dead_code)]
#[path = "../../src/storage/keypath.rs"]
mod keypath;

fn check_confined(key: &str, rel: &Path) {
    assert!(rel.is_relative(), "{key:?} -> absolute {rel:?}");
    let mut n = 0;
    for comp in rel.components() {
        n += 1;
        match comp {
            Component::Normal(name) => {
                let bytes = name.as_encoded_bytes();
                assert!(!bytes.is_empty() && bytes.len() <= 255, "{key:?} -> component of {} bytes in {rel:?}", bytes.len());
                assert!(!bytes.contains(&0) && !bytes.contains(&b'/'), "{key:?} -> bad component {name:?}");
                assert!(bytes != b"." && bytes != b"..", "{key:?} -> dot component in {rel:?}");
            }
            other => panic!("{key:?} -> {rel:?} has component {other:?}"),
        }
    }
    assert!(n >= 1, "{key:?} -> empty path");
}

/// Decodes a data path back into its key, as listing walks folders.
fn decode(rel: &Path) -> Option<String> {
    let comps: Vec<&str> = rel.components().map(|c| c.as_os_str().to_str().unwrap()).collect();
    let (leaf, folders) = comps.split_last()?;
    let mut key = String::new();
    for f in folders {
        key.push_str(keypath::decode_entry(f, true)?.fragment());
    }
    match keypath::decode_entry(leaf, false)? {
        keypath::Entry::Object(frag) => key.push_str(&frag),
        keypath::Entry::Folder(_) => return None,
    }
    Some(key)
}

fn check_key(key: &str) {
    if key.len() > keypath::MAX_KEY_BYTES || key.is_empty() {
        return;
    }
    let data = keypath::data_relative(key);
    let meta = keypath::meta_relative(key);
    check_confined(key, &data);
    check_confined(key, &meta);
    assert_ne!(data, meta, "{key:?}: data and metadata share a path");
    assert_eq!(decode(&data).as_deref(), Some(key), "{key:?} -> {data:?} does not decode back");
    let meta_leaf = meta.file_name().unwrap().to_str().unwrap();
    assert_eq!(keypath::decode_entry(meta_leaf, false), None, "{key:?}: metadata file {meta_leaf:?} lists as an object");
}

fuzz_target!(|input: &[u8]| {
    // Interpret the input as up to two keys separated by 0xFF (never in UTF-8).
    let mut parts = input.splitn(2, |&b| b == 0xFF);
    let a = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let b = parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    check_key(&a);
    if let Some(b) = b {
        check_key(&b);
        if a != b && !a.is_empty() && !b.is_empty() && a.len() <= 1024 && b.len() <= 1024 {
            assert_ne!(keypath::data_relative(&a), keypath::data_relative(&b), "{a:?} and {b:?} collide");
            assert_ne!(keypath::data_relative(&a), keypath::meta_relative(&b), "{a:?} data = {b:?} metadata");
        }
    }
});
