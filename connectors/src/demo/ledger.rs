//! Simulates the demo account day by day, from its opening date to "now".
//!
//! Stability is the point: the server deduplicates transactions by `source_id`, so the events
//! of a day must never change once that day has passed. The opening date depends only on the
//! seed, and each day's events depend only on the seed, the profile, the date and the state
//! left by earlier days. `now` only decides where the simulation stops.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::config::Profile;
use super::market::{
    ACCOUNT_CURRENCY, Dice, Instrument, SECOND_CURRENCY, add_days, floor_crypto_quantity,
    is_first_weekday_from, next_weekday, round_cents, to_account_currency, universe,
};
use crate::types::{AssetClass, AssetRef, Balance, Holding, Transaction, TransactionType};

/// The earliest possible opening date; the seed adds 0..60 days.
const LEDGER_BASE: NaiveDate = match NaiveDate::from_ymd_opt(2025, 1, 2) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// Monthly interest rate on USD cash (4.2 % a year).
const USD_MONTHLY_INTEREST: Decimal = Decimal::from_parts(35, 0, 0, false, 4);
/// Monthly interest rate on EUR cash (1.8 % a year).
const EUR_MONTHLY_INTEREST: Decimal = Decimal::from_parts(15, 0, 0, false, 4);
/// The quarterly custody fee, USD.
const CUSTODY_FEE: Decimal = Decimal::from_parts(495, 0, 0, false, 2);
/// Cash left aside when investing a monthly deposit, per currency.
const USD_RESERVE: Decimal = Decimal::from_parts(250, 0, 0, false, 0);
const EUR_RESERVE: Decimal = Decimal::from_parts(100, 0, 0, false, 0);
/// Months with a custody fee, and months with a EUR savings deposit.
const FEE_MONTHS: [u32; 4] = [1, 4, 7, 10];
const EUR_DEPOSIT_MONTHS: [u32; 4] = [3, 6, 9, 12];
/// Days between rebalancing sells.
const SELL_INTERVAL_DAYS: u64 = 91;

/// The simulated account at `now`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ledger {
    /// Chronological; within a day in `source_id` order.
    pub transactions: Vec<Transaction>,
    pub holdings: Vec<Holding>,
    pub balance: Balance,
}

/// The day the seed's account opens: 2025-01-02 plus 0..60 days, moved to a weekday.
pub(crate) fn opening_date(seed: u64) -> NaiveDate {
    let offset = Dice::new(seed).roll("opening", LEDGER_BASE, "", 60);
    next_weekday(add_days(LEDGER_BASE, offset))
}

/// Runs the simulation up to and including `now`'s date.
pub(crate) fn simulate(seed: u64, profile: Profile, now: DateTime<Utc>) -> Ledger {
    let today = now.date_naive();
    let opening = opening_date(seed);
    let mut sim = Simulation::new(seed, profile, opening);
    let mut sells = 1;
    let mut next_sell = sim.sell_date(sells);
    for date in opening.iter_days().take_while(|d| *d <= today) {
        sim.start_day(date);
        if date == opening {
            sim.open_account();
            continue;
        }
        sim.corporate_actions();
        sim.pay_dividends();
        if is_first_weekday_from(date, 1) {
            sim.month_start();
        }
        if date == next_sell {
            sim.rebalance();
            sells += 1;
            next_sell = sim.sell_date(sells);
        }
    }
    sim.finish(now)
}

#[derive(Debug, Clone, Copy, Default)]
struct Position {
    quantity: Decimal,
    /// Average-cost basis, commissions included, in the instrument currency.
    cost: Decimal,
}

/// A cash or trade event before it becomes a [`Transaction`].
struct Event {
    kind: TransactionType,
    asset: Option<AssetRef>,
    quantity: Option<Decimal>,
    price: Option<Decimal>,
    amount: Decimal,
    fee: Option<Decimal>,
    currency: &'static str,
    settle_date: NaiveDate,
    description: String,
}

struct Simulation {
    seed: u64,
    dice: Dice,
    opening: NaiveDate,
    instruments: Vec<Instrument>,
    weights: Vec<i64>,
    split: Option<(usize, NaiveDate, Decimal)>,
    /// Parallel to `instruments`.
    prices: Vec<Decimal>,
    positions: Vec<Position>,
    cash: BTreeMap<&'static str, Decimal>,
    transactions: Vec<Transaction>,
    date: NaiveDate,
    events_today: u32,
}

impl Simulation {
    fn new(seed: u64, profile: Profile, opening: NaiveDate) -> Self {
        let dice = Dice::new(seed);
        let universe = universe(profile);
        let instruments: Vec<Instrument> =
            universe.allocations.iter().map(|a| a.instrument).collect();
        let weights = universe.allocations.iter().map(|a| a.weight_pct).collect();
        let split = instruments
            .iter()
            .position(|i| i.symbol == universe.split_symbol)
            .map(|index| {
                let day = add_days(opening, 120 + dice.roll("split-date", opening, "", 90));
                let ratio = 2 + dice.roll("split-ratio", opening, "", 3);
                (index, next_weekday(day), Decimal::from(ratio))
            });
        let prices = instruments
            .iter()
            .map(|i| dice.opening_price(i, opening))
            .collect();
        let positions = vec![Position::default(); instruments.len()];
        let cash = [ACCOUNT_CURRENCY, SECOND_CURRENCY]
            .into_iter()
            .map(|c| (c, Decimal::ZERO))
            .collect();
        Self {
            seed,
            dice,
            opening,
            instruments,
            weights,
            split,
            prices,
            positions,
            cash,
            transactions: Vec::new(),
            date: opening,
            events_today: 0,
        }
    }

    /// The `n`-th rebalancing sell date (n ≥ 1): every 91 days plus 0..10, on a weekday.
    fn sell_date(&self, n: u64) -> NaiveDate {
        let jitter = self
            .dice
            .roll("sell-date", self.opening, &n.to_string(), 10);
        next_weekday(add_days(
            self.opening,
            SELL_INTERVAL_DAYS.saturating_mul(n) + jitter,
        ))
    }

    /// Moves prices to `date` (a split divides the walk's price on its day).
    fn start_day(&mut self, date: NaiveDate) {
        self.date = date;
        self.events_today = 0;
        if date == self.opening {
            return;
        }
        for (instrument, price) in self.instruments.iter().zip(self.prices.iter_mut()) {
            *price = self.dice.next_price(instrument, *price, date);
        }
        if let Some((index, split_date, ratio)) = self.split
            && split_date == date
            && let Some(price) = self.prices.get_mut(index)
        {
            *price = super::market::round_price(*price / ratio);
        }
    }

    fn cash(&self, currency: &str) -> Decimal {
        self.cash.get(currency).copied().unwrap_or_default()
    }

    fn record(&mut self, event: Event) {
        self.events_today += 1;
        *self.cash.entry(event.currency).or_default() += event.amount;
        self.transactions.push(Transaction {
            source_id: format!(
                "demo-{}-{}-{}",
                self.seed,
                self.date.format("%Y%m%d"),
                self.events_today
            ),
            kind: event.kind,
            trade_date: self.date,
            settle_date: Some(event.settle_date),
            asset: event.asset,
            quantity: event.quantity,
            price: event.price,
            amount: event.amount,
            fee: event.fee,
            currency: event.currency.to_owned(),
            description: Some(event.description),
        });
    }

    fn cash_event(
        &mut self,
        kind: TransactionType,
        amount: Decimal,
        currency: &'static str,
        description: String,
    ) {
        self.record(Event {
            kind,
            asset: None,
            quantity: None,
            price: None,
            amount,
            fee: None,
            currency,
            settle_date: self.date,
            description,
        });
    }

    /// Settlement: T+1 business day for listed securities, same day for crypto.
    fn settlement(&self, instrument: &Instrument) -> NaiveDate {
        if instrument.is_crypto() {
            self.date
        } else {
            next_weekday(add_days(self.date, 1))
        }
    }

    fn open_account(&mut self) {
        let usd = Decimal::from(25_000 + 1_000 * self.dice.roll("deposit", self.date, "USD", 76));
        let eur = Decimal::from(5_000 + 1_000 * self.dice.roll("deposit", self.date, "EUR", 16));
        for (currency, amount) in [(ACCOUNT_CURRENCY, usd), (SECOND_CURRENCY, eur)] {
            self.cash_event(
                TransactionType::Deposit,
                amount,
                currency,
                format!("Opening deposit {amount} {currency}"),
            );
        }
        for index in 0..self.instruments.len() {
            let (Some(instrument), Some(weight)) =
                (self.instruments.get(index), self.weights.get(index))
            else {
                continue;
            };
            let deposit = if instrument.currency == SECOND_CURRENCY {
                eur
            } else {
                usd
            };
            let budget = deposit * Decimal::from(*weight) / Decimal::ONE_HUNDRED;
            self.buy(index, budget);
        }
    }

    /// Buys as much of the instrument as `budget` allows, commission included, never more
    /// than the cash on hand.
    fn buy(&mut self, index: usize, budget: Decimal) {
        let (Some(instrument), Some(&price)) =
            (self.instruments.get(index).copied(), self.prices.get(index))
        else {
            return;
        };
        // Leave room for the commission: 1 % for crypto's 0.25 %, the flat fee otherwise.
        let net_budget = if instrument.is_crypto() {
            budget * Decimal::new(99, 2)
        } else {
            budget - instrument.commission(Decimal::ZERO)
        };
        let quantity = instrument.quantity_for(net_budget, price);
        if quantity <= Decimal::ZERO {
            return;
        }
        let notional = round_cents(quantity * price);
        let fee = instrument.commission(notional);
        let total = notional + fee;
        if total > self.cash(instrument.currency) {
            return;
        }
        if let Some(position) = self.positions.get_mut(index) {
            position.quantity += quantity;
            position.cost += total;
        }
        self.record(Event {
            kind: TransactionType::Buy,
            asset: Some(instrument.asset()),
            quantity: Some(quantity),
            price: Some(price),
            amount: -total,
            fee: (fee > Decimal::ZERO).then_some(fee),
            currency: instrument.currency,
            settle_date: self.settlement(&instrument),
            description: format!(
                "Buy {quantity} {} @ {price} {}",
                instrument.symbol, instrument.currency
            ),
        });
    }

    /// The split, on its day, while the position is held.
    fn corporate_actions(&mut self) {
        let Some((index, split_date, ratio)) = self.split else {
            return;
        };
        if split_date != self.date {
            return;
        }
        let (Some(instrument), Some(position)) = (
            self.instruments.get(index).copied(),
            self.positions.get_mut(index),
        ) else {
            return;
        };
        if position.quantity <= Decimal::ZERO {
            return;
        }
        let extra = position.quantity * (ratio - Decimal::ONE);
        position.quantity += extra;
        self.record(Event {
            kind: TransactionType::Split,
            asset: Some(instrument.asset()),
            quantity: Some(extra),
            price: None,
            amount: Decimal::ZERO,
            fee: None,
            currency: instrument.currency,
            settle_date: self.date,
            description: format!("{}-for-1 stock split of {}", ratio, instrument.symbol),
        });
    }

    /// Dividends (and withholding tax) on the first weekday from the 15th of payment months.
    fn pay_dividends(&mut self) {
        if !is_first_weekday_from(self.date, 15) {
            return;
        }
        let month = self.date.month();
        for index in 0..self.instruments.len() {
            let (Some(instrument), Some(position)) = (
                self.instruments.get(index).copied(),
                self.positions.get(index).copied(),
            ) else {
                continue;
            };
            let Some(policy) = instrument.dividend else {
                continue;
            };
            if !policy.months.contains(&month) || position.quantity <= Decimal::ZERO {
                continue;
            }
            let per_share = policy.per_share.get();
            let gross = round_cents(position.quantity * per_share);
            if gross <= Decimal::ZERO {
                continue;
            }
            self.record(Event {
                kind: TransactionType::Dividend,
                asset: Some(instrument.asset()),
                quantity: None,
                price: None,
                amount: gross,
                fee: None,
                currency: instrument.currency,
                settle_date: self.date,
                description: format!(
                    "{} dividend {per_share} {} per share on {} shares",
                    instrument.symbol, instrument.currency, position.quantity
                ),
            });
            let Some(pct) = policy.withholding_pct else {
                continue;
            };
            let pct = pct.get();
            let tax = round_cents(gross * pct / Decimal::ONE_HUNDRED);
            if tax > Decimal::ZERO {
                self.record(Event {
                    kind: TransactionType::Tax,
                    asset: Some(instrument.asset()),
                    quantity: None,
                    price: None,
                    amount: -tax,
                    fee: None,
                    currency: instrument.currency,
                    settle_date: self.date,
                    description: format!(
                        "Withholding tax {pct} % on {} dividend",
                        instrument.symbol
                    ),
                });
            }
        }
    }

    /// First weekday of a month: interest, the quarterly fee, the savings deposits and their
    /// investment.
    fn month_start(&mut self) {
        let month = self.date.month();
        for (currency, rate) in [
            (ACCOUNT_CURRENCY, USD_MONTHLY_INTEREST),
            (SECOND_CURRENCY, EUR_MONTHLY_INTEREST),
        ] {
            let interest = round_cents(self.cash(currency) * rate);
            if interest > Decimal::ZERO {
                self.cash_event(
                    TransactionType::Interest,
                    interest,
                    currency,
                    format!("Interest on {currency} cash"),
                );
            }
        }
        if FEE_MONTHS.contains(&month) && self.cash(ACCOUNT_CURRENCY) >= CUSTODY_FEE {
            self.cash_event(
                TransactionType::Fee,
                -CUSTODY_FEE,
                ACCOUNT_CURRENCY,
                "Quarterly custody fee".to_owned(),
            );
        }
        let usd =
            Decimal::from(500 + 100 * self.dice.roll("monthly-deposit", self.date, "USD", 21));
        self.cash_event(
            TransactionType::Deposit,
            usd,
            ACCOUNT_CURRENCY,
            format!("Monthly savings deposit {usd} {ACCOUNT_CURRENCY}"),
        );
        self.invest(ACCOUNT_CURRENCY, USD_RESERVE);
        if EUR_DEPOSIT_MONTHS.contains(&month) {
            let eur =
                Decimal::from(500 + 100 * self.dice.roll("monthly-deposit", self.date, "EUR", 11));
            self.cash_event(
                TransactionType::Deposit,
                eur,
                SECOND_CURRENCY,
                format!("Quarterly savings deposit {eur} {SECOND_CURRENCY}"),
            );
            self.invest(SECOND_CURRENCY, EUR_RESERVE);
        }
    }

    /// Invests the cash above `reserve` in one instrument of that currency, picked by the dice.
    fn invest(&mut self, currency: &'static str, reserve: Decimal) {
        let candidates: Vec<usize> = self
            .instruments
            .iter()
            .enumerate()
            .filter(|(_, i)| i.currency == currency)
            .map(|(index, _)| index)
            .collect();
        let pick = self
            .dice
            .roll("invest", self.date, currency, candidates.len() as u64);
        let Some(&index) = usize::try_from(pick).ok().and_then(|p| candidates.get(p)) else {
            return;
        };
        let budget = self.cash(currency) - reserve;
        self.buy(index, budget);
    }

    /// Sells 10–30 % of one held position, picked by the dice. Never the whole position, so
    /// everything bought at the opening stays held.
    fn rebalance(&mut self) {
        let held: Vec<usize> = self
            .positions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.quantity > Decimal::ZERO)
            .map(|(index, _)| index)
            .collect();
        let pick = self
            .dice
            .roll("sell", self.date, "position", held.len() as u64);
        let Some(&index) = usize::try_from(pick).ok().and_then(|p| held.get(p)) else {
            return;
        };
        let (Some(instrument), Some(&price), Some(position)) = (
            self.instruments.get(index).copied(),
            self.prices.get(index),
            self.positions.get(index).copied(),
        ) else {
            return;
        };
        let pct = Decimal::from(10 + self.dice.roll("sell", self.date, "fraction", 21));
        let wanted = position.quantity * pct / Decimal::ONE_HUNDRED;
        let mut quantity = if instrument.is_crypto() {
            floor_crypto_quantity(wanted)
        } else {
            wanted.floor()
        };
        if quantity.is_zero() && !instrument.is_crypto() && position.quantity >= Decimal::TWO {
            quantity = Decimal::ONE;
        }
        if quantity <= Decimal::ZERO || quantity >= position.quantity {
            return;
        }
        let notional = round_cents(quantity * price);
        let fee = instrument.commission(notional);
        let proceeds = notional - fee;
        if proceeds <= Decimal::ZERO {
            return;
        }
        let cost_sold = round_cents(position.cost * quantity / position.quantity);
        if let Some(position) = self.positions.get_mut(index) {
            position.quantity -= quantity;
            position.cost -= cost_sold;
        }
        self.record(Event {
            kind: TransactionType::Sell,
            asset: Some(instrument.asset()),
            quantity: Some(quantity),
            price: Some(price),
            amount: proceeds,
            fee: (fee > Decimal::ZERO).then_some(fee),
            currency: instrument.currency,
            settle_date: self.settlement(&instrument),
            description: format!(
                "Sell {quantity} {} @ {price} {} (rebalancing)",
                instrument.symbol, instrument.currency
            ),
        });
    }

    /// Holdings and balance at `now`, valued at the last simulated day's prices.
    fn finish(self, now: DateTime<Utc>) -> Ledger {
        let mut holdings = Vec::new();
        if !self.transactions.is_empty() {
            for ((instrument, position), price) in self
                .instruments
                .iter()
                .zip(&self.positions)
                .zip(&self.prices)
            {
                if position.quantity <= Decimal::ZERO {
                    continue;
                }
                holdings.push(Holding {
                    asset: instrument.asset(),
                    quantity: position.quantity,
                    cost_basis: Some(position.cost),
                    price: Some(*price),
                    market_value: Some(market_value(position.quantity, *price)),
                    as_of: now,
                });
            }
            for (currency, amount) in &self.cash {
                holdings.push(Holding {
                    asset: cash_asset(currency),
                    quantity: *amount,
                    cost_basis: Some(*amount),
                    price: Some(Decimal::ONE),
                    market_value: Some(*amount),
                    as_of: now,
                });
            }
        }
        let mut per_currency: BTreeMap<&str, Decimal> = BTreeMap::new();
        for holding in &holdings {
            *per_currency.entry(&holding.asset.currency).or_default() +=
                holding.market_value.unwrap_or_default();
        }
        let total = per_currency
            .into_iter()
            .map(|(currency, value)| to_account_currency(self.dice, currency, value, self.date))
            .sum();
        Ledger {
            transactions: self.transactions,
            holdings,
            balance: Balance {
                amount: total,
                currency: ACCOUNT_CURRENCY.to_owned(),
                as_of: now,
            },
        }
    }
}

/// quantity × price, to cents.
pub(crate) fn market_value(quantity: Decimal, price: Decimal) -> Decimal {
    round_cents(quantity * price)
}

fn cash_asset(currency: &str) -> AssetRef {
    let name = match currency {
        "USD" => "US Dollar",
        "EUR" => "Euro",
        other => other,
    };
    AssetRef {
        asset_id: format!("CASH:{currency}"),
        symbol: currency.to_owned(),
        name: name.to_owned(),
        class: AssetClass::Cash,
        currency: currency.to_owned(),
        exchange: None,
    }
}
