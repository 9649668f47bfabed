//! On-call schedules and escalation policies (admin), and who is on call (admins and
//! responders).

use actix_web::dev::Payload;
use actix_web::{get, post, put, web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Admin, ResponderDevice};
use super::page::PageRequest;
use super::validate::Validator;
use super::{Json, Problem};
use crate::domain::escalation::{EscalationPolicy, Step};
use crate::domain::schedule::{Override, Rotation, Schedule};
use crate::state::AppState;
use crate::store::schedules::{OverrideAdded, StoredSchedule};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_schedule)
        .service(list_schedules)
        .service(get_schedule)
        .service(replace_schedule)
        .service(add_override)
        .service(on_call)
        .service(on_call_now)
        .service(put_policy)
        .service(list_policies);
}

#[derive(Deserialize)]
struct ScheduleBody {
    name: String,
    /// e.g. "primary" or "secondary": how policies refer to the schedule by role.
    role: Option<String>,
    time_zone: String,
    rotations: Vec<Rotation>,
    #[serde(default)]
    overrides: Vec<Override>,
}

fn parse_schedule(body: ScheduleBody) -> Result<(String, Option<String>, Schedule), Problem> {
    let mut v = Validator::new();
    let name = v.text("name", &body.name, 100);
    let role = v.optional_text("role", body.role.as_deref(), 50);
    v.finish()?;
    let schedule = Schedule::new(&body.time_zone, body.rotations, body.overrides)
        .map_err(|e| Problem::field(e.field, e.reason))?;
    Ok((name, role, schedule))
}

#[post("/v1/admin/schedules")]
async fn create_schedule(
    state: web::Data<AppState>,
    _: Admin,
    Json(body): Json<ScheduleBody>,
) -> Result<HttpResponse, Problem> {
    let (name, role, schedule) = parse_schedule(body)?;
    let stored = state
        .store
        .create_schedule(&name, role.as_deref(), &schedule, state.clock.now())
        .await?;
    Ok(HttpResponse::Created().json(stored))
}

#[put("/v1/admin/schedules/{id}")]
async fn replace_schedule(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
    Json(body): Json<ScheduleBody>,
) -> Result<HttpResponse, Problem> {
    let (name, role, schedule) = parse_schedule(body)?;
    let stored = state
        .store
        .replace_schedule(&id, &name, role.as_deref(), &schedule, state.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("no schedule {id}")))?;
    Ok(HttpResponse::Ok().json(stored))
}

#[get("/v1/admin/schedules")]
async fn list_schedules(
    state: web::Data<AppState>,
    _: Admin,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let rows = state
        .store
        .schedules_page(page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |s| &s.id)))
}

#[get("/v1/admin/schedules/{id}")]
async fn get_schedule(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let s = state
        .store
        .schedule(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no schedule {id}")))?;
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Deserialize)]
struct OverrideBody {
    user_id: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[post("/v1/admin/schedules/{id}/overrides")]
async fn add_override(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
    Json(body): Json<OverrideBody>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let o = Override {
        user_id: body.user_id,
        start: body.start,
        end: body.end,
        created_at: now,
    };
    match state.store.add_schedule_override(&id, o, now).await? {
        OverrideAdded::Added(s) => Ok(HttpResponse::Created().json(s)),
        OverrideAdded::UnknownUser => Err(Problem::field("user_id", "no such user")),
        OverrideAdded::NotFound => Err(Problem::not_found(format!("no schedule {id}"))),
        OverrideAdded::Invalid(e) => Err(Problem::field(e.field, e.reason)),
    }
}

/// An admin key or a responder's device: who may ask who is on call.
pub struct OnCallReader;

impl FromRequest for OnCallReader {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let is_admin_key = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains(crate::auth::secrets::ADMIN_KEY_PREFIX));
            if is_admin_key {
                Admin::extract(&req).await?;
            } else {
                ResponderDevice::extract(&req).await?;
            }
            Ok(OnCallReader)
        })
    }
}

async fn on_call_view(
    state: &AppState,
    s: &StoredSchedule,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, Problem> {
    let mut people = Vec::new();
    for person in s.schedule.on_call_at(at) {
        let name = state.store.user(&person.user_id).await?.map(|u| u.name);
        let mut v = json!(person);
        v["name"] = json!(name);
        people.push(v);
    }
    Ok(json!({
        "schedule_id": s.id,
        "schedule": s.name,
        "role": s.role,
        "at": at,
        "on_call": people,
    }))
}

#[derive(Deserialize)]
struct AtQuery {
    at: Option<DateTime<Utc>>,
}

#[get("/v1/schedules/{id}/on-call")]
async fn on_call(
    state: web::Data<AppState>,
    _: OnCallReader,
    id: web::Path<String>,
    query: web::Query<AtQuery>,
) -> Result<HttpResponse, Problem> {
    let s = state
        .store
        .schedule(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no schedule {id}")))?;
    let at = query.at.unwrap_or_else(|| state.clock.now());
    Ok(HttpResponse::Ok().json(on_call_view(&state, &s, at).await?))
}

#[get("/v1/oncall")]
async fn on_call_now(state: web::Data<AppState>, _: OnCallReader) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let mut out = Vec::new();
    for s in state.store.list_schedules().await? {
        out.push(on_call_view(&state, &s, now).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
struct PolicyBody {
    name: String,
    /// Applies to every customer of this tier…
    tier: Option<String>,
    /// …or to one customer, which wins over its tier's policy.
    customer_id: Option<String>,
    steps: Vec<Step>,
    #[serde(default)]
    repeat: u32,
}

#[put("/v1/admin/policies")]
async fn put_policy(
    state: web::Data<AppState>,
    _: Admin,
    Json(body): Json<PolicyBody>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let name = v.text("name", &body.name, 100);
    match (&body.tier, &body.customer_id) {
        (Some(t), None) => {
            if !state.store.tier_exists(t).await? {
                v.error("tier", format!("unknown tier {t:?}"));
            }
        }
        (None, Some(c)) => {
            if state.store.customer(c).await?.is_none() {
                v.error("customer_id", "no such customer");
            }
        }
        _ => v.error("tier", "give exactly one of tier and customer_id"),
    }
    v.finish()?;
    let policy = EscalationPolicy::new(body.steps, body.repeat)
        .map_err(|e| Problem::field(e.field, e.reason))?;
    let mut v = Validator::new();
    for (field, team) in policy.team_refs() {
        if !state.store.team_exists(team).await? {
            v.error(&field, format!("no team {team:?}"));
        }
    }
    v.finish()?;
    // The fit with the tier's SLA is checked inside the write's transaction.
    let stored = state
        .store
        .put_policy(
            &name,
            body.tier.as_deref(),
            body.customer_id.as_deref(),
            &policy,
            state.clock.now(),
        )
        .await?
        .map_err(|misfit| {
            Problem::field("steps", format!("{}: {}", misfit.policy, misfit.reason))
        })?;
    Ok(HttpResponse::Ok().json(stored))
}

#[get("/v1/admin/policies")]
async fn list_policies(
    state: web::Data<AppState>,
    _: Admin,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let misfits = state.store.escalation_misfits().await?;
    let mut policies = state
        .store
        .policies_page(page.after(), page.fetch())
        .await?;
    for p in &mut policies {
        p.sla_misfit = misfits
            .iter()
            .find(|m| m.policy_id.as_deref() == Some(p.id.as_str()))
            .map(ToString::to_string);
    }
    Ok(HttpResponse::Ok().json(page.page(policies, |p| &p.id)))
}
