//! What stands between the network and the endpoints that take no credential yet (enroll,
//! refresh, the console's sign-in): anyone can call them, so they must never cost a panic press its database
//! connection or SQLite's write turn.
//!
//! - A concurrency gate: at most `auth.max_concurrent_unauthenticated` of these requests run
//!   at once (default a quarter of the pool); one more is answered 503 with `Retry-After` at
//!   once, never queued, so they cannot hold more connections than the gate allows.
//! - Failure limits per client ([`FailureLimiter`]), the client found by
//!   [`TrustedProxies`], and for enrollment a budget across all clients ([`GlobalBudget`]).
//!   Staff sign-in is also limited per e-mail address, so one person's password cannot be
//!   guessed from many addresses.
//!
//! The stores look a secret up with a plain read first, so the guesses that get through
//! never open a write transaction either.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::client_address::TrustedProxies;
use super::rate_limit::{FailureLimiter, GlobalBudget};
use super::AuthSettings;

/// Why a request was turned away before it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This client failed too often; try again in `secs`.
    Client { secs: u64 },
    /// All clients together failed too often this minute; try again in `secs`.
    Everyone { secs: u64 },
}

#[derive(Debug)]
pub struct UnauthenticatedGuard {
    gate: Arc<Semaphore>,
    proxies: TrustedProxies,
    enrollment: FailureLimiter,
    enrollment_global: GlobalBudget,
    refresh: FailureLimiter,
    sign_in: FailureLimiter,
    sign_in_email: FailureLimiter<String>,
}

impl UnauthenticatedGuard {
    /// From validated settings: `gate` requests at once (see
    /// `Settings::max_concurrent_unauthenticated`), and the proxies whose `X-Forwarded-For`
    /// is believed.
    pub fn new(
        auth: &AuthSettings,
        gate: usize,
        trusted_proxies: &[String],
    ) -> Result<Self, String> {
        Ok(Self {
            gate: Arc::new(Semaphore::new(gate)),
            proxies: TrustedProxies::parse(trusted_proxies)?,
            enrollment: FailureLimiter::new(
                auth.enrollment_max_failures,
                Duration::seconds(auth.enrollment_failure_window_secs as i64),
            ),
            enrollment_global: GlobalBudget::new(auth.enrollment_global_failures_per_minute),
            refresh: FailureLimiter::new(
                auth.refresh_max_failures,
                Duration::seconds(auth.refresh_failure_window_secs as i64),
            ),
            sign_in: FailureLimiter::new(
                auth.sign_in_max_failures,
                Duration::seconds(auth.sign_in_failure_window_secs as i64),
            ),
            sign_in_email: FailureLimiter::new(
                auth.sign_in_max_failures,
                Duration::seconds(auth.sign_in_failure_window_secs as i64),
            ),
        })
    }

    /// A place among the unauthenticated requests running now, or `None` when they are all
    /// taken. Held until the response is built.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.gate.clone().try_acquire_owned().ok()
    }

    /// The client address the limits count a request under: its TCP peer, or what trusted
    /// proxies say in `X-Forwarded-For`.
    pub fn client_of(&self, req: &actix_web::HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        let forwarded_for = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        self.client(peer, forwarded_for)
    }

    /// The client address the limits count under.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        self.proxies.client(peer, forwarded_for)
    }

    pub fn enrollment_refused(&self, client: IpAddr, now: DateTime<Utc>) -> Option<Refusal> {
        if let Some(secs) = self.enrollment.blocked_for(client, now) {
            return Some(Refusal::Client { secs });
        }
        self.enrollment_global
            .blocked_for(now)
            .map(|secs| Refusal::Everyone { secs })
    }

    pub fn enrollment_failed(&self, client: IpAddr, now: DateTime<Utc>) {
        self.enrollment.record_failure(client, now);
        self.enrollment_global.record_failure(now);
    }

    pub fn refresh_refused(&self, client: IpAddr, now: DateTime<Utc>) -> Option<Refusal> {
        self.refresh
            .blocked_for(client, now)
            .map(|secs| Refusal::Client { secs })
    }

    pub fn refresh_failed(&self, client: IpAddr, now: DateTime<Utc>) {
        self.refresh.record_failure(client, now);
    }

    /// Seconds until a staff sign-in from `client` for `email` may be tried again, when
    /// either has failed too often.
    pub fn sign_in_refused(&self, client: IpAddr, email: &str, now: DateTime<Utc>) -> Option<u64> {
        let by_client = self.sign_in.blocked_for(client, now);
        let by_email = self
            .sign_in_email
            .key_blocked_for(&email.trim().to_lowercase(), now);
        by_client.max(by_email)
    }

    pub fn sign_in_failed(&self, client: IpAddr, email: &str, now: DateTime<Utc>) {
        self.sign_in.record_failure(client, now);
        self.sign_in_email
            .record_key_failure(email.trim().to_lowercase(), now);
    }
}
