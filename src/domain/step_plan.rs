//! One escalation step decided from what the store read for it: who is paged, on what and
//! when, which targets and people are skipped and why, and until when the step waits for an
//! acknowledgement. The store loads the facts ([`StepFacts`]), asks [`plan_step`], and writes
//! the plan (the outbox rows, the incident's position and deadline, the timeline event); the
//! rules are here, with no I/O and the time passed in, so they are tested on their own.
//!
//! The rules, in the order they apply:
//! - Each target names candidates, or says why it names nobody (a [`Skip`] with its target).
//!   The account manager is paged unless an absence covers `now`; then their delegate is,
//!   or, without one, the target is skipped naming the manager.
//! - A person named by two targets is paged once, as the first target named them. People are
//!   paged in user-id order, the order stored timelines have always listed them in.
//! - A person the store found nothing about is skipped (`no such user`); so is one whose
//!   notification rules reach nothing they have ([`plan_page`] is empty).
//! - The step reaches someone only if at least one delivery is planned; only then has it a
//!   deadline, `now` plus the step's acknowledgement timeout.
//! - When no step reaches anyone, the support managers are paged at the policy's last
//!   position ([`plan_fallback`]); when even that reaches nobody, escalation is exhausted
//!   ([`Exhausted`]).
//!
//! Limits: which round-robin member is picked is decided where the pick is recorded
//! (`store::teams`, a compare-and-set on the team's pointer); the planner takes the pick and
//! the members passed over as facts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::escalation::{EscalationPolicy, Position};
use super::reach::{plan_page, PersonFacts, PlannedDelivery};
use super::skip::{Skip, SkipReason, SkipTarget};
use super::timeline::TimelineKind;

/// How someone came to be paged; its text is the `role` stored in `paged` timeline events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagedAs {
    AccountManager,
    /// Standing in for an account manager who is away.
    AccountManagerDelegate,
    /// Named by a step.
    User,
    /// On call in the schedule of this name.
    OnCall(String),
    /// Picked in turn from the team of this id.
    RoundRobin(String),
    SupportManager,
}

impl fmt::Display for PagedAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PagedAs::AccountManager => f.write_str("account_manager"),
            PagedAs::AccountManagerDelegate => f.write_str("account_manager_delegate"),
            PagedAs::User => f.write_str("user"),
            PagedAs::OnCall(schedule) => write!(f, "on_call:{schedule}"),
            PagedAs::RoundRobin(team) => write!(f, "round_robin:{team}"),
            PagedAs::SupportManager => f.write_str("support_manager"),
        }
    }
}

/// Who a schedule has on call now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    /// The schedule's name.
    pub name: String,
    pub user_ids: Vec<String>,
}

/// What the store read for one target of a step, in the step's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetFacts {
    /// The customer's account manager, if it has one.
    AccountManager {
        manager: Option<String>,
    },
    User {
        user_id: String,
    },
    /// `named` is the role or id the step names; `found` is `None` when no schedule has it.
    Schedule {
        named: String,
        found: Option<OnCall>,
    },
    /// The member picked for this incident and position, if any, and the skips of the pick
    /// (members passed over, and the target's own reason when nobody was picked).
    RoundRobin {
        team: String,
        picked: Option<String>,
        skips: Vec<Skip>,
    },
    /// Every support manager, by id.
    SupportManagers {
        user_ids: Vec<String>,
    },
}

/// Everything one step is decided from.
#[derive(Debug, Clone)]
pub struct StepFacts {
    pub position: Position,
    pub ack_timeout: Duration,
    pub targets: Vec<TargetFacts>,
    /// What paging needs of every person the targets name, the account manager and their
    /// delegate included; someone missing here does not exist.
    pub people: BTreeMap<String, Arc<PersonFacts>>,
}

/// One person paged, and the deliveries that page them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonPage {
    pub user_id: String,
    pub name: String,
    pub paged_as: PagedAs,
    /// Never empty.
    pub deliveries: Vec<PlannedDelivery>,
}

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    pub position: Position,
    pub ack_timeout: Duration,
    /// In user-id order.
    pub pages: Vec<PersonPage>,
    /// Targets first, in the step's order, then people, in user-id order.
    pub skips: Vec<Skip>,
    /// When the step gives up waiting for an acknowledgement; `None`: it reached nobody.
    pub deadline: Option<DateTime<Utc>>,
}

impl StepPlan {
    /// How many deliveries the step queues.
    pub fn deliveries(&self) -> usize {
        self.pages.iter().map(|p| p.deliveries.len()).sum()
    }
}

/// The plan for the step of `facts`, paged at `now`.
pub fn plan_step(facts: &StepFacts, now: DateTime<Utc>) -> StepPlan {
    let mut skips = Vec::new();
    // Each person once, whichever target named them first.
    let mut named: BTreeMap<String, PagedAs> = BTreeMap::new();
    for target in &facts.targets {
        for (user_id, paged_as) in candidates(target, &facts.people, now, &mut skips) {
            named.entry(user_id).or_insert(paged_as);
        }
    }
    let mut pages = Vec::new();
    for (user_id, paged_as) in named {
        let Some(person) = facts.people.get(&user_id) else {
            skips.push(Skip::person(&user_id, SkipReason::NoSuchUser));
            continue;
        };
        let deliveries = plan_page(&person.rules, &person.reachable, now);
        if deliveries.is_empty() {
            skips.push(Skip::person(&user_id, SkipReason::NoDeliverableDevice));
            continue;
        }
        pages.push(PersonPage {
            user_id,
            name: person.name.clone(),
            paged_as,
            deliveries,
        });
    }
    let deadline = (!pages.is_empty()).then(|| now + facts.ack_timeout);
    StepPlan {
        position: facts.position,
        ack_timeout: facts.ack_timeout,
        pages,
        skips,
        deadline,
    }
}

/// Who `target` names now, and how; why it names nobody goes to `skips`.
fn candidates(
    target: &TargetFacts,
    people: &BTreeMap<String, Arc<PersonFacts>>,
    now: DateTime<Utc>,
    skips: &mut Vec<Skip>,
) -> Vec<(String, PagedAs)> {
    match target {
        TargetFacts::AccountManager { manager: None } => {
            skips.push(Skip::target(
                SkipTarget::AccountManager,
                SkipReason::NoAccountManager,
            ));
            Vec::new()
        }
        TargetFacts::AccountManager {
            manager: Some(manager),
        } => {
            // An account manager nobody knows is not away: they are named, and skipped as
            // `no such user` like anyone else.
            match people.get(manager).and_then(|p| p.away_at(now)) {
                None => vec![(manager.clone(), PagedAs::AccountManager)],
                Some(Some(delegate)) => vec![(delegate, PagedAs::AccountManagerDelegate)],
                Some(None) => {
                    skips.push(
                        Skip::target(
                            SkipTarget::AccountManager,
                            SkipReason::UnavailableNoDelegate,
                        )
                        .user(manager),
                    );
                    Vec::new()
                }
            }
        }
        TargetFacts::User { user_id } => vec![(user_id.clone(), PagedAs::User)],
        TargetFacts::Schedule { named, found: None } => {
            skips.push(
                Skip::target(SkipTarget::Schedule, SkipReason::NoSuchSchedule).schedule(named),
            );
            Vec::new()
        }
        TargetFacts::Schedule {
            found: Some(on_call),
            ..
        } => {
            if on_call.user_ids.is_empty() {
                skips.push(
                    Skip::target(SkipTarget::Schedule, SkipReason::NobodyOnCall)
                        .schedule(&on_call.name),
                );
            }
            on_call
                .user_ids
                .iter()
                .map(|u| (u.clone(), PagedAs::OnCall(on_call.name.clone())))
                .collect()
        }
        TargetFacts::RoundRobin {
            team,
            picked,
            skips: passed,
        } => {
            skips.extend(passed.iter().cloned());
            picked
                .iter()
                .map(|u| (u.clone(), PagedAs::RoundRobin(team.clone())))
                .collect()
        }
        TargetFacts::SupportManagers { user_ids } => user_ids
            .iter()
            .map(|u| (u.clone(), PagedAs::SupportManager))
            .collect(),
    }
}

/// The last resort when no remaining step reached anyone: every support manager, paged at
/// the policy's last position and for its last step's window (ten minutes if it has none),
/// so an unacknowledged fallback ends the escalation like the last step would. `people` holds
/// what paging needs of them.
pub fn plan_fallback(
    policy: &EscalationPolicy,
    support_managers: &[String],
    people: BTreeMap<String, Arc<PersonFacts>>,
    now: DateTime<Utc>,
) -> StepPlan {
    let position = policy.last_position();
    let facts = StepFacts {
        position,
        ack_timeout: policy
            .step_at(position)
            .map(|s| s.ack_timeout)
            .unwrap_or_else(|| Duration::minutes(10)),
        targets: vec![TargetFacts::SupportManagers {
            user_ids: support_managers.to_vec(),
        }],
        people,
    };
    let mut plan = plan_step(&facts, now);
    if support_managers.is_empty() {
        plan.skips.push(Skip::target(
            SkipTarget::SupportManagers,
            SkipReason::NoSupportManagers,
        ));
    }
    plan
}

/// Escalation with nowhere left to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// Nobody in the policy nor any support manager could be paged.
    Unpaged,
    /// Every step (and repeat) was paged and nobody acknowledged.
    Unanswered,
}

impl Exhausted {
    /// Escalation tried from `from` and reached nobody, support managers included: at the
    /// first position that was a press (a new incident or a restart), which never ends
    /// silently; further on, earlier steps were paged and nobody answered them.
    pub fn after_trying_from(from: Position) -> Self {
        if from == Position::FIRST {
            Exhausted::Unpaged
        } else {
            Exhausted::Unanswered
        }
    }

    pub fn kind(self) -> TimelineKind {
        match self {
            Exhausted::Unpaged => TimelineKind::Unpaged,
            Exhausted::Unanswered => TimelineKind::Unanswered,
        }
    }

    /// The reason stored on the timeline.
    pub fn reason(self) -> &'static str {
        match self {
            Exhausted::Unpaged => {
                "nobody in the escalation policy nor any support manager has a deliverable device"
            }
            Exhausted::Unanswered => "the escalation policy is exhausted",
        }
    }
}

/// What a page is about.
#[derive(Debug, Clone, Copy)]
pub struct PageSubject<'a> {
    pub customer_name: &'a str,
    pub summary: &'a str,
    pub affected_service: &'a str,
    pub ticket_ref: &'a str,
}

/// The title and body of a page at `pos`: the first position asks to take the incident; a
/// later one says it was escalated and where.
pub fn page_text(subject: &PageSubject<'_>, pos: Position) -> (String, String) {
    let title = format!("P1 · {}: {}", subject.customer_name, subject.summary);
    let body = if pos == Position::FIRST {
        format!(
            "{} is affected. Ticket {}. Acknowledge to take it.",
            subject.affected_service, subject.ticket_ref
        )
    } else {
        format!(
            "Escalated ({pos}): nobody has acknowledged yet. {} is affected. Ticket {}.",
            subject.affected_service, subject.ticket_ref
        )
    };
    (title, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Channel, NotificationRule, RuleSet};
    use crate::domain::escalation::{Step, Target};
    use crate::domain::reach::{Absence, Device, Method, Reachable, Recipient};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn phone(id: &str) -> Reachable {
        Reachable {
            devices: vec![Device {
                id: id.into(),
                platform: "ios".into(),
            }],
            methods: Vec::new(),
        }
    }

    /// Someone with one phone, paged by the built-in rules.
    fn reachable(name: &str, device: &str) -> Arc<PersonFacts> {
        Arc::new(PersonFacts {
            name: name.into(),
            rules: RuleSet::builtin_default(),
            reachable: phone(device),
            absences: Vec::new(),
        })
    }

    fn away(mut person: Arc<PersonFacts>, delegate: Option<&str>) -> Arc<PersonFacts> {
        Arc::make_mut(&mut person).absences.push(Absence {
            starts: now() - Duration::hours(1),
            ends: now() + Duration::hours(1),
            created: now() - Duration::days(1),
            delegate: delegate.map(str::to_owned),
        });
        person
    }

    fn facts(targets: Vec<TargetFacts>, people: &[(&str, Arc<PersonFacts>)]) -> StepFacts {
        StepFacts {
            position: Position::FIRST,
            ack_timeout: Duration::minutes(5),
            targets,
            people: people
                .iter()
                .map(|(id, p)| (id.to_string(), p.clone()))
                .collect(),
        }
    }

    fn manager(id: &str) -> TargetFacts {
        TargetFacts::AccountManager {
            manager: Some(id.into()),
        }
    }

    fn user(id: &str) -> TargetFacts {
        TargetFacts::User { user_id: id.into() }
    }

    fn on_call(name: &str, users: &[&str]) -> TargetFacts {
        TargetFacts::Schedule {
            named: "primary".into(),
            found: Some(OnCall {
                name: name.into(),
                user_ids: users.iter().map(|u| u.to_string()).collect(),
            }),
        }
    }

    /// (user id, role text, deliveries) of each page.
    fn paged(plan: &StepPlan) -> Vec<(String, String, usize)> {
        plan.pages
            .iter()
            .map(|p| {
                (
                    p.user_id.clone(),
                    p.paged_as.to_string(),
                    p.deliveries.len(),
                )
            })
            .collect()
    }

    /// The skips as stored on the timeline.
    fn stored(plan: &StepPlan) -> serde_json::Value {
        serde_json::to_value(&plan.skips).unwrap()
    }

    #[test]
    fn the_account_manager_is_paged_on_every_device_their_rules_reach() {
        let plan = plan_step(
            &facts(vec![manager("am")], &[("am", reachable("Ann", "d1"))]),
            now(),
        );
        assert_eq!(paged(&plan), [("am".into(), "account_manager".into(), 1)]);
        assert_eq!(plan.pages[0].name, "Ann");
        assert_eq!(
            plan.pages[0].deliveries[0].to,
            Recipient::Device {
                id: "d1".into(),
                platform: "ios".into()
            }
        );
        assert_eq!(plan.pages[0].deliveries[0].due, now());
        assert!(plan.skips.is_empty());
        assert_eq!(plan.deliveries(), 1);
    }

    #[test]
    fn an_away_account_manager_is_stood_in_for_by_their_delegate() {
        let people = [
            ("am", away(reachable("Ann", "d1"), Some("del"))),
            ("del", reachable("Dee", "d2")),
        ];
        let plan = plan_step(&facts(vec![manager("am")], &people), now());
        assert_eq!(
            paged(&plan),
            [("del".into(), "account_manager_delegate".into(), 1)]
        );
        assert_eq!(plan.pages[0].name, "Dee");
        assert!(plan.skips.is_empty());
        assert_eq!(plan.deadline, Some(now() + Duration::minutes(5)));
    }

    #[test]
    fn an_absence_over_or_not_yet_begun_does_not_make_anyone_away() {
        let mut ann = reachable("Ann", "d1");
        Arc::make_mut(&mut ann).absences = vec![
            Absence {
                starts: now() - Duration::hours(2),
                ends: now(),
                created: now(),
                delegate: Some("del".into()),
            },
            Absence {
                starts: now() + Duration::seconds(1),
                ends: now() + Duration::hours(2),
                created: now(),
                delegate: Some("del".into()),
            },
        ];
        let people = [("am", ann), ("del", reachable("Dee", "d2"))];
        let plan = plan_step(&facts(vec![manager("am")], &people), now());
        assert_eq!(paged(&plan), [("am".into(), "account_manager".into(), 1)]);
    }

    #[test]
    fn an_away_account_manager_without_a_delegate_is_skipped_by_name() {
        let people = [("am", away(reachable("Ann", "d1"), None))];
        let plan = plan_step(&facts(vec![manager("am")], &people), now());
        assert!(plan.pages.is_empty());
        assert_eq!(
            stored(&plan),
            serde_json::json!([{
                "target": "account_manager", "user_id": "am", "reason": "unavailable, no delegate"
            }])
        );
        assert_eq!(plan.deadline, None);
    }

    #[test]
    fn a_customer_without_an_account_manager_skips_the_target() {
        let plan = plan_step(
            &facts(vec![TargetFacts::AccountManager { manager: None }], &[]),
            now(),
        );
        assert!(plan.pages.is_empty());
        assert_eq!(
            stored(&plan),
            serde_json::json!([{
                "target": "account_manager", "reason": "the customer has no account manager"
            }])
        );
    }

    #[test]
    fn an_unknown_account_manager_is_named_and_skipped_as_no_such_user() {
        let plan = plan_step(&facts(vec![manager("gone")], &[]), now());
        assert_eq!(
            stored(&plan),
            serde_json::json!([{ "user_id": "gone", "reason": "no such user" }])
        );
    }

    #[test]
    fn a_person_named_by_two_targets_is_paged_once_as_the_first_named_them() {
        let people = [
            ("u1", reachable("Uma", "d1")),
            ("u2", reachable("Vic", "d2")),
        ];
        let plan = plan_step(
            &facts(vec![user("u1"), on_call("Primary", &["u2", "u1"])], &people),
            now(),
        );
        assert_eq!(
            paged(&plan),
            [
                ("u1".into(), "user".into(), 1),
                ("u2".into(), "on_call:Primary".into(), 1)
            ]
        );
        let plan = plan_step(
            &facts(vec![on_call("Primary", &["u1"]), user("u1")], &people),
            now(),
        );
        assert_eq!(paged(&plan), [("u1".into(), "on_call:Primary".into(), 1)]);
    }

    #[test]
    fn an_account_managers_delegate_also_named_by_a_schedule_is_paged_once() {
        let people = [
            ("am", away(reachable("Ann", "d1"), Some("del"))),
            ("del", reachable("Dee", "d2")),
        ];
        let plan = plan_step(
            &facts(vec![manager("am"), on_call("Primary", &["del"])], &people),
            now(),
        );
        assert_eq!(
            paged(&plan),
            [("del".into(), "account_manager_delegate".into(), 1)]
        );
    }

    #[test]
    fn people_are_paged_in_user_id_order_whatever_the_order_of_targets() {
        let people = [
            ("b", reachable("Bo", "d1")),
            ("a", reachable("Al", "d2")),
            ("c", reachable("Cy", "d3")),
        ];
        let plan = plan_step(
            &facts(vec![user("c"), on_call("Primary", &["b", "a"])], &people),
            now(),
        );
        let ids: Vec<_> = plan.pages.iter().map(|p| p.user_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn an_unknown_user_is_skipped() {
        let people = [("u1", reachable("Uma", "d1"))];
        let plan = plan_step(&facts(vec![user("ghost"), user("u1")], &people), now());
        assert_eq!(paged(&plan), [("u1".into(), "user".into(), 1)]);
        assert_eq!(
            stored(&plan),
            serde_json::json!([{ "user_id": "ghost", "reason": "no such user" }])
        );
        assert!(plan.deadline.is_some());
    }

    #[test]
    fn a_person_with_nothing_their_rules_reach_is_skipped() {
        let nothing = Arc::new(PersonFacts {
            name: "Nat".into(),
            rules: RuleSet::builtin_default(),
            reachable: Reachable::default(),
            absences: Vec::new(),
        });
        // An e-mail address under rules that never e-mail reaches nothing either.
        let email_only = Arc::new(PersonFacts {
            name: "Eve".into(),
            rules: RuleSet::from_stored(vec![NotificationRule {
                method: Channel::Push,
                method_id: None,
                delay_minutes: 0,
            }]),
            reachable: Reachable {
                devices: Vec::new(),
                methods: vec![Method {
                    id: "m1".into(),
                    kind: crate::domain::contact::MethodKind::Email,
                }],
            },
            absences: Vec::new(),
        });
        let plan = plan_step(
            &facts(
                vec![user("nat"), user("eve")],
                &[("nat", nothing), ("eve", email_only)],
            ),
            now(),
        );
        assert!(plan.pages.is_empty());
        assert_eq!(
            stored(&plan),
            serde_json::json!([
                { "user_id": "eve", "reason": "no deliverable device" },
                { "user_id": "nat", "reason": "no deliverable device" },
            ])
        );
        assert_eq!(plan.deadline, None);
    }

    #[test]
    fn a_step_that_reaches_nobody_lists_every_skip_and_has_no_deadline() {
        let targets = vec![
            TargetFacts::AccountManager { manager: None },
            TargetFacts::Schedule {
                named: "secondary".into(),
                found: None,
            },
            on_call("Primary", &[]),
            TargetFacts::RoundRobin {
                team: "gold".into(),
                picked: None,
                skips: vec![
                    Skip::person("t1", SkipReason::Unavailable).team("gold"),
                    Skip::target(SkipTarget::TeamRoundRobin, SkipReason::NoMemberCanBePaged)
                        .team("gold"),
                ],
            },
            user("ghost"),
        ];
        let plan = plan_step(&facts(targets, &[]), now());
        assert!(plan.pages.is_empty());
        assert_eq!(plan.deliveries(), 0);
        assert_eq!(plan.deadline, None);
        // Targets first, in the step's order, then the people they named.
        assert_eq!(
            stored(&plan),
            serde_json::json!([
                { "target": "account_manager", "reason": "the customer has no account manager" },
                { "target": "schedule", "schedule": "secondary", "reason": "no such schedule" },
                { "target": "schedule", "schedule": "Primary", "reason": "nobody on call" },
                { "team": "gold", "user_id": "t1", "reason": "unavailable" },
                { "target": "team_round_robin", "team": "gold", "reason": "no member can be paged now" },
                { "user_id": "ghost", "reason": "no such user" },
            ])
        );
    }

    #[test]
    fn a_round_robin_pick_is_paged_with_the_members_passed_over_recorded() {
        let targets = vec![TargetFacts::RoundRobin {
            team: "gold".into(),
            picked: Some("t2".into()),
            skips: vec![Skip::person("t1", SkipReason::NoDeliverableDevice).team("gold")],
        }];
        let plan = plan_step(&facts(targets, &[("t2", reachable("Tia", "d1"))]), now());
        assert_eq!(paged(&plan), [("t2".into(), "round_robin:gold".into(), 1)]);
        assert_eq!(
            stored(&plan),
            serde_json::json!([{ "team": "gold", "user_id": "t1", "reason": "no deliverable device" }])
        );
    }

    #[test]
    fn the_deadline_is_now_plus_the_steps_ack_timeout() {
        let mut f = facts(vec![user("u1")], &[("u1", reachable("Uma", "d1"))]);
        for minutes in [1, 5, 30] {
            f.ack_timeout = Duration::minutes(minutes);
            let plan = plan_step(&f, now());
            assert_eq!(plan.deadline, Some(now() + Duration::minutes(minutes)));
            assert_eq!(plan.ack_timeout, Duration::minutes(minutes));
        }
        f.position = Position { pass: 1, step: 2 };
        assert_eq!(plan_step(&f, now()).position, Position { pass: 1, step: 2 });
    }

    #[test]
    fn a_persons_rules_decide_when_each_delivery_falls_due() {
        let mut person = reachable("Uma", "d1");
        Arc::make_mut(&mut person).reachable.methods.push(Method {
            id: "s1".into(),
            kind: crate::domain::contact::MethodKind::Sms,
        });
        let plan = plan_step(&facts(vec![user("u1")], &[("u1", person)]), now());
        let due: Vec<_> = plan.pages[0]
            .deliveries
            .iter()
            .map(|d| (d.to.channel(), (d.due - now()).num_minutes()))
            .collect();
        assert_eq!(due, [(Channel::Push, 0), (Channel::Sms, 1)]);
    }

    #[test]
    fn every_role_keeps_its_stored_text() {
        let cases = [
            (PagedAs::AccountManager, "account_manager"),
            (PagedAs::AccountManagerDelegate, "account_manager_delegate"),
            (PagedAs::User, "user"),
            (PagedAs::OnCall("Primary".into()), "on_call:Primary"),
            (PagedAs::RoundRobin("gold".into()), "round_robin:gold"),
            (PagedAs::SupportManager, "support_manager"),
        ];
        for (role, text) in cases {
            assert_eq!(role.to_string(), text);
        }
    }

    fn policy(timeouts: &[i64], repeat: u32) -> EscalationPolicy {
        let steps = timeouts
            .iter()
            .map(|m| Step {
                targets: vec![Target::AccountManager],
                ack_timeout: Duration::minutes(*m),
            })
            .collect();
        EscalationPolicy::new(steps, repeat).unwrap()
    }

    #[test]
    fn the_fallback_pages_every_support_manager_at_the_last_position_for_its_window() {
        let policy = policy(&[5, 15], 1);
        let ids = vec!["sm1".to_string(), "sm2".to_string(), "sm3".to_string()];
        let people = [
            ("sm1", reachable("Sam", "d1")),
            ("sm3", reachable("Sue", "d3")),
        ]
        .into_iter()
        .map(|(id, p)| (id.to_string(), p))
        .collect();
        let plan = plan_fallback(&policy, &ids, people, now());
        assert_eq!(plan.position, policy.last_position());
        assert_eq!(plan.position, Position { pass: 1, step: 1 });
        assert_eq!(plan.ack_timeout, Duration::minutes(15));
        assert_eq!(plan.deadline, Some(now() + Duration::minutes(15)));
        assert_eq!(
            paged(&plan),
            [
                ("sm1".into(), "support_manager".into(), 1),
                ("sm3".into(), "support_manager".into(), 1)
            ]
        );
        assert_eq!(
            stored(&plan),
            serde_json::json!([{ "user_id": "sm2", "reason": "no such user" }])
        );
    }

    #[test]
    fn a_fallback_without_support_managers_reaches_nobody_and_says_so() {
        let plan = plan_fallback(&policy(&[5], 0), &[], BTreeMap::new(), now());
        assert!(plan.pages.is_empty());
        assert_eq!(plan.deadline, None);
        assert_eq!(
            stored(&plan),
            serde_json::json!([{ "target": "support_managers", "reason": "there are no support managers" }])
        );
        // Support managers nobody can reach: their own skips, not "there are none".
        let ids = vec!["sm1".to_string()];
        let people = BTreeMap::from([(
            "sm1".to_string(),
            Arc::new(PersonFacts {
                name: "Sam".into(),
                rules: RuleSet::builtin_default(),
                reachable: Reachable::default(),
                absences: Vec::new(),
            }),
        )]);
        let plan = plan_fallback(&policy(&[5], 0), &ids, people, now());
        assert_eq!(plan.deadline, None);
        assert_eq!(
            stored(&plan),
            serde_json::json!([{ "user_id": "sm1", "reason": "no deliverable device" }])
        );
    }

    #[test]
    fn a_support_managers_target_in_a_step_with_none_of_them_skips_nothing() {
        // Only the fallback says "there are no support managers"; a step naming them as one
        // target among others has always said nothing for it.
        let plan = plan_step(
            &facts(
                vec![TargetFacts::SupportManagers {
                    user_ids: Vec::new(),
                }],
                &[],
            ),
            now(),
        );
        assert!(plan.skips.is_empty());
        assert_eq!(plan.deadline, None);
    }

    #[test]
    fn exhaustion_from_the_first_position_is_unpaged_and_later_unanswered() {
        let first = Exhausted::after_trying_from(Position::FIRST);
        assert_eq!(first, Exhausted::Unpaged);
        assert_eq!(first.kind(), TimelineKind::Unpaged);
        assert_eq!(
            first.reason(),
            "nobody in the escalation policy nor any support manager has a deliverable device"
        );
        for later in [Position { pass: 0, step: 1 }, Position { pass: 1, step: 0 }] {
            let exhausted = Exhausted::after_trying_from(later);
            assert_eq!(exhausted, Exhausted::Unanswered);
            assert_eq!(exhausted.kind(), TimelineKind::Unanswered);
            assert_eq!(exhausted.reason(), "the escalation policy is exhausted");
        }
    }

    #[test]
    fn the_first_page_asks_to_take_it_and_a_later_one_says_it_was_escalated() {
        let subject = PageSubject {
            customer_name: "Acme",
            summary: "Checkout down",
            affected_service: "checkout",
            ticket_ref: "T-42",
        };
        assert_eq!(
            page_text(&subject, Position::FIRST),
            (
                "P1 · Acme: Checkout down".to_string(),
                "checkout is affected. Ticket T-42. Acknowledge to take it.".to_string()
            )
        );
        assert_eq!(
            page_text(&subject, Position { pass: 1, step: 0 }),
            (
                "P1 · Acme: Checkout down".to_string(),
                "Escalated (pass 2, step 1): nobody has acknowledged yet. checkout is affected. \
                 Ticket T-42."
                    .to_string()
            )
        );
    }
}
