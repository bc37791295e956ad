//! Watches each request from its head to the end of its response body and tells the
//! request log, the access log and the metrics how it went. With all three off nothing
//! is wrapped or counted: the S3 path pays nothing for them.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, SizeHint};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::access_log::AccessLog;
use super::metrics::{InFlight, Metrics};
use super::request_log;
use crate::s3::RequestFacts;

type ResBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Who wants to hear about requests.
pub struct Observers {
    pub request_log: bool,
    pub access_log: Option<AccessLog>,
    pub metrics: Option<Arc<Metrics>>,
}

impl Observers {
    pub fn active(&self) -> bool {
        self.request_log || self.access_log.is_some() || self.metrics.is_some()
    }

    /// At the request's head; `received` counts the bytes read on its connection.
    pub fn start<B>(&self, req: &Request<B>, remote: IpAddr, received: &Arc<AtomicU64>) -> Started {
        Started {
            method: req.method().to_string(),
            target: request_log::target(req.uri()),
            remote: Some(remote),
            at: Instant::now(),
            wall: SystemTime::now(),
            received: Some(received.clone()),
            received_before: received.load(Ordering::Relaxed),
            _in_flight: self.metrics.as_ref().map(|m| m.in_flight()),
        }
    }

    /// The response, with a body that reports to the observers once it has been sent.
    pub fn wrap(self: &Arc<Self>, started: Started, res: Response<ResBody>) -> Response<ResBody> {
        let status = res.status().as_u16();
        // How long the body is, when known: hyper stops polling once that much is sent.
        let expected = if started.method == "HEAD" {
            Some(0)
        } else {
            res.headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .or_else(|| res.body().size_hint().exact())
        };
        let facts = res.extensions().get::<RequestFacts>().cloned();
        let observers = self.clone();
        res.map(|inner| {
            ObservedBody {
                inner,
                report: Some(Report {
                    observers,
                    started,
                    status,
                    facts,
                }),
                bytes: 0,
                expected,
                complete: false,
            }
            .boxed_unsync()
        })
    }

    fn finish(&self, started: &Started, done: &Finished) {
        if self.request_log {
            eprintln!("{}", request_log::line(started, done));
        }
        if let Some(log) = &self.access_log {
            log.write(started, done);
        }
        if let Some(metrics) = &self.metrics {
            metrics.observe(done);
        }
    }
}

/// What is known of a request when its head has arrived.
pub struct Started {
    pub method: String,
    /// The path, with the names (never the values) of the query parameters.
    pub target: String,
    pub remote: Option<IpAddr>,
    pub at: Instant,
    pub wall: SystemTime,
    received: Option<Arc<AtomicU64>>,
    received_before: u64,
    _in_flight: Option<InFlight>,
}

/// How a request ended.
pub struct Finished {
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// False when the connection ended before the whole body was sent.
    pub complete: bool,
    pub duration: Duration,
    /// What the S3 layer (or the operations endpoints) said the request was.
    pub facts: Option<RequestFacts>,
}

impl Finished {
    pub fn operation(&self) -> &str {
        self.facts
            .as_ref()
            .map_or("Unknown", |f| f.operation.as_str())
    }
}

#[cfg(test)]
impl Started {
    pub fn for_test(method: &str, target: String) -> Started {
        Started {
            method: method.into(),
            target,
            remote: None,
            at: Instant::now(),
            wall: SystemTime::now(),
            received: None,
            received_before: 0,
            _in_flight: None,
        }
    }
}

#[cfg(test)]
impl Finished {
    pub fn for_test(status: u16, bytes_out: u64) -> Finished {
        Finished {
            status,
            bytes_in: 0,
            bytes_out,
            complete: true,
            duration: Duration::from_micros(1500),
            facts: None,
        }
    }
}

struct Report {
    observers: Arc<Observers>,
    started: Started,
    status: u16,
    facts: Option<RequestFacts>,
}

struct ObservedBody {
    inner: ResBody,
    report: Option<Report>,
    bytes: u64,
    expected: Option<u64>,
    complete: bool,
}

impl Body for ObservedBody {
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

impl Drop for ObservedBody {
    /// Dropped once hyper has sent the body (or given up on it): the one place that reports.
    fn drop(&mut self) {
        let Some(report) = self.report.take() else {
            return;
        };
        let started = &report.started;
        let received = started.received.as_ref();
        let done = Finished {
            status: report.status,
            bytes_in: received.map_or(0, |r| {
                r.load(Ordering::Relaxed)
                    .saturating_sub(started.received_before)
            }),
            bytes_out: self.bytes,
            complete: self.complete
                || self.inner.is_end_stream()
                || self.expected.is_some_and(|n| self.bytes >= n),
            duration: started.at.elapsed(),
            facts: report.facts,
        };
        report.observers.finish(started, &done);
    }
}

/// A connection that counts the bytes read from it (request heads and bodies).
pub struct Counted<S> {
    inner: S,
    received: Arc<AtomicU64>,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> (Counted<S>, Arc<AtomicU64>) {
        let received = Arc::new(AtomicU64::new(0));
        (
            Counted {
                inner,
                received: received.clone(),
            },
            received,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.received.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
