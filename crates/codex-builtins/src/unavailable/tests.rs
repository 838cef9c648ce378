//! Tests of the placeholder and of the wrapper that makes a failed `initialize` unavailable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn ctx() -> ExecContext {
    ExecContext::new("test", Instant::now() + Duration::from_secs(10))
}

/// Initializes as told, then echoes; counts its calls.
struct Scripted {
    info: PluginInfo,
    init: std::result::Result<(), PluginError>,
    /// Sleeps this long in `initialize` (a download that takes its time).
    init_delay: Duration,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(init: std::result::Result<(), PluginError>) -> Self {
        Scripted {
            info: PluginInfo::new("model"),
            init,
            init_delay: Duration::ZERO,
            calls: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Plugin for Scripted {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn initialize(&self) -> Result<()> {
        tokio::time::sleep(self.init_delay).await;
        self.init.clone()
    }

    async fn execute(&self, data: Value, _ctx: &ExecContext) -> Result<Value> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(data)
    }
}

#[tokio::test]
async fn a_placeholder_is_listed_with_its_reason_and_every_call_says_so() {
    let plugin = UnavailablePlugin::new(PluginInfo::new("model"), "set model_dir");
    plugin.initialize().await.unwrap();
    assert_eq!(
        plugin.unavailable_reason().as_deref(),
        Some("set model_dir")
    );
    let err = plugin.execute(json!("hi"), &ctx()).await.unwrap_err();
    assert_eq!(err.code(), "plugin_unavailable");
    assert_eq!(
        err,
        PluginError::Unavailable("plugin 'model' is unavailable: set model_dir".into())
    );
}

#[tokio::test]
async fn a_failed_initialize_makes_the_builtin_unavailable_with_the_error() {
    let inner = Arc::new(Scripted::new(Err(PluginError::failed(
        "model folder /m does not exist",
    ))));
    let plugin = FallibleBuiltin::new(inner.clone(), Duration::from_secs(10));
    plugin.initialize().await.unwrap();
    assert_eq!(
        plugin.unavailable_reason().as_deref(),
        Some("model folder /m does not exist")
    );
    let err = plugin.execute(json!("hi"), &ctx()).await.unwrap_err();
    assert!(matches!(err, PluginError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("/m does not exist"), "{err}");
    assert_eq!(inner.calls.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_successful_initialize_leaves_the_builtin_as_it_is() {
    let inner = Arc::new(Scripted::new(Ok(())));
    let plugin = FallibleBuiltin::new(inner.clone(), Duration::from_secs(10));
    plugin.initialize().await.unwrap();
    assert_eq!(plugin.unavailable_reason(), None);
    assert_eq!(plugin.info().name, "model");
    assert_eq!(plugin.execute(json!(7), &ctx()).await.unwrap(), json!(7));
    assert_eq!(inner.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_initialize_past_its_budget_is_unavailable_not_dropped() {
    let mut slow = Scripted::new(Ok(()));
    slow.init_delay = Duration::from_secs(60);
    let plugin = FallibleBuiltin::new(Arc::new(slow), Duration::from_millis(100));
    let started = Instant::now();
    plugin.initialize().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    let reason = plugin.unavailable_reason().unwrap();
    assert!(
        reason.contains("100 ms") && reason.contains("init_timeout_ms"),
        "{reason}"
    );
}
