//! Amounts from text, never through `f64`: locale separators, signs, parentheses and currency
//! symbols as bank exports write them.

use std::str::FromStr;

use rust_decimal::Decimal;

/// The separators a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumberFormat {
    pub decimal: char,
    pub thousands: Option<char>,
}

impl NumberFormat {
    pub(crate) const PLAIN: Self = Self {
        decimal: '.',
        thousands: None,
    };
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{a0}' | '\u{202f}' | '\u{2009}')
}

fn is_currency_symbol(c: char) -> bool {
    matches!(
        c,
        '$' | '€' | '£' | '¥' | '₹' | '₩' | '₽' | '₺' | '₪' | '￥' | '元'
    )
}

/// Drops an ISO currency code written before or after the number (`EUR 12,50`, `12.50 USD`).
fn strip_currency_code(text: &str) -> &str {
    let is_code = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase());
    if let Some((number, code)) = text.rsplit_once(is_space)
        && is_code(code)
    {
        return number.trim_end_matches(is_space);
    }
    if let Some((code, number)) = text.split_once(is_space)
        && is_code(code)
    {
        return number.trim_start_matches(is_space);
    }
    text
}

/// Parses `text` as a decimal in `format`.
///
/// Accepts a leading `+`/`-`/`−`, a trailing `-` (some German exports), accounting parentheses
/// `(12.50)`, currency symbols or an upper-case ISO code before or after the digits, and the
/// thousands separator between digits. Anything else (letters, a second decimal separator, a comma when the format has no
/// thousands separator) is an error, because guessing would put a wrong amount in the ledger.
pub(crate) fn parse_decimal(text: &str, format: NumberFormat) -> Result<Decimal, String> {
    let trimmed = strip_currency_code(text.trim_matches(is_space));
    if trimmed.is_empty() {
        return Err("the value is empty".to_owned());
    }
    let (body, paren) = match trimmed
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    {
        Some(inner) => (inner, true),
        None => (trimmed, false),
    };
    let mut clean = String::with_capacity(body.len() + 1);
    let mut negative = paren;
    let mut signed = paren;
    let mut digits = 0usize;
    let mut seen_decimal = false;
    let mut after_number = false;
    let chars: Vec<char> = body.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() {
            if after_number {
                return Err(format!("cannot read {text:?} as a number"));
            }
            clean.push(c);
            digits += 1;
        } else if c == format.decimal {
            if seen_decimal || after_number {
                return Err(format!(
                    "cannot read {text:?} as a number (two decimal separators)"
                ));
            }
            seen_decimal = true;
            clean.push('.');
        } else if Some(c) == format.thousands
            || (format.thousands.is_some_and(is_space) && is_space(c))
        {
            if digits == 0 || seen_decimal || !next_is_digit || after_number {
                return Err(format!(
                    "cannot read {text:?} as a number (misplaced thousands separator {c:?})"
                ));
            }
        } else if matches!(c, '+' | '-' | '−') {
            if digits == 0 && !signed && !seen_decimal {
                signed = true;
                negative = c != '+';
            } else if digits > 0 && !signed && c != '+' && i + 1 == chars.len() {
                // trailing minus: "12,50-"
                signed = true;
                negative = true;
            } else {
                return Err(format!("cannot read {text:?} as a number (misplaced sign)"));
            }
        } else if is_currency_symbol(c) || is_space(c) {
            if digits > 0 {
                after_number = true;
            }
        } else {
            let hint = if matches!(c, '.' | ',' | '\'') {
                " (check the profile's decimal and thousands separators)"
            } else {
                ""
            };
            return Err(format!(
                "cannot read {text:?} as a number: unexpected {c:?}{hint}"
            ));
        }
    }
    if digits == 0 {
        return Err(format!("cannot read {text:?} as a number"));
    }
    let value =
        Decimal::from_str(&clean).map_err(|e| format!("cannot read {text:?} as a number: {e}"))?;
    Ok(if negative { -value } else { value })
}

/// An OFX amount: `-12.50`, `+0000000050.0000`; OFX 1.x also allows a comma as the decimal
/// point.
pub(crate) fn parse_ofx_decimal(text: &str) -> Result<Decimal, String> {
    let text = text.trim();
    let format = if text.contains(',') && !text.contains('.') {
        NumberFormat {
            decimal: ',',
            thousands: None,
        }
    } else {
        NumberFormat::PLAIN
    };
    parse_decimal(text, format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const DE: NumberFormat = NumberFormat {
        decimal: ',',
        thousands: Some('.'),
    };
    const US: NumberFormat = NumberFormat {
        decimal: '.',
        thousands: Some(','),
    };

    #[test]
    fn locale_numbers_parse_exactly() {
        assert_eq!(parse_decimal("1.234,56", DE), Ok(dec!(1234.56)));
        assert_eq!(parse_decimal("-1.234,56 €", DE), Ok(dec!(-1234.56)));
        assert_eq!(parse_decimal("12,50-", DE), Ok(dec!(-12.50)));
        assert_eq!(parse_decimal("$1,234.56", US), Ok(dec!(1234.56)));
        assert_eq!(parse_decimal("(1,234.56)", US), Ok(dec!(-1234.56)));
        assert_eq!(parse_decimal("+0.10", NumberFormat::PLAIN), Ok(dec!(0.10)));
        assert_eq!(parse_decimal("− 7", NumberFormat::PLAIN), Ok(dec!(-7)));
        assert_eq!(
            parse_decimal(
                "1 234,5",
                NumberFormat {
                    decimal: ',',
                    thousands: Some(' ')
                }
            ),
            Ok(dec!(1234.5))
        );
        assert_eq!(parse_decimal(".5", NumberFormat::PLAIN), Ok(dec!(0.5)));
        assert_eq!(parse_decimal("-12,50 EUR", DE), Ok(dec!(-12.50)));
        assert_eq!(parse_decimal("USD 1,000", US), Ok(dec!(1000)));
    }

    #[test]
    fn ambiguous_or_broken_numbers_are_refused() {
        assert!(parse_decimal("1,234.56", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("1.2.3", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("12abc", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("12 usd", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("EUR", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("-", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("1 2", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal("--1", NumberFormat::PLAIN).is_err());
        assert!(parse_decimal(",5", US).is_err());
        assert!(parse_decimal("99999999999999999999999999999999", NumberFormat::PLAIN).is_err());
    }

    #[test]
    fn ofx_amounts_allow_plus_padding_and_comma() {
        assert_eq!(parse_ofx_decimal("+00000000000050.0000"), Ok(dec!(50.0000)));
        assert_eq!(parse_ofx_decimal("-12,5"), Ok(dec!(-12.5)));
        assert!(parse_ofx_decimal("abc").is_err());
    }
}
