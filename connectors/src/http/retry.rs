//! Retry policy: exponential backoff with jitter for transient failures, and `Retry-After`
//! honoured (up to a cap) when the provider says how long to wait.

use std::time::Duration;

use rand::Rng;

use crate::ConnectorError;

/// How a failed request is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (default 3; 1 disables retries).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each later one (default 250 ms).
    pub base_delay: Duration,
    /// The longest backoff (default 5 s).
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured by waiting (default 10 s). A provider asking for
    /// longer gets `RateLimited` returned at once, so the fallback chain moves on.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before attempt `failed_attempts + 1` after `error`, or `None` when the error
    /// is final or the attempts are used up.
    ///
    /// `RateLimited` is retried only when the provider said how long to wait and that wait
    /// is within `max_retry_after`; without a hint (an Alpha Vantage notice, a spent daily
    /// budget) retrying would only burn the budget further.
    #[must_use]
    pub fn delay_after(&self, failed_attempts: u32, error: &ConnectorError) -> Option<Duration> {
        if failed_attempts >= self.max_attempts || !error.is_retryable() {
            return None;
        }
        match error {
            ConnectorError::RateLimited { retry_after } => {
                retry_after.filter(|wait| *wait <= self.max_retry_after)
            }
            _ => Some(self.backoff(failed_attempts)),
        }
    }

    /// "Equal jitter": half the exponential delay fixed, half random, so a crowd of clients
    /// retrying together spreads out while each still backs off.
    #[must_use]
    pub fn backoff(&self, failed_attempts: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2_u32.saturating_pow(failed_attempts.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = if jitter_ms == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=jitter_ms)
        };
        half + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_the_jitter_band_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(1),
        };
        for _ in 0..20 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let tenth = policy.backoff(10);
            assert!(tenth >= Duration::from_millis(250) && tenth <= Duration::from_millis(500));
        }
    }

    #[test]
    fn only_retryable_errors_within_the_attempt_budget_are_retried() {
        let policy = RetryPolicy::default();
        let transport = ConnectorError::Transport("reset".into());
        assert!(policy.delay_after(1, &transport).is_some());
        assert!(policy.delay_after(3, &transport).is_none());
        assert!(
            policy
                .delay_after(1, &ConnectorError::Authentication("bad".into()))
                .is_none()
        );
        let short = ConnectorError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(policy.delay_after(1, &short), Some(Duration::from_secs(2)));
        let long = ConnectorError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(policy.delay_after(1, &long), None);
        let unknown = ConnectorError::RateLimited { retry_after: None };
        assert_eq!(policy.delay_after(1, &unknown), None);
    }
}
