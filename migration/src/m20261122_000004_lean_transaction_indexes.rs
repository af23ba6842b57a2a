//! Drops `idx_transactions_account_fingerprint`: no query reads transactions by fingerprint
//! (dedup goes through the unique `(account_id, source, source_id)` index, whose fingerprint
//! ids already carry the fingerprint, and tombstones keep their own copy). The index cost every
//! insert a random-order B-tree write of a 64-character key, a third of a bulk import's time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transactions {
    Table,
    AccountId,
    Fingerprint,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_transactions_account_fingerprint")
                    .table(Transactions::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_account_fingerprint")
                    .table(Transactions::Table)
                    .col(Transactions::AccountId)
                    .col(Transactions::Fingerprint)
                    .to_owned(),
            )
            .await
    }
}
