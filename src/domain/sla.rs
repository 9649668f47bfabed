//! SLA arithmetic: deadlines, elapsed covered time, breaches, and whether an escalation policy
//! can keep a tier's promise.
//!
//! Each support tier has a [`TierSla`]: an **external response** target (what the contract
//! promises the customer; Gold P1: 120 min), a tighter **internal acknowledgement** target (what
//! we hold ourselves to so the promise is kept with margin; Gold: 15 min), a resolution target,
//! warning fractions for pre-breach alerts, and a [`Coverage`]: the SLA clock runs all the time
//! (`Always`, 24x7) or only inside weekly local business hours, skipping holidays. Every target
//! of a tier is counted in its covered time; a Silver incident raised Friday 16:30 with a
//! 4-hour target is due Monday 12:30.
//!
//! A target is **met** when at most `target` of covered time has elapsed at the
//! acknowledgement, **breached** as soon as more has (so an acknowledgement Friday evening,
//! after the clock stopped exactly on target at 17:00, is still met), and **pending** before.
//!
//! ## Does a policy fit a tier?
//!
//! [`check_policy_fits`] makes two checks, and deliberately not the tempting third:
//!
//! 1. *The first pass reaches its last step within the internal target.* By the time we have
//!    missed our own target, every responder the policy knows about must have been paged at
//!    least once. Gold default: 5 + 5 = 10 min to page step 3, within 15 min.
//! 2. *The whole chain, repeats included, is exhausted within the external SLA.* Repeats page
//!    the same people again; they exist to keep the promise to the customer, so the last of them
//!    must time out before the contract does, leaving the "unanswered" alarm time to act. Gold
//!    default: 3 passes x (5 + 5 + 10) = 60 min, within 120 min.
//!
//! Holding the time to the *last step of the last pass* (Gold default: 50 min) against the
//! internal target would forbid any repeat for Gold and push operators to delete the safety net
//! that catches a missed page, so it is not checked. The internal target must also be shorter
//! than the external one, or it is not an early warning.
//!
//! Escalation runs on the wall clock while these targets are counted in covered time, which
//! never runs faster, so comparing wall-clock policy durations with covered targets is safe
//! for business-hours tiers too.
//!
//! Limits: business hours are weekly windows plus a holiday list in one zone; no half-day
//! holidays or one-off extra hours. No I/O; the caller passes `now`.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::calendar::{covered_intervals, Interval, WeeklyWindow};
use crate::domain::escalation::EscalationPolicy;
use crate::domain::minutes;

/// When the SLA clock runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Coverage {
    /// 24x7: covered time is elapsed time.
    Always,
    /// Only inside local weekly windows, skipping holidays.
    BusinessHours(BusinessHours),
}

/// Weekly local windows in a zone, minus holidays. At least one window, so every deadline is
/// reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BusinessHoursFields", into = "BusinessHoursFields")]
pub struct BusinessHours {
    time_zone: Tz,
    windows: Vec<WeeklyWindow>,
    /// Sorted, without duplicates.
    holidays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BusinessHoursFields {
    time_zone: String,
    windows: Vec<WeeklyWindow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    holidays: Vec<NaiveDate>,
}

impl BusinessHours {
    /// Business hours in the IANA zone `time_zone`. Holidays are local dates on which no window
    /// opens (a window that opens the evening before still runs into the holiday).
    pub fn new(
        time_zone: &str,
        windows: Vec<WeeklyWindow>,
        mut holidays: Vec<NaiveDate>,
    ) -> Result<Self, SlaConfigError> {
        let time_zone: Tz = time_zone.parse().map_err(|_| {
            invalid(
                "coverage.time_zone",
                format!("unknown time zone {time_zone:?}"),
            )
        })?;
        if windows.is_empty() {
            return Err(invalid("coverage.windows", "must not be empty"));
        }
        holidays.sort();
        holidays.dedup();
        Ok(Self {
            time_zone,
            windows,
            holidays,
        })
    }

    /// Monday to Friday, 09:00 to 17:00 local, no holidays.
    pub fn monday_to_friday_9_to_5(time_zone: Tz) -> Self {
        let hour = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
        Self {
            time_zone,
            windows: WeeklyWindow::monday_to_friday(hour(9), hour(17)),
            holidays: Vec::new(),
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn windows(&self) -> &[WeeklyWindow] {
        &self.windows
    }

    pub fn holidays(&self) -> &[NaiveDate] {
        &self.holidays
    }

    fn intervals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
        covered_intervals(
            self.time_zone,
            &self.windows,
            |d| self.holidays.binary_search(&d).is_ok(),
            from,
            to,
        )
    }
}

impl TryFrom<BusinessHoursFields> for BusinessHours {
    type Error = SlaConfigError;

    fn try_from(f: BusinessHoursFields) -> Result<Self, Self::Error> {
        BusinessHours::new(&f.time_zone, f.windows, f.holidays)
    }
}

impl From<BusinessHours> for BusinessHoursFields {
    fn from(b: BusinessHours) -> Self {
        BusinessHoursFields {
            time_zone: b.time_zone.name().to_owned(),
            windows: b.windows,
            holidays: b.holidays,
        }
    }
}

impl Coverage {
    /// The covered stretches of `[from, to)`, sorted and disjoint.
    pub fn covered_intervals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
        match self {
            _ if from >= to => Vec::new(),
            Coverage::Always => vec![Interval::new(from, to)],
            Coverage::BusinessHours(hours) => hours.intervals(from, to),
        }
    }
}

/// The instant at which `target` of covered time has elapsed since `start`: the first instant
/// at which a clock that runs only in covered time shows `target`. A `target` of zero or less
/// is due at `start`.
pub fn deadline(start: DateTime<Utc>, target: Duration, coverage: &Coverage) -> DateTime<Utc> {
    let hours = match coverage {
        Coverage::Always => return start + target.max(Duration::zero()),
        Coverage::BusinessHours(hours) => hours,
    };
    let mut remaining = target;
    let mut cursor = start;
    // Every week has a covered window except weeks full of holidays, of which there are
    // finitely many, so this ends.
    loop {
        if remaining <= Duration::zero() {
            return cursor;
        }
        let chunk_end = cursor + Duration::weeks(1);
        for iv in hours.intervals(cursor, chunk_end) {
            let covered = iv.duration();
            if covered >= remaining {
                return iv.start + remaining;
            }
            remaining -= covered;
        }
        cursor = chunk_end;
    }
}

/// Covered time elapsed between `from` and `to`; zero when `to` is not after `from`.
pub fn covered_duration(from: DateTime<Utc>, to: DateTime<Utc>, coverage: &Coverage) -> Duration {
    coverage
        .covered_intervals(from, to)
        .iter()
        .map(Interval::duration)
        .sum()
}

/// A tier's service-level targets; see the module doc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TierSlaFields", into = "TierSlaFields")]
pub struct TierSla {
    name: String,
    external_response: Duration,
    internal_ack: Duration,
    resolution: Duration,
    coverage: Coverage,
    warn_at: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierSlaFields {
    name: String,
    #[serde(with = "minutes")]
    external_response_minutes: Duration,
    #[serde(with = "minutes")]
    internal_ack_minutes: Duration,
    #[serde(with = "minutes")]
    resolution_minutes: Duration,
    coverage: Coverage,
    #[serde(default = "default_warn_at")]
    warn_at: Vec<f64>,
}

/// Pre-breach warnings at half and four fifths of a target.
pub fn default_warn_at() -> Vec<f64> {
    vec![0.5, 0.8]
}

impl TierSla {
    /// A validated SLA. `name` appears in messages ("the gold internal acknowledgement
    /// target"); durations are whole minutes of at least one; `warn_at` are strictly increasing
    /// fractions strictly between 0 and 1.
    pub fn new(
        name: &str,
        external_response: Duration,
        internal_ack: Duration,
        resolution: Duration,
        coverage: Coverage,
        warn_at: Vec<f64>,
    ) -> Result<Self, SlaConfigError> {
        if name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        for (field, d) in [
            ("external_response_minutes", external_response),
            ("internal_ack_minutes", internal_ack),
            ("resolution_minutes", resolution),
        ] {
            if !minutes::is_whole_positive(d) {
                return Err(invalid(
                    field,
                    format!(
                        "must be a whole number of minutes, at least 1, not {}",
                        minutes::display(d)
                    ),
                ));
            }
        }
        for (i, f) in warn_at.iter().enumerate() {
            if !(f.is_finite() && *f > 0.0 && *f < 1.0) {
                return Err(invalid(
                    format!("warn_at[{i}]"),
                    format!("must be a fraction between 0 and 1 exclusive, not {f}"),
                ));
            }
            if i > 0 && *f <= warn_at[i - 1] {
                return Err(invalid(
                    format!("warn_at[{i}]"),
                    format!(
                        "must be greater than warn_at[{}] ({f} <= {})",
                        i - 1,
                        warn_at[i - 1]
                    ),
                ));
            }
        }
        Ok(Self {
            name: name.trim().to_owned(),
            external_response,
            internal_ack,
            resolution,
            coverage,
            warn_at,
        })
    }

    /// The SLA a tier stores as JSON; the tier's defaults (Gold's for an unknown tier) when
    /// it stores none that reads.
    pub fn from_stored(tier: &str, json: &str) -> Self {
        serde_json::from_str(json)
            .ok()
            .or_else(|| Self::defaults_for(tier))
            .unwrap_or_else(Self::gold)
    }

    /// The built-in targets of a tier by id (business hours in UTC for the lower tiers).
    pub fn defaults_for(tier: &str) -> Option<Self> {
        match tier {
            "gold" => Some(Self::gold()),
            "silver" => Some(Self::silver(chrono_tz::UTC)),
            "bronze" => Some(Self::bronze(chrono_tz::UTC)),
            _ => None,
        }
    }

    /// Gold, 24x7: respond within 120 min (contract), acknowledge within 15 min (internal),
    /// resolve within 8 hours.
    pub fn gold() -> Self {
        Self::preset("gold", 120, 15, 8 * 60, Coverage::Always)
    }

    /// Silver, Monday-Friday 09:00-17:00 in `time_zone`: respond within 4 business hours,
    /// acknowledge within 30 business minutes, resolve within 3 business days (24 hours).
    pub fn silver(time_zone: Tz) -> Self {
        Self::preset(
            "silver",
            4 * 60,
            30,
            3 * 8 * 60,
            Coverage::BusinessHours(BusinessHours::monday_to_friday_9_to_5(time_zone)),
        )
    }

    /// Bronze, Monday-Friday 09:00-17:00 in `time_zone`: respond within 1 business day (8
    /// hours), acknowledge within 60 business minutes, resolve within 5 business days (40
    /// hours).
    pub fn bronze(time_zone: Tz) -> Self {
        Self::preset(
            "bronze",
            8 * 60,
            60,
            5 * 8 * 60,
            Coverage::BusinessHours(BusinessHours::monday_to_friday_9_to_5(time_zone)),
        )
    }

    fn preset(name: &str, external: i64, internal: i64, resolution: i64, c: Coverage) -> Self {
        Self {
            name: name.to_owned(),
            external_response: Duration::minutes(external),
            internal_ack: Duration::minutes(internal),
            resolution: Duration::minutes(resolution),
            coverage: c,
            warn_at: default_warn_at(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn external_response(&self) -> Duration {
        self.external_response
    }

    pub fn internal_ack(&self) -> Duration {
        self.internal_ack
    }

    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    pub fn warn_at(&self) -> &[f64] {
        &self.warn_at
    }

    pub fn external_deadline(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        deadline(created_at, self.external_response, &self.coverage)
    }

    pub fn internal_deadline(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        deadline(created_at, self.internal_ack, &self.coverage)
    }

    pub fn resolution_deadline(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        deadline(created_at, self.resolution, &self.coverage)
    }
}

impl TryFrom<TierSlaFields> for TierSla {
    type Error = SlaConfigError;

    fn try_from(f: TierSlaFields) -> Result<Self, Self::Error> {
        TierSla::new(
            &f.name,
            f.external_response_minutes,
            f.internal_ack_minutes,
            f.resolution_minutes,
            f.coverage,
            f.warn_at,
        )
    }
}

impl From<TierSla> for TierSlaFields {
    fn from(s: TierSla) -> Self {
        TierSlaFields {
            name: s.name,
            external_response_minutes: s.external_response,
            internal_ack_minutes: s.internal_ack,
            resolution_minutes: s.resolution,
            coverage: s.coverage,
            warn_at: s.warn_at,
        }
    }
}

/// An SLA setting that cannot be used, or a policy that cannot keep a tier's SLA. The messages
/// show the arithmetic so an operator sees which number to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaConfigError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(
        "the {tier} internal acknowledgement target ({}) must be shorter than its external \
         response target ({})",
        minutes::display(*internal), minutes::display(*external)
    )]
    InternalNotShorterThanExternal {
        tier: String,
        internal: Duration,
        external: Duration,
    },
    #[error(
        "escalation policy reaches {} of its first pass after {}{} = {}, which exceeds \
         the {tier} internal acknowledgement target of {}",
        step_name(*step, *last), sum_of(waits), delay_term(*rule_delay, waits.is_empty()),
        minutes::display(*reached_after), minutes::display(*internal)
    )]
    FirstPassTooSlow {
        tier: String,
        /// The step (from 0) reached last, counting the rules' delays.
        step: usize,
        /// Whether that step is the policy's last.
        last: bool,
        /// The timeouts waited out before that step is paged.
        waits: Vec<Duration>,
        /// The earliest delay at which the notification rules of the step's people reach
        /// one of them (zero when push reaches them at once).
        rule_delay: Duration,
        reached_after: Duration,
        internal: Duration,
    },
    #[error(
        "escalation policy is exhausted after {passes} passes x ({}) = {}, which exceeds the \
         {tier} external response target of {}",
        sum_of(step_timeouts), minutes::display(*exhausted_after), minutes::display(*external)
    )]
    ChainOutlastsExternal {
        tier: String,
        passes: u32,
        step_timeouts: Vec<Duration>,
        exhausted_after: Duration,
        external: Duration,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SlaConfigError {
    SlaConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn step_name(step: usize, last: bool) -> String {
    if last {
        "the last step".to_owned()
    } else {
        format!("step {}", step + 1)
    }
}

/// " + 11 min (rules' delay)", or nothing for a step reached at once.
fn delay_term(delay: Duration, first: bool) -> String {
    if delay.is_zero() {
        String::new()
    } else if first {
        format!("{} (rules' delay)", minutes::display(delay))
    } else {
        format!(" + {} (rules' delay)", minutes::display(delay))
    }
}

/// "5 min + 5 min + 10 min"
fn sum_of(terms: &[Duration]) -> String {
    terms
        .iter()
        .map(|d| minutes::display(*d))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Whether `policy` can keep `sla`'s promise when every step's people are reached the moment
/// they are paged ([`check_policy_reaches_in_time`] with no delays).
pub fn check_policy_fits(policy: &EscalationPolicy, sla: &TierSla) -> Result<(), SlaConfigError> {
    check_policy_reaches_in_time(policy, &[], sla)
}

/// Whether `policy` can keep `sla`'s promise: the two checks of the module doc, after the
/// internal target is confirmed shorter than the external one. The first check counts
/// `rule_delays[i]`, the earliest delay at which the notification rules of step `i`'s people
/// reach one of them (missing: zero): a step whose people can only be texted after 11 minutes
/// is reached 11 minutes after it is paged, and every step must be *reached* within the
/// internal target, not merely paged.
pub fn check_policy_reaches_in_time(
    policy: &EscalationPolicy,
    rule_delays: &[Duration],
    sla: &TierSla,
) -> Result<(), SlaConfigError> {
    if sla.internal_ack >= sla.external_response {
        return Err(SlaConfigError::InternalNotShorterThanExternal {
            tier: sla.name.clone(),
            internal: sla.internal_ack,
            external: sla.external_response,
        });
    }
    let waits_all = policy.first_pass_waits();
    let last = policy.steps().len() - 1;
    // The step reached last; on a tie the later step, so with no delays it is the last step.
    let (step, reached_after) = (0..=last)
        .map(|i| {
            let delay = rule_delays.get(i).copied().unwrap_or_else(Duration::zero);
            (i, waits_all[..i].iter().copied().sum::<Duration>() + delay)
        })
        .fold((0, Duration::zero()), |best, (i, at)| {
            if at >= best.1 {
                (i, at)
            } else {
                best
            }
        });
    if reached_after > sla.internal_ack {
        return Err(SlaConfigError::FirstPassTooSlow {
            tier: sla.name.clone(),
            step,
            last: step == last,
            waits: waits_all[..step].to_vec(),
            rule_delay: rule_delays
                .get(step)
                .copied()
                .unwrap_or_else(Duration::zero),
            reached_after,
            internal: sla.internal_ack,
        });
    }
    let exhausted_after = policy.worst_case_total();
    if exhausted_after > sla.external_response {
        return Err(SlaConfigError::ChainOutlastsExternal {
            tier: sla.name.clone(),
            passes: policy.passes(),
            step_timeouts: policy.steps().iter().map(|s| s.ack_timeout).collect(),
            exhausted_after,
            external: sla.external_response,
        });
    }
    Ok(())
}

/// Where one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Stopped (acknowledged) within the target.
    Met,
    /// Still running and within the target.
    Pending,
    /// More than the target has elapsed, acknowledged or not.
    Breached,
}

/// One target of one incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    pub state: TargetState,
    pub target: Duration,
    /// When `target` of covered time is reached.
    pub deadline: DateTime<Utc>,
    /// Covered time elapsed until the acknowledgement, or until now if there is none.
    pub used: Duration,
    /// The warning fractions of `target` that `used` has reached, ascending: the pre-breach
    /// warnings that are due (or were, before the acknowledgement).
    pub warnings_passed: Vec<f64>,
}

impl TargetStatus {
    /// `used` as a fraction of `target`; above 1 once breached.
    pub fn fraction_used(&self) -> f64 {
        fraction(self.used, self.target)
    }
}

/// An incident's standing against its tier's response targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreachState {
    pub internal: TargetStatus,
    pub external: TargetStatus,
}

fn fraction(used: Duration, target: Duration) -> f64 {
    let target = target.num_milliseconds();
    if target <= 0 {
        return f64::INFINITY;
    }
    used.num_milliseconds() as f64 / target as f64
}

/// One target's status for a clock started at `start` and stopped at `stopped_at` (if it has
/// been), as seen at `now`. Usable for any target, e.g. resolution with `resolved_at`.
pub fn target_status(
    start: DateTime<Utc>,
    stopped_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    target: Duration,
    coverage: &Coverage,
    warn_at: &[f64],
) -> TargetStatus {
    let used = covered_duration(start, stopped_at.unwrap_or(now), coverage);
    status_of(
        used,
        stopped_at.is_some(),
        target,
        deadline(start, target, coverage),
        warn_at,
    )
}

/// Internal and external response status of an incident created at `created_at`.
pub fn breach_state(
    created_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    sla: &TierSla,
) -> BreachState {
    let status = |target| {
        target_status(
            created_at,
            acknowledged_at,
            now,
            target,
            &sla.coverage,
            &sla.warn_at,
        )
    };
    BreachState {
        internal: status(sla.internal_ack),
        external: status(sla.external_response),
    }
}

/// When each pre-breach warning of `target` falls due for a clock started at `start`, so the
/// engine can schedule them instead of polling.
pub fn warning_times(
    start: DateTime<Utc>,
    target: Duration,
    coverage: &Coverage,
    warn_at: &[f64],
) -> Vec<(f64, DateTime<Utc>)> {
    warn_at
        .iter()
        .map(|f| {
            let part =
                Duration::milliseconds((target.num_milliseconds() as f64 * f).round() as i64);
            (*f, deadline(start, part, coverage))
        })
        .collect()
}

// --- The two-way resolution clock ---

/// A stretch in which a ticket waited on its customer (logs, access, a test): the resolution
/// clock does not run in it. `end` is `None` while the ticket still waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// How the covered time of a ticket's clock splits between us and the customer.
/// `ours + customers == elapsed` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSplit {
    /// Covered time from the start to `until`.
    pub elapsed: Duration,
    /// The part of `elapsed` outside every pause: what counts toward the resolution target.
    pub ours: Duration,
    /// The part of `elapsed` inside pauses: the customer's time.
    pub customers: Duration,
}

/// The pauses inside `[start, until)`, an open one ending at `until`, sorted and merged so
/// none overlap.
fn pause_holes(start: DateTime<Utc>, until: DateTime<Utc>, pauses: &[Pause]) -> Vec<Interval> {
    let mut holes: Vec<Interval> = pauses
        .iter()
        .map(|p| Interval::new(p.start.max(start), p.end.unwrap_or(until).min(until)))
        .filter(|iv| iv.start < iv.end)
        .collect();
    holes.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(holes.len());
    for h in holes {
        match merged.last_mut() {
            Some(last) if h.start <= last.end => last.end = last.end.max(h.end),
            _ => merged.push(h),
        }
    }
    merged
}

/// The parts of `iv` outside `holes` (sorted, disjoint), in order.
fn outside(iv: Interval, holes: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut cursor = iv.start;
    for h in holes {
        if h.end <= cursor || h.start >= iv.end {
            continue;
        }
        if h.start > cursor {
            out.push(Interval::new(cursor, h.start));
        }
        cursor = cursor.max(h.end);
    }
    if cursor < iv.end {
        out.push(Interval::new(cursor, iv.end));
    }
    out
}

/// Splits the covered time of a clock started at `start`, as it stands at `until`, into ours
/// and the customer's. Business hours apply to both parts: a pause over a weekend takes no
/// covered time from a business-hours tier, because none was running.
pub fn split_clock(
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    pauses: &[Pause],
    coverage: &Coverage,
) -> ClockSplit {
    let elapsed = covered_duration(start, until, coverage);
    let customers: Duration = pause_holes(start, until, pauses)
        .iter()
        .map(|h| covered_duration(h.start, h.end, coverage))
        .sum();
    ClockSplit {
        elapsed,
        ours: elapsed - customers,
        customers,
    }
}

/// The instant at which `target` of covered time outside `holes` (sorted, disjoint, bounded)
/// has elapsed since `start`.
fn deadline_outside(
    start: DateTime<Utc>,
    target: Duration,
    coverage: &Coverage,
    holes: &[Interval],
) -> DateTime<Utc> {
    if holes.is_empty() {
        return deadline(start, target, coverage);
    }
    let mut remaining = target;
    let mut cursor = start;
    // Holes end; past the last one this is `deadline`'s loop, which ends.
    loop {
        if remaining <= Duration::zero() {
            return cursor;
        }
        let chunk_end = cursor + Duration::weeks(1);
        for iv in coverage.covered_intervals(cursor, chunk_end) {
            for piece in outside(iv, holes) {
                let covered = piece.duration();
                if covered >= remaining {
                    return piece.start + remaining;
                }
                remaining -= covered;
            }
        }
        cursor = chunk_end;
    }
}

/// The resolution target of an incident created at `created_at`, with the time its ticket
/// waited on the customer taken out. Met when resolved with at most the target of *our* time
/// used, breached as soon as more is used, pending before. While the ticket still waits, the
/// deadline is the one that holds if the customer answers now: it moves on as they take
/// longer. The response and acknowledgement targets ([`breach_state`]) know nothing of
/// pauses: a P1 must be acknowledged in time whatever the customer owes us.
pub fn resolution_status(
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    sla: &TierSla,
    pauses: &[Pause],
) -> TargetStatus {
    let until = resolved_at.unwrap_or(now);
    let used = split_clock(created_at, until, pauses, &sla.coverage).ours;
    let holes = pause_holes(created_at, until, pauses);
    status_of(
        used,
        resolved_at.is_some(),
        sla.resolution,
        deadline_outside(created_at, sla.resolution, &sla.coverage, &holes),
        &sla.warn_at,
    )
}

fn status_of(
    used: Duration,
    stopped: bool,
    target: Duration,
    deadline: DateTime<Utc>,
    warn_at: &[f64],
) -> TargetStatus {
    let state = match (stopped, used > target) {
        (_, true) => TargetState::Breached,
        (true, false) => TargetState::Met,
        (false, false) => TargetState::Pending,
    };
    let reached = fraction(used, target);
    TargetStatus {
        state,
        target,
        deadline,
        used,
        warnings_passed: warn_at.iter().copied().filter(|f| reached >= *f).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::escalation::{Step, Target};
    use chrono::Weekday;
    use chrono_tz::{America::New_York, Europe::London};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn min(m: i64) -> Duration {
        Duration::minutes(m)
    }

    fn nine_to_five(tz: Tz) -> Coverage {
        Coverage::BusinessHours(BusinessHours::monday_to_friday_9_to_5(tz))
    }

    fn with_holidays(tz: &str, holidays: &[&str]) -> Coverage {
        let hour = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        Coverage::BusinessHours(
            BusinessHours::new(
                tz,
                WeeklyWindow::monday_to_friday(hour(9), hour(17)),
                holidays.iter().map(|d| date(d)).collect(),
            )
            .unwrap(),
        )
    }

    // --- Deadlines and covered time ---

    #[test]
    fn always_covered_deadline_is_start_plus_target() {
        let start = utc("2024-03-31T00:30:00Z");
        assert_eq!(
            deadline(start, min(120), &Coverage::Always),
            utc("2024-03-31T02:30:00Z")
        );
        assert_eq!(
            covered_duration(start, utc("2024-03-31T02:30:00Z"), &Coverage::Always),
            min(120)
        );
        assert_eq!(
            covered_duration(start, start - min(5), &Coverage::Always),
            Duration::zero()
        );
    }

    #[test]
    fn business_hours_deadline_skips_the_weekend() {
        // London in January is UTC. Friday 16:00 + 2 business hours = Monday 10:00.
        let c = nine_to_five(London);
        assert_eq!(
            deadline(utc("2024-01-12T16:00:00Z"), min(120), &c),
            utc("2024-01-15T10:00:00Z")
        );
        assert_eq!(
            covered_duration(utc("2024-01-12T16:00:00Z"), utc("2024-01-15T10:00:00Z"), &c),
            min(120)
        );
    }

    #[test]
    fn start_outside_hours_waits_for_the_next_opening() {
        let c = nine_to_five(London);
        // Saturday.
        assert_eq!(
            deadline(utc("2024-01-13T11:00:00Z"), min(30), &c),
            utc("2024-01-15T09:30:00Z")
        );
        // Early Monday.
        assert_eq!(
            deadline(utc("2024-01-15T07:00:00Z"), min(30), &c),
            utc("2024-01-15T09:30:00Z")
        );
        // Tuesday evening.
        assert_eq!(
            deadline(utc("2024-01-16T18:00:00Z"), min(30), &c),
            utc("2024-01-17T09:30:00Z")
        );
        assert_eq!(
            covered_duration(utc("2024-01-13T11:00:00Z"), utc("2024-01-15T08:59:00Z"), &c),
            Duration::zero()
        );
    }

    #[test]
    fn a_target_used_up_exactly_at_closing_is_due_at_closing() {
        let c = nine_to_five(London);
        assert_eq!(
            deadline(utc("2024-01-15T09:00:00Z"), min(8 * 60), &c),
            utc("2024-01-15T17:00:00Z")
        );
        assert_eq!(
            deadline(utc("2024-01-15T12:00:00Z"), Duration::zero(), &c),
            utc("2024-01-15T12:00:00Z")
        );
    }

    #[test]
    fn targets_longer_than_a_week_of_business_hours() {
        let c = nine_to_five(London);
        let monday = utc("2024-01-15T09:00:00Z");
        assert_eq!(
            deadline(monday, min(40 * 60), &c),
            utc("2024-01-19T17:00:00Z")
        );
        assert_eq!(
            deadline(monday, min(41 * 60), &c),
            utc("2024-01-22T10:00:00Z")
        );
        assert_eq!(
            deadline(monday, min(80 * 60), &c),
            utc("2024-01-26T17:00:00Z")
        );
    }

    #[test]
    fn a_holiday_is_skipped() {
        // Monday 2024-05-27 is a bank holiday; London is on BST (UTC+1).
        let c = with_holidays("Europe/London", &["2024-05-27"]);
        let friday = utc("2024-05-24T15:00:00Z"); // 16:00 BST
        assert_eq!(deadline(friday, min(120), &c), utc("2024-05-28T09:00:00Z")); // Tue 10:00 BST
        assert_eq!(
            covered_duration(friday, utc("2024-05-28T08:00:00Z"), &c),
            min(60)
        );
    }

    #[test]
    fn a_run_of_holidays_longer_than_a_week_is_skipped() {
        let days: Vec<String> = (0..12)
            .map(|i| (date("2024-12-23") + Duration::days(i)).to_string())
            .collect();
        let days: Vec<&str> = days.iter().map(String::as_str).collect();
        let c = with_holidays("Europe/London", &days);
        // Closed 23 Dec to 3 Jan; Friday 3 Jan is a holiday too, so Monday 6 Jan.
        assert_eq!(
            deadline(utc("2024-12-20T16:30:00Z"), min(60), &c),
            utc("2025-01-06T09:30:00Z")
        );
    }

    #[test]
    fn business_hours_across_spring_forward_stay_at_local_nine() {
        // New York, 2024-03-10 02:00 EST -> 03:00 EDT. Friday 16:00 EST + 2 business hours is
        // Monday 10:00 EDT, 14:00Z rather than 15:00Z.
        let c = nine_to_five(New_York);
        let friday = utc("2024-03-08T21:00:00Z");
        assert_eq!(deadline(friday, min(120), &c), utc("2024-03-11T14:00:00Z"));
        assert_eq!(
            covered_duration(friday, utc("2024-03-11T14:00:00Z"), &c),
            min(120)
        );
    }

    #[test]
    fn business_hours_across_fall_back_stay_at_local_nine() {
        // London, 2024-10-27 02:00 BST -> 01:00 GMT. Friday 16:00 BST + 2h = Monday 10:00 GMT.
        let c = nine_to_five(London);
        assert_eq!(
            deadline(utc("2024-10-25T15:00:00Z"), min(120), &c),
            utc("2024-10-28T10:00:00Z")
        );
    }

    #[test]
    fn round_the_clock_windows_count_the_short_day_as_23_hours() {
        let midnight = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
        let all_week = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ]
        .map(|d| WeeklyWindow::new(d, midnight, midnight))
        .to_vec();
        let c = Coverage::BusinessHours(
            BusinessHours::new("America/New_York", all_week, Vec::new()).unwrap(),
        );
        // Saturday noon EST + 24 covered hours = Sunday 13:00 EDT: 24 real hours, though the
        // local clock moved 25.
        let start = utc("2024-03-09T17:00:00Z");
        assert_eq!(
            deadline(start, min(24 * 60), &c),
            utc("2024-03-10T17:00:00Z")
        );
        assert_eq!(
            covered_duration(start, utc("2024-03-11T17:00:00Z"), &c),
            min(48 * 60)
        );
    }

    #[test]
    fn covered_time_to_a_deadline_is_the_target() {
        let c = with_holidays("Europe/Paris", &["2024-04-01"]);
        for (start, target) in [
            ("2024-03-28T16:45:00Z", 7),
            ("2024-03-29T03:00:00Z", 600),
            ("2024-03-30T12:00:00Z", 1),
            ("2024-03-28T08:00:00Z", 3000),
        ] {
            let start = utc(start);
            let due = deadline(start, min(target), &c);
            assert_eq!(covered_duration(start, due, &c), min(target), "{start}");
        }
    }

    // --- Tier defaults and validation ---

    #[test]
    fn tier_defaults() {
        let gold = TierSla::gold();
        assert_eq!(
            (gold.name(), gold.external_response(), gold.internal_ack()),
            ("gold", min(120), min(15))
        );
        assert_eq!(gold.resolution(), min(480));
        assert_eq!(gold.coverage(), &Coverage::Always);
        assert_eq!(gold.warn_at(), [0.5, 0.8]);
        let silver = TierSla::silver(London);
        assert_eq!(
            (
                silver.external_response(),
                silver.internal_ack(),
                silver.resolution()
            ),
            (min(240), min(30), min(1440))
        );
        let bronze = TierSla::bronze(London);
        assert_eq!(
            (
                bronze.external_response(),
                bronze.internal_ack(),
                bronze.resolution()
            ),
            (min(480), min(60), min(2400))
        );
        assert_eq!(bronze.coverage(), &nine_to_five(London));
        for sla in [gold, silver, bronze] {
            let rebuilt = TierSla::new(
                sla.name(),
                sla.external_response(),
                sla.internal_ack(),
                sla.resolution(),
                sla.coverage().clone(),
                sla.warn_at().to_vec(),
            );
            assert_eq!(rebuilt, Ok(sla));
        }
    }

    #[test]
    fn silver_deadlines_count_business_time() {
        let silver = TierSla::silver(London);
        let friday = utc("2024-01-12T16:30:00Z");
        assert_eq!(
            silver.internal_deadline(friday),
            utc("2024-01-12T17:00:00Z")
        );
        assert_eq!(
            silver.external_deadline(friday),
            utc("2024-01-15T12:30:00Z")
        );
        assert_eq!(
            silver.resolution_deadline(friday),
            utc("2024-01-17T16:30:00Z")
        );
    }

    fn sla_error(external: i64, internal: i64, resolution: Duration, warn_at: Vec<f64>) -> String {
        TierSla::new(
            "gold",
            min(external),
            min(internal),
            resolution,
            Coverage::Always,
            warn_at,
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn targets_must_be_whole_positive_minutes() {
        assert_eq!(
            sla_error(0, 15, min(60), vec![]),
            "external_response_minutes: must be a whole number of minutes, at least 1, not 0 min"
        );
        assert_eq!(
            sla_error(120, 15, Duration::seconds(30), vec![]),
            "resolution_minutes: must be a whole number of minutes, at least 1, not 0 min 30 s"
        );
    }

    #[test]
    fn warning_fractions_must_be_increasing_and_inside_the_target() {
        assert_eq!(
            sla_error(120, 15, min(60), vec![0.5, 1.0]),
            "warn_at[1]: must be a fraction between 0 and 1 exclusive, not 1"
        );
        assert_eq!(
            sla_error(120, 15, min(60), vec![f64::NAN]),
            "warn_at[0]: must be a fraction between 0 and 1 exclusive, not NaN"
        );
        assert_eq!(
            sla_error(120, 15, min(60), vec![0.8, 0.5]),
            "warn_at[1]: must be greater than warn_at[0] (0.5 <= 0.8)"
        );
        assert!(TierSla::new("t", min(2), min(1), min(1), Coverage::Always, vec![]).is_ok());
    }

    #[test]
    fn tier_name_is_required() {
        let err = TierSla::new(" ", min(2), min(1), min(1), Coverage::Always, vec![]);
        assert_eq!(err.unwrap_err().to_string(), "name: must not be empty");
    }

    #[test]
    fn business_hours_validation() {
        let err = BusinessHours::new("Europe/Lodnon", vec![], vec![]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"coverage.time_zone: unknown time zone "Europe/Lodnon""#
        );
        let err = BusinessHours::new("Europe/London", vec![], vec![]).unwrap_err();
        assert_eq!(err.to_string(), "coverage.windows: must not be empty");
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let hours = BusinessHours::new(
            "Europe/London",
            WeeklyWindow::monday_to_friday(nine, nine),
            vec![date("2024-12-26"), date("2024-12-25"), date("2024-12-26")],
        )
        .unwrap();
        assert_eq!(hours.holidays(), [date("2024-12-25"), date("2024-12-26")]);
    }

    // --- Does the policy fit the tier? ---

    #[test]
    fn gold_default_policy_fits_gold_silver_and_bronze() {
        let policy = EscalationPolicy::gold_default();
        for sla in [
            TierSla::gold(),
            TierSla::silver(London),
            TierSla::bronze(London),
        ] {
            assert_eq!(check_policy_fits(&policy, &sla), Ok(()), "{}", sla.name());
        }
    }

    #[test]
    fn gold_default_fits_although_its_last_pass_reaches_step_three_after_50_min() {
        // The reading the module doc rejects: 50 min to the last step of the last pass is far
        // beyond the 15 min internal target, yet the policy keeps the promise.
        let policy = EscalationPolicy::gold_default();
        assert!(policy.worst_case_to_last_step() > TierSla::gold().internal_ack());
        assert!(check_policy_fits(&policy, &TierSla::gold()).is_ok());
    }

    fn policy(minutes: &[i64], repeat: u32) -> EscalationPolicy {
        let steps = minutes
            .iter()
            .map(|m| Step {
                targets: vec![Target::SupportManagers],
                ack_timeout: min(*m),
            })
            .collect();
        EscalationPolicy::new(steps, repeat).unwrap()
    }

    #[test]
    fn the_rules_delays_count_and_the_arithmetic_shows_them() {
        let gold = TierSla::gold();
        let m = |n: i64| Duration::minutes(n);
        // Push at once on both steps: 5 min to the last step.
        assert!(check_policy_reaches_in_time(&policy(&[5, 5], 0), &[m(0), m(0)], &gold).is_ok());
        // The last step's people can only be texted after 11 minutes: 5 + 11 = 16.
        let err =
            check_policy_reaches_in_time(&policy(&[5, 5], 0), &[m(0), m(11)], &gold).unwrap_err();
        assert_eq!(
            err.to_string(),
            "escalation policy reaches the last step of its first pass after \
             5 min + 11 min (rules' delay) = 16 min, which exceeds the gold internal \
             acknowledgement target of 15 min"
        );
        // A first step reached only by voice after 16 minutes is the one named.
        let err =
            check_policy_reaches_in_time(&policy(&[5, 5], 0), &[m(16), m(0)], &gold).unwrap_err();
        assert_eq!(
            err.to_string(),
            "escalation policy reaches step 1 of its first pass after 16 min (rules' delay) \
             = 16 min, which exceeds the gold internal acknowledgement target of 15 min"
        );
        // Exactly on target is fine; missing delays count as zero.
        assert!(check_policy_reaches_in_time(&policy(&[5, 5], 0), &[m(0), m(10)], &gold).is_ok());
        assert!(check_policy_reaches_in_time(&policy(&[5, 10, 10], 0), &[], &gold).is_ok());
    }

    #[test]
    fn a_slow_first_pass_is_refused_with_the_arithmetic() {
        let err = check_policy_fits(&policy(&[5, 5, 10, 10], 0), &TierSla::gold()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "escalation policy reaches the last step of its first pass after \
             5 min + 5 min + 10 min = 20 min, which exceeds the gold internal acknowledgement \
             target of 15 min"
        );
        // Exactly on target is fine.
        assert!(check_policy_fits(&policy(&[5, 10, 10], 0), &TierSla::gold()).is_ok());
    }

    #[test]
    fn a_chain_outlasting_the_external_sla_is_refused_with_the_arithmetic() {
        let err = check_policy_fits(&policy(&[5, 5, 10], 9), &TierSla::gold()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "escalation policy is exhausted after 10 passes x (5 min + 5 min + 10 min) = \
             200 min, which exceeds the gold external response target of 120 min"
        );
        // 6 passes x 20 min = 120 min: exhausted exactly at the external target.
        assert!(check_policy_fits(&policy(&[5, 5, 10], 5), &TierSla::gold()).is_ok());
    }

    #[test]
    fn internal_target_must_be_shorter_than_external() {
        let sla = TierSla::new(
            "gold",
            min(120),
            min(120),
            min(480),
            Coverage::Always,
            default_warn_at(),
        )
        .unwrap();
        let err = check_policy_fits(&EscalationPolicy::gold_default(), &sla).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the gold internal acknowledgement target (120 min) must be shorter than its \
             external response target (120 min)"
        );
    }

    // --- Breach state ---

    fn states(b: &BreachState) -> (TargetState, TargetState) {
        (b.internal.state, b.external.state)
    }

    #[test]
    fn acknowledged_within_both_targets_is_met() {
        let created = utc("2024-01-15T10:00:00Z");
        let b = breach_state(
            created,
            Some(utc("2024-01-15T10:10:00Z")),
            utc("2024-01-15T11:00:00Z"),
            &TierSla::gold(),
        );
        assert_eq!(states(&b), (TargetState::Met, TargetState::Met));
        assert_eq!(b.internal.used, min(10));
        assert_eq!(b.internal.deadline, utc("2024-01-15T10:15:00Z"));
        assert_eq!(b.external.deadline, utc("2024-01-15T12:00:00Z"));
        assert_eq!(b.internal.warnings_passed, [0.5]); // 10 of 15 min
        assert!(b.external.warnings_passed.is_empty());
    }

    #[test]
    fn unacknowledged_incident_moves_from_pending_to_breached() {
        let gold = TierSla::gold();
        let created = utc("2024-01-15T10:00:00Z");
        let at = |now| breach_state(created, None, utc(now), &gold);

        let early = at("2024-01-15T10:07:00Z");
        assert_eq!(states(&early), (TargetState::Pending, TargetState::Pending));
        assert!(early.internal.warnings_passed.is_empty());

        let warned = at("2024-01-15T10:13:00Z");
        assert_eq!(warned.internal.warnings_passed, [0.5, 0.8]);
        assert_eq!(warned.internal.state, TargetState::Pending);

        let on_the_dot = at("2024-01-15T10:15:00Z");
        assert_eq!(on_the_dot.internal.state, TargetState::Pending);

        let late = at("2024-01-15T10:15:01Z");
        assert_eq!(states(&late), (TargetState::Breached, TargetState::Pending));

        let very_late = at("2024-01-15T12:00:01Z");
        assert_eq!(
            states(&very_late),
            (TargetState::Breached, TargetState::Breached)
        );
        assert_eq!(very_late.external.warnings_passed, [0.5, 0.8]);
        assert!(very_late.external.fraction_used() > 1.0);
    }

    #[test]
    fn late_acknowledgement_breaches_internal_but_meets_external() {
        let created = utc("2024-01-15T10:00:00Z");
        let b = breach_state(
            created,
            Some(utc("2024-01-15T10:20:00Z")),
            utc("2024-01-15T13:00:00Z"),
            &TierSla::gold(),
        );
        assert_eq!(states(&b), (TargetState::Breached, TargetState::Met));
        // Frozen at the acknowledgement, not at `now`.
        assert_eq!(b.external.used, min(20));
    }

    #[test]
    fn acknowledgement_exactly_at_the_deadline_is_met() {
        let created = utc("2024-01-15T10:00:00Z");
        let b = breach_state(
            created,
            Some(utc("2024-01-15T10:15:00Z")),
            utc("2024-01-15T10:15:00Z"),
            &TierSla::gold(),
        );
        assert_eq!(b.internal.state, TargetState::Met);
    }

    #[test]
    fn business_hours_clock_stops_overnight() {
        let silver = TierSla::silver(London);
        let created = utc("2024-01-12T16:30:00Z"); // Friday
                                                   // Acknowledged Friday evening: 30 business minutes used, exactly the internal target.
        let evening = breach_state(
            created,
            Some(utc("2024-01-12T18:00:00Z")),
            utc("2024-01-13T00:00:00Z"),
            &silver,
        );
        assert_eq!(evening.internal.state, TargetState::Met);
        assert_eq!(evening.internal.used, min(30));
        // Not acknowledged; Monday 09:10 is 40 business minutes in.
        let monday = breach_state(created, None, utc("2024-01-15T09:10:00Z"), &silver);
        assert_eq!(
            states(&monday),
            (TargetState::Breached, TargetState::Pending)
        );
        assert_eq!(monday.external.used, min(40));
        // The whole weekend counts nothing.
        let sunday = breach_state(created, None, utc("2024-01-14T12:00:00Z"), &silver);
        assert_eq!(sunday.internal.state, TargetState::Pending);
        assert_eq!(sunday.internal.warnings_passed, [0.5, 0.8]);
    }

    #[test]
    fn resolution_status_uses_the_same_arithmetic() {
        let gold = TierSla::gold();
        let created = utc("2024-01-15T10:00:00Z");
        let s = target_status(
            created,
            Some(utc("2024-01-15T19:00:00Z")),
            utc("2024-01-16T00:00:00Z"),
            gold.resolution(),
            gold.coverage(),
            gold.warn_at(),
        );
        assert_eq!(s.state, TargetState::Breached);
        assert_eq!(s.deadline, utc("2024-01-15T18:00:00Z"));
    }

    #[test]
    fn warning_times_for_scheduling_pre_breach_alerts() {
        let gold = TierSla::gold();
        let created = utc("2024-01-15T10:00:00Z");
        assert_eq!(
            warning_times(
                created,
                gold.external_response(),
                gold.coverage(),
                gold.warn_at()
            ),
            [
                (0.5, utc("2024-01-15T11:00:00Z")),
                (0.8, utc("2024-01-15T11:36:00Z"))
            ]
        );
        let silver = TierSla::silver(London);
        let friday = utc("2024-01-12T16:30:00Z");
        assert_eq!(
            warning_times(
                friday,
                silver.external_response(),
                silver.coverage(),
                &[0.5]
            ),
            [(0.5, utc("2024-01-15T10:30:00Z"))]
        );
    }

    // --- Wire format ---

    #[test]
    fn tier_sla_wire_format_round_trips() {
        let silver = TierSla::silver(chrono_tz::Europe::Paris);
        let json = serde_json::to_value(&silver).unwrap();
        assert_eq!(json["external_response_minutes"], 240);
        assert_eq!(json["coverage"]["type"], "business_hours");
        assert_eq!(json["coverage"]["time_zone"], "Europe/Paris");
        assert_eq!(json["coverage"]["windows"][0]["weekday"], "Mon");
        let back: TierSla = serde_json::from_value(json).unwrap();
        assert_eq!(back, silver);
        let gold: TierSla = serde_json::from_str(
            r#"{"name":"gold","external_response_minutes":120,"internal_ack_minutes":15,
                "resolution_minutes":480,"coverage":{"type":"always"}}"#,
        )
        .unwrap();
        assert_eq!(gold, TierSla::gold());
    }

    #[test]
    fn deserialising_an_invalid_sla_names_the_field() {
        let err = serde_json::from_str::<TierSla>(
            r#"{"name":"silver","external_response_minutes":240,"internal_ack_minutes":30,
                "resolution_minutes":1440,"warn_at":[0.9,0.5],
                "coverage":{"type":"business_hours","time_zone":"Europe/Paris",
                            "windows":[{"weekday":"Mon","start":"09:00","end":"17:00"}],
                            "holidays":["2024-12-25"]}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("warn_at[1]"), "{err}");
        let err = serde_json::from_str::<TierSla>(
            r#"{"name":"silver","external_response_minutes":240,"internal_ack_minutes":30,
                "resolution_minutes":1440,
                "coverage":{"type":"business_hours","time_zone":"Europe/Paris","windows":[]}}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("coverage.windows: must not be empty"),
            "{err}"
        );
    }

    // --- The two-way resolution clock ---

    fn four_hour_resolution() -> TierSla {
        TierSla::new(
            "gold",
            min(120),
            min(15),
            min(240),
            Coverage::Always,
            default_warn_at(),
        )
        .unwrap()
    }

    fn pause(from: &str, to: Option<&str>) -> Pause {
        Pause {
            start: utc(from),
            end: to.map(utc),
        }
    }

    #[test]
    fn two_hours_waiting_inside_a_four_hour_target_is_not_breached_at_five_hours() {
        let sla = four_hour_resolution();
        let created = utc("2024-01-15T10:00:00Z");
        let waited = [pause("2024-01-15T11:00:00Z", Some("2024-01-15T13:00:00Z"))];
        let at_five = utc("2024-01-15T15:00:00Z");
        let s = resolution_status(created, None, at_five, &sla, &waited);
        assert_eq!(s.state, TargetState::Pending);
        assert_eq!(s.used, min(180));
        assert_eq!(s.deadline, utc("2024-01-15T16:00:00Z"));
        // Without the pause it would be.
        let s = resolution_status(created, None, at_five, &sla, &[]);
        assert_eq!(s.state, TargetState::Breached);
        // Past the shifted deadline it is.
        let s = resolution_status(created, None, utc("2024-01-15T16:00:01Z"), &sla, &waited);
        assert_eq!(s.state, TargetState::Breached);
        // Resolved at 5 h: met.
        let s = resolution_status(
            created,
            Some(at_five),
            utc("2024-01-16T00:00:00Z"),
            &sla,
            &waited,
        );
        assert_eq!(s.state, TargetState::Met);
    }

    #[test]
    fn an_open_pause_stops_the_clock_until_now() {
        let sla = four_hour_resolution();
        let created = utc("2024-01-15T10:00:00Z");
        let waiting = [pause("2024-01-15T13:00:00Z", None)];
        // Ten hours later, still waiting since hour three: three hours of ours.
        let now = utc("2024-01-15T20:00:00Z");
        let s = resolution_status(created, None, now, &sla, &waiting);
        assert_eq!((s.state, s.used), (TargetState::Pending, min(180)));
        // If the customer answered now, one hour would be left.
        assert_eq!(s.deadline, utc("2024-01-15T21:00:00Z"));
        let split = split_clock(created, now, &waiting, sla.coverage());
        assert_eq!(
            (split.elapsed, split.ours, split.customers),
            (min(600), min(180), min(420))
        );
    }

    #[test]
    fn the_split_adds_up_and_ignores_what_lies_outside_the_clock() {
        let created = utc("2024-01-15T10:00:00Z");
        let until = utc("2024-01-15T18:00:00Z");
        let pauses = [
            // Before the incident: only its part inside the clock counts.
            pause("2024-01-15T09:00:00Z", Some("2024-01-15T10:30:00Z")),
            // Overlapping records count once.
            pause("2024-01-15T12:00:00Z", Some("2024-01-15T13:00:00Z")),
            pause("2024-01-15T12:30:00Z", Some("2024-01-15T13:30:00Z")),
            // After `until`: nothing.
            pause("2024-01-15T19:00:00Z", None),
        ];
        let s = split_clock(created, until, &pauses, &Coverage::Always);
        assert_eq!(s.customers, min(30 + 90));
        assert_eq!(s.ours + s.customers, s.elapsed);
        assert_eq!(s.elapsed, min(480));
    }

    #[test]
    fn business_hours_apply_to_both_sides_of_the_split() {
        let silver = TierSla::silver(London);
        let created = utc("2024-01-12T16:00:00Z"); // Friday, one business hour left
                                                   // Waits from Friday 16:30 to Monday 10:00: 30 min Friday + 60 min Monday of covered
                                                   // time are the customer's; the weekend is nobody's.
        let pauses = [pause("2024-01-12T16:30:00Z", Some("2024-01-15T10:00:00Z"))];
        let until = utc("2024-01-15T11:00:00Z");
        let s = split_clock(created, until, &pauses, silver.coverage());
        assert_eq!(s.elapsed, min(60 + 120));
        assert_eq!(s.customers, min(90));
        assert_eq!(s.ours, min(90));
        // 24 business hours of resolution, 30 min used before the pause: due 23.5 business
        // hours after Monday 10:00, which is Thursday 09:30.
        let r = resolution_status(created, None, until, &silver, &pauses);
        assert_eq!(r.deadline, utc("2024-01-18T09:30:00Z"));
    }
}
