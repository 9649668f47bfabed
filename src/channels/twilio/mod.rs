//! Twilio, hand-written on reqwest: the Messages API for SMS, the Calls API for voice
//! ([`voice`]), and the signature every request Twilio makes to us carries.
//!
//! Sending is `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`,
//! `From` (or `MessagingServiceSid`), `Body` and `StatusCallback`, with Basic auth (account SID
//! and auth token, or an API key SID and secret). Twilio's answers become typed outcomes:
//! 201 is accepted with the message `sid`; 429 and 5xx (and a lost connection) are retried,
//! never sooner than `Retry-After`; a 400 whose Twilio error code says the number is invalid
//! or cannot receive SMS (21211, 21614, 21612, 21610) is a dead address; 401/403 are our
//! configuration (fatal); any other 4xx is fatal too, since sending it again cannot succeed.
//! The auth token is never logged and never leaves this module except as the HMAC key.

#[cfg(feature = "devkit")]
pub mod mock;
pub mod voice;

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;

use super::settings::TwilioSettings;
use super::{ChannelProvider, Message, Outcome};
use crate::domain::contact::{Channel, ContactAddress};
use crate::push::settings::{http_client, PushConfigError};

/// The path of the status callback Twilio is asked to call.
pub const STATUS_PATH: &str = "/v1/twilio/status";
/// The path Twilio's inbound-SMS webhook must be configured to (on the number).
pub const INBOUND_SMS_PATH: &str = "/v1/twilio/sms";
/// Twilio error codes meaning the number will never take an SMS: invalid `To`, not a mobile
/// number, unreachable, unsubscribed (the person replied STOP).
pub const DEAD_NUMBER_CODES: [u64; 4] = [21211, 21614, 21612, 21610];
/// The longest SMS body we send: Twilio takes 1600 characters, phones split anything over
/// 160 (GSM-7) into parts; a page fits in two.
const MAX_BODY_CHARS: usize = 320;

/// `X-Twilio-Signature` for a request to `url` with form `params`: base64 of HMAC-SHA1 keyed
/// with the auth token over the URL followed by every parameter's name and value, sorted by
/// name (then value, for repeated names).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of this request, compared in constant time.
pub fn signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac.verify_slice(&given).is_ok()
}

/// Twilio's error body (`{"code": 21211, "message": "...", "status": 400}`).
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<u64>,
    message: Option<String>,
}

/// Twilio's answer to a created message (the fields we read).
#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
}

/// An authenticated client of one Twilio account's REST API, shared by SMS and voice.
pub(crate) struct Api {
    client: reqwest::Client,
    /// `{base}/2010-04-01/Accounts/{AccountSid}`
    account_url: String,
    user: String,
    password: String,
}

impl Api {
    pub(crate) fn new(settings: &TwilioSettings) -> Result<Self, PushConfigError> {
        settings.validate()?;
        let token = settings.auth_token()?;
        let (user, password) = if settings.api_key_sid.is_empty() {
            (settings.account_sid.clone(), token)
        } else {
            (
                settings.api_key_sid.clone(),
                settings.api_key_secret.clone(),
            )
        };
        Ok(Self {
            client: http_client(
                &settings.ca_file,
                settings.timeout_ms,
                "channels.twilio.ca_file",
            )?,
            account_url: format!(
                "{}/2010-04-01/Accounts/{}",
                settings.base_url.trim_end_matches('/'),
                settings.account_sid
            ),
            user,
            password,
        })
    }

    /// Creates a resource (`Messages.json`, `Calls.json`) and maps Twilio's answer; a 400/404
    /// with one of `dead_codes` means the address is dead.
    ///
    /// The span names the resource; the form (numbers, text) and the credentials stay out.
    #[tracing::instrument(name = "twilio request", skip_all, fields(resource = %resource))]
    pub(crate) async fn create(
        &self,
        resource: &str,
        form: &[(&str, &str)],
        dead_codes: &[u64],
    ) -> Outcome {
        let res = match self
            .client
            .post(format!("{}/{resource}", self.account_url))
            .basic_auth(&self.user, Some(&self.password))
            .form(form)
            .send()
            .await
        {
            Ok(res) => res,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    reason: format!(
                        "Twilio unreachable: {}",
                        crate::error_chain::error_chain(&e)
                    ),
                }
            }
        };
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = res.bytes().await.unwrap_or_default();
        outcome(status, retry_after, &body, dead_codes)
    }
}

/// The SMS provider.
pub struct TwilioSms {
    api: Api,
    from_number: String,
    messaging_service_sid: String,
    status_callback: Option<String>,
}

impl TwilioSms {
    /// Builds the client; `public_url` is where Twilio reaches this gateway for callbacks.
    pub fn new(settings: &TwilioSettings, public_url: &str) -> Result<Self, PushConfigError> {
        Ok(Self {
            api: Api::new(settings)?,
            from_number: settings.from_number.clone(),
            messaging_service_sid: settings.messaging_service_sid.clone(),
            status_callback: settings
                .status_callbacks
                .then(|| format!("{public_url}{STATUS_PATH}")),
        })
    }

    /// The span names the channel and the delivery (none for a verification code); never the
    /// number or address, the code or the text.
    #[tracing::instrument(name = "twilio sms send", skip_all, fields(channel = "sms", delivery = message.delivery_id.as_deref(), verification = message.verification_code.is_some()))]
    async fn send_sms(&self, to: &ContactAddress, message: &Message) -> Outcome {
        let Some(to) = to.phone() else {
            return Outcome::Fatal {
                reason: "an SMS contact method holds no phone number".into(),
            };
        };
        let text: String = message.text().chars().take(MAX_BODY_CHARS).collect();
        let mut form: Vec<(&str, &str)> = vec![("To", to.as_str()), ("Body", &text)];
        if self.messaging_service_sid.is_empty() {
            form.push(("From", &self.from_number));
        } else {
            form.push(("MessagingServiceSid", &self.messaging_service_sid));
        }
        // Only a page has a delivery whose state a callback can update; a verification
        // code's fate shows in whether the person enters it.
        if let (Some(callback), Some(_)) = (&self.status_callback, &message.delivery_id) {
            form.push(("StatusCallback", callback));
        }
        self.api
            .create("Messages.json", &form, &DEAD_NUMBER_CODES)
            .await
    }
}

/// Twilio's answer as a typed outcome.
fn outcome(status: u16, retry_after: Option<Duration>, body: &[u8], dead_codes: &[u64]) -> Outcome {
    if status == 201 || status == 200 {
        return match serde_json::from_slice::<Created>(body) {
            Ok(c) => Outcome::Accepted {
                provider_message_id: Some(c.sid),
            },
            Err(_) => Outcome::Accepted {
                provider_message_id: None,
            },
        };
    }
    let error: Option<TwilioError> = serde_json::from_slice(body).ok();
    let code = error.as_ref().and_then(|e| e.code);
    let detail = format!(
        "Twilio answered {status}{}{}",
        code.map(|c| format!(" (error {c})")).unwrap_or_default(),
        error
            .and_then(|e| e.message)
            .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
            .unwrap_or_default()
    );
    match status {
        429 | 500..=599 => Outcome::Retry {
            after: retry_after,
            reason: detail,
        },
        400 | 404 if code.is_some_and(|c| dead_codes.contains(&c)) => {
            Outcome::TokenDead { reason: detail }
        }
        _ => Outcome::Fatal { reason: detail },
    }
}

impl ChannelProvider for TwilioSms {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn name(&self) -> &'static str {
        "twilio_sms"
    }

    fn send<'a>(
        &'a self,
        to: &'a ContactAddress,
        message: &'a Message,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.send_sms(to, message))
    }
}

/// `text` safe inside an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A TwiML answer carrying one SMS back to the sender; `text` is escaped.
pub fn twiml_message(text: &str) -> String {
    let escaped = xml_escape(text);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{escaped}</Message></Response>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Twilio's "Webhooks security" page.
    #[test]
    fn signature_matches_twilios_documented_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = signature("12345", url, &params);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(signature_valid("12345", url, &params, &sig));
        assert!(!signature_valid("54321", url, &params, &sig));
        assert!(!signature_valid(
            "12345",
            "https://mycompany.com/other",
            &params,
            &sig
        ));
    }

    #[test]
    fn answers_become_outcomes() {
        assert_eq!(
            outcome(
                201,
                None,
                br#"{"sid":"SM1","status":"queued"}"#,
                &DEAD_NUMBER_CODES
            ),
            Outcome::Accepted {
                provider_message_id: Some("SM1".into())
            }
        );
        assert!(matches!(
            outcome(429, Some(Duration::from_secs(3)), b"{}", &DEAD_NUMBER_CODES),
            Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            outcome(503, None, b"", &DEAD_NUMBER_CODES),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            outcome(400, None, br#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#, &DEAD_NUMBER_CODES),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            outcome(
                401,
                None,
                br#"{"code":20003,"message":"Authenticate","status":401}"#,
                &DEAD_NUMBER_CODES
            ),
            Outcome::Fatal { .. }
        ));
        assert!(matches!(
            outcome(
                400,
                None,
                br#"{"code":21602,"message":"Message body is required.","status":400}"#,
                &DEAD_NUMBER_CODES
            ),
            Outcome::Fatal { .. }
        ));
    }

    #[test]
    fn twiml_escapes_the_text() {
        assert_eq!(
            twiml_message("a <b> & 'c'"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>a &lt;b&gt; &amp; &apos;c&apos;</Message></Response>"
        );
    }
}
