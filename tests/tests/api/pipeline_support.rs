//! Shared helpers of the import-pipeline tests: an app with fast workers and no scheduler
//! timer, waiting for jobs with a deadline, and row counts straight from the database.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tributary_tests::{AppOptions, TestApp, spawn_app_with};
use uuid::Uuid;

/// How long a test waits for a job before failing.
pub const JOB_DEADLINE: Duration = Duration::from_secs(20);

/// Starts the app with fast job polling, the scheduler timer off (tests call `tick`), and the
/// extra `TRIBUTARY__JOBS__<KEY>` settings (for example `("WORKERS", "0")`).
pub async fn pipeline_app(jobs: &[(&str, &str)]) -> TestApp {
    spawn_app_with(AppOptions {
        env: jobs_env(jobs),
    })
    .await
}

/// The environment `pipeline_app` uses, for apps started another way.
pub fn jobs_env(jobs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "TRIBUTARY__JOBS__POLL_INTERVAL_MS".to_string(),
            "50".to_string(),
        ),
        (
            "TRIBUTARY__JOBS__SCHEDULER_ENABLED".to_string(),
            "false".to_string(),
        ),
    ];
    env.extend(
        jobs.iter()
            .map(|(k, v)| (format!("TRIBUTARY__JOBS__{k}"), (*v).to_string())),
    );
    env
}

/// `GET /api/import-jobs/{id}`, which must answer 200.
pub async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/import-jobs/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// Polls the job until `done` holds, failing after `JOB_DEADLINE`.
pub async fn wait_job(
    app: &TestApp,
    token: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + JOB_DEADLINE;
    loop {
        let body = job(app, token, id).await;
        if done(&body) {
            return body;
        }
        if tokio::time::Instant::now() >= deadline {
            let logs: Vec<String> = tributary_tests::captured_logs()
                .lines()
                .filter(|l| l.contains(id) || l.contains("locked") || l.contains("timed out"))
                .map(str::to_string)
                .collect();
            panic!("job {id} did not get there in time: {body}\nserver log: {logs:#?}");
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Polls the job until it reaches a final status.
pub async fn wait_finished(app: &TestApp, token: &str, id: &str) -> Value {
    wait_job(app, token, id, |j| {
        matches!(
            j["status"].as_str(),
            Some("succeeded" | "partial" | "failed" | "cancelled")
        )
    })
    .await
}

/// `POST /api/accounts/{id}/sync`, which must answer 202; returns the queued job.
pub async fn sync(app: &TestApp, token: &str, account: &str) -> Value {
    let r = app
        .post_empty(&format!("/api/accounts/{account}/sync"), token)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.body
}

/// Creates an account of `kind` (brokerage, crypto, ...) and returns its id.
pub async fn account_of_kind(app: &TestApp, token: &str, kind: &str) -> String {
    let r = app
        .post(
            "/api/accounts",
            token,
            json!({"name": format!("{kind} account"), "kind": kind, "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().expect("id").to_string()
}

/// Sets (or replaces) the DEMO integration of an account.
pub async fn set_demo(app: &TestApp, token: &str, account: &str, config: Value) {
    let r = app
        .put(
            &format!("/api/accounts/{account}/integration"),
            token,
            json!({"type": "DEMO", "config": config}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Transaction rows of an account (aliases included), straight from the database.
pub async fn tx_rows(app: &TestApp, account: &str) -> u64 {
    let id = Uuid::parse_str(account).expect("account id");
    tributary_entity::transaction::Entity::find()
        .filter(tributary_entity::transaction::Column::AccountId.eq(id))
        .count(&app.ctx.db)
        .await
        .expect("count transactions")
}

/// Groups of transaction rows that share `(account_id, source, source_id)`: must be 0.
pub async fn duplicate_row_groups(app: &TestApp) -> usize {
    app.sql_texts(
        "SELECT CAST(COUNT(*) AS TEXT) FROM transactions \
         GROUP BY account_id, source, source_id HAVING COUNT(*) > 1",
    )
    .await
    .len()
}

/// Every transaction of the account through the API (following the cursor).
pub async fn list_all(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let r = app
            .get(
                &format!("/api/transactions?{query}{sep}limit=200&cursor={cursor}"),
                token,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        out.extend(r.body["items"].as_array().cloned().unwrap_or_default());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return out,
        }
    }
}

/// A JSON number-or-string as an `f64` (decimals are serialized as strings).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        other => panic!("not a number: {other}"),
    }
}

/// An `i64` field of a job.
pub fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// Saves the account's CSV import profile (`PUT /api/accounts/{id}/import-profile`).
pub async fn set_profile(app: &TestApp, token: &str, account: &str, profile: Value) {
    let r = app
        .put(
            &format!("/api/accounts/{account}/import-profile"),
            token,
            profile,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
