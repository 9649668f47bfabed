//! Support operations: tiers, customers, users and devices (enrollment codes have their own
//! room, [`super::enrollment_codes`]). Every route takes an [`Admin`] key; every change is
//! audited with the key that made it. The lists come a page at a time ([`PageRequest`]), by id.

use actix_web::{get, patch, post, put, web, HttpResponse};
use chrono::Duration;
use serde::{Deserialize, Deserializer};

use super::extract::Admin;
use super::page::PageRequest;
use super::validate::Validator;
use super::{Json, Problem};
use crate::domain::identity::UserRole;
use crate::domain::sla::{Coverage, SlaConfigError, TierSla};
use crate::state::AppState;
use crate::store::identity::CustomerPatch;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_tiers)
        .service(put_tier_sla)
        .service(create_customer)
        .service(list_customers)
        .service(get_customer)
        .service(update_customer)
        .service(create_user)
        .service(list_users)
        .service(list_devices)
        .service(revoke_device);
}

#[get("/v1/admin/tiers")]
async fn list_tiers(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, Problem> {
    let mut out = Vec::new();
    for tier in state.store.list_tiers().await? {
        let sla = state.store.tier_sla(&tier.id).await?;
        let mut v = serde_json::to_value(&tier).unwrap_or_default();
        v["sla"] = serde_json::to_value(&sla).unwrap_or_default();
        out.push(v);
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
struct SlaBody {
    #[serde(with = "crate::domain::minutes")]
    external_response_minutes: Duration,
    #[serde(with = "crate::domain::minutes")]
    internal_ack_minutes: Duration,
    #[serde(with = "crate::domain::minutes")]
    resolution_minutes: Duration,
    coverage: Coverage,
    #[serde(default = "crate::domain::sla::default_warn_at")]
    warn_at: Vec<f64>,
}

/// Changes a tier's SLA; refused, with the arithmetic, when a policy that pages for the tier
/// could not keep it.
#[put("/v1/admin/tiers/{id}/sla")]
async fn put_tier_sla(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
    Json(body): Json<SlaBody>,
) -> Result<HttpResponse, Problem> {
    if !state.store.tier_exists(&id).await? {
        return Err(Problem::not_found(format!("no tier {id}")));
    }
    let sla = TierSla::new(
        &id,
        body.external_response_minutes,
        body.internal_ack_minutes,
        body.resolution_minutes,
        body.coverage,
        body.warn_at,
    )
    .map_err(sla_problem)?;
    match state
        .store
        .set_tier_sla(&id, &sla, state.clock.now())
        .await?
    {
        Ok(true) => Ok(HttpResponse::Ok().json(sla)),
        Ok(false) => Err(Problem::not_found(format!("no tier {id}"))),
        Err(misfit) => Err(Problem::field(
            "internal_ack_minutes",
            format!("{}: {}", misfit.policy, misfit.reason),
        )),
    }
}

/// An SLA error names its field when it has one.
pub fn sla_problem(e: SlaConfigError) -> Problem {
    match &e {
        SlaConfigError::Invalid { field, reason } => Problem::field(field.clone(), reason.clone()),
        _ => Problem::field("internal_ack_minutes", e.to_string()),
    }
}

/// Checks that `id` names a responder who can be an account manager.
async fn check_account_manager(
    state: &AppState,
    v: &mut Validator,
    id: Option<&str>,
) -> Result<(), Problem> {
    if let Some(id) = id {
        match state.store.user(id).await? {
            Some(u) if u.role != UserRole::Contact => {}
            Some(_) => v.error("account_manager_id", "must be a responder, not a contact"),
            None => v.error("account_manager_id", "no such user"),
        }
    }
    Ok(())
}

async fn check_tier(state: &AppState, v: &mut Validator, tier: &str) -> Result<(), Problem> {
    if !state.store.tier_exists(tier).await? {
        v.error("tier", format!("unknown tier {tier:?}"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct CreateCustomer {
    name: String,
    tier: String,
    account_manager_id: Option<String>,
}

#[post("/v1/admin/customers")]
async fn create_customer(
    state: web::Data<AppState>,
    admin: Admin,
    Json(body): Json<CreateCustomer>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let name = v.text("name", &body.name, 200);
    check_tier(&state, &mut v, &body.tier).await?;
    check_account_manager(&state, &mut v, body.account_manager_id.as_deref()).await?;
    v.finish()?;
    let customer = state
        .store
        .create_customer(
            &name,
            &body.tier,
            body.account_manager_id.as_deref(),
            &admin.actor(),
            state.clock.now(),
        )
        .await?;
    Ok(HttpResponse::Created().json(customer))
}

#[get("/v1/admin/customers")]
async fn list_customers(
    state: web::Data<AppState>,
    _: Admin,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let rows = state
        .store
        .customers_page(page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |c| &c.id)))
}

#[get("/v1/admin/customers/{id}")]
async fn get_customer(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let customer = state
        .store
        .customer(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no customer {id}")))?;
    Ok(HttpResponse::Ok().json(customer))
}

/// Distinguishes an absent field (keep) from an explicit `null` (clear).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct UpdateCustomer {
    name: Option<String>,
    tier: Option<String>,
    #[serde(default, deserialize_with = "present")]
    account_manager_id: Option<Option<String>>,
}

#[patch("/v1/admin/customers/{id}")]
async fn update_customer(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    Json(body): Json<UpdateCustomer>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let name = body.name.as_deref().map(|n| v.text("name", n, 200));
    if let Some(tier) = &body.tier {
        check_tier(&state, &mut v, tier).await?;
    }
    if let Some(am) = &body.account_manager_id {
        check_account_manager(&state, &mut v, am.as_deref()).await?;
    }
    v.finish()?;
    let patch = CustomerPatch {
        name,
        tier: body.tier,
        account_manager_id: body.account_manager_id,
    };
    let customer = state
        .store
        .update_customer(&id, patch, &admin.actor(), state.clock.now())
        .await?
        .map_err(|misfit| {
            Problem::field(
                "tier",
                format!(
                    "{} cannot keep the {} SLA: {}",
                    misfit.policy, misfit.tier, misfit.reason
                ),
            )
        })?
        .ok_or_else(|| Problem::not_found(format!("no customer {id}")))?;
    Ok(HttpResponse::Ok().json(customer))
}

#[derive(Deserialize)]
struct CreateUser {
    role: UserRole,
    customer_id: Option<String>,
    name: String,
    email: Option<String>,
}

#[post("/v1/admin/users")]
async fn create_user(
    state: web::Data<AppState>,
    _: Admin,
    Json(body): Json<CreateUser>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let name = v.text("name", &body.name, 200);
    let email = v.optional_text("email", body.email.as_deref(), 320);
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        v.error("email", "must be an email address");
    }
    match (body.role, body.customer_id.as_deref()) {
        (UserRole::Contact, None) => v.error("customer_id", "a contact belongs to a customer"),
        (UserRole::Contact, Some(id)) => {
            if state.store.customer(id).await?.is_none() {
                v.error("customer_id", "no such customer");
            }
        }
        (_, Some(_)) => v.error("customer_id", "only contacts belong to a customer"),
        (_, None) => {}
    }
    v.finish()?;
    let user = state
        .store
        .create_user(
            body.role,
            body.customer_id.as_deref(),
            &name,
            email.as_deref(),
            state.clock.now(),
        )
        .await?;
    Ok(HttpResponse::Created().json(user))
}

#[derive(Deserialize)]
struct UserFilter {
    customer_id: Option<String>,
}

#[get("/v1/admin/users")]
async fn list_users(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<UserFilter>,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let rows = state
        .store
        .users_page(query.customer_id.as_deref(), page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |u| &u.id)))
}

#[derive(Deserialize)]
struct DeviceFilter {
    user_id: Option<String>,
}

#[get("/v1/admin/devices")]
async fn list_devices(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<DeviceFilter>,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let rows = state
        .store
        .devices_page(query.user_id.as_deref(), page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |d| &d.id)))
}

#[post("/v1/admin/devices/{id}/revoke")]
async fn revoke_device(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state
        .store
        .revoke_device(
            &id,
            "revoked by an admin",
            &admin.actor(),
            state.clock.now(),
        )
        .await?;
    let device = state
        .store
        .device(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no device {id}")))?;
    Ok(HttpResponse::Ok().json(device))
}
