//! Background workers. Each owns one job, runs in a loop, and is safe with several gateway
//! instances on one PostgreSQL database.

pub mod dispatcher;
pub mod escalator;
pub mod idempotency_pruner;
pub mod sla_watch;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::StoreError;

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
            tracing::warn!(worker, error = %crate::api::problem::error_chain(&e), "round failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}
