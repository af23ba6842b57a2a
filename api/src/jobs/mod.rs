//! The import pipeline's moving parts: the runner that executes one claimed job, the worker
//! pool that claims jobs from the database, and the scheduler that enqueues due accounts.

pub mod prices;
pub mod runner;
pub mod scheduler;
pub mod worker;

use std::time::Duration;

use rand::Rng;

/// Retry delay for attempt `attempt` (1-based): `base × 2^(attempt-1)` capped at `max`, with
/// ±20 % jitter, and never shorter than what the provider asked for.
#[must_use]
pub fn backoff(
    attempt: i32,
    base: Duration,
    max: Duration,
    at_least: Option<Duration>,
) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let raw = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    let with_jitter = raw.mul_f64(jitter);
    at_least.map_or(with_jitter, |floor| with_jitter.max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_honours_retry_after() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(3600);
        for (attempt, nominal) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0)] {
            let d = backoff(attempt, base, max, None).as_secs_f64();
            assert!(
                d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9,
                "{attempt}: {d}"
            );
        }
        assert!(backoff(30, base, max, None) <= max.mul_f64(1.2));
        assert!(backoff(1, base, max, Some(Duration::from_secs(120))) >= Duration::from_secs(120));
    }
}
