//! The set of drive folders: runs one write on every healthy drive in parallel, marks the drives
//! that fail, and answers whether the write quorum held.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DriveLogState, LogError};

/// A drive's health lives apart from its files so that asking about it never waits for the
/// drive's I/O (an fsync can take milliseconds, and the asker may be an async task).
pub(crate) struct Drive {
    pub dir: PathBuf,
    ok: AtomicBool,
    error: Mutex<Option<String>>,
    files: Mutex<Files>,
}

/// The drive's open files, reopened lazily after a rewrite or a failure.
#[derive(Default)]
pub(crate) struct Files {
    pub log: Option<File>,
    pub committed: Option<File>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drive {
    fn mark(&self, result: &io::Result<()>) {
        *lock(&self.error) = result.as_ref().err().map(|e| e.to_string());
        self.ok.store(result.is_ok(), Ordering::Release);
    }
}

pub(crate) struct Drives {
    pub list: Vec<Arc<Drive>>,
    pub quorum: usize,
    pub fsync: bool,
}

impl Drives {
    /// All drives start not ok; open marks the ones it could read and bring up to date.
    pub fn new(dirs: &[PathBuf], quorum: usize, fsync: bool) -> Self {
        let list = dirs
            .iter()
            .map(|d| {
                Arc::new(Drive {
                    dir: d.clone(),
                    ok: AtomicBool::new(false),
                    error: Mutex::new(None),
                    files: Mutex::new(Files::default()),
                })
            })
            .collect();
        Drives {
            list,
            quorum,
            fsync,
        }
    }

    pub fn ok_count(&self) -> usize {
        self.list
            .iter()
            .filter(|d| d.ok.load(Ordering::Acquire))
            .count()
    }

    pub fn is_ok(&self, i: usize) -> bool {
        self.list[i].ok.load(Ordering::Acquire)
    }

    /// Records the outcome of reading or rewriting drive `i` (its files were replaced: the
    /// open handles go).
    pub fn set(&self, i: usize, result: &io::Result<()>) {
        let d = &self.list[i];
        *lock(&d.files) = Files::default();
        d.mark(result);
    }

    pub fn states(&self) -> Vec<DriveLogState> {
        self.list
            .iter()
            .map(|d| DriveLogState {
                dir: d.dir.clone(),
                ok: d.ok.load(Ordering::Acquire),
                error: lock(&d.error).clone(),
            })
            .collect()
    }

    pub fn check_quorum(&self) -> Result<(), LogError> {
        let ok = self.ok_count();
        if ok < self.quorum {
            return Err(LogError::Unavailable(format!(
                "{ok} of {} log drives usable, {} needed",
                self.list.len(),
                self.quorum
            )));
        }
        Ok(())
    }

    /// Runs `op` on every ok drive, each in the blocking pool, all at once. A drive whose `op`
    /// fails is marked not ok (and left alone until a resync). Fails with `Unavailable` when
    /// fewer than `quorum` drives succeeded.
    pub async fn each_ok<F>(&self, op: F) -> Result<(), LogError>
    where
        F: Fn(&Path, &mut Files) -> io::Result<()> + Send + Sync + 'static,
    {
        let op = Arc::new(op);
        let tasks: Vec<_> = self
            .list
            .iter()
            .filter(|d| d.ok.load(Ordering::Acquire))
            .map(|d| {
                let (d, op) = (d.clone(), op.clone());
                tokio::task::spawn_blocking(move || {
                    let mut files = lock(&d.files);
                    let r = op(&d.dir, &mut files);
                    if r.is_err() {
                        *files = Files::default();
                        d.mark(&r);
                    }
                    r.is_ok()
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            if t.await.unwrap_or(false) {
                done += 1;
            }
        }
        if done < self.quorum {
            return Err(LogError::Unavailable(format!(
                "log write reached {done} of {} drives, {} needed",
                self.list.len(),
                self.quorum
            )));
        }
        Ok(())
    }
}
