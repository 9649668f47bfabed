//! The database settings, owned here and composed into [`crate::config::Settings`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` (embedded default) or `postgres://user@host/db`.
    pub url: String,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// How long a request waits for a connection before answering 503 with Retry-After.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://panic-gateway.db?mode=rwc".into(),
            max_connections: 8,
            migrate_on_start: true,
            acquire_timeout_ms: 3000,
        }
    }
}
