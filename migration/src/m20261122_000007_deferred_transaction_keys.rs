//! SQLite only: rebuilds `transactions` with its foreign keys `DEFERRABLE INITIALLY DEFERRED`
//! (checked when the transaction commits rather than after each statement).
//!
//! A multi-row `INSERT` that may abort half-way must be able to undo its own rows, so SQLite
//! copies every page the statement touches into a statement journal first. An immediate
//! foreign key makes every multi-row insert such a statement, whatever its conflict clause;
//! with the keys deferred, and the bulk insert written `INSERT OR FAIL` (a failing row stops
//! the statement, the import's transaction is then rolled back whole), there is nothing to
//! undo and no journal. That copy was a tenth to a quarter of a bulk import's time in SQLite.
//!
//! The rows are copied as they are (same columns, same values, same indexes); a large ledger
//! takes one pass to copy. `ON DELETE` actions still run at once, and `RESTRICT` is still
//! checked at once. PostgreSQL keeps its keys as they are: it has no statement journal.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns, in the order of the original table.
const COLUMNS: &str = r#""id", "account_id", "asset_id", "kind", "trade_date", "settle_date", "quantity", "price", "amount", "fee", "currency", "description", "source", "source_id", "fingerprint", "import_job_id", "created_at", "occurrence", "alias_of", "match_reason""#;

/// `CREATE TABLE` of `name`, as migrations 000001–000006 left it, with its foreign keys
/// deferred or not.
fn create_table(name: &str, deferred: bool) -> String {
    let when = if deferred {
        " DEFERRABLE INITIALLY DEFERRED"
    } else {
        ""
    };
    format!(
        r#"CREATE TABLE "{name}" ( "id" uuid_text NOT NULL PRIMARY KEY, "account_id" uuid_text NOT NULL, "asset_id" uuid_text NULL, "kind" varchar(16) NOT NULL, "trade_date" date_text NOT NULL, "settle_date" date_text NULL, "quantity" varchar NULL, "price" varchar NULL, "amount" varchar NOT NULL, "fee" varchar NULL, "currency" varchar(3) NOT NULL, "description" text NULL, "source" varchar NOT NULL, "source_id" varchar NOT NULL, "fingerprint" varchar NOT NULL, "import_job_id" uuid_text NULL, "created_at" timestamp_with_timezone_text NOT NULL, "occurrence" integer NOT NULL DEFAULT 0, "alias_of" uuid_text NULL, "match_reason" text NULL, FOREIGN KEY ("account_id") REFERENCES "accounts" ("id") ON DELETE CASCADE{when}, FOREIGN KEY ("asset_id") REFERENCES "assets" ("id") ON DELETE RESTRICT{when}, FOREIGN KEY ("import_job_id") REFERENCES "import_jobs" ("id") ON DELETE SET NULL{when} )"#
    )
}

/// Copies `transactions` into a table with the given keys, then puts the indexes back. No
/// other table refers to `transactions`, so dropping and renaming touches nothing else.
async fn rebuild(manager: &SchemaManager<'_>, deferred: bool) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    for sql in [
        create_table("transactions_rebuilt", deferred),
        format!(r#"INSERT INTO "transactions_rebuilt" ({COLUMNS}) SELECT {COLUMNS} FROM "transactions""#),
        r#"DROP TABLE "transactions""#.to_string(),
        r#"ALTER TABLE "transactions_rebuilt" RENAME TO "transactions""#.to_string(),
        r#"CREATE UNIQUE INDEX "uq_transactions_account_source_id" ON "transactions" ("account_id", "source", "source_id")"#.to_string(),
        r#"CREATE INDEX "idx_transactions_account_date" ON "transactions" ("account_id", "trade_date", "id")"#.to_string(),
        "CREATE INDEX idx_transactions_account_asset_date ON transactions (account_id, trade_date, id) WHERE asset_id IS NOT NULL".to_string(),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction (one connection) on SQLite too: the copy, the drop and the rename land
    /// together or not at all, and no pooled connection sees the table half-rebuilt.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, false).await
    }
}
