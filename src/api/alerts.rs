//! `POST /v1/alerts`: the panic button. Never lose a press, never open two incidents for one
//! press, never page anyone for something that is not P1.
//!
//! Order of checks: a customer device (401/403), a Gold customer (403, audited), an
//! `Idempotency-Key` (400), a well-formed body (400/422). Then one transaction records the
//! press, its ticket and incident, the first page deliveries and the answer; the dispatcher is
//! woken after commit. No push provider is called from here. A press is never refused for
//! volume: past the flood guard (`[intake]`) it joins the newest open incident, and the answer
//! says why (`joined_because`) and whether anyone is paged (`paged`).

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::json;

use super::extract::CustomerDevice;
use super::validate::Validator;
use super::{json as body, FieldError, Json, Problem};
use crate::auth::secrets::digest;
use crate::domain::idempotency_key::IdempotencyKey;
use crate::domain::identity::DevicePrincipal;
use crate::domain::p1_definition::{Classification, P1Answers};
use crate::state::AppState;
use crate::store::incidents::{AlertOutcome, AlertRecord, Intake, NewAlert, StoredResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_alert).service(get_alert);
}

/// A customer device of a customer whose tier has the panic button, checked fresh on every
/// press: a downgrade bites on the next one.
pub struct PanicCaller(pub DevicePrincipal);

impl FromRequest for PanicCaller {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let device = CustomerDevice::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let CustomerDevice(principal) = device.await?;
            if principal.panic_button {
                return Ok(PanicCaller(principal));
            }
            if let Some(state) = state {
                state
                    .store
                    .audit_refused_alert(
                        &principal.device_id,
                        principal.customer_id.as_deref().unwrap_or_default(),
                        "tier has no panic button",
                        state.clock.now(),
                    )
                    .await?;
            }
            Err(Problem::forbidden(
                "panic-button-not-in-tier",
                format!(
                    "the panic button is a Gold feature; your organisation's tier is {}. \
                     Open a ticket with your helpdesk instead.",
                    principal.tier.as_deref().unwrap_or("unknown")
                ),
            ))
        })
    }
}

/// The `Idempotency-Key` header, parsed by [`IdempotencyKey::parse`].
impl FromRequest for IdempotencyKey {
    type Error = Problem;
    type Future = std::future::Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = req
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().map(str::trim));
        std::future::ready(match key {
            None => Err(header_problem("the Idempotency-Key header is required: send a fresh UUID per press and reuse it on retries")),
            Some(Ok(k)) => IdempotencyKey::parse(k).map_err(header_problem),
            Some(Err(_)) => Err(header_problem(IdempotencyKey::RULE)),
        })
    }
}

fn header_problem(detail: &str) -> Problem {
    let mut p = Problem::bad_request(detail);
    p.errors = vec![FieldError::new("Idempotency-Key", detail)];
    p
}

/// A press that passed every check, and the digest its idempotency key is bound to.
#[derive(Debug)]
pub struct PressInput {
    pub summary: String,
    pub details: Option<String>,
    pub affected_service: String,
    pub p1: P1Answers,
    pub ticket_ref: Option<String>,
    pub app_local_time: Option<String>,
    pub digest: String,
}

/// Parses and validates a press body: pure, so the fuzz target drives exactly this. Errors
/// are problems naming the field.
pub fn check_press(raw: serde_json::Value) -> Result<PressInput, Problem> {
    let digest = digest(&raw.to_string());
    let request: AlertRequest = body::from_value(raw)?;
    let mut v = Validator::new();
    let summary = v.text("summary", &request.summary, 200);
    let details = v.optional_text("details", request.details.as_deref(), 5000);
    let affected_service = v.text("affected_service", &request.affected_service, 100);
    let ticket_ref = v.optional_text("ticket_ref", request.ticket_ref.as_deref(), 64);
    if let Some(t) = &request.app_local_time {
        if chrono::DateTime::parse_from_rfc3339(t).is_err() {
            v.error(
                "app_local_time",
                "must be an RFC 3339 date-time, e.g. 2026-11-22T19:05:00+01:00",
            );
        }
    }
    v.finish()?;
    Ok(PressInput {
        summary,
        details,
        affected_service,
        p1: request.p1,
        ticket_ref,
        app_local_time: request.app_local_time,
        digest,
    })
}

#[derive(Deserialize)]
struct AlertRequest {
    summary: String,
    details: Option<String>,
    affected_service: String,
    p1: P1Answers,
    ticket_ref: Option<String>,
    /// The phone's local time at the press (RFC 3339), kept for the record.
    app_local_time: Option<String>,
}

/// The answer to a recorded press; stored with the idempotency key, so a retry gets it too.
fn render(record: &AlertRecord, classification: &Classification) -> StoredResponse {
    let classification = json!({
        "matched_rule": classification.matched_rule,
        "unmet_criteria": classification.unmet_criteria,
        "explanation": classification.explanation(),
    });
    // A press always has its alert row; only an escalation link's answer has none.
    let alert_id = record.alert_id.as_deref().unwrap_or_default();
    let links = |incident: Option<&str>| {
        json!({
            "alert": format!("/v1/alerts/{alert_id}"),
            "incident": incident.map(|id| format!("/v1/incidents/{id}")),
        })
    };
    let (status, body) = match (&record.incident, record.outcome) {
        (Some(incident), outcome) => (
            if outcome == AlertOutcome::Joined {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            },
            json!({
                "alert_id": alert_id,
                "outcome": outcome,
                "priority": record.priority,
                "classification": classification,
                "ticket_ref": record.ticket_ref,
                "incident": {
                    "id": incident.id,
                    "state": incident.state,
                    "alert_count": incident.alert_count,
                    "acknowledged_by": incident.acknowledged_by_name,
                    "created_at": incident.created_at,
                },
                "paged": record.paged,
                "paging": {
                    "first": record.paging.first(),
                    "targets": record.paging,
                    "restarted": record.restarted,
                    "detail": paging_detail(record),
                },
                "joined_because": record.join_reason,
                "sla": {
                    "acknowledge_by": incident.ack_due_at,
                    "respond_by": incident.respond_due_at,
                },
                "links": links(Some(&incident.id)),
            }),
        ),
        (None, _) => (
            StatusCode::ACCEPTED,
            json!({
                "alert_id": alert_id,
                "outcome": record.outcome,
                "priority": record.priority,
                "classification": classification,
                "ticket_ref": record.ticket_ref,
                "paged": false,
                "links": links(None),
            }),
        ),
    };
    StoredResponse {
        status: status.as_u16(),
        body: body.to_string(),
    }
}

/// One sentence on who is paged, for the phone to show as it is.
fn paging_detail(record: &AlertRecord) -> String {
    let names = || {
        record
            .paging
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (record.paged, record.paging.is_empty(), record.restarted) {
        (false, _, _) => "Nobody could be paged: no responder or support manager has a phone \
                          that can receive pages. The helpdesk has been alerted; call it."
            .to_owned(),
        (true, false, true) => format!(
            "Nobody had answered yet, so paging started again from the first step: {}.",
            names()
        ),
        (true, false, false) => format!("Paging {}.", names()),
        (true, true, _) => match record
            .incident
            .as_ref()
            .and_then(|i| i.acknowledged_by_name.as_deref())
        {
            Some(name) => format!("Added to the open incident; {name} is on it."),
            None => "Added to the open incident; its responders are already paged.".to_owned(),
        },
    }
}

#[post("/v1/alerts")]
async fn create_alert(
    state: web::Data<AppState>,
    PanicCaller(caller): PanicCaller,
    key: IdempotencyKey,
    Json(raw): Json<serde_json::Value>,
) -> Result<HttpResponse, Problem> {
    let request = check_press(raw)?;
    let classification = state.settings.p1.classify(&request.p1);
    let now = state.clock.now();
    let alert = NewAlert {
        customer_id: caller.customer_id.clone().unwrap_or_default(),
        user_id: caller.user_id.clone(),
        device_id: caller.device_id.clone(),
        tier_id: caller.tier.clone().unwrap_or_default(),
        idempotency_key: key.as_str().to_owned(),
        request_digest: request.digest,
        summary: request.summary,
        details: request.details,
        affected_service: request.affected_service,
        answers: request.p1,
        ticket_ref: request.ticket_ref,
        app_local_time: request.app_local_time,
        classification: classification.clone(),
        flood: state.settings.intake.flood_guard(),
    };
    let answer = classification.clone();
    let outcome = state
        .store
        .record_alert(alert, now, Box::new(move |record| render(record, &answer)))
        .await?;
    let response = match outcome {
        Intake::Recorded { response, pages } => {
            state
                .metrics
                .alerts
                .with_label_values(&[classification.priority.as_str()])
                .inc();
            if pages > 0 {
                state.dispatch_wake.notify_one();
            }
            response
        }
        Intake::Replay(response) => response,
        Intake::KeyReused => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was already used for a different request; use a new key \
                 for a new press",
            ))
        }
        Intake::UnknownTicket => {
            return Err(Problem::field(
                "ticket_ref",
                "no ticket with this reference belongs to your organisation",
            ))
        }
    };
    Ok(
        HttpResponse::build(StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK))
            .content_type("application/json")
            .body(response.body),
    )
}

#[get("/v1/alerts/{id}")]
async fn get_alert(
    state: web::Data<AppState>,
    device: CustomerDevice,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let alert = state
        .store
        .alert(&id)
        .await?
        .filter(|a| a.customer_id == device.customer_id())
        .ok_or_else(|| Problem::not_found(format!("no alert {id}")))?;
    let incident = match &alert.incident_id {
        Some(i) => state.store.incident(i).await?,
        None => None,
    };
    Ok(HttpResponse::Ok().json(json!({
        "alert": alert,
        "incident": incident.map(|i| json!({
            "id": i.id,
            "state": i.state,
            "acknowledged_by": i.acknowledged_by_name,
            "acknowledged_at": i.acknowledged_at,
            "resolved_at": i.resolved_at,
        })),
    })))
}
