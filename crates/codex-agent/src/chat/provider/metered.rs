//! The model providers' Prometheus metrics: requests by provider and outcome, their
//! latency, and the tokens they report.
//!
//! A request is counted when its answer ends: `ok` when the stream finished, the failure's
//! kind when it broke or never opened, `cancelled` when the caller dropped it first. Its
//! latency runs from the request to that end. Labels are the configured provider names.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::Stream;

use super::{ChunkStream, ProviderError};

/// Model provider requests by provider and outcome.
pub const MODEL_REQUESTS: &str = "codex_model_requests_total";
/// How long a provider took to answer, to the end of its stream, in seconds.
pub const MODEL_REQUEST_DURATION: &str = "codex_model_request_duration_seconds";
/// Tokens reported by providers, by provider and direction (`in`: prompt, `out`: completion).
pub const MODEL_TOKENS: &str = "codex_model_tokens_total";

/// Says what each family means (the `# HELP` lines).
pub fn describe() {
    metrics::describe_counter!(
        MODEL_REQUESTS,
        "Model provider requests by provider and outcome."
    );
    metrics::describe_histogram!(
        MODEL_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Model provider latency, to the end of the answer."
    );
    metrics::describe_counter!(
        MODEL_TOKENS,
        "Tokens reported by model providers: in (prompt) and out (completion)."
    );
}

impl ProviderError {
    /// The outcome label of a failed request.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            ProviderError::Connect(_) => "connect_error",
            ProviderError::Timeout(_) => "timeout",
            ProviderError::Status { status, .. } if *status >= 500 => "http_5xx",
            ProviderError::Status { .. } => "http_4xx",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::MissingKey(_) => "missing_key",
            ProviderError::Protocol(_) => "protocol_error",
        }
    }
}

/// Counts a request that failed before its answer began.
pub(super) fn failed(provider: &str, started: Instant, error: &ProviderError) {
    record(provider, started, error.outcome());
}

fn record(provider: &str, started: Instant, outcome: &'static str) {
    metrics::counter!(MODEL_REQUESTS, "provider" => provider.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(MODEL_REQUEST_DURATION, "provider" => provider.to_owned())
        .record(started.elapsed().as_secs_f64());
}

/// `stream`, counted when it ends.
pub(super) fn metered(provider: &str, started: Instant, stream: ChunkStream) -> ChunkStream {
    Box::pin(Metered {
        inner: stream,
        provider: provider.to_owned(),
        started,
        outcome: None,
    })
}

struct Metered {
    inner: ChunkStream,
    provider: String,
    started: Instant,
    /// Set once the stream ended, so that the drop does not count it again.
    outcome: Option<&'static str>,
}

impl Stream for Metered {
    type Item = <ChunkStream as Stream>::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(item) = &next
            && self.outcome.is_none()
        {
            match item {
                Some(Ok(chunk)) => {
                    if let Some(usage) = &chunk.usage {
                        let provider = self.provider.clone();
                        metrics::counter!(MODEL_TOKENS, "provider" => provider.clone(), "direction" => "in")
                            .increment(usage.prompt_tokens);
                        metrics::counter!(MODEL_TOKENS, "provider" => provider, "direction" => "out")
                            .increment(usage.completion_tokens);
                    }
                }
                Some(Err(failure)) => {
                    let outcome = failure.error.outcome();
                    self.outcome = Some(outcome);
                    record(&self.provider, self.started, outcome);
                }
                None => {
                    self.outcome = Some("ok");
                    record(&self.provider, self.started, "ok");
                }
            }
        }
        next
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if self.outcome.is_none() {
            record(&self.provider, self.started, "cancelled");
        }
    }
}
