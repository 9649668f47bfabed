//! `POST /v1/tickets/{id}/escalation-link`: the helpdesk asks for a link that lets the ticket's
//! customer escalate it to P1 themselves (the page is `web::escalate`).
//!
//! The helpdesk key (`tickets:write`, or `admin`) is the caller, as for the other ticket
//! routes. The token is 256 random bits, returned once inside the URL and stored as a digest;
//! the URL is built on `server.public_url` (the listening address when that is unset, fit only
//! for development). A ticket of a customer whose tier has no panic button gets no link (409):
//! its page could only ever refuse.

use actix_web::{post, web, HttpResponse};
use serde_json::json;

use super::extract::TicketsWriter;
use super::{no_store, Problem};
use crate::auth::secrets::{digest, random_token};
use crate::state::AppState;
use crate::store::escalation_links::Issue;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_escalation_link);
}

#[post("/v1/tickets/{id}/escalation-link")]
async fn create_escalation_link(
    state: web::Data<AppState>,
    writer: TicketsWriter,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let token = random_token(32);
    let ttl = chrono::Duration::hours(state.settings.escalation_links.ttl_hours as i64);
    let issued = state
        .store
        .issue_escalation_link(
            &id,
            &digest(&token),
            ttl,
            &writer.actor(),
            state.clock.now(),
        )
        .await?;
    match issued {
        Issue::Issued { id, expires_at } => Ok(no_store(HttpResponse::Created()).json(json!({
            "id": id,
            "url": format!("{}{}", state.public_url, crate::web::escalate::path(&token)),
            "expires_at": expires_at,
        }))),
        Issue::UnknownTicket => Err(Problem::not_found(format!("no ticket {id}"))),
        Issue::NotInTier { tier } => Err(Problem::conflict(
            "escalation-not-in-tier",
            format!(
                "the ticket's customer is on the {tier} tier, which has no panic button; \
                 only a tier with the panic button can escalate to P1 by itself"
            ),
        )),
    }
}
