//! The Policies page (`/console/policies`, support managers and admins): each tier's
//! escalation policy (its own, or the built-in default it falls back to) against the tier's
//! SLA targets, then each customer's own policy; steps with their targets by name, timeouts,
//! repeats and the worst cases. Admins edit a policy on `/console/policies/edit`.
//!
//! The edit form writes through [`crate::store::Store::put_policy`], the same path as
//! `PUT /v1/admin/policies`: the policy is built by [`EscalationPolicy::new`] (its field
//! errors are shown on the step they name) and checked against the tier's SLA inside the
//! write's transaction; a chain that cannot keep the promise is rolled back and the check's
//! own message, with its arithmetic, is shown above the steps. Nothing is computed twice.
//!
//! Targets travel in the form as `account_manager`, `support_managers`, `role:<role>`,
//! `schedule:<id>` or `user:<id>`; a step is a multi-select of targets and a timeout in
//! minutes. Blank rows are ignored, so a policy grows by filling in the spare row.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};
use chrono::Duration;
use maud::{html, Markup};
use serde::Deserialize;

use super::csrf::{self, CsrfForm};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::{AdminSession, ManagerSession, StaffRole, StaffSession};
use crate::domain::escalation::{EscalationPolicy, ScheduleRef, Step, Target};
use crate::domain::minutes;
use crate::domain::sla::TierSla;
use crate::state::AppState;
use crate::store::schedules::{StoredPolicy, StoredSchedule};

/// Policies read at most; there is one per tier and per customer that has its own.
const POLICY_LIMIT: i64 = 1000;
/// Spare step rows the edit form offers beyond the policy's own steps.
const SPARE_ROWS: usize = 1;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(policies_page)
        .service(edit_page)
        .service(save_policy);
}

/// Names for targets: people, schedules by id and by role, teams.
struct Directory {
    people: Vec<(String, String)>,
    schedules: Vec<StoredSchedule>,
    /// (id, name) of the teams a round-robin step can name.
    teams: Vec<(String, String)>,
}

impl Directory {
    async fn load(state: &AppState) -> Result<Self, PageError> {
        Ok(Self {
            people: state
                .store
                .on_call_people()
                .await?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
            schedules: state.store.list_schedules().await?,
            // One page of teams is all the form offers: a desk has a handful.
            teams: state
                .store
                .teams_page(None, 200)
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect(),
        })
    }

    fn person(&self, id: &str) -> String {
        self.people
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(|| format!("unknown user {id}"), |(_, n)| n.clone())
    }

    fn describe(&self, target: &Target) -> String {
        match target {
            Target::AccountManager => "the customer's account manager".into(),
            Target::SupportManagers => "every support manager".into(),
            Target::User { user_id } => self.person(user_id),
            Target::Schedule {
                schedule: ScheduleRef::Role(role),
            } => match self
                .schedules
                .iter()
                .find(|s| s.role.as_deref() == Some(role))
            {
                Some(s) => format!("on call in {}", s.name),
                None => format!("on call in the {role} schedule (none has that role)"),
            },
            Target::Schedule {
                schedule: ScheduleRef::Id(id),
            } => match self.schedules.iter().find(|s| &s.id == id) {
                Some(s) => format!("on call in {}", s.name),
                None => format!("on call in schedule {id} (gone)"),
            },
            Target::TeamRoundRobin { team } => match self.teams.iter().find(|(i, _)| i == team) {
                Some((_, name)) => format!("the next available member of {name}, in turn"),
                None => format!("the next member of team {team} (gone)"),
            },
        }
    }

    /// Every target the form offers, as (form value, label).
    fn options(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("account_manager".to_owned(), "Account manager".to_owned()),
            ("support_managers".to_owned(), "Support managers".to_owned()),
        ];
        for s in &self.schedules {
            let value = match &s.role {
                Some(role) => format!("role:{role}"),
                None => format!("schedule:{}", s.id),
            };
            out.push((value, format!("On call: {}", s.name)));
        }
        for (id, name) in &self.teams {
            out.push((format!("team:{id}"), format!("Team in turn: {name}")));
        }
        for (id, name) in &self.people {
            out.push((format!("user:{id}"), name.clone()));
        }
        out
    }
}

fn target_value(target: &Target) -> String {
    match target {
        Target::AccountManager => "account_manager".into(),
        Target::SupportManagers => "support_managers".into(),
        Target::User { user_id } => format!("user:{user_id}"),
        Target::Schedule {
            schedule: ScheduleRef::Role(r),
        } => format!("role:{r}"),
        Target::Schedule {
            schedule: ScheduleRef::Id(id),
        } => format!("schedule:{id}"),
        Target::TeamRoundRobin { team } => format!("team:{team}"),
    }
}

fn parse_target(value: &str) -> Option<Target> {
    Some(match value.split_once(':') {
        None if value == "account_manager" => Target::AccountManager,
        None if value == "support_managers" => Target::SupportManagers,
        Some(("user", id)) if !id.is_empty() => Target::User {
            user_id: id.to_owned(),
        },
        Some(("team", id)) if !id.is_empty() => Target::TeamRoundRobin {
            team: id.to_owned(),
        },
        Some(("role", r)) if !r.is_empty() => Target::Schedule {
            schedule: ScheduleRef::role(r),
        },
        Some(("schedule", id)) if !id.is_empty() => Target::Schedule {
            schedule: ScheduleRef::Id(id.to_owned()),
        },
        _ => return None,
    })
}

fn steps_markup(policy: &EscalationPolicy, dir: &Directory) -> Markup {
    html! {
        ol.steps {
            @for step in policy.steps() {
                li {
                    span.step-time { (minutes::display(step.ack_timeout)) }
                    (step.targets.iter().map(|t| dir.describe(t)).collect::<Vec<_>>().join(", "))
                }
            }
        }
        p.muted.small {
            @if policy.repeat() == 0 { "One pass. " } @else { "Then " (policy.repeat()) " more " @if policy.repeat() == 1 { "pass" } @else { "passes" } ". " }
            "Last step of the first pass paged after " (minutes::display(policy.first_pass_to_last_step()))
            "; nobody answered after " (minutes::display(policy.worst_case_total())) "."
        }
    }
}

fn sla_line(sla: &TierSla) -> Markup {
    html! {
        p.muted {
            "Acknowledge within " strong { (minutes::display(sla.internal_ack())) }
            " (internal), respond within " strong { (minutes::display(sla.external_response())) } " (external)."
        }
    }
}

#[get("/console/policies")]
async fn policies_page(
    state: web::Data<AppState>,
    ManagerSession(who): ManagerSession,
) -> Result<HttpResponse, PageError> {
    let tiers = state.store.list_tiers().await?;
    let slas = state.store.tier_slas().await?;
    let stored = state.store.policies_page(None, POLICY_LIMIT).await?;
    let misfits = state.store.escalation_misfits().await?;
    let customers = state.store.customers_page(None, POLICY_LIMIT).await?;
    let dir = Directory::load(&state).await?;
    let admin = who.role >= StaffRole::Admin;
    let misfit_of = |tier: &str, policy: Option<&str>| {
        misfits
            .iter()
            .find(|m| m.tier == tier && m.policy_id.as_deref() == policy)
            .map(|m| m.reason.clone())
    };
    let default = EscalationPolicy::gold_default();
    let body = html! {
        div.page-head {
            h1 { "Policies" }
            p.muted { "Who is paged, in what order, and whether each chain can keep its tier's promise." }
        }
        @for tier in &tiers {
            @let own = stored.iter().find(|p| p.tier.as_deref() == Some(tier.id.as_str()));
            @let policy = own.map_or(&default, |p| &p.policy);
            section.card.policy id={"tier-" (tier.id)} {
                div.schedule-head {
                    h2 { (tier.name) " tier" }
                    span.muted.small { @match own { Some(p) => { "policy “" (p.name) "”" } None => { "built-in default policy" } } }
                    @if admin {
                        a.button href={"/console/policies/edit?tier=" (tier.id)} { "Edit" }
                    }
                }
                @if let Some(sla) = slas.get(&tier.id) { (sla_line(sla)) }
                @if let Some(reason) = misfit_of(&tier.id, own.map(|p| p.id.as_str())) {
                    p.error { "Cannot keep the promise: " (reason) }
                }
                (steps_markup(policy, &dir))
            }
        }
        h2 { "Customers with their own policy" }
        @let own_customers: Vec<&StoredPolicy> = stored.iter().filter(|p| p.customer_id.is_some()).collect();
        @if own_customers.is_empty() {
            p.muted { "None: every customer follows its tier's policy." }
        }
        @for p in own_customers {
            @let customer = customers.iter().find(|c| Some(&c.id) == p.customer_id.as_ref());
            section.card.policy {
                div.schedule-head {
                    h2 { (customer.map_or("a removed customer", |c| c.name.as_str())) }
                    @if let Some(c) = customer { span.tier { (c.tier) } }
                    span.muted.small { "policy “" (p.name) "”" }
                    @if admin {
                        @if let Some(c) = &p.customer_id {
                            a.button href={"/console/policies/edit?customer=" (c)} { "Edit" }
                        }
                    }
                }
                @if let Some(c) = customer {
                    @if let Some(reason) = misfit_of(&c.tier, Some(&p.id)) {
                        p.error { "Cannot keep the promise: " (reason) }
                    }
                }
                (steps_markup(&p.policy, &dir))
            }
        }
        @if admin {
            p.muted.small { "To give a customer its own policy, open " code { "/console/policies/edit?customer=ID" } "." }
        }
    };
    Ok(layout::respond(layout::page(
        "Policies",
        Some(Nav::new(&who, Section::Policies)),
        body,
    )))
}

/// Whose policy the form edits.
#[derive(Debug, Clone, Deserialize)]
struct Subject {
    tier: Option<String>,
    customer: Option<String>,
}

/// The form as typed, kept to show again with its errors.
#[derive(Debug, Default)]
struct Typed {
    name: String,
    repeat: String,
    /// Per row: chosen target values and the timeout text.
    rows: Vec<(Vec<String>, String)>,
}

#[derive(Debug, Default)]
struct Errors {
    /// The promise check's message, or any error not tied to one field.
    general: Option<String>,
    name: Option<String>,
    repeat: Option<String>,
    rows: HashMap<usize, String>,
}

struct Editing {
    tier: Option<String>,
    customer_id: Option<String>,
    /// "Gold tier" or "Acme Corp (gold)".
    label: String,
    /// The tier whose SLA the policy must keep.
    serves: String,
}

async fn editing(state: &AppState, subject: &Subject) -> Result<Editing, PageError> {
    match (&subject.tier, &subject.customer) {
        (Some(t), None) => {
            let tier = state
                .store
                .list_tiers()
                .await?
                .into_iter()
                .find(|x| &x.id == t)
                .ok_or_else(|| PageError::NotFound(format!("There is no tier {t}.")))?;
            Ok(Editing {
                tier: Some(tier.id.clone()),
                customer_id: None,
                label: format!("{} tier", tier.name),
                serves: tier.id,
            })
        }
        (None, Some(c)) => {
            let customer = state
                .store
                .customer(c)
                .await?
                .ok_or_else(|| PageError::NotFound(format!("There is no customer {c}.")))?;
            Ok(Editing {
                tier: None,
                customer_id: Some(customer.id.clone()),
                label: format!("{} ({})", customer.name, customer.tier),
                serves: customer.tier,
            })
        }
        _ => Err(PageError::NotFound(
            "Name a tier or a customer: /console/policies/edit?tier=gold".into(),
        )),
    }
}

fn typed_from(policy: &EscalationPolicy, name: &str) -> Typed {
    Typed {
        name: name.to_owned(),
        repeat: policy.repeat().to_string(),
        rows: policy
            .steps()
            .iter()
            .map(|s| {
                (
                    s.targets.iter().map(target_value).collect(),
                    s.ack_timeout.num_minutes().to_string(),
                )
            })
            .collect(),
    }
}

async fn edit_markup(
    state: &AppState,
    who: &StaffSession,
    e: &Editing,
    typed: &Typed,
    errors: &Errors,
) -> Result<Markup, PageError> {
    let dir = Directory::load(state).await?;
    let sla = state.store.tier_sla(&e.serves).await?;
    let mut options = dir.options();
    // Targets the policy names that the directory does not offer (a role no schedule has
    // yet) stay choosable, or saving the form would silently drop them.
    for value in typed.rows.iter().flat_map(|(chosen, _)| chosen) {
        if !options.iter().any(|(v, _)| v == value) {
            if let Some(target) = parse_target(value) {
                options.push((value.clone(), dir.describe(&target)));
            }
        }
    }
    let rows = typed.rows.len() + SPARE_ROWS;
    let body = html! {
        p.crumbs { a href="/console/policies" { "← Policies" } }
        div.page-head {
            h1 { "Edit the policy: " (e.label) }
            (sla_line(&sla))
        }
        form.card.policy-form method="post" action="/console/policies/edit" novalidate {
            (csrf::field(who))
            @if let Some(t) = &e.tier { input type="hidden" name="tier" value=(t); }
            @if let Some(c) = &e.customer_id { input type="hidden" name="customer" value=(c); }
            @if let Some(general) = &errors.general {
                div.error #policy-error role="alert" {
                    strong { "Nothing was saved. " } (general)
                }
            }
            label for="name" { "Name" }
            input #name type="text" name="name" value=(typed.name) maxlength="100";
            @if let Some(err) = &errors.name { p.error.field-error { (err) } }
            fieldset.steps-edit {
                legend { "Steps, in order. Each pages its targets, then waits its timeout." }
                @for i in 0..rows {
                    @let (chosen, timeout) = typed.rows.get(i).cloned().unwrap_or_default();
                    div.step-row id={"step-" (i + 1)} {
                        span.step-no { "Step " (i + 1) }
                        div {
                            label for={"targets" (i)} { "Page" }
                            select id={"targets" (i)} name={"targets" (i)} multiple size="4" {
                                @for (value, label) in &options {
                                    option value=(value) selected[chosen.contains(value)] { (label) }
                                }
                            }
                            // A multi-select hides its choices once scrolled; say them.
                            @if !chosen.is_empty() {
                                p.muted.small.chosen {
                                    "Pages: "
                                    (options.iter().filter(|(v, _)| chosen.contains(v)).map(|(_, l)| l.as_str()).collect::<Vec<_>>().join(", "))
                                }
                            }
                        }
                        div {
                            label for={"timeout" (i)} { "Wait (minutes)" }
                            input type="number" min="1" id={"timeout" (i)} name={"timeout" (i)} value=(timeout) inputmode="numeric";
                        }
                        @if let Some(err) = errors.rows.get(&i) { p.error.field-error { (err) } }
                    }
                }
            }
            label for="repeat" { "Extra passes after the first" }
            input #repeat type="number" min="0" max="9" name="repeat" value=(typed.repeat);
            @if let Some(err) = &errors.repeat { p.error.field-error { (err) } }
            div { button.primary type="submit" { "Save policy" } }
        }
    };
    Ok(layout::page(
        "Edit policy",
        Some(Nav::new(who, Section::Policies)),
        body,
    ))
}

#[get("/console/policies/edit")]
async fn edit_page(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    subject: web::Query<Subject>,
) -> Result<HttpResponse, PageError> {
    let e = editing(&state, &subject).await?;
    let stored = state.store.policies_page(None, POLICY_LIMIT).await?;
    let current = stored
        .iter()
        .find(|p| p.tier == e.tier && p.customer_id == e.customer_id);
    let typed = match current {
        Some(p) => typed_from(&p.policy, &p.name),
        // A customer starts from its tier's policy; a tier from the built-in default.
        None => {
            let tier_policy = stored
                .iter()
                .find(|p| p.tier.as_deref() == Some(e.serves.as_str()));
            let policy =
                tier_policy.map_or_else(EscalationPolicy::gold_default, |p| p.policy.clone());
            typed_from(&policy, &format!("{} policy", e.label))
        }
    };
    Ok(layout::respond(
        edit_markup(&state, &who, &e, &typed, &Errors::default()).await?,
    ))
}

/// Reads the posted pairs into what was typed, and the steps and repeat if they parse.
fn read_form(pairs: &[(String, String)]) -> (Typed, Errors, Vec<Step>, u32, Subject) {
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut errors = Errors::default();
    let rows = pairs
        .iter()
        .filter_map(|(k, _)| {
            k.strip_prefix("timeout")
                .or_else(|| k.strip_prefix("targets"))
                .and_then(|n| n.parse::<usize>().ok())
        })
        .max()
        .map_or(0, |m| m + 1)
        .min(50);
    let mut typed = Typed {
        name: get("name").unwrap_or_default(),
        repeat: get("repeat").unwrap_or_default(),
        rows: Vec::new(),
    };
    let mut steps = Vec::new();
    for i in 0..rows {
        let chosen: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| *k == format!("targets{i}"))
            .map(|(_, v)| v.clone())
            .collect();
        let timeout = get(&format!("timeout{i}")).unwrap_or_default();
        if chosen.is_empty() && timeout.trim().is_empty() {
            continue;
        }
        let row = typed.rows.len();
        typed.rows.push((chosen.clone(), timeout.clone()));
        let targets: Option<Vec<Target>> = chosen.iter().map(|v| parse_target(v)).collect();
        let minutes = timeout.trim().parse::<u32>().ok().filter(|m| *m >= 1);
        match (targets, minutes) {
            (Some(targets), Some(m)) => steps.push(Step {
                targets,
                ack_timeout: Duration::minutes(i64::from(m)),
            }),
            (None, _) => {
                errors
                    .rows
                    .insert(row, "An unknown target was chosen.".into());
            }
            (_, None) => {
                errors
                    .rows
                    .insert(row, "Give the wait in whole minutes, at least 1.".into());
            }
        }
    }
    let repeat = match typed.repeat.trim() {
        "" => 0,
        r => r.parse::<u32>().unwrap_or_else(|_| {
            errors.repeat = Some("Give a whole number from 0 to 9.".into());
            0
        }),
    };
    if typed.name.trim().is_empty() {
        errors.name = Some("Give the policy a name.".into());
    }
    let subject = Subject {
        tier: get("tier"),
        customer: get("customer"),
    };
    (typed, errors, steps, repeat, subject)
}

/// `steps[2].targets` → row 2 (rows are the non-blank ones, in order).
fn step_of(field: &str) -> Option<usize> {
    field
        .strip_prefix("steps[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// The form again with what was typed and why it was refused; nothing was saved.
async fn refuse(
    state: &AppState,
    who: &StaffSession,
    e: &Editing,
    typed: &Typed,
    errors: &Errors,
) -> Result<HttpResponse, PageError> {
    let page = edit_markup(state, who, e, typed, errors).await?;
    Ok(layout::respond_with(
        HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY),
        page,
    ))
}

#[post("/console/policies/edit")]
async fn save_policy(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (typed, mut errors, steps, repeat, subject) = read_form(&pairs);
    let e = editing(&state, &subject).await?;
    if errors.name.is_some() || errors.repeat.is_some() || !errors.rows.is_empty() {
        return refuse(&state, &who, &e, &typed, &errors).await;
    }
    let policy = match EscalationPolicy::new(steps, repeat) {
        Ok(p) => p,
        Err(err) => {
            match step_of(&err.field) {
                Some(row) => {
                    errors
                        .rows
                        .insert(row, format!("This step {}.", err.reason));
                }
                None if err.field == "repeat" => errors.repeat = Some(err.reason),
                None if err.field == "steps" => {
                    errors.general = Some("A policy needs at least one step.".into())
                }
                None => errors.general = Some(err.to_string()),
            }
            return refuse(&state, &who, &e, &typed, &errors).await;
        }
    };
    let saved = state
        .store
        .put_policy(
            typed.name.trim(),
            e.tier.as_deref(),
            e.customer_id.as_deref(),
            &policy,
            state.clock.now(),
        )
        .await?;
    match saved {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/console/policies"))
            .finish()),
        Err(misfit) => {
            errors.general = Some(format!(
                "This chain cannot keep the {} tier's promise: {}.",
                misfit.tier, misfit.reason
            ));
            refuse(&state, &who, &e, &typed, &errors).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_the_form() {
        for t in [
            Target::AccountManager,
            Target::SupportManagers,
            Target::User {
                user_id: "u1".into(),
            },
            Target::Schedule {
                schedule: ScheduleRef::role("primary"),
            },
            Target::Schedule {
                schedule: ScheduleRef::Id("s1".into()),
            },
        ] {
            assert_eq!(parse_target(&target_value(&t)), Some(t));
        }
        assert_eq!(parse_target("user:"), None);
        assert_eq!(parse_target("everyone"), None);
    }

    #[test]
    fn blank_rows_are_skipped_and_bad_ones_named() {
        let pairs: Vec<(String, String)> = [
            ("name", "Gold"),
            ("targets0", "account_manager"),
            ("timeout0", "5"),
            ("timeout1", ""),
            ("targets2", "support_managers"),
            ("timeout2", "soon"),
            ("repeat", "1"),
            ("tier", "gold"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (typed, errors, steps, repeat, subject) = read_form(&pairs);
        assert_eq!(typed.rows.len(), 2);
        assert_eq!(steps.len(), 1);
        assert_eq!(repeat, 1);
        assert_eq!(
            errors.rows.get(&1).map(String::as_str),
            Some("Give the wait in whole minutes, at least 1.")
        );
        assert_eq!(subject.tier.as_deref(), Some("gold"));
        assert_eq!(step_of("steps[3].targets"), Some(3));
    }
}
