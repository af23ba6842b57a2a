//! Drops `idx_transactions_date` (trade date alone). The one query that read it, the owner's
//! transactions across accounts, now reads each account's page from
//! `idx_transactions_account_date` and merges them; the date-only index interleaved every
//! user's rows (a page walked past other users' entries) and cost every insert one more
//! B-tree write, a tenth of a bulk import's time.
//!
//! Adds `idx_transactions_account_asset_date`, `(account_id, trade_date, id)` over the rows
//! that have an asset only (a partial index, on SQLite and PostgreSQL alike): deriving an
//! account's positions reads those rows in date order, and used to walk every cash row of the
//! account to find them (a million-row bank account: a million row reads for no position).
//! Cash-only rows, the bulk of large imports, do not enter it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transactions {
    Table,
    TradeDate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_transactions_date")
                    .table(Transactions::Table)
                    .to_owned(),
            )
            .await?;
        // The same statement on both backends (the schema builder has no partial indexes).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_transactions_account_asset_date \
                 ON transactions (account_id, trade_date, id) WHERE asset_id IS NOT NULL",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_transactions_account_asset_date")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_date")
                    .table(Transactions::Table)
                    .col(Transactions::TradeDate)
                    .to_owned(),
            )
            .await
    }
}
