//! The authentication settings, owned here and composed into [`crate::config::Settings`];
//! `config` checks them (`Settings::validate`) so that this module needs nothing from it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// File holding the token signing secret: base64 of at least 32 random bytes. Empty: use
    /// `jwt_secret`; both empty: on SQLite a development key is generated at first start into
    /// a file beside the database (mode 0600); on PostgreSQL the start is refused.
    pub jwt_secret_file: String,
    /// The signing secret itself (prefer the file; never commit it).
    pub jwt_secret: String,
    /// Earlier signing secrets (same format): tokens they signed still verify until they
    /// expire, nothing new is signed with them. For rotating the secret without signing
    /// every device out.
    pub previous_jwt_secrets: Vec<String>,
    /// Seconds during which a refresh token that was just used may be presented again (a
    /// retry after a lost response, two requests racing) and still get a token pair instead
    /// of revoking the device (0..=300).
    pub refresh_reuse_grace_secs: u64,
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime in seconds (60..=3600).
    pub access_token_ttl_secs: u64,
    /// Refresh-token lifetime in days (1..=365); every use rotates it.
    pub refresh_token_ttl_days: u64,
    /// Enrollment-code lifetime in hours (1..=720).
    pub enrollment_code_ttl_hours: u64,
    /// Failed enrollment attempts allowed per client address (an IPv6 client: per /64) per
    /// window.
    pub enrollment_max_failures: u32,
    pub enrollment_failure_window_secs: u64,
    /// Failed enrollment attempts allowed per minute from all addresses together; past it,
    /// enrollment answers 429 to everyone until the minute ends.
    pub enrollment_global_failures_per_minute: u32,
    /// Failed refreshes (unknown or expired refresh token) allowed per client per window.
    pub refresh_max_failures: u32,
    pub refresh_failure_window_secs: u64,
    /// Failed console sign-ins allowed per client address and, separately, per e-mail
    /// address, per window; past it the sign-in page answers 429 with Retry-After.
    pub sign_in_max_failures: u32,
    pub sign_in_failure_window_secs: u64,
    /// Enroll and refresh requests (no credential yet) handled at once; one more is answered
    /// 503 with Retry-After, so they can never take the connections a panic press needs.
    /// 0: a quarter of `database.max_connections`, at least 1.
    pub max_concurrent_unauthenticated: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret_file: String::new(),
            jwt_secret: String::new(),
            previous_jwt_secrets: Vec::new(),
            refresh_reuse_grace_secs: 30,
            issuer: "panic-gateway".into(),
            audience: "panic-gateway-mobile".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            enrollment_code_ttl_hours: 72,
            enrollment_max_failures: 5,
            enrollment_failure_window_secs: 300,
            enrollment_global_failures_per_minute: 600,
            refresh_max_failures: 10,
            refresh_failure_window_secs: 300,
            sign_in_max_failures: 10,
            sign_in_failure_window_secs: 900,
            max_concurrent_unauthenticated: 0,
        }
    }
}
