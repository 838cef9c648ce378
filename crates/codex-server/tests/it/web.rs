//! The web UI's routes in the whole router: the page needs no API key (it asks for one), the
//! API still does, and paths that are neither still answer the JSON error envelope.

use axum::http::StatusCode;

use crate::app::TestApp;

/// `ui/<version>/src/main.js`, as the page names it.
fn main_module(page: &str) -> String {
    let end = page.find("/src/main.js").expect("the page loads main.js");
    let start = page[..end].rfind('"').expect("in an attribute") + 1;
    format!("/{}/src/main.js", &page[start..end])
}

#[tokio::test]
async fn the_page_and_its_files_need_no_key_while_the_api_does() {
    let app = TestApp::with_api_keys(vec!["0123456789abcdef-key".to_owned()]).await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.body.as_str().expect("the page is HTML").to_owned();
    assert!(page.contains("<div id=\"app\">"), "{page}");
    let module = app.get(&main_module(&page)).await;
    assert_eq!(module.status, StatusCode::OK, "{}", module.body);
    app.get("/api/plugins")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn paths_outside_the_ui_and_the_api_still_answer_json_errors() {
    let app = TestApp::new().await;
    app.get("/index.html")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/ui/0123456789abcdef/src/main.js")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/plugins/nope/deeper")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.post("/", serde_json::json!({}))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
