//! The GraphQL counterparts of the import-job routes: `syncAccount`, `syncAll`,
//! `cancelImportJob`, `retryImportJob`, `importJobs` filters, tenancy and read-only tokens.

use serde_json::{Value, json};
use tributary_tests::{TestApp, TestUser};

use crate::pipeline_support::{pipeline_app, wait_finished};

const SYNC_ACCOUNT: &str = "mutation($id: UUID!) { syncAccount(accountId: $id) { id status source trigger accountId attempt } }";
const SYNC_ALL: &str =
    "mutation($key: String) { syncAll(idempotencyKey: $key) { id status accountId } }";
const CANCEL: &str = "mutation($id: UUID!) { cancelImportJob(id: $id) { id status } }";
const RETRY: &str = "mutation($id: UUID!) { retryImportJob(id: $id) { id status attempt } }";
const JOBS: &str = "query($status: String, $source: String, $account: UUID) {
    importJobs(status: $status, source: $source, accountId: $account, first: 50) {
        edges { node { id status source accountId } }
    }
}";
const JOB: &str = "query($id: UUID!) { importJob(id: $id) { id status } }";

fn ids(nodes: &Value) -> Vec<String> {
    let mut out: Vec<String> = nodes
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect();
    out.sort();
    out
}

async fn job_ids(app: &TestApp, token: &str, vars: Value) -> Vec<String> {
    let data = app.graphql_data(token, JOBS, vars).await;
    let nodes: Vec<Value> = data["importJobs"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    ids(&Value::Array(nodes))
}

#[tokio::test]
async fn graphql_sync_cancel_retry_and_filtered_job_lists() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let a = app.create_demo_account(t, json!({"seed": 71}), false).await;
    app.create_demo_account(t, json!({"seed": 72}), false).await;

    let data = app.graphql_data(t, SYNC_ACCOUNT, json!({"id": a})).await;
    let job_a = data["syncAccount"].clone();
    assert_eq!(job_a["status"], "queued");
    assert_eq!(job_a["source"], "demo");
    assert_eq!(job_a["accountId"], a.as_str());
    let id_a = job_a["id"].as_str().expect("id").to_string();
    let r = app.graphql(Some(t), SYNC_ACCOUNT, json!({"id": a})).await;
    assert_eq!(r.gql_code(), "CONFLICT", "{}", r.text);

    // syncAll with a key: the active job of `a` and a new one for `b`; again → the same.
    let first = app.graphql_data(t, SYNC_ALL, json!({"key": "gql-1"})).await;
    let second = app.graphql_data(t, SYNC_ALL, json!({"key": "gql-1"})).await;
    assert_eq!(ids(&first["syncAll"]), ids(&second["syncAll"]));
    assert_eq!(ids(&first["syncAll"]).len(), 2);
    assert!(ids(&first["syncAll"]).contains(&id_a));
    let id_b = ids(&first["syncAll"])
        .into_iter()
        .find(|i| *i != id_a)
        .expect("b's job");
    let r = app.graphql(Some(t), SYNC_ALL, json!({"key": " "})).await;
    assert_eq!(r.gql_code(), "VALIDATION", "{}", r.text);

    // Cancel b's job; cancelling again is a conflict.
    let data = app.graphql_data(t, CANCEL, json!({"id": id_b})).await;
    assert_eq!(data["cancelImportJob"]["status"], "cancelled");
    let r = app.graphql(Some(t), CANCEL, json!({"id": id_b})).await;
    assert_eq!(r.gql_code(), "CONFLICT", "{}", r.text);
    let r = app.graphql(Some(t), RETRY, json!({"id": id_a})).await;
    assert_eq!(
        r.gql_code(),
        "CONFLICT",
        "a queued job is not retried: {}",
        r.text
    );

    // Filters.
    assert_eq!(job_ids(&app, t, json!({})).await.len(), 2);
    assert_eq!(
        job_ids(&app, t, json!({"status": "cancelled"})).await,
        vec![id_b.clone()]
    );
    assert_eq!(
        job_ids(&app, t, json!({"status": "queued"})).await,
        vec![id_a.clone()]
    );
    assert_eq!(
        job_ids(&app, t, json!({"account": a})).await,
        vec![id_a.clone()]
    );
    assert_eq!(job_ids(&app, t, json!({"source": "demo"})).await.len(), 2);
    assert!(job_ids(&app, t, json!({"source": "ofx"})).await.is_empty());
    let r = app.graphql(Some(t), JOBS, json!({"status": "done"})).await;
    assert_eq!(r.gql_code(), "VALIDATION", "{}", r.text);
    assert_eq!(r.gql_field(), Some("status"), "{}", r.text);

    // Retry the cancelled job: queued again, then a worker runs it.
    let data = app.graphql_data(t, RETRY, json!({"id": id_b})).await;
    assert_eq!(data["retryImportJob"]["status"], "queued");
    assert_eq!(data["retryImportJob"]["attempt"], 0);
    let workers = tributary_api::jobs::worker::spawn(app.ctx.clone().into_inner(), 1);
    let done = wait_finished(&app, t, &id_b).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let done = wait_finished(&app, t, &id_a).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    for w in workers {
        w.abort();
    }
    let data = app.graphql_data(t, JOB, json!({"id": id_b})).await;
    assert_eq!(data["importJob"]["status"], "succeeded");
}

#[tokio::test]
async fn graphql_import_jobs_of_another_user_are_not_found() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let owner = TestUser::register(&app).await;
    let account = app
        .create_demo_account(owner.token(), json!({"seed": 73}), false)
        .await;
    let data = app
        .graphql_data(owner.token(), SYNC_ACCOUNT, json!({"id": account}))
        .await;
    let id = data["syncAccount"]["id"].as_str().expect("id").to_string();

    let other = TestUser::register(&app).await;
    let o = other.token();
    for (query, vars) in [
        (SYNC_ACCOUNT, json!({"id": account})),
        (CANCEL, json!({"id": id})),
        (RETRY, json!({"id": id})),
        (JOB, json!({"id": id})),
        (JOBS, json!({"account": account})),
    ] {
        let r = app.graphql(Some(o), query, vars).await;
        assert_eq!(r.gql_code(), "NOT_FOUND", "{query}: {}", r.text);
    }
    assert!(job_ids(&app, o, json!({})).await.is_empty());
    let data = app.graphql_data(o, SYNC_ALL, json!({"key": "x"})).await;
    assert_eq!(data["syncAll"], json!([]));
    // The owner's job is untouched.
    let data = app
        .graphql_data(owner.token(), JOB, json!({"id": id}))
        .await;
    assert_eq!(data["importJob"]["status"], "queued");
}

#[tokio::test]
async fn graphql_sync_mutations_are_forbidden_with_a_read_only_token() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let account = app
        .create_demo_account(user.token(), json!({"seed": 74}), false)
        .await;
    let data = app
        .graphql_data(user.token(), SYNC_ACCOUNT, json!({"id": account}))
        .await;
    let id = data["syncAccount"]["id"].as_str().expect("id").to_string();
    let read = user.api_token(&app, "read").await;
    for (query, vars) in [
        (SYNC_ACCOUNT, json!({"id": account})),
        (SYNC_ALL, json!({"key": "r"})),
        (CANCEL, json!({"id": id})),
        (RETRY, json!({"id": id})),
    ] {
        let r = app.graphql(Some(&read), query, vars).await;
        assert_eq!(r.gql_code(), "FORBIDDEN", "{query}: {}", r.text);
    }
    // Reading is allowed, and REST agrees on writes.
    assert_eq!(job_ids(&app, &read, json!({})).await, vec![id.clone()]);
    for path in [
        "/api/sync".to_string(),
        format!("/api/accounts/{account}/sync"),
        format!("/api/import-jobs/{id}/cancel"),
        format!("/api/import-jobs/{id}/retry"),
    ] {
        let r = app.post_empty(&path, &read).await;
        assert_eq!(
            r.status,
            reqwest::StatusCode::FORBIDDEN,
            "{path}: {}",
            r.text
        );
    }
    let data = app.graphql_data(user.token(), JOB, json!({"id": id})).await;
    assert_eq!(data["importJob"]["status"], "queued", "nothing changed");
}
