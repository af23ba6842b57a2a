//! The price-update scheduler with an injected clock: equities skip weekends and configured
//! holidays, crypto refreshes around the clock, each class on its own interval.

use chrono::{DateTime, TimeZone, Utc};
use tributary_api::jobs::prices::{MarketClosed, tick};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

use crate::market_mocks::*;

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time")
}

#[tokio::test]
async fn equities_skip_weekends_and_holidays_while_crypto_refreshes_around_the_clock() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(body(TIINGO_IEX))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/simple/price"))
        .respond_with(body(CG_SIMPLE_PRICE))
        .mount(&server)
        .await;
    // Monday 2026-11-23 is an (operator-configured) holiday.
    let app = app_with_mock(
        &server,
        true,
        &[
            ("TRIBUTARY__PRICES__HOLIDAYS", "2026-11-23,2026-12-25"),
            ("TRIBUTARY__PRICES__CRYPTO_INTERVAL_SECS", "300"),
            ("TRIBUTARY__PRICES__EQUITY_INTERVAL_SECS", "900"),
        ],
    )
    .await;
    let user = user_with_base(&app, "USD").await;
    let acc = account(&app, &user.access_token, "Main", "USD").await;
    seed_holding(&app, &acc, &AAPL, "10", None, None).await;
    seed_holding(&app, &acc, &BTC, "0.25", None, None).await;
    let ctx = app.ctx.clone();
    let quoted = || async {
        app.sql_texts("SELECT asset_key || ' ' || source FROM quotes ORDER BY asset_key")
            .await
    };

    // Saturday: crypto only.
    let saturday = tick(&ctx, at(2026, 11, 21, 10, 0)).await.expect("tick");
    assert_eq!(saturday.equities_closed, Some(MarketClosed::Weekend));
    assert_eq!((saturday.due, saturday.priced), (1, 1));
    assert_eq!(quoted().await, ["CRYPTO:BTC coingecko"]);
    assert_eq!(requests_to(&server, "/iex/").await, 0);

    // One minute later nothing is due (crypto interval 5 min).
    let soon = tick(&ctx, at(2026, 11, 21, 10, 1)).await.expect("tick");
    assert_eq!(soon.due, 0);
    // Sunday: crypto again, equities still closed.
    let sunday = tick(&ctx, at(2026, 11, 22, 10, 0)).await.expect("tick");
    assert_eq!(
        (sunday.equities_closed, sunday.due),
        (Some(MarketClosed::Weekend), 1)
    );
    // Monday is a holiday.
    let holiday = tick(&ctx, at(2026, 11, 23, 15, 0)).await.expect("tick");
    assert_eq!(holiday.equities_closed, Some(MarketClosed::Holiday));
    assert_eq!(holiday.due, 1);
    assert_eq!(requests_to(&server, "/iex/").await, 0);

    // Tuesday: equities too.
    let tuesday = tick(&ctx, at(2026, 11, 24, 15, 0)).await.expect("tick");
    assert_eq!(tuesday.equities_closed, None);
    assert_eq!((tuesday.due, tuesday.priced, tuesday.failed), (2, 2, 0));
    assert_eq!(
        quoted().await,
        ["CRYPTO:BTC coingecko", "EQUITY:XNAS:AAPL tiingo"]
    );
    assert_eq!(requests_to(&server, "/iex/").await, 1);
    let updated = app
        .sql_texts("SELECT source FROM data_source_metadata WHERE asset_key = 'EQUITY:XNAS:AAPL'")
        .await;
    assert_eq!(updated, ["tiingo"]);
    // Ten minutes later: crypto due again (5 min), equities not yet (15 min).
    let later = tick(&ctx, at(2026, 11, 24, 15, 10)).await.expect("tick");
    assert_eq!(later.due, 1);
}
