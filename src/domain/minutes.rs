//! Durations that people configure in whole minutes: acknowledgement timeouts and SLA targets.
//!
//! In Rust they are `chrono::Duration`, so arithmetic with instants needs no conversion; on the
//! wire (admin API, stored JSON) they are integers under a `*_minutes` key, and in messages they
//! read "15 min". Use with `#[serde(with = "crate::domain::minutes")]`. Sub-minute parts are
//! refused by the types that hold such durations, so the round trip is exact.

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.num_minutes())
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    // Unsigned on the wire: a negative timeout or target is a type error, not a business rule.
    u32::deserialize(d).map(|m| Duration::minutes(i64::from(m)))
}

/// "15 min", the form every message about these durations uses.
pub fn display(d: Duration) -> String {
    let secs = d.num_seconds();
    if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// True when `d` is a positive whole number of minutes, the only durations these settings take.
pub fn is_whole_positive(d: Duration) -> bool {
    d >= Duration::minutes(1) && d.num_seconds() % 60 == 0 && d.subsec_nanos() == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "super")]
        timeout_minutes: Duration,
    }

    #[test]
    fn round_trips_as_integer_minutes() {
        let h = Holder {
            timeout_minutes: Duration::minutes(15),
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"{"timeout_minutes":15}"#);
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), h);
    }

    #[test]
    fn negative_minutes_are_refused_on_the_wire() {
        assert!(serde_json::from_str::<Holder>(r#"{"timeout_minutes":-5}"#).is_err());
    }

    #[test]
    fn displays_minutes() {
        assert_eq!(display(Duration::minutes(120)), "120 min");
        assert_eq!(display(Duration::seconds(90)), "1 min 30 s");
    }

    #[test]
    fn whole_positive_minutes_only() {
        assert!(is_whole_positive(Duration::minutes(1)));
        assert!(!is_whole_positive(Duration::zero()));
        assert!(!is_whole_positive(Duration::seconds(90)));
        assert!(!is_whole_positive(Duration::minutes(-5)));
    }
}
