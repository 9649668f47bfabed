//! What the console answers when a page cannot be shown: an HTML page with the right status,
//! never problem+json (that is the API's). Every extractor and handler of `web/` fails with a
//! [`PageError`].

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use super::layout;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No live session: to the sign-in page, then back to `next`.
    #[error("sign-in required")]
    SignIn { next: String, htmx: bool },
    /// Signed in, but the page is for another role; the text says whose it is.
    #[error("forbidden")]
    Forbidden(String),
    #[error("not found")]
    NotFound(String),
    /// A state-changing request without the session's CSRF token, or from another origin.
    #[error("CSRF check failed")]
    Csrf,
    /// A form that does not parse (only a hand-made request sends one).
    #[error("bad form")]
    BadForm(String),
    /// Too many failed sign-ins; try again in `secs`.
    #[error("too many attempts")]
    TooMany { secs: u64 },
    /// Every place for unauthenticated work is taken right now.
    #[error("busy")]
    Busy,
    #[error("store")]
    Store(#[from] StoreError),
}

impl PageError {
    fn text(&self) -> (&'static str, String) {
        match self {
            PageError::SignIn { .. } => ("Sign in", "Please sign in.".into()),
            PageError::Forbidden(who) => (
                "Not for your role",
                format!("This page is for {who}. Ask an admin if you need it."),
            ),
            PageError::NotFound(what) => ("Not found", what.clone()),
            PageError::BadForm(why) => ("Bad form", format!("The form could not be read: {why}")),
            PageError::Csrf => (
                "Form expired",
                "This form could not be checked (it is old, or it was sent from another site). \
                 Nothing was changed. Go back, reload the page and try again."
                    .into(),
            ),
            PageError::TooMany { secs } => (
                "Too many attempts",
                format!("Too many failed sign-ins. Try again in {secs} seconds."),
            ),
            PageError::Busy => (
                "Busy",
                "The gateway is busy right now; try again in a moment.".into(),
            ),
            PageError::Store(StoreError::Unavailable(_)) => (
                "Database unavailable",
                "The database is unavailable right now; try again in a moment.".into(),
            ),
            PageError::Store(_) => (
                "Something went wrong",
                "The gateway could not show this page; the error is in its log.".into(),
            ),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::Forbidden(_) | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadForm(_) => StatusCode::BAD_REQUEST,
            PageError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            PageError::Busy | PageError::Store(StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            PageError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignIn { next, htmx } = self {
            let to = format!("/console/sign-in?next={}", super::signin::encode_next(next));
            // htmx follows a redirect inside the page it is updating; HX-Redirect makes it
            // load the sign-in page as a whole instead.
            return if *htmx {
                HttpResponse::Ok()
                    .insert_header(("HX-Redirect", to))
                    .finish()
            } else {
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to))
                    .finish()
            };
        }
        if let PageError::Store(e) = self {
            tracing::error!(error = %crate::error_chain::error_chain(e), "a console page failed");
        }
        let (title, text) = self.text();
        let mut builder = HttpResponse::build(self.status_code());
        match self {
            PageError::TooMany { secs } => {
                builder.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            PageError::Busy | PageError::Store(StoreError::Unavailable(_)) => {
                builder.insert_header((header::RETRY_AFTER, "2"));
            }
            _ => {}
        }
        let body = html! {
            section.card.narrow {
                h1 { (title) }
                p.message { (text) }
                p { a href="/console" { "Back to the board" } }
            }
        };
        layout::respond_with(builder, layout::page(title, None, body))
    }
}
