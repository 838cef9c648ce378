//! `/api/approvals`: the tool calls of chat turns waiting for a person, and answering them.
//!
//! A turn whose model calls a plugin that needs approval (its policy is `ask`, or the turn's
//! mode asks) waits, and streams `approval_required` with the approval's id. Any answer
//! resumes it; so do its deadline (a denial) and its cancellation. A user key sees and
//! answers only the calls of its own turns; another key's answers as one that is not pending.
//! A question waiting on another server on the same database is answered through it (see
//! [`crate::control`]).

use axum::Json;
use axum::extract::{Path, State};
use codex_agent::Answer;
use uuid::Uuid;

use crate::dto::approvals::{
    AnswerRequest, AnswerResponse, ApprovalList, ApprovalView, DecisionParam,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};
use crate::state::AppState;

/// The tool calls waiting for an answer on this server, oldest first (for a user key, those
/// of its own turns).
#[utoipa::path(get, path = "/api/approvals", operation_id = "list_approvals", tag = "approvals",
    responses(
        (status = 200, body = ApprovalList),
        (status = 401, description = "No valid key", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<ApprovalList>, ApiError> {
    let approvals = state
        .chat
        .approvals()
        .pending()
        .into_iter()
        .filter(|info| caller.is_admin() || info.actor.as_deref() == caller.actor())
        .map(ApprovalView::from)
        .collect();
    Ok(Json(ApprovalList { approvals }))
}

/// Approves or denies a waiting tool call; the turn resumes at once. With `remember`, the
/// answer holds for the plugin's next calls in the session.
#[utoipa::path(post, path = "/api/approvals/{id}", operation_id = "answer_approval", tag = "approvals",
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The approval's id (a UUID)")),
    request_body = AnswerRequest,
    responses(
        (status = 200, description = "Answered; the turn resumes", body = AnswerResponse),
        (status = 400, description = "The id is not a UUID, or the body is not an answer", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 404, description = "Nothing waits under that id (answered, expired, withdrawn, or another key's)", body = ErrorBody),
    ))]
pub async fn answer(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<AnswerRequest>,
) -> Result<Json<AnswerResponse>, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::InvalidRequest(format!("'{id}' is not an approval id (a UUID)")))?;
    let not_pending = || ApiError::NotFound(format!("no approval is pending with id {id}"));
    let by = caller.actor().map(str::to_owned);
    let answer = Answer {
        approved: request.decision == DecisionParam::Approve,
        remember: request.remember,
        by: by.clone(),
    };
    let approvals = state.chat.approvals();
    // Another key's question answers exactly as one that is not pending.
    let mine = |info: &codex_agent::ApprovalInfo| {
        caller.is_admin() || info.actor.as_deref() == caller.actor()
    };
    let info = match approvals.get(id).filter(mine) {
        Some(_) => approvals.answer(id, answer).map_err(|_| not_pending())?,
        // Not waiting on this server: the one on the database whose turn waits answers it.
        None => {
            let owner = (!caller.is_admin()).then(|| caller.actor()).flatten();
            state
                .control
                .answer_elsewhere(id, answer, owner)
                .await?
                .ok_or_else(not_pending)?
        }
    };
    Ok(Json(AnswerResponse {
        approval: ApprovalView::from(info),
        decision: request.decision,
        remember: request.remember,
        by,
    }))
}
