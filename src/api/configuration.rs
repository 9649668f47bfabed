//! Configuration as code over HTTP: `GET /v1/admin/configuration` returns the organisation as
//! one document (what `panic-gateway export` prints), `POST` plans a document against the
//! stored state and applies it in one transaction (what `panic-gateway apply` sends).
//!
//! Order of checks: the body's shape (422 naming the path, by the JSON extractor), then every
//! object with the rules the single admin routes use (domain constructors, references), then,
//! inside the write transaction, the escalation promise check. Any failure is one 422 whose
//! `errors[].field` are JSON paths into the document; nothing is changed.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::extract::Admin;
use super::{FieldError, Json, Problem};
use crate::domain::configuration::{export, Change, Document};
use crate::state::AppState;
use crate::store::configuration::Applied;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_configuration).service(apply_configuration);
}

#[get("/v1/admin/configuration")]
async fn get_configuration(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, Problem> {
    let current = state.store.configuration().await?;
    Ok(HttpResponse::Ok().json(export(&current)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    document: Document,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    prune: bool,
}

#[post("/v1/admin/configuration")]
async fn apply_configuration(
    state: web::Data<AppState>,
    admin: Admin,
    Json(body): Json<ApplyBody>,
) -> Result<HttpResponse, Problem> {
    let applied = state
        .store
        .apply_configuration(
            &body.document,
            body.prune,
            body.dry_run,
            &admin.actor(),
            state.clock.now(),
        )
        .await?;
    match applied {
        Applied::Planned(changes) => {
            let lines: Vec<String> = changes.iter().flat_map(Change::lines).collect();
            Ok(HttpResponse::Ok().json(json!({
                "applied": !body.dry_run && !changes.is_empty(),
                "dry_run": body.dry_run,
                "changes": changes,
                "plan": lines,
            })))
        }
        Applied::Refused(errors) => Err(Problem::validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("document.{}", e.path), e.reason))
                .collect(),
        )),
    }
}
