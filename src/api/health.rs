//! Liveness (`/healthz`), readiness (`/readyz`) and the Prometheus scrape (`/metrics`, on the
//! main port or, with `metrics.listen`, only on a listener of its own).
//!
//! Liveness says only that the process answers; readiness says the gateway can take an alert:
//! the database answers and its schema is the one this binary expects. Readiness also reports,
//! without becoming unready, a push platform that is not configured or refuses our
//! configuration, a stored escalation policy that cannot keep its tier's SLA, and a Gold
//! customer's step that would reach nobody (`paging_readiness`, from the readiness check's
//! last round; who and why is on the admin route `/v1/admin/readiness`). Anyone who
//! can reach the port can read it, so it says what is wrong in a word; the details are logged.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use super::Problem;
use crate::domain::contact::Channel;
use crate::domain::platform::Platform;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The answer to anyone who can reach the port: what is wrong, in a word. The why (error
/// texts, host names, the arithmetic) goes to the log, where the operator looks anyway.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let not_ready = |reason: &'static str| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the gateway cannot take alerts right now; the reason is in its log",
        )
        .with_extension("reason", json!(reason))
    };
    if let Err(e) = state.store.ping().await {
        tracing::error!(error = %crate::error_chain::error_chain(&e), "not ready: database unreachable");
        return Err(not_ready("database"));
    }
    let migrations = match state.store.migration_state().await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "not ready: schema unknown");
            return Err(not_ready("schema"));
        }
    };
    if !migrations.is_current() {
        tracing::error!(
            applied = migrations.applied,
            expected = migrations.expected,
            "not ready: the schema is not the one this gateway needs"
        );
        return Err(not_ready("schema"));
    }
    // A push provider that is missing or rejects our configuration does not make the gateway
    // unready: alerts must still be accepted and the other platform paged. Neither does a
    // stored policy that cannot keep its tier's SLA: refusing to serve would page nobody.
    // Both are reported here, in the logs and in metrics, for an operator to act on.
    let mut platforms = serde_json::Map::new();
    for platform in [Platform::Ios, Platform::Android] {
        let status = if !state.providers.contains_key(&platform) {
            "not_configured"
        } else if let Some(problem) = state.provider_health.problem(platform.as_str()) {
            tracing::warn!(
                platform = platform.as_str(),
                problem,
                "push provider refuses our configuration"
            );
            "rejected_configuration"
        } else {
            "ok"
        };
        platforms.insert(platform.as_str().to_owned(), json!(status));
    }
    let push_ok = platforms.values().all(|s| s == "ok");
    // The channels besides push, alike; one left unconfigured is a choice (nobody can verify
    // a method of it), so only one that refuses our configuration degrades them.
    let mut channels = serde_json::Map::new();
    for channel in Channel::ALL.into_iter().filter(|c| *c != Channel::Push) {
        let status = if !state.channels.contains_key(&channel) {
            "not_configured"
        } else if let Some(problem) = state.provider_health.problem(channel.as_str()) {
            tracing::warn!(
                channel = channel.as_str(),
                problem,
                "channel provider refuses our configuration"
            );
            "rejected_configuration"
        } else {
            "ok"
        };
        channels.insert(channel.as_str().to_owned(), json!(status));
    }
    let channels_ok = channels.values().all(|s| s != "rejected_configuration");
    let misfits = match state.store.escalation_misfits().await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "not ready: policies unreadable");
            return Err(not_ready("database"));
        }
    };
    for m in &misfits {
        tracing::warn!(tier = %m.tier, policy = %m.policy, "escalation policy cannot keep its tier's SLA: {m}");
    }
    // A step that reaches nobody degrades, never fails, readiness: an unready gateway is taken
    // out of the load balancer and would accept no alert at all, while this one still pages
    // every step that can reach someone and falls back to the support managers. Only the
    // count is public; the people are on the admin route.
    let problems = match state.store.readiness_problems().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "not ready: readiness problems unreadable");
            return Err(not_ready("database"));
        }
    };
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": state.store.backend().name(),
        "schema_version": migrations.applied,
        "push": {
            "status": if push_ok { "ok" } else { "degraded" },
            "platforms": platforms,
        },
        "channels": {
            "status": if channels_ok { "ok" } else { "degraded" },
            "channels": channels,
        },
        "escalation": if misfits.is_empty() { json!({ "status": "ok" }) } else {
            json!({
                "status": "degraded",
                "policies_exceeding_sla": misfits.iter().map(|m| json!({
                    "tier": m.tier,
                    "policy_id": m.policy_id,
                })).collect::<Vec<_>>(),
            })
        },
        "paging_readiness": {
            "status": if problems.is_empty() { "ok" } else { "degraded" },
            "steps_reaching_nobody": problems.len(),
        },
    })))
}

/// On the main port: the scrape, unless it has a listener of its own (`metrics.listen`), in
/// which case this port knows no such route.
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    if !state.settings.metrics.listen.trim().is_empty() {
        return Err(Problem::not_found(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    Ok(scrape(&state))
}

/// The routes of the separate metrics listener: the scrape and nothing else.
pub fn configure_metrics_listener(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics_listener));
}

async fn metrics_listener(state: web::Data<AppState>) -> HttpResponse {
    scrape(&state)
}

fn scrape(state: &AppState) -> HttpResponse {
    if let Some(intake) = state.store.intake_stats() {
        use std::sync::atomic::Ordering::Relaxed;
        state.metrics.observe_intake(
            intake.queued.load(Relaxed),
            intake.batches.load(Relaxed),
            intake.presses.load(Relaxed),
            intake.largest_batch.load(Relaxed),
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
