//! Plugin calls for the execution log and analytics tests: made up deterministically, appended
//! live or written as an older build stored them, and an oracle that sums them the slow way.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use codex_store::{
    Analytics, AnalyticsQuery, CallTotals, DurationHistogram, EventKind, EventRef, ExecutionSource,
    NewEvent, PluginExecution, PluginStats, SeriesPoint, SourceCalls,
};
use serde_json::json;

use crate::harness::OldEvent;

/// One plugin call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub session_id: String,
    pub plugin: String,
    pub status: String,
    pub source: ExecutionSource,
    pub duration_ms: u64,
}

impl Call {
    pub fn new(
        session_id: &str,
        plugin: &str,
        status: &str,
        source: ExecutionSource,
        duration_ms: u64,
    ) -> Self {
        Self {
            session_id: session_id.to_owned(),
            plugin: plugin.to_owned(),
            status: status.to_owned(),
            source,
            duration_ms,
        }
    }

    pub fn execution(&self) -> PluginExecution {
        let input = json!({ "session": self.session_id, "ms": self.duration_ms });
        if self.status == "ok" {
            PluginExecution::ok(
                &self.plugin,
                input,
                json!({ "ok": true }),
                self.duration_ms,
                self.source,
            )
        } else {
            PluginExecution::failed(
                &self.plugin,
                input,
                &self.status,
                "it failed",
                self.duration_ms,
                self.source,
            )
        }
    }

    pub fn event(&self) -> NewEvent {
        NewEvent::plugin_execution(&self.session_id, &self.execution())
    }

    /// The call as an older build stored it, `seq` in its session, at `ts`.
    pub fn old_event(&self, seq: i64, ts: DateTime<Utc>) -> OldEvent {
        OldEvent {
            session_id: self.session_id.clone(),
            seq,
            kind: EventKind::PluginExecution,
            ts,
            payload: serde_json::to_value(self.execution()).unwrap(),
        }
    }
}

/// A call and where it landed.
#[derive(Debug, Clone)]
pub struct Landed {
    pub call: Call,
    pub seq: i64,
    pub ts: DateTime<Utc>,
}

impl Landed {
    pub fn live(call: Call, landed: &EventRef) -> Self {
        assert_eq!(call.session_id, landed.session_id);
        Self {
            call,
            seq: landed.seq,
            ts: landed.timestamp,
        }
    }
}

/// `n` calls, varied by `seed`, over the given sessions: plugins of different popularity,
/// every source, a few failures, durations from 0 ms to minutes.
pub fn made_up(n: usize, seed: u64, sessions: &[&str]) -> Vec<Call> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let plugins = [
        "echo",
        "echo",
        "echo",
        "calculator",
        "calculator",
        "shell",
        "llm",
    ];
    let statuses = [
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "timeout",
        "invalid_input",
    ];
    (0..n)
        .map(|_| {
            let plugin = plugins[next() as usize % plugins.len()];
            let duration_ms = match plugin {
                "llm" => 200 + next() % 90_000,
                "shell" => 3 + next() % 400,
                _ => next() % 6,
            };
            Call::new(
                sessions[next() as usize % sessions.len()],
                plugin,
                statuses[next() as usize % statuses.len()],
                ExecutionSource::ALL[next() as usize % 4],
                duration_ms,
            )
        })
        .collect()
}

/// What the analytics must answer for `query` over `landed`, summed call by call.
pub fn expected(landed: &[Landed], query: &AnalyticsQuery) -> Analytics {
    let (since, until) = query.aligned().unwrap();
    let step = chrono::TimeDelta::hours(match query.bucket {
        codex_store::Bucket::Hour => 1,
        codex_store::Bucket::Day => 24,
    });
    let inside: Vec<&Landed> = landed
        .iter()
        .filter(|l| since <= l.ts && l.ts < until)
        .collect();
    let sum = |calls: &[&Landed]| {
        let mut histogram = DurationHistogram::default();
        for l in calls {
            histogram.record(l.call.duration_ms);
        }
        let errors = calls.iter().filter(|l| l.call.status != "ok").count() as u64;
        (calls.len() as u64, errors, histogram)
    };
    let mut by_plugin: BTreeMap<&str, Vec<&Landed>> = BTreeMap::new();
    for l in &inside {
        by_plugin.entry(&l.call.plugin).or_default().push(l);
    }
    let mut plugins: Vec<PluginStats> = by_plugin
        .into_iter()
        .map(|(plugin, calls)| {
            let (calls, errors, h) = sum(&calls);
            PluginStats {
                plugin: plugin.to_owned(),
                calls,
                errors,
                error_rate: errors as f64 / calls as f64,
                p50_ms: h.percentile(50.0).unwrap(),
                p95_ms: h.percentile(95.0).unwrap(),
                p99_ms: h.percentile(99.0).unwrap(),
            }
        })
        .collect();
    plugins.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.plugin.cmp(&b.plugin)));
    let mut series = Vec::new();
    let mut start = since;
    while start < until {
        let calls: Vec<&Landed> = inside
            .iter()
            .copied()
            .filter(|l| start <= l.ts && l.ts < start + step)
            .collect();
        let (n, errors, h) = sum(&calls);
        series.push(SeriesPoint {
            start,
            calls: n,
            errors,
            p50_ms: h.percentile(50.0),
            p95_ms: h.percentile(95.0),
            p99_ms: h.percentile(99.0),
        });
        start += step;
    }
    let (calls, errors, _) = sum(&inside);
    Analytics {
        since,
        until,
        bucket: query.bucket,
        totals: CallTotals { calls, errors },
        plugins,
        series,
        sources: ExecutionSource::ALL
            .into_iter()
            .map(|source| SourceCalls {
                source,
                calls: inside.iter().filter(|l| l.call.source == source).count() as u64,
            })
            .collect(),
    }
}
