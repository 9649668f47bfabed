//! Waiting on the customer, and back: the routes that pause and resume a ticket's resolution
//! clock (the two-way SLA).
//!
//! A responder acts through the incident they may see (`/v1/incidents/{id}/…`, their device
//! token); the helpdesk (`tickets:write` key) and admins act on the ticket
//! (`/v1/tickets/{id}/…`). Either way the pause belongs to the ticket, so all of the ticket's
//! incidents share one clock. The response and acknowledgement targets never pause; only
//! resolution does. The customer's own press resumes the clock (in the alert intake), and
//! resolving or closing ends a wait (in the store), so neither has a route here.
//!
//! The body is optional (`{"reason": "…"}`); when one is sent it must fit, or nothing changes.

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;

use super::extract::{ResponderDevice, TicketsWriter};
use super::incidents::{incident_view, may_see};
use super::validate::Validator;
use super::{json, Problem};
use crate::domain::incident::IncidentState;
use crate::state::AppState;
use crate::store::tickets::ClockChange;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(incident_waits)
        .service(incident_resumes)
        .service(ticket_waits)
        .service(ticket_resumes);
}

#[derive(Deserialize, Default)]
struct WaitBody {
    /// What the customer owes us ("logs from the gateway"), for the timeline and the audit.
    reason: Option<String>,
}

/// The optional body: empty is no reason; anything else must be a fitting JSON object.
fn reason(bytes: &[u8]) -> Result<Option<String>, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let body: WaitBody = json::parse(bytes)?;
    let mut v = Validator::new();
    let reason = v.optional_text("reason", body.reason.as_deref(), 500);
    v.finish()?;
    Ok(reason)
}

/// Checks that a resume body, if any, is JSON of the right shape; a resume takes no reason.
fn check_resume_body(bytes: &[u8]) -> Result<(), Problem> {
    reason(bytes).map(|_| ())
}

fn conflict(change: ClockChange) -> Result<ClockChange, Problem> {
    match change {
        ClockChange::AlreadyWaiting { since } => Err(Problem::conflict(
            "already-waiting-on-customer",
            format!("the ticket has been waiting on the customer since {since}; resume it first"),
        )),
        ClockChange::NotWaiting => Err(Problem::conflict(
            "not-waiting-on-customer",
            "the ticket is not waiting on the customer; there is nothing to resume",
        )),
        ClockChange::TicketClosed(status) => Err(Problem::conflict(
            "ticket-closed",
            format!("the ticket is {status}; a closed ticket cannot wait on the customer"),
        )),
        other => Ok(other),
    }
}

fn no_incident(id: &str) -> Problem {
    Problem::not_found(format!("no incident {id}"))
}

fn no_ticket(id: &str) -> Problem {
    Problem::not_found(format!("no ticket {id}"))
}

/// A responder's pause or resume through an incident they may see.
async fn through_incident(
    state: web::Data<AppState>,
    who: ResponderDevice,
    id: String,
    bytes: web::Bytes,
    waiting: bool,
) -> Result<HttpResponse, Problem> {
    let ResponderDevice(who) = who;
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| no_incident(&id))?;
    if !may_see(&state, &who, &incident).await? {
        return Err(no_incident(&id));
    }
    let actor = format!("user:{}", who.user_id);
    let now = state.clock.now();
    let change = if waiting {
        let reason = reason(&bytes)?;
        if incident.state == IncidentState::Resolved {
            return Err(Problem::conflict(
                "incident-resolved",
                "the incident is resolved; it cannot wait on the customer",
            ));
        }
        state
            .store
            .wait_on_customer(
                &incident.ticket_id,
                Some(&id),
                &actor,
                reason.as_deref(),
                now,
            )
            .await?
    } else {
        check_resume_body(&bytes)?;
        state
            .store
            .resume_ticket(&incident.ticket_id, Some(&id), &actor, now)
            .await?
    };
    match conflict(change)? {
        ClockChange::NotFound => Err(no_incident(&id)),
        _ => {
            let incident = state
                .store
                .incident(&id)
                .await?
                .ok_or_else(|| no_incident(&id))?;
            Ok(HttpResponse::Ok().json(incident_view(&incident)))
        }
    }
}

#[post("/v1/incidents/{id}/wait-on-customer")]
async fn incident_waits(
    state: web::Data<AppState>,
    who: ResponderDevice,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Problem> {
    through_incident(state, who, id.into_inner(), bytes, true).await
}

#[post("/v1/incidents/{id}/resume")]
async fn incident_resumes(
    state: web::Data<AppState>,
    who: ResponderDevice,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Problem> {
    through_incident(state, who, id.into_inner(), bytes, false).await
}

/// The helpdesk's or an admin's pause or resume of a ticket.
async fn on_ticket(
    state: web::Data<AppState>,
    writer: TicketsWriter,
    id: String,
    bytes: web::Bytes,
    waiting: bool,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let change = if waiting {
        let reason = reason(&bytes)?;
        state
            .store
            .wait_on_customer(&id, None, &writer.actor(), reason.as_deref(), now)
            .await?
    } else {
        check_resume_body(&bytes)?;
        state
            .store
            .resume_ticket(&id, None, &writer.actor(), now)
            .await?
    };
    match conflict(change)? {
        ClockChange::Applied(ticket) => Ok(HttpResponse::Ok().json(ticket)),
        _ => Err(no_ticket(&id)),
    }
}

#[post("/v1/tickets/{id}/wait-on-customer")]
async fn ticket_waits(
    state: web::Data<AppState>,
    writer: TicketsWriter,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Problem> {
    on_ticket(state, writer, id.into_inner(), bytes, true).await
}

#[post("/v1/tickets/{id}/resume")]
async fn ticket_resumes(
    state: web::Data<AppState>,
    writer: TicketsWriter,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, Problem> {
    on_ticket(state, writer, id.into_inner(), bytes, false).await
}
