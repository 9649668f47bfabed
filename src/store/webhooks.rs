//! Outbound webhooks: endpoints, and the outbox of signed deliveries.
//!
//! Timeline events that a helpdesk cares about are queued for every subscribed endpoint in the
//! transaction that records them (by the timeline writer, `store::timeline`), so a webhook
//! exists exactly when the change does. The queue is drained like the page outbox: claimed
//! under a lease (`SKIP LOCKED` on PostgreSQL), retried with backoff, given up after a day.
//! Receivers deduplicate on the event id.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::timeline::GIVE_UP_AFTER;
use super::{db, from_millis, millis, new_id, Backend, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
}

/// The event type of a test webhook: sent only when an operator asks, to one endpoint.
pub const TEST_EVENT: &str = "webhook.test";

/// One webhook delivery as the console lists it.
#[derive(Debug, Clone)]
pub struct DeliveryListing {
    pub id: String,
    pub endpoint_id: String,
    pub url: String,
    pub event_type: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (while pending).
    pub due_at: DateTime<Utc>,
}

/// What asking for a test webhook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestWebhook {
    Queued {
        event_id: String,
    },
    NotFound,
    /// The endpoint is disabled: nothing is sent to it.
    Disabled,
}

/// A claimed webhook delivery.
#[derive(Debug, Clone)]
pub struct ClaimedWebhook {
    pub id: String,
    pub endpoint_id: String,
    /// The claim holding the lease.
    pub lease_token: String,
    /// When the lease ends, on the gateway's clock.
    pub lease_until: DateTime<Utc>,
    pub url: String,
    /// The endpoint's secret as stored: sealed by [`crate::secret_box::SecretBox`].
    pub sealed_secret: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub give_up_at: DateTime<Utc>,
}

/// What became of one webhook POST.
#[derive(Debug, Clone)]
pub enum WebhookOutcome {
    Sent {
        status: u16,
    },
    RetryAt {
        due_at: DateTime<Utc>,
        status: Option<u16>,
        error: String,
    },
    Failed {
        status: Option<u16>,
        error: String,
    },
}

impl Store {
    /// Stores an endpoint; `sealed_secret` is the secret as sealed by the caller, never the
    /// secret itself.
    #[tracing::instrument(name = "store create webhook endpoint", skip_all)]
    pub async fn create_webhook_endpoint(
        &self,
        url: &str,
        sealed_secret: &str,
        events: &[String],
        now: DateTime<Utc>,
    ) -> Result<Endpoint, StoreError> {
        let id = new_id();
        let insert = db::query(
            "INSERT INTO webhook_endpoints (id, url, sealed_secret, events, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(url)
        .bind(sealed_secret)
        .bind(serde_json::to_string(events).unwrap_or_default())
        .bind(millis(now));
        self.write_one(insert).await?;
        Ok(Endpoint {
            id,
            url: url.to_owned(),
            events: events.to_vec(),
            created_at: now,
            disabled: false,
        })
    }

    /// Up to `limit` endpoints with ids after `after`, by id (creation order).
    pub async fn webhook_endpoints_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Endpoint>, StoreError> {
        let rows = db::query(
            "SELECT id, url, events, created_at, disabled_at FROM webhook_endpoints \
             WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let events: String = r.try_get("events")?;
                Ok(Endpoint {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    events: serde_json::from_str(&events).unwrap_or_default(),
                    created_at: from_millis(r.try_get("created_at")?),
                    disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stops sending to an endpoint; `false` if there is none.
    #[tracing::instrument(name = "store disable webhook endpoint", skip_all)]
    pub async fn disable_webhook_endpoint(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = db::query(
            "UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(millis(now));
        let done = self.write_one(update).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims up to `limit` due webhooks under a lease, leaving alone those of the endpoints
    /// in `skip` (this instance is still sending to them, and sends each endpoint's in order).
    #[tracing::instrument(name = "store claim webhooks", skip_all)]
    pub async fn claim_due_webhooks(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<ClaimedWebhook>, StoreError> {
        let until = now + lease;
        let token = format!("{owner}/{}", uuid::Uuid::new_v4().simple());
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let skipped = if skip.is_empty() {
            String::new()
        } else {
            let params: Vec<String> = (0..skip.len()).map(|i| format!("${}", i + 5)).collect();
            format!(" AND endpoint_id NOT IN ({})", params.join(", "))
        };
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 WHERE id IN (\
             SELECT id FROM webhook_deliveries WHERE state = 'pending' AND due_at <= $3 \
             AND (lease_until IS NULL OR lease_until <= $3){skipped} ORDER BY due_at LIMIT $4{lock})"
        );
        let mut claim = db::query(&sql)
            .bind(&token)
            .bind(millis(until))
            .bind(millis(now))
            .bind(limit);
        for endpoint in skip {
            claim = claim.bind(endpoint);
        }
        claim.execute(&mut *tx).await?;
        let rows = db::query(
            "SELECT w.id, w.endpoint_id, e.url, e.sealed_secret, w.event_id, w.event_type, w.payload, \
             w.attempts, w.give_up_at \
             FROM webhook_deliveries w JOIN webhook_endpoints e ON e.id = w.endpoint_id \
             WHERE w.lease_owner = $1 AND w.state = 'pending' ORDER BY w.due_at, w.created_at",
        )
        .bind(&token)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedWebhook {
                    id: r.try_get("id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    lease_token: token.clone(),
                    lease_until: from_millis(millis(until)),
                    url: r.try_get("url")?,
                    sealed_secret: r.try_get("sealed_secret")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    give_up_at: from_millis(r.try_get("give_up_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Extends the lease of a claimed webhook from `now`; `None` if the claim no longer holds
    /// (another instance took the webhook after the lease ran out).
    pub async fn renew_webhook_lease(
        &self,
        w: &ClaimedWebhook,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let until = from_millis(millis(now + lease));
        let update = db::query(
            "UPDATE webhook_deliveries SET lease_until = $3, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(&w.id)
        .bind(&w.lease_token)
        .bind(millis(until))
        .bind(millis(now));
        let done = self.write_one(update).await?;
        Ok((done.rows_affected() == 1).then_some(until))
    }

    /// Records what became of a send, only while `w`'s claim holds: `false` when the lease was
    /// lost and another instance owns the webhook now (its outcome is the one that counts).
    #[tracing::instrument(name = "store record webhook", skip_all)]
    pub async fn record_webhook(
        &self,
        w: &ClaimedWebhook,
        outcome: &WebhookOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (state, due_at, status, error) = match outcome {
            WebhookOutcome::Sent { status } => ("sent", None, Some(*status), None),
            WebhookOutcome::RetryAt {
                due_at,
                status,
                error,
            } => (
                "pending",
                Some(millis(*due_at)),
                *status,
                Some(error.as_str()),
            ),
            WebhookOutcome::Failed { status, error } => {
                ("failed", None, *status, Some(error.as_str()))
            }
        };
        let update = db::query(
            "UPDATE webhook_deliveries SET state = $3, due_at = COALESCE($4, due_at), \
             last_status = $5, last_error = $6, \
             sent_at = CASE WHEN $3 = 'sent' THEN $7 ELSE sent_at END, \
             lease_owner = NULL, lease_until = NULL, updated_at = $7 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(&w.id)
        .bind(&w.lease_token)
        .bind(state)
        .bind(due_at)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(millis(now));
        let done = self.write_one(update).await?;
        Ok(done.rows_affected() == 1)
    }

    /// The latest `limit` webhook deliveries, newest first, with their endpoint's URL: what
    /// the console's Webhooks page lists. Ids are UUIDv7, so `ORDER BY id DESC` is newest
    /// first and reads the primary key's index backwards.
    pub async fn recent_webhook_deliveries(
        &self,
        limit: i64,
    ) -> Result<Vec<DeliveryListing>, StoreError> {
        let rows = db::query(
            "SELECT w.id, w.endpoint_id, e.url, w.event_type, w.state, w.attempts, w.last_status, \
             w.last_error, w.created_at, w.sent_at, w.due_at \
             FROM webhook_deliveries w JOIN webhook_endpoints e ON e.id = w.endpoint_id \
             ORDER BY w.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryListing {
                    id: r.try_get("id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    url: r.try_get("url")?,
                    event_type: r.try_get("event_type")?,
                    state: r.try_get("state")?,
                    attempts: r.try_get("attempts")?,
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                    created_at: from_millis(r.try_get("created_at")?),
                    sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_millis),
                    due_at: from_millis(r.try_get("due_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Queues a `webhook.test` event for endpoint `id` alone, whatever it subscribes to, so an
    /// operator can see a signed request arrive (or the error) without waiting for an
    /// incident. It goes through the same outbox, signature and retries as every webhook.
    /// Audited as `webhook.test_queued` by `actor`.
    #[tracing::instrument(name = "store queue test webhook", skip_all)]
    pub async fn queue_test_webhook(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TestWebhook, StoreError> {
        let mut tx = self.begin_write().await?;
        let disabled: Option<Option<i64>> =
            db::query_scalar("SELECT disabled_at FROM webhook_endpoints WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        match disabled {
            None => return Ok(TestWebhook::NotFound),
            Some(Some(_)) => return Ok(TestWebhook::Disabled),
            Some(None) => {}
        }
        let event_id = new_id();
        let payload = json!({
            "id": event_id,
            "type": TEST_EVENT,
            "created_at": now,
            "data": { "message": "A test event sent from the panic-gateway console." },
        })
        .to_string();
        db::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, \
             due_at, give_up_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $6, $6)",
        )
        .bind(new_id())
        .bind(id)
        .bind(&event_id)
        .bind(TEST_EVENT)
        .bind(&payload)
        .bind(millis(now))
        .bind(millis(now + GIVE_UP_AFTER))
        .execute(&mut *tx)
        .await?;
        super::audit(
            &mut tx,
            now,
            actor,
            "webhook.test_queued",
            "webhook_endpoint",
            id,
            json!({ "event_id": event_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(TestWebhook::Queued { event_id })
    }

    /// Every endpoint's stored secret, for sealing them under the current key at start.
    pub async fn webhook_secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = db::query("SELECT id, sealed_secret FROM webhook_endpoints ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("sealed_secret")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Replaces an endpoint's stored secret if it is still `old` (another instance starting at
    /// the same time may have replaced it already); `true` if this call did.
    #[tracing::instrument(name = "store replace webhook secret", skip_all)]
    pub async fn replace_webhook_secret(
        &self,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let update = db::query(
            "UPDATE webhook_endpoints SET sealed_secret = $3 WHERE id = $1 AND sealed_secret = $2",
        )
        .bind(id)
        .bind(old)
        .bind(new);
        let done = self.write_one(update).await?;
        Ok(done.rows_affected() == 1)
    }
}
