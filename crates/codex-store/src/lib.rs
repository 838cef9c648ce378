//! Sessions and their append-only event log (SQLite, PostgreSQL).
//!
//! Everything that happens in a chat session is an [`Event`] in that session's log: messages,
//! plugin executions, tool calls and results, resets, errors. Events are numbered 1, 2, 3, ...
//! per session without gaps, never changed, and only removed by purging the whole session.
//!
//! [`connect`] picks the backend from the URL and answers an `Arc<dyn EventStore>`. Writes go
//! through one group-commit writer per store: an `append` resolves once its events are
//! committed, and concurrent appends share commits.
//!
//! The store knows nothing of HTTP or of plugins' internals.

/// `SELECT` of every event column followed by the given SQL text, as one static string.
macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT session_id, seq, id, kind, ts, payload FROM events ",
            $rest
        )
    };
}

mod analytics;
mod backend;
pub mod bus;
mod dialect;
mod error;
mod event;
#[doc(hidden)]
pub mod fuzzing;
mod histogram;
mod keys;
mod owners;
mod postgres;
mod query;
mod reader;
mod rollup;
mod settings;
mod sqlite;
mod store;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod test_support;
mod writer;

use std::sync::Arc;

pub use analytics::{Analytics, CallTotals, DayCount, PluginStats, SeriesPoint, SourceCalls};
pub use bus::{Notification, Subscription};
pub use error::{Result, StoreError};
pub use event::{
    ApprovalPayload, Event, EventKind, EventRef, ExecutionSource, MAX_SESSION_ID_LEN, Message,
    MessagePayload, NewEvent, PluginExecution, PluginLog, Role, validate_session_id,
};
pub use histogram::DurationHistogram;
pub use keys::{
    ApiKeyRecord, IssuedKey, KEY_PREFIX, KEYS_CHANNEL, KeyHash, KeyRole, NewApiKey, generate_secret,
};
pub use query::{
    AnalyticsQuery, Bucket, Cursor, CursorPage, ExecutionQuery, MAX_SERIES_POINTS, SessionQuery,
};
pub use settings::{PLUGIN_SETTINGS_CHANNEL, PluginSetting};
pub use store::{
    AppendIntent, BackendKind, CommitStats, Counts, EventStore, MAX_PAGE_SIZE, Page,
    SessionSummary, SqliteDurability, StoreOptions,
};

/// The database used when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://codexcontinue.db";

/// Opens the store at `url` (`sqlite://<path>`, created if missing, or `postgres://...`) and
/// applies any pending migration.
pub async fn connect(url: &str, options: StoreOptions) -> Result<Arc<dyn EventStore>> {
    Ok(match BackendKind::from_url(url)? {
        BackendKind::Sqlite => Arc::new(sqlite::connect(url, &options).await?),
        BackendKind::Postgres => Arc::new(postgres::connect(url, &options).await?),
    })
}

/// Applies pending migrations to the database at `url` and returns (`codexcontinue migrate`).
pub async fn migrate(url: &str) -> Result<()> {
    match BackendKind::from_url(url)? {
        BackendKind::Sqlite => sqlite::migrate(url, None).await,
        BackendKind::Postgres => postgres::migrate(url, None).await,
    }
}

/// Applies the migrations up to `version` and no further, leaving the database as an older
/// build did, to test what later migrations make of its data (feature `test-support`).
#[cfg(feature = "test-support")]
pub async fn migrate_to(url: &str, version: i64) -> Result<()> {
    match BackendKind::from_url(url)? {
        BackendKind::Sqlite => sqlite::migrate(url, Some(version)).await,
        BackendKind::Postgres => postgres::migrate(url, Some(version)).await,
    }
}
