//! One run of a sync, refresh or file import.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub account_id: Option<Uuid>,
    pub source: String,
    pub trigger: String,
    pub status: String,
    pub fetched: i32,
    pub inserted: i32,
    pub updated: i32,
    pub duplicates: i32,
    pub failed: i32,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub attempt: i32,
    pub max_attempts: i32,
    /// A queued job runs no earlier than this (retry backoff).
    pub next_run_at: Option<DateTimeUtc>,
    /// The worker holding the job, and until when.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub cursor_in: Option<String>,
    pub cursor_out: Option<String>,
    /// 0 to 100.
    pub progress: i32,
    /// JSON arrays/objects.
    pub warnings: Option<String>,
    pub errors: Option<String>,
    pub reconciliation: Option<String>,
    pub anomalies: Option<String>,
    /// Decimal text, 0 to 100.
    pub quality_score: Option<String>,
    pub duration_ms: Option<i64>,
    pub idempotency_key: Option<String>,
    pub cancel_requested: bool,
    pub format: Option<String>,
    pub dry_run: bool,
    /// An upload's options (JSON: format, on_error, ofx_account, ibkr_account), what a retry
    /// runs with.
    pub options: Option<String>,
    /// Records read so far.
    pub processed: i32,
    /// While the file of an upload that did not succeed is kept (in `import_job_files`), until
    /// when; `None` when no file is kept.
    pub file_expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
