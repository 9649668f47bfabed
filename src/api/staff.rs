//! Console access for staff, administered with an admin key: invite a user (a one-time
//! set-password link, shown once) and end every console session of a user. The console's own
//! pages live in `web/`.

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::extract::Admin;
use super::{no_store, Json, Problem};
use crate::state::AppState;
use crate::store::staff::InviteRefusal;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(invite).service(revoke_sessions);
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    #[serde(default)]
    admin: bool,
}

#[post("/v1/admin/users/{id}/invite")]
async fn invite(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: Option<Json<InviteBody>>,
) -> Result<HttpResponse, Problem> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let invited = crate::auth::invite_staff(
        &state.store,
        &state.public_url,
        &id,
        body.admin,
        state.settings.console.invite_ttl(),
        &admin.actor(),
        state.clock.now(),
    )
    .await?
    .map_err(|refusal| match refusal {
        InviteRefusal::NoUser => Problem::not_found(format!("no user {id}")),
        InviteRefusal::Contact => Problem::field(
            "role",
            "contacts are customers' people and do not sign in to the console",
        ),
        InviteRefusal::NoEmail => Problem::field(
            "email",
            "the user has no e-mail address to sign in with; set one first",
        ),
        InviteRefusal::EmailTaken => Problem::field(
            "email",
            "another staff account signs in with this e-mail address",
        ),
    })?;
    Ok(no_store(HttpResponse::Created()).json(json!({
        "user_id": invited.user_id,
        "email": invited.email,
        "admin": invited.admin,
        "url": invited.url,
        "expires_at": invited.expires_at,
    })))
}

#[post("/v1/admin/users/{id}/sessions/revoke")]
async fn revoke_sessions(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let revoked = state
        .store
        .revoke_staff_sessions(
            &id,
            state.settings.console.idle(),
            &admin.actor(),
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| Problem::not_found(format!("no staff account for user {id}")))?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": *id, "revoked": revoked })))
}
