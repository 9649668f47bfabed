//! Settings of the channel providers (`[channels.*]`), checked at start like the push keys: a
//! missing secret or a malformed URL stops the start with the setting's name.

use serde::{Deserialize, Serialize};

use crate::push::settings::{invalid, PushConfigError};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSettings {
    pub twilio: TwilioSettings,
    pub smtp: SmtpSettings,
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
    /// Ask Twilio for status callbacks at `{server.public_url}/v1/twilio/status` (and, for
    /// calls, `/v1/twilio/voice/status`).
    pub status_callbacks: bool,
    /// Also place voice calls (the Calls API) for `voice` contact methods. Calls come from
    /// `from_number`: a Messaging Service cannot call, so voice needs the number.
    pub voice: bool,
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
            .field("voice", &self.voice)
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
            voice: true,
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
        if self.voice && self.from_number.is_empty() {
            return Err(invalid(
                "channels.twilio.from_number",
                "is required for voice calls (a Messaging Service cannot call); set voice = false to send SMS only",
            ));
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

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or a local mock.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[channels.smtp]`: e-mail through an SMTP relay.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// Send e-mail pages and codes.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Empty: no authentication.
    pub username: String,
    /// Prefer `password_file` or `PANIC_GATEWAY__CHANNELS__SMTP__PASSWORD`; never logged.
    pub password: String,
    pub password_file: String,
    /// The sender, `pages@example.com` or `Panic Gateway <pages@example.com>`.
    pub from: String,
    /// Per-send timeout in milliseconds.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("password_file", &self.password_file)
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            password_file: String::new(),
            from: String::new(),
            timeout_ms: 10_000,
        }
    }
}

impl SmtpSettings {
    /// The password, from the file when one is named.
    pub fn password(&self) -> Result<String, PushConfigError> {
        if !self.password_file.is_empty() {
            let text = std::fs::read_to_string(&self.password_file).map_err(|e| {
                invalid(
                    "channels.smtp.password_file",
                    format!("cannot read {}: {e}", self.password_file),
                )
            })?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
        }
        Ok(self.password.clone())
    }

    pub fn validate(&self) -> Result<(), PushConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.host.trim().is_empty() {
            return Err(invalid("channels.smtp.host", "is required"));
        }
        if self.port == 0 {
            return Err(invalid("channels.smtp.port", "must be a port number"));
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "channels.smtp.from",
                format!(
                    "{:?} is not an e-mail address (name <address> or address)",
                    self.from
                ),
            ));
        }
        if !self.username.is_empty() && self.password()?.is_empty() {
            return Err(invalid(
                "channels.smtp.password",
                "is required with username (or password_file)",
            ));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "channels.smtp.timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        Ok(())
    }
}
