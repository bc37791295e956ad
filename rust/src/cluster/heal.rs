//! Keeping shards whole: bodies in use by readers (leases, so that a body released
//! by an overwrite is deleted only once its last reader is done), the heal queue
//! (fed by reads that met bad shards and by writes that missed a drive), and the
//! background scanner that checks every body each cycle, hashes a sample in full,
//! and removes shard files that nothing refers to.

use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::meta::Body;

/// Bodies being read, and released bodies waiting for their readers to finish.
#[derive(Default)]
pub struct Leases {
    table: Mutex<LeaseTable>,
}

#[derive(Default)]
struct LeaseTable {
    readers: HashMap<String, usize>,
    doomed: HashMap<String, Body>,
}

impl Leases {
    fn with<R>(&self, f: impl FnOnce(&mut LeaseTable) -> R) -> R {
        f(&mut self.table.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn take(&self, bodies: &[Body]) {
        self.with(|t| {
            for b in bodies {
                *t.readers.entry(b.id.clone()).or_default() += 1;
            }
        })
    }

    /// Ends a read; answers the bodies that may be deleted now.
    pub fn give_back(&self, bodies: &[Body]) -> Vec<Body> {
        self.with(|t| {
            let mut free = Vec::new();
            for b in bodies {
                if let Some(n) = t.readers.get_mut(&b.id) {
                    *n -= 1;
                    if *n == 0 {
                        t.readers.remove(&b.id);
                        free.extend(t.doomed.remove(&b.id));
                    }
                }
            }
            free
        })
    }

    pub fn is_leased(&self, id: &str) -> bool {
        self.with(|t| t.readers.contains_key(id))
    }

    /// Released bodies: those without readers may be deleted now; the rest wait.
    pub fn doom(&self, bodies: Vec<Body>) -> Vec<Body> {
        self.with(|t| {
            let mut free = Vec::new();
            for b in bodies {
                if t.readers.contains_key(&b.id) {
                    t.doomed.insert(b.id.clone(), b);
                } else {
                    free.push(b);
                }
            }
            free
        })
    }
}

/// The healing counters of the health report.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealStats {
    pub queued: u64,
    pub in_progress: u64,
    pub healed_objects: u64,
    pub healed_bytes: u64,
    pub failed: u64,
    pub scanner: ScannerStats,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannerStats {
    pub cycle: u64,
    /// Unix milliseconds.
    pub last_started_at: Option<i64>,
    pub last_finished_at: Option<i64>,
}

/// A body to heal, with the shards a read found bad.
type Job = (Body, Vec<usize>);

/// Bodies waiting to be healed (each once), and what healing has done so far.
#[derive(Default)]
pub struct HealQueue {
    queue: Mutex<(VecDeque<Job>, HashSet<String>)>,
    pub wake: tokio::sync::Notify,
    in_progress: AtomicU64,
    healed_objects: AtomicU64,
    healed_bytes: AtomicU64,
    failed: AtomicU64,
    scanner: Mutex<ScannerStats>,
}

impl HealQueue {
    /// Queues a body (with shards known to be bad), unless it is queued already.
    pub fn push(&self, body: Body, bad: Vec<usize>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.1.insert(body.id.clone()) {
            q.0.push_back((body, bad));
            self.wake.notify_one();
        }
    }

    pub fn pop(&self) -> Option<(Body, Vec<usize>)> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let next = q.0.pop_front();
        if let Some((body, _)) = &next {
            q.1.remove(&body.id);
            self.in_progress.fetch_add(1, Ordering::Relaxed);
        }
        next
    }

    /// Records the end of one heal (`Some(bytes)` written, `None` failed).
    pub fn done(&self, result: Option<u64>) {
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        match result {
            Some(0) => {}
            Some(bytes) => {
                self.healed_objects.fetch_add(1, Ordering::Relaxed);
                self.healed_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            None => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn scan_started(&self) {
        let mut s = self.scanner.lock().unwrap_or_else(|e| e.into_inner());
        s.cycle += 1;
        s.last_started_at = Some(chrono::Utc::now().timestamp_millis());
    }

    pub fn scan_finished(&self) {
        let mut s = self.scanner.lock().unwrap_or_else(|e| e.into_inner());
        s.last_finished_at = Some(chrono::Utc::now().timestamp_millis());
    }

    pub fn stats(&self) -> HealStats {
        let queued = self.queue.lock().unwrap_or_else(|e| e.into_inner()).0.len() as u64;
        HealStats {
            queued,
            in_progress: self.in_progress.load(Ordering::Relaxed),
            healed_objects: self.healed_objects.load(Ordering::Relaxed),
            healed_bytes: self.healed_bytes.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            scanner: self
                .scanner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
