//! The Board (`/console`): every open incident across customers, for a responder only those
//! they are involved in (paged for, or the customer's account manager), with who is paged now,
//! the next escalation, and both SLA countdowns coloured by risk; Acknowledge and Resolve.
//!
//! Works without JavaScript: the buttons are POST forms carrying the CSRF token, answered with
//! a redirect back to the board. With JavaScript, htmx posts them and swaps in the fresh board
//! (`#board`), and `console.js` reloads `#board` from `/console/board` whenever
//! `/console/events` says something changed ([`super::events`]) and ticks the countdowns
//! between refreshes. The rows come from [`crate::store::Store::board`]; acting goes through
//! the same [`crate::incident_actions::change_state`] as the phones' routes.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::csrf::{self, CsrfForm};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::StaffSession;
use crate::domain::countdown::{self, Risk};
use crate::domain::incident::IncidentState;
use crate::state::AppState;
use crate::store::board::BoardRow;
use crate::store::escalation::StateChange;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(board_page)
        .service(board_fragment)
        .service(acknowledge)
        .service(resolve);
}

async fn rows(state: &AppState, who: &StaffSession) -> Result<Vec<BoardRow>, PageError> {
    let involved = (!who.sees_everything()).then_some(who.user_id.as_str());
    Ok(state.store.board(involved).await?)
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A deadline cell: the countdown, coloured by risk, or "met" once acknowledged.
fn deadline(row: &BoardRow, due: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    if row.state != IncidentState::Triggered {
        return html! { span.(Risk::Met.class()) { "met" } };
    }
    let risk = countdown::risk(row.created_at, due, now);
    html! {
        span.countdown.(risk.class()) data-due=(millis(due)) data-start=(millis(row.created_at))
            title=(due.format("%Y-%m-%d %H:%M:%S UTC")) {
            (countdown::remaining(due, now))
        }
    }
}

fn row_markup(row: &BoardRow, who: &StaffSession, now: DateTime<Utc>) -> Markup {
    let state = row.state.as_str();
    html! {
        tr #{"incident-" (row.id)} data-state=(state) {
            td data-label="Customer" {
                a.incident-link href={"/console/incidents/" (row.id)} { strong { (row.customer) } }
                div.muted { (row.summary) " · " (row.ticket_ref) }
            }
            td data-label="Tier" { span.tier { (row.tier) } }
            td data-label="Service" { (row.service) }
            td data-label="State" { span.state.(state) { (state) } }
            td data-label="Age" {
                span.age data-since=(millis(row.created_at)) { (countdown::span(now - row.created_at)) }
            }
            td data-label="Paged now" {
                @if let Some(by) = &row.acknowledged_by {
                    "acknowledged by " (by)
                } @else if row.paged_now.is_empty() {
                    span.muted { "nobody yet" }
                } @else {
                    (row.paged_now.join(", "))
                }
            }
            td data-label="Next escalation" {
                @match row.next_escalation_at {
                    Some(at) if row.state == IncidentState::Triggered => {
                        span.countdown data-due=(millis(at)) { (countdown::remaining(at, now)) }
                    }
                    _ => { span.muted { "—" } }
                }
            }
            td data-label="Internal SLA" { (deadline(row, row.ack_due_at, now)) }
            td data-label="External SLA" { (deadline(row, row.respond_due_at, now)) }
            td.actions {
                @if row.state == IncidentState::Triggered {
                    form method="post" action={"/console/incidents/" (row.id) "/acknowledge"}
                        hx-post={"/console/incidents/" (row.id) "/acknowledge"} hx-target="#board" hx-swap="outerHTML" {
                        (csrf::field(who))
                        button.primary type="submit" { "Acknowledge" }
                    }
                }
                form method="post" action={"/console/incidents/" (row.id) "/resolve"}
                    hx-post={"/console/incidents/" (row.id) "/resolve"} hx-target="#board" hx-swap="outerHTML" {
                    (csrf::field(who))
                    button type="submit" { "Resolve" }
                }
            }
        }
    }
}

/// The board's live part: what `#board` is replaced with.
fn board_markup(rows: &[BoardRow], who: &StaffSession, now: DateTime<Utc>) -> Markup {
    html! {
        section #board data-live="/console/board" data-now=(millis(now)) aria-live="polite" {
            @if rows.is_empty() {
                p.calm { "No open incidents." }
            } @else {
                div.table-wrap {
                    table {
                        caption { (rows.len()) " open " @if rows.len() == 1 { "incident" } @else { "incidents" } }
                        thead {
                            tr {
                                th scope="col" { "Customer" }
                                th scope="col" { "Tier" }
                                th scope="col" { "Service" }
                                th scope="col" { "State" }
                                th scope="col" { "Age" }
                                th scope="col" { "Paged now" }
                                th scope="col" { "Next escalation" }
                                th scope="col" { "Internal SLA" }
                                th scope="col" { "External SLA" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            }
                        }
                        tbody {
                            @for row in rows { (row_markup(row, who, now)) }
                        }
                    }
                }
            }
        }
    }
}

#[get("/console")]
async fn board_page(
    state: web::Data<AppState>,
    who: StaffSession,
) -> Result<HttpResponse, PageError> {
    let rows = rows(&state, &who).await?;
    let now = state.clock.now();
    let scope = if who.sees_everything() {
        "Every open incident, across customers."
    } else {
        "The open incidents you are paged for or manage."
    };
    let body = html! {
        div.page-head {
            h1 { "Board" }
            p.muted { (scope) " Updates live." }
        }
        (board_markup(&rows, &who, now))
    };
    Ok(layout::respond(layout::page(
        "Board",
        Some(Nav::new(&who, Section::Board)),
        body,
    )))
}

/// `#board` alone, for htmx and the live refresh.
#[get("/console/board")]
async fn board_fragment(
    state: web::Data<AppState>,
    who: StaffSession,
) -> Result<HttpResponse, PageError> {
    let rows = rows(&state, &who).await?;
    Ok(layout::fragment(board_markup(
        &rows,
        &who,
        state.clock.now(),
    )))
}

/// The buttons' form: `view=incident` when pressed on the incident page, which then gets its
/// own answer ([`super::incident::after_action`]).
#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(default)]
    view: Option<String>,
}

async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: StaffSession,
    id: String,
    resolving: bool,
    form: ActionForm,
) -> Result<HttpResponse, PageError> {
    let incident = super::incident::visible(&state, &who, &id).await?;
    match crate::incident_actions::change_state(&state, &incident, &who.user_id, resolving).await? {
        StateChange::NotFound => {
            return Err(PageError::NotFound(format!("There is no incident {id}.")))
        }
        // Already resolved: the refreshed board shows it gone, which is the answer.
        StateChange::Applied { .. } | StateChange::AlreadyDone | StateChange::Conflict(_) => {}
    }
    if form.view.as_deref() == Some("incident") {
        return super::incident::after_action(&state, &req, &who, &id).await;
    }
    if req.headers().contains_key("hx-request") {
        let rows = rows(&state, &who).await?;
        return Ok(layout::fragment(board_markup(
            &rows,
            &who,
            state.clock.now(),
        )));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console"))
        .finish())
}

#[post("/console/incidents/{id}/acknowledge")]
async fn acknowledge(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: StaffSession,
    CsrfForm(form): CsrfForm<ActionForm>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    act(state, req, who, id.into_inner(), false, form).await
}

#[post("/console/incidents/{id}/resolve")]
async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: StaffSession,
    CsrfForm(form): CsrfForm<ActionForm>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    act(state, req, who, id.into_inner(), true, form).await
}
