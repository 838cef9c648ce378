//! Integration tests of the store: one suite, every behaviour run against SQLite and PostgreSQL.
//!
//! Each behaviour is an async function taking the store under test; `both_backends!` turns it
//! into a `sqlite::<name>` and a `postgres::<name>` test. PostgreSQL is a throwaway cluster
//! started once per test binary (see `codex_store::test_support`), each test on a fresh database.

/// Generates `sqlite::$name` and `postgres::$name` tests for `async fn $name(Arc<dyn EventStore>)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = crate::harness::TestStore::sqlite().await;
                    super::$name(test.store.clone()).await;
                    test.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = crate::harness::TestStore::postgres().await;
                    super::$name(test.store.clone()).await;
                    test.finish().await;
                }
            )*
        }
    };
}

/// Like `both_backends!` for `async fn $name(Arc<dyn EventStore>, url: String)`, for behaviours
/// that open more stores on the same database.
macro_rules! both_backends_with_url {
    ($($name:ident),* $(,)?) => {
        mod sqlite_url {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = crate::harness::TestStore::sqlite().await;
                    super::$name(test.store.clone(), test.url.clone()).await;
                    test.finish().await;
                }
            )*
        }
        mod postgres_url {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = crate::harness::TestStore::postgres().await;
                    super::$name(test.store.clone(), test.url.clone()).await;
                    test.finish().await;
                }
            )*
        }
    };
}

/// Like `both_backends!` for `async fn $name(TestDb)`, for behaviours that start from a
/// database no store has opened yet.
macro_rules! both_backends_unopened {
    ($($name:ident),* $(,)?) => {
        mod sqlite_unopened {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::harness::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres_unopened {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::harness::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

mod analytics;
mod append;
mod bus;
mod calls;
mod concurrency;
mod executions;
mod harness;
mod keys;
mod memory;
mod owners;
mod persistence;
mod sessions;
mod timeline;
