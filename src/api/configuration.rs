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
use super::validate::Validator;
use super::webhooks::{check_endpoint, check_secret, generate_secret};
use super::{FieldError, Json, Problem};
use crate::domain::configuration::{export, Change, Document};
use crate::state::AppState;
use crate::store::configuration::{Applied, WebhookSecrets};

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
    // Webhook endpoints: the admin route's own checks, before anything is read or written.
    let mut v = Validator::new();
    for (i, w) in body.document.webhooks.iter().enumerate() {
        let prefix = format!("document.webhooks[{i}].");
        check_endpoint(&mut v, &state, &prefix, &w.url, &w.events);
        if let Some(secret) = &w.secret {
            check_secret(&mut v, &format!("{prefix}secret"), &secret.0);
        }
    }
    v.finish()?;
    let sealer = state.webhook_secrets.clone();
    let opener = state.webhook_secrets.clone();
    let secrets = WebhookSecrets {
        open: &move |stored: &str| opener.open(stored).ok(),
        seal: &move |secret: &str| sealer.seal(secret),
        generate: &generate_secret,
    };
    let applied = state
        .store
        .apply_configuration(
            &body.document,
            body.prune,
            body.dry_run,
            &secrets,
            &admin.actor(),
            state.clock.now(),
        )
        .await?;
    match applied {
        Applied::Planned(changes, generated) => {
            let lines: Vec<String> = changes.iter().flat_map(Change::lines).collect();
            // Shown once, like the admin route's answer: the receivers need them.
            let secrets: Vec<_> = generated
                .into_iter()
                .map(|g| json!({ "url": g.url, "secret": g.secret.0 }))
                .collect();
            Ok(super::no_store(HttpResponse::Ok()).json(json!({
                "applied": !body.dry_run && !changes.is_empty(),
                "dry_run": body.dry_run,
                "changes": changes,
                "plan": lines,
                "secrets": secrets,
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
