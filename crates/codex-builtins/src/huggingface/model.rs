//! A BERT-family sentence model loaded from a local folder: tokenizer, encoder, pooling,
//! and the sequence-classification head when the checkpoint has one.
//!
//! Everything here is synchronous and CPU-bound; the plugin runs it on blocking threads.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config};
use codex_plugin::PluginError;
use serde::Deserialize;
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use super::pooling::Pooling;

/// The files every model folder must hold.
pub(crate) const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A load error that names the file it is about.
pub(crate) fn file_error(path: &Path, cause: impl Display) -> PluginError {
    PluginError::failed(format!("huggingface: {}: {cause}", path.display()))
}

fn inference_error(cause: candle_core::Error) -> PluginError {
    PluginError::failed(format!("huggingface: inference failed: {cause}"))
}

/// Checked between batches so a cancelled or late call stops using the CPU.
pub(crate) type Guard<'a> = &'a (dyn Fn() -> Result<(), PluginError> + Sync);

/// The parts of config.json that candle's `Config` does not keep.
#[derive(Debug, Default, Deserialize)]
struct HeadConfig {
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    #[serde(default)]
    problem_type: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
}

/// `BertForSequenceClassification`: tanh pooler over the [CLS] vector, then a linear layer.
struct ClassifierHead {
    pooler: Linear,
    classifier: Linear,
    /// Label names by class index.
    labels: Vec<String>,
    /// Multi-label checkpoints score each label with a sigmoid instead of one softmax.
    multi_label: bool,
}

/// A loaded sentence model.
pub(crate) struct SentenceModel {
    name: String,
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    pooling: Pooling,
    head: Option<ClassifierHead>,
    pad_id: u32,
    max_length: usize,
}

impl SentenceModel {
    /// Loads the model in `dir`; every error names the file that is missing or broken.
    pub fn load(dir: &Path) -> Result<SentenceModel, PluginError> {
        if !dir.is_dir() {
            return Err(PluginError::failed(format!(
                "huggingface: model folder {} does not exist (it must hold {})",
                dir.display(),
                REQUIRED_FILES.join(", ")
            )));
        }
        for file in REQUIRED_FILES {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(file_error(&path, "missing from the model folder"));
            }
        }

        let config_path = dir.join("config.json");
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| file_error(&config_path, e))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| file_error(&config_path, format!("not a BERT config: {e}")))?;
        let head_config: HeadConfig =
            serde_json::from_str(&config_text).map_err(|e| file_error(&config_path, e))?;
        if let Some(kind) = head_config.model_type.as_deref().filter(|k| *k != "bert") {
            // candle's BERT would load some of these (RoBERTa, say) and silently compute
            // wrong vectors, so anything but BERT is refused.
            return Err(file_error(
                &config_path,
                format!("model_type '{kind}' is not supported, only 'bert'"),
            ));
        }

        let pooling = Pooling::load(dir)?;
        let max_length = max_length(dir, &config)?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| file_error(&tokenizer_path, e))?;
        // Shipped tokenizers often pad every input to a fixed length (128 for MiniLM);
        // we pad each batch to its longest sentence ourselves.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| file_error(&tokenizer_path, e))?;

        let weights_path = dir.join("model.safetensors");
        let device = Device::Cpu;
        let bytes = std::fs::read(&weights_path).map_err(|e| file_error(&weights_path, e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(|e| file_error(&weights_path, e))?;
        let bert =
            BertModel::load(vb.clone(), &config).map_err(|e| file_error(&weights_path, e))?;
        let head = load_head(&vb, &config, head_config, &config_path, &weights_path)?;

        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(SentenceModel {
            name,
            bert,
            tokenizer,
            device,
            pooling,
            head,
            pad_id: u32::try_from(config.pad_token_id).unwrap_or(0),
            max_length,
        })
    }

    /// The same model shown under `name` (a Hub model's id rather than its cache folder).
    pub fn named(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    /// The folder name (or the name given to [`Self::named`]), shown in outputs.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pooling(&self) -> &Pooling {
        &self.pooling
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The classification head's labels, if the checkpoint has one.
    pub fn head_labels(&self) -> Option<&[String]> {
        self.head.as_ref().map(|h| h.labels.as_slice())
    }

    /// Sentence embeddings, pooled (and normalised) as the model's pooling config says.
    pub fn embed(
        &self,
        texts: &[String],
        max_batch: usize,
        guard: Guard<'_>,
    ) -> Result<Vec<Vec<f32>>, PluginError> {
        self.run(texts, max_batch, guard, |hidden, mask| {
            self.pooling.apply(hidden, mask)
        })
    }

    /// Per-label probabilities from the classification head, or `None` without one.
    pub fn classify_with_head(
        &self,
        texts: &[String],
        max_batch: usize,
        guard: Guard<'_>,
    ) -> Option<Result<Vec<Vec<f32>>, PluginError>> {
        let head = self.head.as_ref()?;
        let logits = self.run(texts, max_batch, guard, |hidden, _mask| {
            let cls = hidden.narrow(1, 0, 1)?.squeeze(1)?;
            let pooled = head.pooler.forward(&cls)?.tanh()?;
            head.classifier.forward(&pooled)
        });
        Some(logits.map(|rows| {
            rows.into_iter()
                .map(|row| {
                    if head.multi_label {
                        row.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect()
                    } else {
                        softmax(&row)
                    }
                })
                .collect()
        }))
    }

    /// Tokenises `texts`, runs the encoder in batches of similar length (so little padding
    /// is computed), applies `reduce` to each batch's (hidden, mask) and returns one row
    /// per text, in the order given.
    fn run(
        &self,
        texts: &[String],
        max_batch: usize,
        guard: Guard<'_>,
        reduce: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<Vec<Vec<f32>>, PluginError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| PluginError::failed(format!("huggingface: tokenizer failed: {e}")))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());

        let mut rows: Vec<Option<Vec<f32>>> = vec![None; encodings.len()];
        for chunk in order.chunks(max_batch.max(1)) {
            guard()?;
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let (ids, mask) = self.batch_tensors(&batch).map_err(inference_error)?;
            let token_types = ids.zeros_like().map_err(inference_error)?;
            let hidden = self
                .bert
                .forward(&ids, &token_types, Some(&mask))
                .map_err(inference_error)?;
            let reduced = reduce(&hidden, &mask)
                .and_then(|t| t.to_dtype(DType::F32))
                .and_then(|t| t.to_vec2::<f32>())
                .map_err(inference_error)?;
            for (&i, row) in chunk.iter().zip(reduced) {
                rows[i] = Some(row);
            }
        }
        rows.into_iter()
            .map(|row| {
                row.ok_or_else(|| PluginError::failed("huggingface: a text was left unencoded"))
            })
            .collect()
    }

    /// Token ids and attention mask, both (batch, longest), padded on the right.
    fn batch_tensors(&self, batch: &[&Encoding]) -> candle_core::Result<(Tensor, Tensor)> {
        let longest = batch.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        for encoding in batch {
            let len = encoding.get_ids().len();
            ids.extend_from_slice(encoding.get_ids());
            ids.extend(std::iter::repeat_n(self.pad_id, longest - len));
            mask.extend(std::iter::repeat_n(1u32, len));
            mask.extend(std::iter::repeat_n(0u32, longest - len));
        }
        let shape = (batch.len(), longest);
        Ok((
            Tensor::from_vec(ids, shape, &self.device)?,
            Tensor::from_vec(mask, shape, &self.device)?,
        ))
    }
}

/// The longest input in tokens: sentence-transformers' `max_seq_length` when the folder
/// declares one, never more than the position embeddings the model has.
fn max_length(dir: &Path, config: &Config) -> Result<usize, PluginError> {
    #[derive(Deserialize)]
    struct SentenceBertConfig {
        max_seq_length: Option<usize>,
    }
    let path = dir.join("sentence_bert_config.json");
    let declared = if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
        let parsed: SentenceBertConfig =
            serde_json::from_str(&text).map_err(|e| file_error(&path, e))?;
        parsed.max_seq_length
    } else {
        None
    };
    let positions = config.max_position_embeddings;
    Ok(declared.map_or(positions, |d| d.min(positions)).max(2))
}

/// The classification head, when config.json says the checkpoint is a sequence classifier.
fn load_head(
    vb: &VarBuilder<'_>,
    config: &Config,
    head_config: HeadConfig,
    config_path: &Path,
    weights_path: &Path,
) -> Result<Option<ClassifierHead>, PluginError> {
    let is_classifier = head_config
        .architectures
        .iter()
        .any(|a| a.ends_with("ForSequenceClassification"));
    if !is_classifier || head_config.id2label.is_empty() {
        return Ok(None);
    }
    let mut labels = vec![String::new(); head_config.id2label.len()];
    for (id, label) in head_config.id2label {
        let index = id
            .parse::<usize>()
            .ok()
            .filter(|&i| i < labels.len())
            .ok_or_else(|| file_error(config_path, format!("id2label has a bad id '{id}'")))?;
        labels[index] = label;
    }
    // Plain checkpoints keep the encoder at the root; classifiers usually under `bert.`.
    let root = if vb.contains_tensor("bert.pooler.dense.weight") {
        vb.pp("bert")
    } else {
        vb.clone()
    };
    let hidden = config.hidden_size;
    let pooler = candle_nn::linear(hidden, hidden, root.pp("pooler").pp("dense"))
        .map_err(|e| file_error(weights_path, e))?;
    let classifier = candle_nn::linear(hidden, labels.len(), vb.pp("classifier"))
        .map_err(|e| file_error(weights_path, e))?;
    Ok(Some(ClassifierHead {
        // A single output is one score (sigmoid), as is each output of a multi-label model.
        multi_label: labels.len() == 1
            || head_config.problem_type.as_deref() == Some("multi_label_classification"),
        pooler,
        classifier,
        labels,
    }))
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}
