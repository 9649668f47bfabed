//! Cross-site request forgery: every state-changing console request proves it came from a page
//! the gateway served.
//!
//! - Signed in: a synchroniser token bound to the session row (`staff_sessions.csrf_token`).
//!   A form carries it in a hidden field ([`field`]); htmx sends it as `X-CSRF-Token` (the
//!   layout sets `hx-headers` on `<body>`). A handler takes [`CsrfForm<T>`] instead of
//!   `web::Form<T>`, and the check happens before the handler runs: a refused request gets a
//!   403 page and changes nothing.
//! - Not signed in yet (sign-in, set-password): a double-submit token, the same random value
//!   in a `SameSite=Strict` cookie and in the form ([`pre_session_token`],
//!   [`check_pre_session`]), so another site cannot sign a browser in to an account of its
//!   choosing.
//! - Both: an `Origin` header, when the browser sends one, must be this gateway's (its
//!   `server.public_url`, or the host the request was addressed to).
//!
//! The session cookie is `SameSite=Strict` as well; the tokens are the defence that does not
//! depend on the browser honouring it.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::failure::PageError;
use super::session::{self, StaffSession};
use crate::auth::secrets;
use crate::domain::constant_time::same_secret;
use crate::state::AppState;

/// The form field carrying the token.
pub const FIELD: &str = "csrf";
/// The header htmx sends it in.
pub const HEADER: &str = "x-csrf-token";
/// The cookie of the pre-session double-submit token.
pub const PRE_SESSION_COOKIE: &str = "pgw_form";

/// The hidden input every signed-in form includes.
pub fn field(session: &StaffSession) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(session.csrf); }
}

/// A form with no fields but the token (a button that acknowledges, say).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Whether the request's `Origin`, if any, is this gateway (see [`cross_site`]).
pub fn same_origin(req: &HttpRequest, state: &AppState) -> bool {
    !from_another_site(req, &state.public_url)
}

/// [`cross_site`] on a request's own headers; an `Origin` that is not even text is another
/// site's.
pub fn from_another_site(req: &HttpRequest, public_url: &str) -> bool {
    let headers = req.headers();
    let origin = match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => None,
        Some(Ok(origin)) => Some(origin),
        Some(Err(_)) => return true,
    };
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST.as_str()).or(req.uri().authority().map(|a| a.as_str()));
    cross_site(origin, text("sec-fetch-site"), host, public_url)
}

/// Whether a POST comes from a page of another site, by the headers browsers set.
///
/// A browser POST carries `Origin`; it must be the gateway's own,
/// as `server.public_url` names it or as the `Host` the request was sent to. `Origin: null`
/// (sandboxed frames, some redirects) and `Sec-Fetch-Site: cross-site` are refused; no
/// `Origin` at all (curl, old browsers) is let through.
pub fn cross_site(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    host: Option<&str>,
    public_url: &str,
) -> bool {
    if sec_fetch_site == Some("cross-site") {
        return true;
    }
    let Some(origin) = origin else {
        return false;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return true; // "null" and anything else that is not an origin
    };
    let same = |base: &str| {
        url::Url::parse(base)
            .map(|u| u.origin() == origin.origin())
            .unwrap_or(false)
    };
    if !public_url.is_empty() && same(public_url) {
        return false;
    }
    match host {
        Some(host) => !same(&format!("{}://{host}", origin.scheme())),
        None => true,
    }
}

/// The token sent with the request: the header, else the form field.
fn sent_token(req: &HttpRequest, body: &[u8]) -> Option<String> {
    if let Some(value) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(value.to_owned());
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v)
}

/// A url-encoded form from a signed-in session whose CSRF token checked out. Deserialize `T`
/// from the form's other fields (unknown fields, the token among them, are ignored).
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = StaffSession::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let session = session.await?;
            let body = body.await.map_err(|e| PageError::BadForm(e.to_string()))?;
            let state = session::app_state(&req);
            let token_ok = sent_token(&req, &body).is_some_and(|t| same_secret(&t, &session.csrf));
            if !same_origin(&req, &state) || !token_ok {
                tracing::warn!(user = %session.user_id, path = %req.path(), "console request refused: CSRF check failed");
                return Err(PageError::Csrf);
            }
            serde_urlencoded::from_bytes(&body)
                .map(CsrfForm)
                .map_err(|e| PageError::BadForm(e.to_string()))
        })
    }
}

/// The double-submit token for a form shown before sign-in: the browser's current one, or a
/// new one with the `Set-Cookie` value that gives it to the browser.
pub fn pre_session_token(req: &HttpRequest, state: &AppState) -> (String, Option<String>) {
    match session::cookie(req, PRE_SESSION_COOKIE) {
        Some(token) if token.len() == 43 => (token, None),
        _ => {
            let token = secrets::random_token(32);
            let cookie = session::set_cookie(state, PRE_SESSION_COOKIE, &token, 3600);
            (token, Some(cookie))
        }
    }
}

/// Checks a pre-session form's token against its cookie, and its origin.
pub fn check_pre_session(req: &HttpRequest, state: &AppState, sent: &str) -> Result<(), PageError> {
    let cookie = session::cookie(req, PRE_SESSION_COOKIE);
    if !same_origin(req, state) || !cookie.is_some_and(|c| same_secret(&c, sent)) {
        tracing::warn!(path = %req.path(), "console form refused: CSRF check failed");
        return Err(PageError::Csrf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_field() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((HEADER, "from-header"))
            .to_http_request();
        assert_eq!(
            sent_token(&req, b"csrf=from-form").as_deref(),
            Some("from-header")
        );
        let plain = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(
            sent_token(&plain, b"a=1&csrf=from-form").as_deref(),
            Some("from-form")
        );
        assert_eq!(sent_token(&plain, b"a=1"), None);
    }

    #[test]
    fn only_the_gateways_own_origin_may_post() {
        let host = Some("gw.example.com:8080");
        assert!(!cross_site(None, None, host, ""));
        assert!(!cross_site(
            Some("http://gw.example.com:8080"),
            None,
            host,
            ""
        ));
        assert!(!cross_site(
            Some("https://help.example.com"),
            Some("same-origin"),
            host,
            "https://help.example.com/gw"
        ));
        assert!(cross_site(Some("https://evil.example"), None, host, ""));
        assert!(cross_site(Some("null"), None, host, ""));
        assert!(cross_site(
            Some("http://gw.example.com:9999"),
            None,
            host,
            ""
        ));
        assert!(cross_site(None, Some("cross-site"), host, ""));
        assert!(cross_site(
            Some("http://gw.example.com:8080"),
            None,
            None,
            ""
        ));
    }
}
