//! A bare axum server answering `POST /api/plugins/execute` with the echo response shape.
//!
//! It parses the same `{"plugin", "data"}` body and returns the same JSON our server
//! returns for `echo`, with no registry, limits, timeout, panic isolation or middleware,
//! so its throughput is the honest ceiling for an axum handler doing the same JSON work.
//! Usage: `bare-axum PORT` (binds 127.0.0.1).

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
struct ExecuteRequest {
    plugin: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Serialize)]
struct ExecuteResponse {
    plugin: String,
    result: Value,
    duration_ms: f64,
    execution_id: String,
    session_id: String,
}

async fn execute(Json(request): Json<ExecuteRequest>) -> Json<ExecuteResponse> {
    let started = Instant::now();
    // The same result echo builds: the input moved under an `echo` key.
    let result = json!({ "echo": request.data });
    Json(ExecuteResponse {
        plugin: request.plugin,
        result,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        execution_id: uuid::Uuid::now_v7().to_string(),
        session_id: request.session_id.unwrap_or_else(|| "default".to_owned()),
    })
}

#[tokio::main]
async fn main() {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: bare-axum PORT");
            std::process::exit(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    let app = Router::new().route("/api/plugins/execute", post(execute));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("error: server stopped: {e}");
        std::process::exit(1);
    }
}
