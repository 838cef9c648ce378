//! Wire types of `/api/keys`.

use chrono::{DateTime, Utc};
use codex_store::{ApiKeyRecord, KeyRole};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Unique: who uses the key (letters, digits, `-_.@`). Revoked names are not reused.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$")]
    pub name: String,
    /// `admin` or `user` (the default).
    #[serde(default)]
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<String>,
    /// Plugin name patterns a user key may run (`calculator`, `github__*`).
    #[serde(default)]
    #[schema(value_type = Vec<GrantPattern>, max_items = 256)]
    pub plugins: Vec<String>,
    /// Requests per second the key may make (a token bucket); absent: no limit of its own.
    #[serde(default)]
    #[schema(minimum = 0.001, maximum = 1_000_000.0)]
    pub rate_per_second: Option<f64>,
}

/// A key's role, as the OpenAPI document spells the values `role` takes.
#[derive(ToSchema)]
#[schema(as = RoleName)]
#[allow(dead_code)]
pub enum RoleName {
    #[schema(rename = "admin")]
    Admin,
    #[schema(rename = "user")]
    User,
}

/// A grant pattern, as the OpenAPI document constrains it: 1 to 256 bytes, no NUL.
#[derive(ToSchema)]
#[schema(as = GrantPattern, value_type = String, min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
#[allow(dead_code)]
pub struct GrantPattern(String);

/// A stored key, never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    pub plugins: Vec<String>,
    pub rate_per_second: Option<f64>,
    pub created_at: DateTime<Utc>,
    /// Written every few seconds, not on every request.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(key: ApiKeyRecord) -> Self {
        KeyView {
            name: key.name,
            role: key.role.as_str().to_owned(),
            plugins: key.grants,
            rate_per_second: key.rate_per_second,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// Every stored key, revoked ones included.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// A key just created: `key` is shown this once and never stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: KeyView,
}

/// The role a request names; `user` when it names none.
pub fn role(name: Option<&str>) -> Option<KeyRole> {
    match name {
        None => Some(KeyRole::User),
        Some(name) => KeyRole::parse(name),
    }
}
