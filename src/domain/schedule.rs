//! On-call schedules: who answers a page at instant `t`.
//!
//! A [`Schedule`] is one role (say "primary on-call"): a time zone, one or more [`Rotation`]s and
//! a list of [`Override`]s. The escalation engine asks [`Schedule::on_call_at`]; the UI asks
//! [`Schedule::handoffs_after`] to show "on call until ...".
//!
//! Rules, chosen to match what on-call people expect from PagerDuty, Opsgenie and GoAlert:
//!
//! - **Turns follow the wall clock.** A rotation hands off at its local `handoff_time` (09:00
//!   Europe/Paris stays 09:00 in summer and winter), so a daily turn that contains a clock change
//!   lasts 23 or 25 hours. Custom `hours` turns are wall-clock too: 12-hour turns from 09:00 hand
//!   off at 09:00 and 21:00 all year, and the turn across a change is 11 or 13 hours. A
//!   hand-off time inside a spring-forward gap happens at the clock change, one that exists twice
//!   happens at the earlier of the two (see [`crate::domain::calendar`]). With 1-hour turns the
//!   turn that falls in the gap is empty and its participant is skipped that once.
//! - **Turn `k` belongs to `participants[k % n]`**, counted from the first hand-off at
//!   `start_date` + `handoff_time`. Editing the participant list re-deals every turn from the
//!   start date; the admin API should move `start_date` to the next hand-off when it edits.
//! - **Before its first hand-off a rotation has nobody on call.** A schedule whose rotations
//!   have not started yet returns an empty list: the engine treats that as a step with no
//!   reachable target and moves on, instead of paging someone who never agreed to the turn.
//! - **Rotations add up.** Everyone on call in any rotation at `t` is on call for the
//!   schedule (GoAlert's model): a weekday business-hours rotation and an after-hours rotation
//!   with complementary `restrict_to` windows hand over by time of day; two unrestricted
//!   rotations page two people.
//! - **Overrides replace.** While an override is active its user is the only one on call,
//!   whatever the rotations say. Where overrides overlap, the one created last wins (ties: the
//!   later one in the list).
//!
//! Every [`OnCall`] carries the stretch `[start, end)` around `t` during which that person is
//! on call for that reason without interruption: a rotation's turn, cut to its window and to
//! any override. Consecutive turns of the same person are separate stretches.
//!
//! A `Schedule` can only be built valid ([`Schedule::new`], or deserialising, which validates
//! with errors that name the field), so the arithmetic here never divides by an empty
//! participant list or a zero turn. No I/O: the caller passes the instant.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::calendar::{covered_intervals, resolve_local, to_local, Interval, WeeklyWindow};

/// Longest custom turn: a leap year. Longer is a typo, not a rotation.
pub const MAX_TURN_HOURS: u32 = 366 * 24;

/// Upper bound on instants [`Schedule::handoffs_after`] examines, so a pathological schedule
/// (year-long turns hidden under overrides) cannot stall a request.
const MAX_HANDOFF_CANDIDATES: usize = 10_000;

/// An on-call schedule; see the module doc for the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleFields", into = "ScheduleFields")]
pub struct Schedule {
    time_zone: Tz,
    rotations: Vec<Rotation>,
    overrides: Vec<Override>,
}

/// The wire shape of a [`Schedule`] (admin API, stored JSON), before validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFields {
    time_zone: String,
    rotations: Vec<Rotation>,
    #[serde(default)]
    overrides: Vec<Override>,
}

/// One layer of a schedule: participants taking turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Unique within the schedule; shown as the reason someone is on call.
    pub name: String,
    /// User ids in turn order; a user may appear more than once (double turns).
    pub participants: Vec<String>,
    pub turn: TurnLength,
    /// Local wall-clock time of every hand-off, in the schedule's zone.
    pub handoff_time: NaiveTime,
    /// Local date of the first hand-off, which starts `participants[0]`'s first turn.
    pub start_date: NaiveDate,
    /// When non-empty, the rotation is on call only inside these local windows (e.g. weekday
    /// business hours); outside them it contributes nobody.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrict_to: Vec<WeeklyWindow>,
}

/// How long one turn lasts, in wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnLength {
    Daily,
    Weekly,
    /// A custom number of wall-clock hours, 1 to [`MAX_TURN_HOURS`].
    Hours(u32),
}

impl TurnLength {
    fn hours(self) -> u32 {
        match self {
            TurnLength::Daily => 24,
            TurnLength::Weekly => 7 * 24,
            TurnLength::Hours(h) => h,
        }
    }

    fn seconds(self) -> i64 {
        i64::from(self.hours()) * 3600
    }
}

/// `user_id` covers `[start, end)` instead of whoever is on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Decides between overlapping overrides: the latest created wins.
    pub created_at: DateTime<Utc>,
}

impl Override {
    fn interval(&self) -> Interval {
        Interval::new(self.start, self.end)
    }
}

/// Why someone is on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OnCallSource {
    /// Their turn in `rotations[index]`, the `turn`-th turn since the rotation started.
    Rotation {
        index: usize,
        name: String,
        turn: u64,
    },
    /// `overrides[index]`.
    Override { index: usize },
}

/// One person on call at an instant, and the uninterrupted stretch around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnCall {
    pub user_id: String,
    pub source: OnCallSource,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// An instant at which who is on call (or their stretch) changes, and who is on call from then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    pub at: DateTime<Utc>,
    pub on_call: Vec<OnCall>,
}

/// A schedule that cannot be used, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ScheduleError {
    /// e.g. `rotations[0].participants`.
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ScheduleError {
    ScheduleError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One turn of a rotation.
struct Turn<'a> {
    index: u64,
    user_id: &'a str,
    interval: Interval,
}

impl Rotation {
    fn first_handoff_local(&self) -> NaiveDateTime {
        self.start_date.and_time(self.handoff_time)
    }

    /// The instant of hand-off `k` (0 = the first). Far out of range saturates rather than
    /// panics; no real instant is that far away.
    fn handoff(&self, tz: Tz, k: i64) -> DateTime<Utc> {
        let local = Duration::try_seconds(self.turn.seconds().saturating_mul(k))
            .and_then(|offset| self.first_handoff_local().checked_add_signed(offset))
            .unwrap_or(if k < 0 {
                NaiveDateTime::MIN
            } else {
                NaiveDateTime::MAX
            });
        resolve_local(tz, local)
    }

    /// The turn containing `at`, or `None` before the first hand-off.
    fn turn_at(&self, tz: Tz, at: DateTime<Utc>) -> Option<Turn<'_>> {
        let elapsed = (to_local(tz, at) - self.first_handoff_local()).num_seconds();
        let mut k = elapsed.div_euclid(self.turn.seconds());
        // Local and resolved time differ by at most a clock change, so this moves k by one
        // step at most, and resolution is monotonic, so it settles.
        loop {
            if self.handoff(tz, k) > at {
                k -= 1;
            } else if self.handoff(tz, k + 1) <= at {
                k += 1;
            } else {
                break;
            }
        }
        let index = u64::try_from(k).ok()?;
        let n = self.participants.len() as u64;
        Some(Turn {
            index,
            user_id: &self.participants[(index % n) as usize],
            interval: Interval::new(self.handoff(tz, k), self.handoff(tz, k + 1)),
        })
    }

    /// Who this rotation has on call at `at`, and for which stretch (its turn cut to its
    /// window), ignoring overrides.
    fn stretch_at(&self, tz: Tz, at: DateTime<Utc>) -> Option<(Turn<'_>, Interval)> {
        let turn = self.turn_at(tz, at)?;
        let stretch = if self.restrict_to.is_empty() {
            turn.interval
        } else {
            covered_intervals(
                tz,
                &self.restrict_to,
                |_| false,
                turn.interval.start,
                turn.interval.end,
            )
            .into_iter()
            .find(|iv| iv.contains(at))?
        };
        Some((turn, stretch))
    }

    /// The first instant after `t` at which this rotation's turn or window changes.
    fn next_boundary_after(&self, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let turn_boundary = match self.turn_at(tz, t) {
            Some(turn) => turn.interval.end,
            None => self.handoff(tz, 0),
        };
        // Every weekly pattern has a boundary within a week unless it covers all of it.
        let window_boundary =
            covered_intervals(tz, &self.restrict_to, |_| false, t, t + Duration::days(8))
                .into_iter()
                .flat_map(|iv| [iv.start, iv.end])
                .find(|b| *b > t);
        [Some(turn_boundary), window_boundary]
            .into_iter()
            .flatten()
            .filter(|b| *b > t)
            .min()
    }

    fn validate(&self, field: &str) -> Result<(), ScheduleError> {
        if self.name.trim().is_empty() {
            return Err(invalid(format!("{field}.name"), "must not be empty"));
        }
        if self.participants.is_empty() {
            return Err(invalid(
                format!("{field}.participants"),
                "must not be empty",
            ));
        }
        if let Some(i) = self.participants.iter().position(|p| p.trim().is_empty()) {
            return Err(invalid(
                format!("{field}.participants[{i}]"),
                "must be a user id, not empty",
            ));
        }
        match self.turn {
            TurnLength::Hours(0) => Err(invalid(
                format!("{field}.turn"),
                "must be at least 1 hour, not 0",
            )),
            TurnLength::Hours(h) if h > MAX_TURN_HOURS => Err(invalid(
                format!("{field}.turn"),
                format!("must be at most {MAX_TURN_HOURS} hours (a year), not {h}"),
            )),
            _ => Ok(()),
        }
    }
}

impl Schedule {
    /// A schedule in the IANA zone `time_zone` (e.g. "Europe/Paris"), validated.
    pub fn new(
        time_zone: &str,
        rotations: Vec<Rotation>,
        overrides: Vec<Override>,
    ) -> Result<Self, ScheduleError> {
        let time_zone: Tz = time_zone
            .parse()
            .map_err(|_| invalid("time_zone", format!("unknown time zone {time_zone:?}")))?;
        if rotations.is_empty() {
            return Err(invalid("rotations", "must have at least one rotation"));
        }
        let mut names = HashSet::new();
        for (i, rotation) in rotations.iter().enumerate() {
            let field = format!("rotations[{i}]");
            rotation.validate(&field)?;
            if !names.insert(rotation.name.as_str()) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!(
                        "{:?} is already the name of another rotation",
                        rotation.name
                    ),
                ));
            }
        }
        for (i, o) in overrides.iter().enumerate() {
            validate_override(o, &format!("overrides[{i}]"))?;
        }
        Ok(Self {
            time_zone,
            rotations,
            overrides,
        })
    }

    /// The same schedule with one more override, validated like the others.
    pub fn with_override(mut self, o: Override) -> Result<Self, ScheduleError> {
        validate_override(&o, &format!("overrides[{}]", self.overrides.len()))?;
        self.overrides.push(o);
        Ok(self)
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn rotations(&self) -> &[Rotation] {
        &self.rotations
    }

    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// Everyone on call at `at`: the winning override alone if one is active, otherwise one
    /// entry per rotation that has someone on call, in rotation order. Empty when nobody is.
    pub fn on_call_at(&self, at: DateTime<Utc>) -> Vec<OnCall> {
        if let Some((index, o)) = self.override_at(at) {
            let later = self
                .overrides
                .iter()
                .enumerate()
                .filter(|(j, other)| created_later(other, *j, o, index))
                .map(|(_, other)| other.interval());
            let stretch = o.interval().around_excluding(at, later);
            return vec![OnCall {
                user_id: o.user_id.clone(),
                source: OnCallSource::Override { index },
                start: stretch.start,
                end: stretch.end,
            }];
        }
        self.rotations
            .iter()
            .enumerate()
            .filter_map(|(index, rotation)| {
                let (turn, stretch) = rotation.stretch_at(self.time_zone, at)?;
                // No override is active at `at`, so each is a hole before or after it.
                let stretch =
                    stretch.around_excluding(at, self.overrides.iter().map(Override::interval));
                Some(OnCall {
                    user_id: turn.user_id.to_owned(),
                    source: OnCallSource::Rotation {
                        index,
                        name: rotation.name.clone(),
                        turn: turn.index,
                    },
                    start: stretch.start,
                    end: stretch.end,
                })
            })
            .collect()
    }

    /// The user ids on call at `at`, each once, in [`Schedule::on_call_at`] order: the people
    /// a page to this schedule goes to.
    pub fn on_call_users_at(&self, at: DateTime<Utc>) -> Vec<String> {
        let mut seen = HashSet::new();
        self.on_call_at(at)
            .into_iter()
            .map(|c| c.user_id)
            .filter(|u| seen.insert(u.clone()))
            .collect()
    }

    /// The next `count` instants strictly after `from` at which [`Schedule::on_call_at`]
    /// changes (a hand-off, a window opening or closing, an override starting or ending), with
    /// who is on call from each. Fewer when the schedule has no more changes within the
    /// examined horizon.
    pub fn handoffs_after(&self, from: DateTime<Utc>, count: usize) -> Vec<Handoff> {
        let mut handoffs = Vec::with_capacity(count.min(64));
        let mut current = self.on_call_at(from);
        let mut t = from;
        for _ in 0..MAX_HANDOFF_CANDIDATES {
            if handoffs.len() >= count {
                break;
            }
            let Some(next) = self.next_boundary_after(t) else {
                break;
            };
            let on_call = self.on_call_at(next);
            if on_call != current {
                handoffs.push(Handoff {
                    at: next,
                    on_call: on_call.clone(),
                });
                current = on_call;
            }
            t = next;
        }
        handoffs
    }

    /// Every stretch someone is on call that overlaps `[from, to)`, each once, ordered by
    /// start (then by rotation order): what a calendar of this schedule shows. A stretch keeps
    /// its real bounds, so one in progress at `from` starts before it. An override cuts the
    /// stretches it covers out of the rotations' turns and is a stretch of its own.
    pub fn shifts_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<OnCall> {
        let mut shifts: Vec<OnCall> = Vec::new();
        let mut t = from;
        for _ in 0..MAX_HANDOFF_CANDIDATES {
            if t >= to {
                break;
            }
            for on_call in self.on_call_at(t) {
                if !shifts.contains(&on_call) {
                    shifts.push(on_call);
                }
            }
            let Some(next) = self.next_boundary_after(t) else {
                break;
            };
            t = next;
        }
        shifts.sort_by_key(|s| s.start);
        shifts
    }

    /// The override in force at `at`: among those containing it, the latest created.
    fn override_at(&self, at: DateTime<Utc>) -> Option<(usize, &Override)> {
        self.overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| o.interval().contains(at))
            .max_by_key(|(i, o)| (o.created_at, *i))
    }

    /// Every instant where on-call can change is a boundary of a turn, a window or an
    /// override; this is the first one after `t`.
    fn next_boundary_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let rotations = self
            .rotations
            .iter()
            .filter_map(|r| r.next_boundary_after(self.time_zone, t));
        let overrides = self.overrides.iter().flat_map(|o| [o.start, o.end]);
        rotations.chain(overrides).filter(|b| *b > t).min()
    }
}

/// Whether override `a` (at list position `ai`) beats `b` (at `bi`) where they overlap.
fn created_later(a: &Override, ai: usize, b: &Override, bi: usize) -> bool {
    (a.created_at, ai) > (b.created_at, bi)
}

fn validate_override(o: &Override, field: &str) -> Result<(), ScheduleError> {
    if o.user_id.trim().is_empty() {
        return Err(invalid(
            format!("{field}.user_id"),
            "must be a user id, not empty",
        ));
    }
    if o.end <= o.start {
        return Err(invalid(
            format!("{field}.end"),
            format!("must be after start ({} <= {})", o.end, o.start),
        ));
    }
    Ok(())
}

impl TryFrom<ScheduleFields> for Schedule {
    type Error = ScheduleError;

    fn try_from(f: ScheduleFields) -> Result<Self, Self::Error> {
        Schedule::new(&f.time_zone, f.rotations, f.overrides)
    }
}

impl From<Schedule> for ScheduleFields {
    fn from(s: Schedule) -> Self {
        ScheduleFields {
            time_zone: s.time_zone.name().to_owned(),
            rotations: s.rotations,
            overrides: s.overrides,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn rotation(turn: TurnLength, start: &str, handoff: NaiveTime, people: &[&str]) -> Rotation {
        Rotation {
            name: "main".into(),
            participants: people.iter().map(|p| p.to_string()).collect(),
            turn,
            handoff_time: handoff,
            start_date: date(start),
            restrict_to: Vec::new(),
        }
    }

    fn daily(tz: &str, start: &str) -> Schedule {
        Schedule::new(
            tz,
            vec![rotation(
                TurnLength::Daily,
                start,
                hm(9, 0),
                &["alice", "bob", "carol"],
            )],
            Vec::new(),
        )
        .unwrap()
    }

    fn only(on_call: Vec<OnCall>) -> OnCall {
        assert_eq!(on_call.len(), 1, "{on_call:?}");
        on_call.into_iter().next().unwrap()
    }

    fn who(s: &Schedule, at: &str) -> Vec<String> {
        s.on_call_users_at(utc(at))
    }

    fn hours(c: &OnCall) -> i64 {
        (c.end - c.start).num_minutes() / 60
    }

    fn override_of(user: &str, start: &str, end: &str, created: &str) -> Override {
        Override {
            user_id: user.into(),
            start: utc(start),
            end: utc(end),
            created_at: utc(created),
        }
    }

    // --- Daylight-saving weeks with a 09:00 hand-off ---

    #[test]
    fn london_spring_forward_day_turn_is_23_hours_and_handoff_stays_at_nine_local() {
        // 2024-03-31: 01:00 GMT -> 02:00 BST. Turn k on 2024-03-25 + k days.
        let s = daily("Europe/London", "2024-03-25");
        let saturday = only(s.on_call_at(utc("2024-03-30T12:00:00Z")));
        assert_eq!(saturday.user_id, "carol");
        assert_eq!(saturday.start, utc("2024-03-30T09:00:00Z")); // 09:00 GMT
        assert_eq!(saturday.end, utc("2024-03-31T08:00:00Z")); // 09:00 BST
        assert_eq!(hours(&saturday), 23);
        assert_eq!(who(&s, "2024-03-31T07:59:59Z"), ["carol"]);
        assert_eq!(who(&s, "2024-03-31T08:00:00Z"), ["alice"]);
        let sunday = only(s.on_call_at(utc("2024-03-31T08:00:00Z")));
        assert_eq!(sunday.end, utc("2024-04-01T08:00:00Z"));
        assert_eq!(hours(&sunday), 24);
    }

    #[test]
    fn london_fall_back_day_turn_is_25_hours() {
        // 2024-10-27: 02:00 BST -> 01:00 GMT.
        let s = daily("Europe/London", "2024-10-21");
        let saturday = only(s.on_call_at(utc("2024-10-26T20:00:00Z")));
        assert_eq!(saturday.user_id, "carol");
        assert_eq!(saturday.start, utc("2024-10-26T08:00:00Z")); // 09:00 BST
        assert_eq!(saturday.end, utc("2024-10-27T09:00:00Z")); // 09:00 GMT
        assert_eq!(hours(&saturday), 25);
        assert_eq!(who(&s, "2024-10-27T08:30:00Z"), ["carol"]);
        assert_eq!(who(&s, "2024-10-27T09:00:00Z"), ["alice"]);
    }

    #[test]
    fn new_york_spring_forward_day_turn_is_23_hours() {
        // 2024-03-10: 02:00 EST -> 03:00 EDT.
        let s = daily("America/New_York", "2024-03-04");
        let saturday = only(s.on_call_at(utc("2024-03-09T15:00:00Z")));
        assert_eq!(saturday.user_id, "carol");
        assert_eq!(saturday.start, utc("2024-03-09T14:00:00Z")); // 09:00 EST
        assert_eq!(saturday.end, utc("2024-03-10T13:00:00Z")); // 09:00 EDT
        assert_eq!(hours(&saturday), 23);
        let monday = only(s.on_call_at(utc("2024-03-11T13:00:00Z")));
        assert_eq!((monday.user_id.as_str(), hours(&monday)), ("bob", 24));
    }

    #[test]
    fn new_york_fall_back_day_turn_is_25_hours() {
        // 2024-11-03: 02:00 EDT -> 01:00 EST.
        let s = daily("America/New_York", "2024-10-28");
        let saturday = only(s.on_call_at(utc("2024-11-02T13:00:00Z")));
        assert_eq!(saturday.user_id, "carol");
        assert_eq!(saturday.start, utc("2024-11-02T13:00:00Z")); // 09:00 EDT
        assert_eq!(saturday.end, utc("2024-11-03T14:00:00Z")); // 09:00 EST
        assert_eq!(hours(&saturday), 25);
        assert_eq!(who(&s, "2024-11-03T13:59:59Z"), ["carol"]);
        assert_eq!(who(&s, "2024-11-03T14:00:00Z"), ["alice"]);
    }

    #[test]
    fn shifts_between_lists_each_stretch_once_with_overrides_cut_out() {
        // Daily 09:00 London turns; dave covers the middle of bob's turn on 2024-01-02.
        let s = daily("Europe/London", "2024-01-01")
            .with_override(override_of(
                "dave",
                "2024-01-02T12:00:00Z",
                "2024-01-02T18:00:00Z",
                "2024-01-01T00:00:00Z",
            ))
            .unwrap();
        let shifts = s.shifts_between(utc("2024-01-01T12:00:00Z"), utc("2024-01-03T12:00:00Z"));
        let seen: Vec<(&str, DateTime<Utc>, DateTime<Utc>)> = shifts
            .iter()
            .map(|c| (c.user_id.as_str(), c.start, c.end))
            .collect();
        assert_eq!(
            seen,
            [
                // In progress at `from`: its real start.
                (
                    "alice",
                    utc("2024-01-01T09:00:00Z"),
                    utc("2024-01-02T09:00:00Z")
                ),
                (
                    "bob",
                    utc("2024-01-02T09:00:00Z"),
                    utc("2024-01-02T12:00:00Z")
                ),
                (
                    "dave",
                    utc("2024-01-02T12:00:00Z"),
                    utc("2024-01-02T18:00:00Z")
                ),
                (
                    "bob",
                    utc("2024-01-02T18:00:00Z"),
                    utc("2024-01-03T09:00:00Z")
                ),
                (
                    "carol",
                    utc("2024-01-03T09:00:00Z"),
                    utc("2024-01-04T09:00:00Z")
                ),
            ]
        );
        assert!(s
            .shifts_between(utc("2023-12-01T00:00:00Z"), utc("2023-12-02T00:00:00Z"))
            .is_empty());
    }

    #[test]
    fn weekly_turn_across_spring_forward_is_167_hours() {
        let s = Schedule::new(
            "Europe/London",
            vec![rotation(
                TurnLength::Weekly,
                "2024-03-25",
                hm(9, 0),
                &["alice", "bob"],
            )],
            Vec::new(),
        )
        .unwrap();
        let first = only(s.on_call_at(utc("2024-03-26T00:00:00Z")));
        assert_eq!(first.start, utc("2024-03-25T09:00:00Z"));
        assert_eq!(first.end, utc("2024-04-01T08:00:00Z"));
        assert_eq!(hours(&first), 167);
    }

    #[test]
    fn handoff_time_in_the_spring_gap_happens_at_the_clock_change() {
        let s = Schedule::new(
            "America/New_York",
            vec![rotation(
                TurnLength::Daily,
                "2024-03-04",
                hm(2, 30),
                &["alice", "bob", "carol"],
            )],
            Vec::new(),
        )
        .unwrap();
        // 02:30 does not exist on 2024-03-10; the turn starts at 03:00 EDT = 07:00Z.
        let sunday = only(s.on_call_at(utc("2024-03-10T07:00:00Z")));
        assert_eq!(sunday.user_id, "alice");
        assert_eq!(sunday.start, utc("2024-03-10T07:00:00Z"));
        assert_eq!(sunday.end, utc("2024-03-11T06:30:00Z")); // 02:30 EDT
        assert_eq!(who(&s, "2024-03-10T06:59:59Z"), ["carol"]);
    }

    #[test]
    fn ambiguous_handoff_time_at_fall_back_happens_at_the_earlier_instant() {
        let s = Schedule::new(
            "America/New_York",
            vec![rotation(
                TurnLength::Daily,
                "2024-10-28",
                hm(1, 30),
                &["alice", "bob", "carol"],
            )],
            Vec::new(),
        )
        .unwrap();
        // 01:30 happens twice on 2024-11-03; the hand-off is at the first, 01:30 EDT = 05:30Z.
        let sunday = only(s.on_call_at(utc("2024-11-03T05:30:00Z")));
        assert_eq!(sunday.user_id, "alice");
        assert_eq!(sunday.start, utc("2024-11-03T05:30:00Z"));
        assert_eq!(sunday.end, utc("2024-11-04T06:30:00Z")); // 01:30 EST
        assert_eq!(hours(&sunday), 25);
    }

    #[test]
    fn twelve_hour_turns_stay_on_the_local_clock_across_spring_forward() {
        let s = Schedule::new(
            "America/New_York",
            vec![rotation(
                TurnLength::Hours(12),
                "2024-03-08",
                hm(9, 0),
                &["day", "night"],
            )],
            Vec::new(),
        )
        .unwrap();
        let night = only(s.on_call_at(utc("2024-03-10T05:00:00Z")));
        assert_eq!(night.user_id, "night");
        assert_eq!(night.start, utc("2024-03-10T02:00:00Z")); // Sat 21:00 EST
        assert_eq!(night.end, utc("2024-03-10T13:00:00Z")); // Sun 09:00 EDT
        assert_eq!(hours(&night), 11);
        let day = only(s.on_call_at(utc("2024-03-10T13:00:00Z")));
        assert_eq!(day.user_id, "day");
        assert_eq!(day.end, utc("2024-03-11T01:00:00Z")); // Sun 21:00 EDT
    }

    // --- Turn arithmetic ---

    #[test]
    fn weekly_rotation_wraps_around_to_the_first_participant() {
        let s = Schedule::new(
            "Europe/Paris",
            vec![rotation(
                TurnLength::Weekly,
                "2024-01-01",
                hm(9, 0),
                &["alice", "bob", "carol"],
            )],
            Vec::new(),
        )
        .unwrap();
        assert_eq!(who(&s, "2024-01-01T08:00:00Z"), ["alice"]); // Mon 09:00 CET
        assert_eq!(who(&s, "2024-01-08T08:00:00Z"), ["bob"]);
        assert_eq!(who(&s, "2024-01-15T08:00:00Z"), ["carol"]);
        assert_eq!(who(&s, "2024-01-22T07:59:59Z"), ["carol"]);
        let wrapped = only(s.on_call_at(utc("2024-01-22T08:00:00Z")));
        assert_eq!(wrapped.user_id, "alice");
        assert_eq!(
            wrapped.source,
            OnCallSource::Rotation {
                index: 0,
                name: "main".into(),
                turn: 3
            }
        );
        assert_eq!(wrapped.end, utc("2024-01-29T08:00:00Z"));
    }

    #[test]
    fn three_person_daily_rotation_100_days_out() {
        // 2024 is a leap year: 2024-01-01 + 100 days = 2024-04-10, in CEST.
        let s = daily("Europe/Paris", "2024-01-01");
        let day_100 = only(s.on_call_at(utc("2024-04-10T12:00:00Z")));
        assert_eq!(day_100.user_id, "bob"); // 100 % 3 == 1
        assert_eq!(
            day_100.source,
            OnCallSource::Rotation {
                index: 0,
                name: "main".into(),
                turn: 100
            }
        );
        assert_eq!(day_100.start, utc("2024-04-10T07:00:00Z"));
        assert_eq!(day_100.end, utc("2024-04-11T07:00:00Z"));
        assert_eq!(who(&s, "2024-04-10T06:59:59Z"), ["alice"]); // turn 99
    }

    #[test]
    fn before_the_first_handoff_nobody_is_on_call() {
        let s = daily("Europe/London", "2024-03-25");
        assert!(s.on_call_at(utc("2024-03-25T08:59:59Z")).is_empty());
        assert!(s.on_call_at(utc("2020-01-01T00:00:00Z")).is_empty());
        assert_eq!(who(&s, "2024-03-25T09:00:00Z"), ["alice"]);
        let next = s.handoffs_after(utc("2024-03-01T00:00:00Z"), 1);
        assert_eq!(next[0].at, utc("2024-03-25T09:00:00Z"));
        assert_eq!(next[0].on_call[0].user_id, "alice");
    }

    #[test]
    fn a_one_person_rotation_has_one_stretch_per_turn() {
        let s = Schedule::new(
            "UTC",
            vec![rotation(
                TurnLength::Daily,
                "2024-01-01",
                hm(9, 0),
                &["solo"],
            )],
            Vec::new(),
        )
        .unwrap();
        let c = only(s.on_call_at(utc("2024-01-05T10:00:00Z")));
        assert_eq!(c.user_id, "solo");
        assert_eq!(hours(&c), 24);
    }

    // --- Overrides ---

    #[test]
    fn override_in_the_middle_of_a_shift_splits_it() {
        let s = daily("UTC", "2024-01-01")
            .with_override(override_of(
                "dave",
                "2024-01-01T12:00:00Z",
                "2024-01-01T15:00:00Z",
                "2023-12-20T00:00:00Z",
            ))
            .unwrap();
        let before = only(s.on_call_at(utc("2024-01-01T10:00:00Z")));
        assert_eq!(before.user_id, "alice");
        assert_eq!(
            (before.start, before.end),
            (utc("2024-01-01T09:00:00Z"), utc("2024-01-01T12:00:00Z"))
        );
        let during = only(s.on_call_at(utc("2024-01-01T12:00:00Z")));
        assert_eq!(during.user_id, "dave");
        assert_eq!(during.source, OnCallSource::Override { index: 0 });
        assert_eq!(
            (during.start, during.end),
            (utc("2024-01-01T12:00:00Z"), utc("2024-01-01T15:00:00Z"))
        );
        let after = only(s.on_call_at(utc("2024-01-01T15:00:00Z")));
        assert_eq!(after.user_id, "alice");
        assert_eq!(
            (after.start, after.end),
            (utc("2024-01-01T15:00:00Z"), utc("2024-01-02T09:00:00Z"))
        );
    }

    #[test]
    fn latest_created_override_wins_where_overrides_overlap() {
        let s = Schedule::new(
            "UTC",
            vec![rotation(
                TurnLength::Daily,
                "2024-01-01",
                hm(9, 0),
                &["alice"],
            )],
            vec![
                // Created last, listed first: still wins 12:00-13:00.
                override_of(
                    "erin",
                    "2024-01-02T12:00:00Z",
                    "2024-01-02T13:00:00Z",
                    "2024-01-01T02:00:00Z",
                ),
                override_of(
                    "dave",
                    "2024-01-02T10:00:00Z",
                    "2024-01-02T14:00:00Z",
                    "2024-01-01T01:00:00Z",
                ),
            ],
        )
        .unwrap();
        let early = only(s.on_call_at(utc("2024-01-02T11:00:00Z")));
        assert_eq!(early.user_id, "dave");
        assert_eq!(
            (early.start, early.end),
            (utc("2024-01-02T10:00:00Z"), utc("2024-01-02T12:00:00Z"))
        );
        let middle = only(s.on_call_at(utc("2024-01-02T12:30:00Z")));
        assert_eq!(middle.user_id, "erin");
        assert_eq!(middle.source, OnCallSource::Override { index: 0 });
        let late = only(s.on_call_at(utc("2024-01-02T13:30:00Z")));
        assert_eq!(late.user_id, "dave");
        assert_eq!(
            (late.start, late.end),
            (utc("2024-01-02T13:00:00Z"), utc("2024-01-02T14:00:00Z"))
        );
    }

    #[test]
    fn overrides_created_at_the_same_instant_are_decided_by_list_order() {
        let created = "2024-01-01T00:00:00Z";
        let s = daily("UTC", "2024-01-01")
            .with_override(override_of(
                "dave",
                "2024-01-02T10:00:00Z",
                "2024-01-02T14:00:00Z",
                created,
            ))
            .unwrap()
            .with_override(override_of(
                "erin",
                "2024-01-02T10:00:00Z",
                "2024-01-02T14:00:00Z",
                created,
            ))
            .unwrap();
        assert_eq!(who(&s, "2024-01-02T11:00:00Z"), ["erin"]);
    }

    #[test]
    fn override_covers_even_before_the_rotation_starts() {
        let s = daily("UTC", "2024-06-01")
            .with_override(override_of(
                "dave",
                "2024-05-01T00:00:00Z",
                "2024-05-02T00:00:00Z",
                "2024-04-01T00:00:00Z",
            ))
            .unwrap();
        assert_eq!(who(&s, "2024-05-01T12:00:00Z"), ["dave"]);
        assert!(who(&s, "2024-05-02T12:00:00Z").is_empty());
    }

    #[test]
    fn override_replaces_every_rotation() {
        let mut night = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["nina"]);
        night.name = "shadow".into();
        let s = Schedule::new(
            "UTC",
            vec![
                rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["alice"]),
                night,
            ],
            vec![override_of(
                "dave",
                "2024-01-02T00:00:00Z",
                "2024-01-03T00:00:00Z",
                "2024-01-01T00:00:00Z",
            )],
        )
        .unwrap();
        assert_eq!(who(&s, "2024-01-01T12:00:00Z"), ["alice", "nina"]);
        assert_eq!(who(&s, "2024-01-02T12:00:00Z"), ["dave"]);
    }

    // --- Restricted rotations ---

    fn business_and_after_hours() -> Schedule {
        let mut day = rotation(TurnLength::Weekly, "2024-01-01", hm(9, 0), &["dana", "dan"]);
        day.name = "business hours".into();
        day.restrict_to = WeeklyWindow::monday_to_friday(hm(9, 0), hm(17, 0));
        let mut night = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["nick", "nora"]);
        night.name = "after hours".into();
        night.restrict_to = vec![
            WeeklyWindow::new(Weekday::Mon, hm(17, 0), hm(9, 0)),
            WeeklyWindow::new(Weekday::Tue, hm(17, 0), hm(9, 0)),
            WeeklyWindow::new(Weekday::Wed, hm(17, 0), hm(9, 0)),
            WeeklyWindow::new(Weekday::Thu, hm(17, 0), hm(9, 0)),
            WeeklyWindow::new(Weekday::Fri, hm(17, 0), hm(0, 0)),
            WeeklyWindow::new(Weekday::Sat, hm(0, 0), hm(0, 0)),
            WeeklyWindow::new(Weekday::Sun, hm(0, 0), hm(0, 0)),
            WeeklyWindow::new(Weekday::Mon, hm(0, 0), hm(9, 0)),
        ];
        Schedule::new("Europe/London", vec![day, night], Vec::new()).unwrap()
    }

    #[test]
    fn restricted_rotations_hand_over_by_time_of_day() {
        let s = business_and_after_hours();
        // Tuesday 2024-01-02, winter: London is UTC.
        let day = only(s.on_call_at(utc("2024-01-02T10:00:00Z")));
        assert_eq!(day.user_id, "dana");
        assert_eq!(
            (day.start, day.end),
            (utc("2024-01-02T09:00:00Z"), utc("2024-01-02T17:00:00Z"))
        );
        let night = only(s.on_call_at(utc("2024-01-02T20:00:00Z")));
        // Daily turn 1; the night window runs to 09:00, where the daily turn hands off too.
        assert_eq!(night.user_id, "nora");
        assert_eq!(
            (night.start, night.end),
            (utc("2024-01-02T17:00:00Z"), utc("2024-01-03T09:00:00Z"))
        );
        // Saturday: the after-hours rotation covers the weekend, turn by turn.
        let saturday = only(s.on_call_at(utc("2024-01-06T12:00:00Z")));
        assert_eq!(
            (saturday.start, saturday.end),
            (utc("2024-01-06T09:00:00Z"), utc("2024-01-07T09:00:00Z"))
        );
    }

    #[test]
    fn handoffs_include_window_boundaries() {
        let s = business_and_after_hours();
        let next = s.handoffs_after(utc("2024-01-02T10:00:00Z"), 3);
        let summary: Vec<(DateTime<Utc>, Vec<&str>)> = next
            .iter()
            .map(|h| (h.at, h.on_call.iter().map(|c| c.user_id.as_str()).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (utc("2024-01-02T17:00:00Z"), vec!["nora"]),
                (utc("2024-01-03T09:00:00Z"), vec!["dana"]),
                (utc("2024-01-03T17:00:00Z"), vec!["nick"]),
            ]
        );
    }

    // --- Hand-offs for the UI ---

    #[test]
    fn next_handoffs_of_a_daily_rotation_follow_the_local_clock() {
        let s = daily("Europe/London", "2024-03-25");
        let next = s.handoffs_after(utc("2024-03-29T12:00:00Z"), 4);
        let at: Vec<DateTime<Utc>> = next.iter().map(|h| h.at).collect();
        assert_eq!(
            at,
            vec![
                utc("2024-03-30T09:00:00Z"),
                utc("2024-03-31T08:00:00Z"),
                utc("2024-04-01T08:00:00Z"),
                utc("2024-04-02T08:00:00Z"),
            ]
        );
        let users: Vec<&str> = next.iter().map(|h| h.on_call[0].user_id.as_str()).collect();
        assert_eq!(users, ["carol", "alice", "bob", "carol"]);
    }

    #[test]
    fn next_handoffs_include_an_override_starting_and_ending() {
        let s = daily("UTC", "2024-01-01")
            .with_override(override_of(
                "dave",
                "2024-01-01T12:00:00Z",
                "2024-01-01T15:00:00Z",
                "2023-12-20T00:00:00Z",
            ))
            .unwrap();
        let next = s.handoffs_after(utc("2024-01-01T10:00:00Z"), 3);
        let summary: Vec<(DateTime<Utc>, &str)> = next
            .iter()
            .map(|h| (h.at, h.on_call[0].user_id.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (utc("2024-01-01T12:00:00Z"), "dave"),
                (utc("2024-01-01T15:00:00Z"), "alice"),
                (utc("2024-01-02T09:00:00Z"), "bob"),
            ]
        );
    }

    #[test]
    fn handoffs_hidden_under_an_override_are_not_reported() {
        let s = daily("UTC", "2024-01-01")
            .with_override(override_of(
                "dave",
                "2024-01-02T00:00:00Z",
                "2024-01-05T00:00:00Z",
                "2023-12-20T00:00:00Z",
            ))
            .unwrap();
        let next = s.handoffs_after(utc("2024-01-02T12:00:00Z"), 2);
        assert_eq!(next[0].at, utc("2024-01-05T00:00:00Z"));
        assert_eq!(next[0].on_call[0].user_id, "alice"); // turn 3 began 2024-01-04 09:00
        assert_eq!(next[1].at, utc("2024-01-05T09:00:00Z"));
    }

    #[test]
    fn an_override_only_future_ends_when_the_overrides_do() {
        // A rotation far in the future: the only changes before it are the override's.
        let s = daily("UTC", "2030-01-01")
            .with_override(override_of(
                "dave",
                "2024-01-01T00:00:00Z",
                "2024-01-02T00:00:00Z",
                "2023-12-20T00:00:00Z",
            ))
            .unwrap();
        let next = s.handoffs_after(utc("2023-12-31T00:00:00Z"), 3);
        let at: Vec<DateTime<Utc>> = next.iter().map(|h| h.at).collect();
        assert_eq!(
            at,
            vec![
                utc("2024-01-01T00:00:00Z"),
                utc("2024-01-02T00:00:00Z"),
                utc("2030-01-01T09:00:00Z"),
            ]
        );
        assert!(next[1].on_call.is_empty());
    }

    #[test]
    fn two_unrestricted_rotations_both_page_and_users_are_listed_once() {
        let mut shadow = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["alice", "sam"]);
        shadow.name = "shadow".into();
        let s = Schedule::new(
            "UTC",
            vec![
                rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["alice", "bob"]),
                shadow,
            ],
            Vec::new(),
        )
        .unwrap();
        assert_eq!(s.on_call_at(utc("2024-01-01T12:00:00Z")).len(), 2);
        assert_eq!(who(&s, "2024-01-01T12:00:00Z"), ["alice"]);
        assert_eq!(who(&s, "2024-01-02T12:00:00Z"), ["bob", "sam"]);
    }

    // --- Invariants over a year with two clock changes ---

    fn busy_schedule() -> Schedule {
        let mut s = business_and_after_hours();
        let mut twelve = rotation(
            TurnLength::Hours(12),
            "2024-02-01",
            hm(1, 30),
            &["p", "q", "r"],
        );
        twelve.name = "twelve".into();
        s.rotations.push(twelve);
        for (i, (start, end)) in [
            ("2024-03-31T00:00:00Z", "2024-03-31T05:00:00Z"),
            ("2024-03-31T03:00:00Z", "2024-04-02T00:00:00Z"),
            ("2024-10-27T00:30:00Z", "2024-10-27T02:30:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            let created = utc("2024-01-01T00:00:00Z") + Duration::minutes(i as i64);
            s = s
                .with_override(Override {
                    user_id: format!("o{i}"),
                    start: utc(start),
                    end: utc(end),
                    created_at: created,
                })
                .unwrap();
        }
        s
    }

    #[test]
    fn every_stretch_contains_its_instant_and_is_the_same_from_its_ends() {
        let s = busy_schedule();
        let mut t = utc("2024-01-01T00:17:00Z");
        while t < utc("2025-01-01T00:00:00Z") {
            for c in s.on_call_at(t) {
                assert!(c.start <= t && t < c.end, "{t}: {c:?}");
                assert!(s.on_call_at(c.start).contains(&c), "{t}: {c:?} at start");
                let last = c.end - Duration::seconds(1);
                assert!(s.on_call_at(last).contains(&c), "{t}: {c:?} at end");
            }
            t += Duration::minutes(53);
        }
    }

    #[test]
    fn handoffs_agree_with_on_call_at_between_them() {
        let s = busy_schedule();
        let from = utc("2024-01-01T00:00:00Z");
        let handoffs = s.handoffs_after(from, 3000);
        assert_eq!(handoffs.len(), 3000);
        assert!(handoffs.last().unwrap().at > utc("2024-11-01T00:00:00Z"));
        for pair in handoffs.windows(2) {
            let (h, next) = (&pair[0], &pair[1]);
            assert!(h.at < next.at);
            assert_eq!(s.on_call_at(h.at), h.on_call);
            let before_next = next.at - Duration::seconds(1);
            assert_eq!(
                s.on_call_at(before_next),
                h.on_call,
                "between {} and {}",
                h.at,
                next.at
            );
            assert_ne!(next.on_call, h.on_call);
        }
    }

    // --- Validation ---

    fn error_of(result: Result<Schedule, ScheduleError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn unknown_time_zone_is_refused() {
        let r = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["a"]);
        assert_eq!(
            error_of(Schedule::new("Europe/Pariss", vec![r], Vec::new())),
            r#"time_zone: unknown time zone "Europe/Pariss""#
        );
    }

    #[test]
    fn a_schedule_needs_a_rotation() {
        assert_eq!(
            error_of(Schedule::new("UTC", Vec::new(), Vec::new())),
            "rotations: must have at least one rotation"
        );
    }

    #[test]
    fn empty_participants_are_refused() {
        let ok = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["a"]);
        let mut empty = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &[]);
        empty.name = "second".into();
        assert_eq!(
            error_of(Schedule::new("UTC", vec![ok.clone(), empty], Vec::new())),
            "rotations[1].participants: must not be empty"
        );
        let blank = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["a", " "]);
        assert_eq!(
            error_of(Schedule::new("UTC", vec![blank], Vec::new())),
            "rotations[0].participants[1]: must be a user id, not empty"
        );
    }

    #[test]
    fn turn_length_must_be_between_one_hour_and_a_year() {
        let zero = rotation(TurnLength::Hours(0), "2024-01-01", hm(9, 0), &["a"]);
        assert_eq!(
            error_of(Schedule::new("UTC", vec![zero], Vec::new())),
            "rotations[0].turn: must be at least 1 hour, not 0"
        );
        let long = rotation(TurnLength::Hours(9000), "2024-01-01", hm(9, 0), &["a"]);
        assert_eq!(
            error_of(Schedule::new("UTC", vec![long], Vec::new())),
            "rotations[0].turn: must be at most 8784 hours (a year), not 9000"
        );
    }

    #[test]
    fn rotation_names_must_be_present_and_unique() {
        let r = rotation(TurnLength::Daily, "2024-01-01", hm(9, 0), &["a"]);
        assert_eq!(
            error_of(Schedule::new("UTC", vec![r.clone(), r.clone()], Vec::new())),
            r#"rotations[1].name: "main" is already the name of another rotation"#
        );
        let mut unnamed = r;
        unnamed.name = "".into();
        assert_eq!(
            error_of(Schedule::new("UTC", vec![unnamed], Vec::new())),
            "rotations[0].name: must not be empty"
        );
    }

    #[test]
    fn overrides_must_end_after_they_start_and_name_a_user() {
        let s = daily("UTC", "2024-01-01");
        let backwards = override_of(
            "dave",
            "2024-01-02T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
        );
        assert_eq!(
            s.clone().with_override(backwards).unwrap_err().to_string(),
            "overrides[0].end: must be after start (2024-01-01 00:00:00 UTC <= 2024-01-02 00:00:00 UTC)"
        );
        let nobody = override_of(
            "",
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-01T00:00:00Z",
        );
        let err = Schedule::new("UTC", s.rotations().to_vec(), vec![nobody]).unwrap_err();
        assert_eq!(err.field, "overrides[0].user_id");
    }

    // --- Wire format ---

    const JSON: &str = r#"{
        "time_zone": "Europe/Paris",
        "rotations": [{
            "name": "weekday",
            "participants": ["alice", "bob"],
            "turn": "weekly",
            "handoff_time": "09:00",
            "start_date": "2024-01-01",
            "restrict_to": [{"weekday": "Mon", "start": "09:00", "end": "17:00"}]
        }, {
            "name": "follow the sun",
            "participants": ["carol"],
            "turn": {"hours": 12},
            "handoff_time": "21:00:00",
            "start_date": "2024-01-01"
        }],
        "overrides": [{
            "user_id": "dave",
            "start": "2024-01-02T00:00:00Z",
            "end": "2024-01-03T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z"
        }]
    }"#;

    #[test]
    fn deserialises_validated_and_round_trips() {
        let s: Schedule = serde_json::from_str(JSON).unwrap();
        assert_eq!(s.time_zone(), chrono_tz::Europe::Paris);
        assert_eq!(s.rotations()[1].turn, TurnLength::Hours(12));
        assert_eq!(s.rotations()[0].restrict_to.len(), 1);
        let again: Schedule = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn deserialising_an_invalid_schedule_names_the_field() {
        let bad = JSON.replace(r#"["carol"]"#, "[]");
        let err = serde_json::from_str::<Schedule>(&bad).unwrap_err();
        assert!(
            err.to_string()
                .contains("rotations[1].participants: must not be empty"),
            "{err}"
        );
        let zone = JSON.replace("Europe/Paris", "Mars/Olympus");
        let err = serde_json::from_str::<Schedule>(&zone).unwrap_err();
        assert!(err.to_string().contains("unknown time zone"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let typo = JSON.replace("\"handoff_time\": \"09:00\"", "\"handof_time\": \"09:00\"");
        assert!(serde_json::from_str::<Schedule>(&typo).is_err());
    }
}
