//! The On-call page (`/console/oncall`): for each schedule, who is on call now and the next
//! seven days as a timeline drawn on the server (one inline SVG bar per local day, a colour
//! per person, overrides hatched and listed), everyone's unavailability, and for support
//! managers and admins a form to add an override ("cover Pat Tuesday 18:00–22:00").
//!
//! Days and form times are in the schedule's own time zone (a day across a clock change is
//! drawn 23 or 25 hours long, as the rotation hands off). SVG rather than positioned `<div>`s
//! because the CSP allows no inline styles, and SVG geometry is attributes, not style. The
//! override goes through [`crate::store::Store::add_schedule_override`], the same path and
//! validation as `POST /v1/admin/schedules/{id}/overrides`; its refusals are shown next to
//! the field they name, with what was typed kept.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Days, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};
use serde::Deserialize;

use super::csrf::{self, CsrfForm};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::{ManagerSession, StaffRole, StaffSession};
use crate::domain::calendar::resolve_local;
use crate::domain::schedule::{OnCall, OnCallSource, Override};
use crate::state::AppState;
use crate::store::oncall::Person;
use crate::store::schedules::{OverrideAdded, StoredSchedule};

/// Days the timeline shows, from today (in the schedule's zone).
const DAYS: u64 = 7;
/// Colours in the stylesheet (`.p0` … `.p7`); people beyond share them by turns.
const COLOURS: usize = 8;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(oncall_page).service(add_override);
}

/// The override form as typed, and what was wrong with it.
#[derive(Debug, Default, Deserialize)]
struct OverrideForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
}

struct Refused<'a> {
    schedule_id: &'a str,
    form: &'a OverrideForm,
    errors: HashMap<&'static str, String>,
}

/// `YYYY-MM-DDTHH:MM[:SS]` as a browser's `datetime-local` sends it, in `tz`.
fn parse_local(tz: Tz, value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let local = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    Some(resolve_local(tz, local))
}

fn local(tz: Tz, at: DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&tz).format(format).to_string()
}

/// The local midnights of today and the next [`DAYS`] days, as instants.
fn day_bounds(tz: Tz, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    (0..=DAYS)
        .map(|d| {
            let date = today.checked_add_days(Days::new(d)).unwrap_or(today);
            resolve_local(tz, date.and_time(chrono::NaiveTime::MIN))
        })
        .collect()
}

fn is_override(shift: &OnCall) -> bool {
    matches!(shift.source, OnCallSource::Override { .. })
}

struct Names<'a> {
    by_id: HashMap<&'a str, (usize, &'a str)>,
}

impl<'a> Names<'a> {
    fn new(people: &'a [Person]) -> Self {
        Self {
            by_id: people
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.as_str(), (i % COLOURS, p.name.as_str())))
                .collect(),
        }
    }

    fn name(&self, id: &'a str) -> &'a str {
        self.by_id.get(id).map_or(id, |(_, n)| n)
    }

    fn colour(&self, id: &str) -> String {
        format!("p{}", self.by_id.get(id).map_or(0, |(c, _)| *c))
    }
}

/// One day's bar: the shifts that overlap `[from, to)`, as fractions of the day in a
/// 0..1440 wide box (one unit a minute on an ordinary day).
fn day_bar(
    shifts: &[OnCall],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    names: &Names<'_>,
) -> Markup {
    let length = (to - from).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| {
        ((t.clamp(from, to) - from).num_seconds() as f64 / length * 1440.0).round()
    };
    html! {
        svg.day-bar viewBox="0 0 1440 24" preserveAspectRatio="none" role="img"
            aria-label={"On call " (local(tz, from, "%A %-d %B"))} {
            @for h in [360, 720, 1080] {
                line.tick x1=(h) x2=(h) y1="0" y2="24" {}
            }
            @for s in shifts.iter().filter(|s| s.start < to && s.end > from) {
                @let (x0, x1) = (x(s.start), x(s.end));
                rect class={(names.colour(&s.user_id)) @if is_override(s) { " override" }}
                    x=(x0) y="2" width=((x1 - x0).max(1.0)) height="20" {
                    title {
                        (names.name(&s.user_id)) @if is_override(s) { " (override)" } ", "
                        (local(tz, s.start, "%a %H:%M")) "–" (local(tz, s.end, "%a %H:%M"))
                    }
                }
            }
        }
    }
}

fn field_error(errors: &HashMap<&'static str, String>, field: &str) -> Markup {
    html! {
        @if let Some(e) = errors.get(field) {
            p.error.field-error id={"error-" (field)} { (e) }
        }
    }
}

fn override_form(
    s: &StoredSchedule,
    who: &StaffSession,
    people: &[Person],
    refused: Option<&Refused<'_>>,
) -> Markup {
    let tz = s.schedule.time_zone();
    let mine = refused.filter(|r| r.schedule_id == s.id);
    let empty = HashMap::new();
    let errors = mine.map_or(&empty, |r| &r.errors);
    let typed = |f: fn(&OverrideForm) -> &str| mine.map_or("", |r| f(r.form)).to_owned();
    let chosen = typed(|f| &f.user_id);
    html! {
        details.override-form open[mine.is_some()] {
            summary { "Add an override" }
            form method="post" action={"/console/oncall/" (s.id) "/overrides"} novalidate {
                (csrf::field(who))
                p.muted.small { "Times are in " (tz.name()) ". The person covers the whole stretch, whoever the rotation says." }
                div.form-row {
                    div {
                        label for={"user-" (s.id)} { "Who covers" }
                        select id={"user-" (s.id)} name="user_id" aria-invalid=[errors.get("user_id").map(|_| "true")] {
                            option value="" { "Choose a person…" }
                            @for p in people {
                                option value=(p.id) selected[p.id == chosen] { (p.name) }
                            }
                        }
                        (field_error(errors, "user_id"))
                    }
                    div {
                        label for={"start-" (s.id)} { "From" }
                        input type="datetime-local" id={"start-" (s.id)} name="start" value=(typed(|f| &f.start))
                            aria-invalid=[errors.get("start").map(|_| "true")];
                        (field_error(errors, "start"))
                    }
                    div {
                        label for={"end-" (s.id)} { "Until" }
                        input type="datetime-local" id={"end-" (s.id)} name="end" value=(typed(|f| &f.end))
                            aria-invalid=[errors.get("end").map(|_| "true")];
                        (field_error(errors, "end"))
                    }
                }
                button.primary type="submit" { "Add override" }
            }
        }
    }
}

fn schedule_card(
    s: &StoredSchedule,
    who: &StaffSession,
    people: &[Person],
    names: &Names<'_>,
    now: DateTime<Utc>,
    refused: Option<&Refused<'_>>,
) -> Markup {
    let tz = s.schedule.time_zone();
    let days = day_bounds(tz, now);
    let (first, last) = (days[0], days[days.len() - 1]);
    let shifts = s.schedule.shifts_between(first, last);
    let on_call = s.schedule.on_call_at(now);
    let mut shown: Vec<&str> = shifts.iter().map(|s| s.user_id.as_str()).collect();
    shown.sort_by_key(|id| names.name(id));
    shown.dedup();
    html! {
        section.card.schedule id={"schedule-" (s.id)} {
            div.schedule-head {
                h2 { (s.name) }
                @if let Some(role) = &s.role { span.tier { (role) } }
                span.muted.small { (tz.name()) }
            }
            p.now {
                "On call now: "
                @if on_call.is_empty() {
                    span.risk-late { "nobody" }
                } @else {
                    @for (i, o) in on_call.iter().enumerate() {
                        @if i > 0 { ", " }
                        strong { (names.name(&o.user_id)) }
                        @if is_override(o) { " " span.badge-override { "override" } }
                        span.muted { " until " (local(tz, o.end, "%a %-d %b %H:%M")) }
                    }
                }
            }
            div.week role="group" aria-label={"Next " (DAYS) " days"} {
                div.hours aria-hidden="true" { span {} span { "00" } span { "06" } span { "12" } span { "18" } span { "24" } }
                @for w in days.windows(2) {
                    div.day {
                        span.day-label { (local(tz, w[0], "%a %-d")) }
                        (day_bar(&shifts, w[0], w[1], tz, names))
                    }
                }
            }
            ul.legend {
                @for id in &shown {
                    li { span class={"swatch " (names.colour(id))} {} (names.name(id)) }
                }
                li { span.swatch.override {} "override" }
            }
            details.shifts {
                summary { "Shifts, " (shifts.len()) }
                ul {
                    @for sh in &shifts {
                        li.override[is_override(sh)] {
                            (local(tz, sh.start, "%a %-d %b %H:%M")) "–" (local(tz, sh.end, "%a %-d %b %H:%M")) " "
                            strong { (names.name(&sh.user_id)) }
                            @if is_override(sh) { " " span.badge-override { "override" } }
                        }
                    }
                }
            }
            @if who.role >= StaffRole::SupportManager {
                (override_form(s, who, people, refused))
            }
        }
    }
}

async fn render(
    state: &AppState,
    who: &StaffSession,
    refused: Option<&Refused<'_>>,
    notice: Option<&str>,
) -> Result<Markup, PageError> {
    let now = state.clock.now();
    let schedules = state.store.list_schedules().await?;
    let people = state.store.on_call_people().await?;
    let away = state
        .store
        .unavailability_between(now, now + Duration::days(DAYS as i64))
        .await?;
    let names = Names::new(&people);
    let body = html! {
        div.page-head {
            h1 { "On call" }
            p.muted { "Who answers pages now and over the next " (DAYS) " days, in each schedule's time zone." }
        }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @if schedules.is_empty() {
            p.calm { "No schedules yet. An admin creates them through the API (POST /v1/admin/schedules)." }
        }
        @for s in &schedules {
            (schedule_card(s, who, &people, &names, now, refused))
        }
        section.card #unavailability {
            h2 { "Unavailability" }
            @if away.is_empty() {
                p.muted { "Nobody is away in the next " (DAYS) " days." }
            } @else {
                ul {
                    @for a in &away {
                        li {
                            strong { (a.name) } " away "
                            (a.starts_at.format("%a %-d %b %H:%M")) "–" (a.ends_at.format("%a %-d %b %H:%M UTC"))
                            @if let Some(d) = &a.delegate { span.muted { ", " (d) " covers their customers" } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        "On call",
        Some(Nav::new(who, Section::OnCall)),
        body,
    ))
}

#[derive(Deserialize)]
struct Notice {
    added: Option<String>,
}

#[get("/console/oncall")]
async fn oncall_page(
    state: web::Data<AppState>,
    who: StaffSession,
    query: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let notice = query.added.as_ref().map(|_| "Override added.");
    Ok(layout::respond(render(&state, &who, None, notice).await?))
}

#[post("/console/oncall/{id}/overrides")]
async fn add_override(
    state: web::Data<AppState>,
    ManagerSession(who): ManagerSession,
    CsrfForm(form): CsrfForm<OverrideForm>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let schedule = state
        .store
        .schedule(&id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("There is no schedule {id}.")))?;
    let tz = schedule.schedule.time_zone();
    let mut errors = HashMap::new();
    if form.user_id.trim().is_empty() {
        errors.insert("user_id", "Choose who covers.".to_owned());
    }
    let start = parse_local(tz, &form.start);
    let end = parse_local(tz, &form.end);
    if start.is_none() {
        errors.insert(
            "start",
            "Give a date and time, like 2026-03-10 18:00.".to_owned(),
        );
    }
    if end.is_none() {
        errors.insert(
            "end",
            "Give a date and time, like 2026-03-10 22:00.".to_owned(),
        );
    }
    if let (true, Some(start), Some(end)) = (errors.is_empty(), start, end) {
        let now = state.clock.now();
        let o = Override {
            user_id: form.user_id.trim().to_owned(),
            start,
            end,
            created_at: now,
        };
        match state.store.add_schedule_override(&id, o, now).await? {
            OverrideAdded::Added(_) => {
                return Ok(HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        format!("/console/oncall?added={id}#schedule-{id}"),
                    ))
                    .finish())
            }
            OverrideAdded::NotFound => {
                return Err(PageError::NotFound(format!("There is no schedule {id}.")))
            }
            OverrideAdded::UnknownUser => {
                errors.insert("user_id", "There is no such person.".to_owned());
            }
            OverrideAdded::Invalid(e) => {
                // The domain names `overrides[n].end` and so on; the form has three fields.
                let field = if e.field.ends_with(".end") {
                    "end"
                } else if e.field.ends_with(".user_id") {
                    "user_id"
                } else {
                    "start"
                };
                let reason = if field == "end" && e.reason.starts_with("must be after start") {
                    "Must be after the start.".to_owned()
                } else {
                    e.reason
                };
                errors.insert(field, reason);
            }
        }
    }
    let refused = Refused {
        schedule_id: &id,
        form: &form,
        errors,
    };
    let page = render(&state, &who, Some(&refused), None).await?;
    Ok(layout::respond_with(
        HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY),
        page,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_times_are_read_in_the_schedules_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            parse_local(paris, "2026-01-13T18:00").unwrap().to_rfc3339(),
            "2026-01-13T17:00:00+00:00"
        );
        assert_eq!(
            parse_local(paris, "2026-07-14T18:00:00")
                .unwrap()
                .to_rfc3339(),
            "2026-07-14T16:00:00+00:00"
        );
        assert!(parse_local(paris, "Tuesday evening").is_none());
    }

    #[test]
    fn a_week_has_a_short_day_across_the_spring_change() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let now = "2026-03-27T12:00:00Z".parse().unwrap();
        let days = day_bounds(paris, now);
        assert_eq!(days.len(), DAYS as usize + 1);
        let lengths: Vec<i64> = days.windows(2).map(|w| (w[1] - w[0]).num_hours()).collect();
        assert_eq!(lengths, [24, 24, 23, 24, 24, 24, 24]);
    }
}
