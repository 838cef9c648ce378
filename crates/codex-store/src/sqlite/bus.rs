//! The bus on SQLite: an in-process broadcast for the subscribers of this process, and a
//! `bus_messages` table that every notification is also written to, polled by each process
//! with subscribers, so a change made by another process on the same file (the CLI switching
//! a plugin off while a server runs) arrives too, within a poll interval.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::{Row, SqlitePool};
use tokio::sync::{Mutex, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bus::{
    Notification, SUBSCRIPTION_BUFFER, Subscription, channel_set, check_notification, send_resyncs,
};
use crate::error::Result;

use super::format_ts;

/// How often the table is read for notifications of other processes.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How long a row stays in the table; other processes poll far more often than this.
const KEEP_FOR: Duration = Duration::from_secs(60);

/// Polls between two prunings of old rows.
const PRUNE_EVERY: u32 = 150;

/// Rows read per poll at most; the rest come at the next one.
const POLL_BATCH: i64 = 1000;

pub(crate) struct SqliteBus {
    pool: SqlitePool,
    /// Tells this process' rows apart from other processes' ones.
    origin: String,
    local: broadcast::Sender<Notification>,
    /// Started with the first subscription; stops when the store closes.
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Cancelled when the store closes, which ends every subscription.
    closed: CancellationToken,
}

impl SqliteBus {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        let (local, _) = broadcast::channel(SUBSCRIPTION_BUFFER);
        Self {
            pool,
            origin: Uuid::now_v7().to_string(),
            local,
            poller: Mutex::new(None),
            closed: CancellationToken::new(),
        }
    }

    pub(crate) async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        check_notification(channel, payload)?;
        sqlx::query(
            "INSERT INTO bus_messages (origin, channel, payload, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&self.origin)
        .bind(channel)
        .bind(payload)
        .bind(format_ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        // Nobody listening in this process is not an error.
        let _ = self.local.send(Notification::new(channel, payload));
        Ok(())
    }

    pub(crate) async fn subscribe(&self, channels: &[&str]) -> Result<Subscription> {
        let channels = channel_set(channels)?;
        self.start_poller().await?;
        let rx = self.local.subscribe();
        let (tx, subscription) = Subscription::channel();
        tokio::spawn(forward(rx, channels, tx, self.closed.clone()));
        Ok(subscription)
    }

    async fn start_poller(&self) -> Result<()> {
        let mut poller = self.poller.lock().await;
        if poller.as_ref().is_some_and(|task| !task.is_finished()) {
            return Ok(());
        }
        let last: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM bus_messages")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        *poller = Some(tokio::spawn(poll(
            self.pool.clone(),
            Arc::from(self.origin.as_str()),
            self.local.clone(),
            last,
        )));
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.closed.cancel();
        if let Some(task) = self.poller.lock().await.take() {
            task.abort();
        }
    }
}

/// Delivers the rows other processes write to this process' subscribers.
async fn poll(
    pool: SqlitePool,
    origin: Arc<str>,
    local: broadcast::Sender<Notification>,
    mut last: i64,
) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls = 0_u32;
    loop {
        interval.tick().await;
        let rows = sqlx::query(
            "SELECT id, origin, channel, payload FROM bus_messages WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(last)
        .bind(POLL_BATCH)
        .fetch_all(&pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "bus poll failed");
                continue;
            }
        };
        for row in rows {
            let read = (|| -> std::result::Result<_, sqlx::Error> {
                Ok((
                    row.try_get::<i64, _>("id")?,
                    row.try_get::<String, _>("origin")?,
                    row.try_get::<String, _>("channel")?,
                    row.try_get::<String, _>("payload")?,
                ))
            })();
            let Ok((id, from, channel, payload)) = read else {
                continue;
            };
            last = last.max(id);
            if from != *origin {
                let _ = local.send(Notification::new(channel, payload));
            }
        }
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(PRUNE_EVERY) {
            let before = Utc::now() - chrono::Duration::from_std(KEEP_FOR).unwrap_or_default();
            if let Err(err) = sqlx::query("DELETE FROM bus_messages WHERE created_at < $1")
                .bind(format_ts(before))
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %err, "bus prune failed");
            }
        }
    }
}

/// Moves the broadcast's notifications on `channels` to one subscriber.
async fn forward(
    mut rx: broadcast::Receiver<Notification>,
    channels: HashSet<String>,
    tx: mpsc::Sender<Notification>,
    closed: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            () = tx.closed() => return,
            () = closed.cancelled() => return,
            received = rx.recv() => received,
        };
        match received {
            Ok(notification) => {
                if channels.contains(&notification.channel) && tx.send(notification).await.is_err()
                {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if !send_resyncs(&tx, &channels).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
