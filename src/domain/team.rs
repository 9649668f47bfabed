//! Teams: a named, ordered list of staff users that an escalation step can page one at a time,
//! in turn (the `team_round_robin` target of [`crate::domain::escalation::Target`]).
//!
//! This module holds the rules that need no database: what a team id and a member list may
//! be ([`TeamId::parse`], [`check_members`]), and in what order the members are tried for the
//! next pick ([`turn_order`]). Whether a member can be paged now (away, no deliverable device)
//! and the durable pointer that remembers the last pick are the store's (`store::teams`).
//!
//! The pointer remembers the member picked last *and* the position they had then. The next
//! pick starts just after that member; when that member has since left the team, it starts at
//! the position they held, which is where the member after them now stands. Whoever is
//! skipped because they cannot be paged loses that turn: round-robin hands work to whoever
//! can take it now and does not queue it for the absent.

use std::collections::HashMap;

/// Most members a team may have: a round-robin over more people than this is a schedule.
pub const MAX_MEMBERS: usize = 100;

/// Longest team id.
const MAX_ID: usize = 50;

/// A team's id, chosen by the admin: a short slug (`gold`, `bronze-l2`) so that policies and
/// organisation files that name the team read well.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TeamId(String);

impl TeamId {
    /// 1 to 50 lowercase ASCII letters, digits, `-` or `_`, starting with a letter or digit.
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = !value.is_empty()
            && value.len() <= MAX_ID
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && value
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "must be 1 to {MAX_ID} lowercase letters, digits, '-' or '_', starting with a \
                 letter or digit"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member list that cannot be used, at `field` (`members` or `members[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberError {
    pub field: String,
    pub reason: String,
}

/// The checks on a member list that need no directory: at least one member, at most
/// [`MAX_MEMBERS`], none blank, none twice. Every problem is reported, each at its index;
/// `prefix` is prepended to the field (`teams[0].` in an organisation file).
pub fn check_members(prefix: &str, members: &[String]) -> Vec<MemberError> {
    let mut errors = Vec::new();
    let mut error = |field: String, reason: String| {
        errors.push(MemberError {
            field: format!("{prefix}{field}"),
            reason,
        })
    };
    if members.is_empty() {
        error(
            "members".into(),
            "must list at least one member: a round-robin over nobody pages nobody".into(),
        );
    }
    if members.len() > MAX_MEMBERS {
        error(
            "members".into(),
            format!("must list at most {MAX_MEMBERS} members"),
        );
    }
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        if m.trim().is_empty() {
            error(format!("members[{i}]"), "must not be empty".into());
        } else if let Some(first) = first_at.get(m.as_str()) {
            error(
                format!("members[{i}]"),
                format!("appears twice (also members[{first}])"),
            );
        } else {
            first_at.insert(m, i);
        }
    }
    errors
}

/// The last pick of a team, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub user_id: String,
    /// The member's position in the team when they were picked.
    pub position: usize,
}

/// The positions of `members` in the order they are tried for the next pick: from just after
/// the last pick round to the last pick itself (who is tried last, so a team where only they
/// can be paged still pages them). Without a pointer the first member comes first.
pub fn turn_order(members: &[String], last: Option<&Pointer>) -> Vec<usize> {
    let n = members.len();
    if n == 0 {
        return Vec::new();
    }
    let start = match last {
        None => 0,
        Some(p) => match members.iter().position(|m| *m == p.user_id) {
            Some(k) => k + 1,
            // They left: whoever now stands where they stood is next.
            None => p.position,
        },
    };
    (0..n).map(|i| (start + i) % n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn after(user: &str, position: usize) -> Pointer {
        Pointer {
            user_id: user.into(),
            position,
        }
    }

    /// The names in the order [`turn_order`] tries them.
    fn order(members: &[String], last: Option<&Pointer>) -> Vec<String> {
        turn_order(members, last)
            .into_iter()
            .map(|i| members[i].clone())
            .collect()
    }

    #[test]
    fn the_first_pick_starts_with_the_first_member() {
        let t = team(&["a", "b", "c"]);
        assert_eq!(order(&t, None), ["a", "b", "c"]);
    }

    #[test]
    fn the_next_pick_starts_after_the_last_and_wraps_round() {
        let t = team(&["a", "b", "c", "d"]);
        assert_eq!(order(&t, Some(&after("b", 1))), ["c", "d", "a", "b"]);
        assert_eq!(order(&t, Some(&after("d", 3))), ["a", "b", "c", "d"]);
    }

    #[test]
    fn successive_picks_visit_every_member_once_before_anyone_twice() {
        let t = team(&["a", "b", "c", "d"]);
        let mut last: Option<Pointer> = None;
        let mut picked = Vec::new();
        for _ in 0..8 {
            let k = turn_order(&t, last.as_ref())[0];
            picked.push(t[k].clone());
            last = Some(after(&t[k], k));
        }
        assert_eq!(picked, ["a", "b", "c", "d", "a", "b", "c", "d"]);
    }

    #[test]
    fn a_skipped_member_loses_the_turn() {
        // b is away: the store takes the first available in the order, c; the pointer moves to
        // c, so the pick after is d, not b.
        let t = team(&["a", "b", "c", "d"]);
        let available = |m: &str| m != "b";
        let pick = |last: Option<&Pointer>| {
            turn_order(&t, last)
                .into_iter()
                .find(|&k| available(&t[k]))
                .unwrap()
        };
        let first = pick(Some(&after("a", 0)));
        assert_eq!(t[first], "c");
        let second = pick(Some(&after(&t[first], first)));
        assert_eq!(t[second], "d");
    }

    #[test]
    fn when_the_last_pick_left_the_member_now_in_their_place_is_next() {
        // b was picked at position 1 and has left: c moved up to position 1.
        let t = team(&["a", "c", "d"]);
        assert_eq!(order(&t, Some(&after("b", 1))), ["c", "d", "a"]);
        // The last member left: round to the first.
        assert_eq!(order(&t, Some(&after("z", 3))), ["a", "c", "d"]);
    }

    #[test]
    fn the_last_pick_is_tried_last_and_an_empty_team_has_no_order() {
        let t = team(&["a"]);
        assert_eq!(order(&t, Some(&after("a", 0))), ["a"]);
        assert!(turn_order(&[], None).is_empty());
    }

    #[test]
    fn team_ids_are_slugs() {
        assert_eq!(TeamId::parse("gold").unwrap().as_str(), "gold");
        assert!(TeamId::parse("bronze-l2_eu").is_ok());
        for bad in ["", "Gold", "gold team", "-gold", "é", &"x".repeat(51)] {
            assert!(TeamId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn member_lists_need_someone_and_nobody_twice() {
        let errors = check_members("", &[]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "members");
        let errors = check_members("teams[1].", &team(&["a", "b", "a", " "]));
        let fields: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("teams[1].members[2]", "appears twice (also members[0])"),
                ("teams[1].members[3]", "must not be empty"),
            ]
        );
        let many: Vec<String> = (0..=MAX_MEMBERS).map(|i| i.to_string()).collect();
        assert_eq!(check_members("", &many)[0].field, "members");
        assert!(check_members("", &team(&["a", "b"])).is_empty());
    }
}
