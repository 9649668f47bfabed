//! Extractors for the three kinds of caller. A handler names the one it serves in its
//! signature: `CustomerDevice` (a Gold customer's contact), `ResponderDevice` (account
//! managers, engineers, support managers), `AnyDevice` (endpoints about the device itself) or
//! `Admin` (an admin API key). The wrong caller gets 401 (no or bad credentials) or 403 (the
//! wrong kind of caller).
//!
//! Device extractors check the token *and* the device row on every request, so revoking a
//! device or downgrading a customer takes effect on the next request, not at token expiry.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::secrets;
use super::tokens::DeviceRole;
use crate::api::Problem;
use crate::domain::identity::DevicePrincipal;
use crate::startup::AppState;

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

/// A caller holding a live admin API key.
#[derive(Debug, Clone)]
pub struct Admin {
    pub key_id: String,
}

impl Admin {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.key_id)
    }
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let key = bearer(&req)
                .filter(|k| k.starts_with(secrets::ADMIN_KEY_PREFIX))
                .ok_or_else(|| {
                    Problem::unauthorized("an admin API key is required (Authorization: Bearer …)")
                })?;
            let key_id = state(&req)
                .store
                .admin_key_id(&secrets::digest(&key))
                .await?
                .ok_or_else(|| Problem::unauthorized("the admin API key is not valid"))?;
            Ok(Admin { key_id })
        })
    }
}
