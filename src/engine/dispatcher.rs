//! The dispatcher: drains the delivery outbox into APNs and FCM, and into the channel
//! providers (SMS through Twilio) for deliveries to a contact method.
//!
//! It is woken in-process the moment a transaction queues deliveries (no poll delay on the hot
//! path) and also sweeps on an interval, which recovers whatever a crash or another instance
//! left behind once its lease expires. Each round claims a batch under a lease, sends the batch
//! concurrently over the providers' pooled HTTP/2 connections, and records every outcome:
//! delivered; retried with exponential backoff and full jitter (never sooner than the
//! provider's `Retry-After`); given up when the acknowledgement window ends, so escalation
//! takes over (a page never tried is still sent once, however late); or, for a dead token,
//! the device deactivated (or the contact method disabled) while the user's other devices and
//! methods are still paged. Push and the other channels differ only in the last step, the
//! provider call ([`Dispatcher::send`]); claiming, outcomes, backoff and metrics are shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Duration;
use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::auth::tokens::TokenIssuer;
use crate::channels::{ChannelProviders, Message};
use crate::clock::Clock;
use crate::domain::contact::{Channel, ContactAddress};
use crate::domain::platform::Platform;
use crate::domain::push_token::PushToken;
use crate::push::{Notification, Outcome, Providers};
use crate::store::deliveries::{ClaimedDelivery, Recipient, Recorded};
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchSettings {
    /// Run the dispatcher in this instance.
    pub enabled: bool,
    /// How often to look for due deliveries besides being woken, in milliseconds.
    pub sweep_interval_ms: u64,
    /// How long a claimed delivery stays ours before another instance may take it, seconds.
    pub lease_secs: u64,
    /// Deliveries claimed per round.
    pub batch_size: u32,
    /// Sends in flight at once. A send holds its slot until the provider answers and the
    /// answer is read, which under load takes tens of milliseconds on a busy runtime: at 64
    /// slots a 2-core gateway paging 1,000 presses a second fell seconds behind (see the
    /// README's benchmark). HTTP/2 queues what a provider's stream limit does not admit.
    pub concurrency: u32,
    /// First retry delay, milliseconds; doubles per attempt up to `backoff_max_ms`.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sweep_interval_ms: 1000,
            lease_secs: 30,
            batch_size: 100,
            concurrency: 256,
            backoff_base_ms: 1000,
            backoff_max_ms: 30_000,
        }
    }
}

struct DispatchMetrics {
    deliveries: IntCounterVec,
    send_seconds: HistogramVec,
    queue_due: IntGauge,
    oldest_due_age: Gauge,
}

impl DispatchMetrics {
    fn register(registry: &Registry) -> Self {
        let deliveries = IntCounterVec::new(
            Opts::new("deliveries_total", "Sends by provider and outcome"),
            &["provider", "outcome"],
        )
        .expect("static metric");
        let send_seconds = HistogramVec::new(
            HistogramOpts::new("push_send_seconds", "Time for one provider request").buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["provider"],
        )
        .expect("static metric");
        let queue_due =
            IntGauge::new("delivery_queue_due", "Deliveries due now").expect("static metric");
        let oldest_due_age = Gauge::new(
            "delivery_oldest_due_age_seconds",
            "How long the oldest due delivery has waited",
        )
        .expect("static metric");
        for c in [
            Box::new(deliveries.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(send_seconds.clone()),
            Box::new(queue_due.clone()),
            Box::new(oldest_due_age.clone()),
        ] {
            // A second dispatcher on one registry (tests) shares the first one's series.
            let _ = registry.register(c);
        }
        Self {
            deliveries,
            send_seconds,
            queue_due,
            oldest_due_age,
        }
    }
}

/// A provider reported that our own configuration is wrong: readiness says so until a send
/// on that route (a push platform, `ios`/`android`, or a channel, `sms`) succeeds again.
#[derive(Debug, Default)]
pub struct ProviderHealth(Mutex<HashMap<&'static str, String>>);

impl ProviderHealth {
    pub fn problems(&self) -> Vec<String> {
        let map = self.0.lock().expect("health lock");
        let mut v: Vec<String> = map.iter().map(|(p, e)| format!("{p}: {e}")).collect();
        v.sort();
        v
    }

    /// What the provider of `route` last said about our configuration, if anything.
    pub fn problem(&self, route: &str) -> Option<String> {
        self.0.lock().expect("health lock").get(route).cloned()
    }

    pub(crate) fn set(&self, route: &'static str, problem: Option<String>) {
        let mut map = self.0.lock().expect("health lock");
        match problem {
            Some(p) => map.insert(route, p),
            None => map.remove(route),
        };
    }
}

pub struct Dispatcher {
    store: Store,
    providers: Providers,
    channels: ChannelProviders,
    clock: Arc<dyn Clock>,
    tokens: Arc<TokenIssuer>,
    settings: DispatchSettings,
    instance: String,
    wake: Arc<Notify>,
    health: Arc<ProviderHealth>,
    metrics: DispatchMetrics,
}

/// Full jitter: a uniformly random delay up to the exponential bound, never less than the
/// provider's `Retry-After`.
pub fn retry_delay(
    attempts: i64,
    retry_after: Option<std::time::Duration>,
    settings: &DispatchSettings,
    unit: f64,
) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    let bound = settings
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(settings.backoff_max_ms);
    let jittered = (bound as f64 * unit.clamp(0.0, 1.0)).max(50.0) as i64;
    let floor = retry_after.map(|d| d.as_millis() as i64).unwrap_or(0);
    Duration::milliseconds(jittered.max(floor))
}

impl Dispatcher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        providers: Providers,
        channels: ChannelProviders,
        clock: Arc<dyn Clock>,
        tokens: Arc<TokenIssuer>,
        settings: DispatchSettings,
        wake: Arc<Notify>,
        health: Arc<ProviderHealth>,
        registry: &Registry,
    ) -> Self {
        Self {
            store,
            providers,
            channels,
            clock,
            tokens,
            settings,
            instance: format!("gw-{}", uuid::Uuid::new_v4().simple()),
            wake,
            health,
            metrics: DispatchMetrics::register(registry),
        }
    }

    /// Runs until `stop` turns true, then lets the sends in flight finish and records them.
    ///
    /// Three parts, so that no page waits for another: this loop claims as many due
    /// deliveries as there are free send slots; each send runs on its own task and hands its
    /// outcome to the recorder; the recorder commits outcomes in batches (one transaction,
    /// one fsync for however many sends finished meanwhile). A stalled provider holds its own
    /// slots until its timeout, never the claiming of new pages.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let sweep = std::time::Duration::from_millis(self.settings.sweep_interval_ms);
        let slots = self.settings.concurrency.max(1) as usize;
        let this = self;
        let permits = Arc::new(Semaphore::new(slots));
        let (outcomes, received) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(this.clone().record(received));
        tracing::info!(instance = %this.instance, "dispatcher started");
        loop {
            if *stop.borrow() {
                break;
            }
            let free = permits
                .available_permits()
                .min(this.settings.batch_size as usize);
            if free == 0 {
                // Every slot is sending: wait for one to come free.
                tokio::select! {
                    permit = permits.clone().acquire_owned() => drop(permit),
                    _ = stop.changed() => {}
                }
                continue;
            }
            match this.claim_and_send(free, &permits, &outcomes).await {
                // As many as we could take: there may be more due right now.
                Ok(n) if n == free => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain::error_chain(&e), "claiming deliveries failed; retrying")
                }
            }
            tokio::select! {
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(sweep) => { this.observe_queue().await; }
                _ = stop.changed() => {}
            }
        }
        // Let the sends in flight finish (bounded by the provider timeouts), then record them.
        let drain = std::time::Duration::from_secs(this.settings.lease_secs);
        let _ = tokio::time::timeout(drain, permits.acquire_many(slots as u32)).await;
        drop(outcomes);
        let _ = recorder.await;
        tracing::info!(instance = %this.instance, "dispatcher stopped");
    }

    /// One round without the loop: claims up to `dispatch.batch_size` due deliveries, sends
    /// them (`dispatch.concurrency` at a time), records every outcome, and returns how many it
    /// claimed. What the loop does on each wake, finished before returning.
    #[tracing::instrument(name = "dispatch round", skip_all, fields(instance = %self.instance, claimed))]
    pub async fn run_once(&self) -> Result<usize, crate::store::StoreError> {
        use futures_util::StreamExt;
        let now = self.clock.now();
        let lease = Duration::seconds(self.settings.lease_secs as i64);
        let batch = self
            .store
            .claim_due_deliveries(
                &self.instance,
                now,
                lease,
                i64::from(self.settings.batch_size),
            )
            .await?;
        let claimed = batch.len();
        tracing::Span::current().record("claimed", claimed);
        if claimed == 0 {
            return Ok(0);
        }
        let outcomes: Vec<(ClaimedDelivery, Recorded)> = futures_util::stream::iter(batch)
            .map(|d| async move {
                let recorded = self.send(&d).await;
                (d, recorded)
            })
            .buffer_unordered(self.settings.concurrency.max(1) as usize)
            .collect()
            .await;
        self.record_batch(&outcomes).await;
        Ok(claimed)
    }

    /// Claims up to `limit` due deliveries and starts a send for each; returns how many.
    #[tracing::instrument(name = "dispatch claim", skip_all, fields(instance = %self.instance, limit = limit, claimed))]
    async fn claim_and_send(
        self: &Arc<Self>,
        limit: usize,
        permits: &Arc<Semaphore>,
        outcomes: &mpsc::UnboundedSender<(ClaimedDelivery, Recorded)>,
    ) -> Result<usize, crate::store::StoreError> {
        let now = self.clock.now();
        let lease = Duration::seconds(self.settings.lease_secs as i64);
        let batch = self
            .store
            .claim_due_deliveries(&self.instance, now, lease, limit as i64)
            .await?;
        let n = batch.len();
        tracing::Span::current().record("claimed", n);
        for d in batch {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let this = self.clone();
            let outcomes = outcomes.clone();
            tokio::spawn(async move {
                let recorded = this.send(&d).await;
                let _ = outcomes.send((d, recorded));
                drop(permit);
            });
        }
        Ok(n)
    }

    /// Commits outcomes as they arrive, as many per transaction as are waiting.
    async fn record(
        self: Arc<Self>,
        mut received: mpsc::UnboundedReceiver<(ClaimedDelivery, Recorded)>,
    ) {
        const MAX_BATCH: usize = 512;
        while let Some(first) = received.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match received.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            self.record_batch(&batch).await;
        }
    }

    /// Commits one batch of outcomes in one transaction.
    #[tracing::instrument(name = "dispatch record", skip_all, fields(outcomes = batch.len()))]
    async fn record_batch(&self, batch: &[(ClaimedDelivery, Recorded)]) {
        // A failed commit is retried briefly; after that the leases expire and the
        // deliveries are sent again (the collapse id keeps phones from showing it twice).
        for attempt in 0..5u32 {
            match self.store.record_deliveries(batch, self.clock.now()).await {
                Ok(recorded) => {
                    if recorded < batch.len() {
                        tracing::warn!(
                            lost = batch.len() - recorded,
                            "leases lost before outcomes were recorded"
                        );
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %crate::error_chain::error_chain(&e), attempt, "could not record delivery outcomes");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }

    async fn observe_queue(&self) {
        let now = self.clock.now();
        if let Ok(stats) = self.store.delivery_queue_stats(now).await {
            self.metrics.queue_due.set(stats.due);
            let age = stats
                .oldest_due_at
                .map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
                .unwrap_or(0.0);
            self.metrics.oldest_due_age.set(age);
        }
    }

    /// One delivery: decides whether it may still go, sends it through its route's provider
    /// (push platform or channel), and turns the answer into what is recorded. The span names
    /// the delivery and route, never the token, the address or the payload.
    #[tracing::instrument(
        name = "delivery send",
        skip_all,
        fields(delivery = %d.id, route = d.recipient.route(), attempts = d.attempts)
    )]
    async fn send(&self, d: &ClaimedDelivery) -> Recorded {
        let now = self.clock.now();
        let route = d.recipient.route();
        if d.kind == crate::push::NotificationKind::Page && !d.incident_state.is_open() {
            return Recorded::Cancelled {
                reason: format!("incident {}", d.incident_state.as_str()),
            };
        }
        if d.recipient_gone {
            return Recorded::Cancelled {
                reason: match d.recipient {
                    Recipient::Device { .. } => "device revoked or its push token is dead",
                    Recipient::Method { .. } => "contact method disabled, deleted or unverified",
                }
                .into(),
            };
        }
        // The window bounds retries, not the first try: a page that waited in the queue past
        // its window (a backlog, an outage of this gateway) is still sent once, late rather
        // than never. Only a page that was already tried is given up here.
        if now >= d.give_up_at && d.attempts > 1 {
            return self.count(
                &d.recipient,
                "expired",
                Recorded::Failed {
                    error: "acknowledgement window ended before the page could be delivered".into(),
                },
            );
        }
        let started = Instant::now();
        let outcome = match &d.recipient {
            Recipient::Device {
                device_id,
                platform,
                push_token,
                critical_alerts,
            } => {
                let Some(provider) = self.providers.get(platform) else {
                    return self
                        .misconfigured(d, format!("no push provider is configured for {route}"));
                };
                // A late first send gets a fresh window of the original length, so the phone
                // keeps it and its acknowledge button still works.
                let expires_at = if d.expires_at <= now {
                    now + (d.expires_at - d.created_at).max(Duration::minutes(1))
                } else {
                    d.expires_at
                };
                let ack_token = (d.kind == crate::push::NotificationKind::Page).then(|| {
                    self.tokens
                        .issue_ack(&d.user_id, device_id, &d.incident_id, expires_at, now)
                });
                let notification = Notification {
                    kind: d.kind,
                    incident_id: d.incident_id.clone(),
                    delivery_id: d.id.clone(),
                    title: d.title.clone(),
                    body: d.body.clone(),
                    ticket_ref: Some(d.ticket_ref.clone()),
                    ack_token,
                    expires_at,
                    critical_allowed: *critical_alerts,
                };
                // Tokens are checked when a phone sends them; one stored before that check
                // existed and not of its platform's shape could never be delivered to, and
                // must not reach the provider's request: it is dead.
                match PushToken::parse(*platform, push_token) {
                    Ok(token) => provider.send(&token, &notification, now).await,
                    Err(e) => Outcome::TokenDead {
                        reason: format!("the stored push token is malformed: {e}"),
                    },
                }
            }
            Recipient::Method {
                channel, address, ..
            } => {
                let Some(provider) = self.channels.get(channel) else {
                    return self.misconfigured(d, format!("no provider is configured for {route}"));
                };
                // An e-mailed page carries a link that acknowledges it (on POST); the token
                // names this delivery and is signed, so it needs nothing stored at send time.
                let ack_token = (*channel == Channel::Email
                    && d.kind == crate::push::NotificationKind::Page)
                    .then(|| self.tokens.issue_link(&d.id));
                let message = Message {
                    delivery_id: Some(d.id.clone()),
                    title: d.title.clone(),
                    body: d.body.clone(),
                    reply_code: d.reply_code.clone(),
                    verification_code: None,
                    ack_token,
                };
                // Stored addresses were parsed when added; one that no longer parses can never
                // be delivered to.
                match channel
                    .method_kind()
                    .ok_or("not a contact-method channel")
                    .and_then(|kind| ContactAddress::parse(kind, address))
                {
                    Ok(to) => provider.send(&to, &message, now).await,
                    Err(e) => Outcome::TokenDead {
                        reason: format!("the stored address is malformed: {e}"),
                    },
                }
            }
        };
        self.metrics
            .send_seconds
            .with_label_values(&[self.provider_name(&d.recipient)])
            .observe(started.elapsed().as_secs_f64());
        let now = self.clock.now();
        match outcome {
            Outcome::Accepted {
                provider_message_id,
            } => {
                self.health.set(route, None);
                tracing::info!(delivery = %d.id, incident = %d.incident_id, kind = ?d.kind, route, attempts = d.attempts, "delivered to the provider");
                self.count(
                    &d.recipient,
                    "accepted",
                    Recorded::Sent {
                        provider_message_id,
                    },
                )
            }
            Outcome::Retry { after, reason } => {
                let delay =
                    retry_delay(d.attempts, after, &self.settings, rand::thread_rng().gen());
                let due_at = now + delay;
                if due_at >= d.give_up_at {
                    tracing::warn!(delivery = %d.id, %reason, "giving up: the acknowledgement window ends before the next try");
                    return self.count(
                        &d.recipient,
                        "gave_up",
                        Recorded::Failed {
                            error: format!("gave up after {} attempts: {reason}", d.attempts),
                        },
                    );
                }
                tracing::info!(delivery = %d.id, %reason, retry_in_ms = delay.num_milliseconds(), "provider asked to retry");
                self.count(
                    &d.recipient,
                    "retry",
                    Recorded::RetryAt {
                        due_at,
                        error: reason,
                    },
                )
            }
            Outcome::TokenDead { reason } => {
                tracing::warn!(delivery = %d.id, route, %reason, "the address is dead: device deactivated or contact method disabled");
                self.count(
                    &d.recipient,
                    "token_dead",
                    Recorded::TokenDead { error: reason },
                )
            }
            Outcome::Fatal { reason } => {
                tracing::error!(delivery = %d.id, route, %reason, "provider rejected our configuration");
                self.health.set(route, Some(reason.clone()));
                self.count(&d.recipient, "fatal", Recorded::Failed { error: reason })
            }
        }
    }

    /// No provider for the delivery's route: failed, and readiness says so.
    fn misconfigured(&self, d: &ClaimedDelivery, error: String) -> Recorded {
        tracing::error!(delivery = %d.id, "{error}");
        self.health.set(d.recipient.route(), Some(error.clone()));
        self.count(&d.recipient, "fatal", Recorded::Failed { error })
    }

    fn provider_name(&self, recipient: &Recipient) -> &'static str {
        match recipient {
            Recipient::Device { platform, .. } => match platform {
                Platform::Ios => "apns",
                Platform::Android => "fcm",
            },
            Recipient::Method { channel, .. } => self
                .channels
                .get(channel)
                .map(|p| p.name())
                .unwrap_or_else(|| channel.as_str()),
        }
    }

    fn count(&self, recipient: &Recipient, outcome: &str, recorded: Recorded) -> Recorded {
        self.metrics
            .deliveries
            .with_label_values(&[self.provider_name(recipient), outcome])
            .inc();
        recorded
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_and_honours_retry_after() {
        let s = DispatchSettings::default();
        assert_eq!(retry_delay(1, None, &s, 1.0), Duration::milliseconds(1000));
        assert_eq!(retry_delay(2, None, &s, 1.0), Duration::milliseconds(2000));
        assert_eq!(retry_delay(3, None, &s, 0.5), Duration::milliseconds(2000));
        assert_eq!(
            retry_delay(10, None, &s, 1.0),
            Duration::milliseconds(30_000)
        );
        assert_eq!(
            retry_delay(60, None, &s, 1.0),
            Duration::milliseconds(30_000)
        );
        assert_eq!(retry_delay(1, None, &s, 0.0), Duration::milliseconds(50));
        assert_eq!(
            retry_delay(1, Some(std::time::Duration::from_secs(7)), &s, 1.0),
            Duration::milliseconds(7000)
        );
    }
}
