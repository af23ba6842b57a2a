//! The IBKR account connector: one [`AccountConnector`] over the three modes.
//!
//! Cursors (opaque to the pipeline, stored per account):
//! - Flex: the first sync takes the query's own period (IB allows at most 365 days), then
//!   walks back in 365-day chunks to the day the account was opened (`AccountInformation
//!   dateOpened`, else the `backfill_from` config) with cursor `back:<first day fetched>:<last
//!   day>`; after that, cursor `to:<last day>` and every later sync fetches from that day to
//!   today (the overlap day deduplicates by IB's ids).
//! - Client Portal and TWS: the time of the previous fetch (`since:<RFC 3339>`); trades and
//!   executions from a day before it on are fetched again and deduplicate by execution id.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Days, NaiveDate, Utc};
use tokio::sync::Mutex;

use super::AccountData;
use super::IbAccount;
use super::client_portal::{GatewayClient, GatewaySettings};
use super::config::{IbkrConfig, IbkrEnv, Mode};
use super::flex::client::{FlexClient, FlexClientSettings};
use super::flex::parse::{FlexAccount, FlexStatement, parse_statement};
use super::tws::{TwsClient, TwsSettings};
use crate::ConnectorError;
use crate::types::{
    AccountConnector, Balance, ConnectionCheck, Holding, RemoteAccount, Transaction,
};

/// The longest period one Flex statement may cover.
const FLEX_MAX_DAYS: u64 = 365;

enum Backend {
    Flex(FlexClient),
    Portal(GatewayClient),
    Tws(TwsClient),
}

/// A connection to one IB account.
pub struct IbkrConnector {
    config: IbkrConfig,
    backend: Backend,
    now: DateTime<Utc>,
    /// Flex: the statement of the query's own period, fetched once per sync.
    latest: Mutex<Option<Arc<FlexStatement>>>,
    /// Client Portal / TWS: the account's data, fetched once per sync.
    live: Mutex<Option<Arc<AccountData>>>,
    /// The cursor this connector handed out last; asked again, there is nothing new.
    issued: Mutex<Option<String>>,
}

impl std::fmt::Debug for IbkrConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IbkrConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IbkrConnector {
    /// Builds the connector for a validated config.
    ///
    /// # Errors
    /// `InvalidConfig` when the config does not validate against `env`; `Transport` when the
    /// HTTP client cannot be built.
    pub fn new(
        config: IbkrConfig,
        env: &IbkrEnv,
        now: DateTime<Utc>,
    ) -> Result<Self, ConnectorError> {
        let backend = match &config.mode {
            Mode::Flex {
                token, query_id, ..
            } => Backend::Flex(FlexClient::new(
                FlexClientSettings {
                    base_url: env.flex_base_url.clone(),
                    timeout: env.timeout,
                    poll_initial: env.flex_poll_initial,
                    poll_max: env.flex_poll_max,
                    max_wait: env.flex_max_wait,
                    ..FlexClientSettings::default()
                },
                token.clone(),
                query_id.clone(),
            )?),
            Mode::ClientPortal {
                host,
                port,
                verify_tls,
            } => Backend::Portal(GatewayClient::new(GatewaySettings {
                base_url: format!("https://{}:{port}", bracket(host)),
                verify_tls: *verify_tls,
                timeout: env.timeout,
                slow_endpoint_spacing: env.gateway_slow_spacing,
                ..GatewaySettings::default()
            })?),
            Mode::Tws {
                host,
                port,
                client_id,
            } => Backend::Tws(TwsClient::new(TwsSettings {
                host: host.clone(),
                port: *port,
                client_id: *client_id,
                timeout: env.timeout,
            })),
        };
        Ok(Self {
            config,
            backend,
            now,
            latest: Mutex::new(None),
            live: Mutex::new(None),
            issued: Mutex::new(None),
        })
    }

    fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// The IB account id to use among those visible.
    fn pick<'a>(
        &self,
        ids: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<String, ConnectorError> {
        if let Some(wanted) = &self.config.account_id {
            // The id as IB spells it: the gateway's paths and TWS's filters are case-sensitive.
            if let Some(id) = ids.clone().find(|id| id.eq_ignore_ascii_case(wanted)) {
                return Ok(id.to_owned());
            }
            let seen: Vec<&str> = ids.collect();
            return Err(ConnectorError::invalid_config(
                "account_id",
                format!(
                    "IB account {wanted} is not visible with these credentials (visible: {})",
                    if seen.is_empty() {
                        "none".to_owned()
                    } else {
                        seen.join(", ")
                    }
                ),
            ));
        }
        let seen: Vec<&str> = ids.collect();
        match seen.as_slice() {
            [one] => Ok((*one).to_owned()),
            [] => Err(ConnectorError::Upstream {
                status: 404,
                message: "IB reported no account for these credentials".to_owned(),
            }),
            many => Err(ConnectorError::invalid_config(
                "account_id",
                format!(
                    "these credentials see several IB accounts ({}): set account_id to the one \
                     this account mirrors",
                    many.join(", ")
                ),
            )),
        }
    }

    async fn latest_statement(
        &self,
        flex: &FlexClient,
    ) -> Result<Arc<FlexStatement>, ConnectorError> {
        let mut latest = self.latest.lock().await;
        if let Some(s) = latest.as_ref() {
            return Ok(s.clone());
        }
        let bytes = flex.fetch(None).await?;
        let statement = Arc::new(parse_flex(&bytes, &self.config)?);
        *latest = Some(statement.clone());
        Ok(statement)
    }

    fn flex_account<'a>(
        &self,
        statement: &'a FlexStatement,
    ) -> Result<&'a FlexAccount, ConnectorError> {
        let id = self.pick(statement.accounts.iter().map(|a| a.info.id.as_str()))?;
        statement
            .accounts
            .iter()
            .find(|a| a.info.id.eq_ignore_ascii_case(&id))
            .ok_or_else(|| {
                ConnectorError::Decode(format!("account {id} missing from the statement"))
            })
    }

    /// Client Portal / TWS: positions, balance and the recent trades, fetched once per sync.
    /// The gateway keeps at most 7 days of trades and TWS the current day's executions, so
    /// everything they return is asked for; repeats deduplicate by execution id.
    async fn live_data(&self) -> Result<Arc<AccountData>, ConnectorError> {
        let mut live = self.live.lock().await;
        if let Some(data) = live.as_ref() {
            return Ok(data.clone());
        }
        let data = match &self.backend {
            Backend::Portal(gw) => {
                let accounts = gw.accounts().await?;
                let id = self.pick(accounts.iter().map(|a| a.id.as_str()))?;
                gw.account_data(&id, &self.config.categories, None).await?
            }
            Backend::Tws(tws) => {
                let accounts = tws.accounts().await?;
                let id = self.pick(accounts.iter().map(|a| a.id.as_str()))?;
                tws.account_data(&id, &self.config.categories, None).await?
            }
            Backend::Flex(_) => {
                return Err(ConnectorError::NotSupported(
                    "live data in flex mode".into(),
                ));
            }
        };
        let data = Arc::new(data);
        *live = Some(data.clone());
        Ok(data)
    }

    /// Remote accounts with their type and base currency.
    ///
    /// # Errors
    /// As the mode's client.
    pub async fn ib_accounts(&self) -> Result<Vec<IbAccount>, ConnectorError> {
        match &self.backend {
            Backend::Flex(flex) => Ok(self
                .latest_statement(flex)
                .await?
                .accounts
                .iter()
                .map(|a| a.info.clone())
                .collect()),
            Backend::Portal(gw) => gw.accounts().await,
            Backend::Tws(tws) => tws.accounts().await,
        }
    }

    async fn flex_transactions(
        &self,
        flex: &FlexClient,
        cursor: Option<&str>,
    ) -> Result<(Vec<Transaction>, Option<String>), ConnectorError> {
        let today = self.today();
        match FlexCursor::parse(cursor)? {
            None => {
                let statement = self.latest_statement(flex).await?;
                let account = self.flex_account(&statement)?;
                let to = account.to_date.unwrap_or(today);
                let from = account.from_date.unwrap_or(to);
                let opened = account.info.opened.or(self.config.backfill_from);
                let next = match opened {
                    Some(opened) if opened < from => FlexCursor::Back {
                        first: from,
                        last: to,
                    },
                    _ => FlexCursor::To(to),
                };
                Ok((account.data.transactions.clone(), Some(next.render())))
            }
            Some(FlexCursor::Back { first, last }) => {
                let statement = self.latest_statement(flex).await?;
                let opened = self
                    .flex_account(&statement)?
                    .info
                    .opened
                    .or(self.config.backfill_from)
                    .unwrap_or(first);
                if opened >= first {
                    return Ok((Vec::new(), Some(FlexCursor::To(last).render())));
                }
                let to = first - Days::new(1);
                let from = (to - Days::new(FLEX_MAX_DAYS - 1)).max(opened);
                let chunk = self.flex_period(flex, from, to).await?;
                let next = if from <= opened {
                    FlexCursor::To(last)
                } else {
                    FlexCursor::Back { first: from, last }
                };
                Ok((chunk, Some(next.render())))
            }
            Some(FlexCursor::To(last)) => {
                // Activity statements hold closed days: up to yesterday is up to date.
                if last + Days::new(1) >= today {
                    return Ok((Vec::new(), cursor.map(str::to_owned)));
                }
                let to = (last + Days::new(FLEX_MAX_DAYS - 1)).min(today);
                let chunk = self.flex_period(flex, last, to).await?;
                Ok((chunk, Some(FlexCursor::To(to).render())))
            }
        }
    }

    async fn flex_period(
        &self,
        flex: &FlexClient,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Transaction>, ConnectorError> {
        let bytes = flex.fetch(Some((from, to))).await?;
        let statement = parse_flex(&bytes, &self.config)?;
        Ok(self.flex_account(&statement)?.data.transactions.clone())
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn parse_flex(bytes: &[u8], config: &IbkrConfig) -> Result<FlexStatement, ConnectorError> {
    parse_statement(bytes, &config.categories)
        .map_err(|e| ConnectorError::Decode(format!("the Flex statement: {e}")))
}

/// Where a Flex sync stands (no cursor: the first sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlexCursor {
    Back { first: NaiveDate, last: NaiveDate },
    To(NaiveDate),
}

impl FlexCursor {
    fn parse(cursor: Option<&str>) -> Result<Option<Self>, ConnectorError> {
        let Some(c) = cursor else {
            return Ok(None);
        };
        let date = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| ConnectorError::Decode(format!("invalid IBKR Flex cursor {c:?}")))
        };
        let parts: Vec<&str> = c.split(':').collect();
        match parts.as_slice() {
            ["back", first, last] => Ok(Some(Self::Back {
                first: date(first)?,
                last: date(last)?,
            })),
            ["to", last] => Ok(Some(Self::To(date(last)?))),
            _ => Err(ConnectorError::Decode(format!(
                "invalid IBKR Flex cursor {c:?}"
            ))),
        }
    }

    fn render(self) -> String {
        match self {
            Self::Back { first, last } => format!("back:{first}:{last}"),
            Self::To(last) => format!("to:{last}"),
        }
    }
}

/// The time of the previous live fetch (kept in the cursor for the record; the fetch itself
/// always asks for everything recent).
fn parse_since(cursor: Option<&str>) -> Result<Option<DateTime<Utc>>, ConnectorError> {
    cursor
        .map(|c| {
            c.strip_prefix("since:")
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc))
                .ok_or_else(|| ConnectorError::Decode(format!("invalid IBKR cursor {c:?}")))
        })
        .transpose()
}

#[async_trait]
impl AccountConnector for IbkrConnector {
    async fn health_check(&self) -> Result<ConnectionCheck, ConnectorError> {
        let message = match &self.backend {
            Backend::Flex(flex) => {
                let statement = self.latest_statement(flex).await?;
                let account = self.flex_account(&statement)?;
                format!(
                    "Connected to the IBKR Flex Web Service: statement for {} ({} transactions)",
                    account.info.id,
                    account.data.transactions.len()
                )
            }
            Backend::Portal(gw) => {
                let status = gw.check().await?;
                let accounts = gw.accounts().await?;
                let id = self.pick(accounts.iter().map(|a| a.id.as_str()))?;
                format!("{status}; account {id}")
            }
            Backend::Tws(tws) => {
                let status = tws.check().await?;
                let accounts = tws.accounts().await?;
                let id = self.pick(accounts.iter().map(|a| a.id.as_str()))?;
                format!("{status}; account {id}")
            }
        };
        Ok(ConnectionCheck { message })
    }

    async fn accounts(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        Ok(self
            .ib_accounts()
            .await?
            .into_iter()
            .map(|a| RemoteAccount {
                name: a.name.clone().unwrap_or_else(|| a.id.clone()),
                currency: a.base_currency.clone().unwrap_or_default(),
                kind: a.kind.clone(),
                id: a.id,
            })
            .collect())
    }

    async fn holdings(&self) -> Result<Vec<Holding>, ConnectorError> {
        match &self.backend {
            Backend::Flex(flex) => {
                let statement = self.latest_statement(flex).await?;
                Ok(self.flex_account(&statement)?.data.holdings.clone())
            }
            _ => Ok(self.live_data().await?.holdings.clone()),
        }
    }

    async fn balance(&self) -> Result<Balance, ConnectorError> {
        let balance = match &self.backend {
            Backend::Flex(flex) => {
                let statement = self.latest_statement(flex).await?;
                self.flex_account(&statement)?.data.balance.clone()
            }
            _ => self.live_data().await?.balance.clone(),
        };
        balance.ok_or_else(|| {
            ConnectorError::NotSupported("IB reported no net liquidation value".into())
        })
    }

    async fn transactions(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<Transaction>, Option<String>), ConnectorError> {
        {
            let issued = self.issued.lock().await;
            if cursor.is_some() && issued.as_deref() == cursor {
                return Ok((Vec::new(), cursor.map(str::to_owned)));
            }
        }
        let (transactions, next) = match &self.backend {
            Backend::Flex(flex) => self.flex_transactions(flex, cursor).await?,
            _ => {
                parse_since(cursor)?;
                let data = self.live_data().await?;
                (
                    data.transactions.clone(),
                    Some(format!("since:{}", self.now.to_rfc3339())),
                )
            }
        };
        if matches!(self.backend, Backend::Portal(_) | Backend::Tws(_)) {
            *self.issued.lock().await = next.clone();
        }
        Ok((transactions, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_cursors_round_trip_and_bad_ones_are_decode_errors() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        for c in [
            FlexCursor::Back {
                first: d(2024, 1, 1),
                last: d(2025, 1, 1),
            },
            FlexCursor::To(d(2025, 6, 30)),
        ] {
            assert_eq!(FlexCursor::parse(Some(&c.render())).ok(), Some(Some(c)));
        }
        assert_eq!(FlexCursor::parse(None).ok(), Some(None));
        for bad in ["", "to:", "back:2024-01-01", "to:yesterday", "since:2025"] {
            assert!(matches!(
                FlexCursor::parse(Some(bad)),
                Err(ConnectorError::Decode(_))
            ));
        }
        assert!(parse_since(Some("since:2026-01-02T03:04:05+00:00")).is_ok_and(|s| s.is_some()));
        assert!(parse_since(Some("to:2026-01-01")).is_err());
    }
}
