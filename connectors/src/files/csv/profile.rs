//! The import profile: how one account's CSV exports are laid out. Saved per account as JSON,
//! so unknown keys are refused (a typo must not silently fall back to a default).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::files::{Encoding, FileError};
use crate::types::TransactionType;

/// A column, by header name (matched case-insensitively, surrounding spaces ignored) or by
/// 0-based index. In JSON: `"Buchungstag"` or `0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "#{i}"),
            Self::Name(n) => write!(f, "{n:?}"),
        }
    }
}

impl From<&str> for ColumnRef {
    fn from(name: &str) -> Self {
        Self::Name(name.to_owned())
    }
}

impl From<usize> for ColumnRef {
    fn from(index: usize) -> Self {
        Self::Index(index)
    }
}

/// Which column holds which transaction field. Only `date` is required, plus `amount` or both
/// `quantity` and `price` (then the amount is computed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    pub date: Option<ColumnRef>,
    /// Source transaction type, mapped through [`CsvProfile::type_map`].
    #[serde(default, rename = "type")]
    pub kind: Option<ColumnRef>,
    #[serde(default)]
    pub symbol: Option<ColumnRef>,
    /// Instrument name (with `symbol`); without a symbol it is used as the description.
    #[serde(default)]
    pub name: Option<ColumnRef>,
    #[serde(default)]
    pub quantity: Option<ColumnRef>,
    #[serde(default)]
    pub price: Option<ColumnRef>,
    #[serde(default)]
    pub amount: Option<ColumnRef>,
    #[serde(default)]
    pub fee: Option<ColumnRef>,
    #[serde(default)]
    pub currency: Option<ColumnRef>,
    #[serde(default)]
    pub description: Option<ColumnRef>,
    /// The source's own transaction id (becomes `source_id`).
    #[serde(default)]
    pub id: Option<ColumnRef>,
    #[serde(default)]
    pub settle_date: Option<ColumnRef>,
}

impl ColumnMapping {
    /// A mapping with only the date column set.
    #[must_use]
    pub fn new(date: impl Into<ColumnRef>) -> Self {
        Self {
            date: Some(date.into()),
            ..Self::default()
        }
    }

    /// Every mapped column with its field name, in a stable order.
    pub(crate) fn entries(&self) -> Vec<(&'static str, &ColumnRef)> {
        [
            ("date", &self.date),
            ("type", &self.kind),
            ("symbol", &self.symbol),
            ("name", &self.name),
            ("quantity", &self.quantity),
            ("price", &self.price),
            ("amount", &self.amount),
            ("fee", &self.fee),
            ("currency", &self.currency),
            ("description", &self.description),
            ("id", &self.id),
            ("settle_date", &self.settle_date),
        ]
        .into_iter()
        .filter_map(|(field, column)| column.as_ref().map(|c| (field, c)))
        .collect()
    }
}

/// How the file signs its amounts. Tributary's `amount` is the signed cash effect on the
/// account (negative for buys, fees, withdrawals, taxes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignConvention {
    /// The file already signs amounts as the cash effect.
    #[default]
    AsIs,
    /// The file signs the other way round (e.g. card exports listing purchases as positive).
    NegateAll,
    /// Amounts are unsigned (or signed arbitrarily); the sign comes from the type: buy,
    /// withdrawal, fee and tax are negative; sell, dividend, interest and deposit positive;
    /// transfer, split and merger keep the file's sign.
    AmountPositiveUseType,
}

/// Type words every profile understands (lower case), before its own `type_map`.
const DEFAULT_TYPE_WORDS: &[(&str, TransactionType)] = &[
    ("bought", TransactionType::Buy),
    ("purchase", TransactionType::Buy),
    ("kauf", TransactionType::Buy),
    ("买入", TransactionType::Buy),
    ("sold", TransactionType::Sell),
    ("sale", TransactionType::Sell),
    ("verkauf", TransactionType::Sell),
    ("卖出", TransactionType::Sell),
    ("dividends", TransactionType::Dividend),
    ("div", TransactionType::Dividend),
    ("dividende", TransactionType::Dividend),
    ("ausschüttung", TransactionType::Dividend),
    ("股息", TransactionType::Dividend),
    ("红利", TransactionType::Dividend),
    ("int", TransactionType::Interest),
    ("zinsen", TransactionType::Interest),
    ("利息", TransactionType::Interest),
    ("einzahlung", TransactionType::Deposit),
    ("存入", TransactionType::Deposit),
    ("withdraw", TransactionType::Withdrawal),
    ("auszahlung", TransactionType::Withdrawal),
    ("取出", TransactionType::Withdrawal),
    ("fees", TransactionType::Fee),
    ("commission", TransactionType::Fee),
    ("gebühr", TransactionType::Fee),
    ("gebühren", TransactionType::Fee),
    ("手续费", TransactionType::Fee),
    ("taxes", TransactionType::Tax),
    ("withholding", TransactionType::Tax),
    ("steuer", TransactionType::Tax),
    ("steuern", TransactionType::Tax),
    ("stock split", TransactionType::Split),
    ("aktiensplit", TransactionType::Split),
    ("übertrag", TransactionType::Transfer),
    ("umbuchung", TransactionType::Transfer),
    ("转账", TransactionType::Transfer),
];

/// An import profile, saved per account.
///
/// Build one with [`CsvProfile::new`] and adjust fields, or deserialize it (every field but
/// `columns` has a default). [`CsvProfile::validate`] names the field at fault; [`super::read`]
/// validates before reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvProfile {
    /// `,` (default), `;`, tab, `|` or another ASCII punctuation character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Whether the first row (after `skip_rows`) names the columns. Default true.
    #[serde(default = "default_true")]
    pub has_header: bool,
    #[serde(default)]
    pub encoding: Encoding,
    /// A chrono format (`%d.%m.%Y`); default `%Y-%m-%d`. Time fields are allowed and ignored.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// `.` (default) or `,`.
    #[serde(default = "default_decimal")]
    pub decimal_separator: char,
    /// `,` `.` `'` or a space; `None` (default) refuses grouped numbers.
    #[serde(default)]
    pub thousands_separator: Option<char>,
    pub columns: ColumnMapping,
    /// Source value → type, matched case-insensitively after trimming. Checked before the
    /// built-in words (the type names themselves plus common English, German and Chinese
    /// words such as `bought`, `Kauf`, `Dividende`, `买入`).
    #[serde(default)]
    pub type_map: BTreeMap<String, TransactionType>,
    /// The type when the row has none (no type column, or an empty cell). When this is `None`
    /// too, the type comes from the amount: a row with a symbol is a buy (cash out) or sell
    /// (cash in), otherwise a deposit or a withdrawal.
    #[serde(default)]
    pub default_type: Option<TransactionType>,
    #[serde(default)]
    pub sign_convention: SignConvention,
    /// ISO 4217 code for rows without a currency column or with an empty cell.
    #[serde(default)]
    pub default_currency: Option<String>,
    /// Lines to drop before the header (bank name, account number, period...).
    #[serde(default)]
    pub skip_rows: usize,
    /// Rows whose first non-empty cell starts with one of these (case-insensitively) are
    /// skipped: `Total`, `Summe`, `Opening balance`...
    #[serde(default)]
    pub skip_footer_matching: Vec<String>,
}

fn default_delimiter() -> char {
    ','
}

fn default_true() -> bool {
    true
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_owned()
}

fn default_decimal() -> char {
    '.'
}

/// The profile field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ProfileError {}

impl From<ProfileError> for FileError {
    fn from(e: ProfileError) -> Self {
        FileError::new(e.message).with_field(e.field)
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ProfileError {
    ProfileError {
        field: field.into(),
        message: message.into(),
    }
}

/// The most lines `skip_rows` may drop (a larger value is a mistake, not a title block).
pub const MAX_SKIP_ROWS: usize = 1000;

impl CsvProfile {
    /// A profile with the defaults (comma, header row, UTF-8, ISO dates, `.` decimals, amounts
    /// as they are) and the given columns.
    #[must_use]
    pub fn new(columns: ColumnMapping) -> Self {
        Self {
            delimiter: default_delimiter(),
            has_header: true,
            encoding: Encoding::Utf8,
            date_format: default_date_format(),
            decimal_separator: default_decimal(),
            thousands_separator: None,
            columns,
            type_map: BTreeMap::new(),
            default_type: None,
            sign_convention: SignConvention::AsIs,
            default_currency: None,
            skip_rows: 0,
            skip_footer_matching: Vec::new(),
        }
    }

    /// Checks the profile is usable, naming the first field at fault (`delimiter`,
    /// `columns.amount`, `type_map.<key>`...).
    ///
    /// # Errors
    /// A [`ProfileError`] naming the field.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let d = self.delimiter;
        if !d.is_ascii()
            || d.is_ascii_alphanumeric()
            || matches!(d, '"' | '\r' | '\n' | ' ')
            || (d.is_ascii_control() && d != '\t')
        {
            return Err(invalid(
                "delimiter",
                format!("{d:?} cannot be a delimiter; use ',', ';', tab or '|'"),
            ));
        }
        if !matches!(self.decimal_separator, '.' | ',') {
            return Err(invalid("decimal_separator", "must be '.' or ','"));
        }
        if let Some(t) = self.thousands_separator {
            if !matches!(t, '.' | ',' | '\'' | ' ' | '\u{a0}' | '\u{202f}' | '’') {
                return Err(invalid(
                    "thousands_separator",
                    "must be '.', ',', an apostrophe or a space",
                ));
            }
            if t == self.decimal_separator {
                return Err(invalid(
                    "thousands_separator",
                    "must differ from the decimal separator",
                ));
            }
        }
        validate_date_format(&self.date_format)?;
        self.validate_columns()?;
        if self.sign_convention == SignConvention::AmountPositiveUseType
            && self.columns.kind.is_none()
            && self.default_type.is_none()
        {
            return Err(invalid(
                "sign_convention",
                "amount_positive_use_type needs a type column or a default_type",
            ));
        }
        if let Some(currency) = &self.default_currency {
            if !is_currency_code(currency) {
                return Err(invalid(
                    "default_currency",
                    format!("{currency:?} is not a 3-letter ISO 4217 code"),
                ));
            }
        } else if self.columns.currency.is_none() {
            return Err(invalid(
                "default_currency",
                "required when no currency column is mapped",
            ));
        }
        for key in self.type_map.keys() {
            if key.trim().is_empty() {
                return Err(invalid("type_map", "keys must not be empty"));
            }
        }
        if self.skip_rows > MAX_SKIP_ROWS {
            return Err(invalid(
                "skip_rows",
                format!("at most {MAX_SKIP_ROWS} rows can be skipped"),
            ));
        }
        if self
            .skip_footer_matching
            .iter()
            .any(|s| s.trim().is_empty())
        {
            return Err(invalid(
                "skip_footer_matching",
                "entries must not be empty (that would skip every row)",
            ));
        }
        Ok(())
    }

    fn validate_columns(&self) -> Result<(), ProfileError> {
        let c = &self.columns;
        if c.date.is_none() {
            return Err(invalid("columns.date", "the date column is required"));
        }
        if c.amount.is_none() && (c.quantity.is_none() || c.price.is_none()) {
            return Err(invalid(
                "columns.amount",
                "map an amount column, or both quantity and price",
            ));
        }
        for (field, column) in c.entries() {
            if let ColumnRef::Name(name) = column {
                if name.trim().is_empty() {
                    return Err(invalid(
                        format!("columns.{field}"),
                        "the column name is empty",
                    ));
                }
                if !self.has_header {
                    return Err(invalid(
                        format!("columns.{field}"),
                        format!(
                            "column {name:?} is a header name, but the profile has no header row; use a 0-based index"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The case-folded type lookup: the profile's map over the built-in words.
    pub(crate) fn type_lookup(&self) -> HashMap<String, TransactionType> {
        let mut map: HashMap<String, TransactionType> = HashMap::new();
        for t in TransactionType::ALL {
            map.insert(t.as_str().to_owned(), t);
        }
        for (word, t) in DEFAULT_TYPE_WORDS {
            map.insert((*word).to_owned(), *t);
        }
        for (word, t) in &self.type_map {
            map.insert(word.trim().to_lowercase(), *t);
        }
        map
    }
}

pub(crate) fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic())
}

fn validate_date_format(format: &str) -> Result<(), ProfileError> {
    let sample = NaiveDate::from_ymd_opt(2024, 11, 28)
        .ok_or_else(|| invalid("date_format", "internal error"))?;
    let mut printed = String::new();
    if write!(printed, "{}", sample.format(format)).is_err() {
        return Err(invalid(
            "date_format",
            format!("{format:?} is not a valid chrono format"),
        ));
    }
    let round_trip = NaiveDate::parse_from_str(&printed, format)
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&printed, format).map(|dt| dt.date()));
    if round_trip != Ok(sample) {
        return Err(invalid(
            "date_format",
            format!("{format:?} does not identify a day (it needs a year, month and day)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> CsvProfile {
        let mut columns = ColumnMapping::new("Date");
        columns.amount = Some("Amount".into());
        let mut p = CsvProfile::new(columns);
        p.default_currency = Some("USD".to_owned());
        p
    }

    #[test]
    fn a_minimal_profile_is_valid() {
        assert_eq!(profile().validate(), Ok(()));
    }

    #[test]
    fn each_problem_names_its_field() {
        let field = |p: CsvProfile| p.validate().err().map(|e| e.field);
        let mut p = profile();
        p.delimiter = 'a';
        assert_eq!(field(p), Some("delimiter".to_owned()));
        let mut p = profile();
        p.decimal_separator = ',';
        p.thousands_separator = Some(',');
        assert_eq!(field(p), Some("thousands_separator".to_owned()));
        let mut p = profile();
        p.date_format = "%H:%M".to_owned();
        assert_eq!(field(p), Some("date_format".to_owned()));
        let mut p = profile();
        p.date_format = "%Q".to_owned();
        assert_eq!(field(p), Some("date_format".to_owned()));
        let mut p = profile();
        p.columns.amount = None;
        assert_eq!(field(p), Some("columns.amount".to_owned()));
        let mut p = profile();
        p.columns.date = None;
        assert_eq!(field(p), Some("columns.date".to_owned()));
        let mut p = profile();
        p.has_header = false;
        assert_eq!(field(p), Some("columns.date".to_owned()));
        let mut p = profile();
        p.default_currency = None;
        assert_eq!(field(p), Some("default_currency".to_owned()));
        let mut p = profile();
        p.default_currency = Some("EURO".to_owned());
        assert_eq!(field(p), Some("default_currency".to_owned()));
        let mut p = profile();
        p.sign_convention = SignConvention::AmountPositiveUseType;
        assert_eq!(field(p), Some("sign_convention".to_owned()));
        let mut p = profile();
        p.skip_footer_matching = vec![" ".to_owned()];
        assert_eq!(field(p), Some("skip_footer_matching".to_owned()));
    }

    #[test]
    fn profiles_round_trip_through_json_and_refuse_unknown_keys() {
        let json = r#"{"delimiter":";","encoding":"latin1","date_format":"%d.%m.%Y",
            "decimal_separator":",","thousands_separator":".",
            "columns":{"date":"Buchungstag","amount":4,"type":"Art"},
            "type_map":{"Lastschrift":"withdrawal"},"default_currency":"EUR",
            "sign_convention":"as_is","skip_rows":3,"skip_footer_matching":["Summe"]}"#;
        let p: CsvProfile = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.encoding, Encoding::Windows1252);
        assert_eq!(p.columns.amount, Some(ColumnRef::Index(4)));
        assert_eq!(p.columns.kind, Some(ColumnRef::Name("Art".to_owned())));
        assert!(p.has_header);
        assert_eq!(p.validate(), Ok(()));
        let back: CsvProfile =
            serde_json::from_str(&serde_json::to_string(&p).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, p);
        assert!(
            serde_json::from_str::<CsvProfile>(r#"{"columns":{"date":0},"delimitr":";"}"#).is_err()
        );
        assert!(serde_json::from_str::<CsvProfile>(r#"{"columns":{"date":0,"amout":1}}"#).is_err());
    }
}
