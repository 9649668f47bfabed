//! The escalator: when a step's acknowledgement window passes without an acknowledgement,
//! page the next step (or mark the incident unanswered when the policy is exhausted). Its
//! round also fans out any customer update an acknowledgement or resolution left pending.
//!
//! Each advance is guarded in the database by the incident's position, so any number of
//! gateway instances may run this loop at once and each deadline advances exactly once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use crate::clock::Clock;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationSettings {
    /// Run the escalator in this instance.
    pub enabled: bool,
    /// How often to look for passed acknowledgement deadlines, in milliseconds.
    pub sweep_interval_ms: u64,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sweep_interval_ms: 1000,
        }
    }
}

pub struct Escalator {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: EscalationSettings,
    dispatch_wake: Arc<Notify>,
}

impl Escalator {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: EscalationSettings,
        dispatch_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            dispatch_wake,
        }
    }

    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let interval = std::time::Duration::from_millis(self.settings.sweep_interval_ms);
        // The escalations first: they matter more than the customer's updates.
        super::every("escalator", interval, stop, || async {
            let advanced = self.run_once().await?;
            self.fan_out_pending_updates().await?;
            Ok(advanced)
        })
        .await;
    }

    /// One round: advances every incident whose deadline has passed (at most 100); returns
    /// how many it advanced.
    #[tracing::instrument(name = "escalator round", skip_all, fields(due, advanced))]
    pub async fn run_once(&self) -> Result<usize, crate::store::StoreError> {
        let now = self.clock.now();
        let due = self.store.due_escalations(now, 100).await?;
        let span = tracing::Span::current();
        span.record("due", due.len());
        let mut advanced = 0;
        for incident in due {
            if let Some(escalated) = self.store.advance_escalation(&incident, now).await? {
                advanced += 1;
                match escalated.position {
                    Some(position) => {
                        tracing::info!(incident = %incident.incident_id, %position, pages = escalated.pages, "escalated")
                    }
                    None => {
                        tracing::warn!(incident = %incident.incident_id, "escalation policy exhausted: incident unanswered")
                    }
                }
                if escalated.pages > 0 {
                    self.dispatch_wake.notify_one();
                }
            }
        }
        span.record("advanced", advanced);
        Ok(advanced)
    }

    /// Fans out the customer updates whose fan-out did not follow their change (the gateway
    /// stopped, or the database was away meanwhile), at most 100; returns how many
    /// deliveries that queued.
    pub async fn fan_out_pending_updates(&self) -> Result<usize, crate::store::StoreError> {
        let queued = self
            .store
            .fan_out_pending_customer_updates(self.clock.now(), 100)
            .await?;
        if queued > 0 {
            self.dispatch_wake.notify_one();
        }
        Ok(queued)
    }
}
