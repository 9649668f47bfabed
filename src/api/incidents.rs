//! Following an incident: its state, who acknowledged it and when, and its timeline.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::Problem;
use crate::auth::AnyDevice;
use crate::domain::identity::{DevicePrincipal, UserRole};
use crate::startup::AppState;
use crate::store::incidents::IncidentRow;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_incident);
}

/// Customers see their own organisation's incidents; responders those they are involved in
/// (account manager of the customer, or paged for it); support managers all.
async fn may_see(
    state: &AppState,
    who: &DevicePrincipal,
    incident: &IncidentRow,
) -> Result<bool, Problem> {
    Ok(match who.role {
        UserRole::Contact => who.customer_id.as_deref() == Some(incident.customer_id.as_str()),
        UserRole::SupportManager => true,
        UserRole::Responder => state.store.is_involved(&who.user_id, incident).await?,
    })
}

#[get("/v1/incidents/{id}")]
async fn get_incident(
    state: web::Data<AppState>,
    AnyDevice(who): AnyDevice,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let not_found = || Problem::not_found(format!("no incident {id}"));
    let incident = state.store.incident(&id).await?.ok_or_else(not_found)?;
    if !may_see(&state, &who, &incident).await? {
        return Err(not_found());
    }
    let timeline = state.store.timeline(&incident).await?;
    Ok(HttpResponse::Ok().json(json!({
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
        "sla": {
            "acknowledge_by": incident.ack_due_at,
            "respond_by": incident.respond_due_at,
        },
        "created_at": incident.created_at,
        "timeline": timeline,
    })))
}
