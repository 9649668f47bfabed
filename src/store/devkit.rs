//! The statements the developer kit runs behind the gateway's back: the black-box tests and
//! the bench read what was stored, make scratch databases, and stage what an older version,
//! an operator or a crashed instance would have left, so that no SQL lives outside `store/`.
//!
//! Each function opens a connection of its own to the database URL it is given and closes it
//! before it returns (the gateway under test keeps its own pool). None of this is used by the
//! gateway itself; it exists only with the `devkit` feature.

use chrono::Utc;
use sqlx::{Connection, Executor};

use super::db::{self, Conn};
use super::Backend;

async fn pool(url: &str) -> Result<db::Pool, sqlx::Error> {
    db::Pool::single(url).await
}

async fn connection(url: &str) -> Result<Conn, sqlx::Error> {
    Ok(pool(url).await?.acquire().await?.into_inner())
}

/// Runs `statement` on its own connection to `url` (one write behind the gateway's back).
async fn execute(url: &str, statement: super::Bound<'_>) -> Result<(), sqlx::Error> {
    let mut conn = connection(url).await?;
    let done = statement.execute(&mut conn).await;
    conn.close().await?;
    done.map(drop)
}

fn backend(url: &str) -> Result<Backend, sqlx::Error> {
    Backend::from_url(url).ok_or_else(|| {
        sqlx::Error::Configuration(format!("not a sqlite: or postgres: URL: {url}").into())
    })
}

/// Makes the empty PostgreSQL database `name` on the server of `admin_url`, so a test or a
/// bench run starts from nothing and leaves the server's other databases alone.
pub async fn create_scratch_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = sqlx::postgres::PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await?;
    admin.close().await
}

/// Removes what [`create_scratch_database`] made, even while a killed gateway's sessions
/// still hold it.
pub async fn drop_scratch_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = sqlx::postgres::PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    admin.close().await
}

/// `SELECT COUNT(*) FROM {from_where}`: a table, optionally with a `WHERE` clause, for tests
/// that check what was (not) stored.
pub async fn count_where(url: &str, from_where: &str) -> Result<i64, sqlx::Error> {
    count(url, from_where, None).await
}

/// Like [`count_where`], with `$1` in the clause bound to the instant `at`: the database
/// compares it with its instant columns however it stores them.
pub async fn count_where_at(
    url: &str,
    from_where: &str,
    at: chrono::DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    count(url, from_where, Some(at)).await
}

/// `SELECT COUNT(*) FROM {from_where}`, with `$1` bound to `at` when given.
async fn count(
    url: &str,
    from_where: &str,
    at: Option<chrono::DateTime<Utc>>,
) -> Result<i64, sqlx::Error> {
    let pool = pool(url).await?;
    let sql = format!("SELECT COUNT(*) FROM {from_where}");
    let mut query = db::query_scalar(&sql);
    if let Some(at) = at {
        query = query.bind(super::millis(at));
    }
    let n = query.fetch_one(&pool).await;
    pool.close().await;
    n
}

/// The stored timeline of an incident, oldest first, as (kind, detail JSON text): tests check
/// what the timeline says without going through a page that renders it.
pub async fn incident_timeline(
    url: &str,
    incident_id: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let pool = pool(url).await?;
    let rows = db::query_as(
        "SELECT kind, detail FROM incident_events WHERE incident_id = $1 ORDER BY at, id",
    )
    .bind(incident_id)
    .fetch_all(&pool)
    .await;
    pool.close().await;
    rows
}

/// One column of an incident's deliveries over `channel` (`sms`, `voice`, ...), oldest first:
/// the provider ids and reply codes the API never shows.
pub async fn delivery_column(
    url: &str,
    incident_id: &str,
    channel: &str,
    column: &str,
) -> Result<Vec<Option<String>>, sqlx::Error> {
    let pool = pool(url).await?;
    let rows: Result<Vec<(Option<String>,)>, _> = db::query_as(&format!(
        "SELECT {column} FROM deliveries WHERE incident_id = $1 AND channel = $2 \
         ORDER BY created_at"
    ))
    .bind(incident_id)
    .bind(channel)
    .fetch_all(&pool)
    .await;
    pool.close().await;
    Ok(rows?.into_iter().map(|r| r.0).collect())
}

/// An incident's row of the `report_incidents` view as a dashboard sees it: the column type
/// of `created_at` (`timestamp with time zone` on PostgreSQL, `text` on SQLite), then
/// `created_at`, `acknowledged_at` and `acknowledged_by` as ISO 8601 UTC text to the
/// millisecond, and `seconds_to_acknowledge`.
pub async fn report_view_row(
    url: &str,
    incident_id: &str,
) -> Result<(String, String, Option<String>, Option<String>, Option<f64>), sqlx::Error> {
    let sql = match backend(url)? {
        Backend::Postgres => {
            "SELECT pg_typeof(created_at)::text, \
             to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             to_char(acknowledged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             acknowledged_by, CAST(seconds_to_acknowledge AS DOUBLE PRECISION) \
             FROM report_incidents WHERE incident_id = $1"
        }
        Backend::Sqlite => {
            "SELECT typeof(created_at), created_at, acknowledged_at, acknowledged_by, \
             seconds_to_acknowledge FROM report_incidents WHERE incident_id = $1"
        }
    };
    let pool = pool(url).await?;
    let row = db::query_as(sql).bind(incident_id).fetch_one(&pool).await;
    pool.close().await;
    row
}

/// (state, attempts) of an incident's pages, oldest first: how the dispatcher treated each.
pub async fn page_states(url: &str, incident_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let pool = pool(url).await?;
    let rows = db::query_as(
        "SELECT state, attempts FROM deliveries WHERE incident_id = $1 AND kind = 'page' \
         ORDER BY created_at",
    )
    .bind(incident_id)
    .fetch_all(&pool)
    .await;
    pool.close().await;
    rows
}

/// The attempts of the one webhook delivery stored: how often the gateway tried it.
pub async fn webhook_attempts(url: &str) -> Result<i64, sqlx::Error> {
    let pool = pool(url).await?;
    let n = db::query_scalar("SELECT attempts FROM webhook_deliveries")
        .fetch_one(&pool)
        .await;
    pool.close().await;
    n
}

/// SQLite's journal mode of the file at `url` (`wal` for the gateway's own).
pub async fn journal_mode(url: &str) -> Result<String, sqlx::Error> {
    let mut conn = connection(url).await?;
    let mode = db::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(mode)
}

/// Forgets that migration `version` ran, as restoring a backup from before it would: the
/// schema is then behind the binary.
pub async fn forget_migration(url: &str, version: i64) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(version),
    )
    .await
}

/// Takes the schema back to before migration 22 (deliveries without `customer_id`), keeping
/// every row, as a database last written by an older gateway would be; the next start
/// migrates it again.
pub async fn undo_claim_by_customer(url: &str) -> Result<(), sqlx::Error> {
    let mut conn = connection(url).await?;
    for statement in [
        "DROP INDEX deliveries_pending_by_customer",
        "ALTER TABLE deliveries DROP COLUMN customer_id",
        "CREATE INDEX deliveries_claim_order ON deliveries (state, first_page, due_at)",
        "DELETE FROM _sqlx_migrations WHERE version = 22",
    ] {
        conn.execute_unprepared(statement).await?;
    }
    conn.close().await
}

/// Takes a PostgreSQL schema back to before migration 23 (native column types): instants to
/// `BIGINT` milliseconds, uuid and jsonb columns to text, the old dashboards' view, keeping
/// every row, as a database last written by an older gateway would be; the next start
/// migrates it again. The statements are derived from migration 23 itself, so the two cannot
/// drift apart. On SQLite, where 23 changes nothing, only its record is removed. The
/// migrations after 23 are undone first (their tables dropped).
pub async fn undo_native_types(url: &str) -> Result<(), sqlx::Error> {
    let mut statements = vec![
        "DROP TABLE customer_updates".to_owned(),
        "DELETE FROM _sqlx_migrations WHERE version > 23".to_owned(),
    ];
    if backend(url)? == Backend::Postgres {
        let forward = include_str!("../../migrations/postgres/0023_native_types.sql");
        statements.push("DROP VIEW report_incidents".to_owned());
        for statement in forward.split(';').map(str::trim) {
            let code: Vec<&str> = statement
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            let code = code.join("\n");
            if code.contains("DROP CONSTRAINT") || code.contains("ADD CONSTRAINT") {
                statements.push(code);
            } else if code.starts_with("ALTER TABLE") {
                statements.push(code.lines().map(backwards).collect::<Vec<_>>().join("\n"));
            }
        }
        let old_view = include_str!("../../migrations/postgres/0021_report_view.sql");
        statements.push(old_view.to_owned());
    }
    statements.push("DELETE FROM _sqlx_migrations WHERE version = 23".to_owned());
    let mut conn = connection(url).await?;
    for statement in &statements {
        conn.execute_unprepared(statement).await?;
    }
    conn.close().await
}

/// One `ALTER COLUMN` line of migration 23, turned around.
fn backwards(line: &str) -> String {
    let Some((head, _)) = line.split_once(" TYPE ") else {
        return line.to_owned();
    };
    let column = head.trim().trim_start_matches("ALTER COLUMN ");
    let tail = if line.trim_end().ends_with(',') {
        ","
    } else {
        ""
    };
    if line.contains("TYPE timestamptz") {
        format!("{head} TYPE bigint USING (EXTRACT(EPOCH FROM {column}) * 1000)::bigint{tail}")
    } else {
        format!("{head} TYPE text USING {column}::text{tail}")
    }
}

/// The type PostgreSQL (`information_schema`'s name) or SQLite (the declared type) gives
/// `table.column`.
pub async fn column_type(url: &str, table: &str, column: &str) -> Result<String, sqlx::Error> {
    let pool = pool(url).await?;
    let ty = match backend(url)? {
        Backend::Postgres => {
            db::query_scalar(
                "SELECT data_type FROM information_schema.columns \
                 WHERE table_name = $1 AND column_name = $2",
            )
            .bind(table)
            .bind(column)
            .fetch_one(&pool)
            .await
        }
        Backend::Sqlite => {
            db::query_scalar(&format!(
                "SELECT type FROM pragma_table_info('{table}') WHERE name = $1"
            ))
            .bind(column)
            .fetch_one(&pool)
            .await
        }
    };
    pool.close().await;
    ty
}

/// Stores every webhook endpoint's secret in plain text, as versions before sealing did.
pub async fn store_plain_webhook_secrets(url: &str, plain: &str) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("UPDATE webhook_endpoints SET sealed_secret = $1").bind(plain),
    )
    .await
}

/// Overwrites a tier's stored SLA (JSON text), as someone editing the database behind the
/// API's back would, skipping every check the API makes.
pub async fn overwrite_tier_sla(url: &str, tier_id: &str, sla: &str) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("UPDATE tiers SET sla = $1 WHERE id = $2")
            .bind(sla)
            .bind(tier_id),
    )
    .await
}

/// Disables every contact method, as failed deliveries to dead numbers would.
pub async fn disable_every_contact_method(url: &str) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("UPDATE contact_methods SET disabled_at = $1, disabled_reason = 'test'")
            .bind(1_i64),
    )
    .await
}

/// Stores `token` as a device's push token without the checks the API makes, as versions
/// before tokens were checked could have.
pub async fn store_unchecked_push_token(
    url: &str,
    device_id: &str,
    token: &str,
) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("UPDATE devices SET push_token = $1 WHERE id = $2")
            .bind(token)
            .bind(device_id),
    )
    .await
}

/// Leaves every customer update as a gateway stopped between an acknowledgement's commit and
/// the update's fan-out would: recorded, not fanned out, no delivery queued.
pub async fn forget_customer_update_fan_outs(url: &str) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("DELETE FROM deliveries WHERE kind = 'update'"),
    )
    .await?;
    execute(
        url,
        db::query("UPDATE customer_updates SET fanned_out_at = NULL"),
    )
    .await
}

/// Leaves every delivery claimed once by an instance that crashed, its leases running until
/// `until_ms` (unix milliseconds): another instance must leave them alone until then.
pub async fn lease_deliveries_to_a_crashed_instance(
    url: &str,
    until_ms: i64,
) -> Result<(), sqlx::Error> {
    execute(
        url,
        db::query("UPDATE deliveries SET lease_owner = 'crashed', lease_until = $1, attempts = 1")
            .bind(until_ms),
    )
    .await
}

/// Installs a trigger that makes the database itself refuse an alert whose summary is
/// `summary` (a value the caller chooses, quoted as is): a statement failing inside the
/// gateway's transaction, which the API cannot cause.
pub async fn refuse_alerts_summarised(url: &str, summary: &str) -> Result<(), sqlx::Error> {
    let statements = match backend(url)? {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_alert BEFORE INSERT ON alerts WHEN NEW.summary = '{summary}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
        Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.summary = '{summary}' THEN RAISE EXCEPTION 'refused by the test' \
                 USING ERRCODE = '22P05'; END IF; RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_alert BEFORE INSERT ON alerts FOR EACH ROW \
             EXECUTE FUNCTION refuse_alert()"
                .to_owned(),
        ],
    };
    let mut conn = connection(url).await?;
    for statement in statements {
        conn.execute_unprepared(statement.as_str()).await?;
    }
    conn.close().await
}

/// A transaction outside the gateway holding locks the gateway's writes need, so a test can
/// make writes queue (or prove that a request does not wait for them) and then let go.
pub struct OutsideTransaction(Conn);

impl OutsideTransaction {
    /// Holds what a write to `tables` needs: SQLite's one write lock, or on PostgreSQL those
    /// tables locked against writes.
    pub async fn lock_writes(url: &str, tables: &[&str]) -> Result<Self, sqlx::Error> {
        let backend = backend(url)?;
        let mut conn = connection(url).await?;
        match backend {
            Backend::Sqlite => {
                conn.execute_unprepared("BEGIN IMMEDIATE").await?;
            }
            Backend::Postgres => {
                conn.execute_unprepared("BEGIN").await?;
                conn.execute_unprepared(&format!(
                    "LOCK TABLE {} IN EXCLUSIVE MODE",
                    tables.join(", ")
                ))
                .await?;
            }
        }
        Ok(Self(conn))
    }

    /// Holds what the first P1 press of `customer_id` needs: SQLite's write lock, or on
    /// PostgreSQL the customer's row, which a P1 press locks.
    pub async fn lock_customer(url: &str, customer_id: &str) -> Result<Self, sqlx::Error> {
        let backend = backend(url)?;
        let mut conn = connection(url).await?;
        match backend {
            Backend::Sqlite => {
                conn.execute_unprepared("BEGIN IMMEDIATE").await?;
            }
            Backend::Postgres => {
                conn.execute_unprepared("BEGIN").await?;
                db::query("SELECT id FROM customers WHERE id = $1 FOR UPDATE")
                    .bind(customer_id)
                    .fetch_one(&mut conn)
                    .await?;
            }
        }
        Ok(Self(conn))
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.0.execute_unprepared("COMMIT").await
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.0.execute_unprepared("ROLLBACK").await
    }
}

/// The bench's floor: one durable insert transaction on the same database, with the same
/// durability settings as the gateway's, timed by the caller.
pub struct FloorTable {
    conn: Conn,
    backend: Backend,
}

impl FloorTable {
    /// Connects and makes the scratch table `bench_floor`.
    pub async fn create(url: &str) -> Result<Self, sqlx::Error> {
        let backend = backend(url)?;
        let mut conn = connection(url).await?;
        if backend == Backend::Sqlite {
            conn.execute_unprepared(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )
            .await?;
        }
        conn.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, at BIGINT NOT NULL)",
        )
        .await?;
        Ok(Self { conn, backend })
    }

    /// One row in a transaction of its own, committed (a write transaction on SQLite).
    pub async fn insert_one(&mut self) -> Result<(), sqlx::Error> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.conn.execute_unprepared(begin).await?;
        db::query("INSERT INTO bench_floor (id, at) VALUES ($1, $2)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(Utc::now().timestamp_millis())
            .execute(&mut self.conn)
            .await?;
        self.conn.execute_unprepared("COMMIT").await
    }

    /// Drops the scratch table.
    pub async fn drop_table(mut self) -> Result<(), sqlx::Error> {
        self.conn.execute_unprepared("DROP TABLE bench_floor").await
    }
}
