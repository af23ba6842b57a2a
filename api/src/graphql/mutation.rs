//! Mutations: the same service calls as the REST writes. Read-only tokens get `FORBIDDEN`.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::types::{
    Account, CreateAccountInput, CreateApiTokenInput, CreatedApiToken, ImportJob, Integration,
    IntegrationInput, TestResult, UpdateAccountInput, UpdateMeInput, User, tri,
};
use super::{app, to_gql, writer};
use crate::domain::AccountId;
use crate::services::accounts::{AccountUpdate, NewAccount};
use crate::services::users::ProfileUpdate;

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Create an account.
    async fn create_account(
        &self,
        ctx: &Context<'_>,
        input: CreateAccountInput,
    ) -> async_graphql::Result<Account> {
        let user = writer(ctx)?;
        let account = app(ctx)?
            .accounts()
            .create(
                &user.actor(),
                NewAccount {
                    name: input.name,
                    kind: input.kind.into(),
                    currency: input.currency,
                    institution: input.institution,
                    notes: input.notes,
                },
            )
            .await
            .map_err(to_gql)?;
        Ok(account.into())
    }

    /// Update an account's fields.
    async fn update_account(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateAccountInput,
    ) -> async_graphql::Result<Account> {
        let user = writer(ctx)?;
        let update = AccountUpdate {
            name: input.name,
            kind: input.kind.map(Into::into),
            currency: input.currency,
            institution: tri(input.institution),
            notes: tri(input.notes),
            integration: None,
        };
        let account = app(ctx)?
            .accounts()
            .update(&user.actor(), AccountId(id), update)
            .await
            .map_err(to_gql)?;
        Ok(account.into())
    }

    /// Delete an account with its holdings and transactions. Returns the deleted id.
    async fn delete_account(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Uuid> {
        let user = writer(ctx)?;
        app(ctx)?
            .accounts()
            .delete(&user.actor(), AccountId(id))
            .await
            .map_err(to_gql)?;
        Ok(id)
    }

    /// Attach or replace an account's integration.
    async fn set_integration(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
        input: IntegrationInput,
    ) -> async_graphql::Result<Integration> {
        let user = writer(ctx)?;
        let summary = app(ctx)?
            .integrations()
            .set(
                &user.actor(),
                AccountId(account_id),
                &input.integration_type,
                input.config.0,
            )
            .await
            .map_err(to_gql)?;
        Ok(summary.into())
    }

    /// Detach an account's integration (holdings and transactions stay).
    async fn remove_integration(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<bool> {
        let user = writer(ctx)?;
        app(ctx)?
            .integrations()
            .remove(&user.actor(), AccountId(account_id))
            .await
            .map_err(to_gql)?;
        Ok(true)
    }

    /// Test an integration's credentials.
    async fn test_integration(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<TestResult> {
        let user = writer(ctx)?;
        let outcome = app(ctx)?
            .integrations()
            .test(&user.actor(), AccountId(account_id))
            .await
            .map_err(to_gql)?;
        Ok(TestResult {
            success: outcome.success,
            message: outcome.message,
            status: outcome.status.into(),
        })
    }

    /// Sync an account now; returns the finished import job.
    async fn refresh_account(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<ImportJob> {
        let user = writer(ctx)?;
        let ctx = app(ctx)?;
        let outcome = ctx
            .integrations()
            .refresh(&user.actor(), AccountId(account_id), "api")
            .await
            .map_err(to_gql)?;
        let job = ctx
            .import_jobs()
            .get(user.id, outcome.import_job_id)
            .await
            .map_err(to_gql)?;
        Ok(job.into())
    }

    /// Create a personal API token; the secret is returned only here (requires a session).
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreatedApiToken> {
        let user = writer(ctx)?;
        user.require_session().map_err(to_gql)?;
        let (token, secret) = app(ctx)?
            .tokens()
            .create(
                &user.actor(),
                &input.name,
                input.scope.into(),
                input.expires_at,
            )
            .await
            .map_err(to_gql)?;
        Ok(CreatedApiToken {
            token: token.into(),
            secret,
        })
    }

    /// Revoke a personal API token (requires a session).
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<bool> {
        let user = writer(ctx)?;
        user.require_session().map_err(to_gql)?;
        app(ctx)?
            .tokens()
            .revoke(&user.actor(), id)
            .await
            .map_err(to_gql)?;
        Ok(true)
    }

    /// Queue a finished job again with a fresh set of attempts. A sync resumes from its
    /// cursor; an upload that failed, was partial or was cancelled runs its kept file again
    /// with its stored options and the account's current import profile. CONFLICT when the job
    /// is active, an upload succeeded or its file is no longer kept, or another job of the
    /// account is active.
    async fn retry_import_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<ImportJob> {
        let user = writer(ctx)?;
        Ok(app(ctx)?
            .import_jobs()
            .retry(&user.actor(), id)
            .await
            .map_err(to_gql)?
            .into())
    }

    /// Cancel a queued job, or ask a running one to stop after its current page (a sync keeps
    /// what it committed; a file import rolls back everything and keeps its file for a retry).
    async fn cancel_import_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<ImportJob> {
        let user = writer(ctx)?;
        Ok(app(ctx)?
            .import_jobs()
            .cancel(&user.actor(), id)
            .await
            .map_err(to_gql)?
            .into())
    }

    /// Queue a sync of every integrated account; the same `idempotencyKey` returns the same jobs.
    async fn sync_all(
        &self,
        ctx: &Context<'_>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Vec<ImportJob>> {
        let user = writer(ctx)?;
        if let Some(k) = &idempotency_key
            && (k.trim().is_empty() || k.len() > 200)
        {
            return Err(to_gql(crate::error::ServiceError::validation(
                "idempotencyKey",
                "must be 1 to 200 characters",
            )));
        }
        let jobs = app(ctx)?
            .import_jobs()
            .sync_all(&user.actor(), idempotency_key.as_deref().map(str::trim))
            .await
            .map_err(to_gql)?;
        Ok(jobs.into_iter().map(Into::into).collect())
    }

    /// Queue a sync of one account (run by the workers; follow it with `importJobProgress`).
    async fn sync_account(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
    ) -> async_graphql::Result<ImportJob> {
        let user = writer(ctx)?;
        Ok(app(ctx)?
            .import_jobs()
            .sync_account(&user.actor(), AccountId(account_id))
            .await
            .map_err(to_gql)?
            .into())
    }

    /// Add a manual transaction (validated and deduplicated like imports).
    async fn create_transaction(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
        input: super::types::TransactionInput,
    ) -> async_graphql::Result<super::types::Transaction> {
        let user = writer(ctx)?;
        Ok(app(ctx)?
            .transactions()
            .create(&user.actor(), AccountId(account_id), input.into())
            .await
            .map_err(to_gql)?
            .into())
    }

    /// Correct a transaction.
    async fn update_transaction(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
        id: Uuid,
        input: super::types::TransactionInput,
    ) -> async_graphql::Result<super::types::Transaction> {
        let user = writer(ctx)?;
        Ok(app(ctx)?
            .transactions()
            .update(&user.actor(), AccountId(account_id), id, input.into())
            .await
            .map_err(to_gql)?
            .into())
    }

    /// Delete a transaction; syncs and re-imports will not bring it back. Returns its id.
    async fn delete_transaction(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
        id: Uuid,
    ) -> async_graphql::Result<Uuid> {
        let user = writer(ctx)?;
        app(ctx)?
            .transactions()
            .delete(&user.actor(), AccountId(account_id), id)
            .await
            .map_err(to_gql)?;
        Ok(id)
    }

    /// Save the account's CSV import profile (files are uploaded over REST:
    /// `POST /api/accounts/{id}/import`).
    async fn set_import_profile(
        &self,
        ctx: &Context<'_>,
        account_id: Uuid,
        profile: async_graphql::Json<serde_json::Value>,
    ) -> async_graphql::Result<async_graphql::Json<serde_json::Value>> {
        let user = writer(ctx)?;
        let parsed: tributary_connectors::files::CsvProfile = serde_json::from_value(profile.0)
            .map_err(|e| {
                to_gql(crate::error::ServiceError::validation(
                    "profile",
                    e.to_string(),
                ))
            })?;
        let saved = app(ctx)?
            .imports()
            .set_profile(&user.actor(), AccountId(account_id), parsed)
            .await
            .map_err(to_gql)?;
        Ok(async_graphql::Json(
            serde_json::to_value(saved).unwrap_or_default(),
        ))
    }

    /// Update the display name or base currency.
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        input: UpdateMeInput,
    ) -> async_graphql::Result<User> {
        let user = writer(ctx)?;
        let update = ProfileUpdate {
            display_name: tri(input.display_name),
            base_currency: input.base_currency,
        };
        Ok(app(ctx)?
            .users()
            .update(user.id, update)
            .await
            .map_err(to_gql)?
            .into())
    }
}
