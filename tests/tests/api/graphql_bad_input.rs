//! Bad input to GraphQL: malformed scalars, unknown enum values, invalid integration configs,
//! missing arguments, syntax errors, unknown fields, page sizes and cursors, depth and
//! complexity limits, oversized or malformed bodies. Every error is `VALIDATION` (the body limit
//! is HTTP 413), never `INTERNAL`, and nothing is written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_tests::{AppOptions, TestApp, TestResponse, TestUser, spawn_app, spawn_app_with};

/// Everything the user can observe through REST, to prove bad input wrote nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    me: Value,
    accounts: Value,
    integration: Value,
    tokens: Value,
    jobs: Value,
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
        integration: get(format!("/api/accounts/{account}/integration")).await,
        tokens: get("/api/tokens".into()).await,
        jobs: get("/api/import-jobs?limit=200".into()).await,
        audit: get("/api/audit-log?limit=200".into()).await,
    }
}

/// Asserts a GraphQL answer is a validation error (naming `field` when given) that leaks
/// nothing internal and carries no data.
fn assert_validation(label: &str, r: &TestResponse, field: Option<&str>) {
    assert_eq!(r.status, StatusCode::OK, "{label}: {}", r.text);
    let codes = r.gql_codes();
    assert!(!codes.is_empty(), "{label}: expected an error: {}", r.text);
    assert!(
        codes.iter().all(|c| c == "VALIDATION"),
        "{label}: {codes:?}: {}",
        r.text
    );
    // No data: `data` is absent or null, or (when async-graphql stops at a nested field whose
    // arguments fail to parse) every root field is null.
    let data = &r.body["data"];
    assert!(
        data.is_null()
            || data
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_null)),
        "{label}: no data with an error: {}",
        r.text
    );
    for e in r.body["errors"].as_array().expect("errors") {
        let message = e["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{label}: {e}");
        for leak in [
            "sqlx",
            "SELECT",
            "panicked",
            "Unexpected",
            "DbErr",
            "database",
        ] {
            assert!(!message.contains(leak), "{label}: leaks {leak}: {message}");
        }
    }
    if let Some(field) = field {
        assert_eq!(r.gql_field(), Some(field), "{label}: {}", r.text);
    }
}

/// One row: what it is, the operation, its variables (`$a` is the user's DEMO account, `$plain`
/// an account without integration), and the field the error must name (if one is named).
type Case = (&'static str, String, Value, Option<&'static str>);

fn cases(account: &str, plain: &str) -> Vec<Case> {
    let ids = json!({"a": account, "plain": plain});
    let with = |extra: Value| {
        let mut v = ids.clone();
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    let fixed: Vec<(&'static str, &'static str, Value, Option<&'static str>)> = vec![
        // UUID
        (
            "UUID literal \"nope\"",
            "{ account(id: \"nope\") { id } }",
            json!({}),
            None,
        ),
        (
            "UUID variable \"nope\"",
            "query($id: UUID!) { account(id: $id) { id } }",
            json!({"id": "nope"}),
            None,
        ),
        (
            "UUID variable as a number",
            "query($id: UUID!) { holdings(accountId: $id) { id } }",
            json!({"id": 42}),
            None,
        ),
        (
            "UUID one digit short",
            "mutation { deleteAccount(id: \"123e4567-e89b-12d3-a456-42661417400\") }",
            json!({}),
            None,
        ),
        (
            "UUID empty",
            "{ importJob(id: \"\") { id } }",
            json!({}),
            None,
        ),
        (
            "UUID in a mutation variable",
            "mutation($id: UUID!) { refreshAccount(accountId: $id) { id } }",
            json!({"id": "' OR 1=1 --"}),
            None,
        ),
        // Date
        (
            "Date 2024-13-40",
            "query($a: UUID!) { transactions(accountId: $a, filter: {from: \"2024-13-40\"}) { edges { node { id } } } }",
            ids.clone(),
            None,
        ),
        (
            "Date 2023-02-29",
            "query($a: UUID!) { transactions(accountId: $a, filter: {to: \"2023-02-29\"}) { edges { node { id } } } }",
            ids.clone(),
            None,
        ),
        (
            "Date as a number",
            "query($a: UUID!) { transactions(accountId: $a, filter: {from: 20240101}) { edges { node { id } } } }",
            ids.clone(),
            None,
        ),
        (
            "Date \"yesterday\" in a variable",
            "query($a: UUID!, $f: TransactionFilter) { transactions(accountId: $a, filter: $f) { edges { node { id } } } }",
            with(json!({"f": {"from": "yesterday"}})),
            None,
        ),
        (
            "Date with a time",
            "query($a: UUID!) { account(id: $a) { transactions(filter: {from: \"2024-01-01T00:00:00Z\"}) { edges { node { id } } } } }",
            ids.clone(),
            None,
        ),
        // DateTime
        (
            "DateTime \"yesterday\"",
            "mutation { createApiToken(input: {name: \"t\", scope: READ, expiresAt: \"yesterday\"}) { secret } }",
            json!({}),
            None,
        ),
        (
            "DateTime given a date",
            "mutation { createApiToken(input: {name: \"t\", scope: READ, expiresAt: \"2030-01-01\"}) { secret } }",
            json!({}),
            None,
        ),
        (
            "DateTime in the past",
            "mutation { createApiToken(input: {name: \"t\", scope: READ, expiresAt: \"2001-01-01T00:00:00Z\"}) { secret } }",
            json!({}),
            Some("expires_at"),
        ),
        // Enums
        (
            "AccountKind SAVINGS",
            "mutation { createAccount(input: {name: \"x\", kind: SAVINGS, currency: \"USD\"}) { id } }",
            json!({}),
            None,
        ),
        (
            "AccountKind as a string literal of an unknown value",
            "mutation { createAccount(input: {name: \"x\", kind: \"SAVINGS\", currency: \"USD\"}) { id } }",
            json!({}),
            None,
        ),
        (
            "AccountKind in lower case in a variable",
            "mutation($input: CreateAccountInput!) { createAccount(input: $input) { id } }",
            json!({"input": {"name": "x", "kind": "brokerage", "currency": "USD"}}),
            None,
        ),
        (
            "AccountKind SAVINGS in an update",
            "mutation($a: UUID!) { updateAccount(id: $a, input: {kind: SAVINGS}) { id } }",
            ids.clone(),
            None,
        ),
        (
            "TokenScope ADMIN",
            "mutation { createApiToken(input: {name: \"t\", scope: ADMIN}) { secret } }",
            json!({}),
            None,
        ),
        (
            "TransactionType BOGUS",
            "query($a: UUID!) { transactions(accountId: $a, filter: {types: [BOGUS]}) { edges { node { id } } } }",
            ids.clone(),
            None,
        ),
        (
            "TransactionType buy in a variable",
            "query($a: UUID!, $f: TransactionFilter) { transactions(accountId: $a, filter: $f) { edges { node { id } } } }",
            with(json!({"f": {"types": ["buy"]}})),
            None,
        ),
        // Integration config (JSON) and type
        (
            "config is a string",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: \"x\"}) { type } }",
            ids.clone(),
            Some("config"),
        ),
        (
            "config is a list",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: [1, 2]}) { type } }",
            ids.clone(),
            Some("config"),
        ),
        (
            "config is null",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: null}) { type } }",
            ids.clone(),
            None,
        ),
        (
            "config with an unknown field",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: {seed: 1, colour: \"red\"}}) { type } }",
            ids.clone(),
            Some("config.colour"),
        ),
        (
            "config with a wrongly typed field",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: {seed: \"abc\"}}) { type } }",
            ids.clone(),
            Some("config.seed"),
        ),
        (
            "config missing a required field",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: {}}) { type } }",
            ids.clone(),
            Some("config.seed"),
        ),
        (
            "config with an unknown profile",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"DEMO\", config: {seed: 1, profile: \"aggressive\"}}) { type } }",
            ids.clone(),
            Some("config.profile"),
        ),
        (
            "config with a negative seed, in a variable",
            "mutation($a: UUID!, $input: IntegrationInput!) { setIntegration(accountId: $a, input: $input) { type } }",
            with(json!({"input": {"type": "DEMO", "config": {"seed": -1}}})),
            Some("config.seed"),
        ),
        (
            "config keeping a secret that was never stored",
            "mutation($plain: UUID!) { setIntegration(accountId: $plain, input: {type: \"DEMO\", config: {seed: 1, password: \"********\"}}) { type } }",
            ids.clone(),
            Some("config.password"),
        ),
        (
            "unknown integration type",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"NOPE\", config: {seed: 1}}) { type } }",
            ids.clone(),
            Some("type"),
        ),
        (
            "empty integration type",
            "mutation($a: UUID!) { setIntegration(accountId: $a, input: {type: \"\", config: {seed: 1}}) { type } }",
            ids.clone(),
            Some("type"),
        ),
        // Service-level field validation
        (
            "currency EURO",
            "mutation { createAccount(input: {name: \"x\", kind: CASH, currency: \"EURO\"}) { id } }",
            json!({}),
            Some("currency"),
        ),
        (
            "empty account name",
            "mutation { createAccount(input: {name: \"  \", kind: CASH, currency: \"USD\"}) { id } }",
            json!({}),
            Some("name"),
        ),
        (
            "empty name in an update",
            "mutation($a: UUID!) { updateAccount(id: $a, input: {name: \"\"}) { id } }",
            ids.clone(),
            Some("name"),
        ),
        (
            "currency in an update",
            "mutation($a: UUID!) { updateAccount(id: $a, input: {currency: \"dollars\"}) { id } }",
            ids.clone(),
            Some("currency"),
        ),
        (
            "base currency of the user",
            "mutation { updateMe(input: {baseCurrency: \"xx\"}) { id } }",
            json!({}),
            None,
        ),
        (
            "empty token name",
            "mutation { createApiToken(input: {name: \"\", scope: READ}) { secret } }",
            json!({}),
            Some("name"),
        ),
        // Missing required arguments and variables
        ("account without id", "{ account { id } }", json!({}), None),
        (
            "createAccount without kind and currency",
            "mutation { createAccount(input: {name: \"x\"}) { id } }",
            json!({}),
            None,
        ),
        (
            "setIntegration without input",
            "mutation($a: UUID!) { setIntegration(accountId: $a) { type } }",
            ids.clone(),
            None,
        ),
        (
            "a required variable not given",
            "query($id: UUID!) { account(id: $id) { id } }",
            json!({}),
            None,
        ),
        (
            "a required variable given null",
            "query($id: UUID!) { account(id: $id) { id } }",
            json!({"id": null}),
            None,
        ),
        (
            "an undeclared variable",
            "{ account(id: $nope) { id } }",
            json!({}),
            None,
        ),
        (
            "a variable of the wrong type",
            "query($id: Int!) { account(id: $id) { id } }",
            json!({"id": 1}),
            None,
        ),
        // Syntax
        ("unclosed selection", "{ me { id ", json!({}), None),
        ("empty selection", "query { }", json!({}), None),
        ("empty document", "", json!({}), None),
        (
            "missing closing brace in a mutation",
            "mutation { createAccount(input: {name: \"x\", kind: CASH, currency: \"USD\"}) { id }",
            json!({}),
            None,
        ),
        ("not GraphQL at all", "<html>hello</html>", json!({}), None),
        // Unknown or misused fields
        ("unknown field", "{ me { password } }", json!({}), None),
        ("unknown root field", "{ users { id } }", json!({}), None),
        (
            "unknown mutation",
            "mutation { dropDatabase }",
            json!({}),
            None,
        ),
        (
            "unknown argument",
            "query($a: UUID!) { account(id: $a, owner: \"b\") { id } }",
            ids.clone(),
            None,
        ),
        ("object without a selection", "{ me }", json!({}), None),
        (
            "selection on a scalar",
            "{ me { id { x } } }",
            json!({}),
            None,
        ),
        (
            "fragment on the wrong type",
            "{ me { ... on Account { name } } }",
            json!({}),
            None,
        ),
        (
            "unknown input field",
            "mutation { createAccount(input: {name: \"x\", kind: CASH, currency: \"USD\", owner: \"b\"}) { id } }",
            json!({}),
            None,
        ),
        (
            "a subscription over POST",
            "subscription { importJobProgress(jobId: \"00000000-0000-0000-0000-000000000000\") { id } }",
            json!({}),
            None,
        ),
        // Page sizes and cursors
        (
            "accounts first: 0",
            "{ accounts(first: 0) { edges { node { id } } } }",
            json!({}),
            Some("first"),
        ),
        (
            "accounts first: 1000",
            "{ accounts(first: 1000) { edges { node { id } } } }",
            json!({}),
            Some("first"),
        ),
        (
            "accounts first: 101",
            "{ accounts(first: 101) { pageInfo { hasNextPage } } }",
            json!({}),
            Some("first"),
        ),
        (
            "transactions first: 0",
            "query($a: UUID!) { transactions(accountId: $a, first: 0) { edges { node { id } } } }",
            ids.clone(),
            Some("first"),
        ),
        (
            "nested transactions first: 1000",
            "query($a: UUID!) { account(id: $a) { transactions(first: 1000) { edges { node { id } } } } }",
            ids.clone(),
            Some("first"),
        ),
        (
            "importJobs first: 1000",
            "{ importJobs(first: 1000) { edges { node { id } } } }",
            json!({}),
            Some("first"),
        ),
        (
            "auditLog first: 0",
            "{ auditLog(first: 0) { edges { node { id } } } }",
            json!({}),
            Some("first"),
        ),
        (
            "first beyond Int",
            "{ accounts(first: 99999999999) { edges { node { id } } } }",
            json!({}),
            None,
        ),
        (
            "first as a string",
            "{ accounts(first: \"10\") { edges { node { id } } } }",
            json!({}),
            None,
        ),
        (
            "accounts after garbage",
            "{ accounts(after: \"garbage\") { edges { node { id } } } }",
            json!({}),
            None,
        ),
        (
            "transactions after garbage",
            "query($a: UUID!) { transactions(accountId: $a, after: \"!!not-a-cursor!!\") { edges { node { id } } } }",
            ids.clone(),
            None,
        ),
        (
            "importJobs after garbage",
            "{ importJobs(after: \"garbage\") { edges { node { id } } } }",
            json!({}),
            None,
        ),
        (
            "auditLog after garbage",
            "{ auditLog(after: \"garbage\") { edges { node { id } } } }",
            json!({}),
            None,
        ),
        // Limits
        (
            "depth over the limit (introspection)",
            "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } }",
            json!({}),
            None,
        ),
        (
            "complexity over the limit",
            "{ accounts(first: 100) { edges { node { id holdings { quantity asset { symbol } } transactions(first: 100) { edges { node { id amount asset { symbol } } } } } } } }",
            json!({}),
            None,
        ),
    ];
    let mut table: Vec<Case> = fixed
        .into_iter()
        .map(|(label, query, variables, field)| (label, query.to_string(), variables, field))
        .collect();
    let aliases: Vec<String> = (0..60)
        .map(|i| format!("a{i}: accounts(first: 100) {{ edges {{ node {{ id name }} }} }}"))
        .collect();
    table.push((
        "complexity over the limit through aliases",
        format!("{{ {} }}", aliases.join(" ")),
        json!({}),
        None,
    ));
    table
}

#[tokio::test]
async fn every_kind_of_bad_graphql_input_is_a_validation_error_never_internal_and_writes_nothing() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();
    let account = app
        .create_demo_account(token, json!({"seed": 3, "password": "demo"}), true)
        .await;
    let plain = app.create_account(token, "Plain").await;
    let before = snapshot(&app, token, &account).await;
    let table = cases(&account, &plain);
    assert!(table.len() > 60);
    for (label, query, variables, field) in &table {
        let r = app.graphql(Some(token), query, variables.clone()).await;
        assert_validation(label, &r, *field);
        // Limits say which limit was hit.
        let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
        if label.starts_with("depth") {
            assert!(message.contains("nested too deep"), "{label}: {message}");
        }
        if label.starts_with("complexity") {
            assert!(message.contains("too complex"), "{label}: {message}");
        }
    }
    let after = snapshot(&app, token, &account).await;
    assert_eq!(after, before, "bad input wrote something");
    // The server is still healthy and the data is intact.
    let data = app
        .graphql_data(
            token,
            "query($a: UUID!) { account(id: $a) { name integration { status config } } }",
            json!({"a": account}),
        )
        .await;
    assert_eq!(data["account"]["integration"]["status"], "OK");
    assert_eq!(data["account"]["integration"]["config"]["seed"], 3);
}

#[tokio::test]

async fn a_negative_page_size_is_a_validation_error_not_a_crash() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let account = app.create_account(user.token(), "Mine").await;
    for (label, query) in [
        (
            "accounts",
            "{ accounts(first: -1) { edges { node { id name } } } }",
        ),
        (
            "transactions",
            "query($a: UUID!) { transactions(accountId: $a, first: -5) { edges { node { id amount } } } }",
        ),
        (
            "nested transactions",
            "query($a: UUID!) { account(id: $a) { transactions(first: -1) { edges { node { id } } } } }",
        ),
        (
            "importJobs",
            "{ importJobs(first: -2147483648) { edges { node { id status } } } }",
        ),
        (
            "auditLog",
            "{ auditLog(first: -1) { edges { node { id action } } } }",
        ),
    ] {
        let r = app
            .graphql(Some(user.token()), query, json!({"a": account}))
            .await;
        assert_validation(label, &r, Some("first"));
    }
    let still = app
        .graphql_data(user.token(), "{ me { id } }", json!({}))
        .await;
    assert_eq!(still["me"]["id"], user.id.as_str());
}

#[tokio::test]
async fn malformed_or_oversized_graphql_bodies_get_a_problem_document_and_write_nothing() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();
    let account = app.create_account(token, "Mine").await;
    app.put(
        &format!("/api/accounts/{account}/integration"),
        token,
        json!({"type": "DEMO", "config": {"seed": 1}}),
    )
    .await;
    let before = snapshot(&app, token, &account).await;
    let create =
        "mutation { createAccount(input: {name: \"big\", kind: CASH, currency: \"USD\"}) { id } }";

    // Over the body limit (1 MiB by default): 413 before anything runs.
    let padding = " ".repeat(app.settings.server.body_limit_bytes + 1);
    let huge = json!({"query": format!("{create}{padding}")}).to_string();
    let r = app
        .raw(
            Method::POST,
            "/graphql",
            Some(token),
            "application/json",
            huge.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.code(), "PAYLOAD_TOO_LARGE", "{}", r.text);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // A huge variable is refused the same way.
    let r = app
        .raw(
            Method::POST,
            "/graphql",
            Some(token),
            "application/json",
            json!({"query": create, "variables": {"pad": "x".repeat(2 * 1024 * 1024)}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);

    for (label, body) in [
        ("truncated JSON", "{\"query\": \"{ me { id } }\""),
        ("not JSON", "query { me { id } }"),
        ("a JSON string", "\"{ me { id } }\""),
        ("no query", "{}"),
        ("query is a number", "{\"query\": 5}"),
        (
            "variables are a string",
            "{\"query\": \"{ me { id } }\", \"variables\": \"x\"}",
        ),
        ("trailing data", "{\"query\": \"{ me { id } }\"} {}"),
    ] {
        let r = app
            .raw(
                Method::POST,
                "/graphql",
                Some(token),
                "application/json",
                body.as_bytes().to_vec(),
            )
            .await;
        let label = format!("{label}: {body}");
        if r.status == StatusCode::OK {
            // Handled by the GraphQL engine: a validation error in the GraphQL shape.
            assert_validation(&label, &r, None);
        } else {
            assert!(
                [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&r.status),
                "{label}: {}",
                r.text
            );
            assert_eq!(r.code(), "VALIDATION", "{label}: {}", r.text);
            assert_eq!(
                r.headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/problem+json"),
                "{label}"
            );
        }
        assert!(!r.text.contains("INTERNAL"), "{label}: {}", r.text);
    }
    let r = app
        .raw(
            Method::POST,
            "/graphql",
            Some(token),
            "text/plain",
            json!({"query": create}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    assert_eq!(r.code(), "UNSUPPORTED_MEDIA_TYPE");

    let after = snapshot(&app, token, &account).await;
    assert_eq!(after, before, "a refused body wrote something");
}

#[tokio::test]
async fn configured_depth_and_complexity_limits_refuse_queries_over_them_and_allow_those_under() {
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("TRIBUTARY__GRAPHQL__MAX_DEPTH".into(), "5".into()),
            ("TRIBUTARY__GRAPHQL__MAX_COMPLEXITY".into(), "150".into()),
            ("TRIBUTARY__GRAPHQL__MAX_PAGE_SIZE".into(), "3".into()),
        ],
    })
    .await;
    let user = TestUser::register(&app).await;
    let token = user.token();
    for i in 0..4 {
        app.create_account(token, &format!("Account {i}")).await;
    }
    // Depth 5 runs; depth 6 is refused before anything runs.
    let at_limit = app
        .graphql_data(
            token,
            "{ accounts(first: 3) { edges { node { holdings { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        at_limit["accounts"]["edges"].as_array().map(Vec::len),
        Some(3)
    );
    let deep = app
        .graphql(
            Some(token),
            "{ accounts(first: 1) { edges { node { holdings { asset { symbol } } } } } }",
            json!({}),
        )
        .await;
    assert_validation("depth 6 of 5", &deep, None);
    assert!(
        deep.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("nested")),
        "a clear message: {}",
        deep.text
    );
    // Complexity: first × child fields (an object field counts 1 + its children, holdings
    // 10 × children): 3 × (1 + 1 + 2) = 12 runs, 3 × (1 + 1 + 1 + 1 + 10 × 5) = 162 does not.
    let simple = app
        .graphql_data(
            token,
            "{ accounts(first: 3) { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        simple["accounts"]["edges"].as_array().map(Vec::len),
        Some(3)
    );
    let complex = app
        .graphql(
            Some(token),
            "{ accounts(first: 3) { edges { node { id name holdings { id quantity price currency source } } } } }",
            json!({}),
        )
        .await;
    assert_validation("complexity 162 of 150", &complex, None);
    assert!(
        complex.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("complex")),
        "a clear message: {}",
        complex.text
    );
    // The page size limit is the configured one; the default page is capped by it.
    let over = app
        .graphql(
            Some(token),
            "{ accounts(first: 4) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_validation("first: 4 of 3", &over, Some("first"));
    assert!(
        over.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains('3')),
        "{}",
        over.text
    );
    let default_page = app
        .graphql_data(
            token,
            "{ accounts { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        default_page["accounts"]["edges"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(default_page["accounts"]["pageInfo"]["hasNextPage"], true);
}
