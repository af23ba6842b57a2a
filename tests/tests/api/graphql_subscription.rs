//! `importJobProgress` over WebSocket: authentication in `connection_init`, a finished job as one
//! event then `complete`, a running job streamed until it ends, both sub-protocols, and how the
//! server refuses a connection without valid credentials.

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use tributary_entity::import_job;
use tributary_tests::{GraphqlWs, TestApp, TestUser, WsEvent, spawn_app};
use uuid::Uuid;

const PROGRESS: &str = "subscription($job: UUID!) { importJobProgress(jobId: $job) { id accountId status fetched inserted duplicates failed error finishedAt } }";

/// A user with a refreshed DEMO account; returns the user, the account and the finished job.
async fn synced(app: &TestApp) -> (TestUser, String, Value) {
    let user = TestUser::register(app).await;
    let account = app
        .create_demo_account(user.token(), json!({"seed": 21}), true)
        .await;
    let jobs = app
        .get(
            &format!("/api/import-jobs?account_id={account}"),
            user.token(),
        )
        .await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.text);
    let job = jobs.body["items"][0].clone();
    assert_eq!(job["status"], "succeeded", "{job}");
    (user, account, job)
}

async fn start(ws: &mut GraphqlWs, protocol: &str, id: &str, query: &str, variables: Value) {
    let kind = if protocol == "graphql-ws" {
        "start"
    } else {
        "subscribe"
    };
    ws.send(json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}}))
        .await;
}

#[tokio::test]
async fn a_finished_job_yields_one_event_with_its_final_state_then_completes() {
    let app = spawn_app().await;
    let (user, account, job) = synced(&app).await;
    let job_id = job["id"].as_str().expect("id");
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut ws = app.graphql_ws(protocol).await;
        ws.init_with_token(user.token()).await;
        start(
            &mut ws,
            protocol,
            "progress",
            PROGRESS,
            json!({"job": job_id}),
        )
        .await;
        let event = ws.next_message().await;
        let data_type = if protocol == "graphql-ws" {
            "data"
        } else {
            "next"
        };
        assert_eq!(event["type"], data_type, "{protocol}: {event}");
        assert_eq!(event["id"], "progress");
        assert!(event["payload"].get("errors").is_none(), "{event}");
        let got = &event["payload"]["data"]["importJobProgress"];
        assert_eq!(got["id"], job_id);
        assert_eq!(got["accountId"], account.as_str());
        assert_eq!(got["status"], "succeeded");
        for field in ["fetched", "inserted", "duplicates", "failed"] {
            assert_eq!(got[field], job[field], "{protocol}: {field}");
        }
        assert!(got["inserted"].as_i64().is_some_and(|n| n > 0), "{got}");
        assert!(got["error"].is_null());
        assert!(got["finishedAt"].is_string());
        assert_eq!(
            ws.next_message().await,
            json!({"type": "complete", "id": "progress"}),
            "{protocol}"
        );
        // Nothing more for that operation, and the connection stays usable.
        if protocol == "graphql-transport-ws" {
            ws.send(json!({"type": "ping"})).await;
            assert_eq!(ws.next_message().await, json!({"type": "pong"}));
        }
        start(&mut ws, protocol, "again", PROGRESS, json!({"job": job_id})).await;
        let again = ws.next_message().await;
        assert_eq!(again["id"], "again");
        assert_eq!(
            again["payload"]["data"]["importJobProgress"]["status"],
            "succeeded"
        );
        assert_eq!(
            ws.next_message().await,
            json!({"type": "complete", "id": "again"})
        );
        assert_eq!(
            ws.next_within(std::time::Duration::from_millis(600)).await,
            WsEvent::Silent
        );
        ws.close().await;
    }
}

#[tokio::test]
async fn a_running_job_streams_each_change_until_it_finishes() {
    let app = spawn_app().await;
    let (user, account, _) = synced(&app).await;
    // A job the worker is in the middle of (the API runs refreshes synchronously, so the test
    // plays the worker and moves the row along).
    let now = Utc::now();
    let job = import_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(Uuid::parse_str(&user.id).expect("user id")),
        account_id: Set(Some(Uuid::parse_str(&account).expect("account id"))),
        source: Set("demo".into()),
        trigger: Set("manual".into()),
        status: Set("running".into()),
        fetched: Set(0),
        inserted: Set(0),
        updated: Set(0),
        duplicates: Set(0),
        failed: Set(0),
        error: Set(None),
        created_at: Set(now),
        started_at: Set(Some(now)),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(&app.ctx.db)
    .await
    .expect("job inserted");
    assert_eq!(job.status, "running");
    let job_id = job.id.to_string();

    let read = user.api_token(&app, "read").await;
    let mut ws = app.graphql_ws("graphql-transport-ws").await;
    ws.init_with_token(&read).await;
    start(
        &mut ws,
        "graphql-transport-ws",
        "1",
        PROGRESS,
        json!({"job": job_id}),
    )
    .await;
    let first = ws.next_message().await;
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(
        first["payload"]["data"]["importJobProgress"]["status"],
        "running"
    );
    assert_eq!(first["payload"]["data"]["importJobProgress"]["fetched"], 0);
    // Unchanged rows are not repeated.
    assert_eq!(
        ws.next_within(std::time::Duration::from_millis(700)).await,
        WsEvent::Silent
    );

    let mut progress: import_job::ActiveModel = job.clone().into();
    progress.fetched = Set(40);
    progress.inserted = Set(25);
    let progress = progress.update(&app.ctx.db).await.expect("progress");
    let second = ws.next_message().await;
    assert_eq!(second["type"], "next", "{second}");
    let got = &second["payload"]["data"]["importJobProgress"];
    assert_eq!(got["status"], "running");
    assert_eq!(got["fetched"], 40);
    assert_eq!(got["inserted"], 25);

    let mut done: import_job::ActiveModel = progress.into();
    done.status = Set("partial".into());
    done.fetched = Set(50);
    done.inserted = Set(45);
    done.failed = Set(5);
    done.error = Set(Some("5 rows could not be read".into()));
    done.finished_at = Set(Some(Utc::now()));
    done.update(&app.ctx.db).await.expect("finished");
    let last = ws.next_message().await;
    let got = &last["payload"]["data"]["importJobProgress"];
    assert_eq!(got["status"], "partial", "{last}");
    assert_eq!(got["fetched"], 50);
    assert_eq!(got["failed"], 5);
    assert_eq!(got["error"], "5 rows could not be read");
    assert!(got["finishedAt"].is_string());
    assert_eq!(
        ws.next_message().await,
        json!({"type": "complete", "id": "1"})
    );
    ws.close().await;
    let stored = import_job::Entity::find_by_id(job.id)
        .one(&app.ctx.db)
        .await
        .expect("query")
        .expect("job");
    assert_eq!(stored.status, "partial");
}

#[tokio::test]
async fn a_refresh_job_created_over_graphql_can_be_followed_over_the_websocket() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let account = app
        .create_demo_account(user.token(), json!({"seed": 8}), false)
        .await;
    let refreshed = app
        .graphql_data(
            user.token(),
            "mutation($a: UUID!) { refreshAccount(accountId: $a) { id status inserted } }",
            json!({"a": account}),
        )
        .await;
    let job = &refreshed["refreshAccount"];
    let mut ws = app.graphql_ws("graphql-transport-ws").await;
    ws.init_with_token(user.token()).await;
    start(
        &mut ws,
        "graphql-transport-ws",
        "j",
        "subscription($job: UUID!) { importJobProgress(jobId: $job) { id status inserted } }",
        json!({"job": job["id"]}),
    )
    .await;
    let event = ws.next_message().await;
    assert_eq!(event["payload"]["data"]["importJobProgress"], *job);
    assert_eq!(
        ws.next_message().await,
        json!({"type": "complete", "id": "j"})
    );
    ws.close().await;
}

#[tokio::test]
async fn a_connection_init_without_valid_credentials_is_refused_and_the_connection_closed() {
    let app = spawn_app().await;
    let (user, _, job) = synced(&app).await;
    let revoked = user.api_token(&app, "read").await;
    let tokens = app.get("/api/tokens", user.token()).await;
    let revoked_id = tokens.body[0]["id"].as_str().expect("id").to_string();
    let r = app
        .delete(&format!("/api/tokens/{revoked_id}"), user.token())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let forged = format!("{}x", user.token());
    let inits = [
        ("no payload", json!({"type": "connection_init"})),
        (
            "an empty payload",
            json!({"type": "connection_init", "payload": {}}),
        ),
        (
            "a null authorization",
            json!({"type": "connection_init", "payload": {"authorization": null}}),
        ),
        (
            "a forged JWT",
            json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {forged}")}}),
        ),
        (
            "a revoked API token",
            json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {revoked}")}}),
        ),
        (
            "a token without the Bearer scheme",
            json!({"type": "connection_init", "payload": {"authorization": user.token()}}),
        ),
        (
            "Basic credentials",
            json!({"type": "connection_init", "payload": {"authorization": "Basic dXNlcjpwdw=="}}),
        ),
    ];
    for (label, init) in &inits {
        // graphql-transport-ws: the server closes with 1002 and the reason.
        let mut ws = app.graphql_ws("graphql-transport-ws").await;
        ws.send(init.clone()).await;
        match ws.next_event().await {
            WsEvent::Closed { code, reason } => {
                assert_eq!(code, 1002, "{label}: {reason}");
                assert!(!reason.is_empty(), "{label}: the reason says why");
                assert!(!reason.contains(&forged) && !reason.contains(&revoked));
            }
            other => panic!("{label}: expected the connection closed, got {other:?}"),
        }
        // graphql-ws (legacy): a connection_error message; the socket is not closed by the
        // server (async-graphql-actix-web leaves it to the client or the heartbeat), but it
        // answers nothing any more.
        let mut ws = app.graphql_ws("graphql-ws").await;
        ws.send(init.clone()).await;
        let refused = ws.next_message().await;
        assert_eq!(refused["type"], "connection_error", "{label}: {refused}");
        assert!(
            refused["payload"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{label}: {refused}"
        );
        start(
            &mut ws,
            "graphql-ws",
            "1",
            PROGRESS,
            json!({"job": job["id"]}),
        )
        .await;
        let after = ws.next_within(std::time::Duration::from_millis(400)).await;
        assert!(
            !matches!(after, WsEvent::Message(_)),
            "{label}: a refused connection runs nothing: {after:?}"
        );
        ws.close().await;
    }
    // The reason tells the client what to do.
    let mut ws = app.graphql_ws("graphql-transport-ws").await;
    ws.send(json!({"type": "connection_init", "payload": {}}))
        .await;
    assert_eq!(
        ws.next_event().await,
        WsEvent::Closed {
            code: 1002,
            reason: "an Authorization: Bearer token is required".into()
        }
    );

    // Subscribing without connection_init never reaches the resolver.
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut ws = app.graphql_ws(protocol).await;
        start(&mut ws, protocol, "1", PROGRESS, json!({"job": job["id"]})).await;
        match ws.next_event().await {
            WsEvent::Closed { code, .. } => assert_eq!(code, 1011, "{protocol}"),
            other => panic!("{protocol}: expected the connection closed, got {other:?}"),
        }
    }
    // A second connection_init is refused too.
    let mut ws = app.graphql_ws("graphql-transport-ws").await;
    ws.init_with_token(user.token()).await;
    ws.send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", user.token())}}))
        .await;
    match ws.next_event().await {
        WsEvent::Closed { code, .. } => assert_eq!(code, 4429),
        other => panic!("expected the connection closed, got {other:?}"),
    }
    // Without a GraphQL sub-protocol the upgrade itself is refused.
    assert_eq!(
        app.graphql_ws_with(None).await.err(),
        Some(StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        app.graphql_ws_with(Some("chat")).await.err(),
        Some(StatusCode::BAD_REQUEST)
    );
}

/// Subscribes with bad input and returns the errors of the one result (`next` or `error`),
/// checking that no data came and that the operation completed.
async fn bad_subscription_errors(
    ws: &mut GraphqlWs,
    id: &str,
    query: &str,
    variables: Value,
) -> Vec<Value> {
    start(ws, "graphql-transport-ws", id, query, variables).await;
    let event = ws.next_message().await;
    assert_eq!(event["id"], id, "{event}");
    let errors = match event["type"].as_str() {
        Some("error") => event["payload"].clone(),
        Some("next") => {
            assert!(event["payload"]["data"].is_null(), "{id}: {event}");
            event["payload"]["errors"].clone()
        }
        _ => panic!("{id}: {event}"),
    };
    let errors = errors.as_array().cloned().unwrap_or_default();
    assert!(!errors.is_empty(), "{id}: {event}");
    for e in &errors {
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{id}: {e}"
        );
        assert_ne!(e["extensions"]["code"], "INTERNAL", "{id}: {e}");
    }
    if event["type"] == "next" {
        assert_eq!(
            ws.next_message().await,
            json!({"type": "complete", "id": id})
        );
    }
    errors
}

const BAD_SUBSCRIPTIONS: [(&str, &str); 4] = [
    (
        "uuid",
        "subscription { importJobProgress(jobId: \"nope\") { id } }",
    ),
    (
        "missing-argument",
        "subscription { importJobProgress { id } }",
    ),
    (
        "unknown-field",
        "subscription { importJobProgress(jobId: \"00000000-0000-0000-0000-000000000000\") { password } }",
    ),
    ("syntax", "subscription { importJobProgress("),
];

#[tokio::test]
async fn bad_subscription_input_over_the_websocket_gets_errors_and_no_data() {
    let app = spawn_app().await;
    let (user, _, _) = synced(&app).await;
    let mut ws = app.graphql_ws("graphql-transport-ws").await;
    ws.init_with_token(user.token()).await;
    for (id, query) in BAD_SUBSCRIPTIONS {
        bad_subscription_errors(&mut ws, id, query, json!({})).await;
    }
    // The connection survives bad operations.
    let missing = bad_subscription_errors(
        &mut ws,
        "missing-job",
        PROGRESS,
        json!({"job": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(missing[0]["extensions"]["code"], "NOT_FOUND");
    ws.close().await;
}

#[tokio::test]

async fn engine_errors_over_the_websocket_carry_the_validation_code_like_over_post() {
    let app = spawn_app().await;
    let (user, _, _) = synced(&app).await;
    let mut ws = app.graphql_ws("graphql-transport-ws").await;
    ws.init_with_token(user.token()).await;
    for (id, query) in BAD_SUBSCRIPTIONS {
        let errors = bad_subscription_errors(&mut ws, id, query, json!({})).await;
        for e in &errors {
            assert_eq!(
                e["extensions"]["code"], "VALIDATION",
                "{id}: engine errors carry VALIDATION over the WebSocket too: {e}"
            );
        }
    }
    ws.close().await;
}
