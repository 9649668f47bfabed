//! How close a deadline is, for the console: the text of a countdown ("in 4m 05s",
//! "12m 30s late") and its risk colour. Pure, with `now` passed in; the board's script repeats
//! the same thresholds between refreshes (src/web/assets/console.js), this is the authority.

use chrono::{DateTime, Duration, Utc};

/// How a deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// More than a quarter of the time from start to deadline is left.
    Ok,
    /// A quarter or less is left.
    Warn,
    /// The deadline has passed.
    Late,
    /// The deadline was kept (the thing it was for has happened).
    Met,
}

impl Risk {
    /// The CSS class the board colours the cell with.
    pub fn class(self) -> &'static str {
        match self {
            Risk::Ok => "risk-ok",
            Risk::Warn => "risk-warn",
            Risk::Late => "risk-late",
            Risk::Met => "risk-met",
        }
    }
}

/// The risk of a deadline `due` counted from `start`, at `now`.
pub fn risk(start: DateTime<Utc>, due: DateTime<Utc>, now: DateTime<Utc>) -> Risk {
    let left = due - now;
    if left <= Duration::zero() {
        return Risk::Late;
    }
    let total = (due - start).max(Duration::milliseconds(1));
    if left * 4 <= total {
        Risk::Warn
    } else {
        Risk::Ok
    }
}

/// `in 1h 02m`, `in 4m 05s`, `in 9s`, or `3m 10s late`.
pub fn remaining(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = due - now;
    let text = span(left.abs());
    if left < Duration::zero() {
        format!("{text} late")
    } else {
        format!("in {text}")
    }
}

/// `2h 05m`, `4m 05s`, `9s`: the two largest units.
pub fn span(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn risk_turns_amber_in_the_last_quarter_and_red_past_the_deadline() {
        let (start, due) = (t(0), t(400));
        assert_eq!(risk(start, due, t(0)), Risk::Ok);
        assert_eq!(risk(start, due, t(299)), Risk::Ok);
        assert_eq!(risk(start, due, t(300)), Risk::Warn);
        assert_eq!(risk(start, due, t(399)), Risk::Warn);
        assert_eq!(risk(start, due, t(400)), Risk::Late);
        assert_eq!(risk(start, due, t(9999)), Risk::Late);
        // A deadline at its own start is late at once, not a division by zero.
        assert_eq!(risk(t(5), t(5), t(5)), Risk::Late);
        assert_eq!(Risk::Warn.class(), "risk-warn");
    }

    #[test]
    fn countdowns_read_as_people_say_them() {
        assert_eq!(remaining(t(9), t(0)), "in 9s");
        assert_eq!(remaining(t(245), t(0)), "in 4m 05s");
        assert_eq!(remaining(t(3720), t(0)), "in 1h 02m");
        assert_eq!(remaining(t(0), t(190)), "3m 10s late");
        assert_eq!(remaining(t(0), t(0)), "in 0s");
        assert_eq!(span(Duration::hours(30)), "30h 00m");
    }
}
