//! Contact methods (SMS, voice, e-mail) and notification rules: a responder's own
//! (`/v1/responders/me/...`) and any staff user's for an admin (`/v1/admin/users/{id}/...`),
//! plus the admin's default rule set.
//!
//! Order of checks on create: the kind, then the address parsed for that kind (E.164 numbers,
//! e-mail addresses), then duplicates; only then is anything stored. A new method is
//! unverified and a 6-digit code goes out through it right after the commit (this is the one
//! place a handler calls a provider: the person is waiting for the code, there is no incident
//! to queue it under, and a failed send is answered as such so they can resend). A channel
//! without a provider (voice and e-mail for now) leaves the method unverified until an admin
//! vouches for it. Unverified methods are never paged: paging selects verified ones only.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Admin, ResponderDevice};
use super::validate::Validator;
use super::{Json, Problem};
use crate::channels::{Message, Outcome};
use crate::domain::contact::{
    CodeCheck, ContactAddress, MethodKind, NotificationRule, RuleSet, VerificationCode,
    CODE_MAX_ATTEMPTS,
};
use crate::domain::identity::UserRole;
use crate::state::AppState;
use crate::store::contacts::{ContactMethod, Verified};

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

/// Parses a new method's kind and address, naming the field that is wrong.
fn parse_new(body: &NewMethod) -> Result<(MethodKind, ContactAddress), Problem> {
    let mut v = Validator::new();
    let kind = MethodKind::parse(&body.kind);
    if kind.is_none() {
        v.error(
            "kind",
            "must be sms, voice or email (push devices are enrolled, not added here)",
        );
    }
    let address = kind.map(|k| ContactAddress::parse(k, &body.address));
    if let Some(Err(reason)) = &address {
        v.error("address", *reason);
    }
    v.finish()?;
    match (kind, address) {
        (Some(k), Some(Ok(a))) => Ok((k, a)),
        _ => Err(Problem::field("kind", "is required")),
    }
}

/// Sends `code` through the method's channel now and says how it went; a dead address
/// disables the method at once.
async fn send_code(
    state: &AppState,
    method: &ContactMethod,
    code: &VerificationCode,
) -> Result<serde_json::Value, Problem> {
    let Some(provider) = state.channels.get(&method.kind.channel()) else {
        return Ok(json!({
            "sent": false,
            "detail": format!(
                "no provider is configured for {}: an admin can mark this method verified",
                method.kind.as_str()
            ),
        }));
    };
    let address = ContactAddress::parse(method.kind, &method.address)
        .map_err(|r| Problem::field("address", r))?;
    let now = state.clock.now();
    let outcome = provider
        .send(&address, &Message::verification(&code.code), now)
        .await;
    Ok(match outcome {
        Outcome::Accepted { .. } => json!({ "sent": true, "expires_at": code.expires_at }),
        Outcome::TokenDead { reason } => {
            state
                .store
                .disable_contact_method(&method.id, &reason, now)
                .await?;
            json!({ "sent": false, "detail": format!("the provider refused the address: {reason}") })
        }
        Outcome::Retry { reason, .. } | Outcome::Fatal { reason } => {
            tracing::warn!(method = %method.id, %reason, "verification code not sent");
            json!({ "sent": false, "detail": "the code could not be sent now; ask for it again" })
        }
    })
}

async fn create(
    state: &AppState,
    user_id: &str,
    body: NewMethod,
    may_vouch: bool,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    if body.verified && !may_vouch {
        return Err(Problem::field(
            "verified",
            "only an admin can add a method as verified",
        ));
    }
    let (kind, address) = parse_new(&body)?;
    let created = state
        .store
        .create_contact_method(
            user_id,
            &address,
            kind,
            body.verified,
            actor,
            state.clock.now(),
        )
        .await?;
    let Some((method, code)) = created else {
        return Err(Problem::field(
            "address",
            format!(
                "this {} address is already one of the user's methods",
                kind.as_str()
            ),
        ));
    };
    let verification = match &code {
        Some(code) => send_code(state, &method, code).await?,
        None => json!({ "sent": false, "detail": "added as verified by an admin" }),
    };
    // The method as it is now (a dead address may have disabled it).
    let method = state
        .store
        .contact_method(user_id, &method.id)
        .await?
        .unwrap_or(method);
    let mut out = serde_json::to_value(&method).unwrap_or_default();
    out["verification"] = verification;
    Ok(HttpResponse::Created().json(out))
}

async fn verify(
    state: &AppState,
    user_id: &str,
    id: &str,
    body: CodeBody,
) -> Result<HttpResponse, Problem> {
    let code = body.code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::field(
            "code",
            "must be the 6 digits that were sent",
        ));
    }
    match state
        .store
        .verify_contact_method(user_id, id, code, state.clock.now())
        .await?
    {
        Verified::Now | Verified::Already => {}
        Verified::NotFound => return Err(Problem::not_found(format!("no contact method {id}"))),
        Verified::Refused(CodeCheck::Wrong { attempts_left }) => {
            return Err(Problem::field(
                "code",
                format!("is not the code that was sent; {attempts_left} attempts left"),
            ))
        }
        Verified::Refused(CodeCheck::Expired) => {
            return Err(Problem::field(
                "code",
                "has expired; ask for a new one (resend)",
            ))
        }
        Verified::Refused(_) => {
            return Err(Problem::field(
                "code",
                format!(
                    "no code is pending (or {CODE_MAX_ATTEMPTS} wrong attempts used it up); \
                     ask for a new one (resend)"
                ),
            ))
        }
    }
    let method = state
        .store
        .contact_method(user_id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no contact method {id}")))?;
    Ok(HttpResponse::Ok().json(method))
}

async fn resend(state: &AppState, user_id: &str, id: &str) -> Result<HttpResponse, Problem> {
    let method = state
        .store
        .contact_method(user_id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no contact method {id}")))?;
    if method.verified {
        return Err(Problem::conflict(
            "already-verified",
            "this contact method is already verified",
        ));
    }
    let code = state
        .store
        .renew_verification_code(user_id, id, state.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("no contact method {id}")))?;
    let verification = send_code(state, &method, &code).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "verification": verification })))
}

async fn remove(
    state: &AppState,
    user_id: &str,
    id: &str,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    if state
        .store
        .delete_contact_method(user_id, id, actor, state.clock.now())
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Problem::not_found(format!("no contact method {id}")))
    }
}

/// The rules that apply to `user_id` and where they come from.
async fn rules_view(state: &AppState, user_id: Option<&str>) -> Result<HttpResponse, Problem> {
    let own = match user_id {
        Some(id) => state.store.user_rules(id).await?,
        None => None,
    };
    let (rules, source) = match own {
        Some(r) => (r, "user"),
        None => match state.store.default_rules().await? {
            Some(r) => (r, "default"),
            None => (RuleSet::builtin_default(), "builtin"),
        },
    };
    Ok(HttpResponse::Ok().json(json!({ "rules": rules, "source": source })))
}

async fn set_rules(
    state: &AppState,
    user_id: Option<&str>,
    body: RulesBody,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    let methods = match user_id {
        Some(id) => state.store.contact_methods(id).await?,
        // The default applies to everyone: it names kinds, never one person's method.
        None => Vec::new(),
    };
    let rules = RuleSet::parse(body.rules, |id| {
        methods.iter().find(|m| m.id == id).map(|m| m.kind)
    })
    .map_err(|errors| {
        let mut v = Validator::new();
        for e in errors {
            v.error(&e.field, e.reason);
        }
        v.finish()
            .err()
            .unwrap_or_else(|| Problem::bad_request("invalid rules"))
    })?;
    state
        .store
        .set_rules(user_id, &rules, actor, state.clock.now())
        .await?;
    rules_view(state, user_id).await
}

/// A staff user (responder or support manager): contacts are reached by push updates only.
async fn staff_user(state: &AppState, id: &str) -> Result<(), Problem> {
    match state.store.user(id).await? {
        Some(u) if u.role != UserRole::Contact => Ok(()),
        Some(_) => Err(Problem::field(
            "id",
            "a customer's contact has no contact methods or rules; only staff are paged",
        )),
        None => Err(Problem::not_found(format!("no user {id}"))),
    }
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
    if !state
        .store
        .mark_contact_method_verified(&user, &method, &admin.actor(), state.clock.now())
        .await?
    {
        return Err(Problem::not_found(format!("no contact method {method}")));
    }
    let method = state
        .store
        .contact_method(&user, &method)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no contact method {method}")))?;
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
