//! What a signed-in phone may read about its own organisation or its own responder profile.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use super::Problem;
use crate::auth::{CustomerDevice, ResponderDevice};
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(customer_me).service(responder_me);
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
