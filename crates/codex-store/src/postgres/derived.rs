//! The derived tables on PostgreSQL ([`crate::rollup`]): written and purged by the writer,
//! inside the transaction that writes or purges the events they come from, one statement per
//! table for a whole batch.
//!
//! Several servers may write at once, so the rollup is merged by the database (an upsert that
//! adds counts and histograms) rather than read and written back; rows are upserted in hour and
//! plugin order, so two batches lock them in one order. Text from payloads is escaped as the
//! payloads are ([`super::nul`]): a text column cannot hold a NUL either.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::Row;

use crate::error::{Result, StoreError};
use crate::event::ExecutionSource;
use crate::rollup::{Derived, Rollup, RollupRow};

use super::nul;

const INSERT_EXECUTIONS: &str = "
    INSERT INTO executions (ts, session_id, seq, plugin, status, source, duration_ms)
    SELECT $1, session_id, seq, plugin, status, source, duration_ms
    FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[])
        AS batch (session_id, seq, plugin, status, source, duration_ms)";

/// Adds each row to the stored one (negative counts take a purged session's calls away).
const MERGE_ROLLUP: &str = "
    INSERT INTO execution_rollup AS stored
        (hour, plugin, calls, errors, api, cli, chat, mcp, histogram)
    SELECT hour, plugin, calls, errors, api, cli, chat, mcp, histogram::bigint[]
    FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])
        AS batch (hour, plugin, calls, errors, api, cli, chat, mcp, histogram)
    ORDER BY hour, plugin
    ON CONFLICT (hour, plugin) DO UPDATE SET
        calls = stored.calls + excluded.calls,
        errors = stored.errors + excluded.errors,
        api = stored.api + excluded.api,
        cli = stored.cli + excluded.cli,
        chat = stored.chat + excluded.chat,
        mcp = stored.mcp + excluded.mcp,
        histogram = codex_histogram_add(stored.histogram, excluded.histogram)
    RETURNING hour, plugin, calls, errors";

const DELETE_EMPTY_ROLLUP: &str = "
    DELETE FROM execution_rollup AS stored
    USING UNNEST($1::bigint[], $2::text[]) AS emptied (hour, plugin)
    WHERE stored.hour = emptied.hour AND stored.plugin = emptied.plugin AND stored.calls = 0";

const INSERT_SESSION_DAYS: &str = "
    INSERT INTO session_days (day, session_id)
    SELECT day, session_id FROM UNNEST($1::bigint[], $2::text[]) AS batch (day, session_id)
    ON CONFLICT DO NOTHING";

/// Removes a session's executions (found through its events, before those go) and answers
/// what they were.
const DELETE_EXECUTIONS: &str = "
    DELETE FROM executions AS x
    USING events AS e
    WHERE e.session_id = $1 AND e.kind = 'plugin_execution'
      AND x.ts = e.ts AND x.session_id = e.session_id AND x.seq = e.seq
    RETURNING x.ts, x.plugin, x.status, x.source, x.duration_ms";

/// Stores what a batch committed at `ts` derives.
pub(super) async fn write(
    conn: &mut PgConnection,
    derived: &Derived<'_>,
    ts: DateTime<Utc>,
) -> Result<()> {
    if !derived.executions.is_empty() {
        let rows = &derived.executions;
        sqlx::query(INSERT_EXECUTIONS)
            .bind(ts)
            .bind(rows.iter().map(|e| e.session_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|e| e.seq).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|e| nul::escape_str(e.facts.plugin))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|e| nul::escape_str(e.facts.status))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|e| e.facts.source.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|e| i64::try_from(e.facts.duration_ms).unwrap_or(i64::MAX))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
    }
    merge(conn, &derived.rollup, false).await?;
    if !derived.session_days.is_empty() {
        let days = &derived.session_days;
        sqlx::query(INSERT_SESSION_DAYS)
            .bind(days.iter().map(|(day, _)| *day).collect::<Vec<_>>())
            .bind(days.iter().map(|(_, session)| *session).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Removes what a session's events derive, before the events themselves go.
pub(super) async fn purge(conn: &mut PgConnection, session_id: &str) -> Result<()> {
    let rows = sqlx::query(DELETE_EXECUTIONS)
        .bind(session_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut removed = Rollup::default();
    for row in &rows {
        let source: String = row.try_get("source")?;
        let source = ExecutionSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("execution source {source:?}")))?;
        let status: String = row.try_get("status")?;
        let duration_ms: i64 = row.try_get("duration_ms")?;
        // The plugin stays escaped: it is the rollup's key as stored.
        let plugin: String = row.try_get("plugin")?;
        removed.record(
            row.try_get("ts")?,
            &plugin,
            status == "ok",
            source,
            u64::try_from(duration_ms).unwrap_or_default(),
        );
    }
    merge(conn, &removed.into_rows(), true).await?;
    sqlx::query("DELETE FROM session_days WHERE session_id = $1")
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Adds `rows` to the rollup, or takes them away (`subtract`), dropping rows left without calls.
async fn merge(conn: &mut PgConnection, rows: &[RollupRow], subtract: bool) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let sign = if subtract { -1 } else { 1 };
    let count = |n: u64| sign * i64::try_from(n).unwrap_or(i64::MAX);
    let source = |i: usize| rows.iter().map(|r| count(r.sources[i])).collect::<Vec<_>>();
    let merged = sqlx::query(MERGE_ROLLUP)
        .bind(rows.iter().map(|r| r.hour).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| {
                    // Rows of a purge were read back from `executions`, already escaped.
                    if subtract {
                        r.plugin.clone()
                    } else {
                        nul::escape_str(&r.plugin).into_owned()
                    }
                })
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| count(r.calls)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| count(r.errors)).collect::<Vec<_>>())
        .bind(source(0))
        .bind(source(1))
        .bind(source(2))
        .bind(source(3))
        .bind(
            rows.iter()
                .map(|r| array_literal(&r.histogram.to_dense(subtract)))
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await?;
    let mut emptied = (Vec::new(), Vec::new());
    for row in &merged {
        let calls: i64 = row.try_get("calls")?;
        let errors: i64 = row.try_get("errors")?;
        if calls < 0 || errors < 0 {
            return Err(StoreError::Corrupt(
                "the rollup holds fewer calls than a purge removes".to_owned(),
            ));
        }
        if calls == 0 {
            emptied.0.push(row.try_get::<i64, _>("hour")?);
            emptied.1.push(row.try_get::<String, _>("plugin")?);
        }
    }
    if !emptied.0.is_empty() {
        sqlx::query(DELETE_EMPTY_ROLLUP)
            .bind(emptied.0)
            .bind(emptied.1)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `{1,0,...}`: PostgreSQL's text form of an array, cast to `bigint[]` in the statement (an
/// array of arrays cannot be bound and unnested row by row).
fn array_literal(counts: &[i64]) -> String {
    let mut text = String::with_capacity(counts.len() * 2 + 2);
    text.push('{');
    for (i, count) in counts.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&count.to_string());
    }
    text.push('}');
    text
}
