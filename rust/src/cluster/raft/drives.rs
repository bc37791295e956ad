//! The set of drive folders: runs one write on every healthy drive in parallel, marks the drives
//! that fail, and answers whether the write quorum held.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DriveLogState, LogError};

pub(crate) struct Drive {
    pub dir: PathBuf,
    slot: Mutex<Slot>,
}

/// A drive's health and its open log file (reopened lazily after a rewrite or failure).
#[derive(Default)]
pub(crate) struct Slot {
    pub ok: bool,
    pub error: Option<String>,
    pub log: Option<File>,
    pub committed: Option<File>,
}

impl Drive {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
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
                    slot: Mutex::new(Slot::default()),
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
        self.list.iter().filter(|d| d.lock().ok).count()
    }

    pub fn is_ok(&self, i: usize) -> bool {
        self.list[i].lock().ok
    }

    pub fn set(&self, i: usize, result: &io::Result<()>) {
        let mut s = self.list[i].lock();
        s.log = None;
        s.committed = None;
        match result {
            Ok(()) => {
                s.ok = true;
                s.error = None;
            }
            Err(e) => {
                s.ok = false;
                s.error = Some(e.to_string());
            }
        }
    }

    pub fn states(&self) -> Vec<DriveLogState> {
        self.list
            .iter()
            .map(|d| {
                let s = d.lock();
                DriveLogState {
                    dir: d.dir.clone(),
                    ok: s.ok,
                    error: s.error.clone(),
                }
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
        F: Fn(&Path, &mut Slot) -> io::Result<()> + Send + Sync + 'static,
    {
        let op = Arc::new(op);
        let tasks: Vec<_> = self
            .list
            .iter()
            .map(|d| {
                let (d, op) = (d.clone(), op.clone());
                tokio::task::spawn_blocking(move || {
                    let mut s = d.lock();
                    if !s.ok {
                        return false;
                    }
                    match op(&d.dir, &mut s) {
                        Ok(()) => true,
                        Err(e) => {
                            s.ok = false;
                            s.error = Some(e.to_string());
                            s.log = None;
                            s.committed = None;
                            false
                        }
                    }
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
