//! Enrollment codes as support sees them: issue one for a user (shown once), list the ones
//! that have not expired, revoke one that was sent to the wrong person.
//!
//! A code is never shown again after it is issued: the list gives ids, users and states only.
//! A revoked code fails enrollment exactly like a wrong one (same 401, counted as a failure),
//! so revoking tells whoever holds it nothing.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::extract::Admin;
use super::page::PageRequest;
use super::{no_store, Problem};
use crate::auth;
use crate::state::AppState;
use crate::store::enrollment_codes::Revocation;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_enrollment_code)
        .service(list_enrollment_codes)
        .service(revoke_enrollment_code);
}

#[derive(Serialize)]
struct IssuedCode {
    /// For listing and revoking it.
    id: String,
    user_id: String,
    /// Shown once; only its keyed hash is stored.
    code: String,
    expires_at: DateTime<Utc>,
}

#[post("/v1/admin/users/{id}/enrollment-codes")]
async fn create_enrollment_code(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    if state.store.user(&id).await?.is_none() {
        return Err(Problem::not_found(format!("no user {id}")));
    }
    let ttl = Duration::hours(state.settings.auth.enrollment_code_ttl_hours as i64);
    let issued = auth::issue_enrollment_code(
        &state.store,
        &state.enrollment_codes,
        &id,
        ttl,
        &admin.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(no_store(HttpResponse::Created()).json(IssuedCode {
        id: issued.id,
        user_id: id.into_inner(),
        code: issued.code.display(),
        expires_at: issued.expires_at,
    }))
}

#[derive(Deserialize)]
struct CodeFilter {
    user_id: Option<String>,
}

/// Codes that have not expired, a page at a time by id (creation order), with their state
/// (`outstanding`, `used`, `revoked`).
#[get("/v1/admin/enrollment-codes")]
async fn list_enrollment_codes(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<CodeFilter>,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let codes = state
        .store
        .enrollment_codes_page(
            query.user_id.as_deref(),
            state.clock.now(),
            page.after(),
            page.fetch(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page.page(codes, |c| &c.id)))
}

/// Revokes a code: 204, also when it was already revoked or has expired; 409 when it already
/// enrolled a device (revoke the device instead).
#[delete("/v1/admin/enrollment-codes/{id}")]
async fn revoke_enrollment_code(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    match state
        .store
        .revoke_enrollment_code(&id, &admin.actor(), state.clock.now())
        .await?
    {
        Revocation::Revoked => Ok(HttpResponse::NoContent().finish()),
        Revocation::AlreadyUsed => Err(Problem::conflict(
            "enrollment-code-used",
            "this code already enrolled a device; revoke the device instead",
        )),
        Revocation::NotFound => Err(Problem::not_found(format!("no enrollment code {id}"))),
    }
}
