//! The store's Prometheus metrics: group commits, their size and latency, and the queue
//! in front of the writer.
//!
//! They go through the `metrics` facade and cost nothing until the application installs a
//! recorder (`codex-server` does). No label: one store per process.

use std::time::Duration;

/// Events per group commit.
pub const COMMIT_BATCH_SIZE: &str = "codex_store_commit_batch_size";
/// How long a group commit took, retries included, in seconds.
pub const COMMIT_DURATION: &str = "codex_store_commit_duration_seconds";
/// Group commits by outcome (`ok`, `error`).
pub const COMMITS: &str = "codex_store_commits_total";
/// Writes waiting for the writer when it last took a batch.
pub const QUEUE_DEPTH: &str = "codex_store_queue_depth";

pub(crate) fn committed(events: usize, took: Duration, ok: bool) {
    metrics::counter!(COMMITS, "outcome" => if ok { "ok" } else { "error" }).increment(1);
    metrics::histogram!(COMMIT_BATCH_SIZE).record(events as f64);
    metrics::histogram!(COMMIT_DURATION).record(took.as_secs_f64());
}

pub(crate) fn queue_depth(waiting: usize) {
    metrics::gauge!(QUEUE_DEPTH).set(waiting as f64);
}

/// Says what each family means (the `# HELP` lines).
pub fn describe() {
    metrics::describe_histogram!(COMMIT_BATCH_SIZE, "Events written per group commit.");
    metrics::describe_histogram!(
        COMMIT_DURATION,
        metrics::Unit::Seconds,
        "Group commit latency, retries included."
    );
    metrics::describe_counter!(COMMITS, "Group commits by outcome.");
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        "Writes waiting for the writer when it last took a batch."
    );
}
