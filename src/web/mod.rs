//! The browser side: the staff console, the customer's self-escalation page and the
//! acknowledge link of an e-mailed page.
//!
//! Pages are rendered on the server with maud (compile-time templates, escaped by default) and
//! every asset is embedded in the binary: nothing is fetched from a CDN and there is no separate
//! front-end build. Handlers are as thin as `api/`'s and call the same store functions; staff
//! sign in with a session cookie through this module's own extractor, as devices do with
//! `auth/`'s.

pub mod ack;
pub mod escalate;

use actix_web::web;

/// Registers the browser routes. Called before `api::configure`, whose default service answers
/// everything no route matches with problem+json.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(escalate::configure).configure(ack::configure);
}
