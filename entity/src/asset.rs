//! An instrument, shared by all users, keyed by its stable asset id.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stable id such as `EQUITY:XNAS:AAPL`.
    #[sea_orm(unique)]
    pub asset_key: String,
    pub symbol: String,
    pub name: String,
    pub class: String,
    pub currency: String,
    pub exchange: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
