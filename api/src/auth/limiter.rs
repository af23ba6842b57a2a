//! Login throttling: failed attempts per (client address, e-mail) within a window. Once the
//! limit is reached, further attempts get 429 until the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// In-memory sliding-window counter of failed logins.
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
}

impl LoginLimiter {
    #[must_use]
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when this client has failed too often for this e-mail.
    ///
    /// # Errors
    /// The time until the next attempt is allowed.
    pub fn check(&self, client: &str, email: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (client.to_string(), email.to_string());
        let Some(entries) = map.get_mut(&key) else {
            return Ok(());
        };
        while entries
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            entries.pop_front();
        }
        if entries.is_empty() {
            map.remove(&key);
            return Ok(());
        }
        if entries.len() >= self.max_failures {
            let oldest = entries.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, client: &str, email: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            // Bound memory under a spray of distinct e-mails: drop entries that have aged out.
            let now = Instant::now();
            map.retain(|_, v| {
                v.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        map.entry((client.to_string(), email.to_string()))
            .or_default()
            .push_back(Instant::now());
    }

    /// Forgets failures after a successful login.
    pub fn record_success(&self, client: &str, email: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(&(client.to_string(), email.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_per_client_and_email() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        assert!(l.check("1.1.1.1", "a@x.io").is_ok());
        l.record_failure("1.1.1.1", "a@x.io");
        l.record_failure("1.1.1.1", "a@x.io");
        let wait = l.check("1.1.1.1", "a@x.io").expect_err("blocked");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(l.check("2.2.2.2", "a@x.io").is_ok());
        assert!(l.check("1.1.1.1", "b@x.io").is_ok());
        l.record_success("1.1.1.1", "a@x.io");
        assert!(l.check("1.1.1.1", "a@x.io").is_ok());
    }
}
