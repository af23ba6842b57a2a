//! The file an upload job keeps for a retry, in chunks. Rows are reached through their job,
//! which services look up with its owner first.
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use tributary_entity::{import_job, import_job_file};
use uuid::Uuid;

/// Stores chunk `seq` of the job's file.
pub async fn insert_chunk(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    seq: i32,
    bytes: Vec<u8>,
) -> Result<(), DbErr> {
    import_job_file::Entity::insert(import_job_file::ActiveModel {
        import_job_id: Set(job_id),
        seq: Set(seq),
        bytes: Set(bytes),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Chunk `seq` of the job's file, `None` past its end (or when no file is kept).
pub async fn chunk(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    seq: i32,
) -> Result<Option<Vec<u8>>, DbErr> {
    import_job_file::Entity::find()
        .select_only()
        .column(import_job_file::Column::Bytes)
        .filter(import_job_file::Column::ImportJobId.eq(job_id))
        .filter(import_job_file::Column::Seq.eq(seq))
        .into_tuple()
        .one(db)
        .await
}

/// Deletes the job's file.
pub async fn delete(db: &impl ConnectionTrait, job_id: Uuid) -> Result<u64, DbErr> {
    import_job_file::Entity::delete_many()
        .filter(import_job_file::Column::ImportJobId.eq(job_id))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

/// Deletes every kept file whose retention ended before `now`, except those of jobs queued or
/// running again (a retry), and clears their jobs' `file_expires_at`. Returns how many jobs
/// lost their file. Run it in one transaction: a job never claims a file it no longer has.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::sea_query::{Expr, Query};
    let expired = || {
        Query::select()
            .column(import_job::Column::Id)
            .from(import_job::Entity)
            .and_where(import_job::Column::FileExpiresAt.lt(now))
            .and_where(import_job::Column::Status.is_not_in(["queued", "running"]))
            .to_owned()
    };
    import_job_file::Entity::delete_many()
        .filter(import_job_file::Column::ImportJobId.in_subquery(expired()))
        .exec(db)
        .await?;
    let cleared = import_job::Entity::update_many()
        .col_expr(
            import_job::Column::FileExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(import_job::Column::Id.in_subquery(expired()))
        .exec(db)
        .await?;
    Ok(cleared.rows_affected)
}
