//! Schema migrations, embedded in the binary so a deployed gateway needs no files beside it.
//!
//! `migrations/sqlite/` and `migrations/postgres/` hold the same numbered steps in each dialect;
//! both are listed here once, and a test checks the list against the directories. sqlx's
//! migrator runs them (checksums, dirty detection, PostgreSQL advisory lock).

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::{db, Backend, Store, StoreError};

macro_rules! embedded {
    ($($version:literal => $name:literal),* $(,)?) => {
        const SQLITE: &[(i64, &str, &str)] = &[$(
            ($version, $name, include_str!(concat!("../../migrations/sqlite/", $name, ".sql"))),
        )*];
        const POSTGRES: &[(i64, &str, &str)] = &[$(
            ($version, $name, include_str!(concat!("../../migrations/postgres/", $name, ".sql"))),
        )*];
    };
}

embedded! {
    1 => "0001_init",
    2 => "0002_identity",
    3 => "0003_incidents",
    4 => "0004_oncall",
    5 => "0005_sla",
    6 => "0006_webhooks",
    7 => "0007_claim_indexes",
    8 => "0008_idempotency_prune",
    9 => "0009_paging",
    10 => "0010_dev_signing_key",
    11 => "0011_admin_keys",
    12 => "0012_enrollment_codes",
    13 => "0013_webhook_secrets",
    14 => "0014_calendar_feeds",
    15 => "0015_ticket_waiting",
    16 => "0016_escalation_links",
    17 => "0017_contact_methods",
    18 => "0018_staff_console",
    19 => "0019_teams",
    20 => "0020_readiness",
    21 => "0021_report_view",
    22 => "0022_claim_by_customer",
    23 => "0023_native_types",
    24 => "0024_customer_updates",
}

/// Where the database stands against the migrations this binary carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationState {
    pub applied: i64,
    pub expected: i64,
}

impl MigrationState {
    pub fn is_current(&self) -> bool {
        self.applied >= self.expected
    }
}

/// The newest migration version compiled in.
pub fn latest_version() -> i64 {
    SQLITE.last().map(|m| m.0).unwrap_or(0)
}

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let source = match store.backend {
        Backend::Sqlite => Embedded(SQLITE),
        Backend::Postgres => Embedded(POSTGRES),
    };
    let migrator = Migrator::new(source).await?;
    match &store.pool {
        db::Pool::Sqlite(pool) => migrator.run(pool).await?,
        db::Pool::Postgres(pool) => migrator.run(pool).await?,
    }
    Ok(())
}

pub(super) async fn state(store: &Store) -> Result<MigrationState, StoreError> {
    let applied: Option<i64> = match db::query_scalar::<Option<i64>>(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(&store.pool)
    .await
    {
        Ok(v) => v,
        // No migration table yet: nothing applied.
        Err(sqlx::Error::Database(_)) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(MigrationState {
        applied: applied.unwrap_or(0),
        expected: latest_version(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_for_both_backends() {
        let listed: Vec<String> = SQLITE.iter().map(|m| m.1.to_owned()).collect();
        assert_eq!(
            files(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")),
            listed
        );
        assert_eq!(
            files(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")),
            listed
        );
        for (i, m) in SQLITE.iter().enumerate() {
            assert_eq!(m.0, i as i64 + 1, "versions are consecutive");
            assert!(m.1.starts_with(&format!("{:04}_", m.0)));
        }
    }
}
