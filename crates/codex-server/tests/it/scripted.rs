//! A real HTTP server speaking the OpenAI chat-completions protocol with scripted answers,
//! one per request in order, recording what it was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone)]
pub enum Answer {
    /// Text, streamed in these pieces.
    Text(Vec<&'static str>),
    /// Calls to tools: `(name, arguments JSON)`.
    Tools(Vec<(&'static str, Value)>),
}

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

pub struct ScriptedModel {
    /// `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    script: Script,
    _server: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    pub async fn start(answers: Vec<Answer>) -> ScriptedModel {
        let script = Script {
            answers: Arc::new(Mutex::new(answers.into())),
            requests: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        ScriptedModel {
            base_url,
            script,
            _server: server,
        }
    }

    /// The request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.script.requests.lock().unwrap().clone()
    }

    /// A chat config with this server as its one provider.
    pub fn config(&self) -> codex_agent::chat::ChatConfig {
        codex_agent::chat::ChatConfig {
            providers: vec![
                serde_json::from_value(json!({
                    "name": "scripted", "base_url": self.base_url, "model": "scripted-model",
                    "timeout_ms": 10_000, "max_retries": 0,
                }))
                .unwrap(),
            ],
            ..Default::default()
        }
    }
}

async fn answer(State(script): State<Script>, Json(request): Json<Value>) -> impl IntoResponse {
    script.requests.lock().unwrap().push(request.clone());
    let answer = script.answers.lock().unwrap().pop_front();
    let Some(answer) = answer else {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "no more scripted answers",
        )
            .into_response();
    };
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
               "model": "scripted-model",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    match answer {
        Answer::Text(pieces) => {
            for piece in pieces {
                chunks.push(chunk(json!({"content": piece}), Value::Null));
            }
            chunks.push(chunk(json!({}), json!("stop")));
        }
        Answer::Tools(calls) => {
            for (index, (name, arguments)) in calls.into_iter().enumerate() {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": index, "id": format!("call_{index}"),
                        "type": "function",
                        "function": {"name": name, "arguments": arguments.to_string()}}]}),
                    Value::Null,
                ));
            }
            chunks.push(chunk(json!({}), json!("tool_calls")));
        }
    }
    chunks.push(
        json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
        "model": "scripted-model", "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
    );
    let mut body = String::new();
    for c in chunks {
        body.push_str(&format!("data: {c}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], body).into_response()
}
