//! Writing iCalendar (RFC 5545) text: the small part of the format a published, read-only feed
//! of timed events needs. Pure: the caller passes the events and the stamp time.
//!
//! What it guarantees, because calendar apps are strict about it:
//! - every line ends in CRLF, and a line longer than 75 octets is folded (CRLF + one space)
//!   on a UTF-8 character boundary, so no continuation line exceeds 75 octets either;
//! - TEXT values are escaped (`\\`, `\;`, `\,`, `\n`) and any other control character is
//!   dropped, so a schedule name cannot break out of its property;
//! - times are UTC date-times (`20260330T070000Z`). A feed could instead carry local times
//!   with `TZID=Europe/Berlin`, but RFC 5545 then requires a VTIMEZONE with the zone's rules,
//!   and clients differ in how they treat IANA names without one (Outlook is the strictest).
//!   UTC is the one form every client reads the same way, and each shows it in the viewer's
//!   own zone; the local wall-clock times are computed by [`crate::domain::schedule`], so the
//!   instants are already right across clock changes (GoAlert and PagerDuty publish UTC too).
//!
//! Why not the `icalendar` crate's writer: its writer leaves `X-` and RFC 7986 calendar
//! properties (the feed's name) unescaped, fills in `DTSTAMP` from the wall clock when it is
//! missing, its recent releases need a newer Rust than this crate's `rust-version`, and even
//! without its parser it brings `nom` in through `iso8601`. The writer here is a few dozen
//! lines; the API tests parse its output with the `ical` crate's parser, an independent reading
//! of the format.

use chrono::{DateTime, Utc};

/// The longest content line RFC 5545 allows, in octets, without its CRLF.
const MAX_LINE_OCTETS: usize = 75;

/// A product identifier, as RFC 5545 3.7.3 asks for.
const PRODID: &str = "-//panic-gateway//calendar feed//EN";

/// How often subscribers should fetch the feed again (RFC 7986 and Outlook's hint).
const REFRESH: &str = "PT1H";

/// One timed event of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable across fetches for the same shift, so clients update instead of duplicating.
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: Option<String>,
}

/// A published calendar: a name and its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub name: String,
    pub events: Vec<Event>,
}

/// The feed as iCalendar text; `stamp` is its `DTSTAMP` (when this copy was made).
pub fn render(calendar: &Calendar, stamp: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(256 + calendar.events.len() * 256);
    let mut line = |l: String| push_folded(&mut out, &l);
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line(format!("PRODID:{PRODID}"));
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!("NAME:{}", escape_text(&calendar.name)));
    line(format!("X-WR-CALNAME:{}", escape_text(&calendar.name)));
    line(format!("REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}"));
    line(format!("X-PUBLISHED-TTL:{REFRESH}"));
    for event in &calendar.events {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", escape_text(&event.uid)));
        line(format!("DTSTAMP:{}", utc(stamp)));
        line(format!("DTSTART:{}", utc(event.start)));
        line(format!("DTEND:{}", utc(event.end)));
        line(format!("SUMMARY:{}", escape_text(&event.summary)));
        if let Some(description) = &event.description {
            line(format!("DESCRIPTION:{}", escape_text(description)));
        }
        // Being on call is not being busy: the shift must not block meeting invitations.
        line("TRANSP:TRANSPARENT".into());
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

/// A UTC DATE-TIME value (RFC 5545 3.3.5, form #2).
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped; other
/// control characters (which TEXT may not hold) dropped, except tab.
pub fn escape_text(value: &str) -> String {
    let value = value.replace("\r\n", "\n");
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' | '\r' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` with CRLF, folded so that no physical line exceeds 75 octets: the first
/// chunk takes up to 75, each continuation a space and up to 74, cut on character boundaries.
fn push_folded(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    loop {
        if rest.len() <= limit {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        limit = MAX_LINE_OCTETS - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn event(summary: &str) -> Event {
        Event {
            uid: "shift-1@panic-gateway".into(),
            start: utc("2026-03-30T07:00:00Z"),
            end: utc("2026-04-06T07:00:00Z"),
            summary: summary.into(),
            description: Some("line one\nline two".into()),
        }
    }

    #[test]
    fn a_feed_has_the_required_properties_in_utc_with_crlf() {
        let text = render(
            &Calendar {
                name: "Primary".into(),
                events: vec![event("On call: Primary")],
            },
            utc("2026-03-01T12:00:00Z"),
        );
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
        assert!(text.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
        for expected in [
            "UID:shift-1@panic-gateway\r\n",
            "DTSTAMP:20260301T120000Z\r\n",
            "DTSTART:20260330T070000Z\r\n",
            "DTEND:20260406T070000Z\r\n",
            "SUMMARY:On call: Primary\r\n",
            "DESCRIPTION:line one\\nline two\r\n",
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
        // No bare LF anywhere.
        assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            escape_text("a\\b;c,d\r\ne\u{7}f\tg:h"),
            "a\\\\b\\;c\\,d\\nef\tg:h"
        );
        let text = render(
            &Calendar {
                name: "Night; weekend, team".into(),
                events: vec![event("On call: A\r\nEND:VCALENDAR")],
            },
            utc("2026-03-01T12:00:00Z"),
        );
        assert!(text.contains("X-WR-CALNAME:Night\\; weekend\\, team\r\n"));
        assert!(text.contains("SUMMARY:On call: A\\nEND:VCALENDAR\r\n"));
        // The line break inside the summary did not start a line of its own.
        let ends = text.split("\r\n").filter(|l| *l == "END:VCALENDAR").count();
        assert_eq!(ends, 1);
    }

    #[test]
    fn long_lines_fold_at_75_octets_on_character_boundaries() {
        let name = "Nachtbereitschaft für die Störungsannahme ".repeat(6) + "🚨 Ende";
        let text = render(
            &Calendar {
                name: name.clone(),
                events: vec![event(&format!("On call: {name}"))],
            },
            utc("2026-03-01T12:00:00Z"),
        );
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        }
        // Unfolding gives the value back.
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("SUMMARY:On call: {name}\r\n")));
        assert!(text.contains("\r\n "), "something was folded");
    }
}
