//! Vendor numbers to `Decimal`, once, at the boundary. JSON numbers are read through their
//! textual form (`serde_json::Number`), so no value is ever held in or rounded through `f64`
//! arithmetic; strings (Alpha Vantage quotes everything) are parsed directly.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Number;

/// Parses a decimal from text, accepting scientific notation (`1.5e-7`), which is how
/// `serde_json` prints very small or very large floats.
pub(crate) fn parse_text(text: &str) -> Result<Decimal, String> {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    }
    .map_err(|e| format!("not a decimal number {text:?}: {e}"))
}

/// Converts a JSON number to a decimal through its textual form.
pub(crate) fn from_number(number: &Number) -> Result<Decimal, String> {
    if let Some(i) = number.as_i64() {
        return Ok(Decimal::from(i));
    }
    if let Some(u) = number.as_u64() {
        return Ok(Decimal::from(u));
    }
    parse_text(&number.to_string()).map(|d| d.normalize())
}

/// A JSON number, or a numeric string, or null.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(Number),
    Text(String),
}

fn loose_to_decimal(value: Loose) -> Result<Option<Decimal>, String> {
    match value {
        Loose::Number(n) => from_number(&n).map(Some),
        Loose::Text(t) if t.trim().is_empty() || t.trim() == "-" || t == "None" => Ok(None),
        Loose::Text(t) => parse_text(&t).map(Some),
    }
}

/// `#[serde(deserialize_with = "dec::required")]`: a JSON number or numeric string.
pub(crate) fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let value = Loose::deserialize(deserializer)?;
    loose_to_decimal(value)
        .map_err(serde::de::Error::custom)?
        .ok_or_else(|| serde::de::Error::custom("expected a number"))
}

/// `#[serde(default, deserialize_with = "dec::optional")]`: a number, numeric string or null.
pub(crate) fn optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    let value = Option::<Loose>::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(v) => loose_to_decimal(v).map_err(serde::de::Error::custom),
    }
}

/// `#[serde(default, deserialize_with = "dec::optional_vec")]`: an array of numbers or nulls
/// (Yahoo's chart indicators have nulls on days without trading).
pub(crate) fn optional_vec<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Option<Decimal>>, D::Error> {
    let values = Option::<Vec<Option<Loose>>>::deserialize(deserializer)?.unwrap_or_default();
    values
        .into_iter()
        .map(|v| match v {
            None => Ok(None),
            Some(v) => loose_to_decimal(v),
        })
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn floats_keep_their_printed_digits() {
        let n: Number = serde_json::from_str("189.71").unwrap_or_else(|_| Number::from(0));
        assert_eq!(from_number(&n), Ok(dec!(189.71)));
        let n: Number = serde_json::from_str("0.1").unwrap_or_else(|_| Number::from(0));
        assert_eq!(from_number(&n), Ok(dec!(0.1)));
    }

    #[test]
    fn scientific_notation_and_integers_are_read() {
        let n: Number = serde_json::from_str("1.5e-7").unwrap_or_else(|_| Number::from(0));
        assert_eq!(from_number(&n), Ok(dec!(0.00000015)));
        let n: Number = serde_json::from_str("2900000000000").unwrap_or_else(|_| Number::from(0));
        assert_eq!(from_number(&n), Ok(dec!(2900000000000)));
        assert_eq!(parse_text("168.4700"), Ok(dec!(168.4700)));
        assert!(parse_text("abc").is_err());
    }

    #[derive(Deserialize)]
    struct Row {
        #[serde(deserialize_with = "required")]
        a: Decimal,
        #[serde(default, deserialize_with = "optional")]
        b: Option<Decimal>,
        #[serde(default, deserialize_with = "optional_vec")]
        c: Vec<Option<Decimal>>,
    }

    #[test]
    fn serde_helpers_accept_numbers_strings_and_nulls() {
        let row: Row = serde_json::from_str(r#"{"a":"1.25","b":null,"c":[1.5,null,"2"]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(row.a, dec!(1.25));
        assert_eq!(row.b, None);
        assert_eq!(row.c, vec![Some(dec!(1.5)), None, Some(dec!(2))]);
        assert!(serde_json::from_str::<Row>(r#"{"a":null}"#).is_err());
    }
}
