//! The plugin author's loop, as PLUGINS.md leads with it: `codexcontinue new` writes a plugin
//! of each kind, `codexcontinue plugins check` loads it and runs its example, and a server
//! given the same folder serves it. The Wasm one is built from source with cargo.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{codexcontinue, serve_in, stderr, stdout, venv_python};

fn run(dir: &Path, args: &[&str]) -> String {
    let output = codexcontinue(dir).args(args).output().unwrap();
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{args:?}\n{text}\n{}",
        stderr(&output)
    );
    text
}

/// Builds the scaffolded crate for wasm32-wasip1 and answers the module (bounded).
async fn build_wasm(crate_dir: &Path, name: &str) -> PathBuf {
    // Its own target folder, kept between runs in the test cache like the example plugins'.
    let target = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
        .join(".cache/codexcontinue/wasm-scaffold-target");
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new("cargo")
            .args(["build", "--release", "--quiet"])
            .current_dir(crate_dir)
            .env("CARGO_TARGET_DIR", &target)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Wasm build did not finish in 10 minutes")
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    target.join(format!("wasm32-wasip1/release/{name}.wasm"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_then_check_gives_a_plugin_of_each_kind_that_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let python = venv_python();

    // Python and MCP are written straight into the plugins folder.
    run(dir.path(), &["new", "python", "greeter"]);
    run(
        dir.path(),
        &["new", "mcp", "helper", "--python", python.to_str().unwrap()],
    );
    // Wasm is a crate of its own, built, then its module and manifest dropped in the folder.
    run(dir.path(), &["new", "wasm", "shouter", "--dir", "crates"]);
    let crate_dir = dir.path().join("crates/shouter");
    assert!(
        std::fs::read_to_string(crate_dir.join(".cargo/config.toml"))
            .unwrap()
            .contains("wasm32-wasip1")
    );
    let module = build_wasm(&crate_dir, "shouter").await;
    std::fs::copy(&module, plugins.join("shouter_plugin.wasm")).unwrap();
    std::fs::copy(
        crate_dir.join("shouter_plugin.toml"),
        plugins.join("shouter_plugin.toml"),
    )
    .unwrap();
    // Writing again refuses rather than overwrites.
    let again = codexcontinue(dir.path())
        .args(["new", "python", "greeter"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );

    // `check` loads each file as the server would and runs its example.
    for (file, loaded) in [
        ("plugins/greeter_plugin.py", "loaded greeter (python)"),
        ("plugins/shouter_plugin.wasm", "loaded shouter (wasm)"),
    ] {
        let text = run(dir.path(), &["plugins", "check", file]);
        assert!(text.contains(loaded), "{text}");
        assert!(text.contains("\"greeting\": \"Hello, Ada!\""), "{text}");
    }
    let text = run(
        dir.path(),
        &[
            "plugins",
            "check",
            "plugins/helper_plugin.toml",
            "--input",
            "{\"name\": \"Bo\"}",
        ],
    );
    assert!(text.contains("loaded helper__greet (mcp)"), "{text}");
    assert!(text.contains("Hello, Bo!"), "{text}");
    // A bad input is an error, and check says so with its exit code.
    let bad = codexcontinue(dir.path())
        .args([
            "plugins",
            "check",
            "plugins/greeter_plugin.py",
            "--input",
            "{}",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        stdout(&bad).contains("error: invalid_input"),
        "{}",
        stdout(&bad)
    );
    // A Wasm module's own error: the caller reads it, and the module's log lines name it.
    let bad = codexcontinue(dir.path())
        .args([
            "plugins",
            "check",
            "plugins/shouter_plugin.wasm",
            "--input",
            "\"  \"",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        stdout(&bad).contains("error: invalid_input: give a name"),
        "{}",
        stdout(&bad)
    );
    assert!(
        stderr(&bad).contains("wasm_plugin{plugin=shouter}"),
        "{}",
        stderr(&bad)
    );

    // The server loads the same folder and runs all three.
    let (_server, url) = serve_in(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    // The Wasm plugin's schema is the one schemars derived from its Rust type.
    let shouter: Value = client
        .get(format!("{url}/api/plugins/shouter"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &shouter["input_schema"];
    assert_eq!(schema["title"], "Input", "{shouter}");
    assert_eq!(
        schema["properties"]["name"],
        json!({"type": "string", "description": "Who to greet."}),
        "{shouter}"
    );
    for (plugin, data, expected) in [
        (
            "greeter",
            json!({"name": "Cy"}),
            json!({"greeting": "Hello, Cy!"}),
        ),
        ("shouter", json!("Di"), json!({"greeting": "Hello, Di!"})),
        (
            "helper__greet",
            json!({"name": "Ed"}),
            json!({"result": "Hello, Ed!"}),
        ),
    ] {
        // The MCP server's tools appear once it has started: wait for the listing, bounded.
        let started = std::time::Instant::now();
        let body = loop {
            let response = client
                .post(format!("{url}/api/plugins/execute"))
                .json(&json!({"plugin": plugin, "data": data}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            if status.is_success() || started.elapsed() > Duration::from_secs(30) {
                assert!(status.is_success(), "{plugin}: {body}");
                break body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(body["result"], expected, "{plugin}: {body}");
    }
}
