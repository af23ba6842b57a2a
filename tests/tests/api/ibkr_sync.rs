//! The Interactive Brokers integration end to end, through the running server: an account with
//! an `IBKR` integration in each mode (Flex Web Service, Client Portal gateway, TWS) syncs
//! against the loopback mocks, and the holdings, transactions, balance, job records and
//! integration status that come back through the REST API are checked exactly. Also: Flex
//! backfill and resume after a failure mid-way, provider faults, the host allowlist and config
//! validation, Flex file uploads sharing the sync's source, token-expiry warnings and tenancy.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tributary_tests::mocks::ibkr_flex::{FlexMock, Period};
use tributary_tests::mocks::ibkr_gateway::{GatewayMock, MAIN_ACCOUNT};
use tributary_tests::mocks::tws::{
    MockAccount, MockCommission, MockContract, MockExecution, MockPosition, MockSummaryRow,
    TwsData, TwsMock,
};
use tributary_tests::{AppOptions, TestApp, TestResponse, TestUser, captured_logs, spawn_app_with};
use uuid::Uuid;

use crate::pipeline_support::{duplicate_row_groups, jobs_env, wait_finished};

/// The fixture with two accounts: `U1234567` (USD, opened 2019-03-15, Q1 2025) and `U7654321`.
const MULTI_ACCOUNT: &[u8] =
    include_bytes!("../../../connectors/tests/fixtures/ibkr/flex_multi_account.xml");
/// The same statement cut off in the middle of a `<Trade>` row.
const TRUNCATED: &[u8] =
    include_bytes!("../../../connectors/tests/fixtures/ibkr/flex_truncated.xml");

const QUERY_ID: &str = "987654";
const SECOND_ACCOUNT: &str = "U7654321";

/// A calendar day.
fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
}
/// The fixture's period for `U1234567`, and the day the account was opened.
fn fixture_from() -> NaiveDate {
    day(2025, 1, 1)
}
fn fixture_to() -> NaiveDate {
    day(2025, 3, 31)
}
fn date_opened() -> NaiveDate {
    day(2019, 3, 15)
}
/// The one trade the backfill finds, in the chunk that covers it.
fn old_trade_day() -> NaiveDate {
    day(2023, 6, 15)
}
/// The one trade after the fixture's period, found by the incremental requests.
fn recent_trade_day() -> NaiveDate {
    Utc::now().date_naive() - Days::new(2)
}
/// The trades the chunk statements add to the fixture's (see `serve_fixture_and_chunks`).
const HISTORY: usize = 2;

/// The fixture's `U1234567` ledger: 10 trades (7 buys counting the reversal of a cancelled
/// sell, 3 sells), a split and a two-leg merger, an ACATS transfer in, and 8 cash rows.
fn fixture_counts() -> BTreeMap<String, usize> {
    counts(&[
        ("buy", 7),
        ("sell", 3),
        ("split", 1),
        ("merger", 2),
        ("transfer", 1),
        ("deposit", 1),
        ("withdrawal", 2),
        ("dividend", 2),
        ("tax", 1),
        ("interest", 2),
        ("fee", 1),
    ])
}
const FIXTURE_TRANSACTIONS: usize = 23;

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// A token unique to the test, so a log check cannot be fooled by another test's token.
fn flex_token() -> String {
    format!("flex{}", Uuid::new_v4().simple())
}

fn dec(v: &Value) -> Decimal {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a decimal: {other}"),
    };
    Decimal::from_str(&text).unwrap_or_else(|e| panic!("not a decimal {text:?}: {e}"))
}

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("bad decimal literal {text}: {e}"))
}

fn yyyymmdd(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// A `FlexQueryResponse` for one account over a period, in the fixture's format, with the rows
/// given (the `<Trades>` section).
fn statement(account: &str, from: NaiveDate, to: NaiveDate, trades: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <FlexQueryResponse queryName=\"Tributary full history\" type=\"AF\">\n\
         <FlexStatements count=\"1\">\n\
         <FlexStatement accountId=\"{account}\" fromDate=\"{from}\" toDate=\"{to}\" period=\"Custom\" whenGenerated=\"20261101;083015\">\n\
         <AccountInformation accountId=\"{account}\" acctAlias=\"Main brokerage\" currency=\"USD\" name=\"Jane Q Investor\" accountType=\"Individual\" dateOpened=\"20190315\" />\n\
         <Trades>\n{trades}</Trades>\n\
         </FlexStatement>\n\
         </FlexStatements>\n\
         </FlexQueryResponse>\n",
        from = yyyymmdd(from),
        to = yyyymmdd(to),
    )
    .into_bytes()
}

/// 10 MSFT bought on 2023-06-15 at 250 with a 1 USD commission.
fn old_trade_row() -> String {
    "<Trade accountId=\"U1234567\" acctAlias=\"\" model=\"\" currency=\"USD\" fxRateToBase=\"1\" \
     assetCategory=\"STK\" subCategory=\"COMMON\" symbol=\"MSFT\" description=\"MICROSOFT CORP\" \
     conid=\"272093\" securityID=\"US5949181045\" securityIDType=\"ISIN\" isin=\"US5949181045\" \
     listingExchange=\"NASDAQ\" multiplier=\"1\" reportDate=\"20230615\" \
     dateTime=\"20230615;101500\" tradeDate=\"20230615\" settleDateTarget=\"20230616\" \
     transactionType=\"ExchTrade\" exchange=\"NASDAQ\" quantity=\"10\" tradePrice=\"250\" \
     tradeMoney=\"2500\" proceeds=\"-2500\" taxes=\"0\" ibCommission=\"-1\" \
     ibCommissionCurrency=\"USD\" netCash=\"-2501\" openCloseIndicator=\"O\" \
     transactionID=\"19347110001\" buySell=\"BUY\" levelOfDetail=\"EXECUTION\" \
     tradeID=\"618823301\" />\n"
        .to_owned()
}

/// 5 MSFT sold two days ago at 410 with a 1 USD commission.
fn recent_trade_row() -> String {
    let day = yyyymmdd(recent_trade_day());
    format!(
        "<Trade accountId=\"U1234567\" currency=\"USD\" fxRateToBase=\"1\" assetCategory=\"STK\" \
         subCategory=\"COMMON\" symbol=\"MSFT\" description=\"MICROSOFT CORP\" conid=\"272093\" \
         isin=\"US5949181045\" listingExchange=\"NASDAQ\" multiplier=\"1\" reportDate=\"{day}\" \
         dateTime=\"{day};143000\" tradeDate=\"{day}\" transactionType=\"ExchTrade\" \
         exchange=\"NASDAQ\" quantity=\"-5\" tradePrice=\"410\" proceeds=\"2050\" taxes=\"0\" \
         ibCommission=\"-1\" ibCommissionCurrency=\"USD\" netCash=\"2049\" \
         transactionID=\"49347110001\" buySell=\"SELL\" levelOfDetail=\"EXECUTION\" \
         tradeID=\"818823301\" />\n"
    )
}

/// What the Flex mock serves: the multi-account fixture for the query's own period, and for an
/// explicit period (a backfill or incremental chunk) a statement of `U1234567` for exactly that
/// period, holding (when `history`) the old and the recent trade if the period covers its day.
fn serve_fixture_and_chunks(mock: &FlexMock, history: bool) {
    mock.set_statement_for(move |from, to| match (from, to) {
        (Some(from), Some(to)) => {
            let mut rows = String::new();
            if history && (from..=to).contains(&old_trade_day()) {
                rows.push_str(&old_trade_row());
            }
            if history && (from..=to).contains(&recent_trade_day()) {
                rows.push_str(&recent_trade_row());
            }
            statement(MAIN_ACCOUNT, from, to, &rows)
        }
        _ => MULTI_ACCOUNT.to_vec(),
    });
}

/// Moves the account's stored sync position back to `to:<day>`, as if the last sync had been
/// on that day.
async fn synced_up_to(app: &TestApp, account: &str, day: NaiveDate) {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let id = Uuid::parse_str(account).expect("account id");
    let row = tributary_entity::account::Entity::find_by_id(id)
        .one(&app.ctx.db)
        .await
        .expect("read the account")
        .expect("the account exists");
    let mut m: tributary_entity::account::ActiveModel = row.into();
    m.sync_cursor = Set(Some(format!("to:{day}")));
    m.update(&app.ctx.db).await.expect("store the cursor");
}

/// The backfill chunks from the day before the fixture's period back to the opening day: 365
/// days each (the last one shorter), newest first.
fn backfill_chunks() -> Vec<Period> {
    [
        ((2024, 1, 2), (2024, 12, 31)),
        ((2023, 1, 2), (2024, 1, 1)),
        ((2022, 1, 2), (2023, 1, 1)),
        ((2021, 1, 2), (2022, 1, 1)),
        ((2020, 1, 3), (2021, 1, 1)),
        ((2019, 3, 15), (2020, 1, 2)),
    ]
    .into_iter()
    .map(|((fy, fm, fd), (ty, tm, td))| (Some(day(fy, fm, fd)), Some(day(ty, tm, td))))
    .collect()
}

/// Settings pointing the Flex client at the mock, with tiny poll intervals.
fn flex_env(mock: &FlexMock, poll_initial_ms: u64) -> Vec<(String, String)> {
    vec![
        (
            "TRIBUTARY__PROVIDERS__IBKR_FLEX__BASE_URL".into(),
            mock.base_url(),
        ),
        (
            "TRIBUTARY__PROVIDERS__IBKR_FLEX__POLL_INITIAL_MS".into(),
            poll_initial_ms.to_string(),
        ),
        (
            "TRIBUTARY__PROVIDERS__IBKR_FLEX__POLL_MAX_MS".into(),
            (poll_initial_ms * 4).to_string(),
        ),
        (
            "TRIBUTARY__PROVIDERS__IBKR_FLEX__MAX_WAIT_SECS".into(),
            "10".into(),
        ),
        (
            "TRIBUTARY__PROVIDERS__IBKR__TIMEOUT_SECS".into(),
            "5".into(),
        ),
    ]
}

/// An app with fast job polling, no scheduler timer, the `TRIBUTARY__JOBS__*` settings in
/// `jobs` and the extra settings.
async fn app_with(jobs: &[(&str, &str)], extra: Vec<(String, String)>) -> TestApp {
    let mut env = jobs_env(jobs);
    env.extend(extra);
    spawn_app_with(AppOptions { env }).await
}

/// An app whose Flex client talks to `mock`.
async fn flex_app(mock: &FlexMock, jobs: &[(&str, &str)]) -> TestApp {
    app_with(jobs, flex_env(mock, 5)).await
}

fn flex_config(token: &str, account_id: Option<&str>) -> Value {
    let mut config = json!({"mode": "flex", "flex_token": token, "query_id": QUERY_ID});
    if let (Some(id), Some(map)) = (account_id, config.as_object_mut()) {
        map.insert("account_id".into(), Value::from(id));
    }
    config
}

/// `PUT /api/accounts/{id}/integration` with an IBKR config.
async fn set_ibkr(app: &TestApp, token: &str, account: &str, config: Value) -> TestResponse {
    app.put(
        &format!("/api/accounts/{account}/integration"),
        token,
        json!({"type": "IBKR", "config": config}),
    )
    .await
}

/// A new account with an IBKR integration (which must be accepted).
async fn ibkr_account(app: &TestApp, token: &str, config: Value) -> String {
    let account = app.create_account(token, "Interactive Brokers").await;
    let r = set_ibkr(app, token, &account, config).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    account
}

async fn refresh(app: &TestApp, token: &str, account: &str) -> TestResponse {
    app.post_empty(
        &format!("/api/accounts/{account}/integration/refresh"),
        token,
    )
    .await
}

/// A refresh that must succeed; returns its result.
async fn refresh_ok(app: &TestApp, token: &str, account: &str) -> Value {
    let r = refresh(app, token, account).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    r.body
}

async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    get_ok(app, token, &format!("/api/import-jobs/{id}")).await
}

/// The account's jobs, newest first.
async fn jobs_of(app: &TestApp, token: &str, account: &str) -> Vec<Value> {
    let body = get_ok(
        app,
        token,
        &format!("/api/import-jobs?account_id={account}"),
    )
    .await;
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The account's only job.
async fn only_job(app: &TestApp, token: &str, account: &str) -> Value {
    let jobs = jobs_of(app, token, account).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    jobs.into_iter().next().unwrap_or_default()
}

async fn integration(app: &TestApp, token: &str, account: &str) -> Value {
    get_ok(app, token, &format!("/api/accounts/{account}/integration")).await
}

async fn holdings(app: &TestApp, token: &str, account: &str) -> Vec<Value> {
    get_ok(app, token, &format!("/api/accounts/{account}/holdings"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The holding of an asset id.
fn holding<'a>(holdings: &'a [Value], asset_id: &str) -> &'a Value {
    holdings
        .iter()
        .find(|h| h["asset"]["asset_id"] == asset_id)
        .unwrap_or_else(|| panic!("no holding {asset_id} in {holdings:#?}"))
}

/// Every transaction of the account (following the cursor).
async fn transactions(app: &TestApp, token: &str, account: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let body = get_ok(
            app,
            token,
            &format!("/api/accounts/{account}/transactions?limit=200&cursor={cursor}"),
        )
        .await;
        out.extend(body["items"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
}

fn by_type(transactions: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in transactions {
        *out.entry(t["type"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    out
}

fn by_source_id<'a>(transactions: &'a [Value], source_id: &str) -> &'a Value {
    transactions
        .iter()
        .find(|t| t["source_id"] == source_id)
        .unwrap_or_else(|| panic!("no transaction {source_id} in {transactions:#?}"))
}

/// `POST /api/accounts/{id}/import{query}` with the file in the multipart field `file`.
async fn upload(
    app: &TestApp,
    token: &str,
    account: &str,
    query: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    app.upload(token, account, query, "statement.xml", bytes.to_vec())
        .await
}

/// Checks the fixture's `U1234567` ledger, holdings and balance as the API shows them.
async fn assert_fixture_imported(app: &TestApp, token: &str, account: &str, extra: usize) {
    let txs = transactions(app, token, account).await;
    assert_eq!(txs.len(), FIXTURE_TRANSACTIONS + extra, "{txs:#?}");
    assert!(txs.iter().all(|t| t["source"] == "ibkr"), "{txs:#?}");

    let dividend = by_source_id(&txs, "cash:29347140002");
    assert_eq!(dividend["type"], "dividend");
    assert_eq!(dec(&dividend["amount"]), d("15"));
    assert_eq!(dividend["currency"], "USD");
    assert_eq!(dividend["trade_date"], "2025-02-13");
    assert_eq!(dividend["asset"]["asset_id"], "EQUITY:XNAS:AAPL");
    let tax = by_source_id(&txs, "cash:29347140003");
    assert_eq!(tax["type"], "tax");
    assert_eq!(dec(&tax["amount"]), d("-2.25"));
    assert_eq!(tax["currency"], "USD");

    let buy = by_source_id(&txs, "exec:0000e0d5.6789a1b2.01.01");
    assert_eq!(buy["type"], "buy");
    assert_eq!(dec(&buy["quantity"]), d("100"));
    assert_eq!(dec(&buy["price"]), d("185.5"));
    assert_eq!(dec(&buy["amount"]), d("-18551"));
    assert_eq!(dec(&buy["fee"]), d("1"));

    let option = by_source_id(&txs, "trade:718823304");
    assert_eq!(option["asset"]["asset_id"], "OPTION:AAPL:20250620:C:200");
    assert_eq!(option["asset"]["class"], "option");
    let future = by_source_id(&txs, "trade:718823305");
    assert_eq!(future["asset"]["asset_id"], "FUTURE:ES:20250321");
    assert_eq!(future["asset"]["class"], "future");
    let forex = by_source_id(&txs, "trade:718823307");
    assert_eq!(forex["type"], "buy");
    assert_eq!(dec(&forex["quantity"]), d("10000"));
    assert_eq!(forex["asset"]["class"], "cash", "{forex}");

    let split = by_source_id(&txs, "ca:29347120001");
    assert_eq!(split["type"], "split");
    assert_eq!(split["asset"]["symbol"], "ACME");
    let merged_out = by_source_id(&txs, "ca:29347120002");
    assert_eq!(merged_out["type"], "merger");
    assert_eq!(merged_out["asset"]["symbol"], "OLDCO");
    assert_eq!(dec(&merged_out["quantity"]), d("-100"));
    assert_eq!(dec(&merged_out["amount"]), d("2500"));
    let merged_in = by_source_id(&txs, "ca:29347120003");
    assert_eq!(merged_in["type"], "merger");
    assert_eq!(merged_in["asset"]["symbol"], "NEWCO");
    assert_eq!(dec(&merged_in["quantity"]), d("50"));

    let held = holdings(app, token, account).await;
    assert_eq!(held.len(), 6, "4 positions and 2 cash balances: {held:#?}");
    let aapl = holding(&held, "EQUITY:XNAS:AAPL");
    assert_eq!(dec(&aapl["quantity"]), d("60"));
    assert_eq!(dec(&aapl["price"]), d("222.13"));
    assert_eq!(dec(&aapl["cost_basis"]), d("11130.6"));
    let tsla = holding(&held, "EQUITY:XNAS:TSLA");
    assert_eq!(dec(&tsla["quantity"]), d("-10"), "a short position");
    assert_eq!(dec(&tsla["price"]), d("259.16"));
    let call = holding(&held, "OPTION:AAPL:20250620:C:200");
    assert_eq!(dec(&call["quantity"]), d("2"));
    assert_eq!(dec(&call["price"]), d("28.4"));
    let usd = holding(&held, "CASH:USD");
    assert_eq!(dec(&usd["quantity"]), d("-8015.88"));
    let eur = holding(&held, "CASH:EUR");
    assert_eq!(dec(&eur["quantity"]), d("10000"));
    assert!(
        held.iter().all(|h| h["asset"]["asset_id"] != "CASH:GBP"),
        "a zero cash balance is not a holding"
    );

    let acct = get_ok(app, token, &format!("/api/accounts/{account}")).await;
    assert_eq!(
        dec(&acct["balance"]),
        d("66331.13"),
        "the statement's last NAV: {acct}"
    );
    assert_eq!(acct["balance_currency"], "USD");
}

// ---------------------------------------------------------------------------------------------
// Flex Web Service
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_flex_sync_imports_the_statement_backfills_to_the_opening_day_and_a_resync_adds_nothing()
{
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    serve_fixture_and_chunks(&mock, true);
    let app = flex_app(&mock, &[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;

    let result = refresh_ok(&app, t, &account).await;
    let total = FIXTURE_TRANSACTIONS + HISTORY;
    assert_eq!(result["fetched"], total, "{result}");
    assert_eq!(result["inserted"], total, "{result}");
    assert_eq!(result["duplicates"], 0, "{result}");
    assert_eq!(result["holdings"], 6, "{result}");
    assert_eq!(dec(&result["balance"]), d("66331.13"));
    assert_eq!(result["currency"], "USD");
    let first = job(&app, t, result["import_job_id"].as_str().expect("job id")).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["source"], "ibkr");
    assert_eq!(first["failed"], 0, "{first}");

    assert_fixture_imported(&app, t, &account, HISTORY).await;
    let txs = transactions(&app, t, &account).await;
    let mut expected = fixture_counts();
    *expected.entry("buy".into()).or_insert(0) += 1;
    *expected.entry("sell".into()).or_insert(0) += 1;
    assert_eq!(by_type(&txs), expected);
    let old = by_source_id(&txs, "trade:618823301");
    assert_eq!(old["trade_date"], "2023-06-15", "found by the backfill");
    assert_eq!(dec(&old["amount"]), d("-2501"));
    let recent = by_source_id(&txs, "trade:818823301");
    assert_eq!(recent["trade_date"], recent_trade_day().to_string());
    assert_eq!(dec(&recent["amount"]), d("2049"));

    // The query's own period first, then 365-day chunks back to the opening day, then forward
    // from the statement's last day to today.
    let periods = mock.requested_periods();
    assert_eq!(periods[0], (None, None), "{periods:?}");
    let chunks = backfill_chunks();
    assert_eq!(periods[1..=chunks.len()], chunks[..], "{periods:?}");
    let mut first = fixture_from();
    for (from, to) in &chunks {
        let (Some(from), Some(to)) = (from, to) else {
            panic!("a chunk without dates")
        };
        assert_eq!(*to + Days::new(1), first, "contiguous, newest first");
        assert!((*to - *from).num_days() <= 364, "at most 365 days");
        first = *from;
    }
    assert_eq!(
        first,
        date_opened(),
        "back to the day the account was opened"
    );
    let forward = &periods[1 + chunks.len()..];
    let today = Utc::now().date_naive();
    assert!(!forward.is_empty(), "{periods:?}");
    let mut last = fixture_to();
    for period in forward {
        let (Some(from), Some(to)) = period else {
            panic!("an incremental request without dates: {periods:?}")
        };
        assert_eq!(*from, last, "contiguous (the overlap day deduplicates)");
        assert!((*to - *from).num_days() <= 364);
        last = *to;
    }
    assert!(last + Days::new(1) >= today, "up to date: {periods:?}");
    assert_eq!(
        mock.send_requests() as usize,
        periods.len(),
        "no request was refused"
    );

    // Again, right away: the current statement (for holdings and balance) is all there is to
    // ask for; the history is not fetched again and nothing new is stored.
    let before = periods.len();
    let again = refresh_ok(&app, t, &account).await;
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["holdings"], 6, "{again}");
    let periods = mock.requested_periods();
    assert_eq!(periods[before..], [(None, None)], "{periods:?}");

    // As if the last sync had been five days ago: one incremental request from that day, whose
    // recent trade is already stored.
    let since = today - Days::new(5);
    synced_up_to(&app, &account, since).await;
    let before = periods.len();
    let later = refresh_ok(&app, t, &account).await;
    assert_eq!(later["fetched"], 1, "{later}");
    assert_eq!(later["inserted"], 0, "{later}");
    assert_eq!(later["duplicates"], 1, "{later}");
    let periods = mock.requested_periods();
    assert_eq!(
        periods[before..],
        [(None, None), (Some(since), Some(today))],
        "{periods:?}"
    );
    assert_eq!(transactions(&app, t, &account).await.len(), total);
    assert_eq!(duplicate_row_groups(&app).await, 0);
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "ok", "{info}");
    assert!(info["last_synced_at"].is_string());
}

#[tokio::test]
async fn flex_remote_accounts_list_both_accounts_and_a_sync_without_account_id_names_the_field() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    serve_fixture_and_chunks(&mock, false);
    let app = flex_app(&mock, &[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, None)).await;

    let remote = get_ok(
        &app,
        t,
        &format!("/api/accounts/{account}/integration/remote-accounts"),
    )
    .await;
    assert_eq!(
        remote,
        json!([
            {"id": MAIN_ACCOUNT, "name": "Main brokerage", "type": "Individual", "currency": "USD"},
            {"id": SECOND_ACCOUNT, "name": "Jane Q Investor", "type": "Individual", "currency": "EUR"},
        ])
    );

    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert!(r.text.contains("account_id"), "{}", r.text);
    let failed = only_job(&app, t, &account).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["attempt"], 1,
        "a config problem is not retried: {failed}"
    );
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("account_id"), "{failed}");
    assert!(
        error.contains(MAIN_ACCOUNT) && error.contains(SECOND_ACCOUNT),
        "{failed}"
    );
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert!(
        info["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("account_id")),
        "{info}"
    );
    assert!(transactions(&app, t, &account).await.is_empty());
    assert!(holdings(&app, t, &account).await.is_empty());

    // Choosing the account fixes it.
    let r = set_ibkr(&app, t, &account, flex_config(&token, Some(MAIN_ACCOUNT))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let result = refresh_ok(&app, t, &account).await;
    assert_eq!(result["inserted"], FIXTURE_TRANSACTIONS, "{result}");
    assert_eq!(integration(&app, t, &account).await["status"], "ok");
}

#[tokio::test]
async fn an_expired_flex_token_fails_the_job_and_marks_the_account_needs_reauth() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    mock.expire_token();
    let app = flex_app(&mock, &[("MAX_ATTEMPTS", "5")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;

    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let failed = only_job(&app, t, &account).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["attempt"], 1,
        "credentials are not retried: {failed}"
    );
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "needs_reauth", "{info}");
    assert!(info["last_error"].is_string(), "{info}");
    assert_eq!(mock.send_requests(), 1, "no retry against an expired token");
    assert!(transactions(&app, t, &account).await.is_empty());
    assert!(!r.text.contains(&token) && !info.to_string().contains(&token));
}

#[tokio::test]
async fn an_expired_flex_token_tells_the_user_to_renew_the_token() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    mock.expire_token();
    let app = flex_app(&mock, &[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;
    let _ = refresh(&app, t, &account).await;
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "needs_reauth", "{info}");
    let message = info["last_error"].as_str().unwrap_or_default();
    assert!(
        message.contains("Flex token has expired") && message.contains("Flex Web Service"),
        "{info}"
    );
    let failed = only_job(&app, t, &account).await;
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("Flex token has expired")),
        "{failed}"
    );
}

#[tokio::test]
async fn a_statement_still_generating_for_a_few_polls_is_waited_for() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    serve_fixture_and_chunks(&mock, false);
    mock.generating_polls(3);
    let app = flex_app(&mock, &[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;

    let result = refresh_ok(&app, t, &account).await;
    assert_eq!(result["inserted"], FIXTURE_TRANSACTIONS, "{result}");
    let done = only_job(&app, t, &account).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 1, "{done}");
    assert_eq!(
        mock.get_statements(),
        4 * mock.send_requests(),
        "three 1019 answers, then the statement, for every request"
    );
    assert_eq!(integration(&app, t, &account).await["status"], "ok");
}

#[tokio::test]
async fn persistent_flex_throttling_schedules_a_retry_and_does_not_ask_for_new_credentials() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    mock.throttle_next(1_000);
    let app = flex_app(&mock, &[("MAX_ATTEMPTS", "3")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;

    let r = refresh(&app, t, &account).await;
    assert!(!r.status.is_success(), "{}", r.text);
    let queued = only_job(&app, t, &account).await;
    assert_eq!(queued["status"], "queued", "to be retried: {queued}");
    assert_eq!(queued["attempt"], 1, "{queued}");
    let next: chrono::DateTime<Utc> =
        serde_json::from_value(queued["next_run_at"].clone()).expect("next_run_at");
    assert!(
        next - Utc::now() >= chrono::Duration::seconds(50),
        "not before IB's one-minute window: {queued}"
    );
    assert!(
        queued["error"]
            .as_str()
            .is_some_and(|e| e.contains("rate limiting")),
        "{queued}"
    );
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert_ne!(info["status"], "needs_reauth");
    assert_eq!(
        mock.send_requests(),
        5,
        "the client waited out IB's throttling four times, then gave up"
    );
}

/// Issue #5: the provider fails in the middle of a multi-page sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flex_backfill_failing_mid_way_keeps_the_first_page_and_its_retry_resumes_from_the_cursor()
 {
    let token = flex_token();
    let mock = std::sync::Arc::new(FlexMock::start(&token, QUERY_ID).await);
    serve_fixture_and_chunks(&mock, true);
    // A longer first poll, so the fault is in place before the first chunk is collected. No
    // background workers: the refresh runs the job itself, and the retry gets a worker below.
    let app = app_with(
        &[("MAX_ATTEMPTS", "1"), ("WORKERS", "0")],
        flex_env(&mock, 150),
    )
    .await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;

    // As soon as the first backfill chunk is requested, the service starts failing with HTTP
    // 500: three times, the client's own retries included.
    let watcher = {
        let mock = mock.clone();
        tokio::spawn(async move {
            loop {
                if mock.requested_periods().len() >= 2 {
                    mock.fail_next_with_http(500, 3);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let r = refresh(&app, t, &account).await;
    watcher.await.expect("watcher");
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let partial = only_job(&app, t, &account).await;
    assert_eq!(
        partial["status"], "partial",
        "the first page was committed before the failure: {partial}"
    );
    assert_eq!(partial["inserted"], FIXTURE_TRANSACTIONS, "{partial}");
    assert!(
        partial["error"].as_str().is_some_and(|e| e.contains("500")),
        "{partial}"
    );
    let cursor = format!("back:{}:{}", fixture_from(), fixture_to());
    assert_eq!(partial["cursor_out"], cursor.as_str(), "{partial}");
    assert_eq!(
        transactions(&app, t, &account).await.len(),
        FIXTURE_TRANSACTIONS,
        "the first page's rows are kept"
    );
    assert_eq!(integration(&app, t, &account).await["status"], "error");
    let chunks = backfill_chunks();
    assert_eq!(
        mock.requested_periods(),
        [(None, None), chunks[0]],
        "stopped at the first chunk"
    );

    // The retry resumes at the failed chunk: the current statement is fetched again for the
    // holdings, the chunks already done are not.
    let id = partial["id"].as_str().expect("job id");
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/retry"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let workers = tributary_api::jobs::worker::spawn(app.ctx.clone().into_inner(), 1);
    let done = wait_finished(&app, t, id).await;
    for worker in workers {
        worker.abort();
    }
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["inserted"], FIXTURE_TRANSACTIONS + HISTORY, "{done}");
    assert_eq!(done["duplicates"], 0, "nothing was fetched twice: {done}");
    let periods = mock.requested_periods();
    assert_eq!(periods[2], (None, None), "{periods:?}");
    assert_eq!(periods[3..3 + chunks.len()], chunks[..], "{periods:?}");
    assert!(
        periods[3 + chunks.len()..]
            .iter()
            .all(|(from, _)| from.is_some_and(|f| f >= fixture_to())),
        "then only incremental chunks: {periods:?}"
    );
    assert_eq!(
        transactions(&app, t, &account).await.len(),
        FIXTURE_TRANSACTIONS + HISTORY
    );
    assert_eq!(duplicate_row_groups(&app).await, 0);
    assert_fixture_imported(&app, t, &account, HISTORY).await;
    assert_eq!(integration(&app, t, &account).await["status"], "ok");
}

// ---------------------------------------------------------------------------------------------
// Client Portal gateway
// ---------------------------------------------------------------------------------------------

fn gateway_env() -> Vec<(String, String)> {
    vec![
        (
            "TRIBUTARY__PROVIDERS__IBKR__GATEWAY_SLOW_SPACING_MS".into(),
            "10".into(),
        ),
        (
            "TRIBUTARY__PROVIDERS__IBKR__TIMEOUT_SECS".into(),
            "5".into(),
        ),
    ]
}

fn gateway_config(mock: &GatewayMock, verify_tls: bool) -> Value {
    json!({
        "mode": "client_portal",
        "host": mock.host(),
        "port": mock.port(),
        "verify_tls": verify_tls,
        "account_id": MAIN_ACCOUNT,
    })
}

#[tokio::test]
async fn a_client_portal_sync_imports_positions_cash_balance_and_trades_and_a_resync_adds_nothing()
{
    let mock = GatewayMock::start().await;
    let app = app_with(&[], gateway_env()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, gateway_config(&mock, false)).await;

    let result = refresh_ok(&app, t, &account).await;
    assert_eq!(result["fetched"], 5, "{result}");
    assert_eq!(result["inserted"], 5, "{result}");
    assert_eq!(result["holdings"], 66, "{result}");
    assert_eq!(dec(&result["balance"]), d("1287345.61"));
    assert_eq!(result["currency"], "USD");

    let held = holdings(&app, t, &account).await;
    assert_eq!(held.len(), 66, "64 positions and 2 cash balances");
    let aapl = holding(&held, "EQUITY:XNAS:AAPL");
    assert_eq!(dec(&aapl["quantity"]), d("614.2639"));
    assert_eq!(dec(&aapl["price"]), d("197.3840027"));
    let call = holding(&held, "OPTION:AAPL:20270115:C:200");
    assert_eq!(dec(&call["quantity"]), d("-2"));
    assert_eq!(dec(&call["cost_basis"]), d("-825"));
    let future = holding(&held, "FUTURE:ES:20270319");
    assert_eq!(dec(&future["quantity"]), d("1"));
    assert_eq!(dec(&holding(&held, "CASH:USD")["quantity"]), d("25432.17"));
    assert_eq!(dec(&holding(&held, "CASH:EUR")["quantity"]), d("3150.5"));
    let acct = get_ok(&app, t, &format!("/api/accounts/{account}")).await;
    assert_eq!(
        dec(&acct["balance"]),
        d("1287345.61"),
        "BASE net liquidation"
    );
    assert_eq!(acct["balance_currency"], "USD");

    let txs = transactions(&app, t, &account).await;
    assert_eq!(txs.len(), 5, "{txs:#?}");
    assert_eq!(by_type(&txs), counts(&[("buy", 3), ("sell", 2)]));
    let buy = by_source_id(&txs, "exec:0000e0d5.67a1b2c3.01.01");
    assert_eq!(buy["type"], "buy");
    assert_eq!(dec(&buy["quantity"]), d("10"));
    assert_eq!(dec(&buy["price"]), d("189.71"));
    assert_eq!(dec(&buy["amount"]), d("-1898.10"));
    let sap = by_source_id(&txs, "exec:0000e0d5.67a1b2c7.01.01");
    assert_eq!(dec(&sap["amount"]), d("-721.73"));
    assert_eq!(sap["currency"], "EUR");
    assert!(
        txs.iter()
            .all(|t| t["source_id"] != "exec:0000e0d5.67a1b2c8.01.01"),
        "the other account's execution stays out"
    );

    let again = refresh_ok(&app, t, &account).await;
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["duplicates"], 5, "{again}");
    assert_eq!(transactions(&app, t, &account).await.len(), 5);
    assert_eq!(holdings(&app, t, &account).await.len(), 66);
    assert_eq!(duplicate_row_groups(&app).await, 0);
    assert_eq!(integration(&app, t, &account).await["status"], "ok");
}

#[tokio::test]
async fn a_logged_out_gateway_marks_the_account_needs_reauth() {
    let mock = GatewayMock::start().await;
    mock.set_authenticated(false);
    let app = app_with(&[("MAX_ATTEMPTS", "5")], gateway_env()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, gateway_config(&mock, false)).await;

    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let failed = only_job(&app, t, &account).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 1, "{failed}");
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "needs_reauth", "{info}");
    assert!(transactions(&app, t, &account).await.is_empty());

    let test = app
        .post_empty(&format!("/api/accounts/{account}/integration/test"), t)
        .await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.text);
    assert_eq!(test.body["success"], false, "{}", test.text);
    assert_eq!(test.body["status"], "needs_reauth", "{}", test.text);
}

#[tokio::test]
async fn a_gateway_500_on_positions_is_a_retryable_failure() {
    let mock = GatewayMock::start().await;
    mock.fail_next(&format!("/portfolio/{MAIN_ACCOUNT}/positions"), 500, 1);
    let app = app_with(
        &[("MAX_ATTEMPTS", "3"), ("RETRY_BASE_SECS", "600")],
        gateway_env(),
    )
    .await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, gateway_config(&mock, false)).await;

    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let queued = only_job(&app, t, &account).await;
    assert_eq!(queued["status"], "queued", "to be retried: {queued}");
    assert_eq!(queued["attempt"], 1, "{queued}");
    assert!(queued["next_run_at"].is_string(), "{queued}");
    assert!(
        queued["error"].as_str().is_some_and(|e| e.contains("500")),
        "{queued}"
    );
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert!(transactions(&app, t, &account).await.is_empty());
}

#[tokio::test]
async fn verifying_the_gateways_self_signed_certificate_fails_the_sync() {
    let mock = GatewayMock::start().await;
    let app = app_with(&[("MAX_ATTEMPTS", "1")], gateway_env()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, gateway_config(&mock, true)).await;

    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let failed = only_job(&app, t, &account).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert!(info["last_error"].is_string(), "{info}");
    assert!(
        mock.requests().is_empty(),
        "no request got through the TLS handshake"
    );
    assert!(transactions(&app, t, &account).await.is_empty());
    assert!(holdings(&app, t, &account).await.is_empty());

    let test = app
        .post_empty(&format!("/api/accounts/{account}/integration/test"), t)
        .await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.text);
    assert_eq!(test.body["success"], false, "{}", test.text);
    assert_eq!(test.body["status"], "error", "{}", test.text);
}

#[tokio::test]
async fn a_refused_gateway_certificate_tells_the_user_to_turn_verification_off() {
    let mock = GatewayMock::start().await;
    let app = app_with(&[("MAX_ATTEMPTS", "1")], gateway_env()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, gateway_config(&mock, true)).await;
    let test = app
        .post_empty(&format!("/api/accounts/{account}/integration/test"), t)
        .await;
    assert_eq!(test.body["success"], false, "{}", test.text);
    let message = test.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("certificate"), "{}", test.text);
    let _ = refresh(&app, t, &account).await;
    let info = integration(&app, t, &account).await;
    assert!(
        info["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("certificate")),
        "{info}"
    );
}

// ---------------------------------------------------------------------------------------------
// TWS / IB Gateway
// ---------------------------------------------------------------------------------------------

/// An execution of the main account with a USD commission.
fn tws_fill(
    exec_id: &str,
    contract: MockContract,
    side: &str,
    shares: &str,
    price: f64,
    time: &str,
    commission: f64,
) -> MockExecution {
    MockExecution {
        contract,
        exec_id: exec_id.into(),
        time: time.into(),
        account: MAIN_ACCOUNT.into(),
        side: side.into(),
        shares: shares.into(),
        price,
        client_id: 0,
        order_id: 0,
        commission: Some(MockCommission {
            amount: commission,
            currency: "USD".into(),
            after_end: false,
        }),
    }
}

fn tws_portfolio() -> TwsData {
    let aapl = MockContract::stock("AAPL", "NASDAQ", "USD", 265_598);
    let call = MockContract::option(
        "AAPL",
        "20270115",
        200.0,
        "C",
        "AAPL  270115C00200000",
        700_001,
    );
    let es = MockContract::future("ES", "20270319", 50.0, "ESH7", "CME", 495_512_563);
    let summary = [
        (MAIN_ACCOUNT, "AccountType", "INDIVIDUAL", ""),
        (MAIN_ACCOUNT, "NetLiquidation", "125432.17", "USD"),
        (MAIN_ACCOUNT, "TotalCashValue", "20480.55", "USD"),
        (MAIN_ACCOUNT, "CashBalance", "20480.55", "BASE"),
        (MAIN_ACCOUNT, "CashBalance", "15230.10", "USD"),
        (MAIN_ACCOUNT, "CashBalance", "4600.00", "EUR"),
        (MAIN_ACCOUNT, "ExchangeRate", "1.0945", "EUR"),
        (SECOND_ACCOUNT, "AccountType", "IRA", ""),
        (SECOND_ACCOUNT, "NetLiquidation", "88000.00", "EUR"),
        (SECOND_ACCOUNT, "CashBalance", "88000.00", "EUR"),
    ]
    .into_iter()
    .map(|(a, tag, v, c)| MockSummaryRow::new(a, tag, v, c))
    .collect();
    let position =
        |account: &str, contract: &MockContract, quantity: &str, avg_cost: f64| MockPosition {
            account: account.into(),
            contract: contract.clone(),
            position: quantity.into(),
            avg_cost,
        };
    TwsData {
        accounts: vec![
            MockAccount {
                id: MAIN_ACCOUNT.into(),
            },
            MockAccount {
                id: SECOND_ACCOUNT.into(),
            },
        ],
        positions: vec![
            position(MAIN_ACCOUNT, &aapl, "100", 150.25),
            position(MAIN_ACCOUNT, &call, "2", 250.5),
            position(MAIN_ACCOUNT, &es, "-1", 301_262.5),
            position(SECOND_ACCOUNT, &aapl, "5", 170.0),
        ],
        summary,
        executions: vec![
            tws_fill(
                "0000e0d5.6789abcd.01.01",
                aapl.clone(),
                "BOT",
                "10",
                185.37,
                "20261120-14:30:05",
                1.0,
            ),
            tws_fill(
                "0000e0d5.6789abce.01.01",
                call,
                "SLD",
                "2",
                3.15,
                "20261120-15:01:00",
                1.3,
            ),
            tws_fill(
                "0000e0d5.6789abcf.01.01",
                es,
                "BOT",
                "1",
                6025.25,
                "20261120-16:00:00",
                2.25,
            ),
            MockExecution {
                account: SECOND_ACCOUNT.into(),
                ..tws_fill(
                    "0000e0d5.6789ab99.01.01",
                    aapl,
                    "BOT",
                    "1",
                    185.0,
                    "20261120-14:00:00",
                    1.0,
                )
            },
        ],
        ..TwsData::default()
    }
}

fn tws_config(host: &str, port: u16) -> Value {
    json!({
        "mode": "tws",
        "host": host,
        "port": port,
        "client_id": 7,
        "account_id": MAIN_ACCOUNT,
    })
}

#[tokio::test]
async fn a_tws_sync_imports_positions_cash_balance_and_executions_and_a_resync_adds_nothing() {
    let mock = TwsMock::start(tws_portfolio()).await;
    let app = app_with(
        &[],
        vec![(
            "TRIBUTARY__PROVIDERS__IBKR__TIMEOUT_SECS".into(),
            "5".into(),
        )],
    )
    .await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, tws_config(&mock.host(), mock.port())).await;

    let result = refresh_ok(&app, t, &account).await;
    assert_eq!(result["inserted"], 3, "{result}");
    assert_eq!(result["holdings"], 5, "{result}");
    assert_eq!(dec(&result["balance"]), d("125432.17"));
    assert_eq!(result["currency"], "USD");

    let held = holdings(&app, t, &account).await;
    assert_eq!(held.len(), 5, "3 positions and 2 cash balances: {held:#?}");
    let aapl = holding(&held, "EQUITY:XNAS:AAPL");
    assert_eq!(dec(&aapl["quantity"]), d("100"));
    assert_eq!(dec(&aapl["cost_basis"]), d("15025"));
    let future = holding(&held, "FUTURE:ES:20270319");
    assert_eq!(dec(&future["quantity"]), d("-1"));
    assert_eq!(dec(&holding(&held, "CASH:USD")["quantity"]), d("15230.10"));
    assert_eq!(dec(&holding(&held, "CASH:EUR")["quantity"]), d("4600"));
    let acct = get_ok(&app, t, &format!("/api/accounts/{account}")).await;
    assert_eq!(dec(&acct["balance"]), d("125432.17"), "NetLiquidation");
    assert_eq!(acct["balance_currency"], "USD");

    let txs = transactions(&app, t, &account).await;
    assert_eq!(
        by_type(&txs),
        counts(&[("buy", 2), ("sell", 1)]),
        "{txs:#?}"
    );
    let buy = by_source_id(&txs, "exec:0000e0d5.6789abcd.01.01");
    assert_eq!(dec(&buy["quantity"]), d("10"));
    assert_eq!(dec(&buy["price"]), d("185.37"));
    assert_eq!(dec(&buy["fee"]), d("1"));
    assert_eq!(dec(&buy["amount"]), d("-1854.70"));
    assert_eq!(buy["trade_date"], "2026-11-20");

    let again = refresh_ok(&app, t, &account).await;
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["duplicates"], 3, "{again}");
    assert_eq!(transactions(&app, t, &account).await.len(), 3);
    assert_eq!(duplicate_row_groups(&app).await, 0);
    assert_eq!(integration(&app, t, &account).await["status"], "ok");
}

#[tokio::test]
async fn a_refused_tws_connection_is_a_retryable_failure() {
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let app = app_with(
        &[("MAX_ATTEMPTS", "3"), ("RETRY_BASE_SECS", "600")],
        vec![(
            "TRIBUTARY__PROVIDERS__IBKR__TIMEOUT_SECS".into(),
            "2".into(),
        )],
    )
    .await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, tws_config("127.0.0.1", port)).await;

    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let queued = only_job(&app, t, &account).await;
    assert_eq!(queued["status"], "queued", "to be retried: {queued}");
    assert_eq!(queued["attempt"], 1, "{queued}");
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert!(transactions(&app, t, &account).await.is_empty());
}

#[tokio::test]
async fn an_account_id_typed_in_lower_case_syncs_the_ib_account_as_ib_spells_it() {
    let gateway = GatewayMock::start().await;
    let tws = TwsMock::start(tws_portfolio()).await;
    let app = app_with(&[], gateway_env()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();

    let mut config = gateway_config(&gateway, false);
    config["account_id"] = json!("u1234567");
    let account = ibkr_account(&app, t, config).await;
    let result = refresh_ok(&app, t, &account).await;
    assert_eq!(result["inserted"], 5, "{result}");
    assert_eq!(result["holdings"], 66, "{result}");
    assert!(
        !gateway
            .requests_to("/portfolio/U1234567/positions/")
            .is_empty(),
        "{:?}",
        gateway.requests()
    );

    let mut config = tws_config(&tws.host(), tws.port());
    config["account_id"] = json!("u1234567");
    let account = ibkr_account(&app, t, config).await;
    let result = refresh_ok(&app, t, &account).await;
    assert_eq!(result["inserted"], 3, "{result}");
    assert_eq!(result["holdings"], 5, "{result}");
    assert_eq!(dec(&result["balance"]), d("125432.17"), "{result}");
}

// ---------------------------------------------------------------------------------------------
// Configuration: allowlist, validation per mode, secrecy of the token
// ---------------------------------------------------------------------------------------------

async fn assert_rejected(
    app: &TestApp,
    token: &str,
    account: &str,
    config: Value,
    field: &str,
) -> TestResponse {
    let r = set_ibkr(app, token, account, config.clone()).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{config}: {}",
        r.text
    );
    assert_eq!(r.body["field"], field, "{config}: {}", r.text);
    r
}

#[tokio::test]
async fn hosts_outside_the_allowlist_and_fields_of_another_mode_are_refused() {
    let app = app_with(&[], Vec::new()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "IB").await;

    for host in ["10.0.0.5", "169.254.169.254"] {
        for mode in ["client_portal", "tws"] {
            let r = assert_rejected(
                &app,
                t,
                &account,
                json!({"mode": mode, "host": host, "port": 5000}),
                "config.host",
            )
            .await;
            assert!(r.text.contains("allowlist"), "{}", r.text);
        }
    }
    assert_rejected(
        &app,
        t,
        &account,
        json!({"mode": "flex", "query_id": QUERY_ID}),
        "config.flex_token",
    )
    .await;
    assert_rejected(
        &app,
        t,
        &account,
        json!({"mode": "flex", "flex_token": "abc", "query_id": QUERY_ID, "port": 5000}),
        "config.port",
    )
    .await;
    assert_rejected(
        &app,
        t,
        &account,
        json!({"mode": "tws", "host": "localhost", "verify_tls": true}),
        "config.verify_tls",
    )
    .await;
    assert_rejected(
        &app,
        t,
        &account,
        json!({"mode": "client_portal", "host": "localhost", "backfill_from": "2020-01-01"}),
        "config.backfill_from",
    )
    .await;
    assert_rejected(
        &app,
        t,
        &account,
        json!({"host": "localhost"}),
        "config.mode",
    )
    .await;
    // Nothing was stored by the refused requests.
    let r = app
        .get(&format!("/api/accounts/{account}/integration"), t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // Loopback is allowed by default.
    let r = set_ibkr(
        &app,
        t,
        &account,
        json!({"mode": "tws", "host": "localhost", "port": 4002}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn an_operator_allowlist_replaces_loopback() {
    let app = app_with(
        &[],
        vec![(
            "TRIBUTARY__PROVIDERS__IBKR__ALLOWED_HOSTS".into(),
            "gateway.test".into(),
        )],
    )
    .await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "IB").await;
    for host in ["localhost", "127.0.0.1", "::1", "10.0.0.5"] {
        assert_rejected(
            &app,
            t,
            &account,
            json!({"mode": "client_portal", "host": host, "port": 5000}),
            "config.host",
        )
        .await;
    }
    let r = set_ibkr(
        &app,
        t,
        &account,
        json!({"mode": "client_portal", "host": "Gateway.Test", "port": 5000}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn the_flex_token_is_never_returned_and_never_logged() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    serve_fixture_and_chunks(&mock, false);
    let app = flex_app(&mock, &[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "IB").await;
    let r = set_ibkr(&app, t, &account, flex_config(&token, Some(MAIN_ACCOUNT))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut bodies = vec![r.text.clone()];
    assert_eq!(r.body["config"]["flex_token"], "********", "{}", r.text);
    assert_eq!(r.body["config"]["has_flex_token"], true, "{}", r.text);

    let info = integration(&app, t, &account).await;
    assert_eq!(info["config"]["flex_token"], "********", "{info}");
    assert_eq!(info["config"]["query_id"], QUERY_ID);
    bodies.push(info.to_string());
    bodies.push(refresh(&app, t, &account).await.text);
    bodies.push(
        app.post_empty(&format!("/api/accounts/{account}/integration/test"), t)
            .await
            .text,
    );
    bodies.push(
        app.get(
            &format!("/api/accounts/{account}/integration/remote-accounts"),
            t,
        )
        .await
        .text,
    );
    bodies.push(app.get(&format!("/api/accounts/{account}"), t).await.text);
    bodies.push(app.get("/api/data-sources", t).await.text);
    bodies.push(app.get("/api/import-jobs", t).await.text);
    // Keeping the stored token by sending the marker back.
    let mut config = flex_config("********", Some(MAIN_ACCOUNT));
    if let Some(map) = config.as_object_mut() {
        map.insert("has_flex_token".into(), Value::Bool(true));
    }
    let r = set_ibkr(&app, t, &account, config).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    bodies.push(r.text);
    let synced = refresh_ok(&app, t, &account).await;
    assert_eq!(
        synced["duplicates"], FIXTURE_TRANSACTIONS,
        "the kept token works: {synced}"
    );
    assert!(mock.send_requests() > 0);

    for body in &bodies {
        assert!(!body.contains(&token), "the token in a response: {body}");
    }
    let logs = captured_logs();
    assert!(!logs.is_empty());
    assert!(!logs.contains(&token), "the token in the logs");
    if app.sqlite_path.is_some() {
        let raw = app.raw_database_bytes();
        assert!(
            !raw.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token in plain text in the database"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Flex statement upload
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_flex_upload_needs_the_ib_account_imports_like_the_sync_and_deduplicates_with_it() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    serve_fixture_and_chunks(&mock, false);
    let app = flex_app(&mock, &[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();

    // The same statement synced through the API, for comparison.
    let synced = ibkr_account(&app, t, flex_config(&token, Some(MAIN_ACCOUNT))).await;
    let sync = refresh_ok(&app, t, &synced).await;
    assert_eq!(sync["inserted"], FIXTURE_TRANSACTIONS, "{sync}");
    let synced_txs = transactions(&app, t, &synced).await;

    let account = app.create_account(t, "IB upload").await;
    let (status, body) = upload(&app, t, &account, "?format=ibkr_flex", MULTI_ACCOUNT).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "ibkr_account", "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(MAIN_ACCOUNT) && detail.contains(SECOND_ACCOUNT),
        "{body}"
    );
    assert!(transactions(&app, t, &account).await.is_empty());

    let (status, job) = upload(
        &app,
        t,
        &account,
        "?format=ibkr_flex&ibkr_account=U1234567",
        MULTI_ACCOUNT,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["source"], "ibkr", "{job}");
    assert_eq!(job["trigger"], "upload", "{job}");
    assert_eq!(job["fetched"], sync["fetched"], "{job}");
    assert_eq!(job["inserted"], sync["inserted"], "{job}");
    assert_eq!(job["failed"], 0, "{job}");
    let uploaded = transactions(&app, t, &account).await;
    assert_eq!(by_type(&uploaded), by_type(&synced_txs));
    assert_eq!(by_type(&uploaded), fixture_counts());
    assert_fixture_imported(&app, t, &account, 0).await;

    // The same file again: nothing new.
    let (status, again) = upload(
        &app,
        t,
        &account,
        "?format=ibkr_flex&ibkr_account=U1234567",
        MULTI_ACCOUNT,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["duplicates"], FIXTURE_TRANSACTIONS, "{again}");

    // The account then gets the Flex integration: the sync finds everything already there.
    let r = set_ibkr(&app, t, &account, flex_config(&token, Some(MAIN_ACCOUNT))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let after = refresh_ok(&app, t, &account).await;
    assert_eq!(after["inserted"], 0, "same source, same ids: {after}");
    assert_eq!(after["duplicates"], FIXTURE_TRANSACTIONS, "{after}");
    assert_eq!(
        transactions(&app, t, &account).await.len(),
        FIXTURE_TRANSACTIONS
    );
    assert_eq!(duplicate_row_groups(&app).await, 0);
}

#[tokio::test]
async fn a_flex_upload_is_auto_detected_and_a_truncated_one_is_refused_naming_the_line() {
    let app = app_with(&[], Vec::new()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();

    // No format: the XML is recognised as a Flex statement.
    let account = app.create_account(t, "IB upload").await;
    let (status, job) = upload(&app, t, &account, "?ibkr_account=U1234567", MULTI_ACCOUNT).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(
        job["source"], "ibkr",
        "recognised as a Flex statement: {job}"
    );
    assert_eq!(job["inserted"], FIXTURE_TRANSACTIONS, "{job}");
    assert_eq!(
        by_type(&transactions(&app, t, &account).await),
        fixture_counts()
    );

    // U7654321's rows include a malformed netCash and an unknown cash type: the file is
    // refused by default, naming the line, and with on_error=skip the good rows come in.
    let other = app.create_account(t, "IB second").await;
    let (status, body) = upload(&app, t, &other, "?ibkr_account=U7654321", MULTI_ACCOUNT).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "file", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("line 74") && d.contains("netCash")),
        "{body}"
    );
    assert!(transactions(&app, t, &other).await.is_empty());
    let (status, job) = upload(
        &app,
        t,
        &other,
        "?ibkr_account=U7654321&on_error=skip",
        MULTI_ACCOUNT,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "partial", "{job}");
    assert_eq!(job["failed"], 2, "{job}");
    assert_eq!(job["inserted"], 3, "{job}");
    assert_eq!(
        by_type(&transactions(&app, t, &other).await),
        counts(&[("buy", 1), ("dividend", 1), ("tax", 1)])
    );

    let fresh = app.create_account(t, "IB truncated").await;
    let (status, body) = upload(
        &app,
        t,
        &fresh,
        "?format=ibkr_flex&ibkr_account=U1234567",
        TRUNCATED,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "file", "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert_eq!(detail.matches("line 30").count(), 1, "{body}");
    assert!(detail.contains("truncated"), "{body}");
    assert!(transactions(&app, t, &fresh).await.is_empty());
    assert!(holdings(&app, t, &fresh).await.is_empty());
    let acct = get_ok(&app, t, &format!("/api/accounts/{fresh}")).await;
    assert!(acct["balance"].is_null(), "{acct}");
}

/// A 2023 statement of `U1234567`: the old trade, the MSFT position it opened and a NAV.
fn statement_of_2023() -> Vec<u8> {
    let mut xml = String::from_utf8(statement(
        MAIN_ACCOUNT,
        day(2023, 1, 2),
        day(2023, 12, 29),
        &old_trade_row(),
    ))
    .expect("utf-8");
    let sections = "<OpenPositions>\n\
         <OpenPosition accountId=\"U1234567\" currency=\"USD\" fxRateToBase=\"1\" \
         assetCategory=\"STK\" subCategory=\"COMMON\" symbol=\"MSFT\" description=\"MICROSOFT CORP\" \
         conid=\"272093\" isin=\"US5949181045\" listingExchange=\"NASDAQ\" multiplier=\"1\" \
         reportDate=\"20231229\" position=\"10\" markPrice=\"376.04\" positionValue=\"3760.4\" \
         costBasisMoney=\"2501\" side=\"Long\" levelOfDetail=\"SUMMARY\" />\n\
         </OpenPositions>\n\
         <EquitySummaryInBase>\n\
         <EquitySummaryByReportDateInBase accountId=\"U1234567\" currency=\"USD\" \
         reportDate=\"20231229\" cash=\"1000\" stock=\"3760.4\" total=\"4760.4\" />\n\
         </EquitySummaryInBase>\n\
         <Trades>";
    xml = xml.replacen("<Trades>", sections, 1);
    xml.into_bytes()
}

#[tokio::test]
async fn an_older_flex_statement_uploaded_later_adds_its_history_without_rolling_back_positions() {
    let app = app_with(&[], Vec::new()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "IB upload").await;
    let (status, job) = upload(
        &app,
        t,
        &account,
        "?format=ibkr_flex&ibkr_account=U1234567",
        MULTI_ACCOUNT,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");

    // The older statement on its own is a valid upload (positions and NAV of its day) ...
    let alone = app.create_account(t, "IB 2023").await;
    let (status, job) = upload(&app, t, &alone, "?format=ibkr_flex", &statement_of_2023()).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let held = holdings(&app, t, &alone).await;
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(
        dec(&holding(&held, "EQUITY:XNAS:MSFT")["quantity"]),
        d("10")
    );
    let acct = get_ok(&app, t, &format!("/api/accounts/{alone}")).await;
    assert_eq!(dec(&acct["balance"]), d("4760.4"), "{acct}");

    // ... but after the 2025 statement it only adds its history.
    let (status, job) = upload(&app, t, &account, "?format=ibkr_flex", &statement_of_2023()).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["inserted"], 1, "the old trade: {job}");
    assert_eq!(
        transactions(&app, t, &account).await.len(),
        FIXTURE_TRANSACTIONS + 1
    );
    assert_fixture_imported(&app, t, &account, 1).await;
}

#[tokio::test]
async fn a_flex_upload_does_not_duplicate_executions_already_synced_through_the_gateway() {
    let mock = GatewayMock::start().await;
    let app = app_with(&[], gateway_env()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = ibkr_account(&app, t, gateway_config(&mock, false)).await;
    let synced = refresh_ok(&app, t, &account).await;
    assert_eq!(synced["inserted"], 5, "{synced}");
    let executed = transactions(&app, t, &account).await;
    let buy = by_source_id(&executed, "exec:0000e0d5.67a1b2c3.01.01");
    let traded =
        NaiveDate::from_str(buy["trade_date"].as_str().unwrap_or_default()).expect("trade date");

    // The Flex statement of those days reports the same execution (IB's ibExecID).
    let row = format!(
        "<Trade accountId=\"U1234567\" currency=\"USD\" fxRateToBase=\"1\" assetCategory=\"STK\" \
         subCategory=\"COMMON\" symbol=\"AAPL\" description=\"APPLE INC\" conid=\"265598\" \
         isin=\"US0378331005\" listingExchange=\"NASDAQ\" multiplier=\"1\" \
         reportDate=\"{day}\" dateTime=\"{day};093000\" tradeDate=\"{day}\" \
         transactionType=\"ExchTrade\" exchange=\"ISLAND\" quantity=\"10\" tradePrice=\"189.71\" \
         proceeds=\"-1897.1\" taxes=\"0\" ibCommission=\"-1\" ibCommissionCurrency=\"USD\" \
         netCash=\"-1898.1\" transactionID=\"39347110001\" buySell=\"BUY\" \
         ibExecID=\"0000e0d5.67a1b2c3.01.01\" levelOfDetail=\"EXECUTION\" tradeID=\"918823301\" />\n",
        day = yyyymmdd(traded)
    );
    let xml = statement(MAIN_ACCOUNT, traded, Utc::now().date_naive(), &row);
    let (status, job) = upload(&app, t, &account, "?format=ibkr_flex", &xml).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["inserted"], 0, "the execution is already there: {job}");
    let after = transactions(&app, t, &account).await;
    let aapl_buys = after
        .iter()
        .filter(|t| {
            t["type"] == "buy"
                && t["asset"]["symbol"] == "AAPL"
                && t["trade_date"] == buy["trade_date"]
                && t["alias_of"].is_null()
        })
        .count();
    assert_eq!(aapl_buys, 1, "{after:#?}");
}

// ---------------------------------------------------------------------------------------------
// Data sources, tenancy
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn data_sources_warn_about_a_flex_token_expiring_within_14_days_only() {
    let app = app_with(&[], Vec::new()).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let today = Utc::now().date_naive();
    let with_expiry = |days: u64| {
        let mut config = flex_config(&flex_token(), Some(MAIN_ACCOUNT));
        if let Some(map) = config.as_object_mut() {
            map.insert(
                "token_expires_on".into(),
                Value::from((today + Days::new(days)).to_string()),
            );
        }
        config
    };
    let soon = ibkr_account(&app, t, with_expiry(7)).await;
    let later = ibkr_account(&app, t, with_expiry(200)).await;
    let none = ibkr_account(&app, t, flex_config(&flex_token(), None)).await;

    let body = get_ok(&app, t, "/api/data-sources").await;
    let sources = body["integrations"].as_array().cloned().unwrap_or_default();
    let of = |id: &str| {
        sources
            .iter()
            .find(|s| s["account_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no data source {id} in {body}"))
    };
    let warnings = of(&soon)["warnings"].clone();
    let list = warnings.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{warnings}");
    let text = list[0].as_str().unwrap_or_default();
    assert!(text.contains("in 7 days"), "{text}");
    assert!(text.contains(&(today + Days::new(7)).to_string()), "{text}");
    assert_eq!(of(&later)["warnings"], json!([]));
    assert_eq!(of(&none)["warnings"], json!([]));
    assert_eq!(of(&soon)["type"], "IBKR");
}

#[tokio::test]
async fn another_user_gets_404_on_the_ibkr_accounts_remote_accounts_refresh_and_upload() {
    let token = flex_token();
    let mock = FlexMock::start(&token, QUERY_ID).await;
    serve_fixture_and_chunks(&mock, false);
    let app = flex_app(&mock, &[]).await;
    let owner = TestUser::register(&app).await;
    let account = ibkr_account(&app, owner.token(), flex_config(&token, Some(MAIN_ACCOUNT))).await;
    let intruder = TestUser::register(&app).await;
    let t = intruder.token();

    let r = app
        .get(
            &format!("/api/accounts/{account}/integration/remote-accounts"),
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = refresh(&app, t, &account).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .post_empty(&format!("/api/accounts/{account}/integration/test"), t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .get(&format!("/api/accounts/{account}/integration"), t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = set_ibkr(&app, t, &account, flex_config("stolen", None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let (status, body) = upload(
        &app,
        t,
        &account,
        "?format=ibkr_flex&ibkr_account=U1234567",
        MULTI_ACCOUNT,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.to_string().contains(MAIN_ACCOUNT), "{body}");

    // The GraphQL equivalents.
    let vars = json!({"id": account});
    let r = app
        .graphql(
            Some(t),
            "query($id: UUID!) { remoteAccounts(accountId: $id) { id } }",
            vars.clone(),
        )
        .await;
    assert_eq!(r.gql_codes(), ["NOT_FOUND"], "{}", r.text);
    let r = app
        .graphql(
            Some(t),
            "mutation($id: UUID!) { refreshAccount(accountId: $id) { id } }",
            vars.clone(),
        )
        .await;
    assert_eq!(r.gql_codes(), ["NOT_FOUND"], "{}", r.text);

    assert_eq!(
        mock.send_requests(),
        0,
        "the intruder reached IB through nobody"
    );
    assert!(transactions(&app, owner.token(), &account).await.is_empty());
    assert!(jobs_of(&app, owner.token(), &account).await.is_empty());
    // The owner's integration is untouched.
    let info = integration(&app, owner.token(), &account).await;
    assert_eq!(info["config"]["account_id"], MAIN_ACCOUNT, "{info}");
    let data = app
        .graphql_data(
            owner.token(),
            "query($id: UUID!) { remoteAccounts(accountId: $id) { id currency type } }",
            vars,
        )
        .await;
    assert_eq!(
        data["remoteAccounts"],
        json!([
            {"id": MAIN_ACCOUNT, "currency": "USD", "type": "Individual"},
            {"id": SECOND_ACCOUNT, "currency": "EUR", "type": "Individual"},
        ])
    );
    let r = refresh(&app, owner.token(), &account).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
