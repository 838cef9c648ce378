//! `TestApp`: the real router over a real PluginManager with the built-in plugins and a
//! few test plugins that misbehave on purpose, logging to a temporary SQLite file.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use codex_agent::chat::ChatConfig;
use codex_host::{HostConfig, NativePlugin, PluginSettings};
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo};
use codex_server::{App, AppConfig, AppState, ServerConfig};
use codex_store::EventStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Sleeps for the milliseconds it is given, then answers.
pub struct SlowPlugin(PluginInfo);

#[async_trait]
impl Plugin for SlowPlugin {
    fn info(&self) -> &PluginInfo {
        &self.0
    }
    async fn execute(&self, data: Value, _ctx: &ExecContext) -> Result<Value, PluginError> {
        let ms = data.as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!({"slept_ms": ms}))
    }
}

/// Panics on every call.
pub struct PanicPlugin(PluginInfo);

#[async_trait]
impl Plugin for PanicPlugin {
    fn info(&self) -> &PluginInfo {
        &self.0
    }
    async fn execute(&self, _data: Value, _ctx: &ExecContext) -> Result<Value, PluginError> {
        panic!("boom from a test plugin")
    }
}

/// Returns a string of the length it is given.
pub struct BigPlugin(PluginInfo);

#[async_trait]
impl Plugin for BigPlugin {
    fn info(&self) -> &PluginInfo {
        &self.0
    }
    async fn execute(&self, data: Value, _ctx: &ExecContext) -> Result<Value, PluginError> {
        let len = data.as_u64().unwrap_or(0) as usize;
        Ok(Value::String("x".repeat(len)))
    }
}

/// Fails with a message that must not reach the client.
pub struct FailPlugin(PluginInfo);

#[async_trait]
impl Plugin for FailPlugin {
    fn info(&self) -> &PluginInfo {
        &self.0
    }
    async fn execute(&self, _data: Value, _ctx: &ExecContext) -> Result<Value, PluginError> {
        Err(PluginError::failed("secret internal detail"))
    }
}

/// Waits on its cancellation token (up to a minute), reporting on `signals` when a call
/// starts and when its token fires: the native plugin of the cancellation tests.
pub struct WaitingPlugin {
    info: PluginInfo,
    signals: tokio::sync::mpsc::UnboundedSender<&'static str>,
}

#[async_trait]
impl Plugin for WaitingPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
    async fn execute(&self, _data: Value, ctx: &ExecContext) -> Result<Value, PluginError> {
        // The host stops waiting for the call at once; a plugin's own work (here, this
        // watcher) learns of the cancel through its token.
        let token = ctx.cancel.clone();
        let signals = self.signals.clone();
        tokio::spawn(async move {
            if tokio::time::timeout(Duration::from_secs(60), token.cancelled())
                .await
                .is_ok()
            {
                let _ = signals.send("cancelled");
            }
        });
        let _ = self.signals.send("started");
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(json!("woke up"))
    }
}

/// Reports three progress steps through its context, then answers `{"steps": 3}`.
pub struct ProgressPlugin(PluginInfo);

#[async_trait]
impl Plugin for ProgressPlugin {
    fn info(&self) -> &PluginInfo {
        &self.0
    }
    async fn execute(&self, _data: Value, ctx: &ExecContext) -> Result<Value, PluginError> {
        for step in 1..=3 {
            ctx.report_progress(codex_plugin::Progress::new(
                Some(f64::from(step) / 3.0),
                Some(format!("step {step} of 3")),
            ));
        }
        Ok(json!({"steps": 3}))
    }
}

pub struct TestApp {
    pub state: AppState,
    /// What `waiting` reports: `started` when a call begins, `cancelled` when its token fires.
    pub waiting: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<&'static str>>,
    pub router: axum::Router,
    /// The store behind the app, for appending what no route writes yet (chat messages).
    pub store: Arc<dyn EventStore>,
    _plugins_dir: tempfile::TempDir,
    _db_dir: tempfile::TempDir,
}

/// Messages in the short memory of every `TestApp`.
pub const SHORT_LIMIT: usize = 3;

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: axum::http::HeaderMap,
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with(|_| {}).await
    }

    /// An app whose host config `tweak` may change first.
    pub async fn with(tweak: impl FnOnce(&mut HostConfig)) -> TestApp {
        TestApp::build(tweak, Vec::new(), ChatConfig::default()).await
    }

    /// An app whose chat uses `model` (its providers, prompt and step limit).
    pub async fn with_model(model: ChatConfig) -> TestApp {
        TestApp::build(|_| {}, Vec::new(), model).await
    }

    /// An app that requires one of `api_keys`.
    pub async fn with_api_keys(api_keys: Vec<String>) -> TestApp {
        TestApp::build(|_| {}, api_keys, ChatConfig::default()).await
    }

    async fn build(
        tweak: impl FnOnce(&mut HostConfig),
        api_keys: Vec<String>,
        model: ChatConfig,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = HostConfig::new(dir.path());
        config.plugins.insert(
            "slow".into(),
            PluginSettings {
                timeout_ms: Some(200),
                ..Default::default()
            },
        );
        config.plugins.insert(
            "big".into(),
            PluginSettings {
                max_output_bytes: Some(1000),
                ..Default::default()
            },
        );
        tweak(&mut config);
        let db_dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", db_dir.path().join("events.db").display());
        let mut app_config = AppConfig::new(url, config);
        app_config.model = model;
        app_config.server = ServerConfig {
            max_body_bytes: 64 * 1024,
            api_keys,
            short_limit: SHORT_LIMIT,
            ..ServerConfig::default()
        };
        let (signals, waiting) = tokio::sync::mpsc::unbounded_channel();
        let test_plugins: [Arc<dyn Plugin>; 6] = [
            Arc::new(ProgressPlugin(
                PluginInfo::new("progress").with_input_schema(json!({"type": "object"})),
            )),
            Arc::new(SlowPlugin(PluginInfo::new("slow"))),
            Arc::new(PanicPlugin(PluginInfo::new("panicky"))),
            Arc::new(BigPlugin(PluginInfo::new("big"))),
            Arc::new(FailPlugin(PluginInfo::new("failing"))),
            Arc::new(WaitingPlugin {
                info: PluginInfo::new("waiting")
                    .with_description("Waits until cancelled")
                    .with_input_schema(json!({"type": "object"})),
                signals,
            }),
        ];
        let mut builder = App::builder(app_config);
        for plugin in test_plugins {
            builder = builder.with_native(NativePlugin {
                plugin,
                enabled_by_default: true,
            });
        }
        let app = builder.start().await.expect("app");
        let state = app.state().clone();
        let store = app.store().clone();
        TestApp {
            router: codex_server::router(state.clone()),
            waiting: tokio::sync::Mutex::new(waiting),
            state,
            store,
            _plugins_dir: dir,
            _db_dir: db_dir,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Body::empty()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Body::from(body.to_string()))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, Body::empty()).await
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<Body>) -> Reply {
        self.send(Method::POST, path, body.into()).await
    }

    pub async fn execute(&self, plugin: &str, data: Value) -> Reply {
        self.post(
            "/api/plugins/execute",
            json!({"plugin": plugin, "data": data}),
        )
        .await
    }

    /// The next signal of the `waiting` plugin (bounded).
    pub async fn waiting_signal(&self) -> &'static str {
        let mut signals = self.waiting.lock().await;
        tokio::time::timeout(Duration::from_secs(20), signals.recv())
            .await
            .expect("the waiting plugin signalled in time")
            .expect("the waiting plugin is alive")
    }

    /// Sends a request and answers the response with its body still streaming.
    pub async fn open(&self, path: &str, body: Value) -> axum::response::Response {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible")
    }

    pub async fn send(&self, method: Method, path: &str, body: Body) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            body,
            headers,
        }
    }
}

impl Reply {
    /// Asserts an error reply with this status and code.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
    }
}
