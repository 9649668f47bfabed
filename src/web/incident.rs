//! The Incident page (`/console/incidents/{id}`): the whole timeline in words (each time in
//! UTC, and in the viewer's own zone once `console.js` has run), every page sent per device or
//! contact method with what the provider made of it, the SLA deadlines; Acknowledge, Resolve
//! and Add a note.
//!
//! Who may open it: whoever may act on the incident from the board (a responder paged for it
//! or the customer's account manager; support managers and admins), others get the 403 page.
//! The live part (`#incident-live`) is refreshed from `/console/incidents/{id}/live` on the
//! board's SSE signal ([`super::events`]); the note form sits outside it, so a refresh never
//! eats what someone is typing. Acknowledge and Resolve post to the board's routes with
//! `view=incident` ([`super::board`]), which answer with this page's live part (htmx) or a
//! redirect back here. A note goes through the same text rule and store function as the
//! phones' `POST /v1/incidents/{id}/notes`.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::csrf::{self, CsrfForm};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::StaffSession;
use crate::domain::countdown::{self, Risk};
use crate::domain::incident::{note_text, IncidentState, NOTE_MAX_CHARS};
use crate::domain::timeline::TimelineKind;
use crate::state::AppState;
use crate::store::incident_record::{IncidentLabels, PageRecord};
use crate::store::incidents::{IncidentRow, TimelineEvent};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(incident_page)
        .service(incident_live)
        .service(add_note);
}

/// The incident, if `who` may see it: 404 when there is none, 403 when they are not involved.
pub(super) async fn visible(
    state: &AppState,
    who: &StaffSession,
    id: &str,
) -> Result<IncidentRow, PageError> {
    let incident = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("There is no incident {id}.")))?;
    if !who.sees_everything() && !state.store.is_involved(&who.user_id, &incident).await? {
        return Err(PageError::Forbidden(
            "the responders paged for this incident and support managers".into(),
        ));
    }
    Ok(incident)
}

/// Everything the live part shows.
struct View {
    incident: IncidentRow,
    labels: IncidentLabels,
    timeline: Vec<TimelineEvent>,
    pages: Vec<PageRecord>,
}

async fn view(state: &AppState, incident: IncidentRow) -> Result<View, PageError> {
    let labels = state.store.incident_labels(&incident).await?;
    let timeline = state.store.timeline(&incident).await?;
    let pages = state.store.incident_pages(&incident.id).await?;
    Ok(View {
        incident,
        labels,
        timeline,
        pages,
    })
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An instant in UTC, with the ISO form `console.js` turns into the viewer's local time.
fn when(t: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            span.local {}
            span.utc { (t.format("%Y-%m-%d %H:%M:%S UTC")) }
        }
    }
}

/// A page's outcome in words and its risk class: what the provider said, or why not yet.
pub(crate) fn outcome(p: &PageRecord) -> (&'static str, String) {
    let error = p.last_error.as_deref().unwrap_or("no error text");
    match p.state.as_str() {
        "sent" => match p.provider_status.as_deref() {
            Some(status @ ("undelivered" | "failed")) => {
                ("risk-late", format!("accepted, then {status}: {error}"))
            }
            Some(status) => ("risk-ok", format!("accepted, {status}")),
            None => ("risk-ok", "accepted by the provider".into()),
        },
        "pending" if p.attempts > 0 => (
            "risk-warn",
            format!(
                "retrying after {} attempt{}: {error}",
                p.attempts,
                if p.attempts == 1 { "" } else { "s" }
            ),
        ),
        "pending" => ("muted", "queued".into()),
        "failed" if p.token_dead => ("risk-late", format!("dead token: {error}")),
        "failed" => ("risk-late", format!("error: {error}")),
        "cancelled" => ("muted", format!("cancelled ({error})")),
        other => ("muted", other.to_owned()),
    }
}

fn text<'a>(detail: &'a Value, field: &str) -> Option<&'a str> {
    detail.get(field).and_then(Value::as_str)
}

fn num(detail: &Value, field: &str) -> Option<u64> {
    detail.get(field).and_then(Value::as_u64)
}

/// "pass 1, step 2" from an event's `pass` and `step` (both counted from 1).
fn position(detail: &Value) -> String {
    format!(
        "step {} of pass {}",
        num(detail, "step").unwrap_or(1),
        num(detail, "pass").unwrap_or(1)
    )
}

/// What a delivery event's `detail` says went where: "page to Alice (ios)" and so on.
fn recipient(detail: &Value, names: &HashMap<&str, &str>) -> String {
    let who = text(detail, "user_id")
        .and_then(|id| names.get(id).copied())
        .unwrap_or("someone");
    let how = text(detail, "platform")
        .or_else(|| text(detail, "channel"))
        .unwrap_or("page");
    // Updates are the notices sent after an acknowledgement (to the customer's contacts).
    let what = if text(detail, "kind") == Some("update") {
        "notice"
    } else {
        "page"
    };
    format!("{what} to {who} ({how})")
}

/// One timeline event (its stored kind, `detail`) in words. `names` maps user ids to names
/// for events that carry only an id. Text that is no kind this gateway writes is shown by its
/// stored name, so nothing is hidden and nothing fails.
pub(crate) fn describe(stored: &str, detail: &Value, names: &HashMap<&str, &str>) -> String {
    let as_text = || stored.replace(['.', '_'], " ");
    let Some(kind) = TimelineKind::parse(stored) else {
        return as_text();
    };
    let name = || text(detail, "name").unwrap_or("someone").to_owned();
    match kind {
        TimelineKind::Created => format!(
            "Panic alert opened this incident ({}).",
            text(detail, "affected_service").unwrap_or("no service named")
        ),
        TimelineKind::Joined => format!(
            "Another press joined ({} in all).",
            num(detail, "alert_count").unwrap_or(0)
        ),
        TimelineKind::Classified => {
            let priority = text(detail, "priority").unwrap_or("?");
            format!("Classified {priority}.")
        }
        TimelineKind::TicketCreated => format!(
            "Ticket opened as {}.",
            text(detail, "priority").unwrap_or("?")
        ),
        TimelineKind::TicketPriorityChanged => format!(
            "Ticket priority {} → {}.",
            text(detail, "from").unwrap_or("?"),
            text(detail, "to").unwrap_or("?")
        ),
        TimelineKind::Paged if detail.get("fallback").is_some() => format!(
            "No step reached anyone; paged the support managers: {}.",
            paged_names(detail)
        ),
        TimelineKind::Paged => format!(
            "Paged {} ({}, {} min to acknowledge).",
            paged_names(detail),
            position(detail),
            num(detail, "ack_timeout_minutes").unwrap_or(0)
        ),
        TimelineKind::StepSkipped => format!(
            "Skipped {}: {}.",
            position(detail),
            reasons(detail.get("reasons"))
        ),
        TimelineKind::FallbackFailed => format!(
            "Could not page the support managers either: {}.",
            reasons(detail.get("reasons"))
        ),
        TimelineKind::Escalated => "Not acknowledged in time; escalating.".into(),
        TimelineKind::EscalationRestarted => {
            "A new press restarted paging from the first step.".into()
        }
        TimelineKind::Unanswered => "Every step was paged and nobody acknowledged.".into(),
        TimelineKind::Unpaged => "Nobody could be paged.".into(),
        TimelineKind::Acknowledged => format!("Acknowledged by {}.", name()),
        TimelineKind::Resolved => format!("Resolved by {}.", name()),
        TimelineKind::Note => format!("{} wrote: {}", name(), text(detail, "text").unwrap_or("")),
        TimelineKind::Delivered => format!("Provider accepted the {}.", recipient(detail, names)),
        TimelineKind::DeliveryFailed => format!(
            "The {} failed: {}.",
            recipient(detail, names),
            text(detail, "error").unwrap_or("no error text")
        ),
        TimelineKind::DeliveryTokenDead => format!(
            "The {} failed: the push token is dead ({}); that device is no longer paged.",
            recipient(detail, names),
            text(detail, "error").unwrap_or("no error text")
        ),
        TimelineKind::DeliveryAddressDead => format!(
            "The {} failed for good ({}); that contact method is disabled.",
            recipient(detail, names),
            text(detail, "error").unwrap_or("no error text")
        ),
        TimelineKind::DeliveryDelivered => {
            format!("The {} was delivered.", recipient(detail, names))
        }
        TimelineKind::DeliveryUndelivered => {
            format!("The {} was not delivered.", recipient(detail, names))
        }
        TimelineKind::SlaWarning => format!(
            "SLA warning: {:.0}% of the response time used.",
            detail
                .get("fraction")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                * 100.0
        ),
        TimelineKind::AckTargetMissed => "Internal acknowledgement target missed.".into(),
        TimelineKind::SlaBreached => "External response SLA breached.".into(),
        TimelineKind::TicketWaitingOnCustomer => format!(
            "Waiting on the customer{}.",
            text(detail, "reason")
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        TimelineKind::TicketResumed => "The customer answered; the clock runs again.".into(),
        // Said as stored, as before there were words for them.
        TimelineKind::DeliveryAnswered | TimelineKind::DeliveryNotAnswered => as_text(),
    }
}

fn paged_names(detail: &Value) -> String {
    let names: Vec<&str> = detail
        .get("targets")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|p| text(p, "name")).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "nobody".into()
    } else {
        names.join(", ")
    }
}

fn reasons(reasons: Option<&Value>) -> String {
    let list: Vec<&str> = reasons
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|x| text(x, "reason")).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "no reason recorded".into()
    } else {
        list.join("; ")
    }
}

/// A deadline: countdown coloured by risk while it runs, "met" once acknowledged.
fn deadline(incident: &IncidentRow, due: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    if incident.state != IncidentState::Triggered {
        return html! { span.(Risk::Met.class()) { "met" } };
    }
    let risk = countdown::risk(incident.created_at, due, now);
    html! {
        span.countdown.(risk.class()) data-due=(millis(due)) data-start=(millis(incident.created_at)) {
            (countdown::remaining(due, now))
        }
    }
}

fn action(id: &str, verb: &str, label: &str, primary: bool, who: &StaffSession) -> Markup {
    let to = format!("/console/incidents/{id}/{verb}");
    html! {
        form method="post" action=(to) hx-post=(to) hx-target="#incident-live" hx-swap="outerHTML" {
            (csrf::field(who))
            input type="hidden" name="view" value="incident";
            @if primary {
                button.primary type="submit" { (label) }
            } @else {
                button type="submit" { (label) }
            }
        }
    }
}

/// The live part: state and actions, SLA, pages, timeline.
fn live_markup(v: &View, who: &StaffSession, now: DateTime<Utc>) -> Markup {
    let i = &v.incident;
    let state = i.state.as_str();
    let names: HashMap<&str, &str> = v
        .pages
        .iter()
        .map(|p| (p.user_id.as_str(), p.user_name.as_str()))
        .collect();
    html! {
        section #incident-live data-live={"/console/incidents/" (i.id) "/live"} data-now=(millis(now)) aria-live="polite" {
            div.incident-bar {
                span.state.(state) #incident-state { (state) }
                @if let Some(by) = &i.acknowledged_by_name {
                    span.muted { "acknowledged by " (by) }
                }
                @if i.waiting_on_customer_since.is_some() {
                    span.muted { "waiting on the customer" }
                }
                div.actions {
                    @if i.state == IncidentState::Triggered {
                        (action(&i.id, "acknowledge", "Acknowledge", true, who))
                    }
                    @if i.state != IncidentState::Resolved {
                        (action(&i.id, "resolve", "Resolve", false, who))
                    }
                }
            }
            div.facts {
                div.card.fact {
                    h2 { "Internal acknowledgement" }
                    p { (deadline(i, i.ack_due_at, now)) }
                    p.muted.small { "due " (when(i.ack_due_at)) }
                }
                div.card.fact {
                    h2 { "External response SLA" }
                    p { (deadline(i, i.respond_due_at, now)) }
                    p.muted.small { "due " (when(i.respond_due_at)) }
                }
                div.card.fact {
                    h2 { "Opened" }
                    p { span.age data-since=(millis(i.created_at)) { (countdown::span(now - i.created_at)) } " ago" }
                    p.muted.small { (when(i.created_at)) }
                }
            }
            h2 { "Pages" }
            @if v.pages.is_empty() {
                p.calm { "No pages were sent for this incident." }
            } @else {
                div.table-wrap {
                    table #pages {
                        thead {
                            tr {
                                th scope="col" { "Person" }
                                th scope="col" { "Via" }
                                th scope="col" { "Step" }
                                th scope="col" { "Outcome" }
                                th scope="col" { "Sent" }
                            }
                        }
                        tbody {
                            @for p in &v.pages {
                                @let (class, words) = outcome(p);
                                tr data-state=(p.state) {
                                    td data-label="Person" {
                                        strong { (p.user_name) }
                                        @if p.kind != "page" { div.muted { (p.kind) } }
                                    }
                                    td data-label="Via" { (p.channel) " · " (p.target) }
                                    td data-label="Step" { (p.step) " (pass " (p.pass) ")" }
                                    td data-label="Outcome" { span.outcome.(class) { (words) } }
                                    td data-label="Sent" {
                                        @match p.sent_at {
                                            Some(at) => { (when(at)) }
                                            None => { span.muted { "—" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 #timeline-heading { "Timeline" }
            ol.timeline #timeline aria-labelledby="timeline-heading" {
                @for e in &v.timeline {
                    li data-kind=(e.kind) {
                        div.when { (when(e.at)) }
                        div.what { (describe(&e.kind, &e.detail, &names)) }
                    }
                }
            }
        }
    }
}

fn note_form(id: &str, who: &StaffSession, text: &str, error: Option<&str>) -> Markup {
    html! {
        form.card.note method="post" action={"/console/incidents/" (id) "/notes"} {
            (csrf::field(who))
            label for="note" { "Add a note" }
            @if let Some(error) = error {
                p.error #note-error { "Note " (error) "." }
            }
            textarea #note name="text" rows="3" maxlength=(NOTE_MAX_CHARS)
                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "note-error")] { (text) }
            button.primary type="submit" { "Add note" }
        }
    }
}

async fn render(
    state: &AppState,
    who: &StaffSession,
    incident: IncidentRow,
    note: (&str, Option<&str>),
) -> Result<maud::Markup, PageError> {
    let v = view(state, incident).await?;
    let i = &v.incident;
    let body = html! {
        p.crumbs { a href="/console" { "← Board" } }
        div.page-head {
            h1 { (i.summary) }
            p.muted {
                strong { (v.labels.customer) } " · " span.tier { (v.labels.tier) } " · "
                (i.affected_service) " · ticket " code { (i.ticket_ref) }
                " · " (i.alert_count) @if i.alert_count == 1 { " press" } @else { " presses" }
            }
        }
        (live_markup(&v, who, state.clock.now()))
        (note_form(&i.id, who, note.0, note.1))
    };
    Ok(layout::page(
        &format!("{} · {}", v.labels.customer, i.summary),
        Some(Nav::new(who, Section::Board)),
        body,
    ))
}

#[get("/console/incidents/{id}")]
async fn incident_page(
    state: web::Data<AppState>,
    who: StaffSession,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let incident = visible(&state, &who, &id).await?;
    Ok(layout::respond(
        render(&state, &who, incident, ("", None)).await?,
    ))
}

/// The live part alone, for htmx and the SSE refresh.
#[get("/console/incidents/{id}/live")]
async fn incident_live(
    state: web::Data<AppState>,
    who: StaffSession,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let incident = visible(&state, &who, &id).await?;
    let v = view(&state, incident).await?;
    Ok(layout::fragment(live_markup(&v, &who, state.clock.now())))
}

/// What acknowledging or resolving from this page answers: the fresh live part for htmx, a
/// redirect back here otherwise.
pub(super) async fn after_action(
    state: &AppState,
    req: &HttpRequest,
    who: &StaffSession,
    id: &str,
) -> Result<HttpResponse, PageError> {
    if req.headers().contains_key("hx-request") {
        let incident = visible(state, who, id).await?;
        let v = view(state, incident).await?;
        return Ok(layout::fragment(live_markup(&v, who, state.clock.now())));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/incidents/{id}")))
        .finish())
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(default)]
    text: String,
}

#[post("/console/incidents/{id}/notes")]
async fn add_note(
    state: web::Data<AppState>,
    who: StaffSession,
    CsrfForm(form): CsrfForm<NoteForm>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let incident = visible(&state, &who, &id).await?;
    let text = match note_text(&form.text) {
        Ok(text) => text,
        Err(reason) => {
            // The page again, the text kept and the reason next to it; nothing stored.
            let page = render(&state, &who, incident, (&form.text, Some(&reason))).await?;
            return Ok(layout::respond_with(
                HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY),
                page,
            ));
        }
    };
    state
        .store
        .add_incident_note(
            &incident,
            &who.user_id,
            &who.actor(),
            &text,
            state.clock.now(),
        )
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/console/incidents/{id}#timeline"),
        ))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(state: &str, attempts: i64, error: Option<&str>, dead: bool) -> PageRecord {
        PageRecord {
            user_id: "u1".into(),
            user_name: "Alice".into(),
            kind: "page".into(),
            channel: "push".into(),
            target: "iPhone (ios)".into(),
            pass: 1,
            step: 1,
            state: state.into(),
            attempts,
            last_error: error.map(str::to_owned),
            provider_status: None,
            token_dead: dead,
            created_at: Utc::now(),
            sent_at: None,
            due_at: Utc::now(),
        }
    }

    #[test]
    fn outcomes_say_what_the_provider_said() {
        assert_eq!(
            outcome(&record("sent", 1, None, false)).1,
            "accepted by the provider"
        );
        assert_eq!(
            outcome(&record("pending", 2, Some("HTTP 503"), false)),
            ("risk-warn", "retrying after 2 attempts: HTTP 503".into())
        );
        assert_eq!(
            outcome(&record("failed", 1, Some("Unregistered"), true)),
            ("risk-late", "dead token: Unregistered".into())
        );
        assert_eq!(
            outcome(&record("failed", 5, Some("BadDeviceToken"), false)).1,
            "error: BadDeviceToken"
        );
        assert_eq!(outcome(&record("pending", 0, None, false)).1, "queued");
    }

    #[test]
    fn events_read_as_sentences() {
        let names = HashMap::from([("u1", "Alice")]);
        assert_eq!(
            describe(
                "paged",
                &json!({"pass": 1, "step": 2, "ack_timeout_minutes": 5,
                        "targets": [{"name": "Pat"}, {"name": "Sam"}]}),
                &names
            ),
            "Paged Pat, Sam (step 2 of pass 1, 5 min to acknowledge)."
        );
        assert_eq!(
            describe(
                "delivered",
                &json!({"user_id": "u1", "platform": "ios"}),
                &names
            ),
            "Provider accepted the page to Alice (ios)."
        );
        assert_eq!(
            describe("note", &json!({"name": "Morgan", "text": "on it"}), &names),
            "Morgan wrote: on it"
        );
        assert_eq!(
            describe("something.new_kind", &json!({}), &names),
            "something new kind"
        );
    }
}
