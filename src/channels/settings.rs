//! Settings of the channel providers (`[channels.*]`), checked at start like the push keys: a
//! missing secret or a malformed URL stops the start with the setting's name.

use serde::{Deserialize, Serialize};

use crate::push::settings::{invalid, PushConfigError};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSettings {
    pub twilio: TwilioSettings,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    /// Send SMS through Twilio (and accept its callbacks).
    pub enabled: bool,
    /// https://api.twilio.com, or a local mock.
    pub base_url: String,
    /// The account SID (`AC…`): the path of every request, and the Basic-auth user unless an
    /// API key is used.
    pub account_sid: String,
    /// An API key SID (`SK…`) to authenticate with instead of the account SID; its secret then
    /// goes in `api_key_secret`. Webhook signatures are always made with the auth token.
    pub api_key_sid: String,
    pub api_key_secret: String,
    /// The account's auth token (prefer `auth_token_file` or the environment variable
    /// `PANIC_GATEWAY__CHANNELS__TWILIO__AUTH_TOKEN`); never logged.
    pub auth_token: String,
    /// A file holding the auth token (a Kubernetes Secret mount).
    pub auth_token_file: String,
    /// The sending number (E.164), or empty with `messaging_service_sid`.
    pub from_number: String,
    /// A Messaging Service (`MG…`) to send from instead of one number.
    pub messaging_service_sid: String,
    /// Ask Twilio for status callbacks at `{server.public_url}/v1/twilio/status`.
    pub status_callbacks: bool,
    /// Extra root CA (PEM) to trust, for a local mock; empty in production.
    pub ca_file: String,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("TwilioSettings")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .field("api_key_secret", &redacted(&self.api_key_secret))
            .field("auth_token", &redacted(&self.auth_token))
            .field("auth_token_file", &self.auth_token_file)
            .field("from_number", &self.from_number)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("status_callbacks", &self.status_callbacks)
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Default for TwilioSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            api_key_sid: String::new(),
            api_key_secret: String::new(),
            auth_token: String::new(),
            auth_token_file: String::new(),
            from_number: String::new(),
            messaging_service_sid: String::new(),
            status_callbacks: true,
            ca_file: String::new(),
            timeout_ms: 10_000,
        }
    }
}

impl TwilioSettings {
    /// The auth token, from the file when one is named, else from the setting.
    pub fn auth_token(&self) -> Result<String, PushConfigError> {
        if !self.auth_token_file.is_empty() {
            let text = std::fs::read_to_string(&self.auth_token_file).map_err(|e| {
                invalid(
                    "channels.twilio.auth_token_file",
                    format!("cannot read {}: {e}", self.auth_token_file),
                )
            })?;
            return Ok(text.trim().to_owned());
        }
        Ok(self.auth_token.trim().to_owned())
    }

    pub fn validate(&self) -> Result<(), PushConfigError> {
        if !self.enabled {
            return Ok(());
        }
        match reqwest::Url::parse(&self.base_url) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => {
                return Err(invalid(
                    "channels.twilio.base_url",
                    format!("{:?} is not an http(s) URL", self.base_url),
                ))
            }
        }
        if !self.account_sid.starts_with("AC") || self.account_sid.len() != 34 {
            return Err(invalid(
                "channels.twilio.account_sid",
                "must be the account SID (AC and 32 hex digits)",
            ));
        }
        if self.auth_token()?.is_empty() {
            return Err(invalid(
                "channels.twilio.auth_token",
                "is required (or auth_token_file): it signs Twilio's callbacks",
            ));
        }
        if !self.api_key_sid.is_empty() && self.api_key_secret.is_empty() {
            return Err(invalid(
                "channels.twilio.api_key_secret",
                "is required with api_key_sid",
            ));
        }
        match (
            self.from_number.is_empty(),
            self.messaging_service_sid.is_empty(),
        ) {
            (true, true) => {
                return Err(invalid(
                    "channels.twilio.from_number",
                    "is required unless messaging_service_sid is set",
                ))
            }
            (false, _) => {
                crate::domain::contact::PhoneNumber::parse(&self.from_number)
                    .map_err(|r| invalid("channels.twilio.from_number", r))?;
            }
            _ => {}
        }
        if !self.ca_file.is_empty() && !std::path::Path::new(&self.ca_file).is_file() {
            return Err(invalid(
                "channels.twilio.ca_file",
                format!("file {} does not exist", self.ca_file),
            ));
        }
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "channels.twilio.timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        Ok(())
    }
}
