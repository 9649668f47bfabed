//! Helpdesk tickets, upserted by their external reference so customers can self-escalate
//! tickets the helpdesk already knows, and paused while they wait on their customer (the
//! stretches of waiting and their rules are `store::waiting`'s).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::timeline::{event, On};
use super::waiting::{open_incident_of, resume_tx, ResumedBecause};
use super::{audit, db, decode_error, from_millis, millis, new_id, Store, StoreError, Tx};
use crate::domain::priority::Priority;
use crate::domain::timeline::TimelineKind;

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    pub external_ref: String,
    pub subject: String,
    pub priority: Priority,
    pub status: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Since when the ticket waits on its customer (its resolution clock is paused); `None`
    /// while the clock runs.
    pub waiting_on_customer_since: Option<DateTime<Utc>>,
}

pub struct TicketUpsert<'a> {
    pub customer_id: &'a str,
    pub external_ref: &'a str,
    pub subject: &'a str,
    pub priority: Priority,
    pub status: &'a str,
}

const COLUMNS: &str = "SELECT id, customer_id, external_ref, subject, priority, status, source, \
     created_at, updated_at, (SELECT p.paused_at FROM ticket_pauses p \
     WHERE p.ticket_id = tickets.id AND p.resumed_at IS NULL) AS waiting_since FROM tickets";

fn ticket_row(r: &db::Row) -> Result<Ticket, sqlx::Error> {
    let priority: String = r.try_get("priority")?;
    Ok(Ticket {
        id: r.try_get("id")?,
        customer_id: r.try_get("customer_id")?,
        external_ref: r.try_get("external_ref")?,
        subject: r.try_get("subject")?,
        priority: Priority::parse(&priority)
            .ok_or_else(|| decode_error("tickets.priority", &priority))?,
        status: r.try_get("status")?,
        source: r.try_get("source")?,
        created_at: from_millis(r.try_get("created_at")?),
        updated_at: from_millis(r.try_get("updated_at")?),
        waiting_on_customer_since: r
            .try_get::<Option<i64>, _>("waiting_since")?
            .map(from_millis),
    })
}

/// The ticket with this id, inside a transaction.
pub(crate) async fn ticket_by_id(tx: &mut Tx, id: &str) -> Result<Option<Ticket>, StoreError> {
    let row = db::query(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.as_ref().map(ticket_row).transpose()?)
}

impl Store {
    /// Creates or updates the ticket with this reference; `true` when it was created.
    #[tracing::instrument(name = "store upsert ticket", skip_all, fields(customer = %t.customer_id))]
    pub async fn upsert_ticket(
        &self,
        t: TicketUpsert<'_>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(Ticket, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let existing = db::query(&format!(
            "{COLUMNS} WHERE customer_id = $1 AND external_ref = $2"
        ))
        .bind(t.customer_id)
        .bind(t.external_ref)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(ticket_row)
        .transpose()?;
        let created = existing.is_none();
        let id = match &existing {
            Some(e) => {
                db::query(
                    "UPDATE tickets SET subject = $2, priority = $3, status = $4, updated_at = $5 \
                     WHERE id = $1",
                )
                .bind(&e.id)
                .bind(t.subject)
                .bind(t.priority.as_str())
                .bind(t.status)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                if e.priority != t.priority {
                    let on = On {
                        ticket: &e.id,
                        incident: None,
                        alert: None,
                    };
                    event(
                        &mut tx,
                        on,
                        now,
                        TimelineKind::TicketPriorityChanged,
                        Some(actor),
                        serde_json::json!({ "from": e.priority, "to": t.priority }),
                    )
                    .await?;
                }
                if matches!(t.status, "resolved" | "closed") {
                    // A closed ticket owes nobody anything: its wait, if any, ends here.
                    resume_tx(&mut tx, &e.id, None, actor, ResumedBecause::Resolved, now).await?;
                }
                e.id.clone()
            }
            None => {
                let id = new_id();
                db::query(
                    "INSERT INTO tickets (id, customer_id, external_ref, subject, priority, status, \
                     source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'helpdesk', $7, $7)",
                )
                .bind(&id)
                .bind(t.customer_id)
                .bind(t.external_ref)
                .bind(t.subject)
                .bind(t.priority.as_str())
                .bind(t.status)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        let ticket = ticket_by_id(&mut tx, &id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
        tx.commit().await?;
        Ok((ticket, created))
    }

    pub async fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row = db::query(&format!("{COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(ticket_row).transpose()?)
    }

    pub async fn list_tickets(&self, customer_id: Option<&str>) -> Result<Vec<Ticket>, StoreError> {
        let rows = db::query(&format!(
            "{COLUMNS} WHERE (customer_id = $1 OR $1 IS NULL) ORDER BY updated_at DESC, id"
        ))
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(ticket_row).collect::<Result<_, _>>()?)
    }
}

/// The answer to a pause or resume request.
#[derive(Debug, Clone)]
pub enum ClockChange {
    /// Done; the ticket as it now stands.
    Applied(Ticket),
    NotFound,
    /// A pause of a ticket that already waits.
    AlreadyWaiting {
        since: DateTime<Utc>,
    },
    /// A resume of a ticket that does not wait.
    NotWaiting,
    /// A pause of a ticket the helpdesk closed (`resolved`, `closed`).
    TicketClosed(String),
}

impl Store {
    /// Puts the ticket in `waiting_on_customer`: its resolution clock stops until it is
    /// resumed. `incident_id` names the incident the request came through (its timeline gets
    /// the event); otherwise the ticket's open incident, if any, does.
    #[tracing::instrument(name = "store wait on customer", skip_all, fields(ticket = %ticket_id, incident = incident_id))]
    pub async fn wait_on_customer(
        &self,
        ticket_id: &str,
        incident_id: Option<&str>,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ClockChange, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(ticket) = ticket_by_id(&mut tx, ticket_id).await? else {
            return Ok(ClockChange::NotFound);
        };
        if let Some(since) = ticket.waiting_on_customer_since {
            return Ok(ClockChange::AlreadyWaiting { since });
        }
        if matches!(ticket.status.as_str(), "resolved" | "closed") {
            return Ok(ClockChange::TicketClosed(ticket.status));
        }
        let inserted = db::query(
            "INSERT INTO ticket_pauses (id, ticket_id, incident_id, paused_at, paused_by, reason) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(new_id())
        .bind(ticket_id)
        .bind(incident_id)
        .bind(millis(now))
        .bind(actor)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Paused by a concurrent request that committed after our read.
            return Ok(ClockChange::AlreadyWaiting { since: now });
        }
        let incident = match incident_id {
            Some(i) => Some(i.to_owned()),
            None => open_incident_of(&mut tx, ticket_id).await?,
        };
        let detail = json!({ "reason": reason });
        let on = On {
            ticket: ticket_id,
            incident: incident.as_deref(),
            alert: None,
        };
        event(
            &mut tx,
            on,
            now,
            TimelineKind::TicketWaitingOnCustomer,
            Some(actor),
            detail.clone(),
        )
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            "ticket.waiting_on_customer",
            "ticket",
            ticket_id,
            detail,
        )
        .await?;
        let ticket = ticket_by_id(&mut tx, ticket_id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
        tx.commit().await?;
        Ok(ClockChange::Applied(ticket))
    }

    /// Ends the ticket's wait on its customer (an agent resumes): the clock runs again.
    #[tracing::instrument(name = "store resume ticket", skip_all, fields(ticket = %ticket_id, incident = incident_id))]
    pub async fn resume_ticket(
        &self,
        ticket_id: &str,
        incident_id: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ClockChange, StoreError> {
        let mut tx = self.begin_write().await?;
        if ticket_by_id(&mut tx, ticket_id).await?.is_none() {
            return Ok(ClockChange::NotFound);
        }
        if !resume_tx(
            &mut tx,
            ticket_id,
            incident_id,
            actor,
            ResumedBecause::Agent,
            now,
        )
        .await?
        {
            return Ok(ClockChange::NotWaiting);
        }
        let ticket = ticket_by_id(&mut tx, ticket_id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
        tx.commit().await?;
        Ok(ClockChange::Applied(ticket))
    }
}
