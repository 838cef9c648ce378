//! Request correlation: every request's id and trace, on every log line of its work and on
//! every call it makes, and its count and latency in the HTTP metrics.
//!
//! `tower-http` gives each request an id (the caller's `X-Request-Id`, or a new UUID) and
//! sends it back; [`observe`] then reads the caller's W3C `traceparent` (or starts a trace),
//! opens the `request` span that every log line of the work carries (`request_id`,
//! `trace_id`), and runs the handler, and the response body after it, inside both the span
//! and [`codex_plugin::trace::scope`], where model providers, MCP servers and Python plugins
//! read the trace to pass it on. The body matters: a streamed chat turn does its work while
//! the body is polled, after the handler returned.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use codex_plugin::trace::{self, TraceContext};
use http_body::{Frame, SizeHint};
use tower_http::request_id::RequestId;
use tracing::Instrument;

use crate::telemetry;

/// The request's header that carries the caller's trace.
const TRACEPARENT: &str = "traceparent";

/// The middleware around every route (see the module's documentation).
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    // The matched pattern is shared (cloning it counts a reference).
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::parse);
    // Our own span continues the caller's trace, or starts one (not sampled: we record none).
    let ours = match caller {
        Some(caller) => caller.child(span_id()),
        None => TraceContext {
            trace_id: uuid::Uuid::new_v4().into_bytes(),
            span_id: span_id(),
            flags: 0,
        },
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = %ours.trace_id_hex(),
        method,
        route = %route,
    );
    let response = trace::scope(ours, next.run(request).instrument(span.clone())).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    telemetry::http_request(method, route, status, took);
    span.in_scope(|| {
        tracing::debug!(
            status,
            duration_ms = took.as_secs_f64() * 1000.0,
            "request answered"
        );
    });
    response.map(|inner| {
        Body::new(Correlated {
            inner,
            span,
            trace: ours,
        })
    })
}

/// A fresh random span id.
fn span_id() -> [u8; 8] {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[8..]);
    // The variant bits make byte 8 non-zero, so the id is never the invalid all-zero one.
    id
}

/// The method as a metric label: the standard ones, everything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A response body polled inside its request's span and trace.
struct Correlated {
    inner: Body,
    span: tracing::Span,
    trace: TraceContext,
}

impl http_body::Body for Correlated {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let inner = &mut this.inner;
        trace::sync_scope(this.trace, || Pin::new(inner).poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
