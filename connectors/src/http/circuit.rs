//! A circuit breaker per provider: after `failure_threshold` consecutive failures the circuit
//! opens and calls are refused without touching the network; after `cool_down` one trial call
//! is let through (half-open); its success closes the circuit, its failure opens it again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::clock::Clock;

/// Breaker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit (default 5).
    pub failure_threshold: u32,
    /// How long the circuit stays open before a trial call (default 30 s).
    pub cool_down: Duration,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The breaker state as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: DateTime<Utc>,
    },
    /// A trial call is under way since `since`.
    HalfOpen {
        since: DateTime<Utc>,
    },
}

/// The breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<Inner>,
    config: CircuitConfig,
    clock: Arc<dyn Clock>,
}

impl CircuitBreaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(config: CircuitConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(Inner::Closed { failures: 0 }),
            config,
            clock,
        }
    }

    fn cool_down(&self) -> TimeDelta {
        TimeDelta::from_std(self.config.cool_down).unwrap_or(TimeDelta::MAX)
    }

    /// The state as an operator sees it: an open circuit whose cool-down has passed reports
    /// `half_open` (the next call is a trial).
    #[must_use]
    pub fn state(&self) -> CircuitState {
        let now = self.clock.now();
        match *self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { until } if now < until => CircuitState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// When a call would be refused, how long until the next trial; takes nothing.
    #[must_use]
    pub fn refusing_for(&self) -> Option<Duration> {
        let now = self.clock.now();
        match *self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            Inner::Closed { .. } => None,
            Inner::Open { until } => (now < until).then(|| to_std(until - now)),
            Inner::HalfOpen { since } => {
                let stale = since + self.cool_down();
                (now < stale).then(|| to_std(stale - now))
            }
        }
    }

    /// Asks to make a call. `Err(retry_in)` when the circuit is open (or a trial is already
    /// under way). A half-open trial left unfinished (its future dropped) is given up after
    /// one more cool-down, so the breaker never sticks.
    pub fn admit(&self) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now < until => Err(to_std(until - now)),
            Inner::HalfOpen { since } if now < since + self.cool_down() => {
                Err(to_std(since + self.cool_down() - now))
            }
            Inner::Open { .. } | Inner::HalfOpen { .. } => {
                *state = Inner::HalfOpen { since: now };
                Ok(())
            }
        }
    }

    /// The call reached a working provider: close the circuit.
    pub fn record_success(&self) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Inner::Closed { failures: 0 };
    }

    /// The call failed in a way that says the provider is unwell.
    pub fn record_failure(&self) {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = match *state {
            Inner::Closed { failures } if failures + 1 < self.config.failure_threshold => {
                Inner::Closed {
                    failures: failures + 1,
                }
            }
            _ => Inner::Open {
                until: now + self.cool_down(),
            },
        };
    }
}

fn to_std(delta: TimeDelta) -> Duration {
    delta.to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::clock::ManualClock;

    #[test]
    fn opens_after_the_threshold_half_opens_after_the_cool_down_and_closes_on_success() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let breaker = CircuitBreaker::new(
            CircuitConfig {
                failure_threshold: 2,
                cool_down: Duration::from_secs(10),
            },
            clock.clone(),
        );
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.admit(), Err(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(10));
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert_eq!(breaker.admit(), Ok(()));
        // Only one trial at a time.
        assert!(breaker.admit().is_err());
        breaker.record_success();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(breaker.admit(), Ok(()));
    }

    #[test]
    fn a_failed_trial_opens_the_circuit_again() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let breaker = CircuitBreaker::new(
            CircuitConfig {
                failure_threshold: 1,
                cool_down: Duration::from_secs(5),
            },
            clock.clone(),
        );
        breaker.record_failure();
        clock.advance(Duration::from_secs(5));
        assert_eq!(breaker.admit(), Ok(()));
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.refusing_for(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn an_abandoned_trial_is_given_up_after_a_cool_down() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let breaker = CircuitBreaker::new(
            CircuitConfig {
                failure_threshold: 1,
                cool_down: Duration::from_secs(5),
            },
            clock.clone(),
        );
        breaker.record_failure();
        clock.advance(Duration::from_secs(5));
        assert_eq!(breaker.admit(), Ok(()));
        clock.advance(Duration::from_secs(5));
        assert_eq!(breaker.admit(), Ok(()));
    }
}
