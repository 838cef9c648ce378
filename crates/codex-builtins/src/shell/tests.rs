//! The shell plugin running real commands: output, errors, limits, deadlines and process groups.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;

fn context(config: Value, budget: Duration) -> ExecContext {
    ExecContext::new("test", Instant::now() + budget).with_config(Arc::new(config))
}

async fn run(input: Value, config: Value) -> Result<Value> {
    let ctx = context(config, Duration::from_secs(20));
    ShellPlugin::new().execute(input, &ctx).await
}

async fn check(input: Value, config: Value, expected: Result<Value>) {
    assert_eq!(run(input.clone(), config).await, expected, "{input}");
}

#[tokio::test]
async fn runs_commands_and_reports_output_and_exit_code() {
    // `output` is the stdout, or the stderr when the command failed, as the original
    // project's shell plugin answered.
    let ok = |stdout: &str, stderr: &str, code: i32| {
        let output = if code == 0 { stdout } else { stderr };
        Ok(json!({"stdout": stdout, "stderr": stderr, "exit_code": code, "output": output}))
    };
    check(json!("echo hello"), Value::Null, ok("hello\n", "", 0)).await;
    check(
        json!({"command": "echo oops >&2; exit 3"}),
        Value::Null,
        ok("", "oops\n", 3),
    )
    .await;
    check(json!("printf 'a b'; false"), Value::Null, ok("a b", "", 1)).await;
    check(json!("cat"), Value::Null, ok("", "", 0)).await;
    check(
        json!("kill -9 $$"),
        Value::Null,
        Ok(json!({"stdout": "", "stderr": "", "exit_code": null, "signal": 9, "output": ""})),
    )
    .await;
}

#[tokio::test]
async fn bad_input_and_config_are_rejected() {
    let invalid = |m: &str| Err(PluginError::invalid_input(m));
    check(
        json!(5),
        Value::Null,
        invalid("expected a command string or {\"command\": \"...\"}, not a number"),
    )
    .await;
    check(json!(" "), Value::Null, invalid("the command is empty")).await;
    check(json!({}), Value::Null, invalid("missing field 'command'")).await;
    check(
        json!({"cmd": "ls"}),
        Value::Null,
        invalid("unknown field 'cmd'; expected 'command', 'working_dir'"),
    )
    .await;
    check(
        json!({"command": "ls", "working_dir": 3}),
        Value::Null,
        invalid("'working_dir' must be a string, not a number"),
    )
    .await;
    let got = run(json!("echo hi"), json!({"max_output_bytes": "lots"})).await;
    assert!(
        matches!(&got, Err(PluginError::Failed(m)) if m.starts_with("invalid shell configuration")),
        "{got:?}"
    );
}

#[tokio::test]
async fn unknown_config_keys_are_left_to_the_host() {
    check(
        json!("echo hi"),
        json!({"enabled": true}),
        Ok(json!({"stdout": "hi\n", "stderr": "", "exit_code": 0, "output": "hi\n"})),
    )
    .await;
}

#[tokio::test]
async fn working_directory_comes_from_config_and_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().canonicalize().expect("canonical temp dir");
    std::fs::create_dir(base.join("sub")).expect("sub dir");
    let pwd = |path: &Path| {
        let stdout = format!("{}\n", path.display());
        Ok(json!({"stdout": stdout, "stderr": "", "exit_code": 0, "output": stdout}))
    };
    let config = json!({ "working_dir": base });
    check(json!("pwd -P"), config.clone(), pwd(&base)).await;
    check(
        json!({"command": "pwd -P", "working_dir": "sub"}),
        config.clone(),
        pwd(&base.join("sub")),
    )
    .await;
    check(
        json!({"command": "pwd -P", "working_dir": base.join("sub")}),
        Value::Null,
        pwd(&base.join("sub")),
    )
    .await;
    let missing = base.join("missing");
    check(
        json!({"command": "pwd", "working_dir": "missing"}),
        config,
        Err(PluginError::invalid_input(format!(
            "working directory '{}' does not exist or is not a directory",
            missing.display()
        ))),
    )
    .await;
}

#[tokio::test]
async fn output_beyond_the_cap_is_truncated() {
    let config = json!({"max_output_bytes": 10});
    check(
        json!("printf abcdefghijklmnopqrstuvwxyz; printf 0123456789ab >&2"),
        config,
        Ok(json!({
            "stdout": "abcdefghij",
            "stderr": "0123456789",
            "exit_code": 0,
            "output": "abcdefghij",
            "truncated": true
        })),
    )
    .await;
    // Exactly at the cap is not truncated.
    check(
        json!("printf abcdefghij"),
        json!({"max_output_bytes": 10}),
        Ok(json!({"stdout": "abcdefghij", "stderr": "", "exit_code": 0, "output": "abcdefghij"})),
    )
    .await;
    // A character cut by the cap is dropped, not turned into U+FFFD.
    check(
        json!("printf 'a\\303\\251\\342\\202\\254'"),
        json!({"max_output_bytes": 4}),
        Ok(json!({"stdout": "aé", "stderr": "", "exit_code": 0, "output": "aé", "truncated": true})),
    )
    .await;
}

#[tokio::test]
async fn output_far_beyond_the_pipe_buffer_does_not_block_the_command() {
    let got = run(
        json!("head -c 1000000 /dev/zero | tr '\\000' a; echo done >&2"),
        Value::Null,
    )
    .await
    .expect("command runs");
    assert_eq!(
        got["stdout"].as_str().map(str::len),
        Some(DEFAULT_MAX_OUTPUT_BYTES)
    );
    assert_eq!(got["stderr"], "done\n");
    assert_eq!(got["truncated"], true);
    assert_eq!(got["exit_code"], 0);
}

#[tokio::test]
async fn a_command_past_the_deadline_times_out() {
    let started = Instant::now();
    let ctx = context(Value::Null, Duration::from_millis(300));
    let got = ShellPlugin::new().execute(json!("sleep 5"), &ctx).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(&got, Err(PluginError::Timeout { plugin, after }) if plugin == "shell" && *after <= Duration::from_millis(300)),
        "{got:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn a_deadline_already_past_runs_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    let ctx = ExecContext::new("test", Instant::now());
    let command = format!("touch '{}'", marker.display());
    let got = ShellPlugin::new().execute(json!(command), &ctx).await;
    assert!(matches!(got, Err(PluginError::Timeout { .. })), "{got:?}");
    assert!(!marker.exists());
}

#[tokio::test]
async fn cancellation_stops_the_command() {
    let cancel = CancellationToken::new();
    let ctx = context(Value::Null, Duration::from_secs(20)).with_cancel(cancel.clone());
    let plugin = ShellPlugin::new();
    let started = Instant::now();
    // `join!` polls the call first, so the command is running when the token fires.
    let (got, ()) = tokio::join!(plugin.execute(json!("sleep 5"), &ctx), async {
        cancel.cancel()
    });
    assert_eq!(got, Err(PluginError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Regression guard: killing only `sh` left its background jobs running after a timeout.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    // The shell waiting for its job, and the shell gone while its job keeps the output open.
    for ending in ["; wait", ""] {
        let dir = tempfile::tempdir().expect("temp dir");
        let pid_file = dir.path().join("pid");
        let command = format!("sleep 30 & echo $! > '{}'{ending}", pid_file.display());
        let ctx = context(Value::Null, Duration::from_secs(1));
        let got = ShellPlugin::new().execute(json!(command), &ctx).await;
        assert!(
            matches!(got, Err(PluginError::Timeout { .. })),
            "{command}: {got:?}"
        );
        let pid = std::fs::read_to_string(&pid_file).expect("the command wrote its job's pid");
        assert_gone(pid.trim()).await;
    }
}

/// The host enforces its own timeout by dropping the call's future; that must not leak
/// the command either.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_call_kills_the_process_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    let command = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let ctx = context(Value::Null, Duration::from_secs(20));
    let plugin = ShellPlugin::new();
    let call = plugin.execute(json!(command), &ctx);
    let got = tokio::time::timeout(Duration::from_secs(1), call).await;
    assert!(got.is_err(), "the call should still be running: {got:?}");
    let pid = std::fs::read_to_string(&pid_file).expect("the command wrote its job's pid");
    assert_gone(pid.trim()).await;
}

/// Waits, at most 5 s, for process `pid` to be dead (gone or a zombie).
#[cfg(target_os = "linux")]
async fn assert_gone(pid: &str) {
    let stat = format!("/proc/{pid}/stat");
    // The signal has been sent when the call returns, but the kernel finishes the
    // process asynchronously and offers no notification to wait on, so poll, bounded.
    let gone = || match std::fs::read_to_string(&stat) {
        Err(_) => true,
        // The state follows the parenthesised command name; Z is a zombie.
        Ok(text) => text
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    };
    let polling_since = Instant::now();
    while !gone() {
        assert!(
            polling_since.elapsed() < Duration::from_secs(5),
            "background job {pid} survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// The original project's HTTP tests read the shell result's `output`: the stdout, or the
// stderr when the command failed, beside our own fields.
#[tokio::test]
async fn output_is_stdout_or_stderr_when_the_command_failed() {
    let got = run(json!("echo fine; echo noise >&2"), Value::Null)
        .await
        .unwrap();
    assert_eq!(got["output"], "fine\n");
    let got = run(json!("echo partial; echo broken >&2; exit 2"), Value::Null)
        .await
        .unwrap();
    assert_eq!(got["output"], "broken\n");
    assert_eq!(got["stdout"], "partial\n");
    assert_eq!(got["exit_code"], 2);
}
