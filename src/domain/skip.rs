//! Why a step of escalation reached somebody less: the skips paging records in the timeline
//! (`skipped` of a `paged` event, `reasons` of `step.skipped` and `fallback_failed`).
//!
//! A skip is stored as a JSON object, `{"target": "schedule", "schedule": "Primary",
//! "reason": "nobody on call"}`, and its words never change: databases keep their rows, and
//! the console shows the reason as stored. Writers build a [`Skip`] from a [`SkipReason`], so
//! a misspelt reason is a compile error; readers decode one and match on the enum instead of
//! searching the stored text. A reason or target this version does not know (a newer
//! gateway's, or one written by hand) decodes to `Other`, keeping its text, never an error.
//!
//! Each mapping is written once, in `as_str`; parsing derives from it.

use serde::{Deserialize, Serialize};

/// Why a target or a person was not paged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum SkipReason {
    /// The account-manager step, for a customer without one.
    NoAccountManager,
    /// The account manager is away and named nobody to take their pages.
    UnavailableNoDelegate,
    /// A schedule step whose schedule is gone.
    NoSuchSchedule,
    /// A schedule with nobody on call now (the SLA report's `nobody_on_call` breach cause).
    NobodyOnCall,
    /// The last resort, with no support managers to page.
    NoSupportManagers,
    /// A person named by a step who no longer exists.
    NoSuchUser,
    /// A person with no device or contact method that can be paged now.
    NoDeliverableDevice,
    /// A round-robin step whose team is gone.
    NoSuchTeam,
    /// A team member passed over while away.
    Unavailable,
    /// A round-robin step whose team has nobody in it.
    TeamHasNoMembers,
    /// A round-robin step where every member was passed over.
    NoMemberCanBePaged,
    /// Text this version does not know, kept as stored.
    Other(String),
}

impl SkipReason {
    /// Every reason this version writes.
    pub const KNOWN: [SkipReason; 11] = [
        SkipReason::NoAccountManager,
        SkipReason::UnavailableNoDelegate,
        SkipReason::NoSuchSchedule,
        SkipReason::NobodyOnCall,
        SkipReason::NoSupportManagers,
        SkipReason::NoSuchUser,
        SkipReason::NoDeliverableDevice,
        SkipReason::NoSuchTeam,
        SkipReason::Unavailable,
        SkipReason::TeamHasNoMembers,
        SkipReason::NoMemberCanBePaged,
    ];

    /// The stored text: what rows already hold, so it never changes.
    pub fn as_str(&self) -> &str {
        match self {
            SkipReason::NoAccountManager => "the customer has no account manager",
            SkipReason::UnavailableNoDelegate => "unavailable, no delegate",
            SkipReason::NoSuchSchedule => "no such schedule",
            SkipReason::NobodyOnCall => "nobody on call",
            SkipReason::NoSupportManagers => "there are no support managers",
            SkipReason::NoSuchUser => "no such user",
            SkipReason::NoDeliverableDevice => "no deliverable device",
            SkipReason::NoSuchTeam => "no such team",
            SkipReason::Unavailable => "unavailable",
            SkipReason::TeamHasNoMembers => "the team has no members",
            SkipReason::NoMemberCanBePaged => "no member can be paged now",
            SkipReason::Other(text) => text,
        }
    }

    /// The reason stored as `text`; `Other` for text this version does not know.
    pub fn parse(text: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|r| r.as_str() == text)
            .unwrap_or_else(|| SkipReason::Other(text.to_owned()))
    }
}

impl From<String> for SkipReason {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<SkipReason> for String {
    fn from(reason: SkipReason) -> Self {
        reason.as_str().to_owned()
    }
}

/// Which target of a step a skip is about; absent for a person skipped after their target
/// named them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum SkipTarget {
    AccountManager,
    Schedule,
    TeamRoundRobin,
    SupportManagers,
    /// Text this version does not know, kept as stored.
    Other(String),
}

impl SkipTarget {
    /// Every target this version writes.
    pub const KNOWN: [SkipTarget; 4] = [
        SkipTarget::AccountManager,
        SkipTarget::Schedule,
        SkipTarget::TeamRoundRobin,
        SkipTarget::SupportManagers,
    ];

    /// The stored text, which never changes.
    pub fn as_str(&self) -> &str {
        match self {
            SkipTarget::AccountManager => "account_manager",
            SkipTarget::Schedule => "schedule",
            SkipTarget::TeamRoundRobin => "team_round_robin",
            SkipTarget::SupportManagers => "support_managers",
            SkipTarget::Other(text) => text,
        }
    }

    /// The target stored as `text`; `Other` for text this version does not know.
    pub fn parse(text: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|t| t.as_str() == text)
            .unwrap_or_else(|| SkipTarget::Other(text.to_owned()))
    }
}

impl From<String> for SkipTarget {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<SkipTarget> for String {
    fn from(target: SkipTarget) -> Self {
        target.as_str().to_owned()
    }
}

/// One skip as stored: the reason, and whichever of target, schedule, team and person it is
/// about (absent fields are left out of the JSON, as they always were).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<SkipTarget>,
    /// The schedule's name, or the role or id a step named when it is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub reason: SkipReason,
}

impl Skip {
    /// `target` reached nobody, for `reason`.
    pub fn target(target: SkipTarget, reason: SkipReason) -> Self {
        Self {
            target: Some(target),
            schedule: None,
            team: None,
            user_id: None,
            reason,
        }
    }

    /// A person, named by a target, who could not be paged.
    pub fn person(user_id: &str, reason: SkipReason) -> Self {
        Self {
            target: None,
            schedule: None,
            team: None,
            user_id: Some(user_id.to_owned()),
            reason,
        }
    }

    /// The same skip, naming the schedule it is about.
    pub fn schedule(self, schedule: &str) -> Self {
        Self {
            schedule: Some(schedule.to_owned()),
            ..self
        }
    }

    /// The same skip, naming the team it is about.
    pub fn team(self, team: &str) -> Self {
        Self {
            team: Some(team.to_owned()),
            ..self
        }
    }

    /// The same skip, naming the person it is about.
    pub fn user(self, user_id: &str) -> Self {
        Self {
            user_id: Some(user_id.to_owned()),
            ..self
        }
    }
}

impl From<Skip> for serde_json::Value {
    fn from(skip: Skip) -> Self {
        serde_json::to_value(skip).expect("a skip is strings only")
    }
}

/// The detail of a `step.skipped` timeline event, as far as readers need it: why each target
/// of the step reached nobody.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SkippedStep {
    #[serde(default)]
    pub reasons: Vec<Skip>,
}

impl SkippedStep {
    /// The stored detail text; `None` when it is not such an object.
    pub fn parse(detail: &str) -> Option<Self> {
        serde_json::from_str(detail).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The stored words. Rows already in databases hold exactly these: never change one.
    const STORED: [(SkipReason, &str); 11] = [
        (
            SkipReason::NoAccountManager,
            "the customer has no account manager",
        ),
        (
            SkipReason::UnavailableNoDelegate,
            "unavailable, no delegate",
        ),
        (SkipReason::NoSuchSchedule, "no such schedule"),
        (SkipReason::NobodyOnCall, "nobody on call"),
        (
            SkipReason::NoSupportManagers,
            "there are no support managers",
        ),
        (SkipReason::NoSuchUser, "no such user"),
        (SkipReason::NoDeliverableDevice, "no deliverable device"),
        (SkipReason::NoSuchTeam, "no such team"),
        (SkipReason::Unavailable, "unavailable"),
        (SkipReason::TeamHasNoMembers, "the team has no members"),
        (SkipReason::NoMemberCanBePaged, "no member can be paged now"),
    ];

    #[test]
    fn every_reason_keeps_its_stored_text() {
        assert_eq!(
            STORED.len(),
            SkipReason::KNOWN.len(),
            "a reason is unpinned"
        );
        for (reason, text) in STORED {
            assert_eq!(serde_json::to_value(&reason).unwrap(), json!(text));
            assert_eq!(
                serde_json::from_value::<SkipReason>(json!(text)).unwrap(),
                reason
            );
        }
    }

    #[test]
    fn every_target_keeps_its_stored_text() {
        let stored = [
            (SkipTarget::AccountManager, "account_manager"),
            (SkipTarget::Schedule, "schedule"),
            (SkipTarget::TeamRoundRobin, "team_round_robin"),
            (SkipTarget::SupportManagers, "support_managers"),
        ];
        assert_eq!(
            stored.len(),
            SkipTarget::KNOWN.len(),
            "a target is unpinned"
        );
        for (target, text) in stored {
            assert_eq!(serde_json::to_value(&target).unwrap(), json!(text));
            assert_eq!(
                serde_json::from_value::<SkipTarget>(json!(text)).unwrap(),
                target
            );
        }
    }

    #[test]
    fn unknown_words_decode_to_other_and_write_back_unchanged() {
        let stored = json!({ "target": "pager_duty", "reason": "on holiday" });
        let skip: Skip = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(skip.reason, SkipReason::Other("on holiday".into()));
        assert_eq!(skip.target, Some(SkipTarget::Other("pager_duty".into())));
        assert_eq!(serde_json::Value::from(skip), stored);
    }

    #[test]
    fn skips_are_written_as_they_always_were() {
        let cases = [
            (
                Skip::target(SkipTarget::AccountManager, SkipReason::NoAccountManager),
                json!({ "target": "account_manager", "reason": "the customer has no account manager" }),
            ),
            (
                Skip::target(
                    SkipTarget::AccountManager,
                    SkipReason::UnavailableNoDelegate,
                )
                .user("usr-1"),
                json!({ "target": "account_manager", "user_id": "usr-1", "reason": "unavailable, no delegate" }),
            ),
            (
                Skip::target(SkipTarget::Schedule, SkipReason::NobodyOnCall).schedule("Primary"),
                json!({ "target": "schedule", "schedule": "Primary", "reason": "nobody on call" }),
            ),
            (
                Skip::target(SkipTarget::TeamRoundRobin, SkipReason::NoSuchTeam).team("gold"),
                json!({ "target": "team_round_robin", "team": "gold", "reason": "no such team" }),
            ),
            (
                Skip::person("usr-2", SkipReason::Unavailable).team("gold"),
                json!({ "team": "gold", "user_id": "usr-2", "reason": "unavailable" }),
            ),
            (
                Skip::person("usr-3", SkipReason::NoDeliverableDevice),
                json!({ "user_id": "usr-3", "reason": "no deliverable device" }),
            ),
        ];
        for (skip, stored) in cases {
            // The same text as the `json!` objects written before (serde_json sorts keys).
            assert_eq!(
                serde_json::Value::from(skip.clone()).to_string(),
                stored.to_string()
            );
            assert_eq!(serde_json::from_value::<Skip>(stored).unwrap(), skip);
        }
    }

    #[test]
    fn a_stored_skipped_step_reads_back_typed() {
        let detail = r#"{"pass":1,"reasons":[{"reason":"nobody on call","schedule":"Primary","target":"schedule"},{"reason":"something new"}],"step":2}"#;
        let step = SkippedStep::parse(detail).unwrap();
        let reasons: Vec<_> = step.reasons.into_iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::NobodyOnCall,
                SkipReason::Other("something new".into())
            ]
        );
        assert_eq!(SkippedStep::parse("not json"), None);
    }
}
