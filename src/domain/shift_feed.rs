//! Which shifts a calendar feed shows, and how each reads in a calendar app.
//!
//! A feed is either one person's (their shifts in every schedule) or one schedule's (everyone's
//! shifts in it), for [`HORIZON_DAYS`] from now. Shifts come from
//! [`Schedule::shifts_between`], so an override that takes a shift away from someone removes it
//! from their feed and adds it to the cover's, and turns follow the schedule's wall clock
//! across daylight-saving changes.
//!
//! Each shift gets a UID that stays the same from one fetch to the next (a hash of the
//! schedule, the person, the reason and the start), so a subscribed calendar updates an event
//! whose end moved instead of showing it twice. Pure: the caller passes schedules, names and
//! `now`.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::domain::ical::{Calendar, Event};
use crate::domain::schedule::{OnCall, OnCallSource, Schedule};

/// How far ahead a feed looks.
pub const HORIZON_DAYS: i64 = 60;

/// A schedule as a feed needs it: its id (for stable UIDs), its name and its rules.
#[derive(Debug, Clone, Copy)]
pub struct NamedSchedule<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub schedule: &'a Schedule,
}

/// One person's shifts in every schedule, from `now` for [`HORIZON_DAYS`]; shifts in
/// progress at `now` are included.
pub fn person_calendar(
    user_id: &str,
    person_name: &str,
    schedules: &[NamedSchedule<'_>],
    now: DateTime<Utc>,
) -> Calendar {
    let mut events: Vec<(DateTime<Utc>, Event)> = Vec::new();
    for s in schedules {
        for shift in shifts(s.schedule, now) {
            if shift.user_id == user_id {
                let summary = format!("On call: {}", s.name);
                events.push((shift.start, event(s, &shift, summary)));
            }
        }
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.uid.cmp(&b.1.uid)));
    Calendar {
        name: format!("On call: {person_name}"),
        events: events.into_iter().map(|(_, e)| e).collect(),
    }
}

/// Everyone's shifts in one schedule; `name_of` gives a person's display name from their id.
pub fn schedule_calendar(
    s: NamedSchedule<'_>,
    name_of: impl Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
) -> Calendar {
    let events = shifts(s.schedule, now)
        .iter()
        .map(|shift| {
            let who = name_of(&shift.user_id).unwrap_or_else(|| shift.user_id.clone());
            event(&s, shift, format!("On call: {} ({who})", s.name))
        })
        .collect();
    Calendar {
        name: format!("On call: {}", s.name),
        events,
    }
}

fn shifts(schedule: &Schedule, now: DateTime<Utc>) -> Vec<OnCall> {
    schedule.shifts_between(now, now + Duration::days(HORIZON_DAYS))
}

fn event(s: &NamedSchedule<'_>, shift: &OnCall, summary: String) -> Event {
    let tz = s.schedule.time_zone();
    let reason = match &shift.source {
        OnCallSource::Rotation { name, .. } => format!("Rotation {name}"),
        OnCallSource::Override { .. } => "Override".to_owned(),
    };
    Event {
        uid: uid(s, shift),
        start: shift.start,
        end: shift.end,
        summary,
        description: Some(format!(
            "{reason}, {} to {} ({})",
            local(tz, shift.start),
            local(tz, shift.end),
            tz.name()
        )),
    }
}

/// `Mon 30 Mar 2026 09:00 CEST`: the schedule's own wall clock, for people who read the
/// description in another zone.
fn local(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz)
        .format("%a %-d %b %Y %H:%M %Z")
        .to_string()
}

/// Stable for the same shift: schedule, person, reason (rotation turn, or which override) and
/// start. Hashed so ids and names never leak into a calendar's UID field.
fn uid(s: &NamedSchedule<'_>, shift: &OnCall) -> String {
    let reason = match &shift.source {
        OnCallSource::Rotation { name, turn, .. } => format!("rotation\u{0}{name}\u{0}{turn}"),
        OnCallSource::Override { index } => match s.schedule.overrides().get(*index) {
            Some(o) => format!(
                "override\u{0}{}\u{0}{}",
                o.start.timestamp_millis(),
                o.created_at.timestamp_millis()
            ),
            None => format!("override\u{0}{index}"),
        },
    };
    let key = format!(
        "{}\u{0}{}\u{0}{reason}\u{0}{}",
        s.id,
        shift.user_id,
        shift.start.timestamp_millis()
    );
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@panic-gateway")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::{Override, Rotation, TurnLength};
    use chrono::{NaiveDate, NaiveTime};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn weekly_berlin(overrides: Vec<Override>) -> Schedule {
        Schedule::new(
            "Europe/Berlin",
            vec![Rotation {
                name: "weekly".into(),
                participants: vec!["ann".into(), "ben".into()],
                turn: TurnLength::Weekly,
                handoff_time: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                start_date: NaiveDate::from_ymd_opt(2026, 3, 16).unwrap(),
                restrict_to: Vec::new(),
            }],
            overrides,
        )
        .unwrap()
    }

    fn named(schedule: &Schedule) -> NamedSchedule<'_> {
        NamedSchedule {
            id: "s1",
            name: "Primary",
            schedule,
        }
    }

    #[test]
    fn a_person_sees_their_turns_at_nine_local_on_both_sides_of_the_clock_change() {
        // Berlin moves to summer time on 2026-03-29: 09:00 is 08:00Z before, 07:00Z after.
        let s = weekly_berlin(Vec::new());
        let cal = person_calendar("ann", "Ann", &[named(&s)], utc("2026-03-17T00:00:00Z"));
        let starts: Vec<_> = cal.events.iter().map(|e| e.start).collect();
        assert_eq!(starts[0], utc("2026-03-16T08:00:00Z"));
        assert_eq!(starts[1], utc("2026-03-30T07:00:00Z"));
        assert_eq!(cal.events[0].summary, "On call: Primary");
        assert!(cal.events[1]
            .description
            .as_deref()
            .unwrap()
            .contains("Mon 30 Mar 2026 09:00 CEST"));
        // Every other week for 60 days, and none of ben's.
        assert_eq!(cal.events.len(), 5);
    }

    #[test]
    fn an_override_moves_a_shift_from_one_feed_to_the_other_and_uids_are_stable() {
        let plain = weekly_berlin(Vec::new());
        let now = utc("2026-03-17T00:00:00Z");
        let before = person_calendar("ann", "Ann", &[named(&plain)], now);
        // Ann's second turn (30 Mar - 6 Apr) is taken over by cat.
        let covered = weekly_berlin(vec![Override {
            user_id: "cat".into(),
            start: utc("2026-03-30T07:00:00Z"),
            end: utc("2026-04-06T07:00:00Z"),
            created_at: utc("2026-03-17T00:00:00Z"),
        }]);
        let ann = person_calendar("ann", "Ann", &[named(&covered)], now);
        let cat = person_calendar("cat", "Cat", &[named(&covered)], now);
        assert_eq!(ann.events.len(), before.events.len() - 1);
        assert!(ann
            .events
            .iter()
            .all(|e| e.start != utc("2026-03-30T07:00:00Z")));
        assert_eq!(cat.events.len(), 1);
        assert_eq!(cat.events[0].start, utc("2026-03-30T07:00:00Z"));
        assert_eq!(cat.events[0].end, utc("2026-04-06T07:00:00Z"));
        // The turns the override left alone keep their UIDs.
        assert_eq!(ann.events[0].uid, before.events[0].uid);
        assert_eq!(ann.events[1].uid, before.events[2].uid);
        let again = person_calendar("ann", "Ann", &[named(&covered)], now);
        assert_eq!(again, ann);
    }

    #[test]
    fn a_schedule_feed_names_whoever_is_on_call() {
        let s = weekly_berlin(Vec::new());
        let cal = schedule_calendar(
            named(&s),
            |id| (id == "ann").then(|| "Ann Example".to_owned()),
            utc("2026-03-17T00:00:00Z"),
        );
        assert_eq!(cal.name, "On call: Primary");
        assert_eq!(cal.events[0].summary, "On call: Primary (Ann Example)");
        assert_eq!(cal.events[1].summary, "On call: Primary (ben)");
        let uids: std::collections::HashSet<_> = cal.events.iter().map(|e| &e.uid).collect();
        assert_eq!(uids.len(), cal.events.len());
    }
}
