//! The chat turn against a real scripted OpenAI-protocol server: `/run`, the tool loop,
//! parallel calls, the step limit, fallback, retries, the stream, and the audit log.

use std::time::Duration;

use codex_agent::chat::{Chat, ChatConfig, ChatError, ProviderConfig, Step, TurnEvent};
use codex_agent::openai::{ChatCompletionRequest, ChatMessage, FunctionSpec, ToolSpec};
use codex_agent::test_support::{Scripted, ScriptedServer, refused_base_url};
use codex_store::EventKind;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{Fixture, fixture};

/// Bounds every test's wait on the chat.
const LIMIT: Duration = Duration::from_secs(20);

fn provider(name: &str, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        base_url: base_url.to_owned(),
        model: format!("{name}-model"),
        api_key_env: None,
        timeout_ms: 5_000,
        max_retries: 2,
        max_tokens: None,
    }
}

async fn chat_with(providers: Vec<ProviderConfig>, max_steps: usize) -> (Chat, Fixture) {
    let f = fixture(20).await;
    let config = ChatConfig {
        providers,
        system_prompt: "You are a test.".to_owned(),
        max_steps,
        ..ChatConfig::default()
    };
    (Chat::new(f.executor.clone(), config, 20), f)
}

async fn turn(
    chat: &Chat,
    session: &str,
    message: &str,
) -> Result<codex_agent::TurnReply, ChatError> {
    tokio::time::timeout(LIMIT, chat.turn(session, message))
        .await
        .expect("the turn finished in time")
}

async fn kinds(f: &Fixture, session: &str) -> Vec<String> {
    f.store
        .timeline(session, None, 100)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| match e.kind {
            EventKind::Message => format!("message:{}", e.payload["role"].as_str().unwrap()),
            kind => kind.as_str().to_owned(),
        })
        .collect()
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn without_a_model_run_works_and_chat_says_how_to_configure() {
    let (chat, f) = chat_with(Vec::new(), 8).await;
    assert!(!chat.model_status().configured);
    let reply = turn(&chat, "s", "hello").await.unwrap();
    assert!(
        reply.reply.contains("[[model.providers]]"),
        "{}",
        reply.reply
    );
    let reply = turn(&chat, "s", "/run echo hi").await.unwrap();
    assert_eq!(reply.reply, "{\n  \"echo\": \"hi\"\n}");
    assert!(
        matches!(&reply.steps[1], Step::ToolResult { ok: true, plugin, .. } if plugin == "echo")
    );
    let reply = turn(&chat, "s", "run echo {\"a\": 1}").await.unwrap();
    assert!(reply.reply.contains("\"a\": 1"), "{}", reply.reply);
    let reply = turn(&chat, "s", "/run").await.unwrap();
    assert!(reply.reply.starts_with("Usage: /run"), "{}", reply.reply);
    let reply = turn(&chat, "s", "/run calculater 1+1").await.unwrap();
    assert!(
        reply.reply.contains("Did you mean 'calculator'?"),
        "{}",
        reply.reply
    );
    let reply = turn(&chat, "s", "/run calculator 1/").await.unwrap();
    assert!(
        reply.reply.starts_with("Plugin 'calculator' failed"),
        "{}",
        reply.reply
    );
    let err = turn(&chat, "", "hello").await.unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    let logs = f.store.plugin_logs("s", None, 10).await.unwrap().items;
    assert_eq!(logs.len(), 4);
    assert!(
        logs.iter()
            .all(|l| l.execution.source == codex_store::ExecutionSource::Chat)
    );
    assert_eq!(
        &kinds(&f, "s").await[..5],
        [
            "message:user",
            "message:assistant",
            "message:user",
            "plugin_execution",
            "message:assistant"
        ]
    );
}

#[tokio::test]
async fn a_tool_call_runs_and_its_result_goes_back_to_the_model() {
    let server = ScriptedServer::start(vec![
        Scripted::tool_call("echo", json!({"message": "ping"})),
        Scripted::chunks(&["It said ", "ping."]),
        Scripted::reply("Second answer."),
    ])
    .await;
    let (chat, f) = chat_with(vec![provider("main", server.base_url())], 8).await;
    let reply = turn(&chat, "t", "Please echo ping").await.unwrap();
    assert_eq!(reply.reply, "It said ping.");
    assert_eq!(reply.session_id, "t");
    let Step::ToolCall {
        id,
        plugin,
        arguments,
        ..
    } = &reply.steps[0]
    else {
        panic!("{:?}", reply.steps);
    };
    assert_eq!(
        (plugin.as_str(), arguments),
        ("echo", &json!({"message": "ping"}))
    );
    assert!(
        matches!(&reply.steps[1], Step::ToolResult { ok: true, output: Some(o), .. } if o == &json!({"echo": {"message": "ping"}}))
    );
    assert!(matches!(&reply.steps[2], Step::Reply { text } if text == "It said ping."));

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first["model"], "main-model");
    assert_eq!(first["stream"], true);
    assert_eq!(
        first["messages"][0],
        json!({"role": "system", "content": "You are a test."})
    );
    assert_eq!(
        first["messages"][1],
        json!({"role": "user", "content": "Please echo ping"})
    );
    let tools = tool_names(first);
    assert!(
        tools.contains(&"echo".to_owned()) && tools.contains(&"calculator".to_owned()),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"shell".to_owned()),
        "shell is disabled by default: {tools:?}"
    );
    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(second[2]["tool_calls"][0]["id"], id.as_str());
    assert_eq!(
        second[3],
        json!({"role": "tool", "content": "{\"echo\":{\"message\":\"ping\"}}", "tool_call_id": id})
    );

    assert_eq!(
        kinds(&f, "t").await,
        [
            "message:user",
            "tool_call",
            "plugin_execution",
            "tool_result",
            "message:assistant"
        ]
    );

    // The next turn's context holds this turn's messages.
    turn(&chat, "t", "And now?").await.unwrap();
    let third = &server.requests()[2]["messages"];
    assert_eq!(
        third[1],
        json!({"role": "user", "content": "Please echo ping"})
    );
    assert_eq!(
        third[2],
        json!({"role": "assistant", "content": "It said ping."})
    );
    assert_eq!(third[3], json!({"role": "user", "content": "And now?"}));
}

#[tokio::test]
async fn parallel_tool_calls_all_run_and_all_results_go_back() {
    let server = ScriptedServer::start(vec![
        Scripted::tool_calls(&[
            ("echo", json!({"message": "one"})),
            ("calculator", json!({"expression": "2*(3+4)"})),
            ("nonexistent", json!({})),
        ]),
        Scripted::reply("done"),
    ])
    .await;
    let (chat, f) = chat_with(vec![provider("main", server.base_url())], 8).await;
    let reply = turn(&chat, "p", "do three things").await.unwrap();
    assert_eq!(reply.reply, "done");
    let results: Vec<(String, bool)> = reply
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::ToolResult { plugin, ok, .. } => Some((plugin.clone(), *ok)),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        [
            ("echo".to_owned(), true),
            ("calculator".to_owned(), true),
            ("nonexistent".to_owned(), false)
        ]
    );
    let fed_back: Vec<Value> = server.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .cloned()
        .collect();
    assert_eq!(fed_back.len(), 3);
    assert_eq!(fed_back[0]["content"], "{\"echo\":{\"message\":\"one\"}}");
    assert!(
        fed_back[2]["content"]
            .as_str()
            .unwrap()
            .contains("unknown tool")
    );
    let kinds = kinds(&f, "p").await;
    assert_eq!(kinds.iter().filter(|k| *k == "tool_call").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "tool_result").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "plugin_execution").count(), 2);
}

#[tokio::test]
async fn the_step_limit_ends_the_turn_with_a_clear_reply() {
    let server = ScriptedServer::start(vec![
        Scripted::tool_call("echo", json!({"data": 1})),
        Scripted::tool_call("echo", json!({"data": 2})),
        Scripted::reply("never asked"),
    ])
    .await;
    let (chat, f) = chat_with(vec![provider("main", server.base_url())], 2).await;
    let reply = turn(&chat, "l", "loop").await.unwrap();
    assert!(reply.reply.contains("step limit"), "{}", reply.reply);
    assert!(matches!(reply.steps.last(), Some(Step::Error { code, .. }) if code == "step_limit"));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.remaining(), 1);
    let kinds = kinds(&f, "l").await;
    assert_eq!(&kinds[kinds.len() - 2..], ["error", "message:assistant"]);
}

#[tokio::test]
async fn failing_providers_fall_back_to_the_next() {
    let broken = ScriptedServer::start(vec![Scripted::Status(500, "boom".to_owned())]).await;
    let slow = ScriptedServer::start(vec![Scripted::slow(
        Duration::from_secs(5),
        Scripted::reply("too late"),
    )])
    .await;
    let good = ScriptedServer::start(vec![Scripted::reply("from the good one")]).await;
    let mut slow_provider = provider("slow", slow.base_url());
    slow_provider.timeout_ms = 300;
    let (chat, _f) = chat_with(
        vec![
            provider("refused", &refused_base_url().await),
            provider("broken", broken.base_url()),
            slow_provider,
            provider("good", good.base_url()),
        ],
        8,
    )
    .await;
    let reply = turn(&chat, "f", "hi").await.unwrap();
    assert_eq!(reply.reply, "from the good one");
    assert_eq!(broken.requests().len(), 1);
    assert_eq!(slow.requests().len(), 1);
    assert_eq!(good.requests()[0]["model"], "good-model");
}

#[tokio::test]
async fn all_providers_failing_is_an_error_naming_each_and_it_is_logged() {
    let broken = ScriptedServer::start(vec![Scripted::Status(503, "down".to_owned())]).await;
    let (chat, f) = chat_with(
        vec![
            provider("refused", &refused_base_url().await),
            provider("broken", broken.base_url()),
        ],
        8,
    )
    .await;
    let err = turn(&chat, "e", "hi").await.unwrap_err();
    assert_eq!(err.code(), "provider_error");
    let text = err.to_string();
    assert!(
        text.contains("refused: cannot connect") && text.contains("broken: HTTP 503"),
        "{text}"
    );
    assert_eq!(kinds(&f, "e").await, ["message:user", "error"]);
}

#[tokio::test]
async fn a_rate_limited_provider_is_retried_and_a_client_error_does_not_fall_back() {
    let limited = ScriptedServer::start(vec![
        Scripted::RateLimited(Some(0)),
        Scripted::RateLimited(None),
        Scripted::reply("after waiting"),
    ])
    .await;
    let (chat, _f) = chat_with(vec![provider("limited", limited.base_url())], 8).await;
    assert_eq!(turn(&chat, "r", "hi").await.unwrap().reply, "after waiting");
    assert_eq!(limited.requests().len(), 3);

    let refusing = ScriptedServer::start(vec![Scripted::Status(400, "bad tools".to_owned())]).await;
    let spare = ScriptedServer::start(vec![Scripted::reply("unused")]).await;
    let (chat, _f) = chat_with(
        vec![
            provider("refusing", refusing.base_url()),
            provider("spare", spare.base_url()),
        ],
        8,
    )
    .await;
    let err = turn(&chat, "r", "hi").await.unwrap_err();
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert!(spare.requests().is_empty());
}

#[tokio::test]
async fn the_stream_reports_deltas_tool_steps_and_done_in_order() {
    let server = ScriptedServer::start(vec![
        Scripted::tool_call("echo", json!({"data": "x"})),
        Scripted::chunks(&["a", "b", "c"]),
    ])
    .await;
    let (chat, _f) = chat_with(vec![provider("main", server.base_url())], 8).await;
    let events: Vec<TurnEvent> = tokio::time::timeout(
        LIMIT,
        chat.turn_stream("st".to_owned(), "go".to_owned())
            .map(Result::unwrap)
            .collect(),
    )
    .await
    .unwrap();
    let names: Vec<&str> = events.iter().map(TurnEvent::name).collect();
    assert_eq!(
        names,
        [
            "turn",
            "tool_call",
            "tool_result",
            "delta",
            "delta",
            "delta",
            "done"
        ]
    );
    let TurnEvent::Done(reply) = events.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(reply.reply, "abc");
    let done = serde_json::to_value(reply).unwrap();
    assert_eq!(done["reply"], "abc");
    assert_eq!(done["session_id"], "st");

    let (chat, _f) = chat_with(vec![provider("gone", &refused_base_url().await)], 8).await;
    let events: Vec<Result<TurnEvent, ChatError>> = chat
        .turn_stream("st".to_owned(), "go".to_owned())
        .collect()
        .await;
    assert!(
        matches!(events.as_slice(), [Ok(TurnEvent::Started { .. }), Err(error)] if error.code() == "provider_error"),
        "{events:?}"
    );
}

#[tokio::test]
async fn completions_run_our_tools_and_return_the_clients_own() {
    let server = ScriptedServer::start(vec![
        Scripted::tool_call("echo", json!({"data": "x"})),
        Scripted::tool_call("get_weather", json!({"city": "Paris"})),
        Scripted::chunks(&["It is ", "sunny."]),
    ])
    .await;
    let (chat, f) = chat_with(vec![provider("main", server.base_url())], 8).await;
    let client_tool = ToolSpec {
        kind: "function".to_owned(),
        function: FunctionSpec {
            name: "get_weather".to_owned(),
            description: None,
            parameters: Some(json!({"type": "object"})),
        },
    };
    let request = ChatCompletionRequest {
        messages: vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Weather?"),
        ],
        tools: Some(vec![client_tool]),
        ..ChatCompletionRequest::default()
    };
    let response = tokio::time::timeout(LIMIT, chat.complete("c", request.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.object, "chat.completion");
    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let calls = choice.message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(response.usage.unwrap().total_tokens, 30);
    let sent = &server.requests()[0];
    assert_eq!(sent["messages"][0]["content"], "Be brief.");
    assert!(tool_names(sent).contains(&"get_weather".to_owned()));

    let mut streamed = request;
    streamed.stream = Some(true);
    streamed.stream_options = Some(json!({"include_usage": true}));
    let chunks: Vec<_> = chat
        .complete_stream("c".to_owned(), streamed)
        .collect()
        .await;
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices.first().and_then(|c| c.delta.content.clone()))
        .collect();
    assert_eq!(text, "It is sunny.");
    assert_eq!(
        chunks[chunks.len() - 2].choices[0].finish_reason.as_deref(),
        Some("stop")
    );
    assert_eq!(chunks.last().unwrap().usage.unwrap().total_tokens, 15);
    assert!(
        kinds(&f, "c")
            .await
            .contains(&"plugin_execution".to_owned())
    );
}

#[tokio::test]
async fn the_llm_and_agent_plugins_reach_the_model_through_the_late_handle() {
    use codex_agent::plugins::{ChatHandle, model_plugins};
    use codex_host::{HostConfig, NativePlugin, PluginManager};
    let server = ScriptedServer::start(vec![
        Scripted::reply("a haiku"),
        Scripted::tool_call("echo", json!({"message": "in agent"})),
        Scripted::reply("agent done"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = codex_store::connect(&url, codex_store::StoreOptions::default())
        .await
        .unwrap();
    let handle = ChatHandle::new();
    let natives = codex_builtins::builtins()
        .into_iter()
        .map(|b| NativePlugin {
            plugin: b.plugin,
            enabled_by_default: b.enabled_by_default,
        })
        .chain(model_plugins(&handle));
    let plugins = PluginManager::builder(HostConfig::new(dir.path().join("plugins")))
        .with_natives(natives)
        .start()
        .await;
    let executor = codex_agent::Executor::new(plugins, store.clone());
    let config = ChatConfig {
        providers: vec![provider("main", server.base_url())],
        ..ChatConfig::default()
    };
    let chat = Chat::new(executor, config, 20);
    assert!(handle.set(&chat));

    let reply = turn(
        &chat,
        "g",
        "/run llm {\"prompt\": \"a haiku\", \"system\": \"poet\"}",
    )
    .await
    .unwrap();
    assert_eq!(reply.reply, "{\n  \"response\": \"a haiku\"\n}");
    let sent = &server.requests()[0];
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "poet"})
    );
    assert!(sent.get("tools").is_none());

    let reply = turn(&chat, "g", "/run agent use echo").await.unwrap();
    assert!(reply.reply.contains("agent done"), "{}", reply.reply);
    let offered = tool_names(&server.requests()[1]);
    assert!(offered.contains(&"echo".to_owned()), "{offered:?}");
    assert!(
        !offered.iter().any(|t| t == "agent" || t == "llm"),
        "{offered:?}"
    );
}

#[tokio::test]
async fn a_providers_max_tokens_caps_each_request_unless_the_client_set_its_own() {
    // The second request is a non-streamed completion, sent to the provider non-streamed
    // too: llama-cpp-python reports usage only in whole answers.
    let server =
        ScriptedServer::start(vec![Scripted::reply("short"), Scripted::reply("short")]).await;
    let capped = ProviderConfig {
        max_tokens: Some(48),
        ..provider("main", server.base_url())
    };
    let (chat, _f) = chat_with(vec![capped], 8).await;
    turn(&chat, "m", "Say hello.").await.unwrap();
    let mut request = ChatCompletionRequest {
        messages: vec![ChatMessage::user("Say hello.")],
        ..ChatCompletionRequest::default()
    };
    request
        .extra
        .insert("max_completion_tokens".to_owned(), json!(5));
    let response = tokio::time::timeout(LIMIT, chat.complete("m", request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.usage.unwrap().total_tokens, 15);
    let requests = server.requests();
    assert_eq!(requests[0]["max_tokens"], 48);
    assert_eq!(requests[0]["stream"], true);
    assert_eq!(requests[1]["max_completion_tokens"], 5);
    assert_eq!(requests[1]["stream"], false);
    assert!(
        requests[1].get("stream_options").is_none(),
        "{}",
        requests[1]
    );
    assert!(requests[1].get("max_tokens").is_none(), "{}", requests[1]);
}

#[tokio::test]
async fn cancelling_a_turn_drops_the_model_request_and_logs_the_end() {
    let server = ScriptedServer::start(vec![Scripted::slow(
        Duration::from_secs(30),
        Scripted::reply("too late"),
    )])
    .await;
    let (chat, f) = chat_with(vec![provider("main", server.base_url())], 8).await;
    let mut events = chat.turn_stream("cx".to_owned(), "take your time".to_owned());
    let Some(Ok(TurnEvent::Started { turn_id })) = events.next().await else {
        panic!("a turn starts with its id");
    };
    // The model request is in flight once the server has recorded it.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while server.requests().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no model request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let running = f.executor.running();
    assert!(running.contains(codex_agent::RunKind::Turn, turn_id));
    running
        .cancel(codex_agent::RunKind::Turn, turn_id, "test")
        .unwrap();
    let rest: Vec<Result<TurnEvent, ChatError>> =
        tokio::time::timeout(LIMIT, events.collect()).await.unwrap();
    assert!(
        matches!(rest.as_slice(), [Err(ChatError::Cancelled)]),
        "{rest:?}"
    );
    // The model's 30 s answer was not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!running.contains(codex_agent::RunKind::Turn, turn_id));
    assert_eq!(kinds(&f, "cx").await, ["message:user", "error"]);
}
