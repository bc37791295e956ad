//! What the disk under the store can hold, and whether it answers: statvfs
//! figures and a small timed probe write.

use serde::Serialize;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    pub path: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// Free bytes available to this (unprivileged) process.
    pub available_bytes: u64,
}

pub fn capacity(path: &Path) -> std::io::Result<Capacity> {
    use std::os::unix::ffi::OsStrExt;
    let c_path =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and st a properly sized out-parameter.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok(Capacity {
        path: path.display().to_string(),
        total_bytes: st.f_blocks as u64 * frsize,
        free_bytes: st.f_bfree as u64 * frsize,
        available_bytes: st.f_bavail as u64 * frsize,
    })
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveProbe {
    pub path: String,
    pub reachable: bool,
    pub writable: bool,
    /// Time to write, fsync and remove a 4 KiB probe file.
    pub probe_latency_ms: Option<f64>,
    pub available_bytes: Option<u64>,
    pub error: Option<String>,
}

/// Probes a storage location by writing a small file into `tmp_dir` (on the same disk).
pub fn probe(root: &Path, tmp_dir: &Path) -> DriveProbe {
    let path = root.display().to_string();
    let reachable = root.is_dir();
    let written = write_probe(tmp_dir);
    DriveProbe {
        path,
        reachable,
        writable: written.is_ok(),
        probe_latency_ms: written.as_ref().ok().copied(),
        available_bytes: capacity(root).ok().map(|c| c.available_bytes),
        error: written.err().map(|e| e.to_string()),
    }
}

/// Writes, fsyncs and removes a 4 KiB file in `dir`; answers how long it took (ms).
pub fn write_probe(dir: &Path) -> std::io::Result<f64> {
    let started = std::time::Instant::now();
    let file = dir.join(format!("probe-{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = std::fs::File::create(&file)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()?;
        std::fs::remove_file(&file)
    })();
    let _ = std::fs::remove_file(&file);
    written.map(|()| started.elapsed().as_secs_f64() * 1000.0)
}
