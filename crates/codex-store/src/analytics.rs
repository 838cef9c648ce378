//! What the analytics answer: plugin calls, errors and latency percentiles over a window, per
//! plugin, per time bucket and per source, summed from the hourly rollup
//! ([`crate::rollup`]) in one pass.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::event::ExecutionSource;
use crate::query::Bucket;
use crate::rollup::{RollupRow, hour_of};

/// Plugin calls over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    /// The window counted, widened to whole buckets: `since` inclusive, `until` exclusive.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket: Bucket,
    pub totals: CallTotals,
    /// Every plugin called in the window, most called first (then by name).
    pub plugins: Vec<PluginStats>,
    /// Every bucket of the window, oldest first, empty ones included.
    pub series: Vec<SeriesPoint>,
    /// Calls per source, every source listed.
    pub sources: Vec<SourceCalls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CallTotals {
    pub calls: u64,
    /// Calls whose status was not `ok`.
    pub errors: u64,
}

/// One plugin over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStats {
    pub plugin: String,
    pub calls: u64,
    pub errors: u64,
    /// `errors / calls`.
    pub error_rate: f64,
    /// Duration percentiles in milliseconds ([`crate::DurationHistogram::percentile`]).
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// One bucket of the window, all plugins together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    pub start: DateTime<Utc>,
    pub calls: u64,
    pub errors: u64,
    /// `None` for a bucket without calls.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceCalls {
    pub source: ExecutionSource,
    pub calls: u64,
}

/// Sessions with at least one message on a day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: NaiveDate,
    pub sessions: u64,
}

impl Analytics {
    /// Sums the rollup rows of `since..until` (whole buckets of `bucket`).
    pub(crate) fn from_rollup(
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket: Bucket,
        rows: &[RollupRow],
    ) -> Self {
        let first_hour = hour_of(since);
        let step = bucket.hours();
        let buckets = usize::try_from((hour_of(until) - first_hour) / step).unwrap_or_default();
        let mut series = vec![RollupRow::empty(0, ""); buckets];
        let mut plugins: BTreeMap<&str, RollupRow> = BTreeMap::new();
        let mut all = RollupRow::empty(0, "");
        for row in rows {
            let slot = usize::try_from((row.hour - first_hour) / step).ok();
            if let Some(point) = slot.and_then(|i| series.get_mut(i)) {
                point.add(row);
            }
            plugins
                .entry(&row.plugin)
                .or_insert_with(|| RollupRow::empty(0, &row.plugin))
                .add(row);
            all.add(row);
        }
        let mut plugins: Vec<PluginStats> = plugins
            .into_values()
            .map(|sum| PluginStats {
                error_rate: sum.errors as f64 / sum.calls.max(1) as f64,
                p50_ms: sum.histogram.percentile(50.0).unwrap_or_default(),
                p95_ms: sum.histogram.percentile(95.0).unwrap_or_default(),
                p99_ms: sum.histogram.percentile(99.0).unwrap_or_default(),
                calls: sum.calls,
                errors: sum.errors,
                plugin: sum.plugin,
            })
            .collect();
        plugins.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.plugin.cmp(&b.plugin)));
        let series = series
            .into_iter()
            .enumerate()
            .map(|(i, sum)| SeriesPoint {
                start: since + TimeDelta::hours(step * i as i64),
                calls: sum.calls,
                errors: sum.errors,
                p50_ms: sum.histogram.percentile(50.0),
                p95_ms: sum.histogram.percentile(95.0),
                p99_ms: sum.histogram.percentile(99.0),
            })
            .collect();
        let sources = ExecutionSource::ALL
            .into_iter()
            .map(|source| SourceCalls {
                source,
                calls: all.sources[source.index()],
            })
            .collect();
        Self {
            since,
            until,
            bucket,
            totals: CallTotals {
                calls: all.calls,
                errors: all.errors,
            },
            plugins,
            series,
            sources,
        }
    }
}
