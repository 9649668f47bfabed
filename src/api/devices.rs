//! Device enrollment and session: enroll with a one-time code, rotate refresh tokens, keep the
//! push token current, unenroll.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::validate::Validator;
use super::{no_store, Json, Problem};
use crate::auth::secrets::{self, EnrollmentCode};
use crate::auth::tokens::{DeviceRole, Subject};
use crate::auth::AnyDevice;
use crate::domain::identity::DevicePrincipal;
use crate::push::Platform;
use crate::startup::AppState;
use crate::store::identity::{NewDevice, Rotation};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(enroll)
        .service(refresh)
        .service(me)
        .service(update_push_token)
        .service(unenroll);
}

/// Longest push token accepted (APNs tokens are 64 hex chars, FCM tokens about 160).
const MAX_PUSH_TOKEN: usize = 4096;

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

#[post("/v1/devices/enroll")]
async fn enroll(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<EnrollRequest>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let addr = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    if let Some(secs) = state.enrollment_failures.blocked_for(addr, now) {
        return Err(Problem::too_many_requests(
            "too many failed enrollment attempts from this address; try again later",
            secs,
        ));
    }
    let mut v = Validator::new();
    let push_token = v.token("push_token", &body.push_token, MAX_PUSH_TOKEN);
    let app_version = v.text("app_version", &body.app_version, 64);
    let device_name = v.text("device_name", &body.device_name, 128);
    v.finish()?;

    let Some(code) = EnrollmentCode::parse(&body.code) else {
        state.enrollment_failures.record_failure(addr, now);
        return Err(invalid_code());
    };
    let refresh_token = secrets::new_refresh_token();
    let refresh_expires = now + refresh_ttl(&state);
    let enrolled = state
        .store
        .enroll_device(
            &code.digest(),
            NewDevice {
                platform: body.platform,
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
        state.enrollment_failures.record_failure(addr, now);
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
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
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
        Rotation::Invalid => Err(Problem::unauthorized(
            "the refresh token is invalid or expired; enroll the device again",
        )),
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
    let mut v = Validator::new();
    let token = v.token("push_token", &body.push_token, MAX_PUSH_TOKEN);
    v.finish()?;
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
