//! Cross-tenant isolation through GraphQL: user B (session, write token or read token) gets
//! `NOT_FOUND` for every query, nested field, mutation and subscription that names user A's
//! account, import job or API token, exactly as for a random id, and nothing of A's changes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_tests::{TestApp, TestResponse, TestUser, WsEvent, spawn_app};
use uuid::Uuid;

/// The ids an operation may name.
#[derive(Clone)]
struct Ids {
    account: String,
    job: String,
    token: String,
}

impl Ids {
    fn variables(&self) -> Value {
        json!({"account": self.account, "job": self.job, "token": self.token})
    }

    fn random() -> Self {
        Self {
            account: Uuid::new_v4().to_string(),
            job: Uuid::new_v4().to_string(),
            token: Uuid::new_v4().to_string(),
        }
    }
}

/// One row of the table: what it is, the operation, whether it writes, whether it also needs
/// a session (API tokens are refused before ownership is looked at).
struct Case {
    label: &'static str,
    operation: &'static str,
    mutation: bool,
    session_only: bool,
}

const fn query(label: &'static str, operation: &'static str) -> Case {
    Case {
        label,
        operation,
        mutation: false,
        session_only: false,
    }
}

const fn mutation(label: &'static str, operation: &'static str) -> Case {
    Case {
        label,
        operation,
        mutation: true,
        session_only: false,
    }
}

/// Every query, nested field and mutation that takes an id of A's.
const CASES: &[Case] = &[
    query(
        "account(id)",
        "query($account: UUID!) { account(id: $account) { id name balance } }",
    ),
    query(
        "account(id).integration",
        "query($account: UUID!) { account(id: $account) { integration { type config status lastError } } }",
    ),
    query(
        "account(id).holdings",
        "query($account: UUID!) { account(id: $account) { holdings { id quantity asset { symbol } } } }",
    ),
    query(
        "account(id).transactions",
        "query($account: UUID!) { account(id: $account) { transactions(first: 5) { edges { node { id amount } } } } }",
    ),
    query(
        "account(id).balance",
        "query($account: UUID!) { account(id: $account) { balance balanceCurrency lastSyncedAt } }",
    ),
    query(
        "holdings(accountId)",
        "query($account: UUID!) { holdings(accountId: $account) { id quantity asset { symbol } } }",
    ),
    query(
        "transactions(accountId)",
        "query($account: UUID!) { transactions(accountId: $account) { edges { node { id } } pageInfo { hasNextPage } } }",
    ),
    query(
        "transactions(accountId, filter, first)",
        "query($account: UUID!) { transactions(accountId: $account, first: 5, filter: {types: [BUY, SELL], from: \"2000-01-01\", to: \"2100-12-31\"}) { edges { node { id } } } }",
    ),
    query(
        "importJobs(accountId)",
        "query($account: UUID!) { importJobs(accountId: $account) { edges { node { id status } } } }",
    ),
    query(
        "importJob(id)",
        "query($job: UUID!) { importJob(id: $job) { id status inserted } }",
    ),
    mutation(
        "updateAccount(name)",
        "mutation($account: UUID!) { updateAccount(id: $account, input: {name: \"taken over by B\"}) { id name } }",
    ),
    mutation(
        "updateAccount(notes: null, institution: null)",
        "mutation($account: UUID!) { updateAccount(id: $account, input: {notes: null, institution: null}) { id } }",
    ),
    mutation(
        "deleteAccount",
        "mutation($account: UUID!) { deleteAccount(id: $account) }",
    ),
    mutation(
        "setIntegration",
        "mutation($account: UUID!) { setIntegration(accountId: $account, input: {type: \"DEMO\", config: {seed: 1, fail_mode: \"auth\"}}) { type status } }",
    ),
    mutation(
        "setIntegration keeping the stored secret",
        "mutation($account: UUID!) { setIntegration(accountId: $account, input: {type: \"DEMO\", config: {seed: 5, password: \"********\"}}) { config } }",
    ),
    mutation(
        "removeIntegration",
        "mutation($account: UUID!) { removeIntegration(accountId: $account) }",
    ),
    mutation(
        "testIntegration",
        "mutation($account: UUID!) { testIntegration(accountId: $account) { success message } }",
    ),
    mutation(
        "refreshAccount",
        "mutation($account: UUID!) { refreshAccount(accountId: $account) { id status } }",
    ),
    mutation(
        "retryImportJob",
        "mutation($job: UUID!) { retryImportJob(id: $job) { id status } }",
    ),
    mutation(
        "cancelImportJob",
        "mutation($job: UUID!) { cancelImportJob(id: $job) { id status } }",
    ),
    mutation(
        "syncAccount",
        "mutation($account: UUID!) { syncAccount(accountId: $account) { id } }",
    ),
    query(
        "allTransactions(accountId)",
        "query($account: UUID!) { allTransactions(accountId: $account) { edges { node { id } } } }",
    ),
    query(
        "remoteAccounts(accountId)",
        "query($account: UUID!) { remoteAccounts(accountId: $account) { id type } }",
    ),
    query(
        "importProfile(accountId)",
        "query($account: UUID!) { importProfile(accountId: $account) }",
    ),
    mutation(
        "createTransaction",
        "mutation($account: UUID!) { createTransaction(accountId: $account, input: {type: DEPOSIT, tradeDate: \"2026-01-05\", amount: \"10\", currency: \"USD\"}) { id } }",
    ),
    mutation(
        "updateTransaction",
        "mutation($account: UUID!, $job: UUID!) { updateTransaction(accountId: $account, id: $job, input: {type: DEPOSIT, tradeDate: \"2026-01-05\", amount: \"10\", currency: \"USD\"}) { id } }",
    ),
    mutation(
        "deleteTransaction",
        "mutation($account: UUID!, $job: UUID!) { deleteTransaction(accountId: $account, id: $job) }",
    ),
    mutation(
        "setImportProfile",
        "mutation($account: UUID!) { setImportProfile(accountId: $account, profile: {columns: {date: \"Date\", amount: \"Amount\"}}) }",
    ),
    Case {
        label: "revokeApiToken",
        operation: "mutation($token: UUID!) { revokeApiToken(id: $token) }",
        mutation: true,
        session_only: true,
    },
];

/// Everything A can observe, through REST, to prove B's attempts changed nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    account: Value,
    integration: Value,
    holdings: Value,
    transactions: Vec<Value>,
    jobs: Value,
    job: Value,
    tokens: Value,
    audit: Value,
}

async fn snapshot(app: &TestApp, a: &TestUser, ids: &Ids) -> Snapshot {
    let token = a.token();
    let get = |path: String| async move {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        r.body
    };
    let mut transactions = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/accounts/{}/transactions?limit=200", ids.account);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(path).await;
        transactions.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    Snapshot {
        account: get(format!("/api/accounts/{}", ids.account)).await,
        integration: get(format!("/api/accounts/{}/integration", ids.account)).await,
        holdings: get(format!("/api/accounts/{}/holdings", ids.account)).await,
        transactions,
        jobs: get("/api/import-jobs?limit=200".into()).await,
        job: get(format!("/api/import-jobs/{}", ids.job)).await,
        tokens: get("/api/tokens".into()).await,
        audit: get("/api/audit-log?limit=200".into()).await,
    }
}

/// A with a synced DEMO account (holdings, transactions, a finished job) and an API token.
async fn tenant_a(app: &TestApp) -> (TestUser, Ids, String) {
    let a = TestUser::register(app).await;
    let account = app
        .create_demo_account(a.token(), json!({"seed": 5, "password": "demo"}), true)
        .await;
    let jobs = app
        .get(&format!("/api/import-jobs?account_id={account}"), a.token())
        .await;
    let job = jobs.body["items"][0]["id"]
        .as_str()
        .expect("A's refresh job")
        .to_string();
    let created = app
        .post(
            "/api/tokens",
            a.token(),
            json!({"name": "A's script", "scope": "write"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let ids = Ids {
        account,
        job,
        token: created.body["id"].as_str().expect("token id").to_string(),
    };
    let secret = created.body["secret"].as_str().expect("secret").to_string();
    (a, ids, secret)
}

fn assert_refused(label: &str, r: &TestResponse, code: &str, a: &TestUser, ids: &Ids) {
    assert_eq!(r.status, StatusCode::OK, "{label}: {}", r.text);
    assert_eq!(r.gql_codes(), [code], "{label}: {}", r.text);
    assert!(
        r.body["data"].is_null(),
        "{label}: no data at all: {}",
        r.text
    );
    assert!(r.gql_field().is_none(), "{label}: {}", r.text);
    for secret in [&ids.account, &ids.job, &ids.token, &a.email, &a.id] {
        assert!(
            !r.text.contains(secret.as_str()),
            "{label}: the answer mentions A's {secret}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn another_user_gets_not_found_for_every_graphql_query_nested_field_and_mutation_on_a_users_ids()
 {
    let app = spawn_app().await;
    let (a, a_ids, a_secret) = tenant_a(&app).await;
    let before = snapshot(&app, &a, &a_ids).await;
    assert!(!before.transactions.is_empty(), "A has transactions");
    assert!(before.holdings.as_array().is_some_and(|h| !h.is_empty()));
    assert!(before.account["balance"].is_string());

    let b = TestUser::register(&app).await;
    // B has an account of its own, so B's calls are not refused for lack of data.
    app.create_demo_account(b.token(), json!({"seed": 9}), true)
        .await;
    let b_read = b.api_token(&app, "read").await;
    let b_write = b.api_token(&app, "write").await;
    let callers = [
        ("B's session", b.token().to_string(), false, false),
        ("B's write token", b_write, true, false),
        ("B's read token", b_read, true, true),
    ];
    let mut checked = 0;
    for (who, token, is_api_token, read_only) in &callers {
        for case in CASES {
            let label = format!("{who}: {}", case.label);
            let code = if (case.mutation && *read_only) || (case.session_only && *is_api_token) {
                "FORBIDDEN"
            } else {
                "NOT_FOUND"
            };
            let foreign = app
                .graphql(Some(token), case.operation, a_ids.variables())
                .await;
            let missing = app
                .graphql(Some(token), case.operation, Ids::random().variables())
                .await;
            assert_refused(&label, &foreign, code, &a, &a_ids);
            assert_eq!(
                foreign.body, missing.body,
                "{label}: A's id answers differently from a random id"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, CASES.len() * 3);

    let after = snapshot(&app, &a, &a_ids).await;
    assert_eq!(after.account["name"], before.account["name"]);
    assert_eq!(after.integration["config"], before.integration["config"]);
    assert_eq!(after.integration["status"], "ok");
    assert_eq!(after.transactions.len(), before.transactions.len());
    assert_eq!(after, before, "B's attempts changed A's data");
    // A's token was not revoked.
    let me = app
        .graphql_data(&a_secret, "{ me { id } }", json!({}))
        .await;
    assert_eq!(me["me"]["id"], a.id.as_str());
    // And A still reads everything through GraphQL.
    let own = app
        .graphql_data(
            a.token(),
            "query($account: UUID!, $job: UUID!) { account(id: $account) { name holdings { id } } importJob(id: $job) { status } }",
            a_ids.variables(),
        )
        .await;
    assert_eq!(own["account"]["name"], before.account["name"]);
    assert_eq!(own["importJob"]["status"], "succeeded");
}

#[tokio::test]
async fn a_graphql_document_mixing_own_and_foreign_ids_resolves_only_the_callers_fields() {
    let app = spawn_app().await;
    let (a, a_ids, _) = tenant_a(&app).await;
    let b = TestUser::register(&app).await;
    let b_account = app.create_account(b.token(), "B's own").await;
    let r = app
        .graphql(
            Some(b.token()),
            "query($mine: UUID!, $theirs: UUID!) {
                mine: account(id: $mine) { id name }
                theirs: holdings(accountId: $theirs) { id }
            }",
            json!({"mine": b_account, "theirs": a_ids.account}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A non-null root field that fails nulls the whole `data`; the error names the alias.
    assert_eq!(r.gql_codes(), ["NOT_FOUND"], "{}", r.text);
    assert_eq!(r.body["errors"][0]["path"], json!(["theirs"]));
    assert!(!r.text.contains(&a_ids.account) && !r.text.contains(&a.email));
}

#[tokio::test]
async fn another_users_data_is_absent_from_every_graphql_list_and_nested_list() {
    let app = spawn_app().await;
    let (a, a_ids, _) = tenant_a(&app).await;
    let a_holdings = app
        .get(
            &format!("/api/accounts/{}/holdings", a_ids.account),
            a.token(),
        )
        .await;
    let a_holding_ids: Vec<Value> = a_holdings
        .body
        .as_array()
        .expect("holdings")
        .iter()
        .map(|h| h["id"].clone())
        .collect();
    let b = TestUser::register(&app).await;
    let b_account = app
        .create_demo_account(b.token(), json!({"seed": 5}), true)
        .await;
    let b_read = b.api_token(&app, "read").await;
    let everything = "query($after: String) {
        accounts(first: 10) { edges { cursor node { id holdings { id asset { assetId } } transactions(first: 20) { edges { node { id } } } } } }
        paged: accounts(first: 10, after: $after) { edges { node { id } } }
        importJobs(first: 10) { edges { node { id accountId } } }
        auditLog(first: 50) { edges { node { id action targetId detail } } }
        apiTokens { id name }
    }";
    for (who, token) in [("session", b.token()), ("read token", b_read.as_str())] {
        let data = app
            .graphql_data(token, everything, json!({"after": a_ids.account}))
            .await;
        let text = data.to_string();
        for (what, id) in [
            ("account", &a_ids.account),
            ("job", &a_ids.job),
            ("token", &a_ids.token),
            ("user", &a.id),
            ("email", &a.email),
        ] {
            assert!(
                !text.contains(id.as_str()),
                "B ({who}) sees A's {what}: {text}"
            );
        }
        let accounts = data["accounts"]["edges"].as_array().expect("edges");
        assert_eq!(accounts.len(), 1, "{who}: {text}");
        assert_eq!(accounts[0]["node"]["id"], b_account.as_str());
        // Same seed, same assets, but B's own holding rows only.
        let b_holdings = accounts[0]["node"]["holdings"]
            .as_array()
            .expect("holdings");
        assert_eq!(b_holdings.len(), a_holding_ids.len(), "{who}");
        for h in b_holdings {
            assert!(!a_holding_ids.contains(&h["id"]), "{who}: A's holding {h}");
        }
        let b_txs = accounts[0]["node"]["transactions"]["edges"]
            .as_array()
            .expect("edges");
        assert!(!b_txs.is_empty(), "{who}: B's own transactions");
        // A cursor naming A's account pages B's accounts only.
        assert!(
            data["paged"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .all(|e| e["node"]["id"] == b_account.as_str()),
            "{who}: {text}"
        );
        let jobs = data["importJobs"]["edges"].as_array().expect("edges");
        assert_eq!(jobs.len(), 1, "{who}: B's own refresh only: {text}");
        assert_eq!(jobs[0]["node"]["accountId"], b_account.as_str());
        let tokens = data["apiTokens"].as_array().expect("tokens");
        assert_eq!(tokens.len(), 1, "{who}: B's read token only: {text}");
        let actions: Vec<&str> = data["auditLog"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .filter_map(|e| e["node"]["action"].as_str())
            .collect();
        assert!(actions.contains(&"auth.login"), "{who}: {actions:?}");
        assert_eq!(
            actions.iter().filter(|x| **x == "integration.set").count(),
            1,
            "{who}: B's own integration.set only: {actions:?}"
        );
    }
}

/// Subscribes to a job over graphql-transport-ws and returns everything said until the
/// operation completes or the connection closes.
async fn subscribe(app: &TestApp, protocol: &str, token: &str, job: &str) -> Vec<WsEvent> {
    let mut ws = app.graphql_ws(protocol).await;
    ws.init_with_token(token).await;
    let start = if protocol == "graphql-ws" {
        "start"
    } else {
        "subscribe"
    };
    ws.send(json!({
        "id": "1",
        "type": start,
        "payload": {
            "query": "subscription($job: UUID!) { importJobProgress(jobId: $job) { id status inserted } }",
            "variables": {"job": job},
        },
    }))
    .await;
    let mut events = Vec::new();
    loop {
        let event = ws.next_event().await;
        let done = match &event {
            WsEvent::Message(m) => m["type"] == "complete" || m["type"] == "error",
            _ => true,
        };
        events.push(event);
        if done {
            break;
        }
    }
    ws.close().await;
    events
}

#[tokio::test]
async fn subscribing_to_another_users_import_job_gives_not_found_and_no_data() {
    let app = spawn_app().await;
    let (a, a_ids, _) = tenant_a(&app).await;
    let before = app
        .get(&format!("/api/import-jobs/{}", a_ids.job), a.token())
        .await;
    let b = TestUser::register(&app).await;
    let b_read = b.api_token(&app, "read").await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        for (who, token) in [("session", b.token()), ("read token", b_read.as_str())] {
            let label = format!("B's {who} over {protocol}");
            let foreign = subscribe(&app, protocol, token, &a_ids.job).await;
            let missing = subscribe(&app, protocol, token, &Uuid::new_v4().to_string()).await;
            // The server answers one result carrying the error (async-graphql does not use the
            // protocol's `error` message for resolver errors), then completes the operation.
            let data_type = if protocol == "graphql-ws" {
                "data"
            } else {
                "next"
            };
            assert_eq!(foreign.len(), 2, "{label}: {foreign:?}");
            let WsEvent::Message(result) = &foreign[0] else {
                panic!("{label}: {foreign:?}");
            };
            assert_eq!(result["type"], data_type, "{label}: {result}");
            assert_eq!(result["id"], "1");
            assert!(
                result["payload"]["data"].is_null(),
                "{label}: no data: {result}"
            );
            assert_eq!(
                result["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
                "{label}: {result}"
            );
            assert_eq!(
                result["payload"]["errors"][0]["path"],
                json!(["importJobProgress"])
            );
            assert!(!result.to_string().contains(&a_ids.job), "{label}");
            assert_eq!(
                foreign[1],
                WsEvent::Message(json!({"type": "complete", "id": "1"})),
                "{label}"
            );
            assert_eq!(
                foreign, missing,
                "{label}: A's job answers like a random id"
            );
        }
    }
    let after = app
        .get(&format!("/api/import-jobs/{}", a_ids.job), a.token())
        .await;
    assert_eq!(after.body, before.body);
    // A, subscribing to the same job, gets it.
    let own = subscribe(&app, "graphql-transport-ws", a.token(), &a_ids.job).await;
    let WsEvent::Message(result) = &own[0] else {
        panic!("{own:?}");
    };
    assert_eq!(
        result["payload"]["data"]["importJobProgress"]["id"],
        a_ids.job.as_str()
    );
}

#[tokio::test]
async fn every_graphql_field_taking_an_id_is_in_the_cross_tenant_table() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let fields = "fields { name args { name type { name ofType { name } } } }";
    let schema = app
        .graphql_data(
            user.token(),
            &format!(
                "{{ __schema {{ queryType {{ {fields} }} mutationType {{ {fields} }} subscriptionType {{ {fields} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let mut checked = 0;
    for root in ["queryType", "mutationType", "subscriptionType"] {
        for field in schema["__schema"][root]["fields"]
            .as_array()
            .expect("fields")
        {
            let name = field["name"].as_str().expect("name");
            let takes_id = field["args"]
                .as_array()
                .expect("args")
                .iter()
                .any(|a| a["type"]["name"] == "UUID" || a["type"]["ofType"]["name"] == "UUID");
            if !takes_id {
                continue;
            }
            checked += 1;
            // The subscription has its own test (over the WebSocket).
            let covered = name == "importJobProgress"
                || CASES
                    .iter()
                    .any(|c| c.label.split(['(', ' ']).next() == Some(name));
            assert!(
                covered,
                "{name} takes an id but is not in the GraphQL cross-tenant table"
            );
        }
    }
    assert!(checked >= 14, "{checked} fields take ids");
}
