//! A client of the original kind drives the original paths: a Streamlit page written the way
//! the original project's frontend pages were, run by Streamlit's own test harness
//! (`streamlit.testing.v1.AppTest`) against the served binary.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use crate::venv_python;

/// An original-style plugin (`app.brain.core.base.CodexTool`, an async `run` only, a
/// module-level instance), so the page runs a Python file through the original paths too.
const REVERSE_WORDS: &str = r#"from app.brain.core.base import CodexTool


class ReverseWords(CodexTool):
    name = "reverse_words"
    description = "Reverses the order of the words"

    async def run(self, prompt: str, session_id: str) -> str:
        return " ".join(reversed(prompt.split()))


plugin = ReverseWords()
"#;

#[tokio::test]
async fn the_original_streamlit_frontend_works_against_the_original_paths() {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("reverse_words_plugin.py"), REVERSE_WORDS).unwrap();

    let (_server, url) = crate::serve_in(dir.path(), &[]).await;

    let runner =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original_frontend_runner.py");
    let mut streamlit = Command::new(&python);
    streamlit
        .arg(&runner)
        .env("BACKEND_URL", &url)
        // Bare-mode warnings, one per Streamlit call, would bury a failure's traceback.
        .env("STREAMLIT_LOGGER_LEVEL", "error")
        .current_dir(dir.path());
    // The runner checked every step; the last page it saw is kept for the record.
    let shown = crate::script_json(streamlit, Duration::from_secs(180)).await;
    assert_eq!(shown["health.status"], "ok");
    assert_eq!(shown["sessions.has_current"], "True");
}
