//! What paging a person needs, read in one statement: their name, whether they are away (and
//! who stands in), the notification rules that apply to them, and their live devices and
//! verified methods. Paging someone used to be five or six statements, each a round trip to
//! PostgreSQL or a hand-off to SQLite's worker thread; the facts ([`PersonFacts`]) and the
//! rules over them (who is away, what a page reaches) are [`crate::domain::reach`]'s.
//!
//! A transaction keeps what it read (see [`Tx::known_person`]): nothing a paging transaction
//! writes changes a person's rules, devices or absences, so the presses of one batch, all
//! paging the same account manager, read them once. Absences are read for a window around
//! the moment asked about, so a press a few milliseconds later is judged at its own moment.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::contacts::{parse_rules, DEFAULT_SUBJECT};
use super::{db, from_millis, millis, StoreError, Tx};
use crate::domain::contact::{MethodKind, RuleSet};
use crate::domain::reach::{Absence, Device, Method, PersonFacts, Reachable};

/// How far from the moment they were read for the facts hold (absences are read for this
/// window on either side).
const WINDOW: Duration = Duration::seconds(60);

/// What a transaction read of one person, and the moment it was read for.
#[derive(Debug, Clone)]
pub(crate) struct ReadPerson {
    read_for: DateTime<Utc>,
    facts: Arc<PersonFacts>,
}

impl ReadPerson {
    /// Whether they can be asked about `at`.
    fn hold_at(&self, at: DateTime<Utc>) -> bool {
        (at - self.read_for).abs() <= WINDOW
    }
}

/// The facts about `user_id` at `now`, read at most once per transaction; `None` when there
/// is no such user.
pub(crate) async fn person_facts(
    tx: &mut Tx,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Arc<PersonFacts>>, StoreError> {
    if let Some(known) = tx.known_person(user_id) {
        if known.hold_at(now) {
            return Ok(Some(known.facts));
        }
    }
    let facts = read(tx, user_id, now).await?.map(Arc::new);
    if let Some(facts) = &facts {
        let read = ReadPerson {
            read_for: now,
            facts: facts.clone(),
        };
        tx.remember_person(user_id, read);
    }
    Ok(facts)
}

async fn read(
    conn: &mut db::Conn,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<PersonFacts>, StoreError> {
    // One row per fact, tagged by `k`; the columns mean what the tag says (`n` is when it
    // was created, `s`/`e` when an absence starts and ends; the first row's instants only
    // give the columns their type, an instant on either database).
    let rows = db::query(
        "SELECT 'name' AS k, name AS a, CAST(NULL AS TEXT) AS b, created_at AS n, \
         created_at AS s, created_at AS e FROM users WHERE id = $1 \
         UNION ALL SELECT 'away', delegate_id, CAST(NULL AS TEXT), created_at, starts_at, \
         ends_at FROM unavailability WHERE user_id = $1 AND starts_at <= $3 AND ends_at > $4 \
         UNION ALL SELECT 'rules', CAST(rules AS TEXT), subject, NULL, NULL, NULL \
         FROM notification_rules WHERE subject = $1 OR subject = $2 \
         UNION ALL SELECT 'device', id, platform, NULL, NULL, NULL FROM devices \
         WHERE user_id = $1 AND revoked_at IS NULL AND token_dead_at IS NULL \
         UNION ALL SELECT 'method', id, kind, created_at, NULL, NULL FROM contact_methods \
         WHERE user_id = $1 AND verified_at IS NOT NULL AND disabled_at IS NULL \
         AND deleted_at IS NULL",
    )
    .bind(user_id)
    .bind(DEFAULT_SUBJECT)
    .bind(millis(now + WINDOW))
    .bind(millis(now - WINDOW))
    .fetch_all(&mut *conn)
    .await?;

    let mut name = None;
    let mut absences = Vec::new();
    let (mut own_rules, mut default_rules) = (None, None);
    let mut devices = Vec::new();
    let mut methods: Vec<(i64, Method)> = Vec::new();
    for row in &rows {
        let k: String = row.try_get("k")?;
        let a: Option<String> = row.try_get("a")?;
        let b: Option<String> = row.try_get("b")?;
        let n: Option<i64> = row.try_get("n")?;
        match k.as_str() {
            "name" => name = a,
            "away" => absences.push(Absence {
                starts: from_millis(row.try_get("s")?),
                ends: from_millis(row.try_get("e")?),
                created: from_millis(n.unwrap_or_default()),
                delegate: a,
            }),
            "rules" => {
                let rules = a.unwrap_or_default();
                if b.as_deref() == Some(user_id) {
                    own_rules = Some(rules);
                } else {
                    default_rules = Some(rules);
                }
            }
            "device" => devices.push(Device {
                id: a.unwrap_or_default(),
                platform: b.unwrap_or_default(),
            }),
            _ => {
                if let Some(kind) = b.as_deref().and_then(MethodKind::parse) {
                    methods.push((
                        n.unwrap_or_default(),
                        Method {
                            id: a.unwrap_or_default(),
                            kind,
                        },
                    ));
                }
            }
        }
    }
    let Some(name) = name else {
        return Ok(None);
    };
    let rules = match own_rules.or(default_rules) {
        Some(text) => RuleSet::from_stored(parse_rules(&text)?),
        None => RuleSet::builtin_default(),
    };
    devices.sort_by(|x, y| x.id.cmp(&y.id));
    methods.sort_by(|(at_x, x), (at_y, y)| at_x.cmp(at_y).then_with(|| x.id.cmp(&y.id)));
    Ok(Some(PersonFacts {
        name,
        absences,
        rules,
        reachable: Reachable {
            devices,
            methods: methods.into_iter().map(|(_, m)| m).collect(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::RuleSet;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn facts_hold_only_within_the_window_they_were_read_for() {
        let read = ReadPerson {
            read_for: at(1_000_000),
            facts: Arc::new(PersonFacts {
                name: "Ann".into(),
                rules: RuleSet::builtin_default(),
                reachable: Reachable::default(),
                absences: Vec::new(),
            }),
        };
        assert!(read.hold_at(at(1_000_000 + 60_000)));
        assert!(read.hold_at(at(1_000_000 - 60_000)));
        assert!(!read.hold_at(at(1_000_000 + 60_001)));
    }
}
