//! The PostgreSQL backend: group commit per process, and per-session counters that stay gapless
//! when several server processes write one session.
//!
//! Each batch upserts its sessions' counter rows (`UPDATE ... RETURNING` through
//! `ON CONFLICT`), which row-locks them until commit; another process appending to the same
//! session waits on that lock and then continues from the committed counter. Rows are locked in
//! session id order, so two batches cannot deadlock; a deadlock or serialisation failure that
//! happens anyway is retried.

mod bus;
mod derived;
mod dialect;
pub(crate) mod nul;
mod writer;

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::backend::{Backend, Bus};
use crate::error::{Result, StoreError};
use crate::keys::Keys;
use crate::owners::Owners;
use crate::reader::Reader;
use crate::settings::Settings;
use crate::store::{BackendKind, StoreOptions, redact};
use crate::writer::WriterHandle;
pub(crate) use bus::PgBus;
pub(crate) use dialect::PostgresDialect;
use writer::PostgresWriter;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A store on a PostgreSQL database, shareable by several servers.
pub(crate) type PostgresStore = Backend<PostgresDialect>;

fn connect_options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl(redact(url)))
}

/// Applies the embedded migrations to the database at `url`, up to `version` if given.
pub(crate) async fn migrate(url: &str, version: Option<i64>) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect_with(&connect_options(url)?).await?;
    match version {
        Some(version) => MIGRATOR.run_to(version, &mut conn).await?,
        None => MIGRATOR.run(&mut conn).await?,
    }
    conn.close().await?;
    Ok(())
}

/// Connects to and migrates the database at `url`.
pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<PostgresStore> {
    let connect = connect_options(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.busy_timeout)
        .connect_with(connect.clone())
        .await?;
    // sqlx serialises concurrent migrators with an advisory lock, so servers starting
    // together are safe.
    MIGRATOR.run(&pool).await?;
    let writer = WriterHandle::spawn(
        PostgresWriter::new(pool.clone()),
        options.max_batch,
        options.queue_capacity,
    );
    tracing::info!(url = %redact(url), "postgres store ready");
    Ok(Backend::new(
        BackendKind::Postgres,
        Reader::new(pool.clone()),
        writer,
        Settings::new(pool.clone()),
        Keys::new(pool.clone()),
        Owners::new(pool.clone()),
        Bus::Postgres(PgBus::new(pool, connect)),
    ))
}
