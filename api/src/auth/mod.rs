//! Authentication: password hashing, access JWTs, opaque tokens (refresh and personal API
//! tokens), the login rate limiter and the `CurrentUser` extractor.

pub mod extractor;
pub mod jwt;
pub mod limiter;
pub mod password;
pub mod tokens;

pub use extractor::{AuthMethod, CurrentUser, authenticate};
