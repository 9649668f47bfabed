//! Failure rate limiting for guessable credentials (enrollment codes, refresh tokens, staff
//! passwords).
//!
//! [`FailureLimiter`] counts failures per client (or per any other key, such as the e-mail a
//! staff sign-in names) in a fixed window; once `max_failures` is
//! reached the client is refused until the window ends. An IPv4 client is one address; an IPv6
//! client is its /64, the block one subscriber (one phone, one home) is usually given, so
//! hopping through the addresses of one's own prefix does not reset the count.
//! [`GlobalBudget`] caps failures from all clients together per clock minute, so many addresses
//! cannot add up to many guesses.
//!
//! Kept in memory: each gateway instance limits on its own, which bounds guessing to
//! `instances x budget` per window — still hopeless against 50-bit codes that expire.
//! Successful attempts are not counted.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Failures per key in a fixed window; keyed by client address unless told otherwise.
#[derive(Debug)]
pub struct FailureLimiter<K = IpAddr> {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<K, (DateTime<Utc>, u32)>>,
}

/// The key a client is counted under: an IPv4 address itself, an IPv6 address's /64.
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Entries kept before stale ones are swept, so a scan from many addresses cannot grow
/// memory without bound.
const SWEEP_AT: usize = 10_000;

impl<K: Hash + Eq> FailureLimiter<K> {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, if it is blocked now.
    pub fn key_blocked_for(&self, key: &K, now: DateTime<Utc>) -> Option<u64> {
        let entries = self.entries.lock().expect("limiter lock");
        let (start, count) = entries.get(key)?;
        let ends = *start + self.window;
        (*count >= self.max_failures && now < ends)
            .then(|| (ends - now).num_seconds().max(1) as u64)
    }

    pub fn record_key_failure(&self, key: K, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().expect("limiter lock");
        if entries.len() >= SWEEP_AT {
            let window = self.window;
            entries.retain(|_, (start, _)| *start + window > now);
        }
        let entry = entries.entry(key).or_insert((now, 0));
        if entry.0 + self.window <= now {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

impl FailureLimiter<IpAddr> {
    /// Seconds until `addr` (its /64 for IPv6) may try again, if it is blocked now.
    pub fn blocked_for(&self, addr: IpAddr, now: DateTime<Utc>) -> Option<u64> {
        self.key_blocked_for(&client_key(addr), now)
    }

    pub fn record_failure(&self, addr: IpAddr, now: DateTime<Utc>) {
        self.record_key_failure(client_key(addr), now)
    }
}

/// Failures from every client together, per clock minute.
#[derive(Debug)]
pub struct GlobalBudget {
    per_minute: u32,
    /// The minute (seconds since the epoch / 60) and the failures counted in it.
    minute: Mutex<(i64, u32)>,
}

impl GlobalBudget {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            minute: Mutex::new((i64::MIN, 0)),
        }
    }

    /// Seconds until the minute ends, if this minute's budget is spent.
    pub fn blocked_for(&self, now: DateTime<Utc>) -> Option<u64> {
        let (minute, count) = *self.minute.lock().expect("budget lock");
        (minute == now.timestamp().div_euclid(60) && count >= self.per_minute)
            .then(|| (60 - now.timestamp().rem_euclid(60)) as u64)
    }

    pub fn record_failure(&self, now: DateTime<Utc>) {
        let mut entry = self.minute.lock().expect("budget lock");
        let minute = now.timestamp().div_euclid(60);
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let limiter = FailureLimiter::new(3, Duration::minutes(5));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            limiter.record_failure(ip, t0);
        }
        assert_eq!(limiter.blocked_for(ip, t0), None);
        limiter.record_failure(ip, t0);
        assert_eq!(
            limiter.blocked_for(ip, t0 + Duration::seconds(60)),
            Some(240)
        );
        assert_eq!(limiter.blocked_for(other, t0), None);
        assert_eq!(limiter.blocked_for(ip, t0 + Duration::minutes(5)), None);
        limiter.record_failure(ip, t0 + Duration::minutes(5));
        assert_eq!(limiter.blocked_for(ip, t0 + Duration::minutes(5)), None);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_ipv4_per_address() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let limiter = FailureLimiter::new(2, Duration::minutes(5));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        limiter.record_failure(ip("2001:db8:1:2::1"), t0);
        limiter.record_failure(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t0);
        assert!(limiter.blocked_for(ip("2001:db8:1:2::99"), t0).is_some());
        assert_eq!(limiter.blocked_for(ip("2001:db8:1:3::1"), t0), None);
        assert_eq!(limiter.blocked_for(ip("2001:db8:1::1"), t0), None);
        assert_eq!(client_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        // IPv4 neighbours are separate clients, and an IPv4-mapped address is its IPv4 one.
        limiter.record_failure(ip("192.0.2.1"), t0);
        limiter.record_failure(ip("::ffff:192.0.2.1"), t0);
        assert!(limiter.blocked_for(ip("192.0.2.1"), t0).is_some());
        assert_eq!(limiter.blocked_for(ip("192.0.2.2"), t0), None);
        assert_eq!(client_key(ip("192.0.2.77")), ip("192.0.2.77"));
    }

    #[test]
    fn the_global_budget_closes_until_the_minute_ends() {
        // A whole minute: 30 million minutes after the epoch.
        let minute = DateTime::from_timestamp(30_000_000 * 60, 0).unwrap();
        let budget = GlobalBudget::new(3);
        for s in [5, 10, 15] {
            assert_eq!(budget.blocked_for(minute + Duration::seconds(s)), None);
            budget.record_failure(minute + Duration::seconds(s));
        }
        assert_eq!(budget.blocked_for(minute + Duration::seconds(20)), Some(40));
        assert_eq!(budget.blocked_for(minute + Duration::seconds(59)), Some(1));
        // The next minute starts with a fresh budget.
        assert_eq!(budget.blocked_for(minute + Duration::seconds(60)), None);
        budget.record_failure(minute + Duration::seconds(61));
        assert_eq!(budget.blocked_for(minute + Duration::seconds(62)), None);
    }
}
