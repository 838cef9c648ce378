//! API keys kept in the store: only a SHA-256 hash of each key, its role, the plugins it may
//! run, an optional rate, and when it was made, last used and revoked.
//!
//! A key is 32 random bytes from the operating system, so one unsalted SHA-256 suffices: no
//! dictionary reaches it, and hashing stays cheap enough to do on every request. The store
//! finds a key by its hash; the caller compares in constant time ([`KeyHash::matches`]).
//! Every change is announced on [`KEYS_CHANNEL`] so other servers drop their cached keys.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};
use subtle::ConstantTimeEq;

use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::settings::check_text;

/// The bus channel that says "keys changed" (payload: the key's name).
pub const KEYS_CHANNEL: &str = "codex_api_keys";

/// What every generated key starts with, so a leaked one is recognisable in a scan.
pub const KEY_PREFIX: &str = "cc_";

/// The longest key name.
pub const MAX_KEY_NAME_LEN: usize = 64;

/// The most grant patterns a key holds, and the longest one.
pub const MAX_GRANTS: usize = 256;
pub const MAX_GRANT_LEN: usize = 256;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Everything: plugins' switches, reloads, keys, every session.
    Admin,
    /// The granted plugins and its own sessions.
    User,
}

impl KeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Admin => "admin",
            KeyRole::User => "user",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(KeyRole::Admin),
            "user" => Some(KeyRole::User),
            _ => None,
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 of a key, as lowercase hex (how it is stored and looked up).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    /// The hash of a presented key.
    pub fn of(secret: &str) -> Self {
        Self(format!("{:x}", Sha256::digest(secret.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two hashes are equal, in time that does not depend on where they differ.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Even a hash is kept out of logs.
        f.write_str("KeyHash(..)")
    }
}

/// A key to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    pub name: String,
    pub role: KeyRole,
    /// Plugin name patterns (`calculator`, `github__*`); ignored for admins.
    pub grants: Vec<String>,
    /// Requests per second the key may make on average; `None`: no limit of its own.
    pub rate_per_second: Option<f64>,
}

/// The slowest rate a key may be given: one request per thousand seconds.
pub const MIN_RATE_PER_SECOND: f64 = 0.001;

/// The fastest rate a key may be given; beyond it a limit limits nothing.
pub const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    pub name: String,
    pub role: KeyRole,
    pub grants: Vec<String>,
    pub rate_per_second: Option<f64>,
    pub created_at: DateTime<Utc>,
    /// Coalesced: may lag real use by the flush interval of the server that saw it.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the secret is shown this once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub record: ApiKeyRecord,
    pub secret: String,
}

/// A fresh random key: [`KEY_PREFIX`] and 64 hex digits (256 bits from the OS).
pub fn generate_secret() -> Result<String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| StoreError::Io(format!("no randomness for a key: {err}")))?;
    let mut secret = String::with_capacity(KEY_PREFIX.len() + 64);
    secret.push_str(KEY_PREFIX);
    for byte in bytes {
        secret.push_str(&format!("{byte:02x}"));
    }
    Ok(secret)
}

impl NewApiKey {
    fn check(&self) -> Result<()> {
        check_text("key name", &self.name, MAX_KEY_NAME_LEN)?;
        if !self
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        {
            return Err(StoreError::InvalidQuery(format!(
                "key name {:?}: use letters, digits and - _ . @",
                self.name
            )));
        }
        if self.grants.len() > MAX_GRANTS {
            return Err(StoreError::InvalidQuery(format!(
                "a key holds at most {MAX_GRANTS} grants"
            )));
        }
        for grant in &self.grants {
            check_text("grant", grant, MAX_GRANT_LEN)?;
        }
        // A rate outside the range would make a token bucket of no meaning (or, near zero, a
        // refill period too long to represent).
        if let Some(rate) = self.rate_per_second
            && !(MIN_RATE_PER_SECOND..=MAX_RATE_PER_SECOND).contains(&rate)
        {
            return Err(StoreError::InvalidQuery(format!(
                "rate {rate}: give between {MIN_RATE_PER_SECOND} and {MAX_RATE_PER_SECOND} requests per second"
            )));
        }
        Ok(())
    }
}

/// `SELECT` of every column of `api_keys` but the hash, followed by the given SQL text.
macro_rules! select_keys {
    ($rest:literal) => {
        concat!(
            "SELECT name, role, grants, rate_per_second, created_at, last_used_at, revoked_at ",
            "FROM api_keys ",
            $rest
        )
    };
}

/// Reads and writes `api_keys` through a pool of one database.
pub(crate) struct Keys<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> Keys<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<f64>: Encode<'q, D::Db> + Type<D::Db>,
{
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }

    pub(crate) async fn create(&self, key: NewApiKey) -> Result<IssuedKey> {
        key.check()?;
        let secret = generate_secret()?;
        let hash = KeyHash::of(&secret);
        let grants = serde_json::Value::from(key.grants.clone()).to_string();
        let inserted = sqlx::query(
            "INSERT INTO api_keys (name, hash, role, grants, rate_per_second, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO NOTHING
             RETURNING name",
        )
        .bind(key.name.as_str())
        .bind(hash.as_str())
        .bind(key.role.as_str())
        .bind(grants.as_str())
        .bind(key.rate_per_second)
        .bind(D::ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        if inserted.is_none() {
            return Err(StoreError::Conflict(format!(
                "a key named {:?} exists (revoked names are not reused)",
                key.name
            )));
        }
        let record = self.by_name(&key.name).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("key {:?} vanished after its insert", key.name))
        })?;
        Ok(IssuedKey { record, secret })
    }

    pub(crate) async fn all(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(select_keys!("ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(D::api_key).collect()
    }

    pub(crate) async fn by_name(&self, name: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(select_keys!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(D::api_key).transpose()
    }

    /// The live (unrevoked) key with this hash.
    pub(crate) async fn by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(select_keys!("WHERE hash = $1 AND revoked_at IS NULL"))
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(D::api_key).transpose()
    }

    /// Every live key with its hash, for a server's cache.
    pub(crate) async fn live(&self) -> Result<Vec<(KeyHash, ApiKeyRecord)>> {
        let rows = sqlx::query(
            "SELECT hash, name, role, grants, rate_per_second, created_at, last_used_at, revoked_at
             FROM api_keys WHERE revoked_at IS NULL ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((KeyHash(D::text_column(row, "hash")?), D::api_key(row)?)))
            .collect()
    }

    /// Marks a key revoked; answers false when no live key has this name.
    pub(crate) async fn revoke(&self, name: &str) -> Result<bool> {
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL
             RETURNING name",
        )
        .bind(name)
        .bind(D::ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(revoked.is_some())
    }

    /// Records when keys were last used; never moves a time backwards.
    pub(crate) async fn touch(&self, used: &[(String, DateTime<Utc>)]) -> Result<()> {
        for (name, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2
                 WHERE name = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(name.as_str())
            .bind(D::ts(*at))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}

/// Grants as stored: a JSON array of strings.
pub(crate) fn parse_grants(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|err| StoreError::Corrupt(format!("key grants: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hash_to_fixed_width_hex() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        let hash = KeyHash::of(&a);
        assert_eq!(hash.as_str().len(), 64);
        assert!(hash.matches(&KeyHash::of(&a)));
        assert!(!hash.matches(&KeyHash::of(&b)));
        assert_eq!(format!("{hash:?}"), "KeyHash(..)");
    }

    #[test]
    fn bad_keys_are_refused() {
        let key = |name: &str, rate| NewApiKey {
            name: name.to_owned(),
            role: KeyRole::User,
            grants: vec!["calculator".to_owned()],
            rate_per_second: rate,
        };
        assert!(key("alice", Some(2.0)).check().is_ok());
        assert!(key("", None).check().is_err());
        assert!(key("with space", None).check().is_err());
        assert!(key("alice", Some(0.0)).check().is_err());
        assert!(key("alice", Some(f64::NAN)).check().is_err());
        // Regression: 1e-300 passed as positive, and the server panicked building its bucket.
        assert!(key("alice", Some(1e-300)).check().is_err());
        assert!(key("alice", Some(1e300)).check().is_err());
        assert!(key("alice", Some(MIN_RATE_PER_SECOND)).check().is_ok());
    }
}
