//! A signal bus between the servers sharing one database: short text notifications on named
//! channels, carried by PostgreSQL `LISTEN/NOTIFY`, and on SQLite by an in-process broadcast
//! plus a small table that other processes on the same file (the CLI, a second server) poll.
//!
//! Notifications are hints that shared state changed, never the state itself: a subscriber
//! rereads what it caches. Delivery is at most once; when a subscriber may have missed some
//! (its listener reconnected, it fell behind), it receives a [`Notification::resync`] for each
//! of its channels instead, and should reload everything it caches from those channels.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::error::{Result, StoreError};

/// The longest payload a notification may carry, in bytes (PostgreSQL refuses 8000 and more).
pub const MAX_NOTIFICATION_PAYLOAD: usize = 7999;

/// The longest channel name, in bytes (PostgreSQL identifiers stop at 63).
pub const MAX_CHANNEL_LEN: usize = 63;

/// How many notifications a subscription holds for a subscriber that reads slowly before it
/// drops them and delivers a resync instead.
pub(crate) const SUBSCRIPTION_BUFFER: usize = 1024;

/// One notification received on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel it was sent on.
    pub channel: String,
    /// What the sender said; empty for a resync.
    pub payload: String,
    /// True when notifications on this channel may have been lost before this one (the
    /// listener reconnected, or the subscriber fell behind): reload whatever this channel
    /// keeps fresh.
    pub resync: bool,
}

impl Notification {
    pub fn new(channel: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            payload: payload.into(),
            resync: false,
        }
    }

    /// The notification that says "you may have missed some on `channel`".
    pub fn resync(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            payload: String::new(),
            resync: true,
        }
    }
}

/// The notifications of some channels, in the order they were sent; ends when the store
/// closes. Also a [`futures::Stream`].
pub struct Subscription {
    rx: mpsc::Receiver<Notification>,
}

impl Subscription {
    /// A subscription fed by a sender whose task owns the listening side.
    pub(crate) fn channel() -> (mpsc::Sender<Notification>, Self) {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_BUFFER);
        (tx, Self { rx })
    }

    /// The next notification; `None` once the store has closed.
    pub async fn recv(&mut self) -> Option<Notification> {
        self.rx.recv().await
    }
}

impl futures::Stream for Subscription {
    type Item = Notification;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        self.rx.poll_recv(cx)
    }
}

/// The channels of a subscription, checked: each a name of lowercase ASCII letters, digits
/// and `_`, 1 to [`MAX_CHANNEL_LEN`] long, so the same name is valid on both backends.
pub(crate) fn channel_set(channels: &[&str]) -> Result<HashSet<String>> {
    if channels.is_empty() {
        return Err(StoreError::InvalidQuery(
            "subscribe to at least one channel".to_owned(),
        ));
    }
    channels
        .iter()
        .map(|channel| check_channel(channel).map(|()| (*channel).to_owned()))
        .collect()
}

/// Refuses a channel name that is not portable, before anything is sent.
pub(crate) fn check_channel(channel: &str) -> Result<()> {
    let valid = !channel.is_empty()
        && channel.len() <= MAX_CHANNEL_LEN
        && channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidQuery(format!(
            "channel name {channel:?}: use 1 to {MAX_CHANNEL_LEN} of a-z, 0-9 and _"
        )))
    }
}

/// Refuses a notification either backend would refuse, before anything is sent.
pub(crate) fn check_notification(channel: &str, payload: &str) -> Result<()> {
    check_channel(channel)?;
    if payload.len() > MAX_NOTIFICATION_PAYLOAD {
        return Err(StoreError::InvalidQuery(format!(
            "a notification payload holds at most {MAX_NOTIFICATION_PAYLOAD} bytes, not {}",
            payload.len()
        )));
    }
    if payload.contains('\0') {
        return Err(StoreError::InvalidQuery(
            "a notification payload cannot hold NUL".to_owned(),
        ));
    }
    Ok(())
}

/// Tells a subscriber that it may have missed notifications; answers false when it is gone.
pub(crate) async fn send_resyncs(
    tx: &mpsc::Sender<Notification>,
    channels: &HashSet<String>,
) -> bool {
    for channel in channels {
        if tx
            .send(Notification::resync(channel.clone()))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_portable() {
        assert!(check_channel("codex_plugin_settings").is_ok());
        assert!(check_channel("a1").is_ok());
        for bad in ["", "Upper", "with space", "semi;colon", "quo\"te"] {
            assert!(check_channel(bad).is_err(), "{bad:?}");
        }
        assert!(check_channel(&"a".repeat(MAX_CHANNEL_LEN + 1)).is_err());
        assert!(channel_set(&[]).is_err());
    }

    #[test]
    fn payloads_are_bounded() {
        assert!(check_notification("c", &"x".repeat(MAX_NOTIFICATION_PAYLOAD)).is_ok());
        assert!(check_notification("c", &"x".repeat(MAX_NOTIFICATION_PAYLOAD + 1)).is_err());
        assert!(check_notification("c", "a\0b").is_err());
    }
}
