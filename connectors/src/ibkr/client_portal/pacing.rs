//! Minimum spacing between requests, per key. The gateway counts requests per second (10/s
//! overall through the gateway) and some endpoints per five seconds; going over answers 429
//! and may put the IP in a ten-minute penalty box, so the client paces itself instead of
//! relying on retries.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Reserves send slots: each call to [`Pacer::wait`] takes the first instant free under all
/// its keys and sleeps until then, so concurrent callers queue in order instead of bursting.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    next_free: Mutex<HashMap<&'static str, Instant>>,
}

impl Pacer {
    /// Waits until every `(key, spacing)` allows a request: `spacing` has passed since the
    /// previous slot of `key`. One slot is taken for all keys at once, so a request waiting
    /// for one key does not leave a stale slot under another.
    pub(super) async fn wait(&self, limits: &[(&'static str, Duration)]) {
        let slot = {
            let mut next_free = self
                .next_free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let slot = limits
                .iter()
                .filter_map(|(key, _)| next_free.get(key).copied())
                .fold(now, Instant::max);
            for (key, spacing) in limits {
                next_free.insert(key, slot + *spacing);
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_of_one_key_are_spaced_and_keys_are_independent() {
        let pacer = Pacer::default();
        let spacing = Duration::from_millis(40);
        let start = Instant::now();
        let accounts = [("/portfolio/accounts", spacing)];
        pacer.wait(&accounts).await;
        pacer.wait(&[("/tickle", spacing)]).await;
        assert!(start.elapsed() < spacing, "first slots are free");
        pacer.wait(&accounts).await;
        assert!(start.elapsed() >= spacing);
        pacer.wait(&accounts).await;
        assert!(start.elapsed() >= spacing * 2);
        tokio::time::sleep(spacing * 2).await;
        let later = Instant::now();
        pacer.wait(&accounts).await;
        assert!(later.elapsed() < spacing, "an old slot costs nothing");
    }

    #[tokio::test]
    async fn a_slot_waited_for_under_one_key_is_taken_under_all_keys() {
        let pacer = Pacer::default();
        let short = Duration::from_millis(10);
        let long = Duration::from_millis(60);
        pacer.wait(&[("*", short), ("/tickle", long)]).await;
        let start = Instant::now();
        // The global key is free again after 10 ms, but /tickle only after 60 ms: the request
        // goes at 60 ms, and the next global slot is counted from there.
        pacer.wait(&[("*", short), ("/tickle", long)]).await;
        assert!(start.elapsed() >= long - short);
        let sent = Instant::now();
        pacer.wait(&[("*", short)]).await;
        assert!(sent.elapsed() + Duration::from_millis(2) >= short);
    }
}
