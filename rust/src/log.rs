//! Logging: human lines on stderr, and (in management mode) `log` events to the host.

use std::sync::OnceLock;

/// Receives (level, message).
pub type Sink = Box<dyn Fn(&str, &str) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Route log lines to another sink (management mode forwards them as events).
pub fn set_sink(sink: Sink) {
    let _ = SINK.set(sink);
}

fn emit(level: &str, message: &str) {
    eprintln!("[ruststorage] {level}: {message}");
    if let Some(sink) = SINK.get() {
        sink(level, message);
    }
}

/// Detail for whoever reads stderr; not forwarded to the host.
pub fn debug(message: &str) {
    eprintln!("[ruststorage] debug: {message}");
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
