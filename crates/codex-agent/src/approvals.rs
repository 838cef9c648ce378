//! Tool calls waiting for a person, by approval id, and the answers that hold for the rest of
//! a session.
//!
//! A chat turn whose model calls a plugin that needs approval asks here and waits: the
//! [`Pending`] it gets resolves when someone answers (`POST /api/approvals/{id}`), and the
//! turn itself gives up at its deadline or when it is cancelled. Dropping the [`Pending`]
//! withdraws the question, so nothing answers a turn that is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

/// One tool call waiting for an answer, as listed (and as one server tells another).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalInfo {
    pub id: Uuid,
    pub session_id: String,
    /// The turn that waits.
    pub turn_id: Uuid,
    /// The model's tool call id.
    pub call_id: String,
    pub plugin: String,
    pub arguments: Value,
    /// The key whose turn asks (answers from other user keys are refused).
    pub actor: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// No answer by then is a denial.
    pub expires_at: DateTime<Utc>,
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    pub approved: bool,
    /// The answer holds for this plugin for the rest of the session.
    pub remember: bool,
    /// Who answered: a key's name, `cli:<user>`; `None` with no key configured.
    pub by: Option<String>,
}

/// Why an answer found nothing to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No call waits under that id here (answered, expired, withdrawn, or never asked).
    #[error("no approval is pending with id {0}")]
    NotPending(Uuid),
}

struct Entry {
    info: ApprovalInfo,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Table {
    pending: HashMap<Uuid, Entry>,
    /// `(session, plugin)` pairs answered "for the rest of this session", with the answer.
    remembered: HashMap<(String, String), bool>,
}

/// The approvals of this process. Cheap to clone; clones share the table.
#[derive(Clone, Default)]
pub struct Approvals {
    table: Arc<Mutex<Table>>,
}

impl Approvals {
    pub fn new() -> Self {
        Approvals::default()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while the lock was held left the table itself intact: keep using it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer given for `plugin` "for the rest of" `session_id`, if any: true to run
    /// without asking, false to refuse without asking.
    pub fn remembered(&self, session_id: &str, plugin: &str) -> Option<bool> {
        self.lock()
            .remembered
            .get(&(session_id.to_owned(), plugin.to_owned()))
            .copied()
    }

    /// Asks; the question stays listed until answered or until the [`Pending`] is dropped.
    pub fn ask(&self, info: ApprovalInfo) -> Pending {
        let (answer, receiver) = oneshot::channel();
        let id = info.id;
        tracing::info!(approval = %id, plugin = %info.plugin, session = %info.session_id, "approval requested");
        self.lock().pending.insert(id, Entry { info, answer });
        Pending {
            approvals: self.clone(),
            id,
            receiver,
        }
    }

    /// The question under `id`, if it is pending.
    pub fn get(&self, id: Uuid) -> Option<ApprovalInfo> {
        self.lock().pending.get(&id).map(|entry| entry.info.clone())
    }

    /// Answers the question under `id`, and remembers the answer for the session when asked
    /// to; answers what was asked.
    pub fn answer(&self, id: Uuid, answer: Answer) -> Result<ApprovalInfo, ApprovalError> {
        let mut table = self.lock();
        let entry = table
            .pending
            .remove(&id)
            .ok_or(ApprovalError::NotPending(id))?;
        if answer.remember {
            table.remembered.insert(
                (entry.info.session_id.clone(), entry.info.plugin.clone()),
                answer.approved,
            );
        }
        tracing::info!(approval = %id, approved = answer.approved, by = ?answer.by, "approval answered");
        // The turn may have given up a moment ago; its deadline answer stands then.
        let _ = entry.answer.send(answer);
        Ok(entry.info)
    }

    /// Every pending question, oldest first.
    pub fn pending(&self) -> Vec<ApprovalInfo> {
        let mut list: Vec<ApprovalInfo> = self
            .lock()
            .pending
            .values()
            .map(|e| e.info.clone())
            .collect();
        list.sort_by_key(|info| info.id);
        list
    }

    /// Forgets the answers remembered for a session (its memory was reset or it was purged).
    pub fn forget_session(&self, session_id: &str) {
        self.lock()
            .remembered
            .retain(|(session, _), _| session != session_id);
    }
}

/// A question waiting for its answer; dropping it withdraws the question.
pub struct Pending {
    approvals: Approvals,
    id: Uuid,
    receiver: oneshot::Receiver<Answer>,
}

impl Pending {
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The answer, once someone gives it; `None` if the table let the question go unanswered
    /// (it cannot while this is alive, but a closed channel is not an answer).
    pub async fn answer(&mut self) -> Option<Answer> {
        (&mut self.receiver).await.ok()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut table = self.approvals.lock();
        if table.pending.remove(&self.id).is_some() {
            tracing::info!(approval = %self.id, "approval withdrawn");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(session: &str) -> ApprovalInfo {
        let now = Utc::now();
        ApprovalInfo {
            id: Uuid::now_v7(),
            session_id: session.to_owned(),
            turn_id: Uuid::now_v7(),
            call_id: "call_1".to_owned(),
            plugin: "shell".to_owned(),
            arguments: serde_json::json!({"command": "ls"}),
            actor: None,
            requested_at: now,
            expires_at: now + chrono::TimeDelta::seconds(60),
        }
    }

    #[tokio::test]
    async fn an_answer_reaches_the_waiting_turn_once() {
        let approvals = Approvals::new();
        let mut pending = approvals.ask(info("s"));
        assert_eq!(approvals.pending().len(), 1);
        let yes = Answer {
            approved: true,
            remember: false,
            by: Some("alice".to_owned()),
        };
        approvals.answer(pending.id(), yes.clone()).unwrap();
        assert_eq!(pending.answer().await, Some(yes.clone()));
        assert!(approvals.pending().is_empty());
        assert_eq!(
            approvals.answer(pending.id(), yes),
            Err(ApprovalError::NotPending(pending.id()))
        );
        assert_eq!(approvals.remembered("s", "shell"), None);
    }

    #[test]
    fn a_withdrawn_question_cannot_be_answered_and_remember_holds_per_session() {
        let approvals = Approvals::new();
        let pending = approvals.ask(info("s"));
        let id = pending.id();
        drop(pending);
        assert!(approvals.pending().is_empty());
        let no = Answer {
            approved: false,
            remember: true,
            by: None,
        };
        assert!(approvals.answer(id, no.clone()).is_err());

        let pending = approvals.ask(info("s"));
        approvals.answer(pending.id(), no).unwrap();
        assert_eq!(approvals.remembered("s", "shell"), Some(false));
        assert_eq!(approvals.remembered("other", "shell"), None);
        approvals.forget_session("s");
        assert_eq!(approvals.remembered("s", "shell"), None);
    }
}
