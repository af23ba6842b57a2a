//! Retry of file uploads and live progress: the upload's options on its job (`options`, JSON),
//! records read so far (`processed`), until when the file of an upload that did not succeed is
//! kept (`file_expires_at`), and the kept bytes themselves (`import_job_files`, in chunks of
//! about 1 MiB, so any node's worker can run the retry and memory stays flat). Deleting a job,
//! and so its account or user, deletes its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
    Options,
    Processed,
    FileExpiresAt,
}

#[derive(DeriveIden)]
enum ImportJobFiles {
    Table,
    ImportJobId,
    Seq,
    Bytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot add several columns in one ALTER TABLE: one statement per column.
        let columns = [
            text_null(ImportJobs::Options).to_owned(),
            integer(ImportJobs::Processed).default(0).to_owned(),
            timestamp_with_time_zone_null(ImportJobs::FileExpiresAt).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(ImportJobs::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ImportJobFiles::Table)
                    .col(uuid(ImportJobFiles::ImportJobId))
                    .col(integer(ImportJobFiles::Seq))
                    .col(blob(ImportJobFiles::Bytes))
                    .primary_key(
                        Index::create()
                            .col(ImportJobFiles::ImportJobId)
                            .col(ImportJobFiles::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_job_files_job")
                            .from(ImportJobFiles::Table, ImportJobFiles::ImportJobId)
                            .to(ImportJobs::Table, ImportJobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The purge looks for expired files.
        manager
            .create_index(
                Index::create()
                    .name("idx_import_jobs_file_expires_at")
                    .table(ImportJobs::Table)
                    .col(ImportJobs::FileExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ImportJobFiles::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_import_jobs_file_expires_at")
                    .table(ImportJobs::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ImportJobs::Options,
            ImportJobs::Processed,
            ImportJobs::FileExpiresAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ImportJobs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
