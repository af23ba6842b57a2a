//! Import jobs.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use tributary_entity::import_job;
use uuid::Uuid;

/// Starts a running job for an account.
pub async fn start(
    db: &impl ConnectionTrait,
    owner: Uuid,
    account_id: Uuid,
    source: &str,
    trigger: &str,
) -> Result<import_job::Model, DbErr> {
    let now = Utc::now();
    import_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner),
        account_id: Set(Some(account_id)),
        source: Set(source.to_string()),
        trigger: Set(trigger.to_string()),
        status: Set("running".to_string()),
        fetched: Set(0),
        inserted: Set(0),
        updated: Set(0),
        duplicates: Set(0),
        failed: Set(0),
        error: Set(None),
        created_at: Set(now),
        started_at: Set(Some(now)),
        finished_at: Set(None),
    }
    .insert(db)
    .await
}

/// Counts of a finished job.
#[derive(Debug, Default, Clone, Copy)]
pub struct JobCounts {
    pub fetched: i32,
    pub inserted: i32,
    pub updated: i32,
    pub duplicates: i32,
    pub failed: i32,
}

/// Records the end of a job.
pub async fn finish(
    db: &impl ConnectionTrait,
    job: import_job::Model,
    status: &str,
    counts: JobCounts,
    error: Option<String>,
) -> Result<import_job::Model, DbErr> {
    let mut m: import_job::ActiveModel = job.into();
    m.status = Set(status.to_string());
    m.fetched = Set(counts.fetched);
    m.inserted = Set(counts.inserted);
    m.updated = Set(counts.updated);
    m.duplicates = Set(counts.duplicates);
    m.failed = Set(counts.failed);
    m.error = Set(error);
    m.finished_at = Set(Some(Utc::now()));
    m.update(db).await
}

/// Whether the account has a job running (at most one active job per account). A job that
/// has been "running" for longer than `stale_after` belonged to a crashed process and no
/// longer counts.
pub async fn has_running(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    stale_after: chrono::Duration,
) -> Result<bool, DbErr> {
    Ok(import_job::Entity::find()
        .filter(import_job::Column::AccountId.eq(account_id))
        .filter(import_job::Column::Status.eq("running"))
        .filter(import_job::Column::StartedAt.gt(Utc::now() - stale_after))
        .one(db)
        .await?
        .is_some())
}

/// The owner's job, or `None` (also when it belongs to someone else).
pub async fn find_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<import_job::Model>, DbErr> {
    import_job::Entity::find()
        .filter(import_job::Column::Id.eq(id))
        .filter(import_job::Column::UserId.eq(owner))
        .one(db)
        .await
}

/// The owner's jobs, newest first, optionally for one account, before the cursor id.
pub async fn list_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    account_id: Option<Uuid>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<import_job::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = import_job::Entity::find().filter(import_job::Column::UserId.eq(owner));
    if let Some(account_id) = account_id {
        q = q.filter(import_job::Column::AccountId.eq(account_id));
    }
    if let Some(before) = before {
        q = q.filter(import_job::Column::Id.lt(before));
    }
    q.order_by_desc(import_job::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
