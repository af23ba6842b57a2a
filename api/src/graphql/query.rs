//! Queries: everything a signed-in user can read over REST.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Json, Object};
use uuid::Uuid;

use super::types::{
    Account, ApiToken, AuditEntry, ConfigField, Holding, ImportJob, IntegrationType, Transaction,
    TransactionFilter, User, transactions_connection,
};
use super::{app, current_user, page_size, to_gql};
use crate::domain::AccountId;

pub struct QueryRoot;

#[Object(name = "CoreQuery")]
impl QueryRoot {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let user = current_user(ctx)?;
        Ok(app(ctx)?.users().get(user.id).await.map_err(to_gql)?.into())
    }

    /// The caller's accounts in creation order.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 1000) as usize * child_complexity")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Account>> {
        let user = current_user(ctx)?;
        let limit = page_size(ctx, first)?;
        let page = app(ctx)?
            .accounts()
            .list(user.id, after.as_deref(), Some(limit))
            .await
            .map_err(to_gql)?;
        // Prefetch the page's holdings in one batch when the query asks for them, rather
        // than relying on the loader's batching window to catch every account.
        if ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("holdings")
            .exists()
            && let Ok(loader) = ctx.data::<super::loaders::HoldingsDataLoader>()
        {
            loader.load_many(page.items.iter().map(|a| a.id)).await?;
        }
        let mut conn = Connection::new(false, page.next_cursor.is_some());
        conn.edges.extend(
            page.items
                .into_iter()
                .map(|a| Edge::new(a.id.to_string(), Account::from(a))),
        );
        Ok(conn)
    }

    /// One of the caller's accounts.
    async fn account(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Account> {
        let user = current_user(ctx)?;
        Ok(app(ctx)?
            .accounts()
            .get(user.id, AccountId(id))
            .await
            .map_err(to_gql)?
            .into())
    }

    /// The integration types available on this server.
    async fn integration_types(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<IntegrationType>> {
        current_user(ctx)?;
        Ok(app(ctx)?
            .integrations()
            .catalogue()
            .into_iter()
            .map(|d| IntegrationType {
                config_schema: Json(d.json_schema()),
                integration_type: d.integration_type.to_string(),
                name: d.name.to_string(),
                description: d.description.to_string(),
                fields: d
                    .fields
                    .iter()
                    .map(|f| ConfigField {
                        name: f.name.to_string(),
                        kind: f.kind.as_str().to_string(),
                        required: f.required,
                        secret: f.secret,
                        description: f.description.to_string(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Current positions of one of the caller's accounts.
    async fn holdings(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<Vec<Holding>> {
        let user = current_user(ctx)?;
        let holdings = app(ctx)?
            .accounts()
            .holdings(user.id, AccountId(account_id))
            .await
            .map_err(to_gql)?;
        Ok(holdings.into_iter().map(Into::into).collect())
    }

    /// Transactions of one of the caller's accounts, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 1000) as usize * child_complexity")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
        filter: Option<TransactionFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Transaction>> {
        transactions_connection(ctx, account_id, filter, first, after).await
    }

    /// The caller's import jobs, newest first (optionally for one account).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 1000) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        account_id: Option<Uuid>,
        status: Option<String>,
        source: Option<String>,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ImportJob>> {
        let user = current_user(ctx)?;
        let limit = page_size(ctx, first)?;
        let page = app(ctx)?
            .import_jobs()
            .list(
                user.id,
                crate::services::import_jobs::JobQuery {
                    account: account_id.map(AccountId),
                    status,
                    source,
                    from,
                    to,
                },
                after.as_deref(),
                Some(limit),
            )
            .await
            .map_err(to_gql)?;
        let mut conn = Connection::new(false, page.next_cursor.is_some());
        conn.edges.extend(
            page.items
                .into_iter()
                .map(|j| Edge::new(j.id.to_string(), ImportJob::from(j))),
        );
        Ok(conn)
    }

    /// One of the caller's import jobs.
    async fn import_job(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<ImportJob> {
        let user = current_user(ctx)?;
        Ok(app(ctx)?
            .import_jobs()
            .get(user.id, id)
            .await
            .map_err(to_gql)?
            .into())
    }

    /// The caller's audit log, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 1000) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEntry>> {
        let user = current_user(ctx)?;
        let limit = page_size(ctx, first)?;
        let page = app(ctx)?
            .audit()
            .list(user.id, after.as_deref(), Some(limit))
            .await
            .map_err(to_gql)?;
        let mut conn = Connection::new(false, page.next_cursor.is_some());
        conn.edges.extend(
            page.items
                .into_iter()
                .map(|e| Edge::new(e.id.to_string(), AuditEntry::from(e))),
        );
        Ok(conn)
    }

    /// The caller's transactions across accounts, newest first (aliases of another source's
    /// record only with `includeAliases`).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 1000) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn all_transactions(
        &self,
        ctx: &Context<'_>,
        account_id: Option<Uuid>,
        filter: Option<TransactionFilter>,
        asset: Option<String>,
        source: Option<String>,
        include_aliases: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Transaction>> {
        let user = current_user(ctx)?;
        let limit = page_size(ctx, first)?;
        let filter = filter.unwrap_or_default();
        let page = app(ctx)?
            .transactions()
            .list(
                user.id,
                crate::services::transactions::AllTransactionsQuery {
                    account: account_id.map(AccountId),
                    kinds: filter
                        .types
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| t.as_str().to_string())
                        .collect(),
                    asset,
                    source,
                    from: filter.from.map(|d| d.0),
                    to: filter.to.map(|d| d.0),
                    include_aliases: include_aliases.unwrap_or(false),
                    cursor: after,
                    limit: Some(limit),
                },
            )
            .await
            .map_err(to_gql)?;
        let mut conn = Connection::new(false, page.next_cursor.is_some());
        conn.edges.extend(page.items.into_iter().map(|t| {
            Edge::new(
                crate::services::accounts::encode_tx_cursor(t.trade_date, t.id),
                Transaction::from(t),
            )
        }));
        Ok(conn)
    }

    /// The accounts the integration's credentials can see at the provider (as
    /// `GET /api/accounts/{id}/integration/remote-accounts`).
    async fn remote_accounts(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<Vec<super::types::RemoteAccount>> {
        let user = current_user(ctx)?;
        let list = app(ctx)?
            .integrations()
            .remote_accounts(user.id, AccountId(account_id))
            .await
            .map_err(to_gql)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Every integration of the caller with its health and schedule (market-data providers
    /// are in `marketDataProviders`).
    async fn data_sources(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::types::DataSource>> {
        let user = current_user(ctx)?;
        let list = app(ctx)?
            .data_sources()
            .list(user.id)
            .await
            .map_err(to_gql)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// The account's CSV import profile.
    async fn import_profile(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<Json<serde_json::Value>> {
        let user = current_user(ctx)?;
        let profile = app(ctx)?
            .imports()
            .profile(user.id, AccountId(account_id))
            .await
            .map_err(to_gql)?;
        Ok(Json(serde_json::to_value(profile).unwrap_or_default()))
    }

    /// Every holding across the caller's accounts, grouped, largest group first.
    async fn holdings_grouped(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "super::types::HoldingGroupBy::Account")]
        group_by: super::types::HoldingGroupBy,
    ) -> async_graphql::Result<Vec<super::types::HoldingGroup>> {
        let user = current_user(ctx)?;
        let groups = app(ctx)?
            .accounts()
            .holdings_grouped(user.id, group_by.into())
            .await
            .map_err(to_gql)?;
        Ok(groups
            .into_iter()
            .map(|g| super::types::HoldingGroup {
                key: g.key,
                label: g.label,
                value_in_base_currency: g.value_in_base_currency,
                complete: g.complete,
                holdings: g
                    .holdings
                    .into_iter()
                    .map(|(account, h)| super::types::AccountHolding {
                        account_id: account.0,
                        holding: h.into(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// The caller's active personal API tokens (never their secrets).
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        let user = current_user(ctx)?;
        let tokens = app(ctx)?.tokens().list(user.id).await.map_err(to_gql)?;
        Ok(tokens.into_iter().map(Into::into).collect())
    }
}
