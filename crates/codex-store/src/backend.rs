//! A store on one database: the reader over its dialect, and its group-commit writer.
//! Both backends are this one type; they differ in their [`Dialect`] and in the writer they
//! start (`sqlite::connect`, `postgres::connect`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use crate::analytics::{Analytics, DayCount};
use crate::bus::Subscription;
use crate::dialect::Dialect;
use crate::error::Result;
use crate::event::{Event, EventKind, EventRef, Message, NewEvent, PluginLog};
use crate::keys::{ApiKeyRecord, IssuedKey, KEYS_CHANNEL, KeyHash, Keys, NewApiKey};
use crate::owners::Owners;
use crate::postgres::PgBus;
use crate::query::{AnalyticsQuery, CursorPage, ExecutionQuery, SessionQuery};
use crate::reader::Reader;
use crate::settings::{PLUGIN_SETTINGS_CHANNEL, PluginSetting, Settings};
use crate::sqlite::SqliteBus;
use crate::store::{BackendKind, CommitStats, Counts, EventStore, Page, SessionSummary};
use crate::writer::{AppendIntent, WriterHandle};

/// An [`EventStore`] on the database `D` speaks to.
pub(crate) struct Backend<D: Dialect> {
    kind: BackendKind,
    reader: Reader<D>,
    writer: WriterHandle,
    settings: Settings<D>,
    keys: Keys<D>,
    owners: Owners<D>,
    bus: Bus,
}

/// How a backend carries notifications.
pub(crate) enum Bus {
    Sqlite(SqliteBus),
    Postgres(PgBus),
}

impl Bus {
    async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        match self {
            Bus::Sqlite(bus) => bus.notify(channel, payload).await,
            Bus::Postgres(bus) => bus.notify(channel, payload).await,
        }
    }

    async fn subscribe(&self, channels: &[&str]) -> Result<Subscription> {
        match self {
            Bus::Sqlite(bus) => bus.subscribe(channels).await,
            Bus::Postgres(bus) => bus.subscribe(channels).await,
        }
    }

    async fn close(&self) {
        match self {
            Bus::Sqlite(bus) => bus.close().await,
            Bus::Postgres(bus) => bus.close().await,
        }
    }
}

impl<D: Dialect> Backend<D> {
    pub(crate) fn new(
        kind: BackendKind,
        reader: Reader<D>,
        writer: WriterHandle,
        settings: Settings<D>,
        keys: Keys<D>,
        owners: Owners<D>,
        bus: Bus,
    ) -> Self {
        Self {
            kind,
            reader,
            writer,
            settings,
            keys,
            owners,
            bus,
        }
    }
}

#[async_trait]
impl<D: Dialect> EventStore for Backend<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<bool>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<f64>: Encode<'q, D::Db> + Type<D::Db>,
{
    fn backend(&self) -> BackendKind {
        self.kind
    }

    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<EventRef>> {
        self.writer.append(events).await
    }

    fn announce_append(&self) -> AppendIntent {
        self.writer.announce()
    }

    async fn short_memory(&self, session_id: &str, n: usize) -> Result<Vec<Message>> {
        self.reader.short_memory(session_id, n).await
    }

    async fn messages(&self, session_id: &str) -> Result<Vec<Message>> {
        self.reader.messages(session_id).await
    }

    async fn timeline(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>> {
        self.reader.timeline(session_id, after_seq, limit).await
    }

    async fn timeline_of(
        &self,
        session_id: &str,
        kinds: &[EventKind],
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>> {
        self.reader
            .timeline_of(session_id, kinds, after_seq, limit)
            .await
    }

    async fn counts(&self, session_id: &str, short_limit: usize) -> Result<Counts> {
        self.reader.counts(session_id, short_limit).await
    }

    async fn sessions(&self) -> Result<Vec<SessionSummary>> {
        self.reader.sessions().await
    }

    async fn session_page(&self, query: &SessionQuery) -> Result<CursorPage<SessionSummary>> {
        self.reader.session_page(query).await
    }

    async fn executions(&self, query: &ExecutionQuery) -> Result<CursorPage<PluginLog>> {
        self.reader.executions(query).await
    }

    async fn analytics(&self, query: &AnalyticsQuery) -> Result<Analytics> {
        self.reader.analytics(query).await
    }

    async fn conversations_per_day(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        owner: Option<&str>,
    ) -> Result<Vec<DayCount>> {
        self.reader.conversations_per_day(since, until, owner).await
    }

    async fn plugin_logs(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<PluginLog>> {
        self.reader.plugin_logs(session_id, after_seq, limit).await
    }

    async fn reset_existing(&self, session_id: &str) -> Result<Option<EventRef>> {
        self.writer
            .append_existing(NewEvent::reset(session_id))
            .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<u64> {
        let deleted = self.writer.delete_session(session_id).await?;
        // The id is free again: whoever creates it next owns it.
        self.owners.release(session_id).await?;
        Ok(deleted)
    }

    async fn claim_session(&self, session_id: &str, owner: &str) -> Result<Option<String>> {
        self.owners.claim(session_id, owner).await
    }

    async fn session_owner(&self, session_id: &str) -> Result<Option<String>> {
        self.owners.owner(session_id).await
    }

    async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        self.bus.notify(channel, payload).await
    }

    async fn subscribe(&self, channels: &[&str]) -> Result<Subscription> {
        self.bus.subscribe(channels).await
    }

    async fn plugin_settings(&self) -> Result<Vec<PluginSetting>> {
        self.settings.all().await
    }

    async fn plugin_setting(&self, plugin: &str) -> Result<Option<PluginSetting>> {
        self.settings.one(plugin).await
    }

    async fn set_plugin_enabled(
        &self,
        plugin: &str,
        enabled: Option<bool>,
    ) -> Result<PluginSetting> {
        let setting = self.settings.set_enabled(plugin, enabled).await?;
        self.bus.notify(PLUGIN_SETTINGS_CHANNEL, plugin).await?;
        Ok(setting)
    }

    async fn set_plugin_policy(&self, plugin: &str, policy: Option<&str>) -> Result<PluginSetting> {
        let setting = self.settings.set_policy(plugin, policy).await?;
        self.bus.notify(PLUGIN_SETTINGS_CHANNEL, plugin).await?;
        Ok(setting)
    }

    async fn create_key(&self, key: NewApiKey) -> Result<IssuedKey> {
        let issued = self.keys.create(key).await?;
        self.bus.notify(KEYS_CHANNEL, &issued.record.name).await?;
        Ok(issued)
    }

    async fn keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.keys.all().await
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>> {
        self.keys.by_hash(hash).await
    }

    async fn live_keys(&self) -> Result<Vec<(KeyHash, ApiKeyRecord)>> {
        self.keys.live().await
    }

    async fn revoke_key(&self, name: &str) -> Result<bool> {
        let revoked = self.keys.revoke(name).await?;
        if revoked {
            self.bus.notify(KEYS_CHANNEL, name).await?;
        }
        Ok(revoked)
    }

    async fn touch_keys(&self, used: &[(String, DateTime<Utc>)]) -> Result<()> {
        self.keys.touch(used).await
    }

    fn stats(&self) -> CommitStats {
        self.writer.stats()
    }

    async fn close(&self) {
        self.bus.close().await;
        self.writer.close().await;
        self.reader.close().await;
    }
}
