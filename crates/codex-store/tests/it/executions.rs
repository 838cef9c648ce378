//! The execution log across sessions: filters, newest first, cursor pages, hours skipped.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use codex_store::{
    Cursor, EventKind, EventStore, ExecutionQuery, ExecutionSource, NewEvent, Role, StoreError,
    StoreOptions,
};
use serde_json::json;

use crate::calls::{Call, Landed, made_up};
use crate::harness::{FIRST_MIGRATION, TestDb, write_old_events};

both_backends!(
    the_log_lists_executions_newest_first_through_every_filter,
    foreign_cursors_are_refused,
    a_payload_that_is_no_execution_is_refused,
);

both_backends_unopened!(old_executions_are_listed_and_empty_hours_skipped);

/// Appends `calls` one at a time, a message now and then between them, as sessions do.
async fn append_live(store: &Arc<dyn EventStore>, calls: Vec<Call>) -> Vec<Landed> {
    let mut landed = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        if i % 5 == 0 {
            store
                .append_one(NewEvent::message(&call.session_id, Role::User, "go"))
                .await
                .unwrap();
        }
        let at = store.append_one(call.event()).await.unwrap();
        landed.push(Landed::live(call, &at));
    }
    landed
}

/// Walks every page of `query` (the limit it has) and checks the log lists exactly what
/// `landed` holds that matches, in order, with the stored payloads.
async fn check(store: &Arc<dyn EventStore>, query: ExecutionQuery, landed: &[Landed]) {
    let mut want: Vec<&Landed> = landed
        .iter()
        .filter(|l| {
            let c = &l.call;
            query.plugin.as_ref().is_none_or(|p| *p == c.plugin)
                && query.status.as_ref().is_none_or(|s| *s == c.status)
                && query.source.is_none_or(|s| s == c.source)
                && query.session_id.as_ref().is_none_or(|s| *s == c.session_id)
                && query.since.is_none_or(|since| since <= l.ts)
                && query.until.is_none_or(|until| l.ts < until)
        })
        .collect();
    if query.session_id.is_some() {
        want.sort_by_key(|l| std::cmp::Reverse(l.seq));
    } else {
        want.sort_by(|a, b| {
            (b.ts, &b.call.session_id, b.seq).cmp(&(a.ts, &a.call.session_id, a.seq))
        });
    }
    let mut got = Vec::new();
    let mut query = query;
    loop {
        let page = store.executions(&query).await.unwrap();
        assert!(page.items.len() <= query.limit.max(1), "{query:?}");
        got.extend(page.items);
        match page.next_before {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    let got_keys: Vec<_> = got.iter().map(|l| (l.session_id.as_str(), l.seq)).collect();
    let want_keys: Vec<_> = want
        .iter()
        .map(|l| (l.call.session_id.as_str(), l.seq))
        .collect();
    assert_eq!(got_keys, want_keys, "{query:?}");
    for (log, l) in got.iter().zip(&want) {
        assert_eq!(log.execution, l.call.execution());
        assert_eq!(log.timestamp, l.ts);
    }
}

async fn the_log_lists_executions_newest_first_through_every_filter(store: Arc<dyn EventStore>) {
    let landed = append_live(&store, made_up(60, 7, &["s1", "s2", "s3", "s4"])).await;
    // Executions of one batch share a commit time; the log orders them by session and seq.
    let batch = vec![
        Call::new("s2", "echo", "ok", ExecutionSource::Cli, 1),
        Call::new("s1", "echo", "ok", ExecutionSource::Cli, 2),
        Call::new("s2", "shell", "denied", ExecutionSource::Chat, 0),
    ];
    let refs = store
        .append(batch.iter().map(Call::event).collect())
        .await
        .unwrap();
    let landed: Vec<Landed> = landed
        .into_iter()
        .chain(
            batch
                .into_iter()
                .zip(&refs)
                .map(|(c, r)| Landed::live(c, r)),
        )
        .collect();
    let middle = landed[20].ts;
    let late = landed[45].ts;
    for query in [
        ExecutionQuery::new(7),
        ExecutionQuery::new(100),
        ExecutionQuery::new(2).with_plugin("echo"),
        ExecutionQuery::new(3).with_plugin("llm"),
        ExecutionQuery::new(3).with_status("ok"),
        ExecutionQuery::new(3).with_status("timeout"),
        ExecutionQuery::new(3).with_status("denied"),
        ExecutionQuery::new(4).with_source(ExecutionSource::Mcp),
        ExecutionQuery::new(4).with_source(ExecutionSource::Cli),
        ExecutionQuery::new(4).with_session("s2"),
        ExecutionQuery::new(2)
            .with_session("s3")
            .with_plugin("echo")
            .with_status("ok"),
        ExecutionQuery::new(3)
            .with_plugin("calculator")
            .with_source(ExecutionSource::Api),
        ExecutionQuery::new(5).with_since(middle).with_until(late),
        ExecutionQuery::new(5)
            .with_since(middle)
            .with_plugin("shell")
            .with_session("s1"),
        ExecutionQuery::new(3).with_plugin("nothing-by-this-name"),
        ExecutionQuery::new(3).with_session("nobody"),
    ] {
        check(&store, query, &landed).await;
    }
}

async fn foreign_cursors_are_refused(store: Arc<dyn EventStore>) {
    store
        .append_one(Call::new("s", "echo", "ok", ExecutionSource::Api, 0).event())
        .await
        .unwrap();
    for cursor in ["", "nonsense", "x12", "s1.61"] {
        let query = ExecutionQuery::new(10).with_before(Some(Cursor::from(cursor.to_owned())));
        assert!(
            matches!(
                store.executions(&query).await,
                Err(StoreError::InvalidQuery(_))
            ),
            "{cursor:?}"
        );
    }
}

async fn a_payload_that_is_no_execution_is_refused(store: Arc<dyn EventStore>) {
    for payload in [
        json!({ "plugin": "echo" }),
        json!({ "plugin": "echo", "input": 1, "status": "ok", "duration_ms": 1, "source": "fax" }),
        json!({ "plugin": "echo", "input": 1, "status": "ok", "duration_ms": -1, "source": "api" }),
        json!({ "plugin": "echo", "status": "ok", "duration_ms": 1, "source": "api" }),
    ] {
        let event = NewEvent::new("s", EventKind::PluginExecution, payload.clone());
        assert!(
            matches!(
                store.append_one(event).await,
                Err(StoreError::InvalidEvent(_))
            ),
            "{payload}"
        );
    }
    assert!(store.sessions().await.unwrap().is_empty());
}

/// Executions an older build logged over ten hours; `rare` ran only nine hours ago and two
/// hours ago, so its pages skip the hours between.
async fn old_executions_are_listed_and_empty_hours_skipped(db: TestDb) {
    codex_store::migrate_to(&db.url, FIRST_MIGRATION)
        .await
        .unwrap();
    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let mut old = Vec::new();
    let mut landed = Vec::new();
    let mut seqs = std::collections::HashMap::new();
    for hour in 0..10 {
        let at = now - TimeDelta::hours(10 - hour) + TimeDelta::minutes(7);
        let mut calls = made_up(6, hour as u64, &["a", "b"]);
        if hour == 1 || hour == 8 {
            calls.push(Call::new("a", "rare", "timeout", ExecutionSource::Mcp, 30));
            calls.push(Call::new("b", "rare", "ok", ExecutionSource::Mcp, 40));
        }
        for (i, call) in calls.into_iter().enumerate() {
            let seq = seqs.entry(call.session_id.clone()).or_insert(0);
            *seq += 1;
            let ts = at + TimeDelta::seconds(i as i64);
            old.push(call.old_event(*seq, ts));
            landed.push(Landed {
                call,
                seq: *seq,
                ts,
            });
        }
    }
    write_old_events(&db, &old).await;
    let store = codex_store::connect(&db.url, StoreOptions::default())
        .await
        .unwrap();
    // And one more, live.
    let call = Call::new("b", "rare", "ok", ExecutionSource::Api, 1);
    let at = store.append_one(call.event()).await.unwrap();
    landed.push(Landed::live(call, &at));

    for query in [
        ExecutionQuery::new(2).with_plugin("rare"),
        ExecutionQuery::new(1)
            .with_plugin("rare")
            .with_source(ExecutionSource::Mcp),
        ExecutionQuery::new(1).with_status("timeout"),
        ExecutionQuery::new(3).with_status("ok").with_plugin("rare"),
        ExecutionQuery::new(4).with_source(ExecutionSource::Cli),
        ExecutionQuery::new(2)
            .with_plugin("rare")
            .with_since(now - TimeDelta::hours(5)),
        ExecutionQuery::new(2)
            .with_plugin("rare")
            .with_until(now - TimeDelta::hours(5)),
        ExecutionQuery::new(9),
    ] {
        check(&store, query, &landed).await;
    }
    store.close().await;
}
