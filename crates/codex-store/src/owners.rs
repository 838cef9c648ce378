//! Which key owns a session. A key claims a session id before its first event is written; a
//! session that exists already (made before keys, or by a request that claimed nothing) cannot
//! be claimed any more, so a key never gains someone else's history by naming its id.

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::Dialect;
use crate::error::Result;
use crate::settings::check_text;

/// The longest owner (a key's name) stored.
const MAX_OWNER_LEN: usize = 256;

/// Reads and writes `session_owners` through a pool of one database.
pub(crate) struct Owners<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> Owners<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }

    pub(crate) async fn claim(&self, session_id: &str, owner: &str) -> Result<Option<String>> {
        crate::event::validate_session_id(session_id)?;
        check_text("owner", owner, MAX_OWNER_LEN)?;
        sqlx::query(
            "INSERT INTO session_owners (session_id, owner)
             SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE id = $1)
             ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        self.owner(session_id).await
    }

    pub(crate) async fn owner(&self, session_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT owner FROM session_owners WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|row| D::text_column(row, "owner"))
            .transpose()
    }

    pub(crate) async fn release(&self, session_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM session_owners WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
