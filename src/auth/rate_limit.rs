//! Failure rate limiting for guessable credentials (enrollment codes).
//!
//! Counts failures per client address in a fixed window; once `max_failures` is reached the
//! address is refused until the window ends. Kept in memory: each gateway instance limits on
//! its own, which bounds guessing to `instances x max_failures` per window — still hopeless
//! against 50-bit codes that expire. Successful attempts are not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<IpAddr, (DateTime<Utc>, u32)>>,
}

/// Entries kept before stale ones are swept, so a scan from many addresses cannot grow
/// memory without bound.
const SWEEP_AT: usize = 10_000;

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `addr` may try again, if it is blocked now.
    pub fn blocked_for(&self, addr: IpAddr, now: DateTime<Utc>) -> Option<u64> {
        let entries = self.entries.lock().expect("limiter lock");
        let (start, count) = entries.get(&addr)?;
        let ends = *start + self.window;
        (*count >= self.max_failures && now < ends)
            .then(|| (ends - now).num_seconds().max(1) as u64)
    }

    pub fn record_failure(&self, addr: IpAddr, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().expect("limiter lock");
        if entries.len() >= SWEEP_AT {
            let window = self.window;
            entries.retain(|_, (start, _)| *start + window > now);
        }
        let entry = entries.entry(addr).or_insert((now, 0));
        if entry.0 + self.window <= now {
            *entry = (now, 0);
        }
        entry.1 += 1;
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
}
