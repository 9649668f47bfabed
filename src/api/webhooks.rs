//! Admin: the helpdesk's webhook endpoints.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;

use super::validate::Validator;
use super::{Json, Problem};
use crate::auth::{secrets, Admin};
use crate::startup::AppState;
use crate::store::webhooks::EVENT_TYPES;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(disable);
}

#[derive(Deserialize)]
struct EndpointBody {
    url: String,
    /// Event types, or `["*"]` (the default) for all.
    events: Option<Vec<String>>,
}

#[post("/v1/admin/webhooks")]
async fn create(
    state: web::Data<AppState>,
    _: Admin,
    Json(body): Json<EndpointBody>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let url = v.token("url", &body.url, 2048);
    match reqwest::Url::parse(&url) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
        _ => v.error("url", "must be an http(s) URL"),
    }
    let events = body.events.unwrap_or_else(|| vec!["*".to_owned()]);
    if events.is_empty() {
        v.error("events", "must list at least one event type, or \"*\"");
    }
    for (i, e) in events.iter().enumerate() {
        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
            v.error(
                &format!("events[{i}]"),
                format!("unknown event type; one of {}", EVENT_TYPES.join(", ")),
            );
        }
    }
    v.finish()?;
    let secret = secrets::random_token(32);
    let endpoint = state
        .store
        .create_webhook_endpoint(&url, &secret, &events, state.clock.now())
        .await?;
    let mut body = serde_json::to_value(&endpoint).unwrap_or_default();
    // Shown once: the receiver needs it to check signatures.
    body["secret"] = serde_json::Value::String(secret);
    Ok(super::no_store(HttpResponse::Created()).json(body))
}

#[get("/v1/admin/webhooks")]
async fn list(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(state.store.list_webhook_endpoints().await?))
}

#[delete("/v1/admin/webhooks/{id}")]
async fn disable(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    if state
        .store
        .disable_webhook_endpoint(&id, state.clock.now())
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Problem::not_found(format!("no webhook endpoint {id}")))
    }
}
