//! Running one call within its limits: concurrency slot, timeout, cancellation, panic
//! isolation and the output cap.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use codex_plugin::{ExecContext, PluginError};
use futures::FutureExt;
use serde_json::Value;

use crate::registry::PluginEntry;
use crate::telemetry::{self, CallMetrics};

/// The entry was retired (its slots closed) before the call got a slot, so the plugin
/// never saw the call: the caller looks the name up again, a replacement may be serving.
/// Holds the call's input, handed back untouched.
pub(crate) struct Unloaded(pub Value);

/// Runs `data` through `entry`'s plugin. The deadline in `ctx` counts the wait for a
/// concurrency slot, so a call queued behind slow ones still answers in time.
pub(crate) async fn run(
    entry: &PluginEntry,
    data: Value,
    ctx: &ExecContext,
) -> Result<Result<Value, PluginError>, Unloaded> {
    let timeout = entry.limits.timeout();
    let metrics = CallMetrics::start(&entry.info.name, entry.kind);
    let call = async {
        let Ok(_slot) = entry.slots.acquire().await else {
            return Err(Unloaded(data));
        };
        let _running = entry.start_call();
        Ok(
            match AssertUnwindSafe(entry.plugin.execute(data, ctx))
                .catch_unwind()
                .await
            {
                Ok(result) => result,
                Err(panic) => {
                    let message = codex_plugin::panic_message(&*panic);
                    tracing::error!(plugin = %entry.info.name, panic = %message, "plugin panicked");
                    // A panic is a bug in the plugin, not a dead process: a failure.
                    Err(PluginError::Failed(format!(
                        "the plugin panicked: {message}"
                    )))
                }
            },
        )
    };
    // A cancel stops waiting at once, whatever the plugin does with its token: dropping
    // the call is what stops the work of every runtime (a Python worker is killed with its
    // lease, a Wasm call is interrupted by its watcher, rmcp sends
    // `notifications/cancelled` for a dropped MCP request).
    let result = tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => Err(PluginError::Cancelled),
        finished = tokio::time::timeout(timeout, call) => match finished {
            // A call that never reached the plugin is counted with the replacement that
            // serves it.
            Ok(Err(unloaded)) => {
                metrics.discard();
                return Err(unloaded);
            }
            Ok(Ok(result)) => result,
            Err(_) => {
                ctx.cancel.cancel();
                Err(PluginError::Timeout {
                    plugin: entry.info.name.clone(),
                    after: timeout,
                })
            }
        },
    };
    let result = result.and_then(|value| {
        check_size(&value, entry.limits.max_output_bytes)?;
        Ok(value)
    });
    metrics.finish(telemetry::outcome(&result, ctx.cancel.is_cancelled()));
    Ok(result)
}

/// The deadline a call started now must meet.
pub(crate) fn deadline(timeout: Duration) -> Instant {
    Instant::now() + timeout
}

/// Fails when the JSON form of `value` is over `limit` bytes, without building it.
fn check_size(value: &Value, limit: usize) -> Result<(), PluginError> {
    struct Counter {
        size: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.size += buf.len();
            if self.size > self.limit {
                // Stop serialising as soon as the cap is passed.
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { size: 0, limit };
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => Ok(()),
        Err(_) => Err(PluginError::OutputTooLarge {
            size: counter.size,
            limit,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_check_stops_at_the_limit() {
        assert!(check_size(&json!({"a": "b"}), 9).is_ok());
        let err = check_size(&json!({"a": "bc"}), 9).unwrap_err();
        assert!(matches!(err, PluginError::OutputTooLarge { limit: 9, .. }));
    }
}
