//! The latest price of an asset, with the provider it came from.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quotes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub asset_key: String,
    pub symbol: String,
    /// Decimal text.
    pub price: String,
    pub currency: String,
    /// When the provider made the price.
    pub as_of: DateTimeUtc,
    pub source: String,
    /// When we fetched it.
    pub fetched_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
