//! The opt-in request log (`serve --log-requests`, `server.logRequests`): one line per
//! request on stderr, written once the response has been sent:
//!
//! ```text
//! [request] PUT /photos/cat.jpg 200 0 bytes 3.1 ms
//! [request] GET /photos?list-type&prefix 200 612 bytes 0.4 ms
//! [request] GET /photos/big.bin 200 65536 bytes 12.9 ms (aborted)
//! ```
//!
//! Fields: method, path with the names (never the values) of the query parameters, so
//! presigned signatures stay out of logs, status, response body bytes sent, and the time
//! from the request head to the end of the response. `(aborted)`: the connection ended
//! before the whole body was sent. Fed by the request observer (`observe.rs`).

use super::observe::{Finished, Started};

/// The prefix of every request line (the TypeScript host recognizes it on stderr).
pub const PREFIX: &str = "[request]";

/// The request's path with the names of its query parameters (never their values).
pub fn target(uri: &http::Uri) -> String {
    let mut target = uri.path().to_string();
    if let Some(query) = uri.query().filter(|q| !q.is_empty()) {
        let names: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap_or(""))
            .collect();
        target.push('?');
        target.push_str(&names.join("&"));
    }
    target
}

pub fn line(started: &Started, done: &Finished) -> String {
    format!(
        "{PREFIX} {} {} {} {} bytes {:.1} ms{}",
        started.method,
        started.target,
        done.status,
        done.bytes_out,
        done.duration.as_secs_f64() * 1000.0,
        if done.complete { "" } else { " (aborted)" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_query_parameters_but_never_their_values() {
        let uri: http::Uri = "/photos/cat.jpg?X-Amz-Signature=secret&versionId=v1&uploads"
            .parse()
            .unwrap();
        let started = Started::for_test("GET", target(&uri));
        let done = Finished::for_test(200, 52133);
        let line = line(&started, &done);
        assert!(
            line.starts_with(
                "[request] GET /photos/cat.jpg?X-Amz-Signature&versionId&uploads 200 52133 bytes "
            ),
            "{line}"
        );
        assert!(line.ends_with(" ms"), "{line}");
        assert!(!line.contains("secret"), "{line}");
    }
}
