//! Manual transactions through the ledger writer: derived holdings (average cost, splits,
//! sells, cash per currency), corrections, deletion with tombstones (also against syncs),
//! cross-source aliases, the cross-account list with filters, tenancy and validation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_tests::{TestApp, TestUser};

use crate::pipeline_support::{list_all, num, pipeline_app, set_demo, tx_rows};

const AAPL: &str = "EQUITY:XNAS:AAPL";

async fn add(app: &TestApp, token: &str, account: &str, body: Value) -> Value {
    let r = app
        .post(
            &format!("/api/accounts/{account}/transactions"),
            token,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

fn buy(date: &str, qty: &str, price: &str, amount: &str) -> Value {
    json!({"type": "buy", "trade_date": date, "symbol": "AAPL", "quantity": qty,
           "price": price, "amount": amount, "currency": "USD"})
}

/// The account's holdings as `(asset_id, quantity, cost_basis)`.
async fn holdings(app: &TestApp, token: &str, account: &str) -> Vec<(String, f64, Option<f64>)> {
    let r = app
        .get(&format!("/api/accounts/{account}/holdings"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut out: Vec<_> = r
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| {
            (
                h["asset"]["asset_id"]
                    .as_str()
                    .expect("asset id")
                    .to_string(),
                num(&h["quantity"]),
                (!h["cost_basis"].is_null()).then(|| num(&h["cost_basis"])),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[tokio::test]
async fn manual_transactions_derive_holdings_with_average_cost_splits_sells_and_cash() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Manual").await;

    let created = add(
        &app,
        t,
        &account,
        json!({"type": "deposit", "trade_date": "2026-01-02", "amount": "10000", "currency": "USD"}),
    )
    .await;
    assert_eq!(created["source"], "manual");
    assert_eq!(created["type"], "deposit");
    assert_eq!(created["account_id"], account.as_str());
    add(&app, t, &account, buy("2026-01-05", "10", "100", "-1000")).await;
    let second = add(&app, t, &account, buy("2026-01-06", "10", "200", "-2000")).await;
    assert_eq!(second["asset"]["asset_id"], AAPL);
    // 20 shares for 3000: average 150.
    let h = holdings(&app, t, &account).await;
    let aapl = h.iter().find(|x| x.0 == AAPL).expect("AAPL held");
    assert!(
        close(aapl.1, 20.0) && close(aapl.2.expect("cost"), 3000.0),
        "{h:?}"
    );

    // A 2-for-1 split adds 20 shares at no cost; selling 10 takes a quarter of the cost.
    add(
        &app,
        t,
        &account,
        json!({"type": "split", "trade_date": "2026-01-07", "symbol": "AAPL", "quantity": "20",
               "amount": "0", "currency": "USD"}),
    )
    .await;
    add(
        &app,
        t,
        &account,
        json!({"type": "sell", "trade_date": "2026-01-08", "symbol": "AAPL", "quantity": "10",
               "price": "100", "amount": "1000", "currency": "USD"}),
    )
    .await;
    add(
        &app,
        t,
        &account,
        json!({"type": "deposit", "trade_date": "2026-01-09", "amount": "500", "currency": "EUR"}),
    )
    .await;
    let h = holdings(&app, t, &account).await;
    let aapl = h.iter().find(|x| x.0 == AAPL).expect("AAPL held");
    assert!(close(aapl.1, 30.0), "{h:?}");
    assert!(
        close(aapl.2.expect("cost"), 2250.0),
        "average cost 75 × 30: {h:?}"
    );
    let usd = h.iter().find(|x| x.0 == "CASH:USD").expect("USD cash");
    assert!(close(usd.1, 8000.0), "10000 - 1000 - 2000 + 1000: {h:?}");
    let eur = h.iter().find(|x| x.0 == "CASH:EUR").expect("EUR cash");
    assert!(close(eur.1, 500.0), "{h:?}");

    // Correcting the second buy to 10 @ 150 recomputes the position.
    let tx = second["id"].as_str().expect("id");
    let r = app
        .put(
            &format!("/api/accounts/{account}/transactions/{tx}"),
            t,
            buy("2026-01-06", "10", "150", "-1500"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], tx);
    assert!(close(num(&r.body["amount"]), -1500.0));
    let h = holdings(&app, t, &account).await;
    let aapl = h.iter().find(|x| x.0 == AAPL).expect("AAPL held");
    // 20 shares for 2500, split to 40 (62.5 each), sell 10 → 30 shares for 1875.
    assert!(
        close(aapl.1, 30.0) && close(aapl.2.expect("cost"), 1875.0),
        "{h:?}"
    );
    let usd = h.iter().find(|x| x.0 == "CASH:USD").expect("USD cash");
    assert!(close(usd.1, 8500.0), "{h:?}");

    // Deleting it: 204, the position shrinks, and the identical entry cannot come back.
    let r = app
        .delete(&format!("/api/accounts/{account}/transactions/{tx}"), t)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app
        .delete(&format!("/api/accounts/{account}/transactions/{tx}"), t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let h = holdings(&app, t, &account).await;
    let aapl = h.iter().find(|x| x.0 == AAPL).expect("AAPL held");
    // 10 for 1000, +20 by the split (33.33 each), 10 sold → 20 shares for 666.67.
    assert!(
        close(aapl.1, 20.0) && close(aapl.2.expect("cost"), 666.67),
        "{h:?}"
    );
    let before = tx_rows(&app, &account).await;
    let r = app
        .post(
            &format!("/api/accounts/{account}/transactions"),
            t,
            buy("2026-01-06", "10", "150", "-1500"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(tx_rows(&app, &account).await, before);
}

#[tokio::test]
async fn a_synced_transaction_deleted_by_the_user_does_not_come_back_on_the_next_sync() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 51}), true).await;
    let all = list_all(&app, t, &format!("account_id={account}")).await;
    let total = all.len();
    assert!(total > 2);
    let victim = &all[total / 2];
    let victim_id = victim["id"].as_str().expect("id");
    let source_id = victim["source_id"].as_str().expect("source id").to_string();
    let r = app
        .delete(
            &format!("/api/accounts/{account}/transactions/{victim_id}"),
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    // Re-saving the integration resets the cursor, so the refresh re-fetches everything.
    set_demo(&app, t, &account, json!({"seed": 51})).await;
    let r = app
        .post_empty(&format!("/api/accounts/{account}/integration/refresh"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["inserted"], 0, "{}", r.text);
    let after = list_all(&app, t, &format!("account_id={account}")).await;
    assert_eq!(after.len(), total - 1);
    assert!(after.iter().all(|x| x["source_id"] != source_id.as_str()));
    assert_eq!(tx_rows(&app, &account).await as usize, total - 1);
}

#[tokio::test]
async fn a_manual_entry_matching_a_synced_record_within_the_window_is_stored_as_an_alias() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 52}), true).await;
    let synced = list_all(&app, t, &format!("account_id={account}&type=buy")).await;
    let original = synced
        .iter()
        .find(|x| {
            x["asset"]["asset_id"]
                .as_str()
                .is_some_and(|a| a.starts_with("EQUITY:"))
        })
        .or_else(|| synced.first())
        .expect("the demo account has buys")
        .clone();
    let date = chrono::NaiveDate::parse_from_str(
        original["trade_date"].as_str().expect("date"),
        "%Y-%m-%d",
    )
    .expect("date");
    let later = (date + chrono::Days::new(2)).min(chrono::Utc::now().date_naive());
    let entry = json!({
        "type": "buy",
        "trade_date": later.to_string(),
        "symbol": original["asset"]["asset_id"],
        "quantity": original["quantity"],
        "amount": original["amount"],
        "currency": original["currency"],
    });
    let before = list_all(&app, t, &format!("account_id={account}"))
        .await
        .len();
    let created = add(&app, t, &account, entry).await;
    assert_eq!(created["alias_of"], original["id"], "{created}");
    assert!(
        created["match_reason"]
            .as_str()
            .is_some_and(|m| m.contains("demo")),
        "{created}"
    );
    // The default list hides the alias; include_aliases shows it with the reason.
    let default = list_all(&app, t, &format!("account_id={account}")).await;
    assert_eq!(default.len(), before);
    let with = list_all(
        &app,
        t,
        &format!("account_id={account}&include_aliases=true"),
    )
    .await;
    assert_eq!(with.len(), before + 1);
    let alias = with
        .iter()
        .find(|x| x["id"] == created["id"])
        .expect("the alias is listed");
    assert_eq!(alias["alias_of"], original["id"]);
    assert!(alias["match_reason"].is_string());
    assert_eq!(alias["source"], "manual");

    // Outside the window it is a transaction of its own.
    let far = json!({
        "type": "buy",
        "trade_date": (date - chrono::Days::new(30)).to_string(),
        "symbol": original["asset"]["asset_id"],
        "quantity": original["quantity"],
        "amount": original["amount"],
        "currency": original["currency"],
    });
    let separate = add(&app, t, &account, far).await;
    assert!(separate["alias_of"].is_null(), "{separate}");
}

#[tokio::test]
async fn the_transaction_list_spans_accounts_with_filters_pagination_and_tenancy() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let a = app.create_account(t, "A").await;
    let b = app.create_account(t, "B").await;
    add(
        &app,
        t,
        &a,
        json!({"type": "deposit", "trade_date": "2026-02-01", "amount": "5000", "currency": "USD"}),
    )
    .await;
    add(&app, t, &a, buy("2026-02-02", "5", "100", "-500")).await;
    let buy_b = add(&app, t, &b, buy("2026-03-02", "1", "100", "-100")).await;
    add(
        &app,
        t,
        &b,
        json!({"type": "buy", "trade_date": "2026-03-03", "symbol": "BTC", "quantity": "0.1",
               "price": "50000", "amount": "-5000", "currency": "USD"}),
    )
    .await;

    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|x| x["id"].as_str().expect("id").to_string())
            .collect()
    };
    let all = list_all(&app, t, "").await;
    assert_eq!(all.len(), 4);
    let dates: Vec<&str> = all
        .iter()
        .map(|x| x["trade_date"].as_str().expect("date"))
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(dates, sorted, "newest first");
    assert_eq!(list_all(&app, t, "type=buy").await.len(), 3);
    assert_eq!(list_all(&app, t, "type=buy,deposit").await.len(), 4);
    assert_eq!(list_all(&app, t, &format!("asset={AAPL}")).await.len(), 2);
    assert_eq!(list_all(&app, t, "asset=EQUITY:XNAS:NOPE").await.len(), 0);
    assert_eq!(list_all(&app, t, "source=manual").await.len(), 4);
    assert_eq!(list_all(&app, t, "source=demo").await.len(), 0);
    assert_eq!(
        list_all(&app, t, "from=2026-03-01&to=2026-03-02")
            .await
            .iter()
            .map(|x| x["id"].clone())
            .collect::<Vec<_>>(),
        vec![buy_b["id"].clone()]
    );
    assert_eq!(
        list_all(&app, t, &format!("account_id={b}&type=buy&asset={AAPL}"))
            .await
            .len(),
        1
    );
    // Pages of one.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let r = app
            .get(&format!("/api/transactions?limit=1&cursor={cursor}"), t)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(ids(r.body["items"].as_array().expect("items")));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));
    // Bad filters.
    for (query, field) in [
        ("type=gift", "type"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("cursor=garbage", "cursor"),
    ] {
        let r = app.get(&format!("/api/transactions?{query}"), t).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.text
        );
        assert_eq!(r.body["field"], field, "{query}: {}", r.text);
    }

    // Another user sees none of it and cannot touch it.
    let other = TestUser::register(&app).await;
    let o = other.token();
    assert!(list_all(&app, o, "").await.is_empty());
    let r = app
        .get(&format!("/api/transactions?account_id={a}"), o)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let tx = buy_b["id"].as_str().expect("id");
    let r = app
        .post(
            &format!("/api/accounts/{b}/transactions"),
            o,
            buy("2026-03-02", "1", "100", "-100"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .put(
            &format!("/api/accounts/{b}/transactions/{tx}"),
            o,
            buy("2026-03-02", "2", "100", "-200"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .delete(&format!("/api/accounts/{b}/transactions/{tx}"), o)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // Their own account with someone else's transaction id is 404 too.
    let mine = app.create_account(o, "Mine").await;
    let r = app
        .delete(&format!("/api/accounts/{mine}/transactions/{tx}"), o)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .put(
            &format!("/api/accounts/{mine}/transactions/{tx}"),
            o,
            buy("2026-03-02", "2", "100", "-200"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // Nothing changed for the owner.
    assert_eq!(list_all(&app, t, "").await.len(), 4);
    assert_eq!(tx_rows(&app, &mine).await, 0);
}

#[tokio::test]
async fn invalid_manual_transactions_are_rejected_naming_the_field_and_nothing_is_written() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Manual").await;
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(10)).to_string();
    let base = buy("2026-01-05", "10", "100", "-1000");
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };
    let cases = [
        (with("type", json!("gift")), "type"),
        (with("trade_date", json!(future)), "trade_date"),
        (with("amount", json!("1000")), "amount"),
        (with("currency", json!("DOLLARS")), "currency"),
        (with("currency", json!("XYZ")), "currency"),
        (with("quantity", json!("0")), "quantity"),
        (with("price", json!("-1")), "price"),
        (with("asset_class", json!("painting")), "asset_class"),
        (
            json!({"type": "sell", "trade_date": "2026-01-05", "symbol": "AAPL", "quantity": "1",
                   "amount": "-5", "currency": "USD"}),
            "amount",
        ),
        (
            json!({"type": "deposit", "trade_date": "2026-01-05", "amount": "-5", "currency": "USD"}),
            "amount",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .post(
                &format!("/api/accounts/{account}/transactions"),
                t,
                body.clone(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    assert_eq!(tx_rows(&app, &account).await, 0, "nothing was written");
    assert!(holdings(&app, t, &account).await.is_empty());
}

#[tokio::test]
async fn a_buy_without_a_symbol_is_rejected_naming_the_symbol_field() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Manual").await;
    let r = app
        .post(
            &format!("/api/accounts/{account}/transactions"),
            t,
            json!({"type": "buy", "trade_date": "2026-01-05", "quantity": "1", "price": "10",
                   "amount": "-10", "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["field"], "symbol", "{}", r.text);
    assert_eq!(tx_rows(&app, &account).await, 0);
}
