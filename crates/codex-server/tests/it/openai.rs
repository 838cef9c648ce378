//! `/v1/chat/completions` and `/v1/models`: OpenAI's wire format exactly, plugins as
//! server-side tools, client tools handed back, and OpenAI's error shape.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::{Reply, TestApp};
use crate::scripted::{Answer, ScriptedModel};

/// The JSON of each `data:` line, and whether the stream ended with `data: [DONE]`.
fn data_lines(text: &str) -> (Vec<Value>, bool) {
    assert!(
        !text.contains("event:"),
        "OpenAI streams have no event names: {text}"
    );
    let mut chunks = Vec::new();
    let mut done = false;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        assert!(!done, "data after [DONE]: {text}");
        if line == "[DONE]" {
            done = true;
        } else {
            chunks.push(serde_json::from_str(line).unwrap());
        }
    }
    (chunks, done)
}

fn assert_openai_error(reply: &Reply, status: StatusCode, kind: &str, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let error = &reply.body["error"];
    assert_eq!(error["type"], kind, "{}", reply.body);
    assert_eq!(error["code"], code, "{}", reply.body);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
}

fn ask(extra: Value) -> Value {
    let mut request = json!({"model": "scripted-model",
        "messages": [{"role": "user", "content": "what is 2*(3+4)?"}]});
    request
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    request
}

#[tokio::test]
async fn a_completion_runs_plugins_server_side_and_sums_usage() {
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("calculator", json!({"expression": "2*(3+4)"}))]),
        Answer::Text(vec!["It is ", "14."]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    let reply = app
        .send_with(
            Method::POST,
            "/v1/chat/completions",
            Body::from(ask(json!({})).to_string()),
            &[("x-session-id", "oa1")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].is_i64());
    assert_eq!(body["model"], "scripted-model");
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "It is 14.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30})
    );
    assert_eq!(model.requests().len(), 2);
    // Logged under the session of `X-Session-Id`.
    let audit = app.get("/memory/audit/oa1").await;
    let kinds: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"tool_result"), "{kinds:?}");
}

#[tokio::test]
async fn a_stream_is_data_lines_ending_with_done_and_usage_when_asked() {
    let model = ScriptedModel::start(vec![
        Answer::Text(vec!["Hel", "lo"]),
        Answer::Text(vec!["Hi"]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    let reply = app
        .post(
            "/v1/chat/completions",
            ask(json!({"stream": true, "stream_options": {"include_usage": true}, "user": "u1"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (chunks, done) = data_lines(reply.body.as_str().unwrap());
    assert!(done);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 15);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    // The `user` field names the session.
    let audit = app.get("/memory/audit/u1").await;
    assert!(!audit.body["events"].as_array().unwrap().is_empty());

    // Without include_usage, no chunk carries usage.
    let reply = app
        .post("/v1/chat/completions", ask(json!({"stream": true})))
        .await;
    let (chunks, done) = data_lines(reply.body.as_str().unwrap());
    assert!(done);
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "{chunks:?}"
    );
}

#[tokio::test]
async fn tools_the_client_sent_come_back_as_tool_calls() {
    let model = ScriptedModel::start(vec![
        Answer::Tools(vec![("get_weather", json!({"city": "Paris"}))]),
        Answer::Tools(vec![("get_weather", json!({"city": "Paris"}))]),
    ])
    .await;
    let app = TestApp::with_model(model.config()).await;
    let tools = json!({"tools": [{"type": "function", "function": {"name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
    let reply = app.post("/v1/chat/completions", ask(tools.clone())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let choice = &reply.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{}", reply.body);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));
    // Offered to the model beside our plugins.
    let offered = model.requests()[0]["tools"].to_string();
    assert!(offered.contains("get_weather") && offered.contains("calculator"));

    // Streamed, the call comes as a tool_calls delta.
    let mut request = ask(tools);
    request["stream"] = json!(true);
    let reply = app.post("/v1/chat/completions", request).await;
    let (chunks, done) = data_lines(reply.body.as_str().unwrap());
    assert!(done);
    let call = chunks
        .iter()
        .find_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0).cloned())
        .expect("a tool call delta");
    assert_eq!(call["function"]["name"], "get_weather");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
}

#[tokio::test]
async fn models_lists_the_chain() {
    let model = ScriptedModel::start(Vec::new()).await;
    let app = TestApp::with_model(model.config()).await;
    let reply = app.get("/v1/models").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["object"], "list");
    let data = &reply.body["data"][0];
    assert_eq!(data["id"], "scripted-model");
    assert_eq!(data["object"], "model");
    assert_eq!(data["owned_by"], "codexcontinue");
    assert!(data["created"].as_i64().unwrap() > 1_600_000_000);

    let app = TestApp::new().await;
    assert_eq!(
        app.get("/v1/models").await.body,
        json!({"object": "list", "data": []})
    );
}

#[tokio::test]
// Was 503: a server without a model is configured so, not failing (issue 17), and a 5xx
// made every such request count as a server error.
async fn without_a_model_completions_are_409_in_openai_shape() {
    let app = TestApp::new().await;
    let reply = app.post("/v1/chat/completions", ask(json!({}))).await;
    assert_openai_error(
        &reply,
        StatusCode::CONFLICT,
        "invalid_request_error",
        "no_model",
    );
    let reply = app
        .post("/v1/chat/completions", ask(json!({"stream": true})))
        .await;
    assert_openai_error(
        &reply,
        StatusCode::CONFLICT,
        "invalid_request_error",
        "no_model",
    );
}

#[tokio::test]
async fn malformed_requests_are_400_in_openai_shape() {
    let model = ScriptedModel::start(Vec::new()).await;
    let app = TestApp::with_model(model.config()).await;
    let reply = app.post_raw("/v1/chat/completions", "{not json").await;
    assert_openai_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_request",
    );
    let reply = app
        .post("/v1/chat/completions", json!({"messages": "not a list"}))
        .await;
    assert_openai_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_request",
    );
    let reply = app
        .post("/v1/chat/completions", json!({"messages": []}))
        .await;
    assert_openai_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_request",
    );
    assert!(model.requests().is_empty());
}

// IDE chat panels speak only this protocol: `/run` there must reach the plugin, with no
// model configured, whole or streamed.
#[tokio::test]
async fn run_in_a_completion_calls_the_plugin_without_a_model() {
    let app = TestApp::new().await;
    let request = json!({"model": "any", "messages": [
        {"role": "user", "content": "/run calculator 6*7"}
    ]});
    let reply = app
        .send_with(
            Method::POST,
            "/v1/chat/completions",
            Body::from(request.to_string()),
            &[("x-session-id", "ide")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["object"], "chat.completion");
    let content = reply.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    assert!(content.contains("42"), "{content}");
    assert_eq!(reply.body["choices"][0]["finish_reason"], "stop");

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let reply = app
        .send_with(
            Method::POST,
            "/v1/chat/completions",
            Body::from(streamed.to_string()),
            &[("x-session-id", "ide")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let (chunks, done) = data_lines(reply.body.as_str().unwrap());
    assert!(done);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("42"), "{text}");
    // Both turns are in the session's log, the plugin runs with source `chat`.
    let logs = app.get("/plugin-logs/ide").await.body;
    assert_eq!(logs["logs"].as_array().unwrap().len(), 2, "{logs}");

    // Anything else still needs a model.
    let reply = app
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["error"]["code"], "no_model");
}
