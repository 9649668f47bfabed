//! Settings of the push providers, checked at start: a missing key file or a key that does
//! not parse stops the start with the setting's name, not the first page.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    pub apns: ApnsSettings,
    pub fcm: FcmSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApnsSettings {
    pub enabled: bool,
    /// https://api.push.apple.com (production), https://api.sandbox.push.apple.com, or a
    /// local mock.
    pub base_url: String,
    /// The .p8 token-signing key (PKCS#8 PEM, P-256) from the Apple developer account.
    pub key_file: String,
    /// The key's 10-character id.
    pub key_id: String,
    /// The 10-character team id.
    pub team_id: String,
    /// The app's bundle id: the `apns-topic`.
    pub topic: String,
    /// Extra root CA (PEM) to trust, for a local mock; empty in production.
    pub ca_file: String,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
}

impl Default for ApnsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "https://api.push.apple.com".into(),
            key_file: String::new(),
            key_id: String::new(),
            team_id: String::new(),
            topic: String::new(),
            ca_file: String::new(),
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FcmSettings {
    pub enabled: bool,
    /// The Firebase service-account JSON (type, project_id, private_key, client_email,
    /// token_uri).
    pub service_account_file: String,
    /// Overrides the service account's project id.
    pub project_id: String,
    /// Overrides the service account's `token_uri` (OAuth token endpoint).
    pub token_url: String,
    /// https://fcm.googleapis.com, or a local mock.
    pub base_url: String,
    /// Extra root CA (PEM) to trust, for a local mock; empty in production.
    pub ca_file: String,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
}

impl Default for FcmSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            service_account_file: String::new(),
            project_id: String::new(),
            token_url: String::new(),
            base_url: "https://fcm.googleapis.com".into(),
            ca_file: String::new(),
            timeout_ms: 10_000,
        }
    }
}

/// A push setting that cannot be used, with its dotted name.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}`: {reason}")]
pub struct PushConfigError {
    pub key: &'static str,
    pub reason: String,
}

pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> PushConfigError {
    PushConfigError {
        key,
        reason: reason.into(),
    }
}

fn file(key: &'static str, path: &str) -> Result<(), PushConfigError> {
    if path.is_empty() {
        return Err(invalid(key, "is required when the provider is enabled"));
    }
    if !Path::new(path).is_file() {
        return Err(invalid(key, format!("file {path} does not exist")));
    }
    Ok(())
}

fn url(key: &'static str, value: &str) -> Result<(), PushConfigError> {
    match reqwest::Url::parse(value) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(()),
        _ => Err(invalid(key, format!("{value:?} is not an http(s) URL"))),
    }
}

impl PushSettings {
    pub fn validate(&self) -> Result<(), PushConfigError> {
        let a = &self.apns;
        if a.enabled {
            url("push.apns.base_url", &a.base_url)?;
            file("push.apns.key_file", &a.key_file)?;
            if a.key_id.trim().is_empty() {
                return Err(invalid("push.apns.key_id", "is required"));
            }
            if a.team_id.trim().is_empty() {
                return Err(invalid("push.apns.team_id", "is required"));
            }
            if a.topic.trim().is_empty() {
                return Err(invalid(
                    "push.apns.topic",
                    "is required (the app's bundle id)",
                ));
            }
            if !a.ca_file.is_empty() {
                file("push.apns.ca_file", &a.ca_file)?;
            }
        }
        let f = &self.fcm;
        if f.enabled {
            url("push.fcm.base_url", &f.base_url)?;
            file("push.fcm.service_account_file", &f.service_account_file)?;
            if !f.token_url.is_empty() {
                url("push.fcm.token_url", &f.token_url)?;
            }
            if !f.ca_file.is_empty() {
                file("push.fcm.ca_file", &f.ca_file)?;
            }
        }
        for (key, ms) in [
            ("push.apns.timeout_ms", a.timeout_ms),
            ("push.fcm.timeout_ms", f.timeout_ms),
        ] {
            if !(100..=60_000).contains(&ms) {
                return Err(invalid(key, "must be between 100 and 60000"));
            }
        }
        Ok(())
    }
}

/// An HTTP/2 client for a provider, trusting `ca_file` too when given.
pub(crate) fn http_client(
    ca_file: &str,
    timeout_ms: u64,
    key: &'static str,
) -> Result<reqwest::Client, PushConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(timeout_ms))
        .connect_timeout(std::time::Duration::from_millis(timeout_ms.min(5_000)))
        .pool_idle_timeout(std::time::Duration::from_secs(600))
        .http2_keep_alive_interval(std::time::Duration::from_secs(60))
        .http2_keep_alive_while_idle(true)
        .user_agent(concat!("panic-gateway/", env!("CARGO_PKG_VERSION")));
    if !ca_file.is_empty() {
        let pem = std::fs::read(ca_file).map_err(|e| invalid(key, e.to_string()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| invalid(key, e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| invalid(key, e.to_string()))
}
