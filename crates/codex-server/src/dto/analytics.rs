//! Wire types of `/api/analytics` and of the original frontend's `/analytics`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use codex_store::{Analytics, Bucket, PluginStats, SeriesPoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/analytics`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// RFC 3339; defaults to 24 hours before `until`. Widened down to a bucket boundary.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; defaults to now. Widened up to a bucket boundary.
    pub until: Option<DateTime<Utc>>,
    /// `hour` (default) or `day` (UTC).
    #[param(inline)]
    pub bucket: Option<BucketParam>,
    /// Only the calls this key asked for (a key's name), counted from the execution log. A
    /// user key always sees only its own calls.
    #[param(min_length = 1, max_length = 64)]
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketParam {
    #[default]
    Hour,
    Day,
}

impl From<BucketParam> for Bucket {
    fn from(bucket: BucketParam) -> Self {
        match bucket {
            BucketParam::Hour => Bucket::Hour,
            BucketParam::Day => Bucket::Day,
        }
    }
}

impl From<Bucket> for BucketParam {
    fn from(bucket: Bucket) -> Self {
        match bucket {
            Bucket::Hour => BucketParam::Hour,
            Bucket::Day => BucketParam::Day,
        }
    }
}

/// Plugin calls over a window, per plugin, per bucket and per source.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsResponse {
    /// The window counted, widened to whole buckets; `until` is exclusive.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket: BucketParam,
    pub totals: TotalsView,
    /// Every plugin called in the window, most called first.
    pub plugins: Vec<PluginStatsView>,
    /// Every bucket of the window, oldest first, empty ones included.
    pub series: Vec<SeriesPointView>,
    /// Calls per source (`api`, `cli`, `chat`, `mcp`), every source listed.
    pub sources: Vec<SourceCallsView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsView {
    pub calls: u64,
    /// Calls whose status was not `ok`.
    pub errors: u64,
}

/// One plugin over the window. Durations come from a log-scale histogram: exact below 4 ms,
/// within a quarter of the value above.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginStatsView {
    pub plugin: String,
    pub calls: u64,
    pub errors: u64,
    /// `errors / calls`, from 0 to 1.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl From<PluginStats> for PluginStatsView {
    fn from(s: PluginStats) -> Self {
        PluginStatsView {
            plugin: s.plugin,
            calls: s.calls,
            errors: s.errors,
            error_rate: s.error_rate,
            p50_ms: s.p50_ms,
            p95_ms: s.p95_ms,
            p99_ms: s.p99_ms,
        }
    }
}

/// One bucket, all plugins together.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPointView {
    pub start: DateTime<Utc>,
    pub calls: u64,
    pub errors: u64,
    /// `null` for a bucket without calls.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl From<SeriesPoint> for SeriesPointView {
    fn from(p: SeriesPoint) -> Self {
        SeriesPointView {
            start: p.start,
            calls: p.calls,
            errors: p.errors,
            p50_ms: p.p50_ms,
            p95_ms: p.p95_ms,
            p99_ms: p.p99_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceCallsView {
    /// `api`, `cli`, `chat` or `mcp`.
    pub source: String,
    pub calls: u64,
}

impl From<Analytics> for AnalyticsResponse {
    fn from(a: Analytics) -> Self {
        AnalyticsResponse {
            since: a.since,
            until: a.until,
            bucket: a.bucket.into(),
            totals: TotalsView {
                calls: a.totals.calls,
                errors: a.totals.errors,
            },
            plugins: a.plugins.into_iter().map(Into::into).collect(),
            series: a.series.into_iter().map(Into::into).collect(),
            sources: a
                .sources
                .into_iter()
                .map(|s| SourceCallsView {
                    source: s.source.as_str().to_owned(),
                    calls: s.calls,
                })
                .collect(),
        }
    }
}

/// `GET /analytics`: the original frontend's analytics page.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// Today and the days before it, 1 to 366 (default 7).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
}

/// The original frontend's analytics: what its page reads, from the event store.
#[derive(Debug, Serialize, ToSchema)]
pub struct OriginalAnalytics {
    pub days: u32,
    /// Per UTC day (`YYYY-MM-DD`, every day of the window): sessions with at least one message
    /// that day.
    pub daily_conversations: BTreeMap<String, u64>,
    /// Plugin calls in the window per plugin: every plugin loaded now (0 when unused), and any
    /// other that was called. The store keeps no record of which model answered, so this is
    /// the honest count it has of what did the work.
    pub model_usage: BTreeMap<String, u64>,
    /// The most recently active sessions, newest first.
    pub recent_conversations: Vec<RecentConversation>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecentConversation {
    pub session_id: String,
    /// The last activity, as the original page shows it.
    pub timestamp: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub message_count: u64,
    /// The first user message, cut to 100 characters.
    pub title: Option<String>,
}
