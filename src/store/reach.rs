//! What paging a person needs, read in one statement: their name, whether they are away (and
//! who stands in), the notification rules that apply to them, and their live devices and
//! verified methods. Paging someone used to be five or six statements, each a round trip to
//! PostgreSQL or a hand-off to SQLite's worker thread; the plan is made from these facts by
//! [`crate::domain::reach`].

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::contacts::{parse_rules, DEFAULT_SUBJECT};
use super::{millis, StoreError};
use crate::domain::contact::{MethodKind, RuleSet};
use crate::domain::reach::{Device, Method, Reachable};

/// One person as paging sees them.
#[derive(Debug, Clone)]
pub(crate) struct PersonFacts {
    pub name: String,
    /// `None`: not away now. `Some(delegate)`: away, standing in for them `delegate`, if any.
    pub away: Option<Option<String>>,
    pub rules: RuleSet,
    pub reachable: Reachable,
}

/// The facts about `user_id` at `now`; `None` when there is no such user.
pub(crate) async fn person_facts(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<PersonFacts>, StoreError> {
    // One row per fact, tagged by `k`; the columns mean what the tag says.
    let rows = sqlx::query(
        "SELECT 'name' AS k, name AS a, CAST(NULL AS TEXT) AS b, CAST(0 AS BIGINT) AS n \
         FROM users WHERE id = $1 \
         UNION ALL SELECT 'away', delegate_id, CAST(NULL AS TEXT), created_at FROM unavailability \
         WHERE user_id = $1 AND starts_at <= $2 AND ends_at > $2 \
         UNION ALL SELECT 'rules', rules, subject, CAST(0 AS BIGINT) FROM notification_rules \
         WHERE subject = $1 OR subject = $3 \
         UNION ALL SELECT 'device', id, platform, CAST(0 AS BIGINT) FROM devices \
         WHERE user_id = $1 AND revoked_at IS NULL AND token_dead_at IS NULL \
         UNION ALL SELECT 'method', id, kind, created_at FROM contact_methods \
         WHERE user_id = $1 AND verified_at IS NOT NULL AND disabled_at IS NULL \
         AND deleted_at IS NULL",
    )
    .bind(user_id)
    .bind(millis(now))
    .bind(DEFAULT_SUBJECT)
    .fetch_all(&mut *conn)
    .await?;

    let mut name = None;
    // (created_at, delegate) of the newest unavailability covering now.
    let mut away: Option<(i64, Option<String>)> = None;
    let (mut own_rules, mut default_rules) = (None, None);
    let mut devices = Vec::new();
    let mut methods: Vec<(i64, Method)> = Vec::new();
    for row in &rows {
        let k: String = row.try_get("k")?;
        let a: Option<String> = row.try_get("a")?;
        let b: Option<String> = row.try_get("b")?;
        let n: i64 = row.try_get("n")?;
        match k.as_str() {
            "name" => name = a,
            "away" => {
                if away.as_ref().is_none_or(|(at, _)| n > *at) {
                    away = Some((n, a));
                }
            }
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
                        n,
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
        away: away.map(|(_, delegate)| delegate),
        rules,
        reachable: Reachable {
            devices,
            methods: methods.into_iter().map(|(_, m)| m).collect(),
        },
    }))
}
