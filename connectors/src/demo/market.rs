//! The demo broker's market: the instruments each profile holds, deterministic prices and FX
//! rates, and the rounding rules. Every "random" number comes from SHA-256 over the seed and a
//! topic, so results depend on nothing but their inputs.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};

use super::config::Profile;
use crate::types::{AssetClass, AssetRef};

/// Cash currency of the account; balances are reported in it.
pub(crate) const ACCOUNT_CURRENCY: &str = "USD";
/// The second cash currency the demo account holds.
pub(crate) const SECOND_CURRENCY: &str = "EUR";

/// A decimal literal as mantissa and scale, so instrument tables can be `const`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dec(pub i64, pub u32);

impl Dec {
    pub(crate) fn get(self) -> Decimal {
        Decimal::new(self.0, self.1)
    }
}

/// How an instrument pays dividends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DividendPolicy {
    /// Gross dividend per share per payment, in the instrument currency.
    pub per_share: Dec,
    /// Months in which it pays (on the first weekday from the 15th).
    pub months: &'static [u32],
    /// Withholding tax in percent, for foreign payers.
    pub withholding_pct: Option<Dec>,
}

/// A tradable instrument of the simulated market.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Instrument {
    pub symbol: &'static str,
    pub name: &'static str,
    pub class: AssetClass,
    /// Listing exchange MIC; `None` for crypto.
    pub mic: Option<&'static str>,
    pub currency: &'static str,
    /// Price on the ledger's opening day before the seed's ±10 % perturbation.
    pub base_price: Dec,
    /// Largest daily return, as a fraction (returns are uniform in ±vol around the drift).
    pub daily_vol: Dec,
    /// Average daily return, as a fraction.
    pub daily_drift: Dec,
    pub dividend: Option<DividendPolicy>,
}

impl Instrument {
    /// Crypto trades every day, with fractional quantities and a percentage commission.
    pub(crate) fn is_crypto(&self) -> bool {
        self.class == AssetClass::Crypto
    }

    /// The normalized asset reference.
    pub(crate) fn asset(&self) -> AssetRef {
        let asset_id = match (self.class, self.mic) {
            (AssetClass::Crypto, _) | (_, None) => format!("CRYPTO:{}", self.symbol),
            (_, Some(mic)) => format!("EQUITY:{mic}:{}", self.symbol),
        };
        AssetRef {
            asset_id,
            symbol: self.symbol.to_owned(),
            name: self.name.to_owned(),
            class: self.class,
            currency: self.currency.to_owned(),
            exchange: self.mic.map(str::to_owned),
        }
    }

    /// The commission for a trade of `notional`: 0.25 % on crypto, a flat EUR 4.90 on Xetra,
    /// nothing on US listings.
    pub(crate) fn commission(&self, notional: Decimal) -> Decimal {
        if self.is_crypto() {
            round_cents(notional * Decimal::new(25, 4))
        } else if self.mic == Some("XETR") {
            Decimal::new(490, 2)
        } else {
            Decimal::ZERO
        }
    }

    /// The largest quantity purchasable for `budget` before commission: whole shares, or
    /// crypto truncated to 8 decimals.
    pub(crate) fn quantity_for(&self, budget: Decimal, price: Decimal) -> Decimal {
        if budget <= Decimal::ZERO || price <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        if self.is_crypto() {
            floor_crypto_quantity(budget / price)
        } else {
            (budget / price).floor()
        }
    }
}

/// One of an instrument and the share of the opening deposit (in percent) spent on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allocation {
    pub instrument: Instrument,
    pub weight_pct: i64,
}

/// The profile's instruments with their opening weights (weights are per currency and sum to
/// well under 100 so cash remains), and the symbol that splits during the year.
pub(crate) struct Universe {
    pub allocations: Vec<Allocation>,
    pub split_symbol: &'static str,
}

const QUARTERLY: &[u32] = &[3, 6, 9, 12];
const MONTHLY: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

const fn equity(
    symbol: &'static str,
    name: &'static str,
    class: AssetClass,
    mic: &'static str,
    currency: &'static str,
    base_price: Dec,
    daily_vol: Dec,
) -> Instrument {
    Instrument {
        symbol,
        name,
        class,
        mic: Some(mic),
        currency,
        base_price,
        daily_vol,
        // About 8 % a year.
        daily_drift: Dec(3, 4),
        dividend: None,
    }
}

impl Instrument {
    const fn pays(self, per_share: Dec, months: &'static [u32]) -> Self {
        Self {
            dividend: Some(DividendPolicy {
                per_share,
                months,
                withholding_pct: None,
            }),
            ..self
        }
    }

    const fn withheld(self, pct: Dec) -> Self {
        match self.dividend {
            Some(policy) => Self {
                dividend: Some(DividendPolicy {
                    withholding_pct: Some(pct),
                    ..policy
                }),
                ..self
            },
            None => self,
        }
    }
}

const fn crypto(symbol: &'static str, name: &'static str, base_price: Dec, vol: Dec) -> Instrument {
    Instrument {
        symbol,
        name,
        class: AssetClass::Crypto,
        mic: None,
        currency: ACCOUNT_CURRENCY,
        base_price,
        daily_vol: vol,
        daily_drift: Dec(6, 4),
        dividend: None,
    }
}

const AAPL: Instrument = equity(
    "AAPL",
    "Apple Inc.",
    AssetClass::Equity,
    "XNAS",
    "USD",
    Dec(18500, 2),
    Dec(150, 4),
)
.pays(Dec(25, 2), &[2, 5, 8, 11]);
const MSFT: Instrument = equity(
    "MSFT",
    "Microsoft Corporation",
    AssetClass::Equity,
    "XNAS",
    "USD",
    Dec(41000, 2),
    Dec(140, 4),
)
.pays(Dec(83, 2), QUARTERLY);
const NVDA: Instrument = equity(
    "NVDA",
    "NVIDIA Corporation",
    AssetClass::Equity,
    "XNAS",
    "USD",
    Dec(13000, 2),
    Dec(280, 4),
);
const VTI: Instrument = equity(
    "VTI",
    "Vanguard Total Stock Market ETF",
    AssetClass::Etf,
    "ARCX",
    "USD",
    Dec(26500, 2),
    Dec(90, 4),
)
.pays(Dec(95, 2), QUARTERLY);
const VXUS: Instrument = equity(
    "VXUS",
    "Vanguard Total International Stock ETF",
    AssetClass::Etf,
    "XNAS",
    "USD",
    Dec(6000, 2),
    Dec(80, 4),
)
.pays(Dec(45, 2), QUARTERLY)
.withheld(Dec(15, 0));
const BND: Instrument = equity(
    "BND",
    "Vanguard Total Bond Market ETF",
    AssetClass::Etf,
    "XNAS",
    "USD",
    Dec(7200, 2),
    Dec(25, 4),
)
.pays(Dec(21, 2), MONTHLY);
const SCHD: Instrument = equity(
    "SCHD",
    "Schwab U.S. Dividend Equity ETF",
    AssetClass::Etf,
    "ARCX",
    "USD",
    Dec(2700, 2),
    Dec(80, 4),
)
.pays(Dec(25, 2), QUARTERLY);
const O: Instrument = equity(
    "O",
    "Realty Income Corporation",
    AssetClass::Equity,
    "XNYS",
    "USD",
    Dec(5500, 2),
    Dec(110, 4),
)
.pays(Dec(2685, 4), MONTHLY);
const KO: Instrument = equity(
    "KO",
    "The Coca-Cola Company",
    AssetClass::Equity,
    "XNYS",
    "USD",
    Dec(6200, 2),
    Dec(90, 4),
)
.pays(Dec(51, 2), &[4, 7, 10, 12]);
const JNJ: Instrument = equity(
    "JNJ",
    "Johnson & Johnson",
    AssetClass::Equity,
    "XNYS",
    "USD",
    Dec(15500, 2),
    Dec(90, 4),
)
.pays(Dec(130, 2), QUARTERLY);
const SAP: Instrument = equity(
    "SAP",
    "SAP SE",
    AssetClass::Equity,
    "XETR",
    "EUR",
    Dec(21000, 2),
    Dec(140, 4),
)
.pays(Dec(235, 2), &[5])
.withheld(Dec(26375, 3));
const ALV: Instrument = equity(
    "ALV",
    "Allianz SE",
    AssetClass::Equity,
    "XETR",
    "EUR",
    Dec(30000, 2),
    Dec(120, 4),
)
.pays(Dec(1540, 2), &[5])
.withheld(Dec(26375, 3));
const BTC: Instrument = crypto("BTC", "Bitcoin", Dec(6_500_000, 2), Dec(350, 4));
const ETH: Instrument = crypto("ETH", "Ether", Dec(330_000, 2), Dec(450, 4));
const SOL: Instrument = crypto("SOL", "Solana", Dec(18000, 2), Dec(600, 4));

/// The instruments of a profile. Every profile holds VXUS (the withholding-tax payer) and at
/// least one crypto asset, and names a US-listed stock or ETF that splits.
pub(crate) fn universe(profile: Profile) -> Universe {
    let table: &[(Instrument, i64)] = match profile {
        Profile::Balanced => &[
            (AAPL, 12),
            (MSFT, 12),
            (NVDA, 8),
            (VTI, 25),
            (VXUS, 12),
            (BND, 12),
            (BTC, 5),
            (SAP, 70),
        ],
        Profile::Crypto => &[(BTC, 40), (ETH, 25), (SOL, 10), (VTI, 8), (VXUS, 5)],
        Profile::Income => &[
            (SCHD, 20),
            (O, 12),
            (KO, 12),
            (JNJ, 12),
            (BND, 15),
            (VXUS, 10),
            (BTC, 3),
            (ALV, 70),
        ],
    };
    let split_symbol = match profile {
        Profile::Balanced => "NVDA",
        Profile::Crypto => "VTI",
        Profile::Income => "KO",
    };
    Universe {
        allocations: table
            .iter()
            .map(|&(instrument, weight_pct)| Allocation {
                instrument,
                weight_pct,
            })
            .collect(),
        split_symbol,
    }
}

/// Deterministic dice: SHA-256 of the seed and a topic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dice {
    seed: u64,
}

impl Dice {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// A number in `0..modulus` for (seed, topic, date, detail).
    pub(crate) fn roll(self, topic: &str, date: NaiveDate, detail: &str, modulus: u64) -> u64 {
        let mut hasher = Sha256::new();
        for part in [
            self.seed.to_string().as_str(),
            topic,
            &date.format("%Y-%m-%d").to_string(),
            detail,
        ] {
            hasher.update(part.as_bytes());
            // Unit separator, so ("ab", "c") and ("a", "bc") hash differently.
            hasher.update([0x1f]);
        }
        let digest = hasher.finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(bytes) % modulus.max(1)
    }

    /// [`Dice::roll`] as a decimal in `[-1, 1]` with 4 decimals.
    pub(crate) fn unit(self, topic: &str, date: NaiveDate, detail: &str) -> Decimal {
        let roll = i64::try_from(self.roll(topic, date, detail, 20_001)).unwrap_or(10_000);
        Decimal::new(roll - 10_000, 4)
    }

    /// The EURUSD rate on a date: between 1.0500 and 1.1500, 4 decimals.
    pub(crate) fn eur_usd(self, date: NaiveDate) -> Decimal {
        let pips = i64::try_from(self.roll("fx", date, "EURUSD", 1_001)).unwrap_or(0);
        Decimal::new(10_500 + pips, 4)
    }

    /// The instrument's price on the opening day: the base price ±10 %.
    pub(crate) fn opening_price(self, instrument: &Instrument, opening: NaiveDate) -> Decimal {
        let shift = self.unit("opening-price", opening, instrument.symbol) / Decimal::TEN;
        round_price(instrument.base_price.get() * (Decimal::ONE + shift))
    }

    /// The next day's price of a seeded random walk: a uniform return of ±vol around the
    /// drift. Exchange-listed instruments do not move on weekends; crypto does.
    pub(crate) fn next_price(
        self,
        instrument: &Instrument,
        previous: Decimal,
        date: NaiveDate,
    ) -> Decimal {
        if !instrument.is_crypto() && !is_weekday(date) {
            return previous;
        }
        let daily_return = instrument.daily_drift.get()
            + instrument.daily_vol.get() * self.unit("price", date, instrument.symbol);
        round_price(previous * (Decimal::ONE + daily_return)).max(MIN_PRICE)
    }
}

/// The floor of every simulated price, so a long losing streak cannot reach zero.
const MIN_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Rounds a cash amount to cents, half away from zero.
pub(crate) fn round_cents(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds a quote to the 2 decimals every demo instrument (crypto included) is quoted in.
pub(crate) fn round_price(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Truncates a crypto quantity to 8 decimals: rounding down never spends more than the budget
/// and never sells more than is held.
pub(crate) fn floor_crypto_quantity(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(8, RoundingStrategy::ToZero)
}

/// Converts an amount in `currency` to the account currency at the day's rate, to cents.
pub(crate) fn to_account_currency(
    dice: Dice,
    currency: &str,
    amount: Decimal,
    date: NaiveDate,
) -> Decimal {
    if currency == SECOND_CURRENCY {
        round_cents(amount * dice.eur_usd(date))
    } else {
        amount
    }
}

pub(crate) fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The date itself if it is a weekday, else the following Monday.
pub(crate) fn next_weekday(date: NaiveDate) -> NaiveDate {
    let mut day = date;
    while !is_weekday(day) {
        day = add_days(day, 1);
    }
    day
}

/// `date` plus `days`, saturating at the end of the calendar.
pub(crate) fn add_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether `date` is the first weekday on or after the `day`-th of its month.
pub(crate) fn is_first_weekday_from(date: NaiveDate, day: u32) -> bool {
    NaiveDate::from_ymd_opt(date.year(), date.month(), day)
        .is_some_and(|target| next_weekday(target) == date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn asset_ids_follow_the_normalized_scheme() {
        assert_eq!(AAPL.asset().asset_id, "EQUITY:XNAS:AAPL");
        assert_eq!(VTI.asset().asset_id, "EQUITY:ARCX:VTI");
        assert_eq!(VTI.asset().class, AssetClass::Etf);
        assert_eq!(BTC.asset().asset_id, "CRYPTO:BTC");
        assert_eq!(BTC.asset().exchange, None);
        assert_eq!(SAP.asset().currency, "EUR");
    }

    #[test]
    fn rounding_functions_round_as_named() {
        assert_eq!(round_cents(dec!(1.005)), dec!(1.01));
        assert_eq!(round_cents(dec!(-1.005)), dec!(-1.01));
        assert_eq!(floor_crypto_quantity(dec!(0.123456789)), dec!(0.12345678));
        assert_eq!(BTC.quantity_for(dec!(1000), dec!(65000)), dec!(0.01538461));
        assert_eq!(AAPL.quantity_for(dec!(1000), dec!(185.50)), dec!(5));
        assert_eq!(AAPL.quantity_for(dec!(-1), dec!(185.50)), Decimal::ZERO);
    }

    #[test]
    fn dice_are_deterministic_and_seed_dependent() {
        let day = date(2025, 3, 4);
        assert_eq!(
            Dice::new(7).roll("t", day, "x", 1000),
            Dice::new(7).roll("t", day, "x", 1000)
        );
        let differs = (0..20).any(|s| {
            Dice::new(s).roll("t", day, "x", 1_000_000)
                != Dice::new(s + 1).roll("t", day, "x", 1_000_000)
        });
        assert!(differs);
        let unit = Dice::new(7).unit("t", day, "x");
        assert!(unit >= -Decimal::ONE && unit <= Decimal::ONE);
        let rate = Dice::new(7).eur_usd(day);
        assert!(rate >= dec!(1.05) && rate <= dec!(1.15) && rate.scale() == 4);
    }

    #[test]
    fn listed_prices_do_not_move_on_weekends_and_stay_positive() {
        let dice = Dice::new(3);
        let saturday = date(2025, 3, 8);
        assert_eq!(dice.next_price(&AAPL, dec!(100), saturday), dec!(100));
        let mut price = dec!(0.02);
        for offset in 0..50 {
            price = dice.next_price(&SOL, price, add_days(saturday, offset));
            assert!(price >= MIN_PRICE);
            assert!(price.scale() <= 2);
        }
    }

    #[test]
    fn weekday_helpers_skip_weekends() {
        // 2025-03-15 is a Saturday.
        assert_eq!(next_weekday(date(2025, 3, 15)), date(2025, 3, 17));
        assert!(is_first_weekday_from(date(2025, 3, 17), 15));
        assert!(!is_first_weekday_from(date(2025, 3, 18), 15));
        assert!(is_first_weekday_from(date(2025, 3, 3), 1));
    }
}
