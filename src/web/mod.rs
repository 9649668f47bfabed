//! The browser side: the staff console, the customer's self-escalation page and the
//! acknowledge link of an e-mailed page.
//!
//! Pages are rendered on the server with maud (compile-time templates, escaped by default) and
//! every asset is embedded in the binary: nothing is fetched from a CDN and there is no separate
//! front-end build. Handlers are as thin as `api/`'s and call the same store functions; staff
//! sign in with a session cookie through this module's own extractor, as devices do with
//! `auth/`'s.
//!
//! The rooms: [`session`] (cookie, `StaffSession` and the role extractors), [`csrf`] (tokens
//! and `CsrfForm`), [`layout`] (the page every console page renders into), [`assets`] (CSS,
//! JS, htmx), [`failure`] (`PageError`, what every extractor and handler fails with),
//! [`error_page`] (how it is shown, as HTML), [`signin`] (sign-in/out, set password),
//! [`board`] and [`events`] (the live board), [`incident`] (one incident: timeline, pages,
//! notes), [`oncall`] (schedules, the week ahead, overrides), [`policies`] (escalation
//! policies and their edit form), [`staff`] (an admin page), [`escalate`] (the customer's
//! self-escalation page, no sign-in), [`ack`] (the acknowledge link of a paging e-mail),
//! [`people`] (customers, people, devices, enrollment codes as [`qr`] codes), [`sla`] (charts
//! drawn by [`chart`], CSV), [`webhooks`] (endpoints, deliveries, test events) and
//! [`contacts`] (a person's contact methods, their codes, and notification rules).
//!
//! A new console page, in short (the module docs of each room have the details):
//! ```ignore
//! #[get("/console/things")]
//! async fn things(state: web::Data<AppState>, ManagerSession(who): ManagerSession)
//!     -> Result<HttpResponse, PageError> {
//!     let body = html! { h1 { "Things" } form method="post" action="/console/things" {
//!         (csrf::field(&who)) button type="submit" { "Add" } } };
//!     Ok(layout::respond(layout::page("Things", Some(Nav::new(&who, Section::Things)), body)))
//! }
//! #[post("/console/things")]
//! async fn add(state: web::Data<AppState>, ManagerSession(who): ManagerSession,
//!     CsrfForm(form): CsrfForm<AddThing>) -> Result<HttpResponse, PageError> { … }
//! ```
//! The extractor in the signature is the access rule (`StaffSession`, `ManagerSession`,
//! `AdminSession`); `CsrfForm` refuses a forged POST with 403 before the handler runs.

pub mod ack;
pub mod assets;
pub mod board;
pub mod chart;
pub mod contacts;
pub mod csrf;
pub mod error_page;
pub mod escalate;
pub mod events;
pub mod failure;
pub mod incident;
pub mod layout;
pub mod oncall;
pub mod people;
pub mod policies;
pub mod qr;
pub mod session;
pub mod signin;
pub mod sla;
pub mod staff;
pub mod webhooks;

use actix_web::web;

/// Registers the browser routes. Called before `api::configure`, whose default service answers
/// everything no route matches with problem+json.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::configure)
        .configure(signin::configure)
        .configure(board::configure)
        .configure(events::configure)
        .configure(incident::configure)
        .configure(oncall::configure)
        .configure(policies::configure)
        .configure(staff::configure)
        .configure(people::configure)
        .configure(sla::configure)
        .configure(webhooks::configure)
        .configure(contacts::configure)
        .configure(escalate::configure)
        .configure(ack::configure);
}
