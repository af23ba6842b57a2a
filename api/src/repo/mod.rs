//! SeaORM queries. Every query on user-owned rows takes the owner; child rows are reached
//! through the owning account. Functions take `&impl ConnectionTrait` so services decide the
//! transaction boundaries.
//!
//! Decimals are stored as canonical text (exact on SQLite and PostgreSQL alike) and converted
//! here, at the storage boundary.

pub mod accounts;
pub mod api_tokens;
pub mod assets;
pub mod audit;
pub mod holdings;
pub mod import_job_files;
pub mod import_jobs;
pub mod market;
pub mod refresh_tokens;
pub mod transactions;
pub mod users;

use std::str::FromStr;

use rust_decimal::Decimal;
use sea_orm::DbErr;

/// The stored text of a decimal: its exact value and scale.
#[must_use]
pub fn dec_to_db(d: Decimal) -> String {
    d.to_string()
}

/// Reads a stored decimal.
///
/// # Errors
/// `DbErr::Type` when the column does not hold a decimal (a corrupted row).
pub fn dec_from_db(s: &str) -> Result<Decimal, DbErr> {
    Decimal::from_str(s).map_err(|e| DbErr::Type(format!("stored decimal {s:?}: {e}")))
}

/// Reads an optional stored decimal.
///
/// # Errors
/// As [`dec_from_db`].
pub fn opt_dec_from_db(s: Option<&str>) -> Result<Option<Decimal>, DbErr> {
    s.map(dec_from_db).transpose()
}

/// Whether a database error is a unique-constraint violation.
#[must_use]
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_through_their_stored_text() {
        for s in [
            "0.1",
            "0.2",
            "0.000000000000000001",
            "12345678901234567.123456789",
            "-7922816251426433759354395033",
            "1.50",
            "0",
        ] {
            let d = Decimal::from_str(s).expect("parses");
            assert_eq!(dec_from_db(&dec_to_db(d)).expect("reads"), d);
            assert_eq!(dec_to_db(d), s);
        }
    }
}
