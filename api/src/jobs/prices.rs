//! The price-update scheduler: keeps the stored quotes of every held asset, and the FX rates
//! valuations need, fresh. Each asset class has its own interval; equities (and ETFs, funds,
//! bonds) are not refreshed on weekends and operator-configured holidays, crypto runs around
//! the clock. Provider budgets are enforced by the chain's rate limiters: a spent budget shows
//! up as a failed refresh and is retried on a later tick.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc, Weekday};
use tributary_connectors::market::PriceClass;

use crate::repo;
use crate::services::AppContext;
use crate::services::market::instrument_of;

/// Why equities were not refreshed on a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketClosed {
    Weekend,
    Holiday,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTick {
    /// Set when equities were skipped.
    pub equities_closed: Option<MarketClosed>,
    /// Assets whose refresh was due (and attempted).
    pub due: usize,
    pub priced: usize,
    pub failed: usize,
    pub fx_priced: usize,
    pub fx_failed: usize,
}

/// Runs [`tick`] every `prices.tick_secs` until aborted.
pub fn spawn(ctx: Arc<AppContext>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(ctx.settings.prices.tick_secs.max(1));
        loop {
            match tick(&ctx, Utc::now()).await {
                Ok(t) if t.due > 0 || t.fx_priced + t.fx_failed > 0 => {
                    tracing::info!(
                        due = t.due,
                        priced = t.priced,
                        failed = t.failed,
                        fx_priced = t.fx_priced,
                        fx_failed = t.fx_failed,
                        "price refresh"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "price refresh failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Whether equity markets are closed at `now` (UTC calendar date).
#[must_use]
pub fn equities_closed(ctx: &AppContext, now: DateTime<Utc>) -> Option<MarketClosed> {
    if matches!(now.weekday(), Weekday::Sat | Weekday::Sun) {
        return Some(MarketClosed::Weekend);
    }
    ctx.settings
        .prices
        .holiday_dates()
        .contains(&now.date_naive())
        .then_some(MarketClosed::Holiday)
}

fn interval(ctx: &AppContext, class: PriceClass) -> chrono::Duration {
    let p = &ctx.settings.prices;
    let secs = match class {
        PriceClass::Equity => p.equity_interval_secs,
        PriceClass::Crypto => p.crypto_interval_secs,
        PriceClass::Fx => p.fx_interval_secs,
    };
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
}

/// One pass at `now` (injectable for tests): refreshes every held asset whose class interval
/// has elapsed since its last price update (or last failed attempt), then the FX rates whose
/// interval has elapsed.
///
/// # Errors
/// Database errors.
pub async fn tick(ctx: &AppContext, now: DateTime<Utc>) -> anyhow::Result<PriceTick> {
    let mut report = PriceTick {
        equities_closed: equities_closed(ctx, now),
        ..PriceTick::default()
    };
    let held = repo::market::held_assets(&ctx.db).await?;
    let keys: Vec<String> = held.iter().map(|a| a.asset_key.clone()).collect();
    let meta = repo::market::metadata_by_keys(&ctx.db, &keys).await?;
    let due: Vec<_> = held
        .into_iter()
        .filter(|a| {
            let class = instrument_of(a).price_class();
            // Cash is valued through FX rates, not quotes.
            if class == PriceClass::Fx {
                return false;
            }
            if class == PriceClass::Equity && report.equities_closed.is_some() {
                return false;
            }
            let last = meta.get(&a.asset_key).and_then(|m| {
                let failed_at = (m.consecutive_failures > 0).then_some(m.updated_at);
                m.last_price_update.max(failed_at)
            });
            last.is_none_or(|last| now - last >= interval(ctx, class))
        })
        .collect();
    report.due = due.len();
    if !due.is_empty() {
        let count = ctx.market().refresh_quotes(&due, now).await?;
        report.priced = count.priced;
        report.failed = count.failed;
    }
    let fx_every = interval(ctx, PriceClass::Fx);
    let mut pairs = Vec::new();
    for (base, quote) in repo::market::held_currency_pairs(&ctx.db).await? {
        let stored = repo::market::fx_on_or_before(&ctx.db, &base, &quote, None).await?;
        if stored.is_none_or(|s| now - s.updated_at >= fx_every) {
            pairs.push((base, quote));
        }
    }
    if !pairs.is_empty() {
        let count = ctx.market().refresh_fx(&pairs).await?;
        report.fx_priced = count.priced;
        report.fx_failed = count.failed;
    }
    Ok(report)
}
