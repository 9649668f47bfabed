//! The console's board: open incidents across customers with who is being paged now, and the
//! change marker its live updates poll.
//!
//! Two reads per board (the incidents, then the names paged at each one's current step), both
//! bounded by [`BOARD_LIMIT`]. The filter for a responder is the one the phones' incident list
//! uses ([`Store::responder_incident_ids`]): paged for it, or the customer's account manager.

use chrono::{DateTime, Utc};

use super::{db, from_millis, Store, StoreError};
use crate::domain::incident::IncidentState;

/// Open incidents shown at most; a board with more has bigger problems than paging.
pub const BOARD_LIMIT: i64 = 200;

/// One open incident on the board.
#[derive(Debug, Clone)]
pub struct BoardRow {
    pub id: String,
    pub customer: String,
    pub tier: String,
    pub service: String,
    pub summary: String,
    pub ticket_ref: String,
    pub state: IncidentState,
    pub created_at: DateTime<Utc>,
    pub next_escalation_at: Option<DateTime<Utc>>,
    pub ack_due_at: DateTime<Utc>,
    pub respond_due_at: DateTime<Utc>,
    pub acknowledged_by: Option<String>,
    /// Names of the people paged at the incident's current escalation step.
    pub paged_now: Vec<String>,
}

const INVOLVED: &str = "(i.id IN \
     (SELECT incident_id FROM deliveries WHERE user_id = $1 AND kind = 'page') \
     OR i.customer_id IN (SELECT id FROM customers WHERE account_manager_id = $1) \
     OR $1 IS NULL)";

impl Store {
    /// Open incidents, oldest first (the one nearest its breach on top); only those
    /// `involved` is involved in when given.
    pub async fn board(&self, involved: Option<&str>) -> Result<Vec<BoardRow>, StoreError> {
        let rows = db::query(&format!(
            "SELECT i.id, c.name AS customer, tr.name AS tier, i.affected_service, i.summary, \
             t.external_ref, i.state, i.created_at, i.next_escalation_at, i.ack_due_at, \
             i.respond_due_at, u.name AS ack_name \
             FROM incidents i JOIN customers c ON c.id = i.customer_id \
             JOIN tiers tr ON tr.id = i.tier_id JOIN tickets t ON t.id = i.ticket_id \
             LEFT JOIN users u ON u.id = i.acknowledged_by \
             WHERE i.state <> 'resolved' AND {INVOLVED} \
             ORDER BY i.created_at, i.id LIMIT $2"
        ))
        .bind(involved)
        .bind(BOARD_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        let mut board = rows
            .iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(BoardRow {
                    id: r.try_get("id")?,
                    customer: r.try_get("customer")?,
                    tier: r.try_get("tier")?,
                    service: r.try_get("affected_service")?,
                    summary: r.try_get("summary")?,
                    ticket_ref: r.try_get("external_ref")?,
                    state: IncidentState::parse(&state).ok_or_else(|| {
                        sqlx::Error::Decode(format!("incidents.state {state:?}").into())
                    })?,
                    created_at: from_millis(r.try_get("created_at")?),
                    next_escalation_at: r
                        .try_get::<Option<i64>, _>("next_escalation_at")?
                        .map(from_millis),
                    ack_due_at: from_millis(r.try_get("ack_due_at")?),
                    respond_due_at: from_millis(r.try_get("respond_due_at")?),
                    acknowledged_by: r.try_get("ack_name")?,
                    paged_now: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        if board.is_empty() {
            return Ok(board);
        }
        let paged = db::query(&format!(
            "SELECT DISTINCT d.incident_id, u.name FROM deliveries d \
             JOIN incidents i ON i.id = d.incident_id JOIN users u ON u.id = d.user_id \
             WHERE i.state = 'triggered' AND d.kind = 'page' \
             AND d.escalation_pass = i.escalation_pass AND d.escalation_step = i.escalation_step \
             AND {INVOLVED} ORDER BY u.name LIMIT $2"
        ))
        .bind(involved)
        .bind(BOARD_LIMIT * 10)
        .fetch_all(&self.pool)
        .await?;
        for r in &paged {
            let incident: String = r.try_get("incident_id")?;
            if let Some(row) = board.iter_mut().find(|b| b.id == incident) {
                row.paged_now.push(r.try_get("name")?);
            }
        }
        Ok(board)
    }

    /// Changes whenever anything the board shows changes: every press, escalation,
    /// acknowledgement, resolution and SLA event appends to the timeline, whose ids are
    /// UUIDv7 (time-ordered), so the largest id is an indexed read that moves on each of them.
    pub async fn board_marker(&self) -> Result<Option<String>, StoreError> {
        Ok(db::query_scalar("SELECT MAX(id) FROM incident_events")
            .fetch_one(&self.pool)
            .await?)
    }
}
