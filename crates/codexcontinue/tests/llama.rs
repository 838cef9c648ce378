//! One end-to-end run against a real model server: llama-cpp-python's OpenAI-compatible server
//! with SmolLM2-135M-Instruct on one thread, as the provider of a served `codexcontinue`.
//! It checks the shape of each chat surface's exchange, not the model's wisdom.
//!
//! A target of its own (`test = false` in Cargo.toml): `cargo test --workspace` leaves it out,
//! and `scripts/test.sh` runs it last, after `scripts/ensure-llama.sh` has built the server,
//! so a slow first build never hides the other tests' failures.

#[path = "it/binary.rs"]
mod binary;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codex_agent::test_support::sse_events;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

/// How long the model server may take to load the model and answer `/v1/models`.
const READY_LIMIT: Duration = Duration::from_secs(120);
/// Bounds each request to our server; one model call on one thread takes a few seconds.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(60);
/// The provider's cap on each answer, so a rambling model stays quick.
const MAX_TOKENS: u64 = 48;
/// Lines of the model server's output shown when something fails.
const LOG_TAIL: usize = 40;

/// What the tests are told by `scripts/ensure-llama.sh`; missing is a failure, not a skip.
fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run scripts/ensure-llama.sh and export the \
             CODEX_LLAMA_PYTHON and CODEX_LLAMA_MODEL lines it prints (scripts/test.sh does)"
        )
    })
}

/// `python -m llama_cpp.server` on a free loopback port, killed on drop, its output kept.
struct ModelServer {
    child: Child,
    base_url: String,
    /// Every line of its stdout and stderr (model loading, uvicorn's access log).
    lines: Arc<Mutex<Vec<String>>>,
}

impl ModelServer {
    async fn start(python: &str, model: &str) -> ModelServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port()
            .to_string();
        let mut child = tokio::process::Command::new(python)
            .args(["-m", "llama_cpp.server", "--model", model])
            .args(["--host", "127.0.0.1", "--port", &port])
            .args([
                "--n_threads",
                "1",
                "--n_threads_batch",
                "1",
                "--n_ctx",
                "2048",
            ])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} -m llama_cpp.server: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        keep_lines(child.stdout.take().expect("piped stdout"), lines.clone());
        keep_lines(child.stderr.take().expect("piped stderr"), lines.clone());
        ModelServer {
            child,
            base_url: format!("http://127.0.0.1:{port}/v1"),
            lines,
        }
    }

    /// Polls `GET /v1/models` until it answers (bounded) and returns the model id it lists.
    async fn wait_ready(&mut self, client: &reqwest::Client) -> String {
        let url = format!("{}/models", self.base_url);
        let started = tokio::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the model server's status") {
                panic!("the model server exited ({status}):\n{}", self.tail());
            }
            if started.elapsed() > READY_LIMIT {
                panic!(
                    "the model server did not answer {url} within {READY_LIMIT:?}:\n{}",
                    self.tail()
                );
            }
            let answer = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status().is_success()
            {
                let models: Value = response.json().await.expect("/v1/models is JSON");
                return models["data"][0]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("/v1/models lists no model: {models}"))
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many chat completions the server has answered so far. uvicorn logs each request
    /// on one stream, in order, so once a fresh `GET /v1/models` shows up in the log every
    /// earlier request has too.
    async fn completions_served(&self, client: &reqwest::Client) -> usize {
        let count = |needle: &str| {
            let lines = self.lines.lock().expect("log lock");
            lines.iter().filter(|line| line.contains(needle)).count()
        };
        let marker = "\"GET /v1/models ";
        let before = count(marker);
        let url = format!("{}/models", self.base_url);
        let response = client
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("GET /v1/models of the model server");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while count(marker) <= before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the model server's access log never showed GET /v1/models:\n{}",
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        count("\"POST /v1/chat/completions ")
    }

    fn tail(&self) -> String {
        let lines = self.lines.lock().expect("log lock");
        let from = lines.len().saturating_sub(LOG_TAIL);
        lines[from..].join("\n")
    }
}

/// Reads `stream` line by line into `lines` until it closes, so the pipe never fills.
fn keep_lines(stream: impl AsyncRead + Unpin + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().expect("log lock").push(line);
        }
    });
}

/// Our server in front of the model server, and the requests the test sends it.
struct Harness {
    client: reqwest::Client,
    url: String,
    model: ModelServer,
}

impl Harness {
    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> String {
        let response = tokio::time::timeout(EXCHANGE_LIMIT, async {
            let response = request.send().await?;
            let status = response.status();
            response.text().await.map(|text| (status, text))
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: no answer within {EXCHANGE_LIMIT:?}; model server log:\n{}",
                self.model.tail()
            )
        });
        let (status, text) = response.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            status.is_success(),
            "{what}: {status} {text}\nmodel server log:\n{}",
            self.model.tail()
        );
        text
    }

    async fn get(&self, path: &str) -> Value {
        let text = self
            .send(self.client.get(format!("{}{path}", self.url)), path)
            .await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    async fn post(&self, path: &str, body: Value) -> String {
        self.send(
            self.client.post(format!("{}{path}", self.url)).json(&body),
            path,
        )
        .await
    }

    async fn post_json(&self, path: &str, body: Value) -> Value {
        let text = self.post(path, body).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"))
    }
}

/// The `data:` payloads of an unnamed server-sent event stream, in order.
fn data_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .collect()
}

fn write_config(dir: &Path, base_url: &str, model: &str) {
    std::fs::create_dir(dir.join("plugins")).expect("plugins dir");
    // JSON strings are valid TOML basic strings, whatever the model id holds.
    let config = format!(
        "[[model.providers]]\nname = \"llama\"\nbase_url = {}\nmodel = {}\n\
         timeout_ms = 60000\nmax_retries = 0\nmax_tokens = {MAX_TOKENS}\n",
        Value::from(base_url),
        Value::from(model),
    );
    std::fs::write(dir.join("codexcontinue.toml"), config).expect("config written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_answers_through_every_chat_surface() {
    let python = required_env("CODEX_LLAMA_PYTHON");
    let model_file = required_env("CODEX_LLAMA_MODEL");
    let client = reqwest::Client::new();
    let mut model = ModelServer::start(&python, &model_file).await;
    let model_id = model.wait_ready(&client).await;

    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &model.base_url, &model_id);
    let (_server, url) = binary::serve_in(dir.path(), &[]).await;
    let app = Harness { client, url, model };

    let health = app.get("/health").await;
    assert_eq!(health["model"]["configured"], true, "{health}");
    assert_eq!(
        health["model"]["providers"][0]["model"],
        model_id.as_str(),
        "{health}"
    );

    // Direct dispatch answers without the model: no completion reaches the model server.
    let run = app
        .post_json(
            "/chat",
            json!({"message": "/run calculator 2+3", "session_id": "llama-run"}),
        )
        .await;
    assert!(
        run["reply"].as_str().is_some_and(|r| r.contains('5')),
        "{run}"
    );
    assert!(
        run["steps"].as_array().is_some_and(|steps| steps
            .iter()
            .any(|s| s["type"] == "tool_result"
                && s["plugin"] == "calculator"
                && s["output"]["result"] == 5)),
        "{run}"
    );
    assert_eq!(app.model.completions_served(&app.client).await, 0);

    let question = "Say hello in one word.";
    let turn = app
        .post_json("/chat", json!({"message": question, "session_id": "llama"}))
        .await;
    let reply = turn["reply"].as_str().unwrap_or_default();
    assert!(!reply.trim().is_empty(), "{turn}");
    assert_eq!(turn["session_id"], "llama");
    let steps = turn["steps"].as_array().expect("steps");
    assert_eq!(steps.last(), Some(&json!({"type": "reply", "text": reply})));
    println!("/chat: {reply:?}");

    let audit = app.get("/memory/audit/llama").await;
    let messages: Vec<(&str, &str)> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| {
            let text = |key: &str| e["payload"][key].as_str().unwrap_or_default();
            (text("role"), text("content"))
        })
        .collect();
    assert_eq!(
        messages,
        [("user", question), ("assistant", reply)],
        "{audit}"
    );

    let stream = app
        .post(
            "/chat/stream",
            json!({"message": question, "session_id": "llama-stream"}),
        )
        .await;
    let events = sse_events(&stream);
    let deltas: String = events
        .iter()
        .filter(|(name, _)| name == "delta")
        .map(|(_, data)| data["text"].as_str().unwrap_or_default())
        .collect();
    assert!(!deltas.trim().is_empty(), "{stream}");
    let (last, done) = events.last().expect("at least one event");
    assert_eq!(last, "done", "{stream}");
    assert_eq!(done["reply"], deltas.as_str(), "{stream}");
    println!("/chat/stream: {deltas:?}");

    let request = json!({"messages": [{"role": "user", "content": question}]});
    let completion = app.post_json("/v1/chat/completions", request).await;
    assert_eq!(completion["object"], "chat.completion", "{completion}");
    let message = &completion["choices"][0]["message"];
    assert_eq!(message["role"], "assistant", "{completion}");
    let content = message["content"].as_str().unwrap_or_default();
    assert!(!content.trim().is_empty(), "{completion}");
    let usage = &completion["usage"];
    let tokens = |key: &str| usage[key].as_u64().unwrap_or_default();
    assert!(tokens("prompt_tokens") > 0, "{completion}");
    // One model call, capped by the provider's `max_tokens`.
    assert!(
        (1..=MAX_TOKENS).contains(&tokens("completion_tokens")),
        "{completion}"
    );
    assert_eq!(
        tokens("total_tokens"),
        tokens("prompt_tokens") + tokens("completion_tokens"),
        "{completion}"
    );
    println!("/v1/chat/completions: {content:?}");

    let request = json!({
        "messages": [{"role": "user", "content": question}],
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let stream = app.post("/v1/chat/completions", request).await;
    let data = data_lines(&stream);
    assert_eq!(data.last(), Some(&"[DONE]"), "{stream}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"),
        "{stream}"
    );
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!streamed.trim().is_empty(), "{stream}");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"].is_string()),
        "{stream}"
    );
    // The usage chunk comes last, without choices. Its counts are what the provider's
    // stream reported, and llama-cpp-python reports none in streams, so only its shape is
    // checked here; the whole answer above carries real counts.
    let last = chunks.last().expect("a chunk");
    assert_eq!(last["choices"], json!([]), "{stream}");
    let tokens = |key: &str| {
        last["usage"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("usage.{key}: {stream}"))
    };
    assert_eq!(
        tokens("total_tokens"),
        tokens("prompt_tokens") + tokens("completion_tokens"),
        "{stream}"
    );
    println!("/v1/chat/completions stream: {streamed:?}");

    // The four exchanges above were one model call each, and `/run` none.
    assert_eq!(app.model.completions_served(&app.client).await, 4);
}
