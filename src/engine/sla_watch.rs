//! The SLA watcher: while an incident waits for an acknowledgement, send the pre-breach
//! warnings (page the support managers at the configured fractions of the external SLA) and
//! record each breach once. Every write is guarded in the database, so several instances may
//! run it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use crate::clock::Clock;
use crate::domain::sla::{warning_times, TierSla};
use crate::store::Store;
use crate::telemetry::Metrics;

pub struct SlaWatch {
    store: Store,
    clock: Arc<dyn Clock>,
    interval: std::time::Duration,
    dispatch_wake: Arc<Notify>,
    metrics: actix_web::web::Data<Metrics>,
}

impl SlaWatch {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        interval: std::time::Duration,
        dispatch_wake: Arc<Notify>,
        metrics: actix_web::web::Data<Metrics>,
    ) -> Self {
        Self {
            store,
            clock,
            interval,
            dispatch_wake,
            metrics,
        }
    }

    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let interval = self.interval;
        super::every("sla watch", interval, stop, || self.run_once()).await;
    }

    /// One round over the incidents still waiting for an acknowledgement: sends the warnings
    /// that are due and records the breaches; returns how many warnings and breaches it
    /// recorded.
    #[tracing::instrument(name = "sla watch round", skip_all, fields(waiting, recorded))]
    pub async fn run_once(&self) -> Result<usize, crate::store::StoreError> {
        let now = self.clock.now();
        let mut slas: HashMap<String, TierSla> = HashMap::new();
        let waiting = self.store.open_unacknowledged().await?;
        let span = tracing::Span::current();
        span.record("waiting", waiting.len());
        let mut recorded = 0;
        for incident in waiting {
            if !slas.contains_key(&incident.tier) {
                let sla = self.store.tier_sla(&incident.tier).await?;
                slas.insert(incident.tier.clone(), sla);
            }
            let sla = &slas[&incident.tier];
            let due: Vec<(f64, _)> = warning_times(
                incident.created_at,
                sla.external_response(),
                sla.coverage(),
                sla.warn_at(),
            )
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .collect();
            if let Some((fraction, _)) = due.last() {
                if due.len() as i64 > incident.warnings_sent {
                    let pages = self
                        .store
                        .record_sla_warning(&incident, due.len() as i64, *fraction, now)
                        .await?;
                    recorded += 1;
                    self.metrics
                        .sla_warnings
                        .with_label_values(&[incident.tier.as_str()])
                        .inc();
                    tracing::warn!(incident = %incident.id, fraction, "SLA warning: support managers paged");
                    if pages > 0 {
                        self.dispatch_wake.notify_one();
                    }
                }
            }
            for (external, deadline, breached) in [
                (false, incident.ack_due_at, incident.internal_breached),
                (true, incident.respond_due_at, incident.external_breached),
            ] {
                if !breached
                    && now >= deadline
                    && self.store.record_breach(&incident, external, now).await?
                {
                    recorded += 1;
                    let target = if external { "external" } else { "internal" };
                    self.metrics
                        .sla_breaches
                        .with_label_values(&[incident.tier.as_str(), target])
                        .inc();
                    tracing::error!(incident = %incident.id, target, "SLA target missed");
                }
            }
        }
        span.record("recorded", recorded);
        Ok(recorded)
    }
}
