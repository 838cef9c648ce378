//! `/api/keys`: the API keys kept in the store, for admins. A change reaches every server
//! sharing the database through the store's bus (a revoked key is refused everywhere at once).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use codex_store::NewApiKey;

use crate::dto::keys::{CreateKeyRequest, CreatedKey, KeyList, KeyView, role};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Every stored key (never a secret), revoked ones included.
#[utoipa::path(get, path = "/api/keys", operation_id = "list_keys", tag = "keys",
    responses(
        (status = 200, body = KeyList),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let keys = state.store.keys().await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Creates a key; the answer holds it this once (only its hash is stored).
#[utoipa::path(post, path = "/api/keys", operation_id = "create_key", tag = "keys",
    request_body = CreateKeyRequest,
    responses(
        (status = 201, body = CreatedKey),
        (status = 400, description = "A bad name, role, grant or rate", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "The name is in use (revoked names included)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let role = role(request.role.as_deref())
        .ok_or_else(|| ApiError::InvalidRequest("role: use \"admin\" or \"user\"".to_owned()))?;
    let issued = state
        .store
        .create_key(NewApiKey {
            name: request.name,
            role,
            grants: request.plugins,
            rate_per_second: request.rate_per_second,
        })
        .await?;
    tracing::info!(key = %issued.record.name, role = %issued.record.role, "key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: issued.secret,
            record: KeyView::from(issued.record),
        }),
    ))
}

/// Revokes a key on every server sharing the database. Revoking is idempotent: a key revoked
/// before answers 204 again (its name stays taken), and only a name never issued is 404.
#[utoipa::path(delete, path = "/api/keys/{name}", operation_id = "revoke_key", tag = "keys",
    params(("name" = String, Path, description = "The key's name")),
    responses(
        (status = 204, description = "Revoked, now or before"),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No key was ever issued with this name", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.revoke_key(&name).await? {
        // This server refuses it from now on, without waiting for its own notification.
        state.keys.reload().await?;
        tracing::info!(key = %name, "key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else if state.store.keys().await?.iter().any(|key| key.name == name) {
        // Revoked before (by this server, another one or the CLI): the outcome asked for holds.
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no key named '{name}'")))
    }
}
