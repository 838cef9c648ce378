//! Per-plugin settings every server shares: the stored enable switch and approval policy.
//!
//! A stored value overrides what a server's configuration says; `None` leaves the
//! configuration in charge. Every change is announced on [`PLUGIN_SETTINGS_CHANNEL`] with the
//! plugin's name as payload, so the other servers reread it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::Dialect;
use crate::error::{Result, StoreError};

/// The bus channel that says "this plugin's settings changed" (payload: the plugin name).
pub const PLUGIN_SETTINGS_CHANNEL: &str = "codex_plugin_settings";

/// The longest plugin name a setting is stored for.
pub const MAX_PLUGIN_NAME_LEN: usize = 256;

/// The longest policy text stored.
pub const MAX_POLICY_LEN: usize = 64;

/// One plugin's stored settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginSetting {
    pub plugin: String,
    /// On or off for every server; `None`: as each server's configuration says.
    pub enabled: Option<bool>,
    /// The approval policy (`allow`, `ask`, `deny`, read by the tool-control layer); `None`:
    /// as the configuration says. The store keeps the text, it does not interpret it.
    pub policy: Option<String>,
    pub updated_at: DateTime<Utc>,
}

const ALL: &str = "SELECT plugin, enabled, policy, updated_at FROM plugin_settings ORDER BY plugin";

const ONE: &str =
    "SELECT plugin, enabled, policy, updated_at FROM plugin_settings WHERE plugin = $1";

const SET_ENABLED: &str = "INSERT INTO plugin_settings (plugin, enabled, policy, updated_at)
     VALUES ($1, $2, NULL, $3)
     ON CONFLICT (plugin) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at
     RETURNING plugin, enabled, policy, updated_at";

const SET_POLICY: &str = "INSERT INTO plugin_settings (plugin, enabled, policy, updated_at)
     VALUES ($1, NULL, $2, $3)
     ON CONFLICT (plugin) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at
     RETURNING plugin, enabled, policy, updated_at";

/// Reads and writes `plugin_settings` through a pool of one database.
pub(crate) struct Settings<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> Settings<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<bool>: Encode<'q, D::Db> + Type<D::Db>,
{
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }

    pub(crate) async fn all(&self) -> Result<Vec<PluginSetting>> {
        let rows = sqlx::query(ALL).fetch_all(&self.pool).await?;
        rows.iter().map(D::plugin_setting).collect()
    }

    pub(crate) async fn one(&self, plugin: &str) -> Result<Option<PluginSetting>> {
        let row = sqlx::query(ONE)
            .bind(plugin)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(D::plugin_setting).transpose()
    }

    pub(crate) async fn set_enabled(
        &self,
        plugin: &str,
        enabled: Option<bool>,
    ) -> Result<PluginSetting> {
        check_text("plugin name", plugin, MAX_PLUGIN_NAME_LEN)?;
        let row = sqlx::query(SET_ENABLED)
            .bind(plugin)
            .bind(enabled)
            .bind(D::ts(Utc::now()))
            .fetch_one(&self.pool)
            .await?;
        D::plugin_setting(&row)
    }

    pub(crate) async fn set_policy(
        &self,
        plugin: &str,
        policy: Option<&str>,
    ) -> Result<PluginSetting> {
        check_text("plugin name", plugin, MAX_PLUGIN_NAME_LEN)?;
        if let Some(policy) = policy {
            check_text("policy", policy, MAX_POLICY_LEN)?;
        }
        let row = sqlx::query(SET_POLICY)
            .bind(plugin)
            .bind(policy)
            .bind(D::ts(Utc::now()))
            .fetch_one(&self.pool)
            .await?;
        D::plugin_setting(&row)
    }
}

/// Refuses text neither database stores alike (empty, too long, or holding NUL).
pub(crate) fn check_text(what: &str, text: &str, max: usize) -> Result<()> {
    if text.is_empty() || text.len() > max || text.contains('\0') {
        return Err(StoreError::InvalidQuery(format!(
            "{what} must be 1 to {max} bytes without NUL"
        )));
    }
    Ok(())
}
