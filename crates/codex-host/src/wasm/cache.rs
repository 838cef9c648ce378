//! The compiled-module cache: wasmtime's on-disk cache, kept under our own folder so a
//! restart loads machine code instead of compiling every module again.

use std::path::{Path, PathBuf};

/// The cache folder when none is configured: `$XDG_CACHE_HOME/codexcontinue/wasm`, else
/// `$HOME/.cache/codexcontinue/wasm`.
pub(crate) fn default_dir() -> Option<PathBuf> {
    crate::config::user_cache_dir("wasm")
}

/// Where compiled modules go, as Extism wants to be told: the path of a wasmtime cache
/// configuration file that names the folder.
#[derive(Debug, Clone)]
pub(crate) struct ModuleCache {
    /// `(cache folder, its wasmtime config file)`; `None` when caching is off.
    paths: Option<(PathBuf, PathBuf)>,
}

/// The config file written into the cache folder.
const CONFIG_FILE: &str = "wasmtime-cache.toml";
/// The folder, inside the cache folder, that wasmtime manages.
const COMPILED_DIR: &str = "compiled";

impl ModuleCache {
    /// Creates the folder and its config file; on any failure the cache is off.
    pub(crate) fn open(dir: Option<&Path>) -> ModuleCache {
        let Some(dir) = dir else {
            tracing::warn!(
                "no cache folder for compiled Wasm modules (HOME unset); caching is off"
            );
            return ModuleCache { paths: None };
        };
        match Self::prepare(dir) {
            Ok(paths) => ModuleCache { paths: Some(paths) },
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "compiled Wasm module cache unavailable; caching is off");
                ModuleCache { paths: None }
            }
        }
    }

    fn prepare(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the folder: {e}"))?;
        // wasmtime insists on an absolute cache folder.
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("cannot resolve the folder: {e}"))?;
        // wasmtime's cleanup deletes files it does not recognise inside its folder, so the
        // config file sits beside that folder, not in it.
        let compiled = dir.join(COMPILED_DIR);
        std::fs::create_dir_all(&compiled).map_err(|e| format!("cannot create the folder: {e}"))?;
        let mut cache = toml::Table::new();
        cache.insert(
            "directory".to_owned(),
            toml::Value::String(compiled.display().to_string()),
        );
        let mut root = toml::Table::new();
        root.insert("cache".to_owned(), toml::Value::Table(cache));
        let text = toml::to_string(&root).map_err(|e| e.to_string())?;
        let config = dir.join(CONFIG_FILE);
        if std::fs::read_to_string(&config).ok().as_deref() != Some(text.as_str()) {
            // Written aside and renamed, so two runtimes starting together never read half a file.
            let partial = dir.join(format!(".{CONFIG_FILE}.{}", std::process::id()));
            std::fs::write(&partial, text)
                .map_err(|e| format!("cannot write {CONFIG_FILE}: {e}"))?;
            std::fs::rename(&partial, &config)
                .map_err(|e| format!("cannot write {CONFIG_FILE}: {e}"))?;
        }
        Ok((dir, config))
    }

    /// The folder, if caching is on.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.paths.as_ref().map(|(dir, _)| dir.as_path())
    }

    /// The builder with this cache switched on, or explicitly off.
    pub(crate) fn apply<'a>(
        &self,
        builder: extism::PluginBuilder<'a>,
    ) -> extism::PluginBuilder<'a> {
        match &self.paths {
            Some((_, config)) => builder.with_cache_config(config),
            // Without this Extism would fall back to EXTISM_CACHE_CONFIG or wasmtime's
            // per-user default: off means off.
            None => builder.with_cache_disabled(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_config_naming_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::open(Some(&dir.path().join("wasm")));
        let folder = cache.dir().unwrap().to_owned();
        let text = std::fs::read_to_string(folder.join(CONFIG_FILE)).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["cache"]["directory"].as_str(),
            Some(folder.join(COMPILED_DIR).display().to_string().as_str())
        );
    }

    #[test]
    fn an_unusable_folder_turns_the_cache_off() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        assert!(ModuleCache::open(Some(&file.join("wasm"))).dir().is_none());
    }
}
