//! W3C trace context (`traceparent`): the trace a piece of work belongs to, carried beside
//! the work so that what it calls (model providers, MCP servers, Python plugins) joins it.
//!
//! The HTTP edge parses the caller's header (or starts a trace), then runs the request's
//! work inside [`scope`]; anything below reads [`current`]. It travels as a task-local, as
//! `tracing`'s spans do, rather than as a parameter: it crosses every layer (HTTP → chat →
//! provider, executor → host → runtime), and a parameter would change each signature on the
//! way for a value only the edges read.

use std::future::Future;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// One position in a trace: the trace id, the span id of the caller's span, and the
/// trace flags (bit 0: sampled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` header: `version-traceid-spanid-flags` in lowercase hex.
    /// Version `00` must be exactly that; a later version may append fields, which are
    /// ignored (as the specification asks). All-zero ids and version `ff` are invalid.
    pub fn parse(header: &str) -> Option<TraceContext> {
        let header = header.trim();
        let mut parts = header.split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let span_id = parts.next()?;
        let flags = parts.next()?;
        let version = hex::<1>(version)?[0];
        if version == 0xff || (version == 0 && (parts.next().is_some() || header.len() != 55)) {
            return None;
        }
        let context = TraceContext {
            trace_id: hex::<16>(trace_id)?,
            span_id: hex::<8>(span_id)?,
            flags: hex::<1>(flags)?[0],
        };
        if context.trace_id == [0; 16] || context.span_id == [0; 8] {
            return None;
        }
        Some(context)
    }

    /// The same trace, continued from the span `span_id` (ours, when we call on).
    pub fn child(self, span_id: [u8; 8]) -> TraceContext {
        TraceContext { span_id, ..self }
    }

    /// The `traceparent` header value (version `00`).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            to_hex(&self.span_id),
            self.flags
        )
    }

    /// The trace id as 32 lowercase hex digits, as logs show it.
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }
}

/// The trace context of the work in progress, if it runs inside [`scope`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|context| *context).ok()
}

/// Runs `work` with `context` as [`current`].
pub async fn scope<F: Future>(context: TraceContext, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// `work` carrying the trace context current where it is made, for a task spawned to do
/// part of a request's work: task-locals do not cross `tokio::spawn` by themselves.
pub fn carried<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let context = current();
    async move {
        match context {
            Some(context) => scope(context, work).await,
            None => work.await,
        }
    }
}

/// Runs `work` (one poll of a stream, for instance) with `context` as [`current`].
pub fn sync_scope<R>(context: TraceContext, work: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(context, work)
}

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// One lowercase hex digit (the specification allows no uppercase).
fn digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_round_trips() {
        let context = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(context.flags, 1);
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.traceparent(), EXAMPLE);
    }

    #[test]
    fn invalid_headers_are_refused() {
        for header in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn a_later_version_may_append_fields() {
        let header = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert!(TraceContext::parse(header).is_some());
    }

    #[test]
    fn current_is_set_only_inside_a_scope() {
        let context = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(current(), None);
        assert_eq!(sync_scope(context, current), Some(context));
    }
}
