//! The bus on PostgreSQL: `pg_notify` to send, one `PgListener` per subscription to receive,
//! reconnected with backoff when its connection drops (each reconnection is followed by a
//! resync, since notifications sent meanwhile are gone).

use std::collections::HashSet;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use crate::bus::{Notification, Subscription, channel_set, check_notification, send_resyncs};
use crate::error::{Result, StoreError};

/// Most subscriptions a store holds at once (each holds one connection).
const MAX_LISTENERS: u32 = 32;

/// The first and the longest wait between attempts to reconnect a listener.
const RECONNECT_FIRST: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

pub(crate) struct PgBus {
    /// Sends go through the store's pool.
    pool: PgPool,
    /// Listeners hold connections of their own, never taken from the store's pool.
    listeners: PgPool,
}

impl PgBus {
    pub(crate) fn new(pool: PgPool, options: PgConnectOptions) -> Self {
        let listeners = PgPoolOptions::new()
            .max_connections(MAX_LISTENERS)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        Self { pool, listeners }
    }

    pub(crate) async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        check_notification(channel, payload)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn subscribe(&self, channels: &[&str]) -> Result<Subscription> {
        let channels = channel_set(channels)?;
        // The first LISTEN happens before this returns, so a notification sent after
        // `subscribe` answers is never missed.
        let listener = listen(&self.listeners, &channels).await?;
        let (tx, subscription) = Subscription::channel();
        tokio::spawn(forward(self.listeners.clone(), listener, channels, tx));
        Ok(subscription)
    }

    pub(crate) async fn close(&self) {
        self.listeners.close().await;
    }
}

async fn listen(pool: &PgPool, channels: &HashSet<String>) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all(channels.iter().map(String::as_str))
        .await?;
    Ok(listener)
}

/// Moves notifications from the listener to the subscriber until either goes away.
async fn forward(
    pool: PgPool,
    mut listener: PgListener,
    channels: HashSet<String>,
    tx: mpsc::Sender<Notification>,
) {
    loop {
        let received = tokio::select! {
            () = tx.closed() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                let notification =
                    Notification::new(notification.channel(), notification.payload());
                if tx.send(notification).await.is_err() {
                    return;
                }
            }
            // The connection dropped and the listener has already reconnected and listens
            // again (eager reconnect); whatever was sent in between is lost.
            Ok(None) => {
                tracing::warn!("bus listener reconnected after its connection dropped");
                if !send_resyncs(&tx, &channels).await {
                    return;
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "bus listener lost its connection; reconnecting");
                match reconnect(&pool, &channels, &tx).await {
                    Some(fresh) => listener = fresh,
                    None => return,
                }
                if !send_resyncs(&tx, &channels).await {
                    return;
                }
            }
        }
    }
}

/// A new listener on `channels`, retried with growing waits; `None` when the store closed
/// or the subscriber left meanwhile.
async fn reconnect(
    pool: &PgPool,
    channels: &HashSet<String>,
    tx: &mpsc::Sender<Notification>,
) -> Option<PgListener> {
    let mut wait = RECONNECT_FIRST;
    loop {
        match listen(pool, channels).await {
            Ok(listener) => return Some(listener),
            Err(StoreError::Database(sqlx::Error::PoolClosed)) => return None,
            Err(err) => tracing::debug!(error = %err, "bus listener reconnect failed"),
        }
        tokio::select! {
            () = tx.closed() => return None,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}
