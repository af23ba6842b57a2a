//! The Flex Web Service v3 client and the `FlexQueryResponse` parser.

pub mod client;
pub mod parse;
