//! `RaftStateMachine` over the caller's `Machine`: commands are applied in memory; durability
//! comes from the log plus the snapshots, which are written to every healthy drive.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageError, StorageIOError, StoredMembership};

use super::disk::{Ent, Id, Meta};
use super::log_store::Shared;
use super::{Machine, Member, TypeConfig};

/// What has been applied; changed only while the machine's write lock is held, so a reader
/// holding the machine's read lock sees both consistent.
#[derive(Clone, Default)]
pub(crate) struct Applied {
    pub last: Option<Id>,
    pub membership: StoredMembership<u64, Member>,
}

pub(crate) struct StateMachine<M: Machine> {
    pub machine: Arc<RwLock<M>>,
    pub applied: Arc<Mutex<Applied>>,
    pub shared: Arc<Shared>,
    seq: Arc<AtomicU64>,
}

impl<M: Machine> Clone for StateMachine<M> {
    fn clone(&self) -> Self {
        StateMachine {
            machine: self.machine.clone(),
            applied: self.applied.clone(),
            shared: self.shared.clone(),
            seq: self.seq.clone(),
        }
    }
}

impl<M: Machine> StateMachine<M> {
    pub fn new(machine: Arc<RwLock<M>>, applied: Applied, shared: Arc<Shared>) -> Self {
        StateMachine {
            machine,
            applied: Arc::new(Mutex::new(applied)),
            shared,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn write_lock<M>(m: &RwLock<M>) -> std::sync::RwLockWriteGuard<'_, M> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

impl<M: Machine> RaftSnapshotBuilder<TypeConfig> for StateMachine<M> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (applied, data) = {
            let m = self.machine.read().unwrap_or_else(|p| p.into_inner());
            (self.applied().clone(), m.snapshot())
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let meta = Meta {
            snapshot_id: format!(
                "{}-{seq}",
                applied.last.map(|l| l.to_string()).unwrap_or_default()
            ),
            last_log_id: applied.last,
            last_membership: applied.membership,
        };
        let data = Arc::new(data);
        self.shared
            .save_snapshot(meta.clone(), data.clone())
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        })
    }
}

impl<M: Machine> RaftStateMachine<TypeConfig> for StateMachine<M> {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<Id>, StoredMembership<u64, Member>), StorageError<u64>> {
        let a = self.applied().clone();
        Ok((a.last, a.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<u8>>, StorageError<u64>>
    where
        I: IntoIterator<Item = Ent> + Send,
        I::IntoIter: Send,
    {
        let mut m = write_lock(&self.machine);
        let mut out = Vec::new();
        for e in entries {
            let resp = match &e.payload {
                EntryPayload::Blank => Vec::new(),
                // A batch of commands (batch.rs); anything else counts as one command.
                EntryPayload::Normal(payload) => match super::batch::decode_commands(payload) {
                    Some(cmds) => {
                        let resps: Vec<_> = cmds.into_iter().map(|c| m.apply(c)).collect();
                        super::batch::encode_responses(&resps)
                    }
                    None => super::batch::encode_responses(&[m.apply(payload)]),
                },
                EntryPayload::Membership(mem) => {
                    self.applied().membership = StoredMembership::new(Some(e.log_id), mem.clone());
                    Vec::new()
                }
            };
            self.applied().last = Some(e.log_id);
            out.push(resp);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = Arc::new(snapshot.into_inner());
        {
            let mut m = write_lock(&self.machine);
            m.restore(&data)
                .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
            *self.applied() = Applied {
                last: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        self.shared
            .save_snapshot(meta.clone(), data)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let snap = self.shared.mem().snapshot.clone();
        Ok(snap.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data.to_vec())),
        }))
    }
}
