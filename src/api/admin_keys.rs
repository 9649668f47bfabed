//! `/v1/admin/api-keys`: create, list and revoke admin API keys, with the `admin` scope only.
//!
//! A key's secret is in the create response once (`Cache-Control: no-store`) and never again:
//! only its digest is stored, and the list shows what is stored about each key. A key cannot
//! revoke itself here: an admin that revokes the key it is using by mistake would be locked
//! out of the API; revoke it with another admin key or `panic-gateway admin revoke-key`.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::Admin;
use super::page::PageRequest;
use super::validate::Validator;
use super::{Json, Problem};
use crate::auth;
use crate::domain::admin_key::{AdminKey, Scopes};
use crate::state::AppState;
use crate::store::admin_keys::{KeyRevocation, NewAdminKey};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_key)
        .service(list_keys)
        .service(revoke_key);
}

#[derive(Deserialize)]
struct CreateKey {
    name: String,
    /// Names, checked here so an unknown one is a 422 naming `scopes`.
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct CreatedKey {
    #[serde(flatten)]
    stored: AdminKey,
    /// Shown once; only its digest is stored.
    key: String,
}

#[post("/v1/admin/api-keys")]
async fn create_key(
    state: web::Data<AppState>,
    admin: Admin,
    Json(body): Json<CreateKey>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let mut v = Validator::new();
    let name = v.text("name", &body.name, 200);
    let scopes = Scopes::parse(body.scopes.iter().map(String::as_str))
        .map_err(|e| v.error("scopes", e.to_string()))
        .ok();
    if body.expires_at.is_some_and(|at| at <= now) {
        v.error("expires_at", "must be in the future");
    }
    v.finish()?;
    let scopes = scopes.unwrap_or_else(Scopes::admin);
    let (stored, key) = auth::create_admin_key(
        &state.store,
        NewAdminKey {
            name: &name,
            scopes: &scopes,
            expires_at: body.expires_at,
        },
        &admin.actor(),
        now,
    )
    .await?;
    Ok(super::no_store(HttpResponse::Created()).json(CreatedKey { stored, key }))
}

#[get("/v1/admin/api-keys")]
async fn list_keys(
    state: web::Data<AppState>,
    _: Admin,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let keys = state
        .store
        .admin_keys_page(page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(keys, |k| &k.id)))
}

#[delete("/v1/admin/api-keys/{id}")]
async fn revoke_key(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    if *id == admin.key_id {
        return Err(Problem::conflict(
            "own-key",
            "a key cannot revoke itself; use another admin key or \
             `panic-gateway admin revoke-key`",
        ));
    }
    match state
        .store
        .revoke_admin_key(&id, &admin.actor(), state.clock.now())
        .await?
    {
        KeyRevocation::Revoked | KeyRevocation::AlreadyRevoked => {
            Ok(HttpResponse::NoContent().finish())
        }
        KeyRevocation::Unknown => Err(Problem::not_found(format!("no admin key {id}"))),
    }
}
