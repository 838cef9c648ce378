//! The model plugin itself: its settings and config table, loading (from a folder, or from
//! the Hub cache after a fetch) and answering calls.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, Result};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::hub::HubModel;
use super::model::{self, SentenceModel};
use super::request::{Request, Texts};
use super::zero_shot::{self, LabelExamples, Prototypes, cosine, default_labels};

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A folder holding `model.safetensors`, `config.json`, `tokenizer.json` and, for
    /// sentence-transformers models, `modules.json` and `1_Pooling/config.json`.
    Dir(PathBuf),
    /// A Hub model, fetched into its cache by the first `initialize` that needs it.
    Hub(HubModel),
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Dir(dir) => write!(f, "model folder {}", dir.display()),
            ModelSource::Hub(hub) => write!(f, "Hub model {hub}"),
        }
    }
}

/// How a [`HuggingFacePlugin`] is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct HuggingFaceSettings {
    pub source: ModelSource,
    /// Zero-shot labels and their example sentences; `None` means [`default_labels`]
    /// (positive and negative).
    pub labels: Option<LabelExamples>,
    /// Most texts run through the model at once.
    pub max_batch: usize,
}

impl HuggingFaceSettings {
    pub const DEFAULT_MAX_BATCH: usize = 32;

    /// The model in a local folder.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self::from_source(ModelSource::Dir(model_dir.into()))
    }

    /// A Hub model, fetched into its cache on the first `initialize`.
    pub fn hub(model: HubModel) -> Self {
        Self::from_source(ModelSource::Hub(model))
    }

    fn from_source(source: ModelSource) -> Self {
        HuggingFaceSettings {
            source,
            labels: None,
            max_batch: Self::DEFAULT_MAX_BATCH,
        }
    }

    pub fn with_labels(mut self, labels: LabelExamples) -> Self {
        self.labels = Some(labels);
        self
    }

    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }
}

/// The `[plugins.huggingface.config]` table: `model_dir`, or `model` with optional
/// `revision`, `endpoint` and `cache_dir`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    model_dir: Option<PathBuf>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    zero_shot_labels: Option<LabelExamples>,
    #[serde(default)]
    max_batch: Option<usize>,
}

/// What `initialize` loads and every call shares.
struct Loaded {
    model: SentenceModel,
    /// The configured (or default) zero-shot labels, embedded once.
    prototypes: Prototypes,
}

/// Runs a BERT-family sentence model on this machine; see the parent module's docs.
pub struct HuggingFacePlugin {
    info: PluginInfo,
    settings: HuggingFaceSettings,
    loaded: RwLock<Option<Arc<Loaded>>>,
}

impl HuggingFacePlugin {
    pub const NAME: &'static str = super::NAME;

    /// A plugin for the model that `settings` names; nothing is read (or fetched) before
    /// `initialize`.
    pub fn new(settings: HuggingFaceSettings) -> Self {
        HuggingFacePlugin {
            info: super::plugin_info(),
            settings,
            loaded: RwLock::new(None),
        }
    }

    /// Builds the plugin from its config table:
    /// `{"model_dir": "...", "zero_shot_labels": {"positive": ["I love it"], ...}, "max_batch": 32}`,
    /// or `{"model": "sentence-transformers/all-MiniLM-L6-v2", "revision": "main",
    /// "endpoint": "https://...", "cache_dir": "..."}` in place of `model_dir`. The Hub
    /// settings not given come from the environment (see [`HubModel::resolve`]).
    pub fn from_config(config: &Value) -> Result<Self> {
        Self::from_config_with_env(config, &|name| std::env::var(name).ok())
    }

    /// [`Self::from_config`] with the environment looked up by `env`.
    pub fn from_config_with_env(
        config: &Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let invalid =
            |e: &dyn fmt::Display| PluginError::invalid_input(format!("huggingface config: {e}"));
        let raw: RawConfig = serde_json::from_value(config.clone()).map_err(|e| invalid(&e))?;
        if let Some(labels) = &raw.zero_shot_labels {
            zero_shot::validate_labels(labels).map_err(|e| {
                PluginError::invalid_input(format!("huggingface config: zero_shot_labels: {e}"))
            })?;
        }
        let max_batch = raw
            .max_batch
            .unwrap_or(HuggingFaceSettings::DEFAULT_MAX_BATCH);
        if max_batch == 0 {
            return Err(PluginError::invalid_input(
                "huggingface config: max_batch must be at least 1",
            ));
        }
        let hub_only = [
            ("revision", raw.revision.is_some()),
            ("endpoint", raw.endpoint.is_some()),
            ("cache_dir", raw.cache_dir.is_some()),
        ];
        let source = match (raw.model_dir, raw.model) {
            (Some(dir), None) => {
                if let Some((field, _)) = hub_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(&format!(
                        "`{field}` goes with `model` (a Hub model id), not with `model_dir`"
                    )));
                }
                ModelSource::Dir(dir)
            }
            (None, Some(model)) => ModelSource::Hub(
                HubModel::resolve(model, raw.revision, raw.endpoint, raw.cache_dir, env)
                    .map_err(|e| invalid(&e))?,
            ),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &"give `model_dir` (a local folder) or `model` (a Hub model id), not both",
                ));
            }
            (None, None) => {
                return Err(invalid(&format!(
                    "missing field `model_dir` (a local model folder) or `model` \
                     (a Hugging Face Hub model id): {}",
                    super::ENABLE_HINT
                )));
            }
        };
        let mut settings = HuggingFaceSettings::from_source(source).with_max_batch(max_batch);
        settings.labels = raw.zero_shot_labels;
        Ok(HuggingFacePlugin::new(settings))
    }

    pub fn settings(&self) -> &HuggingFaceSettings {
        &self.settings
    }

    fn loaded(&self) -> Result<Arc<Loaded>> {
        let guard = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or_else(|| {
            PluginError::failed(format!(
                "huggingface: the model is not loaded; initialize() must succeed first ({})",
                self.settings.source
            ))
        })
    }
}

#[async_trait]
impl Plugin for HuggingFacePlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn initialize(&self) -> Result<()> {
        let started = Instant::now();
        // A Hub model is fetched into its cache first (once: later starts find it there),
        // then loaded from the cache like any folder, under its Hub id.
        let (dir, name) = match &self.settings.source {
            ModelSource::Dir(dir) => (dir.clone(), None),
            ModelSource::Hub(hub) => (hub.fetch().await?, Some(hub.repo_id.clone())),
        };
        let labels = self.settings.labels.clone().unwrap_or_else(default_labels);
        let max_batch = self.settings.max_batch;
        let loaded = tokio::task::spawn_blocking(move || -> Result<Loaded> {
            let mut model = SentenceModel::load(&dir)?;
            if let Some(name) = name {
                model = model.named(name);
            }
            let prototypes = Prototypes::build(&model, &labels, max_batch, &|| Ok(()))?;
            Ok(Loaded { model, prototypes })
        })
        .await
        .map_err(|e| PluginError::Crashed(format!("huggingface: loading the model: {e}")))??;
        tracing::info!(
            plugin = HuggingFacePlugin::NAME,
            model = loaded.model.name(),
            pooling = %loaded.model.pooling().describe(),
            classifier_head = loaded.model.head_labels().is_some(),
            duration_ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(loaded));
        Ok(())
    }

    async fn execute(&self, data: Value, ctx: &ExecContext) -> Result<Value> {
        let request = Request::parse(data)?;
        let loaded = self.loaded()?;
        let max_batch = self.settings.max_batch;
        let cancel = ctx.cancel.clone();
        let deadline = ctx.deadline;
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            let guard = move || -> Result<()> {
                if cancel.is_cancelled() {
                    Err(PluginError::Cancelled)
                } else if Instant::now() >= deadline {
                    Err(PluginError::Timeout {
                        plugin: HuggingFacePlugin::NAME.to_owned(),
                        after: started.elapsed(),
                    })
                } else {
                    Ok(())
                }
            };
            run(&loaded, request, max_batch, &guard)
        })
        .await
        .map_err(|e| PluginError::Crashed(format!("huggingface: inference: {e}")))?
    }

    async fn shutdown(&self) -> Result<()> {
        // Calls still running hold their own Arc; the model is freed when they finish.
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        Ok(())
    }
}

/// Answers one request; runs on a blocking thread.
fn run(
    loaded: &Loaded,
    request: Request,
    max_batch: usize,
    guard: model::Guard<'_>,
) -> Result<Value> {
    let model = &loaded.model;
    let mut out = Map::new();
    out.insert("model".into(), json!(model.name()));
    match request {
        Request::Embed(texts) => {
            let vectors = model.embed(&texts.to_vec(), max_batch, guard)?;
            let pooling = model.pooling();
            out.insert("task".into(), json!("embed"));
            out.insert(
                "dimensions".into(),
                json!(vectors.first().map_or(0, Vec::len)),
            );
            out.insert("pooling".into(), json!(pooling.describe()));
            out.insert("pooling_source".into(), json!(pooling.source));
            out.insert("normalized".into(), json!(pooling.normalize));
            // Longer texts are truncated to this many tokens.
            out.insert("max_tokens".into(), json!(model.max_length()));
            match texts {
                Texts::One(_) => out.insert("embedding".into(), json!(vectors.first())),
                Texts::Many(_) => out.insert("embeddings".into(), json!(vectors)),
            };
        }
        Request::SimilarityPair { a, b } => {
            let vectors = model.embed(&[a, b], max_batch, guard)?;
            let similarity = match vectors.as_slice() {
                [a, b] => cosine(a, b),
                _ => return Err(PluginError::failed("huggingface: expected two embeddings")),
            };
            out.insert("task".into(), json!("similarity"));
            out.insert("similarity".into(), json!(similarity));
        }
        Request::SimilarityMatrix(texts) => {
            let vectors = model.embed(&texts, max_batch, guard)?;
            let matrix: Vec<Vec<f32>> = vectors
                .iter()
                .map(|a| vectors.iter().map(|b| cosine(a, b)).collect())
                .collect();
            out.insert("task".into(), json!("similarity"));
            out.insert("similarities".into(), json!(matrix));
        }
        Request::Classify { texts, labels } => {
            out.insert("task".into(), json!("classify"));
            let all = texts.to_vec();
            let (method, scored) = classify(loaded, &all, labels, max_batch, guard)?;
            out.insert("method".into(), json!(method));
            let mut results: Vec<Value> = all
                .into_iter()
                .zip(scored)
                .map(|(text, scores)| classification(text, scores))
                .collect();
            match texts {
                Texts::One(_) => {
                    if let Some(Value::Object(first)) = results.pop() {
                        out.extend(first);
                    }
                }
                Texts::Many(_) => {
                    out.insert("results".into(), Value::Array(results));
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// Each label's score for one text, in label order.
type LabelScores = Vec<(String, f32)>;

/// Per text, each label's score: the head's probabilities when the checkpoint has a head
/// and the call gives no labels of its own; otherwise zero-shot mean cosine similarity.
fn classify(
    loaded: &Loaded,
    texts: &[String],
    call_labels: Option<LabelExamples>,
    max_batch: usize,
    guard: model::Guard<'_>,
) -> Result<(&'static str, Vec<LabelScores>)> {
    let model = &loaded.model;
    if call_labels.is_none()
        && let (Some(labels), Some(probabilities)) = (
            model.head_labels(),
            model.classify_with_head(texts, max_batch, guard),
        )
    {
        let scored = probabilities?
            .into_iter()
            .map(|row| labels.iter().cloned().zip(row).collect())
            .collect();
        return Ok(("classifier_head", scored));
    }
    let built;
    let prototypes = match &call_labels {
        Some(labels) => {
            built = Prototypes::build(model, labels, max_batch, guard)?;
            &built
        }
        None => &loaded.prototypes,
    };
    let vectors = model.embed(texts, max_batch, guard)?;
    let scored = vectors.iter().map(|v| prototypes.scores(v)).collect();
    Ok(("zero_shot", scored))
}

/// `{"text", "label", "score", "scores": {label: score}}` for one text.
fn classification(text: String, scores: LabelScores) -> Value {
    let best = scores
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or_default();
    let scores: Map<String, Value> = scores
        .into_iter()
        .map(|(label, score)| (label, json!(score)))
        .collect();
    json!({"text": text, "label": best.0, "score": best.1, "scores": scores})
}
