//! SLA settings per tier, the configuration check that keeps promises keepable, pre-breach
//! warnings and breaches per incident, and the rows behind SLA reports.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::escalation::page_users;
use super::reachability::step_rule_delays;
use super::timeline::{event, On};
use super::waiting::pause_record;
use super::{db, from_millis, millis, Store, StoreError, Tx};
use crate::domain::escalation::{EscalationPolicy, Position};
use crate::domain::sla::{check_policy_reaches_in_time, TierSla};
use crate::domain::sla_report::{PauseRecord, ReportRow};
use crate::domain::timeline::TimelineKind;
use crate::store::Backend;

/// An incident still waiting for an acknowledgement, with what the SLA watcher needs.
#[derive(Debug, Clone)]
pub struct OpenIncident {
    pub id: String,
    pub ticket_id: String,
    pub ticket_ref: String,
    pub tier: String,
    pub created_at: DateTime<Utc>,
    pub warnings_sent: i64,
    pub internal_breached: bool,
    pub external_breached: bool,
    pub ack_due_at: DateTime<Utc>,
    pub respond_due_at: DateTime<Utc>,
    pub summary: String,
}

impl Store {
    pub async fn tier_sla(&self, tier: &str) -> Result<TierSla, StoreError> {
        let json: Option<String> = db::query_scalar("SELECT sla FROM tiers WHERE id = $1")
            .bind(tier)
            .fetch_optional(&self.pool)
            .await?;
        Ok(TierSla::from_stored(tier, json.as_deref().unwrap_or("{}")))
    }

    /// Sets a tier's SLA unless a policy that pages for the tier could not keep it; `false`
    /// when the tier does not exist.
    #[tracing::instrument(name = "store set tier sla", skip_all, fields(tier = %tier))]
    pub async fn set_tier_sla(
        &self,
        tier: &str,
        sla: &TierSla,
        now: DateTime<Utc>,
    ) -> Result<Result<bool, PolicyMisfit>, StoreError> {
        let mut tx = self.begin_write().await?;
        // The UPDATE also takes the tier's row lock that policy and customer writes take.
        let done = db::query("UPDATE tiers SET sla = $2, updated_at = $3 WHERE id = $1")
            .bind(tier)
            .bind(serde_json::to_string(sla).unwrap_or_default())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(Ok(false));
        }
        if let Some(misfit) = first_misfit_tx(&mut tx, tier, None).await? {
            return Ok(Err(misfit));
        }
        tx.commit().await?;
        Ok(Ok(true))
    }

    /// Every policy that pages for a tier and cannot keep that tier's SLA, with the
    /// arithmetic. Two queries whatever the number of tiers and policies. The start-up check
    /// and readiness use it: a stored misfit is reported, never a reason to stop serving.
    pub async fn escalation_misfits(&self) -> Result<Vec<PolicyMisfit>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        misfits(&mut conn, None).await
    }

    /// Triggered, unacknowledged incidents.
    #[tracing::instrument(name = "store open unacknowledged", skip_all)]
    pub async fn open_unacknowledged(&self) -> Result<Vec<OpenIncident>, StoreError> {
        let rows = db::query(
            "SELECT i.id, i.ticket_id, t.external_ref, i.tier_id, i.created_at, i.sla_warnings, \
             i.internal_breached_at, i.external_breached_at, i.ack_due_at, i.respond_due_at, i.summary \
             FROM incidents i JOIN tickets t ON t.id = i.ticket_id \
             WHERE i.state = 'triggered' ORDER BY i.created_at LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenIncident {
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    ticket_ref: r.try_get("external_ref")?,
                    tier: r.try_get("tier_id")?,
                    created_at: from_millis(r.try_get("created_at")?),
                    warnings_sent: r.try_get("sla_warnings")?,
                    internal_breached: r
                        .try_get::<Option<i64>, _>("internal_breached_at")?
                        .is_some(),
                    external_breached: r
                        .try_get::<Option<i64>, _>("external_breached_at")?
                        .is_some(),
                    ack_due_at: from_millis(r.try_get("ack_due_at")?),
                    respond_due_at: from_millis(r.try_get("respond_due_at")?),
                    summary: r.try_get("summary")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records pre-breach warning number `number` (at `fraction` of the external SLA) and
    /// pages the support managers, once: guarded by the count already sent.
    #[tracing::instrument(name = "store record sla warning", skip_all, fields(incident = %incident.id, number = number))]
    pub async fn record_sla_warning(
        &self,
        incident: &OpenIncident,
        number: i64,
        fraction: f64,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = db::query(
            "UPDATE incidents SET sla_warnings = $2, updated_at = $3 \
             WHERE id = $1 AND sla_warnings = $4 AND state = 'triggered'",
        )
        .bind(&incident.id)
        .bind(number)
        .bind(millis(now))
        .bind(incident.warnings_sent)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(0);
        }
        let managers: Vec<String> =
            db::query_scalar("SELECT id FROM users WHERE role = 'support_manager' ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        let title = format!(
            "SLA warning · {}: {}",
            incident.ticket_ref, incident.summary
        );
        let body = format!(
            "Not acknowledged: {:.0}% of the response SLA used; it is breached at {}.",
            fraction * 100.0,
            incident.respond_due_at.format("%H:%M UTC")
        );
        let pages = page_users(
            &mut tx,
            &incident.id,
            &managers,
            Position::FIRST,
            &title,
            &body,
            incident.respond_due_at,
            now,
        )
        .await?;
        let on = On {
            ticket: &incident.ticket_id,
            incident: Some(&incident.id),
            alert: None,
        };
        event(&mut tx, on, now, TimelineKind::SlaWarning, None, json!({
            "fraction": fraction, "respond_by": incident.respond_due_at, "paged_support_managers": managers.len(),
        }))
        .await?;
        tx.commit().await?;
        Ok(pages)
    }

    /// Records that the internal (`external == false`) or external target was missed, once.
    #[tracing::instrument(name = "store record breach", skip_all, fields(incident = %incident.id, external = external))]
    pub async fn record_breach(
        &self,
        incident: &OpenIncident,
        external: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let column = if external {
            "external_breached_at"
        } else {
            "internal_breached_at"
        };
        let claimed = db::query(&format!(
            "UPDATE incidents SET {column} = $2, updated_at = $2 WHERE id = $1 AND {column} IS NULL"
        ))
        .bind(&incident.id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        let on = On {
            ticket: &incident.ticket_id,
            incident: Some(&incident.id),
            alert: None,
        };
        let (kind, due) = if external {
            (TimelineKind::SlaBreached, incident.respond_due_at)
        } else {
            (TimelineKind::AckTargetMissed, incident.ack_due_at)
        };
        event(&mut tx, on, now, kind, None, json!({ "due_at": due })).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Incidents created in `[from, to)`, optionally for one customer or tier, with their
    /// tickets' waits on the customer: three queries however many incidents the range holds.
    pub async fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        customer: Option<&str>,
        tier: Option<&str>,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = db::query(
            "SELECT i.id, i.customer_id, c.name AS customer_name, i.tier_id, t.external_ref, \
             i.created_at, i.first_accepted_at, i.acknowledged_at, i.acknowledged_by, \
             u.name AS ack_name, i.resolved_at, \
             (SELECT COUNT(*) FROM incident_events e WHERE e.incident_id = i.id AND e.kind = $5) AS delivered \
             FROM incidents i JOIN customers c ON c.id = i.customer_id \
             JOIN tickets t ON t.id = i.ticket_id LEFT JOIN users u ON u.id = i.acknowledged_by \
             WHERE i.created_at >= $1 AND i.created_at < $2 \
             AND (i.customer_id = $3 OR $3 IS NULL) AND (i.tier_id = $4 OR $4 IS NULL) \
             ORDER BY i.created_at, i.id",
        )
        .bind(millis(from))
        .bind(millis(to))
        .bind(customer)
        .bind(tier)
        .bind(TimelineKind::Delivered.as_str())
        .fetch_all(&self.pool)
        .await?;
        // The skip reasons of all those incidents in one more query, not one per incident.
        let skip_rows = db::query(
            "SELECT e.incident_id, e.detail FROM incident_events e \
             JOIN incidents i ON i.id = e.incident_id \
             WHERE e.kind = $5 AND i.created_at >= $1 AND i.created_at < $2 \
             AND (i.customer_id = $3 OR $3 IS NULL) AND (i.tier_id = $4 OR $4 IS NULL) \
             ORDER BY e.at, e.id",
        )
        .bind(millis(from))
        .bind(millis(to))
        .bind(customer)
        .bind(tier)
        .bind(TimelineKind::StepSkipped.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut skips: HashMap<String, Vec<String>> = HashMap::new();
        for r in &skip_rows {
            skips
                .entry(r.try_get("incident_id")?)
                .or_default()
                .push(r.try_get("detail")?);
        }
        // And the waits on the customer of their tickets, in one more.
        let pause_rows = db::query(
            "SELECT i.id AS incident_id, p.paused_at, p.paused_by, p.resumed_at, p.resumed_by, \
             p.resumed_because FROM ticket_pauses p JOIN incidents i ON i.ticket_id = p.ticket_id \
             WHERE i.created_at >= $1 AND i.created_at < $2 \
             AND (i.customer_id = $3 OR $3 IS NULL) AND (i.tier_id = $4 OR $4 IS NULL) \
             ORDER BY p.paused_at, p.id",
        )
        .bind(millis(from))
        .bind(millis(to))
        .bind(customer)
        .bind(tier)
        .fetch_all(&self.pool)
        .await?;
        let mut pauses: HashMap<String, Vec<PauseRecord>> = HashMap::new();
        for r in &pause_rows {
            pauses
                .entry(r.try_get("incident_id")?)
                .or_default()
                .push(pause_record(r)?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let skip_reasons = skips.remove(&id).unwrap_or_default();
            let pauses = pauses.remove(&id).unwrap_or_default();
            out.push(ReportRow {
                id,
                customer_id: r.try_get("customer_id")?,
                customer_name: r.try_get("customer_name")?,
                tier: r.try_get("tier_id")?,
                ticket_ref: r.try_get("external_ref")?,
                created_at: from_millis(r.try_get("created_at")?),
                first_accepted_at: r
                    .try_get::<Option<i64>, _>("first_accepted_at")?
                    .map(from_millis),
                acknowledged_at: r
                    .try_get::<Option<i64>, _>("acknowledged_at")?
                    .map(from_millis),
                acknowledged_by: r.try_get("acknowledged_by")?,
                acknowledged_by_name: r.try_get("ack_name")?,
                resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(from_millis),
                delivered: r.try_get::<i64, _>("delivered")? > 0,
                skip_reasons,
                pauses,
            });
        }
        Ok(out)
    }

    /// Every tier's SLA, in one query (reports need the SLA of each tier they show).
    pub async fn tier_slas(&self) -> Result<HashMap<String, TierSla>, StoreError> {
        let rows = db::query("SELECT id, sla FROM tiers")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let sla: Option<String> = r.try_get("sla")?;
                let sla = TierSla::from_stored(&id, sla.as_deref().unwrap_or("{}"));
                Ok((id, sla))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A policy that pages for a tier and cannot keep the tier's SLA.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyMisfit {
    pub tier: String,
    /// `None` for the built-in default policy (a tier with no policy of its own).
    pub policy_id: Option<String>,
    /// `policy "name"` or `the built-in default policy`.
    pub policy: String,
    /// The arithmetic.
    pub reason: String,
}

impl std::fmt::Display for PolicyMisfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tier {}, {}: {}", self.tier, self.policy, self.reason)
    }
}

/// Takes `tier`'s row lock, so that writes that could break "every policy fits its tier's
/// SLA" for one tier (its SLA, a policy, a customer moving in) run one after the other and
/// each checks what the previous one committed. SQLite write transactions are already one at
/// a time (`BEGIN IMMEDIATE`).
pub(crate) async fn lock_tier(tx: &mut Tx, backend: Backend, tier: &str) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        db::query("SELECT id FROM tiers WHERE id = $1 FOR UPDATE")
            .bind(tier)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The first policy paging for `tier` that cannot keep its SLA, as `tx` sees the data: call
/// it after the write and before the commit, and roll back when it finds one. With `policy`,
/// only that stored policy is checked (the one a write changed or moved), so a misfit stored
/// elsewhere does not block unrelated writes, including the ones that would fix it.
pub(crate) async fn first_misfit_tx(
    tx: &mut Tx,
    tier: &str,
    policy: Option<&str>,
) -> Result<Option<PolicyMisfit>, StoreError> {
    Ok(misfits(tx, Some(tier))
        .await?
        .into_iter()
        .find(|m| policy.is_none() || m.policy_id.as_deref() == policy))
}

/// The misfits of one tier or of all, in two queries: tiers with their SLA, then every
/// stored policy with the tier it pages for (its own, or its customer's).
pub(crate) async fn misfits(
    conn: &mut db::Conn,
    only: Option<&str>,
) -> Result<Vec<PolicyMisfit>, StoreError> {
    let tiers =
        db::query("SELECT id, sla FROM tiers WHERE (id = $1 OR $1 IS NULL) ORDER BY rank DESC, id")
            .bind(only)
            .fetch_all(&mut *conn)
            .await?;
    let policies = db::query(
        "SELECT p.id, p.name, p.definition, p.tier_id, p.customer_id, c.tier_id AS customer_tier \
         FROM escalation_policies p LEFT JOIN customers c ON c.id = p.customer_id \
         WHERE (p.tier_id = $1 OR c.tier_id = $1 OR $1 IS NULL) ORDER BY p.name, p.id",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for t in &tiers {
        let tier: String = t.try_get("id")?;
        let sla: Option<String> = t.try_get("sla")?;
        let sla = TierSla::from_stored(&tier, sla.as_deref().unwrap_or("{}"));
        let mut tier_has_own = false;
        let mut check = |policy_id: Option<String>,
                         label: String,
                         policy: &EscalationPolicy,
                         delays: &[chrono::Duration]| {
            if let Err(e) = check_policy_reaches_in_time(policy, delays, &sla) {
                out.push(PolicyMisfit {
                    tier: tier.clone(),
                    policy_id,
                    policy: label,
                    reason: e.to_string(),
                });
            }
        };
        for p in &policies {
            let own: Option<String> = p.try_get("tier_id")?;
            let customer_tier: Option<String> = p.try_get("customer_tier")?;
            if own.as_deref() != Some(tier.as_str()) && customer_tier.as_deref() != Some(&tier) {
                continue;
            }
            tier_has_own |= own.is_some();
            let definition: String = p.try_get("definition")?;
            if let Ok(policy) = serde_json::from_str::<EscalationPolicy>(&definition) {
                let name: String = p.try_get("name")?;
                let customer: Option<String> = p.try_get("customer_id")?;
                let delays =
                    step_rule_delays(&mut *conn, &policy, customer.as_deref(), &tier).await?;
                check(
                    p.try_get("id")?,
                    format!("policy {name:?}"),
                    &policy,
                    &delays,
                );
            }
        }
        if !tier_has_own {
            let policy = EscalationPolicy::gold_default();
            let delays = step_rule_delays(&mut *conn, &policy, None, &tier).await?;
            check(
                None,
                "the built-in default policy".to_owned(),
                &policy,
                &delays,
            );
        }
    }
    Ok(out)
}
