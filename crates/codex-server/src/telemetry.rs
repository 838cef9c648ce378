//! Prometheus metrics: the recorder every crate's metrics go to, the HTTP families, and
//! `GET /metrics`, which renders them in the text exposition format.
//!
//! The crates below record through the `metrics` facade (`codex_host::telemetry`,
//! `codex_store::telemetry`, the model providers in `codex_agent`); the facade's recorder is
//! one per process, like `tracing`'s subscriber, so [`install`] installs it once and every
//! application in the process renders the same families.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use codex_host::telemetry::HandleCache;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// HTTP requests by method, route (the matched pattern, never the path) and status.
pub const HTTP_REQUESTS: &str = "codex_http_requests_total";
/// How long requests took to their response head, by method and route, in seconds.
pub const HTTP_REQUEST_DURATION: &str = "codex_http_request_duration_seconds";
/// Always 1, labelled with the version.
pub const BUILD_INFO: &str = "codex_build_info";

/// Latency buckets from 1 ms to 60 s, shared by every `_seconds` histogram.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Events per group commit.
const BATCH_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// How often histograms are compacted (the exporter's upkeep).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use.
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder if this process has none yet, and answers the handle
/// that renders it. When another recorder was installed first (by an embedding program),
/// the handle renders an empty exposition and a warning says why.
pub fn install() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let handle = match builder().and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => handle,
                Err(error) => {
                    tracing::warn!(%error, "cannot install the metrics recorder; /metrics stays empty");
                    return PrometheusBuilder::new().build_recorder().handle();
                }
            };
            describe();
            codex_host::telemetry::recorder_installed();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("codex-metrics".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(error) = started {
                tracing::warn!(%error, "cannot start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}

fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)?
        .set_buckets_for_metric(
            Matcher::Full(codex_store::telemetry::COMMIT_BATCH_SIZE.to_owned()),
            BATCH_SIZES,
        )
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status.");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "HTTP latency to the response head, by method and route."
    );
    metrics::describe_gauge!(BUILD_INFO, "Always 1, labelled with the server's version.");
    codex_host::telemetry::describe();
    codex_store::telemetry::describe();
    codex_agent::chat::describe_metrics();
}

/// Counts one answered request.
pub(crate) fn http_request(method: &'static str, route: &str, status: u16, took: Duration) {
    let (requests, duration) = http_handles(method, route, status);
    requests.increment(1);
    duration.record(took.as_secs_f64());
}

/// The HTTP families' handles by method and status, then route (the router's patterns, so
/// the map stays as small as the API).
static HTTP_HANDLES: LazyLock<HttpHandles> = LazyLock::new(HandleCache::default);

type HttpHandles = HandleCache<(&'static str, u16), (Counter, Histogram)>;

fn http_handles(method: &'static str, route: &str, status: u16) -> (Counter, Histogram) {
    HTTP_HANDLES.get((method, status), route, || {
        (
            metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string()),
            metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route.to_owned()),
        )
    })
}

/// Every metric of the process in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "system",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid key", body = crate::error::ErrorBody),
        (status = 403, description = "Not an admin key", body = crate::error::ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
