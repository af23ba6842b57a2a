//! The whole user journey through GraphQL, checked against REST at every step: both front
//! doors run the same services, so they must show the same data.

use std::collections::HashSet;

use reqwest::StatusCode;
use sea_orm::ActiveModelTrait;
use serde_json::{Value, json};
use tributary_tests::{TestApp, TestUser, spawn_app};

const ACCOUNT_FIELDS: &str = "id name kind currency institution notes balance balanceCurrency
    balanceUpdatedAt lastSyncedAt createdAt updatedAt
    integration { type config status lastSyncedAt lastError }";

/// Every transaction REST returns for the account and query string, following `next_cursor`.
async fn rest_transactions(app: &TestApp, token: &str, id: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/accounts/{id}/transactions?limit=200{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

/// Every transaction GraphQL returns through `transactions(accountId, filter, first, after)`,
/// following `pageInfo.endCursor`; also returns how many pages it took.
async fn graphql_transactions(
    app: &TestApp,
    token: &str,
    id: &str,
    filter: Value,
    first: i64,
) -> (Vec<Value>, usize) {
    let query = "query($id: UUID!, $filter: TransactionFilter, $first: Int, $after: String) {
        transactions(accountId: $id, filter: $filter, first: $first, after: $after) {
            edges { cursor node { id type tradeDate amount currency quantity asset { symbol } } }
            pageInfo { hasNextPage endCursor }
        }
    }";
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let data = app
            .graphql_data(
                token,
                query,
                json!({"id": id, "filter": filter, "first": first, "after": after}),
            )
            .await;
        pages += 1;
        let conn = &data["transactions"];
        let edges = conn["edges"].as_array().expect("edges");
        assert!(edges.len() as i64 <= first, "a page holds at most `first`");
        items.extend(edges.iter().map(|e| e["node"].clone()));
        if conn["pageInfo"]["hasNextPage"] == true {
            assert_eq!(edges.len() as i64, first, "only the last page may be short");
            let end = conn["pageInfo"]["endCursor"].as_str().expect("endCursor");
            assert_eq!(
                edges.last().map(|e| &e["cursor"]),
                Some(&json!(end)),
                "endCursor is the last edge's cursor"
            );
            after = Some(end.to_string());
        } else {
            return (items, pages);
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect()
}

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn a_user_walks_the_whole_journey_through_graphql_and_rest_shows_the_same_data() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();

    // me
    let me = app
        .graphql_data(
            token,
            "{ me { id email displayName baseCurrency role createdAt } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["id"], user.id.as_str());
    assert_eq!(me["me"]["email"], user.email.as_str());
    assert_eq!(me["me"]["role"], "USER");
    assert!(me["me"]["displayName"].is_null());
    let rest_me = app.get("/api/me", token).await;
    assert_eq!(me["me"]["baseCurrency"], rest_me.body["base_currency"]);
    assert_eq!(
        instant(&me["me"]["createdAt"]),
        instant(&rest_me.body["created_at"])
    );

    // integrationTypes: the same catalogue as REST.
    let types = app
        .graphql_data(
            token,
            "{ integrationTypes { type name description fields { name type required secret description } configSchema } }",
            json!({}),
        )
        .await;
    let catalogue = app.get("/api/integrations", token).await;
    assert_eq!(catalogue.status, StatusCode::OK);
    let gql_types = types["integrationTypes"].as_array().expect("types");
    let rest_types = catalogue.body.as_array().expect("catalogue");
    assert_eq!(gql_types.len(), rest_types.len());
    for (g, r) in gql_types.iter().zip(rest_types) {
        assert_eq!(g["type"], r["type"]);
        assert_eq!(g["name"], r["name"]);
        assert_eq!(g["configSchema"], r["config_schema"]);
        assert_eq!(g["fields"], r["fields"], "config fields of {}", g["type"]);
    }
    let demo = gql_types
        .iter()
        .find(|t| t["type"] == "DEMO")
        .expect("DEMO in the catalogue");
    assert_eq!(demo["configSchema"]["additionalProperties"], false);
    assert!(
        demo["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["name"] == "password" && f["secret"] == true && f["type"] == "string")
    );

    // createAccount
    let created = app
        .graphql_data(
            token,
            &format!(
                "mutation($input: CreateAccountInput!) {{ createAccount(input: $input) {{ {ACCOUNT_FIELDS} }} }}"
            ),
            json!({"input": {"name": "Brokerage", "kind": "BROKERAGE", "currency": "eur",
                             "institution": "Demo Bank", "notes": "long term"}}),
        )
        .await;
    let account = &created["createAccount"];
    let id = account["id"].as_str().expect("id").to_string();
    assert_eq!(account["name"], "Brokerage");
    assert_eq!(account["kind"], "BROKERAGE");
    assert_eq!(account["currency"], "EUR", "currencies are normalized");
    assert_eq!(account["institution"], "Demo Bank");
    assert_eq!(account["notes"], "long term");
    assert!(account["integration"].is_null());
    assert!(account["balance"].is_null());
    let rest = app.get(&format!("/api/accounts/{id}"), token).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text);
    assert_eq!(rest.body["name"], "Brokerage");
    assert_eq!(rest.body["kind"], "brokerage");
    assert_eq!(rest.body["currency"], "EUR");
    assert!(rest.body["integration_type"].is_null());

    // setIntegration: the secret is redacted exactly as in REST.
    let set = app
        .graphql(
            Some(token),
            "mutation($id: UUID!) { setIntegration(accountId: $id, input: {type: \"DEMO\", config: {seed: 42, password: \"demo\"}}) { type status config lastSyncedAt lastError } }",
            json!({"id": id}),
        )
        .await;
    assert!(set.body.get("errors").is_none(), "{}", set.text);
    let integration = &set.body["data"]["setIntegration"];
    assert_eq!(integration["type"], "DEMO");
    assert_eq!(integration["status"], "CONFIGURED");
    assert_eq!(integration["config"]["password"], "********");
    assert_eq!(integration["config"]["has_password"], true);
    assert_eq!(integration["config"]["seed"], 42);
    assert_eq!(integration["config"]["profile"], "balanced");
    assert!(integration["lastSyncedAt"].is_null());
    assert!(
        !set.text.contains("\"password\":\"demo\""),
        "the secret is never echoed: {}",
        set.text
    );
    let rest_integration = app
        .get(&format!("/api/accounts/{id}/integration"), token)
        .await;
    assert_eq!(rest_integration.body["config"], integration["config"]);
    assert_eq!(rest_integration.body["status"], "configured");

    // testIntegration
    let tested = app
        .graphql_data(
            token,
            "mutation($id: UUID!) { testIntegration(accountId: $id) { success message status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(tested["testIntegration"]["success"], true, "{tested}");
    assert_eq!(tested["testIntegration"]["status"], "OK");
    assert!(
        tested["testIntegration"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("demo broker")),
        "{tested}"
    );

    // refreshAccount returns the finished job.
    let refreshed = app
        .graphql_data(
            token,
            "mutation($id: UUID!) { refreshAccount(accountId: $id) { id accountId source trigger status fetched inserted updated duplicates failed error createdAt startedAt finishedAt } }",
            json!({"id": id}),
        )
        .await;
    let job = refreshed["refreshAccount"].clone();
    let job_id = job["id"].as_str().expect("job id").to_string();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["accountId"], id.as_str());
    assert_eq!(job["source"], "demo");
    assert_eq!(job["trigger"], "api");
    let inserted = job["inserted"].as_i64().expect("inserted");
    assert!(inserted > 50, "a year of demo history, got {inserted}");
    assert_eq!(job["duplicates"], 0);
    assert_eq!(job["failed"], 0);
    assert!(job["error"].is_null());
    assert!(job["finishedAt"].is_string());
    let rest_job = app.get(&format!("/api/import-jobs/{job_id}"), token).await;
    assert_eq!(rest_job.status, StatusCode::OK, "{}", rest_job.text);
    for (g, r) in [
        ("status", "status"),
        ("fetched", "fetched"),
        ("inserted", "inserted"),
        ("duplicates", "duplicates"),
        ("source", "source"),
        ("trigger", "trigger"),
    ] {
        assert_eq!(job[g], rest_job.body[r], "job.{g}");
    }
    assert_eq!(
        instant(&job["finishedAt"]),
        instant(&rest_job.body["finished_at"])
    );

    // The account as REST sees it now.
    let rest_account = app.get(&format!("/api/accounts/{id}"), token).await;
    let rest_holdings = app
        .get(&format!("/api/accounts/{id}/holdings"), token)
        .await;
    let rest_holdings = rest_holdings.body.as_array().expect("holdings").clone();
    assert!(rest_holdings.len() >= 5, "{rest_holdings:?}");
    let all_rest_txs = rest_transactions(&app, token, &id, "").await;
    assert_eq!(all_rest_txs.len() as i64, inserted);

    // A second account, to page through accounts.
    let second = app
        .graphql_data(
            token,
            "mutation { createAccount(input: {name: \"Wallet\", kind: CRYPTO, currency: \"USD\"}) { id kind institution notes } }",
            json!({}),
        )
        .await;
    let second_id = second["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(second["createAccount"]["kind"], "CRYPTO");
    assert!(second["createAccount"]["institution"].is_null());

    // accounts: nested integration, holdings with assets, and a filtered, paged
    // transactions connection.
    let nested = app
        .graphql_data(
            token,
            &format!(
                "query($first: Int, $after: String) {{
                accounts(first: $first, after: $after) {{
                    edges {{ cursor node {{
                        {ACCOUNT_FIELDS}
                        holdings {{ id quantity costBasis price marketValue currency asOf source
                                    asset {{ assetId symbol name class currency exchange }} }}
                        transactions(first: 5, filter: {{types: [BUY]}}) {{
                            edges {{ cursor node {{ id type tradeDate amount }} }}
                            pageInfo {{ hasNextPage endCursor }}
                        }}
                    }} }}
                    pageInfo {{ hasNextPage endCursor }}
                }}
            }}"
            ),
            json!({"first": 1}),
        )
        .await;
    let conn = &nested["accounts"];
    let edges = conn["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "first: 1");
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    assert_eq!(conn["pageInfo"]["endCursor"], edges[0]["cursor"]);
    let node = &edges[0]["node"];
    assert_eq!(node["id"], id.as_str(), "accounts come in creation order");
    assert!(node["balance"].is_string(), "decimals are strings: {node}");
    assert_eq!(node["balance"], rest_account.body["balance"]);
    assert_eq!(
        node["balanceCurrency"],
        rest_account.body["balance_currency"]
    );
    assert_eq!(
        instant(&node["lastSyncedAt"]),
        instant(&rest_account.body["last_synced_at"])
    );
    assert_eq!(node["integration"]["type"], "DEMO");
    assert_eq!(node["integration"]["status"], "OK");
    assert_eq!(node["integration"]["config"]["password"], "********");
    assert_eq!(
        node["integration"]["config"],
        rest_account.body["integration_config"]
    );
    assert_eq!(
        instant(&node["integration"]["lastSyncedAt"]),
        instant(&rest_account.body["last_synced_at"])
    );
    assert!(node["integration"]["lastError"].is_null());
    let gql_holdings = node["holdings"].as_array().expect("holdings");
    assert_eq!(gql_holdings.len(), rest_holdings.len());
    for r in &rest_holdings {
        let g = gql_holdings
            .iter()
            .find(|g| g["id"] == r["id"])
            .unwrap_or_else(|| panic!("holding {} missing from GraphQL", r["id"]));
        assert!(g["quantity"].is_string(), "{g}");
        for (gf, rf) in [
            ("quantity", "quantity"),
            ("costBasis", "cost_basis"),
            ("price", "price"),
            ("marketValue", "market_value"),
            ("currency", "currency"),
            ("source", "source"),
        ] {
            assert_eq!(g[gf], r[rf], "holding {}: {gf}", r["id"]);
        }
        assert_eq!(g["asset"]["assetId"], r["asset"]["asset_id"]);
        assert_eq!(g["asset"]["symbol"], r["asset"]["symbol"]);
        assert_eq!(g["asset"]["class"], r["asset"]["class"]);
        assert_eq!(g["asset"]["exchange"], r["asset"]["exchange"]);
    }
    let rest_buys = rest_transactions(&app, token, &id, "&type=buy").await;
    assert!(
        rest_buys.len() > 5,
        "enough buys to page: {}",
        rest_buys.len()
    );
    let nested_txs = &node["transactions"];
    let nested_edges = nested_txs["edges"].as_array().expect("edges");
    assert_eq!(nested_edges.len(), 5);
    assert_eq!(nested_txs["pageInfo"]["hasNextPage"], true);
    assert!(nested_edges.iter().all(|e| e["node"]["type"] == "BUY"));
    let nested_ids: Vec<String> = nested_edges
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(nested_ids, ids(&rest_buys[..5]), "same first page as REST");

    // The nested connection pages on with `after`.
    let next_page = app
        .graphql_data(
            token,
            "query($id: UUID!, $after: String) { account(id: $id) { transactions(first: 5, after: $after, filter: {types: [BUY]}) { edges { node { id } } pageInfo { hasNextPage } } } }",
            json!({"id": id, "after": nested_txs["pageInfo"]["endCursor"]}),
        )
        .await;
    let page2: Vec<String> = next_page["account"]["transactions"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(page2, ids(&rest_buys[5..rest_buys.len().min(10)]));

    // The second page of accounts.
    let page = app
        .graphql_data(
            token,
            "query($after: String) { accounts(first: 1, after: $after) { edges { node { id name } } pageInfo { hasNextPage endCursor } } }",
            json!({"after": conn["pageInfo"]["endCursor"]}),
        )
        .await;
    let edges = page["accounts"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["id"], second_id.as_str());
    assert_eq!(page["accounts"]["pageInfo"]["hasNextPage"], false);
    let rest_list = app.get("/api/accounts", token).await;
    let rest_ids: Vec<&str> = rest_list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(rest_ids, [id.as_str(), second_id.as_str()]);

    // account(id) is the same account.
    let single = app
        .graphql_data(
            token,
            &format!("query($id: UUID!) {{ account(id: $id) {{ {ACCOUNT_FIELDS} }} }}"),
            json!({"id": id}),
        )
        .await;
    for field in [
        "id",
        "name",
        "balance",
        "integration",
        "notes",
        "institution",
    ] {
        assert_eq!(single["account"][field], node[field], "account.{field}");
    }

    // holdings(accountId) is the nested list.
    let holdings = app
        .graphql_data(
            token,
            "query($id: UUID!) { holdings(accountId: $id) { id quantity asset { symbol } } }",
            json!({"id": id}),
        )
        .await;
    let top_ids: HashSet<&str> = holdings["holdings"]
        .as_array()
        .expect("holdings")
        .iter()
        .filter_map(|h| h["id"].as_str())
        .collect();
    let rest_ids: HashSet<&str> = rest_holdings
        .iter()
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert_eq!(top_ids, rest_ids);

    // transactions(accountId): every transaction, page by page, in REST's order.
    let (all, pages) = graphql_transactions(&app, token, &id, Value::Null, 40).await;
    assert!(pages > 1, "{} transactions in one page?", all.len());
    assert_eq!(
        ids(&all),
        ids(&all_rest_txs),
        "same transactions, same order"
    );
    for (g, r) in all.iter().zip(&all_rest_txs) {
        assert_eq!(g["amount"], r["amount"], "transaction {}", r["id"]);
        assert_eq!(g["tradeDate"], r["trade_date"]);
        assert_eq!(
            g["type"].as_str().map(str::to_ascii_lowercase),
            r["type"].as_str().map(str::to_string)
        );
    }

    // transactions with types, from and to: the same rows as REST's filter.
    let mut dates: Vec<&str> = all_rest_txs
        .iter()
        .filter_map(|t| t["trade_date"].as_str())
        .collect();
    dates.sort_unstable();
    let (from, to) = (dates[dates.len() / 4], dates[dates.len() * 3 / 4]);
    let (filtered, _) = graphql_transactions(
        &app,
        token,
        &id,
        json!({"types": ["BUY"], "from": from, "to": to}),
        100,
    )
    .await;
    let rest_filtered =
        rest_transactions(&app, token, &id, &format!("&type=buy&from={from}&to={to}")).await;
    assert!(!filtered.is_empty(), "buys between {from} and {to}");
    assert_eq!(ids(&filtered), ids(&rest_filtered));
    for t in &filtered {
        assert_eq!(t["type"], "BUY");
        let date = t["tradeDate"].as_str().expect("date");
        assert!(from <= date && date <= to, "{date} outside {from}..{to}");
    }

    // importJobs and importJob.
    let jobs = app
        .graphql_data(
            token,
            "query($id: UUID!, $job: UUID!) {
                forAccount: importJobs(accountId: $id) { edges { node { id status inserted } } pageInfo { hasNextPage } }
                all: importJobs(first: 10) { edges { node { id } } }
                one: importJob(id: $job) { id accountId status fetched inserted duplicates finishedAt }
            }",
            json!({"id": id, "job": job_id}),
        )
        .await;
    let for_account = jobs["forAccount"]["edges"].as_array().expect("edges");
    assert_eq!(for_account.len(), 1);
    assert_eq!(for_account[0]["node"]["id"], job_id.as_str());
    assert_eq!(for_account[0]["node"]["inserted"], inserted);
    assert_eq!(jobs["forAccount"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(jobs["all"]["edges"][0]["node"]["id"], job_id.as_str());
    for field in [
        "id",
        "accountId",
        "status",
        "fetched",
        "inserted",
        "duplicates",
        "finishedAt",
    ] {
        assert_eq!(jobs["one"][field], job[field], "importJob.{field}");
    }
    let rest_jobs = app
        .get(&format!("/api/import-jobs?account_id={id}"), token)
        .await;
    assert_eq!(rest_jobs.body["items"][0]["id"], job_id.as_str());

    // auditLog: the same entries as REST, newest first.
    let audit = app
        .graphql_data(
            token,
            "{ auditLog(first: 50) { edges { node { id action targetType targetId detail createdAt } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    let entries = audit["auditLog"]["edges"].as_array().expect("edges");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    for action in ["auth.login", "integration.set", "integration.tested"] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let set_entry = entries
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["action"] == "integration.set")
        .expect("integration.set");
    assert_eq!(set_entry["targetType"], "account");
    assert_eq!(set_entry["targetId"], id.as_str());
    assert_eq!(set_entry["detail"]["type"], "DEMO");
    assert!(
        !audit.to_string().contains("\"password\":\"demo\""),
        "no secret in the log"
    );
    let rest_audit = app.get("/api/audit-log?limit=50", token).await;
    let rest_audit_ids: Vec<&Value> = rest_audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| &e["id"])
        .collect();
    let gql_audit_ids: Vec<&Value> = entries.iter().map(|e| &e["node"]["id"]).collect();
    assert_eq!(gql_audit_ids, rest_audit_ids);

    // apiTokens, createApiToken (the secret once), use it, revokeApiToken.
    let none = app
        .graphql_data(token, "{ apiTokens { id } }", json!({}))
        .await;
    assert_eq!(none["apiTokens"], json!([]));
    let created = app
        .graphql(
            Some(token),
            "mutation { createApiToken(input: {name: \"dashboard\", scope: READ, expiresAt: \"2999-01-01T00:00:00Z\"}) { secret token { id name scope prefix expiresAt lastUsedAt createdAt } } }",
            json!({}),
        )
        .await;
    assert!(created.body.get("errors").is_none(), "{}", created.text);
    let created = &created.body["data"]["createApiToken"];
    let secret = created["secret"].as_str().expect("secret").to_string();
    let token_id = created["token"]["id"].as_str().expect("id").to_string();
    assert!(secret.starts_with("trb_"), "{secret}");
    assert_eq!(created["token"]["scope"], "READ");
    assert_eq!(created["token"]["name"], "dashboard");
    assert!(
        secret.starts_with(created["token"]["prefix"].as_str().expect("prefix")),
        "the prefix identifies the secret"
    );
    assert_eq!(
        instant(&created["token"]["expiresAt"]),
        instant(&json!("2999-01-01T00:00:00Z"))
    );
    let listed = app
        .graphql(
            Some(token),
            "{ apiTokens { id name scope prefix } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.body["data"]["apiTokens"][0]["id"], token_id.as_str());
    assert!(
        !listed.text.contains(&secret),
        "the secret is shown only once"
    );
    let rest_tokens = app.get("/api/tokens", token).await;
    assert_eq!(rest_tokens.body[0]["id"], token_id.as_str());
    assert!(!rest_tokens.text.contains(&secret));

    let as_token = app
        .graphql_data(
            &secret,
            "query($id: UUID!) { me { id } account(id: $id) { balance } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(as_token["me"]["id"], user.id.as_str());
    assert_eq!(as_token["account"]["balance"], node["balance"]);
    let used = app
        .graphql_data(token, "{ apiTokens { id lastUsedAt } }", json!({}))
        .await;
    assert!(
        used["apiTokens"][0]["lastUsedAt"].is_string(),
        "use is recorded: {used}"
    );

    let revoked = app
        .graphql_data(
            token,
            "mutation($id: UUID!) { revokeApiToken(id: $id) }",
            json!({"id": token_id}),
        )
        .await;
    assert_eq!(revoked["revokeApiToken"], true);
    let after_revoke = app.graphql(Some(&secret), "{ me { id } }", json!({})).await;
    assert_eq!(after_revoke.status, StatusCode::OK);
    assert_eq!(
        after_revoke.gql_code(),
        "UNAUTHENTICATED",
        "{}",
        after_revoke.text
    );
    assert!(after_revoke.body["data"].is_null(), "{}", after_revoke.text);
    let none = app
        .graphql_data(token, "{ apiTokens { id } }", json!({}))
        .await;
    assert_eq!(none["apiTokens"], json!([]));
    let rest_revoked = app.get("/api/me", &secret).await;
    assert_eq!(rest_revoked.status, StatusCode::UNAUTHORIZED);

    // updateAccount: `null` clears, omitted keeps.
    let cleared = app
        .graphql_data(
            token,
            "mutation($id: UUID!) { updateAccount(id: $id, input: {notes: null}) { name kind institution notes currency } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        cleared["updateAccount"],
        json!({"name": "Brokerage", "kind": "BROKERAGE", "institution": "Demo Bank", "notes": null, "currency": "EUR"})
    );
    let renamed = app
        .graphql_data(
            token,
            "mutation($id: UUID!, $input: UpdateAccountInput!) { updateAccount(id: $id, input: $input) { name kind institution notes currency integration { type } } }",
            json!({"id": id, "input": {"name": "Main brokerage", "kind": "OTHER", "currency": "usd"}}),
        )
        .await;
    assert_eq!(
        renamed["updateAccount"],
        json!({"name": "Main brokerage", "kind": "OTHER", "institution": "Demo Bank", "notes": null,
               "currency": "USD", "integration": {"type": "DEMO"}})
    );
    let with_vars_null = app
        .graphql_data(
            token,
            "mutation($id: UUID!, $input: UpdateAccountInput!) { updateAccount(id: $id, input: $input) { name institution notes } }",
            json!({"id": id, "input": {"institution": null, "notes": "back again"}}),
        )
        .await;
    assert_eq!(
        with_vars_null["updateAccount"],
        json!({"name": "Main brokerage", "institution": null, "notes": "back again"})
    );
    let rest = app.get(&format!("/api/accounts/{id}"), token).await;
    assert_eq!(rest.body["name"], "Main brokerage");
    assert_eq!(rest.body["kind"], "other");
    assert!(rest.body["institution"].is_null());
    assert_eq!(rest.body["notes"], "back again");
    assert_eq!(
        rest.body["integration_type"], "DEMO",
        "the integration stays"
    );

    // updateMe: `null` clears, omitted keeps.
    let updated = app
        .graphql_data(
            token,
            "mutation { updateMe(input: {displayName: \"Ada\", baseCurrency: \"chf\"}) { id displayName baseCurrency } }",
            json!({}),
        )
        .await;
    assert_eq!(
        updated["updateMe"],
        json!({"id": user.id, "displayName": "Ada", "baseCurrency": "CHF"})
    );
    let kept = app
        .graphql_data(
            token,
            "mutation { updateMe(input: {displayName: null}) { displayName baseCurrency } }",
            json!({}),
        )
        .await;
    assert_eq!(
        kept["updateMe"],
        json!({"displayName": null, "baseCurrency": "CHF"})
    );
    let rest_me = app.get("/api/me", token).await;
    assert!(rest_me.body["display_name"].is_null(), "{}", rest_me.text);
    assert_eq!(rest_me.body["base_currency"], "CHF");

    // removeIntegration: holdings and transactions stay.
    let removed = app
        .graphql_data(
            token,
            "mutation($id: UUID!) { removeIntegration(accountId: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(removed["removeIntegration"], true);
    let after = app
        .graphql_data(
            token,
            "query($id: UUID!) { account(id: $id) { integration { type } holdings { id } transactions(first: 1) { edges { node { id } } } } }",
            json!({"id": id}),
        )
        .await;
    assert!(after["account"]["integration"].is_null(), "{after}");
    assert_eq!(
        after["account"]["holdings"].as_array().map(Vec::len),
        Some(rest_holdings.len())
    );
    assert_eq!(
        after["account"]["transactions"]["edges"][0]["node"]["id"],
        all_rest_txs[0]["id"]
    );
    let rest_integration = app
        .get(&format!("/api/accounts/{id}/integration"), token)
        .await;
    assert_eq!(rest_integration.status, StatusCode::NOT_FOUND);
    let again = app
        .graphql(
            Some(token),
            "mutation($id: UUID!) { removeIntegration(accountId: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        again.gql_code(),
        "NOT_FOUND",
        "nothing left to remove: {}",
        again.text
    );

    // deleteAccount
    let deleted = app
        .graphql_data(
            token,
            "mutation($id: UUID!) { deleteAccount(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(deleted["deleteAccount"], id.as_str());
    let gone = app
        .graphql(
            Some(token),
            "query($id: UUID!) { account(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(gone.gql_code(), "NOT_FOUND", "{}", gone.text);
    assert!(gone.body["data"].is_null());
    assert_eq!(gone.body["errors"][0]["path"], json!(["account"]));
    let gone_holdings = app
        .graphql(
            Some(token),
            "query($id: UUID!) { holdings(accountId: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        gone_holdings.gql_code(),
        "NOT_FOUND",
        "{}",
        gone_holdings.text
    );
    let rest = app.get(&format!("/api/accounts/{id}"), token).await;
    assert_eq!(rest.status, StatusCode::NOT_FOUND);
    let remaining = app
        .graphql_data(token, "{ accounts { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(
        remaining["accounts"]["edges"],
        json!([{"node": {"id": second_id}}])
    );
    let audit = app
        .graphql_data(
            token,
            "{ auditLog(first: 100) { edges { node { action targetId } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = audit["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    for action in [
        "api_token.created",
        "api_token.revoked",
        "integration.removed",
        "account.deleted",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
}

#[tokio::test]
async fn without_a_valid_token_every_field_answers_unauthenticated_and_nothing_is_written() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let account = app.create_account(user.token(), "Mine").await;
    let operations = [
        "{ me { id } }",
        "{ accounts { edges { node { id } } } }",
        "{ integrationTypes { type } }",
        "{ apiTokens { id } }",
        "{ auditLog { edges { node { id } } } }",
        "{ importJobs { edges { node { id } } } }",
        "mutation { createAccount(input: {name: \"x\", kind: CASH, currency: \"USD\"}) { id } }",
        "mutation { updateMe(input: {displayName: \"x\"}) { id } }",
        "mutation { createApiToken(input: {name: \"x\", scope: WRITE}) { secret } }",
    ];
    let with_account = [
        "query($id: UUID!) { account(id: $id) { id } }",
        "mutation($id: UUID!) { deleteAccount(id: $id) }",
        "mutation($id: UUID!) { updateAccount(id: $id, input: {name: \"x\"}) { id } }",
    ];
    let forged = format!("{}x", user.token());
    let callers: [(&str, Option<&str>); 4] = [
        ("no header", None),
        ("a forged JWT", Some(forged.as_str())),
        (
            "an unknown API token",
            Some("trb_0000000000000000000000000000000000"),
        ),
        ("garbage", Some("not-a-token")),
    ];
    for (who, token) in callers {
        for op in operations.iter().chain(&with_account) {
            let r = app.graphql(token, op, json!({"id": account})).await;
            assert_eq!(r.status, StatusCode::OK, "{who}: {op}: {}", r.text);
            assert_eq!(r.gql_code(), "UNAUTHENTICATED", "{who}: {op}: {}", r.text);
            assert!(r.body["data"].is_null(), "{who}: {op}: {}", r.text);
            assert!(
                r.body["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{who}: {op}: {}",
                r.text
            );
        }
    }
    let accounts = app.get("/api/accounts", user.token()).await;
    assert_eq!(
        accounts.body["items"].as_array().map(Vec::len),
        Some(1),
        "nothing was created or deleted: {}",
        accounts.text
    );
    assert_eq!(accounts.body["items"][0]["name"], "Mine");
    let me = app.get("/api/me", user.token()).await;
    assert!(me.body["display_name"].is_null());
    let tokens = app.get("/api/tokens", user.token()).await;
    assert_eq!(tokens.body, json!([]));
}

#[tokio::test]
async fn graphql_errors_carry_the_same_code_detail_and_retry_after_as_rest_problems() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();
    let refresh = "mutation($id: UUID!) { refreshAccount(accountId: $id) { id } }";
    for (fail_mode, code, status_after) in [
        ("auth", "UPSTREAM", "NEEDS_REAUTH"),
        ("rate_limit", "UPSTREAM", "ERROR"),
        ("server_error", "UPSTREAM", "ERROR"),
    ] {
        // One account per front door: a transient failure may leave a retry queued, which
        // would make a second refresh of the same account a conflict.
        let config = json!({"seed": 2, "fail_mode": fail_mode});
        let rest_id = app.create_demo_account(token, config.clone(), false).await;
        let id = app.create_demo_account(token, config, false).await;
        let rest = app
            .post_empty(
                &format!("/api/accounts/{rest_id}/integration/refresh"),
                token,
            )
            .await;
        assert_eq!(
            rest.status,
            StatusCode::BAD_GATEWAY,
            "{fail_mode}: {}",
            rest.text
        );
        let gql = app.graphql(Some(token), refresh, json!({"id": id})).await;
        assert_eq!(gql.status, StatusCode::OK);
        assert!(gql.body["data"].is_null(), "{fail_mode}: {}", gql.text);
        assert_eq!(gql.gql_code(), code, "{fail_mode}: {}", gql.text);
        assert_eq!(rest.code(), code, "{fail_mode}");
        let error = &gql.body["errors"][0];
        assert_eq!(
            error["message"], rest.body["detail"],
            "{fail_mode}: same detail"
        );
        assert_eq!(error["path"], json!(["refreshAccount"]));
        assert!(error["extensions"].get("field").is_none(), "{}", gql.text);
        assert_eq!(
            error["extensions"].get("retryAfter"),
            rest.body.get("retry_after"),
            "{fail_mode}: same retry hint"
        );
        if fail_mode == "rate_limit" {
            assert_eq!(error["extensions"]["retryAfter"], 60, "{}", gql.text);
        }
        // The failure is recorded and visible in GraphQL, on the account and in its jobs.
        let seen = app
            .graphql_data(
                token,
                "query($id: UUID!) { account(id: $id) { integration { status lastError } } importJobs(accountId: $id) { edges { node { status error } } } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            seen["account"]["integration"]["status"], status_after,
            "{seen}"
        );
        assert!(
            seen["account"]["integration"]["lastError"].is_string(),
            "{seen}"
        );
        let jobs = seen["importJobs"]["edges"].as_array().expect("edges");
        assert!(!jobs.is_empty(), "the refresh left a job: {seen}");
        assert!(
            jobs.iter().all(|j| j["node"]["status"] != "succeeded"),
            "{seen}"
        );
        // testIntegration reports the failure as a result, not an error.
        let tested = app
            .graphql_data(
                token,
                "mutation($id: UUID!) { testIntegration(accountId: $id) { success message status } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(tested["testIntegration"]["success"], false, "{tested}");
        assert_eq!(tested["testIntegration"]["status"], status_after);
    }

    // A refresh while another is running: CONFLICT on both front doors.
    let id = app
        .create_demo_account(token, json!({"seed": 4}), false)
        .await;
    let now = chrono::Utc::now();
    tributary_entity::import_job::ActiveModel {
        id: sea_orm::Set(uuid::Uuid::now_v7()),
        user_id: sea_orm::Set(uuid::Uuid::parse_str(&user.id).expect("uuid")),
        account_id: sea_orm::Set(Some(uuid::Uuid::parse_str(&id).expect("uuid"))),
        source: sea_orm::Set("demo".into()),
        trigger: sea_orm::Set("manual".into()),
        status: sea_orm::Set("running".into()),
        fetched: sea_orm::Set(0),
        inserted: sea_orm::Set(0),
        updated: sea_orm::Set(0),
        duplicates: sea_orm::Set(0),
        failed: sea_orm::Set(0),
        error: sea_orm::Set(None),
        created_at: sea_orm::Set(now),
        started_at: sea_orm::Set(Some(now)),
        finished_at: sea_orm::Set(None),
        ..Default::default()
    }
    .insert(&app.ctx.db)
    .await
    .expect("running job");
    let rest = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), token)
        .await;
    let gql = app.graphql(Some(token), refresh, json!({"id": id})).await;
    assert_eq!(rest.status, StatusCode::CONFLICT, "{}", rest.text);
    assert_eq!(gql.gql_code(), "CONFLICT", "{}", gql.text);
    assert_eq!(gql.body["errors"][0]["message"], rest.body["detail"]);

    // NOT_FOUND and VALIDATION read the same too.
    let missing = uuid::Uuid::new_v4();
    let rest = app.get(&format!("/api/accounts/{missing}"), token).await;
    let gql = app
        .graphql(
            Some(token),
            "query($id: UUID!) { account(id: $id) { id } }",
            json!({"id": missing}),
        )
        .await;
    assert_eq!(gql.gql_code(), rest.code());
    assert_eq!(gql.body["errors"][0]["message"], rest.body["detail"]);
    let rest = app
        .post(
            "/api/accounts",
            token,
            json!({"name": "x", "kind": "cash", "currency": "EURO"}),
        )
        .await;
    let gql = app
        .graphql(
            Some(token),
            "mutation { createAccount(input: {name: \"x\", kind: CASH, currency: \"EURO\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(gql.gql_code(), rest.code());
    assert_eq!(gql.gql_field(), rest.body["field"].as_str());
    assert_eq!(gql.body["errors"][0]["message"], rest.body["detail"]);
}

#[tokio::test]
async fn the_accounts_connection_shows_every_graphql_mutation_at_once() {
    // Account lists may be cached per user; every write must show in the very next list.
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();
    let view = "query($id: UUID!) {
        accounts { edges { node { id name kind notes balance lastSyncedAt integration { type status lastError config } } } }
        account(id: $id) { id name kind notes balance lastSyncedAt integration { type status lastError config } }
    }";
    let created = app
        .graphql_data(
            token,
            "mutation { createAccount(input: {name: \"Cached\", kind: BANK, currency: \"USD\", notes: \"n\"}) { id } }",
            json!({}),
        )
        .await;
    let id = created["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let vars = json!({"id": id});
    let check = |label: &'static str, data: Value| {
        let listed = data["accounts"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"].clone())
            .find(|n| n["id"] == data["account"]["id"]);
        assert_eq!(
            listed.as_ref(),
            Some(&data["account"]),
            "{label}: the list is stale"
        );
        data["account"].clone()
    };
    check("created", app.graphql_data(token, view, vars.clone()).await);
    let steps: [(&'static str, &str); 7] = [
        (
            "renamed",
            "mutation($id: UUID!) { updateAccount(id: $id, input: {name: \"Renamed\", notes: null}) { id } }",
        ),
        (
            "integration set",
            "mutation($id: UUID!) { setIntegration(accountId: $id, input: {type: \"DEMO\", config: {seed: 6, password: \"demo\"}}) { type } }",
        ),
        (
            "tested",
            "mutation($id: UUID!) { testIntegration(accountId: $id) { success } }",
        ),
        (
            "refreshed",
            "mutation($id: UUID!) { refreshAccount(accountId: $id) { id } }",
        ),
        (
            "failing",
            "mutation($id: UUID!) { setIntegration(accountId: $id, input: {type: \"DEMO\", config: {seed: 6, fail_mode: \"auth\"}}) { type } }",
        ),
        (
            "failed test",
            "mutation($id: UUID!) { testIntegration(accountId: $id) { success } }",
        ),
        (
            "integration removed",
            "mutation($id: UUID!) { removeIntegration(accountId: $id) }",
        ),
    ];
    let mut previous = Value::Null;
    for (label, mutation) in steps {
        // Read (and maybe cache) the list, write, read again.
        app.graphql_data(token, view, vars.clone()).await;
        app.graphql_data(token, mutation, vars.clone()).await;
        let now = check(label, app.graphql_data(token, view, vars.clone()).await);
        assert_ne!(now, previous, "{label}: the mutation shows");
        previous = now;
    }
    assert!(previous["integration"].is_null());
    assert_eq!(previous["name"], "Renamed");
    assert!(previous["notes"].is_null());
    assert!(
        previous["balance"].is_string(),
        "the balance stays: {previous}"
    );
    app.graphql_data(token, view, vars.clone()).await;
    app.graphql_data(
        token,
        "mutation($id: UUID!) { deleteAccount(id: $id) }",
        vars,
    )
    .await;
    let after = app
        .graphql_data(token, "{ accounts { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(after["accounts"]["edges"], json!([]));
}

#[tokio::test]
async fn secrets_sent_or_returned_through_graphql_never_reach_responses_logs_or_the_database() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();
    let secret = format!("gql-s3cret-{}", uuid::Uuid::new_v4().simple());
    let id = app.create_account(token, "Secretive").await;
    let vars = json!({"id": id, "config": {"seed": 1, "password": secret}});
    let mut bodies = Vec::new();
    for operation in [
        "mutation($id: UUID!, $config: JSON!) { setIntegration(accountId: $id, input: {type: \"DEMO\", config: $config}) { config } }",
        "query($id: UUID!) { account(id: $id) { integration { config lastError } } accounts { edges { node { integration { config } } } } }",
        "mutation($id: UUID!) { testIntegration(accountId: $id) { success message } }",
        "mutation($id: UUID!) { refreshAccount(accountId: $id) { id error } }",
        "{ auditLog { edges { node { action detail } } } }",
        "{ importJobs { edges { node { error } } } }",
    ] {
        let r = app.graphql(Some(token), operation, vars.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        bodies.push(r.text);
    }
    assert!(
        bodies[0].contains("\"password\":\"********\""),
        "{}",
        bodies[0]
    );
    // The wrong demo password fails the test and the refresh, without echoing it.
    assert!(bodies[2].contains("\"success\":false"), "{}", bodies[2]);
    for body in &bodies {
        assert!(!body.contains(&secret), "secret in a response: {body}");
    }
    // A new API token's secret is shown once, in that response only.
    let created = app
        .graphql_data(
            token,
            "mutation { createApiToken(input: {name: \"ci\", scope: READ}) { secret } }",
            json!({}),
        )
        .await;
    let api_secret = created["createApiToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let listed = app
        .graphql(
            Some(token),
            "{ apiTokens { id name prefix } auditLog { edges { node { detail } } } }",
            json!({}),
        )
        .await;
    assert!(!listed.text.contains(&api_secret), "{}", listed.text);
    // Using the token over GraphQL does not log it either.
    app.graphql_data(&api_secret, "{ me { id } }", json!({}))
        .await;

    let logs = tributary_tests::captured_logs();
    assert!(!logs.contains(&secret), "integration secret in the logs");
    assert!(!logs.contains(&api_secret), "API token in the logs");
    assert!(!logs.contains(&user.password), "password in the logs");
    let stored = app
        .sql_texts("SELECT integration_config FROM accounts")
        .await;
    assert!(stored.iter().all(|c| !c.contains(&secret)), "{stored:?}");
    let raw = app.raw_database_bytes();
    for needle in [secret.as_bytes(), api_secret.as_bytes()] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "a secret in the raw database file"
        );
    }
}
