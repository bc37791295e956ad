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
//! before the whole body was sent. It wraps the S3 service from outside (`server.rs`);
//! nothing in the S3 layer knows about it.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

type ResBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// The prefix of every request line (the TypeScript host recognizes it on stderr).
pub const PREFIX: &str = "[request]";

/// What is known about a request when it arrives.
pub struct Entry {
    method: String,
    target: String,
    started: Instant,
}

impl Entry {
    pub fn new<B>(req: &Request<B>) -> Entry {
        let uri = req.uri();
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
        Entry {
            method: req.method().to_string(),
            target,
            started: Instant::now(),
        }
    }

    fn line(&self, status: u16, bytes: u64, complete: bool) -> String {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        format!(
            "{PREFIX} {} {} {status} {bytes} bytes {ms:.1} ms{}",
            self.method,
            self.target,
            if complete { "" } else { " (aborted)" }
        )
    }
}

/// The response, with a body that counts what is sent and logs the line when it is done.
pub fn wrap(entry: Entry, res: Response<ResBody>) -> Response<ResBody> {
    let status = res.status().as_u16();
    // How long the body is, when known: hyper stops polling once that much is sent.
    let expected = if entry.method == "HEAD" {
        Some(0)
    } else {
        res.headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .or_else(|| res.body().size_hint().exact())
    };
    res.map(|inner| {
        LoggedBody {
            inner,
            entry,
            status,
            bytes: 0,
            expected,
            complete: false,
        }
        .boxed_unsync()
    })
}

struct LoggedBody {
    inner: ResBody,
    entry: Entry,
    status: u16,
    bytes: u64,
    expected: Option<u64>,
    complete: bool,
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.complete = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    /// Dropped once hyper has sent the body (or given up on it): the one place that logs.
    fn drop(&mut self) {
        let complete = self.complete
            || self.inner.is_end_stream()
            || self.expected.is_some_and(|n| self.bytes >= n);
        eprintln!("{}", self.entry.line(self.status, self.bytes, complete));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_query_parameters_but_never_their_values() {
        let req = Request::get("/photos/cat.jpg?X-Amz-Signature=secret&versionId=v1&uploads")
            .body(())
            .unwrap();
        let line = Entry::new(&req).line(200, 52133, true);
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
