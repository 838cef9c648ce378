//! Stores under test: a SQLite file in a temporary folder, or a fresh PostgreSQL database.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use codex_store::test_support::TempPostgres;
use codex_store::{BackendKind, EventKind, EventStore, StoreOptions};
use uuid::Uuid;

pub struct TestStore {
    pub store: Arc<dyn EventStore>,
    pub url: String,
    _db: TestDb,
}

impl TestStore {
    pub async fn sqlite() -> Self {
        Self::open(TestDb::sqlite().await).await
    }

    pub async fn postgres() -> Self {
        Self::open(TestDb::postgres().await).await
    }

    async fn open(db: TestDb) -> Self {
        let store = codex_store::connect(&db.url, StoreOptions::default())
            .await
            .expect("open the store");
        assert_eq!(store.backend(), db.backend);
        Self {
            store,
            url: db.url.clone(),
            _db: db,
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

/// A database nobody opened yet: a SQLite file name in a temporary folder, or a fresh
/// PostgreSQL database.
pub struct TestDb {
    pub backend: BackendKind,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        Self {
            backend: BackendKind::Sqlite,
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
        Self {
            backend: BackendKind::Postgres,
            url,
            _dir: None,
        }
    }
}

/// An event as an older build stored it, written straight into a database left at the first
/// migration (`codex_store::migrate_to(url, FIRST_MIGRATION)`).
pub struct OldEvent {
    pub session_id: String,
    pub seq: i64,
    pub kind: EventKind,
    pub ts: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// The version of the first migration: the event log alone.
pub const FIRST_MIGRATION: i64 = 20261124000001;

/// A session row of the first schema.
struct OldSession<'a> {
    id: &'a str,
    created_at: DateTime<Utc>,
    last_activity: DateTime<Utc>,
    messages: i64,
    last_seq: i64,
}

/// Writes `events` (each session's in order, numbered from 1) as the first schema holds them.
pub async fn write_old_events(db: &TestDb, events: &[OldEvent]) {
    let mut sessions: Vec<OldSession<'_>> = Vec::new();
    for event in events {
        let messages = i64::from(event.kind == EventKind::Message);
        match sessions.iter_mut().find(|s| s.id == event.session_id) {
            Some(s) => {
                s.last_activity = s.last_activity.max(event.ts);
                s.messages += messages;
                s.last_seq = s.last_seq.max(event.seq);
            }
            None => sessions.push(OldSession {
                id: &event.session_id,
                created_at: event.ts,
                last_activity: event.ts,
                messages,
                last_seq: event.seq,
            }),
        }
    }
    match db.backend {
        BackendKind::Sqlite => {
            let text = |ts: DateTime<Utc>| ts.to_rfc3339_opts(SecondsFormat::Micros, true);
            let pool = sqlx::SqlitePool::connect(&db.url)
                .await
                .expect("open sqlite");
            for s in &sessions {
                sqlx::query("INSERT INTO sessions VALUES ($1, $2, $3, $4, $5)")
                    .bind(s.id)
                    .bind(text(s.created_at))
                    .bind(text(s.last_activity))
                    .bind(s.messages)
                    .bind(s.last_seq)
                    .execute(&pool)
                    .await
                    .expect("old session");
            }
            for e in events {
                sqlx::query("INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&e.session_id)
                    .bind(e.seq)
                    .bind(Uuid::now_v7().to_string())
                    .bind(e.kind.as_str())
                    .bind(text(e.ts))
                    .bind(e.payload.to_string())
                    .execute(&pool)
                    .await
                    .expect("old event");
            }
            pool.close().await;
        }
        BackendKind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open postgres");
            for s in &sessions {
                sqlx::query("INSERT INTO sessions VALUES ($1, $2, $3, $4, $5)")
                    .bind(s.id)
                    .bind(s.created_at)
                    .bind(s.last_activity)
                    .bind(s.messages)
                    .bind(s.last_seq)
                    .execute(&pool)
                    .await
                    .expect("old session");
            }
            for e in events {
                sqlx::query("INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6::jsonb)")
                    .bind(&e.session_id)
                    .bind(e.seq)
                    .bind(Uuid::now_v7())
                    .bind(e.kind.as_str())
                    .bind(e.ts)
                    .bind(e.payload.to_string())
                    .execute(&pool)
                    .await
                    .expect("old event");
            }
            pool.close().await;
        }
    }
}
