//! The webhook sender: drains the webhook outbox with signed POSTs.
//!
//! Each request carries `X-PanicGateway-Event` (type), `X-PanicGateway-Event-Id` (receivers
//! deduplicate on it), `X-PanicGateway-Timestamp` (unix seconds) and
//! `X-PanicGateway-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the
//! endpoint's secret, so a receiver can check origin, integrity and freshness. 2xx is done;
//! 408, 429 and 5xx (or no answer) are retried with the dispatcher's backoff; other 4xx are
//! final. Deliveries are given up a day after the event.

use std::sync::Arc;

use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use super::dispatcher::{retry_delay, DispatchSettings};
use crate::clock::Clock;
use crate::store::webhooks::{ClaimedWebhook, WebhookOutcome};
use crate::store::Store;

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>").
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

pub struct WebhookSender {
    store: Store,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: DispatchSettings,
    instance: String,
}

impl WebhookSender {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: DispatchSettings) -> Self {
        Self {
            store,
            clock,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("panic-gateway/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("static client configuration is valid"),
            settings,
            instance: format!("wh-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub async fn run(self, stop: watch::Receiver<bool>) {
        let interval = std::time::Duration::from_millis(self.settings.sweep_interval_ms);
        super::every("webhooks", interval, stop, || self.round()).await;
    }

    pub async fn round(&self) -> Result<usize, crate::store::StoreError> {
        let now = self.clock.now();
        let lease = Duration::seconds(self.settings.lease_secs as i64);
        let batch = self
            .store
            .claim_due_webhooks(&self.instance, now, lease, self.settings.batch_size as i64)
            .await?;
        let n = batch.len();
        for w in batch {
            let outcome = self.send(&w).await;
            self.store
                .record_webhook(&w, &outcome, self.clock.now())
                .await?;
        }
        Ok(n)
    }

    async fn send(&self, w: &ClaimedWebhook) -> WebhookOutcome {
        let now = self.clock.now();
        let timestamp = now.timestamp();
        let result = self
            .client
            .post(&w.url)
            .header("content-type", "application/json")
            .header("x-panicgateway-event", &w.event_type)
            .header("x-panicgateway-event-id", &w.event_id)
            .header("x-panicgateway-timestamp", timestamp.to_string())
            .header(
                "x-panicgateway-signature",
                signature(&w.secret, timestamp, &w.payload),
            )
            .body(w.payload.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(res) if res.status().is_success() => {
                return WebhookOutcome::Sent {
                    status: res.status().as_u16(),
                }
            }
            Ok(res) => {
                let status = res.status().as_u16();
                if !(status == 408 || status == 429 || status >= 500) {
                    tracing::warn!(webhook = %w.id, status, "webhook refused; not retried");
                    return WebhookOutcome::Failed {
                        status: Some(status),
                        error: format!("answered {status}"),
                    };
                }
                (Some(status), format!("answered {status}"))
            }
            Err(e) => (None, format!("no answer: {e}")),
        };
        let due_at = now + retry_delay(w.attempts, None, &self.settings, rand::random());
        if due_at >= w.give_up_at {
            return WebhookOutcome::Failed { status, error };
        }
        WebhookOutcome::RetryAt {
            due_at,
            status,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // Reference value from `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
