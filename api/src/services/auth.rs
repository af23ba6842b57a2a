//! Registration, login, refresh-token rotation with reuse detection, logout, password change.

use chrono::Utc;
use sea_orm::TransactionTrait;
use secrecy::SecretString;
use uuid::Uuid;

use super::{AppContext, audit};
use crate::auth::{password, tokens};
use crate::domain::{Email, NewPassword, Role, User, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

pub struct AuthService<'a> {
    pub(crate) ctx: &'a AppContext,
}

/// The tokens a login or refresh hands out.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

impl AuthService<'_> {
    /// Creates a user (sign-up, CLI, demo seeding).
    ///
    /// # Errors
    /// `Validation` for a bad e-mail or weak password, `Conflict` when the e-mail is taken.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
    ) -> ServiceResult<User> {
        let email = Email::parse(email)?;
        let password = NewPassword::parse("password", password)?;
        let hash = password::hash(SecretString::from(password.expose().to_string())).await?;
        let model = repo::users::insert(&self.ctx.db, email.as_str(), &hash, role.as_str())
            .await
            .map_err(|e| {
                if repo::is_unique_violation(&e) {
                    ServiceError::Conflict("an account with this e-mail already exists".into())
                } else {
                    e.into()
                }
            })?;
        Ok(super::users::to_domain(model))
    }

    /// Self-service sign-up, when enabled.
    ///
    /// # Errors
    /// `Forbidden` when registration is disabled; otherwise as [`Self::create_user`].
    pub async fn register(&self, email: &str, password: &str) -> ServiceResult<User> {
        if !self.ctx.settings.auth.allow_registration {
            return Err(ServiceError::Forbidden(
                "registration is disabled on this server",
            ));
        }
        self.create_user(email, password, Role::User).await
    }

    /// Checks credentials and starts a session. Unknown e-mails and wrong passwords are
    /// indistinguishable (same error, same hashing cost).
    ///
    /// # Errors
    /// `RateLimited` after too many failures from this client for this e-mail,
    /// `Unauthenticated` for bad credentials.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> ServiceResult<TokenPair> {
        // Control characters cannot be in a registered address (and PostgreSQL refuses NUL in
        // text): such an e-mail is an unknown user, and is logged without them.
        let has_control = email.chars().any(char::is_control);
        let normalized: String = email
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        self.ctx
            .login_limiter
            .check(client, &normalized)
            .map_err(|retry_after| ServiceError::RateLimited { retry_after })?;
        let user = if has_control {
            None
        } else {
            repo::users::find_by_email(&self.ctx.db, &normalized).await?
        };
        let user_id = user.as_ref().map(|u| u.id);
        let ok = password::verify(
            SecretString::from(password.to_string()),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
        let Some(user) = user.filter(|_| ok) else {
            self.ctx.login_limiter.record_failure(client, &normalized);
            audit::record(
                &self.ctx.db,
                user_id,
                "auth.login_failed",
                None,
                Some(serde_json::json!({ "email": normalized })),
                Some(client),
            )
            .await?;
            return Err(ServiceError::Unauthenticated("invalid e-mail or password"));
        };
        self.ctx.login_limiter.record_success(client, &normalized);
        let pair = self.issue(user.id, &user.role, Uuid::now_v7()).await?;
        audit::record(
            &self.ctx.db,
            Some(user.id),
            "auth.login",
            None,
            None,
            Some(client),
        )
        .await?;
        Ok(pair)
    }

    async fn issue(&self, user_id: Uuid, role: &str, family: Uuid) -> ServiceResult<TokenPair> {
        let access_token = self.ctx.jwt.issue(user_id, role)?;
        let refresh_token = tokens::random_secret();
        let expires_at =
            Utc::now() + chrono::Duration::seconds(self.ctx.settings.auth.refresh_token_ttl_secs);
        repo::refresh_tokens::insert(
            &self.ctx.db,
            user_id,
            family,
            &tokens::hash_token(&refresh_token),
            expires_at,
        )
        .await?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: self.ctx.jwt.ttl_secs(),
        })
    }

    /// Rotates a refresh token. Presenting a token that was already rotated means it was
    /// stolen or replayed: the whole family is revoked and the caller must log in again.
    ///
    /// # Errors
    /// `Unauthenticated` for unknown, expired, revoked or reused tokens.
    pub async fn refresh(&self, refresh_token: &str) -> ServiceResult<TokenPair> {
        let invalid = ServiceError::Unauthenticated("invalid or expired refresh token");
        let Some(row) =
            repo::refresh_tokens::find_by_hash(&self.ctx.db, &tokens::hash_token(refresh_token))
                .await?
        else {
            return Err(invalid);
        };
        if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
            return Err(invalid);
        }
        if row.used_at.is_some() || !repo::refresh_tokens::mark_used(&self.ctx.db, row.id).await? {
            repo::refresh_tokens::revoke_family(&self.ctx.db, row.user_id, row.family_id).await?;
            audit::record(
                &self.ctx.db,
                Some(row.user_id),
                "auth.refresh_reuse_detected",
                None,
                Some(serde_json::json!({ "family_id": row.family_id })),
                None,
            )
            .await?;
            return Err(invalid);
        }
        let Some(user) = repo::users::find(&self.ctx.db, row.user_id).await? else {
            return Err(invalid);
        };
        self.issue(user.id, &user.role, row.family_id).await
    }

    /// Ends the session the refresh token belongs to (its whole family). Possession of the
    /// refresh token is the proof; unknown tokens are ignored so logout is idempotent.
    ///
    /// # Errors
    /// Database errors.
    pub async fn logout(&self, refresh_token: &str) -> ServiceResult<()> {
        if let Some(row) =
            repo::refresh_tokens::find_by_hash(&self.ctx.db, &tokens::hash_token(refresh_token))
                .await?
            && row.revoked_at.is_none()
        {
            repo::refresh_tokens::revoke_family(&self.ctx.db, row.user_id, row.family_id).await?;
            audit::record(
                &self.ctx.db,
                Some(row.user_id),
                "auth.logout",
                None,
                None,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// Changes the password after checking the current one, and ends every other session.
    ///
    /// # Errors
    /// `Validation` on `current_password` when it is wrong, or on `new_password` when weak.
    pub async fn change_password(
        &self,
        user: UserId,
        current: &str,
        new: &str,
        ip: Option<&str>,
    ) -> ServiceResult<()> {
        let new = NewPassword::parse("new_password", new)?;
        let Some(row) = repo::users::find(&self.ctx.db, user.0).await? else {
            return Err(ServiceError::NotFound);
        };
        let ok = password::verify(
            SecretString::from(current.to_string()),
            Some(row.password_hash.clone()),
        )
        .await?;
        if !ok {
            return Err(ServiceError::validation(
                "current_password",
                "is not correct",
            ));
        }
        let hash = password::hash(SecretString::from(new.expose().to_string())).await?;
        let txn = self.ctx.db.begin().await?;
        let mut m: tributary_entity::user::ActiveModel = row.into();
        m.password_hash = sea_orm::Set(hash);
        m.updated_at = sea_orm::Set(Utc::now());
        repo::users::update(&txn, m).await?;
        repo::refresh_tokens::revoke_all(&txn, user.0).await?;
        audit::record(&txn, Some(user.0), "auth.password_changed", None, None, ip).await?;
        txn.commit().await?;
        Ok(())
    }
}
