//! Group commit: one `syncfs` makes the writes of many concurrent requests durable.
//!
//! With fsync on, a write was three syncs of its own (data file, metadata file, folder),
//! each a journal commit. Instead each durability point asks [`GroupSync::sync`], which
//! returns once a `syncfs` of the store's file system has *started after* the call and
//! finished: everything the caller wrote before calling is then on disk. Callers that
//! arrive while one runs wait for the next, which one of them runs for all of them
//! (the leader); so at 64 concurrent writers a syncfs serves dozens of requests.
//!
//! One file system is enough: every object, version and temporary file of a store is
//! renamed within its root, and `rename` never crosses file systems.
//!
//! A failed syncfs fails every later sync too, until the engine restarts: the kernel
//! reports a lost write once, to whichever round asks first, which may not be the round
//! of the request whose bytes were lost; so after one, no write is acknowledged again.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Condvar, Mutex};

pub struct GroupSync {
    /// Any open descriptor of the file system: its root folder.
    root: std::fs::File,
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    /// Tickets handed out (each caller takes the next).
    issued: u64,
    /// Every ticket up to this one is covered by a finished round.
    covered: u64,
    running: bool,
    /// Why a round failed, once one has.
    failed: Option<String>,
}

impl GroupSync {
    pub fn open(root: &Path) -> std::io::Result<GroupSync> {
        Ok(GroupSync {
            root: std::fs::File::open(root)?,
            state: Mutex::default(),
            finished: Condvar::new(),
        })
    }

    /// Blocks until everything written before this call is durable.
    pub fn sync(&self) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.issued += 1;
        let ticket = state.issued;
        loop {
            if let Some(why) = &state.failed {
                return Err(std::io::Error::other(format!(
                    "the storage file system lost a write (syncfs: {why}); restart the engine once the disk is checked"
                )));
            }
            if state.covered >= ticket {
                return Ok(());
            }
            if state.running {
                state = self.finished.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Leader: this round covers every ticket issued so far, all of whose writes
            // were made before their holders asked, hence before this syncfs starts.
            state.running = true;
            let through = state.issued;
            drop(state);
            let result = syncfs(&self.root);
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.running = false;
            state.covered = through;
            if let Err(e) = result {
                crate::log::warn(&format!(
                    "syncfs failed, no write is acknowledged from now on: {e}"
                ));
                state.failed = Some(e.to_string());
            }
            self.finished.notify_all();
        }
    }
}

fn syncfs(fd: &std::fs::File) -> std::io::Result<()> {
    // SAFETY: the descriptor is open for the call; syncfs only reads it.
    match unsafe { libc::syncfs(fd.as_raw_fd()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_callers_share_rounds_and_all_return() {
        let dir = std::env::temp_dir();
        let group = Arc::new(GroupSync::open(&dir).unwrap());
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let group = group.clone();
                std::thread::spawn(move || (0..20).for_each(|_| group.sync().unwrap()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let state = group.state.lock().unwrap();
        assert_eq!(state.issued, 32 * 20);
        assert_eq!(state.covered, state.issued);
        assert!(!state.running);
    }
}
