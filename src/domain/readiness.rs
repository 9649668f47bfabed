//! Readiness before the crisis: whether a person can be reached by what paging would actually
//! send them, whether an escalation step reaches anyone, and the text of a shift reminder.
//!
//! A person is reachable when their effective notification rules (theirs, else the admin's
//! default, else the built-in) name at least one thing that can carry a page: a push rule and a
//! live device (enrolled, not revoked, its token not declared dead by the last answer of its
//! push provider), or a rule for a channel with a verified, enabled contact method. The
//! earliest rule delay among those is when a page first reaches them, which the promise check
//! counts. When nothing can, [`Unreachable`] says why in the words an admin acts on.
//!
//! Limits: "live" is the last provider answer, not a guarantee about the next send; a device
//! nobody has sent to for months counts as live until a shift reminder's silent push tests it.
//! No I/O; callers pass what the store read.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::contact::{Channel, RuleSet};

/// Why nobody can page a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// Their rules name only channels they have nothing verified for (e.g. SMS only, no
    /// verified number): nothing would be sent.
    EmptyNotificationPolicy,
    /// Every device they had was declared dead by its push provider, and no rule reaches
    /// anything else.
    DeadPushToken,
    /// No live device and no verified contact method at all.
    NoVerifiedMethod,
    /// Away (an unavailability covers the instant) with nobody standing in.
    Away,
}

impl Unreachable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unreachable::EmptyNotificationPolicy => "empty_notification_policy",
            Unreachable::DeadPushToken => "dead_push_token",
            Unreachable::NoVerifiedMethod => "no_verified_method",
            Unreachable::Away => "away",
        }
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unreachable::EmptyNotificationPolicy => {
                "their notification rules reach none of their methods"
            }
            Unreachable::DeadPushToken => "their only device's push token is dead",
            Unreachable::NoVerifiedMethod => "no device and no verified contact method",
            Unreachable::Away => "away, nobody standing in",
        })
    }
}

/// What a person has that a page could go to, as the store read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Devices enrolled, not revoked, token not dead.
    pub live_devices: usize,
    /// Devices not revoked whose token the provider declared dead.
    pub dead_devices: usize,
    /// Verified, enabled, not deleted contact methods: (id, channel).
    pub methods: Vec<(String, Channel)>,
}

/// The earliest rule delay (minutes after the page) at which something reaches the person, or
/// why nothing does. The same matching as paging's `reach::plan_page`: a push rule reaches every
/// live device; a channel rule every verified method of that channel (or only its `method_id`).
pub fn reach(rules: &RuleSet, have: &Inventory) -> Result<u32, Unreachable> {
    let earliest = rules
        .rules()
        .iter()
        .filter(|rule| match rule.method {
            Channel::Push => have.live_devices > 0,
            channel => have.methods.iter().any(|(id, c)| {
                *c == channel && rule.method_id.as_deref().is_none_or(|want| want == id)
            }),
        })
        .map(|rule| rule.delay_minutes)
        .min();
    match earliest {
        Some(delay) => Ok(delay),
        None if have.live_devices > 0 || !have.methods.is_empty() => {
            Err(Unreachable::EmptyNotificationPolicy)
        }
        None if have.dead_devices > 0 => Err(Unreachable::DeadPushToken),
        None => Err(Unreachable::NoVerifiedMethod),
    }
}

/// One person a step would page, and why they cannot be reached (`None`: they can).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonReach {
    pub user_id: String,
    pub name: String,
    /// How the step comes to page them (`account_manager`, `on_call:Primary`, …).
    pub role: String,
    pub reason: Option<Unreachable>,
}

/// A step is broken when it names people and none of them can be reached, or names nobody at
/// all (nobody on call, no account manager): paging would skip it. A step with one reachable
/// person is fine even if others are not; the admin route still lists the others.
pub fn step_is_broken(people: &[PersonReach]) -> bool {
    people.iter().all(|p| p.reason.is_some())
}

/// "You are on call from 18:00 (Europe/Berlin)": the start in the schedule's zone, with the
/// date when the shift does not start on the day of `now` there.
pub fn shift_reminder_text(start: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = start.with_timezone(&tz);
    let same_day = local.date_naive() == now.with_timezone(&tz).date_naive();
    let when = if same_day {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %d %b %H:%M").to_string()
    };
    format!("You are on call from {when} ({tz})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::NotificationRule;
    use chrono::TimeZone;

    fn rules(list: &[(Channel, u32)]) -> RuleSet {
        RuleSet::from_stored(
            list.iter()
                .map(|(method, delay)| NotificationRule {
                    method: *method,
                    method_id: None,
                    delay_minutes: *delay,
                })
                .collect(),
        )
    }

    fn sms(id: &str) -> (String, Channel) {
        (id.to_owned(), Channel::Sms)
    }

    #[test]
    fn a_live_device_under_a_push_rule_is_reached_at_the_rules_delay() {
        let have = Inventory {
            live_devices: 1,
            ..Inventory::default()
        };
        assert_eq!(reach(&RuleSet::builtin_default(), &have), Ok(0));
        assert_eq!(
            reach(&rules(&[(Channel::Push, 2), (Channel::Sms, 1)]), &have),
            Ok(2)
        );
    }

    #[test]
    fn a_verified_sms_alone_is_enough_and_counts_its_delay() {
        let have = Inventory {
            methods: vec![sms("m1")],
            ..Inventory::default()
        };
        assert_eq!(reach(&RuleSet::builtin_default(), &have), Ok(1));
        assert_eq!(
            reach(&rules(&[(Channel::Voice, 5)]), &have),
            Err(Unreachable::EmptyNotificationPolicy)
        );
    }

    #[test]
    fn a_rule_for_one_method_reaches_only_that_method() {
        let have = Inventory {
            methods: vec![sms("m1")],
            ..Inventory::default()
        };
        let only = |id: &str| {
            RuleSet::from_stored(vec![NotificationRule {
                method: Channel::Sms,
                method_id: Some(id.into()),
                delay_minutes: 3,
            }])
        };
        assert_eq!(reach(&only("m1"), &have), Ok(3));
        assert_eq!(
            reach(&only("gone"), &have),
            Err(Unreachable::EmptyNotificationPolicy)
        );
    }

    #[test]
    fn why_nobody_is_reached_names_what_to_fix() {
        let dead = Inventory {
            dead_devices: 1,
            ..Inventory::default()
        };
        assert_eq!(
            reach(&RuleSet::builtin_default(), &dead),
            Err(Unreachable::DeadPushToken)
        );
        assert_eq!(
            reach(&RuleSet::builtin_default(), &Inventory::default()),
            Err(Unreachable::NoVerifiedMethod)
        );
        let push_only_device = Inventory {
            live_devices: 1,
            ..Inventory::default()
        };
        assert_eq!(
            reach(&rules(&[(Channel::Sms, 0)]), &push_only_device),
            Err(Unreachable::EmptyNotificationPolicy)
        );
    }

    #[test]
    fn a_step_is_broken_only_when_nobody_in_it_is_reached() {
        let person = |reason| PersonReach {
            user_id: "u".into(),
            name: "U".into(),
            role: "user".into(),
            reason,
        };
        assert!(step_is_broken(&[]));
        assert!(step_is_broken(&[person(Some(Unreachable::Away))]));
        assert!(!step_is_broken(&[
            person(Some(Unreachable::Away)),
            person(None)
        ]));
    }

    #[test]
    fn the_reminder_names_the_local_start_and_the_zone() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 15, 0, 0).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 7, 1, 16, 0, 0).unwrap();
        assert_eq!(
            shift_reminder_text(start, tz, now),
            "You are on call from 18:00 (Europe/Berlin)"
        );
        let tomorrow = Utc.with_ymd_and_hms(2026, 7, 2, 6, 0, 0).unwrap();
        assert_eq!(
            shift_reminder_text(tomorrow, tz, now),
            "You are on call from Thu 02 Jul 08:00 (Europe/Berlin)"
        );
    }
}
