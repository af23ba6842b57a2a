//! Provider, plumbing and fallback-chain tests against loopback mock servers (wiremock) that
//! serve the vendors' documented response shapes from `tests/fixtures/` and enforce their
//! keys the way the real APIs do. No test touches the network.

mod alpha_vantage;
mod chain;
mod coingecko;
mod common;
mod http;
mod normalize;
mod tiingo;
mod yahoo;
