//! Admin: the helpdesk's webhook endpoints.
//!
//! A URL is refused here when it can be without resolving it: a scheme other than `https`
//! (`http` only where `webhooks.allow_http` is set) and an IP-literal host in a range webhooks
//! may not reach. Host names are checked when a webhook is sent, after resolution. The secret
//! is generated here, shown once in the answer, and stored only sealed.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;

use super::extract::Admin;
use super::page::PageRequest;
use super::validate::Validator;
use super::{Json, Problem};
use crate::auth::secrets;
use crate::domain::outbound_address::check_url;
use crate::state::AppState;
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
    let allow_http = state.settings.webhooks.allow_http;
    match reqwest::Url::parse(&url) {
        Ok(u) => {
            if let Err(refusal) = check_url(&u, allow_http, &state.webhook_policy) {
                v.error("url", refusal.to_string());
            }
        }
        Err(_) if allow_http => v.error("url", "must be an http(s) URL"),
        Err(_) => v.error("url", "must be an https URL"),
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
        .create_webhook_endpoint(
            &url,
            &state.webhook_secrets.seal(&secret),
            &events,
            state.clock.now(),
        )
        .await?;
    let mut body = serde_json::to_value(&endpoint).unwrap_or_default();
    // Shown once: the receiver needs it to check signatures.
    body["secret"] = serde_json::Value::String(secret);
    Ok(super::no_store(HttpResponse::Created()).json(body))
}

#[get("/v1/admin/webhooks")]
async fn list(
    state: web::Data<AppState>,
    _: Admin,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let rows = state
        .store
        .webhook_endpoints_page(page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |e| &e.id)))
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
