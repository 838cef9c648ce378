//! Analytics and execution-log benchmark on SQLite: a database holding 1,000,000 plugin
//! executions spread over 60 days (and a session of 10,000 events), then the 30-day analytics,
//! the execution log's first page with and without filters, the timeline by kind and the
//! session list, each timed over many runs.
//!
//! ```text
//! cargo run --release -p codex-store --features test-support --example analytics_bench -- \
//!     [--executions 1000000] [--days 60] [--runs 50] [--keep /path/to/file.db]
//! ```
//!
//! The database is written as the first schema held it (events only) straight through
//! rusqlite, which is much faster than a million appends; opening the store then runs the
//! migration that backfills the `executions` table and the hourly rollup, and its time is
//! reported too. Appends made after that go through the store like any other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use codex_store::{
    AnalyticsQuery, Bucket, EventKind, EventStore, ExecutionQuery, ExecutionSource, SessionQuery,
    StoreOptions,
};
use rusqlite::params;
use serde_json::json;
use timing::{Lcg, fmt, percentile};

#[path = "support/timing.rs"]
mod timing;

/// The first migration: the schema before the derived tables.
const FIRST_MIGRATION: i64 = 20261124000001;
const PER_SESSION: usize = 50;
const BIG_SESSION: &str = "big-session";
const BIG_SESSION_EVENTS: usize = 10_000;

/// Plugins with their share of calls (per mille) and duration range in ms.
const PLUGINS: [(&str, u64, u64, u64); 12] = [
    ("echo", 300, 0, 2),
    ("calculator", 200, 0, 5),
    ("memory", 100, 1, 20),
    ("sentiment", 80, 5, 60),
    ("llm", 80, 300, 30_000),
    ("memory_inspect", 50, 1, 30),
    ("plugin_metadata", 50, 0, 3),
    ("shell", 50, 10, 3_000),
    ("agent", 30, 1_000, 120_000),
    ("weather__forecast", 30, 50, 2_000),
    ("git__status", 25, 5, 500),
    ("rare_tool", 5, 2, 200),
];

struct Args {
    executions: usize,
    days: i64,
    runs: usize,
    keep: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        executions: 1_000_000,
        days: 60,
        runs: 50,
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--executions" => args.executions = number()?,
            "--days" => args.days = number()? as i64,
            "--runs" => args.runs = number()?,
            "--keep" => args.keep = Some(value.clone()),
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
            eprintln!("analytics_bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let path = match &args.keep {
        Some(path) => std::path::PathBuf::from(path),
        None => dir.path().join("analytics.db"),
    };
    let url = format!("sqlite://{}", path.display());
    let now = Utc::now();
    println!(
        "analytics bench: {} executions over {} days, {} runs per figure, SQLite at {}",
        args.executions,
        args.days,
        args.runs,
        path.display()
    );

    codex_store::migrate_to(&url, FIRST_MIGRATION).await?;
    let t = Instant::now();
    let events = tokio::task::spawn_blocking({
        let path = path.clone();
        let (executions, days) = (args.executions, args.days);
        move || fill(&path, executions, days, now)
    })
    .await??;
    println!(
        "fill: {events} events written as the first schema held them in {}",
        fmt(t.elapsed())
    );

    let t = Instant::now();
    let store = codex_store::connect(&url, StoreOptions::default()).await?;
    println!(
        "migration (backfill of executions, rollup, titles, session days): {}",
        fmt(t.elapsed())
    );
    let size = std::fs::metadata(&path)?.len();
    println!("database file: {:.0} MB", size as f64 / 1e6);

    queries(&store, &args, now).await?;
    store.close().await;
    Ok(())
}

/// Writes `executions` calls spread evenly over the `days` before `now`, in sessions of
/// [`PER_SESSION`] calls each opened by a user message, and one session of
/// [`BIG_SESSION_EVENTS`] events of every kind. Answers how many events it wrote.
fn fill(
    path: &std::path::Path,
    executions: usize,
    days: i64,
    now: DateTime<Utc>,
) -> Result<usize, rusqlite::Error> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")?;
    let mut rng = Lcg(0x5eed);
    let start = now - TimeDelta::days(days);
    let span_us = TimeDelta::days(days).num_microseconds().unwrap_or(i64::MAX);
    let step_us = span_us / executions.max(1) as i64;
    let text = |ts: DateTime<Utc>| ts.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut written = 0;
    let mut i = 0;
    while i < executions {
        let tx = conn.transaction()?;
        {
            let mut session =
                tx.prepare_cached("INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5)")?;
            let mut event =
                tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
            for _ in 0..1_000 {
                if i >= executions {
                    break;
                }
                let id = format!("session-{:06}", i / PER_SESSION);
                let calls = PER_SESSION.min(executions - i);
                let first = start + TimeDelta::microseconds(step_us * i as i64);
                let last = start + TimeDelta::microseconds(step_us * (i + calls - 1) as i64);
                session.execute(params![id, text(first), text(last), 1, calls as i64 + 1])?;
                event.execute(params![
                    id,
                    1,
                    uuid::Uuid::now_v7().to_string(),
                    "message",
                    text(first),
                    json!({"role": "user", "content": format!("question {i}")}).to_string(),
                ])?;
                for k in 0..calls {
                    let ts = start + TimeDelta::microseconds(step_us * (i + k) as i64);
                    event.execute(params![
                        id,
                        k as i64 + 2,
                        uuid::Uuid::now_v7().to_string(),
                        "plugin_execution",
                        text(ts),
                        execution(&mut rng).to_string(),
                    ])?;
                }
                written += calls + 1;
                i += calls;
            }
        }
        tx.commit()?;
    }
    let tx = conn.transaction()?;
    {
        let mut event = tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let kinds = [
            EventKind::Message,
            EventKind::PluginExecution,
            EventKind::ToolCall,
            EventKind::ToolResult,
            EventKind::Message,
            EventKind::Reset,
        ];
        let first = now - TimeDelta::hours(2);
        let messages = BIG_SESSION_EVENTS / 3;
        tx.execute(
            "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                BIG_SESSION,
                text(first),
                text(first + TimeDelta::milliseconds(BIG_SESSION_EVENTS as i64 * 500)),
                messages as i64,
                BIG_SESSION_EVENTS as i64
            ],
        )?;
        for seq in 1..=BIG_SESSION_EVENTS {
            let kind = kinds[seq % kinds.len()];
            let payload = match kind {
                EventKind::Message => json!({"role": "user", "content": format!("m{seq}")}),
                EventKind::PluginExecution => execution(&mut rng),
                EventKind::ToolCall => json!({"call_id": seq, "name": "echo", "arguments": {}}),
                EventKind::ToolResult => {
                    json!({"call_id": seq, "name": "echo", "output": 1, "is_error": false})
                }
                _ => json!({}),
            };
            event.execute(params![
                BIG_SESSION,
                seq as i64,
                uuid::Uuid::now_v7().to_string(),
                kind.as_str(),
                text(first + TimeDelta::milliseconds(seq as i64 * 500)),
                payload.to_string(),
            ])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(written + BIG_SESSION_EVENTS)
}

/// A plugin execution payload as the executor writes it, drawn from [`PLUGINS`].
fn execution(rng: &mut Lcg) -> serde_json::Value {
    let mut pick = rng.next() % 1000;
    let (plugin, _, low, high) = PLUGINS
        .iter()
        .find(|(_, share, _, _)| {
            let hit = pick < *share;
            pick = pick.saturating_sub(*share);
            hit
        })
        .copied()
        .unwrap_or(PLUGINS[0]);
    // Log-uniform between the bounds, as latencies tend to be.
    let span = ((high + 1) as f64 / (low + 1) as f64).ln();
    let unit = rng.next() as f64 / (1u64 << 31) as f64;
    let duration_ms = ((low + 1) as f64 * (span * unit).exp()) as u64 - 1;
    let source = match rng.next() % 100 {
        0..50 => "chat",
        50..80 => "api",
        80..95 => "mcp",
        _ => "cli",
    };
    let status = match rng.next() % 100 {
        0..95 => "ok",
        95..97 => "timeout",
        97..99 => "invalid_input",
        _ => "failed",
    };
    let mut payload = json!({
        "plugin": plugin, "input": {"text": "benchmark input"}, "status": status,
        "duration_ms": duration_ms, "source": source,
    });
    if status == "ok" {
        payload["output"] = json!({"result": "benchmark output"});
    } else {
        payload["error"] = json!("benchmark failure");
    }
    payload
}

async fn queries(
    store: &Arc<dyn EventStore>,
    args: &Args,
    now: DateTime<Utc>,
) -> Result<(), codex_store::StoreError> {
    let runs = args.runs;
    println!("\n| query | p50 | p99 | answer |\n|---|---:|---:|---|");
    for (label, since, bucket) in [
        (
            "analytics, 30 days by hour",
            now - TimeDelta::days(30),
            Bucket::Hour,
        ),
        (
            "analytics, 30 days by day",
            now - TimeDelta::days(30),
            Bucket::Day,
        ),
        (
            "analytics, 60 days by day",
            now - TimeDelta::days(60),
            Bucket::Day,
        ),
        (
            "analytics, last 24 h by hour",
            now - TimeDelta::hours(24),
            Bucket::Hour,
        ),
    ] {
        let query = AnalyticsQuery::new(since, now, bucket);
        let (times, answer) = timed(runs, || store.analytics(&query)).await?;
        let summary = format!(
            "{} calls, {} plugins, {} buckets",
            answer.totals.calls,
            answer.plugins.len(),
            answer.series.len()
        );
        report(label, times, &summary);
    }
    let executions = [
        ("executions, first page of 50", ExecutionQuery::new(50)),
        (
            "executions, plugin=echo (30%)",
            ExecutionQuery::new(50).with_plugin("echo"),
        ),
        (
            "executions, plugin=rare_tool (0.5%)",
            ExecutionQuery::new(50).with_plugin("rare_tool"),
        ),
        (
            "executions, status=timeout (2%)",
            ExecutionQuery::new(50).with_status("timeout"),
        ),
        (
            "executions, source=cli (5%)",
            ExecutionQuery::new(50).with_source(ExecutionSource::Cli),
        ),
        (
            "executions, plugin=rare_tool, source=cli, status=failed",
            ExecutionQuery::new(50)
                .with_plugin("rare_tool")
                .with_source(ExecutionSource::Cli)
                .with_status("failed"),
        ),
        (
            "executions, plugin that never ran",
            ExecutionQuery::new(50).with_plugin("never_ran"),
        ),
        (
            "executions, one session",
            ExecutionQuery::new(50).with_session("session-010000"),
        ),
        (
            "executions, 7 days ago",
            ExecutionQuery::new(50).with_until(now - TimeDelta::days(7)),
        ),
    ];
    for (label, query) in executions {
        let (times, page) = timed(runs, || store.executions(&query)).await?;
        report(label, times, &format!("{} executions", page.items.len()));
    }
    let (times, page) = timed(runs, || async {
        let mut query = ExecutionQuery::new(50);
        let mut page = store.executions(&query).await?;
        for _ in 0..9 {
            query.before = page.next_before.clone();
            page = store.executions(&query).await?;
        }
        Ok(page)
    })
    .await?;
    report(
        "executions, 10 pages of 50 following the cursor",
        times,
        &format!("{} on the 10th", page.items.len()),
    );

    let kinds = [EventKind::Message];
    let (times, page) = timed(runs, || store.timeline_of(BIG_SESSION, &kinds, None, 100)).await?;
    report(
        "timeline of a 10,000-event session, messages, first page of 100",
        times,
        &format!("{} events", page.items.len()),
    );
    let (times, page) = timed(runs, || {
        store.timeline_of(BIG_SESSION, &kinds, Some(5_000), 100)
    })
    .await?;
    report(
        "same, from seq 5,000",
        times,
        &format!("{} events", page.items.len()),
    );
    let kinds = [EventKind::PluginExecution, EventKind::Reset];
    let (times, page) = timed(runs, || {
        store.timeline_of(BIG_SESSION, &kinds, Some(5_000), 100)
    })
    .await?;
    report(
        "same, executions and resets, from seq 5,000",
        times,
        &format!("{} events", page.items.len()),
    );
    let first_page = SessionQuery::new(50);
    let (times, page) = timed(runs, || store.session_page(&first_page)).await?;
    let sessions = args.executions.div_ceil(PER_SESSION) + 1;
    report(
        &format!("sessions, first page of 50 (of {sessions})"),
        times,
        &format!("{} sessions", page.items.len()),
    );
    let query = SessionQuery::new(50).with_search("question 99");
    let (times, page) = timed(runs, || store.session_page(&query)).await?;
    report(
        "sessions, search \"question 99\" (titles)",
        times,
        &format!("{} sessions", page.items.len()),
    );
    let (times, days) = timed(runs, || {
        store.conversations_per_day(now - TimeDelta::days(30), now, None)
    })
    .await?;
    report(
        "conversations per day, 30 days",
        times,
        &format!("{} days", days.len()),
    );
    Ok(())
}

/// Runs `query` `runs` times (after one untimed warm-up) and answers the times and the last
/// answer.
async fn timed<T, F, Fut>(
    runs: usize,
    query: F,
) -> Result<(Vec<Duration>, T), codex_store::StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, codex_store::StoreError>>,
{
    let mut answer = query().await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        answer = query().await?;
        times.push(t.elapsed());
    }
    Ok((times, answer))
}

fn report(label: &str, mut times: Vec<Duration>, answer: &str) {
    println!(
        "| {label} | {} | {} | {answer} |",
        fmt(percentile(&mut times, 50.0)),
        fmt(percentile(&mut times, 99.0)),
    );
}
