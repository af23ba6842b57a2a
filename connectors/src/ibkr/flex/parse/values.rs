//! Attribute values of Flex rows: which attributes the parser reads, how a row's attributes are
//! collected without copying, and how numbers and dates are read from their text.
//!
//! Every value stays a slice of the input until a converter asks for it; numbers go from text
//! straight to `Decimal` (never through `f64`), dates are read by hand in every format a Flex
//! query can be configured with.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Declares the attributes the parser reads: the enum, its size, the XML names, and the name
/// lookup, from one list so they cannot drift apart.
macro_rules! fields {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// An attribute some Flex row carries that the parser reads; all others are ignored.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum F {
            $($variant),*
        }

        impl F {
            /// How many attributes the parser reads.
            pub(super) const COUNT: usize = [$($name),*].len();

            /// The attribute's XML name.
            pub(super) fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),*
                }
            }

            /// The attribute of an XML name (only on a [`Layout`] miss, so a plain chain of
            /// comparisons is fine).
            fn lookup(key: &[u8]) -> Option<Self> {
                $(if key == $name.as_bytes() {
                    return Some(Self::$variant);
                })*
                None
            }
        }
    };
}

fields! {
    AccountId => "accountId",
    AcctAlias => "acctAlias",
    AccountType => "accountType",
    Name => "name",
    DateOpened => "dateOpened",
    FromDate => "fromDate",
    ToDate => "toDate",
    WhenGenerated => "whenGenerated",
    AssetCategory => "assetCategory",
    SubCategory => "subCategory",
    Symbol => "symbol",
    UnderlyingSymbol => "underlyingSymbol",
    Description => "description",
    Currency => "currency",
    ListingExchange => "listingExchange",
    Conid => "conid",
    Isin => "isin",
    Cusip => "cusip",
    Multiplier => "multiplier",
    Expiry => "expiry",
    Strike => "strike",
    PutCall => "putCall",
    FxRateToBase => "fxRateToBase",
    LevelOfDetail => "levelOfDetail",
    TransactionId => "transactionID",
    TradeId => "tradeID",
    IbExecId => "ibExecID",
    ReportDate => "reportDate",
    DateTime => "dateTime",
    Date => "date",
    TradeDate => "tradeDate",
    SettleDateTarget => "settleDateTarget",
    SettleDate => "settleDate",
    BuySell => "buySell",
    Quantity => "quantity",
    TradePrice => "tradePrice",
    Proceeds => "proceeds",
    NetCash => "netCash",
    IbCommission => "ibCommission",
    IbCommissionCurrency => "ibCommissionCurrency",
    Taxes => "taxes",
    Type => "type",
    Amount => "amount",
    ActionDescription => "actionDescription",
    Value => "value",
    Direction => "direction",
    TransferPrice => "transferPrice",
    PositionAmount => "positionAmount",
    CashTransfer => "cashTransfer",
    Account => "account",
    DeliveringBroker => "deliveringBroker",
    Position => "position",
    MarkPrice => "markPrice",
    PositionValue => "positionValue",
    CostBasisMoney => "costBasisMoney",
    Side => "side",
    EndingCash => "endingCash",
    Total => "total",
    EndingValue => "endingValue",
}

/// Attribute names longer than this are never cached (none of ours is).
const MAX_CACHED_KEY: usize = 32;

/// An attribute name as little-endian words, zero-padded, with the masks of its bytes.
#[derive(Clone, Copy)]
struct Slot {
    words: [u64; MAX_CACHED_KEY / 8],
    masks: [u64; MAX_CACHED_KEY / 8],
    len: usize,
    field: Option<F>,
}

/// The little-endian word at `at`, or `None` past the end.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?))
}

/// Remembers, per attribute position, which name was there last time and what it maps to.
///
/// Every row of one element type in a Flex statement carries the same attributes in the same
/// order (they come from one query configuration), so after the first row each attribute
/// costs one short comparison instead of a name lookup.
#[derive(Default)]
pub(super) struct Layout {
    slots: Vec<Slot>,
}

impl Layout {
    /// When the attribute at `index` of `text` (which starts at the attribute name) has the
    /// same name as last time, followed by `=`: the name's length and its field.
    fn hit(&self, index: usize, text: &[u8]) -> Option<(usize, Option<F>)> {
        let slot = self.slots.get(index)?;
        if text.get(slot.len) != Some(&b'=') {
            return None;
        }
        let same = match text.first_chunk::<MAX_CACHED_KEY>() {
            // The text goes on past the name (`="value" ...`), so a whole window can be
            // compared without branches: masked words, unused ones masked to zero.
            Some(window) => {
                let mut diff = 0u64;
                for ((chunk, &mask), &expected) in
                    window.chunks_exact(8).zip(&slot.masks).zip(&slot.words)
                {
                    let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
                    diff |= (word & mask) ^ expected;
                }
                diff == 0
            }
            // Near the very end of the input.
            None => slot
                .words
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .take(slot.len)
                .eq(text.iter().copied().take(slot.len)),
        };
        same.then_some((slot.len, slot.field))
    }

    /// Looks up and remembers the attribute name at `index`.
    fn learn(&mut self, index: usize, key: &[u8]) -> Option<F> {
        let field = F::lookup(key);
        if key.len() <= MAX_CACHED_KEY {
            let mut padded = [0u8; MAX_CACHED_KEY];
            if let Some(dst) = padded.get_mut(..key.len()) {
                dst.copy_from_slice(key);
            }
            let mut slot = Slot {
                words: [0; MAX_CACHED_KEY / 8],
                masks: [0; MAX_CACHED_KEY / 8],
                len: key.len(),
                field,
            };
            for (i, (word, mask)) in slot.words.iter_mut().zip(&mut slot.masks).enumerate() {
                *word = word_at(&padded, i * 8).unwrap_or_default();
                *mask = match key.len().saturating_sub(i * 8).min(8) {
                    0 => 0,
                    8 => u64::MAX,
                    n => (1u64 << (n * 8)) - 1,
                };
            }
            if let Some(existing) = self.slots.get_mut(index) {
                *existing = slot;
            } else if index == self.slots.len() {
                self.slots.push(slot);
            }
        }
        field
    }
}

/// The index of the first `needle` in `hay`, eight bytes at a time (the classic "has zero
/// byte" bit trick on `word ^ needle`; the lowest flagged byte is always a real match).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut words = hay.chunks_exact(8);
    let mut offset = 0usize;
    for word in &mut words {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default()) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| offset + p)
}

/// `part` as a slice of `input`, when it is one (the tags of quick-xml's slice reader are).
pub(super) fn subslice<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    let found = input.get(start..start.checked_add(part.len())?)?;
    (found.as_ptr() == part.as_ptr()).then_some(found)
}

/// One Flex data element (`<Trade .../>`, `<CashTransaction .../>`, ...): the raw text of the
/// attributes the parser reads, borrowed from the input.
pub(super) struct Row<'a> {
    /// The element name, for messages.
    pub(super) element: &'static str,
    /// 1-based line of the element's `<`.
    pub(super) line: u64,
    /// The tag's attribute text.
    attrs: &'a str,
    /// Where in `attrs` each attribute's value is (start, end); `(0, 0)` when absent. Slices
    /// are only made for the attributes a converter asks for.
    spans: [(u32, u32); F::COUNT],
}

impl<'a> Row<'a> {
    /// Reads the attributes at the start of `rest` (the text after an element name), up to
    /// the end of `rest` or the `/` or `>` that ends the tag; returns the row and where it
    /// stopped.
    ///
    /// Flex rows are flat `name="value"` lists, so they are split here rather than with
    /// quick-xml's general attribute iterator, straight into slices of the (already validated)
    /// input text.
    ///
    /// # Errors
    /// A malformed attribute (no `=`, an unquoted or unterminated value): the row cannot be
    /// read.
    pub(super) fn scan(
        element: &'static str,
        line: u64,
        rest: &'a str,
        layout: &mut Layout,
    ) -> Result<(Self, usize), String> {
        let mut row = Row {
            element,
            line,
            attrs: rest,
            spans: [(0, 0); F::COUNT],
        };
        let bytes = rest.as_bytes();
        // `at` is where the unread part starts; the slices below borrow `bytes` from there.
        let mut at = 0usize;
        let mut index = 0usize;
        while let Some(unread) = bytes.get(at..) {
            let trimmed = unread.trim_ascii_start();
            at += unread.len() - trimmed.len();
            if matches!(trimmed.first(), None | Some(b'/' | b'>')) {
                break;
            }
            let malformed = || {
                let name = trimmed.split(|&b| b == b'=').next().unwrap_or_default();
                format!(
                    "malformed attribute {:?}",
                    String::from_utf8_lossy(name.get(..40).unwrap_or(name))
                )
            };
            let (eq, field) = match layout.hit(index, trimmed) {
                Some(hit) => hit,
                None => {
                    let eq = trimmed
                        .iter()
                        .position(|&b| b == b'=')
                        .ok_or_else(malformed)?;
                    let key = trimmed.get(..eq).unwrap_or_default().trim_ascii_end();
                    if key.is_empty()
                        || key
                            .iter()
                            .any(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
                    {
                        return Err(malformed());
                    }
                    (eq, layout.learn(index, key))
                }
            };
            let after_eq = trimmed.get(eq + 1..).unwrap_or_default();
            let value_part = after_eq.trim_ascii_start();
            let quote = match value_part.first() {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return Err(malformed()),
            };
            let value = value_part.get(1..).unwrap_or_default();
            let len = find_byte(value, quote).ok_or_else(malformed)?;
            let start = at + eq + 1 + (after_eq.len() - value_part.len()) + 1;
            at = start + len + 1;
            if let Some(field) = field
                && let Some(span) = row.spans.get_mut(field as usize)
            {
                let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(start + len))
                else {
                    return Err("the element is longer than 4 GiB".into());
                };
                *span = (start, end);
            }
            index += 1;
        }
        Ok((row, at))
    }

    /// The raw (escaped, untrimmed) text of an attribute; empty when absent.
    pub(super) fn raw(&self, f: F) -> &'a str {
        let (start, end) = self.spans.get(f as usize).copied().unwrap_or_default();
        self.attrs
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// The attribute's text, unescaped and trimmed; `None` when absent, empty or `MULTI`
    /// (what IB writes in summary rows for values that differ between the rows summed).
    ///
    /// # Errors
    /// A broken entity (`&amp` without `;`, `&unknown;`).
    pub(super) fn text(&self, f: F) -> Result<Option<Cow<'a, str>>, String> {
        let s = self.raw(f).trim_ascii();
        if s.is_empty() || s == "MULTI" {
            return Ok(None);
        }
        // A plain loop: values are short, and a memchr call costs more than it saves here.
        if !s.bytes().any(|b| b == b'&') {
            return Ok(Some(Cow::Borrowed(s)));
        }
        let unescaped =
            quick_xml::escape::unescape(s).map_err(|err| format!("{}={s:?}: {err}", f.name()))?;
        let trimmed = unescaped.trim();
        Ok((!trimmed.is_empty()).then(|| Cow::Owned(trimmed.to_owned())))
    }

    /// The attribute's text as an owned string (for the output types).
    ///
    /// # Errors
    /// As [`Row::text`].
    pub(super) fn string(&self, f: F) -> Result<Option<String>, String> {
        Ok(self.text(f)?.map(Cow::into_owned))
    }

    /// A code or id (`STK`, `BUY`, `USD`, a transaction id): like [`Row::text`], and also
    /// absent when IB wrote a placeholder (`-`, `--`, `N/A`).
    ///
    /// # Errors
    /// As [`Row::text`].
    pub(super) fn code(&self, f: F) -> Result<Option<Cow<'a, str>>, String> {
        Ok(self.text(f)?.filter(|s| !is_placeholder(s)))
    }

    /// A number.
    ///
    /// # Errors
    /// Text that is not a number (`12.3.4`, `1,23`, `abc`), naming the attribute.
    pub(super) fn decimal(&self, f: F) -> Result<Option<Decimal>, String> {
        let Some(text) = self.text(f)? else {
            return Ok(None);
        };
        parse_decimal(&text).map_err(|why| format!("{}={text:?} is not a number: {why}", f.name()))
    }

    /// A date, or the date part of a date-time.
    ///
    /// # Errors
    /// Text that is not a date in any Flex format, naming the attribute.
    pub(super) fn date(&self, f: F, order: SlashOrder) -> Result<Option<NaiveDate>, String> {
        let Some(text) = self.text(f)? else {
            return Ok(None);
        };
        parse_date(&text, order).map_err(|why| format!("{}={text:?} {why}", f.name()))
    }

    /// The first of several date attributes that is present.
    ///
    /// # Errors
    /// As [`Row::date`], for the first attribute that is present but unreadable.
    pub(super) fn first_date(
        &self,
        fields: &[F],
        order: SlashOrder,
    ) -> Result<Option<NaiveDate>, String> {
        for &f in fields {
            if let Some(date) = self.date(f, order)? {
                return Ok(Some(date));
            }
        }
        Ok(None)
    }

    /// The raw text of the attributes in `fields`, for content fingerprints of rows without
    /// an IB id and for the asset cache key.
    pub(super) fn raw_values<'f>(
        &self,
        fields: &'f [F],
    ) -> impl Iterator<Item = (F, &'a [u8])> + use<'a, 'f, '_> {
        fields.iter().map(|&f| (f, self.raw(f).as_bytes()))
    }
}

/// What IB writes for "no value" in numeric and code columns.
fn is_placeholder(s: &str) -> bool {
    matches!(s, "-" | "--" | "N/A" | "n/a")
}

/// Reads a Flex number: an optional sign, digits with an optional `.` fraction, optionally
/// grouped in thousands with `,` (`-1,234.56`), optionally in scientific notation (`1.5E-4`).
/// `-`, `--` and `N/A` are absent values.
///
/// # Errors
/// Anything else, because a guessed amount would go into the ledger.
pub(super) fn parse_decimal(text: &str) -> Result<Option<Decimal>, String> {
    let s = text.trim();
    if s.is_empty() || s == "MULTI" || is_placeholder(s) {
        return Ok(None);
    }
    let bytes = s.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let mut int_digits = 0usize;
    let mut group = 0usize;
    let mut grouped = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                int_digits += 1;
                group += 1;
            }
            b',' => {
                // The first group has 1-3 digits, every later one exactly 3.
                let bad = if grouped {
                    group != 3
                } else {
                    group == 0 || group > 3
                };
                if bad {
                    return Err("misplaced thousands separator".into());
                }
                grouped = true;
                group = 0;
            }
            _ => break,
        }
        i += 1;
    }
    if grouped && group != 3 {
        return Err("misplaced thousands separator".into());
    }
    let mut frac_digits = 0usize;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            frac_digits += 1;
            i += 1;
        }
    }
    if int_digits + frac_digits == 0 {
        return Err("no digits".into());
    }
    let mut exponent = false;
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        exponent = true;
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err("no digits in the exponent".into());
        }
    }
    if i != bytes.len() {
        return Err(match bytes.get(i) {
            Some(b'.') => "two decimal points".to_owned(),
            _ => "unexpected characters".to_owned(),
        });
    }
    let cleaned: Cow<'_, str> = if grouped {
        Cow::Owned(s.replace(',', ""))
    } else {
        Cow::Borrowed(s)
    };
    let parsed = if exponent {
        Decimal::from_scientific(&cleaned)
    } else {
        Decimal::from_str(&cleaned)
    };
    parsed.map(Some).map_err(|err| err.to_string())
}

/// How a statement writes `a/b/yyyy` dates; the other Flex date formats are unambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlashOrder {
    /// `MM/dd/yyyy`, `MM/dd/yy` (IB's US formats).
    MonthFirst,
    /// `dd/MM/yyyy`, `dd/MM/yy`.
    DayFirst,
}

/// Reads a Flex date or date-time and returns its date.
///
/// Dates: `yyyyMMdd` (IB's default), `yyyy-MM-dd`, `MM/dd/yyyy`, `MM/dd/yy`, `dd/MM/yyyy`,
/// `dd/MM/yy` (slash dates read in `order`), `dd-MMM-yy`, `dd-MMM-yyyy` and `dd.MM.yyyy`.
/// Date-times: a date, then `;` (the default), `,`, `, `, ` `, `T` or nothing, then
/// `HHmmss` or `HH:mm:ss`, optionally followed by a time zone (` EST`, `-0500`). Two-digit
/// years are 1970-2069. `MULTI`, `-`, `--`, `N/A` and empty text are absent.
///
/// # Errors
/// Anything else (as a message to append to the attribute name).
pub(super) fn parse_date(text: &str, order: SlashOrder) -> Result<Option<NaiveDate>, String> {
    let s = text.trim();
    if s.is_empty() || s == "MULTI" || is_placeholder(s) {
        return Ok(None);
    }
    let bad = || "is not a date in a Flex date format".to_owned();
    let (date, used) = date_prefix(s.as_bytes(), order).ok_or_else(bad)?;
    let rest = s.as_bytes().get(used..).unwrap_or_default();
    if rest.is_empty() || time_follows(rest) {
        Ok(Some(date))
    } else {
        Err(bad())
    }
}

fn digit_run(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// The value of the ASCII digits of `b` (callers pass at most 4).
fn number(b: &[u8]) -> u32 {
    b.iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d.wrapping_sub(b'0')))
}

fn ymd(year: u32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

fn full_year(digits: &[u8]) -> u32 {
    let year = number(digits);
    match digits.len() {
        2 if year < 70 => 2000 + year,
        2 => 1900 + year,
        _ => year,
    }
}

/// How many digits of a run that ends a date are the year: `yy`/`yyyy` alone, or followed by a
/// time without a separator (`25093015`, `2025093015`, `2509:30:15`).
fn year_len(run: usize, next: Option<u8>) -> Option<usize> {
    match (run, next) {
        (4 | 6, Some(b':')) => Some(run - 2),
        (2 | 4, _) => Some(run),
        (8, _) => Some(2),
        (10, _) => Some(4),
        _ => None,
    }
}

fn month_of(name: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let position = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u32::try_from(position + 1).ok()
}

/// Reads the date at the start of `b`; returns it and how many bytes it took.
fn date_prefix(b: &[u8], order: SlashOrder) -> Option<(NaiveDate, usize)> {
    let run = digit_run(b);
    let next = b.get(run).copied();
    // yyyyMMdd, alone or followed by a time without a separator.
    if run == 8 || run == 14 || (run == 10 && next == Some(b':')) {
        let date = ymd(
            number(b.get(0..4)?),
            number(b.get(4..6)?),
            number(b.get(6..8)?),
        )?;
        return Some((date, 8));
    }
    // yyyy-MM-dd
    if run == 4 && next == Some(b'-') {
        let month = b.get(5..7)?;
        let day = b.get(8..10)?;
        if digit_run(month) != 2 || b.get(7) != Some(&b'-') || digit_run(day) != 2 {
            return None;
        }
        return Some((ymd(number(b.get(0..4)?), number(month), number(day))?, 10));
    }
    if !(1..=2).contains(&run) {
        return None;
    }
    let first = number(b.get(..run)?);
    let sep = next?;
    let second_start = run + 1;
    match sep {
        b'/' | b'.' => {
            let second_len = digit_run(b.get(second_start..)?);
            if !(1..=2).contains(&second_len) {
                return None;
            }
            let second = number(b.get(second_start..second_start + second_len)?);
            let year_start = second_start + second_len + 1;
            if b.get(second_start + second_len) != Some(&sep) {
                return None;
            }
            let year_run = digit_run(b.get(year_start..)?);
            let len = year_len(year_run, b.get(year_start + year_run).copied())?;
            if sep == b'.' && len != 4 {
                return None;
            }
            let year = full_year(b.get(year_start..year_start + len)?);
            let (month, day) = match (sep, order) {
                (b'/', SlashOrder::MonthFirst) => (first, second),
                _ => (second, first),
            };
            Some((ymd(year, month, day)?, year_start + len))
        }
        b'-' => {
            let month = month_of(b.get(second_start..second_start + 3)?)?;
            let year_start = second_start + 4;
            if b.get(second_start + 3) != Some(&b'-') {
                return None;
            }
            let year_run = digit_run(b.get(year_start..)?);
            let len = year_len(year_run, b.get(year_start + year_run).copied())?;
            let year = full_year(b.get(year_start..year_start + len)?);
            Some((ymd(year, month, first)?, year_start + len))
        }
        _ => None,
    }
}

/// Whether `rest` (what follows a date) is a separator and a valid time, with an optional
/// trailing time zone.
fn time_follows(rest: &[u8]) -> bool {
    let rest = match rest {
        [b',', b' ', tail @ ..] | [b';' | b',' | b' ' | b'T', tail @ ..] => tail,
        _ => rest,
    };
    let (hour, minute, second, used) = match rest {
        [h1, h2, b':', m1, m2, b':', s1, s2, ..] => ([*h1, *h2], [*m1, *m2], [*s1, *s2], 8),
        [h1, h2, m1, m2, s1, s2, ..] => ([*h1, *h2], [*m1, *m2], [*s1, *s2], 6),
        _ => return false,
    };
    let valid = |pair: [u8; 2], max: u32| digit_run(&pair) == 2 && number(&pair) <= max;
    if !(valid(hour, 23) && valid(minute, 59) && valid(second, 60)) {
        return false;
    }
    match rest.get(used..).unwrap_or_default() {
        [] | [b'Z'] => true,
        [b' ' | b'+' | b'-', ..] => true,
        // Fractions of seconds.
        [b'.', tail @ ..] => tail.first().is_some_and(u8::is_ascii_digit),
        _ => false,
    }
}

/// Finds a slash date in the document that tells the order apart (a first number above 12
/// means `dd/MM`, a second one above 12 means `MM/dd`), looking only at attribute values that
/// start with a date so that bond names like `T 1 3/4 02/15/24` do not count.
pub(super) fn detect_slash_order(bytes: &[u8]) -> Option<SlashOrder> {
    let mut from = 0usize;
    while let Some(offset) = bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'/'))
    {
        let slash = from + offset;
        from = slash + 1;
        let before = bytes.get(..slash).unwrap_or_default();
        let lead = before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=2).contains(&lead) {
            continue;
        }
        let Some(quote) = before.len().checked_sub(lead + 1) else {
            continue;
        };
        if !matches!(bytes.get(quote), Some(b'"' | b'\'')) {
            continue;
        }
        let after = bytes.get(slash + 1..).unwrap_or_default();
        let second_len = digit_run(after);
        if !(1..=2).contains(&second_len)
            || after.get(second_len) != Some(&b'/')
            || digit_run(after.get(second_len + 1..).unwrap_or_default()) < 2
        {
            continue;
        }
        let first = number(before.get(before.len() - lead..).unwrap_or_default());
        let second = number(after.get(..second_len).unwrap_or_default());
        match (first > 12, second > 12) {
            (true, false) if (1..=12).contains(&second) => return Some(SlashOrder::DayFirst),
            (false, true) if (1..=12).contains(&first) => return Some(SlashOrder::MonthFirst),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn every_flex_date_format_reads_the_same_day() {
        let us = SlashOrder::MonthFirst;
        let eu = SlashOrder::DayFirst;
        for (text, order) in [
            ("20250103", us),
            ("2025-01-03", us),
            ("01/03/2025", us),
            ("01/03/25", us),
            ("03/01/2025", eu),
            ("03/01/25", eu),
            ("03-Jan-25", us),
            ("03-JAN-2025", eu),
            ("03.01.2025", us),
        ] {
            assert_eq!(parse_date(text, order), Ok(day(2025, 1, 3)), "{text}");
        }
    }

    #[test]
    fn date_times_with_every_separator_give_their_date() {
        let us = SlashOrder::MonthFirst;
        for text in [
            "20250103;093015",
            "20250103,093015",
            "20250103 093015",
            "20250103093015",
            "2025-01-03;09:30:15",
            "2025-01-03, 09:30:15",
            "2025-01-03 09:30:15",
            "2025-01-03T09:30:15",
            "2025-01-0309:30:15",
            "2025-01-03;093015",
            "01/03/2025;09:30:15",
            "01/03/2025 093015",
            "01/03/25093015",
            "01/03/2509:30:15",
            "2025-01-03;09:30:15 EST",
            "20250103;093015-0500",
            "  20250103  ",
        ] {
            assert_eq!(parse_date(text, us), Ok(day(2025, 1, 3)), "{text}");
        }
    }

    #[test]
    fn absent_and_broken_dates() {
        let us = SlashOrder::MonthFirst;
        for absent in ["", "  ", "MULTI", "--", "-", "N/A"] {
            assert_eq!(parse_date(absent, us), Ok(None), "{absent:?}");
        }
        for bad in [
            "2025-13-01",
            "20250230",
            "2025/01/03",
            "13/13/2025",
            "01/03/2025;25:00:00",
            "01/03/2025;0930",
            "2025-01-03x",
            "03-Foo-25",
            "3.1.25",
            "yesterday",
            "2025",
            "202501031",
        ] {
            assert!(parse_date(bad, us).is_err(), "{bad:?}");
        }
        assert_eq!(parse_date("12/31/99", us), Ok(day(1999, 12, 31)));
        assert_eq!(parse_date("01/02/69", us), Ok(day(2069, 1, 2)));
    }

    #[test]
    fn slash_order_comes_from_an_unambiguous_date_value() {
        let xml = br#"<S d="01/02/2025" symbol="T 1 3/4 02/15/24" x="31/01/2025;093000"/>"#;
        assert_eq!(detect_slash_order(xml), Some(SlashOrder::DayFirst));
        let xml = br#"<S d="01/02/2025" e="01/31/25"/>"#;
        assert_eq!(detect_slash_order(xml), Some(SlashOrder::MonthFirst));
        let xml = br#"<S d="01/02/2025" description="SPLIT 20/1 14/03/2025"/>"#;
        assert_eq!(detect_slash_order(xml), None);
    }

    #[test]
    fn cached_names_match_exactly() {
        let mut layout = Layout::default();
        assert_eq!(layout.learn(0, b"tradeID"), Some(F::TradeId));
        assert_eq!(layout.learn(1, b"someVeryLongAttributeNameX"), None);
        assert_eq!(
            layout.learn(2, b"ibCommissionCurrency"),
            Some(F::IbCommissionCurrency)
        );
        assert_eq!(layout.hit(0, b"tradeID=\"1\""), Some((7, Some(F::TradeId))));
        assert_eq!(layout.hit(0, b"tradeID="), Some((7, Some(F::TradeId))));
        assert_eq!(layout.hit(0, b"tradeIX=\"1\""), None);
        assert_eq!(layout.hit(0, b"tradeIDs=\"1\""), None);
        assert_eq!(layout.hit(0, b"tradeI"), None);
        assert_eq!(
            layout.hit(1, b"someVeryLongAttributeNameX=\"\""),
            Some((26, None))
        );
        assert_eq!(layout.hit(1, b"someVeryLongAttributeNameY=\"\""), None);
        assert_eq!(
            layout.hit(2, b"ibCommissionCurrency=\"USD\" netCash"),
            Some((20, Some(F::IbCommissionCurrency)))
        );
        assert_eq!(layout.hit(2, b"ibCommissionCurrencz=\"USD\""), None);
        assert_eq!(layout.hit(3, b"tradeID=\"1\""), None);
    }

    #[test]
    fn bytes_are_found_word_by_word() {
        let hay = b"0123456789abcdef\"xyz\"";
        for len in 0..hay.len() {
            let part = &hay[..len];
            for needle in [b'"', b'0', b'7', b'8', b'f', b'z', b'!', 0x80] {
                assert_eq!(
                    find_byte(part, needle),
                    part.iter().position(|&b| b == needle),
                    "{len} {needle}"
                );
            }
        }
        assert_eq!(find_byte(b"\x80\x80\x22\x01", b'"'), Some(2));
        assert_eq!(
            find_byte(b"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00", 0),
            Some(9)
        );
    }

    #[test]
    fn numbers_parse_exactly() {
        for (text, value) in [
            ("0", dec!(0)),
            ("-1234.56", dec!(-1234.56)),
            ("+7", dec!(7)),
            ("1,234,567.891", dec!(1234567.891)),
            ("-1,234.56", dec!(-1234.56)),
            (".5", dec!(0.5)),
            ("5.", dec!(5)),
            ("0.000012345678", dec!(0.000012345678)),
            ("1.5E-4", dec!(0.00015)),
            ("2e3", dec!(2000)),
            (" 42 ", dec!(42)),
            ("189.7100", dec!(189.7100)),
        ] {
            assert_eq!(parse_decimal(text), Ok(Some(value)), "{text}");
        }
        assert_eq!(
            parse_decimal("189.7100").map(|d| d.map(|d| d.scale())),
            Ok(Some(4))
        );
    }

    #[test]
    fn absent_and_broken_numbers() {
        for absent in ["", "--", "-", "N/A", "MULTI"] {
            assert_eq!(parse_decimal(absent), Ok(None), "{absent:?}");
        }
        for bad in [
            "12.3.4",
            "1,23",
            "1,2345",
            ",123",
            "1,,234",
            "12a",
            "abc",
            "1_000",
            "--1",
            "1e",
            "1.2.3e4",
            "+",
            "e5",
            "1 234",
            "99999999999999999999999999999999",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
    }
}
