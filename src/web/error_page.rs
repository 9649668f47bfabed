//! What the console answers when a page cannot be shown: an HTML page with the right status,
//! never problem+json (that is the API's). Every extractor and handler of `web/` fails with a
//! [`PageError`] (defined below the extractors, in [`super::failure`]); this is how each is
//! shown, in the page layout, so it sits above [`super::layout`].

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use super::failure::PageError;
use super::layout;
use crate::store::StoreError;

/// `next` as a query value.
pub fn encode_next(next: &str) -> String {
    url::form_urlencoded::byte_serialize(next.as_bytes()).collect()
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
            let to = format!("/console/sign-in?next={}", encode_next(next));
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
