//! Logging: human lines on stderr, and (in management mode) `log` events to the host.

use std::io::Write;
use std::sync::OnceLock;

/// Receives (level, message).
pub type Sink = Box<dyn Fn(&str, &str) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Route log lines to another sink (management mode forwards them as events).
pub fn set_sink(sink: Sink) {
    let _ = SINK.set(sink);
}

/// A line on stderr. Not `eprintln!`, which panics when the write fails: stderr may be a
/// file on the very disk that is full.
fn to_stderr(level: &str, message: &str) {
    let _ = writeln!(std::io::stderr(), "[ruststorage] {level}: {message}");
}

fn emit(level: &str, message: &str) {
    to_stderr(level, message);
    if let Some(sink) = SINK.get() {
        sink(level, message);
    }
}

/// Detail for whoever reads stderr; not forwarded to the host.
pub fn debug(message: &str) {
    to_stderr("debug", message);
}
pub fn info(message: &str) {
    emit("info", message)
}
pub fn warn(message: &str) {
    emit("warn", message)
}
pub fn error(message: &str) {
    emit("error", message)
}
