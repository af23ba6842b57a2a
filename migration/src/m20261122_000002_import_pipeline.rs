//! The import pipeline: job leases, retries, cursors and results; per-account sync settings
//! and import profile; transaction occurrence/alias columns; tombstones of deleted
//! transactions; at most one active job per account.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Attempt,
    MaxAttempts,
    NextRunAt,
    LeaseOwner,
    LeaseExpiresAt,
    CursorIn,
    CursorOut,
    Progress,
    Warnings,
    Errors,
    Reconciliation,
    Anomalies,
    QualityScore,
    DurationMs,
    IdempotencyKey,
    CancelRequested,
    Format,
    DryRun,
    UserId,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    SyncFrequency,
    NextSyncAt,
    QualityScore,
    ImportProfile,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    AccountId,
    Fingerprint,
    Occurrence,
    AliasOf,
    MatchReason,
    TradeDate,
}

#[derive(DeriveIden)]
enum TransactionTombstones {
    Table,
    Id,
    AccountId,
    Source,
    SourceId,
    Fingerprint,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot add several columns in one ALTER TABLE: one statement per column.
        let job_columns = [
            integer(ImportJobs::Attempt).default(0).to_owned(),
            integer(ImportJobs::MaxAttempts).default(5).to_owned(),
            timestamp_with_time_zone_null(ImportJobs::NextRunAt).to_owned(),
            string_null(ImportJobs::LeaseOwner).to_owned(),
            timestamp_with_time_zone_null(ImportJobs::LeaseExpiresAt).to_owned(),
            text_null(ImportJobs::CursorIn).to_owned(),
            text_null(ImportJobs::CursorOut).to_owned(),
            integer(ImportJobs::Progress).default(0).to_owned(),
            text_null(ImportJobs::Warnings).to_owned(),
            text_null(ImportJobs::Errors).to_owned(),
            text_null(ImportJobs::Reconciliation).to_owned(),
            text_null(ImportJobs::Anomalies).to_owned(),
            string_null(ImportJobs::QualityScore).to_owned(),
            big_integer_null(ImportJobs::DurationMs).to_owned(),
            string_null(ImportJobs::IdempotencyKey).to_owned(),
            boolean(ImportJobs::CancelRequested)
                .default(false)
                .to_owned(),
            string_null(ImportJobs::Format).to_owned(),
            boolean(ImportJobs::DryRun).default(false).to_owned(),
        ];
        for mut column in job_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(ImportJobs::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let account_columns = [
            string(Accounts::SyncFrequency).default("daily").to_owned(),
            timestamp_with_time_zone_null(Accounts::NextSyncAt).to_owned(),
            string_null(Accounts::QualityScore).to_owned(),
            text_null(Accounts::ImportProfile).to_owned(),
        ];
        for mut column in account_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let tx_columns = [
            integer(Transactions::Occurrence).default(0).to_owned(),
            uuid_null(Transactions::AliasOf).to_owned(),
            text_null(Transactions::MatchReason).to_owned(),
        ];
        for mut column in tx_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Transactions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_account_fingerprint")
                    .table(Transactions::Table)
                    .col(Transactions::AccountId)
                    .col(Transactions::Fingerprint)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_date")
                    .table(Transactions::Table)
                    .col(Transactions::TradeDate)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TransactionTombstones::Table)
                    .col(uuid(TransactionTombstones::Id).primary_key())
                    .col(uuid(TransactionTombstones::AccountId))
                    .col(string(TransactionTombstones::Source))
                    .col(string(TransactionTombstones::SourceId))
                    .col(string(TransactionTombstones::Fingerprint))
                    .col(timestamp_with_time_zone(TransactionTombstones::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tombstones_account")
                            .from(
                                TransactionTombstones::Table,
                                TransactionTombstones::AccountId,
                            )
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tombstones_account_source_id")
                    .table(TransactionTombstones::Table)
                    .col(TransactionTombstones::AccountId)
                    .col(TransactionTombstones::Source)
                    .col(TransactionTombstones::SourceId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // At most one queued or running job per account, enforced by the database so that
        // concurrent enqueues from several nodes cannot both succeed. Partial unique indexes
        // exist in both SQLite and PostgreSQL with this syntax.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_import_jobs_one_active_per_account ON import_jobs (account_id) \
             WHERE status IN ('queued', 'running') AND account_id IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_import_jobs_claim ON import_jobs (status, next_run_at)",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_import_jobs_idempotency")
                    .table(ImportJobs::Table)
                    .col(ImportJobs::UserId)
                    .col(ImportJobs::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS uq_import_jobs_one_active_per_account")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_import_jobs_claim")
            .await?;
        manager
            .drop_table(Table::drop().table(TransactionTombstones::Table).to_owned())
            .await?;
        Ok(())
    }
}
