//! The derived tables on SQLite ([`crate::rollup`]): written and purged by the writer, inside
//! the transaction that writes or purges the events they come from.
//!
//! The rollup is read, merged in Rust and written back: the writer holds SQLite's write lock
//! for the whole transaction, so nobody else can change the row in between.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Result, StoreError};
use crate::event::ExecutionSource;
use crate::histogram::DurationHistogram;
use crate::rollup::{Derived, Rollup, RollupRow};

use super::parse_ts;

const INSERT_EXECUTION: &str =
    "INSERT INTO executions (ts, session_id, seq, plugin, status, source, duration_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

const SELECT_ROLLUP: &str =
    "SELECT calls, errors, api, cli, chat, mcp, histogram FROM execution_rollup
     WHERE hour = ?1 AND plugin = ?2";

const UPSERT_ROLLUP: &str =
    "INSERT INTO execution_rollup (hour, plugin, calls, errors, api, cli, chat, mcp, histogram)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (hour, plugin) DO UPDATE SET
         calls = excluded.calls, errors = excluded.errors, api = excluded.api,
         cli = excluded.cli, chat = excluded.chat, mcp = excluded.mcp,
         histogram = excluded.histogram";

const DELETE_ROLLUP: &str = "DELETE FROM execution_rollup WHERE hour = ?1 AND plugin = ?2";

const INSERT_SESSION_DAY: &str =
    "INSERT INTO session_days (day, session_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING";

/// Removes a session's executions (found through its events, before those go) and answers
/// what they were.
const DELETE_EXECUTIONS: &str = "DELETE FROM executions
     WHERE (ts, session_id, seq) IN (
         SELECT ts, session_id, seq FROM events
         WHERE session_id = ?1 AND kind = 'plugin_execution')
     RETURNING ts, plugin, status, source, duration_ms";

/// Stores what a batch committed at `ts` (as stored) derives.
pub(super) fn write(tx: &Transaction<'_>, derived: &Derived<'_>, ts: &str) -> Result<()> {
    if !derived.executions.is_empty() {
        let mut insert = tx.prepare_cached(INSERT_EXECUTION)?;
        for execution in &derived.executions {
            let facts = &execution.facts;
            insert.execute(params![
                ts,
                execution.session_id,
                execution.seq,
                facts.plugin,
                facts.status,
                facts.source.as_str(),
                i64::try_from(facts.duration_ms).unwrap_or(i64::MAX),
            ])?;
        }
    }
    for row in &derived.rollup {
        merge(tx, row, Merge::Add)?;
    }
    if !derived.session_days.is_empty() {
        let mut insert = tx.prepare_cached(INSERT_SESSION_DAY)?;
        for (day, session_id) in &derived.session_days {
            insert.execute(params![day, session_id])?;
        }
    }
    Ok(())
}

/// Removes what a session's events derive, before the events themselves go.
pub(super) fn purge(tx: &Transaction<'_>, session_id: &str) -> Result<()> {
    let mut removed = Rollup::default();
    {
        let mut delete = tx.prepare_cached(DELETE_EXECUTIONS)?;
        let mut rows = delete.query([session_id])?;
        while let Some(row) = rows.next()? {
            let ts: String = row.get(0)?;
            let plugin: String = row.get(1)?;
            let status: String = row.get(2)?;
            let source: String = row.get(3)?;
            let duration_ms: i64 = row.get(4)?;
            let source = ExecutionSource::parse(&source)
                .ok_or_else(|| StoreError::Corrupt(format!("execution source {source:?}")))?;
            removed.record(
                parse_ts(&ts)?,
                &plugin,
                status == "ok",
                source,
                u64::try_from(duration_ms).unwrap_or_default(),
            );
        }
    }
    for row in removed.into_rows() {
        merge(tx, &row, Merge::Subtract)?;
    }
    tx.execute(
        "DELETE FROM session_days WHERE session_id = ?1",
        [session_id],
    )?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Merge {
    Add,
    Subtract,
}

/// Adds `delta` to its stored rollup row, or takes it away; a row left without calls goes.
fn merge(tx: &Transaction<'_>, delta: &RollupRow, how: Merge) -> Result<()> {
    let stored = tx
        .prepare_cached(SELECT_ROLLUP)?
        .query_row(params![delta.hour, delta.plugin], |row| {
            Ok((
                [
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ],
                row.get::<_, Vec<u8>>(6)?,
            ))
        })
        .optional()?;
    let mut row = RollupRow::empty(delta.hour, &delta.plugin);
    if let Some((counts, histogram)) = stored {
        let [calls, errors, api, cli, chat, mcp]: [i64; 6] = counts;
        row.calls = stored_count(calls)?;
        row.errors = stored_count(errors)?;
        row.sources = [
            stored_count(api)?,
            stored_count(cli)?,
            stored_count(chat)?,
            stored_count(mcp)?,
        ];
        row.histogram = DurationHistogram::from_sparse_bytes(&histogram)?;
    }
    match how {
        Merge::Add => row.add(delta),
        Merge::Subtract => row.subtract(delta)?,
    }
    if row.calls == 0 {
        tx.prepare_cached(DELETE_ROLLUP)?
            .execute(params![row.hour, row.plugin])?;
        return Ok(());
    }
    let [api, cli, chat, mcp] = row.sources.map(sql_count);
    tx.prepare_cached(UPSERT_ROLLUP)?.execute(params![
        row.hour,
        row.plugin,
        sql_count(row.calls),
        sql_count(row.errors),
        api,
        cli,
        chat,
        mcp,
        row.histogram.to_sparse_bytes(),
    ])?;
    Ok(())
}

fn stored_count(n: i64) -> Result<u64> {
    u64::try_from(n)
        .map_err(|_| StoreError::Corrupt(format!("a negative count ({n}) in the rollup")))
}

fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
