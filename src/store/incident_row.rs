//! An incident as it is read back (`IncidentRow`), the one statement that reads it and the
//! decoding of its row: below both `incidents` (which records presses) and `escalation`
//! (whose acknowledgement answers with the incident as it left it), so neither imports the
//! other for it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{db, decode_error, from_millis, StoreError, Tx};
use crate::domain::incident::IncidentState;

#[derive(Debug, Clone, Serialize)]
pub struct IncidentRow {
    pub id: String,
    pub customer_id: String,
    pub tier: String,
    pub ticket_id: String,
    pub ticket_ref: String,
    pub state: IncidentState,
    pub summary: String,
    pub affected_service: String,
    pub alert_count: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_by_name: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub ack_due_at: DateTime<Utc>,
    pub respond_due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Since when its ticket waits on the customer; `None` while the clock runs.
    pub waiting_on_customer_since: Option<DateTime<Utc>>,
}

pub(super) const INCIDENT_COLUMNS: &str =
    "SELECT i.id, i.customer_id, i.tier_id, i.ticket_id, t.external_ref, i.state, \
     i.summary, i.affected_service, i.alert_count, i.acknowledged_by, u.name AS ack_name, \
     i.acknowledged_at, i.resolved_at, i.ack_due_at, i.respond_due_at, i.created_at, \
     (SELECT p.paused_at FROM ticket_pauses p WHERE p.ticket_id = i.ticket_id \
     AND p.resumed_at IS NULL) AS waiting_since \
     FROM incidents i JOIN tickets t ON t.id = i.ticket_id \
     LEFT JOIN users u ON u.id = i.acknowledged_by";

/// The incident `id` as `tx` sees it (it must exist).
pub(super) async fn incident_after(tx: &mut Tx, id: &str) -> Result<IncidentRow, StoreError> {
    let row = db::query(&format!("{INCIDENT_COLUMNS} WHERE i.id = $1"))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(incident_row(&row)?)
}

pub(super) fn incident_row(r: &db::Row) -> Result<IncidentRow, sqlx::Error> {
    let state: String = r.try_get("state")?;
    Ok(IncidentRow {
        id: r.try_get("id")?,
        customer_id: r.try_get("customer_id")?,
        tier: r.try_get("tier_id")?,
        ticket_id: r.try_get("ticket_id")?,
        ticket_ref: r.try_get("external_ref")?,
        state: IncidentState::parse(&state)
            .ok_or_else(|| decode_error("incidents.state", &state))?,
        summary: r.try_get("summary")?,
        affected_service: r.try_get("affected_service")?,
        alert_count: r.try_get("alert_count")?,
        acknowledged_by: r.try_get("acknowledged_by")?,
        acknowledged_by_name: r.try_get("ack_name")?,
        acknowledged_at: r
            .try_get::<Option<i64>, _>("acknowledged_at")?
            .map(from_millis),
        resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(from_millis),
        ack_due_at: from_millis(r.try_get("ack_due_at")?),
        respond_due_at: from_millis(r.try_get("respond_due_at")?),
        created_at: from_millis(r.try_get("created_at")?),
        waiting_on_customer_since: r
            .try_get::<Option<i64>, _>("waiting_since")?
            .map(from_millis),
    })
}
