//! Who a page reaches, how and when: a person's notification rules applied to what they can be
//! reached on. The store loads the facts in one query and writes the plan in one statement;
//! the rule itself is here, with no I/O, so it is tested on its own.
//!
//! - Rules apply in order. A push rule reaches every live device; another rule reaches every
//!   verified method of its kind, or only the one it names.
//! - A device or method named by two rules (every SMS at 1 minute, this SMS at 3) is reached
//!   by the first rule only.
//! - A rule with nothing to reach plans nothing: an SMS rule for someone with no verified
//!   number is not an error, the push rule may still reach them.
//! - Someone is away at an instant when an absence covers it, from its start up to (not
//!   including) its end; where two overlap, the one entered last decides who stands in.

use chrono::{DateTime, Duration, Utc};

use super::contact::{Channel, MethodKind, RuleSet};

/// A live device (not revoked, token not dead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub platform: String,
}

/// A verified, live contact method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    pub id: String,
    pub kind: MethodKind,
}

/// Everything a person can be reached on: devices, and methods in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reachable {
    pub devices: Vec<Device>,
    pub methods: Vec<Method>,
}

/// A stretch of time someone is away, and who takes their pages meanwhile, if anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    /// When it was entered: the newest of two overlapping absences wins.
    pub created: DateTime<Utc>,
    pub delegate: Option<String>,
}

/// One person as paging sees them: what the store reads about them in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFacts {
    pub name: String,
    pub rules: RuleSet,
    pub reachable: Reachable,
    /// Absences near the moment they were read for (the store reads a window around it).
    pub absences: Vec<Absence>,
}

impl PersonFacts {
    /// `None`: not away at `at`. `Some(delegate)`: away, `delegate` standing in, if anyone.
    pub fn away_at(&self, at: DateTime<Utc>) -> Option<Option<String>> {
        self.absences
            .iter()
            .filter(|a| a.starts <= at && a.ends > at)
            .max_by_key(|a| a.created)
            .map(|a| a.delegate.clone())
    }
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A device and its platform (push).
    Device { id: String, platform: String },
    /// A contact method and the channel it is reached on.
    Method { id: String, channel: Channel },
}

impl Recipient {
    pub fn channel(&self) -> Channel {
        match self {
            Recipient::Device { .. } => Channel::Push,
            Recipient::Method { channel, .. } => *channel,
        }
    }
}

/// One delivery to queue: where, and when it falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDelivery {
    pub due: DateTime<Utc>,
    pub to: Recipient,
}

/// The deliveries that page a person with `rules` who can be reached on `reachable`, paged
/// at `now`. Empty: the person cannot be reached (the caller records a skip).
pub fn plan_page(
    rules: &RuleSet,
    reachable: &Reachable,
    now: DateTime<Utc>,
) -> Vec<PlannedDelivery> {
    let mut planned: Vec<PlannedDelivery> = Vec::new();
    let reached = |planned: &[PlannedDelivery], id: &str| {
        planned.iter().any(|p| match &p.to {
            Recipient::Device { id: d, .. } | Recipient::Method { id: d, .. } => d == id,
        })
    };
    for rule in rules.rules() {
        let due = now + Duration::minutes(i64::from(rule.delay_minutes));
        match rule.method.method_kind() {
            None => {
                for device in &reachable.devices {
                    if !reached(&planned, &device.id) {
                        planned.push(PlannedDelivery {
                            due,
                            to: Recipient::Device {
                                id: device.id.clone(),
                                platform: device.platform.clone(),
                            },
                        });
                    }
                }
            }
            Some(kind) => {
                let named = |m: &&Method| {
                    m.kind == kind && rule.method_id.as_deref().is_none_or(|id| id == m.id)
                };
                for method in reachable.methods.iter().filter(named) {
                    if !reached(&planned, &method.id) {
                        planned.push(PlannedDelivery {
                            due,
                            to: Recipient::Method {
                                id: method.id.clone(),
                                channel: rule.method,
                            },
                        });
                    }
                }
            }
        }
    }
    planned
}

/// A page to `devices` only, at once: what an update to a customer's contacts is.
pub fn plan_update(reachable: &Reachable, now: DateTime<Utc>) -> Vec<PlannedDelivery> {
    reachable
        .devices
        .iter()
        .map(|d| PlannedDelivery {
            due: now,
            to: Recipient::Device {
                id: d.id.clone(),
                platform: d.platform.clone(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::NotificationRule;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn rule(method: Channel, method_id: Option<&str>, delay_minutes: u32) -> NotificationRule {
        NotificationRule {
            method,
            method_id: method_id.map(str::to_owned),
            delay_minutes,
        }
    }

    fn device(id: &str) -> Device {
        Device {
            id: id.into(),
            platform: "ios".into(),
        }
    }

    fn method(id: &str, kind: MethodKind) -> Method {
        Method {
            id: id.into(),
            kind,
        }
    }

    /// (recipient id, channel, minutes after now) of each planned delivery, in order.
    fn summary(plan: &[PlannedDelivery]) -> Vec<(String, Channel, i64)> {
        plan.iter()
            .map(|p| {
                let id = match &p.to {
                    Recipient::Device { id, .. } | Recipient::Method { id, .. } => id.clone(),
                };
                (id, p.to.channel(), (p.due - now()).num_minutes())
            })
            .collect()
    }

    #[test]
    fn the_builtin_default_pushes_at_once_and_texts_every_verified_number_a_minute_later() {
        let reachable = Reachable {
            devices: vec![device("d1"), device("d2")],
            methods: vec![
                method("s1", MethodKind::Sms),
                method("e1", MethodKind::Email),
                method("s2", MethodKind::Sms),
            ],
        };
        let plan = plan_page(&RuleSet::builtin_default(), &reachable, now());
        assert_eq!(
            summary(&plan),
            vec![
                ("d1".into(), Channel::Push, 0),
                ("d2".into(), Channel::Push, 0),
                ("s1".into(), Channel::Sms, 1),
                ("s2".into(), Channel::Sms, 1),
            ]
        );
    }

    #[test]
    fn a_rule_naming_one_method_reaches_only_that_method() {
        let rules = RuleSet::from_stored(vec![rule(Channel::Voice, Some("v2"), 5)]);
        let reachable = Reachable {
            devices: vec![device("d1")],
            methods: vec![
                method("v1", MethodKind::Voice),
                method("v2", MethodKind::Voice),
            ],
        };
        assert_eq!(
            summary(&plan_page(&rules, &reachable, now())),
            vec![("v2".into(), Channel::Voice, 5)]
        );
    }

    #[test]
    fn a_method_named_by_two_rules_is_reached_by_the_first() {
        let rules = RuleSet::from_stored(vec![
            rule(Channel::Sms, None, 1),
            rule(Channel::Sms, Some("s1"), 3),
            rule(Channel::Push, None, 0),
        ]);
        let reachable = Reachable {
            devices: vec![device("d1")],
            methods: vec![method("s1", MethodKind::Sms)],
        };
        assert_eq!(
            summary(&plan_page(&rules, &reachable, now())),
            vec![
                ("s1".into(), Channel::Sms, 1),
                ("d1".into(), Channel::Push, 0)
            ]
        );
    }

    #[test]
    fn a_method_of_another_kind_is_never_reached_by_a_rule() {
        // An e-mail method whose id a voice rule names (a stale rule) reaches nothing.
        let rules = RuleSet::from_stored(vec![rule(Channel::Voice, Some("e1"), 0)]);
        let reachable = Reachable {
            devices: vec![],
            methods: vec![method("e1", MethodKind::Email)],
        };
        assert!(plan_page(&rules, &reachable, now()).is_empty());
    }

    #[test]
    fn someone_with_nothing_to_reach_gets_an_empty_plan() {
        assert!(plan_page(&RuleSet::builtin_default(), &Reachable::default(), now()).is_empty());
        let push_only = RuleSet::from_stored(vec![rule(Channel::Push, None, 0)]);
        let only_sms = Reachable {
            devices: vec![],
            methods: vec![method("s1", MethodKind::Sms)],
        };
        assert!(plan_page(&push_only, &only_sms, now()).is_empty());
    }

    fn away(starts: i64, ends: i64, created: i64, delegate: Option<&str>) -> Absence {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        Absence {
            starts: at(starts),
            ends: at(ends),
            created: at(created),
            delegate: delegate.map(str::to_owned),
        }
    }

    fn person(absences: Vec<Absence>) -> PersonFacts {
        PersonFacts {
            name: "Ann".into(),
            rules: RuleSet::builtin_default(),
            reachable: Reachable::default(),
            absences,
        }
    }

    fn ms(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn an_absence_counts_from_its_start_until_just_before_its_end() {
        let f = person(vec![away(1_000_000, 1_030_000, 1, Some("bob"))]);
        assert_eq!(f.away_at(ms(999_999)), None);
        assert_eq!(f.away_at(ms(1_000_000)), Some(Some("bob".into())));
        assert_eq!(f.away_at(ms(1_029_999)), Some(Some("bob".into())));
        // Below a millisecond before the end is still inside it.
        let just_before_end = ms(1_029_999) + Duration::microseconds(999);
        assert_eq!(f.away_at(just_before_end), Some(Some("bob".into())));
        assert_eq!(f.away_at(ms(1_030_000)), None);
    }

    #[test]
    fn where_absences_overlap_the_newest_decides_the_delegate() {
        let f = person(vec![
            away(0, 2_000_000, 5, Some("old")),
            away(500_000, 1_500_000, 9, None),
        ]);
        assert_eq!(f.away_at(ms(1_000_000)), Some(None));
        assert_eq!(f.away_at(ms(1_800_000)), Some(Some("old".into())));
        assert_eq!(person(Vec::new()).away_at(ms(1_000_000)), None);
    }

    #[test]
    fn an_update_goes_to_every_device_at_once_and_never_to_methods() {
        let reachable = Reachable {
            devices: vec![device("d1"), device("d2")],
            methods: vec![method("s1", MethodKind::Sms)],
        };
        assert_eq!(
            summary(&plan_update(&reachable, now())),
            vec![
                ("d1".into(), Channel::Push, 0),
                ("d2".into(), Channel::Push, 0)
            ]
        );
    }
}
