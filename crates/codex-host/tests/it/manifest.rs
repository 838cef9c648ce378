//! Manifests by kind through the real manager: a table for another kind, and the flat keys
//! of older manifests, are load errors that say what to do, while the rest of the folder loads.

use std::path::Path;
use std::sync::Arc;

use codex_host::python::{PythonOptions, PythonRuntime};
use codex_host::wasm::{WasmOptions, WasmRuntime};
use codex_host::{HostConfig, PluginManager};

use crate::wasm::modules_dir;

const GREETING: &str = r#"
from app.plugins.interface import PluginInterface


class CLASS(PluginInterface):
    def initialize(self):
        pass

    def execute(self, data):
        return f"Hello, {data}!"

    def shutdown(self):
        pass
"#;

fn write(dir: &Path, file: &str, contents: &str) {
    std::fs::write(dir.join(file), contents).unwrap();
}

fn greeting(dir: &Path, name: &str, manifest: Option<&str>) {
    let class = codex_plugin::naming::pascal_case(&format!("{name}_plugin"));
    write(
        dir,
        &format!("{name}_plugin.py"),
        &GREETING.replace("CLASS", &class),
    );
    if let Some(manifest) = manifest {
        write(dir, &format!("{name}_plugin.toml"), manifest);
    }
}

fn word_count(dir: &Path, name: &str, manifest: &str) {
    std::fs::copy(
        modules_dir().join("word_count_plugin.wasm"),
        dir.join(format!("{name}_plugin.wasm")),
    )
    .unwrap();
    write(dir, &format!("{name}_plugin.toml"), manifest);
}

async fn start(dir: &Path, cache: &Path) -> PluginManager {
    PluginManager::builder(HostConfig::new(dir))
        .with_runtime(Arc::new(PythonRuntime::new(PythonOptions::default())))
        .with_runtime(Arc::new(WasmRuntime::new(
            WasmOptions::default().with_cache_dir(cache),
        )))
        .start()
        .await
}

#[tokio::test]
async fn kind_tables_apply_to_their_kind_and_are_errors_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let folder = dir.path();
    greeting(folder, "fine", Some("[python]\npool_size = 2\n"));
    greeting(
        folder,
        "wasm_beside_py",
        Some("[wasm]\nmemory_limit_mb = 8\n"),
    );
    greeting(folder, "mcp_beside_py", Some("[mcp]\ncommand = \"x\"\n"));
    word_count(
        folder,
        "counted",
        "[wasm]\npool_size = 1\nmemory_limit_mb = 16\n",
    );
    word_count(folder, "python_beside_wasm", "[python]\npool_size = 2\n");
    write(
        folder,
        "server_plugin.toml",
        "[mcp]\ncommand = \"mcp-server-time\"\n[python]\npool_size = 1\n",
    );
    let manager = start(folder, cache.path()).await;

    let mut names: Vec<String> = manager.list().iter().map(|e| e.name().to_owned()).collect();
    names.sort();
    assert_eq!(names, ["counted", "fine"]);
    let errors = manager.load_errors();
    let error_of = |file: &str| -> String {
        errors
            .iter()
            .find(|e| e.file.ends_with(file))
            .map(|e| e.error.clone())
            .unwrap_or_else(|| panic!("no load error for {file}: {errors:?}"))
    };
    for (file, expected) in [
        (
            "wasm_beside_py_plugin.py",
            "[wasm] means nothing for a Python plugin (a .py file)",
        ),
        (
            "mcp_beside_py_plugin.py",
            "[mcp] means nothing for a Python plugin (a .py file)",
        ),
        (
            "python_beside_wasm_plugin.wasm",
            "[python] means nothing for a Wasm plugin (a .wasm file)",
        ),
        (
            "server_plugin.toml",
            "[python] means nothing for an MCP server's manifest",
        ),
    ] {
        let error = error_of(file);
        assert!(error.contains(expected), "{file}: {error}");
        // The error names the manifest, where the fix goes.
        assert!(error.contains(".toml"), "{file}: {error}");
    }
    assert_eq!(errors.len(), 4, "{errors:?}");
    manager.shutdown().await;
}

// Manifests written before the kind tables keep `interpreter`, `pool_size` and the Wasm
// grants at the top level; they must fail saying where each key moved, not load with the
// key silently ignored or fail with a bare "unknown field".
#[tokio::test]
async fn old_flat_manifests_say_how_to_move() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let folder = dir.path();
    greeting(folder, "old_python", Some("interpreter = \"python3\"\n"));
    greeting(folder, "old_pool", Some("pool_size = 2\n"));
    word_count(folder, "old_wasm", "allowed_hosts = [\"example.com\"]\n");
    greeting(folder, "current", None);
    let manager = start(folder, cache.path()).await;

    let names: Vec<String> = manager.list().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, ["current"]);
    let error_of = |plugin: &str| -> String {
        manager
            .load_errors()
            .iter()
            .find(|e| e.plugin.as_deref() == Some(plugin))
            .map(|e| e.error.clone())
            .unwrap_or_else(|| panic!("no load error for {plugin}"))
    };
    let python = error_of("old_python");
    assert!(
        python.contains("move interpreter into a [python] table"),
        "{python}"
    );
    assert!(python.contains("old_python_plugin.toml"), "{python}");
    let pool = error_of("old_pool");
    assert!(
        pool.contains("move pool_size into a [python] table"),
        "{pool}"
    );
    let wasm = error_of("old_wasm");
    assert!(
        wasm.contains("move allowed_hosts into a [wasm] table"),
        "{wasm}"
    );
    manager.shutdown().await;
}
