use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeDelta, TimeZone};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::types::{AssetClass, TransactionType};

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 15, 30, 0)
        .single()
        .expect("valid test date")
}

fn config(seed: u64, profile: Profile) -> DemoConfig {
    DemoConfig {
        profile,
        ..DemoConfig::with_seed(seed)
    }
}

struct Snapshot {
    holdings: Vec<Holding>,
    transactions: Vec<Transaction>,
    balance: Balance,
    cursor: Option<String>,
}

async fn snapshot(config: DemoConfig, now: DateTime<Utc>) -> Snapshot {
    let connector = DemoConnector::new(config, now);
    let holdings = connector.holdings().await.expect("holdings");
    let (transactions, cursor) = connector.transactions(None).await.expect("transactions");
    let balance = connector.balance().await.expect("balance");
    Snapshot {
        holdings,
        transactions,
        balance,
        cursor,
    }
}

/// A spread of seeds, profiles and "now"s the property tests run over.
fn cases() -> Vec<(DemoConfig, DateTime<Utc>)> {
    let mut cases = Vec::new();
    for profile in Profile::ALL {
        for seed in [0, 1, 42, 7_777, MAX_SEED] {
            cases.push((config(seed, profile), at(2026, 3, 10)));
        }
        cases.push((config(42, profile), at(2026, 11, 22)));
    }
    cases
}

#[tokio::test]
async fn same_inputs_give_identical_output() {
    for (config, now) in cases() {
        let a = snapshot(config.clone(), now).await;
        let b = snapshot(config, now).await;
        assert_eq!(a.holdings, b.holdings);
        assert_eq!(a.transactions, b.transactions);
        assert_eq!(a.balance, b.balance);
    }
}

#[tokio::test]
async fn different_seeds_give_different_portfolios() {
    let now = at(2026, 3, 10);
    let a = snapshot(config(1, Profile::Balanced), now).await;
    let b = snapshot(config(2, Profile::Balanced), now).await;
    assert_ne!(a.transactions, b.transactions);
    assert_ne!(a.holdings, b.holdings);
    assert_ne!(a.balance.amount, b.balance.amount);
}

#[tokio::test]
async fn profiles_hold_what_they_promise() {
    let now = at(2026, 3, 10);
    let classes = |h: &[Holding]| -> Vec<AssetClass> { h.iter().map(|h| h.asset.class).collect() };
    let balanced = snapshot(config(5, Profile::Balanced), now).await;
    let symbols: BTreeSet<&str> = balanced
        .holdings
        .iter()
        .map(|h| h.asset.symbol.as_str())
        .collect();
    for symbol in ["AAPL", "VTI", "BND", "BTC", "USD", "EUR"] {
        assert!(symbols.contains(symbol), "balanced lacks {symbol}");
    }
    let crypto = snapshot(config(5, Profile::Crypto), now).await;
    let crypto_count = classes(&crypto.holdings)
        .into_iter()
        .filter(|c| *c == AssetClass::Crypto)
        .count();
    assert!(crypto_count >= 3);
    let income = snapshot(config(5, Profile::Income), now).await;
    assert!(
        income
            .holdings
            .iter()
            .any(|h| h.asset.asset_id == "EQUITY:ARCX:SCHD" && h.asset.class == AssetClass::Etf)
    );
    for snap in [&balanced, &crypto, &income] {
        let ids: Vec<&str> = snap
            .holdings
            .iter()
            .map(|h| h.asset.asset_id.as_str())
            .collect();
        assert!(
            ids.contains(&"CASH:USD") && ids.contains(&"CASH:EUR"),
            "{ids:?}"
        );
        assert!(ids.iter().any(|id| id.starts_with("CRYPTO:")), "{ids:?}");
    }
}

#[tokio::test]
async fn source_ids_and_content_are_stable_when_now_moves_forward() {
    for (config, now) in cases() {
        let later = now + TimeDelta::days(30);
        let before = snapshot(config.clone(), now).await;
        let after = snapshot(config, later).await;
        assert!(after.transactions.len() > before.transactions.len());
        assert_eq!(
            after.transactions[..before.transactions.len()],
            before.transactions[..],
            "the earlier ledger must be a prefix of the later one"
        );
        let cutoff = now.date_naive();
        assert!(
            after.transactions[before.transactions.len()..]
                .iter()
                .all(|t| t.trade_date > cutoff)
        );
    }
}

#[tokio::test]
async fn source_ids_are_unique_and_well_formed() {
    for (config, now) in cases() {
        let seed = config.seed;
        let snap = snapshot(config, now).await;
        let ids: BTreeSet<&str> = snap
            .transactions
            .iter()
            .map(|t| t.source_id.as_str())
            .collect();
        assert_eq!(ids.len(), snap.transactions.len());
        for t in &snap.transactions {
            let prefix = format!("demo-{seed}-{}-", t.trade_date.format("%Y%m%d"));
            let n = t.source_id.strip_prefix(&prefix).map(str::parse::<u32>);
            assert!(matches!(n, Some(Ok(n)) if n >= 1), "{}", t.source_id);
        }
    }
}

#[tokio::test]
async fn no_event_is_after_now_or_before_the_opening() {
    for (config, now) in cases() {
        let opening = DemoConnector::opening_date(config.seed);
        let snap = snapshot(config, now).await;
        let dates: Vec<NaiveDate> = snap.transactions.iter().map(|t| t.trade_date).collect();
        assert!(dates.windows(2).all(|w| w[0] <= w[1]), "chronological");
        assert_eq!(dates.first(), Some(&opening));
        assert!(dates.iter().all(|d| *d <= now.date_naive()));
        assert!(opening >= NaiveDate::from_ymd_opt(2025, 1, 2).expect("date"));
        assert!(opening <= NaiveDate::from_ymd_opt(2025, 3, 5).expect("date"));
    }
}

#[tokio::test]
async fn an_account_that_has_not_opened_yet_is_empty() {
    let snap = snapshot(config(3, Profile::Balanced), at(2024, 12, 31)).await;
    assert!(snap.transactions.is_empty());
    assert!(snap.holdings.is_empty());
    assert_eq!(snap.balance.amount, Decimal::ZERO);
    assert_eq!(snap.cursor, None);
}

#[tokio::test]
async fn holdings_equal_the_sum_of_transactions() {
    for (config, now) in cases() {
        let snap = snapshot(config, now).await;
        let mut quantities: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut cash: BTreeMap<String, Decimal> = BTreeMap::new();
        for t in &snap.transactions {
            *cash.entry(format!("CASH:{}", t.currency)).or_default() += t.amount;
            let Some(asset) = &t.asset else { continue };
            let quantity = t.quantity.unwrap_or_default();
            let signed = match t.kind {
                TransactionType::Buy | TransactionType::Split => quantity,
                TransactionType::Sell => -quantity,
                _ => Decimal::ZERO,
            };
            *quantities.entry(asset.asset_id.clone()).or_default() += signed;
        }
        quantities.retain(|_, q| !q.is_zero());
        let mut expected = quantities;
        expected.extend(cash);
        let actual: BTreeMap<String, Decimal> = snap
            .holdings
            .iter()
            .map(|h| (h.asset.asset_id.clone(), h.quantity))
            .collect();
        assert_eq!(actual, expected);
        assert_eq!(actual.len(), snap.holdings.len(), "one holding per asset");
    }
}

#[tokio::test]
async fn cash_never_goes_negative() {
    for (config, now) in cases() {
        let snap = snapshot(config, now).await;
        let mut cash: BTreeMap<&str, Decimal> = BTreeMap::new();
        for t in &snap.transactions {
            let balance = cash.entry(t.currency.as_str()).or_default();
            *balance += t.amount;
            assert!(
                *balance >= Decimal::ZERO,
                "{} leaves {balance}",
                t.source_id
            );
        }
    }
}

#[tokio::test]
async fn cost_basis_is_the_average_cost_of_what_is_held() {
    let snap = snapshot(config(42, Profile::Balanced), at(2026, 3, 10)).await;
    // Replay average cost for every non-cash asset.
    let mut book: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for t in &snap.transactions {
        let Some(asset) = &t.asset else { continue };
        let (quantity, cost) = book.entry(asset.asset_id.clone()).or_default();
        let q = t.quantity.unwrap_or_default();
        match t.kind {
            TransactionType::Buy => {
                *quantity += q;
                *cost += -t.amount;
            }
            TransactionType::Sell => {
                *cost -= market::round_cents(*cost * q / *quantity);
                *quantity -= q;
            }
            TransactionType::Split => *quantity += q,
            _ => {}
        }
    }
    for h in snap
        .holdings
        .iter()
        .filter(|h| h.asset.class != AssetClass::Cash)
    {
        let (quantity, cost) = book.get(&h.asset.asset_id).copied().unwrap_or_default();
        assert_eq!(h.quantity, quantity);
        assert_eq!(h.cost_basis, Some(cost), "{}", h.asset.asset_id);
        assert!(cost > Decimal::ZERO);
    }
}

#[tokio::test]
async fn every_required_transaction_type_appears_within_a_year() {
    let required = [
        TransactionType::Buy,
        TransactionType::Sell,
        TransactionType::Dividend,
        TransactionType::Interest,
        TransactionType::Fee,
        TransactionType::Deposit,
        TransactionType::Split,
        TransactionType::Tax,
    ];
    for profile in Profile::ALL {
        for seed in [0, 1, 2, 3, 42, 99, 1_000, MAX_SEED] {
            let opening = DemoConnector::opening_date(seed);
            let now = opening
                .checked_add_days(chrono::Days::new(365))
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .expect("date")
                .and_utc();
            let snap = snapshot(config(seed, profile), now).await;
            let kinds: BTreeSet<&str> = snap.transactions.iter().map(|t| t.kind.as_str()).collect();
            for kind in required {
                assert!(
                    kinds.contains(kind.as_str()),
                    "{profile:?} seed {seed} lacks {kind:?}: {kinds:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn amounts_carry_the_documented_signs_and_shapes() {
    for (config, now) in cases() {
        let snap = snapshot(config, now).await;
        for t in &snap.transactions {
            let sign_ok = match t.kind {
                TransactionType::Buy | TransactionType::Tax | TransactionType::Fee => {
                    t.amount < Decimal::ZERO
                }
                TransactionType::Sell
                | TransactionType::Dividend
                | TransactionType::Deposit
                | TransactionType::Interest => t.amount > Decimal::ZERO,
                TransactionType::Split => t.amount.is_zero(),
                other => panic!("unexpected kind {other:?}"),
            };
            assert!(sign_ok, "{t:?}");
            assert!(t.amount.scale() <= 2, "{t:?}");
            assert!(t.currency == "USD" || t.currency == "EUR");
            assert!(t.quantity.is_none_or(|q| q > Decimal::ZERO), "{t:?}");
            assert!(
                t.price.is_none_or(|p| p > Decimal::ZERO && p.scale() <= 2),
                "{t:?}"
            );
            assert!(t.fee.is_none_or(|f| f > Decimal::ZERO), "{t:?}");
            assert!(t.settle_date.is_some_and(|s| s >= t.trade_date));
            match t.kind {
                TransactionType::Buy | TransactionType::Sell => {
                    let asset = t.asset.as_ref().expect("trades name the asset");
                    let quantity = t.quantity.expect("trades carry a quantity");
                    let price = t.price.expect("trades carry a price");
                    let notional = market::round_cents(quantity * price);
                    let fee = t.fee.unwrap_or_default();
                    let expected = if t.kind == TransactionType::Buy {
                        -(notional + fee)
                    } else {
                        notional - fee
                    };
                    assert_eq!(t.amount, expected, "{t:?}");
                    if asset.class == AssetClass::Crypto {
                        assert!(quantity.scale() <= 8);
                    } else {
                        assert_eq!(quantity, quantity.trunc(), "whole shares: {t:?}");
                    }
                }
                TransactionType::Split => {
                    assert!(t.asset.is_some() && t.quantity.is_some() && t.price.is_none());
                }
                TransactionType::Dividend | TransactionType::Tax => assert!(t.asset.is_some()),
                _ => assert!(t.asset.is_none(), "cash movements carry no asset"),
            }
        }
    }
}

#[tokio::test]
async fn market_values_and_balance_are_exact() {
    for (config, now) in cases() {
        let seed = config.seed;
        let snap = snapshot(config, now).await;
        let mut per_currency: BTreeMap<&str, Decimal> = BTreeMap::new();
        for h in &snap.holdings {
            let price = h.price.expect("price");
            assert_eq!(
                h.market_value,
                Some(market::round_cents(h.quantity * price))
            );
            assert_eq!(h.as_of, now);
            assert!(h.quantity >= Decimal::ZERO);
            *per_currency.entry(h.asset.currency.as_str()).or_default() +=
                h.market_value.unwrap_or_default();
        }
        let rate = market::Dice::new(seed).eur_usd(now.date_naive());
        let eur = per_currency.get("EUR").copied().unwrap_or_default();
        let usd = per_currency.get("USD").copied().unwrap_or_default();
        assert_eq!(snap.balance.amount, usd + market::round_cents(eur * rate));
        assert_eq!(snap.balance.currency, "USD");
        assert_eq!(snap.balance.as_of, now);
        assert!(snap.balance.amount > dec!(10000));
    }
}

#[tokio::test]
async fn the_split_multiplies_the_position_and_divides_the_price() {
    let snap = snapshot(config(42, Profile::Balanced), at(2026, 3, 10)).await;
    let split = snap
        .transactions
        .iter()
        .find(|t| t.kind == TransactionType::Split)
        .expect("a split");
    let asset_id = &split.asset.as_ref().expect("asset").asset_id;
    assert_eq!(asset_id, "EQUITY:XNAS:NVDA");
    let held_before: Decimal = snap
        .transactions
        .iter()
        .take_while(|t| t.source_id != split.source_id)
        .filter(|t| t.asset.as_ref().is_some_and(|a| &a.asset_id == asset_id))
        .map(|t| match t.kind {
            TransactionType::Buy => t.quantity.unwrap_or_default(),
            TransactionType::Sell => -t.quantity.unwrap_or_default(),
            _ => Decimal::ZERO,
        })
        .sum();
    let extra = split.quantity.expect("extra shares");
    let ratio = (held_before + extra) / held_before;
    assert!(
        [dec!(2), dec!(3), dec!(4)].contains(&ratio),
        "ratio {ratio}"
    );
}

#[tokio::test]
async fn the_password_must_be_demo_when_set() {
    let now = at(2026, 3, 10);
    let ok = DemoConnector::new(
        DemoConfig {
            password: Some("demo".into()),
            ..DemoConfig::with_seed(1)
        },
        now,
    );
    assert!(ok.health_check().await.is_ok());
    let wrong = DemoConnector::new(
        DemoConfig {
            password: Some("Demo".into()),
            ..DemoConfig::with_seed(1)
        },
        now,
    );
    assert_every_call_fails(&wrong, |e| matches!(e, ConnectorError::Authentication(_))).await;
}

#[tokio::test]
async fn fail_modes_fail_every_call() {
    let now = at(2026, 3, 10);
    let connector = |fail_mode| {
        DemoConnector::new(
            DemoConfig {
                fail_mode,
                ..DemoConfig::with_seed(1)
            },
            now,
        )
    };
    assert_every_call_fails(&connector(FailMode::Auth), |e| {
        matches!(e, ConnectorError::Authentication(_)) && e.needs_reauth()
    })
    .await;
    assert_every_call_fails(&connector(FailMode::RateLimit), |e| {
        matches!(e, ConnectorError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(60))
    })
    .await;
    assert_every_call_fails(&connector(FailMode::ServerError), |e| {
        matches!(e, ConnectorError::Upstream { status: 503, .. }) && e.is_retryable()
    })
    .await;
}

async fn assert_every_call_fails(
    connector: &DemoConnector,
    expected: impl Fn(&ConnectorError) -> bool,
) {
    let errors = [
        connector.health_check().await.err(),
        connector.accounts().await.err(),
        connector.holdings().await.err(),
        connector.balance().await.err(),
        connector.transactions(None).await.err(),
        connector.transactions(Some("2025-06-01")).await.err(),
    ];
    for error in errors {
        let error = error.expect("the call must fail");
        assert!(expected(&error), "unexpected error {error:?}");
    }
}

#[tokio::test]
async fn accounts_and_health_check_describe_the_demo_account() {
    let connector = DemoConnector::new(config(42, Profile::Income), at(2026, 3, 10));
    let accounts = connector.accounts().await.expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].id, "DEMO-42");
    assert_eq!(accounts[0].currency, "USD");
    let check = connector.health_check().await.expect("health");
    assert_eq!(
        check.message,
        "Connected to the demo broker (profile income, seed 42)"
    );
}

#[tokio::test]
async fn the_cursor_returns_only_later_trade_dates() {
    let connector = DemoConnector::new(config(42, Profile::Balanced), at(2026, 3, 10));
    let (all, cursor) = connector.transactions(None).await.expect("all");
    let last = all.last().expect("some transactions").trade_date;
    assert_eq!(cursor, Some(last.format("%Y-%m-%d").to_string()));

    let middle = all[all.len() / 2].trade_date;
    let middle_cursor = middle.format("%Y-%m-%d").to_string();
    let (later, next) = connector
        .transactions(Some(&middle_cursor))
        .await
        .expect("later");
    let expected: Vec<Transaction> = all
        .iter()
        .filter(|t| t.trade_date > middle)
        .cloned()
        .collect();
    assert!(!later.is_empty());
    assert_eq!(later, expected);
    assert_eq!(next, cursor);

    let (none, same) = connector
        .transactions(cursor.as_deref())
        .await
        .expect("none");
    assert!(none.is_empty());
    assert_eq!(same, cursor);

    let (future, kept) = connector
        .transactions(Some("2030-01-01"))
        .await
        .expect("future");
    assert!(future.is_empty());
    assert_eq!(kept.as_deref(), Some("2030-01-01"));
}

#[tokio::test]
async fn a_cursor_from_an_earlier_sync_picks_up_exactly_the_new_days() {
    let config = config(9, Profile::Crypto);
    let first = DemoConnector::new(config.clone(), at(2026, 2, 1));
    let (seen, cursor) = first.transactions(None).await.expect("first sync");
    let second = DemoConnector::new(config, at(2026, 3, 15));
    let (new, _) = second
        .transactions(cursor.as_deref())
        .await
        .expect("second sync");
    let (all, _) = second.transactions(None).await.expect("full");
    let mut combined = seen;
    combined.extend(new);
    assert_eq!(combined, all);
}

#[tokio::test]
async fn an_unparseable_cursor_is_a_decode_error() {
    let connector = DemoConnector::new(config(42, Profile::Balanced), at(2026, 3, 10));
    for cursor in ["", "yesterday", "2026-13-01", "20260101"] {
        assert!(
            matches!(
                connector.transactions(Some(cursor)).await,
                Err(ConnectorError::Decode(_))
            ),
            "{cursor:?}"
        );
    }
}
