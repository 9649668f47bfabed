//! `GET /v1/reports/sla`: how fast incidents were acknowledged against the internal target and
//! the customer-facing SLA, what breached and why, and per responder; and the two-way
//! resolution clock of each incident's ticket: our time, the customer's time (while the ticket
//! waited on them), the paused stretches, and totals per tier. JSON, or CSV with
//! `Accept: text/csv`.
//!
//! All times are covered time (business hours for tiers that have them), so per ticket
//! `our_time_seconds + customer_time_seconds == elapsed_seconds`.
//!
//! Its cost is bounded: the range spans at most [`MAX_RANGE_DAYS`], and the store answers
//! with a fixed number of queries (incidents, their skipped steps, the tiers' SLAs) however
//! many incidents and tiers the range holds.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::extract::ReportsReader;
use super::Problem;
use crate::domain::sla::{
    breach_state, covered_duration, resolution_status, split_clock, Pause, TargetState, TierSla,
};
use crate::state::AppState;
use crate::store::sla::ReportRow;

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

/// Why a target was missed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Cause {
    /// Pages reached phones; nobody acknowledged in time.
    NoAnswer,
    /// Acknowledged, but after the target.
    LateAcknowledgement,
    /// The schedules had nobody on call.
    NobodyOnCall,
    /// Nobody paged had a deliverable device.
    NoDevice,
}

#[derive(Serialize)]
struct IncidentLine {
    incident_id: String,
    ticket_ref: String,
    customer: String,
    tier: String,
    created_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    time_to_page_seconds: Option<i64>,
    time_to_acknowledge_seconds: Option<i64>,
    time_to_resolve_seconds: Option<i64>,
    internal: TargetState,
    external: TargetState,
    breach_cause: Option<Cause>,
    #[serde(skip)]
    clock: TicketClock,
}

/// One ticket's two-way resolution clock.
#[derive(Serialize, Clone)]
struct TicketClock {
    ticket_ref: String,
    incident_id: String,
    customer: String,
    tier: String,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    waiting_on_customer: bool,
    /// Covered time from the incident to its resolution, or to now.
    elapsed_seconds: i64,
    our_time_seconds: i64,
    customer_time_seconds: i64,
    /// Against the tier's resolution target, counting our time only.
    resolution: TargetState,
    resolve_by: DateTime<Utc>,
    paused_intervals: Vec<PausedInterval>,
}

#[derive(Serialize, Clone)]
struct PausedInterval {
    from: DateTime<Utc>,
    /// `None` while the ticket still waits.
    to: Option<DateTime<Utc>>,
    /// Covered time of the stretch inside the incident's clock.
    seconds: i64,
    paused_by: String,
    resumed_by: Option<String>,
    /// `agent`, `customer` (their press) or `resolved`.
    resumed_because: Option<String>,
}

/// Totals of one tier's ticket clocks.
#[derive(Serialize, Default)]
struct TierTotals {
    tier: String,
    tickets: usize,
    elapsed_seconds: i64,
    our_time_seconds: i64,
    customer_time_seconds: i64,
    resolution_met: usize,
    resolution_pending: usize,
    resolution_breached: usize,
}

fn ticket_clock(row: &ReportRow, sla: &TierSla, now: DateTime<Utc>) -> TicketClock {
    let until = row.resolved_at.unwrap_or(now);
    let pauses: Vec<Pause> = row.pauses.iter().map(|p| p.pause()).collect();
    let split = split_clock(row.created_at, until, &pauses, sla.coverage());
    let resolution = resolution_status(row.created_at, row.resolved_at, now, sla, &pauses);
    let paused_intervals = row
        .pauses
        .iter()
        .map(|p| {
            let one = split_clock(row.created_at, until, &[p.pause()], sla.coverage());
            PausedInterval {
                from: p.paused_at,
                to: p.resumed_at,
                seconds: one.customers.num_seconds(),
                paused_by: p.paused_by.clone(),
                resumed_by: p.resumed_by.clone(),
                resumed_because: p.resumed_because.clone(),
            }
        })
        .collect();
    TicketClock {
        ticket_ref: row.ticket_ref.clone(),
        incident_id: row.id.clone(),
        customer: row.customer_name.clone(),
        tier: row.tier.clone(),
        created_at: row.created_at,
        resolved_at: row.resolved_at,
        waiting_on_customer: row.pauses.iter().any(|p| p.resumed_at.is_none()),
        elapsed_seconds: split.elapsed.num_seconds(),
        our_time_seconds: split.ours.num_seconds(),
        customer_time_seconds: split.customers.num_seconds(),
        resolution: resolution.state,
        resolve_by: resolution.deadline,
        paused_intervals,
    }
}

fn per_tier(clocks: &[&TicketClock]) -> Vec<TierTotals> {
    let mut tiers: BTreeMap<&str, TierTotals> = BTreeMap::new();
    for c in clocks {
        let t = tiers.entry(&c.tier).or_insert_with(|| TierTotals {
            tier: c.tier.clone(),
            ..TierTotals::default()
        });
        t.tickets += 1;
        t.elapsed_seconds += c.elapsed_seconds;
        t.our_time_seconds += c.our_time_seconds;
        t.customer_time_seconds += c.customer_time_seconds;
        match c.resolution {
            TargetState::Met => t.resolution_met += 1,
            TargetState::Pending => t.resolution_pending += 1,
            TargetState::Breached => t.resolution_breached += 1,
        }
    }
    tiers.into_values().collect()
}

#[derive(Serialize)]
struct ResponderLine {
    user_id: String,
    name: String,
    acknowledged: usize,
    median_time_to_acknowledge_seconds: Option<i64>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Share of decided outcomes that met the target (pending ones are not decided yet).
fn share(lines: &[IncidentLine], pick: impl Fn(&IncidentLine) -> TargetState) -> Option<f64> {
    let decided: Vec<TargetState> = lines
        .iter()
        .map(pick)
        .filter(|s| *s != TargetState::Pending)
        .collect();
    (!decided.is_empty()).then(|| {
        decided.iter().filter(|s| **s == TargetState::Met).count() as f64 / decided.len() as f64
    })
}

fn cause(row: &ReportRow) -> Cause {
    if row.acknowledged_at.is_some() {
        Cause::LateAcknowledgement
    } else if row.delivered {
        Cause::NoAnswer
    } else if row
        .skip_reasons
        .iter()
        .any(|r| r.contains("nobody on call"))
    {
        Cause::NobodyOnCall
    } else {
        Cause::NoDevice
    }
}

fn line(row: &ReportRow, sla: &TierSla, now: DateTime<Utc>) -> IncidentLine {
    let covered = |end: Option<DateTime<Utc>>| {
        end.map(|e| covered_duration(row.created_at, e, sla.coverage()).num_seconds())
    };
    let state = breach_state(row.created_at, row.acknowledged_at, now, sla);
    let breached = state.external.state == TargetState::Breached
        || state.internal.state == TargetState::Breached;
    IncidentLine {
        incident_id: row.id.clone(),
        ticket_ref: row.ticket_ref.clone(),
        customer: row.customer_name.clone(),
        tier: row.tier.clone(),
        created_at: row.created_at,
        acknowledged_at: row.acknowledged_at,
        acknowledged_by: row.acknowledged_by_name.clone(),
        time_to_page_seconds: row
            .first_accepted_at
            .map(|t| (t - row.created_at).num_seconds()),
        time_to_acknowledge_seconds: covered(row.acknowledged_at),
        time_to_resolve_seconds: covered(row.resolved_at),
        internal: state.internal.state,
        external: state.external.state,
        breach_cause: breached.then(|| cause(row)),
        clock: ticket_clock(row, sla, now),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn to_csv(lines: &[IncidentLine]) -> String {
    let mut out = String::from(
        "incident_id,ticket_ref,customer,tier,created_at,acknowledged_at,acknowledged_by,\
         time_to_page_seconds,time_to_acknowledge_seconds,time_to_resolve_seconds,internal,external,breach_cause,\
         our_time_seconds,customer_time_seconds,resolution\n",
    );
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let state = |s: TargetState| match s {
        TargetState::Met => "met",
        TargetState::Pending => "pending",
        TargetState::Breached => "breached",
    };
    for l in lines {
        let cells = [
            csv_field(&l.incident_id),
            csv_field(&l.ticket_ref),
            csv_field(&l.customer),
            csv_field(&l.tier),
            l.created_at.to_rfc3339(),
            l.acknowledged_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            csv_field(l.acknowledged_by.as_deref().unwrap_or_default()),
            opt(l.time_to_page_seconds),
            opt(l.time_to_acknowledge_seconds),
            opt(l.time_to_resolve_seconds),
            state(l.internal).to_owned(),
            state(l.external).to_owned(),
            l.breach_cause
                .map(|c| {
                    serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            l.clock.our_time_seconds.to_string(),
            l.clock.customer_time_seconds.to_string(),
            state(l.clock.resolution).to_owned(),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The widest range a report covers: a year, leap day included. A report reads every
/// incident of its range, so the range is what bounds its cost.
const MAX_RANGE_DAYS: i64 = 366;

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
    let mut lines = Vec::with_capacity(rows.len());
    let mut responders: BTreeMap<String, (String, Vec<i64>)> = BTreeMap::new();
    for row in &rows {
        let sla = slas
            .get(&row.tier)
            .cloned()
            .or_else(|| TierSla::defaults_for(&row.tier))
            .unwrap_or_else(TierSla::gold);
        let l = line(row, &sla, now);
        if let (Some(id), Some(tta)) = (&row.acknowledged_by, l.time_to_acknowledge_seconds) {
            let entry = responders.entry(id.clone()).or_insert_with(|| {
                (
                    row.acknowledged_by_name.clone().unwrap_or_default(),
                    Vec::new(),
                )
            });
            entry.1.push(tta);
        }
        lines.push(l);
    }

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
    let per_responder: Vec<ResponderLine> = responders
        .into_iter()
        .map(|(user_id, (name, mut times))| {
            times.sort_unstable();
            ResponderLine {
                user_id,
                name,
                acknowledged: times.len(),
                median_time_to_acknowledge_seconds: percentile(&times, 0.5),
            }
        })
        .collect();
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
    fn nearest_rank_percentiles() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.9), Some(90));
        assert_eq!(percentile(&[7], 0.9), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn the_range_is_forward_and_at_most_a_leap_year() {
        let from: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        assert!(check_range(from, from + Duration::days(366)).is_ok());
        assert!(check_range(from, from + Duration::days(366) + Duration::seconds(1)).is_err());
        assert!(check_range(from, from).is_err());
        assert!(check_range(from, from - Duration::seconds(1)).is_err());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
