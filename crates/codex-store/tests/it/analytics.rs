//! Analytics from the hourly rollup: exact sums over windows, after concurrent appends, across
//! two stores on one database, after a purge and after the migration's backfill.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SubsecRound, TimeDelta, Utc};
use codex_store::{
    AnalyticsQuery, Bucket, DayCount, EventKind, EventStore, ExecutionQuery, NewEvent, Role,
    StoreError, StoreOptions,
};
use serde_json::json;
use tokio::task::JoinSet;

use crate::calls::{Call, Landed, expected, made_up};
use crate::harness::{FIRST_MIGRATION, OldEvent, TestDb, reopen, write_old_events};

both_backends!(
    the_rollup_stays_exact_under_concurrent_appends,
    a_purge_takes_its_calls_out_of_the_analytics,
    empty_and_oversized_windows,
    one_keys_calls_are_counted_and_listed_from_the_log,
);

both_backends_with_url!(two_stores_on_one_database_keep_one_rollup);

both_backends_unopened!(old_calls_are_backfilled_and_summed_over_hours_and_days);

/// The analytics of `query` are exactly what `landed` sums to.
async fn check(store: &Arc<dyn EventStore>, query: AnalyticsQuery, landed: &[Landed]) {
    let got = store.analytics(&query).await.unwrap();
    assert_eq!(got, expected(landed, &query), "{query:?}");
}

/// The last day, in hours, around now.
fn today() -> AnalyticsQuery {
    let now = Utc::now();
    AnalyticsQuery::new(now - TimeDelta::hours(24), now, Bucket::Hour)
}

/// `tasks` tasks each appending `per_task` made-up calls, one at a time.
async fn hammer(store: &Arc<dyn EventStore>, tasks: u64, per_task: usize) -> Vec<Landed> {
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let store = Arc::clone(store);
        set.spawn(async move {
            let sessions = [format!("t{task}"), format!("shared{}", task % 3)];
            let names: Vec<&str> = sessions.iter().map(String::as_str).collect();
            let mut landed = Vec::new();
            for call in made_up(per_task, task, &names) {
                let at = store.append_one(call.event()).await.expect("append");
                landed.push(Landed::live(call, &at));
            }
            landed
        });
    }
    set.join_all().await.into_iter().flatten().collect()
}

async fn the_rollup_stays_exact_under_concurrent_appends(store: Arc<dyn EventStore>) {
    let landed = hammer(&store, 32, 16).await;
    assert_eq!(landed.len(), 512);
    check(&store, today(), &landed).await;
    let now = Utc::now();
    check(
        &store,
        AnalyticsQuery::new(now - TimeDelta::days(3), now, Bucket::Day),
        &landed,
    )
    .await;
}

async fn two_stores_on_one_database_keep_one_rollup(first: Arc<dyn EventStore>, url: String) {
    let second = reopen(&url).await;
    let (a, b) = tokio::join!(hammer(&first, 16, 16), hammer(&second, 16, 16));
    let landed: Vec<Landed> = a.into_iter().chain(b).collect();
    check(&first, today(), &landed).await;
    check(&second, today(), &landed).await;
    second.close().await;
}

async fn a_purge_takes_its_calls_out_of_the_analytics(store: Arc<dyn EventStore>) {
    let mut landed = Vec::new();
    for call in made_up(40, 3, &["keep", "purge"]).into_iter().chain([
        // A plugin only the purged session called.
        Call::new(
            "purge",
            "only-here",
            "ok",
            codex_store::ExecutionSource::Cli,
            9,
        ),
    ]) {
        let at = store.append_one(call.event()).await.unwrap();
        landed.push(Landed::live(call, &at));
    }
    for session in ["keep", "purge"] {
        store
            .append_one(NewEvent::message(session, Role::User, "hello"))
            .await
            .unwrap();
    }
    check(&store, today(), &landed).await;
    let before = store
        .executions(&codex_store::ExecutionQuery::new(1000))
        .await;
    assert_eq!(before.unwrap().items.len(), landed.len());

    store.delete_session("purge").await.unwrap();
    landed.retain(|l| l.call.session_id != "purge");
    let after = store.analytics(&today()).await.unwrap();
    assert!(after.plugins.iter().all(|p| p.plugin != "only-here"));
    check(&store, today(), &landed).await;
    let listed = store
        .executions(&codex_store::ExecutionQuery::new(1000))
        .await
        .unwrap();
    assert!(listed.items.iter().all(|l| l.session_id == "keep"));
    assert_eq!(listed.items.len(), landed.len());
    let now = Utc::now();
    let days = store
        .conversations_per_day(now - TimeDelta::hours(1), now, None)
        .await
        .unwrap();
    assert_eq!(days.iter().map(|d| d.sessions).sum::<u64>(), 1);

    // The purged session starts afresh and counts again.
    let call = Call::new(
        "purge",
        "only-here",
        "timeout",
        codex_store::ExecutionSource::Mcp,
        2,
    );
    let at = store.append_one(call.event()).await.unwrap();
    landed.push(Landed::live(call, &at));
    check(&store, today(), &landed).await;
    // Purging everything leaves nothing behind.
    store.delete_session("purge").await.unwrap();
    store.delete_session("keep").await.unwrap();
    let empty = store.analytics(&today()).await.unwrap();
    assert_eq!((empty.totals.calls, empty.plugins.len()), (0, 0));
}

async fn empty_and_oversized_windows(store: Arc<dyn EventStore>) {
    let quiet = store.analytics(&today()).await.unwrap();
    assert_eq!(quiet.totals.calls, 0);
    assert!(quiet.plugins.is_empty());
    assert!(quiet.series.len() == 24 || quiet.series.len() == 25);
    assert!(
        quiet
            .series
            .iter()
            .all(|p| p.calls == 0 && p.p50_ms.is_none())
    );
    assert!(quiet.sources.iter().all(|s| s.calls == 0));
    assert_eq!(quiet.sources.len(), 4);

    let now = Utc::now();
    for query in [
        AnalyticsQuery::new(now, now, Bucket::Hour),
        AnalyticsQuery::new(now, now - TimeDelta::hours(1), Bucket::Day),
        AnalyticsQuery::new(now - TimeDelta::days(5000), now, Bucket::Hour),
    ] {
        assert!(
            matches!(
                store.analytics(&query).await,
                Err(StoreError::InvalidQuery(_))
            ),
            "{query:?}"
        );
    }
    assert!(matches!(
        store.conversations_per_day(now, now, None).await,
        Err(StoreError::InvalidQuery(_))
    ));
}

/// Calls and messages an older build stored over three days; the migration backfills the
/// rollup and the days sessions were active, and live calls add to them.
async fn old_calls_are_backfilled_and_summed_over_hours_and_days(db: TestDb) {
    codex_store::migrate_to(&db.url, FIRST_MIGRATION)
        .await
        .unwrap();
    let now = Utc::now().trunc_subsecs(6);
    let start = now - TimeDelta::hours(60);
    let mut old = Vec::new();
    let mut landed = Vec::new();
    let mut seq = std::collections::HashMap::new();
    let mut next = |session: &str| {
        let n = seq.entry(session.to_owned()).or_insert(0_i64);
        *n += 1;
        *n
    };
    for (i, call) in made_up(300, 11, &["a", "b", "c"]).into_iter().enumerate() {
        let ts: DateTime<Utc> = start + TimeDelta::minutes(i as i64 * 11);
        let seq = next(&call.session_id);
        old.push(call.old_event(seq, ts));
        landed.push(Landed { call, seq, ts });
    }
    // Session `b` talked on the first day only, `c` on every day.
    for (session, hours) in [("b", vec![1]), ("c", vec![2, 26, 50])] {
        for hour in hours {
            let ts = start + TimeDelta::hours(hour);
            old.push(OldEvent {
                session_id: session.to_owned(),
                seq: next(session),
                kind: EventKind::Message,
                ts,
                payload: json!({ "role": "user", "content": "hi" }),
            });
        }
    }
    // An execution whose payload this build would refuse is left out of the derived tables.
    old.push(OldEvent {
        session_id: "a".to_owned(),
        seq: next("a"),
        kind: EventKind::PluginExecution,
        ts: start,
        payload: json!({ "plugin": "broken" }),
    });
    write_old_events(&db, &old).await;

    let store = codex_store::connect(&db.url, StoreOptions::default())
        .await
        .unwrap();
    for call in made_up(20, 12, &["a", "d"]) {
        let at = store.append_one(call.event()).await.unwrap();
        landed.push(Landed::live(call, &at));
    }
    for query in [
        AnalyticsQuery::new(start, now, Bucket::Hour),
        AnalyticsQuery::new(start - TimeDelta::days(2), now, Bucket::Day),
        AnalyticsQuery::new(
            start + TimeDelta::minutes(90),
            now - TimeDelta::hours(7),
            Bucket::Hour,
        ),
        AnalyticsQuery::new(now - TimeDelta::minutes(5), now, Bucket::Hour),
        AnalyticsQuery::new(
            start - TimeDelta::days(9),
            start - TimeDelta::days(8),
            Bucket::Day,
        ),
    ] {
        check(&store, query, &landed).await;
    }

    let days = store
        .conversations_per_day(start - TimeDelta::days(1), now, None)
        .await
        .unwrap();
    let first = (start - TimeDelta::days(1)).date_naive();
    let want: Vec<DayCount> = (0..)
        .map(|d| first + TimeDelta::days(d))
        .take_while(|day: &NaiveDate| *day <= now.date_naive())
        .map(|day| DayCount {
            day,
            sessions: ["b", "c"]
                .iter()
                .filter(|s| {
                    let hours: &[i64] = if **s == "b" { &[1] } else { &[2, 26, 50] };
                    hours
                        .iter()
                        .any(|h| (start + TimeDelta::hours(*h)).date_naive() == day)
                })
                .count() as u64,
        })
        .collect();
    assert_eq!(days, want);
    store.close().await;
}

/// One key's analytics are summed from the execution log (the rollup holds every key's calls
/// together) and equal the sums of that key's calls alone; the log filters by key too, in one
/// session and across sessions.
async fn one_keys_calls_are_counted_and_listed_from_the_log(store: Arc<dyn EventStore>) {
    let mut alices = Vec::new();
    let mut everyone = Vec::new();
    for (i, call) in made_up(60, 7, &["k1", "k2"]).into_iter().enumerate() {
        let actor = if i % 3 == 0 { "alice" } else { "bob" };
        let at = store
            .append_one(call.event().with_actor(Some(actor)))
            .await
            .unwrap();
        let landed = Landed::live(call, &at);
        if actor == "alice" {
            alices.push(landed.clone());
        }
        everyone.push(landed);
    }
    assert_eq!(alices.len(), 20);
    check(&store, today(), &everyone).await;
    check(
        &store,
        today().with_actor(Some("alice".to_owned())),
        &alices,
    )
    .await;
    let day = AnalyticsQuery::new(Utc::now() - TimeDelta::days(2), Utc::now(), Bucket::Day);
    check(&store, day.with_actor(Some("alice".to_owned())), &alices).await;
    check(&store, today().with_actor(Some("nobody".to_owned())), &[]).await;

    let listed = store
        .executions(&ExecutionQuery::new(1000).with_actor(Some("alice".to_owned())))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 20);
    assert!(
        listed
            .items
            .iter()
            .all(|log| log.execution.actor.as_deref() == Some("alice"))
    );
    let in_k1 = store
        .executions(
            &ExecutionQuery::new(1000)
                .with_session("k1")
                .with_actor(Some("alice".to_owned())),
        )
        .await
        .unwrap();
    let expected_k1 = alices.iter().filter(|l| l.call.session_id == "k1").count();
    assert_eq!(in_k1.items.len(), expected_k1);
}
