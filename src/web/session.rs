//! Who is signed in to the console: the session cookie, the [`StaffSession`] extractor, and
//! the role extractors that make a handler's signature say who may open it.
//!
//! - `StaffSession`: any signed-in staff member (responder, support manager, admin).
//! - `ManagerSession`: a support manager or an admin. `AdminSession`: an admin.
//!
//! No live session: the request is sent to the sign-in page (and back afterwards). The wrong
//! role: a 403 page saying whose page it is. The session row is read on every request, so a
//! revoked session (sign-out, `POST /v1/admin/users/{id}/sessions/revoke`, a new password) is
//! refused from the next request on; it is looked up once per request and cached in the
//! request's extensions, so a handler taking a role extractor and a [`super::csrf::CsrfForm`]
//! reads it once.
//!
//! The cookie holds 256 random bits (only their SHA-256 is stored): `HttpOnly` (no script
//! reads it), `SameSite=Strict` (no other site's page sends it), `Path=/`, and `Secure` when
//! `server.public_url` is https. Without https in front (development) it cannot be `Secure`,
//! or the browser would drop it.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::failure::PageError;
use crate::auth::secrets;
use crate::domain::identity::UserRole;
use crate::state::AppState;
use crate::store::staff::SESSION_TOUCH_EVERY;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pgw_session";

/// What a staff member may do, least first: each role may do everything the ones before it
/// may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StaffRole {
    /// Sees and acts on the incidents they are involved in (paged for, or account manager).
    Responder,
    /// Sees and acts on everything.
    SupportManager,
    /// Also manages people, customers and configuration.
    Admin,
}

impl StaffRole {
    pub fn from_account(role: UserRole, admin: bool) -> Self {
        match (admin, role) {
            (true, _) => StaffRole::Admin,
            (false, UserRole::SupportManager) => StaffRole::SupportManager,
            (false, _) => StaffRole::Responder,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StaffRole::Responder => "responder",
            StaffRole::SupportManager => "support manager",
            StaffRole::Admin => "admin",
        }
    }
}

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: StaffRole,
    /// The session's CSRF synchroniser token, for forms ([`super::csrf::field`]).
    pub csrf: String,
    /// The stored form of the cookie's token, to end this session.
    pub(super) token_hash: String,
}

impl StaffSession {
    /// Whether they see every incident, not only those they are involved in.
    pub fn sees_everything(&self) -> bool {
        self.role >= StaffRole::SupportManager
    }

    /// How the audit log and the timeline name this person.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.user_id)
    }
}

pub(super) fn app_state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered on every app")
        .clone()
}

/// The value of cookie `name` on `req`. Parsed by hand: actix-web's cookie feature (and its
/// crates) is not built for one header.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for one of the console's cookies, living `max_age_secs` (0: delete).
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.settings.server.public_is_https() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

async fn load(req: &HttpRequest) -> Result<StaffSession, PageError> {
    let sign_in = || PageError::SignIn {
        next: req
            .uri()
            .path_and_query()
            .map_or("/console".into(), |p| p.to_string()),
        htmx: req.headers().contains_key("hx-request"),
    };
    let token = cookie(req, SESSION_COOKIE).ok_or_else(sign_in)?;
    let state = app_state(req);
    let now = state.clock.now();
    let token_hash = secrets::digest(&token);
    let record = state
        .store
        .staff_session(&token_hash, state.settings.console.idle(), now)
        .await?
        .ok_or_else(sign_in)?;
    if now - record.last_seen_at >= SESSION_TOUCH_EVERY {
        if let Err(e) = state.store.touch_staff_session(&token_hash, now).await {
            // The request goes on; the session may idle out a minute early.
            tracing::warn!(error = %crate::error_chain::error_chain(&e), "could not record a console session's activity");
        }
    }
    Ok(StaffSession {
        user_id: record.user_id,
        name: record.name,
        email: record.email,
        role: StaffRole::from_account(record.role, record.admin),
        csrf: record.csrf_token,
        token_hash,
    })
}

impl FromRequest for StaffSession {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(session) = req.extensions().get::<StaffSession>() {
                return Ok(session.clone());
            }
            let session = load(&req).await?;
            req.extensions_mut().insert(session.clone());
            Ok(session)
        })
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $least:expr, $whose:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub StaffSession);

        impl FromRequest for $name {
            type Error = PageError;
            type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let session = StaffSession::from_request(req, payload);
                Box::pin(async move {
                    let session = session.await?;
                    if session.role < $least {
                        return Err(PageError::Forbidden($whose.into()));
                    }
                    Ok($name(session))
                })
            }
        }
    };
}

role_extractor!(
    /// A signed-in support manager or admin.
    ManagerSession,
    StaffRole::SupportManager,
    "support managers and admins"
);
role_extractor!(
    /// A signed-in admin.
    AdminSession,
    StaffRole::Admin,
    "admins"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_the_admin_flag_wins() {
        assert!(StaffRole::Responder < StaffRole::SupportManager);
        assert!(StaffRole::SupportManager < StaffRole::Admin);
        assert_eq!(
            StaffRole::from_account(UserRole::Responder, true),
            StaffRole::Admin
        );
        assert_eq!(
            StaffRole::from_account(UserRole::SupportManager, false),
            StaffRole::SupportManager
        );
        assert_eq!(
            StaffRole::from_account(UserRole::Responder, false),
            StaffRole::Responder
        );
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::COOKIE, "a=1; pgw_session=abc; b=2"))
            .to_http_request();
        assert_eq!(cookie(&req, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&req, "c"), None);
    }
}
