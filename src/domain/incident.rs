//! The life of an incident: triggered -> acknowledged -> resolved.
//!
//! Acknowledging twice is not an error (the first acknowledgement stands); acknowledging or
//! resolving a resolved incident is a conflict; resolving skips acknowledgement if need be.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Triggered,
    Acknowledged,
    Resolved,
}

/// What an acknowledgement or resolution does to an incident in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The state changes; side effects (stop paging, notify) follow.
    Apply(IncidentState),
    /// Already there: answer as if it had just happened, change nothing.
    AlreadyDone,
    /// Not allowed from this state.
    Conflict,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Triggered => "triggered",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "triggered" => Some(IncidentState::Triggered),
            "acknowledged" => Some(IncidentState::Acknowledged),
            "resolved" => Some(IncidentState::Resolved),
            _ => None,
        }
    }

    pub fn acknowledge(self) -> Transition {
        match self {
            IncidentState::Triggered => Transition::Apply(IncidentState::Acknowledged),
            IncidentState::Acknowledged => Transition::AlreadyDone,
            IncidentState::Resolved => Transition::Conflict,
        }
    }

    pub fn resolve(self) -> Transition {
        match self {
            IncidentState::Triggered | IncidentState::Acknowledged => {
                Transition::Apply(IncidentState::Resolved)
            }
            IncidentState::Resolved => Transition::AlreadyDone,
        }
    }

    /// Still needs someone: pages and escalation continue.
    pub fn is_open(self) -> bool {
        self != IncidentState::Resolved
    }
}

/// The dedup key of an open incident: one per customer and affected service, whatever the
/// case or surrounding spaces the customer typed.
pub fn open_key(customer_id: &str, affected_service: &str) -> String {
    let service: String = affected_service
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    format!("{customer_id}/{service}")
}

/// Longest note on an incident's timeline, in characters.
pub const NOTE_MAX_CHARS: usize = 2000;

/// A note as it goes on the timeline: trimmed, not empty, at most [`NOTE_MAX_CHARS`], no
/// control characters but line breaks and tabs. The phones' route and the console's form
/// both check through here; the error is the reason, for the `text` field.
pub fn note_text(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > NOTE_MAX_CHARS {
        return Err(format!("must be at most {NOTE_MAX_CHARS} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentState::*;

    #[test]
    fn transitions() {
        assert_eq!(Triggered.acknowledge(), Transition::Apply(Acknowledged));
        assert_eq!(Acknowledged.acknowledge(), Transition::AlreadyDone);
        assert_eq!(Resolved.acknowledge(), Transition::Conflict);
        assert_eq!(Triggered.resolve(), Transition::Apply(Resolved));
        assert_eq!(Acknowledged.resolve(), Transition::Apply(Resolved));
        assert_eq!(Resolved.resolve(), Transition::AlreadyDone);
        for s in [Triggered, Acknowledged, Resolved] {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn open_key_normalises_the_service() {
        assert_eq!(
            open_key("c1", "  Checkout   API "),
            open_key("c1", "checkout api")
        );
        assert_ne!(open_key("c1", "checkout"), open_key("c2", "checkout"));
    }

    #[test]
    fn notes_are_trimmed_bounded_and_plain() {
        assert_eq!(note_text("  on it \r\n  ").unwrap(), "on it");
        assert_eq!(note_text("a\r\nb").unwrap(), "a\nb");
        assert_eq!(note_text("   ").unwrap_err(), "must not be empty");
        assert!(note_text(&"x".repeat(NOTE_MAX_CHARS)).is_ok());
        assert_eq!(
            note_text(&"x".repeat(NOTE_MAX_CHARS + 1)).unwrap_err(),
            "must be at most 2000 characters"
        );
        assert_eq!(
            note_text("bell\u{7}").unwrap_err(),
            "must not contain control characters"
        );
    }
}
