//! The SQLite backend: one file in WAL mode, one writer connection fed by group commit, and a
//! separate pool of readers that never wait for it.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::backend::{Backend, Bus};
use crate::error::{Result, StoreError};
use crate::keys::Keys;
use crate::owners::Owners;
use crate::reader::Reader;
use crate::settings::Settings;
use crate::store::{BackendKind, SqliteDurability, StoreOptions, redact};
use crate::writer::WriterHandle;

mod bus;
mod checkpoint;
mod derived;
mod dialect;
mod writer;
pub(crate) use bus::SqliteBus;
pub(crate) use dialect::SqliteDialect;
use writer::SqliteWriter;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store on one SQLite file.
pub(crate) type SqliteStore = Backend<SqliteDialect>;

fn connect_options(url: &str, options: &StoreOptions) -> Result<SqliteConnectOptions> {
    let parsed =
        SqliteConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl(redact(url)))?;
    // Readers and the writer must see one database; a private in-memory one per connection
    // would silently lose every write.
    if parsed.get_filename().as_os_str().is_empty()
        || parsed.get_filename().as_os_str() == ":memory:"
        || url.contains(":memory:")
        || url.contains("mode=memory")
    {
        return Err(StoreError::UnsupportedUrl(format!(
            "{url} (in-memory SQLite is not supported: use a file)"
        )));
    }
    let synchronous = match options.sqlite_durability {
        SqliteDurability::Full => SqliteSynchronous::Full,
        SqliteDurability::Normal => SqliteSynchronous::Normal,
    };
    Ok(parsed
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout))
}

/// Applies the embedded migrations to the database at `url`, up to `version` if given.
pub(crate) async fn migrate(url: &str, version: Option<i64>) -> Result<()> {
    let options = connect_options(url, &StoreOptions::default())?;
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    match version {
        Some(version) => MIGRATOR.run_to(version, &mut conn).await?,
        None => MIGRATOR.run(&mut conn).await?,
    }
    conn.close().await?;
    Ok(())
}

/// Opens (creating if missing) and migrates the database at `url`.
pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<SqliteStore> {
    let connect = connect_options(url, options)?;
    let mut migrations = sqlx::SqliteConnection::connect_with(&connect).await?;
    MIGRATOR.run(&mut migrations).await?;
    migrations.close().await?;
    // One connection of its own, on a thread of its own, serialises this process' writes
    // (other processes wait on SQLite's lock for up to the busy timeout).
    let writes = SqliteWriter::open(
        connect.get_filename(),
        options.sqlite_durability,
        options.busy_timeout,
    )?;
    let readers = SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.busy_timeout)
        .connect_with(connect)
        .await?;
    let writer = WriterHandle::spawn_on_thread(
        "codex-sqlite-writer",
        writes,
        options.max_batch,
        options.queue_capacity,
        (options.commit_delay, options.commit_siblings),
    )?;
    tracing::info!(url = %redact(url), "sqlite store ready");
    Ok(Backend::new(
        BackendKind::Sqlite,
        Reader::new(readers.clone()),
        writer,
        Settings::new(readers.clone()),
        Keys::new(readers.clone()),
        Owners::new(readers.clone()),
        Bus::Sqlite(SqliteBus::new(readers)),
    ))
}

/// Timestamps are stored as fixed-width RFC 3339 text in UTC, so text order is time order.
pub(crate) fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|ts| ts.with_timezone(&Utc))
        .map_err(|err| StoreError::Corrupt(format!("timestamp {text:?}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::commit_timestamp;

    #[test]
    fn timestamps_round_trip_and_sort_as_text() {
        let early = commit_timestamp();
        let late = early + chrono::Duration::milliseconds(1500);
        assert_eq!(parse_ts(&format_ts(early)).ok(), Some(early));
        assert!(format_ts(early) < format_ts(late));
        assert_eq!(format_ts(early).len(), format_ts(late).len());
    }

    #[test]
    fn in_memory_databases_are_refused() {
        for url in ["sqlite::memory:", "sqlite://file:x?mode=memory"] {
            assert!(matches!(
                connect_options(url, &StoreOptions::default()),
                Err(StoreError::UnsupportedUrl(_))
            ));
        }
    }
}
