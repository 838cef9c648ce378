//! The web UI: the files of `web/`, embedded in the binary at compile time and served at `/`.
//!
//! `index.html` is answered at `/` and always revalidated (`no-cache`, with an ETag), because
//! it names the version of everything else: the other files are served under
//! `/ui/<version>/<path>`, where the version is a hash of all of them, so they can be cached
//! for a year (`immutable`) and a new binary is picked up on the next page load. Text files
//! are gzipped once, on their first request, and sent compressed to clients that accept it.
//!
//! The page needs no API key (it asks for one when the API answers 401), so these routes sit
//! outside the key check, like `/health`. Everything else of the UI happens in the browser:
//! it uses hash routes (`#/chat`, `#/plugins/<name>`, ...), so no path but `/` is a page.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The served files of `web/`: the page, its styles, its modules and the vendored libraries
/// with their licences. Type declarations, tests and notes stay out of the binary.
#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
#[include = "index.html"]
#[include = "app.css"]
#[include = "src/**/*.js"]
#[include = "vendor/**"]
#[exclude = "**/*.d.ts"]
#[exclude = "**/*.map"]
struct WebFiles;

/// Where `index.html` names the versioned folder of the other files.
const UI_PLACEHOLDER: &str = "{{ui}}";

/// Revalidated on every load: the page names the asset version.
const INDEX_CACHE: &str = "no-cache";
/// Versioned paths never change content.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// The embedded UI, ready to serve.
pub struct WebUi {
    version: String,
    index: Asset,
    /// The import map's hash, allowed as the page's one inline script.
    content_security_policy: HeaderValue,
    assets: HashMap<String, Asset>,
}

/// One file: its bytes, its gzip (made on first use), its type and its validator.
struct Asset {
    body: Vec<u8>,
    gzip: OnceLock<Option<Vec<u8>>>,
    content_type: &'static str,
    /// The hex SHA-256 of `body`, quoted into the ETag.
    hash: String,
}

impl WebUi {
    /// The UI compiled into this binary.
    pub fn embedded() -> WebUi {
        let mut files: Vec<(String, Vec<u8>, [u8; 32])> = WebFiles::iter()
            .filter_map(|path| {
                let file = WebFiles::get(&path)?;
                Some((
                    path.into_owned(),
                    file.data.into_owned(),
                    file.metadata.sha256_hash(),
                ))
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut version = Sha256::new();
        for (path, _, hash) in &files {
            version.update(path.as_bytes());
            version.update(hash);
        }
        let version = hex(&version.finalize())[..16].to_owned();
        let mut assets = HashMap::new();
        let mut index = None;
        for (path, body, _) in files {
            if path == "index.html" {
                let page = String::from_utf8_lossy(&body)
                    .replace(UI_PLACEHOLDER, &format!("ui/{version}"));
                index = Some(Asset::new(&path, page.into_bytes()));
            } else {
                assets.insert(path.clone(), Asset::new(&path, body));
            }
        }
        // The crate's own test checks that `web/index.html` is embedded; an empty page keeps
        // the server up if a broken build ever leaves it out.
        let index = index.unwrap_or_else(|| Asset::new("index.html", Vec::new()));
        let content_security_policy = content_security_policy(&index.body);
        WebUi {
            version,
            index,
            content_security_policy,
            assets,
        }
    }
}

impl Asset {
    fn new(path: &str, body: Vec<u8>) -> Asset {
        let hash = hex(&Sha256::digest(&body));
        Asset {
            body,
            gzip: OnceLock::new(),
            content_type: content_type(path),
            hash,
        }
    }

    /// The gzip of a text file when it is smaller; `None` for binaries and tiny files.
    fn gzip(&self) -> Option<&[u8]> {
        self.gzip
            .get_or_init(|| {
                if !self.content_type.contains("charset") && self.content_type != "image/svg+xml" {
                    return None;
                }
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                encoder.write_all(&self.body).ok()?;
                let gzip = encoder.finish().ok()?;
                (gzip.len() < self.body.len()).then_some(gzip)
            })
            .as_deref()
    }

    /// Answers a GET: 304 when the client's copy is current, else the body, gzipped when the
    /// client accepts it. Each encoding has its own strong ETag.
    fn respond(&self, request: &HeaderMap, cache: &'static str) -> Response {
        let gzip = self.gzip().filter(|_| accepts_gzip(request));
        let etag = match gzip {
            Some(_) => format!("\"{}-gz\"", self.hash),
            None => format!("\"{}\"", self.hash),
        };
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(ETAG, value);
        }
        if self.matches(request) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        match gzip {
            Some(gzip) => {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                (headers, gzip.to_vec()).into_response()
            }
            None => (headers, self.body.clone()).into_response(),
        }
    }

    /// Whether `If-None-Match` names this content, in either encoding.
    fn matches(&self, request: &HeaderMap) -> bool {
        let Some(header) = request.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        header.split(',').any(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            tag == "*" || tag.strip_suffix("-gz").unwrap_or(tag) == self.hash
        })
    }
}

/// The routes of the UI: `/` and `/ui/<version>/<path>`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(index))
        .route("/ui/{version}/{*path}", get(asset))
        .with_state(Arc::new(WebUi::embedded()))
}

async fn index(State(ui): State<Arc<WebUi>>, headers: HeaderMap) -> Response {
    let mut response = ui.index.respond(&headers, INDEX_CACHE);
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, ui.content_security_policy.clone());
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn asset(
    State(ui): State<Arc<WebUi>>,
    Path((version, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // An old version's path is gone: the page that named it is reloaded with the new one.
    match ui.assets.get(&path).filter(|_| version == ui.version) {
        Some(asset) => Ok(asset.respond(&headers, ASSET_CACHE)),
        None => Err(ApiError::RouteNotFound(format!("/ui/{version}/{path}"))),
    }
}

/// The page may run its own modules and its one inline script (the import map, allowed by
/// hash), talk to this server only, and not be framed. Model replies are rendered as
/// sanitised markdown; this is the second line of defence behind the sanitiser.
fn content_security_policy(page: &[u8]) -> HeaderValue {
    let page = String::from_utf8_lossy(page);
    let mut scripts = String::new();
    for inline in inline_scripts(&page) {
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(inline));
        scripts.push_str(&format!(" 'sha256-{digest}'"));
    }
    let policy = format!(
        "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'self'"))
}

/// The text of each `<script>` element without a `src` in `page`.
fn inline_scripts(page: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<script") {
        let Some(open_end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + open_end];
        let body_start = start + open_end + 1;
        let Some(close) = rest[body_start..].find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            scripts.push(&rest[body_start..body_start + close]);
        }
        rest = &rest[body_start + close..];
    }
    scripts
}

/// Whether `Accept-Encoding` lists gzip (or `*`) with a non-zero weight.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0
        })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json; charset=utf-8",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
