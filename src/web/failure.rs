//! What can go wrong on a console page: [`PageError`], the error every extractor and handler
//! of `web/` fails with. It sits below the extractors (`session`, `csrf`) that fail with it;
//! the HTML page each variant is shown as is `error_page`'s, above the layout.

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
