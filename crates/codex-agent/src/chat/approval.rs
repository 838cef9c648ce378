//! A model's tool call that waits for a person before it runs.
//!
//! Whether it waits is the plugin's policy under the turn's mode
//! ([`codex_plugin::ApprovalMode::decide`]); an answer "for the rest of this session" settles
//! the next calls of that plugin there without asking. The question goes out on the turn's
//! stream (`approval_required`), and every step of it (asked, approved, denied, expired,
//! withdrawn) is an `approval` event in the session's log, with who answered.

use std::time::Duration;

use chrono::Utc;
use codex_host::PluginEntry;
use codex_plugin::Policy;
use codex_store::{ApprovalPayload, NewEvent};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::event::{ApprovalRequest, Progress, Sender};
use super::{Chat, ChatError};
use crate::approvals::{Answer, ApprovalInfo};

/// One tool call to decide on.
pub(super) struct CallToApprove<'a> {
    pub session_id: &'a str,
    pub turn_id: Uuid,
    pub call_id: &'a str,
    pub entry: &'a PluginEntry,
    pub arguments: &'a Value,
}

/// A call to one of our plugins that `/v1` hands to the client to approve.
pub(super) struct HandedOff<'a> {
    pub session_id: &'a str,
    pub call_id: &'a str,
    pub entry: &'a PluginEntry,
    pub arguments: &'a Value,
}

/// Whether a call may run: `None` to run it, or why it may not (the tool's result for the
/// model).
pub(super) type Verdict = Option<String>;

impl Chat {
    /// Decides on one tool call, asking a person and waiting when it needs approval.
    /// A `deny` policy is left to the plugin manager, which refuses the call wherever it
    /// comes from and logs the refusal as the run's outcome.
    pub(super) async fn approve_call(
        &self,
        call: CallToApprove<'_>,
        tx: &Sender,
        cancel: &CancellationToken,
    ) -> Result<Verdict, ChatError> {
        let plugin = call.entry.info.name.as_str();
        if !self.asks(call.entry) {
            return Ok(None);
        }
        let approvals = self.approvals();
        match approvals.remembered(call.session_id, plugin) {
            Some(true) => return Ok(None),
            Some(false) => {
                return Ok(Some(format!(
                    "the user denied '{plugin}' for the rest of this session"
                )));
            }
            None => {}
        }
        let timeout = Duration::from_millis(self.inner.config.approval_timeout_ms);
        let now = Utc::now();
        let info = ApprovalInfo {
            id: Uuid::now_v7(),
            session_id: call.session_id.to_owned(),
            turn_id: call.turn_id,
            call_id: call.call_id.to_owned(),
            plugin: plugin.to_owned(),
            arguments: call.arguments.clone(),
            actor: self.actor().map(str::to_owned),
            requested_at: now,
            expires_at: now
                + chrono::TimeDelta::from_std(timeout).unwrap_or(chrono::TimeDelta::MAX),
        };
        let mut pending = approvals.ask(info.clone());
        self.log_approval(&info, "requested", None).await?;
        let _ = tx.send(Progress::Approval(ApprovalRequest {
            approval_id: info.id,
            id: info.call_id.clone(),
            plugin: info.plugin.clone(),
            arguments: info.arguments.clone(),
            expires_at: info.expires_at,
        }));
        // `None` inside: the deadline passed; `None` outside: the turn was cancelled.
        let waited = tokio::select! {
            answer = pending.answer() => Some(answer),
            () = tokio::time::sleep(timeout) => Some(None),
            () = cancel.cancelled() => None,
        };
        // Withdraws the question if nobody answered it.
        drop(pending);
        let Some(answer) = waited else {
            self.log_approval(&info, "withdrawn", None).await?;
            return Ok(Some(
                "the turn was cancelled before anyone answered".to_owned(),
            ));
        };
        Ok(match answer {
            Some(answer) if answer.approved => {
                self.log_approval(&info, "approved", Some(&answer)).await?;
                None
            }
            Some(answer) => {
                self.log_approval(&info, "denied", Some(&answer)).await?;
                Some(format!("the user denied this call of '{plugin}'"))
            }
            None => {
                self.log_approval(&info, "expired", None).await?;
                Some(format!(
                    "nobody approved this call of '{plugin}' within {} s, so it did not run",
                    timeout.as_secs()
                ))
            }
        })
    }

    /// Whether a call of `entry` needs approval under this turn's mode and its policy.
    fn asks(&self, entry: &PluginEntry) -> bool {
        let mode = self.mode.unwrap_or(self.inner.config.approval);
        mode.decide(entry.policy(), entry.info.read_only) == Policy::Ask
    }

    /// Whether a call of `entry` would make a person answer now: it needs approval, and no
    /// answer for the rest of the session settles it.
    pub(super) fn would_ask(&self, session_id: &str, entry: &PluginEntry) -> bool {
        self.asks(entry)
            && self
                .approvals()
                .remembered(session_id, &entry.info.name)
                .is_none()
    }

    /// Records that a call needing approval went to the client (`/v1`) to ask its user.
    pub(super) async fn log_handed_off(
        &self,
        turn_id: Uuid,
        call: &HandedOff<'_>,
    ) -> Result<(), ChatError> {
        self.log_approval(&self.handed_off_info(turn_id, call), "requested", None)
            .await
    }

    /// Records the client's answer to a call handed to it: it sent the call back without a
    /// result (approved, the call runs) or with one of its own (denied).
    pub(super) async fn log_client_answer(
        &self,
        turn_id: Uuid,
        call: &HandedOff<'_>,
        approved: bool,
    ) -> Result<(), ChatError> {
        let answer = Answer {
            approved,
            remember: false,
            by: self.actor().map(str::to_owned),
        };
        let state = if approved { "approved" } else { "denied" };
        self.log_approval(&self.handed_off_info(turn_id, call), state, Some(&answer))
            .await
    }

    fn handed_off_info(&self, turn_id: Uuid, call: &HandedOff<'_>) -> ApprovalInfo {
        let now = Utc::now();
        ApprovalInfo {
            id: handed_off_id(call),
            session_id: call.session_id.to_owned(),
            turn_id,
            call_id: call.call_id.to_owned(),
            plugin: call.entry.info.name.clone(),
            arguments: call.arguments.clone(),
            actor: self.actor().map(str::to_owned),
            requested_at: now,
            expires_at: now,
        }
    }

    async fn log_approval(
        &self,
        info: &ApprovalInfo,
        state: &str,
        answer: Option<&Answer>,
    ) -> Result<(), ChatError> {
        let payload = ApprovalPayload {
            approval_id: info.id,
            call_id: info.call_id.clone(),
            plugin: info.plugin.clone(),
            arguments: info.arguments.clone(),
            state: state.to_owned(),
            by: answer.and_then(|a| a.by.clone()),
            remember: answer.is_some_and(|a| a.remember),
        };
        self.append(NewEvent::approval(&info.session_id, &payload))
            .await
    }
}

/// The approval id of a call handed to the client: the same on the request that hands it
/// off and on the later one that answers it, so the audit links the two. Some models number
/// their calls from `call_0` in every answer, so the plugin and arguments count too.
fn handed_off_id(call: &HandedOff<'_>) -> Uuid {
    let name = format!(
        "codexcontinue approval\n{}\n{}\n{}\n{}",
        call.session_id, call.call_id, call.entry.info.name, call.arguments
    );
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}
