//! Background workers. Each owns one job, runs in a loop, and is safe with several gateway
//! instances on one PostgreSQL database.
//!
//! Every worker has one public `run_once`: do whatever is due now, as one round of its loop
//! does. The loops call it on their interval; [`Engine::run_due_work`] calls them all until
//! nothing is due, so tests (as zero-to-production's `dispatch_all_pending_emails` and
//! GoAlert's `Trigger` do) drive the engine after moving the clock instead of waiting for a
//! sweep, and can prove that something did not happen without sleeping.

pub mod dispatcher;
pub mod escalator;
pub mod idempotency_pruner;
pub mod readiness;
pub mod sla_watch;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::StoreError;

use self::dispatcher::Dispatcher;
use self::escalator::Escalator;
use self::idempotency_pruner::IdempotencyPruner;
use self::readiness::ReadinessWorker;
use self::sla_watch::SlaWatch;
use self::webhooks::WebhookSender;

/// The loop every periodic worker runs: a round, then a pause of `interval` (cut short by
/// `stop`), until `stop` turns true. A failed round is logged and tried again next time.
pub(crate) async fn every<T, F, Fut>(
    worker: &'static str,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    while !*stop.borrow() {
        if let Err(e) = round().await {
            tracing::warn!(worker, error = %crate::error_chain::error_chain(&e), "round failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The workers one gateway instance runs; `None` for a worker its settings turn off. Cheap to
/// clone: the loops and [`Engine::run_due_work`] share the same workers, so their claims,
/// busy endpoints and metrics are one instance's.
#[derive(Clone)]
pub struct Engine {
    pub dispatcher: Option<Arc<Dispatcher>>,
    pub webhooks: Option<Arc<WebhookSender>>,
    pub escalator: Option<Arc<Escalator>>,
    pub sla_watch: Option<Arc<SlaWatch>>,
    pub idempotency_pruner: Arc<IdempotencyPruner>,
    pub readiness: Option<Arc<ReadinessWorker>>,
}

/// What [`Engine::run_due_work`] did, summed over its passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueWork {
    /// Escalation steps advanced (or policies found exhausted).
    pub escalated: usize,
    /// Deliveries queued by fanning out customer updates left pending.
    pub customer_updates: usize,
    /// SLA warnings and breaches recorded.
    pub sla_events: usize,
    /// Push deliveries claimed and tried.
    pub deliveries: usize,
    /// Webhooks claimed and tried.
    pub webhooks: usize,
    /// Expired idempotency keys deleted.
    pub keys_pruned: u64,
    /// Shift reminders planned, readiness problems told and notices sent.
    pub readiness: usize,
    /// Passes over all workers, the last of which found nothing due when `settled`.
    pub passes: usize,
    pub settled: bool,
}

impl DueWork {
    fn total(&self) -> u64 {
        (self.escalated
            + self.customer_updates
            + self.sla_events
            + self.deliveries
            + self.webhooks
            + self.readiness) as u64
            + self.keys_pruned
    }
}

impl Engine {
    /// Passes at most: every pass does real work or ends the drive, and work only creates
    /// other work a few steps deep (an escalation queues pages, a page queues nothing).
    const MAX_PASSES: usize = 20;

    /// Starts each worker's loop.
    pub fn spawn(&self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut workers = Vec::new();
        if let Some(dispatcher) = &self.dispatcher {
            workers.push(tokio::spawn(dispatcher.clone().run(stop.clone())));
        }
        if let Some(webhooks) = &self.webhooks {
            workers.push(tokio::spawn(webhooks.clone().run(stop.clone())));
        }
        workers.push(tokio::spawn(
            self.idempotency_pruner.clone().run(stop.clone()),
        ));
        if let Some(escalator) = &self.escalator {
            workers.push(tokio::spawn(escalator.clone().run(stop.clone())));
        }
        if let Some(sla_watch) = &self.sla_watch {
            workers.push(tokio::spawn(sla_watch.clone().run(stop.clone())));
        }
        if let Some(readiness) = &self.readiness {
            workers.push(tokio::spawn(readiness.clone().run(stop)));
        }
        workers
    }

    /// Runs every worker's round, in the order work flows (deadlines, then SLA, then the
    /// sends they queued), again and again until a pass finds nothing due or
    /// [`Self::MAX_PASSES`] is reached (`settled` false). The clock is not moved: what is
    /// due later stays for later. Each round waits for the sends it started, so a receiver
    /// that hangs holds this up until the request timeout; work the loops have already
    /// claimed is theirs, and is not waited for.
    #[tracing::instrument(name = "due work", skip_all, fields(passes, settled))]
    pub async fn run_due_work(&self) -> Result<DueWork, StoreError> {
        let mut done = DueWork::default();
        while done.passes < Self::MAX_PASSES {
            let before = done.total();
            done.passes += 1;
            if let Some(escalator) = &self.escalator {
                done.escalated += escalator.run_once().await?;
                done.customer_updates += escalator.fan_out_pending_updates().await?;
            }
            if let Some(sla_watch) = &self.sla_watch {
                done.sla_events += sla_watch.run_once().await?;
            }
            if let Some(dispatcher) = &self.dispatcher {
                done.deliveries += dispatcher.run_once().await?;
            }
            if let Some(webhooks) = &self.webhooks {
                done.webhooks += webhooks.run_once().await?;
            }
            if let Some(readiness) = &self.readiness {
                let work = readiness.run_once().await?;
                done.readiness += work.reminders_planned + work.problems_told + work.notices_sent;
            }
            done.keys_pruned += self.idempotency_pruner.run_once().await?;
            if done.total() == before {
                done.settled = true;
                break;
            }
        }
        let span = tracing::Span::current();
        span.record("passes", done.passes);
        span.record("settled", done.settled);
        Ok(done)
    }
}
