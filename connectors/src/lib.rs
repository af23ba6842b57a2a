//! Tributary connectors: the normalized data model every provider maps into, the error
//! taxonomy, the provider traits, and the providers themselves.
//!
//! This crate is a pure library: no web framework, no ORM, no GraphQL. Connectors never
//! persist anything; they return normalized values and the caller stores them.

pub mod catalogue;
pub mod demo;
pub mod error;
pub mod registry;
pub mod types;

pub use catalogue::{ConfigField, ConfigFieldType, IntegrationDescriptor};
pub use error::ConnectorError;
pub use types::{
    AccountConnector, AssetClass, AssetRef, Balance, ConnectionCheck, Holding, RemoteAccount,
    SyncBatch, Transaction, TransactionType,
};
