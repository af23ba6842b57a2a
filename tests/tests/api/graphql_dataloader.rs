//! N+1: the holdings (and their assets) of every account on a page load in one batch, so the
//! number of SQL statements a dashboard query runs does not grow with the number of accounts.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_tests::{AppOptions, TestApp, TestUser, spawn_app_with};

const DASHBOARD: &str = "{ accounts(first: 50) { edges { node { id name balance holdings { quantity asset { symbol } } } } } }";

/// Creates `n` accounts with a refreshed DEMO integration each, in three GraphQL requests
/// (aliased mutations run one after another), and returns their ids in creation order.
async fn synced_accounts(app: &TestApp, token: &str, n: usize) -> Vec<String> {
    let create: String = (0..n)
        .map(|i| {
            format!(
                "a{i}: createAccount(input: {{name: \"Account {i:02}\", kind: BROKERAGE, currency: \"USD\"}}) {{ id }} "
            )
        })
        .collect();
    let created = app
        .graphql_data(token, &format!("mutation {{ {create} }}"), json!({}))
        .await;
    let ids: Vec<String> = (0..n)
        .map(|i| {
            created[format!("a{i}")]["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    let set: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                "s{i}: setIntegration(accountId: \"{id}\", input: {{type: \"DEMO\", config: {{seed: {}}}}}) {{ status }} ",
                i + 1
            )
        })
        .collect();
    app.graphql_data(token, &format!("mutation {{ {set} }}"), json!({}))
        .await;
    let refresh: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("r{i}: refreshAccount(accountId: \"{id}\") {{ status inserted }} "))
        .collect();
    let refreshed = app
        .graphql_data(token, &format!("mutation {{ {refresh} }}"), json!({}))
        .await;
    for i in 0..n {
        assert_eq!(refreshed[format!("r{i}")]["status"], "succeeded");
    }
    ids
}

/// The app with the account-list read cache off, so every run of the query does the same work.
async fn app_without_cache() -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![
            ("TRIBUTARY__SERVER__READ_CACHE".into(), "off".into()),
            // No job workers: their polling would add statements to the count.
            ("TRIBUTARY__JOBS__WORKERS".into(), "0".into()),
        ],
    })
    .await
}

/// Runs the dashboard query `runs` times and returns its data and the SQL statements each run
/// cost (the answers must all be the same).
async fn costs(app: &TestApp, token: &str, runs: usize) -> (Value, Vec<u64>) {
    let mut data = Value::Null;
    let mut costs = Vec::new();
    for _ in 0..runs {
        let before = app.ctx.metrics.db_statements();
        let r = app.graphql(Some(token), DASHBOARD, json!({})).await;
        costs.push(app.ctx.metrics.db_statements() - before);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.body.get("errors").is_none(), "{}", r.text);
        if !data.is_null() {
            assert_eq!(r.body["data"], data, "the same answer every time");
        }
        data = r.body["data"].clone();
    }
    (data, costs)
}

/// The fewest statements a run of the dashboard query cost over several runs. The loader
/// batches what arrives within its window, so a slow, loaded machine may split a batch in
/// two now and then; the fewest is what the query needs.
async fn measured(app: &TestApp, token: &str) -> (Value, u64) {
    let (data, costs) = costs(app, token, 8).await;
    assert!(
        costs.iter().all(|c| *c < 20),
        "never anywhere near one statement per account: {costs:?}"
    );
    (data, costs.into_iter().min().unwrap_or(u64::MAX))
}

fn nodes(data: &Value) -> Vec<Value> {
    data["accounts"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn fifty_accounts_with_holdings_and_assets_load_in_a_bounded_number_of_sql_statements() {
    let app = app_without_cache().await;
    let small = TestUser::register(&app).await;
    let big = TestUser::register(&app).await;
    synced_accounts(&app, small.token(), 5).await;
    let ids = synced_accounts(&app, big.token(), 50).await;

    let (small_data, small_cost) = measured(&app, small.token()).await;
    let (data, cost) = measured(&app, big.token()).await;
    assert_eq!(nodes(&small_data).len(), 5);
    assert!(
        cost <= 6,
        "50 accounts with holdings and assets took {cost} SQL statements (5 took {small_cost})"
    );
    assert_eq!(
        cost, small_cost,
        "the cost does not grow with the number of accounts (5 accounts: {small_cost}, 50: {cost})"
    );

    // And the answer is right: every account, in order, with its own holdings.
    let nodes = nodes(&data);
    assert_eq!(nodes.len(), 50);
    let got: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["name"], format!("Account {i:02}"));
        assert!(node["balance"].is_string(), "{node}");
        let holdings = node["holdings"].as_array().expect("holdings");
        assert!(!holdings.is_empty(), "account {i} has holdings: {node}");
        for h in holdings {
            assert!(h["quantity"].is_string(), "{h}");
            assert!(
                h["asset"]["symbol"].as_str().is_some_and(|s| !s.is_empty()),
                "{h}"
            );
        }
    }
    // The batch gives each account exactly what REST gives it.
    for (id, node) in ids.iter().zip(&nodes) {
        let rest = app
            .get(&format!("/api/accounts/{id}/holdings"), big.token())
            .await;
        let rest_holdings = rest.body.as_array().expect("holdings");
        let mut expected: HashMap<String, usize> = HashMap::new();
        for h in rest_holdings {
            *expected
                .entry(format!("{}|{}", h["asset"]["symbol"], h["quantity"]))
                .or_default() += 1;
        }
        let mut actual: HashMap<String, usize> = HashMap::new();
        for h in node["holdings"].as_array().expect("holdings") {
            *actual
                .entry(format!("{}|{}", h["asset"]["symbol"], h["quantity"]))
                .or_default() += 1;
        }
        assert_eq!(actual, expected, "holdings of account {id}");
        let rest_account = app.get(&format!("/api/accounts/{id}"), big.token()).await;
        assert_eq!(
            node["balance"], rest_account.body["balance"],
            "balance of {id}"
        );
    }
}

#[tokio::test]
async fn asking_for_each_accounts_holdings_separately_costs_statements_per_account() {
    // The contrast that makes the bound meaningful: without the loader, every account costs its
    // own statements (ownership check, holdings, assets).
    let app = app_without_cache().await;
    let user = TestUser::register(&app).await;
    let ids = synced_accounts(&app, user.token(), 5).await;
    let separate: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!("h{i}: holdings(accountId: \"{id}\") {{ quantity asset {{ symbol }} }} ")
        })
        .collect();
    let before = app.ctx.metrics.db_statements();
    let data = app
        .graphql_data(user.token(), &format!("{{ {separate} }}"), json!({}))
        .await;
    let separate_cost = app.ctx.metrics.db_statements() - before;
    assert!(
        data["h4"].as_array().is_some_and(|h| !h.is_empty()),
        "{data}"
    );
    let (_, batched_cost) = measured(&app, user.token()).await;
    assert!(
        separate_cost >= 5 * 2,
        "5 separate lookups cost {separate_cost} statements"
    );
    assert!(
        batched_cost < separate_cost,
        "batched {batched_cost} vs separate {separate_cost}"
    );
}

#[tokio::test]
async fn every_run_of_the_fifty_account_dashboard_loads_all_holdings_in_one_batch() {
    let app = app_without_cache().await;
    let user = TestUser::register(&app).await;
    synced_accounts(&app, user.token(), 50).await;
    let (data, costs) = costs(&app, user.token(), 15).await;
    assert_eq!(nodes(&data).len(), 50);
    let fewest = costs.iter().copied().min().unwrap_or_default();
    assert!(fewest <= 6, "{costs:?}");
    assert!(
        costs.iter().all(|c| *c == fewest),
        "every run costs the same, however loaded the machine: {costs:?}"
    );
}
