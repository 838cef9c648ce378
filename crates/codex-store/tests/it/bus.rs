//! The signal bus between servers, and the plugin settings it announces.

use std::sync::Arc;
use std::time::Duration;

use codex_store::{EventStore, Notification, PLUGIN_SETTINGS_CHANNEL, StoreError, Subscription};

use crate::harness::{TestStore, reopen};

both_backends!(
    notifications_reach_subscribers_of_their_channels,
    bad_channels_and_payloads_are_refused,
    plugin_settings_are_stored_and_announced,
);

both_backends_with_url!(
    another_store_on_the_database_hears_notifications,
    plugin_settings_survive_a_restart,
);

/// Every wait for a notification is bounded by this.
const WAIT: Duration = Duration::from_secs(5);

async fn next(subscription: &mut Subscription) -> Notification {
    tokio::time::timeout(WAIT, subscription.recv())
        .await
        .expect("a notification within the bound")
        .expect("the subscription is open")
}

async fn notifications_reach_subscribers_of_their_channels(store: Arc<dyn EventStore>) {
    let mut both = store.subscribe(&["alpha", "beta"]).await.unwrap();
    let mut beta = store.subscribe(&["beta"]).await.unwrap();
    store.notify("alpha", "one").await.unwrap();
    store.notify("gamma", "nobody listens").await.unwrap();
    store.notify("beta", "two").await.unwrap();
    assert_eq!(next(&mut both).await, Notification::new("alpha", "one"));
    assert_eq!(next(&mut both).await, Notification::new("beta", "two"));
    assert_eq!(next(&mut beta).await, Notification::new("beta", "two"));
}

async fn bad_channels_and_payloads_are_refused(store: Arc<dyn EventStore>) {
    for channel in ["", "Capital", "semi;colon"] {
        assert!(matches!(
            store.notify(channel, "x").await,
            Err(StoreError::InvalidQuery(_))
        ));
    }
    assert!(matches!(
        store.notify("ok", &"x".repeat(8000)).await,
        Err(StoreError::InvalidQuery(_))
    ));
    assert!(matches!(
        store.subscribe(&[]).await,
        Err(StoreError::InvalidQuery(_))
    ));
}

async fn another_store_on_the_database_hears_notifications(
    store: Arc<dyn EventStore>,
    url: String,
) {
    let other = reopen(&url).await;
    let mut here = store.subscribe(&["shared"]).await.unwrap();
    let mut there = other.subscribe(&["shared"]).await.unwrap();
    other
        .notify("shared", "from the other server")
        .await
        .unwrap();
    assert_eq!(
        next(&mut here).await,
        Notification::new("shared", "from the other server")
    );
    assert_eq!(
        next(&mut there).await,
        Notification::new("shared", "from the other server")
    );
    // A notification is delivered once per subscriber, not again at the next poll.
    store.notify("shared", "second").await.unwrap();
    assert_eq!(next(&mut here).await, Notification::new("shared", "second"));
    assert_eq!(
        next(&mut there).await,
        Notification::new("shared", "second")
    );
    other.close().await;
}

async fn plugin_settings_are_stored_and_announced(store: Arc<dyn EventStore>) {
    assert_eq!(store.plugin_setting("calculator").await.unwrap(), None);
    let mut changes = store.subscribe(&[PLUGIN_SETTINGS_CHANNEL]).await.unwrap();

    let off = store
        .set_plugin_enabled("calculator", Some(false))
        .await
        .unwrap();
    assert_eq!((off.enabled, off.policy.as_deref()), (Some(false), None));
    assert_eq!(
        next(&mut changes).await,
        Notification::new(PLUGIN_SETTINGS_CHANNEL, "calculator")
    );

    // Setting the policy keeps the switch, and the other way round.
    let ask = store
        .set_plugin_policy("calculator", Some("ask"))
        .await
        .unwrap();
    assert_eq!(
        (ask.enabled, ask.policy.as_deref()),
        (Some(false), Some("ask"))
    );
    assert!(ask.updated_at >= off.updated_at);
    next(&mut changes).await;
    let cleared = store.set_plugin_enabled("calculator", None).await.unwrap();
    assert_eq!(
        (cleared.enabled, cleared.policy.as_deref()),
        (None, Some("ask"))
    );
    next(&mut changes).await;

    store.set_plugin_enabled("echo", Some(true)).await.unwrap();
    let all = store.plugin_settings().await.unwrap();
    let names: Vec<_> = all.iter().map(|s| (s.plugin.as_str(), s.enabled)).collect();
    assert_eq!(names, vec![("calculator", None), ("echo", Some(true))]);

    assert!(matches!(
        store.set_plugin_enabled("", Some(true)).await,
        Err(StoreError::InvalidQuery(_))
    ));
    assert!(matches!(
        store.set_plugin_policy("nul\0name", Some("deny")).await,
        Err(StoreError::InvalidQuery(_))
    ));
}

async fn plugin_settings_survive_a_restart(store: Arc<dyn EventStore>, url: String) {
    store
        .set_plugin_enabled("shell", Some(false))
        .await
        .unwrap();
    store
        .set_plugin_policy("shell", Some("deny"))
        .await
        .unwrap();
    store.close().await;
    let reopened = reopen(&url).await;
    let setting = reopened.plugin_setting("shell").await.unwrap().unwrap();
    assert_eq!(
        (setting.enabled, setting.policy.as_deref()),
        (Some(false), Some("deny"))
    );
    reopened.close().await;
}

/// Regression guard: a listener whose connection the database drops must come back by itself
/// and say that it may have missed notifications, or a server would silently stop hearing
/// revocations and switches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listener_reconnects_and_resyncs() {
    let test = TestStore::postgres().await;
    let store = test.store.clone();
    let mut subscription = store.subscribe(&["revocations"]).await.unwrap();
    let admin = sqlx::PgPool::connect(&test.url).await.unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN%') AS killed",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(killed, 1, "one listener connection");
    assert_eq!(
        next(&mut subscription).await,
        Notification::resync("revocations")
    );
    store.notify("revocations", "after").await.unwrap();
    assert_eq!(
        next(&mut subscription).await,
        Notification::new("revocations", "after")
    );
    admin.close().await;
    test.finish().await;
}
