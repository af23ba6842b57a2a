//! Personal API tokens for scripts: created with their secret shown once, listed without it,
//! revoked by id.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, AppContext, audit};
use crate::auth::tokens;
use crate::domain::{ApiToken, Role, TokenScope, UserId, clean_text};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

pub struct TokenService<'a> {
    pub(crate) ctx: &'a AppContext,
}

fn to_domain(m: tributary_entity::api_token::Model) -> ApiToken {
    ApiToken {
        id: m.id,
        name: m.name,
        scope: TokenScope::from_stored(&m.scope),
        prefix: m.prefix,
        expires_at: m.expires_at,
        last_used_at: m.last_used_at,
        created_at: m.created_at,
    }
}

/// Who a valid API token belongs to.
pub struct TokenOwner {
    pub user_id: UserId,
    pub role: Role,
    pub token_id: Uuid,
    pub scope: TokenScope,
}

impl TokenService<'_> {
    /// Creates a token and returns it with its secret (shown this once).
    ///
    /// # Errors
    /// `Validation` for an empty name or an expiry in the past.
    pub async fn create(
        &self,
        actor: &Actor,
        name: &str,
        scope: TokenScope,
        expires_at: Option<DateTime<Utc>>,
    ) -> ServiceResult<(ApiToken, String)> {
        let name = clean_text("name", name, 100)?;
        if expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(ServiceError::validation(
                "expires_at",
                "must be in the future",
            ));
        }
        let secret = tokens::new_api_token();
        let prefix: String = secret.chars().take(8).collect();
        let row = repo::api_tokens::insert(
            &self.ctx.db,
            actor.user_id.0,
            &name,
            scope.as_str(),
            &tokens::hash_token(&secret),
            &prefix,
            expires_at,
        )
        .await?;
        audit::record(
            &self.ctx.db,
            Some(actor.user_id.0),
            "api_token.created",
            Some(("api_token", row.id.to_string())),
            Some(serde_json::json!({ "name": name, "scope": scope.as_str() })),
            actor.ip.as_deref(),
        )
        .await?;
        Ok((to_domain(row), secret))
    }

    /// # Errors
    /// Database errors.
    pub async fn list(&self, user: UserId) -> ServiceResult<Vec<ApiToken>> {
        let rows = repo::api_tokens::list_owned(&self.ctx.db, user.0).await?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    /// # Errors
    /// `NotFound` when the caller has no such active token.
    pub async fn revoke(&self, actor: &Actor, id: Uuid) -> ServiceResult<()> {
        if !repo::api_tokens::revoke_owned(&self.ctx.db, actor.user_id.0, id).await? {
            return Err(ServiceError::NotFound);
        }
        audit::record(
            &self.ctx.db,
            Some(actor.user_id.0),
            "api_token.revoked",
            Some(("api_token", id.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        Ok(())
    }

    /// Resolves a presented `trb_` token.
    ///
    /// # Errors
    /// `Unauthenticated` when unknown, revoked or expired.
    pub async fn authenticate(&self, secret: &str) -> ServiceResult<TokenOwner> {
        let invalid = ServiceError::Unauthenticated("invalid or expired API token");
        let Some(row) =
            repo::api_tokens::find_by_hash(&self.ctx.db, &tokens::hash_token(secret)).await?
        else {
            return Err(invalid);
        };
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(invalid);
        }
        let Some(user) = repo::users::find(&self.ctx.db, row.user_id).await? else {
            return Err(invalid);
        };
        repo::api_tokens::touch(&self.ctx.db, row.id).await?;
        Ok(TokenOwner {
            user_id: UserId(user.id),
            role: Role::from_stored(&user.role),
            token_id: row.id,
            scope: TokenScope::from_stored(&row.scope),
        })
    }
}
