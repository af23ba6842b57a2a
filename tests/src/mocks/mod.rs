//! Loopback mock servers that behave like the providers' real APIs.

pub mod ibkr_flex;
pub mod ibkr_gateway;
pub mod tws;
