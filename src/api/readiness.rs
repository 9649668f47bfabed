//! Admin: paging readiness, the steps of Gold customers' policies that would reach nobody,
//! with each person the step would page and why they cannot be reached (empty notification
//! policy, no verified method, dead push token, away).
//!
//! `GET /v1/admin/readiness` judges now, so an admin who just fixed something sees the
//! result at once; the stored problems (what `/readyz` counts and what the support managers
//! were told about) change at the readiness worker's next round.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::extract::Admin;
use super::Problem;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(readiness);
}

#[get("/v1/admin/readiness")]
async fn readiness(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let problems = state.store.readiness_now(now).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": if problems.is_empty() { "ok" } else { "degraded" },
        "checked_at": now,
        "problems": problems,
    })))
}
