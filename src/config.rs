//! Layered settings: built-in defaults < TOML file < `PANIC_GATEWAY__*` environment variables
//! < command-line flags.
//!
//! Every struct denies unknown keys, so a typo in a file or an environment variable stops the
//! start with the key's dotted name instead of being silently ignored. `Settings::validate`
//! checks what serde cannot (ranges, URL schemes, filter syntax) and names the setting too.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;

/// The file read when no `--config` is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "panic-gateway.toml";
/// Prefix of environment variables; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "PANIC_GATEWAY__";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: crate::store::DatabaseSettings,
    pub log: crate::telemetry::LogSettings,
    pub auth: crate::auth::AuthSettings,
    /// The written P1 definition: what makes a panic press a P1.
    pub p1: crate::domain::p1_definition::P1Definition,
    pub dispatch: crate::engine::dispatcher::DispatchSettings,
    pub escalation: crate::engine::escalator::EscalationSettings,
    pub push: crate::push::settings::PushSettings,
    /// Paging channels besides push: Twilio for SMS.
    pub channels: crate::channels::settings::ChannelSettings,
    /// Panic-press intake: the flood guard and how long idempotency keys are kept.
    pub intake: crate::store::incidents::IntakeSettings,
    /// Where `/metrics` is served.
    pub metrics: crate::telemetry::MetricsSettings,
    /// Outbound webhooks: where they may go, how their secrets are kept, how they are sent.
    pub webhooks: crate::engine::webhooks::WebhookSettings,
    /// The customer's self-escalation links: how long they work.
    pub escalation_links: crate::store::escalation_links::EscalationLinkSettings,
    /// The staff console: sessions and invites.
    pub console: ConsoleSettings,
    /// The readiness check and shift reminders.
    pub readiness: crate::engine::readiness::ReadinessSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// How long a graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Client connections open at once, across all workers. Past it new connections wait in
    /// the listen backlog instead of being accepted: under a burst every socket is a file
    /// descriptor, and a process out of them cannot open its SQLite database either (each
    /// press then failed with a 500). Keep it well below the open-files limit (`ulimit -n`).
    pub max_connections: usize,
    /// Reverse proxies (CIDR blocks or addresses) whose `X-Forwarded-For` names the client
    /// for the failure limits. Empty (the default): the header is never believed and the TCP
    /// peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The URL the world reaches this gateway at (`https://gateway.example.com`, optionally with
    /// a path prefix; a trailing slash is dropped): links the gateway hands out (the customer's
    /// self-escalation link) and the callback URLs given to Twilio are built on it, and Twilio's
    /// request signatures are made over it. Empty: the address the server listens on, right
    /// only when nothing (TLS terminator, proxy) stands in front.
    pub public_url: String,
}

impl ServerSettings {
    /// The public base URL from the settings alone, without a trailing slash (for commands
    /// that run without a server; a running one has `AppState::public_url`, with its bound port).
    pub fn public_base(&self) -> String {
        if self.public_url.trim().is_empty() {
            format!("http://{}:{}", self.host, self.port)
        } else {
            self.public_url.trim().trim_end_matches('/').to_owned()
        }
    }

    /// Whether the public address is https (then cookies are `Secure`).
    pub fn public_is_https(&self) -> bool {
        self.public_base().starts_with("https://")
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_secs: 30,
            workers: 0,
            max_connections: 4096,
            trusted_proxies: Vec::new(),
            public_url: String::new(),
        }
    }
}

/// The staff console's settings (`[console]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A session ends after this many minutes without a request (5..=1440).
    pub session_idle_minutes: u64,
    /// ... and at the latest this many hours after signing in (1..=720).
    pub session_lifetime_hours: u64,
    /// How long a set-password link stays usable, in hours (1..=720).
    pub invite_ttl_hours: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_lifetime_hours: 12,
            invite_ttl_hours: 72,
        }
    }
}

impl ConsoleSettings {
    pub fn idle(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.session_idle_minutes as i64)
    }

    pub fn lifetime(&self) -> chrono::Duration {
        chrono::Duration::hours(self.session_lifetime_hours as i64)
    }

    pub fn invite_ttl(&self) -> chrono::Duration {
        chrono::Duration::hours(self.invite_ttl_hours as i64)
    }

    /// The dotted key and the reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let ranges: [(&'static str, u64, std::ops::RangeInclusive<u64>); 3] = [
            (
                "console.session_idle_minutes",
                self.session_idle_minutes,
                5..=1440,
            ),
            (
                "console.session_lifetime_hours",
                self.session_lifetime_hours,
                1..=720,
            ),
            ("console.invite_ttl_hours", self.invite_ttl_hours, 1..=720),
        ];
        for (key, value, range) in ranges {
            if !range.contains(&value) {
                return Err((
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        Ok(())
    }
}

/// A setting that cannot be used, with its dotted name.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// Where the settings come from, lowest precedence first.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// An explicit file must exist; without one, `panic-gateway.toml` is read if present.
    pub file: Option<PathBuf>,
    /// Read `PANIC_GATEWAY__*` from the process environment (off in tests for isolation).
    pub environment: bool,
    /// Highest-precedence overrides as (dotted key, value), e.g. from CLI flags.
    pub overrides: Vec<(String, serde_json::Value)>,
}

impl Settings {
    /// Loads and validates settings from `sources`.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match &sources.file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.clone())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        if sources.environment {
            figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        }
        for (key, value) in &sources.overrides {
            figment = figment.merge(Serialized::default(key, value));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.host.trim().is_empty() {
            return Err(invalid("server.host", "must not be empty"));
        }
        if !(16..=1_000_000).contains(&self.server.max_connections) {
            return Err(invalid(
                "server.max_connections",
                "must be between 16 and 1000000",
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.body_limit_bytes) {
            return Err(invalid(
                "server.body_limit_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if !(100..=60_000).contains(&self.database.acquire_timeout_ms) {
            return Err(invalid(
                "database.acquire_timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if let Err(reason) = check_public_url(&self.server.public_url) {
            return Err(invalid("server.public_url", reason));
        }
        if !(1..=720).contains(&self.escalation_links.ttl_hours) {
            return Err(invalid(
                "escalation_links.ttl_hours",
                "must be between 1 and 720 (30 days)",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if let Err((key, reason)) = self.console.validate() {
            return Err(invalid(key, reason));
        }
        if let Err(reason) =
            crate::auth::client_address::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            return Err(invalid("server.trusted_proxies", reason));
        }
        if self.auth.max_concurrent_unauthenticated > self.database.max_connections {
            return Err(invalid(
                "auth.max_concurrent_unauthenticated",
                "must not exceed database.max_connections (enroll and refresh must leave \
                 connections for panic presses)",
            ));
        }
        if crate::store::Backend::from_url(&self.database.url).is_none() {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres: or postgresql:",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(invalid("log.level", e.to_string()));
        }
        let d = &self.dispatch;
        if d.sweep_interval_ms == 0 || d.lease_secs == 0 || d.batch_size == 0 || d.concurrency == 0
        {
            return Err(invalid(
                "dispatch",
                "sweep_interval_ms, lease_secs, batch_size and concurrency must be positive",
            ));
        }
        if d.backoff_base_ms == 0 || d.backoff_max_ms < d.backoff_base_ms {
            return Err(invalid(
                "dispatch.backoff_max_ms",
                "backoff_base_ms must be positive and not above backoff_max_ms",
            ));
        }
        if self.intake.flood_max_open == 0 {
            return Err(invalid("intake.flood_max_open", "must be at least 1"));
        }
        if self.intake.flood_window_secs == 0 {
            return Err(invalid("intake.flood_window_secs", "must be positive"));
        }
        if self.escalation.sweep_interval_ms == 0 {
            return Err(invalid("escalation.sweep_interval_ms", "must be positive"));
        }
        if let Err(reason) = self.metrics.address() {
            return Err(invalid("metrics.listen", reason));
        }
        let min = crate::engine::idempotency_pruner::MIN_RETENTION_HOURS;
        if !(min..=24 * 365).contains(&self.intake.idempotency_retention_hours) {
            return Err(invalid(
                "intake.idempotency_retention_hours",
                format!(
                    "must be between {min} and 8760: a phone may retry a press for hours, and \
                     a shorter retention would record a retry as a new alert"
                ),
            ));
        }
        if self.intake.idempotency_prune_interval_ms == 0 {
            return Err(invalid(
                "intake.idempotency_prune_interval_ms",
                "must be positive",
            ));
        }
        if let Err(e) = self.push.validate() {
            return Err(invalid(e.key, e.reason));
        }
        if let Err(e) = self.channels.twilio.validate() {
            return Err(invalid(e.key, e.reason));
        }
        if let Err(e) = self.channels.smtp.validate() {
            return Err(invalid(e.key, e.reason));
        }
        if let Err(e) = self.p1.validate() {
            return Err(invalid("p1.rules", e.to_string()));
        }
        if let Err((key, reason)) = self.webhooks.validate() {
            return Err(invalid(key, reason));
        }
        self.auth.validate()
    }

    /// How many enroll and refresh requests are handled at once
    /// (`auth.max_concurrent_unauthenticated`, or a quarter of the pool).
    pub fn max_concurrent_unauthenticated(&self) -> usize {
        match self.auth.max_concurrent_unauthenticated {
            0 => (self.database.max_connections / 4).max(1) as usize,
            n => n as usize,
        }
    }

    /// What `serve` needs beyond [`Settings::validate`]: a configured signing secret on
    /// PostgreSQL (several instances share the database, and each must sign with the same key;
    /// a key file beside one instance would not do). Other commands do not sign tokens.
    pub fn validate_for_serving(&self) -> Result<(), ConfigError> {
        if self.auth.jwt_secret_file.is_empty()
            && self.auth.jwt_secret.is_empty()
            && crate::store::Backend::from_url(&self.database.url)
                == Some(crate::store::Backend::Postgres)
        {
            return Err(invalid(
                "auth.jwt_secret_file",
                "is required with PostgreSQL (every instance must sign with the same key); \
                 generate one with `head -c 32 /dev/urandom | base64`",
            ));
        }
        Ok(())
    }
}

/// An absolute http(s) URL without query or fragment, or empty (unset).
fn check_public_url(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let url = url::Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(
            "must be an http or https URL with a host, e.g. https://gateway.example.com".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must have no query, fragment or credentials".into());
    }
    Ok(())
}

impl AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.jwt_secret_file.is_empty() {
            if !Path::new(&self.jwt_secret_file).is_file() {
                return Err(invalid("auth.jwt_secret_file", "file does not exist"));
            }
            let text = std::fs::read_to_string(&self.jwt_secret_file)
                .map_err(|e| invalid("auth.jwt_secret_file", format!("cannot be read: {e}")))?;
            crate::auth::parse_secret(&text).map_err(|r| invalid("auth.jwt_secret_file", r))?;
        }
        if !self.jwt_secret.is_empty() {
            crate::auth::parse_secret(&self.jwt_secret)
                .map_err(|r| invalid("auth.jwt_secret", r))?;
        }
        for secret in &self.previous_jwt_secrets {
            crate::auth::parse_secret(secret)
                .map_err(|r| invalid("auth.previous_jwt_secrets", r))?;
        }
        if self.refresh_reuse_grace_secs > 300 {
            return Err(invalid(
                "auth.refresh_reuse_grace_secs",
                "must be between 0 and 300",
            ));
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(invalid(
                "auth.issuer",
                "issuer and audience must not be empty",
            ));
        }
        let ranges: [(&'static str, u64, std::ops::RangeInclusive<u64>); 6] = [
            (
                "auth.access_token_ttl_secs",
                self.access_token_ttl_secs,
                60..=3600,
            ),
            (
                "auth.refresh_token_ttl_days",
                self.refresh_token_ttl_days,
                1..=365,
            ),
            (
                "auth.enrollment_code_ttl_hours",
                self.enrollment_code_ttl_hours,
                1..=720,
            ),
            (
                "auth.enrollment_failure_window_secs",
                self.enrollment_failure_window_secs,
                1..=86_400,
            ),
            (
                "auth.refresh_failure_window_secs",
                self.refresh_failure_window_secs,
                1..=86_400,
            ),
            (
                "auth.sign_in_failure_window_secs",
                self.sign_in_failure_window_secs,
                1..=86_400,
            ),
        ];
        for (key, value, range) in ranges {
            if !range.contains(&value) {
                return Err(invalid(
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        let minimums: [(&'static str, u32); 4] = [
            ("auth.enrollment_max_failures", self.enrollment_max_failures),
            (
                "auth.enrollment_global_failures_per_minute",
                self.enrollment_global_failures_per_minute,
            ),
            ("auth.refresh_max_failures", self.refresh_max_failures),
            ("auth.sign_in_max_failures", self.sign_in_max_failures),
        ];
        for (key, value) in minimums {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(toml: &str) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!("pgw-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.toml");
        std::fs::write(&path, toml).unwrap();
        let result = Settings::load(&Sources {
            file: Some(path),
            ..Sources::default()
        });
        std::fs::remove_dir_all(dir).ok();
        result
    }

    #[test]
    fn a_metrics_listener_that_is_not_an_address_is_refused_and_named() {
        let err = with_file("[metrics]\nlisten = \"metrics.internal\"\n").unwrap_err();
        assert!(err.to_string().contains("metrics.listen"), "{err}");
        let s = with_file("[metrics]\nlisten = \"0.0.0.0:9090\"\n").unwrap();
        assert_eq!(
            s.metrics.address().unwrap(),
            Some("0.0.0.0:9090".parse().unwrap())
        );
        assert_eq!(Settings::default().metrics.address().unwrap(), None);
    }

    #[test]
    fn idempotency_retention_below_a_day_is_refused_and_named() {
        let err = with_file("[intake]\nidempotency_retention_hours = 12\n").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("intake.idempotency_retention_hours"),
            "{message}"
        );
        assert!(message.contains("24"), "{message}");
        let s = with_file("[intake]\nidempotency_retention_hours = 24\n").unwrap();
        assert_eq!(s.intake.idempotency_retention_hours, 24);
        assert_eq!(Settings::default().intake.idempotency_retention_hours, 48);
    }

    #[test]
    fn a_public_url_that_links_cannot_be_built_on_is_refused_and_named() {
        for bad in [
            "gateway.example.com",
            "ftp://x",
            "https://x/?a=1",
            "https://u:p@x",
        ] {
            let err = with_file(&format!("[server]\npublic_url = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`server.public_url`"), "{bad}: {err}");
        }
        let s = with_file("[server]\npublic_url = \"https://help.example.com/gw/\"\n").unwrap();
        assert_eq!(s.server.public_url, "https://help.example.com/gw/");
        let err = with_file("[escalation_links]\nttl_hours = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`escalation_links.ttl_hours`"), "{err}");
    }

    #[test]
    fn defaults_serve_sqlite_on_localhost_8080() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.server.port, 8080);
        assert!(s.database.url.starts_with("sqlite:"));
    }

    #[test]
    fn file_overrides_defaults_and_overrides_win_over_file() {
        let s = with_file("[server]\nport = 9000\n").unwrap();
        assert_eq!(s.server.port, 9000);
        let dir = std::env::temp_dir().join(format!("pgw-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.toml");
        std::fs::write(&path, "[server]\nport = 9000\n").unwrap();
        let s = Settings::load(&Sources {
            file: Some(path),
            environment: false,
            overrides: vec![("server.port".into(), 9100.into())],
        })
        .unwrap();
        assert_eq!(s.server.port, 9100);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unknown_key_names_the_key() {
        let err = with_file("[server]\nprot = 9000\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = with_file("[server]\nport = \"high\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.port"), "{err}");
    }

    #[test]
    fn placeholder_and_plain_text_secrets_are_refused_naming_the_setting() {
        for (toml, key, reason) in [
            (
                "[auth]\njwt_secret = \"CHANGE_ME: base64 of 32 random bytes\"\n",
                "`auth.jwt_secret`",
                "placeholder",
            ),
            (
                "[auth]\njwt_secret = \"my own long and secret passphrase, 40 chars\"\n",
                "`auth.jwt_secret`",
                "plain text",
            ),
            (
                "[auth]\njwt_secret = \"AAAAAAAAAAAAAAAAAAAAAA==\"\n",
                "`auth.jwt_secret`",
                "shorter",
            ),
            (
                "[auth]\nprevious_jwt_secrets = [\"CHANGE_ME\"]\n",
                "`auth.previous_jwt_secrets`",
                "placeholder",
            ),
            (
                "[database]\nurl = \"postgres://db/gw\"\n",
                "`auth.jwt_secret_file`",
                "PostgreSQL",
            ),
        ] {
            let err = with_file(toml)
                .and_then(|s| s.validate_for_serving())
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains(reason), "{toml}: {err}");
        }
        // Other commands (migrate, admin) need no signing secret.
        with_file("[database]\nurl = \"postgres://db/gw\"\n").unwrap();
        let good = format!(
            "[database]\nurl = \"postgres://db/gw\"\n[auth]\njwt_secret = \"{}\"\n",
            crate::auth::secrets::random_token(32)
        );
        with_file(&good).unwrap().validate_for_serving().unwrap();
    }

    #[test]
    fn a_secret_file_holding_a_placeholder_is_refused_naming_the_setting() {
        let dir = std::env::temp_dir().join(format!("pgw-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwt_secret");
        std::fs::write(&file, "CHANGE_ME: base64 of 32 random bytes\n").unwrap();
        let err = with_file(&format!(
            "[auth]\njwt_secret_file = \"{}\"\n",
            file.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`auth.jwt_secret_file`") && err.contains("placeholder"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn webhook_settings_that_cannot_work_are_refused_and_named() {
        for (toml, key, reason) in [
            (
                "[webhooks]\nrequest_timeout_ms = 30000\n",
                "`webhooks.request_timeout_ms`",
                "lease_secs",
            ),
            (
                "[webhooks]\nsecret_key = \"CHANGE_ME: base64 of 32 random bytes\"\n",
                "`webhooks.secret_key`",
                "placeholder",
            ),
            (
                "[webhooks]\nsecret_key = \"a passphrase that is plain text\"\n",
                "`webhooks.secret_key`",
                "plain text",
            ),
            (
                "[webhooks]\nallow_networks = [\"intranet\"]\n",
                "`webhooks.allow_networks`",
                "`intranet`",
            ),
        ] {
            let err = with_file(toml).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(reason), "{toml}: {err}");
        }
        let s = with_file(&format!(
            "[webhooks]\nallow_networks = [\"10.20.0.0/16\"]\nrequest_timeout_ms = 5000\n\
             lease_secs = 6\nsecret_key = \"{}\"\n",
            crate::auth::secrets::random_token(32)
        ))
        .unwrap();
        assert_eq!(s.webhooks.allow_networks, ["10.20.0.0/16"]);
        assert!(
            !Settings::default().webhooks.allow_http,
            "https only by default"
        );
    }

    #[test]
    fn invalid_database_url_names_the_setting() {
        let err = with_file("[database]\nurl = \"mysql://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`database.url`"), "{err}");
    }

    #[test]
    fn invalid_log_filter_names_the_setting() {
        let err = with_file("[log]\nlevel = \"info,[[\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`log.level`"), "{err}");
    }

    #[test]
    fn a_connection_cap_out_of_range_names_the_setting() {
        for bad in ["0", "15", "1000001"] {
            let err = with_file(&format!("[server]\nmax_connections = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`server.max_connections`"), "{err}");
        }
        assert!(with_file("[server]\nmax_connections = 16\n").is_ok());
    }

    #[test]
    fn a_flood_guard_that_can_never_open_an_incident_names_the_setting() {
        let err = with_file("[intake]\nflood_max_open = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`intake.flood_max_open`"), "{err}");
        let err = with_file("[intake]\nflood_window_secs = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`intake.flood_window_secs`"), "{err}");
    }

    #[test]
    fn example_config_documents_every_key_with_its_default() {
        let example = Figment::from(Toml::file_exact(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/config/gateway.example.toml"
        )));
        let parsed: Settings = example.extract().unwrap();
        assert_eq!(parsed, Settings::default());
        fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
            match v.as_object() {
                Some(map) => {
                    for (k, child) in map {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(&path, child, out);
                    }
                }
                None => out.push(prefix.to_owned()),
            }
        }
        let mut keys = Vec::new();
        leaves(
            "",
            &serde_json::to_value(Settings::default()).unwrap(),
            &mut keys,
        );
        assert!(keys.len() > 40, "{keys:?}");
        for dotted in keys {
            assert!(
                example.find_value(&dotted).is_ok(),
                "{dotted} is missing from the example config"
            );
        }
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Settings::load(&Sources {
            file: Some("/nonexistent/gateway.toml".into()),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error
    fn environment_layer_uses_double_underscore_nesting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PANIC_GATEWAY__SERVER__PORT", "7070");
            let s = Settings::load(&Sources {
                environment: true,
                ..Sources::default()
            })
            .map_err(|e| e.to_string())?;
            assert_eq!(s.server.port, 7070);
            jail.set_env("PANIC_GATEWAY__SERVER__NOPE", "1");
            let err = Settings::load(&Sources {
                environment: true,
                ..Sources::default()
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains("nope"), "{err}");
            Ok(())
        });
    }
}
