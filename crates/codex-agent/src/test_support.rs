//! A real HTTP server speaking the OpenAI chat-completions protocol with scripted answers,
//! for tests here and in the crates above (feature `test-support`).
//!
//! Each request takes the next answer from the script (a `500` when it is exhausted) and is
//! recorded, so tests can assert what was sent: the tools offered, the tool results fed
//! back, the system prompt, the memory. Answers are streamed as server-sent events when the
//! request says `stream: true`, and sent as one JSON body otherwise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The usage every scripted answer reports.
pub const USAGE: Usage = Usage {
    prompt_tokens: 10,
    completion_tokens: 5,
};

/// Token counts of one scripted answer.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// A text reply (one chunk when streamed).
    Reply(String),
    /// A text reply streamed in these pieces.
    Chunks(Vec<String>),
    /// Tool calls `(name, arguments)`, ids `call_<n>` where n counts from 1 over the
    /// server's life; several calls are parallel calls.
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error with this status and body.
    Status(u16, String),
    /// A 429, with `Retry-After` seconds when given.
    RateLimited(Option<u64>),
    /// Waits, then answers.
    Slow(Duration, Box<Scripted>),
}

impl Scripted {
    pub fn reply(text: &str) -> Self {
        Scripted::Reply(text.to_owned())
    }

    pub fn chunks(pieces: &[&str]) -> Self {
        Scripted::Chunks(pieces.iter().map(|p| (*p).to_owned()).collect())
    }

    pub fn tool_call(name: &str, arguments: Value) -> Self {
        Scripted::ToolCalls(vec![(name.to_owned(), arguments)])
    }

    pub fn tool_calls(calls: &[(&str, Value)]) -> Self {
        Scripted::ToolCalls(
            calls
                .iter()
                .map(|(name, arguments)| ((*name).to_owned(), arguments.clone()))
                .collect(),
        )
    }

    pub fn slow(delay: Duration, then: Scripted) -> Self {
        Scripted::Slow(delay, Box::new(then))
    }
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<Value>>,
    /// Each request's `traceparent` header, in order.
    traceparents: Mutex<Vec<Option<String>>>,
    calls: Mutex<u64>,
}

/// The server; stops when dropped.
pub struct ScriptedServer {
    base_url: String,
    script: Arc<Script>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ScriptedServer {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(answers: Vec<Scripted>) -> ScriptedServer {
        let script = Arc::new(Script {
            answers: Mutex::new(answers.into()),
            ..Script::default()
        });
        let router = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "scripted model server stopped");
            }
        });
        ScriptedServer {
            base_url: format!("http://{address}/v1"),
            script,
            server,
        }
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Adds answers at the end of the script.
    pub fn push(&self, answer: Scripted) {
        lock(&self.script.answers).push_back(answer);
    }

    /// The request bodies received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.script.requests).clone()
    }

    /// Each request's `traceparent` header so far, in order.
    pub fn traceparents(&self) -> Vec<Option<String>> {
        lock(&self.script.traceparents).clone()
    }

    /// How many answers are left.
    pub fn remaining(&self) -> usize {
        lock(&self.script.answers).len()
    }
}

/// A base URL where nothing listens (connection refused).
pub async fn refused_base_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}/v1")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(
    State(script): State<Arc<Script>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    lock(&script.requests).push(body.clone());
    lock(&script.traceparents).push(
        headers
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    );
    let next = lock(&script.answers).pop_front();
    let mut next = next.unwrap_or_else(|| Scripted::Status(500, "script exhausted".to_owned()));
    while let Scripted::Slow(delay, then) = next {
        tokio::time::sleep(delay).await;
        next = *then;
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("scripted")
        .to_owned();
    match next {
        Scripted::Status(status, text) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"error": {"message": text, "type": "scripted"}})),
        )
            .into_response(),
        Scripted::RateLimited(retry_after) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"error": {"message": "slow down", "type": "rate_limit"}})),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.into());
            }
            response
        }
        Scripted::Reply(text) => respond(stream, &model, Content::Text(vec![text])),
        Scripted::Chunks(pieces) => respond(stream, &model, Content::Text(pieces)),
        Scripted::ToolCalls(calls) => {
            let mut counter = lock(&script.calls);
            let calls = calls
                .into_iter()
                .map(|(name, arguments)| {
                    *counter += 1;
                    (format!("call_{counter}"), name, arguments.to_string())
                })
                .collect();
            drop(counter);
            respond(stream, &model, Content::Calls(calls))
        }
        Scripted::Slow(..) => unreachable!("unwrapped above"),
    }
}

enum Content {
    Text(Vec<String>),
    /// `(id, name, arguments JSON text)`.
    Calls(Vec<(String, String, String)>),
}

fn usage() -> Value {
    json!({
        "prompt_tokens": USAGE.prompt_tokens,
        "completion_tokens": USAGE.completion_tokens,
        "total_tokens": USAGE.prompt_tokens + USAGE.completion_tokens,
    })
}

fn respond(stream: bool, model: &str, content: Content) -> Response {
    let created = 1_700_000_000;
    if !stream {
        let (message, finish) = match content {
            Content::Text(pieces) => (
                json!({"role": "assistant", "content": pieces.concat()}),
                "stop",
            ),
            Content::Calls(calls) => (
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": calls.iter().map(|(id, name, arguments)| json!({
                        "id": id, "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    })).collect::<Vec<_>>(),
                }),
                "tool_calls",
            ),
        };
        return Json(json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage(),
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let finish = match content {
        Content::Text(pieces) => {
            events.extend(
                pieces
                    .into_iter()
                    .map(|piece| chunk(json!({"content": piece}), Value::Null)),
            );
            "stop"
        }
        Content::Calls(calls) => {
            // Each call in two pieces, the second after all first pieces, so the client
            // must assemble by index.
            for (index, (id, name, arguments)) in calls.iter().enumerate() {
                let half = arguments.floor_char_boundary(arguments.len() / 2);
                events.push(chunk(
                    json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": &arguments[..half]}}]}),
                    Value::Null,
                ));
            }
            for (index, (_, _, arguments)) in calls.iter().enumerate() {
                let half = arguments.floor_char_boundary(arguments.len() / 2);
                events.push(chunk(
                    json!({"tool_calls": [{"index": index,
                        "function": {"arguments": &arguments[half..]}}]}),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
    };
    events.push(chunk(json!({}), Value::String(finish.to_owned())));
    events.push(json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(),
    }));
    let mut body = String::new();
    for event in events {
        body.push_str("data: ");
        body.push_str(&event.to_string());
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// The `event:` names of a server-sent event stream, in order, with each event's JSON data
/// (`null` where the data is not JSON). Events without a name are skipped.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = Some(n.trim().to_owned());
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            }
        }
        if let Some(name) = name {
            events.push((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    events
}
