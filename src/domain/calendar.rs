//! Wall-clock time in a time zone, turned into UTC instants and intervals.
//!
//! People configure schedules and business hours in local time ("09:00 Europe/Paris",
//! "Mon-Fri 09:00-17:00"); the engine and the database speak UTC. This module is the one place
//! that converts, and it decides the two cases where a local time is not one instant:
//!
//! - a local time that does not exist (the spring-forward gap, e.g. 02:30 in New York on the
//!   second Sunday of March) resolves to the first instant after the gap, the moment of the
//!   clock change itself (03:00 EDT);
//! - a local time that exists twice (fall back, e.g. 01:30 in New York on the first Sunday of
//!   November) resolves to the earlier one (01:30 EDT), so a hand-off or an opening time is
//!   never late.
//!
//! Both rules keep resolution monotonic: a later local time never resolves to an earlier instant,
//! which the schedule's turn arithmetic relies on.
//!
//! Limits: a gap is found by bisection within a day of the local time, which covers every real
//! zone (the largest modern gap is Samoa's skipped day in 2011); precision is one second.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono::{Datelike, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The instant a local wall-clock time denotes in `tz`, with the gap and overlap rules of the
/// module doc.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => first_instant_at_or_after(tz, local),
    }
}

/// The local wall-clock time of `at` in `tz`.
pub fn to_local(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

/// The first UTC instant whose local time is at or after `local`: for a time inside a gap, the
/// moment the clocks jump.
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // UTC offsets lie within -12h..+14h, so the answer is inside this window, where local time
    // only moves forward (no zone has a gap and an overlap within hours of each other).
    let reached =
        |secs: i64| DateTime::from_timestamp(secs, 0).is_some_and(|u| to_local(tz, u) >= local);
    let guess = local.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 26 * 3600, guess + 26 * 3600);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or_else(|| local.and_utc())
}

/// A half-open stretch of time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    pub fn duration(&self) -> Duration {
        (self.end - self.start).max(Duration::zero())
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// The stretch of `self` around `at` that no hole covers. `at` must be inside `self` and
    /// outside every hole; holes may overlap each other and `self` arbitrarily.
    pub fn around_excluding(
        &self,
        at: DateTime<Utc>,
        holes: impl IntoIterator<Item = Interval>,
    ) -> Interval {
        holes.into_iter().fold(*self, |acc, hole| {
            if hole.end <= at && hole.end > acc.start {
                Interval::new(hole.end, acc.end)
            } else if hole.start > at && hole.start < acc.end {
                Interval::new(acc.start, hole.start)
            } else {
                acc
            }
        })
    }
}

/// A weekly stretch of local time: `weekday` from `start` to `end`. An `end` at or before
/// `start` ends on the next day, so `Fri 17:00-09:00` is a night and `Mon 00:00-00:00` is the
/// whole of Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyWindow {
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl WeeklyWindow {
    pub fn new(weekday: Weekday, start: NaiveTime, end: NaiveTime) -> Self {
        Self {
            weekday,
            start,
            end,
        }
    }

    /// The same hours on Monday to Friday.
    pub fn monday_to_friday(start: NaiveTime, end: NaiveTime) -> Vec<WeeklyWindow> {
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .map(|weekday| WeeklyWindow::new(weekday, start, end))
        .collect()
    }

    /// The instants this window covers when it opens on local `date` (which must be its
    /// weekday). Empty when the whole window falls inside a spring-forward gap.
    fn on(&self, tz: Tz, date: NaiveDate) -> Interval {
        let end_date = if self.end <= self.start {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        Interval::new(
            resolve_local(tz, date.and_time(self.start)),
            resolve_local(tz, end_date.and_time(self.end)),
        )
    }
}

/// The instants in `[from, to)` covered by `windows` in `tz`, skipping windows that open on a
/// date for which `skip_date` is true (holidays). Sorted, merged where windows touch or
/// overlap, and clipped to `[from, to)`.
pub fn covered_intervals(
    tz: Tz,
    windows: &[WeeklyWindow],
    skip_date: impl Fn(NaiveDate) -> bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Interval> {
    if from >= to || windows.is_empty() {
        return Vec::new();
    }
    // A window opening the day before `from` may still be open (overnight windows).
    let first = to_local(tz, from).date() - Duration::days(1);
    let last = to_local(tz, to).date();
    let mut found: Vec<Interval> = first
        .iter_days()
        .take_while(|date| *date <= last)
        .filter(|date| !skip_date(*date))
        .flat_map(|date| {
            windows
                .iter()
                .filter(move |w| w.weekday == date.weekday())
                .map(move |w| w.on(tz, date))
        })
        .map(|iv| Interval::new(iv.start.max(from), iv.end.min(to)))
        .filter(|iv| iv.start < iv.end)
        .collect();
    found.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(found.len());
    for iv in found {
        match merged.last_mut() {
            Some(prev) if iv.start <= prev.end => prev.end = prev.end.max(iv.end),
            _ => merged.push(iv),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::London};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn ordinary_local_time_resolves_with_its_offset() {
        assert_eq!(
            resolve_local(London, local("2024-01-15T09:00:00")),
            utc("2024-01-15T09:00:00Z")
        );
        assert_eq!(
            resolve_local(London, local("2024-07-15T09:00:00")),
            utc("2024-07-15T08:00:00Z")
        );
    }

    #[test]
    fn time_in_spring_forward_gap_resolves_to_the_clock_change() {
        // New York, 2024-03-10: 02:00 EST jumps to 03:00 EDT (07:00Z).
        assert_eq!(
            resolve_local(New_York, local("2024-03-10T02:30:00")),
            utc("2024-03-10T07:00:00Z")
        );
        assert_eq!(
            resolve_local(New_York, local("2024-03-10T02:00:00")),
            utc("2024-03-10T07:00:00Z")
        );
        // London, 2024-03-31: 01:00 GMT jumps to 02:00 BST (01:00Z).
        assert_eq!(
            resolve_local(London, local("2024-03-31T01:59:59")),
            utc("2024-03-31T01:00:00Z")
        );
    }

    #[test]
    fn ambiguous_fall_back_time_resolves_to_the_earlier_instant() {
        // New York, 2024-11-03: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
        assert_eq!(
            resolve_local(New_York, local("2024-11-03T01:30:00")),
            utc("2024-11-03T05:30:00Z")
        );
        // London, 2024-10-27: 01:30 happens at 00:30Z (BST) and 01:30Z (GMT).
        assert_eq!(
            resolve_local(London, local("2024-10-27T01:30:00")),
            utc("2024-10-27T00:30:00Z")
        );
    }

    #[test]
    fn resolution_never_goes_backwards_across_a_gap() {
        let mut prev = resolve_local(New_York, local("2024-03-10T01:00:00"));
        let mut t = local("2024-03-10T01:00:00");
        while t < local("2024-03-10T04:00:00") {
            t += Duration::minutes(5);
            let now = resolve_local(New_York, t);
            assert!(now >= prev, "{t} resolved to {now}, before {prev}");
            prev = now;
        }
    }

    #[test]
    fn around_excluding_cuts_at_the_nearest_holes() {
        let base = Interval::new(utc("2024-01-01T00:00:00Z"), utc("2024-01-02T00:00:00Z"));
        let holes = [
            Interval::new(utc("2024-01-01T02:00:00Z"), utc("2024-01-01T04:00:00Z")),
            Interval::new(utc("2024-01-01T03:00:00Z"), utc("2024-01-01T06:00:00Z")),
            Interval::new(utc("2024-01-01T20:00:00Z"), utc("2024-01-01T21:00:00Z")),
            Interval::new(utc("2024-01-01T12:00:00Z"), utc("2024-01-01T13:00:00Z")),
            // Outside the base interval: ignored.
            Interval::new(utc("2023-12-31T00:00:00Z"), utc("2023-12-31T01:00:00Z")),
        ];
        assert_eq!(
            base.around_excluding(utc("2024-01-01T08:00:00Z"), holes),
            Interval::new(utc("2024-01-01T06:00:00Z"), utc("2024-01-01T12:00:00Z"))
        );
        assert_eq!(
            base.around_excluding(utc("2024-01-01T01:00:00Z"), holes),
            Interval::new(utc("2024-01-01T00:00:00Z"), utc("2024-01-01T02:00:00Z"))
        );
    }

    #[test]
    fn business_hours_over_a_week_skip_the_weekend_and_holidays() {
        let windows = WeeklyWindow::monday_to_friday(hm(9, 0), hm(17, 0));
        let holiday = NaiveDate::from_ymd_opt(2024, 1, 17).unwrap();
        let ivs = covered_intervals(
            London,
            &windows,
            |d| d == holiday,
            utc("2024-01-14T00:00:00Z"), // Sunday
            utc("2024-01-21T00:00:00Z"),
        );
        let days: Vec<u32> = ivs.iter().map(|iv| iv.start.day()).collect();
        assert_eq!(days, vec![15, 16, 18, 19]);
        assert!(ivs.iter().all(|iv| iv.duration() == Duration::hours(8)));
    }

    #[test]
    fn intervals_are_clipped_and_touching_windows_merge() {
        let windows = [
            WeeklyWindow::new(Weekday::Mon, hm(0, 0), hm(0, 0)),
            WeeklyWindow::new(Weekday::Tue, hm(0, 0), hm(12, 0)),
            WeeklyWindow::new(Weekday::Tue, hm(11, 0), hm(13, 0)),
        ];
        let ivs = covered_intervals(
            London,
            &windows,
            |_| false,
            utc("2024-01-15T06:00:00Z"),
            utc("2024-01-22T00:00:00Z"),
        );
        assert_eq!(
            ivs,
            vec![Interval::new(
                utc("2024-01-15T06:00:00Z"),
                utc("2024-01-16T13:00:00Z")
            )]
        );
    }

    #[test]
    fn overnight_window_opened_the_day_before_is_found() {
        let windows = [WeeklyWindow::new(Weekday::Fri, hm(17, 0), hm(9, 0))];
        let ivs = covered_intervals(
            London,
            &windows,
            |_| false,
            utc("2024-01-20T00:00:00Z"), // Saturday
            utc("2024-01-20T12:00:00Z"),
        );
        assert_eq!(
            ivs,
            vec![Interval::new(
                utc("2024-01-20T00:00:00Z"),
                utc("2024-01-20T09:00:00Z")
            )]
        );
    }

    #[test]
    fn a_night_window_is_shorter_on_spring_forward_and_longer_on_fall_back() {
        let windows = [WeeklyWindow::new(Weekday::Sun, hm(0, 0), hm(6, 0))];
        let spring = covered_intervals(
            London,
            &windows,
            |_| false,
            utc("2024-03-30T00:00:00Z"),
            utc("2024-04-01T00:00:00Z"),
        );
        assert_eq!(spring[0].duration(), Duration::hours(5));
        let autumn = covered_intervals(
            London,
            &windows,
            |_| false,
            utc("2024-10-26T00:00:00Z"),
            utc("2024-10-28T00:00:00Z"),
        );
        assert_eq!(autumn[0].duration(), Duration::hours(7));
    }

    #[test]
    fn a_window_inside_the_gap_covers_nothing() {
        let windows = [WeeklyWindow::new(Weekday::Sun, hm(2, 0), hm(2, 30))];
        let ivs = covered_intervals(
            New_York,
            &windows,
            |_| false,
            utc("2024-03-09T00:00:00Z"),
            utc("2024-03-12T00:00:00Z"),
        );
        assert!(ivs.is_empty(), "{ivs:?}");
    }

    #[test]
    fn window_serde_accepts_hours_and_minutes() {
        let w: WeeklyWindow =
            serde_json::from_str(r#"{"weekday":"Mon","start":"09:00","end":"17:30"}"#).unwrap();
        assert_eq!(w, WeeklyWindow::new(Weekday::Mon, hm(9, 0), hm(17, 30)));
    }
}
