//! The derived rows a batch of events brings, which both writers store in the batch's own
//! transaction: one `executions` row per plugin execution, the batch's sums per hour and plugin
//! for `execution_rollup`, and the days on which sessions had messages (`session_days`).
//!
//! Keeping them in the same transaction is what makes them exact: a crash, a failed batch or a
//! purge can never leave the sums counting calls the log does not hold.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::{Result, StoreError};
use crate::event::{EventKind, EventRef, ExecutionFacts, ExecutionSource, NewEvent};
use crate::histogram::DurationHistogram;

/// The hour (since the Unix epoch, UTC) a timestamp falls in.
pub(crate) fn hour_of(ts: DateTime<Utc>) -> i64 {
    ts.timestamp().div_euclid(3600)
}

/// The day (since the Unix epoch, UTC) a timestamp falls in.
pub(crate) fn day_of(ts: DateTime<Utc>) -> i64 {
    ts.timestamp().div_euclid(86_400)
}

/// The executions of one plugin in one hour: an `execution_rollup` row, or what a batch adds to
/// one (or a purge takes away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RollupRow {
    pub hour: i64,
    pub plugin: String,
    pub calls: u64,
    pub errors: u64,
    /// Calls per source, in [`ExecutionSource::ALL`] order.
    pub sources: [u64; 4],
    pub histogram: DurationHistogram,
}

impl RollupRow {
    pub(crate) fn empty(hour: i64, plugin: &str) -> Self {
        Self {
            hour,
            plugin: plugin.to_owned(),
            calls: 0,
            errors: 0,
            sources: [0; 4],
            histogram: DurationHistogram::default(),
        }
    }

    fn record(&mut self, ok: bool, source: ExecutionSource, duration_ms: u64) {
        self.calls += 1;
        self.errors += u64::from(!ok);
        self.sources[source.index()] += 1;
        self.histogram.record(duration_ms);
    }

    /// Adds another row's calls (of any hour or plugin: the analytics sum across both).
    pub(crate) fn add(&mut self, other: &RollupRow) {
        self.calls += other.calls;
        self.errors += other.errors;
        for (mine, theirs) in self.sources.iter_mut().zip(other.sources) {
            *mine += theirs;
        }
        self.histogram.add(&other.histogram);
    }

    /// Takes a purged session's calls out; fails, changing nothing, if this row does not hold
    /// them all.
    pub(crate) fn subtract(&mut self, other: &RollupRow) -> Result<()> {
        let short = self.calls < other.calls
            || self.errors < other.errors
            || self.sources.iter().zip(other.sources).any(|(m, t)| *m < t);
        if short {
            return Err(StoreError::Corrupt(format!(
                "the rollup of plugin {} in hour {} holds fewer calls than a purge removes",
                self.plugin, self.hour
            )));
        }
        self.histogram.subtract(&other.histogram)?;
        self.calls -= other.calls;
        self.errors -= other.errors;
        for (mine, theirs) in self.sources.iter_mut().zip(other.sources) {
            *mine -= theirs;
        }
        Ok(())
    }
}

/// Executions summed per hour and plugin.
#[derive(Debug, Default)]
pub(crate) struct Rollup {
    rows: BTreeMap<(i64, String), RollupRow>,
}

impl Rollup {
    pub(crate) fn record(
        &mut self,
        ts: DateTime<Utc>,
        plugin: &str,
        ok: bool,
        source: ExecutionSource,
        duration_ms: u64,
    ) {
        let hour = hour_of(ts);
        self.rows
            .entry((hour, plugin.to_owned()))
            .or_insert_with(|| RollupRow::empty(hour, plugin))
            .record(ok, source, duration_ms);
    }

    /// The rows, ordered by hour and plugin: the order in which writers lock them.
    pub(crate) fn into_rows(self) -> Vec<RollupRow> {
        self.rows.into_values().collect()
    }
}

/// One plugin execution of a batch, as the `executions` table keeps it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecutionRow<'a> {
    pub session_id: &'a str,
    pub seq: i64,
    pub facts: ExecutionFacts<'a>,
}

/// Everything a batch adds besides its events.
#[derive(Debug, Default)]
pub(crate) struct Derived<'a> {
    pub executions: Vec<ExecutionRow<'a>>,
    pub rollup: Vec<RollupRow>,
    /// `(day, session)` for each session with a message in the batch, without repeats.
    pub session_days: Vec<(i64, &'a str)>,
}

/// What `events`, committed at `ts` where `refs` says, add besides themselves.
pub(crate) fn derive<'a>(
    events: &'a [NewEvent],
    refs: &[EventRef],
    ts: DateTime<Utc>,
) -> Result<Derived<'a>> {
    let mut derived = Derived::default();
    let mut rollup = Rollup::default();
    for (event, landed) in events.iter().zip(refs) {
        match event.kind {
            EventKind::PluginExecution => {
                let facts = ExecutionFacts::of(&event.payload)?;
                rollup.record(
                    ts,
                    facts.plugin,
                    facts.is_ok(),
                    facts.source,
                    facts.duration_ms,
                );
                derived.executions.push(ExecutionRow {
                    session_id: &event.session_id,
                    seq: landed.seq,
                    facts,
                });
            }
            EventKind::Message => derived
                .session_days
                .push((day_of(ts), event.session_id.as_str())),
            _ => {}
        }
    }
    derived.session_days.sort_unstable();
    derived.session_days.dedup();
    derived.rollup = rollup.into_rows();
    Ok(derived)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::{PluginExecution, Role};
    use crate::writer::commit_timestamp;

    #[test]
    fn a_batch_sums_its_executions_per_hour_and_plugin() {
        let run = |plugin: &str, ok: bool, source, ms| {
            let execution = if ok {
                PluginExecution::ok(plugin, json!(1), json!(1), ms, source)
            } else {
                PluginExecution::failed(plugin, json!(1), "timeout", "slow", ms, source)
            };
            NewEvent::plugin_execution("s", &execution)
        };
        let events = vec![
            run("echo", true, ExecutionSource::Api, 1),
            NewEvent::message("s", Role::User, "hi"),
            run("shell", false, ExecutionSource::Chat, 900),
            run("echo", false, ExecutionSource::Mcp, 3),
            NewEvent::message("t", Role::User, "hi"),
            NewEvent::message("s", Role::Assistant, "hello"),
        ];
        let ts = commit_timestamp();
        let refs: Vec<EventRef> = (1..=6)
            .map(|seq| EventRef {
                id: uuid::Uuid::now_v7(),
                session_id: "s".into(),
                seq,
                timestamp: ts,
            })
            .collect();
        let derived = derive(&events, &refs, ts).unwrap();
        let seqs: Vec<_> = derived.executions.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3, 4]);
        let day = day_of(ts);
        assert_eq!(derived.session_days, [(day, "s"), (day, "t")]);
        let summary: Vec<_> = derived
            .rollup
            .iter()
            .map(|r| (r.plugin.as_str(), r.calls, r.errors, r.sources))
            .collect();
        assert_eq!(
            summary,
            [("echo", 2, 1, [1, 0, 0, 1]), ("shell", 1, 1, [0, 0, 1, 0])]
        );
        assert!(derived.rollup.iter().all(|r| r.hour == hour_of(ts)));

        let mut echo = derived.rollup[0].clone();
        let before = echo.clone();
        echo.add(&derived.rollup[0]);
        echo.subtract(&derived.rollup[0]).unwrap();
        assert_eq!(echo, before);
        assert!(echo.subtract(&derived.rollup[1]).is_err());
        assert_eq!(echo, before);
    }

    #[test]
    fn hours_and_days_count_from_the_epoch_in_utc() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(hour_of(at("1970-01-01T00:59:59Z")), 0);
        assert_eq!(hour_of(at("1970-01-01T01:00:00Z")), 1);
        assert_eq!(day_of(at("1970-01-02T00:00:00Z")), 1);
        assert_eq!(hour_of(at("1969-12-31T23:59:59Z")), -1);
    }
}
