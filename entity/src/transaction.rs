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
    /// Index among identical records (same fingerprint) of one import.
    pub occurrence: i32,
    /// Set when this record is the same event as an earlier one from another source.
    pub alias_of: Option<Uuid>,
    pub match_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
