//! Import jobs.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use tributary_entity::import_job;
use uuid::Uuid;

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

/// Filters for listing jobs.
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub account_id: Option<Uuid>,
    pub status: Option<String>,
    pub source: Option<String>,
    pub from: Option<chrono::DateTime<Utc>>,
    pub to: Option<chrono::DateTime<Utc>>,
}

/// The owner's jobs, newest first, filtered, before the cursor id.
pub async fn list_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    filter: &JobFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<import_job::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = import_job::Entity::find().filter(import_job::Column::UserId.eq(owner));
    if let Some(account_id) = filter.account_id {
        q = q.filter(import_job::Column::AccountId.eq(account_id));
    }
    if let Some(status) = &filter.status {
        q = q.filter(import_job::Column::Status.eq(status.clone()));
    }
    if let Some(source) = &filter.source {
        q = q.filter(import_job::Column::Source.eq(source.clone()));
    }
    if let Some(from) = filter.from {
        q = q.filter(import_job::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(import_job::Column::CreatedAt.lte(to));
    }
    if let Some(before) = before {
        q = q.filter(import_job::Column::Id.lt(before));
    }
    q.order_by_desc(import_job::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// A new queued job.
pub struct NewJob<'a> {
    pub owner: Uuid,
    pub account_id: Uuid,
    pub source: &'a str,
    pub trigger: &'a str,
    pub cursor_in: Option<String>,
    pub next_run_at: Option<chrono::DateTime<Utc>>,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
    pub format: Option<String>,
    pub dry_run: bool,
}

/// Queues a job. A second active job for the account, or a reused idempotency key, is a
/// unique violation for the caller to resolve.
pub async fn enqueue(db: &impl ConnectionTrait, j: NewJob<'_>) -> Result<import_job::Model, DbErr> {
    import_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(j.owner),
        account_id: Set(Some(j.account_id)),
        source: Set(j.source.to_string()),
        trigger: Set(j.trigger.to_string()),
        status: Set("queued".to_string()),
        fetched: Set(0),
        inserted: Set(0),
        updated: Set(0),
        duplicates: Set(0),
        failed: Set(0),
        error: Set(None),
        created_at: Set(Utc::now()),
        started_at: Set(None),
        finished_at: Set(None),
        attempt: Set(0),
        max_attempts: Set(j.max_attempts),
        next_run_at: Set(j.next_run_at),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        cursor_in: Set(j.cursor_in),
        cursor_out: Set(None),
        progress: Set(0),
        idempotency_key: Set(j.idempotency_key),
        format: Set(j.format),
        dry_run: Set(j.dry_run),
        cancel_requested: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The account's queued or running job, if any.
pub async fn find_active(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Option<import_job::Model>, DbErr> {
    import_job::Entity::find()
        .filter(import_job::Column::AccountId.eq(account_id))
        .filter(import_job::Column::Status.is_in(["queued", "running"]))
        .one(db)
        .await
}

/// The owner's job with this idempotency key.
pub async fn find_by_idempotency_key(
    db: &impl ConnectionTrait,
    owner: Uuid,
    key: &str,
) -> Result<Option<import_job::Model>, DbErr> {
    import_job::Entity::find()
        .filter(import_job::Column::UserId.eq(owner))
        .filter(import_job::Column::IdempotencyKey.eq(key))
        .one(db)
        .await
}

/// Claims the oldest runnable job: queued and due, or running with an expired lease (its node
/// died). On PostgreSQL the candidate row is locked with `FOR UPDATE SKIP LOCKED`, so several
/// nodes never claim the same job; SQLite has one writer, so the conditional update is atomic.
/// `only` restricts the claim to one job (running it inline).
pub async fn claim(
    db: &impl ConnectionTrait,
    owner: &str,
    lease: chrono::Duration,
    only: Option<Uuid>,
) -> Result<Option<import_job::Model>, DbErr> {
    claim_where(db, owner, lease, only, false).await
}

/// Claims a queued job this node queued not-yet-due to run it inline (no worker takes a job
/// before it is due).
pub async fn claim_reserved(
    db: &impl ConnectionTrait,
    owner: &str,
    lease: chrono::Duration,
    id: Uuid,
) -> Result<Option<import_job::Model>, DbErr> {
    claim_where(db, owner, lease, Some(id), true).await
}

async fn claim_where(
    db: &impl ConnectionTrait,
    owner: &str,
    lease: chrono::Duration,
    only: Option<Uuid>,
    reserved: bool,
) -> Result<Option<import_job::Model>, DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
    use sea_orm::{Condition, DbBackend};
    let now = Utc::now();
    let mut candidate = Query::select();
    candidate
        .column(import_job::Column::Id)
        .from(import_job::Entity)
        .cond_where(
            Condition::any()
                .add(
                    Condition::all()
                        .add(import_job::Column::Status.eq("queued"))
                        // A reserved job is claimed before it is due: that is how a node
                        // takes the job it queued to run inline.
                        .add_option((!reserved).then(|| {
                            Condition::any()
                                .add(import_job::Column::NextRunAt.is_null())
                                .add(import_job::Column::NextRunAt.lte(now))
                        })),
                )
                .add(
                    Condition::all()
                        .add(import_job::Column::Status.eq("running"))
                        .add(import_job::Column::LeaseExpiresAt.is_not_null())
                        .add(import_job::Column::LeaseExpiresAt.lt(now)),
                ),
        )
        .order_by(import_job::Column::CreatedAt, sea_orm::Order::Asc)
        .limit(1);
    if let Some(id) = only {
        candidate.and_where(import_job::Column::Id.eq(id));
    }
    if db.get_database_backend() == DbBackend::Postgres {
        candidate.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let claimed = import_job::Entity::update_many()
        .col_expr(import_job::Column::Status, Expr::value("running"))
        .col_expr(import_job::Column::LeaseOwner, Expr::value(owner))
        .col_expr(import_job::Column::LeaseExpiresAt, Expr::value(now + lease))
        .col_expr(
            import_job::Column::Attempt,
            Expr::col(import_job::Column::Attempt).add(1),
        )
        .col_expr(import_job::Column::StartedAt, Expr::value(now))
        .filter(import_job::Column::Id.in_subquery(candidate.to_owned()))
        .exec_with_returning(db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// Extends the lease; false when this node no longer holds the job.
pub async fn renew(
    db: &impl ConnectionTrait,
    id: Uuid,
    owner: &str,
    lease: chrono::Duration,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let res = running_held_by(id, owner)
        .col_expr(
            import_job::Column::LeaseExpiresAt,
            Expr::value(Utc::now() + lease),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// An update of job `id` that applies only while it runs under `owner`'s lease.
fn running_held_by(id: Uuid, owner: &str) -> sea_orm::UpdateMany<import_job::Entity> {
    import_job::Entity::update_many()
        .filter(import_job::Column::Id.eq(id))
        .filter(import_job::Column::LeaseOwner.eq(owner))
        .filter(import_job::Column::Status.eq("running"))
}

/// Saves a job row held by `owner` (progress, counts, final state). False when the lease was
/// lost, in which case nothing is written.
pub async fn save_held(
    db: &impl ConnectionTrait,
    owner: &str,
    model: import_job::ActiveModel,
) -> Result<bool, DbErr> {
    use sea_orm::ActiveValue;
    let id = match &model.id {
        ActiveValue::Set(id) | ActiveValue::Unchanged(id) => *id,
        ActiveValue::NotSet => return Ok(false),
    };
    let res = import_job::Entity::update_many()
        .set(model)
        .filter(import_job::Column::Id.eq(id))
        .filter(import_job::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records a running job's progress and records read so far, unless another node holds it.
/// A file import calls it through the pool, outside its own transaction (PostgreSQL only:
/// SQLite's single writer is busy with the import).
pub async fn save_progress(
    db: &impl ConnectionTrait,
    id: Uuid,
    owner: &str,
    progress: i32,
    processed: i32,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let res = running_held_by(id, owner)
        .col_expr(import_job::Column::Progress, Expr::value(progress))
        .col_expr(import_job::Column::Processed, Expr::value(processed))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether the owner asked for their job to stop (one column read; on SQLite, WAL lets it
/// read while an import holds the write lock).
pub async fn cancel_requested(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    use sea_orm::QuerySelect;
    let flag: Option<bool> = import_job::Entity::find()
        .select_only()
        .column(import_job::Column::CancelRequested)
        .filter(import_job::Column::Id.eq(id))
        .filter(import_job::Column::UserId.eq(owner))
        .into_tuple()
        .one(db)
        .await?;
    Ok(flag.unwrap_or(false))
}

/// Cancels the account's queued jobs (its integration changed).
pub async fn cancel_queued_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Expr;
    let res = import_job::Entity::update_many()
        .col_expr(import_job::Column::Status, Expr::value("cancelled"))
        .col_expr(import_job::Column::FinishedAt, Expr::value(Utc::now()))
        .col_expr(
            import_job::Column::Error,
            Expr::value("the integration changed before the job ran"),
        )
        .filter(import_job::Column::AccountId.eq(account_id))
        .filter(import_job::Column::Status.eq("queued"))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
