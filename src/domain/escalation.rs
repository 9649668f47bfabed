//! Escalation policies: who is paged, in what order, and how long each gets to acknowledge.
//!
//! A policy is a list of [`Step`]s run in order; each step pages all its [`Target`]s and waits
//! its `ack_timeout` for an acknowledgement before the next step is paged. After the last step
//! the whole chain starts again, `repeat` more times, and after the last step of the last pass
//! times out the incident is *unanswered* ([`EscalationPolicy::next`] returns `None`).
//!
//! This module is position arithmetic only. An incident's place in the chain is a [`Position`]
//! (pass, step), stored with the incident; the escalator asks for the step to page, the deadline
//! of the page, and the position after it. Deciding to skip a step at once because none of its
//! targets has a deliverable device is the escalator's job: it simply asks for
//! [`EscalationPolicy::next`] early. Resolving targets to people needs the customer, the
//! schedules and the user directory, so it happens outside too; here a schedule is named by a
//! [`ScheduleRef`], either a concrete id or a role ("primary") that configuration maps to one.
//!
//! Worst cases assume no step is skipped and nobody acknowledges; they are what the SLA check in
//! [`crate::domain::sla`] holds against the tier's targets.
//!
//! A policy can only be built valid ([`EscalationPolicy::new`], or deserialising, which
//! validates with errors that name the field): at least one step, every step with a target, every
//! timeout a whole number of minutes of at least one, and at most [`MAX_REPEAT`] repeats.
//! That a round-robin target's team exists is checked where a policy is stored
//! ([`EscalationPolicy::team_refs`] names the fields), since it needs the store.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::minutes;

/// Most extra passes a policy may make: ten passes of pages nobody answers is an outage of the
/// paging process, not something more repeats will fix.
pub const MAX_REPEAT: u32 = 9;

/// A validated escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyFields")]
pub struct EscalationPolicy {
    steps: Vec<Step>,
    repeat: u32,
}

/// The wire shape of an [`EscalationPolicy`], before validation. Serialising uses the derived
/// impl on the policy itself, which has the same fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFields {
    steps: Vec<Step>,
    #[serde(default)]
    repeat: u32,
}

/// One step: page every target, then wait `ack_timeout` for an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub targets: Vec<Target>,
    #[serde(rename = "ack_timeout_minutes", with = "minutes")]
    pub ack_timeout: Duration,
}

/// Who a step pages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// The account manager of the customer who raised the alert.
    AccountManager,
    /// Whoever is on call in a schedule at the time of the page.
    Schedule { schedule: ScheduleRef },
    /// One named user.
    User { user_id: String },
    /// Every user with the support-manager role.
    SupportManagers,
    /// One member of a team, the next in turn who can be paged now
    /// ([`crate::domain::team::turn_order`]); the pick is recorded per incident and position.
    TeamRoundRobin { team: String },
}

/// A schedule, by id or by a role that configuration resolves to an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleRef {
    /// A role such as "primary" or "secondary", so a default policy need not know ids.
    Role(String),
    /// A concrete schedule id.
    Id(String),
}

impl ScheduleRef {
    pub fn role(name: &str) -> Self {
        ScheduleRef::Role(name.to_owned())
    }
}

/// Where an incident is in its policy: `pass` 0 is the first run through the steps, `step`
/// indexes [`EscalationPolicy::steps`]. Both count from 0; [`fmt::Display`] counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub pass: u32,
    pub step: usize,
}

impl Position {
    /// The first page of every incident.
    pub const FIRST: Position = Position { pass: 0, step: 0 };
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pass {}, step {}", self.pass + 1, self.step + 1)
    }
}

/// A policy that cannot be used, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyError {
    /// e.g. `steps[1].targets`.
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        reason: reason.into(),
    }
}

impl EscalationPolicy {
    pub fn new(steps: Vec<Step>, repeat: u32) -> Result<Self, PolicyError> {
        if steps.is_empty() {
            return Err(invalid("steps", "must have at least one step"));
        }
        for (i, step) in steps.iter().enumerate() {
            validate_step(step, &format!("steps[{i}]"))?;
        }
        if repeat > MAX_REPEAT {
            return Err(invalid(
                "repeat",
                format!("must be at most {MAX_REPEAT}, not {repeat}"),
            ));
        }
        Ok(Self { steps, repeat })
    }

    /// The Gold default: the account manager (5 min), then the primary on-call (5 min), then the
    /// secondary on-call together with the support managers (10 min); three passes in all.
    /// Schedules are the roles "primary" and "secondary", resolved by configuration.
    pub fn gold_default() -> Self {
        let step = |targets, minutes| Step {
            targets,
            ack_timeout: Duration::minutes(minutes),
        };
        Self {
            steps: vec![
                step(vec![Target::AccountManager], 5),
                step(
                    vec![Target::Schedule {
                        schedule: ScheduleRef::role("primary"),
                    }],
                    5,
                ),
                step(
                    vec![
                        Target::Schedule {
                            schedule: ScheduleRef::role("secondary"),
                        },
                        Target::SupportManagers,
                    ],
                    10,
                ),
            ],
            repeat: 2,
        }
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Extra passes after the first.
    pub fn repeat(&self) -> u32 {
        self.repeat
    }

    /// Passes in all: the first plus the repeats.
    pub fn passes(&self) -> u32 {
        self.repeat + 1
    }

    /// The last position paged before the incident is unanswered.
    pub fn last_position(&self) -> Position {
        Position {
            pass: self.repeat,
            step: self.steps.len() - 1,
        }
    }

    /// The step to page at `position`, or `None` if the position is outside this policy (the
    /// policy was edited while the incident was open).
    pub fn step_at(&self, position: Position) -> Option<&Step> {
        if position.pass > self.repeat {
            return None;
        }
        self.steps.get(position.step)
    }

    /// The position after `position`: the next step, or the first step of the next pass, or
    /// `None` when `position` is the last one (the incident is then unanswered) or outside the
    /// policy.
    pub fn next(&self, position: Position) -> Option<Position> {
        self.step_at(position)?;
        if position.step + 1 < self.steps.len() {
            Some(Position {
                step: position.step + 1,
                ..position
            })
        } else if position.pass < self.repeat {
            Some(Position {
                pass: position.pass + 1,
                step: 0,
            })
        } else {
            None
        }
    }

    /// When the page sent at `paged_at` for `position` times out and the escalator moves on;
    /// `None` for a position outside the policy.
    pub fn next_deadline(
        &self,
        paged_at: DateTime<Utc>,
        position: Position,
    ) -> Option<DateTime<Utc>> {
        self.step_at(position).map(|s| paged_at + s.ack_timeout)
    }

    /// Every position in order with its worst-case offset from the first page.
    pub fn timeline(&self) -> Vec<(Position, Duration)> {
        let mut out = Vec::new();
        let mut position = Some(Position::FIRST);
        let mut offset = Duration::zero();
        while let Some(p) = position {
            out.push((p, offset));
            offset += self.steps[p.step].ack_timeout;
            position = self.next(p);
        }
        out
    }

    /// The timeouts of the first pass's steps before its last step: waiting them all out is how
    /// long it takes until every step has been paged once.
    pub fn first_pass_waits(&self) -> Vec<Duration> {
        self.steps[..self.steps.len() - 1]
            .iter()
            .map(|s| s.ack_timeout)
            .collect()
    }

    /// Time from the first page until the last step of the first pass is paged.
    pub fn first_pass_to_last_step(&self) -> Duration {
        self.first_pass_waits().into_iter().sum()
    }

    /// Time of one whole pass, every timeout waited out.
    pub fn pass_duration(&self) -> Duration {
        self.steps.iter().map(|s| s.ack_timeout).sum()
    }

    /// Time from the first page until the last step of the last pass is paged.
    pub fn worst_case_to_last_step(&self) -> Duration {
        self.worst_case_total() - self.steps[self.steps.len() - 1].ack_timeout
    }

    /// Time from the first page until the chain is exhausted and the incident is unanswered.
    pub fn worst_case_total(&self) -> Duration {
        self.pass_duration() * self.passes() as i32
    }

    /// Every schedule the policy pages, each once, in order of first appearance.
    pub fn schedule_refs(&self) -> Vec<&ScheduleRef> {
        let mut refs: Vec<&ScheduleRef> = Vec::new();
        for target in self.steps.iter().flat_map(|s| &s.targets) {
            if let Target::Schedule { schedule } = target {
                if !refs.contains(&schedule) {
                    refs.push(schedule);
                }
            }
        }
        refs
    }

    /// Every team the policy pages round-robin, with the path of each target's `team` field
    /// (`steps[1].targets[0].team`), in order: what a check that the teams exist names.
    pub fn team_refs(&self) -> Vec<(String, &str)> {
        let mut refs = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            for (j, target) in step.targets.iter().enumerate() {
                if let Target::TeamRoundRobin { team } = target {
                    refs.push((format!("steps[{i}].targets[{j}].team"), team.as_str()));
                }
            }
        }
        refs
    }

    /// The same policy with every schedule role replaced by the id `role_to_id` gives for it;
    /// an unknown role is an error naming the target.
    pub fn resolve_schedules(
        &self,
        role_to_id: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PolicyError> {
        let mut resolved = self.clone();
        for (i, step) in resolved.steps.iter_mut().enumerate() {
            for (j, target) in step.targets.iter_mut().enumerate() {
                if let Target::Schedule {
                    schedule: ScheduleRef::Role(role),
                } = target
                {
                    let id = role_to_id(role).ok_or_else(|| {
                        invalid(
                            format!("steps[{i}].targets[{j}].schedule"),
                            format!("unknown schedule role {role:?}"),
                        )
                    })?;
                    *target = Target::Schedule {
                        schedule: ScheduleRef::Id(id),
                    };
                }
            }
        }
        Ok(resolved)
    }
}

fn validate_step(step: &Step, field: &str) -> Result<(), PolicyError> {
    if step.targets.is_empty() {
        return Err(invalid(format!("{field}.targets"), "must not be empty"));
    }
    for (j, target) in step.targets.iter().enumerate() {
        let blank = match target {
            Target::User { user_id } => user_id.trim().is_empty().then_some("user_id"),
            Target::Schedule {
                schedule: ScheduleRef::Role(s) | ScheduleRef::Id(s),
            } => s.trim().is_empty().then_some("schedule"),
            Target::TeamRoundRobin { team } => team.trim().is_empty().then_some("team"),
            Target::AccountManager | Target::SupportManagers => None,
        };
        if let Some(key) = blank {
            return Err(invalid(
                format!("{field}.targets[{j}].{key}"),
                "must not be empty",
            ));
        }
    }
    if !minutes::is_whole_positive(step.ack_timeout) {
        return Err(invalid(
            format!("{field}.ack_timeout_minutes"),
            format!(
                "must be a whole number of minutes, at least 1, not {}",
                minutes::display(step.ack_timeout)
            ),
        ));
    }
    Ok(())
}

impl TryFrom<PolicyFields> for EscalationPolicy {
    type Error = PolicyError;

    fn try_from(f: PolicyFields) -> Result<Self, Self::Error> {
        EscalationPolicy::new(f.steps, f.repeat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn at(pass: u32, step: usize) -> Position {
        Position { pass, step }
    }

    fn step(targets: Vec<Target>, minutes: i64) -> Step {
        Step {
            targets,
            ack_timeout: Duration::minutes(minutes),
        }
    }

    fn user(id: &str) -> Target {
        Target::User { user_id: id.into() }
    }

    #[test]
    fn gold_default_is_valid_and_has_three_steps_and_three_passes() {
        let p = EscalationPolicy::gold_default();
        assert_eq!(
            EscalationPolicy::new(p.steps().to_vec(), p.repeat()),
            Ok(p.clone())
        );
        assert_eq!(p.steps().len(), 3);
        assert_eq!(p.passes(), 3);
        assert_eq!(p.steps()[0].targets, [Target::AccountManager]);
        assert_eq!(
            p.steps()[2].targets,
            [
                Target::Schedule {
                    schedule: ScheduleRef::role("secondary")
                },
                Target::SupportManagers
            ]
        );
    }

    #[test]
    fn gold_default_worst_cases() {
        let p = EscalationPolicy::gold_default();
        assert_eq!(p.first_pass_waits(), [Duration::minutes(5); 2]);
        assert_eq!(p.first_pass_to_last_step(), Duration::minutes(10));
        assert_eq!(p.pass_duration(), Duration::minutes(20));
        // Passes 1 and 2 in full, then 5 + 5 into pass 3.
        assert_eq!(p.worst_case_to_last_step(), Duration::minutes(50));
        assert_eq!(p.worst_case_total(), Duration::minutes(60));
    }

    #[test]
    fn next_walks_every_step_of_every_pass_then_stops() {
        let p = EscalationPolicy::gold_default();
        let mut walked = vec![Position::FIRST];
        while let Some(next) = p.next(*walked.last().unwrap()) {
            walked.push(next);
        }
        assert_eq!(
            walked,
            [
                at(0, 0),
                at(0, 1),
                at(0, 2),
                at(1, 0),
                at(1, 1),
                at(1, 2),
                at(2, 0),
                at(2, 1),
                at(2, 2)
            ]
        );
        assert_eq!(p.last_position(), at(2, 2));
        assert_eq!(p.next(at(2, 2)), None);
    }

    #[test]
    fn positions_outside_the_policy_have_no_step_next_or_deadline() {
        let p = EscalationPolicy::gold_default();
        assert_eq!(p.step_at(at(3, 0)), None);
        assert_eq!(p.step_at(at(0, 3)), None);
        assert_eq!(p.next(at(0, 7)), None);
        assert_eq!(p.next_deadline(utc("2024-01-01T00:00:00Z"), at(5, 0)), None);
    }

    #[test]
    fn step_at_gives_the_step_of_any_pass() {
        let p = EscalationPolicy::gold_default();
        assert_eq!(p.step_at(at(1, 1)), Some(&p.steps()[1]));
        assert_eq!(p.step_at(at(2, 2)), Some(&p.steps()[2]));
    }

    #[test]
    fn next_deadline_adds_the_step_timeout() {
        let p = EscalationPolicy::gold_default();
        let paged = utc("2024-01-01T10:00:00Z");
        assert_eq!(
            p.next_deadline(paged, at(0, 0)),
            Some(utc("2024-01-01T10:05:00Z"))
        );
        assert_eq!(
            p.next_deadline(paged, at(1, 2)),
            Some(utc("2024-01-01T10:10:00Z"))
        );
    }

    #[test]
    fn timeline_offsets_are_the_waits_before_each_page() {
        let p = EscalationPolicy::gold_default();
        let minutes: Vec<i64> = p.timeline().iter().map(|(_, d)| d.num_minutes()).collect();
        assert_eq!(minutes, [0, 5, 10, 20, 25, 30, 40, 45, 50]);
        assert_eq!(
            p.timeline().last().unwrap(),
            &(p.last_position(), p.worst_case_to_last_step())
        );
    }

    #[test]
    fn a_single_step_without_repeats_reaches_its_last_step_at_once() {
        let p = EscalationPolicy::new(vec![step(vec![user("u1")], 15)], 0).unwrap();
        assert_eq!(p.first_pass_to_last_step(), Duration::zero());
        assert_eq!(p.worst_case_to_last_step(), Duration::zero());
        assert_eq!(p.worst_case_total(), Duration::minutes(15));
        assert_eq!(p.next(Position::FIRST), None);
    }

    #[test]
    fn a_single_step_with_repeats_pages_again_each_pass() {
        let p = EscalationPolicy::new(vec![step(vec![user("u1")], 15)], 2).unwrap();
        assert_eq!(p.next(Position::FIRST), Some(at(1, 0)));
        assert_eq!(p.worst_case_to_last_step(), Duration::minutes(30));
        assert_eq!(p.worst_case_total(), Duration::minutes(45));
    }

    #[test]
    fn position_displays_from_one() {
        assert_eq!(at(0, 2).to_string(), "pass 1, step 3");
    }

    // --- Validation ---

    fn error_of(steps: Vec<Step>, repeat: u32) -> String {
        EscalationPolicy::new(steps, repeat)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_policy_needs_a_step() {
        assert_eq!(error_of(vec![], 0), "steps: must have at least one step");
    }

    #[test]
    fn every_step_needs_a_target() {
        assert_eq!(
            error_of(vec![step(vec![user("u")], 5), step(vec![], 5)], 0),
            "steps[1].targets: must not be empty"
        );
    }

    #[test]
    fn targets_must_name_someone() {
        assert_eq!(
            error_of(vec![step(vec![Target::AccountManager, user(" ")], 5)], 0),
            "steps[0].targets[1].user_id: must not be empty"
        );
        let blank_schedule = Target::Schedule {
            schedule: ScheduleRef::Id(String::new()),
        };
        assert_eq!(
            error_of(vec![step(vec![blank_schedule], 5)], 0),
            "steps[0].targets[0].schedule: must not be empty"
        );
    }

    #[test]
    fn timeouts_are_whole_minutes_of_at_least_one() {
        assert_eq!(
            error_of(vec![step(vec![user("u")], 0)], 0),
            "steps[0].ack_timeout_minutes: must be a whole number of minutes, at least 1, not 0 min"
        );
        let ninety_seconds = Step {
            targets: vec![user("u")],
            ack_timeout: Duration::seconds(90),
        };
        assert_eq!(
            error_of(vec![ninety_seconds], 0),
            "steps[0].ack_timeout_minutes: must be a whole number of minutes, at least 1, not 1 min 30 s"
        );
    }

    #[test]
    fn repeat_is_at_most_nine() {
        assert!(EscalationPolicy::new(vec![step(vec![user("u")], 1)], 9).is_ok());
        assert_eq!(
            error_of(vec![step(vec![user("u")], 1)], 10),
            "repeat: must be at most 9, not 10"
        );
    }

    // --- Schedule references ---

    #[test]
    fn roles_resolve_to_schedule_ids() {
        let p = EscalationPolicy::gold_default();
        assert_eq!(
            p.schedule_refs(),
            [
                &ScheduleRef::role("primary"),
                &ScheduleRef::role("secondary")
            ]
        );
        let resolved = p
            .resolve_schedules(|role| Some(format!("sch-{role}")))
            .unwrap();
        assert_eq!(
            resolved.schedule_refs(),
            [
                &ScheduleRef::Id("sch-primary".into()),
                &ScheduleRef::Id("sch-secondary".into())
            ]
        );
        assert_eq!(resolved.steps()[2].targets[1], Target::SupportManagers);
    }

    #[test]
    fn an_unknown_role_names_the_target() {
        let p = EscalationPolicy::gold_default();
        let err = p
            .resolve_schedules(|role| (role == "primary").then(|| "sch-1".to_owned()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"steps[2].targets[0].schedule: unknown schedule role "secondary""#
        );
    }

    // --- Wire format ---

    #[test]
    fn gold_default_wire_format() {
        let json = serde_json::to_value(EscalationPolicy::gold_default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "steps": [
                    {"targets": [{"type": "account_manager"}], "ack_timeout_minutes": 5},
                    {"targets": [{"type": "schedule", "schedule": {"role": "primary"}}],
                     "ack_timeout_minutes": 5},
                    {"targets": [{"type": "schedule", "schedule": {"role": "secondary"}},
                                 {"type": "support_managers"}],
                     "ack_timeout_minutes": 10}
                ],
                "repeat": 2
            })
        );
        let back: EscalationPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back, EscalationPolicy::gold_default());
    }

    #[test]
    fn deserialising_validates_and_defaults_repeat_to_zero() {
        let p: EscalationPolicy = serde_json::from_str(
            r#"{"steps":[{"targets":[{"type":"user","user_id":"u1"},
                {"type":"schedule","schedule":{"id":"sch-9"}}],"ack_timeout_minutes":3}]}"#,
        )
        .unwrap();
        assert_eq!(p.repeat(), 0);
        assert_eq!(p.steps()[0].ack_timeout, Duration::minutes(3));
        let err = serde_json::from_str::<EscalationPolicy>(
            r#"{"steps":[{"targets":[],"ack_timeout_minutes":3}],"repeat":1}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("steps[0].targets: must not be empty"),
            "{err}"
        );
    }

    #[test]
    fn a_round_robin_target_names_its_team() {
        let p: EscalationPolicy = serde_json::from_str(
            r#"{"steps":[{"targets":[{"type":"account_manager"}],"ack_timeout_minutes":5},
                {"targets":[{"type":"team_round_robin","team":"gold"}],"ack_timeout_minutes":5}]}"#,
        )
        .unwrap();
        assert_eq!(
            p.steps()[1].targets,
            [Target::TeamRoundRobin {
                team: "gold".into()
            }]
        );
        assert_eq!(
            p.team_refs(),
            [("steps[1].targets[0].team".to_owned(), "gold")]
        );
        // It counts like any other step: its window is waited out.
        assert_eq!(p.worst_case_total(), Duration::minutes(10));
        let blank = Target::TeamRoundRobin { team: " ".into() };
        assert_eq!(
            error_of(vec![step(vec![blank], 5)], 0),
            "steps[0].targets[0].team: must not be empty"
        );
        assert!(serde_json::from_str::<EscalationPolicy>(
            r#"{"steps":[{"targets":[{"type":"team_round_robin"}],"ack_timeout_minutes":3}]}"#
        )
        .is_err());
    }

    #[test]
    fn unknown_keys_and_target_types_are_refused() {
        assert!(serde_json::from_str::<EscalationPolicy>(
            r#"{"steps":[{"targets":[{"type":"account_manager"}],"ack_timeout_minutes":3}],"repeats":1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<EscalationPolicy>(
            r#"{"steps":[{"targets":[{"type":"everyone"}],"ack_timeout_minutes":3}]}"#
        )
        .is_err());
    }
}
