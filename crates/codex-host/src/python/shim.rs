//! The worker script and the shim packages plugins import their base classes from
//! (`codexcontinue`, and the original project's `app.plugins.interface` and
//! `app.brain.core.base`), embedded in the binary and written to a private folder that
//! goes first on the workers' `PYTHONPATH`.

use std::path::{Path, PathBuf};

/// Files written under the shim folder, relative path → contents.
const FILES: &[(&str, &str)] = &[
    (WORKER_SCRIPT, include_str!("../../python/codex_worker.py")),
    (
        FORK_SERVER_SCRIPT,
        include_str!("../../python/codex_forkserver.py"),
    ),
    (
        "codexcontinue/__init__.py",
        include_str!("../../python/codexcontinue/__init__.py"),
    ),
    (
        "app/__init__.py",
        include_str!("../../python/app/__init__.py"),
    ),
    (
        "app/plugins/__init__.py",
        include_str!("../../python/app/plugins/__init__.py"),
    ),
    (
        "app/plugins/interface.py",
        include_str!("../../python/app/plugins/interface.py"),
    ),
    (
        "app/brain/__init__.py",
        include_str!("../../python/app/brain/__init__.py"),
    ),
    (
        "app/brain/core/__init__.py",
        include_str!("../../python/app/brain/core/__init__.py"),
    ),
    (
        "app/brain/core/base.py",
        include_str!("../../python/app/brain/core/base.py"),
    ),
];

const WORKER_SCRIPT: &str = "codex_worker.py";
const FORK_SERVER_SCRIPT: &str = "codex_forkserver.py";

/// A private temporary folder holding the worker script and shim packages; removed
/// when the last worker spec using it is dropped.
#[derive(Debug)]
pub(crate) struct ShimDir {
    dir: tempfile::TempDir,
}

impl ShimDir {
    /// Writes every file into a fresh folder only the current user can read.
    pub fn create() -> std::io::Result<ShimDir> {
        let dir = tempfile::Builder::new()
            .prefix("codexcontinue-python-")
            .tempdir()?;
        for (relative, contents) in FILES {
            let path = dir.path().join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, contents)?;
        }
        std::fs::create_dir_all(dir.path().join("pycache"))?;
        Ok(ShimDir { dir })
    }

    /// The folder to put first on `PYTHONPATH`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn worker_script(&self) -> PathBuf {
        self.dir.path().join(WORKER_SCRIPT)
    }

    pub fn fork_server_script(&self) -> PathBuf {
        self.dir.path().join(FORK_SERVER_SCRIPT)
    }

    /// Where workers keep bytecode, so nothing is written into the plugins folder
    /// (which the host watches for changes).
    pub fn pycache(&self) -> PathBuf {
        self.dir.path().join("pycache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_worker_and_every_import_path() {
        let shim = ShimDir::create().unwrap();
        assert!(shim.worker_script().is_file());
        assert!(shim.fork_server_script().is_file());
        assert!(shim.path().join("codexcontinue/__init__.py").is_file());
        let interface =
            std::fs::read_to_string(shim.path().join("app/plugins/interface.py")).unwrap();
        assert!(interface.contains("from codexcontinue import"));
        assert!(interface.contains("class CodexTool(PluginInterface)"));
        let base = std::fs::read_to_string(shim.path().join("app/brain/core/base.py")).unwrap();
        assert!(base.contains("async def run(self, prompt: str, session_id: str)"));
        assert!(shim.path().join("app/brain/core/__init__.py").is_file());
    }
}
