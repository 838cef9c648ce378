//! The one reader: every read of the store, written once over a [`Dialect`]'s SQL.
//!
//! Paging, clamping and turning rows into messages and logs happen here; what a dialect
//! supplies is the text of each statement and the decoding of its rows.

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::Dialect;
use crate::error::Result;
use crate::event::{Event, Message, PluginLog};
use crate::store::{Counts, Page, SessionSummary, into_page, page_fetch_limit, sql_limit};

/// Reads through a pool of connections of one database.
pub(crate) struct Reader<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> Reader<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }

    pub(crate) async fn short_memory(&self, session_id: &str, n: usize) -> Result<Vec<Message>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(D::SHORT_MEMORY)
            .bind(session_id)
            .bind(sql_limit(n))
            .fetch_all(&self.pool)
            .await?;
        let mut messages = messages(events::<D>(&rows)?)?;
        messages.reverse();
        Ok(messages)
    }

    pub(crate) async fn messages(&self, session_id: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query(D::MESSAGES)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        messages(events::<D>(&rows)?)
    }

    pub(crate) async fn timeline(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<Event>> {
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(D::TIMELINE)
            .bind(session_id)
            .bind(after_seq.unwrap_or(0))
            .bind(fetch)
            .fetch_all(&self.pool)
            .await?;
        Ok(into_page(events::<D>(&rows)?, limit, |e| e.seq))
    }

    pub(crate) async fn counts(&self, session_id: &str, short_limit: usize) -> Result<Counts> {
        let row = sqlx::query(D::COUNTS)
            .bind(session_id)
            .bind(sql_limit(short_limit))
            .fetch_one(&self.pool)
            .await?;
        D::counts(&row)
    }

    pub(crate) async fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let rows = sqlx::query(D::SESSIONS).fetch_all(&self.pool).await?;
        rows.iter().map(D::session).collect()
    }

    pub(crate) async fn plugin_logs(
        &self,
        session_id: &str,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<Page<PluginLog>> {
        let (limit, fetch) = page_fetch_limit(limit);
        let rows = sqlx::query(D::PLUGIN_LOGS)
            .bind(session_id)
            .bind(after_seq.unwrap_or(0))
            .bind(fetch)
            .fetch_all(&self.pool)
            .await?;
        let logs = events::<D>(&rows)?
            .into_iter()
            .map(PluginLog::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(into_page(logs, limit, |log| log.seq))
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

fn events<D: Dialect>(rows: &[<D::Db as Database>::Row]) -> Result<Vec<Event>> {
    rows.iter().map(D::event).collect()
}

fn messages(events: Vec<Event>) -> Result<Vec<Message>> {
    events.into_iter().map(Message::try_from).collect()
}
