//! The store's one way to run a statement, on either backend, through sqlx's own SQLite and
//! PostgreSQL drivers.
//!
//! Statements are written once, in the dialect both databases share (`$n` placeholders), and
//! bound with plain values: instants as unix milliseconds, ids and JSON as text. What a value
//! becomes in the database is the column's business, not the statement's:
//!
//! - On SQLite the values are stored as they are (`INTEGER`, `TEXT`).
//! - On PostgreSQL each statement is prepared with its parameter types left open, so the
//!   server infers them from where they are used (a `timestamptz` column, a `uuid` key, a
//!   `jsonb` document), and each value is encoded as the type the server asked for:
//!   milliseconds as `timestamptz`, text as `uuid` or `jsonb`. Reading works the same way
//!   back: a `timestamptz` column reads as milliseconds, a `uuid` or `jsonb` one as text.
//!   Preparing is cached per connection, so this costs a round trip only the first time a
//!   connection sees a statement.
//!
//! sqlx's `Any` driver, which this replaces, cannot carry `timestamptz`, `uuid` or `jsonb` at
//! all, and typing every bind by hand (about 700 of them) would put the schema's column types
//! into every call site. Text that is not a UUID, bound where PostgreSQL expects one, names
//! nothing: it becomes the nil UUID, which no id is (ids are UUIDv7), so a lookup by a
//! malformed id finds nothing, as it does on SQLite.

use std::borrow::Cow;
use std::str::FromStr;

use futures_util::TryStreamExt;
use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow,
    PgTypeInfo, PgValueRef, Postgres,
};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};
use sqlx::{
    Arguments, ColumnIndex, Decode, Encode, Executor, Sqlite, Statement, Transaction, TypeInfo,
    ValueRef,
};

use super::Backend;

/// Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// A pool of connections to one of the two databases.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How a pool is opened.
pub(crate) struct PoolSettings<'a> {
    pub url: &'a str,
    pub max_connections: u32,
    pub acquire_timeout: std::time::Duration,
    /// Connect on first use instead of now.
    pub lazy: bool,
}

/// Prepared statements each connection keeps (sqlx's default is 100). A trip of deferred
/// writes is one statement text per combination of its parts, and a statement dropped from
/// the cache is prepared again (on PostgreSQL a round trip of its own).
const STATEMENT_CACHE: usize = 256;

impl Pool {
    /// Opens a pool on `settings.url`. SQLite connections are in WAL mode with full
    /// synchronous commits: an answered alert must survive a power cut, not just a crash.
    pub(crate) async fn open(settings: PoolSettings<'_>) -> Result<Self, sqlx::Error> {
        let backend = Backend::from_url(settings.url).ok_or_else(|| {
            sqlx::Error::Configuration("database.url must be a sqlite: or postgres: URL".into())
        })?;
        Ok(match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(settings.url)?
                    .statement_cache_capacity(STATEMENT_CACHE);
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    });
                Pool::Sqlite(if settings.lazy {
                    pool.connect_lazy_with(options)
                } else {
                    pool.connect_with(options).await?
                })
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(settings.url)?
                    .statement_cache_capacity(STATEMENT_CACHE);
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout);
                Pool::Postgres(if settings.lazy {
                    pool.connect_lazy_with(options)
                } else {
                    pool.connect_with(options).await?
                })
            }
        })
    }

    /// A pool of one connection, opened now: devkit and bench helpers.
    #[cfg_attr(not(feature = "devkit"), allow(dead_code))]
    pub(crate) async fn single(url: &str) -> Result<Self, sqlx::Error> {
        Self::open(PoolSettings {
            url,
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(30),
            lazy: false,
        })
        .await
    }

    pub(crate) async fn acquire(&self) -> Result<Acquired, sqlx::Error> {
        Ok(Acquired(
            match self {
                Pool::Sqlite(pool) => Link::Sqlite(pool.acquire().await?),
                Pool::Postgres(pool) => Link::Postgres(pool.acquire().await?),
            }
            .into(),
        ))
    }

    /// Starts a transaction; on SQLite with `BEGIN IMMEDIATE`, which takes the write lock up
    /// front.
    pub(crate) async fn begin_write(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(pool) => Link::SqliteTx(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Link::PostgresTx(pool.begin().await?),
        }
        .into())
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection taken from a pool, by itself or inside a transaction (rolled back if dropped
/// uncommitted).
#[derive(Debug)]
pub(crate) struct Conn {
    link: Link,
    /// Writes waiting to run ([`Conn::defer`]), each with its tag.
    deferred: Vec<(Query<'static>, &'static str)>,
    /// What each deferred write that ran did (its tag, rows affected), until [`Conn::flush`]
    /// hands it over.
    done: Vec<(&'static str, u64)>,
}

#[derive(Debug)]
enum Link {
    Sqlite(PoolConnection<Sqlite>),
    SqliteTx(Transaction<'static, Sqlite>),
    Postgres(PoolConnection<Postgres>),
    PostgresTx(Transaction<'static, Postgres>),
}

impl From<Link> for Conn {
    fn from(link: Link) -> Self {
        Conn {
            link,
            deferred: Vec::new(),
            done: Vec::new(),
        }
    }
}

/// A connection taken from a pool by [`Pool::acquire`]; `&mut *acquired` is the [`Conn`].
pub(crate) struct Acquired(Conn);

impl Acquired {
    #[cfg_attr(not(feature = "devkit"), allow(dead_code))]
    pub(crate) fn into_inner(self) -> Conn {
        self.0
    }
}

impl std::ops::Deref for Acquired {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl std::ops::DerefMut for Acquired {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

/// The driver's own connection under a [`Conn`].
enum Raw<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn {
    fn raw(&mut self) -> Raw<'_> {
        match &mut self.link {
            Link::Sqlite(c) => Raw::Sqlite(c),
            Link::SqliteTx(c) => Raw::Sqlite(c),
            Link::Postgres(c) => Raw::Postgres(c),
            Link::PostgresTx(c) => Raw::Postgres(c),
        }
    }

    /// Commits the transaction this connection is in (nothing to do outside one), after the
    /// writes still deferred.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.run_deferred().await?;
        match self.link {
            Link::SqliteTx(tx) => tx.commit().await,
            Link::PostgresTx(tx) => tx.commit().await,
            Link::Sqlite(_) | Link::Postgres(_) => Ok(()),
        }
    }

    /// Closes the connection (rolling back a transaction it is in, deferred writes with it).
    #[cfg_attr(not(feature = "devkit"), allow(dead_code))]
    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        match self.link {
            Link::Sqlite(c) => c.close().await,
            Link::Postgres(c) => c.close().await,
            Link::SqliteTx(tx) => tx.rollback().await,
            Link::PostgresTx(tx) => tx.rollback().await,
        }
    }

    /// Runs `sql`, one or more statements without parameters, unprepared (`SAVEPOINT`s and
    /// the like), after the writes still deferred.
    pub(crate) async fn execute_unprepared(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.run_deferred().await?;
        match self.raw() {
            Raw::Sqlite(c) => c.execute(sqlx::raw_sql(sql)).await.map(drop),
            Raw::Postgres(c) => c.execute(sqlx::raw_sql(sql)).await.map(drop),
        }
    }

    /// Runs `write` later, together with the writes deferred after it: before the next
    /// statement on this connection, or at [`Conn::send_deferred`] or [`Conn::flush`]; its
    /// rows affected are reported under `tag`. A deferred write must not depend on the
    /// effects of another write deferred with it (on PostgreSQL they are one statement, which
    /// sees the database as it was before that statement), apart from a foreign key to a row
    /// another one inserts.
    ///
    /// Every statement costs a trip: on SQLite a hand-off to the connection's worker thread
    /// and back (two thread wake-ups), on PostgreSQL a round trip to the server. The deferred
    /// writes take one: on SQLite one text of several statements, on PostgreSQL one statement
    /// of data-modifying `WITH` clauses.
    pub(crate) fn defer(&mut self, write: Query<'static>, tag: &'static str) {
        self.deferred.push((write, tag));
    }

    /// Runs the deferred writes now; what they did stays to be reported by [`Conn::flush`] or
    /// [`Conn::take_done`].
    pub(crate) async fn send_deferred(&mut self) -> Result<(), sqlx::Error> {
        self.run_deferred().await
    }

    /// Runs the deferred writes; returns what every deferred write did since the last flush
    /// (its tag and rows affected), in the order they were deferred.
    pub(crate) async fn flush(&mut self) -> Result<Vec<(&'static str, u64)>, sqlx::Error> {
        self.run_deferred().await?;
        Ok(std::mem::take(&mut self.done))
    }

    /// What the deferred write tagged `tag` that ran last did (its rows affected), taken out
    /// of what [`Conn::flush`] reports; `None` if no such write has run (on SQLite, before the
    /// flush).
    pub(crate) fn take_done(&mut self, tag: &str) -> Option<u64> {
        let at = self.done.iter().rposition(|(t, _)| *t == tag)?;
        Some(self.done.remove(at).1)
    }

    /// Drops the writes deferred and not yet run, and what the ones that ran did: the caller
    /// rolled back to before them.
    pub(crate) fn forget_deferred(&mut self) {
        self.deferred.clear();
        self.done.clear();
    }

    /// Runs the deferred writes in one trip (a few, past [`DEFERRED_ARGS`] values), each
    /// statement's `$n` numbered after the parameters of the statements before it: on SQLite
    /// as one text of several statements, on PostgreSQL as one statement, `WITH w0 AS (…
    /// RETURNING 1), w1 AS (…) SELECT (SELECT count(*) FROM w0), …` (a lone write runs as it
    /// is).
    async fn run_deferred(&mut self) -> Result<(), sqlx::Error> {
        let mut writes = std::mem::take(&mut self.deferred);
        while !writes.is_empty() {
            let mut values = 0;
            let size = writes
                .iter()
                .take_while(|(write, _)| {
                    values += write.args.len();
                    values <= DEFERRED_ARGS
                })
                .count()
                .max(1);
            let (queries, tags): (Vec<_>, Vec<_>) = writes.drain(..size).unzip();
            let affected = self.send(queries).await?;
            if affected.len() != tags.len() {
                return Err(sqlx::Error::Protocol(format!(
                    "{} deferred writes reported {} results",
                    tags.len(),
                    affected.len()
                )));
            }
            self.done.extend(tags.into_iter().zip(affected));
        }
        Ok(())
    }

    /// Runs `writes` in one trip (see [`Conn::run_deferred`]); each one's rows affected.
    async fn send(&mut self, mut writes: Vec<Query<'static>>) -> Result<Vec<u64>, sqlx::Error> {
        if let (Raw::Postgres(c), [_]) = (self.raw(), writes.as_slice()) {
            let write = writes.pop().expect("one write");
            return Ok(vec![write
                .run_on(Raw::Postgres(c), Want::Nothing)
                .await?
                .affected()]);
        }
        Ok(match self.raw() {
            Raw::Sqlite(c) => {
                // Plain `?`s when every write's parameters allow (sqlx counts them on from one
                // statement to the next), the renumbered `$n`s otherwise.
                let plain: Option<Vec<Cow<str>>> =
                    writes.iter().map(|write| positional(&write.sql)).collect();
                let sql = match plain {
                    Some(plain) => plain.join(";\n"),
                    None => numbered_texts(&writes).join(";\n"),
                };
                let args = take_args(&mut writes);
                let mut bound = SqliteArguments::default();
                for arg in &args {
                    add_sqlite(&mut bound, arg)?;
                }
                let mut affected = Vec::with_capacity(writes.len());
                let mut steps = c.fetch_many(sqlx::query_with(&sql, bound));
                while let Some(step) = steps.try_next().await? {
                    if let sqlx::Either::Left(done) = step {
                        affected.push(done.rows_affected());
                    }
                }
                affected
            }
            Raw::Postgres(c) => {
                let texts = numbered_texts(&writes);
                let args = take_args(&mut writes);
                let clauses: Vec<String> = texts
                    .iter()
                    .enumerate()
                    .map(|(i, text)| format!("w{i} AS ({text} RETURNING 1)"))
                    .collect();
                let counts: Vec<String> = (0..texts.len())
                    .map(|i| format!("(SELECT count(*) FROM w{i})"))
                    .collect();
                let sql = format!("WITH {} SELECT {}", clauses.join(", "), counts.join(", "));
                let query = Query {
                    sql: Cow::Borrowed(&sql),
                    args,
                };
                let rows = query.run_on(Raw::Postgres(c), Want::First).await?;
                let Fetched::Rows(rows) = rows else {
                    unreachable!("a fetch returns rows");
                };
                let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
                (0..texts.len())
                    .map(|i| row.try_get::<i64, _>(i).map(|n| n as u64))
                    .collect::<Result<_, _>>()?
            }
        })
    }
}

/// Values in one trip of deferred writes at most: well under what one statement may take
/// (SQLite numbers parameters up to 32,766; PostgreSQL takes 65,535).
const DEFERRED_ARGS: usize = 30_000;

/// Each write's text with its `$n`s numbered after the values of the writes before it, as
/// one text or statement of them all takes its values.
fn numbered_texts(writes: &[Query<'_>]) -> Vec<String> {
    let mut before = 0;
    writes
        .iter()
        .map(|write| {
            let text = renumbered(&write.sql, before);
            before += write.args.len();
            text
        })
        .collect()
}

/// Every write's values, in order, taken out of them.
fn take_args(writes: &mut [Query<'_>]) -> Vec<Arg> {
    writes
        .iter_mut()
        .flat_map(|write| std::mem::take(&mut write.args))
        .collect()
}

/// A parameter in a statement's text: where it stands, and its number (`$n`; `None` for `?`).
struct Param {
    at: std::ops::Range<usize>,
    number: Option<usize>,
}

/// The parameters in `sql`, in order, outside quoted text and comments.
fn params(sql: &str) -> Vec<Param> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // To the closing quote; a doubled quote reopens at once.
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| i + 2 + end + 2);
            }
            b'?' => {
                found.push(Param {
                    at: i..i + 1,
                    number: None,
                });
                i += 1;
            }
            b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if let Ok(n) = sql[i + 1..i + 1 + digits].parse() {
                    found.push(Param {
                        at: i..i + 1 + digits,
                        number: Some(n),
                    });
                }
                i += 1 + digits;
            }
            _ => i += 1,
        }
    }
    found
}

/// `sql` with each `$n` of `params` written as `with` makes of `n`.
fn rewritten(sql: &str, params: &[Param], with: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut copied = 0;
    for param in params {
        if let Some(n) = param.number {
            out.push_str(&sql[copied..param.at.start]);
            out.push_str(&with(n));
            copied = param.at.end;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

/// `sql` with its parameters written `?` instead of `$1`, `$2`, …, when they appear in that
/// order, each once, outside quoted text and comments (`sql` as it is when it has none);
/// `None` when they do not.
///
/// SQLite finds a numbered parameter's name by walking the list of every name in the
/// statement, and sqlx asks for each parameter's name as it binds it, so binding `$n`s takes
/// time in the square of their count: a batch's pages in one `INSERT` (a thousand values)
/// spent most of a millisecond there, holding the write turn. A `?` has no name to look up.
fn positional(sql: &str) -> Option<Cow<'_, str>> {
    let params = params(sql);
    if (1..).zip(&params).any(|(n, param)| param.number != Some(n)) {
        return None;
    }
    if params.is_empty() {
        return Some(Cow::Borrowed(sql));
    }
    Some(Cow::Owned(rewritten(sql, &params, |_| "?".to_owned())))
}

/// `sql` with each parameter `$n` (outside quoted text and comments) written `$(n + before)`.
fn renumbered(sql: &str, before: usize) -> String {
    if before == 0 {
        return sql.to_owned();
    }
    rewritten(sql, &params(sql), |n| format!("${}", n + before))
}

fn add_sqlite<'q>(args: &mut SqliteArguments<'q>, arg: &'q Arg) -> Result<(), sqlx::Error> {
    match arg {
        Arg::Null => args.add(None::<i64>),
        Arg::Int(v) => args.add(*v),
        Arg::Float(v) => args.add(*v),
        Arg::Bool(v) => args.add(*v),
        Arg::Text(v) => args.add(v.as_str()),
        Arg::Bytes(v) => args.add(v.as_slice()),
    }
    .map_err(sqlx::Error::Encode)
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Arg {
    /// What kind of value this is (never the value: it may be a secret).
    fn kind(&self) -> &'static str {
        match self {
            Arg::Null => "NULL",
            Arg::Int(_) => "an integer",
            Arg::Float(_) => "a float",
            Arg::Bool(_) => "a boolean",
            Arg::Text(_) => "text",
            Arg::Bytes(_) => "bytes",
        }
    }
}

/// What can be bound to a statement.
pub(crate) trait Bind {
    fn into_arg(self) -> Arg;
}

macro_rules! bind_as {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl Bind for $t {
            fn into_arg(self) -> Arg {
                let $v = self;
                $e
            }
        }
    )*};
}

bind_as! {
    i64 => |v| Arg::Int(v),
    i32 => |v| Arg::Int(i64::from(v)),
    u32 => |v| Arg::Int(i64::from(v)),
    i16 => |v| Arg::Int(i64::from(v)),
    f64 => |v| Arg::Float(v),
    bool => |v| Arg::Bool(v),
    String => |v| Arg::Text(v),
    &str => |v| Arg::Text(v.to_owned()),
    &String => |v| Arg::Text(v.clone()),
    Vec<u8> => |v| Arg::Bytes(v),
    &[u8] => |v| Arg::Bytes(v.to_vec()),
    &i64 => |v| Arg::Int(*v),
    &Option<String> => |v| v.clone().into_arg(),
    &Option<i64> => |v| (*v).into_arg(),
}

impl<T: Bind> Bind for Option<T> {
    fn into_arg(self) -> Arg {
        self.map_or(Arg::Null, Bind::into_arg)
    }
}

/// A statement and the values bound to it so far.
#[must_use = "a query does nothing until it is executed"]
pub(crate) struct Query<'q> {
    sql: Cow<'q, str>,
    args: Vec<Arg>,
}

impl std::fmt::Debug for Query<'_> {
    /// The statement and the kinds of its values, never the values (they may be secrets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.args.iter().map(Arg::kind).collect();
        f.debug_struct("Query")
            .field("sql", &self.sql)
            .field("args", &kinds)
            .finish()
    }
}

/// A statement.
pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql: Cow::Borrowed(sql),
        args: Vec::new(),
    }
}

/// A statement whose text was made at run time, to be deferred ([`Conn::defer`]).
pub(crate) fn query_owned(sql: String) -> Query<'static> {
    Query {
        sql: Cow::Owned(sql),
        args: Vec::new(),
    }
}

/// A statement whose rows are one value each.
pub(crate) fn query_scalar<T: Get>(sql: &str) -> Decoded<'_, T> {
    Decoded {
        query: query(sql),
        decode: |row| row.try_get(0),
    }
}

/// A statement whose rows are read as tuples.
#[cfg(feature = "devkit")]
pub(crate) fn query_as<T: FromRow>(sql: &str) -> Decoded<'_, T> {
    Decoded {
        query: query(sql),
        decode: T::from_row,
    }
}

/// Where a statement runs: a connection, or any connection of a pool.
pub(crate) enum Target<'e> {
    Pool(&'e Pool),
    Conn(&'e mut Conn),
}

impl<'e> From<&'e Pool> for Target<'e> {
    fn from(pool: &'e Pool) -> Self {
        Target::Pool(pool)
    }
}

impl<'e> From<&'e mut Conn> for Target<'e> {
    fn from(conn: &'e mut Conn) -> Self {
        Target::Conn(conn)
    }
}

/// What a statement that returns no rows did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryResult {
    rows_affected: u64,
}

impl QueryResult {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// What to fetch.
enum Want {
    Nothing,
    /// The first row, if any.
    First,
    All,
}

enum Fetched {
    Done(u64),
    Rows(Vec<Row>),
}

impl Fetched {
    /// Rows affected by a statement that returns none.
    fn affected(&self) -> u64 {
        match self {
            Fetched::Done(rows) => *rows,
            Fetched::Rows(_) => 0,
        }
    }
}

/// Runs `query` on the driver's connection `c` for what `want` asks, each row wrapped in
/// `row`: the same on both backends, whose query and row types differ.
macro_rules! fetch {
    ($query:expr, $c:expr, $want:expr, $row:path) => {{
        let query = $query;
        Ok(match $want {
            Want::Nothing => Fetched::Done(query.execute($c).await?.rows_affected()),
            Want::First => Fetched::Rows(
                query
                    .fetch_optional($c)
                    .await?
                    .map($row)
                    .into_iter()
                    .collect(),
            ),
            Want::All => Fetched::Rows(query.fetch_all($c).await?.into_iter().map($row).collect()),
        })
    }};
}

impl<'q> Query<'q> {
    pub(crate) fn bind(mut self, value: impl Bind) -> Self {
        self.args.push(value.into_arg());
        self
    }

    pub(crate) async fn execute<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<QueryResult, sqlx::Error> {
        match self.run(target.into(), Want::Nothing).await? {
            Fetched::Done(rows_affected) => Ok(QueryResult { rows_affected }),
            Fetched::Rows(_) => unreachable!("executing fetches no rows"),
        }
    }

    pub(crate) async fn fetch_all<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        self.rows(target.into(), Want::All).await
    }

    pub(crate) async fn fetch_optional<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(self
            .rows(target.into(), Want::First)
            .await?
            .into_iter()
            .next())
    }

    pub(crate) async fn fetch_one<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<Row, sqlx::Error> {
        self.rows(target.into(), Want::First)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)
    }

    async fn rows(self, target: Target<'_>, want: Want) -> Result<Vec<Row>, sqlx::Error> {
        match self.run(target, want).await? {
            Fetched::Rows(rows) => Ok(rows),
            Fetched::Done(_) => Ok(Vec::new()),
        }
    }

    async fn run(self, target: Target<'_>, want: Want) -> Result<Fetched, sqlx::Error> {
        match target {
            Target::Conn(conn) => {
                conn.run_deferred().await?;
                self.run_on(conn.raw(), want).await
            }
            Target::Pool(pool) => {
                let mut conn = pool.acquire().await?;
                self.run_on(conn.0.raw(), want).await
            }
        }
    }

    async fn run_on(self, conn: Raw<'_>, want: Want) -> Result<Fetched, sqlx::Error> {
        match conn {
            Raw::Sqlite(c) => {
                let mut args = SqliteArguments::default();
                for arg in &self.args {
                    add_sqlite(&mut args, arg)?;
                }
                let sql = positional(&self.sql).unwrap_or(Cow::Borrowed(&self.sql));
                fetch!(sqlx::query_with(&sql, args), c, want, Row::Sqlite)
            }
            Raw::Postgres(c) => {
                let statement = c.prepare(&self.sql).await?;
                let types = match statement.parameters() {
                    Some(sqlx::Either::Left(types)) => types,
                    _ => &[],
                };
                if types.len() != self.args.len() {
                    return Err(sqlx::Error::Protocol(format!(
                        "statement takes {} parameters, {} bound: {}",
                        types.len(),
                        self.args.len(),
                        self.sql
                    )));
                }
                let mut args = PgArguments::default();
                for (arg, ty) in self.args.iter().zip(types) {
                    args.add(PgParam { arg, ty }).map_err(sqlx::Error::Encode)?;
                }
                fetch!(sqlx::query_with(&self.sql, args), c, want, Row::Postgres)
            }
        }
    }
}

/// A statement whose rows are each read as a `T` ([`query_scalar`], [`query_as`]).
#[must_use = "a query does nothing until it is executed"]
pub(crate) struct Decoded<'q, T> {
    query: Query<'q>,
    decode: fn(&Row) -> Result<T, sqlx::Error>,
}

impl<T> Decoded<'_, T> {
    pub(crate) fn bind(mut self, value: impl Bind) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub(crate) async fn fetch_one<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<T, sqlx::Error> {
        (self.decode)(&self.query.fetch_one(target).await?)
    }

    pub(crate) async fn fetch_optional<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<Option<T>, sqlx::Error> {
        let decode = self.decode;
        self.query
            .fetch_optional(target)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    pub(crate) async fn fetch_all<'e>(
        self,
        target: impl Into<Target<'e>>,
    ) -> Result<Vec<T>, sqlx::Error> {
        let decode = self.decode;
        self.query
            .fetch_all(target)
            .await?
            .iter()
            .map(decode)
            .collect()
    }
}

/// A tuple read from a row's columns in order.
#[cfg(feature = "devkit")]
pub(crate) trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, sqlx::Error>;
}

macro_rules! tuple_from_row {
    ($(($($t:ident $i:tt),+)),* $(,)?) => {$(
        #[cfg(feature = "devkit")]
        impl<$($t: Get),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self, sqlx::Error> {
                Ok(($(row.try_get::<$t, _>($i)?,)+))
            }
        }
    )*};
}

tuple_from_row! {
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
}

/// A row of either backend.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// A column, by name or position.
pub(crate) trait Column:
    ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + std::fmt::Debug
{
}

impl<I: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + std::fmt::Debug> Column for I {}

impl Row {
    pub(crate) fn try_get<T: Get, I: Column>(&self, column: I) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(row) => sqlx::Row::try_get::<T, _>(row, column),
            Row::Postgres(row) => {
                let value = sqlx::Row::try_get_raw(row, &column)?;
                T::from_postgres(value).map_err(|source| sqlx::Error::ColumnDecode {
                    index: format!("{column:?}"),
                    source,
                })
            }
        }
    }
}

/// What can be read from a column: SQLite's value as sqlx decodes it, PostgreSQL's by the
/// column's type (see the module's documentation).
pub(crate) trait Get: Sized + for<'r> Decode<'r, Sqlite> + sqlx::Type<Sqlite> {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError>;
}

fn type_of(value: &PgValueRef<'_>) -> PgTypeInfo {
    value.type_info().into_owned()
}

fn not_null(value: &PgValueRef<'_>) -> Result<(), BoxDynError> {
    if value.is_null() {
        Err(Box::new(sqlx::error::UnexpectedNullError))
    } else {
        Ok(())
    }
}

fn mismatch<T>(wanted: &str, value: &PgValueRef<'_>) -> Result<T, BoxDynError> {
    Err(format!(
        "a {} column cannot be read as {wanted}",
        type_of(value).name()
    )
    .into())
}

impl Get for i64 {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        not_null(&value)?;
        match type_of(&value).name() {
            "INT8" => <i64 as Decode<Postgres>>::decode(value),
            "INT4" => <i32 as Decode<Postgres>>::decode(value).map(i64::from),
            "INT2" => <i16 as Decode<Postgres>>::decode(value).map(i64::from),
            "TIMESTAMPTZ" | "TIMESTAMP" => {
                let micros = <i64 as Decode<Postgres>>::decode(value)?;
                Ok(micros.div_euclid(1000) + PG_EPOCH_MS)
            }
            _ => mismatch("an integer", &value),
        }
    }
}

impl Get for i32 {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(i32::try_from(i64::from_postgres(value)?)?)
    }
}

impl Get for f64 {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        not_null(&value)?;
        match type_of(&value).name() {
            "FLOAT8" => <f64 as Decode<Postgres>>::decode(value),
            "FLOAT4" => <f32 as Decode<Postgres>>::decode(value).map(f64::from),
            "INT8" | "INT4" | "INT2" => i64::from_postgres(value).map(|v| v as f64),
            _ => mismatch("a number", &value),
        }
    }
}

impl Get for bool {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        not_null(&value)?;
        match type_of(&value).name() {
            "BOOL" => <bool as Decode<Postgres>>::decode(value),
            _ => mismatch("a boolean", &value),
        }
    }
}

impl Get for String {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        not_null(&value)?;
        match type_of(&value).name() {
            "UUID" => Ok(uuid::Uuid::from_slice(value.as_bytes()?)?.to_string()),
            "JSONB" => match value.as_bytes()?.split_first() {
                Some((1, text)) => Ok(std::str::from_utf8(text)?.to_owned()),
                _ => Err("jsonb in an unknown format".into()),
            },
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "JSON" | "UNKNOWN" => {
                <String as Decode<Postgres>>::decode(value)
            }
            _ => mismatch("text", &value),
        }
    }
}

impl Get for Vec<u8> {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        not_null(&value)?;
        match type_of(&value).name() {
            "BYTEA" => <Vec<u8> as Decode<Postgres>>::decode(value),
            _ => mismatch("bytes", &value),
        }
    }
}

impl<T: Get> Get for Option<T> {
    fn from_postgres(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            Ok(None)
        } else {
            T::from_postgres(value).map(Some)
        }
    }
}

/// A value bound to a PostgreSQL statement, encoded as the parameter type the server inferred.
struct PgParam<'a> {
    arg: &'a Arg,
    ty: &'a PgTypeInfo,
}

impl sqlx::Type<Postgres> for PgParam<'_> {
    fn type_info() -> PgTypeInfo {
        // Never asked: `produces` names each value's type.
        PgTypeInfo::with_name("TEXT")
    }
}

impl Encode<'_, Postgres> for PgParam<'_> {
    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.ty.clone())
    }

    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        use sqlx::encode::IsNull;
        let name = self.ty.name();
        match (name, self.arg) {
            (_, Arg::Null) => return Ok(IsNull::Yes),
            ("INT8", Arg::Int(v)) => buf.extend_from_slice(&v.to_be_bytes()),
            ("INT4", Arg::Int(v)) => buf.extend_from_slice(&i32::try_from(*v)?.to_be_bytes()),
            ("INT2", Arg::Int(v)) => buf.extend_from_slice(&i16::try_from(*v)?.to_be_bytes()),
            ("INT8", Arg::Bool(v)) => buf.extend_from_slice(&i64::from(*v).to_be_bytes()),
            ("INT4", Arg::Bool(v)) => buf.extend_from_slice(&i32::from(*v).to_be_bytes()),
            ("BOOL", Arg::Bool(v)) => buf.push(u8::from(*v)),
            ("BOOL", Arg::Int(v)) => buf.push(u8::from(*v != 0)),
            ("FLOAT8", Arg::Float(v)) => buf.extend_from_slice(&v.to_bits().to_be_bytes()),
            ("FLOAT8", Arg::Int(v)) => buf.extend_from_slice(&(*v as f64).to_bits().to_be_bytes()),
            ("TIMESTAMPTZ" | "TIMESTAMP", Arg::Int(ms)) => {
                let micros = ms
                    .checked_sub(PG_EPOCH_MS)
                    .and_then(|ms| ms.checked_mul(1000))
                    .ok_or("instant out of range")?;
                buf.extend_from_slice(&micros.to_be_bytes());
            }
            ("TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" | "JSON", Arg::Text(v)) => {
                buf.extend_from_slice(v.as_bytes())
            }
            ("UUID", Arg::Text(v)) => {
                let id = uuid::Uuid::parse_str(v).unwrap_or(uuid::Uuid::nil());
                buf.extend_from_slice(id.as_bytes());
            }
            ("JSONB", Arg::Text(v)) => {
                buf.push(1);
                buf.extend_from_slice(v.as_bytes());
            }
            ("BYTEA", Arg::Bytes(v)) => buf.extend_from_slice(v),
            (name, arg) => {
                return Err(
                    format!("cannot bind {} to a parameter of type {name}", arg.kind()).into(),
                )
            }
        }
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instants (before PostgreSQL's epoch too), ids and JSON go in as plain values and come
    /// back the same, on SQLite and, given `TEST_DATABASE_URL`, on PostgreSQL's native types;
    /// a malformed id bound where a uuid is expected finds nothing instead of failing.
    #[tokio::test]
    async fn plain_values_round_trip_through_native_columns() {
        let (dir, sqlite) = super::super::tests::scratch_sqlite("pgw-db");
        let mut urls = vec![(sqlite, "BIGINT", "TEXT", "TEXT")];
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            urls.push((url, "timestamptz", "uuid", "jsonb"));
        }
        for (url, instant, id, json) in urls {
            let pool = Pool::single(&url).await.unwrap();
            let mut conn = pool.begin_write().await.unwrap();
            conn.execute_unprepared(&format!(
                "CREATE TEMPORARY TABLE round_trip (id {id} PRIMARY KEY, at {instant} NOT NULL, \
                 doc {json} NOT NULL, gone {instant})"
            ))
            .await
            .unwrap();
            let id = uuid::Uuid::now_v7().to_string();
            let instants = [1_733_600_000_123_i64, 946_684_799_999, 0, -1];
            for (n, at) in instants.iter().enumerate() {
                let key = if n == 0 {
                    id.clone()
                } else {
                    uuid::Uuid::now_v7().to_string()
                };
                query("INSERT INTO round_trip (id, at, doc, gone) VALUES ($1, $2, $3, $4)")
                    .bind(&key)
                    .bind(*at)
                    .bind(r#"{"a":[1,2]}"#)
                    .bind(None::<i64>)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            let rows = query("SELECT id, at, doc, gone FROM round_trip ORDER BY at DESC")
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let read: Vec<i64> = rows.iter().map(|r| r.try_get("at").unwrap()).collect();
            assert_eq!(read, instants, "{url}");
            let doc: String = rows[0].try_get("doc").unwrap();
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&doc).unwrap(),
                serde_json::json!({ "a": [1, 2] })
            );
            assert_eq!(rows[0].try_get::<String, _>("id").unwrap(), id);
            assert_eq!(rows[0].try_get::<Option<i64>, _>("gone").unwrap(), None);
            let found: Option<i64> = query_scalar("SELECT at FROM round_trip WHERE id = $1")
                .bind("not-an-id")
                .fetch_optional(&mut conn)
                .await
                .unwrap();
            assert_eq!(found, None);
            conn.close().await.unwrap();
            pool.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Deferred writes run before the next statement on the connection, in the order they
    /// were deferred, together (SQLite: one text, each statement's parameters renumbered;
    /// PostgreSQL: one statement of `WITH` clauses, a foreign key to a row inserted alongside
    /// included), and `flush` reports what each did under its tag. Writes forgotten after a
    /// rollback to a savepoint never run.
    #[tokio::test]
    async fn deferred_writes_run_together_before_the_next_statement() {
        let (dir, sqlite) = super::super::tests::scratch_sqlite("pgw-defer");
        let mut urls = vec![sqlite];
        urls.extend(std::env::var("TEST_DATABASE_URL").ok());
        for url in urls {
            let pool = Pool::single(&url).await.unwrap();
            let mut conn = pool.begin_write().await.unwrap();
            conn.execute_unprepared(
                "CREATE TEMPORARY TABLE deferred (id TEXT PRIMARY KEY, n BIGINT NOT NULL); \
                 CREATE TEMPORARY TABLE child (id TEXT PRIMARY KEY, \
                 parent TEXT NOT NULL REFERENCES deferred (id))",
            )
            .await
            .unwrap();
            let insert = "INSERT INTO deferred (id, n) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";
            conn.defer(query(insert).bind("a").bind(1_i64), "a");
            conn.defer(
                query("INSERT INTO child (id, parent) VALUES ($1, $2)")
                    .bind("c1")
                    .bind("a"),
                "child",
            );
            conn.send_deferred().await.unwrap();
            assert_eq!(conn.take_done("a"), Some(1), "{url}");
            conn.defer(query(insert).bind("a").bind(2_i64), "again");
            conn.defer(
                query("UPDATE deferred SET n = n + $2 WHERE id = $1")
                    .bind("a")
                    .bind(10_i64),
                "bump",
            );
            conn.defer(query(insert).bind("b").bind(5_i64), "b");
            assert_eq!(conn.take_done("b"), None, "not run yet: {url}");
            // The next statement sees them all.
            let n: i64 = query_scalar("SELECT CAST(SUM(n) AS BIGINT) FROM deferred")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(n, 16, "{url}");
            let done = conn.flush().await.unwrap();
            let expected: &[(&str, u64)] = &[("child", 1), ("again", 0), ("bump", 1), ("b", 1)];
            assert_eq!(done, expected, "{url}");
            assert!(conn.flush().await.unwrap().is_empty());

            conn.execute_unprepared("SAVEPOINT s").await.unwrap();
            conn.defer(query(insert).bind("c").bind(1_i64), "c");
            conn.forget_deferred();
            conn.execute_unprepared("ROLLBACK TO SAVEPOINT s")
                .await
                .unwrap();
            // A write deferred after the rollback runs, alone.
            conn.defer(query(insert).bind("d").bind(1_i64), "d");
            let ids: Vec<String> = query_scalar("SELECT id FROM deferred ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
            assert_eq!(ids, ["a", "b", "d"], "{url}");
            assert_eq!(conn.flush().await.unwrap(), [("d", 1)], "{url}");
            conn.close().await.unwrap();
            pool.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn renumbered_moves_every_parameter_past_the_ones_before() {
        assert_eq!(
            renumbered("a = $1 AND b IN ($2, $10) AND c = '$'", 5),
            "a = $6 AND b IN ($7, $15) AND c = '$'"
        );
        assert_eq!(renumbered("x = $1", 0), "x = $1");
        // As `positional`: a `$n` in quoted text or a comment is no parameter.
        assert_eq!(
            renumbered("a = $1 AND b = '$2' -- $3\n AND c = $2", 5),
            "a = $6 AND b = '$2' -- $3\n AND c = $7"
        );
    }

    #[test]
    fn parameters_in_order_become_plain_question_marks() {
        assert_eq!(
            positional("INSERT INTO t VALUES ($1, $2), ($3, $4)").as_deref(),
            Some("INSERT INTO t VALUES (?, ?), (?, ?)")
        );
        // Quoted text and comments are left alone, a `$` in them is no parameter.
        assert_eq!(
            positional("SELECT json_extract(d, '$.a$1'), \"$2\" -- $9\n/* $7 */ FROM t WHERE a = $1 AND b = 'it''s $3' AND c = $2").as_deref(),
            Some("SELECT json_extract(d, '$.a$1'), \"$2\" -- $9\n/* $7 */ FROM t WHERE a = ? AND b = 'it''s $3' AND c = ?")
        );
        assert_eq!(positional("SELECT 1").as_deref(), Some("SELECT 1"));
        // Repeated, out of order, skipped or already positional: as they are.
        assert_eq!(positional("a = $1 OR $1 IS NULL"), None);
        assert_eq!(positional("a = $2 AND b = $1"), None);
        assert_eq!(positional("a = $1 AND b = $3"), None);
        assert_eq!(positional("a = ? AND b = $1"), None);
    }

    #[test]
    fn options_bind_as_null_or_their_value() {
        assert!(matches!(None::<i64>.into_arg(), Arg::Null));
        assert!(matches!(Some("x").into_arg(), Arg::Text(t) if t == "x"));
        assert!(matches!(Some(3_i64).into_arg(), Arg::Int(3)));
    }
}
