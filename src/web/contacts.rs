//! Contact methods and notification rules in the console: `/console/me/contact-methods` for
//! everyone signed in (their own), and `/console/people/{user}/contact-methods` for admins (a
//! staff member's, with "Mark verified" where the person would enter a code).
//!
//! The page lists the methods (verified, pending with the code's expiry and the resend
//! cooldown, disabled with the provider's reason) and the push devices (read-only: they are
//! enrolled on the phone); a form adds a method, an unverified one takes its 6-digit code or
//! asks for a new one, and the rules in effect (own, the admin's default or the built-in,
//! said which) are edited as rows of (method or kind, delay). Every action goes through
//! [`crate::contact_actions`], as the JSON API does, so both refuse and audit alike.
//!
//! After a change the browser is sent back to the page with a notice (`?done=…`, so a reload
//! repeats nothing; `#notice` scrolls to it); a refusal shows the page again with what was typed and the reason next
//! to the field, with 422 (429 for a new code asked for within the cooldown) and nothing
//! changed. Rule rows travel as `method{i}` (`push`, `sms`, `voice`, `email`, or
//! `method:<id>` for one method) and `delay{i}`; a blank or ticked `remove{i}` row is
//! dropped, and one spare row adds a rule.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::csrf::{self, CsrfForm, NoFields};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::{AdminSession, StaffSession};
use crate::contact_actions::{
    self as actions, CodeSent, ContactError, FieldProblem, NewMethod, RuleSource,
};
use crate::domain::contact::{
    code_sent_at, resend_wait, Channel, MethodKind, NotificationRule, MAX_RULES,
};
use crate::domain::identity::Device;
use crate::state::AppState;
use crate::store::contacts::ContactMethod;

/// Devices listed at most (a person has a phone or two).
const DEVICE_LIMIT: i64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(my_page)
        .service(my_add)
        .service(my_verify)
        .service(my_resend)
        .service(my_delete)
        .service(my_rules)
        .service(user_page)
        .service(user_add)
        .service(user_vouch)
        .service(user_delete)
        .service(user_rules);
}

/// Whose methods the page shows, and whether an admin is looking at someone's.
struct Owner {
    user_id: String,
    name: String,
    /// `/console/me/contact-methods` or `/console/people/{id}/contact-methods`.
    base: String,
    /// Where the rules form posts.
    rules_action: String,
    by_admin: bool,
}

impl Owner {
    fn me(who: &StaffSession) -> Self {
        Self {
            user_id: who.user_id.clone(),
            name: who.name.clone(),
            base: "/console/me/contact-methods".into(),
            rules_action: "/console/me/notification-rules".into(),
            by_admin: false,
        }
    }

    /// Staff member `id`, for an admin; a customer's contact has no methods.
    async fn staff(state: &AppState, id: &str) -> Result<Self, PageError> {
        let user = actions::staff_user(state, id).await.map_err(|e| match e {
            ContactError::Store(e) => PageError::Store(e),
            _ => PageError::NotFound(format!(
                "There is no staff member {id}: only staff have contact methods."
            )),
        })?;
        Ok(Self {
            base: format!("/console/people/{}/contact-methods", user.id),
            rules_action: format!("/console/people/{}/notification-rules", user.id),
            user_id: user.id,
            name: user.name,
            by_admin: true,
        })
    }
}

/// What to show besides the stored state: a notice after a change, or a refusal with what
/// was typed.
#[derive(Default)]
struct Feedback {
    notice: Option<String>,
    /// The notice is about the rules: shown in their form, where the browser is sent.
    notice_on_rules: bool,
    /// The add form as typed, and its errors by field (`kind`, `address`).
    add_kind: String,
    add_address: String,
    add_errors: HashMap<String, String>,
    /// An error on one method's code or resend form: (method id, text).
    method_error: Option<(String, String)>,
    /// The rules form as typed, its errors by row, and one not tied to a row.
    rules_typed: Option<Vec<(String, String)>>,
    rule_errors: HashMap<usize, String>,
    rules_error: Option<String>,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// The notice a `?done=` names.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "sent" => "A 6-digit code was sent: enter it below to verify the method.",
        "no-provider" => {
            "This gateway cannot send codes over that channel yet: an admin can mark the method verified."
        }
        "refused" => "The provider refused the address, so the method is disabled. Check it and add it again.",
        "failed" => "The code could not be sent just now; ask for a new one in a minute.",
        "added" => "Added.",
        "verified" => "Verified: this method is paged from now on.",
        "deleted" => "Deleted: the method is not paged any more.",
        "rules" => "Rules saved.",
        _ => return None,
    })
}

fn done_slug(sent: &CodeSent) -> &'static str {
    match sent {
        CodeSent::Sent { .. } => "sent",
        CodeSent::NoProvider { .. } => "no-provider",
        CodeSent::Refused { .. } => "refused",
        CodeSent::Failed => "failed",
        CodeSent::Vouched => "added",
    }
}

fn back(owner: &Owner, done: &str, anchor: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("{}?done={done}#{anchor}", owner.base),
        ))
        .finish()
}

fn kind_label(kind: MethodKind) -> &'static str {
    match kind {
        MethodKind::Sms => "SMS",
        MethodKind::Voice => "Voice call",
        MethodKind::Email => "E-mail",
    }
}

/// What a rule row's `method{i}` value is: a whole kind, or one method.
fn rule_value(rule: &NotificationRule) -> String {
    match &rule.method_id {
        Some(id) => format!("method:{id}"),
        None => rule.method.as_str().to_owned(),
    }
}

/// The choices of a rule row.
fn rule_options(methods: &[ContactMethod]) -> Vec<(String, String)> {
    let mut out = vec![
        ("push".to_owned(), "Push, every device".to_owned()),
        ("sms".to_owned(), "SMS, every verified number".to_owned()),
        (
            "voice".to_owned(),
            "Voice call, every verified number".to_owned(),
        ),
        (
            "email".to_owned(),
            "E-mail, every verified address".to_owned(),
        ),
    ];
    for m in methods {
        out.push((
            format!("method:{}", m.id),
            format!("{} to {} only", kind_label(m.kind), m.address),
        ));
    }
    out
}

fn source_text(source: RuleSource, by_admin: bool) -> &'static str {
    match (source, by_admin) {
        (RuleSource::User, false) => "These are your own rules.",
        (RuleSource::User, true) => "These are this person's own rules.",
        (RuleSource::Default, _) => {
            "The admin's default applies (no own rules set); saving makes them own rules."
        }
        (RuleSource::Builtin, _) => {
            "The built-in default applies (no own rules and no admin default); saving makes them own rules."
        }
    }
}

fn method_row(
    who: &StaffSession,
    owner: &Owner,
    m: &ContactMethod,
    now: chrono::DateTime<chrono::Utc>,
    error: Option<&str>,
) -> Markup {
    let action = |what: &str| format!("{}/{}/{what}", owner.base, m.id);
    let wait = resend_wait(m.code_expires_at.map(code_sent_at), now);
    html! {
        tr #{"method-" (m.id)} data-state=(if m.disabled_reason.is_some() { "disabled" } else if m.verified { "verified" } else { "pending" }) {
            td data-label="Kind" { (kind_label(m.kind)) }
            td data-label="Address" { code { (m.address) } }
            td data-label="State" {
                @if let Some(reason) = &m.disabled_reason {
                    span.badge.off { "disabled" } div.muted.small { (reason) }
                } @else if m.verified {
                    span.badge.on { "verified" }
                } @else {
                    span.badge.warn { "pending" }
                    @if let Some(exp) = m.code_expires_at {
                        @if exp > now {
                            div.muted.small { "code valid for " (crate::domain::countdown::span(exp - now)) }
                        } @else {
                            div.muted.small { "code expired" }
                        }
                    }
                }
            }
            td.actions {
                @if !m.verified && m.disabled_reason.is_none() {
                    @if owner.by_admin {
                        form.inline method="post" action=(action("vouch")) {
                            (csrf::field(who))
                            button type="submit" { "Mark verified" }
                        }
                    } @else {
                        form.code-form method="post" action=(action("verify")) novalidate {
                            (csrf::field(who))
                            label for={"code-" (m.id)} { "Code sent to it" }
                            input type="text" id={"code-" (m.id)} name="code" inputmode="numeric"
                                autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6"
                                size="8" aria-invalid=[error.map(|_| "true")];
                            button.primary type="submit" { "Verify" }
                        }
                        form.inline method="post" action=(action("resend")) {
                            (csrf::field(who))
                            button type="submit" { "Send a new code" }
                        }
                        @if let Some(secs) = wait {
                            span.muted.small.cooldown { " (wait " (secs) " s)" }
                        }
                    }
                }
                @if let Some(e) = error { p.error.field-error role="alert" { (e) } }
                form.inline method="post" action=(action("delete")) {
                    (csrf::field(who))
                    button.danger type="submit" aria-label={"Delete " (m.address)} { "Delete" }
                }
            }
        }
    }
}

fn device_row(d: &Device) -> Markup {
    html! {
        li.device #{"device-" (d.id)} {
            span.device-name { (d.name) } " "
            span.muted { (d.platform.as_str()) " · app " (d.app_version) } " "
            @if d.revoked { span.badge.off { "revoked" } }
            @else if d.push_token_dead { span.badge.warn { "push token dead" } }
            @else { span.badge.on { "active" } }
        }
    }
}

/// The whole page for `owner`, with `fb` shown.
async fn render(
    state: &AppState,
    who: &StaffSession,
    owner: &Owner,
    fb: &Feedback,
) -> Result<Markup, PageError> {
    let methods = state.store.contact_methods(&owner.user_id).await?;
    let devices = state
        .store
        .devices_page(Some(&owner.user_id), None, DEVICE_LIMIT)
        .await?;
    let view = actions::rules_view(state, Some(&owner.user_id)).await?;
    let now = state.clock.now();
    let rows: Vec<(String, String)> = fb.rules_typed.clone().unwrap_or_else(|| {
        view.rules
            .rules()
            .iter()
            .map(|r| (rule_value(r), r.delay_minutes.to_string()))
            .collect()
    });
    let options = rule_options(&methods);
    let spare = usize::from(rows.len() < MAX_RULES);
    let add_error = |field: &str| fb.add_errors.get(field);
    let title = if owner.by_admin {
        format!("Contact methods of {}", owner.name)
    } else {
        "My contact methods".to_owned()
    };
    let body = html! {
        @if owner.by_admin { p.crumbs { a href={"/console/people#user-" (owner.user_id)} { "← Customers and people" } } }
        div.page-head {
            h1 { (title) }
            p.muted {
                "Besides push, a page reaches " @if owner.by_admin { "them" } @else { "you" }
                " by SMS, voice call or e-mail, as the rules below say. A method is used only once verified"
                @if owner.by_admin { ": mark it verified if you vouch for it." } @else { ": enter the 6-digit code sent to it." }
            }
        }
        @if let (Some(n), false) = (&fb.notice, fb.notice_on_rules) { p.notice #notice role="status" { (n) } }
        h2 #methods-head { "Methods" }
        @if methods.is_empty() {
            p.calm #no-methods { "No contact methods yet: add one below." }
        } @else {
            div.table-wrap {
                table #methods {
                    thead { tr {
                        th scope="col" { "Kind" } th scope="col" { "Address" } th scope="col" { "State" }
                        th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for m in &methods {
                            @let error = fb.method_error.as_ref().filter(|(id, _)| *id == m.id).map(|(_, e)| e.as_str());
                            (method_row(who, owner, m, now, error))
                        }
                    }
                }
            }
        }
        form.card.add-method #add-method method="post" action=(owner.base) novalidate {
            (csrf::field(who))
            h3 { "Add a method" }
            div.form-row {
                div {
                    label for="kind" { "Kind" }
                    select #kind name="kind" aria-invalid=[add_error("kind").map(|_| "true")] {
                        @for (value, label) in [("sms", "SMS"), ("voice", "Voice call"), ("email", "E-mail")] {
                            option value=(value) selected[fb.add_kind == value] { (label) }
                        }
                    }
                    @if let Some(e) = add_error("kind") { p.error.field-error #kind-error { (e) } }
                }
                div {
                    label for="address" { "Number (E.164, e.g. +14155550100) or e-mail address" }
                    input #address type="text" name="address" value=(fb.add_address) maxlength="254"
                        autocomplete="off" aria-invalid=[add_error("address").map(|_| "true")];
                    @if let Some(e) = add_error("address") { p.error.field-error #address-error { (e) } }
                }
            }
            p { button.primary type="submit" { "Add and send a code" } }
        }
        h2 { "Push devices" }
        @if devices.is_empty() {
            p.calm #no-devices { "No devices: enroll the app on a phone with a code from an admin." }
        } @else {
            ul.devices #devices { @for d in &devices { (device_row(d)) } }
            p.muted.small { "Devices are enrolled and removed on the phone or by an admin." }
        }
        h2 { "Notification rules" }
        form.card.rules-form #rules method="post" action=(owner.rules_action) novalidate {
            (csrf::field(who))
            p #rules-source data-source=(view.source.as_str()) { (source_text(view.source, owner.by_admin)) }
            @if let (Some(n), true) = (&fb.notice, fb.notice_on_rules) { p.notice #notice role="status" { (n) } }
            @if let Some(e) = &fb.rules_error {
                div.error #rules-error role="alert" { strong { "Nothing was saved. " } (e) }
            }
            fieldset.steps-edit {
                legend { "When paged, reach by each method after its delay (until acknowledged)." }
                @for i in 0..rows.len() + spare {
                    @let (value, delay) = rows.get(i).cloned().unwrap_or_default();
                    div.step-row.rule-row id={"rule-" (i + 1)} {
                        span.step-no { @if i < rows.len() { "Rule " (i + 1) } @else { "New" } }
                        div {
                            label for={"method" (i)} { "Reach by" }
                            select id={"method" (i)} name={"method" (i)} {
                                @if i >= rows.len() { option value="" selected { "(choose to add a rule)" } }
                                @for (v, label) in &options {
                                    option value=(v) selected[*v == value] { (label) }
                                }
                                // A typed value the options no longer have stays visible.
                                @if !value.is_empty() && !options.iter().any(|(v, _)| *v == value) {
                                    option value=(value) selected { (value) }
                                }
                            }
                        }
                        div {
                            label for={"delay" (i)} { "After (minutes)" }
                            input type="number" min="0" max="60" id={"delay" (i)} name={"delay" (i)}
                                value=(delay) inputmode="numeric"
                                aria-invalid=[fb.rule_errors.get(&i).map(|_| "true")];
                            @if i < rows.len() {
                                label.small.remove { input type="checkbox" name={"remove" (i)} value="1"; " remove" }
                            }
                        }
                        @if let Some(e) = fb.rule_errors.get(&i) { p.error.field-error { (e) } }
                    }
                }
            }
            p { button.primary type="submit" { "Save rules" } }
        }
    };
    let section = if owner.by_admin {
        Section::People
    } else {
        Section::Contacts
    };
    Ok(layout::page(&title, Some(Nav::new(who, section)), body))
}

async fn show(
    state: &AppState,
    req: &HttpRequest,
    who: &StaffSession,
    owner: &Owner,
) -> Result<HttpResponse, PageError> {
    let done = serde_urlencoded::from_str::<Done>(req.query_string())
        .ok()
        .and_then(|d| d.done);
    let fb = Feedback {
        notice: done.as_deref().and_then(notice).map(str::to_owned),
        notice_on_rules: done.as_deref() == Some("rules"),
        add_kind: "sms".into(),
        ..Feedback::default()
    };
    Ok(layout::respond(render(state, who, owner, &fb).await?))
}

/// The page again with `fb`'s refusal, under `status`; nothing was changed.
async fn refuse(
    state: &AppState,
    who: &StaffSession,
    owner: &Owner,
    fb: &Feedback,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let page = render(state, who, owner, fb).await?;
    Ok(layout::respond_with(HttpResponse::build(status), page))
}

/// A refusal of an action on one method: the page with the reason by that method, or a
/// plain error page when there is no such method.
async fn refuse_on_method(
    state: &AppState,
    who: &StaffSession,
    owner: &Owner,
    id: &str,
    e: ContactError,
) -> Result<HttpResponse, PageError> {
    let mut retry_after = None;
    let (status, text) = match e {
        ContactError::Store(e) => return Err(e.into()),
        ContactError::NotFound(_) => {
            return Err(PageError::NotFound(format!(
                "There is no contact method {id} here."
            )))
        }
        ContactError::Wait { secs } => {
            retry_after = Some(secs);
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "A code was sent less than a minute ago: wait {secs} s before asking for a new one."
                ),
            )
        }
        ContactError::AlreadyVerified => (
            StatusCode::CONFLICT,
            "This method is already verified.".to_owned(),
        ),
        ContactError::Invalid(fields) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            fields
                .into_iter()
                .map(|f| capitalise(&f.reason))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    let fb = Feedback {
        method_error: Some((id.to_owned(), text)),
        add_kind: "sms".into(),
        ..Feedback::default()
    };
    let mut res = refuse(state, who, owner, &fb, status).await?;
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    Ok(res)
}

/// "is not the code…" → "Is not the code…": the domain's reasons read as sentences.
fn capitalise(reason: &str) -> String {
    let mut chars = reason.chars();
    match chars.next() {
        Some(c) => {
            let mut s: String = c.to_uppercase().collect();
            s.push_str(chars.as_str());
            if !s.ends_with('.') {
                s.push('.');
            }
            s
        }
        None => String::new(),
    }
}

#[derive(Deserialize)]
struct AddForm {
    kind: String,
    address: String,
}

async fn add(
    state: &AppState,
    who: &StaffSession,
    owner: &Owner,
    form: AddForm,
) -> Result<HttpResponse, PageError> {
    let new = NewMethod {
        kind: form.kind.clone(),
        address: form.address.clone(),
        verified: false,
    };
    match actions::create(state, &owner.user_id, new, false, &who.actor()).await {
        Ok((_, sent)) => Ok(back(owner, done_slug(&sent), "notice")),
        Err(ContactError::Invalid(fields)) => {
            let fb = Feedback {
                add_kind: form.kind,
                add_address: form.address,
                add_errors: fields
                    .into_iter()
                    .map(|FieldProblem { field, reason }| (field, capitalise(&reason)))
                    .collect(),
                ..Feedback::default()
            };
            refuse(state, who, owner, &fb, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(ContactError::Store(e)) => Err(e.into()),
        Err(other) => Err(PageError::BadForm(other.to_string())),
    }
}

/// Reads the rule rows: the rules to check, what was typed (to show again), the row each
/// rule came from, and errors found before the domain's check.
type ReadRules = (
    Vec<NotificationRule>,
    Vec<(String, String)>,
    Vec<usize>,
    HashMap<usize, String>,
);

fn read_rules(pairs: &[(String, String)], methods: &[ContactMethod]) -> ReadRules {
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let rows = pairs
        .iter()
        .filter_map(|(k, _)| {
            k.strip_prefix("method")
                .or_else(|| k.strip_prefix("delay"))
                .and_then(|n| n.parse::<usize>().ok())
        })
        .max()
        .map_or(0, |m| m + 1)
        .min(MAX_RULES + 5);
    let (mut rules, mut typed, mut from_row, mut errors) =
        (Vec::new(), Vec::new(), Vec::new(), HashMap::new());
    for i in 0..rows {
        let value = get(&format!("method{i}")).unwrap_or_default();
        let delay = get(&format!("delay{i}")).unwrap_or_default();
        if get(&format!("remove{i}")).is_some() || value.trim().is_empty() {
            continue;
        }
        let row = typed.len();
        typed.push((value.clone(), delay.clone()));
        let delay_minutes = match delay.trim() {
            "" => Some(0),
            d => d.parse::<u32>().ok(),
        };
        let Some(delay_minutes) = delay_minutes else {
            errors.insert(row, "Give the delay in whole minutes, 0 to 60.".into());
            continue;
        };
        let rule = match value.strip_prefix("method:") {
            Some(id) => match methods.iter().find(|m| m.id == id) {
                Some(m) => NotificationRule {
                    method: m.kind.channel(),
                    method_id: Some(m.id.clone()),
                    delay_minutes,
                },
                None => {
                    errors.insert(row, "That contact method is gone; choose another.".into());
                    continue;
                }
            },
            None => match Channel::parse(&value) {
                Some(method) => NotificationRule {
                    method,
                    method_id: None,
                    delay_minutes,
                },
                None => {
                    errors.insert(row, "Choose a method from the list.".into());
                    continue;
                }
            },
        };
        rules.push(rule);
        from_row.push(row);
    }
    (rules, typed, from_row, errors)
}

/// `rules[2].delay_minutes` → 2.
fn rule_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("rules[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

async fn save_rules(
    state: &AppState,
    who: &StaffSession,
    owner: &Owner,
    pairs: Vec<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let methods = state.store.contact_methods(&owner.user_id).await?;
    let (rules, typed, from_row, mut errors) = read_rules(&pairs, &methods);
    let mut general = None;
    if errors.is_empty() {
        match actions::set_rules(state, Some(&owner.user_id), rules, &who.actor()).await {
            Ok(_) => return Ok(back(owner, "rules", "rules")),
            Err(ContactError::Invalid(fields)) => {
                for f in fields {
                    match rule_index(&f.field).and_then(|i| from_row.get(i)) {
                        Some(row) => {
                            errors.insert(*row, capitalise(&f.reason));
                        }
                        None => general = Some(capitalise(&f.reason)),
                    }
                }
            }
            Err(ContactError::Store(e)) => return Err(e.into()),
            Err(other) => return Err(PageError::BadForm(other.to_string())),
        }
    }
    let fb = Feedback {
        rules_typed: Some(typed),
        rule_errors: errors,
        rules_error: general,
        add_kind: "sms".into(),
        ..Feedback::default()
    };
    refuse(state, who, owner, &fb, StatusCode::UNPROCESSABLE_ENTITY).await
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

#[get("/console/me/contact-methods")]
async fn my_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: StaffSession,
) -> Result<HttpResponse, PageError> {
    show(&state, &req, &who, &Owner::me(&who)).await
}

#[post("/console/me/contact-methods")]
async fn my_add(
    state: web::Data<AppState>,
    who: StaffSession,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Result<HttpResponse, PageError> {
    add(&state, &who, &Owner::me(&who), form).await
}

#[post("/console/me/contact-methods/{id}/verify")]
async fn my_verify(
    state: web::Data<AppState>,
    who: StaffSession,
    CsrfForm(form): CsrfForm<CodeForm>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let owner = Owner::me(&who);
    match actions::verify(&state, &who.user_id, &id, &form.code).await {
        Ok(_) => Ok(back(&owner, "verified", "notice")),
        Err(e) => refuse_on_method(&state, &who, &owner, &id, e).await,
    }
}

#[post("/console/me/contact-methods/{id}/resend")]
async fn my_resend(
    state: web::Data<AppState>,
    who: StaffSession,
    _: CsrfForm<NoFields>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let owner = Owner::me(&who);
    match actions::resend(&state, &who.user_id, &id).await {
        Ok(sent) => Ok(back(&owner, done_slug(&sent), "notice")),
        Err(e) => refuse_on_method(&state, &who, &owner, &id, e).await,
    }
}

#[post("/console/me/contact-methods/{id}/delete")]
async fn my_delete(
    state: web::Data<AppState>,
    who: StaffSession,
    _: CsrfForm<NoFields>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let owner = Owner::me(&who);
    match actions::remove(&state, &who.user_id, &id, &who.actor()).await {
        Ok(()) => Ok(back(&owner, "deleted", "notice")),
        Err(e) => refuse_on_method(&state, &who, &owner, &id, e).await,
    }
}

#[post("/console/me/notification-rules")]
async fn my_rules(
    state: web::Data<AppState>,
    who: StaffSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    save_rules(&state, &who, &Owner::me(&who), pairs).await
}

#[get("/console/people/{user}/contact-methods")]
async fn user_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    AdminSession(who): AdminSession,
    user: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let owner = Owner::staff(&state, &user).await?;
    show(&state, &req, &who, &owner).await
}

#[post("/console/people/{user}/contact-methods")]
async fn user_add(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    CsrfForm(form): CsrfForm<AddForm>,
    user: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let owner = Owner::staff(&state, &user).await?;
    add(&state, &who, &owner, form).await
}

/// The admin vouches for a method: verified without a code.
#[post("/console/people/{user}/contact-methods/{id}/vouch")]
async fn user_vouch(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    _: CsrfForm<NoFields>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (user, id) = path.into_inner();
    let owner = Owner::staff(&state, &user).await?;
    match actions::vouch(&state, &owner.user_id, &id, &who.actor()).await {
        Ok(_) => Ok(back(&owner, "verified", "notice")),
        Err(e) => refuse_on_method(&state, &who, &owner, &id, e).await,
    }
}

#[post("/console/people/{user}/contact-methods/{id}/delete")]
async fn user_delete(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    _: CsrfForm<NoFields>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (user, id) = path.into_inner();
    let owner = Owner::staff(&state, &user).await?;
    match actions::remove(&state, &owner.user_id, &id, &who.actor()).await {
        Ok(()) => Ok(back(&owner, "deleted", "notice")),
        Err(e) => refuse_on_method(&state, &who, &owner, &id, e).await,
    }
}

#[post("/console/people/{user}/notification-rules")]
async fn user_rules(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
    user: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let owner = Owner::staff(&state, &user).await?;
    save_rules(&state, &who, &owner, pairs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_rows_skip_blank_and_removed_and_name_bad_ones() {
        let pairs: Vec<(String, String)> = [
            ("method0", "push"),
            ("delay0", "0"),
            ("method1", "sms"),
            ("delay1", "soon"),
            ("method2", "voice"),
            ("delay2", "3"),
            ("remove2", "1"),
            ("method3", "method:gone"),
            ("delay3", "2"),
            ("method4", ""),
            ("delay4", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (rules, typed, from_row, errors) = read_rules(&pairs, &[]);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].method, Channel::Push);
        assert_eq!(typed.len(), 3, "removed and blank rows are dropped");
        assert_eq!(from_row, [0]);
        assert!(errors[&1].contains("whole minutes"));
        assert!(errors[&2].contains("gone"));
        assert_eq!(rule_index("rules[3].delay_minutes"), Some(3));
        assert_eq!(capitalise("must be x"), "Must be x.");
    }
}
