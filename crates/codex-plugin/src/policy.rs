//! Approval: whether a model's call of a plugin runs, waits for a person, or is refused.
//!
//! Each plugin has a [`Policy`] (its manifest's, else the config file's, else `allow`; an
//! admin can change it at run time). A chat turn has an [`ApprovalMode`] that can ask for
//! more: every call, or every call of a plugin that acts rather than only reads.

use serde::{Deserialize, Serialize};

/// What a plugin's calls from a model need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Run without asking.
    #[default]
    Allow,
    /// Wait for a person's answer; no answer by the deadline is a denial.
    Ask,
    /// Never run: the call is refused on every surface, a person's `/run` and a direct
    /// execute included.
    Deny,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::Allow, Policy::Ask, Policy::Deny];

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Ask => "ask",
            Policy::Deny => "deny",
        }
    }

    /// The policy with this name (`allow`, `ask`, `deny`).
    pub fn parse(name: &str) -> Option<Policy> {
        Self::ALL.into_iter().find(|policy| policy.as_str() == name)
    }
}

/// How a chat turn decides which of the model's tool calls wait for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Each plugin's policy as set.
    #[default]
    Auto,
    /// Ask for every call (a plugin set to `deny` stays refused).
    Approve,
    /// Ask for every call of a plugin that acts; plugins that only read follow their policy.
    Smart,
}

impl ApprovalMode {
    pub const ALL: [ApprovalMode; 3] = [
        ApprovalMode::Auto,
        ApprovalMode::Approve,
        ApprovalMode::Smart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Auto => "auto",
            ApprovalMode::Approve => "approve",
            ApprovalMode::Smart => "smart",
        }
    }

    /// The mode with this name (`auto`, `approve`, `smart`).
    pub fn parse(name: &str) -> Option<ApprovalMode> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == name)
    }

    /// What a call of a plugin with `policy` needs in this mode; `read_only` says the plugin
    /// only reads.
    pub fn decide(self, policy: Policy, read_only: bool) -> Policy {
        match (self, policy) {
            (_, Policy::Deny) => Policy::Deny,
            (ApprovalMode::Approve, _) => Policy::Ask,
            (ApprovalMode::Smart, _) if !read_only => Policy::Ask,
            (_, policy) => policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_ask_for_more_but_never_lift_a_denial() {
        use ApprovalMode::*;
        use Policy::*;
        // (mode, policy, read_only) -> needed
        let table = [
            (Auto, Allow, false, Allow),
            (Auto, Ask, true, Ask),
            (Auto, Deny, true, Deny),
            (Approve, Allow, true, Ask),
            (Approve, Deny, false, Deny),
            (Smart, Allow, false, Ask),
            (Smart, Allow, true, Allow),
            (Smart, Ask, true, Ask),
            (Smart, Deny, false, Deny),
        ];
        for (mode, policy, read_only, needed) in table {
            assert_eq!(
                mode.decide(policy, read_only),
                needed,
                "{mode:?} {policy:?} {read_only}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for policy in Policy::ALL {
            assert_eq!(Policy::parse(policy.as_str()), Some(policy));
        }
        for mode in ApprovalMode::ALL {
            assert_eq!(ApprovalMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Policy::parse("maybe"), None);
    }
}
