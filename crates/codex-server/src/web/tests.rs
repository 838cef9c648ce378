use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use super::*;

/// The UI as the page loads it, gzipped, must stay under this (issue 14).
const GZIP_BUDGET_BYTES: usize = 200 * 1024;

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn files_under(dir: &Path, base: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, base, found);
        } else {
            let relative = path.strip_prefix(base).unwrap();
            found.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// `(file, sha256)` of each row of the "Files" table of `web/VENDOR.md`.
fn pinned_files() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(web_dir().join("VENDOR.md")).unwrap();
    let table = text
        .split("## Files")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("VENDOR.md has a Files section");
    table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            (
                cells[0].to_owned(),
                cells.last().unwrap().to_ascii_lowercase(),
            )
        })
        .collect()
}

async fn get(ui: Router, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    ui.oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn vendored_files_match_their_pinned_hashes() {
    let pinned = pinned_files();
    assert!(pinned.len() >= 7, "{pinned:?}");
    let vendor = web_dir().join("vendor");
    for (file, sha256) in &pinned {
        let bytes = std::fs::read(vendor.join(file))
            .unwrap_or_else(|e| panic!("vendor/{file} is listed in VENDOR.md: {e}"));
        assert_eq!(&hex(&Sha256::digest(&bytes)), sha256, "vendor/{file}");
        let embedded = WebFiles::get(&format!("vendor/{file}"))
            .unwrap_or_else(|| panic!("vendor/{file} is not embedded"));
        assert_eq!(
            &hex(&embedded.metadata.sha256_hash()),
            sha256,
            "embedded vendor/{file}"
        );
    }
    let mut present = BTreeSet::new();
    files_under(&vendor, &vendor, &mut present);
    let listed: BTreeSet<String> = pinned.into_iter().map(|(file, _)| file).collect();
    let unlisted: Vec<_> = present.difference(&listed).collect();
    assert!(unlisted.is_empty(), "not pinned in VENDOR.md: {unlisted:?}");
}

#[test]
fn the_whole_ui_is_under_200_kb_gzipped() {
    let ui = WebUi::embedded();
    let mut total = ui.index.gzip().map_or(ui.index.body.len(), <[u8]>::len);
    for (path, asset) in &ui.assets {
        // Licences ship in the binary but the page never loads them.
        if !path.starts_with("vendor/licenses/") {
            total += asset.gzip().map_or(asset.body.len(), <[u8]>::len);
        }
    }
    println!("web UI: {total} bytes gzipped");
    assert!(
        total < GZIP_BUDGET_BYTES,
        "the UI is {total} bytes gzipped, over the budget of {GZIP_BUDGET_BYTES}"
    );
}

/// Every `import` of every module names an embedded file or an entry of the import map, so
/// a renamed file cannot leave a module that fails to load in the browser only.
#[test]
fn every_module_import_resolves() {
    let ui = WebUi::embedded();
    let page = String::from_utf8(ui.index.body.clone()).unwrap();
    let map_text = inline_scripts(&page)
        .into_iter()
        .next()
        .expect("the page has an import map");
    let map: serde_json::Value = serde_json::from_str(map_text).unwrap();
    let imports = map["imports"].as_object().unwrap();
    let prefix = format!("./ui/{}/", ui.version);
    for target in imports.values() {
        let path = target.as_str().unwrap().strip_prefix(&prefix).unwrap();
        assert!(ui.assets.contains_key(path), "import map names {path}");
    }
    let mut checked = 0;
    for (path, asset) in &ui.assets {
        if !path.starts_with("src/") {
            continue;
        }
        let text = String::from_utf8_lossy(&asset.body);
        for specifier in import_specifiers(&text) {
            checked += 1;
            if let Some(relative) = specifier.strip_prefix('.') {
                let resolved = resolve_relative(path, &format!(".{relative}"));
                assert!(
                    ui.assets.contains_key(&resolved),
                    "{path} imports {specifier} ({resolved}), which is not embedded"
                );
            } else {
                assert!(
                    imports.contains_key(specifier),
                    "{path} imports {specifier}, which the import map does not name"
                );
            }
        }
    }
    assert!(checked > 20, "only {checked} imports found");
}

/// The module specifiers of `import … from '…'` lines.
fn import_specifiers(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.starts_with("import ") || line.starts_with("} from "))
        .filter_map(|line| {
            let quote = line.rfind(['\'', '"'])?;
            let open = line[..quote].rfind(['\'', '"'])?;
            Some(&line[open + 1..quote])
        })
        .collect()
}

fn resolve_relative(from: &str, specifier: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for piece in specifier.split('/') {
        match piece {
            "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts.join("/")
}

#[tokio::test]
async fn the_page_names_the_versioned_assets_and_allows_its_import_map_by_hash() {
    let ui = WebUi::embedded();
    let response = get(router(), "/", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    let policy = headers[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let page = String::from_utf8(body(response).await).unwrap();
    assert!(!page.contains(UI_PLACEHOLDER), "{page}");
    assert!(
        page.contains(&format!("ui/{}/src/main.js", ui.version)),
        "{page}"
    );
    let map = inline_scripts(&page)[0];
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(map));
    assert!(policy.contains(&format!("'sha256-{digest}'")), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
}

#[tokio::test]
async fn assets_are_gzipped_immutable_and_revalidated_by_etag() {
    let ui = WebUi::embedded();
    let path = format!("/ui/{}/src/main.js", ui.version);

    let plain = get(router(), &path, &[]).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()[CACHE_CONTROL], ASSET_CACHE);
    assert_eq!(
        plain.headers()[CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    let etag = plain.headers()[ETAG].to_str().unwrap().to_owned();
    let source = body(plain).await;

    let zipped = get(router(), &path, &[("accept-encoding", "br, gzip;q=0.8")]).await;
    assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(zipped.headers()[VARY], "accept-encoding");
    let zipped_etag = zipped.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(zipped_etag, etag, "each encoding has its own ETag");
    assert_eq!(gunzip(&body(zipped).await), source);

    let refused = get(router(), &path, &[("accept-encoding", "gzip;q=0")]).await;
    assert!(refused.headers().get(CONTENT_ENCODING).is_none());

    for tag in [&etag, &zipped_etag, &format!("W/{etag}")] {
        let again = get(router(), &path, &[("if-none-match", tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert!(body(again).await.is_empty());
    }
    let changed = get(router(), &path, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(changed.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_file_or_an_old_version_is_a_json_404() {
    let ui = WebUi::embedded();
    for path in [
        format!("/ui/{}/src/nope.js", ui.version),
        "/ui/0000000000000000/src/main.js".to_owned(),
    ] {
        let response = get(router(), &path, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let json: serde_json::Value = serde_json::from_slice(&body(response).await).unwrap();
        assert_eq!(json["error"]["code"], "not_found", "{path}: {json}");
    }
}

#[test]
fn accept_encoding_weights_are_read() {
    let check = |value: &str, expected: bool| {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        assert_eq!(accepts_gzip(&headers), expected, "{value}");
    };
    check("gzip", true);
    check("deflate, GZIP;q=0.5", true);
    check("*", true);
    check("gzip;q=0", false);
    check("gzip; q=0.0", false);
    check("br, deflate", false);
    check("identity", false);
}
