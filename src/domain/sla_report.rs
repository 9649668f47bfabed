//! The SLA report's arithmetic, below both HTTP layers: `GET /v1/reports/sla` (JSON and CSV,
//! `api/reports.rs`) and the console's SLA page (`web/sla.rs`, charts and the same CSV) read
//! the same lines from here, so the page and the report never disagree.
//!
//! From the store's [`ReportRow`]s and the tiers' SLAs, at `now`: one [`IncidentLine`] per
//! incident (times to page, acknowledge and resolve in covered time, both targets' states, the
//! breach cause), the ticket clocks, nearest-rank percentiles, and per tier a week-by-week
//! summary for the charts. No I/O here: the store fills the [`ReportRow`]s (the facts, typed
//! here so the rules need nothing from `store/`), the callers pass them in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde::Serialize;

use super::skip::{SkipReason, SkippedStep};
use super::sla::{
    breach_state, covered_duration, resolution_status, split_clock, Pause, TargetState, TierSla,
};

/// The widest range a report covers: a year, leap day included. A report reads every
/// incident of its range, so the range is what bounds its cost.
pub const MAX_RANGE_DAYS: i64 = 366;

/// One incident in a report: the facts the store reads for it.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub tier: String,
    pub ticket_ref: String,
    pub created_at: DateTime<Utc>,
    pub first_accepted_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_by_name: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Whether any page reached a phone (a `delivered` timeline event), for breach causes.
    pub delivered: bool,
    /// The details of the incident's `step.skipped` events, as stored, for breach causes.
    pub skip_reasons: Vec<String>,
    /// The stretches its ticket waited on the customer, oldest first.
    pub pauses: Vec<PauseRecord>,
}

/// One stretch of waiting on the customer, as the report shows it.
#[derive(Debug, Clone)]
pub struct PauseRecord {
    pub paused_at: DateTime<Utc>,
    pub paused_by: String,
    pub resumed_at: Option<DateTime<Utc>>,
    pub resumed_by: Option<String>,
    pub resumed_because: Option<String>,
}

impl PauseRecord {
    pub fn pause(&self) -> Pause {
        Pause {
            start: self.paused_at,
            end: self.resumed_at,
        }
    }
}

/// Why a target was missed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
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
pub struct IncidentLine {
    pub incident_id: String,
    pub ticket_ref: String,
    pub customer: String,
    pub tier: String,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub time_to_page_seconds: Option<i64>,
    pub time_to_acknowledge_seconds: Option<i64>,
    pub time_to_resolve_seconds: Option<i64>,
    pub internal: TargetState,
    pub external: TargetState,
    pub breach_cause: Option<Cause>,
    #[serde(skip)]
    pub clock: TicketClock,
}

/// One ticket's two-way resolution clock.
#[derive(Serialize, Clone)]
pub struct TicketClock {
    pub ticket_ref: String,
    pub incident_id: String,
    pub customer: String,
    pub tier: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub waiting_on_customer: bool,
    /// Covered time from the incident to its resolution, or to now.
    pub elapsed_seconds: i64,
    pub our_time_seconds: i64,
    pub customer_time_seconds: i64,
    /// Against the tier's resolution target, counting our time only.
    pub resolution: TargetState,
    pub resolve_by: DateTime<Utc>,
    pub paused_intervals: Vec<PausedInterval>,
}

#[derive(Serialize, Clone)]
pub struct PausedInterval {
    pub from: DateTime<Utc>,
    /// `None` while the ticket still waits.
    pub to: Option<DateTime<Utc>>,
    /// Covered time of the stretch inside the incident's clock.
    pub seconds: i64,
    pub paused_by: String,
    pub resumed_by: Option<String>,
    /// `agent`, `customer` (their press) or `resolved`.
    pub resumed_because: Option<String>,
}

/// Totals of one tier's ticket clocks.
#[derive(Serialize, Default)]
pub struct TierTotals {
    pub tier: String,
    pub tickets: usize,
    pub elapsed_seconds: i64,
    pub our_time_seconds: i64,
    pub customer_time_seconds: i64,
    pub resolution_met: usize,
    pub resolution_pending: usize,
    pub resolution_breached: usize,
}

pub fn ticket_clock(row: &ReportRow, sla: &TierSla, now: DateTime<Utc>) -> TicketClock {
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

pub fn per_tier(clocks: &[&TicketClock]) -> Vec<TierTotals> {
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
pub struct ResponderLine {
    pub user_id: String,
    pub name: String,
    pub acknowledged: usize,
    pub median_time_to_acknowledge_seconds: Option<i64>,
}

/// Per responder who acknowledged (by user id), how many incidents and their median time to
/// acknowledge. `lines` are `rows`' lines, in the same order.
pub fn per_responder(rows: &[ReportRow], lines: &[IncidentLine]) -> Vec<ResponderLine> {
    let mut responders: BTreeMap<&str, (&str, Vec<i64>)> = BTreeMap::new();
    for (row, l) in rows.iter().zip(lines) {
        if let (Some(id), Some(tta)) = (&row.acknowledged_by, l.time_to_acknowledge_seconds) {
            responders
                .entry(id)
                .or_insert_with(|| {
                    (
                        row.acknowledged_by_name.as_deref().unwrap_or_default(),
                        Vec::new(),
                    )
                })
                .1
                .push(tta);
        }
    }
    responders
        .into_iter()
        .map(|(user_id, (name, mut times))| {
            times.sort_unstable();
            ResponderLine {
                user_id: user_id.to_owned(),
                name: name.to_owned(),
                acknowledged: times.len(),
                median_time_to_acknowledge_seconds: percentile(&times, 0.5),
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Share of decided outcomes that met the target (pending ones are not decided yet).
pub fn share(lines: &[IncidentLine], pick: impl Fn(&IncidentLine) -> TargetState) -> Option<f64> {
    let decided: Vec<TargetState> = lines
        .iter()
        .map(pick)
        .filter(|s| *s != TargetState::Pending)
        .collect();
    (!decided.is_empty()).then(|| {
        decided.iter().filter(|s| **s == TargetState::Met).count() as f64 / decided.len() as f64
    })
}

pub fn cause(row: &ReportRow) -> Cause {
    if row.acknowledged_at.is_some() {
        Cause::LateAcknowledgement
    } else if row.delivered {
        Cause::NoAnswer
    } else if row
        .skip_reasons
        .iter()
        .filter_map(|detail| SkippedStep::parse(detail))
        .flat_map(|step| step.reasons)
        .any(|skip| skip.reason == SkipReason::NobodyOnCall)
    {
        Cause::NobodyOnCall
    } else {
        Cause::NoDevice
    }
}

pub fn line(row: &ReportRow, sla: &TierSla, now: DateTime<Utc>) -> IncidentLine {
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

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn to_csv(lines: &[IncidentLine]) -> String {
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

/// Every row's line, each judged by its tier's SLA (the built-in defaults for a tier without a
/// stored one).
pub fn lines(
    rows: &[ReportRow],
    slas: &HashMap<String, TierSla>,
    now: DateTime<Utc>,
) -> Vec<IncidentLine> {
    rows.iter()
        .map(|row| {
            let sla = slas
                .get(&row.tier)
                .cloned()
                .or_else(|| TierSla::defaults_for(&row.tier))
                .unwrap_or_else(TierSla::gold);
            line(row, &sla, now)
        })
        .collect()
}

/// One week (Monday 00:00 UTC onwards) of one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    pub start: DateTime<Utc>,
    pub incidents: usize,
    pub acknowledged: usize,
    pub p50_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    /// Incidents that missed the internal target or the external SLA.
    pub breaches: usize,
}

/// A tier over the whole range, and week by week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSummary {
    pub tier: String,
    pub incidents: usize,
    pub acknowledged: usize,
    pub p50_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub breaches: usize,
    /// Every week from the one holding `from` to the one holding `to`, empty ones included
    /// (a chart with gaps removed would hide quiet weeks).
    pub weeks: Vec<Week>,
}

/// The Monday 00:00 UTC starting the week that holds `t`.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.date_naive() - Duration::days(i64::from(t.weekday().num_days_from_monday()));
    day.and_time(NaiveTime::MIN).and_utc()
}

fn stats(lines: &[&IncidentLine]) -> (usize, Option<i64>, Option<i64>, usize) {
    let mut tta: Vec<i64> = lines
        .iter()
        .filter_map(|l| l.time_to_acknowledge_seconds)
        .collect();
    tta.sort_unstable();
    let breaches = lines.iter().filter(|l| l.breach_cause.is_some()).count();
    (
        tta.len(),
        percentile(&tta, 0.5),
        percentile(&tta, 0.9),
        breaches,
    )
}

/// Per tier (by name), the incidents created in `from..to`: time to acknowledge p50/p90 and
/// breaches, over the range and per week.
pub fn tier_summaries(
    lines: &[IncidentLine],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<TierSummary> {
    let mut by_tier: BTreeMap<&str, Vec<&IncidentLine>> = BTreeMap::new();
    for l in lines {
        by_tier.entry(&l.tier).or_default().push(l);
    }
    let mut starts = Vec::new();
    let mut w = week_start(from);
    while w < to {
        starts.push(w);
        w += Duration::weeks(1);
    }
    by_tier
        .into_iter()
        .map(|(tier, all)| {
            let (acknowledged, p50, p90, breaches) = stats(&all);
            let weeks = starts
                .iter()
                .map(|&start| {
                    let these: Vec<&IncidentLine> = all
                        .iter()
                        .copied()
                        .filter(|l| week_start(l.created_at) == start)
                        .collect();
                    let (acknowledged, p50, p90, breaches) = stats(&these);
                    Week {
                        start,
                        incidents: these.len(),
                        acknowledged,
                        p50_seconds: p50,
                        p90_seconds: p90,
                        breaches,
                    }
                })
                .collect();
            TierSummary {
                tier: tier.to_owned(),
                incidents: all.len(),
                acknowledged,
                p50_seconds: p50,
                p90_seconds: p90,
                breaches,
                weeks,
            }
        })
        .collect()
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

    fn unpaged(skip_details: &[&str]) -> ReportRow {
        ReportRow {
            id: "inc-1".into(),
            customer_id: "cus-1".into(),
            customer_name: "Acme".into(),
            tier: "gold".into(),
            ticket_ref: "T-1".into(),
            created_at: at("2026-11-23T10:00:00Z"),
            first_accepted_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledged_by_name: None,
            resolved_at: None,
            delivered: false,
            skip_reasons: skip_details.iter().map(|d| d.to_string()).collect(),
            pauses: Vec::new(),
        }
    }

    #[test]
    fn the_breach_cause_is_read_from_typed_skip_reasons() {
        // `step.skipped` details as escalation writes them (and rows already hold them).
        let nobody_on_call = r#"{"pass":1,"reasons":[{"reason":"nobody on call","schedule":"Primary","target":"schedule"}],"step":1}"#;
        let no_device = r#"{"pass":1,"reasons":[{"reason":"no deliverable device","user_id":"usr-1"}],"step":2}"#;
        assert_eq!(
            cause(&unpaged(&[no_device, nobody_on_call])),
            Cause::NobodyOnCall
        );
        assert_eq!(cause(&unpaged(&[no_device])), Cause::NoDevice);
        assert_eq!(cause(&unpaged(&[])), Cause::NoDevice);
        // A name is not a reason: a schedule called so that is gone reached nobody for lack
        // of the schedule, not of someone on call.
        let gone = r#"{"pass":1,"reasons":[{"reason":"no such schedule","schedule":"nobody on call","target":"schedule"}],"step":1}"#;
        assert_eq!(cause(&unpaged(&[gone])), Cause::NoDevice);
    }

    fn with(row: ReportRow, f: impl FnOnce(&mut ReportRow)) -> ReportRow {
        let mut row = row;
        f(&mut row);
        row
    }

    #[test]
    fn times_to_page_acknowledge_and_resolve_are_counted_from_the_incident() {
        // Gold runs all the time: covered time is wall time.
        let row = with(unpaged(&[]), |r| {
            r.first_accepted_at = Some(at("2026-11-23T10:00:42Z"));
            r.delivered = true;
            r.acknowledged_at = Some(at("2026-11-23T10:05:00Z"));
            r.resolved_at = Some(at("2026-11-23T11:00:00Z"));
        });
        let l = line(&row, &TierSla::gold(), at("2026-11-23T12:00:00Z"));
        assert_eq!(l.time_to_page_seconds, Some(42));
        assert_eq!(l.time_to_acknowledge_seconds, Some(300));
        assert_eq!(l.time_to_resolve_seconds, Some(3600));
        assert_eq!(
            (l.internal, l.external),
            (TargetState::Met, TargetState::Met)
        );
        assert_eq!(l.breach_cause, None, "no breach, no cause");
    }

    #[test]
    fn nothing_paged_or_acknowledged_has_no_times_yet() {
        let l = line(&unpaged(&[]), &TierSla::gold(), at("2026-11-23T10:05:00Z"));
        assert_eq!(
            (
                l.time_to_page_seconds,
                l.time_to_acknowledge_seconds,
                l.time_to_resolve_seconds
            ),
            (None, None, None)
        );
        assert_eq!(l.internal, TargetState::Pending);
        assert_eq!(l.breach_cause, None, "pending is not breached");
    }

    #[test]
    fn an_acknowledgement_after_the_internal_target_is_a_late_acknowledgement() {
        // Gold's internal target is 15 minutes; 20 minutes misses it, not the 2-hour SLA.
        let row = with(unpaged(&[]), |r| {
            r.delivered = true;
            r.acknowledged_at = Some(at("2026-11-23T10:20:00Z"));
        });
        let l = line(&row, &TierSla::gold(), at("2026-11-23T12:00:00Z"));
        assert_eq!(l.time_to_acknowledge_seconds, Some(1200));
        assert_eq!(
            (l.internal, l.external),
            (TargetState::Breached, TargetState::Met)
        );
        assert_eq!(l.breach_cause, Some(Cause::LateAcknowledgement));
    }

    #[test]
    fn pages_that_reached_phones_and_were_never_answered_are_no_answer() {
        let row = with(unpaged(&[]), |r| r.delivered = true);
        let l = line(&row, &TierSla::gold(), at("2026-11-23T10:30:00Z"));
        assert_eq!(l.internal, TargetState::Breached);
        assert_eq!(l.breach_cause, Some(Cause::NoAnswer));
        // Delivery outranks the skips of other steps.
        let nobody_on_call = r#"{"pass":1,"reasons":[{"reason":"nobody on call","schedule":"Primary","target":"schedule"}],"step":1}"#;
        let row = with(unpaged(&[nobody_on_call]), |r| r.delivered = true);
        assert_eq!(cause(&row), Cause::NoAnswer);
    }

    #[test]
    fn each_responder_gets_the_median_of_their_own_acknowledgements() {
        let acked = |id: &str, by: &str, minutes: i64| {
            with(unpaged(&[]), |r| {
                r.id = id.into();
                r.delivered = true;
                r.acknowledged_by = Some(by.into());
                r.acknowledged_by_name = Some(format!("Name of {by}"));
                r.acknowledged_at = Some(r.created_at + Duration::minutes(minutes));
            })
        };
        let rows = vec![
            acked("i-1", "usr-b", 1),
            acked("i-2", "usr-a", 10),
            acked("i-3", "usr-b", 3),
            acked("i-4", "usr-b", 2),
            unpaged(&[]),
        ];
        let slas = HashMap::new();
        let lines = lines(&rows, &slas, at("2026-11-23T12:00:00Z"));
        let got: Vec<(String, String, usize, Option<i64>)> = per_responder(&rows, &lines)
            .into_iter()
            .map(|r| {
                (
                    r.user_id,
                    r.name,
                    r.acknowledged,
                    r.median_time_to_acknowledge_seconds,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("usr-a".into(), "Name of usr-a".into(), 1, Some(600)),
                ("usr-b".into(), "Name of usr-b".into(), 3, Some(120)),
            ]
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn incident(tier: &str, created: &str, tta: Option<i64>, breached: bool) -> IncidentLine {
        let created_at = at(created);
        IncidentLine {
            incident_id: format!("i-{created}"),
            ticket_ref: "T-1".into(),
            customer: "Acme".into(),
            tier: tier.into(),
            created_at,
            acknowledged_at: tta.map(|s| created_at + Duration::seconds(s)),
            acknowledged_by: None,
            time_to_page_seconds: None,
            time_to_acknowledge_seconds: tta,
            time_to_resolve_seconds: None,
            internal: if breached {
                TargetState::Breached
            } else {
                TargetState::Met
            },
            external: TargetState::Met,
            breach_cause: breached.then_some(Cause::NoAnswer),
            clock: TicketClock {
                ticket_ref: "T-1".into(),
                incident_id: "i".into(),
                customer: "Acme".into(),
                tier: tier.into(),
                created_at,
                resolved_at: None,
                waiting_on_customer: false,
                elapsed_seconds: 0,
                our_time_seconds: 0,
                customer_time_seconds: 0,
                resolution: TargetState::Pending,
                resolve_by: created_at,
                paused_intervals: Vec::new(),
            },
        }
    }

    #[test]
    fn weeks_start_on_monday_midnight_utc() {
        // 2026-11-22 is a Sunday; its week began on Monday the 16th.
        assert_eq!(
            week_start(at("2026-11-22T23:59:59Z")),
            at("2026-11-16T00:00:00Z")
        );
        assert_eq!(
            week_start(at("2026-11-23T00:00:00Z")),
            at("2026-11-23T00:00:00Z")
        );
    }

    #[test]
    fn tiers_are_summarised_per_week_with_empty_weeks_kept() {
        let lines = vec![
            incident("gold", "2026-11-02T10:00:00Z", Some(60), false),
            incident("gold", "2026-11-03T10:00:00Z", Some(600), true),
            incident("gold", "2026-11-18T10:00:00Z", None, true),
            incident("silver", "2026-11-18T11:00:00Z", Some(120), false),
        ];
        let tiers = tier_summaries(
            &lines,
            at("2026-11-01T00:00:00Z"),
            at("2026-11-22T00:00:00Z"),
        );
        assert_eq!(tiers.len(), 2);
        let gold = &tiers[0];
        assert_eq!(
            (
                gold.tier.as_str(),
                gold.incidents,
                gold.acknowledged,
                gold.breaches
            ),
            ("gold", 3, 2, 2)
        );
        assert_eq!((gold.p50_seconds, gold.p90_seconds), (Some(60), Some(600)));
        // Oct 26, Nov 2, Nov 9 (empty), Nov 16.
        let weeks: Vec<(DateTime<Utc>, usize, usize)> = gold
            .weeks
            .iter()
            .map(|w| (w.start, w.incidents, w.breaches))
            .collect();
        assert_eq!(
            weeks,
            vec![
                (at("2026-10-26T00:00:00Z"), 0, 0),
                (at("2026-11-02T00:00:00Z"), 2, 1),
                (at("2026-11-09T00:00:00Z"), 0, 0),
                (at("2026-11-16T00:00:00Z"), 1, 1),
            ]
        );
        assert_eq!(gold.weeks[1].p90_seconds, Some(600));
        assert_eq!(
            gold.weeks[3].p50_seconds, None,
            "nothing acknowledged that week"
        );
        assert_eq!(tiers[1].tier, "silver");
    }
}
