//! Every SQL statement of the gateway lives under this module, behind functions named for what
//! they do.
//!
//! One code path serves both backends through [`db`], over sqlx's SQLite and PostgreSQL
//! drivers: statements use the dialect subset that SQLite and PostgreSQL share (`$n`
//! placeholders) and bind instants as unix milliseconds and ids as text, whatever the column
//! holds them as. Where the dialects must differ, both variants sit side by side in the one
//! function, chosen by [`Backend`].

pub mod admin_keys;
pub mod board;
pub mod calendars;
pub mod configuration;
pub mod contacts;
mod customer_updates;
pub(crate) mod db;
pub mod deliveries;
#[cfg(feature = "devkit")]
pub mod devkit;
pub mod directory;
pub mod enrollment_codes;
pub mod escalation;
pub mod escalation_links;
pub mod group_commit;
pub mod identity;
pub mod incident_record;
mod incident_row;
pub mod incidents;
mod migrations;
pub mod oncall;
mod outbox;
pub mod page_replies;
pub(crate) mod reach;
pub(crate) mod reachability;
pub mod readiness;
pub mod schedules;
mod settings;
pub mod sla;
pub mod staff;
pub mod teams;
pub mod tickets;
mod timeline;
pub mod waiting;
pub mod webhooks;

pub use settings::DatabaseSettings;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use migrations::{latest_version, MigrationState};

/// Which database the gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises a database URL by its scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Failures of the store, kept apart so that the API can answer 503 when the database is gone
/// and 500 when a statement is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A unique constraint refused the write (a duplicate name, say).
    #[error("conflicts with an existing record")]
    Conflict(#[source] sqlx::Error),
    /// Text the database cannot hold (PostgreSQL refuses NUL bytes): bad input, not a fault.
    #[error("text the database cannot store")]
    UnstorableText(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if is_unavailable_code(db.code().as_deref()) => {
                StoreError::Unavailable(e)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(e),
            // invalid_byte_sequence_for_encoding, untranslatable_character
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                StoreError::UnstorableText(e)
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// The same failure for another press of a batch that failed as a whole (sqlx's errors
    /// cannot be cloned): unavailable stays unavailable (503), anything else is a fault (500).
    pub(crate) fn for_another_waiter(&self) -> StoreError {
        let text = match self {
            StoreError::Unavailable(e)
            | StoreError::Database(e)
            | StoreError::Conflict(e)
            | StoreError::UnstorableText(e) => e.to_string(),
            StoreError::Migrate(e) => e.to_string(),
        };
        match self {
            StoreError::Unavailable(_) => {
                StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(text)))
            }
            _ => StoreError::Database(sqlx::Error::Protocol(text)),
        }
    }
}

/// SQLite busy/locked or unable to open the file (out of file descriptors, say), and
/// PostgreSQL connection or shutdown classes, mean "try again later".
fn is_unavailable_code(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c == "5" || c == "6" || c == "14" || c.starts_with("08") || c.starts_with("57P"))
}

/// A write transaction. On SQLite it also holds the process's write turn (see
/// [`Store::begin_write`]); it rolls back when dropped uncommitted.
///
/// Timeline events are kept in the transaction and written together, a few multi-row
/// `INSERT`s, just before it commits (see [`Tx::flush_events`]): a press records four or five
/// of them, and each statement is a round trip to PostgreSQL or a hand-off to SQLite's worker
/// thread. Nothing reads the timeline inside the transaction that writes it.
pub(crate) struct Tx {
    inner: db::Conn,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    events: Vec<PendingEvent>,
    /// Customers this transaction read what paging needs of (and, on PostgreSQL, locked the
    /// row of; see `record_p1`), as (customer id, tier id, facts). Nothing a press writes
    /// changes them, so the presses of a batch read them once.
    customers: Vec<(String, String, Arc<incidents::CustomerFacts>)>,
    /// People this transaction read what paging them needs of ([`reach::person_facts`]).
    people: Vec<(String, reach::ReadPerson)>,
    /// The live webhook endpoints as (id, subscribed events as JSON), read at most once per
    /// transaction.
    pub(crate) webhook_endpoints: Option<Vec<(String, String)>>,
    /// Outbox rows kept until commit, when the transaction keeps them ([`Tx::keep_outbox`]).
    outbox: Option<Vec<outbox::OutboxRow>>,
}

/// See [`Tx::mark`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxMark {
    events: usize,
    locks: usize,
    outbox: usize,
}

/// A timeline event waiting for its transaction to commit.
pub(crate) struct PendingEvent {
    pub id: String,
    pub ticket_id: String,
    pub incident_id: Option<String>,
    pub alert_id: Option<String>,
    pub at: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: String,
}

/// Row counts of multi-row `INSERT`s ([`insert_rows`]). A few fixed sizes keep the number of
/// distinct statements (each prepared and cached per connection) small; powers of two cut any
/// count up to 64 into at most as many statements as it has one bits (the 50 notices of an
/// acknowledgement are three, not five).
const ROW_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

impl Tx {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        if let Some(rows) = self.outbox.take().filter(|rows| !rows.is_empty()) {
            outbox::write(&mut self.inner, &rows).await?;
        }
        self.flush_events().await?;
        self.inner.commit().await
    }

    /// From now on this transaction keeps the outbox rows it queues and writes them when it
    /// commits, all in a few multi-row statements: the intake lanes' batches, where every
    /// press queues its pages and nothing reads or changes them before the commit. (An
    /// acknowledgement, say, cancels pending deliveries after queueing none, but a
    /// transaction that did both would not see its own kept rows; so only intake keeps.)
    pub(crate) fn keep_outbox_until_commit(&mut self) {
        self.outbox.get_or_insert_with(Vec::new);
    }

    pub(crate) fn keeps_outbox(&self) -> bool {
        self.outbox.is_some()
    }

    /// Keeps `rows` to be written at commit (see [`Tx::keep_outbox_until_commit`]).
    pub(crate) fn add_kept_outbox(&mut self, rows: Vec<outbox::OutboxRow>) {
        self.outbox.get_or_insert_with(Vec::new).extend(rows);
    }

    /// Keeps `event` to be written with the others before the transaction commits.
    pub(crate) fn push_event(&mut self, event: PendingEvent) {
        self.events.push(event);
    }

    /// Where the transaction's in-memory state stands: a mark to go back to with
    /// [`Tx::back_to`] when a savepoint taken here is rolled back.
    pub(crate) fn mark(&self) -> TxMark {
        TxMark {
            events: self.events.len(),
            locks: self.customers.len(),
            outbox: self.outbox.as_ref().map_or(0, Vec::len),
        }
    }

    /// Forgets the events and outbox rows kept and the customers read and locked since `mark`:
    /// the savepoint was rolled back, and PostgreSQL releases row locks taken after a
    /// savepoint rolled back to.
    pub(crate) fn back_to(&mut self, mark: TxMark) {
        // A mark is taken with nothing deferred (a press flushes its writes before it ends).
        self.inner.forget_deferred();
        self.events.truncate(mark.events);
        self.customers.truncate(mark.locks);
        if let Some(rows) = &mut self.outbox {
            rows.truncate(mark.outbox);
        }
    }

    /// What this transaction read (and locked) of `customer_id` on `tier_id`, if it did.
    pub(crate) fn known_customer(
        &self,
        customer_id: &str,
        tier_id: &str,
    ) -> Option<Arc<incidents::CustomerFacts>> {
        self.customers
            .iter()
            .find(|(c, t, _)| c == customer_id && t == tier_id)
            .map(|(_, _, facts)| facts.clone())
    }

    /// What this transaction read of `user_id` for paging, if it did.
    pub(crate) fn known_person(&self, user_id: &str) -> Option<reach::ReadPerson> {
        self.people
            .iter()
            .find(|(u, _)| u == user_id)
            .map(|(_, facts)| facts.clone())
    }

    /// Remembers what was read of `user_id` for paging (newer facts replace older).
    pub(crate) fn remember_person(&mut self, user_id: &str, facts: reach::ReadPerson) {
        self.people.retain(|(u, _)| u != user_id);
        self.people.push((user_id.to_owned(), facts));
    }

    /// Remembers what was read (and locked) of `customer_id` on `tier_id`.
    pub(crate) fn remember_customer(
        &mut self,
        customer_id: &str,
        tier_id: &str,
        facts: Arc<incidents::CustomerFacts>,
    ) {
        self.customers
            .push((customer_id.to_owned(), tier_id.to_owned(), facts));
    }

    /// Writes the kept events.
    pub(crate) async fn flush_events(&mut self) -> Result<(), sqlx::Error> {
        let events = std::mem::take(&mut self.events);
        insert_rows(
            &mut self.inner,
            "INSERT INTO incident_events (id, ticket_id, incident_id, alert_id, at, kind, actor, \
             detail)",
            8,
            &events,
            |query, e| {
                query
                    .bind(e.id.clone())
                    .bind(e.ticket_id.clone())
                    .bind(e.incident_id.clone())
                    .bind(e.alert_id.clone())
                    .bind(e.at)
                    .bind(e.kind.clone())
                    .bind(e.actor.clone())
                    .bind(e.detail.clone())
            },
        )
        .await
    }
}

/// A query being bound.
pub(crate) type Bound<'q> = db::Query<'q>;

/// Inserts `rows` with `head` (`INSERT INTO t (a, b, …)`, `columns` of them) as multi-row
/// `INSERT`s, largest chunks first; `bind` binds one row's values in column order (owned:
/// the statement's text is made here). The `INSERT`s are deferred ([`db::Conn::defer`]):
/// they go together, in one trip, before the next statement on `conn` or its commit.
pub(crate) async fn insert_rows<T>(
    conn: &mut db::Conn,
    head: &str,
    columns: usize,
    rows: &[T],
    bind: impl for<'q> Fn(Bound<'q>, &T) -> Bound<'q>,
) -> Result<(), sqlx::Error> {
    for chunk in row_chunks(rows) {
        let sql = format!("{head} VALUES {}", value_rows(chunk.len(), columns, 0));
        let mut query = db::query_owned(sql);
        for row in chunk {
            query = bind(query, row);
        }
        conn.defer(query, "rows");
    }
    Ok(())
}

/// `rows` cut into chunks of the sizes in [`ROW_CHUNKS`], largest first, so that a
/// statement made per chunk comes in a few shapes (each shape is a prepared statement).
pub(crate) fn row_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = ROW_CHUNKS
            .into_iter()
            .find(|&n| n <= rest.len())
            .unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// The placeholders of `rows` rows of `columns` values each, numbered after the first
/// `before` parameters: `($2, $3), ($4, $5)`.
pub(crate) fn value_rows(rows: usize, columns: usize, before: usize) -> String {
    (0..rows)
        .map(|row| {
            let placeholders: Vec<String> = (1..=columns)
                .map(|c| format!("${}", before + row * columns + c))
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::ops::Deref for Tx {
    type Target = db::Conn;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// Handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: db::Pool,
    backend: Backend,
    /// SQLite has one writer. Writers take turns here, in arrival order, instead of in
    /// SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and made the tail
    /// latency of a loaded gateway hundreds of milliseconds (see the README's benchmark).
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The thread of its own this handle's work runs on ([`TurnThread`]): an intake lane's,
    /// the incident actions', or on SQLite the dispatcher's; `None` for everything else.
    turn_thread: Option<Arc<TurnThread>>,
    /// The lanes presses are recorded by ([`group_commit`]); `None` in the lanes' own handle.
    intake: Option<Arc<group_commit::IntakeQueue>>,
    /// Where acknowledgements and resolutions run: a [`TurnThread`] and a small pool of their
    /// own, so a responder's action is not a chain of statements each waiting for a runtime
    /// thread busy with HTTP (see the README's benchmark); `None` in that handle itself and
    /// in the lanes'.
    actions: Option<Arc<Store>>,
}

/// Connections of the pool acknowledgements and resolutions run on.
const ACTION_CONNECTIONS: u32 = 2;

/// A thread with a runtime of its own for work that is a long chain of statements in a row:
/// each intake lane ([`group_commit`]) and, on SQLite, the dispatcher's claims and outcome
/// records.
///
/// Each statement is a hand-off to sqlx's worker thread (SQLite) or a round trip to the
/// server (PostgreSQL), and the next one waits for it; on SQLite the write turn is held for
/// the whole chain. On the shared runtime every answer waited until a worker thread busy with
/// HTTP requests and TLS came round to the task, so under load the chain (and on SQLite every
/// writer queued behind it) mostly waited to be polled. On a thread of its own the task is
/// polled as soon as its answer is in (see the README's benchmark). A lane's connection is
/// opened on its thread, so its socket is driven there too.
#[derive(Debug)]
pub(crate) struct TurnThread {
    runtime: tokio::runtime::Handle,
    /// Dropped with the last store handle that holds it: the thread then ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TurnThread {
    /// A thread named `name`.
    fn start(name: &str) -> Result<Arc<Self>, StoreError> {
        let unavailable = |e| StoreError::Unavailable(sqlx::Error::Io(e));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(unavailable)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .map_err(unavailable)?;
        Ok(Arc::new(Self {
            runtime: handle,
            _stop: stop,
        }))
    }
}

impl Store {
    /// Opens a pool. SQLite files are created if missing and put in WAL mode with full
    /// synchronous commits: an answered alert must survive a power cut, not just a crash.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let backend = Backend::from_url(&settings.url).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Configuration(
                "database.url must be a sqlite: or postgres: URL".into(),
            ))
        })?;
        let pool_settings = |max_connections, lazy| db::PoolSettings {
            url: &settings.url,
            max_connections,
            acquire_timeout: Duration::from_millis(settings.acquire_timeout_ms),
            lazy,
        };
        let pool = db::Pool::open(pool_settings(settings.max_connections, false)).await?;
        let write_turn =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        // Each intake lane has a connection and a thread of its own: presses never wait behind
        // other work for either (see `group_commit`).
        let lanes = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => group_commit::POSTGRES_LANES,
        };
        let mut writers = Vec::with_capacity(lanes);
        for lane in 0..lanes {
            writers.push(Self {
                pool: db::Pool::open(pool_settings(1, true)).await?,
                backend,
                write_turn: write_turn.clone(),
                turn_thread: Some(TurnThread::start(&format!("intake-lane-{lane}"))?),
                intake: None,
                actions: None,
            });
        }
        let intake = Some(Arc::new(group_commit::IntakeQueue::start(writers)));
        let actions = Some(Arc::new(Self {
            pool: db::Pool::open(pool_settings(ACTION_CONNECTIONS, true)).await?,
            backend,
            write_turn: write_turn.clone(),
            turn_thread: Some(TurnThread::start("incident-actions")?),
            intake: None,
            actions: None,
        }));
        let turn_thread = match backend {
            Backend::Sqlite => Some(TurnThread::start("dispatch-writer")?),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            write_turn,
            turn_thread,
            intake,
            actions,
        })
    }

    /// Runs `work` on this handle's [`TurnThread`] (SQLite), or here (PostgreSQL). It runs to
    /// its end even if the caller stops waiting.
    pub(crate) async fn on_turn_thread<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.turn_thread {
            Some(thread) => thread
                .runtime
                .spawn(work)
                .await
                .map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))?,
            None => work.await,
        }
    }

    /// Spawns `task` where [`Store::on_turn_thread`] runs work.
    pub(crate) fn spawn_on_turn_thread(
        &self,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        match &self.turn_thread {
            Some(thread) => drop(thread.runtime.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    /// The intake lanes.
    fn intake(&self) -> &group_commit::IntakeQueue {
        self.intake
            .as_deref()
            .expect("presses are recorded through a store opened by Store::connect")
    }

    /// What group commit has done since start: batches, presses, the largest batch.
    pub fn intake_stats(&self) -> Option<&group_commit::IntakeStats> {
        self.intake.as_deref().map(|q| q.stats.as_ref())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations. On PostgreSQL sqlx holds an advisory lock meanwhile, so
    /// several gateways starting at once migrate once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::run(self).await
    }

    /// Reports whether the schema is at the version this binary expects.
    pub async fn migration_state(&self) -> Result<MigrationState, StoreError> {
        migrations::state(self).await
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        db::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Starts a transaction that will write. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so that two writers wait on `busy_timeout` instead of failing
    /// with a deadlock on lock upgrade.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        // Opened on a task of its own, so a caller that gives up meanwhile (a client that
        // disconnects drops its handler) cannot tear it: sqlx's `begin_with` on SQLite awaits
        // once more after the `BEGIN` ran and before a `Transaction` exists to roll it back.
        // Dropped there, it left the connection in the pool inside a transaction holding the
        // write lock, and every later write failed with "database is locked" (seen once in
        // CI's conformance run). Given up now, the task still ends with a `Transaction`,
        // which rolls back as it is dropped.
        let pool = self.pool.clone();
        let inner = tokio::spawn(async move { pool.begin_write().await })
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))??;
        Ok(Tx {
            inner,
            _turn: turn,
            events: Vec::new(),
            customers: Vec::new(),
            people: Vec::new(),
            webhook_endpoints: None,
            outbox: None,
        })
    }

    /// One statement as a write transaction of its own, taken in the write turn like every
    /// other write: on SQLite a write that went straight to the pool would skip the queue and
    /// wait on `busy_timeout` instead (a test keeps every write on this path or in a
    /// [`Store::begin_write`] transaction).
    pub(crate) async fn write_one<'q>(
        &self,
        statement: db::Query<'q>,
    ) -> Result<db::QueryResult, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = statement.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(intake) = &self.intake {
            intake.close().await;
        }
        if let Some(actions) = &self.actions {
            actions.pool.close().await;
        }
    }
}

/// Milliseconds since the Unix epoch: how the store binds and reads every instant (SQLite keeps
/// them so; PostgreSQL stores `timestamptz`, see [`db`]).
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`millis`].
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A new primary key: UUIDv7, so ids sort by creation time and index locality is good.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected value {value:?} in {column}").into())
}

/// Appends to the audit log inside the caller's transaction, so the entry exists exactly
/// when the change does.
pub(crate) async fn audit(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    subject_type: &str,
    subject_id: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    db::query(
        "INSERT INTO audit_log (id, at, actor, action, subject_type, subject_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(millis(now))
    .bind(actor)
    .bind(action)
    .bind(subject_type)
    .bind(subject_id)
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_recognised_by_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://h/d"), Some(Backend::Postgres));
        assert_eq!(
            Backend::from_url("postgresql://h/d"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://h/d"), None);
    }

    /// Every statement that changes data runs in the write turn: in a [`Store::begin_write`]
    /// transaction or through [`Store::write_one`], never straight on the pool.
    #[test]
    fn writes_never_go_straight_to_the_pool() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut offenders = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // One chunk per statement: from `db::query` to the `.await` that runs it.
            for chunk in text.split("db::query").skip(1) {
                let statement = chunk.split(".await").next().unwrap_or_default();
                let sql = statement
                    .split('"')
                    .nth(1)
                    .unwrap_or_default()
                    .trim_start()
                    .to_ascii_uppercase();
                let writes = ["INSERT", "UPDATE", "DELETE"]
                    .iter()
                    .any(|w| sql.starts_with(w));
                if writes && statement.contains("&self.pool") {
                    offenders.push(format!("{}: {}", path.display(), &sql[..sql.len().min(40)]));
                }
            }
        }
        assert!(offenders.is_empty(), "writes on the pool: {offenders:#?}");
    }

    #[test]
    fn rows_are_cut_into_few_statement_shapes() {
        let rows: Vec<usize> = (0..87).collect();
        let sizes: Vec<usize> = row_chunks(&rows).map(<[usize]>::len).collect();
        assert_eq!(sizes, [64, 16, 4, 2, 1]);
        assert_eq!(row_chunks::<usize>(&[]).count(), 0);
        assert_eq!(value_rows(2, 2, 1), "($2, $3), ($4, $5)");
    }

    /// A fresh directory for a SQLite file and the file's URL (the caller removes the
    /// directory).
    pub(super) fn scratch_sqlite(prefix: &str) -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        (dir, url)
    }

    /// SQLite's dispatcher work runs on its own thread, and to its end even when its caller
    /// stops waiting (a claim half done would hold leases until they expire).
    #[tokio::test]
    async fn work_on_a_turn_thread_runs_there_and_to_its_end() {
        use std::future::Future;
        use std::task::Context;
        let (dir, url) = scratch_sqlite("pgw-turn");
        let store = Store::connect(&DatabaseSettings {
            url,
            ..DatabaseSettings::default()
        })
        .await
        .unwrap();
        let gate = Arc::new(tokio::sync::Notify::new());
        let (seen, thread) = tokio::sync::oneshot::channel();
        let opened = gate.clone();
        let mut work = Box::pin(store.on_turn_thread(async move {
            opened.notified().await;
            let _ = seen.send(std::thread::current().name().map(str::to_owned));
            Ok(())
        }));
        let waker = futures_util::task::noop_waker();
        assert!(work
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(work);
        gate.notify_one();
        assert_eq!(thread.await.unwrap().as_deref(), Some("dispatch-writer"));
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A caller that gives up while its write transaction is being opened (a client that
    /// disconnects, so its handler is dropped) leaves no transaction behind: a leaked
    /// `BEGIN IMMEDIATE` would hold SQLite's write lock on an idle pooled connection, and
    /// every later write would fail with "database is locked".
    #[tokio::test]
    async fn a_write_given_up_while_opening_leaves_no_lock_behind() {
        use std::future::Future;
        use std::task::{Context, Poll};
        let (dir, url) = scratch_sqlite("pgw-begin");
        let store = Store::connect(&DatabaseSettings {
            url,
            max_connections: 2,
            ..DatabaseSettings::default()
        })
        .await
        .unwrap();
        db::query("PRAGMA busy_timeout = 200")
            .execute(&store.pool)
            .await
            .unwrap();
        for _ in 0..20 {
            // Polled until the BEGIN has run on the connection's worker, then dropped.
            let mut opening = Box::pin(store.begin_write());
            let waker = futures_util::task::noop_waker();
            for _ in 0..5 {
                if let Poll::Ready(tx) = opening.as_mut().poll(&mut Context::from_waker(&waker)) {
                    drop(tx);
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            drop(opening);
        }
        // Every connection of the pool can write.
        for _ in 0..4 {
            let mut tx = store
                .begin_write()
                .await
                .expect("a write transaction opens");
            db::query("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.expect("and commits");
        }
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Acknowledgements and resolutions have a thread (and pool) of their own, on both
    /// databases, and an acknowledgement goes through it.
    #[tokio::test]
    async fn incident_actions_run_on_a_thread_of_their_own() {
        let (dir, sqlite) = scratch_sqlite("pgw-actions");
        let mut urls = vec![sqlite];
        urls.extend(std::env::var("TEST_DATABASE_URL").ok());
        for url in urls {
            let store = Store::connect(&DatabaseSettings {
                url,
                ..DatabaseSettings::default()
            })
            .await
            .unwrap();
            store.migrate().await.unwrap();
            let actions = store
                .actions
                .clone()
                .expect("a handle for incident actions");
            let name = actions
                .on_turn_thread(async { Ok(std::thread::current().name().map(str::to_owned)) })
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("incident-actions"));
            let missing = store
                .acknowledge_incident(&new_id(), "nobody", Utc::now())
                .await
                .unwrap();
            assert!(matches!(missing, escalation::StateChange::NotFound));
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn millis_round_trip() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(from_millis(millis(t)), t);
    }
}
