//! `/console/sla` (support managers and admins): per tier, time to acknowledge (p50 and p90)
//! and breaches per week as server-drawn SVG charts ([`super::chart`]), the breach list, and
//! the same range as CSV (`/console/sla.csv`, the columns of `GET /v1/reports/sla` with
//! `Accept: text/csv`).
//!
//! The numbers are the report's: rows from [`crate::store::Store::report_rows`], judged by
//! [`crate::domain::sla_report`], which the API's report uses too. The range is the last `weeks` weeks
//! (1 to 52, default 8) ending now; the charts start on the Monday of the first week.
//! Times are covered time (business hours for tiers that have them), as in the report.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::{BarChart, Series};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::ManagerSession;
use crate::domain::countdown;
use crate::domain::sla_report::{self, Cause, IncidentLine, TierSummary};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sla_page).service(sla_csv);
}

/// Default and largest range, in weeks.
const DEFAULT_WEEKS: i64 = 8;
const MAX_WEEKS: i64 = 52;

#[derive(Deserialize)]
struct RangeQuery {
    weeks: Option<String>,
}

/// The `weeks` of the query string; a hand-edited bad one is a 400 page naming it.
fn weeks(req: &HttpRequest) -> Result<i64, PageError> {
    let q: RangeQuery = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| PageError::BadForm("weeks: must be a whole number".into()))?;
    match q.weeks.as_deref().map(str::trim) {
        None | Some("") => Ok(DEFAULT_WEEKS),
        Some(w) => w
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_WEEKS).contains(n))
            .ok_or_else(|| {
                PageError::BadForm(format!(
                    "weeks: must be a whole number from 1 to {MAX_WEEKS}"
                ))
            }),
    }
}

struct Report {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    lines: Vec<IncidentLine>,
}

async fn report(state: &AppState, weeks: i64) -> Result<Report, PageError> {
    let to = state.clock.now();
    let from = to - Duration::weeks(weeks);
    let rows = state.store.report_rows(from, to, None, None).await?;
    let slas = state.store.tier_slas().await?;
    Ok(Report {
        from,
        to,
        lines: sla_report::lines(&rows, &slas, to),
    })
}

/// A duration for people: `45s`, `3m`, `1h 20m`, or "—" when there is none.
fn duration(seconds: Option<i64>) -> String {
    seconds.map_or("—".into(), |s| countdown::span(Duration::seconds(s)))
}

fn cause_text(c: Cause) -> &'static str {
    match c {
        Cause::NoAnswer => "pages reached phones; nobody acknowledged in time",
        Cause::LateAcknowledgement => "acknowledged after the target",
        Cause::NobodyOnCall => "nobody was on call",
        Cause::NoDevice => "nobody paged had a working device",
    }
}

fn tier_card(t: &TierSummary) -> Markup {
    let labels: Vec<String> = t
        .weeks
        .iter()
        .map(|w| w.start.format("%b %-d").to_string())
        .collect();
    let secs = |v: Option<i64>| v.map(|s| s as f64);
    let tta_id = format!("tta-{}", t.tier);
    let breach_id = format!("breaches-{}", t.tier);
    let tta = BarChart {
        id: &tta_id,
        title: &format!("{}: time to acknowledge per week, p50 and p90", t.tier),
        labels: labels.clone(),
        series: vec![
            Series {
                name: "p50",
                class: "bar-p50",
                values: t.weeks.iter().map(|w| secs(w.p50_seconds)).collect(),
            },
            Series {
                name: "p90",
                class: "bar-p90",
                values: t.weeks.iter().map(|w| secs(w.p90_seconds)).collect(),
            },
        ],
        steps: &[
            30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0,
            86400.0,
        ],
        format: |v| countdown::span(Duration::seconds(v as i64)),
    };
    let breaches = BarChart {
        id: &breach_id,
        title: &format!("{}: SLA breaches per week", t.tier),
        labels,
        series: vec![Series {
            name: "breaches",
            class: "bar-breach",
            values: t.weeks.iter().map(|w| Some(w.breaches as f64)).collect(),
        }],
        steps: &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
        format: |v| format!("{v:.0}"),
    };
    html! {
        section.card.tier-card #{"tier-" (t.tier)} {
            h2 { span.tier { (t.tier) } }
            dl.figures {
                div { dt { "Incidents" } dd.incidents { (t.incidents) } }
                div { dt { "Acknowledged" } dd.acknowledged { (t.acknowledged) } }
                div { dt { "p50 to acknowledge" } dd.p50 { (duration(t.p50_seconds)) } }
                div { dt { "p90 to acknowledge" } dd.p90 { (duration(t.p90_seconds)) } }
                div { dt { "Breaches" } dd.breaches { (t.breaches) } }
            }
            div.charts {
                div { h3 { "Time to acknowledge" } (tta.render()) }
                div { h3 { "Breaches per week" } (breaches.render()) }
            }
        }
    }
}

#[get("/console/sla")]
async fn sla_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    ManagerSession(who): ManagerSession,
) -> Result<HttpResponse, PageError> {
    let weeks = weeks(&req)?;
    let r = report(&state, weeks).await?;
    let tiers = sla_report::tier_summaries(&r.lines, r.from, r.to);
    let breaches: Vec<&IncidentLine> = r
        .lines
        .iter()
        .filter(|l| l.breach_cause.is_some())
        .collect();
    let body = html! {
        div.page-head {
            h1 { "SLA" }
            p.muted {
                "Incidents from " (r.from.format("%Y-%m-%d %H:%M")) " to " (r.to.format("%Y-%m-%d %H:%M UTC"))
                ", in covered time."
            }
            form.range method="get" action="/console/sla" {
                label for="weeks" { "Weeks" }
                input #weeks type="number" name="weeks" min="1" max=(MAX_WEEKS) value=(weeks);
                button type="submit" { "Show" }
                a.button #csv href={"/console/sla.csv?weeks=" (weeks)} download { "Download CSV" }
            }
        }
        @if tiers.is_empty() {
            p.calm { "No incidents in this range." }
        }
        @for t in &tiers { (tier_card(t)) }
        h2 { "Breaches" }
        @if breaches.is_empty() {
            p.calm #no-breaches { "No breaches in this range." }
        } @else {
            div.table-wrap {
                table #breaches {
                    thead { tr {
                        th scope="col" { "Ticket" } th scope="col" { "Customer" } th scope="col" { "Tier" }
                        th scope="col" { "Opened" } th scope="col" { "Internal" } th scope="col" { "External" }
                        th scope="col" { "Acknowledged after" } th scope="col" { "Why" }
                    } }
                    tbody {
                        @for l in &breaches {
                            tr #{"breach-" (l.incident_id)} {
                                td data-label="Ticket" { (l.ticket_ref) }
                                td data-label="Customer" { (l.customer) }
                                td data-label="Tier" { span.tier { (l.tier) } }
                                td data-label="Opened" { (l.created_at.format("%Y-%m-%d %H:%M")) }
                                td data-label="Internal" { (format!("{:?}", l.internal).to_lowercase()) }
                                td data-label="External" { (format!("{:?}", l.external).to_lowercase()) }
                                td data-label="Acknowledged after" { (duration(l.time_to_acknowledge_seconds)) }
                                td data-label="Why" { (l.breach_cause.map_or("", cause_text)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(layout::page(
        "SLA",
        Some(Nav::new(&who, Section::Sla)),
        body,
    )))
}

/// The page's range as the report's CSV, as a download.
#[get("/console/sla.csv")]
async fn sla_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    _: ManagerSession,
) -> Result<HttpResponse, PageError> {
    let r = report(&state, weeks(&req)?).await?;
    let name = format!("sla-{}.csv", r.to.format("%Y-%m-%d"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(sla_report::to_csv(&r.lines)))
}
