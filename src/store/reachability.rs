//! Whether a person can be paged now: away (an unavailability covers the instant) and
//! reachable (something can deliver a page to them). Read inside the caller's paging
//! transaction, so the answer and the pages it leads to are one consistent view.
//!
//! "Reachable" is one definition for round-robin picks, the readiness check and the promise
//! check: what the person's effective notification rules would page (a live device under a
//! push rule, a verified and enabled contact method under its channel's rule), decided by
//! [`crate::domain::readiness::reach`]. It says nothing about whether the next send will
//! succeed; shift reminders' silent pushes refresh the "token dead" half of it.

use chrono::{DateTime, Duration, Utc};

use super::contacts::effective_rules_on;
use super::{db, millis, StoreError, Tx};
use crate::domain::contact::MethodKind;
use crate::domain::escalation::{EscalationPolicy, ScheduleRef, Target};
use crate::domain::readiness::{self, Inventory, Unreachable};
use crate::domain::schedule::Schedule;

/// An unavailability covering now, and who stands in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Away {
    pub delegate_id: Option<String>,
}

/// The newest unavailability of `user_id` that covers `now`, if any.
pub(crate) async fn away_now(
    tx: &mut Tx,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Away>, StoreError> {
    let row = db::query(
        "SELECT delegate_id FROM unavailability \
         WHERE user_id = $1 AND starts_at <= $2 AND ends_at > $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(millis(now))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(Away {
            delegate_id: r.try_get("delegate_id")?,
        }),
    })
}

/// What `user_id` has that a page could go to: live and dead devices, verified methods.
async fn inventory(conn: &mut db::Conn, user_id: &str) -> Result<Inventory, StoreError> {
    let live: i64 = db::query_scalar(
        "SELECT COUNT(*) FROM devices \
         WHERE user_id = $1 AND revoked_at IS NULL AND token_dead_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    let dead: i64 = db::query_scalar(
        "SELECT COUNT(*) FROM devices \
         WHERE user_id = $1 AND revoked_at IS NULL AND token_dead_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    let rows = db::query(
        "SELECT id, kind FROM contact_methods WHERE user_id = $1 \
         AND verified_at IS NOT NULL AND disabled_at IS NULL AND deleted_at IS NULL",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut methods = Vec::with_capacity(rows.len());
    for r in rows {
        let kind: String = r.try_get("kind")?;
        if let Some(kind) = MethodKind::parse(&kind) {
            methods.push((r.try_get("id")?, kind.channel()));
        }
    }
    Ok(Inventory {
        live_devices: live as usize,
        dead_devices: dead as usize,
        methods,
    })
}

/// The earliest rule delay (minutes) at which a page to `user_id` reaches something, or why
/// nothing would: their effective notification rules matched against their live devices and
/// verified methods, exactly as paging (`domain::reach::plan_page`) matches them.
pub(crate) async fn reach(
    conn: &mut db::Conn,
    user_id: &str,
) -> Result<Result<u32, Unreachable>, StoreError> {
    let rules = effective_rules_on(conn, user_id).await?;
    let have = inventory(conn, user_id).await?;
    Ok(readiness::reach(&rules, &have))
}

/// Whether a page to `user_id` could be delivered at `now`: their notification rules name
/// a live device or a verified, enabled contact method ([`reach`]).
pub(crate) async fn reachable(
    tx: &mut Tx,
    user_id: &str,
    _now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(reach(tx, user_id).await?.is_ok())
}

/// For each step of `policy`, the earliest rule delay at which the step reaches someone, as
/// the promise check counts it. A step pages its targets at once, so the step's delay is the
/// smallest of its targets'. A target that pages one person out of several (whoever is on
/// call in a schedule, the member round-robin picks, the account manager of whichever
/// customer of the tier presses) is judged on the slowest of them who can be reached; the
/// support managers are all paged, so the fastest counts. People nothing reaches count for
/// nothing here: that is the readiness check's to report, not a promise arithmetic.
pub(crate) async fn step_rule_delays(
    conn: &mut db::Conn,
    policy: &EscalationPolicy,
    customer_id: Option<&str>,
    tier: &str,
) -> Result<Vec<Duration>, StoreError> {
    let mut out = Vec::with_capacity(policy.steps().len());
    for step in policy.steps() {
        let mut step_delay: Option<u32> = None;
        for target in &step.targets {
            let (candidates, any): (Vec<String>, bool) = match target {
                Target::User { user_id } => (vec![user_id.clone()], false),
                Target::SupportManagers => (
                    db::query_scalar("SELECT id FROM users WHERE role = 'support_manager'")
                        .fetch_all(&mut *conn)
                        .await?,
                    true,
                ),
                Target::AccountManager => (
                    db::query_scalar(
                        "SELECT DISTINCT account_manager_id FROM customers \
                         WHERE account_manager_id IS NOT NULL \
                         AND (id = $1 OR ($1 IS NULL AND tier_id = $2))",
                    )
                    .bind(customer_id)
                    .bind(tier)
                    .fetch_all(&mut *conn)
                    .await?,
                    false,
                ),
                Target::TeamRoundRobin { team } => (
                    db::query_scalar("SELECT user_id FROM team_members WHERE team_id = $1")
                        .bind(team)
                        .fetch_all(&mut *conn)
                        .await?,
                    false,
                ),
                Target::Schedule { schedule } => {
                    let (column, key) = match schedule {
                        ScheduleRef::Role(r) => ("role", r),
                        ScheduleRef::Id(id) => ("id", id),
                    };
                    let definition: Option<String> = db::query_scalar(&format!(
                        "SELECT definition FROM schedules WHERE {column} = $1"
                    ))
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let people = definition
                        .and_then(|d| serde_json::from_str::<Schedule>(&d).ok())
                        .map(|s| {
                            let mut ids: Vec<String> = s
                                .rotations()
                                .iter()
                                .flat_map(|r| r.participants.iter().cloned())
                                .chain(s.overrides().iter().map(|o| o.user_id.clone()))
                                .collect();
                            ids.sort();
                            ids.dedup();
                            ids
                        })
                        .unwrap_or_default();
                    (people, false)
                }
            };
            let mut delays = Vec::new();
            for user in &candidates {
                if let Ok(delay) = reach(conn, user).await? {
                    delays.push(delay);
                }
            }
            let target_delay = if any {
                delays.into_iter().min()
            } else {
                delays.into_iter().max()
            };
            if let Some(d) = target_delay {
                step_delay = Some(step_delay.map_or(d, |s| s.min(d)));
            }
        }
        out.push(Duration::minutes(i64::from(step_delay.unwrap_or(0))));
    }
    Ok(out)
}
