//! Listing: a depth-first walk that visits each folder's entries in key-fragment
//! order, which yields keys in UTF-8 binary order (see `keypath.rs` for why), prunes
//! folders outside the prefix or before the marker, and rolls folders up into
//! common prefixes without descending into them.

use std::ops::ControlFlow;
use std::path::Path;

use super::Store;
use super::dircache::{DirCache, SortedDir, decoded_entries};
use super::error::Result;
use super::keypath::Entry;
use super::meta::ObjectMeta;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Only items strictly after this one (a key or a common prefix) are returned.
    pub after: Option<String>,
    pub max: usize,
}

// A page holds at most 1000 items, mostly objects: boxing each would cost an allocation apiece.
#[allow(clippy::large_enum_variant)]
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

/// What a walk of a tree finds, in key order: a key, or a common prefix (once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    Key(&'a str),
    Prefix(&'a str),
}

/// Walks a tree in key order for a `ListQuery` (its `max` aside): prunes what sorts
/// before the prefix or the marker, and rolls folders up into common prefixes.
struct Walker<'a> {
    query: &'a ListQuery,
    dirs: &'a DirCache,
    visit: &'a mut dyn FnMut(Found<'_>) -> ControlFlow<()>,
    last_prefix: Option<String>,
}

impl Walker<'_> {
    fn is_after_marker(&self, item: &str) -> bool {
        self.query.after.as_deref().is_none_or(|after| item > after)
    }

    /// The common prefix a key rolls up into, if any.
    fn common_prefix<'k>(&self, key: &'k str) -> Option<&'k str> {
        let delimiter = self.query.delimiter.as_deref().filter(|d| !d.is_empty())?;
        let rest = key.get(self.query.prefix.len()..)?;
        rest.find(delimiter)
            .map(|i| &key[..self.query.prefix.len() + i + delimiter.len()])
    }

    fn visit_prefix(&mut self, prefix: &str) -> ControlFlow<()> {
        if self.last_prefix.as_deref() == Some(prefix) || !self.is_after_marker(prefix) {
            return ControlFlow::Continue(());
        }
        self.last_prefix = Some(prefix.to_string());
        (self.visit)(Found::Prefix(prefix))
    }

    fn visit_key(&mut self, key: &str) -> ControlFlow<()> {
        if !key.starts_with(&self.query.prefix) {
            return ControlFlow::Continue(());
        }
        if let Some(prefix) = self.common_prefix(key) {
            return self.visit_prefix(prefix);
        }
        if !self.is_after_marker(key) {
            return ControlFlow::Continue(());
        }
        (self.visit)(Found::Key(key))
    }

    fn walk(&mut self, dir: &Path, acc: &str) -> std::io::Result<ControlFlow<()>> {
        let prefix = self.query.prefix.clone();
        let entries = self.dirs.sorted(dir)?;
        // Skip by binary search what sorts before the prefix and the marker.
        let mut first = entries.first_at_or_after(acc, &prefix);
        if let Some(after) = &self.query.after {
            first = first.max(entries.first_at_or_after(acc, after));
        }
        for i in first..entries.len() {
            let full = format!("{acc}{}", entries.fragment(i));
            if full.as_str() > prefix.as_str() && !full.starts_with(&prefix) {
                break; // sorted: every later entry is past the prefix too
            }
            let flow = match entries.folder(i) {
                None => self.visit_key(&full),
                Some(path) => {
                    if !(full.starts_with(&prefix) || prefix.starts_with(&full)) {
                        continue;
                    }
                    // Every key below starts with `full`: all of them sort before the marker.
                    if let Some(after) = &self.query.after
                        && full.as_str() < after.as_str()
                        && !after.starts_with(&full)
                    {
                        continue;
                    }
                    match self.common_prefix(&full).map(str::to_string) {
                        Some(cp) if full.starts_with(&prefix) => {
                            if self.is_after_marker(&cp) && has_any_object(path)? {
                                self.visit_prefix(&cp)
                            } else {
                                ControlFlow::Continue(())
                            }
                        }
                        _ => self.walk(path, &full)?,
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

/// Calls `visit` with the keys and common prefixes of the tree at `dir` that `query`
/// selects (its `max` aside), in key order, until `visit` breaks. Big folders come
/// sorted from `dirs`, so a walk that starts at a marker and stops after a page
/// costs about the page, not the tree.
pub fn walk_names(
    dir: &Path,
    query: &ListQuery,
    dirs: &DirCache,
    visit: &mut dyn FnMut(Found<'_>) -> ControlFlow<()>,
) -> std::io::Result<ControlFlow<()>> {
    Walker {
        query,
        dirs,
        visit,
        last_prefix: None,
    }
    .walk(dir, "")
}

/// One page of a bucket listing.
pub fn list(
    bucket_dir: &Path,
    query: &ListQuery,
    dirs: &DirCache,
    load: &mut dyn FnMut(&str) -> Option<ObjectMeta>,
) -> std::io::Result<ListPage> {
    let mut page = ListPage::default();
    if query.max > 0 {
        let _ = walk_names(bucket_dir, query, dirs, &mut |found| {
            let item = match found {
                Found::Key(key) => match load(key) {
                    Some(meta) => Item::Object(meta),
                    None => return ControlFlow::Continue(()), // being written or deleted right now
                },
                Found::Prefix(prefix) => Item::Prefix(prefix.to_string()),
            };
            if page.items.len() >= query.max {
                page.truncated = true;
                return ControlFlow::Break(());
            }
            page.items.push(item);
            ControlFlow::Continue(())
        })?;
    }
    Ok(page)
}

/// Whether any object file exists below `dir` (stops at the first: no sorting).
pub fn has_any_object(dir: &Path) -> std::io::Result<bool> {
    for decoded in decoded_entries(dir)? {
        let found = match decoded? {
            (Entry::Object(_), _) => true,
            (Entry::Folder(_), entry) => has_any_object(&entry.path())?,
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Calls `visit` with every object key below `dir` (in key order) that starts with
/// `prefix` and sorts after `after`, skipping folders that cannot hold such keys.
pub fn walk_keys(
    dir: &Path,
    acc: &str,
    prefix: &str,
    after: Option<&str>,
    visit: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> std::io::Result<ControlFlow<()>> {
    let entries = SortedDir::read(dir)?;
    for i in 0..entries.len() {
        let full = format!("{acc}{}", entries.fragment(i));
        let flow = match entries.folder(i) {
            None if full.starts_with(prefix) && after.is_none_or(|a| full.as_str() > a) => {
                visit(&full)
            }
            None => ControlFlow::Continue(()),
            Some(path) => {
                let in_prefix = full.starts_with(prefix) || prefix.starts_with(&full);
                let past_marker = after.is_none_or(|a| full.as_str() >= a || a.starts_with(&full));
                if in_prefix && past_marker {
                    walk_keys(path, &full, prefix, after, visit)?
                } else {
                    ControlFlow::Continue(())
                }
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
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        let dir = self.require_bucket(bucket)?;
        let mut load = |key: &str| self.read_current_meta(&dir, bucket, key).ok();
        Ok(list(&dir, query, &self.dirs, &mut load)?)
    }
}
