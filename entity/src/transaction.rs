//! A ledger entry of an account. `(account_id, source, source_id)` is unique.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub kind: String,
    pub trade_date: Date,
    pub settle_date: Option<Date>,
    /// Decimal text.
    pub quantity: Option<String>,
    pub price: Option<String>,
    pub amount: String,
    pub fee: Option<String>,
    pub currency: String,
    pub description: Option<String>,
    pub source: String,
    pub source_id: String,
    pub fingerprint: String,
    pub import_job_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
