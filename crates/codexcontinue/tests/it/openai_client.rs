//! The official `openai` Python client drives `/v1/chat/completions` of a served
//! `codexcontinue`, streaming and not, with a scripted OpenAI-protocol server as its model.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::venv_python;

/// A real HTTP server speaking the OpenAI chat-completions protocol: each request gets
/// the next scripted list of chunks as a `text/event-stream`; request bodies are recorded.
struct ScriptedModel {
    base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl ScriptedModel {
    async fn start(answers: Vec<Vec<Value>>) -> ScriptedModel {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answers = answers.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    let chunks = answers.lock().unwrap().next().unwrap_or_default();
                    let mut events = String::new();
                    for chunk in chunks {
                        events.push_str(&format!("data: {chunk}\n\n"));
                    }
                    events.push_str("data: [DONE]\n\n");
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{events}",
                        events.len()
                    );
                    let mut stream = reader.into_inner();
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        ScriptedModel { base_url, requests }
    }
}

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
        "model": "scripted-model", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn usage() -> Value {
    json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
        "model": "scripted-model", "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
}

fn calculator_call() -> Vec<Value> {
    vec![
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
            "id": "call_1", "type": "function",
            "function": {"name": "calculator", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0,
            "function": {"arguments": "{\"expression\": \"2*(3+4)\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        usage(),
    ]
}

fn text(pieces: &[&str]) -> Vec<Value> {
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    chunks.extend(
        pieces
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    chunks.push(chunk(json!({}), json!("stop")));
    chunks.push(usage());
    chunks
}

#[tokio::test]
async fn the_openai_python_client_gets_completions_with_server_side_tools() {
    let python = venv_python();
    let model = ScriptedModel::start(vec![
        calculator_call(),
        text(&["2*(3+4) ", "is 14."]),
        calculator_call(),
        text(&["It ", "is ", "14."]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("codexcontinue.toml"),
        crate::scripted_model_config(&model.base_url, Some(10_000)),
    )
    .unwrap();

    let (_server, url) = crate::serve_in(dir.path(), &[]).await;

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai_client.py");
    let mut client = Command::new(&python);
    client.arg(&script).arg(format!("{url}/v1"));
    let result = crate::script_json(client, Duration::from_secs(120)).await;

    assert_eq!(result["models"], json!(["scripted-model"]));
    let plain = &result["plain"];
    assert_eq!(plain["object"], "chat.completion");
    assert_eq!(plain["role"], "assistant");
    assert_eq!(plain["content"], "2*(3+4) is 14.");
    assert_eq!(plain["finish_reason"], "stop");
    assert_eq!(plain["usage"]["total_tokens"], 20);
    let streamed = &result["streamed"];
    assert_eq!(streamed["content"], "It is 14.");
    assert_eq!(streamed["finish_reason"], "stop");
    assert_eq!(streamed["usage"]["total_tokens"], 20);
    assert!(streamed["chunks"].as_u64().unwrap() >= 4, "{streamed}");
    assert_eq!(result["bad_request"]["status"], 400);
    assert_eq!(
        result["bad_request"]["body"]["type"],
        "invalid_request_error"
    );

    // The calculator ran here: its result went back to the model in the second request.
    let requests = model.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 4, "{requests:?}");
    let tool_message = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("a tool message");
    assert!(
        tool_message["content"].as_str().unwrap().contains("14"),
        "{tool_message}"
    );
}

// IDE chat panels speak only `/v1`: `/run` there reaches the plugin, with no model at all.
#[tokio::test]
async fn the_openai_python_client_runs_plugins_without_a_model() {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let (_server, url) = crate::serve_in(dir.path(), &[]).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai_run.py");
    let mut client = Command::new(&python);
    client.arg(&script).arg(format!("{url}/v1"));
    let result = crate::script_json(client, Duration::from_secs(120)).await;
    assert_eq!(result["plain"]["object"], "chat.completion");
    assert!(
        result["plain"]["content"].as_str().unwrap().contains("42"),
        "{result}"
    );
    assert_eq!(result["plain"]["finish_reason"], "stop");
    assert!(
        result["streamed"]["content"]
            .as_str()
            .unwrap()
            .contains("42"),
        "{result}"
    );
    assert_eq!(result["streamed"]["finish_reason"], "stop");
    let logs: Value = reqwest::get(format!("{url}/plugin-logs/ide"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logs["logs"].as_array().unwrap().len(), 2, "{logs}");
}
