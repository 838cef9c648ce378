//! Stores under test: a SQLite file in a temporary folder, or a fresh PostgreSQL database.

use std::sync::Arc;

use codex_store::test_support::TempPostgres;
use codex_store::{BackendKind, EventStore, StoreOptions};

pub struct TestStore {
    pub store: Arc<dyn EventStore>,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = codex_store::connect(&url, StoreOptions::default())
            .await
            .expect("open sqlite store");
        assert_eq!(store.backend(), BackendKind::Sqlite);
        Self {
            store,
            url,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let cluster = tokio::task::spawn_blocking(TempPostgres::shared)
            .await
            .expect("cluster start-up task")
            .unwrap_or_else(|err| panic!("throwaway PostgreSQL: {err}"));
        let url = cluster
            .fresh_database()
            .await
            .expect("create a test database");
        let store = codex_store::connect(&url, StoreOptions::default())
            .await
            .expect("open postgres store");
        assert_eq!(store.backend(), BackendKind::Postgres);
        Self {
            store,
            url,
            _dir: None,
        }
    }

    /// Closes the store before its folder or database goes away.
    pub async fn finish(self) {
        self.store.close().await;
    }
}

/// Opens another store on the same database, as a second server process would.
pub async fn reopen(url: &str) -> Arc<dyn EventStore> {
    codex_store::connect(url, StoreOptions::default())
        .await
        .expect("reopen store")
}
