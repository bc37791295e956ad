//! Seeding: a folder of files into a bucket (`importFolder`) and a bucket back out into
//! a folder (`exportFolder`), through the storage interface only.
//!
//! Import: every regular file under the folder becomes an object whose key is its path
//! relative to the folder (`/` separators, the prefix before it) and whose content type
//! is guessed from its extension. Nothing is skipped silently: a symlink is followed
//! when it points inside the folder and refused (the call fails, naming it) when it
//! points outside, dangles or loops; so are unreadable files, names that are not
//! UTF-8, and anything that is not a file or folder. Files go in one by one through
//! `put_object` (so each sends the usual `objectCreated` event); a failure part-way
//! leaves the files before it imported. Large files are streamed, never held whole.
//!
//! Export: every object under the prefix is written to `folder/<key without prefix>`,
//! folders created, existing files replaced (by a rename of a temporary file beside
//! them). Nothing is ever written outside the folder: keys with empty, `.` or `..`
//! segments, a leading `/`, NUL or a backslash are skipped and reported, as are keys
//! whose path would pass through a symlink or a file already there.

use bytes::{Bytes, BytesMut};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::management::protocol::{ExportedFolder, FolderParams, ImportedFolder};
use crate::s3::error::S3Error;
use crate::storage::Error as StorageError;
use crate::storage::interface::{Item, ListQuery, NewObjectAttrs, Payload, PutObject, Storage};

/// Files up to this size are read whole; larger ones are streamed through a writer.
const READ_WHOLE_MAX: u64 = 1024 * 1024;
/// Bytes read per chunk of a streamed file.
const CHUNK: usize = 512 * 1024;
/// Skipped keys listed in an export's result (all are counted).
const MAX_SKIPPED_LISTED: usize = 100;

fn folder_error(message: String, folder: &str) -> S3Error {
    S3Error::invalid_argument(message, "folder", folder)
}

/// An error of storage about one key, with the key in its message.
fn about_key(key: &str, e: impl Into<S3Error>) -> S3Error {
    let mut e = e.into();
    e.message = format!("{key}: {}", e.message);
    e
}

/// The folder as an absolute, symlink-free path; it must exist and be a folder.
async fn existing_folder(folder: &str) -> Result<PathBuf, S3Error> {
    if folder.is_empty() {
        return Err(folder_error("folder must not be empty".into(), folder));
    }
    let root = tokio::fs::canonicalize(folder)
        .await
        .map_err(|e| folder_error(format!("folder {folder}: {e}"), folder))?;
    if !root.is_dir() {
        return Err(folder_error(
            format!("folder {folder} is not a folder"),
            folder,
        ));
    }
    Ok(root)
}

/// A file to import: its key and where it is.
struct Source {
    key: String,
    path: PathBuf,
}

/// Every file under `root`, in name order, with its key.
fn walk(root: &Path, prefix: &str, folder: &str) -> Result<Vec<Source>, S3Error> {
    let fail = |message: String| folder_error(message, folder);
    let mut files = Vec::new();
    // (the folder as reached, its key prefix, the real folders from the root down to it)
    let mut stack = vec![(
        root.to_path_buf(),
        prefix.to_string(),
        vec![root.to_path_buf()],
    )];
    while let Some((dir, key_prefix, real)) = stack.pop() {
        let mut entries = std::fs::read_dir(&dir)
            .map_err(|e| fail(format!("cannot read folder {}: {e}", dir.display())))?
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| fail(format!("cannot read folder {}: {e}", dir.display())))?;
        entries.sort_by_key(|e| e.file_name());
        let mut subfolders = Vec::new();
        for entry in entries {
            let path = entry.path();
            let Ok(name) = entry.file_name().into_string() else {
                return Err(fail(format!(
                    "{}: the name is not UTF-8, so it cannot be a key",
                    path.display()
                )));
            };
            let key = format!("{key_prefix}{name}");
            let kind = entry
                .file_type()
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            let (is_dir, is_file, real_path) = if kind.is_symlink() {
                let target = std::fs::canonicalize(&path).map_err(|e| {
                    fail(format!("symlink {}: cannot follow it: {e}", path.display()))
                })?;
                if !target.starts_with(root) {
                    return Err(fail(format!(
                        "symlink {} points outside the folder (to {}); refused",
                        path.display(),
                        target.display()
                    )));
                }
                let meta = std::fs::metadata(&target)
                    .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                if meta.is_dir() && real.contains(&target) {
                    return Err(fail(format!(
                        "symlink {} points to a folder it is in (a loop); refused",
                        path.display()
                    )));
                }
                (meta.is_dir(), meta.is_file(), target)
            } else {
                let real_path = real.last().expect("the root at least").join(&name);
                (kind.is_dir(), kind.is_file(), real_path)
            };
            if is_dir {
                let mut real = real.clone();
                real.push(real_path);
                subfolders.push((path, format!("{key}/"), real));
            } else if is_file {
                files.push(Source { key, path });
            } else {
                return Err(fail(format!(
                    "{} is not a file or a folder; refused",
                    path.display()
                )));
            }
        }
        // Popped in name order.
        stack.extend(subfolders.into_iter().rev());
    }
    Ok(files)
}

/// Puts every file under `folder` into `bucket`; see the module comment.
pub async fn import_folder(
    store: &dyn Storage,
    params: FolderParams,
) -> Result<ImportedFolder, S3Error> {
    let FolderParams {
        bucket,
        folder,
        prefix,
    } = params;
    store.bucket_exists(&bucket).await?;
    let root = existing_folder(&folder).await?;
    let prefix = prefix.unwrap_or_default();
    let files = {
        let (root, folder) = (root.clone(), folder.clone());
        tokio::task::spawn_blocking(move || walk(&root, &prefix, &folder))
            .await
            .map_err(S3Error::internal)??
    };
    let mut result = ImportedFolder::default();
    for file in files {
        result.bytes += import_file(store, &bucket, file, &folder).await?;
        result.imported += 1;
    }
    Ok(result)
}

/// Puts one file; answers its size.
async fn import_file(
    store: &dyn Storage,
    bucket: &str,
    file: Source,
    folder: &str,
) -> Result<u64, S3Error> {
    let unreadable = |e: std::io::Error| {
        folder_error(format!("cannot read {}: {e}", file.path.display()), folder)
    };
    let mut input = tokio::fs::File::open(&file.path)
        .await
        .map_err(unreadable)?;
    let size = input.metadata().await.map_err(unreadable)?.len();
    let payload = if size <= READ_WHOLE_MAX {
        use crate::md5::Md5;
        let mut bytes = Vec::with_capacity(size as usize);
        input.read_to_end(&mut bytes).await.map_err(unreadable)?;
        let md5 = Md5::digest(&bytes);
        Payload::Bytes {
            bytes: Bytes::from(bytes),
            md5,
        }
    } else {
        let mut writer = store.writer(None);
        loop {
            let mut chunk = BytesMut::with_capacity(CHUNK);
            while chunk.len() < CHUNK {
                if input.read_buf(&mut chunk).await.map_err(unreadable)? == 0 {
                    break;
                }
            }
            if chunk.is_empty() {
                break;
            }
            writer
                .write(chunk.freeze())
                .await
                .map_err(|e| about_key(&file.key, e))?;
        }
        Payload::Staged(writer.finish().await.map_err(|e| about_key(&file.key, e))?)
    };
    let attrs = NewObjectAttrs {
        content_type: mime_guess::from_path(&file.key)
            .first_raw()
            .map(str::to_string),
        ..Default::default()
    };
    let meta = store
        .put_object(PutObject {
            bucket: bucket.to_string(),
            key: file.key.clone(),
            payload,
            attrs,
            precondition: None,
            seal: None,
        })
        .await
        .map_err(|e| about_key(&file.key, e))?;
    Ok(meta.size)
}

/// The segments of a relative key that can be a path under a folder, or none.
pub fn safe_segments(relative: &str) -> Option<Vec<&str>> {
    if relative.is_empty() || relative.contains(['\0', '\\']) {
        return None;
    }
    let segments: Vec<&str> = relative.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return None;
    }
    Some(segments)
}

/// Creates the folders of `segments` under `root` (never through a symlink or a
/// file); answers the file's path, or none when the path is not free to write.
fn prepare_path(root: &Path, segments: &[String]) -> std::io::Result<Option<PathBuf>> {
    let (name, folders) = segments.split_last().expect("at least one segment");
    let mut path = root.to_path_buf();
    for folder in folders {
        path.push(folder);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::create_dir(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if !std::fs::symlink_metadata(&path)?.is_dir() {
                            return Ok(None);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    path.push(name);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(None),
        // A file is replaced; so is a symlink (itself, never what it points to).
        Ok(_) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(path)),
        Err(e) => Err(e),
    }
}

/// Writes every object of `bucket` under the prefix into `folder`; see the module comment.
pub async fn export_folder(
    store: &dyn Storage,
    params: FolderParams,
) -> Result<ExportedFolder, S3Error> {
    let FolderParams {
        bucket,
        folder,
        prefix,
    } = params;
    store.bucket_exists(&bucket).await?;
    if !folder.is_empty() {
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| folder_error(format!("cannot create folder {folder}: {e}"), &folder))?;
    }
    let root = existing_folder(&folder).await?;
    let prefix = prefix.unwrap_or_default();
    let mut result = ExportedFolder::default();
    let mut after = None;
    loop {
        let query = ListQuery {
            prefix: prefix.clone(),
            delimiter: None,
            after: after.take(),
            max: 1000,
        };
        let page = store.list_objects(&bucket, query).await?;
        for item in &page.items {
            let Item::Object(meta) = item else { continue };
            let key = meta.key.as_str();
            let relative = key.strip_prefix(prefix.as_str()).unwrap_or(key);
            let target = match safe_segments(relative) {
                Some(segments) => {
                    let segments: Vec<String> = segments.into_iter().map(String::from).collect();
                    let root = root.clone();
                    tokio::task::spawn_blocking(move || prepare_path(&root, &segments))
                        .await
                        .map_err(S3Error::internal)?
                        .map_err(|e| folder_error(format!("{key}: {e}"), &folder))?
                }
                None => None,
            };
            let Some(target) = target else {
                result.skipped_count += 1;
                if result.skipped.len() < MAX_SKIPPED_LISTED {
                    result.skipped.push(key.to_string());
                }
                continue;
            };
            if let Some(bytes) = export_object(store, &bucket, key, &target, &folder).await? {
                result.exported += 1;
                result.bytes += bytes;
            }
        }
        if !page.truncated {
            break;
        }
        match page.items.last() {
            Some(last) => after = Some(last.name().to_string()),
            None => break,
        }
    }
    Ok(result)
}

/// Writes one object to `target`; answers its size, or none if it went meanwhile.
async fn export_object(
    store: &dyn Storage,
    bucket: &str,
    key: &str,
    target: &Path,
    folder: &str,
) -> Result<Option<u64>, S3Error> {
    use futures_util::StreamExt;
    let opened = match store.open_object(bucket, key, None, true, None).await {
        Ok(opened) => opened,
        // Deleted since it was listed.
        Err(StorageError::NoSuchKey { .. }) => return Ok(None),
        Err(e) => return Err(about_key(key, e)),
    };
    let Some(content) = opened.content else {
        return Ok(None);
    };
    let size = opened.meta.size;
    let temp = target.with_file_name(format!(
        ".smartstorage-export-{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let written: Result<(), String> = async {
        let mut out = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        let mut stream = content.stream(0, size);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("{key}: cannot read: {e}"))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        }
        out.flush()
            .await
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        drop(out);
        tokio::fs::rename(&temp, target)
            .await
            .map_err(|e| format!("cannot write {}: {e}", target.display()))
    }
    .await;
    if let Err(message) = written {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(folder_error(message, folder));
    }
    Ok(Some(size))
}

#[cfg(test)]
mod tests {
    use super::safe_segments;

    #[test]
    fn keys_that_would_escape_the_folder_have_no_path() {
        for key in [
            "",
            "../evil",
            "a/../../b",
            "/abs",
            "a//b",
            "a/./b",
            ".",
            "..",
            "a/",
            "a\\b",
            "a\0b",
            "a/..",
        ] {
            assert_eq!(safe_segments(key), None, "{key:?}");
        }
        assert_eq!(safe_segments("a/b.txt"), Some(vec!["a", "b.txt"]));
        assert_eq!(safe_segments("..a/b.."), Some(vec!["..a", "b.."]));
        assert_eq!(safe_segments("ü/ñ…"), Some(vec!["ü", "ñ…"]));
    }
}
