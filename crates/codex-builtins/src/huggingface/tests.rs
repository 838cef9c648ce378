//! Tests of the `huggingface` plugin on the real all-MiniLM-L6-v2 model
//! (fetched by `scripts/fetch-minilm.sh`), checked against numpy reference values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use codex_plugin::{ExecContext, Plugin, PluginError};
use serde_json::{Value, json};

use super::*;

/// The model folder: `CODEX_TEST_MINILM_DIR`, else the cache the fetch script fills.
pub(crate) fn minilm_dir() -> PathBuf {
    let dir = std::env::var_os("CODEX_TEST_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(PathBuf::new, PathBuf::from);
            home.join(".cache/codexcontinue/models/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("model.safetensors").is_file(),
        "all-MiniLM-L6-v2 is not at {}: run scripts/fetch-minilm.sh \
         (or point CODEX_TEST_MINILM_DIR at a folder holding it)",
        dir.display()
    );
    dir
}

async fn minilm() -> HuggingFacePlugin {
    let plugin = HuggingFacePlugin::new(HuggingFaceSettings::new(minilm_dir()));
    plugin.initialize().await.unwrap();
    plugin
}

fn ctx() -> ExecContext {
    ExecContext::new("test", Instant::now() + Duration::from_secs(120))
}

async fn call(plugin: &HuggingFacePlugin, data: Value) -> Value {
    plugin
        .execute(data.clone(), &ctx())
        .await
        .unwrap_or_else(|e| panic!("{data}: {e}"))
}

fn floats(value: &Value) -> Vec<f32> {
    serde_json::from_value(value.clone()).unwrap()
}

/// A fresh, empty folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("codex-hf-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn copy_from(&self, dir: &Path, files: &[&str]) {
        for file in files {
            std::fs::copy(dir.join(file), self.0.join(file)).unwrap();
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn load_error(dir: &Path) -> String {
    let plugin = HuggingFacePlugin::new(HuggingFaceSettings::new(dir));
    match plugin.initialize().await {
        Ok(()) => panic!("{} loaded", dir.display()),
        Err(err) => err.to_string(),
    }
}

// Values from scripts/minilm_reference.py: a float64 numpy BERT forward pass over the same
// safetensors weights, mean pooled and L2-normalised. They also guard the tokenizer set-up:
// MiniLM's tokenizer.json pads every input to 128 tokens, and left on, that padding would
// be pooled as real tokens and move every value.
const FOX: &str = "The quick brown fox jumps over the lazy dog.";
const LOVE: &str = "I love this product, it works great!";
const FAST_FOX: &str = "A fast brown fox leaps over a sleepy dog.";
const FOX_FIRST_DIMS: [f32; 5] = [0.043934, 0.058934, 0.048178, 0.077548, 0.026744];
const LOVE_FIRST_DIMS: [f32; 5] = [-0.085468, 0.025582, -0.014653, -0.057095, 0.040193];
const FOX_FAST_FOX_COSINE: f32 = 0.852433;

fn assert_close(got: &[f32], expected: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tolerance,
            "{what}[{i}]: got {g}, expected {e}"
        );
    }
}

#[tokio::test]
async fn embeddings_match_the_numpy_reference() {
    let plugin = minilm().await;
    let out = call(&plugin, json!({"task": "embed", "texts": [FOX, LOVE]})).await;
    assert_eq!(out["dimensions"], 384);
    assert_eq!(out["pooling"], "mean");
    assert_eq!(out["pooling_source"], "1_Pooling/config.json");
    assert_eq!(out["normalized"], true);
    let embeddings = out["embeddings"].as_array().unwrap();
    assert_close(&floats(&embeddings[0])[..5], &FOX_FIRST_DIMS, 1e-4, "fox");
    assert_close(&floats(&embeddings[1])[..5], &LOVE_FIRST_DIMS, 1e-4, "love");
    let norm: f32 = floats(&embeddings[0])
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");

    let out = call(
        &plugin,
        json!({"task": "similarity", "a": FOX, "b": FAST_FOX}),
    )
    .await;
    let similarity = out["similarity"].as_f64().unwrap() as f32;
    assert_close(&[similarity], &[FOX_FAST_FOX_COSINE], 1e-4, "cosine");
}

#[tokio::test]
async fn batched_and_single_embeddings_agree() {
    let plugin = HuggingFacePlugin::new(HuggingFaceSettings::new(minilm_dir()).with_max_batch(3));
    plugin.initialize().await.unwrap();
    // Different lengths, so batches pad; more texts than max_batch, so several batches run.
    let texts = [
        "Hi.",
        FOX,
        "A much longer sentence that goes on and on about tokenizers, padding and masks.",
        LOVE,
        "",
        "Short one.",
        FAST_FOX,
    ];
    let out = call(&plugin, json!({"task": "embed", "texts": texts})).await;
    let batched = out["embeddings"].as_array().unwrap();
    assert_eq!(batched.len(), texts.len());
    for (text, batched) in texts.iter().zip(batched) {
        let single = call(&plugin, json!({"task": "embed", "text": text})).await;
        assert_close(&floats(batched), &floats(&single["embedding"]), 1e-5, text);
    }
}

#[tokio::test]
async fn similarity_matrix_is_symmetric_with_unit_diagonal() {
    let plugin = minilm().await;
    let out = call(
        &plugin,
        json!({"task": "similarity", "texts": [FOX, LOVE, FAST_FOX]}),
    )
    .await;
    let m: Vec<Vec<f32>> = serde_json::from_value(out["similarities"].clone()).unwrap();
    for (i, row) in m.iter().enumerate() {
        assert!((row[i] - 1.0).abs() < 1e-5, "diagonal {i}: {}", row[i]);
        for (j, value) in row.iter().enumerate() {
            assert!((value - m[j][i]).abs() < 1e-6, "({i}, {j})");
        }
    }
    assert_close(&[m[0][2]], &[FOX_FAST_FOX_COSINE], 1e-4, "cosine");
}

#[tokio::test]
async fn zero_shot_sentiment_gets_a_labelled_set_right() {
    let plugin = minilm().await;
    let set = [
        (
            "The new update made everything so much faster, amazing job!",
            "positive",
        ),
        (
            "I really enjoyed the movie, the acting was superb.",
            "positive",
        ),
        (
            "Our support agent was kind and solved my problem quickly.",
            "positive",
        ),
        ("This library is a joy to use.", "positive"),
        ("Best purchase I've made all year.", "positive"),
        ("The app keeps crashing and I lost all my work.", "negative"),
        ("The food was cold and the service was rude.", "negative"),
        (
            "This is the worst customer support I have ever dealt with.",
            "negative",
        ),
        (
            "I regret buying this, it stopped working after a day.",
            "negative",
        ),
        ("The documentation is confusing and useless.", "negative"),
    ];
    let texts: Vec<&str> = set.iter().map(|(t, _)| *t).collect();
    let out = call(&plugin, json!({"task": "classify", "texts": texts})).await;
    assert_eq!(out["method"], "zero_shot");
    let wrong: Vec<String> = set
        .iter()
        .zip(out["results"].as_array().unwrap())
        .filter(|((_, label), result)| result["label"] != *label)
        .map(|((text, label), result)| format!("{text:?}: expected {label}, got {result}"))
        .collect();
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_plain_string_is_classified_with_the_built_in_labels() {
    let plugin = minilm().await;
    let out = call(&plugin, json!("I love this")).await;
    assert_eq!(out["task"], "classify");
    assert_eq!(out["method"], "zero_shot");
    assert_eq!(out["label"], "positive");
    assert_eq!(out["text"], "I love this");
    let scores = out["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 2);
    assert!(
        scores["positive"].as_f64() > scores["negative"].as_f64(),
        "{out}"
    );
    assert_eq!(out["score"], scores["positive"]);
}

#[tokio::test]
async fn labels_from_the_call_and_from_config_replace_the_defaults() {
    let labels = json!({
        "code": ["The function returns a null pointer.", "Refactor this class into modules."],
        "food": ["This pasta recipe needs more garlic.", "We baked bread this morning."]
    });
    let plugin = minilm().await;
    let out = call(
        &plugin,
        json!({"text": "The compiler rejects my generic trait bound.", "labels": labels}),
    )
    .await;
    assert_eq!(out["label"], "code", "{out}");

    let config = json!({"model_dir": minilm_dir(), "zero_shot_labels": labels, "max_batch": 4});
    let plugin = HuggingFacePlugin::from_config(&config).unwrap();
    assert_eq!(plugin.settings().max_batch, 4);
    plugin.initialize().await.unwrap();
    let out = call(
        &plugin,
        json!("Grilled vegetables with olive oil and lemon."),
    )
    .await;
    assert_eq!(out["label"], "food", "{out}");
    assert_eq!(out["scores"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn classification_without_usable_labels_is_invalid_input() {
    let plugin = minilm().await;
    for labels in [
        json!({}),
        json!({"positive": []}),
        json!({"positive": ["  "]}),
    ] {
        let err = plugin
            .execute(json!({"text": "fine", "labels": labels}), &ctx())
            .await
            .unwrap_err();
        assert!(
            matches!(err, PluginError::InvalidInput(_)),
            "{labels}: {err:?}"
        );
    }
}

#[test]
fn config_is_checked_when_the_plugin_is_built() {
    let check = |config: Value, needle: &str| match HuggingFacePlugin::from_config(&config) {
        Ok(_) => panic!("{config} accepted"),
        Err(err) => {
            assert!(matches!(err, PluginError::InvalidInput(_)), "{err:?}");
            assert!(err.to_string().contains(needle), "{config}: {err}");
        }
    };
    check(Value::Null, "huggingface config");
    check(json!({}), "missing field `model_dir`");
    check(
        json!({"model_dir": "/m", "labels_typo": {}}),
        "unknown field `labels_typo`",
    );
    check(json!({"model_dir": "/m", "max_batch": 0}), "max_batch");
    check(
        json!({"model_dir": "/m", "zero_shot_labels": {}}),
        "zero_shot_labels",
    );
    let plugin = HuggingFacePlugin::from_config(&json!({"model_dir": "/m"})).unwrap();
    assert_eq!(plugin.settings(), &HuggingFaceSettings::new("/m"));
    assert_eq!(plugin.info().name, "huggingface");
}

#[tokio::test]
async fn execute_before_initialize_and_after_shutdown_is_a_clear_error() {
    let plugin = HuggingFacePlugin::new(HuggingFaceSettings::new(minilm_dir()));
    let err = plugin.execute(json!("hello"), &ctx()).await.unwrap_err();
    assert!(err.to_string().contains("initialize()"), "{err}");
    plugin.initialize().await.unwrap();
    call(&plugin, json!("hello")).await;
    plugin.shutdown().await.unwrap();
    let err = plugin.execute(json!("hello"), &ctx()).await.unwrap_err();
    assert!(err.to_string().contains("not loaded"), "{err}");
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out() {
    let plugin = minilm().await;
    let late = ExecContext::new("test", Instant::now());
    let err = plugin.execute(json!("hello"), &late).await.unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn concurrent_calls_share_the_model() {
    let plugin = Arc::new(minilm().await);
    let tasks: Vec<_> = [FOX, LOVE, FAST_FOX, FOX]
        .into_iter()
        .map(|text| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                call(&plugin, json!({"task": "embed", "text": text})).await["embedding"].clone()
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(floats(&task.await.unwrap()));
    }
    assert_close(&results[0][..5], &FOX_FIRST_DIMS, 1e-4, "fox");
    assert_close(&results[3], &results[0], 1e-6, "same text");
}

#[tokio::test]
async fn missing_or_broken_model_files_are_named_in_the_error() {
    let model = minilm_dir();
    let missing = std::env::temp_dir().join("codex-hf-test-no-such-model");
    let err = load_error(&missing).await;
    assert!(
        err.contains("codex-hf-test-no-such-model") && err.contains("model.safetensors"),
        "{err}"
    );

    let dir = TempDir::new();
    let err = load_error(&dir.0).await;
    assert!(
        err.contains("config.json") && err.contains("missing"),
        "{err}"
    );

    dir.copy_from(&model, &["config.json", "tokenizer.json"]);
    let err = load_error(&dir.0).await;
    assert!(
        err.contains("model.safetensors") && err.contains("missing"),
        "{err}"
    );

    std::fs::write(dir.0.join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = load_error(&dir.0).await;
    assert!(err.contains("model.safetensors"), "{err}");

    std::fs::write(dir.0.join("tokenizer.json"), b"{").unwrap();
    let err = load_error(&dir.0).await;
    assert!(err.contains("tokenizer.json"), "{err}");

    std::fs::write(dir.0.join("config.json"), b"{\"hidden_size\": 384}").unwrap();
    let err = load_error(&dir.0).await;
    assert!(
        err.contains("config.json") && err.contains("not a BERT config"),
        "{err}"
    );
}

/// A sequence classifier built from MiniLM's encoder (under `bert.`, as Hugging Face saves
/// classifiers) with a head whose outputs are its biases, so the expected answer is known.
fn write_classifier(dir: &Path) {
    let model = minilm_dir();
    let device = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(model.join("model.safetensors"), &device)
            .unwrap()
            .into_iter()
            .map(|(name, tensor)| (format!("bert.{name}"), tensor))
            .collect();
    let zeros = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &device).unwrap();
    tensors.insert("bert.pooler.dense.weight".into(), zeros(&[384, 384]));
    tensors.insert("bert.pooler.dense.bias".into(), zeros(&[384]));
    tensors.insert("classifier.weight".into(), zeros(&[3, 384]));
    tensors.insert(
        "classifier.bias".into(),
        Tensor::new(&[0f32, 1.0, 2.0], &device).unwrap(),
    );
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();

    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    config["architectures"] = json!(["BertForSequenceClassification"]);
    config["id2label"] = json!({"2": "C", "0": "A", "1": "B"});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(model.join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
}

#[tokio::test]
async fn a_checkpoint_with_a_classification_head_uses_it() {
    let dir = TempDir::new();
    write_classifier(&dir.0);
    let plugin = HuggingFacePlugin::new(HuggingFaceSettings::new(&dir.0));
    plugin.initialize().await.unwrap();

    let out = call(&plugin, json!("anything at all")).await;
    assert_eq!(out["method"], "classifier_head");
    assert_eq!(out["label"], "C");
    let scores: HashMap<String, f32> = serde_json::from_value(out["scores"].clone()).unwrap();
    // softmax([0, 1, 2])
    assert_close(
        &[scores["A"], scores["B"], scores["C"]],
        &[0.090031, 0.244728, 0.665241],
        1e-5,
        "head probabilities",
    );

    // Labels in the call ask for zero-shot, and the encoder under `bert.` still embeds.
    let out = call(&plugin, json!({"text": "x", "labels": {"only": ["y"]}})).await;
    assert_eq!(out["method"], "zero_shot");
    let out = call(&plugin, json!({"task": "embed", "text": FOX})).await;
    assert_eq!(out["pooling"], "mean");
    assert_eq!(out["pooling_source"], "default");
    assert_eq!(out["normalized"], false);
}

#[test]
fn metadata_is_complete_and_the_schema_is_an_object() {
    let plugin = HuggingFacePlugin::new(HuggingFaceSettings::new("/m"));
    let info = plugin.info();
    assert_eq!(info.name, HuggingFacePlugin::NAME);
    assert!(!info.description.is_empty());
    assert_eq!(info.author, "CodexContinue");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(info.example.is_some());
    // Models get the schema as a tool's parameters, which must be an object schema.
    assert_eq!(info.input_schema["type"], "object");
    assert_eq!(
        info.input_schema["properties"]["task"]["enum"],
        json!(["embed", "similarity", "classify"])
    );
}

/// The built-in as the host registers it, initialized as the host would.
async fn registered(config: Option<&Value>) -> Arc<dyn Plugin> {
    let plugin = builtin(config, Duration::from_secs(60));
    plugin.initialize().await.unwrap();
    plugin
}

// Without `model_dir` the plugin was left out of the registry, so users of the original
// project saw `huggingface` vanish and their calls answer 404.
#[tokio::test]
async fn without_a_model_the_plugin_is_listed_as_unavailable_with_the_setting() {
    let plugin = registered(None).await;
    assert_eq!(plugin.info(), &plugin_info());
    assert_eq!(plugin.unavailable_reason().as_deref(), Some(ENABLE_HINT));
    let err = plugin
        .execute(json!("I love this"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Unavailable(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("'huggingface' is unavailable")
            && message.contains("model_dir")
            && message.contains("sentence-transformers/all-MiniLM-L6-v2"),
        "{message}"
    );
    let null = registered(Some(&Value::Null)).await;
    assert_eq!(null.unavailable_reason().as_deref(), Some(ENABLE_HINT));
}

#[tokio::test]
async fn a_bad_config_or_an_unreadable_model_is_unavailable_with_the_error() {
    let plugin = registered(Some(&json!({"model_dir": "/m", "typo": 1}))).await;
    let reason = plugin.unavailable_reason().unwrap();
    assert!(reason.contains("unknown field `typo`"), "{reason}");

    let missing = std::env::temp_dir().join("codex-hf-test-no-such-model");
    let plugin = registered(Some(&json!({"model_dir": missing}))).await;
    let reason = plugin.unavailable_reason().unwrap();
    assert!(reason.contains("codex-hf-test-no-such-model"), "{reason}");
    let err = plugin.execute(json!("hi"), &ctx()).await.unwrap_err();
    assert_eq!(err.code(), "plugin_unavailable");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn with_a_readable_model_the_registered_plugin_runs() {
    let plugin = registered(Some(&json!({"model_dir": minilm_dir()}))).await;
    assert_eq!(plugin.unavailable_reason(), None);
    let out = plugin.execute(json!("I love this"), &ctx()).await.unwrap();
    assert_eq!(out["label"], "positive");
    plugin.shutdown().await.unwrap();
}
