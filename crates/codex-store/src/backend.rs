//! A store on one database: the reader over its dialect, and its group-commit writer.
//! Both backends are this one type; they differ in their [`Dialect`] and in the writer they
//! start (`sqlite::connect`, `postgres::connect`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use crate::analytics::{Analytics, DayCount};
use crate::dialect::Dialect;
use crate::error::Result;
use crate::event::{Event, EventKind, EventRef, Message, NewEvent, PluginLog};
use crate::query::{AnalyticsQuery, CursorPage, ExecutionQuery, SessionQuery};
use crate::reader::Reader;
use crate::store::{BackendKind, CommitStats, Counts, EventStore, Page, SessionSummary};
use crate::writer::WriterHandle;

/// An [`EventStore`] on the database `D` speaks to.
pub(crate) struct Backend<D: Dialect> {
    kind: BackendKind,
    reader: Reader<D>,
    writer: WriterHandle,
}

impl<D: Dialect> Backend<D> {
    pub(crate) fn new(kind: BackendKind, reader: Reader<D>, writer: WriterHandle) -> Self {
        Self {
            kind,
            reader,
            writer,
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
{
    fn backend(&self) -> BackendKind {
        self.kind
    }

    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<EventRef>> {
        self.writer.append(events).await
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
    ) -> Result<Vec<DayCount>> {
        self.reader.conversations_per_day(since, until).await
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
        self.writer.delete_session(session_id).await
    }

    fn stats(&self) -> CommitStats {
        self.writer.stats()
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
