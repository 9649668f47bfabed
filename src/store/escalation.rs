//! Escalation in the database: which policy applies, paging a step, advancing unacknowledged
//! incidents, and stopping it all on acknowledgement or resolution.
//!
//! Paging a step is three moves: read what it needs (its targets resolved, and every person
//! they name: [`load_step`]), ask [`crate::domain::step_plan`] who is paged, on what, and
//! what is skipped, then write the plan (the outbox rows in one statement, the incident's
//! position and deadline, the timeline event). The rules (delegates, skips, the support
//! managers as last resort, the page wording) live in the planner; here is only the reading
//! and writing, and the round-robin pick, which is recorded as it is made.
//!
//! A step whose targets have no deliverable device is skipped at once and recorded, never
//! waited out. When even the support managers cannot be paged, a press's incident is
//! recorded `unpaged` (the helpdesk hears `incident.unpaged`) rather than silently
//! unanswered. A new press on an incident nobody is being paged for any more starts
//! escalation again from the first step. Advancing and restarting are guarded by the
//! incident's current state, so with several gateways on one database each deadline
//! advances exactly once.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::customer_updates;
use super::incident_row::{incident_after, IncidentRow};
use super::outbox::{self, Message};
use super::reach::person_facts;
use super::teams::{forget_picks, pick_member};
use super::timeline::{event, On};
use super::waiting::{resume_tx, ResumedBecause};
use super::{db, millis, new_id, Store, StoreError, Tx};
use crate::domain::escalation::{EscalationPolicy, Position, ScheduleRef, Step, Target};
use crate::domain::incident::{IncidentState, Transition};
use crate::domain::reach;
use crate::domain::schedule::Schedule;
use crate::domain::sla::TierSla;
use crate::domain::step_plan::{
    page_text, plan_fallback, plan_step, Exhausted, OnCall, PageSubject, StepFacts, StepPlan,
    TargetFacts,
};
use crate::domain::timeline::TimelineKind;

/// What a page is about, for the text on the phone and the timeline.
pub(crate) struct PageContext<'a> {
    pub incident_id: &'a str,
    pub ticket_id: &'a str,
    pub ticket_ref: &'a str,
    pub customer_id: &'a str,
    pub customer_name: &'a str,
    /// The customer's account manager when the caller has read it already (`None`: not read).
    pub account_manager: Option<Option<&'a str>>,
    pub summary: &'a str,
    pub affected_service: &'a str,
    /// The incident has never been paged: its first pages go out ahead of any backlog.
    pub first_paging: bool,
}

/// Someone being paged.
#[derive(Debug, Clone, Serialize)]
pub struct PagedPerson {
    pub user_id: String,
    pub name: String,
    /// How they came to be paged: `account_manager`, `on_call:<schedule>`, `support_manager`, …
    pub role: String,
    pub devices: usize,
}

/// Where escalation stands after paging.
#[derive(Debug, Clone)]
pub struct Escalated {
    /// The step that paged someone, or `None` when the chain ran out.
    pub position: Option<Position>,
    pub paged: Vec<PagedPerson>,
    pub pages: usize,
}

/// The policy for a customer: its own, else its tier's, else the built-in Gold default.
pub(crate) async fn policy_for(
    tx: &mut Tx,
    customer_id: &str,
    tier_id: &str,
) -> Result<EscalationPolicy, StoreError> {
    let stored: Option<String> = db::query_scalar(
        "SELECT definition FROM escalation_policies WHERE customer_id = $1 \
         UNION ALL SELECT definition FROM escalation_policies WHERE tier_id = $2 LIMIT 1",
    )
    .bind(customer_id)
    .bind(tier_id)
    .fetch_optional(&mut **tx)
    .await?;
    parse_policy(stored.as_deref())
}

/// A stored policy definition, or the built-in Gold default when there is none.
pub(crate) fn parse_policy(stored: Option<&str>) -> Result<EscalationPolicy, StoreError> {
    Ok(match stored {
        Some(json) => serde_json::from_str(json).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(format!("stored policy: {e}").into()))
        })?,
        None => EscalationPolicy::gold_default(),
    })
}

/// What the step at `pos` needs to be planned: each target resolved for the incident of
/// `ctx` at `now` (a round-robin target records its pick here), and what paging needs of every
/// person the targets name, read once per transaction ([`person_facts`]).
async fn load_step(
    tx: &mut Tx,
    ctx: &PageContext<'_>,
    step: &Step,
    pos: Position,
    now: DateTime<Utc>,
) -> Result<StepFacts, StoreError> {
    let mut targets = Vec::with_capacity(step.targets.len());
    let mut people = BTreeMap::new();
    let mut named: Vec<String> = Vec::new();
    for target in &step.targets {
        let facts = match target {
            Target::AccountManager => {
                let manager: Option<String> = match ctx.account_manager {
                    Some(known) => known.map(str::to_owned),
                    None => {
                        db::query_scalar("SELECT account_manager_id FROM customers WHERE id = $1")
                            .bind(ctx.customer_id)
                            .fetch_optional(&mut **tx)
                            .await?
                            .flatten()
                    }
                };
                if let Some(manager) = &manager {
                    // Read once for both questions: are they away (and who stands in), and
                    // how are they paged. Not found, they stay out of `people`: no such user.
                    if let Some(facts) = person_facts(tx, manager, now).await? {
                        named.extend(facts.away_at(now).flatten());
                        people.insert(manager.clone(), facts);
                    }
                }
                TargetFacts::AccountManager { manager }
            }
            Target::User { user_id } => {
                named.push(user_id.clone());
                TargetFacts::User {
                    user_id: user_id.clone(),
                }
            }
            Target::TeamRoundRobin { team } => {
                let mut skips = Vec::new();
                let picked = pick_member(tx, team, ctx.incident_id, pos, now, &mut skips).await?;
                named.extend(picked.clone());
                TargetFacts::RoundRobin {
                    team: team.clone(),
                    picked,
                    skips,
                }
            }
            Target::SupportManagers => {
                let user_ids = support_manager_ids(tx).await?;
                named.extend(user_ids.iter().cloned());
                TargetFacts::SupportManagers { user_ids }
            }
            Target::Schedule { schedule } => {
                let found = on_call(tx, schedule, now).await?;
                if let Some(on_call) = &found {
                    named.extend(on_call.user_ids.iter().cloned());
                }
                // The role or id the step names, for the skip when no schedule has it.
                let (ScheduleRef::Role(key) | ScheduleRef::Id(key)) = schedule;
                TargetFacts::Schedule {
                    named: key.clone(),
                    found,
                }
            }
        };
        targets.push(facts);
    }
    // In user-id order, as people were always read for a step.
    named.sort();
    named.dedup();
    for user_id in named {
        if people.contains_key(&user_id) {
            continue;
        }
        if let Some(facts) = person_facts(tx, &user_id, now).await? {
            people.insert(user_id, facts);
        }
    }
    Ok(StepFacts {
        position: pos,
        ack_timeout: step.ack_timeout,
        targets,
        people,
    })
}

/// Every support manager, by id.
async fn support_manager_ids(tx: &mut Tx) -> Result<Vec<String>, StoreError> {
    Ok(
        db::query_scalar("SELECT id FROM users WHERE role = 'support_manager' ORDER BY id")
            .fetch_all(&mut **tx)
            .await?,
    )
}

/// Who `schedule` has on call at `now`; `None` when there is no such schedule.
async fn on_call(
    tx: &mut Tx,
    schedule: &ScheduleRef,
    now: DateTime<Utc>,
) -> Result<Option<OnCall>, StoreError> {
    Ok(load_schedule(tx, schedule)
        .await?
        .map(|(_, name, schedule)| OnCall {
            name,
            user_ids: schedule.on_call_users_at(now),
        }))
}

/// The schedule a policy names (by role or id) as (id, name, schedule); `None` when there is
/// no such schedule. Paging and the readiness check read it the same way.
pub(crate) async fn load_schedule(
    tx: &mut Tx,
    schedule: &ScheduleRef,
) -> Result<Option<(String, String, Schedule)>, StoreError> {
    let (column, key) = match schedule {
        ScheduleRef::Role(r) => ("role", r),
        ScheduleRef::Id(id) => ("id", id),
    };
    let row = db::query(&format!(
        "SELECT id, name, definition FROM schedules WHERE {column} = $1"
    ))
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let definition: String = row.try_get("definition")?;
    let parsed: Schedule = serde_json::from_str(&definition).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(format!("stored schedule: {e}").into()))
    })?;
    Ok(Some((row.try_get("id")?, row.try_get("name")?, parsed)))
}

/// Pages `from`, and while a step reaches nobody, the steps after it, all at `now`; when none
/// reaches anyone, the support managers. Updates the incident's position and deadline;
/// records every page and skip. Reaching nobody at all is `unpaged` when paging starts
/// (`from` is the first position: a press), `unanswered` when an advance runs out.
pub(crate) async fn escalate_from(
    tx: &mut Tx,
    ctx: &PageContext<'_>,
    policy: &EscalationPolicy,
    from: Position,
    now: DateTime<Utc>,
) -> Result<Escalated, StoreError> {
    let on = On {
        ticket: ctx.ticket_id,
        incident: Some(ctx.incident_id),
        alert: None,
    };
    let mut position = Some(from);
    while let Some(pos) = position {
        let Some(step) = policy.step_at(pos) else {
            break;
        };
        let facts = load_step(tx, ctx, step, pos, now).await?;
        let plan = plan_step(&facts, now);
        let (paged, pages) = queue_pages(tx, ctx, &plan, now).await?;
        if let Some(deadline) = plan.deadline {
            // Deferred: it goes in one trip with the other writes deferred by then, before the
            // next statement or the commit (a press's, with its other writes: see
            // `record_press`).
            let position = db::query(
                "UPDATE incidents SET escalation_pass = $2, escalation_step = $3, \
                 next_escalation_at = $4, first_page_at = COALESCE(first_page_at, $5), \
                 updated_at = $5 WHERE id = $1",
            )
            .bind(ctx.incident_id)
            .bind(i64::from(pos.pass))
            .bind(pos.step as i64)
            .bind(millis(deadline))
            .bind(millis(now));
            tx.defer(position, "position");
            event(
                tx,
                on,
                now,
                TimelineKind::Paged,
                None,
                json!({
                    "pass": pos.pass + 1, "step": pos.step + 1, "targets": paged,
                    "ack_timeout_minutes": plan.ack_timeout.num_minutes(), "skipped": plan.skips,
                }),
            )
            .await?;
            return Ok(Escalated {
                position: Some(pos),
                paged,
                pages,
            });
        }
        event(
            tx,
            on,
            now,
            TimelineKind::StepSkipped,
            None,
            json!({
                "pass": pos.pass + 1, "step": pos.step + 1, "reasons": plan.skips,
            }),
        )
        .await?;
        position = policy.next(pos);
    }
    if let Some(escalated) = page_support_managers(tx, ctx, policy, now).await? {
        return Ok(escalated);
    }
    // A press (new incident or restart) that reached nobody at all is said in the answer,
    // the timeline and to the helpdesk, never a silent success.
    mark_exhausted(tx, ctx, Exhausted::after_trying_from(from), now).await?;
    Ok(Escalated {
        position: None,
        paged: Vec::new(),
        pages: 0,
    })
}

/// The last resort when every remaining step reached nobody ([`plan_fallback`]). `None`
/// when none of the support managers has a device either.
async fn page_support_managers(
    tx: &mut Tx,
    ctx: &PageContext<'_>,
    policy: &EscalationPolicy,
    now: DateTime<Utc>,
) -> Result<Option<Escalated>, StoreError> {
    let ids = support_manager_ids(tx).await?;
    let mut people = BTreeMap::new();
    for user_id in &ids {
        if let Some(facts) = person_facts(tx, user_id, now).await? {
            people.insert(user_id.clone(), facts);
        }
    }
    let plan = plan_fallback(policy, &ids, people, now);
    let (paged, pages) = queue_pages(tx, ctx, &plan, now).await?;
    let on = On {
        ticket: ctx.ticket_id,
        incident: Some(ctx.incident_id),
        alert: None,
    };
    let Some(deadline) = plan.deadline else {
        event(
            tx,
            on,
            now,
            TimelineKind::FallbackFailed,
            None,
            json!({ "target": "support_managers", "reasons": plan.skips }),
        )
        .await?;
        return Ok(None);
    };
    let pos = plan.position;
    db::query(
        "UPDATE incidents SET escalation_pass = $2, escalation_step = $3, \
         next_escalation_at = $4, unanswered_at = NULL, \
         first_page_at = COALESCE(first_page_at, $5), updated_at = $5 WHERE id = $1",
    )
    .bind(ctx.incident_id)
    .bind(i64::from(pos.pass))
    .bind(pos.step as i64)
    .bind(millis(deadline))
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    event(
        tx,
        on,
        now,
        TimelineKind::Paged,
        None,
        json!({
            "fallback": "support_managers",
            "reason": "no step of the escalation policy reached anyone",
            "targets": paged, "ack_timeout_minutes": plan.ack_timeout.num_minutes(),
            "skipped": plan.skips,
        }),
    )
    .await?;
    Ok(Some(Escalated {
        position: Some(pos),
        paged,
        pages,
    }))
}

/// Escalation has nowhere left to go: no next deadline, and the timeline says why.
async fn mark_exhausted(
    tx: &mut Tx,
    ctx: &PageContext<'_>,
    exhausted: Exhausted,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    db::query(
        "UPDATE incidents SET next_escalation_at = NULL, unanswered_at = $2, updated_at = $2 \
         WHERE id = $1",
    )
    .bind(ctx.incident_id)
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    let on = On {
        ticket: ctx.ticket_id,
        incident: Some(ctx.incident_id),
        alert: None,
    };
    let detail = json!({ "reason": exhausted.reason() });
    event(tx, on, now, exhausted.kind(), None, detail).await?;
    Ok(())
}

/// Queues every delivery `plan` makes, all in one statement; returns who was paged and how
/// many deliveries.
async fn queue_pages(
    tx: &mut Tx,
    ctx: &PageContext<'_>,
    plan: &StepPlan,
    now: DateTime<Utc>,
) -> Result<(Vec<PagedPerson>, usize), StoreError> {
    let subject = PageSubject {
        customer_name: ctx.customer_name,
        summary: ctx.summary,
        affected_service: ctx.affected_service,
        ticket_ref: ctx.ticket_ref,
    };
    let (title, body) = page_text(&subject, plan.position);
    let message = Message {
        incident_id: ctx.incident_id,
        customer_id: ctx.customer_id,
        kind: "page",
        pos: plan.position,
        title: &title,
        body: &body,
        expires: now + plan.ack_timeout,
        now,
        first_paging: ctx.first_paging,
    };
    let mut paged = Vec::with_capacity(plan.pages.len());
    let mut rows = Vec::with_capacity(plan.deliveries());
    for page in &plan.pages {
        paged.push(PagedPerson {
            user_id: page.user_id.clone(),
            name: page.name.clone(),
            role: page.paged_as.to_string(),
            devices: page.deliveries.len(),
        });
        rows.extend(message.to(&page.user_id, page.deliveries.clone()));
    }
    outbox::queue(tx, &rows).await?;
    Ok((paged, rows.len()))
}

/// Pages each of `users` about `incident_id` with `title`/`body`, in the caller's transaction
/// (the outbox), every delivery in one statement; returns how many. Each page follows the
/// person's notification rules (theirs, the admin's default, or push at once and every
/// verified SMS after a minute; see [`crate::domain::reach`]). For pages outside an
/// escalation step (the SLA warning to the support managers).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn page_users(
    tx: &mut Tx,
    incident_id: &str,
    users: &[String],
    pos: Position,
    title: &str,
    body: &str,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let incident = db::query(
        "SELECT customer_id, CASE WHEN first_page_at IS NULL THEN 1 ELSE 0 END AS never_paged \
         FROM incidents WHERE id = $1",
    )
    .bind(incident_id)
    .fetch_one(&mut **tx)
    .await?;
    let customer_id: String = incident.try_get("customer_id")?;
    let message = Message {
        incident_id,
        customer_id: &customer_id,
        kind: "page",
        pos,
        title,
        body,
        expires,
        now,
        first_paging: incident.try_get::<i64, _>("never_paged")? == 1,
    };
    let mut rows = Vec::new();
    for user_id in users {
        if let Some(person) = person_facts(tx, user_id, now).await? {
            let plan = reach::plan_page(&person.rules, &person.reachable, now);
            rows.extend(message.to(user_id, plan));
        }
    }
    outbox::queue(tx, &rows).await?;
    Ok(rows.len())
}

/// An open incident with what paging it needs, read inside the paging transaction.
pub(crate) struct PagingIncident {
    pub incident_id: String,
    pub ticket_id: String,
    pub ticket_ref: String,
    pub customer_id: String,
    pub customer_name: String,
    pub summary: String,
    pub affected_service: String,
    /// The policy the incident was opened with (the current one for older incidents).
    pub policy: EscalationPolicy,
    /// It has never been paged.
    pub first_paging: bool,
}

impl PagingIncident {
    pub(crate) async fn load(tx: &mut Tx, incident_id: &str) -> Result<Self, StoreError> {
        let row = db::query(
            "SELECT i.ticket_id, t.external_ref, i.customer_id, c.name AS customer_name, \
             i.summary, i.affected_service, i.policy, i.tier_id, \
             CASE WHEN i.first_page_at IS NULL THEN 1 ELSE 0 END AS never_paged \
             FROM incidents i JOIN tickets t ON t.id = i.ticket_id \
             JOIN customers c ON c.id = i.customer_id WHERE i.id = $1",
        )
        .bind(incident_id)
        .fetch_one(&mut **tx)
        .await?;
        let customer_id: String = row.try_get("customer_id")?;
        let policy = match row.try_get::<Option<String>, _>("policy")? {
            Some(p) => serde_json::from_str(&p).map_err(|e| {
                StoreError::Database(sqlx::Error::Decode(format!("incident policy: {e}").into()))
            })?,
            None => policy_for(tx, &customer_id, &row.try_get::<String, _>("tier_id")?).await?,
        };
        Ok(Self {
            incident_id: incident_id.to_owned(),
            ticket_id: row.try_get("ticket_id")?,
            ticket_ref: row.try_get("external_ref")?,
            customer_id,
            customer_name: row.try_get("customer_name")?,
            summary: row.try_get("summary")?,
            affected_service: row.try_get("affected_service")?,
            policy,
            first_paging: row.try_get::<i64, _>("never_paged")? == 1,
        })
    }

    pub(crate) fn context(&self) -> PageContext<'_> {
        PageContext {
            incident_id: &self.incident_id,
            ticket_id: &self.ticket_id,
            ticket_ref: &self.ticket_ref,
            customer_id: &self.customer_id,
            customer_name: &self.customer_name,
            account_manager: None,
            summary: &self.summary,
            affected_service: &self.affected_service,
            first_paging: self.first_paging,
        }
    }
}

/// A new press on an incident nobody is being paged for (its escalation ran out, or it never
/// reached anyone): escalation starts again from the first step, and the timeline says why.
/// `None` when the incident is acknowledged or still escalating: then nothing is restarted.
/// Guarded like an advance, so two presses at once restart it once.
pub(crate) async fn restart_if_unanswered(
    tx: &mut Tx,
    incident_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<Escalated>, StoreError> {
    let claimed = db::query(
        "UPDATE incidents SET unanswered_at = NULL, updated_at = $2 \
         WHERE id = $1 AND state = 'triggered' AND unanswered_at IS NOT NULL \
         AND next_escalation_at IS NULL",
    )
    .bind(incident_id)
    .bind(millis(now))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(None);
    }
    let incident = PagingIncident::load(tx, incident_id).await?;
    // A fresh escalation: whoever the round-robin steps picked before did not answer.
    forget_picks(tx, incident_id).await?;
    let on = On {
        ticket: &incident.ticket_id,
        incident: Some(incident_id),
        alert: None,
    };
    event(
        tx,
        on,
        now,
        TimelineKind::EscalationRestarted,
        Some(actor),
        json!({
            "reason": "a new press joined an incident nobody was being paged for",
            "from": { "pass": 1, "step": 1 },
        }),
    )
    .await?;
    // Someone pressed again because nobody answered: these pages start a fresh escalation
    // and go out ahead of any backlog, like an incident's first pages.
    let ctx = PageContext {
        first_paging: true,
        ..incident.context()
    };
    let escalated = escalate_from(tx, &ctx, &incident.policy, Position::FIRST, now).await?;
    Ok(Some(escalated))
}

/// An incident whose acknowledgement deadline has passed.
#[derive(Debug, Clone)]
pub struct DueEscalation {
    pub incident_id: String,
    pub position: Position,
}

/// The result of acknowledging or resolving.
#[derive(Debug, Clone)]
pub enum StateChange {
    /// With the incident as the change left it and its tier's SLA, both read in the change's
    /// transaction, so that the answer and the time-to-acknowledge metric need no reads of
    /// their own on the shared pool.
    ///
    /// `customer_update` is the customer's update the change recorded, to be fanned out to
    /// their phones ([`Store::fan_out_customer_update`]) once it is committed.
    Applied {
        customer_update: String,
        incident: Box<IncidentRow>,
        sla: TierSla,
    },
    AlreadyDone,
    Conflict(IncidentState),
    NotFound,
}

impl Store {
    pub async fn due_escalations(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueEscalation>, StoreError> {
        let rows = db::query(
            "SELECT id, escalation_pass, escalation_step FROM incidents \
             WHERE state = 'triggered' AND next_escalation_at <= $1 \
             ORDER BY next_escalation_at LIMIT $2",
        )
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueEscalation {
                    incident_id: r.try_get("id")?,
                    position: Position {
                        pass: r.try_get::<i64, _>("escalation_pass")? as u32,
                        step: r.try_get::<i64, _>("escalation_step")? as usize,
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Moves a due incident past `expected`, if nobody else has (or it was acknowledged).
    /// Returns `None` when there was nothing to do.
    #[tracing::instrument(name = "store advance escalation", skip_all, fields(incident = %due.incident_id))]
    pub async fn advance_escalation(
        &self,
        due: &DueEscalation,
        now: DateTime<Utc>,
    ) -> Result<Option<Escalated>, StoreError> {
        let mut tx = self.begin_write().await?;
        // The guard: only the instance that moves the position on does the paging.
        let claimed = db::query(
            "UPDATE incidents SET next_escalation_at = NULL, updated_at = $4 \
             WHERE id = $1 AND state = 'triggered' AND escalation_pass = $2 \
             AND escalation_step = $3 AND next_escalation_at <= $4",
        )
        .bind(&due.incident_id)
        .bind(i64::from(due.position.pass))
        .bind(due.position.step as i64)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let incident = PagingIncident::load(&mut tx, &due.incident_id).await?;
        let (ctx, policy) = (incident.context(), &incident.policy);
        let ticket_id = &incident.ticket_id;
        let escalated =
            match policy.next(due.position) {
                Some(next) => {
                    let on = On {
                        ticket: ticket_id,
                        incident: Some(&due.incident_id),
                        alert: None,
                    };
                    event(&mut tx, on, now, TimelineKind::Escalated, None, json!({
                    "from": { "pass": due.position.pass + 1, "step": due.position.step + 1 },
                    "reason": "not acknowledged in time",
                }))
                .await?;
                    escalate_from(&mut tx, &ctx, policy, next, now).await?
                }
                None => {
                    mark_exhausted(&mut tx, &ctx, Exhausted::Unanswered, now).await?;
                    Escalated {
                        position: None,
                        paged: Vec::new(),
                        pages: 0,
                    }
                }
            };
        tx.commit().await?;
        Ok(Some(escalated))
    }

    /// Acknowledges for `user_id`: stops pending pages and escalation, records who and when,
    /// and queues an update to the customer's devices.
    #[tracing::instrument(name = "store acknowledge incident", skip_all, fields(incident = %incident_id, user = %user_id))]
    pub async fn acknowledge_incident(
        &self,
        incident_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StateChange, StoreError> {
        self.change_state(incident_id, user_id, now, IncidentState::acknowledge)
            .await
    }

    /// Resolves: as acknowledging, and the service may open a new incident again.
    #[tracing::instrument(name = "store resolve incident", skip_all, fields(incident = %incident_id, user = %user_id))]
    pub async fn resolve_incident(
        &self,
        incident_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StateChange, StoreError> {
        self.change_state(incident_id, user_id, now, IncidentState::resolve)
            .await
    }

    /// Runs [`Store::change_state_here`] on the actions' thread and pool; it finishes even if
    /// the responder's request is dropped meanwhile.
    async fn change_state(
        &self,
        incident_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        transition: fn(IncidentState) -> Transition,
    ) -> Result<StateChange, StoreError> {
        let (incident_id, user_id) = (incident_id.to_owned(), user_id.to_owned());
        self.on_actions(move |there| async move {
            there
                .change_state_here(&incident_id, &user_id, now, transition)
                .await
        })
        .await
    }

    /// [`Store::incident`], read on the actions' thread and pool: the read an acknowledgement
    /// or a resolution starts with, where each statement's answer does not wait for a runtime
    /// thread busy with HTTP and TLS.
    pub async fn incident_to_act_on(&self, id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let id = id.to_owned();
        self.on_actions(move |there| async move { there.incident(&id).await })
            .await
    }

    /// [`Store::is_involved`], asked on the actions' thread and pool (as
    /// [`Store::incident_to_act_on`]).
    pub async fn is_involved_to_act(
        &self,
        user_id: &str,
        incident: &IncidentRow,
    ) -> Result<bool, StoreError> {
        let (user_id, incident) = (user_id.to_owned(), incident.clone());
        self.on_actions(move |there| async move { there.is_involved(&user_id, &incident).await })
            .await
    }

    /// Runs `work` with the actions' store on the actions' thread (see `Store::actions`), or
    /// with this store here where there is none.
    async fn on_actions<T, F>(&self, work: impl FnOnce(Store) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        match &self.actions {
            Some(actions) => {
                let work = work(Store::clone(actions));
                actions
                    .on_turn_thread(tracing::Instrument::in_current_span(work))
                    .await
            }
            None => work(self.clone()).await,
        }
    }

    async fn change_state_here(
        &self,
        incident_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        transition: fn(IncidentState) -> Transition,
    ) -> Result<StateChange, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = db::query(
            "SELECT i.state, i.ticket_id, t.external_ref, i.customer_id, i.tier_id, u.name, \
             (SELECT sla FROM tiers WHERE id = i.tier_id) AS sla \
             FROM incidents i JOIN tickets t ON t.id = i.ticket_id, users u \
             WHERE i.id = $1 AND u.id = $2",
        )
        .bind(incident_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(StateChange::NotFound);
        };
        let state: String = row.try_get("state")?;
        let current = IncidentState::parse(&state).unwrap_or(IncidentState::Triggered);
        let target = match transition(current) {
            Transition::Apply(next) => next,
            Transition::AlreadyDone => return Ok(StateChange::AlreadyDone),
            Transition::Conflict => return Ok(StateChange::Conflict(current)),
        };
        let sql = match target {
            IncidentState::Acknowledged => {
                "UPDATE incidents SET state = 'acknowledged', acknowledged_by = $2, \
                 acknowledged_at = $3, next_escalation_at = NULL, updated_at = $3 \
                 WHERE id = $1 AND state = $4"
            }
            _ => {
                "UPDATE incidents SET state = 'resolved', resolved_by = $2, resolved_at = $3, \
                 acknowledged_by = COALESCE(acknowledged_by, $2), \
                 acknowledged_at = COALESCE(acknowledged_at, $3), open_key = NULL, \
                 next_escalation_at = NULL, updated_at = $3 WHERE id = $1 AND state = $4"
            }
        };
        // The state change and the cancelling of pending pages go in one trip; if someone
        // else changed the incident between the read and the write, returning drops the
        // transaction, and the cancelling with it.
        let change = db::query(sql)
            .bind(incident_id)
            .bind(user_id)
            .bind(millis(now))
            .bind(&state);
        tx.defer(change, "state");
        let cancel = db::query(
            "UPDATE deliveries SET state = 'cancelled', last_error = $2, lease_owner = NULL, \
             lease_until = NULL, updated_at = $3 \
             WHERE incident_id = $1 AND state = 'pending' AND kind = 'page'",
        )
        .bind(incident_id)
        .bind(format!("incident {}", target.as_str()))
        .bind(millis(now));
        tx.defer(cancel, "cancelled");
        tx.send_deferred().await?;
        if tx.take_done("state") != Some(1) {
            // Changed by someone else between the read and the write: answer as a repeat.
            return Ok(StateChange::AlreadyDone);
        }
        let cancelled = tx.take_done("cancelled").unwrap_or(0);
        let ticket_id: String = row.try_get("ticket_id")?;
        let ticket_ref: String = row.try_get("external_ref")?;
        let customer_id: String = row.try_get("customer_id")?;
        let name: String = row.try_get("name")?;
        let actor = format!("user:{user_id}");
        if target == IncidentState::Resolved {
            // Resolved while waiting on the customer: the wait ends with the incident.
            resume_tx(
                &mut tx,
                &ticket_id,
                Some(incident_id),
                &actor,
                ResumedBecause::Resolved,
                now,
            )
            .await?;
        }
        let on = On {
            ticket: &ticket_id,
            incident: Some(incident_id),
            alert: None,
        };
        // As the statement above: a transition only ever applies acknowledged or resolved.
        let kind = match target {
            IncidentState::Acknowledged => TimelineKind::Acknowledged,
            _ => TimelineKind::Resolved,
        };
        event(
            &mut tx,
            on,
            now,
            kind,
            Some(&actor),
            json!({
                "user_id": user_id, "name": name, "cancelled_pages": cancelled,
            }),
        )
        .await?;
        let (title, body) = match target {
            IncidentState::Acknowledged => (
                format!("{ticket_ref}: someone is on it"),
                format!("Acknowledged by {name}."),
            ),
            _ => (
                format!("{ticket_ref}: resolved"),
                format!("Resolved by {name}."),
            ),
        };
        let customer_update = customer_updates::queue(
            &mut tx,
            incident_id,
            &customer_id,
            &title,
            &body,
            now + Duration::hours(1),
            now,
        );
        let incident = incident_after(&mut tx, incident_id).await?;
        let tier: String = row.try_get("tier_id")?;
        let sla: Option<String> = row.try_get("sla")?;
        let sla = TierSla::from_stored(&tier, sla.as_deref().unwrap_or("{}"));
        tx.commit().await?;
        Ok(StateChange::Applied {
            customer_update,
            incident: Box::new(incident),
            sla,
        })
    }

    /// Incidents a responder is paged for or manages, newest first.
    pub async fn responder_incident_ids(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(db::query_scalar(
            "SELECT id FROM incidents WHERE id IN \
             (SELECT incident_id FROM deliveries WHERE user_id = $1 AND kind = 'page') \
             OR customer_id IN (SELECT id FROM customers WHERE account_manager_id = $1) \
             ORDER BY created_at DESC, id DESC LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records that `user_id` is away in `[starts, ends)`, optionally with a delegate.
    #[tracing::instrument(name = "store add unavailability", skip_all)]
    pub async fn add_unavailability(
        &self,
        user_id: &str,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
        delegate_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let id = new_id();
        let insert = db::query(
            "INSERT INTO unavailability (id, user_id, starts_at, ends_at, delegate_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(millis(starts))
        .bind(millis(ends))
        .bind(delegate_id)
        .bind(millis(now));
        self.write_one(insert).await?;
        Ok(id)
    }
}
