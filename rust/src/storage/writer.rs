//! Streams a request body into a temporary file on a blocking thread, hashing MD5 as
//! it goes. The bounded channel gives backpressure: the network is read no faster
//! than the disk is written, so memory stays bounded at any object size.

use bytes::Bytes;
use md5::{Digest, Md5};
use std::io::Write;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};

use super::error::{Error, Result};

const QUEUE_DEPTH: usize = 8;
const WRITE_BUFFER: usize = 512 * 1024;

enum Msg {
    Data(Bytes),
    Finish,
}

/// A finished temporary file, not yet visible to anyone. Removed on drop unless published.
pub struct TempData {
    pub path: PathBuf,
    pub size: u64,
    pub md5: [u8; 16],
    published: bool,
}

impl TempData {
    pub fn new(path: PathBuf, size: u64, md5: [u8; 16]) -> Self {
        TempData {
            path,
            size,
            md5,
            published: false,
        }
    }
    pub fn mark_published(&mut self) {
        self.published = true;
    }
}

impl Drop for TempData {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub struct TempWriter {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<std::io::Result<TempData>>,
}

impl TempWriter {
    pub fn start(path: PathBuf, fsync: bool) -> Self {
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE_DEPTH);
        let (done_tx, done) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let file = std::fs::File::create(&path)?;
                let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
                let mut md5 = Md5::new();
                let mut size = 0u64;
                loop {
                    match rx.blocking_recv() {
                        Some(Msg::Data(chunk)) => {
                            md5.update(&chunk);
                            size += chunk.len() as u64;
                            out.write_all(&chunk)?;
                        }
                        Some(Msg::Finish) => break,
                        // The request was abandoned: leave nothing behind.
                        None => return Err(std::io::Error::other("upload abandoned")),
                    }
                }
                let file = out.into_inner().map_err(|e| e.into_error())?;
                if fsync {
                    file.sync_data()?;
                }
                Ok(TempData::new(path.clone(), size, md5.finalize().into()))
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            let _ = done_tx.send(result);
        });
        TempWriter { tx, done }
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if self.tx.send(Msg::Data(chunk)).await.is_err() {
            // The writer thread stopped early: its error says why.
            return Err(self.take_error().await);
        }
        Ok(())
    }

    async fn take_error(&mut self) -> Error {
        match (&mut self.done).await {
            Ok(Err(e)) => e.into(),
            _ => Error::internal("temp writer stopped"),
        }
    }

    pub async fn finish(mut self) -> Result<TempData> {
        if self.tx.send(Msg::Finish).await.is_err() {
            return Err(self.take_error().await);
        }
        match self.done.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(Error::internal("temp writer vanished")),
        }
    }
}
