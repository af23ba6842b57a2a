//! SeaORM entities for Tributary. Entities stay inside the server's `repo`/`services`
//! layers; transports have their own view types.
//!
//! Money and quantities are stored as canonical decimal *text* on every backend (see
//! DESIGN.md, Storage): SeaORM maps `Decimal` to `real` on SQLite, which loses digits. The
//! conversion lives in the server's `repo` layer.

pub mod account;
pub mod api_token;
pub mod asset;
pub mod audit_log;
pub mod data_source_metadata;
pub mod fx_rate;
pub mod holding;
pub mod import_job;
pub mod import_job_file;
pub mod price;
pub mod quote;
pub mod refresh_token;
pub mod transaction;
pub mod transaction_tombstone;
pub mod user;
