//! Black-box HTTP tests of the Tributary API (one test binary). Every test starts the real
//! app on port 0 with a fresh database: SQLite by default, PostgreSQL when
//! `TRIBUTARY_TEST_POSTGRES_URL` is set.

mod accounts;
mod auth;
mod bad_input;
mod contracts;
mod health;
mod integrations;
mod journey;
mod secrets;
mod tenancy;
