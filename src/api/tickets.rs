//! Helpdesk tickets: the helpdesk (with a `tickets:write` or `admin` key) upserts them by
//! external reference, so customers can self-escalate a ticket the helpdesk already has.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;

use super::extract::TicketsWriter;
use super::validate::Validator;
use super::{Json, Problem};
use crate::domain::priority::Priority;
use crate::state::AppState;
use crate::store::tickets::TicketUpsert;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(upsert_ticket).service(list_tickets);
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum TicketStatus {
    Open,
    Pending,
    Resolved,
    Closed,
}

impl TicketStatus {
    fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
        }
    }
}

#[derive(Deserialize)]
struct UpsertTicket {
    customer_id: String,
    external_ref: String,
    subject: String,
    priority: Priority,
    #[serde(default = "open")]
    status: TicketStatus,
}

fn open() -> TicketStatus {
    TicketStatus::Open
}

#[post("/v1/tickets")]
async fn upsert_ticket(
    state: web::Data<AppState>,
    writer: TicketsWriter,
    Json(body): Json<UpsertTicket>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let external_ref = v.text("external_ref", &body.external_ref, 64);
    let subject = v.text("subject", &body.subject, 200);
    if state.store.customer(&body.customer_id).await?.is_none() {
        v.error("customer_id", "no such customer");
    }
    v.finish()?;
    let (ticket, created) = state
        .store
        .upsert_ticket(
            TicketUpsert {
                customer_id: &body.customer_id,
                external_ref: &external_ref,
                subject: &subject,
                priority: body.priority,
                status: body.status.as_str(),
            },
            &writer.actor(),
            state.clock.now(),
        )
        .await?;
    Ok(if created {
        HttpResponse::Created().json(ticket)
    } else {
        HttpResponse::Ok().json(ticket)
    })
}

#[derive(Deserialize)]
struct TicketFilter {
    customer: Option<String>,
}

#[get("/v1/tickets")]
async fn list_tickets(
    state: web::Data<AppState>,
    _: TicketsWriter,
    query: web::Query<TicketFilter>,
) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(state.store.list_tickets(query.customer.as_deref()).await?))
}
