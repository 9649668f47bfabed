//! Acknowledging and resolving an incident as a person, and what follows: the
//! time-to-acknowledge metric and waking the dispatcher for the customer's notices. Below
//! both HTTP layers: the phones' routes (`api/incidents.rs`) and the console's buttons
//! (`web/board.rs`) act through here; each checks first that the person may.

use crate::domain::sla::covered_duration;
use crate::state::AppState;
use crate::store::escalation::StateChange;
use crate::store::incidents::IncidentRow;
use crate::store::StoreError;

/// Acknowledges or resolves `incident` as `user`, who may (the caller has checked), and does
/// what follows: the time-to-acknowledge metric, and waking the dispatcher for the customer's
/// notices. The phones' routes and the console's buttons both act through here.
pub async fn change_state(
    state: &AppState,
    incident: &IncidentRow,
    user: &str,
    resolving: bool,
) -> Result<StateChange, StoreError> {
    let now = state.clock.now();
    let change = if resolving {
        state
            .store
            .resolve_incident(&incident.id, user, now)
            .await?
    } else {
        state
            .store
            .acknowledge_incident(&incident.id, user, now)
            .await?
    };
    if let StateChange::Applied {
        customer_notices,
        sla,
        ..
    } = &change
    {
        if !resolving {
            let waited = covered_duration(incident.created_at, now, sla.coverage());
            state
                .metrics
                .ack_latency
                .with_label_values(&[incident.tier.as_str()])
                .observe(waited.num_milliseconds() as f64 / 1000.0);
        }
        if *customer_notices > 0 {
            state.dispatch_wake.notify_one();
        }
    }
    Ok(change)
}
