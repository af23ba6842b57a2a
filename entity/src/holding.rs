//! A current position of an account in an asset.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "holdings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub asset_id: Uuid,
    /// Decimal text.
    pub quantity: String,
    pub cost_basis: Option<String>,
    pub price: Option<String>,
    pub market_value: Option<String>,
    pub currency: String,
    pub as_of: DateTimeUtc,
    pub source: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
