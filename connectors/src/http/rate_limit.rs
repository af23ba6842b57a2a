//! A client-side rate limiter per provider: fixed windows aligned on UTC (a "day" is a UTC
//! calendar day, as the providers count their daily budgets), several windows at once.
//!
//! A caller that finds a window full either waits for it to roll over (short windows: at most
//! [`RateLimits::max_wait`]) or fails at once with `RateLimited` (a spent hourly or daily
//! budget), so the fallback chain can move on to the next provider instead of hanging.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::clock::Clock;
use crate::ConnectorError;

/// Request budgets of one provider; `None` means no limit for that window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    /// The longest a request waits for a window to roll over before failing with
    /// `RateLimited`. Default 65 s: minute windows are waited for, hourly and daily ones not.
    pub max_wait: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_second: None,
            per_minute: None,
            per_hour: None,
            per_day: None,
            max_wait: Duration::from_secs(65),
        }
    }
}

impl RateLimits {
    /// No limit at all.
    #[must_use]
    pub fn unlimited() -> Self {
        Self::default()
    }

    fn windows(&self) -> Vec<Window> {
        [
            (self.per_second, 1_000, "second"),
            (self.per_minute, 60_000, "minute"),
            (self.per_hour, 3_600_000, "hour"),
            (self.per_day, 86_400_000, "day"),
        ]
        .into_iter()
        .filter_map(|(limit, period_ms, name)| {
            limit.map(|limit| Window {
                name,
                limit,
                period_ms,
                start_ms: i64::MIN,
                used: 0,
            })
        })
        .collect()
    }
}

/// Usage of one window, for the providers status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowUsage {
    /// `second`, `minute`, `hour` or `day`.
    pub window: &'static str,
    pub used: u32,
    pub limit: u32,
    /// When the window rolls over.
    pub resets_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Window {
    name: &'static str,
    limit: u32,
    period_ms: i64,
    start_ms: i64,
    used: u32,
}

impl Window {
    fn roll(&mut self, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(self.period_ms);
        if start != self.start_ms {
            self.start_ms = start;
            self.used = 0;
        }
    }

    fn reset_in_ms(&self, now_ms: i64) -> i64 {
        (self.start_ms + self.period_ms - now_ms).max(1)
    }
}

/// What [`RateLimiter::try_acquire`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A permit was taken.
    Granted,
    /// A short window is full: try again after this long.
    Wait(Duration),
    /// A long window (or a provider-reported block) is spent until this long from now.
    Exhausted(Duration),
}

#[derive(Debug)]
struct State {
    windows: Vec<Window>,
    blocked_until_ms: Option<i64>,
}

/// The limiter; cheap to share behind the provider's [`super::ProviderHttp`].
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    max_wait: Duration,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// A limiter enforcing `limits`, reading time from `clock`.
    #[must_use]
    pub fn new(limits: &RateLimits, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State {
                windows: limits.windows(),
                blocked_until_ms: None,
            }),
            max_wait: limits.max_wait,
            clock,
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Takes a permit if every window has room, without waiting.
    pub fn try_acquire(&self) -> Admission {
        let now_ms = self.now_ms();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(until) = state.blocked_until_ms {
            if until > now_ms {
                return Admission::Exhausted(ms(until - now_ms));
            }
            state.blocked_until_ms = None;
        }
        let mut wait_ms = 0_i64;
        for window in &mut state.windows {
            window.roll(now_ms);
            if window.used >= window.limit {
                wait_ms = wait_ms.max(window.reset_in_ms(now_ms));
            }
        }
        if wait_ms > 0 {
            let wait = ms(wait_ms);
            return if wait > self.max_wait {
                Admission::Exhausted(wait)
            } else {
                Admission::Wait(wait)
            };
        }
        for window in &mut state.windows {
            window.used += 1;
        }
        Admission::Granted
    }

    /// Takes a permit, waiting for short windows to roll over.
    ///
    /// # Errors
    /// `RateLimited { retry_after }` when a budget is spent for longer than `max_wait`.
    pub async fn acquire(&self) -> Result<(), ConnectorError> {
        loop {
            match self.try_acquire() {
                Admission::Granted => return Ok(()),
                Admission::Wait(wait) => tokio::time::sleep(wait).await,
                Admission::Exhausted(retry_after) => {
                    return Err(ConnectorError::RateLimited {
                        retry_after: Some(retry_after),
                    });
                }
            }
        }
    }

    /// Whether a permit would be refused for longer than `max_wait` (a spent budget), and
    /// for how long. Takes no permit.
    #[must_use]
    pub fn exhausted_for(&self) -> Option<Duration> {
        let now_ms = self.now_ms();
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let blocked = state
            .blocked_until_ms
            .filter(|until| *until > now_ms)
            .map(|until| until - now_ms);
        let window = state
            .windows
            .iter()
            .filter(|w| {
                let start = now_ms - now_ms.rem_euclid(w.period_ms);
                start == w.start_ms && w.used >= w.limit
            })
            .map(|w| w.reset_in_ms(now_ms))
            .max();
        let longest = blocked.max(window).map(ms)?;
        (longest > self.max_wait || blocked.is_some()).then_some(longest)
    }

    /// Refuses every request for `duration`: used when the provider itself says the budget
    /// is spent (Alpha Vantage's daily-limit notice), so no more calls are wasted.
    pub fn block_for(&self, duration: Duration) {
        let until = self
            .now_ms()
            .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.blocked_until_ms = Some(state.blocked_until_ms.map_or(until, |u| u.max(until)));
    }

    /// Usage of every configured window, shortest first.
    #[must_use]
    pub fn usage(&self) -> Vec<WindowUsage> {
        let now_ms = self.now_ms();
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .windows
            .iter()
            .map(|w| {
                let start = now_ms - now_ms.rem_euclid(w.period_ms);
                let used = if start == w.start_ms { w.used } else { 0 };
                WindowUsage {
                    window: w.name,
                    used,
                    limit: w.limit,
                    resets_at: DateTime::<Utc>::from_timestamp_millis(start + w.period_ms)
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

fn ms(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::clock::ManualClock;
    use chrono::TimeZone;

    fn clock_at(h: u32, m: u32, s: u32) -> Arc<ManualClock> {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 2, h, m, s)
            .single()
            .unwrap_or_default();
        Arc::new(ManualClock::new(t))
    }

    #[test]
    fn a_full_second_window_asks_to_wait_until_it_rolls_over() {
        let clock = clock_at(10, 0, 0);
        let limits = RateLimits {
            per_second: Some(2),
            ..RateLimits::default()
        };
        let limiter = RateLimiter::new(&limits, clock.clone());
        assert_eq!(limiter.try_acquire(), Admission::Granted);
        clock.advance(Duration::from_millis(250));
        assert_eq!(limiter.try_acquire(), Admission::Granted);
        assert_eq!(
            limiter.try_acquire(),
            Admission::Wait(Duration::from_millis(750))
        );
        clock.advance(Duration::from_millis(750));
        assert_eq!(limiter.try_acquire(), Admission::Granted);
        assert_eq!(limiter.usage()[0].used, 1);
    }

    #[test]
    fn a_spent_daily_budget_fails_fast_until_utc_midnight() {
        let clock = clock_at(23, 0, 0);
        let limits = RateLimits {
            per_minute: Some(5),
            per_day: Some(2),
            ..RateLimits::default()
        };
        let limiter = RateLimiter::new(&limits, clock.clone());
        assert_eq!(limiter.try_acquire(), Admission::Granted);
        assert_eq!(limiter.try_acquire(), Admission::Granted);
        assert_eq!(
            limiter.try_acquire(),
            Admission::Exhausted(Duration::from_secs(3600))
        );
        assert_eq!(limiter.exhausted_for(), Some(Duration::from_secs(3600)));
        let usage = limiter.usage();
        assert_eq!(
            (usage[1].window, usage[1].used, usage[1].limit),
            ("day", 2, 2)
        );
        clock.advance(Duration::from_secs(3600));
        assert_eq!(limiter.exhausted_for(), None);
        assert_eq!(limiter.try_acquire(), Admission::Granted);
    }

    #[test]
    fn a_provider_reported_block_refuses_until_it_ends() {
        let clock = clock_at(12, 0, 0);
        let limiter = RateLimiter::new(&RateLimits::unlimited(), clock.clone());
        limiter.block_for(Duration::from_secs(30));
        assert_eq!(limiter.exhausted_for(), Some(Duration::from_secs(30)));
        assert_eq!(
            limiter.try_acquire(),
            Admission::Exhausted(Duration::from_secs(30))
        );
        clock.advance(Duration::from_secs(30));
        assert_eq!(limiter.try_acquire(), Admission::Granted);
    }
}
