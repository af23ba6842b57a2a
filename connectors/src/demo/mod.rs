//! The DEMO integration: a deterministic simulated broker.
//!
//! It needs no network and no credentials, so new users can see the product with realistic
//! data, and tests get a full account (trades, dividends, taxes, a split, two cash currencies)
//! without a mock server. Everything it returns is a function of the seed, the profile and
//! `now`; a day's transactions never change once the day is reached, so repeated syncs
//! deduplicate cleanly by `source_id`.

mod config;
mod ledger;
mod market;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

pub use config::{
    DEMO_PASSWORD, DemoConfig, FailMode, INTEGRATION_TYPE, MAX_SEED, Profile, descriptor,
};

use crate::ConnectorError;
use crate::types::{
    AccountConnector, Balance, ConnectionCheck, Holding, RemoteAccount, Transaction,
};
use ledger::Ledger;

/// The `retry_after` the simulated rate limit asks for.
pub const RATE_LIMIT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Format of the transactions cursor: the last trade date returned.
const CURSOR_FORMAT: &str = "%Y-%m-%d";

/// A simulated broker account. Cheap to build (the whole ledger is simulated up front, a few
/// hundred days of arithmetic); never sleeps, never does I/O.
#[derive(Debug, Clone)]
pub struct DemoConnector {
    config: DemoConfig,
    now: DateTime<Utc>,
    ledger: Ledger,
}

impl DemoConnector {
    /// Builds the account as it stands at `now`.
    #[must_use]
    pub fn new(config: DemoConfig, now: DateTime<Utc>) -> Self {
        let ledger = ledger::simulate(config.seed, config.profile, now);
        Self {
            config,
            now,
            ledger,
        }
    }

    /// The first day of the seed's ledger; nothing happens before it.
    #[must_use]
    pub fn opening_date(seed: u64) -> NaiveDate {
        ledger::opening_date(seed)
    }

    /// The remote account id for a seed.
    #[must_use]
    pub fn account_id(seed: u64) -> String {
        format!("DEMO-{seed}")
    }

    /// Applies the password and the simulated failure, before any call answers.
    fn gate(&self) -> Result<(), ConnectorError> {
        if let Some(password) = &self.config.password
            && password != DEMO_PASSWORD
        {
            return Err(ConnectorError::Authentication(
                "the demo broker rejected the password".to_owned(),
            ));
        }
        match self.config.fail_mode {
            FailMode::None => Ok(()),
            FailMode::Auth => Err(ConnectorError::Authentication(
                "the demo broker rejected the credentials (fail_mode auth)".to_owned(),
            )),
            FailMode::RateLimit => Err(ConnectorError::RateLimited {
                retry_after: Some(RATE_LIMIT_RETRY_AFTER),
            }),
            FailMode::ServerError => Err(ConnectorError::Upstream {
                status: 503,
                message: "the demo broker is unavailable (fail_mode server_error)".to_owned(),
            }),
        }
    }
}

#[async_trait]
impl AccountConnector for DemoConnector {
    #[tracing::instrument(skip_all, fields(seed = self.config.seed), err)]
    async fn health_check(&self) -> Result<ConnectionCheck, ConnectorError> {
        self.gate()?;
        Ok(ConnectionCheck {
            message: format!(
                "Connected to the demo broker (profile {}, seed {})",
                self.config.profile.as_str(),
                self.config.seed
            ),
        })
    }

    #[tracing::instrument(skip_all, fields(seed = self.config.seed), err)]
    async fn accounts(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        self.gate()?;
        Ok(vec![RemoteAccount {
            id: Self::account_id(self.config.seed),
            name: format!("Demo brokerage ({})", self.config.profile.as_str()),
            currency: market::ACCOUNT_CURRENCY.to_owned(),
            kind: Some("Individual".to_owned()),
        }])
    }

    #[tracing::instrument(skip_all, fields(seed = self.config.seed), err)]
    async fn holdings(&self) -> Result<Vec<Holding>, ConnectorError> {
        self.gate()?;
        Ok(self.ledger.holdings.clone())
    }

    #[tracing::instrument(skip_all, fields(seed = self.config.seed), err)]
    async fn balance(&self) -> Result<Balance, ConnectorError> {
        self.gate()?;
        Ok(self.ledger.balance.clone())
    }

    #[tracing::instrument(skip_all, fields(seed = self.config.seed), err)]
    async fn transactions(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<Transaction>, Option<String>), ConnectorError> {
        self.gate()?;
        let after = cursor
            .map(|c| {
                NaiveDate::parse_from_str(c, CURSOR_FORMAT).map_err(|err| {
                    ConnectorError::Decode(format!(
                        "invalid demo cursor {c:?} (expected YYYY-MM-DD): {err}"
                    ))
                })
            })
            .transpose()?;
        let new: Vec<Transaction> = self
            .ledger
            .transactions
            .iter()
            .filter(|t| after.is_none_or(|after| t.trade_date > after))
            .cloned()
            .collect();
        let next = new
            .iter()
            .map(|t| t.trade_date)
            .max()
            .map(|d| d.format(CURSOR_FORMAT).to_string())
            .or_else(|| cursor.map(str::to_owned));
        tracing::debug!(count = new.len(), now = %self.now, "demo transactions");
        Ok((new, next))
    }
}

#[cfg(test)]
mod tests;
