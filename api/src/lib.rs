//! Tributary: a self-hosted, multi-user portfolio data server.
//!
//! Layers (imports point one way): `routes` → `services` → `repo` → `tributary_entity`, and
//! `services` → `tributary_connectors`. `services`, `repo` and `domain` know nothing of HTTP.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod jobs;
pub mod metrics;
pub mod repo;
pub mod routes;
pub mod secrets;
pub mod services;
pub mod startup;
pub mod telemetry;
