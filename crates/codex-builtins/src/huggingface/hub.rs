//! A model named by its Hugging Face Hub id, fetched once into the Hub's cache with the
//! `hf-hub` crate, so that later starts load it from disk without the network.
//!
//! The cache is laid out as the Hub's own clients lay it out (`models--org--name/` with
//! `blobs/`, `refs/` and `snapshots/`), so a model that Python's `huggingface_hub` already
//! fetched is found there too. The environment conventions of those clients hold:
//! `HF_ENDPOINT` for a mirror, `HF_HUB_CACHE` or `HF_HOME` for the cache, `HF_TOKEN` for
//! private or gated models.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use codex_plugin::PluginError;
use hf_hub::api::tokio::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, CacheRepo, Repo, RepoType};
use serde::Deserialize;

use super::model::REQUIRED_FILES;

/// Files read when present: sentence-transformers' pooling and length settings. Fetched
/// before [`REQUIRED_FILES`], so that a cache holding every required file has had every
/// optional one tried (a fetch stops at its first failure).
const OPTIONAL_FILES: [&str; 2] = ["modules.json", "sentence_bert_config.json"];

/// Where sentence-transformers keeps the pooling config when `modules.json` does not say.
const DEFAULT_POOLING_FOLDER: &str = "1_Pooling";

/// A Hub model and where to fetch it from and keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct HubModel {
    /// `org/name` (or a bare legacy `name`), like `sentence-transformers/all-MiniLM-L6-v2`.
    pub repo_id: String,
    /// A branch, tag or commit; `main` by default.
    pub revision: String,
    /// The Hub or a mirror, without a trailing `/`.
    pub endpoint: String,
    /// The Hub cache folder (the one holding `models--org--name/`).
    pub cache_dir: PathBuf,
}

impl fmt::Display for HubModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (revision {}) from {}",
            self.repo_id, self.revision, self.endpoint
        )
    }
}

impl HubModel {
    pub const DEFAULT_ENDPOINT: &'static str = "https://huggingface.co";
    pub const DEFAULT_REVISION: &'static str = "main";

    /// Checks a model id and fills what the config leaves out from the environment, as
    /// the Hub's clients do: `endpoint` else `HF_ENDPOINT` else the Hub; `cache_dir` else
    /// `HF_HUB_CACHE` else `$HF_HOME/hub` else `$XDG_CACHE_HOME/huggingface/hub` else
    /// `~/.cache/huggingface/hub`. Nothing is fetched here.
    pub fn resolve(
        repo_id: String,
        revision: Option<String>,
        endpoint: Option<String>,
        cache_dir: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HubModel, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        check_repo_id(&repo_id)?;
        let revision = revision.unwrap_or_else(|| Self::DEFAULT_REVISION.to_owned());
        check_revision(&revision)?;
        let endpoint = endpoint
            .or_else(|| env("HF_ENDPOINT"))
            .unwrap_or_else(|| Self::DEFAULT_ENDPOINT.to_owned());
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "endpoint '{endpoint}' must be an http:// or https:// URL"
            ));
        }
        let cache_dir = cache_dir
            .or_else(|| env("HF_HUB_CACHE").map(PathBuf::from))
            .or_else(|| env("HF_HOME").map(|home| PathBuf::from(home).join("hub")))
            .or_else(|| env("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("huggingface/hub")))
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub")))
            .ok_or("no cache folder for Hub models: set cache_dir (or HF_HOME)")?;
        Ok(HubModel {
            repo_id,
            revision,
            endpoint,
            cache_dir,
        })
    }

    fn repo(&self) -> Repo {
        Repo::with_revision(self.repo_id.clone(), RepoType::Model, self.revision.clone())
    }

    /// The model's folder in the cache, fetching what is not there yet. A model whose
    /// required files are all cached is used as is, without the network.
    pub(crate) async fn fetch(&self) -> Result<PathBuf, PluginError> {
        let cache = Cache::new(self.cache_dir.clone());
        if let Some(dir) = cached_snapshot(&cache.repo(self.repo())) {
            tracing::debug!(model = %self.repo_id, dir = %dir.display(), "Hub model found in the cache");
            return Ok(dir);
        }
        let started = Instant::now();
        let mut builder = ApiBuilder::from_cache(cache)
            .with_endpoint(self.endpoint.clone())
            .with_progress(false)
            .with_user_agent("codexcontinue", crate::VERSION);
        if let Some(token) = std::env::var("HF_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            builder = builder.with_token(Some(token));
        }
        let api = builder.build().map_err(|e| self.error("anything", &e))?;
        let repo = api.repo(self.repo());

        let modules = self.optional(&repo, OPTIONAL_FILES[0]).await?;
        if let Some(folder) = pooling_folder(modules.as_deref()) {
            self.optional(&repo, &format!("{folder}/config.json"))
                .await?;
        }
        for file in &OPTIONAL_FILES[1..] {
            self.optional(&repo, file).await?;
        }
        let mut dir = None;
        for file in REQUIRED_FILES {
            let path = self.required(&repo, file).await?;
            dir = path.parent().map(Path::to_path_buf);
        }
        let dir = dir.ok_or_else(|| {
            PluginError::failed(format!("huggingface: {self}: no snapshot folder"))
        })?;
        tracing::info!(
            plugin = super::NAME,
            model = %self.repo_id,
            revision = %self.revision,
            endpoint = %self.endpoint,
            dir = %dir.display(),
            duration_ms = started.elapsed().as_millis() as u64,
            "Hub model fetched"
        );
        Ok(dir)
    }

    /// A file the model cannot load without.
    async fn required(&self, repo: &ApiRepo, file: &str) -> Result<PathBuf, PluginError> {
        match repo.get(file).await {
            Ok(path) => Ok(path),
            Err(error) if status(&error) == Some(404) => Err(PluginError::failed(format!(
                "huggingface: {self} has no {file}; is it a BERT-family sentence model?"
            ))),
            Err(error) => Err(self.error(file, &error)),
        }
    }

    /// A file the model may lack: the Hub's 404 means it does, anything else is an error.
    async fn optional(&self, repo: &ApiRepo, file: &str) -> Result<Option<PathBuf>, PluginError> {
        match repo.get(file).await {
            Ok(path) => Ok(Some(path)),
            Err(error) if status(&error) == Some(404) => Ok(None),
            Err(error) => Err(self.error(file, &error)),
        }
    }

    fn error(&self, file: &str, error: &ApiError) -> PluginError {
        // The Hub answers 401 for a repository it does not have, so as not to tell which
        // private ones exist.
        if let Some(401 | 403) = status(error) {
            return PluginError::failed(format!(
                "huggingface: {self}: the model was not found, or it needs a token \
                 (set HF_TOKEN)"
            ));
        }
        let hint = match (error, status(error)) {
            (ApiError::RequestError(_), None) => {
                "; set endpoint (or HF_ENDPOINT) for a mirror, or model_dir for a local folder"
            }
            _ => "",
        };
        PluginError::failed(format!(
            "huggingface: cannot fetch {file} of {self} into {}: {}{hint}",
            self.cache_dir.display(),
            chain(error)
        ))
    }
}

/// The snapshot folder when every required file is in the cache.
fn cached_snapshot(cached: &CacheRepo) -> Option<PathBuf> {
    let mut dir = None;
    for file in REQUIRED_FILES {
        dir = cached.get(file)?.parent().map(Path::to_path_buf);
    }
    dir
}

/// The pooling module's folder that `modules.json` names (the default without the file).
fn pooling_folder(modules: Option<&Path>) -> Option<String> {
    #[derive(Deserialize)]
    struct Module {
        #[serde(rename = "type")]
        kind: String,
        path: String,
    }
    let Some(modules) = modules else {
        return Some(DEFAULT_POOLING_FOLDER.to_owned());
    };
    // A broken file is left for the loader, which names it in its error.
    let text = std::fs::read_to_string(modules).ok()?;
    let modules: Vec<Module> = serde_json::from_str(&text).ok()?;
    modules
        .into_iter()
        .find(|m| m.kind.ends_with(".Pooling"))
        .map(|m| m.path)
        .filter(|p| !p.is_empty() && Path::new(p).components().all(is_normal))
}

fn is_normal(component: std::path::Component<'_>) -> bool {
    matches!(component, std::path::Component::Normal(_))
}

/// The HTTP status a request failed with, if it got that far.
fn status(error: &ApiError) -> Option<u16> {
    match error {
        ApiError::RequestError(e) => e.status().map(|s| s.as_u16()),
        _ => None,
    }
}

/// The error and its causes, so that "connection refused" is not hidden behind "error
/// sending request".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `org/name` or `name`: letters, digits, `-`, `_` and `.`, nothing that could leave the
/// cache folder.
fn check_repo_id(repo_id: &str) -> Result<(), String> {
    let parts: Vec<&str> = repo_id.split('/').collect();
    let valid_part = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.len() <= 96
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if parts.len() > 2 || !parts.iter().all(valid_part) {
        return Err(format!(
            "model '{repo_id}' is not a Hub model id like \
             'sentence-transformers/all-MiniLM-L6-v2'"
        ));
    }
    Ok(())
}

/// A branch, tag or commit: it names a file in the cache, so no `..` and no blanks.
fn check_revision(revision: &str) -> Result<(), String> {
    let valid = !revision.is_empty()
        && !revision.chars().any(char::is_whitespace)
        && revision
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "revision '{revision}' is not a branch, tag or commit"
        ))
    }
}

#[cfg(test)]
mod tests;
