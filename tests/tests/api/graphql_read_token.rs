//! API token scopes through GraphQL: a read token runs every query and sees what the session
//! sees, but every mutation is `FORBIDDEN` and changes nothing; a write token runs mutations but
//! cannot manage tokens, which needs a signed-in session.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_tests::{TestApp, TestResponse, TestUser, spawn_app};

/// Every mutation, with the user's own ids (`$account`, `$token`).
const MUTATIONS: &[(&str, &str)] = &[
    (
        "createAccount",
        "mutation { createAccount(input: {name: \"read-only\", kind: CASH, currency: \"USD\"}) { id } }",
    ),
    (
        "updateAccount",
        "mutation($account: UUID!) { updateAccount(id: $account, input: {name: \"renamed\", notes: null}) { id name } }",
    ),
    (
        "deleteAccount",
        "mutation($account: UUID!) { deleteAccount(id: $account) }",
    ),
    (
        "setIntegration",
        "mutation($account: UUID!) { setIntegration(accountId: $account, input: {type: \"DEMO\", config: {seed: 1, fail_mode: \"auth\"}}) { status } }",
    ),
    (
        "removeIntegration",
        "mutation($account: UUID!) { removeIntegration(accountId: $account) }",
    ),
    (
        "testIntegration",
        "mutation($account: UUID!) { testIntegration(accountId: $account) { success } }",
    ),
    (
        "refreshAccount",
        "mutation($account: UUID!) { refreshAccount(accountId: $account) { id inserted } }",
    ),
    (
        "createApiToken",
        "mutation { createApiToken(input: {name: \"escalate\", scope: WRITE}) { secret } }",
    ),
    (
        "revokeApiToken",
        "mutation($token: UUID!) { revokeApiToken(id: $token) }",
    ),
    (
        "retryImportJob",
        "mutation($job: UUID!) { retryImportJob(id: $job) { id status } }",
    ),
    (
        "cancelImportJob",
        "mutation($job: UUID!) { cancelImportJob(id: $job) { id status } }",
    ),
    (
        "syncAll",
        "mutation { syncAll(idempotencyKey: \"read-only\") { id } }",
    ),
    (
        "syncAccount",
        "mutation($account: UUID!) { syncAccount(accountId: $account) { id } }",
    ),
    (
        "createTransaction",
        "mutation($account: UUID!) { createTransaction(accountId: $account, input: {type: DEPOSIT, tradeDate: \"2026-01-05\", amount: \"10\", currency: \"USD\"}) { id } }",
    ),
    (
        "updateTransaction",
        "mutation($account: UUID!, $job: UUID!) { updateTransaction(accountId: $account, id: $job, input: {type: DEPOSIT, tradeDate: \"2026-01-05\", amount: \"10\", currency: \"USD\"}) { id } }",
    ),
    (
        "deleteTransaction",
        "mutation($account: UUID!, $job: UUID!) { deleteTransaction(accountId: $account, id: $job) }",
    ),
    (
        "setImportProfile",
        "mutation($account: UUID!) { setImportProfile(accountId: $account, profile: {columns: {date: \"Date\", amount: \"Amount\"}}) }",
    ),
    (
        "updateMe",
        "mutation { updateMe(input: {displayName: \"read-only\", baseCurrency: \"EUR\"}) { id } }",
    ),
    (
        "several mutations in one document",
        "mutation($account: UUID!) { a: updateMe(input: {displayName: \"x\"}) { id } b: deleteAccount(id: $account) }",
    ),
];

/// Every query, with nested fields.
const ALL_QUERIES: &str = "query($account: UUID!, $job: UUID!) {
    me { id email displayName baseCurrency role }
    integrationTypes { type fields { name secret } }
    accounts(first: 10) {
        edges { cursor node { id name balance integration { type status config }
                              holdings { id quantity asset { symbol } }
                              transactions(first: 3, filter: {types: [BUY]}) { edges { node { id } } } } }
        pageInfo { hasNextPage endCursor }
    }
    account(id: $account) { id name balance }
    holdings(accountId: $account) { id quantity marketValue asset { assetId } }
    transactions(accountId: $account, first: 10, filter: {from: \"2000-01-01\"}) { edges { node { id amount } } pageInfo { hasNextPage } }
    importJobs(accountId: $account) { edges { node { id status } } }
    importJob(id: $job) { id status inserted }
    auditLog(first: 20) { edges { node { id action } } }
    apiTokens { id name scope }
}";

#[derive(Debug, PartialEq)]
struct Snapshot {
    me: Value,
    accounts: Value,
    account: Value,
    integration: Value,
    holdings: Value,
    transactions: Value,
    jobs: Value,
    tokens: Value,
    audit: Value,
}

async fn snapshot(app: &TestApp, token: &str, account: &str) -> Snapshot {
    let get = |path: String| async move {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        r.body
    };
    Snapshot {
        me: get("/api/me".into()).await,
        accounts: get("/api/accounts?limit=200".into()).await,
        account: get(format!("/api/accounts/{account}")).await,
        integration: get(format!("/api/accounts/{account}/integration")).await,
        holdings: get(format!("/api/accounts/{account}/holdings")).await,
        transactions: get(format!("/api/accounts/{account}/transactions?limit=500")).await,
        jobs: get("/api/import-jobs?limit=200".into()).await,
        // Token use stamps `last_used_at`: compare the tokens without it.
        tokens: {
            let mut tokens = get("/api/tokens".into()).await;
            for t in tokens.as_array_mut().into_iter().flatten() {
                if let Some(t) = t.as_object_mut() {
                    t.remove("last_used_at");
                }
            }
            tokens
        },
        audit: get("/api/audit-log?limit=200".into()).await,
    }
}

fn assert_forbidden(label: &str, r: &TestResponse) {
    assert_eq!(r.status, StatusCode::OK, "{label}: {}", r.text);
    assert_eq!(r.gql_code(), "FORBIDDEN", "{label}: {}", r.text);
    assert!(
        r.gql_codes().iter().all(|c| c == "FORBIDDEN"),
        "{label}: {}",
        r.text
    );
    assert!(r.body["data"].is_null(), "{label}: {}", r.text);
    assert!(r.gql_field().is_none(), "{label}: {}", r.text);
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{label}: {}",
        r.text
    );
}

/// A user with a synced DEMO account, a spare token to revoke, and the first import job.
async fn setup(app: &TestApp) -> (TestUser, Value) {
    let user = TestUser::register(app).await;
    let account = app
        .create_demo_account(user.token(), json!({"seed": 11, "password": "demo"}), true)
        .await;
    let spare = app
        .post(
            "/api/tokens",
            user.token(),
            json!({"name": "spare", "scope": "write"}),
        )
        .await;
    assert_eq!(spare.status, StatusCode::CREATED, "{}", spare.text);
    let jobs = app
        .get(
            &format!("/api/import-jobs?account_id={account}"),
            user.token(),
        )
        .await;
    let vars = json!({
        "account": account,
        "token": spare.body["id"],
        "job": jobs.body["items"][0]["id"],
    });
    (user, vars)
}

#[tokio::test]
async fn a_read_token_is_refused_every_graphql_mutation_and_nothing_changes() {
    let app = spawn_app().await;
    let (user, vars) = setup(&app).await;
    let account = vars["account"].as_str().expect("account").to_string();
    let read = user.api_token(&app, "read").await;
    let before = snapshot(&app, user.token(), &account).await;
    for (label, mutation) in MUTATIONS {
        let r = app.graphql(Some(&read), mutation, vars.clone()).await;
        assert_forbidden(&format!("read token: {label}"), &r);
    }
    let after = snapshot(&app, user.token(), &account).await;
    assert_eq!(after, before, "a refused mutation changed something");
    // Every mutation name in the schema is in the table.
    let schema = app
        .graphql_data(
            user.token(),
            "{ __schema { mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    for field in schema["__schema"]["mutationType"]["fields"]
        .as_array()
        .expect("fields")
    {
        let name = field["name"].as_str().expect("name");
        assert!(
            MUTATIONS.iter().any(|(label, _)| *label == name),
            "mutation {name} is not in the read-token table"
        );
    }
}

#[tokio::test]
async fn a_read_token_runs_every_graphql_query_and_sees_what_the_session_sees() {
    let app = spawn_app().await;
    let (user, vars) = setup(&app).await;
    let read = user.api_token(&app, "read").await;
    let as_token = app.graphql_data(&read, ALL_QUERIES, vars.clone()).await;
    let as_session = app.graphql_data(user.token(), ALL_QUERIES, vars).await;
    assert_eq!(as_token, as_session);
    assert_eq!(as_token["me"]["id"], user.id.as_str());
    assert_eq!(
        as_token["accounts"]["edges"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        as_token["holdings"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(
        as_token["transactions"]["edges"].as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(as_token["importJob"]["status"], "succeeded");
    assert_eq!(
        as_token["accounts"]["edges"][0]["node"]["integration"]["config"]["password"],
        "********"
    );
    // The read token lists itself, never a secret.
    assert!(
        as_token["apiTokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .any(|t| t["scope"] == "READ")
    );
    assert!(!as_token.to_string().contains(&read));
}

#[tokio::test]
async fn a_write_token_runs_mutations_but_cannot_create_or_revoke_tokens() {
    let app = spawn_app().await;
    let (user, vars) = setup(&app).await;
    let account = vars["account"].as_str().expect("account").to_string();
    let write = user.api_token(&app, "write").await;
    let tokens_before = app.get("/api/tokens", user.token()).await;

    for (label, mutation) in MUTATIONS
        .iter()
        .filter(|(label, _)| label.ends_with("ApiToken"))
    {
        let r = app.graphql(Some(&write), mutation, vars.clone()).await;
        assert_forbidden(&format!("write token: {label}"), &r);
        assert!(
            r.body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("sign in")),
            "{}",
            r.text
        );
    }
    let tokens_after = app.get("/api/tokens", user.token()).await;
    let ids = |v: &Value| -> Vec<Value> {
        v.as_array()
            .expect("tokens")
            .iter()
            .map(|t| t["id"].clone())
            .collect()
    };
    assert_eq!(ids(&tokens_after.body), ids(&tokens_before.body));

    let renamed = app
        .graphql_data(
            &write,
            "mutation($account: UUID!) { updateAccount(id: $account, input: {name: \"by script\"}) { name } }",
            vars.clone(),
        )
        .await;
    assert_eq!(renamed["updateAccount"]["name"], "by script");
    let refreshed = app
        .graphql_data(
            &write,
            "mutation($account: UUID!) { refreshAccount(accountId: $account) { status inserted duplicates } }",
            vars.clone(),
        )
        .await;
    assert_eq!(refreshed["refreshAccount"]["status"], "succeeded");
    assert_eq!(
        refreshed["refreshAccount"]["inserted"], 0,
        "already synced: {refreshed}"
    );
    let rest = app
        .get(&format!("/api/accounts/{account}"), user.token())
        .await;
    assert_eq!(rest.body["name"], "by script");
}
