//! Panic intake in one transaction: idempotency claim, ticket, incident, timeline, and the
//! first page deliveries (the outbox). Also the reads that let a customer follow its alert.
//!
//! A press never ends with nobody paged and nobody told: joining an incident whose escalation
//! ran out restarts it, and the answer's `paged` says plainly when nobody could be reached.
//! A customer past its flood guard joins its newest open incident instead of opening more.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::escalation::{
    escalate_from, parse_policy, restart_if_unanswered, PageContext, PagedPerson,
};
pub use super::incident_row::IncidentRow;
use super::incident_row::{incident_row, INCIDENT_COLUMNS};
use super::timeline::{event, On};
use super::waiting::{resume_tx, ResumedBecause};
use super::{
    db, decode_error, from_millis, millis, new_id, row_chunks, value_rows, Backend, Store,
    StoreError, Tx,
};
use crate::domain::escalation::{EscalationPolicy, Position};
use crate::domain::incident::{open_key, IncidentState};
use crate::domain::p1_definition::{Classification, P1Answers};
use crate::domain::priority::Priority;
use crate::domain::sla::TierSla;
use crate::domain::timeline::TimelineKind;

/// A validated panic press, classified, ready to record. Owned: it waits in the intake queue
/// for its turn in a group commit (see [`super::group_commit`]).
pub struct NewAlert {
    pub customer_id: String,
    pub user_id: String,
    pub device_id: String,
    pub tier_id: String,
    pub idempotency_key: String,
    /// Digest of the canonical request body: the same key with another body is refused.
    pub request_digest: String,
    pub summary: String,
    pub details: Option<String>,
    pub affected_service: String,
    pub answers: P1Answers,
    pub ticket_ref: Option<String>,
    pub app_local_time: Option<String>,
    pub classification: Classification,
    pub flood: FloodGuard,
}

impl NewAlert {
    /// Its idempotency key as [`stored_keys`] names it: (user id, key).
    pub(crate) fn key(&self) -> (String, String) {
        (self.user_id.clone(), self.idempotency_key.clone())
    }

    fn press(&self, alert_id: &str) -> Press<'_> {
        Press {
            alert_id: Some(alert_id.to_owned()),
            customer_id: &self.customer_id,
            tier_id: &self.tier_id,
            summary: &self.summary,
            affected_service: &self.affected_service,
            flood: self.flood,
        }
    }
}

/// What recording a P1 needs of whatever raised it: the app's press, or the customer's answer
/// on an escalation link (`store::escalation_links`), which has no alert row of its own.
pub(crate) struct Press<'a> {
    /// The alert row this press is recorded as; `None` for an escalation link's answer.
    pub alert_id: Option<String>,
    pub customer_id: &'a str,
    pub tier_id: &'a str,
    pub summary: &'a str,
    pub affected_service: &'a str,
    pub flood: FloodGuard,
}

/// Intake limits (`[intake]`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    /// A customer with this many incidents opened within `flood_window_secs` and still open
    /// gets no more: further presses for new services join the newest of them. 4294967295
    /// turns the guard off.
    pub flood_max_open: u32,
    pub flood_window_secs: u64,
    /// How long the answer to a press is kept for replay under its idempotency key, in hours
    /// (at least 24).
    pub idempotency_retention_hours: u64,
    /// How often to prune expired idempotency keys, in milliseconds.
    pub idempotency_prune_interval_ms: u64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            flood_max_open: 5,
            flood_window_secs: 300,
            idempotency_retention_hours: 48,
            idempotency_prune_interval_ms: 600_000,
        }
    }
}

impl IntakeSettings {
    pub fn flood_guard(&self) -> FloodGuard {
        FloodGuard {
            max_open: self.flood_max_open,
            window: chrono::Duration::seconds(self.flood_window_secs.min(i64::MAX as u64) as i64),
        }
    }
}

/// Past `max_open` incidents of one customer opened within `window` and still open, a press
/// for yet another service joins the newest of them instead of opening one more: a flood of
/// presses (a broken script, a panicking office) keeps one incident paging, not dozens.
#[derive(Debug, Clone, Copy)]
pub struct FloodGuard {
    pub max_open: u32,
    pub window: chrono::Duration,
}

impl FloodGuard {
    /// `max_open = 4294967295` turns the guard off (the benchmark does, so that every press
    /// opens an incident); the count is then not taken at all. Otherwise it costs at most
    /// `max_open` index entries.
    pub fn is_off(self) -> bool {
        self.max_open == u32::MAX
    }
}

/// Why a press joined an open incident instead of opening one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinReason {
    /// The incident is open for the same service.
    SameService,
    /// The press referenced the incident's ticket.
    SameTicket,
    /// The customer has too many incidents open from the last minutes: see [`FloodGuard`].
    Flood,
}

/// What the press did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOutcome {
    /// A new ticket and incident.
    Opened,
    /// Joined an open incident of the customer: same service, same ticket, or the newest one
    /// when the customer is flooding (see [`JoinReason`]).
    Joined,
    /// The referenced ticket was raised to P1 and an incident opened on it.
    Escalated,
    /// Not P1: a P2 ticket, nobody paged.
    TicketOnly,
}

impl AlertOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AlertOutcome::Opened => "opened",
            AlertOutcome::Joined => "joined",
            AlertOutcome::Escalated => "escalated",
            AlertOutcome::TicketOnly => "ticket_only",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertRecord {
    /// The press's alert row; `None` when an escalation link raised it.
    pub alert_id: Option<String>,
    pub ticket_ref: String,
    pub priority: Priority,
    pub outcome: AlertOutcome,
    pub incident: Option<IncidentRow>,
    /// Who this press paged: for a new incident the account manager, or whoever the first
    /// step with a deliverable device reached, else the support managers; for a press joining
    /// an incident nobody was being paged for, whoever the restart reached. Empty otherwise.
    pub paging: Vec<PagedPerson>,
    /// Someone is being paged for the incident, or has acknowledged it. `false` for a P1 that
    /// reached nobody (and for tickets without an incident).
    pub paged: bool,
    /// Set when the press joined an open incident.
    pub join_reason: Option<JoinReason>,
    /// Escalation of the joined incident had run out and started again from the first step.
    pub restarted: bool,
}

/// The recorded answer of a press.
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

impl Intake {
    /// Whether what recording this press wrote may be committed: only a press recorded anew.
    /// A refused press keeps nothing (an unknown ticket leaves its key free), and a press
    /// that found its key taken only when it stored its answer (by a press of the same batch,
    /// or by another gateway that committed first) is undone and answered with the stored
    /// answer.
    pub(crate) fn keeps(&self) -> bool {
        matches!(self, Intake::Recorded { .. })
    }
}

/// What was stored under an idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    digest: String,
    status: Option<i64>,
    body: Option<String>,
}

impl StoredKey {
    /// The answer to `alert`, whose key this is: the stored answer again, or the key reused
    /// for another request.
    fn answer(&self, alert: &NewAlert) -> Result<Intake, StoreError> {
        if self.digest != alert.request_digest {
            return Ok(Intake::KeyReused);
        }
        match (self.status, &self.body) {
            (Some(status), Some(body)) => Ok(Intake::Replay(StoredResponse {
                status: status as u16,
                body: body.clone(),
            })),
            // A key is stored together with its answer, so a stored key has one.
            _ => Err(StoreError::Database(decode_error(
                "idempotency_keys.response",
                "NULL",
            ))),
        }
    }
}

/// The keys of `alerts` already stored, as (user id, key) -> what was stored: one statement
/// for a whole batch (a few for a large one), where each press used to claim its key with a
/// statement of its own.
pub(crate) async fn stored_keys(
    tx: &mut Tx,
    alerts: &[&NewAlert],
) -> Result<HashMap<(String, String), StoredKey>, StoreError> {
    let mut stored = HashMap::new();
    for chunk in row_chunks(alerts) {
        let sql = format!(
            "SELECT user_id, idem_key, request_digest, response_status, response_body \
             FROM idempotency_keys WHERE (user_id, idem_key) IN ({})",
            value_rows(chunk.len(), 2, 0)
        );
        let mut query = db::query(&sql);
        for alert in chunk {
            query = query
                .bind(alert.user_id.clone())
                .bind(alert.idempotency_key.clone());
        }
        for row in query.fetch_all(&mut **tx).await? {
            stored.insert(
                (row.try_get("user_id")?, row.try_get("idem_key")?),
                StoredKey {
                    digest: row.try_get("request_digest")?,
                    status: row.try_get("response_status")?,
                    body: row.try_get("response_body")?,
                },
            );
        }
    }
    Ok(stored)
}

/// What is stored under the key of `alert`, if anything ([`stored_keys`] for one press).
pub(crate) async fn stored_key(
    tx: &mut Tx,
    alert: &NewAlert,
) -> Result<Option<StoredKey>, StoreError> {
    Ok(stored_keys(tx, &[alert]).await?.remove(&alert.key()))
}

pub enum Intake {
    /// A new press, recorded; `pages` deliveries were queued.
    Recorded {
        response: StoredResponse,
        pages: usize,
    },
    /// The same key and body again: the first answer.
    Replay(StoredResponse),
    /// The same key with a different body.
    KeyReused,
    /// `ticket_ref` names no ticket of this customer.
    UnknownTicket,
}

/// A timeline entry.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: serde_json::Value,
}

/// A press as its customer sees it later.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: String,
    pub customer_id: String,
    pub summary: String,
    pub affected_service: String,
    pub priority: String,
    pub outcome: String,
    pub classification: serde_json::Value,
    pub ticket_ref: String,
    pub incident_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The ticket a press names, as the intake needs it.
pub(crate) struct TicketRow {
    pub id: String,
    pub external_ref: String,
    pub priority: Priority,
}

impl From<&super::tickets::Ticket> for TicketRow {
    fn from(t: &super::tickets::Ticket) -> Self {
        Self {
            id: t.id.clone(),
            external_ref: t.external_ref.clone(),
            priority: t.priority,
        }
    }
}

/// A ticket reference for a ticket the gateway opens.
fn new_ticket_ref() -> String {
    crate::domain::ticket_ref::TicketRef::generate()
        .as_str()
        .to_owned()
}

/// Turns the record of a press into its HTTP answer (stored under the idempotency key).
pub type Render = Box<dyn Fn(&AlertRecord) -> StoredResponse + Send + Sync>;

impl Store {
    /// Records a panic press: all of it or nothing, and exactly once per idempotency key.
    ///
    /// `render` turns the record into the HTTP answer, which is stored under the key in the
    /// same transaction so a retry gets the same bytes back. The press waits for its turn in a
    /// group commit (see [`super::group_commit`]) and is answered only once that commit is
    /// durable. On PostgreSQL a concurrent request with the same key from another gateway
    /// waits on the key's row and then replays.
    #[tracing::instrument(name = "store record alert", skip_all, fields(customer = %alert.customer_id, device = %alert.device_id, tier = %alert.tier_id))]
    pub async fn record_alert(
        &self,
        alert: NewAlert,
        now: DateTime<Utc>,
        render: Render,
    ) -> Result<Intake, StoreError> {
        self.intake().submit(alert, now, render).await
    }
}

/// Records one press inside `tx` (one of a group commit's presses). Returns `Ok` with an
/// outcome that wrote nothing for a reused key or an unknown ticket: the caller must then
/// roll its part back (see [`Intake::keeps`]).
pub(crate) async fn record_press(
    tx: &mut Tx,
    backend: Backend,
    alert: &NewAlert,
    stored: Option<&StoredKey>,
    now: DateTime<Utc>,
    render: &Render,
) -> Result<Intake, StoreError> {
    // `stored`: what its key held when the batch began ([`stored_keys`]).
    if let Some(stored) = stored {
        return stored.answer(alert);
    }
    let ticket = match &alert.ticket_ref {
        Some(reference) => match find_ticket(tx, &alert.customer_id, reference).await? {
            Some(t) => Some(t),
            None => return Ok(Intake::UnknownTicket),
        },
        None => None,
    };
    let alert_id = new_id();
    let actor = format!("device:{}", alert.device_id);
    let press = alert.press(&alert_id);
    let (record, pages) = if alert.classification.is_p1() {
        record_p1(tx, backend, &press, ticket, &actor, now).await?
    } else {
        (record_not_p1(tx, &press, ticket, &actor, now).await?, 0)
    };

    let (ticket_id, incident_id): (String, Option<String>) = match &record.incident {
        Some(i) => (i.ticket_id.clone(), Some(i.id.clone())),
        None => (
            db::query_scalar("SELECT id FROM tickets WHERE customer_id = $1 AND external_ref = $2")
                .bind(&alert.customer_id)
                .bind(&record.ticket_ref)
                .fetch_one(&mut **tx)
                .await?,
            None,
        ),
    };
    let insert = db::query(
        "INSERT INTO alerts (id, customer_id, user_id, device_id, summary, details, \
             affected_service, answers, app_local_time, priority, classification, outcome, \
             ticket_id, incident_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&alert_id)
    .bind(&alert.customer_id)
    .bind(&alert.user_id)
    .bind(&alert.device_id)
    .bind(&alert.summary)
    .bind(&alert.details)
    .bind(&alert.affected_service)
    .bind(serde_json::to_string(&alert.answers).unwrap_or_default())
    .bind(&alert.app_local_time)
    .bind(alert.classification.priority.as_str())
    .bind(serde_json::to_string(&alert.classification).unwrap_or_default())
    .bind(record.outcome.as_str())
    .bind(&ticket_id)
    .bind(&incident_id)
    .bind(millis(now));
    tx.defer(insert, "alert");
    // The customer is back: whatever they owed us, the clock runs again. (A ticket this
    // press opened owes nothing.)
    if record.outcome != AlertOutcome::Opened {
        resume_tx(
            tx,
            &ticket_id,
            incident_id.as_deref(),
            &actor,
            ResumedBecause::Customer,
            now,
        )
        .await?;
    }
    event(
        tx,
        On {
            ticket: &ticket_id,
            incident: incident_id.as_deref(),
            alert: Some(&alert_id),
        },
        now,
        TimelineKind::Classified,
        Some(&actor),
        json!({
            "priority": alert.classification.priority,
            "matched_rule": alert.classification.matched_rule,
            "unmet_criteria": alert.classification.unmet_criteria,
        }),
    )
    .await?;

    // The key and its answer in one statement, at the end. Taken meanwhile (a press of the
    // same batch with the same key, or, on PostgreSQL, another gateway's press, waited for
    // until it committed): this press is undone and answered as that one was.
    let response = render(&record);
    let claim = db::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_digest, created_at, \
         response_status, response_body) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(&alert.user_id)
    .bind(&alert.idempotency_key)
    .bind(&alert.request_digest)
    .bind(millis(now))
    .bind(i64::from(response.status))
    .bind(&response.body);
    tx.defer(claim, "key");
    // The press's writes (ticket, incident, escalation position, alert, key) were deferred
    // and go here, together: on SQLite one hand-off to the connection's worker thread where
    // there were five; on PostgreSQL (where the ticket and incident went already) one round
    // trip where there were three.
    let done = tx.flush().await?;
    if done.contains(&("incident", 0)) {
        return Err(StoreError::Database(decode_error(
            "incidents.open_key",
            "an open incident that the press's read did not see",
        )));
    }
    let claimed = done.contains(&("key", 1));
    if !claimed {
        return match stored_key(tx, alert).await? {
            Some(stored) => stored.answer(alert),
            None => Err(StoreError::Database(decode_error(
                "idempotency_keys",
                "a key that conflicted and is not there",
            ))),
        };
    }
    Ok(Intake::Recorded { response, pages })
}

impl Store {
    /// Deletes at most `limit` idempotency keys created before `cutoff`; returns how many.
    #[tracing::instrument(name = "store prune idempotency keys", skip_all, fields(limit = limit))]
    pub async fn prune_idempotency_keys(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let done = self
            .write_one(
                db::query(
                    "DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN \
                     (SELECT user_id, idem_key FROM idempotency_keys WHERE created_at < $1 \
                     LIMIT $2)",
                )
                .bind(millis(cutoff))
                .bind(i64::from(limit)),
            )
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn incident(&self, id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let row = db::query(&format!("{INCIDENT_COLUMNS} WHERE i.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(incident_row).transpose()?)
    }

    /// The incident's timeline, oldest first, including the events of its ticket from
    /// before the incident existed.
    pub async fn timeline(&self, incident: &IncidentRow) -> Result<Vec<TimelineEvent>, StoreError> {
        let rows = db::query(
            "SELECT at, kind, actor, detail FROM incident_events \
             WHERE incident_id = $1 OR (ticket_id = $2 AND incident_id IS NULL AND at >= $3) \
             ORDER BY at, id",
        )
        .bind(&incident.id)
        .bind(&incident.ticket_id)
        .bind(millis(incident.created_at))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(TimelineEvent {
                    at: from_millis(r.try_get("at")?),
                    kind: r.try_get("kind")?,
                    actor: r.try_get("actor")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// A responder is involved when they are the customer's account manager or were paged.
    pub async fn is_involved(
        &self,
        user_id: &str,
        incident: &IncidentRow,
    ) -> Result<bool, StoreError> {
        let n: i64 = db::query_scalar(
            "SELECT (SELECT COUNT(*) FROM customers WHERE id = $2 AND account_manager_id = $1) \
             + (SELECT COUNT(*) FROM deliveries WHERE incident_id = $3 AND user_id = $1)",
        )
        .bind(user_id)
        .bind(&incident.customer_id)
        .bind(&incident.id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn alert(&self, id: &str) -> Result<Option<AlertView>, StoreError> {
        let row = db::query(
            "SELECT a.id, a.customer_id, a.summary, a.affected_service, a.priority, a.outcome, \
             a.classification, t.external_ref, a.incident_id, a.created_at \
             FROM alerts a JOIN tickets t ON t.id = a.ticket_id WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let classification: String = r.try_get("classification")?;
        Ok(Some(AlertView {
            id: r.try_get("id")?,
            customer_id: r.try_get("customer_id")?,
            summary: r.try_get("summary")?,
            affected_service: r.try_get("affected_service")?,
            priority: r.try_get("priority")?,
            outcome: r.try_get("outcome")?,
            classification: serde_json::from_str(&classification).unwrap_or_default(),
            ticket_ref: r.try_get("external_ref")?,
            incident_id: r.try_get("incident_id")?,
            created_at: from_millis(r.try_get("created_at")?),
        }))
    }

    /// Refused presses leave only this trace.
    #[tracing::instrument(name = "store audit refused alert", skip_all, fields(device = %device_id, customer = %customer_id))]
    pub async fn audit_refused_alert(
        &self,
        device_id: &str,
        customer_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        super::audit(
            &mut tx,
            now,
            &format!("device:{device_id}"),
            "alert.refused",
            "customer",
            customer_id,
            json!({ "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn find_ticket(
    tx: &mut Tx,
    customer_id: &str,
    reference: &str,
) -> Result<Option<TicketRow>, StoreError> {
    let row = db::query(
        "SELECT id, external_ref, priority FROM tickets WHERE customer_id = $1 AND external_ref = $2",
    )
    .bind(customer_id)
    .bind(reference)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let priority: String = r.try_get("priority")?;
    Ok(Some(TicketRow {
        id: r.try_get("id")?,
        external_ref: r.try_get("external_ref")?,
        priority: Priority::parse(&priority)
            .ok_or_else(|| decode_error("tickets.priority", &priority))?,
    }))
}

async fn create_ticket(
    tx: &mut Tx,
    customer_id: &str,
    subject: &str,
    priority: Priority,
    now: DateTime<Utc>,
) -> Result<TicketRow, sqlx::Error> {
    let ticket = TicketRow {
        id: new_id(),
        external_ref: new_ticket_ref(),
        priority,
    };
    let insert = db::query(
        "INSERT INTO tickets (id, customer_id, external_ref, subject, priority, status, source, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'open', 'panic', $6, $6)",
    )
    .bind(&ticket.id)
    .bind(customer_id)
    .bind(&ticket.external_ref)
    .bind(subject)
    .bind(priority.as_str())
    .bind(millis(now));
    tx.defer(insert, "ticket");
    Ok(ticket)
}

/// Raises `ticket` to at least `to`, recording the change; never lowers it.
async fn raise_ticket(
    tx: &mut Tx,
    ticket: &TicketRow,
    to: Priority,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let raised = ticket.priority.raised_to(to);
    if raised == ticket.priority {
        return Ok(());
    }
    db::query("UPDATE tickets SET priority = $2, status = 'open', updated_at = $3 WHERE id = $1")
        .bind(&ticket.id)
        .bind(raised.as_str())
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    event(
        tx,
        On {
            ticket: &ticket.id,
            incident: None,
            alert: None,
        },
        now,
        TimelineKind::TicketPriorityChanged,
        Some(actor),
        json!({ "from": ticket.priority, "to": raised }),
    )
    .await
}

/// The referenced ticket raised to `priority`, or a new ticket at it; `true` when created.
async fn ticket_for_press(
    tx: &mut Tx,
    press: &Press<'_>,
    referenced: Option<TicketRow>,
    priority: Priority,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(TicketRow, bool), StoreError> {
    if let Some(t) = referenced {
        raise_ticket(tx, &t, priority, actor, now).await?;
        return Ok((t, false));
    }
    let t = create_ticket(tx, press.customer_id, press.summary, priority, now).await?;
    let on = On {
        ticket: &t.id,
        incident: None,
        alert: press.alert_id.as_deref(),
    };
    event(
        tx,
        on,
        now,
        TimelineKind::TicketCreated,
        Some(actor),
        json!({ "priority": priority }),
    )
    .await?;
    Ok((t, true))
}

async fn record_not_p1(
    tx: &mut Tx,
    press: &Press<'_>,
    ticket: Option<TicketRow>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<AlertRecord, StoreError> {
    let (ticket, _) = ticket_for_press(tx, press, ticket, Priority::P2, actor, now).await?;
    Ok(AlertRecord {
        alert_id: press.alert_id.clone(),
        ticket_ref: ticket.external_ref,
        priority: Priority::P2,
        outcome: AlertOutcome::TicketOnly,
        incident: None,
        paging: Vec::new(),
        paged: false,
        join_reason: None,
        restarted: false,
    })
}

/// What decides where a P1 press goes, read in one statement: the open incident of the
/// referenced ticket, the open incident for the service, and how many incidents the customer
/// opened within the flood window that are still open (counted up to the guard's threshold,
/// so a customer with thousands open costs no more than one with a few).
struct OpenIncidents {
    by_ticket: Option<String>,
    by_service: Option<String>,
    recent: i64,
}

async fn open_incidents(
    tx: &mut Tx,
    customer_id: &str,
    key: &str,
    ticket_id: Option<&str>,
    guard: FloodGuard,
    now: DateTime<Utc>,
) -> Result<OpenIncidents, sqlx::Error> {
    // Each part only when it can matter: a subquery for a ticket the press does not name, or
    // a count for a guard that is off, costs PostgreSQL a generic plan over every incident.
    let by_ticket = match ticket_id {
        Some(_) => {
            "(SELECT id FROM incidents WHERE ticket_id = $3 AND state <> 'resolved' LIMIT 1)"
        }
        None => "CAST(NULL AS TEXT)",
    };
    // The guard's parameters follow the ticket's when there is one.
    let after = if ticket_id.is_some() { 3 } else { 2 };
    let recent = if guard.is_off() {
        "0".to_owned()
    } else {
        format!(
            "(SELECT COUNT(*) FROM (SELECT 1 FROM incidents WHERE customer_id = $1 \
             AND state <> 'resolved' AND created_at > ${} LIMIT ${}) AS r)",
            after + 1,
            after + 2
        )
    };
    let sql = format!(
        "SELECT {by_ticket} AS by_ticket, \
         (SELECT id FROM incidents WHERE customer_id = $1 AND open_key = $2) AS by_service, \
         {recent} AS recent"
    );
    let mut query = db::query(&sql).bind(customer_id).bind(key);
    if let Some(ticket_id) = ticket_id {
        query = query.bind(ticket_id);
    }
    if !guard.is_off() {
        query = query
            .bind(millis(now - guard.window))
            .bind(i64::from(guard.max_open));
    }
    let row = query.fetch_one(&mut **tx).await?;
    Ok(OpenIncidents {
        by_ticket: row.try_get("by_ticket")?,
        by_service: row.try_get("by_service")?,
        recent: row.try_get("recent")?,
    })
}

impl OpenIncidents {
    /// The incident a press joins without the flood guard, and why.
    fn joined(self) -> Option<(String, JoinReason)> {
        match (self.by_ticket, self.by_service) {
            (Some(id), _) => Some((id, JoinReason::SameTicket)),
            (None, Some(id)) => Some((id, JoinReason::SameService)),
            (None, None) => None,
        }
    }
}

/// The customer's newest open incident: where a press past the flood guard goes.
async fn newest_open(tx: &mut Tx, customer_id: &str) -> Result<Option<String>, sqlx::Error> {
    db::query_scalar(
        "SELECT id FROM incidents WHERE customer_id = $1 AND state <> 'resolved' \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(customer_id)
    .fetch_optional(&mut **tx)
    .await
}

/// What paging a new incident needs of its customer and tier, read in one statement.
pub(crate) struct CustomerFacts {
    name: String,
    account_manager: Option<String>,
    policy: EscalationPolicy,
    sla: TierSla,
}

/// What paging needs of `customer_id` on `tier_id`, read once per transaction; `lock` takes
/// the customer's row lock with the read (PostgreSQL).
async fn customer_facts(
    tx: &mut Tx,
    customer_id: &str,
    tier_id: &str,
    lock: bool,
) -> Result<Arc<CustomerFacts>, StoreError> {
    if let Some(known) = tx.known_customer(customer_id, tier_id) {
        return Ok(known);
    }
    let sql = format!(
        "SELECT c.name, c.account_manager_id, \
         (SELECT definition FROM escalation_policies WHERE customer_id = c.id LIMIT 1) AS own, \
         (SELECT definition FROM escalation_policies WHERE tier_id = $2 LIMIT 1) AS tier_policy, \
         (SELECT sla FROM tiers WHERE id = $2) AS sla \
         FROM customers c WHERE c.id = $1{}",
        if lock { " FOR UPDATE OF c" } else { "" }
    );
    let row = db::query(&sql)
        .bind(customer_id)
        .bind(tier_id)
        .fetch_one(&mut **tx)
        .await?;
    let own: Option<String> = row.try_get("own")?;
    let tier_policy: Option<String> = row.try_get("tier_policy")?;
    let sla: Option<String> = row.try_get("sla")?;
    let facts = Arc::new(CustomerFacts {
        name: row.try_get("name")?,
        account_manager: row.try_get("account_manager_id")?,
        policy: parse_policy(own.or(tier_policy).as_deref())?,
        sla: TierSla::from_stored(tier_id, sla.as_deref().unwrap_or("{}")),
    });
    tx.remember_customer(customer_id, tier_id, facts.clone());
    Ok(facts)
}

/// Adds a press to an open incident: counted and shown in its timeline, with the reason. While
/// the incident is being paged or is acknowledged nobody is paged again; when nobody is being
/// paged for it any more (its escalation ran out, or it never reached anyone), escalation
/// starts again from the first step.
async fn join_incident(
    tx: &mut Tx,
    incident_id: &str,
    reason: JoinReason,
    press: &Press<'_>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(AlertRecord, usize), StoreError> {
    db::query("UPDATE incidents SET alert_count = alert_count + 1, updated_at = $2 WHERE id = $1")
        .bind(incident_id)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    let row = db::query(&format!("{INCIDENT_COLUMNS} WHERE i.id = $1"))
        .bind(incident_id)
        .fetch_one(&mut **tx)
        .await?;
    let incident = incident_row(&row)?;
    event(
        tx,
        On {
            ticket: &incident.ticket_id,
            incident: Some(incident_id),
            alert: press.alert_id.as_deref(),
        },
        now,
        TimelineKind::Joined,
        Some(actor),
        json!({
            "alert_count": incident.alert_count, "reason": reason,
            "affected_service": press.affected_service,
        }),
    )
    .await?;
    let restart = restart_if_unanswered(tx, incident_id, actor, now).await?;
    let restarted = restart.is_some();
    let (paging, pages, paged) = match restart {
        Some(e) => (e.paged, e.pages, e.pages > 0),
        None => (Vec::new(), 0, true),
    };
    let incident = if restarted {
        let row = db::query(&format!("{INCIDENT_COLUMNS} WHERE i.id = $1"))
            .bind(incident_id)
            .fetch_one(&mut **tx)
            .await?;
        incident_row(&row)?
    } else {
        incident
    };
    Ok((
        AlertRecord {
            alert_id: press.alert_id.clone(),
            ticket_ref: incident.ticket_ref.clone(),
            priority: Priority::P1,
            outcome: AlertOutcome::Joined,
            incident: Some(incident),
            paging,
            paged,
            join_reason: Some(reason),
            restarted,
        },
        pages,
    ))
}

/// Records a P1: joins the open incident of the ticket or service (or the flood guard's), or
/// raises the ticket (or opens one) and opens an incident paging along the policy for
/// `press.tier_id`. The one P1 path of the gateway: the app's press and the customer's answer
/// on an escalation link both come here, inside the caller's transaction.
pub(crate) async fn record_p1(
    tx: &mut Tx,
    backend: Backend,
    press: &Press<'_>,
    ticket: Option<TicketRow>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(AlertRecord, usize), StoreError> {
    // One P1 intake per customer at a time on PostgreSQL, so concurrent presses cannot all
    // slip under the flood guard's count (SQLite runs write transactions one at a time): the
    // customer's row is locked by the read of what paging needs, once per transaction.
    let mut facts = None;
    if backend == Backend::Postgres {
        facts = Some(customer_facts(tx, press.customer_id, press.tier_id, true).await?);
    }
    let key = open_key(press.customer_id, press.affected_service);
    let open = open_incidents(
        tx,
        press.customer_id,
        &key,
        ticket.as_ref().map(|t| t.id.as_str()),
        press.flood,
        now,
    )
    .await?;
    let flooded = open.recent >= i64::from(press.flood.max_open);
    let mut existing = open.joined();
    if existing.is_none() && flooded {
        existing = newest_open(tx, press.customer_id)
            .await?
            .map(|id| (id, JoinReason::Flood));
    }
    if let Some((existing, reason)) = existing {
        if let Some(t) = &ticket {
            raise_ticket(tx, t, Priority::P1, actor, now).await?;
        }
        return join_incident(tx, &existing, reason, press, actor, now).await;
    }

    let (ticket, created) = ticket_for_press(tx, press, ticket, Priority::P1, actor, now).await?;
    let outcome = if created {
        AlertOutcome::Opened
    } else {
        AlertOutcome::Escalated
    };
    let incident_id = new_id();
    let facts = match facts {
        Some(facts) => facts,
        None => customer_facts(tx, press.customer_id, press.tier_id, false).await?,
    };
    let (policy, sla) = (&facts.policy, &facts.sla);
    let insert = db::query(
        "INSERT INTO incidents (id, customer_id, ticket_id, tier_id, affected_service, open_key, \
         state, summary, policy, ack_due_at, respond_due_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'triggered', $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (open_key) DO NOTHING",
    )
    .bind(&incident_id)
    .bind(press.customer_id)
    .bind(&ticket.id)
    .bind(press.tier_id)
    .bind(press.affected_service)
    .bind(&key)
    .bind(press.summary)
    .bind(serde_json::to_string(policy).unwrap_or_default())
    .bind(millis(sla.internal_deadline(now)))
    .bind(millis(sla.external_deadline(now)))
    .bind(millis(now));
    // Deferred with the press's other writes (see `record_press`). On PostgreSQL another
    // gateway may have opened an incident for the key since the read above (PostgreSQL waits
    // for that press to commit), so the ticket and the incident go now, in one statement, to
    // know. On SQLite nothing else writes within the write turn and the read found no open
    // incident for the key, so it cannot conflict.
    tx.defer(insert, "incident");
    if backend == Backend::Postgres {
        tx.send_deferred().await?;
    }
    if tx.take_done("incident") == Some(0) {
        // Opened meanwhile by a concurrent press (PostgreSQL waited for it to commit).
        let existing = open_incidents(tx, press.customer_id, &key, None, press.flood, now)
            .await?
            .by_service
            .ok_or_else(|| StoreError::Database(decode_error("incidents.open_key", &key)))?;
        return join_incident(tx, &existing, JoinReason::SameService, press, actor, now).await;
    }
    let on = On {
        ticket: &ticket.id,
        incident: Some(&incident_id),
        alert: press.alert_id.as_deref(),
    };
    event(
        tx,
        on,
        now,
        TimelineKind::Created,
        Some(actor),
        json!({ "outcome": outcome, "affected_service": press.affected_service }),
    )
    .await?;
    let ctx = PageContext {
        incident_id: &incident_id,
        ticket_id: &ticket.id,
        ticket_ref: &ticket.external_ref,
        customer_id: press.customer_id,
        customer_name: &facts.name,
        account_manager: Some(facts.account_manager.as_deref()),
        summary: press.summary,
        affected_service: press.affected_service,
        first_paging: true,
    };
    let escalated = escalate_from(tx, &ctx, policy, Position::FIRST, now).await?;
    let incident = if created {
        // Everything about a new incident on a new ticket is known here: paging it changes
        // only its escalation position, which the answer does not show.
        IncidentRow {
            id: incident_id.clone(),
            customer_id: press.customer_id.to_owned(),
            tier: press.tier_id.to_owned(),
            ticket_id: ticket.id.clone(),
            ticket_ref: ticket.external_ref.clone(),
            state: IncidentState::Triggered,
            summary: press.summary.to_owned(),
            affected_service: press.affected_service.to_owned(),
            alert_count: 1,
            acknowledged_by: None,
            acknowledged_by_name: None,
            acknowledged_at: None,
            resolved_at: None,
            ack_due_at: from_millis(millis(sla.internal_deadline(now))),
            respond_due_at: from_millis(millis(sla.external_deadline(now))),
            created_at: from_millis(millis(now)),
            waiting_on_customer_since: None,
        }
    } else {
        let row = db::query(&format!("{INCIDENT_COLUMNS} WHERE i.id = $1"))
            .bind(&incident_id)
            .fetch_one(&mut **tx)
            .await?;
        incident_row(&row)?
    };
    Ok((
        AlertRecord {
            alert_id: press.alert_id.clone(),
            ticket_ref: ticket.external_ref,
            priority: Priority::P1,
            outcome,
            incident: Some(incident),
            paging: escalated.paged,
            paged: escalated.pages > 0,
            join_reason: None,
            restarted: false,
        },
        escalated.pages,
    ))
}
