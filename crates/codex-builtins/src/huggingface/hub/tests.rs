//! Tests of fetching a Hub model, against a local server that lays the real MiniLM files
//! out as the Hub does (the real Hub cannot be reached from the test machines).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use codex_plugin::{ExecContext, Plugin, PluginError};
use serde_json::{Value, json};

use super::*;
use crate::huggingface::tests::minilm_dir;
use crate::huggingface::{HuggingFacePlugin, HuggingFaceSettings, ModelSource};

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The commit the fake Hub says `main` points at.
const COMMIT: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

/// One model repository served as the Hub serves it: `GET /{repo}/resolve/{revision}/{file}`
/// with `x-repo-commit`, an `etag` (`x-linked-etag` and `x-linked-size` for the LFS-stored
/// weights) and byte ranges; a missing file is 404 `EntryNotFound`, another repository is
/// 401 `RepositoryNotFound`, as the Hub answers for repositories it will not show.
struct FakeHub {
    addr: SocketAddr,
    state: Arc<HubState>,
    server: tokio::task::JoinHandle<()>,
}

struct HubState {
    root: PathBuf,
    /// Every request's path, in order.
    requests: Mutex<Vec<String>>,
    /// Content hashes by file, computed once.
    etags: Mutex<HashMap<PathBuf, String>>,
}

impl FakeHub {
    async fn serve(root: &Path) -> FakeHub {
        let state = Arc::new(HubState {
            root: root.to_path_buf(),
            requests: Mutex::new(Vec::new()),
            etags: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .fallback(resolve)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeHub {
            addr,
            state,
            server,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn hub_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("x-error-code", code.to_owned())],
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

async fn resolve(State(hub): State<Arc<HubState>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/').to_owned();
    hub.requests.lock().unwrap().push(path.clone());
    let Some((repo, rest)) = path.split_once("/resolve/") else {
        return hub_error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    };
    if repo != REPO {
        return hub_error(
            StatusCode::UNAUTHORIZED,
            "RepositoryNotFound",
            "Repository not found",
        );
    }
    let Some((revision, file)) = rest.split_once('/') else {
        return hub_error(StatusCode::NOT_FOUND, "EntryNotFound", "no file");
    };
    if revision != "main" && revision != COMMIT {
        return hub_error(
            StatusCode::NOT_FOUND,
            "RevisionNotFound",
            "no such revision",
        );
    }
    let local = hub.root.join(file);
    if file.split('/').any(|p| p == ".." || p.is_empty()) || !local.is_file() {
        return hub_error(StatusCode::NOT_FOUND, "EntryNotFound", "Entry not found");
    }
    let etag = hub.etag(&local);
    let len = std::fs::metadata(&local).unwrap().len();
    let mut response = Response::builder()
        .header("x-repo-commit", COMMIT)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "application/octet-stream");
    // The Hub keeps weights in LFS and names their hash in `x-linked-etag`; small files
    // carry their own `etag`.
    response = if file.ends_with(".safetensors") {
        response
            .header("x-linked-etag", format!("\"{etag}\""))
            .header("x-linked-size", len)
            .header(header::ETAG, "\"lfs-pointer\"")
    } else {
        response.header(header::ETAG, format!("\"{etag}\""))
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().ok()));
    match range {
        None => response
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from(read(&local, 0, len)))
            .unwrap(),
        Some((start, _)) if start >= len => response
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .body(Body::empty())
            .unwrap(),
        Some((start, end)) => {
            // As HTTP says: an end past the file means up to its last byte.
            let end = end.map_or(len - 1, |e| e.min(len - 1));
            response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
                .header(header::CONTENT_LENGTH, end - start + 1)
                .body(Body::from(read(&local, start, end - start + 1)))
                .unwrap()
        }
    }
}

impl HubState {
    fn etag(&self, path: &Path) -> String {
        let mut etags = self.etags.lock().unwrap();
        etags
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(path).unwrap().hash(&mut hasher);
                format!("{:016x}", hasher.finish())
            })
            .clone()
    }
}

fn read(path: &Path, start: u64, len: u64) -> Vec<u8> {
    let mut file = std::fs::File::open(path).unwrap();
    file.seek(SeekFrom::Start(start)).unwrap();
    let mut buf = vec![0; len as usize];
    file.read_exact(&mut buf).unwrap();
    buf
}

fn ctx() -> ExecContext {
    ExecContext::new("test", Instant::now() + Duration::from_secs(120))
}

fn hub_config(endpoint: &str, cache: &Path) -> Value {
    json!({"model": REPO, "endpoint": endpoint, "cache_dir": cache})
}

async fn embed(plugin: &HuggingFacePlugin, text: &str) -> Value {
    plugin
        .execute(json!({"task": "embed", "text": text}), &ctx())
        .await
        .unwrap()
}

const FOX: &str = "The quick brown fox jumps over the lazy dog.";

#[tokio::test]
async fn a_hub_model_is_fetched_once_and_embeds_like_the_same_folder() {
    let hub = FakeHub::serve(&minilm_dir()).await;
    let cache = tempfile::tempdir().unwrap();
    let config = hub_config(&hub.endpoint(), cache.path());

    let plugin = HuggingFacePlugin::from_config(&config).unwrap();
    plugin.initialize().await.unwrap();
    let requests = hub.requests();
    for file in [
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
        "config.json",
        "tokenizer.json",
        "model.safetensors",
    ] {
        let url = format!("{REPO}/resolve/main/{file}");
        assert!(requests.contains(&url), "{file} not fetched: {requests:?}");
    }
    // The cache is laid out as the Hub's clients lay it out.
    let repo_dir = cache
        .path()
        .join("models--sentence-transformers--all-MiniLM-L6-v2");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    assert!(
        repo_dir
            .join("snapshots")
            .join(COMMIT)
            .join("model.safetensors")
            .is_file()
    );

    let from_hub = embed(&plugin, FOX).await;
    assert_eq!(from_hub["model"], REPO);
    assert_eq!(from_hub["pooling_source"], "1_Pooling/config.json");
    assert_eq!(from_hub["normalized"], true);
    let local = HuggingFacePlugin::new(HuggingFaceSettings::new(minilm_dir()));
    local.initialize().await.unwrap();
    let from_folder = embed(&local, FOX).await;
    assert_eq!(from_hub["embedding"], from_folder["embedding"]);
    let similar = plugin
        .execute(json!({"task": "similarity", "a": FOX, "b": FOX}), &ctx())
        .await
        .unwrap();
    assert!((similar["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-5);

    // A second start finds everything in the cache and asks the Hub nothing.
    let before = hub.requests().len();
    let again = HuggingFacePlugin::from_config(&config).unwrap();
    again.initialize().await.unwrap();
    assert_eq!(
        hub.requests().len(),
        before,
        "{:?}",
        &hub.requests()[before..]
    );
    assert_eq!(
        embed(&again, FOX).await["embedding"],
        from_folder["embedding"]
    );
}

#[tokio::test]
async fn a_model_without_sentence_transformers_files_is_fetched_once_too() {
    // Only the required files: the optional ones answer 404, which means absent.
    let bare = tempfile::tempdir().unwrap();
    for file in REQUIRED_FILES {
        std::os::unix::fs::symlink(minilm_dir().join(file), bare.path().join(file)).unwrap();
    }
    let hub = FakeHub::serve(bare.path()).await;
    let cache = tempfile::tempdir().unwrap();
    let config = hub_config(&hub.endpoint(), cache.path());

    let plugin = HuggingFacePlugin::from_config(&config).unwrap();
    plugin.initialize().await.unwrap();
    let out = embed(&plugin, FOX).await;
    assert_eq!(out["pooling_source"], "default");
    assert_eq!(out["dimensions"], 384);

    let before = hub.requests().len();
    let again = HuggingFacePlugin::from_config(&config).unwrap();
    again.initialize().await.unwrap();
    assert_eq!(hub.requests().len(), before);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_clear_initialize_error() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let cache = tempfile::tempdir().unwrap();
    let config = hub_config(&endpoint, cache.path());

    let plugin = HuggingFacePlugin::from_config(&config).unwrap();
    let err = plugin.initialize().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, PluginError::Failed(_)), "{err:?}");
    for needle in [
        REPO,
        endpoint.as_str(),
        "cannot fetch",
        "HF_ENDPOINT",
        "model_dir",
    ] {
        assert!(message.contains(needle), "{needle} not in: {message}");
    }

    // As the host registers it, the plugin stays listed, unavailable for that reason.
    let builtin = crate::huggingface::builtin(Some(&config), Duration::from_secs(60));
    builtin.initialize().await.unwrap();
    let reason = builtin.unavailable_reason().unwrap();
    assert!(reason.contains(&endpoint), "{reason}");
    let err = builtin.execute(json!("hi"), &ctx()).await.unwrap_err();
    assert_eq!(err.code(), "plugin_unavailable");
}

#[tokio::test]
async fn a_model_the_hub_does_not_have_is_named_in_the_error() {
    let hub = FakeHub::serve(&minilm_dir()).await;
    let cache = tempfile::tempdir().unwrap();
    let config = json!({
        "model": "nobody/no-such-model",
        "endpoint": hub.endpoint(),
        "cache_dir": cache.path(),
    });
    let plugin = HuggingFacePlugin::from_config(&config).unwrap();
    let message = plugin.initialize().await.unwrap_err().to_string();
    assert!(
        message.contains("nobody/no-such-model") && message.contains("HF_TOKEN"),
        "{message}"
    );
}

fn settings(config: Value, env: &[(&str, &str)]) -> Result<HubModel, String> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let plugin = HuggingFacePlugin::from_config_with_env(&config, &|name| env.get(name).cloned())
        .map_err(|e| e.to_string())?;
    match &plugin.settings().source {
        ModelSource::Hub(hub) => Ok(hub.clone()),
        other => panic!("{other}"),
    }
}

#[test]
fn hub_settings_come_from_the_config_then_the_environment() {
    let hub = settings(json!({"model": REPO}), &[("HOME", "/home/u")]).unwrap();
    assert_eq!(
        hub,
        HubModel {
            repo_id: REPO.to_owned(),
            revision: "main".to_owned(),
            endpoint: "https://huggingface.co".to_owned(),
            cache_dir: PathBuf::from("/home/u/.cache/huggingface/hub"),
        }
    );
    let env = [
        ("HOME", "/home/u"),
        ("XDG_CACHE_HOME", "/xdg"),
        ("HF_ENDPOINT", "https://mirror.example/"),
    ];
    let hub = settings(json!({"model": "gpt2"}), &env).unwrap();
    assert_eq!(hub.endpoint, "https://mirror.example");
    assert_eq!(hub.cache_dir, PathBuf::from("/xdg/huggingface/hub"));
    let env = [("HF_HOME", "/hf"), ("XDG_CACHE_HOME", "/xdg")];
    assert_eq!(
        settings(json!({"model": "gpt2"}), &env).unwrap().cache_dir,
        PathBuf::from("/hf/hub")
    );
    let env = [("HF_HUB_CACHE", "/cache"), ("HF_HOME", "/hf")];
    assert_eq!(
        settings(json!({"model": "gpt2"}), &env).unwrap().cache_dir,
        PathBuf::from("/cache")
    );
    // The config wins over the environment.
    let config = json!({
        "model": REPO,
        "revision": "v1.0",
        "endpoint": "http://127.0.0.1:9",
        "cache_dir": "/mine",
    });
    let hub = settings(config, &[("HF_ENDPOINT", "https://x"), ("HF_HOME", "/hf")]).unwrap();
    assert_eq!(hub.revision, "v1.0");
    assert_eq!(hub.endpoint, "http://127.0.0.1:9");
    assert_eq!(hub.cache_dir, PathBuf::from("/mine"));
}

#[test]
fn hub_settings_that_cannot_work_are_refused_when_the_plugin_is_built() {
    let refused = |config: Value, needle: &str| {
        let err = settings(config.clone(), &[("HOME", "/home/u")]).unwrap_err();
        assert!(err.contains(needle), "{config}: {err}");
    };
    refused(json!({"model": "../etc"}), "not a Hub model id");
    refused(json!({"model": "a/b/c"}), "not a Hub model id");
    refused(json!({"model": ""}), "not a Hub model id");
    refused(json!({"model": REPO, "revision": "../x"}), "revision");
    refused(json!({"model": REPO, "endpoint": "ftp://x"}), "http://");
    refused(json!({"model": REPO, "model_dir": "/m"}), "not both");
    refused(
        json!({"model_dir": "/m", "revision": "main"}),
        "`revision` goes with `model`",
    );
    refused(json!({"zero_shot_labels": {"a": ["b"]}}), "model_dir = ");
    let err = settings(json!({"model": REPO}), &[]).unwrap_err();
    assert!(err.contains("cache_dir"), "{err}");
}
