//! FCM HTTP v1 (`projects/{id}/messages:send`) with service-account OAuth.
//!
//! Hand-written: the `fcm` crate (0.9) speaks the legacy API Google has shut down, and the
//! v1 clients on crates.io either cannot be pointed at a local endpoint or pull in a heavy
//! auth stack. What v1 needs is small: an RS256-signed JWT grant exchanged at the service
//! account's `token_uri` for an access token (cached until five minutes before it expires,
//! refreshed once on a 401), and one JSON POST per message over a pooled HTTP/2 connection.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::apns::{retry_after, without_url};
use super::settings::{http_client, invalid, FcmSettings, PushConfigError};
use super::{payload, Notification, Outcome, Platform, Provider};
use crate::domain::push_token::PushToken;

pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Refresh the access token this long before Google says it expires.
const EARLY: Duration = Duration::from_secs(5 * 60);

/// The fields of a Google service-account key file that the client uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServiceAccount {
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: String,
    #[serde(default)]
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

#[derive(Serialize)]
struct GrantClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

pub struct FcmClient {
    http: reqwest::Client,
    send_url: String,
    token_url: String,
    client_email: String,
    key_id: String,
    key: EncodingKey,
    token: Mutex<Option<(String, Instant)>>,
}

impl FcmClient {
    pub fn new(s: &FcmSettings) -> Result<Self, PushConfigError> {
        const KEY: &str = "push.fcm.service_account_file";
        let text = std::fs::read_to_string(&s.service_account_file)
            .map_err(|e| invalid(KEY, e.to_string()))?;
        let account: ServiceAccount = serde_json::from_str(&text)
            .map_err(|e| invalid(KEY, format!("not a service-account key file: {e}")))?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| invalid(KEY, format!("private_key is not an RSA PEM key: {e}")))?;
        let project = if s.project_id.is_empty() {
            &account.project_id
        } else {
            &s.project_id
        };
        let token_url = if s.token_url.is_empty() {
            &account.token_uri
        } else {
            &s.token_url
        };
        Ok(Self {
            http: http_client(&s.ca_file, s.timeout_ms, "push.fcm.ca_file")?,
            send_url: format!(
                "{}/v1/projects/{project}/messages:send",
                s.base_url.trim_end_matches('/')
            ),
            token_url: token_url.clone(),
            client_email: account.client_email,
            key_id: account.private_key_id,
            key,
            token: Mutex::new(None),
        })
    }

    /// The cached access token, or a new one from the token endpoint.
    #[tracing::instrument(name = "fcm access token", skip_all, fields(renew = renew))]
    async fn access_token(&self, renew: bool) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some((token, valid_until)) = cached.as_ref() {
            if !renew && Instant::now() < *valid_until {
                return Ok(token.clone());
            }
        }
        let now = Utc::now().timestamp();
        let mut header = Header::new(Algorithm::RS256);
        if !self.key_id.is_empty() {
            header.kid = Some(self.key_id.clone());
        }
        let assertion = jsonwebtoken::encode(
            &header,
            &GrantClaims {
                iss: &self.client_email,
                scope: SCOPE,
                aud: &self.token_url,
                iat: now,
                exp: now + 3600,
            },
            &self.key,
        )
        .map_err(|e| Outcome::Fatal {
            reason: format!("cannot sign the OAuth grant: {e}"),
        })?;
        let res = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| Outcome::Retry {
                after: None,
                reason: format!("OAuth endpoint unreachable: {}", without_url(&e)),
            })?;
        let status = res.status().as_u16();
        if status >= 500 || status == 429 {
            return Err(Outcome::Retry {
                after: retry_after(&res),
                reason: format!("OAuth endpoint answered {status}"),
            });
        }
        if status != 200 {
            let body = res.text().await.unwrap_or_default();
            return Err(Outcome::Fatal {
                reason: format!(
                    "the service account was refused ({status}): {}",
                    body.chars().take(200).collect::<String>()
                ),
            });
        }
        let answer: TokenAnswer = res.json().await.map_err(|e| Outcome::Retry {
            after: None,
            reason: format!("unreadable OAuth answer: {e}"),
        })?;
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(EARLY);
        *cached = Some((answer.access_token.clone(), Instant::now() + lifetime));
        Ok(answer.access_token)
    }

    /// The span names the platform, delivery and incident; never the device token, the
    /// provider credential or the payload.
    #[tracing::instrument(
        name = "fcm send",
        skip_all,
        fields(platform = "android", delivery = %n.delivery_id, incident = %n.incident_id)
    )]
    async fn deliver(
        &self,
        device_token: &PushToken,
        n: &Notification,
        now: DateTime<Utc>,
    ) -> Outcome {
        let body = payload::fcm(n, device_token.as_str(), now);
        let mut renewed = false;
        loop {
            let token = match self.access_token(renewed).await {
                Ok(t) => t,
                Err(outcome) => return outcome,
            };
            let res = match self
                .http
                .post(&self.send_url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(res) => res,
                Err(e) => {
                    return Outcome::Retry {
                        after: None,
                        reason: format!("FCM unreachable: {}", without_url(&e)),
                    }
                }
            };
            let status = res.status().as_u16();
            let after = retry_after(&res);
            let answer: serde_json::Value = res.json().await.unwrap_or_default();
            if status == 200 {
                return Outcome::Accepted {
                    provider_message_id: answer["name"].as_str().map(str::to_owned),
                };
            }
            if status == 401 && !renewed {
                renewed = true;
                continue;
            }
            return classify(status, &answer, after);
        }
    }
}

/// Google's v1 error as an outcome.
fn classify(status: u16, answer: &serde_json::Value, after: Option<Duration>) -> Outcome {
    let error = &answer["error"];
    let details = error["details"].as_array().cloned().unwrap_or_default();
    let fcm_code = details
        .iter()
        .find_map(|d| d["errorCode"].as_str())
        .unwrap_or_default()
        .to_owned();
    let on_token = details.iter().any(|d| {
        d["fieldViolations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|f| f["field"] == "message.token"))
    });
    let status_text = error["status"].as_str().unwrap_or_default();
    let said = format!(
        "FCM {status} {}",
        if fcm_code.is_empty() {
            status_text
        } else {
            &fcm_code
        }
    );
    match (status, fcm_code.as_str()) {
        (404, _) | (_, "UNREGISTERED") | (_, "SENDER_ID_MISMATCH") => {
            Outcome::TokenDead { reason: said }
        }
        (400, _) if on_token => Outcome::TokenDead { reason: said },
        (429, _) | (500..=599, _) => Outcome::Retry {
            after,
            reason: said,
        },
        (400..=499, _) => Outcome::Fatal { reason: said },
        _ => Outcome::Retry {
            after,
            reason: said,
        },
    }
}

impl Provider for FcmClient {
    fn platform(&self) -> Platform {
        Platform::Android
    }

    fn send<'a>(
        &'a self,
        device_token: &'a PushToken,
        notification: &'a Notification,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.deliver(device_token, notification, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(status: &str, code: Option<&str>, field: Option<&str>) -> serde_json::Value {
        let mut details = vec![];
        if let Some(c) = code {
            details.push(json!({ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c }));
        }
        if let Some(f) = field {
            details.push(json!({ "@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{ "field": f, "description": "bad" }] }));
        }
        json!({ "error": { "code": 400, "message": "m", "status": status, "details": details } })
    }

    #[test]
    fn google_answers_map_to_outcomes() {
        assert!(matches!(
            classify(404, &error("NOT_FOUND", Some("UNREGISTERED"), None), None),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            classify(
                400,
                &error(
                    "INVALID_ARGUMENT",
                    Some("INVALID_ARGUMENT"),
                    Some("message.token")
                ),
                None
            ),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            classify(
                400,
                &error(
                    "INVALID_ARGUMENT",
                    Some("INVALID_ARGUMENT"),
                    Some("message.android.ttl")
                ),
                None
            ),
            Outcome::Fatal { .. }
        ));
        assert!(matches!(
            classify(
                403,
                &error("PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"), None),
                None
            ),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            classify(
                401,
                &error("UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR"), None),
                None
            ),
            Outcome::Fatal { .. }
        ));
        assert_eq!(
            classify(
                429,
                &error("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), None),
                Some(Duration::from_secs(9))
            ),
            Outcome::Retry {
                after: Some(Duration::from_secs(9)),
                reason: "FCM 429 QUOTA_EXCEEDED".into()
            }
        );
        assert!(matches!(
            classify(503, &json!({}), None),
            Outcome::Retry { .. }
        ));
    }
}
