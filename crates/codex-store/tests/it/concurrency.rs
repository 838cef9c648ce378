//! Concurrent appends: gapless numbering, group commit, several writers on one database.

use std::sync::Arc;

use codex_store::{EventRef, EventStore, NewEvent, Role};
use tokio::task::JoinSet;

use crate::harness::reopen;

both_backends!(
    sixty_four_sessions_in_parallel_stay_gapless,
    one_session_from_sixty_four_tasks_stays_gapless,
    concurrent_appends_share_commits,
);

both_backends_with_url!(two_stores_on_one_database_keep_one_session_gapless);

/// Runs `tasks` tasks, each appending `per_task` single-message events to the session that
/// `session_of(task)` names, one after the other; answers each task's refs.
async fn hammer(
    store: &Arc<dyn EventStore>,
    tasks: usize,
    per_task: usize,
    session_of: impl Fn(usize) -> String,
) -> Vec<Vec<EventRef>> {
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let store = Arc::clone(store);
        let session = session_of(task);
        set.spawn(async move {
            let mut refs = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let event = NewEvent::message(session.clone(), Role::User, format!("{task}:{i}"));
                refs.push(store.append_one(event).await.expect("append"));
            }
            refs
        });
    }
    set.join_all().await
}

async fn assert_gapless(store: &Arc<dyn EventStore>, session: &str, expected: usize) {
    let page = store.timeline(session, None, expected + 10).await.unwrap();
    let seqs: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=expected as i64).collect::<Vec<_>>(),
        "session {session}"
    );
}

async fn sixty_four_sessions_in_parallel_stay_gapless(store: Arc<dyn EventStore>) {
    let refs = hammer(&store, 64, 20, |task| format!("session-{task}")).await;
    for (task, refs) in refs.iter().enumerate() {
        let seqs: Vec<i64> = refs.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>(), "task {task}");
    }
    for task in 0..64 {
        assert_gapless(&store, &format!("session-{task}"), 20).await;
    }
    assert_eq!(store.sessions().await.unwrap().len(), 64);
}

async fn one_session_from_sixty_four_tasks_stays_gapless(store: Arc<dyn EventStore>) {
    let refs = hammer(&store, 64, 10, |_| "shared".to_owned()).await;
    for task_refs in &refs {
        // One task's appends are sequential, so its numbers increase.
        assert!(task_refs.windows(2).all(|w| w[0].seq < w[1].seq));
    }
    let mut all: Vec<i64> = refs.iter().flatten().map(|r| r.seq).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=640).collect::<Vec<_>>());
    assert_gapless(&store, "shared", 640).await;
    assert_eq!(store.counts("shared", 10).await.unwrap().full, 640);
}

async fn concurrent_appends_share_commits(store: Arc<dyn EventStore>) {
    let before = store.stats();
    hammer(&store, 64, 10, |task| format!("s{}", task % 8)).await;
    let after = store.stats();
    let requests = after.requests - before.requests;
    let commits = after.commits - before.commits;
    assert_eq!(requests, 640);
    assert_eq!(after.events - before.events, 640);
    // 64 callers waiting on one writer: while one commit syncs, the others queue up and the
    // next commit takes them all.
    assert!(
        commits < requests / 2,
        "{commits} commits for {requests} appends"
    );
}

async fn two_stores_on_one_database_keep_one_session_gapless(
    first: Arc<dyn EventStore>,
    url: String,
) {
    // A second store has its own writer and connections, as a second server process would.
    let second = reopen(&url).await;
    let (a, b) = tokio::join!(
        hammer(&first, 32, 10, |task| if task % 2 == 0 {
            "shared".into()
        } else {
            format!("one-{task}")
        }),
        hammer(&second, 32, 10, |task| if task % 2 == 0 {
            "shared".into()
        } else {
            format!("two-{task}")
        }),
    );
    let mut shared: Vec<i64> = a
        .iter()
        .chain(&b)
        .flatten()
        .filter(|r| r.session_id == "shared")
        .map(|r| r.seq)
        .collect();
    shared.sort_unstable();
    assert_eq!(shared, (1..=320).collect::<Vec<_>>());
    // Written through one store, read through the other.
    assert_gapless(&second, "shared", 320).await;
    assert_gapless(&first, "one-1", 10).await;
    assert_gapless(&second, "one-1", 10).await;
    assert_eq!(first.sessions().await.unwrap().len(), 33);
    second.close().await;
}

/// SQLite's commit delay: while enough appends are announced (plugin calls still running),
/// the writer holds a commit back for them; with none announced it commits at once.
#[tokio::test]
async fn sqlite_waits_for_announced_appends_and_only_for_them() {
    use std::time::Duration;

    use codex_store::StoreOptions;

    use crate::harness::TestDb;

    // A delay far longer than any wait below: a commit that happens inside these bounds
    // happened because the wait ended, not because the delay ran out.
    let db = TestDb::sqlite().await;
    let options = StoreOptions::default()
        .with_commit_delay(Duration::from_secs(60))
        .with_commit_siblings(2);
    let store = codex_store::connect(&db.url, options).await.unwrap();
    let message = |text: &str| NewEvent::message("s", Role::User, text);

    // Nothing announced: the commit does not wait.
    tokio::time::timeout(Duration::from_secs(20), store.append_one(message("alone")))
        .await
        .expect("an append with nothing announced commits at once")
        .unwrap();

    // One announced is below the siblings: no wait either.
    let first = store.announce_append();
    tokio::time::timeout(Duration::from_secs(20), store.append_one(message("one")))
        .await
        .expect("an append with one call announced commits at once")
        .unwrap();

    // Two announced: the append is held back while they run...
    let second = store.announce_append();
    let before = store.stats();
    let mut held = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.append_one(message("held")).await }
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut held)
            .await
            .is_err(),
        "the append waits while two calls are announced"
    );
    // ... and committed as soon as one of them ends.
    drop(first);
    let landed = tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the wait ends when the announced calls do")
        .unwrap()
        .unwrap();
    assert_eq!(landed.seq, 3);
    assert_eq!(store.stats().commits - before.commits, 1);
    drop(second);
    store.close().await;
}
