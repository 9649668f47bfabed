//! The customer's self-escalation links: the helpdesk asks for one per ticket and puts it in
//! its "we received your request" e-mail; the customer answers the P1 questions on a web page
//! (`web::escalate`) once, and every later visit or submit sees that first answer again.
//!
//! A link's token is 256 random bits, shown once (in the URL) and stored only as its SHA-256
//! digest, as admin keys and refresh tokens are: a copy of the database does not yield working
//! links, and a guess is looked up with a plain read, so a guessing flood never takes SQLite's
//! write turn. The row binds the link to one ticket and the customer owning it.
//!
//! A P1 answer goes through the intake's one P1 path ([`record_p1`]), in the same transaction
//! that marks the link used and keeps its answer: paging and the record of it commit together.
//! An answer that is not P1 changes nothing on the ticket (unlike a press, which files a P2):
//! the helpdesk already triaged it. The customer's tier is read inside that transaction, so a
//! downgrade after the link was issued refuses the answer (audited, the link stays unused).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::incidents::{record_p1, FloodGuard, IncidentRow, Press, TicketRow};
use super::tickets::{ticket_by_id, Ticket};
use super::timeline::{event, On};
use super::waiting::{resume_tx, ResumedBecause};
use super::{audit, db, from_millis, millis, new_id, Store, StoreError, Tx};
use crate::domain::p1_definition::{Classification, P1Answers};
use crate::domain::priority::Priority;
use crate::domain::timeline::TimelineKind;

/// `[escalation_links]`: how long a link works.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationLinkSettings {
    /// Hours from issue until a link stops working (1..=720).
    pub ttl_hours: u64,
}

impl Default for EscalationLinkSettings {
    /// A week: the life of a "we received your request" e-mail that still matters.
    fn default() -> Self {
        Self { ttl_hours: 168 }
    }
}

/// What asking for a link gave.
pub enum Issue {
    Issued {
        id: String,
        expires_at: DateTime<Utc>,
    },
    UnknownTicket,
    /// The ticket's customer is on a tier without the panic button.
    NotInTier {
        tier: String,
    },
}

/// A link as its page shows it.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub id: String,
    pub ticket: Ticket,
    pub customer_name: String,
    pub tier_id: String,
    pub tier_name: String,
    /// The customer's tier has the panic button (and so self-escalation) now.
    pub panic_button: bool,
    pub expires_at: DateTime<Utc>,
    /// The first answer, once the link has been answered.
    pub answer: Option<LinkAnswer>,
    /// The incident the answer raised or joined, as it stands now (who acknowledged).
    pub incident: Option<IncidentRow>,
}

/// Someone the answer paged, as the customer may see them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PagedName {
    pub name: String,
    /// `account_manager`, `on_call:<schedule>`, `support_manager`, …
    pub role: String,
}

/// The first answer to a link, kept to be shown again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkAnswer {
    pub answered_at: DateTime<Utc>,
    pub answers: P1Answers,
    pub affected_service: String,
    pub classification: Classification,
    /// The ticket's priority after the answer (unchanged when not P1).
    pub ticket_priority: Priority,
    pub incident_id: Option<String>,
    /// Someone is being paged for the incident or has acknowledged it.
    pub paged: bool,
    /// Whom this answer paged (empty when it joined an incident already being paged).
    pub paging: Vec<PagedName>,
    /// Escalation of the joined incident had run out and started again.
    pub restarted: bool,
    /// Set when the answer joined an incident that was already open.
    pub joined: bool,
}

/// What a submit did.
pub enum Submitted {
    /// The first answer, recorded; `pages` deliveries were queued.
    Answered {
        answer: Box<LinkAnswer>,
        pages: usize,
    },
    /// The link had been answered before: that answer.
    Replay(Box<LinkAnswer>),
    Unknown,
    Expired,
    /// The customer's tier no longer has the panic button; nothing changed but the audit log.
    NotInTier {
        tier: String,
    },
}

/// A customer's answer to a link, classified by the caller.
pub struct LinkSubmission<'a> {
    pub token_digest: &'a str,
    pub answers: P1Answers,
    /// What is affected; `None` uses the ticket's subject.
    pub affected_service: Option<&'a str>,
    pub classification: &'a Classification,
    pub flood: FloodGuard,
}

/// The longest service name the intake takes (as `POST /v1/alerts` checks it).
pub const SERVICE_MAX_CHARS: usize = 100;

const LINK_COLUMNS: &str = "SELECT l.id, l.ticket_id, l.customer_id, l.expires_at, l.used_at, \
     l.answer, l.incident_id, c.name AS customer_name, c.tier_id, t.name AS tier_name, \
     t.panic_button FROM escalation_links l JOIN customers c ON c.id = l.customer_id \
     JOIN tiers t ON t.id = c.tier_id";

struct LinkRow {
    id: String,
    ticket_id: String,
    customer_id: String,
    customer_name: String,
    tier_id: String,
    tier_name: String,
    panic_button: bool,
    expires_at: DateTime<Utc>,
    answer: Option<LinkAnswer>,
    incident_id: Option<String>,
}

fn link_row(r: &db::Row) -> Result<LinkRow, sqlx::Error> {
    let answer: Option<String> = r.try_get("answer")?;
    let answer = answer
        .map(|a| {
            serde_json::from_str(&a).map_err(|_| super::decode_error("escalation_links.answer", &a))
        })
        .transpose()?;
    Ok(LinkRow {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        customer_id: r.try_get("customer_id")?,
        customer_name: r.try_get("customer_name")?,
        tier_id: r.try_get("tier_id")?,
        tier_name: r.try_get("tier_name")?,
        panic_button: r.try_get::<i64, _>("panic_button")? != 0,
        expires_at: from_millis(r.try_get("expires_at")?),
        // An answered link always has its answer (both are written in one transaction).
        answer,
        incident_id: r.try_get("incident_id")?,
    })
}

impl Store {
    /// Issues a link for `ticket_id` under `token_digest`, audited as `actor`.
    #[tracing::instrument(name = "store issue escalation link", skip_all, fields(ticket = %ticket_id))]
    pub async fn issue_escalation_link(
        &self,
        ticket_id: &str,
        token_digest: &str,
        ttl: chrono::Duration,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Issue, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(ticket) = ticket_by_id(&mut tx, ticket_id).await? else {
            return Ok(Issue::UnknownTicket);
        };
        let row = db::query(
            "SELECT t.id, t.panic_button FROM customers c JOIN tiers t ON t.id = c.tier_id \
             WHERE c.id = $1",
        )
        .bind(&ticket.customer_id)
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<i64, _>("panic_button")? == 0 {
            return Ok(Issue::NotInTier {
                tier: row.try_get("id")?,
            });
        }
        let id = new_id();
        let expires_at = now + ttl;
        db::query(
            "INSERT INTO escalation_links (id, token_hash, ticket_id, customer_id, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(token_digest)
        .bind(&ticket.id)
        .bind(&ticket.customer_id)
        .bind(actor)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            "escalation_link.create",
            "ticket",
            &ticket.id,
            json!({ "link_id": id, "expires_at": expires_at }),
        )
        .await?;
        tx.commit().await?;
        Ok(Issue::Issued { id, expires_at })
    }

    /// The link with this token digest, with its ticket and, once answered, the answer and
    /// its incident as they stand now. Expiry is the caller's to judge.
    pub async fn escalation_link(
        &self,
        token_digest: &str,
    ) -> Result<Option<LinkView>, StoreError> {
        let Some(row) = db::query(&format!("{LINK_COLUMNS} WHERE l.token_hash = $1"))
            .bind(token_digest)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let link = link_row(&row)?;
        let ticket = self
            .ticket(&link.ticket_id)
            .await?
            .filter(|t| t.customer_id == link.customer_id);
        // A link is bound to its customer's ticket; any other pairing is not a link.
        let Some(ticket) = ticket else {
            return Ok(None);
        };
        let incident = match &link.incident_id {
            Some(id) => self.incident(id).await?,
            None => None,
        };
        Ok(Some(LinkView {
            id: link.id,
            ticket,
            customer_name: link.customer_name,
            tier_id: link.tier_id,
            tier_name: link.tier_name,
            panic_button: link.panic_button,
            expires_at: link.expires_at,
            answer: link.answer,
            incident,
        }))
    }

    /// Audits an answer refused before it reached [`Store::answer_escalation_link`] because the
    /// customer's tier has no panic button (seen on the link as read).
    #[tracing::instrument(name = "store refuse escalation link", skip_all, fields(link = %link.id, ticket = %link.ticket.id))]
    pub async fn refuse_escalation_link(
        &self,
        link: &LinkView,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        audit_refusal(
            &mut tx,
            &link.id,
            &link.ticket.customer_id,
            &link.tier_id,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the customer's answer to a link, once: see the module doc.
    #[tracing::instrument(name = "store answer escalation link", skip_all)]
    pub async fn answer_escalation_link(
        &self,
        s: &LinkSubmission<'_>,
        now: DateTime<Utc>,
    ) -> Result<Submitted, StoreError> {
        // Unknown, answered and expired links are answered from a plain read.
        let Some(row) = db::query(&format!("{LINK_COLUMNS} WHERE l.token_hash = $1"))
            .bind(s.token_digest)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(Submitted::Unknown);
        };
        let link = link_row(&row)?;
        if link.expires_at <= now {
            return Ok(Submitted::Expired);
        }
        if let Some(answer) = link.answer {
            return Ok(Submitted::Replay(Box::new(answer)));
        }

        let mut tx = self.begin_write().await?;
        // Fresh inside the transaction: the tier as of this answer.
        let link = link_row(
            &db::query(&format!("{LINK_COLUMNS} WHERE l.id = $1"))
                .bind(&link.id)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        let actor = format!("link:{}", link.id);
        if !link.panic_button {
            audit_refusal(&mut tx, &link.id, &link.customer_id, &link.tier_id, now).await?;
            tx.commit().await?;
            return Ok(Submitted::NotInTier {
                tier: link.tier_name,
            });
        }
        // The claim: a concurrent submit waits here (PostgreSQL's row lock; SQLite's one
        // writer) and then finds the link used, and replays the answer committed with it.
        let claimed =
            db::query("UPDATE escalation_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
                .bind(&link.id)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !claimed {
            drop(tx);
            return match self
                .escalation_link(s.token_digest)
                .await?
                .and_then(|l| l.answer)
            {
                Some(answer) => Ok(Submitted::Replay(Box::new(answer))),
                None => Ok(Submitted::Unknown),
            };
        }
        let ticket = ticket_by_id(&mut tx, &link.ticket_id)
            .await?
            .filter(|t| t.customer_id == link.customer_id);
        let Some(ticket) = ticket else {
            return Ok(Submitted::Unknown);
        };
        let (answer, pages) = record_answer(&mut tx, self, s, &link, &ticket, &actor, now).await?;
        tx.commit().await?;
        Ok(Submitted::Answered {
            answer: Box::new(answer),
            pages,
        })
    }
}

/// A refused answer leaves only this trace, as a refused press does.
async fn audit_refusal(
    tx: &mut Tx,
    link_id: &str,
    customer_id: &str,
    tier: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    audit(
        tx,
        now,
        &format!("link:{link_id}"),
        "escalation_link.refused",
        "customer",
        customer_id,
        json!({ "reason": "tier has no panic button", "tier": tier }),
    )
    .await
}

/// The answer's effect, inside the claiming transaction: the P1 path when P1, then what every
/// press leaves (the customer is back, the classification on the timeline, the audit entry),
/// and the answer kept on the link.
async fn record_answer(
    tx: &mut Tx,
    store: &Store,
    s: &LinkSubmission<'_>,
    link: &LinkRow,
    ticket: &Ticket,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(LinkAnswer, usize), StoreError> {
    let affected_service = s
        .affected_service
        .map(str::to_owned)
        .unwrap_or_else(|| ticket.subject.chars().take(SERVICE_MAX_CHARS).collect());
    let mut answer = LinkAnswer {
        answered_at: now,
        answers: s.answers,
        affected_service,
        classification: s.classification.clone(),
        ticket_priority: ticket.priority,
        incident_id: None,
        paged: false,
        paging: Vec::new(),
        restarted: false,
        joined: false,
    };
    let mut pages = 0;
    if s.classification.is_p1() {
        let press = Press {
            alert_id: None,
            customer_id: &link.customer_id,
            tier_id: &link.tier_id,
            summary: &ticket.subject,
            affected_service: &answer.affected_service,
            flood: s.flood,
        };
        let (record, queued) = record_p1(
            tx,
            store.backend,
            &press,
            Some(TicketRow::from(ticket)),
            actor,
            now,
        )
        .await?;
        pages = queued;
        answer.ticket_priority = ticket.priority.raised_to(Priority::P1);
        answer.incident_id = record.incident.as_ref().map(|i| i.id.clone());
        answer.paged = record.paged;
        answer.restarted = record.restarted;
        answer.joined = record.join_reason.is_some();
        answer.paging = record
            .paging
            .into_iter()
            .map(|p| PagedName {
                name: p.name,
                role: p.role,
            })
            .collect();
    }
    let incident_id = answer.incident_id.as_deref();
    // The customer is back: whatever they owed us, the clock runs again (as for a press).
    resume_tx(
        tx,
        &ticket.id,
        incident_id,
        actor,
        ResumedBecause::Customer,
        now,
    )
    .await?;
    let c = s.classification;
    event(
        tx,
        On {
            ticket: &ticket.id,
            incident: incident_id,
            alert: None,
        },
        now,
        TimelineKind::Classified,
        Some(actor),
        json!({
            "priority": c.priority,
            "matched_rule": c.matched_rule,
            "unmet_criteria": c.unmet_criteria,
            "via": "escalation_link",
        }),
    )
    .await?;
    audit(
        tx,
        now,
        actor,
        "escalation_link.answered",
        "ticket",
        &ticket.id,
        json!({ "link_id": link.id, "priority": c.priority, "incident_id": incident_id }),
    )
    .await?;
    db::query("UPDATE escalation_links SET answer = $2, incident_id = $3 WHERE id = $1")
        .bind(&link.id)
        .bind(serde_json::to_string(&answer).unwrap_or_default())
        .bind(incident_id)
        .execute(&mut **tx)
        .await?;
    Ok((answer, pages))
}
