//! The TWS / IB Gateway socket API, through the `ibapi` crate.
//!
//! [`TwsClient`] opens one API session per call (handshake, `startApi`), asks for what the
//! call needs, and disconnects. `ibapi` 5.x speaks the protobuf message protocol, so TWS or
//! IB Gateway must report server version 213 or later (a current 10.x build). Every wait is
//! bounded by [`TwsSettings::timeout`]; `ibapi`'s automatic reconnect is turned off, because
//! a dropped session during a one-shot fetch is a transport error for the caller to retry,
//! not something to wait out.
//!
//! What is fetched: managed accounts (from the handshake), positions (`reqPositions`), the
//! account summary (`reqAccountSummary` with `NetLiquidation`, `TotalCashValue`,
//! `AccountType` and the `$LEDGER:ALL` cash ledger), and executions (`reqExecutions`) with
//! their commission reports. The mapping lives in [`convert`].

mod convert;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use ibapi::Client;
use ibapi::accounts::types::AccountGroup;
use ibapi::accounts::{AccountSummary, AccountSummaryResult, AccountSummaryTags, PositionUpdate};
use ibapi::orders::{CommissionReport, ExecutionData, ExecutionFilter, Executions, OrderUpdate};
use ibapi::subscriptions::SubscriptionItem;

use super::category::CategoryMap;
use super::{AccountData, IbAccount};
use crate::ConnectorError;

/// IB error code for "client id is already in use".
const CLIENT_ID_IN_USE: i32 = 326;

/// How long to keep listening for commission reports that TWS sends after the end of the
/// execution list (capped by the configured timeout).
const COMMISSION_GRACE: Duration = Duration::from_millis(750);

/// Where TWS / IB Gateway listens and how this client identifies itself.
#[derive(Debug, Clone)]
pub struct TwsSettings {
    /// Host running TWS or IB Gateway (`127.0.0.1`, a container name, ...).
    pub host: String,
    /// API socket port: 7496/7497 for TWS live/paper, 4001/4002 for IB Gateway live/paper.
    pub port: u16,
    /// API client id; each concurrent API connection to one TWS needs its own.
    pub client_id: i32,
    /// Upper bound for the connect and for each request's answer.
    pub timeout: Duration,
}

/// A client for the TWS socket API. Cheap to build; each call opens its own session.
#[derive(Debug, Clone)]
pub struct TwsClient {
    settings: TwsSettings,
}

impl TwsClient {
    /// A client for the TWS / IB Gateway at `settings.host:settings.port`.
    #[must_use]
    pub fn new(settings: TwsSettings) -> Self {
        Self { settings }
    }

    /// Connects (handshake + `startApi`) and disconnects again.
    ///
    /// # Errors
    /// `Transport` when nothing listens, the handshake is refused or TWS does not answer in
    /// time; `Upstream` (not retryable) when the client id is in use or TWS is too old.
    #[tracing::instrument(skip_all, fields(host = %self.settings.host, port = self.settings.port), err)]
    pub async fn check(&self) -> Result<String, ConnectorError> {
        let client = self.connect().await?;
        let version = client.server_version();
        self.disconnect(client).await;
        Ok(format!(
            "Connected to TWS/IB Gateway (server version {version})"
        ))
    }

    /// The accounts this login manages, with account type and base currency from the
    /// account summary (`AccountType`; the currency `NetLiquidation` is reported in).
    ///
    /// # Errors
    /// As [`TwsClient::check`]; `Decode` for an unreadable answer.
    #[tracing::instrument(skip_all, fields(host = %self.settings.host, port = self.settings.port), err)]
    pub async fn accounts(&self) -> Result<Vec<IbAccount>, ConnectorError> {
        let client = self.connect().await?;
        let result = self.fetch_accounts(&client).await;
        self.disconnect(client).await;
        result
    }

    /// Positions, cash, net liquidation value and the executions since `since` of one
    /// account.
    ///
    /// TWS only reports executions of the current day, or of the last 7 days when the
    /// "Trades" window is configured so; older fills need Flex.
    ///
    /// # Errors
    /// As [`TwsClient::accounts`].
    #[tracing::instrument(skip_all, fields(host = %self.settings.host, port = self.settings.port), err)]
    pub async fn account_data(
        &self,
        account_id: &str,
        map: &CategoryMap,
        since: Option<DateTime<Utc>>,
    ) -> Result<AccountData, ConnectorError> {
        let client = self.connect().await?;
        let result = self
            .fetch_account_data(&client, account_id, map, since)
            .await;
        self.disconnect(client).await;
        result
    }

    fn address(&self) -> String {
        let host = self.settings.host.trim();
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.settings.port)
        } else {
            format!("{host}:{}", self.settings.port)
        }
    }

    fn timed_out(&self) -> ConnectorError {
        ConnectorError::Transport(format!(
            "TWS did not answer within {}s",
            self.settings.timeout.as_secs_f64()
        ))
    }

    /// Runs `future` within the configured timeout.
    async fn bounded<T>(
        &self,
        future: impl Future<Output = Result<T, ibapi::Error>>,
    ) -> Result<T, ConnectorError> {
        match tokio::time::timeout(self.settings.timeout, future).await {
            Err(_) => Err(self.timed_out()),
            Ok(result) => result.map_err(|e| self.map_error(e)),
        }
    }

    async fn connect(&self) -> Result<Client, ConnectorError> {
        let address = self.address();
        let connect = Client::builder()
            .address(address)
            .client_id(self.settings.client_id)
            .max_reconnect_attempts(0)
            .one_shot_timeout(self.settings.timeout.max(Duration::from_millis(1)))
            .connect();
        self.bounded(connect).await
    }

    async fn disconnect(&self, client: Client) {
        // Best effort: the session is over either way once the client is dropped.
        let _ = tokio::time::timeout(self.settings.timeout, client.disconnect()).await;
    }

    /// `ibapi` errors → the connector taxonomy, with messages a user can act on.
    fn map_error(&self, error: ibapi::Error) -> ConnectorError {
        use ibapi::Error as E;
        let address = self.address();
        match error {
            E::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                ConnectorError::Transport(format!(
                    "Nothing is listening on {address}: start TWS or IB Gateway and enable the \
                     API (Configure → API → Settings → Enable ActiveX and Socket Clients)"
                ))
            }
            E::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                ConnectorError::Transport(format!(
                    "TWS at {address} closed the connection ({e}); it may be shutting down or \
                     refusing API clients"
                ))
            }
            E::Io(e) => {
                ConnectorError::Transport(format!("could not talk to TWS at {address}: {e}"))
            }
            E::ConnectionRejected(_) => ConnectorError::Transport(format!(
                "TWS at {address} closed the connection during the handshake: check that the \
                 API is enabled and this host is allowed (Configure → API → Settings → Trusted \
                 IPs, \"Allow connections from localhost only\")"
            )),
            E::ClientIdInUse { client_id } => ConnectorError::Upstream {
                status: 409,
                message: format!(
                    "Client id {client_id} is already in use by another API connection to \
                     TWS/IB Gateway (IB error {CLIENT_ID_IN_USE}): choose a different client id"
                ),
            },
            E::ServerVersion(required, actual, _) => ConnectorError::Upstream {
                status: 426,
                message: format!(
                    "TWS/IB Gateway server version {actual} is too old: version {required} or \
                     later is required; update TWS or IB Gateway"
                ),
            },
            E::Timeout => self.timed_out(),
            E::Notice(notice) if notice.code == CLIENT_ID_IN_USE => ConnectorError::Upstream {
                status: 409,
                message: format!(
                    "Client id {} is already in use by another API connection to TWS/IB \
                     Gateway: choose a different client id",
                    self.settings.client_id
                ),
            },
            E::Notice(notice) if matches!(notice.code, 502 | 504 | 1100 | 1300 | 2110) => {
                ConnectorError::Transport(format!("TWS error {}: {}", notice.code, notice.message))
            }
            E::Notice(notice) => ConnectorError::Upstream {
                status: 502,
                message: format!("TWS error {}: {}", notice.code, notice.message),
            },
            E::ConnectionFailed
            | E::ConnectionReset
            | E::Shutdown
            | E::Cancelled
            | E::UnexpectedEndOfStream => ConnectorError::Transport(format!(
                "the connection to TWS at {address} was lost ({error})"
            )),
            E::Parse(..)
            | E::ParseInt(_)
            | E::FromUtf8(_)
            | E::ParseTime(_)
            | E::UnexpectedResponse(_)
            | E::UnexpectedWireFormat(_)
            | E::InvalidFrame(_)
            | E::ProtobufDecode(_) => ConnectorError::Decode(format!("TWS: {error}")),
            other => ConnectorError::Transport(format!("TWS at {address}: {other}")),
        }
    }

    /// Reads `subscription` until `is_end` says the initial answer is complete, or, for
    /// requests `ibapi` ends itself at TWS's end marker (`ends_itself`), until the stream ends.
    async fn collect_until_end<S, T, R>(
        &self,
        subscription: &mut S,
        mut take: impl FnMut(T) -> Option<R>,
        is_end: impl Fn(&T) -> bool,
        ends_itself: bool,
    ) -> Result<Vec<R>, ConnectorError>
    where
        S: futures_util::Stream<Item = Result<SubscriptionItem<T>, ibapi::Error>> + Unpin,
    {
        let mut rows = Vec::new();
        let read = async {
            while let Some(item) = subscription.next().await {
                match item {
                    Ok(SubscriptionItem::Data(data)) if is_end(&data) => return Ok(()),
                    Ok(SubscriptionItem::Data(data)) => rows.extend(take(data)),
                    Ok(SubscriptionItem::Notice(notice)) => {
                        tracing::warn!(code = notice.code, message = %notice.message, "TWS notice");
                    }
                    Err(ibapi::Error::EndOfStream) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            if ends_itself {
                Ok(())
            } else {
                Err(ibapi::Error::UnexpectedEndOfStream)
            }
        };
        self.bounded(read).await?;
        Ok(rows)
    }

    async fn summary_rows(
        &self,
        client: &Client,
        tags: &[&str],
    ) -> Result<Vec<AccountSummary>, ConnectorError> {
        let group = AccountGroup("All".to_owned());
        let mut subscription = self.bounded(client.account_summary(&group, tags)).await?;
        let rows = self
            .collect_until_end(
                &mut subscription,
                |item| match item {
                    AccountSummaryResult::Summary(row) => Some(row),
                    AccountSummaryResult::End => None,
                },
                |item| matches!(item, AccountSummaryResult::End),
                false,
            )
            .await;
        // TWS allows only two live summary subscriptions; release this one explicitly.
        let _ = tokio::time::timeout(self.settings.timeout, subscription.cancel()).await;
        rows
    }

    async fn fetch_accounts(&self, client: &Client) -> Result<Vec<IbAccount>, ConnectorError> {
        let mut ids: Vec<String> = client.handshake_managed_accounts().to_vec();
        if ids.is_empty() {
            ids = self.bounded(client.managed_accounts()).await?;
        }
        ids.retain(|id| !id.trim().is_empty());
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .summary_rows(
                client,
                &[
                    AccountSummaryTags::ACCOUNT_TYPE,
                    AccountSummaryTags::NET_LIQUIDATION,
                ],
            )
            .await?;
        ids.into_iter()
            .map(|id| {
                let summary = convert::summary(&rows, &id)?;
                Ok(IbAccount {
                    base_currency: summary.base_currency(),
                    kind: summary.account_type,
                    id,
                    name: None,
                    opened: None,
                })
            })
            .collect()
    }

    async fn fetch_account_data(
        &self,
        client: &Client,
        account_id: &str,
        map: &CategoryMap,
        since: Option<DateTime<Utc>>,
    ) -> Result<AccountData, ConnectorError> {
        let as_of = Utc::now();

        let mut subscription = self.bounded(client.positions()).await?;
        let positions = self
            .collect_until_end(
                &mut subscription,
                |item| match item {
                    PositionUpdate::Position(p) => Some(p),
                    PositionUpdate::PositionEnd => None,
                },
                |item| matches!(item, PositionUpdate::PositionEnd),
                false,
            )
            .await?;
        let _ = tokio::time::timeout(self.settings.timeout, subscription.cancel()).await;
        let mut holdings = Vec::new();
        for position in &positions {
            holdings.extend(convert::holding(position, account_id, map, as_of)?);
        }

        let rows = self
            .summary_rows(
                client,
                &[
                    AccountSummaryTags::NET_LIQUIDATION,
                    AccountSummaryTags::TOTAL_CASH_VALUE,
                    AccountSummaryTags::ACCOUNT_TYPE,
                    AccountSummaryTags::LEDGER_ALL,
                ],
            )
            .await?;
        let summary = convert::summary(&rows, account_id)?;
        holdings.extend(convert::cash_holdings(&summary, as_of));

        let (executions, commissions) = self.executions(client, account_id, since).await?;
        let transactions = convert::transactions(executions, &commissions, account_id, map, since)?;

        Ok(AccountData {
            holdings,
            transactions,
            balance: convert::balance(&summary, as_of),
        })
    }

    /// The executions of `account_id` since `since`, and the commission reports that came
    /// with them, keyed by execId.
    ///
    /// `ibapi` ends the executions stream at `execDetailsEnd`, but TWS may send a fill's
    /// commission report after that marker. The order-update stream also receives every
    /// commission report, so it is opened first and drained briefly afterwards for the
    /// reports still missing. A fill whose report never comes keeps `fee: None`.
    async fn executions(
        &self,
        client: &Client,
        account_id: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<(Vec<ExecutionData>, HashMap<String, CommissionReport>), ConnectorError> {
        let mut updates = self.bounded(client.order_update_stream()).await?;
        // No client id in the filter: fills placed from TWS itself or by other API clients
        // belong to the portfolio too.
        let filter = ExecutionFilter {
            account_code: account_id.to_owned(),
            time: since.map(convert::filter_time).unwrap_or_default(),
            ..ExecutionFilter::default()
        };
        let mut subscription = self.bounded(client.executions(filter)).await?;
        let mut commissions = HashMap::new();
        let items = self
            .collect_until_end(&mut subscription, Some, |_| false, true)
            .await?;
        let mut executions = Vec::new();
        for item in items {
            match item {
                Executions::ExecutionData(data) => executions.push(data),
                Executions::CommissionReport(report) => {
                    commissions.insert(report.execution_id.clone(), report);
                }
            }
        }

        let missing = |commissions: &HashMap<String, CommissionReport>| {
            executions
                .iter()
                .any(|e| !commissions.contains_key(&e.execution.execution_id))
        };
        if missing(&commissions) {
            let grace = COMMISSION_GRACE.min(self.settings.timeout);
            let deadline = tokio::time::Instant::now() + grace;
            while missing(&commissions) {
                match tokio::time::timeout_at(deadline, updates.next()).await {
                    Ok(Some(Ok(SubscriptionItem::Data(OrderUpdate::CommissionReport(report))))) => {
                        commissions.insert(report.execution_id.clone(), report);
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(_)) | None) | Err(_) => break,
                }
            }
        }
        Ok((executions, commissions))
    }
}

#[cfg(test)]
mod tests;
