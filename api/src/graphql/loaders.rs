//! DataLoaders: nested fields of many parents load in one batch instead of one query each.

use std::collections::HashMap;

use actix_web::web;
use async_graphql::dataloader::Loader;

use crate::domain::{AccountId, Holding, UserId};
use crate::services::AppContext;

/// Holdings (with their assets) by account, for one user: two SQL statements per batch.
pub struct HoldingsLoader {
    pub ctx: web::Data<AppContext>,
    pub user: UserId,
}

impl Loader<AccountId> for HoldingsLoader {
    type Value = Vec<Holding>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[AccountId],
    ) -> Result<HashMap<AccountId, Self::Value>, Self::Error> {
        self.ctx
            .accounts()
            .holdings_for(self.user, keys)
            .await
            .map_err(super::to_gql)
    }
}

/// The per-request holdings loader (cached for the request).
pub type HoldingsDataLoader =
    async_graphql::dataloader::DataLoader<HoldingsLoader, async_graphql::dataloader::HashMapCache>;
