//! Extractors for the three kinds of caller. A handler names the one it serves in its
//! signature: `CustomerDevice` (a Gold customer's contact), `ResponderDevice` (account
//! managers, engineers, support managers), `AnyDevice` (endpoints about the device itself) or
//! an admin API key with the scope the route needs (`Admin`, `TicketsWriter`,
//! `ReportsReader`). The wrong caller gets 401 (no, bad, revoked or expired credentials) or 403
//! (the wrong kind of caller, or a key without the scope).
//!
//! Device extractors check the token *and* the device row on every request, so revoking a
//! device or downgrading a customer takes effect on the next request, not at token expiry.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::Problem;
use crate::auth::secrets;
use crate::domain::admin_key::{Refusal, Scope};
use crate::domain::identity::DevicePrincipal;
use crate::domain::identity::DeviceRole;
use crate::state::AppState;

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered on every app")
        .clone()
}

async fn authenticate_device(
    req: HttpRequest,
    wanted: Option<DeviceRole>,
) -> Result<DevicePrincipal, Problem> {
    let state = state(&req);
    let token = bearer(&req).ok_or_else(|| {
        Problem::unauthorized("a device access token is required (Authorization: Bearer …)")
    })?;
    let claims = state
        .tokens
        .verify(&token, state.clock.now())
        .map_err(|e| Problem::unauthorized(e.to_string()))?;
    let principal = state
        .store
        .device_principal(&claims.did)
        .await?
        .filter(|p| !p.revoked && p.user_id == claims.sub)
        .ok_or_else(|| {
            Problem::unauthorized("this device is no longer enrolled; enroll it again")
        })?;
    match wanted {
        Some(role) if principal.role.device_role() != role => Err(Problem::forbidden(
            "wrong-caller",
            match role {
                DeviceRole::Customer => "this endpoint is for customer devices",
                DeviceRole::Responder => "this endpoint is for responder devices",
            },
        )),
        _ => Ok(principal),
    }
}

macro_rules! device_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub DevicePrincipal);

        impl FromRequest for $name {
            type Error = Problem;
            type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move { authenticate_device(req, $role).await.map($name) })
            }
        }
    };
}

device_extractor!(
    /// A customer contact's enrolled device.
    CustomerDevice,
    Some(DeviceRole::Customer)
);
device_extractor!(
    /// A responder's enrolled device.
    ResponderDevice,
    Some(DeviceRole::Responder)
);
device_extractor!(
    /// Any enrolled device, for endpoints about the device itself.
    AnyDevice,
    None
);

impl CustomerDevice {
    /// Every contact belongs to a customer (a database constraint).
    pub fn customer_id(&self) -> &str {
        self.0.customer_id.as_deref().unwrap_or_default()
    }
}

/// Checks the admin key on `req`: unknown, revoked or expired is 401; a live key without
/// `needed` (or `admin`) is 403 naming the scope needed. A use is recorded at most once a
/// minute per key, and a failure to record it never fails the request.
async fn authenticate_admin(req: HttpRequest, needed: Scope) -> Result<String, Problem> {
    let key = bearer(&req)
        .filter(|k| k.starts_with(secrets::ADMIN_KEY_PREFIX))
        .ok_or_else(|| {
            Problem::unauthorized("an admin API key is required (Authorization: Bearer …)")
        })?;
    let state = state(&req);
    let now = state.clock.now();
    let key = state
        .store
        .admin_key_by_digest(&secrets::digest(&key))
        .await?
        .ok_or_else(|| Problem::unauthorized("the admin API key is not valid"))?;
    match key.refusal(now) {
        Some(Refusal::Revoked) => {
            return Err(Problem::unauthorized("the admin API key has been revoked"))
        }
        Some(Refusal::Expired) => {
            return Err(Problem::unauthorized("the admin API key has expired"))
        }
        None => {}
    }
    if key.use_worth_recording(now) {
        if let Err(e) = state.store.record_admin_key_use(&key.id, now).await {
            tracing::warn!(
                key_id = %key.id,
                error = %crate::error_chain::error_chain(&e),
                "could not record the admin key's use; the request goes on"
            );
        }
    }
    if !key.scopes.grants(needed) {
        return Err(Problem::forbidden(
            "insufficient-scope",
            format!("this endpoint needs an admin key with the scope `{needed}` (or `admin`)"),
        )
        .with_extension("required_scope", needed.as_str().into()));
    }
    Ok(key.id)
}

macro_rules! admin_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            pub key_id: String,
        }

        impl $name {
            /// How the audit log names this caller.
            pub fn actor(&self) -> String {
                format!("admin:{}", self.key_id)
            }
        }

        impl FromRequest for $name {
            type Error = Problem;
            type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let key_id = authenticate_admin(req, $scope).await?;
                    Ok($name { key_id })
                })
            }
        }
    };
}

admin_extractor!(
    /// A caller holding a live admin API key with the `admin` scope: everything.
    Admin,
    Scope::Admin
);
admin_extractor!(
    /// A live admin API key with `tickets:write` (the helpdesk integration) or `admin`.
    TicketsWriter,
    Scope::TicketsWrite
);
admin_extractor!(
    /// A live admin API key with `reports:read` or `admin`.
    ReportsReader,
    Scope::ReportsRead
);
