//! The store's error type, with variants a caller can match on.

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend this crate knows.
    #[error("unsupported database url `{0}`: expected `sqlite://<path>` or `postgres://...`")]
    UnsupportedUrl(String),
    /// A new event was refused before anything was written (bad session id, for instance).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// A read was asked something it cannot answer (a cursor it did not make, a backwards
    /// window, ...); nothing was read.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A write would clash with what is stored (a key name in use, for instance); nothing
    /// was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database answered with an error, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite's writer connection answered with an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store could not start a thread or runtime of its own.
    #[error("{0}")]
    Io(String),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back (it does not match the schema this build expects).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The store was closed, or its writer task stopped, before the write was committed.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// Whether the store, or its pool of connections, was closed: the process is stopping.
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            StoreError::Closed | StoreError::Database(sqlx::Error::PoolClosed)
        )
    }

    /// The stable code callers report this error with: a refused event is the caller's
    /// fault, an unreachable or closed database is unavailability, anything else an error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::InvalidEvent(_) | StoreError::InvalidQuery(_) => "invalid_request",
            StoreError::Conflict(_) => "conflict",
            StoreError::Database(_) | StoreError::Sqlite(_) | StoreError::Closed => {
                "store_unavailable"
            }
            _ => "store_error",
        }
    }
}

/// The store's `Result`.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
