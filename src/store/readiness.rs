//! Readiness before the crisis in the database: the readiness check over every Gold
//! customer's first-pass steps (who each step would page now and at the next hand-off, and
//! whether paging could reach them), its open problems, shift reminders, and the `notices`
//! outbox that carries reminders' silent pushes and the support managers' "nobody can be
//! reached" notices.
//!
//! Several gateways may run all of it: a reminder is planned once per (person, schedule,
//! shift start) by the primary key of `shift_reminders`, a problem is told once per break by
//! the primary key of `readiness_problems` (only the instance whose insert wins queues the
//! notices), and a notice is claimed by a compare-and-set on its lease.
//!
//! Limits: the check resolves targets the way paging does but without paging's side effects:
//! a round-robin team is judged on all its members (any one reachable is enough), not on the
//! member the pointer would pick. Notices go to push devices only: a support manager whose
//! only method is SMS is not told (they still see `/readyz` and the admin route).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::escalation::{load_schedule, policy_for};
use super::reachability::{away_now, reach};
use super::{db, from_millis, millis, new_id, Store, StoreError, Tx};
use crate::domain::escalation::Target;
use crate::domain::readiness::{shift_reminder_text, step_is_broken, PersonReach, Unreachable};
use crate::domain::schedule::Schedule;

/// Hand-offs further ahead than this are not judged: a week is what a reminder or a fix needs.
const NEXT_SHIFT_HORIZON_DAYS: i64 = 7;

/// One step of one Gold customer's policy that reaches nobody at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessProblem {
    pub customer_id: String,
    pub customer_name: String,
    /// Counted from 1, as the console and the timeline show steps.
    pub step: usize,
    /// `now`, or `next_shift`: the next hand-off of a schedule the policy pages.
    pub horizon: String,
    pub at: DateTime<Utc>,
    pub people: Vec<PersonReach>,
    pub since: DateTime<Utc>,
}

impl ReadinessProblem {
    fn key(&self) -> String {
        format!("{}/{}/{}", self.customer_id, self.step, self.horizon)
    }

    /// "Acme Corp, step 1 (now): Alice Manager: their only device's push token is dead".
    fn describe(&self) -> String {
        let who = if self.people.is_empty() {
            "nobody to page".to_owned()
        } else {
            self.people
                .iter()
                .map(|p| match p.reason {
                    Some(r) => format!("{}: {r}", p.name),
                    None => format!("{}: reachable", p.name),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let when = match self.horizon.as_str() {
            "now" => "now".to_owned(),
            _ => format!("from {}", self.at.format("%Y-%m-%d %H:%M UTC")),
        };
        format!(
            "{}, step {} ({when}) reaches nobody: {who}",
            self.customer_name, self.step
        )
    }
}

/// What one readiness round found.
#[derive(Debug, Clone, Default)]
pub struct ReadinessRound {
    pub problems: usize,
    /// Problems this round saw first, and told the support managers about.
    pub told: usize,
    pub recovered: u64,
}

/// A notice leased to one sender.
#[derive(Debug, Clone)]
pub struct ClaimedNotice {
    pub id: String,
    pub kind: String,
    pub device_id: String,
    pub platform: String,
    pub push_token: String,
    pub title: String,
    pub body: String,
    pub give_up_at: DateTime<Utc>,
    pub attempts: i64,
}

/// How one notice send ended.
#[derive(Debug, Clone)]
pub enum NoticeResult {
    Sent,
    Retry { at: DateTime<Utc>, error: String },
    TokenDead { error: String },
    Failed { error: String },
}

/// The people `target` means at `at` for `customer_id`, without paging's side effects.
async fn people_of(
    tx: &mut Tx,
    target: &Target,
    customer_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<(String, String, bool)>, StoreError> {
    // (user id, role, whether being away counts: paging checks it for these targets only)
    Ok(match target {
        Target::AccountManager => {
            let manager: Option<String> =
                db::query_scalar("SELECT account_manager_id FROM customers WHERE id = $1")
                    .bind(customer_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .flatten();
            match manager {
                None => Vec::new(),
                Some(m) => match away_now(tx, &m, at).await? {
                    Some(away) => match away.delegate_id {
                        Some(d) => vec![(d, "account_manager_delegate".into(), false)],
                        None => vec![(m, "account_manager".into(), true)],
                    },
                    None => vec![(m, "account_manager".into(), false)],
                },
            }
        }
        Target::User { user_id } => vec![(user_id.clone(), "user".into(), false)],
        Target::SupportManagers => db::query_scalar::<String>(
            "SELECT id FROM users WHERE role = 'support_manager' ORDER BY id",
        )
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|id| (id, "support_manager".into(), false))
        .collect(),
        Target::TeamRoundRobin { team } => {
            let members: Vec<String> = db::query_scalar(
                "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY position",
            )
            .bind(team)
            .fetch_all(&mut **tx)
            .await?;
            let mut out = Vec::new();
            for m in members {
                let away = away_now(tx, &m, at).await?.is_some();
                out.push((m, format!("round_robin:{team}"), away));
            }
            out
        }
        Target::Schedule { schedule } => match load_schedule(tx, schedule).await? {
            None => Vec::new(),
            Some((_, name, s)) => s
                .on_call_users_at(at)
                .into_iter()
                .map(|u| (u, format!("on_call:{name}"), false))
                .collect(),
        },
    })
}

async fn user_name(tx: &mut Tx, user_id: &str) -> Result<String, StoreError> {
    Ok(
        db::query_scalar::<String>("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or_else(|| user_id.to_owned()),
    )
}

/// Queues a notice for every live device of `user_id`; returns how many.
async fn queue_notices(
    tx: &mut Tx,
    user_id: &str,
    kind: &str,
    title: &str,
    body: &str,
    now: DateTime<Utc>,
    give_up_at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let devices: Vec<String> = db::query_scalar(
        "SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL AND token_dead_at IS NULL",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    for device in &devices {
        db::query(
            "INSERT INTO notices (id, user_id, device_id, kind, title, body, state, due_at, \
             give_up_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $7, $7)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(device)
        .bind(kind)
        .bind(title)
        .bind(body)
        .bind(millis(now))
        .bind(millis(give_up_at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(devices.len())
}

impl Store {
    /// Every Gold customer's first-pass steps judged at `now` and at the next hand-off of the
    /// schedules the policy pages: the steps that would reach nobody.
    pub async fn readiness_now(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReadinessProblem>, StoreError> {
        let mut tx = self.begin_write().await?;
        let customers = db::query(
            "SELECT id, name, tier_id FROM customers WHERE tier_id = 'gold' ORDER BY name, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut problems = Vec::new();
        for c in customers {
            let customer_id: String = c.try_get("id")?;
            let customer_name: String = c.try_get("name")?;
            let tier: String = c.try_get("tier_id")?;
            let policy = policy_for(&mut tx, &customer_id, &tier).await?;
            let mut next_shift: Option<DateTime<Utc>> = None;
            for schedule in policy.schedule_refs() {
                if let Some((_, _, s)) = load_schedule(&mut tx, schedule).await? {
                    if let Some(h) = s.handoffs_after(now, 1).first() {
                        if h.at <= now + Duration::days(NEXT_SHIFT_HORIZON_DAYS) {
                            next_shift = Some(next_shift.map_or(h.at, |n| n.min(h.at)));
                        }
                    }
                }
            }
            let mut horizons = vec![("now", now)];
            if let Some(at) = next_shift {
                horizons.push(("next_shift", at));
            }
            for (horizon, at) in horizons {
                for (i, step) in policy.steps().iter().enumerate() {
                    let mut people: Vec<PersonReach> = Vec::new();
                    for target in &step.targets {
                        for (user_id, role, away) in
                            people_of(&mut tx, target, &customer_id, at).await?
                        {
                            if people.iter().any(|p| p.user_id == user_id) {
                                continue;
                            }
                            let reason = if away {
                                Some(Unreachable::Away)
                            } else {
                                reach(&mut tx, &user_id).await?.err()
                            };
                            let name = user_name(&mut tx, &user_id).await?;
                            people.push(PersonReach {
                                user_id,
                                name,
                                role,
                                reason,
                            });
                        }
                    }
                    if step_is_broken(&people) {
                        problems.push(ReadinessProblem {
                            customer_id: customer_id.clone(),
                            customer_name: customer_name.clone(),
                            step: i + 1,
                            horizon: horizon.to_owned(),
                            at,
                            people,
                            since: now,
                        });
                    }
                }
            }
        }
        // Read only; nothing to keep.
        drop(tx);
        Ok(problems)
    }

    /// One readiness round: judges every Gold customer, records new problems (telling the
    /// support managers, once per break), refreshes the ones that last, and forgets the ones
    /// that recovered.
    #[tracing::instrument(name = "store check readiness", skip_all)]
    pub async fn check_readiness(&self, now: DateTime<Utc>) -> Result<ReadinessRound, StoreError> {
        let problems = self.readiness_now(now).await?;
        let mut tx = self.begin_write().await?;
        let mut round = ReadinessRound {
            problems: problems.len(),
            ..ReadinessRound::default()
        };
        let mut new_ones = Vec::new();
        let keys: BTreeSet<String> = problems.iter().map(ReadinessProblem::key).collect();
        for p in &problems {
            let people = serde_json::to_string(&p.people).expect("people serialise");
            let inserted = db::query(
                "INSERT INTO readiness_problems (problem_key, customer_id, step, horizon, at, \
                 people, since, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (problem_key) DO NOTHING",
            )
            .bind(p.key())
            .bind(&p.customer_id)
            .bind(p.step as i64)
            .bind(&p.horizon)
            .bind(millis(p.at))
            .bind(&people)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                new_ones.push(p);
            } else {
                db::query(
                    "UPDATE readiness_problems SET at = $2, people = $3, checked_at = $4 \
                     WHERE problem_key = $1",
                )
                .bind(p.key())
                .bind(millis(p.at))
                .bind(&people)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
            }
        }
        let stored: Vec<String> = db::query_scalar("SELECT problem_key FROM readiness_problems")
            .fetch_all(&mut *tx)
            .await?;
        for key in stored.iter().filter(|k| !keys.contains(*k)) {
            round.recovered += db::query("DELETE FROM readiness_problems WHERE problem_key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        if !new_ones.is_empty() {
            let managers: Vec<String> =
                db::query_scalar("SELECT id FROM users WHERE role = 'support_manager' ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?;
            for p in &new_ones {
                let body = p.describe();
                tracing::warn!(customer = %p.customer_id, step = p.step, horizon = %p.horizon, "paging readiness: a step reaches nobody");
                for m in &managers {
                    queue_notices(
                        &mut tx,
                        m,
                        "readiness",
                        "Paging readiness: a step reaches nobody",
                        &body,
                        now,
                        now + Duration::hours(1),
                    )
                    .await?;
                }
            }
            round.told = new_ones.len();
        }
        tx.commit().await?;
        Ok(round)
    }

    /// The open problems as the last readiness round recorded them.
    pub async fn readiness_problems(&self) -> Result<Vec<ReadinessProblem>, StoreError> {
        let rows = db::query(
            "SELECT p.customer_id, c.name AS customer_name, p.step, p.horizon, p.at, p.people, \
             p.since FROM readiness_problems p JOIN customers c ON c.id = p.customer_id \
             ORDER BY c.name, p.customer_id, p.horizon, p.step",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let people: String = r.try_get("people")?;
            out.push(ReadinessProblem {
                customer_id: r.try_get("customer_id")?,
                customer_name: r.try_get("customer_name")?,
                step: r.try_get::<i64, _>("step")? as usize,
                horizon: r.try_get("horizon")?,
                at: from_millis(r.try_get("at")?),
                people: serde_json::from_str(&people).map_err(|e| {
                    StoreError::Database(sqlx::Error::Decode(
                        format!("readiness_problems.people: {e}").into(),
                    ))
                })?,
                since: from_millis(r.try_get("since")?),
            });
        }
        Ok(out)
    }

    /// Plans the reminders of every on-call shift starting within `(now, now + lead]`: one
    /// per person, schedule and start (whichever gateway inserts it first queues its silent
    /// pushes); returns how many this call planned.
    #[tracing::instrument(name = "store plan shift reminders", skip_all)]
    pub async fn plan_shift_reminders(
        &self,
        now: DateTime<Utc>,
        lead: Duration,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = db::query("SELECT id, definition FROM schedules ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
        let mut shifts: BTreeMap<(String, String, DateTime<Utc>), Tz> = BTreeMap::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let definition: String = r.try_get("definition")?;
            let Ok(schedule) = serde_json::from_str::<Schedule>(&definition) else {
                continue;
            };
            for shift in schedule.shifts_between(now, now + lead) {
                if shift.start > now && shift.start <= now + lead {
                    shifts.insert(
                        (shift.user_id, id.clone(), shift.start),
                        schedule.time_zone(),
                    );
                }
            }
        }
        let mut planned = 0;
        for ((user, schedule, start), tz) in shifts {
            let inserted = db::query(
                "INSERT INTO shift_reminders (user_id, schedule_id, shift_start, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&user)
            .bind(&schedule)
            .bind(millis(start))
            .bind(millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                let text = shift_reminder_text(start, tz, now);
                queue_notices(
                    &mut tx,
                    &user,
                    "shift_reminder",
                    "On call soon",
                    &text,
                    now,
                    start,
                )
                .await?;
                planned += 1;
            }
        }
        tx.commit().await?;
        Ok(planned)
    }

    /// Leases up to `limit` due notices to `owner` until `now + lease`.
    #[tracing::instrument(name = "store claim due notices", skip_all, fields(owner = %owner, limit = limit))]
    pub async fn claim_due_notices(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedNotice>, StoreError> {
        let candidates: Vec<String> = db::query_scalar(
            "SELECT id FROM notices WHERE state = 'pending' AND due_at <= $1 \
             AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at, id LIMIT $2",
        )
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let token = format!("{owner}/{}", uuid::Uuid::new_v4().simple());
        let mut out = Vec::new();
        for id in candidates {
            // Compare-and-set: another gateway that claimed the row first wins it.
            let claimed = self
                .write_one(
                    db::query(
                        "UPDATE notices SET lease_owner = $2, lease_until = $3, \
                         attempts = attempts + 1, updated_at = $4 WHERE id = $1 \
                         AND state = 'pending' AND (lease_until IS NULL OR lease_until <= $4)",
                    )
                    .bind(id.clone())
                    .bind(token.clone())
                    .bind(millis(now + lease))
                    .bind(millis(now)),
                )
                .await?
                .rows_affected();
            if claimed == 0 {
                continue;
            }
            let r = db::query(
                "SELECT n.id, n.kind, n.device_id, d.platform, d.push_token, n.title, n.body, \
                 n.give_up_at, n.attempts FROM notices n JOIN devices d ON d.id = n.device_id \
                 WHERE n.id = $1",
            )
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
            out.push(ClaimedNotice {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                device_id: r.try_get("device_id")?,
                platform: r.try_get("platform")?,
                push_token: r.try_get("push_token")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                give_up_at: from_millis(r.try_get("give_up_at")?),
                attempts: r.try_get("attempts")?,
            });
        }
        Ok(out)
    }

    /// Records how a notice's send ended; a dead token marks the device dead, which the next
    /// readiness round reports.
    #[tracing::instrument(name = "store record notice", skip_all, fields(notice = %notice.id, kind = %notice.kind))]
    pub async fn record_notice(
        &self,
        notice: &ClaimedNotice,
        result: NoticeResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (state, due, error) = match &result {
            NoticeResult::Sent => ("sent", None, None),
            NoticeResult::Retry { at, error } if *at < notice.give_up_at => {
                ("pending", Some(*at), Some(error.as_str()))
            }
            NoticeResult::Retry { error, .. }
            | NoticeResult::TokenDead { error }
            | NoticeResult::Failed { error } => ("failed", None, Some(error.as_str())),
        };
        db::query(
            "UPDATE notices SET state = $2, due_at = COALESCE($3, due_at), last_error = $4, \
             lease_owner = NULL, lease_until = NULL, updated_at = $5 WHERE id = $1",
        )
        .bind(&notice.id)
        .bind(state)
        .bind(due.map(millis))
        .bind(error)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if let NoticeResult::TokenDead { .. } = result {
            db::query(
                "UPDATE devices SET token_dead_at = $2, updated_at = $2 \
                 WHERE id = $1 AND token_dead_at IS NULL",
            )
            .bind(&notice.device_id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
