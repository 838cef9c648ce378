//! Manifests parse strictly, by kind, and say where old flat keys moved.

use super::*;

#[test]
fn unknown_key_is_named() {
    let err = Manifest::parse("descripton = \"x\"").unwrap_err();
    assert!(err.contains("descripton"), "{err}");
    let err = Manifest::parse("[wasm]\nallowed_host = []").unwrap_err();
    assert!(err.contains("allowed_host"), "{err}");
}

#[test]
fn full_manifest_parses() {
    let m = Manifest::parse(
        r#"
        description = "Counts words"
        version = "1.2.0"
        timeout_ms = 500
        [wasm]
        memory_limit_mb = 16
        allowed_hosts = ["example.com"]
        [wasm.allowed_paths]
        "/tmp/data" = "/data"
        [config]
        greeting = "hi"
        "#,
    )
    .unwrap();
    assert_eq!(m.timeout_ms, Some(500));
    assert_eq!(m.wasm().memory_limit_mb, Some(16));
    assert_eq!(m.wasm().allowed_paths["/tmp/data"], PathBuf::from("/data"));
    assert_eq!(m.config.unwrap()["greeting"], "hi");
}

#[test]
fn python_table_parses() {
    let m =
        Manifest::parse("[python]\ninterpreter = \".venv/bin/python\"\npool_size = 2\n").unwrap();
    assert_eq!(
        m.python().interpreter.as_deref(),
        Some(Path::new(".venv/bin/python"))
    );
    assert_eq!(m.python().pool_size, Some(2));
    assert_eq!(m.wasm(), &WasmManifest::default());
}

fn check_moved(text: &str, expected: &str) {
    let err = Manifest::parse(text).unwrap_err();
    assert!(err.contains(expected), "{text}: {err}");
}

// Manifests written before the kind tables had these keys at the top level; each must
// say where it moved rather than "unknown field".
#[test]
fn old_flat_keys_say_where_they_moved() {
    check_moved(
        "allowed_hosts = [\"example.com\"]",
        "move allowed_hosts into a [wasm] table",
    );
    check_moved(
        "memory_limit_mb = 8",
        "move memory_limit_mb into a [wasm] table",
    );
    check_moved(
        "[allowed_paths]\n\"data\" = \"/data\"",
        "move allowed_paths into a [wasm] table",
    );
    check_moved(
        "interpreter = \"python3\"",
        "move interpreter into a [python] table",
    );
    check_moved("pool_size = 2", "move pool_size into a [python] table");
    check_moved("pool_size = 2", "or a [wasm] table");
}

fn check_kind(text: &str, kind: PluginKind, expected: Result<(), &str>) {
    let manifest = Manifest::parse(text).unwrap();
    match (manifest.check_kind(kind), expected) {
        (Ok(()), Ok(())) => {}
        (Err(got), Err(wanted)) => assert!(got.contains(wanted), "{text}: {got}"),
        (got, wanted) => panic!("{text} as {kind}: got {got:?}, expected {wanted:?}"),
    }
}

#[test]
fn a_table_for_another_kind_is_an_error_that_says_so() {
    let wasm = "[wasm]\nmemory_limit_mb = 8\n";
    let python = "[python]\npool_size = 2\n";
    let mcp = "[mcp]\ncommand = \"mcp-server-time\"\n";
    check_kind(wasm, PluginKind::Wasm, Ok(()));
    check_kind(python, PluginKind::Python, Ok(()));
    check_kind(mcp, PluginKind::Mcp, Ok(()));
    check_kind(
        "timeout_ms = 5\n[config]\na = 1\n",
        PluginKind::Python,
        Ok(()),
    );
    check_kind(
        wasm,
        PluginKind::Python,
        Err("[wasm] means nothing for a Python plugin (a .py file)"),
    );
    check_kind(
        python,
        PluginKind::Wasm,
        Err("[python] means nothing for a Wasm plugin (a .wasm file)"),
    );
    check_kind(mcp, PluginKind::Python, Err("[mcp] means nothing"));
    check_kind(
        python,
        PluginKind::Mcp,
        Err("[python] means nothing for an MCP server"),
    );
}

#[test]
fn every_misspelt_key_is_reported_at_once_with_a_guess() {
    let err =
        Manifest::parse("descripton = \"x\"\ntimout_ms = 5\nzzz = 1\n[wasm]\nmemory_limit = 8\n")
            .unwrap_err();
    assert!(
        err.contains("unknown key `descripton` (did you mean `description`?)"),
        "{err}"
    );
    assert!(
        err.contains("unknown key `timout_ms` (did you mean `timeout_ms`?)"),
        "{err}"
    );
    assert!(
        err.contains("unknown key `zzz`;") || err.ends_with("unknown key `zzz`"),
        "{err}"
    );
    assert!(
        err.contains("unknown key `wasm.memory_limit` (did you mean `wasm.memory_limit_mb`?)"),
        "{err}"
    );
}

/// The key lists the misspelling check uses are exactly the keys the structs read.
#[test]
fn the_known_keys_are_the_structs_keys() {
    let keys = |value: toml::Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_table().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let sorted = |known: &[&str]| -> Vec<String> {
        let mut known: Vec<String> = known.iter().map(|k| (*k).to_owned()).collect();
        known.sort();
        known
    };
    let full = Manifest {
        description: Some(String::new()),
        version: Some(String::new()),
        author: Some(String::new()),
        category: Some(String::new()),
        example: Some(serde_json::json!(1)),
        input_schema: Some(serde_json::json!({})),
        enabled: Some(true),
        policy: Some(codex_plugin::Policy::Allow),
        read_only: Some(true),
        timeout_ms: Some(1),
        max_output_bytes: Some(1),
        max_concurrency: Some(1),
        config: Some(serde_json::json!({})),
        wasm: Some(WasmManifest {
            memory_limit_mb: Some(1),
            pool_size: Some(1),
            ..WasmManifest::default()
        }),
        python: Some(PythonManifest {
            interpreter: Some("python3".into()),
            pool_size: Some(1),
            requirements: vec!["six".into()],
        }),
        mcp: Some(McpServerConfig {
            command: Some("x".into()),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: Some(".".into()),
            url: Some("http://127.0.0.1".into()),
            headers: BTreeMap::new(),
            enabled: true,
            timeout_ms: Some(1),
            tools: Some(Vec::new()),
        }),
    };
    let value = toml::Value::try_from(&full).unwrap();
    assert_eq!(keys(value.clone()), sorted(TOP_KEYS));
    assert_eq!(keys(value["wasm"].clone()), sorted(WASM_KEYS));
    assert_eq!(keys(value["python"].clone()), sorted(PYTHON_KEYS));
    assert_eq!(keys(value["mcp"].clone()), sorted(MCP_KEYS));
}
