//! Contact methods (SMS, voice, e-mail) and notification rules over JSON: a responder's own
//! (`/v1/responders/me/...`) and any staff user's for an admin (`/v1/admin/users/{id}/...`),
//! plus the admin's default rule set.
//!
//! The work and its order of checks are [`crate::contact_actions`]'s (shared with the
//! console's page); this module reads the JSON bodies and turns the typed answers into JSON
//! and problems: bad input 422 naming the field, a new code asked for within the cooldown
//! 429 with `Retry-After`.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Admin, ResponderDevice};
use super::problem::FieldError;
use super::{Json, Problem};
use crate::contact_actions::{self as actions, CodeSent, ContactError, RulesView};
use crate::domain::contact::NotificationRule;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(my_methods)
        .service(add_my_method)
        .service(delete_my_method)
        .service(verify_my_method)
        .service(resend_my_code)
        .service(my_rules)
        .service(set_my_rules)
        .service(user_methods)
        .service(add_user_method)
        .service(delete_user_method)
        .service(admin_verify_method)
        .service(user_rules)
        .service(set_user_rules)
        .service(default_rules)
        .service(set_default_rules);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMethod {
    kind: String,
    address: String,
    /// Admin only: vouch for the method instead of sending a code.
    #[serde(default)]
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesBody {
    rules: Vec<NotificationRule>,
}

impl From<ContactError> for Problem {
    fn from(e: ContactError) -> Self {
        match e {
            ContactError::Invalid(fields) => Problem::validation(
                fields
                    .into_iter()
                    .map(|f| FieldError::new(f.field, f.reason))
                    .collect(),
            ),
            ContactError::NotFound(what) => Problem::not_found(what),
            ContactError::AlreadyVerified => Problem::conflict(
                "already-verified",
                "this contact method is already verified",
            ),
            ContactError::Wait { secs } => Problem::too_many_requests(
                format!("a new code was sent less than a minute ago; ask again in {secs} s"),
                secs,
            ),
            ContactError::Store(e) => e.into(),
        }
    }
}

/// The `verification` member of an answer: sent (and until when), or why not.
fn verification_json(sent: &CodeSent) -> serde_json::Value {
    match sent {
        CodeSent::Sent { expires_at } => json!({ "sent": true, "expires_at": expires_at }),
        other => json!({ "sent": false, "detail": other.detail() }),
    }
}

fn rules_json(view: &RulesView) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "rules": view.rules, "source": view.source.as_str() }))
}

async fn create(
    state: &AppState,
    user_id: &str,
    body: NewMethod,
    may_vouch: bool,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    let new = actions::NewMethod {
        kind: body.kind,
        address: body.address,
        verified: body.verified,
    };
    let (method, sent) = actions::create(state, user_id, new, may_vouch, actor).await?;
    let mut out = serde_json::to_value(&method).unwrap_or_default();
    out["verification"] = verification_json(&sent);
    Ok(HttpResponse::Created().json(out))
}

async fn verify(
    state: &AppState,
    user_id: &str,
    id: &str,
    body: CodeBody,
) -> Result<HttpResponse, Problem> {
    let method = actions::verify(state, user_id, id, &body.code).await?;
    Ok(HttpResponse::Ok().json(method))
}

async fn resend(state: &AppState, user_id: &str, id: &str) -> Result<HttpResponse, Problem> {
    let sent = actions::resend(state, user_id, id).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "verification": verification_json(&sent) })))
}

async fn remove(
    state: &AppState,
    user_id: &str,
    id: &str,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    actions::remove(state, user_id, id, actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rules_view(state: &AppState, user_id: Option<&str>) -> Result<HttpResponse, Problem> {
    Ok(rules_json(&actions::rules_view(state, user_id).await?))
}

async fn set_rules(
    state: &AppState,
    user_id: Option<&str>,
    body: RulesBody,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    Ok(rules_json(
        &actions::set_rules(state, user_id, body.rules, actor).await?,
    ))
}

/// A staff user (responder or support manager): contacts are reached by push updates only.
async fn staff_user(state: &AppState, id: &str) -> Result<(), Problem> {
    actions::staff_user(state, id).await?;
    Ok(())
}

#[get("/v1/responders/me/contact-methods")]
async fn my_methods(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(state.store.contact_methods(&p.user_id).await?))
}

#[post("/v1/responders/me/contact-methods")]
async fn add_my_method(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    Json(body): Json<NewMethod>,
) -> Result<HttpResponse, Problem> {
    let actor = format!("user:{}", p.user_id);
    create(&state, &p.user_id, body, false, &actor).await
}

#[delete("/v1/responders/me/contact-methods/{id}")]
async fn delete_my_method(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let actor = format!("user:{}", p.user_id);
    remove(&state, &p.user_id, &id, &actor).await
}

#[post("/v1/responders/me/contact-methods/{id}/verify")]
async fn verify_my_method(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    id: web::Path<String>,
    Json(body): Json<CodeBody>,
) -> Result<HttpResponse, Problem> {
    verify(&state, &p.user_id, &id, body).await
}

#[post("/v1/responders/me/contact-methods/{id}/resend")]
async fn resend_my_code(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    resend(&state, &p.user_id, &id).await
}

#[get("/v1/responders/me/notification-rules")]
async fn my_rules(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
) -> Result<HttpResponse, Problem> {
    rules_view(&state, Some(&p.user_id)).await
}

#[put("/v1/responders/me/notification-rules")]
async fn set_my_rules(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    Json(body): Json<RulesBody>,
) -> Result<HttpResponse, Problem> {
    let actor = format!("user:{}", p.user_id);
    set_rules(&state, Some(&p.user_id), body, &actor).await
}

#[get("/v1/admin/users/{id}/contact-methods")]
async fn user_methods(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    staff_user(&state, &id).await?;
    Ok(HttpResponse::Ok().json(state.store.contact_methods(&id).await?))
}

#[post("/v1/admin/users/{id}/contact-methods")]
async fn add_user_method(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    Json(body): Json<NewMethod>,
) -> Result<HttpResponse, Problem> {
    staff_user(&state, &id).await?;
    create(&state, &id, body, true, &admin.actor()).await
}

#[delete("/v1/admin/users/{id}/contact-methods/{method}")]
async fn delete_user_method(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (user, method) = path.into_inner();
    remove(&state, &user, &method, &admin.actor()).await
}

/// An admin vouches for a method: it is verified without a code.
#[post("/v1/admin/users/{id}/contact-methods/{method}/verify")]
async fn admin_verify_method(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (user, method) = path.into_inner();
    let method = actions::vouch(&state, &user, &method, &admin.actor()).await?;
    Ok(HttpResponse::Ok().json(method))
}

#[get("/v1/admin/users/{id}/notification-rules")]
async fn user_rules(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    staff_user(&state, &id).await?;
    rules_view(&state, Some(&id)).await
}

#[put("/v1/admin/users/{id}/notification-rules")]
async fn set_user_rules(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    Json(body): Json<RulesBody>,
) -> Result<HttpResponse, Problem> {
    staff_user(&state, &id).await?;
    set_rules(&state, Some(&id), body, &admin.actor()).await
}

#[get("/v1/admin/notification-rules/default")]
async fn default_rules(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, Problem> {
    rules_view(&state, None).await
}

#[put("/v1/admin/notification-rules/default")]
async fn set_default_rules(
    state: web::Data<AppState>,
    admin: Admin,
    Json(body): Json<RulesBody>,
) -> Result<HttpResponse, Problem> {
    set_rules(&state, None, body, &admin.actor()).await
}
