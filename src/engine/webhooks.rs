//! The webhook sender: drains the webhook outbox with signed POSTs.
//!
//! Each request carries `X-PanicGateway-Event` (type), `X-PanicGateway-Event-Id` (receivers
//! deduplicate on it), `X-PanicGateway-Timestamp` (unix seconds) and
//! `X-PanicGateway-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the
//! endpoint's secret, so a receiver can check origin, integrity and freshness. 2xx is done;
//! 408, 429 and 5xx (or no answer) are retried with the dispatcher's backoff; other answers,
//! redirects included (they are never followed), are final. Deliveries are given up a day
//! after the event.
//!
//! Where a send may go: only the schemes and addresses [`crate::domain::outbound_address`]
//! allows. Names are resolved by [`GuardedResolver`], which drops refused addresses before the
//! connection is made, so DNS rebinding cannot slip past a check made earlier; IP-literal
//! hosts never reach a resolver and are checked before the request. No proxy is used: a proxy
//! would resolve and connect on our behalf, past the check.
//!
//! One slow endpoint holds up nobody else: each round claims due webhooks for endpoints that
//! are not already being sent to, and gives every endpoint a task of its own (at most
//! `webhooks.max_concurrent_sends` at once) that sends its webhooks in order. A request is cut
//! off after `webhooks.request_timeout_ms`, which the configuration keeps below the lease, and
//! a send starts only with a lease that outlasts that timeout (it is renewed first when it
//! would not): so no other instance can take a webhook while its request is still open, and an
//! outcome is recorded only while its claim still holds.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::dispatcher::{retry_delay, DispatchSettings};
use crate::clock::Clock;
use crate::domain::outbound_address::{self, AddressPolicy, Forbidden};
use crate::secret_box::SecretBox;
use crate::store::webhooks::{ClaimedWebhook, WebhookOutcome};
use crate::store::Store;

/// The `webhooks` settings section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Accept `http://` endpoint URLs. Off: only `https`, so neither payloads nor signatures
    /// cross the network readable.
    pub allow_http: bool,
    /// Networks webhooks may reach although they are loopback, private, link-local,
    /// unique-local, CGNAT or metadata addresses: CIDRs (`10.20.0.0/16`) or single addresses.
    pub allow_networks: Vec<String>,
    /// Key that encrypts endpoint secrets in the database: base64 of 32 random bytes. Empty:
    /// derived from the token signing secret (`auth.jwt_secret_file`).
    pub secret_key: String,
    /// Endpoints sent to at the same time (each endpoint's webhooks go out in order).
    pub max_concurrent_sends: u32,
    /// How long one POST may take, in milliseconds; at least a second below `lease_secs`.
    pub request_timeout_ms: u64,
    /// How long a claimed webhook stays this instance's before another may send it, seconds.
    pub lease_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_networks: Vec::new(),
            secret_key: String::new(),
            max_concurrent_sends: 16,
            request_timeout_ms: 10_000,
            lease_secs: 30,
        }
    }
}

impl WebhookSettings {
    /// Checks what serde cannot, naming the setting.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.policy()
            .map_err(|reason| ("webhooks.allow_networks", reason))?;
        self.secret_key()
            .map_err(|reason| ("webhooks.secret_key", reason))?;
        if self.max_concurrent_sends == 0 {
            return Err(("webhooks.max_concurrent_sends", "must be at least 1".into()));
        }
        if !(1..=3600).contains(&self.lease_secs) {
            return Err(("webhooks.lease_secs", "must be between 1 and 3600".into()));
        }
        // The lease must outlast the request, or another instance could claim and send a
        // webhook whose first request is still open; the second is for recording the outcome.
        if self.request_timeout_ms < 100 || self.request_timeout_ms + 1000 > self.lease_secs * 1000
        {
            return Err((
                "webhooks.request_timeout_ms",
                "must be at least 100 and at least one second shorter than webhooks.lease_secs"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The refused address ranges less `allow_networks`.
    pub fn policy(&self) -> Result<AddressPolicy, String> {
        self.allow_networks
            .iter()
            .map(|n| outbound_address::parse_network(n))
            .collect::<Result<Vec<_>, _>>()
            .map(AddressPolicy::new)
    }

    /// The configured key-encryption key, if any.
    pub fn secret_key(&self) -> Result<Option<[u8; 32]>, String> {
        if self.secret_key.is_empty() {
            return Ok(None);
        }
        let bytes = crate::auth::parse_secret(&self.secret_key).map_err(str::to_owned)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| "must be base64 of exactly 32 random bytes".to_owned())
    }
}

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

/// A host name whose every address is refused.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses webhooks may not reach ({address} is {reason}; webhooks.allow_networks can allow it)")]
pub struct RefusedAddress {
    host: String,
    address: std::net::IpAddr,
    reason: Forbidden,
}

/// The sender's DNS resolver: the system's answer, less the addresses the policy refuses.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(reason) => {
                        refused.get_or_insert((a.ip(), reason));
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some((address, reason))) => Err(Box::new(RefusedAddress {
                    host,
                    address,
                    reason,
                })
                    as Box<dyn StdError + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The resolver's refusal, if that is what stopped a request.
fn refusal(error: &reqwest::Error) -> Option<&RefusedAddress> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<RefusedAddress>() {
            return Some(refused);
        }
        cause = e.source();
    }
    None
}

pub struct WebhookSender {
    store: Store,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    dispatch: DispatchSettings,
    settings: WebhookSettings,
    policy: Arc<AddressPolicy>,
    secrets: Arc<SecretBox>,
    instance: String,
    /// Sends in flight at once, across the loop and [`WebhookSender::run_once`].
    permits: Arc<Semaphore>,
    /// Endpoints being sent to: their next webhooks wait, so each endpoint's go in order.
    busy: Arc<Mutex<HashSet<String>>>,
}

impl WebhookSender {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        dispatch: DispatchSettings,
        settings: WebhookSettings,
        policy: Arc<AddressPolicy>,
        secrets: Arc<SecretBox>,
    ) -> Self {
        let timeout = std::time::Duration::from_millis(settings.request_timeout_ms);
        let sends_at_once = settings.max_concurrent_sends.max(1) as usize;
        Self {
            store,
            clock,
            client: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver::new(policy.clone())))
                .user_agent(concat!("panic-gateway/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("static client configuration is valid"),
            dispatch,
            settings,
            policy,
            secrets,
            instance: format!("wh-{}", uuid::Uuid::new_v4().simple()),
            permits: Arc::new(Semaphore::new(sends_at_once)),
            busy: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let this = self;
        let interval = std::time::Duration::from_millis(this.dispatch.sweep_interval_ms);
        let mut sends = JoinSet::new();
        while !*stop.borrow() {
            while sends.try_join_next().is_some() {}
            if let Err(e) = this.claim_and_start(&mut sends).await {
                tracing::warn!(error = %crate::error_chain::error_chain(&e), "claiming webhooks failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
        }
        // Requests in flight end within their timeout; their outcomes are then recorded.
        let drain = std::time::Duration::from_secs(this.settings.lease_secs);
        let _ =
            tokio::time::timeout(drain, async { while sends.join_next().await.is_some() {} }).await;
    }

    /// One round without the loop: claims what is due for endpoints not already being sent
    /// to, sends it (each endpoint's in order), records the outcomes, and returns how many it
    /// claimed. What the loop does each interval, finished before returning.
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let mut sends = JoinSet::new();
        let claimed = self.claim_and_start(&mut sends).await?;
        while sends.join_next().await.is_some() {}
        Ok(claimed)
    }

    /// Claims due webhooks of endpoints not already being sent to and starts one task per
    /// endpoint.
    #[tracing::instrument(name = "webhook round", skip_all, fields(instance = %self.instance, claimed))]
    async fn claim_and_start(
        self: &Arc<Self>,
        sends: &mut JoinSet<()>,
    ) -> Result<usize, crate::store::StoreError> {
        let (permits, busy) = (&self.permits, &self.busy);
        if permits.available_permits() == 0 {
            return Ok(0);
        }
        let skip: Vec<String> = busy
            .lock()
            .expect("busy set lock")
            .iter()
            .cloned()
            .collect();
        let batch = self
            .store
            .claim_due_webhooks(
                &self.instance,
                self.clock.now(),
                self.lease(),
                self.dispatch.batch_size as i64,
                &skip,
            )
            .await?;
        let n = batch.len();
        tracing::Span::current().record("claimed", n);
        for queue in by_endpoint(batch) {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let endpoint = queue[0].endpoint_id.clone();
            busy.lock().expect("busy set lock").insert(endpoint.clone());
            // Dropped when the task ends, panics included: the endpoint is free again.
            let guard = Busy {
                set: busy.clone(),
                endpoint,
            };
            let this = self.clone();
            sends.spawn(async move {
                this.send_in_order(queue).await;
                drop(guard);
                drop(permit);
            });
        }
        Ok(n)
    }

    fn lease(&self) -> Duration {
        Duration::seconds(self.settings.lease_secs as i64)
    }

    /// Sends one endpoint's claimed webhooks one after the other.
    #[tracing::instrument(name = "webhook endpoint queue", skip_all, fields(endpoint = queue.first().map(|w| w.endpoint_id.as_str()), queued = queue.len()))]
    async fn send_in_order(&self, queue: Vec<ClaimedWebhook>) {
        // A request plus the write of its outcome must end before the lease does.
        let needed = Duration::milliseconds(self.settings.request_timeout_ms as i64 + 1000);
        for mut w in queue {
            let now = self.clock.now();
            if w.lease_until - now < needed {
                match self.store.renew_webhook_lease(&w, now, self.lease()).await {
                    Ok(Some(until)) => w.lease_until = until,
                    Ok(None) => {
                        tracing::warn!(webhook = %w.id, "webhook lease lost before sending; another instance has it");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(webhook = %w.id, error = %crate::error_chain::error_chain(&e), "cannot renew the webhook lease; left for the next round");
                        return;
                    }
                }
            }
            let outcome = self.send(&w).await;
            match self
                .store
                .record_webhook(&w, &outcome, self.clock.now())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(webhook = %w.id, "webhook lease lost while sending; the outcome is not recorded over the new owner's")
                }
                Err(e) => {
                    tracing::warn!(webhook = %w.id, error = %crate::error_chain::error_chain(&e), "cannot record the webhook outcome; it is sent again when the lease ends")
                }
            }
        }
    }

    /// One POST. The span names the webhook and its endpoint, never the URL's query, the
    /// secret or the payload.
    #[tracing::instrument(
        name = "webhook send",
        skip_all,
        fields(webhook = %w.id, endpoint = %w.endpoint_id, event = %w.event_type, attempts = w.attempts)
    )]
    async fn send(&self, w: &ClaimedWebhook) -> WebhookOutcome {
        let now = self.clock.now();
        let url = match reqwest::Url::parse(&w.url) {
            Ok(url) => url,
            Err(e) => return refused(w, format!("invalid URL: {e}")),
        };
        // The scheme and a literal address are checked again: the settings may have changed
        // since the endpoint was created, and a literal never reaches the resolver.
        if let Err(refusal) =
            outbound_address::check_url(&url, self.settings.allow_http, &self.policy)
        {
            return refused(w, format!("refused: the URL {refusal}"));
        }
        let secret = match self.secrets.open(&w.sealed_secret) {
            Ok(secret) => secret,
            // A key can be put back; until the day is up, try again.
            Err(e) => return self.retry_or_fail(w, now, None, e.to_string()),
        };
        let timestamp = now.timestamp();
        let result = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-panicgateway-event", &w.event_type)
            .header("x-panicgateway-event-id", &w.event_id)
            .header("x-panicgateway-timestamp", timestamp.to_string())
            .header(
                "x-panicgateway-signature",
                signature(&secret, timestamp, &w.payload),
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
            Err(e) => match refusal(&e) {
                Some(refused_address) => return refused(w, format!("refused: {refused_address}")),
                None => (
                    None,
                    format!(
                        "no answer: {}",
                        crate::error_chain::error_chain(&e as &dyn StdError)
                    ),
                ),
            },
        };
        self.retry_or_fail(w, now, status, error)
    }

    fn retry_or_fail(
        &self,
        w: &ClaimedWebhook,
        now: DateTime<Utc>,
        status: Option<u16>,
        error: String,
    ) -> WebhookOutcome {
        let due_at = now + retry_delay(w.attempts, None, &self.dispatch, rand::random());
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

/// A send this gateway will not make: final, the reason recorded on the delivery. Trying again
/// would only knock on the same forbidden door.
fn refused(w: &ClaimedWebhook, error: String) -> WebhookOutcome {
    tracing::warn!(webhook = %w.id, %error, "webhook not sent");
    WebhookOutcome::Failed {
        status: None,
        error,
    }
}

/// An endpoint this instance is sending to, until dropped.
struct Busy {
    set: Arc<Mutex<HashSet<String>>>,
    endpoint: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.endpoint);
        }
    }
}

/// Claimed webhooks grouped by endpoint, each group in claim (due) order.
fn by_endpoint(batch: Vec<ClaimedWebhook>) -> Vec<Vec<ClaimedWebhook>> {
    let mut groups: Vec<Vec<ClaimedWebhook>> = Vec::new();
    for w in batch {
        match groups
            .iter_mut()
            .find(|g| g[0].endpoint_id == w.endpoint_id)
        {
            Some(group) => group.push(w),
            None => groups.push(vec![w]),
        }
    }
    groups
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

    #[test]
    fn a_timeout_that_could_outlast_the_lease_is_refused() {
        let ok = WebhookSettings {
            request_timeout_ms: 29_000,
            lease_secs: 30,
            ..WebhookSettings::default()
        };
        ok.validate().unwrap();
        for (timeout, lease) in [(29_001, 30), (30_000, 30), (60_000, 30), (50, 30)] {
            let s = WebhookSettings {
                request_timeout_ms: timeout,
                lease_secs: lease,
                ..WebhookSettings::default()
            };
            assert_eq!(
                s.validate().unwrap_err().0,
                "webhooks.request_timeout_ms",
                "{timeout} ms with a {lease} s lease"
            );
        }
    }

    #[test]
    fn key_and_networks_are_checked_and_named() {
        for (settings, key) in [
            (
                WebhookSettings {
                    secret_key: "CHANGE_ME".into(),
                    ..Default::default()
                },
                "webhooks.secret_key",
            ),
            (
                WebhookSettings {
                    secret_key: "a plain text passphrase of some length".into(),
                    ..Default::default()
                },
                "webhooks.secret_key",
            ),
            (
                WebhookSettings {
                    // 48 bytes: a KEK is exactly 32.
                    secret_key: crate::auth::secrets::random_token(48),
                    ..Default::default()
                },
                "webhooks.secret_key",
            ),
            (
                WebhookSettings {
                    allow_networks: vec!["10.0.0.0/8".into(), "intranet".into()],
                    ..Default::default()
                },
                "webhooks.allow_networks",
            ),
            (
                WebhookSettings {
                    max_concurrent_sends: 0,
                    ..Default::default()
                },
                "webhooks.max_concurrent_sends",
            ),
        ] {
            assert_eq!(settings.validate().unwrap_err().0, key, "{settings:?}");
        }
        let good = WebhookSettings {
            secret_key: crate::auth::secrets::random_token(32),
            allow_networks: vec!["127.0.0.1/32".into(), "::1".into()],
            ..Default::default()
        };
        good.validate().unwrap();
        assert!(good.secret_key().unwrap().is_some());
    }

    fn claimed(id: &str, endpoint: &str) -> ClaimedWebhook {
        ClaimedWebhook {
            id: id.into(),
            endpoint_id: endpoint.into(),
            lease_token: "t".into(),
            lease_until: DateTime::<Utc>::MIN_UTC,
            url: "https://h.example/".into(),
            sealed_secret: String::new(),
            event_id: id.into(),
            event_type: "incident.opened".into(),
            payload: "{}".into(),
            attempts: 1,
            give_up_at: DateTime::<Utc>::MAX_UTC,
        }
    }

    #[test]
    fn batches_split_per_endpoint_in_order() {
        let groups = by_endpoint(vec![
            claimed("1", "a"),
            claimed("2", "b"),
            claimed("3", "a"),
            claimed("4", "c"),
            claimed("5", "b"),
        ]);
        let ids: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| g.iter().map(|w| w.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["1", "3"], vec!["2", "5"], vec!["4"]]);
    }
}
