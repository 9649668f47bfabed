//! The HTTP surface: one file per resource, thin handlers (parse, call domain and store, map).

pub mod admin;
pub mod admin_keys;
pub mod alerts;
pub mod calendars;
pub mod configuration;
pub mod contact_methods;
pub mod devices;
pub mod enrollment_codes;
pub mod escalation_links;
pub mod extract;
pub mod health;
pub mod incidents;
pub mod json;
pub mod me;
pub mod observe;
pub mod page;
pub mod problem;
pub mod readiness;
pub mod reports;
pub mod schedules;
pub mod staff;
pub mod teams;
pub mod tickets;
pub mod twilio;
pub mod validate;
pub mod waiting;
pub mod webhooks;

use actix_web::{web, HttpRequest, HttpResponse};

pub use json::Json;
pub use problem::{FieldError, Problem};

/// Registers every route and the problem+json answers for what matches none.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _req| {
        Problem::bad_request(format!("invalid query string: {err}")).into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _req| Problem::not_found(format!("invalid path: {err}")).into()),
    )
    .configure(health::configure)
    .configure(devices::configure)
    .configure(me::configure)
    .configure(admin::configure)
    .configure(admin_keys::configure)
    .configure(configuration::configure)
    .configure(enrollment_codes::configure)
    .configure(alerts::configure)
    .configure(incidents::configure)
    .configure(tickets::configure)
    .configure(escalation_links::configure)
    .configure(waiting::configure)
    .configure(schedules::configure)
    .configure(staff::configure)
    .configure(teams::configure)
    .configure(readiness::configure)
    .configure(reports::configure)
    .configure(webhooks::configure)
    .configure(calendars::configure)
    .configure(contact_methods::configure)
    .configure(twilio::configure)
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Responses that carry a token or secret must not be kept by any cache (RFC 6749 5.1).
pub(crate) fn no_store(
    mut builder: actix_web::HttpResponseBuilder,
) -> actix_web::HttpResponseBuilder {
    use actix_web::http::header;
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}
