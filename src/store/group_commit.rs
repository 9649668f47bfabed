//! Group commit for panic presses.
//!
//! A press used to be a transaction of its own: its statements, then a commit (an fsync), and
//! on PostgreSQL a lock on the customer's row held for all of it. Under a burst the presses
//! queued for the write turn (SQLite) or the customer lock (PostgreSQL) one transaction at a
//! time, and on PostgreSQL they queued for the connection pool too, which answered 503 once
//! its wait ran out: a customer in a P1 crisis told to try again.
//!
//! Now each press is handed to an intake *lane* and waits for its answer. A lane records
//! whatever queued while its previous commit was in flight as one transaction: each press in
//! a savepoint of its own, so one that fails (text PostgreSQL cannot store, a deadlock) is
//! rolled back alone and answered with its own error while the others are kept; then one
//! commit for all. Every caller is answered only after that commit returned, so an answered
//! press is durable. An idle gateway adds no waiting: a press that finds its lane free is a
//! batch of one (without savepoints). The pages the presses queue are kept in the transaction
//! and written together just before the commit, a few multi-row `INSERT`s for the whole batch
//! (a press's pages are dropped with its savepoint if it is rolled back). The batch's
//! idempotency keys are read in one statement at its start, and each press stores its key
//! together with its answer at its end, one statement where a claim and an answer were two.
//!
//! Each lane has a connection of its own, so presses never wait for a connection that page
//! deliveries, the console or the escalator hold, and never time out on the pool: under
//! overload they wait in their lane and batches grow. Each lane also runs on a thread of its
//! own ([`super::TurnThread`]): a batch is a chain of statements, each a round trip, and on
//! the shared runtime every answer waited until a worker busy with HTTP and TLS came round to
//! the lane. SQLite has one lane (one writer anyway). PostgreSQL has [`POSTGRES_LANES`]; a
//! customer's presses always go to the same lane, so the customer row lock a P1 takes (see
//! `record_p1`) is never waited for across lanes, and batches do not deadlock on each other.
//!
//! A PostgreSQL transaction with more than 64 subtransactions overflows the per-backend
//! subtransaction cache and slows every other session's snapshots, so a batch holds at most
//! [`MAX_BATCH`] presses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::incidents::{
    record_press, stored_key, stored_keys, Intake, NewAlert, Render, StoredKey,
};
use super::{Backend, Store, StoreError, Tx};

/// Presses in one transaction at most (see the module docs).
pub const MAX_BATCH: usize = 48;

/// Intake lanes on PostgreSQL.
pub const POSTGRES_LANES: usize = 4;

/// PostgreSQL's SQLSTATE for a transaction it ended to break a deadlock.
const DEADLOCK_DETECTED: &str = "40P01";

/// How often a press that ran into a deadlock is run again within its batch.
const DEADLOCK_ATTEMPTS: usize = 3;

struct Job {
    alert: NewAlert,
    now: DateTime<Utc>,
    render: Render,
    reply: oneshot::Sender<Result<Intake, StoreError>>,
}

/// Counts since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct IntakeStats {
    /// Presses handed to a lane and not yet taken into a batch.
    pub queued: AtomicU64,
    pub batches: AtomicU64,
    pub presses: AtomicU64,
    pub largest_batch: AtomicU64,
}

/// The lanes presses are handed to; the tasks end when the last [`Store`] handle is dropped.
#[derive(Debug)]
pub(crate) struct IntakeQueue {
    lanes: Vec<mpsc::UnboundedSender<Job>>,
    pub(crate) stats: Arc<IntakeStats>,
    /// Each lane's store (its own connection).
    writers: Vec<Store>,
}

impl IntakeQueue {
    /// Starts a lane task for each of `writers` (a store on a lane's own connection), on the
    /// writer's thread.
    pub(crate) fn start(writers: Vec<Store>) -> Self {
        let stats = Arc::new(IntakeStats::default());
        let lanes = writers
            .iter()
            .map(|writer| {
                let (send, receive) = mpsc::unbounded_channel();
                writer.spawn_on_turn_thread(lane(writer.clone(), receive, stats.clone()));
                send
            })
            .collect();
        Self {
            lanes,
            stats,
            writers,
        }
    }

    /// Closes the lanes' connections.
    pub(crate) async fn close(&self) {
        for writer in &self.writers {
            writer.pool.close().await;
        }
    }

    /// Hands a press to its customer's lane and waits until it is recorded and committed.
    pub(crate) async fn submit(
        &self,
        alert: NewAlert,
        now: DateTime<Utc>,
        render: Render,
    ) -> Result<Intake, StoreError> {
        let lane = &self.lanes[lane_of(&alert.customer_id, self.lanes.len())];
        let (reply, answer) = oneshot::channel();
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        lane.send(Job {
            alert,
            now,
            render,
            reply,
        })
        .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The lane of a customer: the same for all its presses (FNV-1a of its id).
fn lane_of(customer_id: &str, lanes: usize) -> usize {
    let hash = customer_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % lanes as u64) as usize
}

/// The answer when the lane is gone (the gateway is shutting down).
fn gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

async fn lane(writer: Store, mut receive: mpsc::UnboundedReceiver<Job>, stats: Arc<IntakeStats>) {
    while let Some(first) = receive.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receive.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len() as u64;
        stats.queued.fetch_sub(size, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.presses.fetch_add(size, Ordering::Relaxed);
        stats.largest_batch.fetch_max(size, Ordering::Relaxed);
        record_batch(&writer, batch).await;
    }
}

/// Records `batch` in one transaction and answers every press of it.
#[tracing::instrument(name = "intake batch", skip_all, fields(presses = batch.len()))]
async fn record_batch(writer: &Store, batch: Vec<Job>) {
    if batch.len() == 1 {
        let job = batch.into_iter().next().expect("one press");
        let result = record_alone(writer, &job).await;
        let _ = job.reply.send(result);
        return;
    }
    let mut tx = match writer.begin_write().await {
        Ok(tx) => tx,
        Err(e) => return answer_all(batch, &e),
    };
    tx.keep_outbox_until_commit();
    // Every press's idempotency key, read once for the batch.
    let alerts: Vec<&NewAlert> = batch.iter().map(|job| &job.alert).collect();
    let stored = match stored_keys(&mut tx, &alerts).await {
        Ok(stored) => stored,
        Err(e) => return answer_all(batch, &e),
    };

    let mut done = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter().peekable();
    // One savepoint, re-established after each press that is kept: a round trip per press.
    let mut opened = tx.execute_unprepared("SAVEPOINT press").await.map(drop);
    while let Some(job) = jobs.next() {
        let recorded = match opened {
            Ok(()) => {
                in_savepoint(
                    &mut tx,
                    writer.backend,
                    &job,
                    &stored,
                    jobs.peek().is_some(),
                )
                .await
            }
            Err(e) => Err(e.into()),
        };
        match recorded {
            Ok(result) => done.push((job, result)),
            Err(broken) => {
                // The transaction itself failed (the connection, most likely): nothing of the
                // batch is kept, and every press of it hears so.
                let rest: Vec<Job> = done
                    .into_iter()
                    .map(|(j, _)| j)
                    .chain([job])
                    .chain(jobs)
                    .collect();
                return answer_all(rest, &broken);
            }
        }
        opened = Ok(());
    }
    match tx.commit().await {
        Ok(()) => {
            for (job, result) in done {
                let _ = job.reply.send(result);
            }
        }
        Err(e) => answer_all(done.into_iter().map(|(j, _)| j).collect(), &e.into()),
    }
}

/// A batch of one: its own transaction, no savepoint.
async fn record_alone(writer: &Store, job: &Job) -> Result<Intake, StoreError> {
    let mut attempt = 1;
    loop {
        let mut tx = writer.begin_write().await?;
        tx.keep_outbox_until_commit();
        let known = stored_key(&mut tx, &job.alert).await?;
        match record_press(
            &mut tx,
            writer.backend,
            &job.alert,
            known.as_ref(),
            job.now,
            &job.render,
        )
        .await
        {
            Ok(intake) if intake.keeps() => {
                tx.commit().await?;
                return Ok(intake);
            }
            // Dropping the transaction rolls it back.
            Err(e) if is_deadlock(&e) && attempt < DEADLOCK_ATTEMPTS => {
                tracing::warn!("a press ran into a deadlock; running it again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// PostgreSQL ended the press to break a deadlock (with the escalator advancing the same
/// incident, say); nothing of it was kept, so it can run again, as PostgreSQL's manual advises.
fn is_deadlock(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db))
        if db.code().as_deref() == Some(DEADLOCK_DETECTED))
}

/// Records one press of a batch in a savepoint: kept when it succeeds, rolled back alone when
/// it fails or is refused. The outer `Err` means the transaction is broken.
async fn in_savepoint(
    tx: &mut Tx,
    backend: Backend,
    job: &Job,
    stored: &HashMap<(String, String), StoredKey>,
    more: bool,
) -> Result<Result<Intake, StoreError>, StoreError> {
    let mut attempt = 1;
    let known = stored.get(&job.alert.key());
    loop {
        let mark = tx.mark();
        let result = record_press(tx, backend, &job.alert, known, job.now, &job.render).await;
        if matches!(&result, Ok(intake) if intake.keeps()) {
            // The last press's savepoint ends with the commit.
            if more {
                tx.execute_unprepared("RELEASE SAVEPOINT press; SAVEPOINT press")
                    .await?;
            }
            return Ok(result);
        }
        // Back to the start of this press; the savepoint stays for the next one.
        tx.back_to(mark);
        tx.execute_unprepared("ROLLBACK TO SAVEPOINT press").await?;
        match result {
            Err(e) if is_deadlock(&e) && attempt < DEADLOCK_ATTEMPTS => {
                tracing::warn!("a press ran into a deadlock; running it again");
                attempt += 1;
            }
            other => return Ok(other),
        }
    }
}

/// Answers every press of a batch that could not be recorded with (a copy of) `error`.
fn answer_all(jobs: Vec<Job>, error: &StoreError) {
    for job in jobs {
        let _ = job.reply.send(Err(error.for_another_waiter()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each lane's chain of statements is polled by a thread that does nothing else, on both
    /// databases (see `TurnThread`).
    #[tokio::test]
    async fn every_lane_runs_on_a_thread_of_its_own() {
        let (dir, sqlite) = super::super::tests::scratch_sqlite("pgw-lanes");
        let mut urls = vec![sqlite];
        urls.extend(std::env::var("TEST_DATABASE_URL").ok());
        for url in urls {
            let store = Store::connect(&super::super::DatabaseSettings {
                url,
                ..Default::default()
            })
            .await
            .unwrap();
            let writers = &store.intake().writers;
            let mut threads = Vec::new();
            for writer in writers {
                let name = writer
                    .on_turn_thread(async { Ok(std::thread::current().name().map(str::to_owned)) })
                    .await
                    .unwrap();
                threads.push(name);
            }
            let expected: Vec<_> = (0..writers.len())
                .map(|lane| Some(format!("intake-lane-{lane}")))
                .collect();
            assert_eq!(threads, expected, "{:?}", store.backend());
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_customer_always_gets_the_same_lane_and_customers_spread() {
        let ids: Vec<String> = (0..1000).map(|i| format!("customer-{i}")).collect();
        let mut per_lane = [0usize; POSTGRES_LANES];
        for id in &ids {
            let lane = lane_of(id, POSTGRES_LANES);
            assert_eq!(lane, lane_of(id, POSTGRES_LANES));
            per_lane[lane] += 1;
        }
        assert!(per_lane.iter().all(|&n| n > 150), "{per_lane:?}");
        assert_eq!(lane_of("anyone", 1), 0);
    }
}
