//! Listing: a depth-first walk that visits each folder's entries in key-fragment
//! order, which yields keys in UTF-8 binary order (see `keypath.rs` for why), prunes
//! folders outside the prefix or before the marker, and rolls folders up into
//! common prefixes without descending into them.

use std::ops::ControlFlow;
use std::path::Path;

use super::keypath::{self, Entry};
use super::meta::ObjectMeta;
use super::Store;
use crate::s3::error::S3Result;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Only items strictly after this one (a key or a common prefix) are returned.
    pub after: Option<String>,
    pub max: usize,
}

#[derive(Debug, Clone)]
pub enum Item {
    Object(ObjectMeta),
    Prefix(String),
}

impl Item {
    pub fn name(&self) -> &str {
        match self {
            Item::Object(meta) => &meta.key,
            Item::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Default)]
pub struct ListPage {
    pub items: Vec<Item>,
    pub truncated: bool,
}

/// A folder's entries, sorted by the key fragment each contributes.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(Entry, std::path::PathBuf)>> {
    let mut entries = Vec::new();
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        // A folder removed by a concurrent delete simply has no entries.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
        Err(e) => return Err(e),
    };
    for entry in read {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        if let Some(name) = entry.file_name().to_str() {
            if let Some(decoded) = keypath::decode_entry(name, is_dir) {
                entries.push((decoded, entry.path()));
            }
        }
    }
    entries.sort_by(|a, b| a.0.fragment().cmp(b.0.fragment()));
    Ok(entries)
}

struct Collector<'a> {
    query: &'a ListQuery,
    load: &'a mut dyn FnMut(&str) -> Option<ObjectMeta>,
    page: ListPage,
}

impl Collector<'_> {
    fn is_after_marker(&self, item: &str) -> bool {
        self.query.after.as_deref().is_none_or(|after| item > after)
    }

    /// The common prefix a key rolls up into, if any.
    fn common_prefix<'k>(&self, key: &'k str) -> Option<&'k str> {
        let delimiter = self.query.delimiter.as_deref().filter(|d| !d.is_empty())?;
        let rest = key.get(self.query.prefix.len()..)?;
        rest.find(delimiter).map(|i| &key[..self.query.prefix.len() + i + delimiter.len()])
    }

    fn push(&mut self, item: Item) -> ControlFlow<()> {
        if self.page.items.len() >= self.query.max {
            self.page.truncated = true;
            return ControlFlow::Break(());
        }
        self.page.items.push(item);
        ControlFlow::Continue(())
    }

    fn push_prefix(&mut self, prefix: &str) -> ControlFlow<()> {
        let duplicate = matches!(self.page.items.last(), Some(Item::Prefix(last)) if last == prefix);
        if duplicate || !self.is_after_marker(prefix) {
            return ControlFlow::Continue(());
        }
        self.push(Item::Prefix(prefix.to_string()))
    }

    fn visit_key(&mut self, key: &str) -> ControlFlow<()> {
        if !key.starts_with(&self.query.prefix) {
            return ControlFlow::Continue(());
        }
        if let Some(prefix) = self.common_prefix(key) {
            return self.push_prefix(prefix);
        }
        if !self.is_after_marker(key) {
            return ControlFlow::Continue(());
        }
        match (self.load)(key) {
            Some(meta) => self.push(Item::Object(meta)),
            None => ControlFlow::Continue(()), // being written or deleted right now
        }
    }

    fn walk(&mut self, dir: &Path, acc: &str) -> std::io::Result<ControlFlow<()>> {
        let prefix = self.query.prefix.clone();
        for (entry, path) in sorted_entries(dir)? {
            let full = format!("{acc}{}", entry.fragment());
            let flow = match entry {
                Entry::Object(_) => self.visit_key(&full),
                Entry::Folder(_) => {
                    if !(full.starts_with(&prefix) || prefix.starts_with(&full)) {
                        continue;
                    }
                    // Every key below starts with `full`: all of them sort before the marker.
                    if let Some(after) = &self.query.after {
                        if full.as_str() < after.as_str() && !after.starts_with(&full) {
                            continue;
                        }
                    }
                    match self.common_prefix(&full).map(str::to_string) {
                        Some(cp) if full.starts_with(&prefix) => {
                            if self.is_after_marker(&cp) && has_any_object(&path)? {
                                self.push_prefix(&cp)
                            } else {
                                ControlFlow::Continue(())
                            }
                        }
                        _ => self.walk(&path, &full)?,
                    }
                }
            };
            if flow.is_break() {
                return Ok(flow);
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// One page of a bucket listing.
pub fn list(bucket_dir: &Path, query: &ListQuery, load: &mut dyn FnMut(&str) -> Option<ObjectMeta>) -> std::io::Result<ListPage> {
    let mut collector = Collector { query, load, page: ListPage::default() };
    if query.max > 0 {
        let _ = collector.walk(bucket_dir, "")?;
    }
    Ok(collector.page)
}

/// Whether any object file exists below `dir`.
pub fn has_any_object(dir: &Path) -> std::io::Result<bool> {
    for (entry, path) in sorted_entries(dir)? {
        let found = match entry {
            Entry::Object(_) => true,
            Entry::Folder(_) => has_any_object(&path)?,
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Calls `visit` with every object key below `dir` (in key order) that starts with
/// `prefix` and sorts after `after`, skipping folders that cannot hold such keys.
pub fn walk_keys(dir: &Path, acc: &str, prefix: &str, after: Option<&str>, visit: &mut dyn FnMut(&str) -> ControlFlow<()>) -> std::io::Result<ControlFlow<()>> {
    for (entry, path) in sorted_entries(dir)? {
        let full = format!("{acc}{}", entry.fragment());
        let flow = match entry {
            Entry::Object(_) if full.starts_with(prefix) && after.is_none_or(|a| full.as_str() > a) => visit(&full),
            Entry::Object(_) => ControlFlow::Continue(()),
            Entry::Folder(_) => {
                let in_prefix = full.starts_with(prefix) || prefix.starts_with(&full);
                let past_marker = after.is_none_or(|a| full.as_str() >= a || a.starts_with(&full));
                if in_prefix && past_marker { walk_keys(&path, &full, prefix, after, visit)? } else { ControlFlow::Continue(()) }
            }
        };
        if flow.is_break() {
            return Ok(flow);
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Calls `visit` with every object key below `dir`, in key order.
pub fn for_each_key(dir: &Path, visit: &mut dyn FnMut(&str)) -> std::io::Result<()> {
    walk_keys(dir, "", "", None, &mut |key| {
        visit(key);
        ControlFlow::Continue(())
    })
    .map(|_| ())
}

impl Store {
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> S3Result<ListPage> {
        let dir = self.require_bucket(bucket)?;
        let mut load = |key: &str| self.head_object(bucket, key).ok();
        Ok(list(&dir, query, &mut load)?)
    }
}
