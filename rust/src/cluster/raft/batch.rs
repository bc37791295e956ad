//! Group commit above openraft: openraft 0.9 waits for each append to be flushed before the
//! next, so one entry per command would cost one drive write (and fsync) per command. The
//! writes that arrive while an entry is in flight are gathered into the next entry instead;
//! the machine still sees them one by one, in order.
//!
//! An entry's payload is `[count u32]([len u32][command])*`; its response is
//! `([len u32][response])*`, one per command.

use std::sync::Arc;

use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot};

use super::log_store::Shared;
use super::{LogError, TypeConfig};

/// At most this many commands, or about this many bytes, per entry.
const MAX_COMMANDS: usize = 1024;
const MAX_BYTES: usize = 4 << 20;

pub(crate) type Waiter = (Vec<u8>, oneshot::Sender<Result<Vec<u8>, LogError>>);

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Some(head)
}

fn take_len(b: &mut &[u8]) -> Option<usize> {
    Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize)
}

pub(crate) fn encode_commands<'a>(cmds: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    put_len(&mut out, cmds.len());
    for c in cmds {
        put_len(&mut out, c.len());
        out.extend_from_slice(c);
    }
    out
}

/// `None` for a payload this module did not write.
pub(crate) fn decode_commands(mut b: &[u8]) -> Option<Vec<&[u8]>> {
    let n = take_len(&mut b)?;
    let mut out = Vec::with_capacity(n.min(MAX_COMMANDS));
    for _ in 0..n {
        let len = take_len(&mut b)?;
        out.push(take(&mut b, len)?);
    }
    b.is_empty().then_some(out)
}

pub(crate) fn encode_responses(resps: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in resps {
        put_len(&mut out, r.len());
        out.extend_from_slice(r);
    }
    out
}

fn decode_responses(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(len) = take_len(&mut b) {
        match take(&mut b, len) {
            Some(r) => out.push(r.to_vec()),
            None => break,
        }
    }
    out
}

/// One error for each waiter of a failed batch.
fn copy_err(e: &LogError) -> LogError {
    match e {
        LogError::Unavailable(s) => LogError::Unavailable(s.clone()),
        LogError::Io(e) => LogError::Io(std::io::Error::new(e.kind(), e.to_string())),
        LogError::NotLeader(l) => LogError::NotLeader(*l),
        LogError::Stopped(s) => LogError::Stopped(s.clone()),
        LogError::Invalid(s) => LogError::Invalid(s.clone()),
    }
}

/// A failure of the Raft node: `Unavailable` when the drives lost their quorum (that is why it
/// stopped), `Stopped` otherwise.
pub(crate) fn stopped(shared: &Shared, e: impl std::fmt::Display) -> LogError {
    match shared.drives.check_quorum() {
        Err(LogError::Unavailable(s)) => LogError::Unavailable(format!("{s} ({e})")),
        _ => LogError::Stopped(e.to_string()),
    }
}

/// The batching task: ends when every sender is gone.
pub(crate) async fn run(
    raft: Raft<TypeConfig>,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
) {
    while let Some(first) = rx.recv().await {
        let mut size = first.0.len();
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS && size < MAX_BYTES {
            match rx.try_recv() {
                Ok(w) => {
                    size += w.0.len();
                    batch.push(w);
                }
                Err(_) => break,
            }
        }
        let payload = encode_commands(batch.iter().map(|(c, _)| c.as_slice()));
        let result = match raft.client_write(payload).await {
            Ok(r) => Ok(decode_responses(&r.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(LogError::NotLeader(f.leader_id))
            }
            Err(e) => Err(stopped(&shared, e)),
        };
        match result {
            Ok(resps) => {
                let mut resps = resps.into_iter();
                for (_, tx) in batch {
                    let _ = tx.send(Ok(resps.next().unwrap_or_default()));
                }
            }
            Err(e) => {
                for (_, tx) in batch {
                    let _ = tx.send(Err(copy_err(&e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cmds: Vec<&[u8]> = vec![b"a", b"", b"xyz"];
        let enc = encode_commands(cmds.iter().copied());
        assert_eq!(decode_commands(&enc), Some(cmds));
        assert_eq!(decode_commands(&enc[..enc.len() - 1]), None);
        assert_eq!(decode_commands(b"raw command"), None);
        let resps = vec![b"1".to_vec(), vec![], b"22".to_vec()];
        assert_eq!(decode_responses(&encode_responses(&resps)), resps);
    }
}
