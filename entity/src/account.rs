//! An account a user tracks, with at most one integration.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub kind: String,
    pub currency: String,
    pub institution: Option<String>,
    pub notes: Option<String>,
    pub integration_type: Option<String>,
    /// AEAD ciphertext of the integration config JSON (`v1.<key id>.<base64>`).
    pub integration_config: Option<String>,
    pub integration_status: Option<String>,
    pub last_synced_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sync_cursor: Option<String>,
    /// Decimal text.
    pub balance: Option<String>,
    pub balance_currency: Option<String>,
    pub balance_updated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// hourly, daily, weekly or manual.
    pub sync_frequency: String,
    pub next_sync_at: Option<DateTimeUtc>,
    /// Decimal text, 0 to 100.
    pub quality_score: Option<String>,
    /// The CSV import profile (JSON).
    pub import_profile: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
