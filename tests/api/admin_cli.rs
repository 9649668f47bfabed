//! `panic-gateway admin …` follows `database.migrate_on_start` as `serve` does: with it off, an
//! admin command never changes the schema; on a schema that is behind it refuses, saying what
//! to run, and works once `panic-gateway migrate` has run.

use std::process::Output;

use panic_gateway::auth::secrets::ADMIN_KEY_PREFIX;
use panic_gateway::store::Store;

use crate::on_both_backends;
use crate::support::{test_settings, TestBackend, TestDatabase};

on_both_backends!(admin_commands_do_not_migrate_when_migrate_on_start_is_off);

fn gateway(url: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_panic-gateway"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("PANIC_GATEWAY_CONFIG")
        .env("PANIC_GATEWAY__DATABASE__MIGRATE_ON_START", "false")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

async fn applied_version(url: &str) -> i64 {
    let store = Store::connect(&test_settings(url).database).await.unwrap();
    let state = store.migration_state().await.unwrap();
    store.close().await;
    state.applied
}

async fn admin_commands_do_not_migrate_when_migrate_on_start_is_off(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let create_key = ["admin", "create-key", "--name", "ops"];

    let refused = gateway(db.url(), &create_key);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    // Only the failure's log line: no key.
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!stdout.contains(ADMIN_KEY_PREFIX), "{stdout}");
    assert!(stderr.contains("migrate_on_start is off"), "{stderr}");
    assert!(stderr.contains("panic-gateway migrate"), "{stderr}");
    assert_eq!(
        applied_version(db.url()).await,
        0,
        "the schema is untouched"
    );

    let migrated = gateway(db.url(), &["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(applied_version(db.url()).await > 0);

    let created = gateway(db.url(), &create_key);
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{stderr}");
    let key = String::from_utf8(created.stdout).unwrap();
    assert!(key.trim().starts_with(ADMIN_KEY_PREFIX), "{key}");
}
