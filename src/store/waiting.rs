//! The two-way SLA clock: a ticket waiting on its customer, and back.
//!
//! A ticket waits on its customer from a pause to the matching resume; `ticket_pauses` keeps
//! every such stretch with who started and ended it, so the SLA report can split each
//! ticket's time into ours and the customer's. At most one stretch per ticket is open (a
//! partial unique index), which makes a second pause a conflict even when two arrive at once.
//!
//! Every change is written with its timeline event (which queues the `ticket.*` webhook) and
//! its audit entry in the caller's transaction. A pause is ended by whoever resumes it (an
//! agent), by the customer's own press, or by resolving the incident or closing the ticket;
//! the stretch records which.
//!
//! This file holds the writes every use case shares (ending a pause, reading the stretches);
//! the requests that pause and resume a ticket (`Store::wait_on_customer`,
//! `Store::resume_ticket`) read the ticket and so sit above it, in `store::tickets`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::timeline::{event, On};
use super::{audit, db, from_millis, millis, Tx};
use crate::domain::timeline::TimelineKind;

/// Why an open pause ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumedBecause {
    /// Someone on our side (responder, helpdesk, admin) resumed it.
    Agent,
    /// The customer pressed the button about the ticket.
    Customer,
    /// The incident was resolved or the ticket closed while it waited.
    Resolved,
}

impl ResumedBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            ResumedBecause::Agent => "agent",
            ResumedBecause::Customer => "customer",
            ResumedBecause::Resolved => "resolved",
        }
    }
}

use crate::domain::sla_report::PauseRecord;

pub(crate) fn pause_record(r: &db::Row) -> Result<PauseRecord, sqlx::Error> {
    Ok(PauseRecord {
        paused_at: from_millis(r.try_get("paused_at")?),
        paused_by: r.try_get("paused_by")?,
        resumed_at: r.try_get::<Option<i64>, _>("resumed_at")?.map(from_millis),
        resumed_by: r.try_get("resumed_by")?,
        resumed_because: r.try_get("resumed_because")?,
    })
}

/// The incident the ticket's timeline events belong to: the open one, if any.
pub(super) async fn open_incident_of(
    tx: &mut Tx,
    ticket_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    db::query_scalar(
        "SELECT id FROM incidents WHERE ticket_id = $1 AND state <> 'resolved' \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Ends the ticket's open pause, if it has one, recording who and why: the timeline event
/// (and its webhook) and the audit entry. `false` when the ticket was not waiting.
pub(crate) async fn resume_tx(
    tx: &mut Tx,
    ticket_id: &str,
    incident_id: Option<&str>,
    actor: &str,
    because: ResumedBecause,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let paused_at: Option<i64> = db::query_scalar(
        "SELECT paused_at FROM ticket_pauses WHERE ticket_id = $1 AND resumed_at IS NULL",
    )
    .bind(ticket_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(paused_at) = paused_at else {
        return Ok(false);
    };
    let ended = db::query(
        "UPDATE ticket_pauses SET resumed_at = $2, resumed_by = $3, resumed_because = $4 \
         WHERE ticket_id = $1 AND resumed_at IS NULL",
    )
    .bind(ticket_id)
    .bind(millis(now))
    .bind(actor)
    .bind(because.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if ended == 0 {
        return Ok(false);
    }
    let incident = match incident_id {
        Some(i) => Some(i.to_owned()),
        None => open_incident_of(tx, ticket_id).await?,
    };
    let paused_at = from_millis(paused_at);
    let detail = json!({
        "resumed_by": because.as_str(),
        "paused_at": paused_at,
        "waited_seconds": (now - paused_at).num_seconds(),
    });
    let on = On {
        ticket: ticket_id,
        incident: incident.as_deref(),
        alert: None,
    };
    event(
        tx,
        on,
        now,
        TimelineKind::TicketResumed,
        Some(actor),
        detail.clone(),
    )
    .await?;
    audit(
        tx,
        now,
        actor,
        "ticket.resumed",
        "ticket",
        ticket_id,
        detail,
    )
    .await?;
    Ok(true)
}
