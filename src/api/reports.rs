//! `GET /v1/reports/sla`: how fast incidents were acknowledged against the internal target and
//! the customer-facing SLA, what breached and why, and per responder; and the two-way
//! resolution clock of each incident's ticket: our time, the customer's time (while the ticket
//! waited on them), the paused stretches, and totals per tier. JSON, or CSV with
//! `Accept: text/csv`.
//!
//! All times are covered time (business hours for tiers that have them), so per ticket
//! `our_time_seconds + customer_time_seconds == elapsed_seconds`.
//!
//! The arithmetic lives in [`crate::domain::sla_report`], shared with the console's SLA page.
//!
//! Its cost is bounded: the range spans at most [`MAX_RANGE_DAYS`], and the store answers
//! with a fixed number of queries (incidents, their skipped steps, the tiers' SLAs) however
//! many incidents and tiers the range holds.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::extract::ReportsReader;
use super::Problem;
use crate::domain::sla_report::{
    lines, per_responder, per_tier, percentile, share, to_csv, IncidentLine, TicketClock,
    MAX_RANGE_DAYS,
};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sla_report);
}

#[derive(Deserialize)]
struct ReportQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    customer: Option<String>,
    tier: Option<String>,
}

fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), Problem> {
    if from >= to {
        return Err(Problem::field("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(Problem::field(
            "from",
            format!("the range from `from` to `to` may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(())
}

#[get("/v1/reports/sla")]
async fn sla_report(
    state: web::Data<AppState>,
    _: ReportsReader,
    req: HttpRequest,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let to = query.to.unwrap_or(now);
    let from = query.from.unwrap_or(to - Duration::days(30));
    check_range(from, to)?;
    let rows = state
        .store
        .report_rows(from, to, query.customer.as_deref(), query.tier.as_deref())
        .await?;
    let slas = state.store.tier_slas().await?;
    let lines = lines(&rows, &slas, now);
    let wants_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(to_csv(&lines)));
    }

    let mut tta: Vec<i64> = lines
        .iter()
        .filter_map(|l| l.time_to_acknowledge_seconds)
        .collect();
    tta.sort_unstable();
    let per_responder = per_responder(&rows, &lines);
    let breaches: Vec<&IncidentLine> = lines.iter().filter(|l| l.breach_cause.is_some()).collect();
    let clocks: Vec<&TicketClock> = lines.iter().map(|l| &l.clock).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "from": from,
        "to": to,
        "incidents": lines.len(),
        "acknowledged": tta.len(),
        "time_to_acknowledge_seconds": {
            "median": percentile(&tta, 0.5),
            "p90": percentile(&tta, 0.9),
        },
        "within_internal_target": share(&lines, |l| l.internal),
        "within_external_sla": share(&lines, |l| l.external),
        "breaches": breaches,
        "per_responder": per_responder,
        "tickets": clocks,
        "per_tier": per_tier(&clocks),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_forward_and_at_most_a_leap_year() {
        let from: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        assert!(check_range(from, from + Duration::days(366)).is_ok());
        assert!(check_range(from, from + Duration::days(366) + Duration::seconds(1)).is_err());
        assert!(check_range(from, from).is_err());
        assert!(check_range(from, from - Duration::seconds(1)).is_err());
    }
}
