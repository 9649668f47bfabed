//! Liveness (`/healthz`), readiness (`/readyz`) and the Prometheus scrape (`/metrics`).
//!
//! Liveness says only that the process answers; readiness says the gateway can take an alert:
//! the database answers and its schema is the one this binary expects.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::Problem;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let not_ready = |detail: String| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            detail,
        )
        .with_extension("status", json!("not ready"))
    };
    if let Err(e) = state.store.ping().await {
        return Err(not_ready(format!(
            "database unreachable: {}",
            super::problem::error_chain(&e)
        )));
    }
    let migrations = state
        .store
        .migration_state()
        .await
        .map_err(|e| not_ready(format!("schema unknown: {e}")))?;
    if !migrations.is_current() {
        return Err(not_ready(format!(
            "schema at version {}, this gateway needs {}",
            migrations.applied, migrations.expected
        )));
    }
    // A push provider that rejects our configuration does not make the gateway unready:
    // alerts must still be accepted and the other platform paged. It is reported here, in the
    // logs and in metrics, for an operator to act on.
    let push_problems = state.provider_health.problems();
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": state.store.backend().name(),
        "schema_version": migrations.applied,
        "push": if push_problems.is_empty() { json!({ "status": "ok" }) } else {
            json!({ "status": "degraded", "problems": push_problems })
        },
    })))
}

#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
