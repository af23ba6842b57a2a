//! Black-box HTTP tests of the Tributary API (one test binary). Every test starts the real
//! app on port 0 with a fresh database: SQLite by default, PostgreSQL when
//! `TRIBUTARY_TEST_POSTGRES_URL` is set.

mod accounts;
mod auth;
mod bad_input;
mod contracts;
mod graphql_bad_input;
mod graphql_dataloader;
mod graphql_journey;
mod graphql_read_token;
mod graphql_subscription;
mod graphql_tenancy;
mod health;
mod ibkr_flex_client;
mod ibkr_gateway_client;
mod ibkr_sync;
mod ibkr_tws_client;
mod imports;
mod imports_retry;
mod integrations;
mod journey;
mod ledger_storage;
mod market_mocks;
mod market_quotes;
mod market_scheduler;
mod market_summary;
mod pipeline_failures;
mod pipeline_graphql;
mod pipeline_jobs;
mod pipeline_multinode;
mod pipeline_scheduler;
mod pipeline_support;
mod pipeline_transactions;
mod secrets;
mod tenancy;
