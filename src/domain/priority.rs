//! Ticket priorities, P1 (most urgent) to P4.

use serde::{Deserialize, Serialize};

/// Ordered so that `P1 < P2`: "more urgent" is "less than".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            "P4" => Some(Priority::P4),
            _ => None,
        }
    }

    /// The more urgent of the two: raising a ticket never lowers it.
    pub fn raised_to(self, other: Priority) -> Priority {
        self.min(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers() {
        assert_eq!(Priority::P3.raised_to(Priority::P2), Priority::P2);
        assert_eq!(Priority::P1.raised_to(Priority::P2), Priority::P1);
        assert!(Priority::P1 < Priority::P4);
        for p in [Priority::P1, Priority::P2, Priority::P3, Priority::P4] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }
}
