//! Following and acting on an incident: its state and timeline; acknowledge and resolve.

use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::extract::{AnyDevice, ResponderDevice};
use super::{Json, Problem};
use crate::domain::access::{
    self, Acting, Action, Credential, DeviceOnRecord, Question, Refusal, Sight,
};
use crate::domain::customer_view::customer_event;
use crate::domain::identity::{DevicePrincipal, UserRole};
use crate::domain::incident::note_text;
use crate::domain::timeline::TimelineKind;
use crate::state::AppState;
use crate::store::escalation::StateChange;
use crate::store::incidents::IncidentRow;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_incident)
        .service(acknowledge)
        .service(resolve)
        .service(add_note)
        .service(my_incidents);
}

/// Whether `who` may see `incident` ([`access::sight`]); the store is asked whether they are
/// involved only when their role leaves it open.
pub(crate) async fn may_see(
    state: &AppState,
    who: &DevicePrincipal,
    incident: &IncidentRow,
) -> Result<bool, Problem> {
    Ok(
        match access::sight(who.role, who.customer_id.as_deref(), &incident.customer_id) {
            Sight::IfInvolved => state.store.is_involved(&who.user_id, incident).await?,
            decided => decided.given(false),
        },
    )
}

/// An incident as phones see it.
pub fn incident_view(incident: &IncidentRow) -> serde_json::Value {
    json!({
        "id": incident.id,
        "state": incident.state,
        "ticket_ref": incident.ticket_ref,
        "summary": incident.summary,
        "affected_service": incident.affected_service,
        "alert_count": incident.alert_count,
        "acknowledged_by": incident.acknowledged_by.as_ref().map(|id| json!({
            "user_id": id,
            "name": incident.acknowledged_by_name,
        })),
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "waiting_on_customer": incident.waiting_on_customer_since.is_some(),
        "waiting_on_customer_since": incident.waiting_on_customer_since,
        "sla": {
            "acknowledge_by": incident.ack_due_at,
            "respond_by": incident.respond_due_at,
        },
        "created_at": incident.created_at,
    })
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no incident {id}"))
}

#[get("/v1/incidents/{id}")]
async fn get_incident(
    state: web::Data<AppState>,
    AnyDevice(who): AnyDevice,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if !may_see(&state, &who, &incident).await? {
        return Err(not_found(&id));
    }
    let mut view = incident_view(&incident);
    let timeline = state.store.timeline(&incident).await?;
    // Responders need the whole record; a customer's contact sees the allow-listed part.
    view["timeline"] = if who.role == UserRole::Contact {
        json!(timeline
            .iter()
            .filter_map(|e| customer_event(e.at, TimelineKind::parse(&e.kind)?, &e.detail))
            .collect::<Vec<_>>())
    } else {
        json!(timeline)
    };
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
struct ActionBody {
    /// The token from the page's payload, for acting from the notification without an
    /// access token.
    ack_token: Option<String>,
}

/// Who is acting ([`access::who_acts`] decides): this gathers the facts the rule asks for
/// (the access token's device, the verified ack token, involvement, the token's device) and
/// turns a refusal into its problem.
async fn acting_user(
    state: &AppState,
    req: &HttpRequest,
    incident: &IncidentRow,
    body: Option<Json<ActionBody>>,
    action: Action,
) -> Result<String, Problem> {
    let mut credential = if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        let ResponderDevice(who) = ResponderDevice::extract(req).await?;
        Credential::Device {
            user_id: who.user_id,
            role: who.role,
            involved: None,
        }
    } else if let Some(token) = body.and_then(|Json(b)| b.ack_token) {
        let claims = state
            .tokens
            .verify_ack(&token, state.clock.now())
            .map_err(|e| Problem::unauthorized(e.to_string().replace("access", "ack")))?;
        Credential::AckToken {
            incident_id: claims.inc,
            device_id: claims.did,
            subject: claims.sub,
            device: None,
        }
    } else {
        Credential::Nothing
    };
    loop {
        match access::who_acts(action, &incident.id, &credential) {
            Acting::User(user_id) => return Ok(user_id),
            Acting::Refused(refusal) => return Err(refused(refusal)),
            Acting::Needs(Question::Involvement) => {
                if let Credential::Device {
                    user_id, involved, ..
                } = &mut credential
                {
                    *involved = Some(state.store.is_involved_to_act(user_id, incident).await?);
                }
            }
            Acting::Needs(Question::TokenDevice) => {
                if let Credential::AckToken {
                    device_id, device, ..
                } = &mut credential
                {
                    *device = Some(match state.store.device_principal(device_id).await? {
                        Some(d) => DeviceOnRecord::Found {
                            user_id: d.user_id,
                            revoked: d.revoked,
                        },
                        None => DeviceOnRecord::Missing,
                    });
                }
            }
        }
    }
}

/// The problem each refusal answers with (clients and tests read the slugs).
fn refused(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::NoCredential => {
            Problem::unauthorized("a responder access token or the page's ack_token is required")
        }
        Refusal::NotPaged => Problem::forbidden(
            "not-paged",
            "only a responder paged for this incident, or a support manager, may act on it",
        ),
        Refusal::WrongIncident => Problem::forbidden(
            "wrong-incident",
            "this ack token belongs to another incident",
        ),
        Refusal::AckTokenOnlyAcknowledges => Problem::forbidden(
            "ack-token-only-acknowledges",
            "an ack token only acknowledges; resolving needs a responder device's access token",
        ),
        Refusal::DeviceNotEnrolled => {
            Problem::unauthorized("the device this ack token was sent to is no longer enrolled")
        }
    }
}

async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: String,
    body: Option<Json<ActionBody>>,
    action: Action,
) -> Result<HttpResponse, Problem> {
    let incident = state
        .store
        .incident_to_act_on(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let user = acting_user(&state, &req, &incident, body, action).await?;
    let resolving = action == Action::Resolve;
    let incident =
        match crate::incident_actions::change_state(&state, &incident, &user, resolving).await? {
            StateChange::Applied { incident, .. } => *incident,
            StateChange::AlreadyDone => state
                .store
                .incident(&id)
                .await?
                .ok_or_else(|| not_found(&id))?,
            StateChange::NotFound => return Err(not_found(&id)),
            StateChange::Conflict(current) => {
                return Err(Problem::conflict(
                    "incident-resolved",
                    format!(
                        "the incident is {}; it can no longer be acknowledged",
                        current.as_str()
                    ),
                ))
            }
        };
    Ok(HttpResponse::Ok().json(incident_view(&incident)))
}

#[post("/v1/incidents/{id}/acknowledge")]
async fn acknowledge(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: Option<Json<ActionBody>>,
) -> Result<HttpResponse, Problem> {
    act(state, req, id.into_inner(), body, Action::Acknowledge).await
}

#[post("/v1/incidents/{id}/resolve")]
async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: Option<Json<ActionBody>>,
) -> Result<HttpResponse, Problem> {
    act(state, req, id.into_inner(), body, Action::Resolve).await
}

#[derive(Deserialize)]
struct NoteBody {
    text: String,
}

/// A note on the timeline, from a responder involved in the incident or a support manager.
/// The console's note form writes through the same store function and text rule.
#[post("/v1/incidents/{id}/notes")]
async fn add_note(
    state: web::Data<AppState>,
    ResponderDevice(who): ResponderDevice,
    id: web::Path<String>,
    Json(body): Json<NoteBody>,
) -> Result<HttpResponse, Problem> {
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if !may_see(&state, &who, &incident).await? {
        return Err(Problem::forbidden(
            "not-paged",
            "only a responder paged for this incident, or a support manager, may add a note",
        ));
    }
    let text = note_text(&body.text).map_err(|reason| Problem::field("text", reason))?;
    let note = state
        .store
        .add_incident_note(
            &incident,
            &who.user_id,
            &format!("user:{}", who.user_id),
            &text,
            state.clock.now(),
        )
        .await?;
    Ok(HttpResponse::Created().json(note))
}

#[get("/v1/responders/me/incidents")]
async fn my_incidents(
    state: web::Data<AppState>,
    ResponderDevice(who): ResponderDevice,
) -> Result<HttpResponse, Problem> {
    let ids = state.store.responder_incident_ids(&who.user_id).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(incident) = state.store.incident(&id).await? {
            out.push(incident_view(&incident));
        }
    }
    Ok(HttpResponse::Ok().json(out))
}
