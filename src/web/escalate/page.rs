//! The escalation page's HTML: one small phone-sized layout of its own (no staff chrome, no
//! script), the form built from the P1 definition, the answer, and the refusals.
//!
//! Ids on the key elements (`ticket`, `escalate-form`, `form-errors`, `answer`, `paging`,
//! `acknowledged-by`, `unmet-criteria`, `refusal`) are what browser tests look for.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

use super::form::FieldError;
use crate::domain::incident::IncidentState;
use crate::domain::p1_definition::{P1Definition, Question, UsersAffected};
use crate::store::escalation_links::{LinkAnswer, LinkView};

const CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;background:#f4f5f7}\
main{max-width:34rem;margin:0 auto;padding:1rem}\
h1{font-size:1.35rem;margin:.5rem 0 1rem}\
h2{font-size:1.1rem;margin:1.25rem 0 .5rem}\
section,form{background:#fff;border:1px solid #d8dce1;border-radius:.5rem;padding:1rem;margin:0 0 1rem}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem .75rem;margin:0}\
dt{color:#59636e}dd{margin:0;font-weight:600}\
fieldset{border:0;padding:0;margin:0 0 1rem}\
legend{font-weight:600;margin-bottom:.35rem}\
label{display:flex;align-items:center;gap:.5rem;padding:.6rem .75rem;margin:.25rem 0;border:1px solid #d8dce1;border-radius:.4rem;min-height:2.75rem}\
input[type=radio]{width:1.2rem;height:1.2rem;margin:0}\
input[type=text]{width:100%;font:inherit;padding:.6rem;border:1px solid #9aa4ae;border-radius:.4rem}\
button{width:100%;font:inherit;font-weight:700;padding:.8rem;border:0;border-radius:.4rem;background:#b42318;color:#fff}\
:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}\
.hint{color:#59636e;font-size:.9rem}\
.errors{border-color:#b42318;background:#fdf0ef}\
.p1{border-color:#b42318;border-left-width:.4rem}\
.ok{border-color:#1a7f37;border-left-width:.4rem}\
ul{margin:.25rem 0;padding-left:1.25rem}\
section>:first-child{margin-top:0}";

/// `Content-Security-Policy`: nothing loads, the one inline style is allowed by its hash,
/// the form may post only to this origin, and no other site may frame the page.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

pub(crate) fn shell(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { main { (body) } }
        }
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn ticket_card(link: &LinkView) -> Markup {
    let t = &link.ticket;
    html! {
        section #ticket {
            dl {
                dt { "Ticket" } dd #ticket-ref { (t.external_ref) }
                dt { "Subject" } dd #ticket-subject { (t.subject) }
                dt { "Priority" } dd #ticket-priority { (t.priority.as_str()) }
                dt { "Status" } dd #ticket-status { (t.status) }
                dt { "Customer" } dd { (link.customer_name) " (" (link.tier_name) ")" }
            }
        }
    }
}

fn yes_no(q: Question, chosen: Option<&str>) -> Markup {
    html! {
        fieldset {
            legend { (q.text()) }
            @for (value, words) in [("yes", "Yes"), ("no", "No")] {
                label for={ (q.field()) "-" (value) } {
                    input type="radio" name=(q.field()) id={ (q.field()) "-" (value) }
                        value=(value) required checked[chosen == Some(value)];
                    (words)
                }
            }
        }
    }
}

fn users(q: Question, chosen: Option<&str>) -> Markup {
    html! {
        fieldset {
            legend { (q.text()) }
            @for u in UsersAffected::ALL {
                label for={ (q.field()) "-" (u.as_str()) } {
                    input type="radio" name=(q.field()) id={ (q.field()) "-" (u.as_str()) }
                        value=(u.as_str()) required checked[chosen == Some(u.as_str())];
                    (capitalised(u.words()))
                }
            }
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The ticket and the P1 questions; `errors` (with the submitted values) after a bad submit.
pub fn form(
    link: &LinkView,
    definition: &P1Definition,
    submitted: &HashMap<String, String>,
    errors: &[FieldError],
) -> Markup {
    let value = |f: &str| submitted.get(f).map(String::as_str);
    shell(
        "Escalate to Priority 1",
        html! {
            h1 { "Escalate your ticket to Priority 1" }
            (ticket_card(link))
            @if !errors.is_empty() {
                section .errors #form-errors role="alert" {
                    strong { "Please check your answers:" }
                    ul {
                        @for e in errors {
                            li data-field=(e.field) { code { (e.field) } ": " (e.detail) }
                        }
                    }
                }
            }
            section #criteria {
                p { "Priority 1 means someone is paged now, day or night. Your answers are \
                     checked against our P1 definition; it is P1 when any of these holds:" }
                ul {
                    @for rule in &definition.rules {
                        li { strong { (rule.name) } " (" (rule.conditions().join(", ")) ")" }
                    }
                }
            }
            form #escalate-form method="post" {
                @for q in definition.questions() {
                    @match q {
                        Question::UsersAffected => { (users(q, value(q.field()))) }
                        _ => { (yes_no(q, value(q.field()))) }
                    }
                }
                fieldset {
                    legend { label for="affected_service" { "What is affected? (optional)" } }
                    input type="text" name="affected_service" id="affected_service"
                        maxlength=(super::form::SERVICE_MAX_CHARS) autocomplete="off"
                        placeholder=(link.ticket.subject) value=[value("affected_service")];
                    p .hint { "A service or system name, e.g. checkout." }
                }
                button type="submit" #escalate-submit { "Check and escalate" }
            }
        },
    )
}

fn role_words(role: &str) -> String {
    match role {
        "account_manager" => "your account manager".into(),
        "account_manager_delegate" => "standing in for your account manager".into(),
        "support_manager" => "support manager".into(),
        r if r.starts_with("on_call:") => "on-call engineer".into(),
        _ => "responder".into(),
    }
}

/// The first answer, with the incident as it stands now.
pub fn answer(link: &LinkView, answer: &LinkAnswer) -> Markup {
    let c = &answer.classification;
    shell(
        "Your escalation",
        html! {
            h1 { "Your escalation" }
            (ticket_card(link))
            @if c.is_p1() {
                section .p1 #answer data-priority="P1" {
                    h2 #classification { "Escalated to Priority 1" }
                    @if let Some(rule) = &c.matched_rule {
                        p { "Your answers meet the P1 definition: " strong { (rule) } "." }
                    }
                    (status(link, answer))
                }
            } @else {
                section .ok #answer data-priority=(c.priority.as_str()) {
                    h2 #classification { "Not escalated: this is not a Priority 1" }
                    p { "Nobody is being paged, and your ticket stays "
                        strong #kept-priority { (answer.ticket_priority.as_str()) }
                        ". Your answers do not meet any rule of the P1 definition:" }
                    ul #unmet-criteria {
                        @for unmet in &c.unmet_criteria { li { (unmet) } }
                    }
                    p .hint { "If the situation gets worse, ask your helpdesk for a new link \
                               or call them." }
                }
            }
            p .hint #answered-at { "Answered " (when(answer.answered_at)) "." }
        },
    )
}

fn status(link: &LinkView, answer: &LinkAnswer) -> Markup {
    let acknowledged = link
        .incident
        .as_ref()
        .and_then(|i| i.acknowledged_by_name.as_deref().map(|name| (i, name)));
    html! {
        @if let Some((i, name)) = acknowledged {
            p #acknowledged-by data-name=(name) {
                strong { (name) } " acknowledged"
                @if let Some(at) = i.acknowledged_at { " at " (when(at)) }
                " and is working on it."
            }
            @if i.state == IncidentState::Resolved { p #resolved { "The incident is resolved." } }
        } @else {
            @if !answer.paging.is_empty() {
                p {
                    @if answer.restarted { "Nobody had answered yet, so paging started again. " }
                    "We are paging:"
                }
                ul #paging {
                    @for p in &answer.paging {
                        li { strong { (p.name) } ", " (role_words(&p.role)) }
                    }
                }
            } @else if answer.paged {
                p #paging { "This joined an incident already open for you; its responders are \
                             being paged." }
            } @else {
                p #paging { "Nobody could be paged automatically. The helpdesk has been alerted; \
                             please call them." }
            }
            p #not-acknowledged .hint { "Nobody has acknowledged yet. Reload this page to see who \
                                         takes it." }
        }
    }
}

/// A page that only says why nothing can be done here: unknown, expired, refused.
pub fn message(title: &str, text: &str) -> Markup {
    shell(
        title,
        html! {
            h1 { (title) }
            section #refusal { p { (text) } }
        },
    )
}
