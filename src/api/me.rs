//! What a signed-in phone may read about its own organisation or its own responder profile.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::{CustomerDevice, ResponderDevice};
use super::validate::Validator;
use super::{Json, Problem};
use crate::domain::identity::UserRole;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(customer_me)
        .service(responder_me)
        .service(add_unavailability);
}

#[derive(Serialize)]
struct PersonRef {
    id: String,
    name: String,
}

#[derive(Serialize)]
struct CustomerView {
    id: String,
    name: String,
    tier: String,
    /// Whether the panic button works for this organisation now.
    panic_button: bool,
    account_manager: Option<PersonRef>,
}

#[get("/v1/customers/me")]
async fn customer_me(
    state: web::Data<AppState>,
    device: CustomerDevice,
) -> Result<HttpResponse, Problem> {
    let customer = state
        .store
        .customer(device.customer_id())
        .await?
        .ok_or_else(|| Problem::not_found("customer not found"))?;
    let account_manager = match &customer.account_manager_id {
        Some(id) => state.store.user(id).await?.map(|u| PersonRef {
            id: u.id,
            name: u.name,
        }),
        None => None,
    };
    Ok(HttpResponse::Ok().json(CustomerView {
        id: customer.id,
        name: customer.name,
        tier: customer.tier,
        panic_button: device.0.panic_button,
        account_manager,
    }))
}

#[get("/v1/responders/me")]
async fn responder_me(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
) -> Result<HttpResponse, Problem> {
    let user = state
        .store
        .user(&p.user_id)
        .await?
        .ok_or_else(|| Problem::not_found("user not found"))?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Deserialize)]
struct UnavailabilityBody {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// Who takes the account-manager pages meanwhile; without one, the step is skipped.
    delegate_id: Option<String>,
}

#[post("/v1/responders/me/unavailability")]
async fn add_unavailability(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    Json(body): Json<UnavailabilityBody>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    if body.ends_at <= body.starts_at {
        v.error("ends_at", "must be after starts_at");
    }
    if let Some(delegate) = &body.delegate_id {
        match state.store.user(delegate).await? {
            Some(u) if u.role != UserRole::Contact && u.id != p.user_id => {}
            Some(_) => v.error("delegate_id", "must be another responder"),
            None => v.error("delegate_id", "no such user"),
        }
    }
    v.finish()?;
    let id = state
        .store
        .add_unavailability(
            &p.user_id,
            body.starts_at,
            body.ends_at,
            body.delegate_id.as_deref(),
            state.clock.now(),
        )
        .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": id,
        "user_id": p.user_id,
        "starts_at": body.starts_at,
        "ends_at": body.ends_at,
        "delegate_id": body.delegate_id,
    })))
}
