//! The console's settings (`[console]`), owned here and composed into
//! [`crate::config::Settings`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A session ends after this many minutes without a request (5..=1440).
    pub session_idle_minutes: u64,
    /// ... and at the latest this many hours after signing in (1..=720).
    pub session_lifetime_hours: u64,
    /// How long a set-password link stays usable, in hours (1..=720).
    pub invite_ttl_hours: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_lifetime_hours: 12,
            invite_ttl_hours: 72,
        }
    }
}

impl ConsoleSettings {
    pub fn idle(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.session_idle_minutes as i64)
    }

    pub fn lifetime(&self) -> chrono::Duration {
        chrono::Duration::hours(self.session_lifetime_hours as i64)
    }

    pub fn invite_ttl(&self) -> chrono::Duration {
        chrono::Duration::hours(self.invite_ttl_hours as i64)
    }

    /// The dotted key and the reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let ranges: [(&'static str, u64, std::ops::RangeInclusive<u64>); 3] = [
            (
                "console.session_idle_minutes",
                self.session_idle_minutes,
                5..=1440,
            ),
            (
                "console.session_lifetime_hours",
                self.session_lifetime_hours,
                1..=720,
            ),
            ("console.invite_ttl_hours", self.invite_ttl_hours, 1..=720),
        ];
        for (key, value, range) in ranges {
            if !range.contains(&value) {
                return Err((
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        Ok(())
    }
}
