//! Store benchmark: appends per second from 64 concurrent sessions, and audit (timeline) latency
//! on a session of 100,000 events, for SQLite and PostgreSQL.
//!
//! ```text
//! cargo run --release -p codex-store --features test-support --example store_bench -- \
//!     [--backend sqlite|postgres|all] [--appends 32000] [--audit-events 100000] \
//!     [--samples 2000] [--postgres-url postgres://...] [--kind message|execution]
//! ```
//!
//! `--kind execution` appends plugin executions instead of messages, which also write the
//! `executions` row and the hourly rollup.
//!
//! Without `--postgres-url` a throwaway cluster with PostgreSQL's durable defaults (fsync on) is
//! started for the run.

use std::sync::Arc;
use std::time::Instant;

use codex_store::test_support::{Durability, TempPostgres};
use codex_store::{
    EventStore, ExecutionSource, NewEvent, PluginExecution, Role, SqliteDurability, StoreOptions,
};
use serde_json::json;
use timing::{Lcg, fmt, percentile};
use tokio::task::JoinSet;

#[path = "support/timing.rs"]
mod timing;

const SESSIONS: usize = 64;

struct Args {
    backend: String,
    appends: usize,
    audit_events: usize,
    samples: usize,
    postgres_url: Option<String>,
    executions: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        backend: "all".into(),
        appends: 32_000,
        audit_events: 100_000,
        samples: 2_000,
        postgres_url: None,
        executions: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--backend" => args.backend = value.clone(),
            "--appends" => args.appends = number()?,
            "--audit-events" => args.audit_events = number()?,
            "--samples" => args.samples = number()?,
            "--postgres-url" => args.postgres_url = Some(value.clone()),
            "--kind" => args.executions = value == "execution",
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("store_bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    println!(
        "store bench: {} appends from {SESSIONS} concurrent sessions; audit of a {}-event session, {} samples",
        args.appends, args.audit_events, args.samples
    );
    if matches!(args.backend.as_str(), "sqlite" | "all") {
        for durability in [SqliteDurability::Full, SqliteDurability::Normal] {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let options = StoreOptions::default().with_sqlite_durability(durability);
            let store = codex_store::connect(&url, options).await?;
            bench(&format!("sqlite ({durability:?})"), &store, &args).await?;
            store.close().await;
        }
    }
    if matches!(args.backend.as_str(), "postgres" | "all") {
        let (_cluster, url) = match &args.postgres_url {
            Some(url) => (None, url.clone()),
            None => {
                let cluster =
                    tokio::task::spawn_blocking(|| TempPostgres::start(Durability::On)).await??;
                let url = cluster.fresh_database().await?;
                (Some(cluster), url)
            }
        };
        let store = codex_store::connect(&url, StoreOptions::default()).await?;
        bench("postgres (fsync on)", &store, &args).await?;
        store.close().await;
    }
    Ok(())
}

async fn bench(
    name: &str,
    store: &Arc<dyn EventStore>,
    args: &Args,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n## {name}");
    appends(store, args.appends, args.executions).await?;
    audit(store, args.audit_events, args.samples).await?;
    Ok(())
}

async fn appends(
    store: &Arc<dyn EventStore>,
    total: usize,
    executions: bool,
) -> Result<(), codex_store::StoreError> {
    let per_session = total.div_ceil(SESSIONS);
    let before = store.stats();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for session in 0..SESSIONS {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_session);
            for i in 0..per_session {
                let event = if executions {
                    let run = PluginExecution::ok(
                        "echo",
                        json!(format!("input {i} of session {session}")),
                        json!({"echo": i}),
                        (i % 7) as u64,
                        ExecutionSource::Api,
                    );
                    NewEvent::plugin_execution(format!("bench-{session}"), &run)
                } else {
                    NewEvent::message(
                        format!("bench-{session}"),
                        Role::User,
                        format!("message {i} of session {session}"),
                    )
                };
                let t = Instant::now();
                store.append_one(event).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, codex_store::StoreError>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(total);
    for result in tasks.join_all().await {
        latencies.extend(result?);
    }
    let elapsed = started.elapsed();
    let after = store.stats();
    let commits = after.commits - before.commits;
    let requests = after.requests - before.requests;
    println!(
        "appends: {requests} in {:.2} s = {:.0} appends/s; {commits} commits ({:.1} appends per commit); append latency p50 {} p99 {}",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        requests as f64 / commits.max(1) as f64,
        fmt(percentile(&mut latencies, 50.0)),
        fmt(percentile(&mut latencies, 99.0)),
    );
    Ok(())
}

async fn audit(
    store: &Arc<dyn EventStore>,
    events: usize,
    samples: usize,
) -> Result<(), codex_store::StoreError> {
    let session = "audit";
    let run = PluginExecution::ok(
        "echo",
        json!("ping"),
        json!("ping"),
        1,
        ExecutionSource::Api,
    );
    let fill = Instant::now();
    let mut written = 0;
    while written < events {
        let batch = (written..events.min(written + 1_000))
            .map(|i| match i % 4 {
                0 => NewEvent::plugin_execution(session, &run),
                1 => NewEvent::message(session, Role::Assistant, format!("answer {i}")),
                _ => NewEvent::message(session, Role::User, format!("question {i}")),
            })
            .collect::<Vec<_>>();
        written += batch.len();
        store.append(batch).await?;
    }
    println!(
        "audit: filled {events} events in {:.2} s",
        fill.elapsed().as_secs_f64()
    );

    let max_after = events.saturating_sub(100) as u64;
    let mut rng = Lcg(0x5eed);
    for limit in [100, 1_000] {
        let mut latencies = Vec::with_capacity(samples);
        for _ in 0..samples {
            let after = (rng.next() % max_after.max(1)) as i64;
            let t = Instant::now();
            let page = store.timeline(session, Some(after), limit).await?;
            latencies.push(t.elapsed());
            std::hint::black_box(page);
        }
        println!(
            "audit: timeline page of {limit} at a random offset: p50 {} p99 {}",
            fmt(percentile(&mut latencies, 50.0)),
            fmt(percentile(&mut latencies, 99.0)),
        );
    }
    let mut counts = Vec::with_capacity(samples);
    let mut short = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        std::hint::black_box(store.counts(session, 20).await?);
        counts.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(store.short_memory(session, 20).await?);
        short.push(t.elapsed());
    }
    println!(
        "audit: counts p50 {} p99 {}; short_memory(20) p50 {} p99 {}",
        fmt(percentile(&mut counts, 50.0)),
        fmt(percentile(&mut counts, 99.0)),
        fmt(percentile(&mut short, 50.0)),
        fmt(percentile(&mut short, 99.0)),
    );
    let walk = Instant::now();
    let mut after = None;
    let mut seen = 0;
    loop {
        let page = store.timeline(session, after, 1_000).await?;
        seen += page.items.len();
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    println!(
        "audit: whole timeline ({seen} events, pages of 1000) in {}",
        fmt(walk.elapsed())
    );
    Ok(())
}
