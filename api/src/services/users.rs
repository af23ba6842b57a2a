//! The signed-in user's profile.

use chrono::Utc;
use sea_orm::Set;
use tributary_entity::user;

use super::AppContext;
use crate::domain::{Currency, Role, User, UserId, clean_text};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

pub struct UserService<'a> {
    pub(crate) ctx: &'a AppContext,
}

pub(crate) fn to_domain(m: user::Model) -> User {
    User {
        id: UserId(m.id),
        email: m.email,
        display_name: m.display_name,
        base_currency: Currency::from_stored(m.base_currency),
        role: Role::from_stored(&m.role),
        created_at: m.created_at,
    }
}

/// Changes to the profile; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub display_name: Option<Option<String>>,
    pub base_currency: Option<String>,
}

impl UserService<'_> {
    /// # Errors
    /// `NotFound` when the user was deleted since the token was issued.
    pub async fn get(&self, user: UserId) -> ServiceResult<User> {
        repo::users::find(&self.ctx.db, user.0)
            .await?
            .map(to_domain)
            .ok_or(ServiceError::NotFound)
    }

    /// # Errors
    /// `Validation` naming the bad field.
    pub async fn update(&self, user: UserId, update: ProfileUpdate) -> ServiceResult<User> {
        let display_name = update
            .display_name
            .map(|v| v.map(|s| clean_text("display_name", &s, 100)).transpose())
            .transpose()?;
        let base_currency = update
            .base_currency
            .map(|c| Currency::parse("base_currency", &c))
            .transpose()?;
        let Some(row) = repo::users::find(&self.ctx.db, user.0).await? else {
            return Err(ServiceError::NotFound);
        };
        let mut m: user::ActiveModel = row.into();
        if let Some(name) = display_name {
            m.display_name = Set(name);
        }
        if let Some(c) = base_currency {
            m.base_currency = Set(c.as_str().to_string());
        }
        m.updated_at = Set(Utc::now());
        let updated = to_domain(repo::users::update(&self.ctx.db, m).await?);
        // The cached portfolio summary is in the old base currency.
        self.ctx.read_cache.invalidate(user);
        Ok(updated)
    }
}

impl UserService<'_> {
    /// Every user (administrators only).
    ///
    /// # Errors
    /// `Forbidden` unless the caller is an administrator.
    pub async fn list_all(&self, caller_role: Role) -> ServiceResult<Vec<User>> {
        if caller_role != Role::Admin {
            return Err(ServiceError::Forbidden("administrators only"));
        }
        Ok(repo::users::all(&self.ctx.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect())
    }
}
