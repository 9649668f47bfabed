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
use crate::domain::timeline::WebhookEvent;
use crate::state::AppState;

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
    let events = body.events.unwrap_or_else(|| vec!["*".to_owned()]);
    let url = check_endpoint(&mut v, &state, "", &body.url, &events);
    v.finish()?;
    let secret = generate_secret();
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

/// The checks on an endpoint's URL and events, shared with configuration as code: errors are
/// named `{prefix}url` and `{prefix}events[i]`. Returns the URL.
pub(crate) fn check_endpoint(
    v: &mut Validator,
    state: &AppState,
    prefix: &str,
    url: &str,
    events: &[String],
) -> String {
    let field = |name: &str| format!("{prefix}{name}");
    let url = v.token(&field("url"), url, 2048);
    let allow_http = state.settings.webhooks.allow_http;
    match reqwest::Url::parse(&url) {
        Ok(u) => {
            if let Err(refusal) = check_url(&u, allow_http, &state.webhook_policy) {
                v.error(&field("url"), refusal.to_string());
            }
        }
        Err(_) if allow_http => v.error(&field("url"), "must be an http(s) URL"),
        Err(_) => v.error(&field("url"), "must be an https URL"),
    }
    if events.is_empty() {
        v.error(
            &field("events"),
            "must list at least one event type, or \"*\"",
        );
    }
    for (i, e) in events.iter().enumerate() {
        if e != "*" && WebhookEvent::parse(e).is_none() {
            let known = WebhookEvent::ALL.map(WebhookEvent::as_str);
            v.error(
                &field(&format!("events[{i}]")),
                format!("unknown event type; one of {}", known.join(", ")),
            );
        }
    }
    url
}

/// The least a signing secret the operator provides must be: the gateway's own are 43
/// characters of URL-safe base64 (32 random bytes).
pub(crate) const MIN_SECRET_CHARS: usize = 32;

/// Checks a signing secret given by the operator (configuration as code's `secret_env`).
pub(crate) fn check_secret(v: &mut Validator, field: &str, secret: &str) {
    if secret.chars().count() < MIN_SECRET_CHARS {
        v.error(
            field,
            format!("must be at least {MIN_SECRET_CHARS} characters (a random secret)"),
        );
    } else {
        v.token(field, secret, 512);
    }
}

/// A new endpoint's signing secret.
pub(crate) fn generate_secret() -> String {
    secrets::random_token(32)
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
