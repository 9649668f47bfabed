//! Device enrollment and session: enroll with a one-time code, rotate refresh tokens, keep the
//! push token current, unenroll.
//!
//! Enroll and refresh take no credential yet, so anyone can call them. Order of checks: the
//! concurrency gate (503 when full, see [`crate::auth::unauthenticated`]), the failure limits
//! of the client (429), the body (422), then the secret, looked up with a plain read so a
//! wrong one is answered without a write transaction. A wrong, used, expired or revoked code
//! gets one and the same 401.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::extract::AnyDevice;
use super::validate::Validator;
use super::{no_store, Json, Problem};
use crate::auth::secrets::{self, EnrollmentCode};
use crate::auth::tokens::Subject;
use crate::auth::unauthenticated::Refusal;
use crate::domain::identity::DevicePrincipal;
use crate::domain::identity::DeviceRole;
use crate::domain::platform::Platform;
use crate::domain::push_token::{PushToken, PushTokenError};
use crate::state::AppState;
use crate::store::identity::{NewDevice, Rotation};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(enroll)
        .service(refresh)
        .service(me)
        .service(update_push_token)
        .service(unenroll);
}

#[derive(Deserialize)]
struct EnrollRequest {
    code: String,
    platform: Platform,
    push_token: String,
    app_version: String,
    device_name: String,
    /// The user granted critical alerts (iOS) / DND override (Android) on this device.
    #[serde(default)]
    critical_alerts: bool,
}

#[derive(Serialize)]
struct TokenPair {
    device_id: String,
    user_id: String,
    role: DeviceRole,
    token_type: &'static str,
    access_token: String,
    access_token_expires_at: DateTime<Utc>,
    expires_in: i64,
    refresh_token: String,
    refresh_token_expires_at: DateTime<Utc>,
}

fn token_pair(
    state: &AppState,
    principal: &DevicePrincipal,
    refresh_token: String,
    refresh_expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> TokenPair {
    let role = principal.role.device_role();
    let (access_token, expires) = state.tokens.issue(
        Subject {
            user_id: &principal.user_id,
            device_id: &principal.device_id,
            role,
        },
        now,
    );
    TokenPair {
        device_id: principal.device_id.clone(),
        user_id: principal.user_id.clone(),
        role,
        token_type: "Bearer",
        access_token,
        access_token_expires_at: expires,
        expires_in: (expires - now).num_seconds(),
        refresh_token,
        refresh_token_expires_at: refresh_expires,
    }
}

/// A push token that is not of its platform's shape (it could steer the provider request).
fn push_token_problem(e: PushTokenError) -> Problem {
    Problem::field("push_token", e.to_string())
}

fn refresh_ttl(state: &AppState) -> Duration {
    Duration::days(state.settings.auth.refresh_token_ttl_days as i64)
}

fn invalid_code() -> Problem {
    Problem::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "invalid-enrollment-code",
        "Enrollment refused",
        "the enrollment code is invalid, used or expired; ask for a new one",
    )
}

/// A place among the unauthenticated requests running now, or 503 at once.
fn admit(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, Problem> {
    state.unauthenticated.admit().ok_or_else(|| {
        Problem::unavailable(
            "too many enrollment and token requests at once; try again shortly",
            1,
        )
    })
}

fn too_many(refusal: Refusal, what: &str) -> Problem {
    match refusal {
        Refusal::Client { secs } => Problem::too_many_requests(
            format!("too many failed {what} attempts from this address; try again later"),
            secs,
        ),
        Refusal::Everyone { secs } => Problem::too_many_requests(
            format!(
                "too many failed {what} attempts from all addresses this minute; try again \
                 when it ends"
            ),
            secs,
        ),
    }
}

#[post("/v1/devices/enroll")]
async fn enroll(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<EnrollRequest>,
) -> Result<HttpResponse, Problem> {
    let _admitted = admit(&state)?;
    let now = state.clock.now();
    let client = state.unauthenticated.client_of(&req);
    if let Some(refusal) = state.unauthenticated.enrollment_refused(client, now) {
        return Err(too_many(refusal, "enrollment"));
    }
    let mut v = Validator::new();
    let push_token = PushToken::parse(body.platform, &body.push_token);
    if let Err(e) = &push_token {
        v.error("push_token", e.to_string());
    }
    let app_version = v.text("app_version", &body.app_version, 64);
    let device_name = v.text("device_name", &body.device_name, 128);
    v.finish()?;
    let push_token = push_token.map_err(push_token_problem)?;

    let Some(code) = EnrollmentCode::parse(&body.code) else {
        state.unauthenticated.enrollment_failed(client, now);
        return Err(invalid_code());
    };
    let found = state
        .store
        .live_enrollment_code(&state.enrollment_codes.candidates(&code), now)
        .await?;
    let Some(code_id) = found else {
        state.unauthenticated.enrollment_failed(client, now);
        return Err(invalid_code());
    };
    let refresh_token = secrets::new_refresh_token();
    let refresh_expires = now + refresh_ttl(&state);
    let enrolled = state
        .store
        .enroll_device(
            &code_id,
            NewDevice {
                push_token: &push_token,
                app_version: &app_version,
                name: &device_name,
                critical_alerts: body.critical_alerts,
            },
            &secrets::digest(&refresh_token),
            refresh_expires,
            now,
        )
        .await?;
    let Some(principal) = enrolled else {
        state.unauthenticated.enrollment_failed(client, now);
        return Err(invalid_code());
    };
    tracing::info!(device_id = %principal.device_id, user_id = %principal.user_id, platform = body.platform.as_str(), "device enrolled");
    Ok(no_store(HttpResponse::Created()).json(token_pair(
        &state,
        &principal,
        refresh_token,
        refresh_expires,
        now,
    )))
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

#[post("/v1/devices/token/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, Problem> {
    let _admitted = admit(&state)?;
    let now = state.clock.now();
    let client = state.unauthenticated.client_of(&req);
    if let Some(refusal) = state.unauthenticated.refresh_refused(client, now) {
        return Err(too_many(refusal, "token refresh"));
    }
    let refresh_token = secrets::new_refresh_token();
    let refresh_expires = now + refresh_ttl(&state);
    let rotation = state
        .store
        .rotate_refresh_token(
            &secrets::digest(body.refresh_token.trim()),
            &secrets::digest(&refresh_token),
            refresh_expires,
            Duration::seconds(state.settings.auth.refresh_reuse_grace_secs as i64),
            now,
        )
        .await?;
    match rotation {
        Rotation::Rotated(principal) => Ok(no_store(HttpResponse::Ok()).json(token_pair(
            &state,
            &principal,
            refresh_token,
            refresh_expires,
            now,
        ))),
        Rotation::Reused { device_id } => {
            tracing::warn!(%device_id, "refresh token reused: device revoked");
            Err(Problem::unauthorized(
                "this refresh token was already used; the device has been signed out for safety \
                 and must be enrolled again",
            ))
        }
        Rotation::Invalid => {
            state.unauthenticated.refresh_failed(client, now);
            Err(Problem::unauthorized(
                "the refresh token is invalid or expired; enroll the device again",
            ))
        }
    }
}

#[derive(Serialize)]
struct MeResponse {
    device: crate::domain::identity::Device,
    user: crate::domain::identity::User,
}

#[get("/v1/devices/me")]
async fn me(state: web::Data<AppState>, AnyDevice(p): AnyDevice) -> Result<HttpResponse, Problem> {
    let device = state.store.device(&p.device_id).await?;
    let user = state.store.user(&p.user_id).await?;
    match (device, user) {
        (Some(device), Some(user)) => Ok(HttpResponse::Ok().json(MeResponse { device, user })),
        _ => Err(Problem::unauthorized("this device is no longer enrolled")),
    }
}

#[derive(Deserialize)]
struct PushTokenRequest {
    push_token: String,
}

#[put("/v1/devices/me/push-token")]
async fn update_push_token(
    state: web::Data<AppState>,
    AnyDevice(p): AnyDevice,
    Json(body): Json<PushTokenRequest>,
) -> Result<HttpResponse, Problem> {
    let token = PushToken::parse(p.platform, &body.push_token).map_err(push_token_problem)?;
    state
        .store
        .update_push_token(&p.device_id, &token, state.clock.now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[delete("/v1/devices/me")]
async fn unenroll(
    state: web::Data<AppState>,
    AnyDevice(p): AnyDevice,
) -> Result<HttpResponse, Problem> {
    state
        .store
        .revoke_device(
            &p.device_id,
            "unenrolled by its owner",
            &format!("device:{}", p.device_id),
            state.clock.now(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
