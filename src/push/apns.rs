//! APNs over HTTP/2 with token (.p8, ES256) authentication.
//!
//! Written here rather than taken from `a2`: a2 0.10 (the latest) can only talk to Apple's
//! production or sandbox endpoint, and the gateway must be tested against a local mock that
//! speaks the same protocol. The client is small: one pooled HTTP/2 connection (reqwest,
//! ALPN h2), a provider token signed with jsonwebtoken and reused for 40 minutes (Apple wants
//! it renewed between 20 and 60 minutes, never per request, and refuses a new one more often
//! than every 20), and a mapping of Apple's answers to typed outcomes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tokio::sync::Mutex;

use super::settings::{http_client, invalid, ApnsSettings, PushConfigError};
use super::{payload, Notification, Outcome, Platform, Provider};
use crate::domain::push_token::PushToken;

/// Renew the provider token after this long.
const TOKEN_LIFETIME: Duration = Duration::from_secs(40 * 60);

#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: i64,
}

pub struct ApnsClient {
    http: reqwest::Client,
    base_url: String,
    topic: String,
    key_id: String,
    team_id: String,
    key: EncodingKey,
    token: Mutex<Option<(String, Instant)>>,
}

impl ApnsClient {
    pub fn new(s: &ApnsSettings) -> Result<Self, PushConfigError> {
        let pem =
            std::fs::read(&s.key_file).map_err(|e| invalid("push.apns.key_file", e.to_string()))?;
        let key = EncodingKey::from_ec_pem(&pem).map_err(|e| {
            invalid(
                "push.apns.key_file",
                format!("not a P-256 PKCS#8 .p8 key: {e}"),
            )
        })?;
        Ok(Self {
            http: http_client(&s.ca_file, s.timeout_ms, "push.apns.ca_file")?,
            base_url: s.base_url.trim_end_matches('/').to_owned(),
            topic: s.topic.clone(),
            key_id: s.key_id.clone(),
            team_id: s.team_id.clone(),
            key,
            token: Mutex::new(None),
        })
    }

    /// The cached provider token, or a fresh one when it is old or Apple said it expired.
    async fn provider_token(&self, renew: bool) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some((token, made)) = cached.as_ref() {
            if !renew && made.elapsed() < TOKEN_LIFETIME {
                return Ok(token.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let claims = ProviderClaims {
            iss: &self.team_id,
            iat: Utc::now().timestamp(),
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// One request to Apple. The span says whether the provider token was renewed for it;
    /// never the device token (it is in the URL), the provider token or the payload.
    #[tracing::instrument(name = "apns request", skip_all, fields(renewed = renew))]
    async fn send_once(
        &self,
        device_token: &PushToken,
        request: &payload::ApnsRequest,
        renew: bool,
    ) -> Result<reqwest::Response, Outcome> {
        let token = self
            .provider_token(renew)
            .await
            .map_err(|reason| Outcome::Fatal {
                reason: format!("cannot sign the provider token: {reason}"),
            })?;
        let mut req = self
            .http
            .post(format!(
                "{}/3/device/{}",
                self.base_url,
                device_token.as_str()
            ))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(request.body.clone());
        for (name, value) in &request.headers {
            req = req.header(*name, value);
        }
        req.send().await.map_err(|e| Outcome::Retry {
            after: None,
            reason: format!("APNs unreachable: {}", without_url(&e)),
        })
    }

    /// The span names the platform, delivery and incident; never the device token, the
    /// provider credential or the payload.
    #[tracing::instrument(
        name = "apns send",
        skip_all,
        fields(platform = "ios", delivery = %n.delivery_id, incident = %n.incident_id)
    )]
    async fn deliver(
        &self,
        device_token: &PushToken,
        n: &Notification,
        now: DateTime<Utc>,
    ) -> Outcome {
        let request = payload::apns(n, &self.topic, now);
        let mut renewed = false;
        loop {
            let res = match self.send_once(device_token, &request, renewed).await {
                Ok(res) => res,
                Err(outcome) => return outcome,
            };
            let status = res.status().as_u16();
            let retry_after = retry_after(&res);
            let apns_id = res
                .headers()
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if status == 200 {
                return Outcome::Accepted {
                    provider_message_id: apns_id,
                };
            }
            let reason = res
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if status == 403 && reason == "ExpiredProviderToken" && !renewed {
                renewed = true;
                continue;
            }
            return classify(status, &reason, retry_after);
        }
    }
}

/// Apple's answer as an outcome.
fn classify(status: u16, reason: &str, retry_after: Option<Duration>) -> Outcome {
    let said = format!("APNs {status} {reason}");
    match (status, reason) {
        (410, _) | (400, "BadDeviceToken") | (400, "DeviceTokenNotForTopic") => {
            Outcome::TokenDead { reason: said }
        }
        (429, _) | (500..=599, _) => Outcome::Retry {
            after: retry_after,
            reason: said,
        },
        (400..=499, _) => Outcome::Fatal { reason: said },
        _ => Outcome::Retry {
            after: retry_after,
            reason: said,
        },
    }
}

pub(crate) fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A transport error without the URL, which carries the device token.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}

impl Provider for ApnsClient {
    fn platform(&self) -> Platform {
        Platform::Ios
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

    #[test]
    fn apple_answers_map_to_outcomes() {
        assert!(matches!(
            classify(410, "Unregistered", None),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            classify(400, "BadDeviceToken", None),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            classify(400, "BadTopic", None),
            Outcome::Fatal { .. }
        ));
        assert!(matches!(
            classify(403, "InvalidProviderToken", None),
            Outcome::Fatal { .. }
        ));
        assert!(matches!(
            classify(413, "PayloadTooLarge", None),
            Outcome::Fatal { .. }
        ));
        assert_eq!(
            classify(503, "ServiceUnavailable", Some(Duration::from_secs(7))),
            Outcome::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "APNs 503 ServiceUnavailable".into()
            }
        );
        assert!(matches!(
            classify(429, "TooManyRequests", None),
            Outcome::Retry { .. }
        ));
    }
}
