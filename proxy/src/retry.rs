//! The retry policy the delivery loop (`delivery.rs`) asks: MPNS's three attempts with 1 s, 2 s
//! waits (docs/mpns-contract.md §5.2), each attempt bounded by `RetryTimeoutSec`, all inside the
//! `SendTimeoutSec` budget; a provider's `Retry-After` is honoured when longer
//! (docs/deviations.md, 4). It decides, the loop does: kept apart so each reads on its own.

use std::time::{Duration, Instant};

use crate::config::Config;

pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// `RetryTimeoutSec`: no single attempt may take longer.
    attempt_timeout: Duration,
    /// The first wait; each next one doubles it.
    first_wait: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &Config) -> Self {
        RetryPolicy {
            attempt_timeout: config.delivery.retry_timeout,
            first_wait: config.delivery.retry_backoff,
        }
    }

    /// The time one attempt may take: `RetryTimeoutSec`, or less when the budget ends sooner.
    pub fn attempt_timeout(&self, deadline: Instant) -> Duration {
        self.attempt_timeout
            .min(deadline.saturating_duration_since(Instant::now()))
    }

    /// The wait before attempt `done + 1`, or `None` when attempts or budget are used up.
    pub fn next_wait(
        &self,
        done: u32,
        retry_after: Option<Duration>,
        deadline: Instant,
    ) -> Option<Duration> {
        if done >= MAX_ATTEMPTS {
            return None;
        }
        let backoff = self.first_wait * 2u32.pow(done.saturating_sub(1));
        let wait = retry_after.map_or(backoff, |r| r.max(backoff));
        // Waiting past the budget cannot lead to an answer in time.
        (Instant::now() + wait < deadline).then_some(wait)
    }
}

/// `Retry-After` in seconds (the form APNs and FCM use).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_and_stop_at_three_attempts_or_the_budget() {
        let r = RetryPolicy {
            attempt_timeout: Duration::from_secs(8),
            first_wait: crate::config::FIRST_RETRY_WAIT,
        };
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(r.next_wait(1, None, far), Some(Duration::from_secs(1)));
        assert_eq!(r.next_wait(2, None, far), Some(Duration::from_secs(2)));
        assert_eq!(r.next_wait(3, None, far), None);
        assert_eq!(
            r.next_wait(1, Some(Duration::from_secs(5)), far),
            Some(Duration::from_secs(5))
        );
        let near = Instant::now() + Duration::from_millis(500);
        assert_eq!(r.next_wait(1, None, near), None);
        assert!(r.attempt_timeout(near) <= Duration::from_millis(500));
    }
}
