//! Model providers: any OpenAI-compatible server, and the chain that falls back from one to
//! the next.
//!
//! A connection error, a timeout or a 5xx moves on to the next provider; a 429 retries the
//! same provider with backoff (honouring `Retry-After`, bounded) before moving on; any other
//! 4xx is our request's fault, so it is answered at once without trying the others.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::openai::{ChatCompletionChunk, ChatCompletionRequest};

mod metered;
pub use metered::describe as describe_metrics;

/// The longest wait between two tries of a rate-limited provider, whatever it asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
/// The first backoff when a 429 carries no `Retry-After`; doubled on each retry.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// How much of an error body is kept in messages.
const MAX_BODY_IN_ERROR: usize = 300;

/// One OpenAI-compatible server, from the `[[model.providers]]` config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    /// Up to and including the version, e.g. `http://127.0.0.1:11434/v1`;
    /// `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key, sent as a bearer token.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Bounds the whole call, connection to last byte.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How many times a 429 is retried before moving on.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// A cap on each answer's length, sent as `max_tokens` when the request sets neither
    /// `max_tokens` nor `max_completion_tokens` itself (a client's own cap wins).
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

fn default_timeout_ms() -> u64 {
    60_000
}

fn default_max_retries() -> u32 {
    2
}

/// Why one provider gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("still rate limited (HTTP 429) after {retries} retries")]
    RateLimited { retries: u32 },
    #[error("the API key variable {0} is not set")]
    MissingKey(String),
    #[error("bad answer: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Whether the next provider should be tried.
    fn falls_back(&self) -> bool {
        match self {
            ProviderError::Status { status, .. } => *status >= 500,
            _ => true,
        }
    }
}

/// One provider's failure, named.
#[derive(Debug, Clone)]
pub struct ProviderFailure {
    pub provider: String,
    pub error: ProviderError,
}

impl std::fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.provider, self.error)
    }
}

/// The chunks of one streamed answer.
pub type ChunkStream = BoxStream<'static, Result<ChatCompletionChunk, ProviderFailure>>;

struct Provider {
    config: ProviderConfig,
    url: String,
}

/// The providers in order of preference. Cheap to clone.
#[derive(Clone)]
pub struct ProviderChain {
    providers: std::sync::Arc<Vec<Provider>>,
    client: reqwest::Client,
}

impl ProviderChain {
    /// `None` when no provider is configured.
    pub fn new(configs: &[ProviderConfig]) -> Option<Self> {
        if configs.is_empty() {
            return None;
        }
        let providers = configs
            .iter()
            .map(|config| Provider {
                url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
                config: config.clone(),
            })
            .collect();
        Some(ProviderChain {
            providers: std::sync::Arc::new(providers),
            client: reqwest::Client::new(),
        })
    }

    pub fn configs(&self) -> impl Iterator<Item = &ProviderConfig> {
        self.providers.iter().map(|p| &p.config)
    }

    /// Streams one answer from the first provider that takes the request. `request.model`
    /// is set to each provider's model. Fallback happens before the first chunk; a stream
    /// that breaks afterwards ends with an error.
    ///
    /// `request.stream == Some(false)` asks each provider for its whole answer instead, which
    /// comes as one chunk: some servers (llama-cpp-python) report usage only there.
    pub async fn stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, Vec<ProviderFailure>> {
        let mut failures = Vec::new();
        for provider in self.providers.iter() {
            let started = Instant::now();
            match self.open(provider, request).await {
                Ok(stream) => return Ok(metered::metered(&provider.config.name, started, stream)),
                Err(error) => {
                    metered::failed(&provider.config.name, started, &error);
                    tracing::warn!(provider = %provider.config.name, error = %error, "model provider failed");
                    let falls_back = error.falls_back();
                    failures.push(ProviderFailure {
                        provider: provider.config.name.clone(),
                        error,
                    });
                    if !falls_back {
                        break;
                    }
                }
            }
        }
        Err(failures)
    }

    async fn open(
        &self,
        provider: &Provider,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let config = &provider.config;
        let mut body = request.clone();
        body.model = Some(config.model.clone());
        let streamed = request.stream != Some(false);
        body.stream = Some(streamed);
        body.stream_options = streamed.then(|| serde_json::json!({"include_usage": true}));
        if let Some(max_tokens) = config.max_tokens
            && !body.extra.contains_key("max_tokens")
            && !body.extra.contains_key("max_completion_tokens")
        {
            body.extra
                .insert("max_tokens".to_owned(), max_tokens.into());
        }
        let key = match &config.api_key_env {
            Some(var) => {
                Some(std::env::var(var).map_err(|_| ProviderError::MissingKey(var.clone()))?)
            }
            None => None,
        };
        // The request's trace, passed on from our own span (see `codex_plugin::trace`).
        let traceparent = codex_plugin::trace::current().map(|trace| trace.traceparent());
        let timeout = Duration::from_millis(config.timeout_ms);
        let deadline = tokio::time::Instant::now() + timeout;
        // 429s are retried with exponential backoff from BASE_BACKOFF, or after the wait
        // the server asks for, never longer than MAX_RETRY_WAIT.
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(BASE_BACKOFF)
            .with_max_delay(MAX_RETRY_WAIT)
            .with_max_times(config.max_retries as usize)
            .build();
        let mut retries = 0;
        let response = loop {
            let mut call = self.client.post(&provider.url).json(&body).timeout(timeout);
            if let Some(trace) = &traceparent {
                call = call.header("traceparent", trace);
            }
            if let Some(key) = &key {
                call = call.bearer_auth(key);
            }
            let response = call.send().await.map_err(|e| classify(&e, config))?;
            let status = response.status();
            if status.as_u16() == 429 {
                let Some(delay) = backoff.next() else {
                    return Err(ProviderError::RateLimited { retries });
                };
                let wait = retry_after(&response).unwrap_or(delay).min(MAX_RETRY_WAIT);
                retries += 1;
                tracing::info!(provider = %config.name, wait_ms = wait.as_millis() as u64, "rate limited, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                return Err(ProviderError::Status {
                    status: status.as_u16(),
                    body: truncate(&text),
                });
            }
            break response;
        };
        let name = config.name.clone();
        let timeout_ms = config.timeout_ms;
        let is_sse = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let fail = move |error: ProviderError| ProviderFailure {
            provider: name.clone(),
            error,
        };
        if !is_sse {
            // Some servers ignore `stream: true`: take their whole answer as one chunk.
            let bytes = tokio::time::timeout_at(deadline, response.bytes())
                .await
                .map_err(|_| ProviderError::Timeout(timeout_ms))?
                .map_err(|e| classify(&e, config))?;
            let chunk = whole_answer_as_chunk(&bytes)?;
            return Ok(futures::stream::iter([Ok(chunk)]).boxed());
        }
        let mut events = response.bytes_stream().eventsource();
        let stream = async_stream::stream! {
            loop {
                let next = match tokio::time::timeout_at(deadline, events.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        yield Err(fail(ProviderError::Timeout(timeout_ms)));
                        return;
                    }
                };
                let Some(event) = next else {
                    // The server closed without `[DONE]`: what came is the answer.
                    return;
                };
                let data = match event {
                    Ok(event) => event.data,
                    Err(e) => {
                        yield Err(fail(ProviderError::Protocol(format!("stream broken: {e}"))));
                        return;
                    }
                };
                match parse_event(&data) {
                    Ok(Some(chunk)) => yield Ok(chunk),
                    Ok(None) => continue,
                    Err(ParsedEnd::Done) => return,
                    Err(ParsedEnd::Failed(error)) => {
                        yield Err(fail(error));
                        return;
                    }
                }
            }
        };
        Ok(stream.boxed())
    }
}

/// Why an event ends the stream.
pub(super) enum ParsedEnd {
    /// `data: [DONE]`.
    Done,
    Failed(ProviderError),
}

/// One server-sent event's data: a chunk, nothing (an empty keep-alive), or the end.
pub(super) fn parse_event(data: &str) -> Result<Option<ChatCompletionChunk>, ParsedEnd> {
    let data = data.trim();
    if data == "[DONE]" {
        return Err(ParsedEnd::Done);
    }
    if data.is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<ChatCompletionChunk>(data)
        .map(Some)
        .map_err(|e| {
            ParsedEnd::Failed(ProviderError::Protocol(format!(
                "not a chunk ({e}): {}",
                truncate(data)
            )))
        })
}

fn classify(error: &reqwest::Error, config: &ProviderConfig) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout(config.timeout_ms)
    } else {
        ProviderError::Connect(error_chain(error))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_BODY_IN_ERROR) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// A non-streamed answer turned into the one chunk that says the same.
fn whole_answer_as_chunk(bytes: &[u8]) -> Result<ChatCompletionChunk, ProviderError> {
    use crate::openai::{ChatCompletionResponse, ChunkChoice, Delta, ToolCallDelta};
    let answer: ChatCompletionResponse = serde_json::from_slice(bytes).map_err(|e| {
        ProviderError::Protocol(format!(
            "not a completion ({e}): {}",
            truncate(&String::from_utf8_lossy(bytes))
        ))
    })?;
    let choices = answer
        .choices
        .into_iter()
        .map(|choice| {
            let text = choice.message.text_content();
            ChunkChoice {
                index: choice.index,
                delta: Delta {
                    role: Some(choice.message.role.clone()),
                    content: (!text.is_empty()).then_some(text),
                    tool_calls: choice.message.tool_calls.map(ToolCallDelta::from_calls),
                },
                finish_reason: choice.finish_reason,
            }
        })
        .collect();
    Ok(ChatCompletionChunk {
        id: answer.id,
        object: "chat.completion.chunk".to_owned(),
        created: answer.created,
        model: answer.model,
        choices,
        usage: answer.usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(body: &'static str) -> Vec<Result<Option<String>, String>> {
        let bytes = futures::stream::iter(
            body.as_bytes()
                .chunks(7)
                .map(|piece| Ok::<_, std::io::Error>(piece.to_vec())),
        );
        let events: Vec<_> = futures::executor::block_on(bytes.eventsource().collect());
        events
            .into_iter()
            .map(|event| match parse_event(&event.expect("event").data) {
                Ok(chunk) => Ok(chunk.map(|c| c.id)),
                Err(ParsedEnd::Done) => Err("done".to_owned()),
                Err(ParsedEnd::Failed(e)) => Err(e.to_string()),
            })
            .collect()
    }

    #[test]
    fn events_split_anywhere_parse_into_chunks_then_done() {
        let body = "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[]}\n\n\
                    : a comment line\n\n\
                    data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[]}\r\n\r\n\
                    data: [DONE]\n\n";
        assert_eq!(
            chunks_of(body),
            [
                Ok(Some("a".to_owned())),
                Ok(Some("b".to_owned())),
                Err("done".to_owned())
            ]
        );
    }

    #[test]
    fn a_line_that_is_not_a_chunk_is_a_protocol_error() {
        let results = chunks_of("data: {not json}\n\n");
        assert!(
            matches!(results.as_slice(), [Err(message)] if message.starts_with("bad answer: not a chunk")),
            "{results:?}"
        );
    }
}
