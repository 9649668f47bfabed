//! The idempotency-key pruner: forgets the stored answers to panic presses once no phone can
//! still be retrying them.
//!
//! A key must outlive every retry of its press, so its retention is at least a day
//! (`intake.idempotency_retention_hours`, refused below 24 at start). Without pruning the
//! table grows by one row per press forever. Each round deletes expired keys in bounded
//! batches, each batch its own short write transaction, so intake is never held up for
//! long; a round stops after a bounded number of batches and the next one continues. Deleting
//! an expired key twice is harmless, so any number of gateway instances may run this.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// The shortest retention accepted: a phone may keep retrying a press for hours.
pub const MIN_RETENTION_HOURS: u64 = 24;
/// Keys deleted per transaction.
const BATCH: u32 = 500;
/// Batches per round at most; the rest waits for the next round.
const MAX_BATCHES_PER_ROUND: usize = 20;

pub struct IdempotencyPruner {
    store: Store,
    clock: Arc<dyn Clock>,
    retention: Duration,
    interval: StdDuration,
}

impl IdempotencyPruner {
    /// `retention`: how long a key is kept; `interval`: how often a round runs.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        retention: Duration,
        interval: StdDuration,
    ) -> Self {
        Self {
            store,
            clock,
            retention,
            interval,
        }
    }

    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        super::every("idempotency_pruner", self.interval, stop, || {
            self.run_once()
        })
        .await;
    }

    /// One round: deletes keys older than the retention, in bounded batches; returns how many.
    #[tracing::instrument(name = "idempotency pruner round", skip_all, fields(pruned))]
    pub async fn run_once(&self) -> Result<u64, StoreError> {
        let cutoff = self.clock.now() - self.retention;
        let mut pruned = 0;
        for _ in 0..MAX_BATCHES_PER_ROUND {
            let n = self.store.prune_idempotency_keys(cutoff, BATCH).await?;
            pruned += n;
            if n < u64::from(BATCH) {
                break;
            }
        }
        tracing::Span::current().record("pruned", pruned);
        if pruned > 0 {
            tracing::info!(pruned, "expired idempotency keys pruned");
        }
        Ok(pruned)
    }
}
