//! `/console/webhooks` (admins): the helpdesk's endpoints, the latest deliveries with their
//! state, HTTP status and error, and "Send a test event" per live endpoint.
//!
//! A test event is a `webhook.test` delivery queued for that one endpoint
//! ([`crate::store::Store::queue_test_webhook`]; there is no JSON route for it yet): it goes through the outbox like every webhook, so the
//! operator sees the real outcome (signed request accepted, refused address, timeout) appear
//! in the list once the webhook worker has sent it. Endpoints are created through the admin
//! API, which shows the signing secret once; the page never shows secrets.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::csrf::{self, CsrfForm, NoFields};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::AdminSession;
use crate::domain::countdown;
use crate::state::AppState;
use crate::store::webhooks::TestWebhook;

/// How many deliveries the page lists, newest first.
const RECENT: i64 = 50;
/// How many endpoints it lists.
const ENDPOINTS: i64 = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(webhooks_page).service(send_test);
}

#[derive(Deserialize)]
struct Outcome {
    test: Option<String>,
}

#[get("/console/webhooks")]
async fn webhooks_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    AdminSession(who): AdminSession,
) -> Result<HttpResponse, PageError> {
    let endpoints = state.store.webhook_endpoints_page(None, ENDPOINTS).await?;
    let deliveries = state.store.recent_webhook_deliveries(RECENT).await?;
    let now = state.clock.now();
    let outcome = serde_urlencoded::from_str::<Outcome>(req.query_string())
        .ok()
        .and_then(|o| o.test);
    let body = html! {
        div.page-head {
            h1 { "Webhooks" }
            p.muted { "Signed POSTs to the helpdesk. Add endpoints with " code { "POST /v1/admin/webhooks" } " (it shows the signing secret once)." }
        }
        @match outcome.as_deref() {
            Some("queued") => { p.notice #test-outcome role="status" { "A test event was queued; it appears below once sent." } }
            Some("disabled") => { p.error #test-outcome role="alert" { "That endpoint is disabled: nothing was sent." } }
            _ => {}
        }
        h2 { "Endpoints" }
        @if endpoints.is_empty() {
            p.calm { "No endpoints yet." }
        } @else {
            div.table-wrap {
                table #endpoints {
                    thead { tr {
                        th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "State" }
                        th scope="col" { "Since" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for e in &endpoints {
                            tr #{"endpoint-" (e.id)} {
                                td data-label="URL" { code.url { (e.url) } }
                                td data-label="Events" { (e.events.join(", ")) }
                                td data-label="State" {
                                    @if e.disabled { span.badge.off { "disabled" } } @else { span.badge.on { "live" } }
                                }
                                td data-label="Since" { (e.created_at.format("%Y-%m-%d")) }
                                td.actions {
                                    @if !e.disabled {
                                        form method="post" action={"/console/webhooks/" (e.id) "/test"} {
                                            (csrf::field(&who))
                                            button type="submit" { "Send a test event" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Recent deliveries" }
        @if deliveries.is_empty() {
            p.calm #no-deliveries { "Nothing sent yet." }
        } @else {
            div.table-wrap {
                table #deliveries {
                    caption { "The latest " (deliveries.len()) ", newest first" }
                    thead { tr {
                        th scope="col" { "Queued" } th scope="col" { "Event" } th scope="col" { "Endpoint" }
                        th scope="col" { "State" } th scope="col" { "Attempts" } th scope="col" { "HTTP" }
                        th scope="col" { "Error" }
                    } }
                    tbody {
                        @for d in &deliveries {
                            tr #{"delivery-" (d.id)} data-state=(d.state) {
                                td data-label="Queued" {
                                    (d.created_at.format("%m-%d %H:%M:%S"))
                                    div.muted { (countdown::span(now - d.created_at)) " ago" }
                                }
                                td data-label="Event" { code { (d.event_type) } }
                                td data-label="Endpoint" { span.url { (d.url) } }
                                td data-label="State" {
                                    span class={"badge delivery-" (d.state)} { (d.state) }
                                    @if d.state == "pending" && d.attempts > 0 {
                                        div.muted { "next try " (countdown::remaining(d.due_at, now)) }
                                    }
                                }
                                td data-label="Attempts" { (d.attempts) }
                                td data-label="HTTP" {
                                    @match d.last_status { Some(s) => { (s) } None => { span.muted { "—" } } }
                                }
                                td.error-text data-label="Error" {
                                    @match &d.last_error { Some(e) => { (e) } None => { span.muted { "—" } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(layout::page(
        "Webhooks",
        Some(Nav::new(&who, Section::Webhooks)),
        body,
    )))
}

/// Queues a test event for one endpoint, then back to the list saying so.
#[post("/console/webhooks/{id}/test")]
async fn send_test(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    _: CsrfForm<NoFields>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let outcome = match state
        .store
        .queue_test_webhook(&id, &who.actor(), state.clock.now())
        .await?
    {
        TestWebhook::Queued { .. } => "queued",
        TestWebhook::Disabled => "disabled",
        TestWebhook::NotFound => {
            return Err(PageError::NotFound(format!(
                "There is no webhook endpoint {id}."
            )))
        }
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/console/webhooks?test={outcome}"),
        ))
        .finish())
}
