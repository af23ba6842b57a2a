//! Price bookkeeping per asset: when and from where it was last priced, and how reliable the
//! pricing has been (0–100).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_source_metadata")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub asset_key: String,
    pub last_price_update: Option<DateTimeUtc>,
    pub source: Option<String>,
    pub quality_score: i32,
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
