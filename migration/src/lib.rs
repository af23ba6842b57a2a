//! Database migrations. They run on SQLite and PostgreSQL alike, never import the entity
//! crate, and a merged migration is never edited: add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_core_tables;
mod m20261122_000002_import_pipeline;
mod m20261122_000003_market_data;
mod m20261122_000004_lean_transaction_indexes;
mod m20261122_000005_upload_retry;
mod m20261122_000006_transaction_date_indexes;
mod m20261122_000007_deferred_transaction_keys;

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_core_tables::Migration),
            Box::new(m20261122_000002_import_pipeline::Migration),
            Box::new(m20261122_000003_market_data::Migration),
            Box::new(m20261122_000004_lean_transaction_indexes::Migration),
            Box::new(m20261122_000005_upload_retry::Migration),
            Box::new(m20261122_000006_transaction_date_indexes::Migration),
            Box::new(m20261122_000007_deferred_transaction_keys::Migration),
        ]
    }
}
