//! Acknowledging and resolving an incident as a person, and what follows: the
//! time-to-acknowledge metric and the customer's update, fanned out to their phones. Below
//! both HTTP layers: the phones' routes (`api/incidents.rs`) and the console's buttons
//! (`web/board.rs`) act through here; each checks first that the person may.

use crate::domain::sla::covered_duration;
use crate::state::AppState;
use crate::store::escalation::StateChange;
use crate::store::incidents::IncidentRow;
use crate::store::StoreError;

/// Acknowledges or resolves `incident` as `user`, who may (the caller has checked), and does
/// what follows: the time-to-acknowledge metric, and fanning the customer's update out to their
/// phones once answered. The phones' routes and the console's buttons both act through here.
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
        customer_update,
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
        fan_out(state, customer_update.clone());
    }
    Ok(change)
}

/// Fans the customer's update out to their phones after the answer, not before it: the
/// update is already durable, and if this fails or the gateway stops first, the escalator's
/// round fans it out.
fn fan_out(state: &AppState, update: String) {
    let (store, clock, wake) = (
        state.store.clone(),
        state.clock.clone(),
        state.dispatch_wake.clone(),
    );
    tokio::spawn(async move {
        match store.fan_out_customer_update(&update, clock.now()).await {
            Ok(0) => {}
            Ok(_) => wake.notify_one(),
            Err(e) => {
                tracing::warn!(update = %update, error = %e, "customer update not fanned out yet: the escalator will")
            }
        }
    });
}
