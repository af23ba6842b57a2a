//! Import jobs over REST: queueing a sync, the worker running it, counts and reconciliation,
//! one active job per account, `POST /api/sync` with an idempotency key, cancel, retry, filters.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tributary_tests::TestUser;

use crate::pipeline_support::{
    int, job, num, pipeline_app, set_demo, sync, tx_rows, wait_finished,
};

#[tokio::test]
async fn a_queued_sync_is_run_by_a_worker_with_counts_progress_score_and_reconciliation() {
    let app = pipeline_app(&[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 11}), false).await;

    let queued = sync(&app, t, &account).await;
    assert_eq!(queued["account_id"], account.as_str());
    assert_eq!(queued["source"], "demo");
    assert_eq!(queued["trigger"], "api");
    assert!(
        matches!(queued["status"].as_str(), Some("queued" | "running")),
        "{queued}"
    );
    let id = queued["id"].as_str().expect("id");

    let done = wait_finished(&app, t, id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"], 100);
    assert_eq!(done["attempt"], 1);
    let fetched = int(&done["fetched"]);
    assert!(fetched > 0, "{done}");
    assert_eq!(int(&done["inserted"]), fetched, "a first sync inserts all");
    assert_eq!(done["duplicates"], 0);
    assert_eq!(done["failed"], 0);
    assert!(int(&done["updated"]) > 0, "holdings were written: {done}");
    let score = num(&done["quality_score"]);
    assert!((0.0..=100.0).contains(&score), "{done}");
    assert_eq!(done["reconciliation"]["compared"], true, "{done}");
    assert!(done["reconciliation"]["differences"].is_array(), "{done}");
    assert!(done["anomalies"].is_array());
    assert!(done["errors"].is_array());
    assert!(done["finished_at"].is_string());
    assert!(done["duration_ms"].is_i64());
    assert_eq!(tx_rows(&app, &account).await, fetched as u64);

    // The account is current: status ok, synced, next sync scheduled.
    let r = app
        .get(&format!("/api/accounts/{account}/integration"), t)
        .await;
    assert_eq!(r.body["status"], "ok", "{}", r.text);
    assert!(r.body["last_synced_at"].is_string());

    // An incremental sync from the stored cursor inserts nothing new.
    let again = sync(&app, t, &account).await;
    let again = wait_finished(&app, t, again["id"].as_str().expect("id")).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["fetched"], again["duplicates"], "{again}");
    assert!(
        again["cursor_in"].is_string(),
        "resumes from the cursor: {again}"
    );

    // Re-saving the integration resets the cursor: a full re-fetch is all duplicates.
    set_demo(&app, t, &account, json!({"seed": 11})).await;
    let full = sync(&app, t, &account).await;
    let full = wait_finished(&app, t, full["id"].as_str().expect("id")).await;
    assert_eq!(full["status"], "succeeded", "{full}");
    assert_eq!(int(&full["fetched"]), fetched, "{full}");
    assert_eq!(full["inserted"], 0, "{full}");
    assert_eq!(int(&full["duplicates"]), fetched, "{full}");
    assert_eq!(tx_rows(&app, &account).await, fetched as u64);
}

#[tokio::test]
async fn a_second_sync_of_an_account_with_a_queued_job_is_a_conflict() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 3}), false).await;
    let first = sync(&app, t, &account).await;
    assert_eq!(first["status"], "queued");
    assert_eq!(first["attempt"], 0);
    let r = app
        .post_empty(&format!("/api/accounts/{account}/sync"), t)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // An account without an integration cannot be synced; another user's account is 404.
    let plain = app.create_account(t, "Manual").await;
    let r = app
        .post_empty(&format!("/api/accounts/{plain}/sync"), t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let other = TestUser::register(&app).await;
    let r = app
        .post_empty(&format!("/api/accounts/{account}/sync"), other.token())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .get(
            &format!("/api/import-jobs/{}", first["id"].as_str().expect("id")),
            other.token(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app.get("/api/import-jobs", other.token()).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);
}

async fn sync_all(app: &tributary_tests::TestApp, token: &str, key: Option<&str>) -> Vec<String> {
    let mut req = app
        .client
        .request(Method::POST, format!("{}/api/sync", app.address))
        .bearer_auth(token);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.expect("request sent");
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = resp.json().await.expect("json");
    let mut ids: Vec<String> = body
        .as_array()
        .expect("a list of jobs")
        .iter()
        .map(|j| j["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn sync_all_with_an_idempotency_key_returns_the_same_jobs_and_skips_manual_accounts() {
    // One worker: concurrent SQLite workers can stall (see the ignored test below).
    let app = pipeline_app(&[("WORKERS", "1")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let a = app.create_demo_account(t, json!({"seed": 21}), false).await;
    let b = app.create_demo_account(t, json!({"seed": 22}), false).await;
    let _manual = app.create_account(t, "No integration").await;

    let first = sync_all(&app, t, Some("nightly-1")).await;
    assert_eq!(first.len(), 2, "only integrated accounts are queued");
    for id in &first {
        let done = wait_finished(&app, t, id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(
            [a.as_str(), b.as_str()].contains(&done["account_id"].as_str().unwrap_or_default())
        );
    }
    // The same key after the jobs finished: the same jobs, nothing new queued.
    let second = sync_all(&app, t, Some("nightly-1")).await;
    assert_eq!(first, second);
    let r = app.get("/api/import-jobs", t).await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );
    // A new key queues new jobs.
    let third = sync_all(&app, t, Some("nightly-2")).await;
    assert_eq!(third.len(), 2);
    assert!(third.iter().all(|id| !first.contains(id)));
    for id in &third {
        wait_finished(&app, t, id).await;
    }

    // A malformed key is refused, naming the header.
    let r = app
        .client
        .post(format!("{}/api/sync", app.address))
        .bearer_auth(t)
        .header("Idempotency-Key", "x".repeat(201))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn sync_all_without_a_key_returns_the_already_queued_jobs() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    app.create_demo_account(t, json!({"seed": 5}), false).await;
    app.create_demo_account(t, json!({"seed": 6}), false).await;
    let first = sync_all(&app, t, None).await;
    let second = sync_all(&app, t, None).await;
    assert_eq!(first.len(), 2);
    assert_eq!(first, second, "at most one active job per account");
    let other = TestUser::register(&app).await;
    assert!(sync_all(&app, other.token(), Some("k")).await.is_empty());
}

#[tokio::test]
async fn cancel_and_retry_follow_the_job_lifecycle() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 8}), false).await;
    let queued = sync(&app, t, &account).await;
    let id = queued["id"].as_str().expect("id");

    // Retrying a queued job is a conflict; cancelling it works once.
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/retry"), t)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/cancel"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["finished_at"].is_string());
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/cancel"), t)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // Another user can neither cancel nor retry it.
    let other = TestUser::register(&app).await;
    for action in ["cancel", "retry"] {
        let r = app
            .post_empty(&format!("/api/import-jobs/{id}/{action}"), other.token())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}: {}", r.text);
    }

    // A cancelled job can be retried: it is queued again with a fresh set of attempts.
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/retry"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["attempt"], 0);
    assert!(r.body["finished_at"].is_null());
    // While it is queued, a new sync of the account is a conflict.
    let r = app
        .post_empty(&format!("/api/accounts/{account}/sync"), t)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // A job of an unknown id is 404.
    let r = app
        .post_empty(
            "/api/import-jobs/00000000-0000-7000-8000-000000000000/cancel",
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[tokio::test]
async fn a_failed_job_retried_after_fixing_the_integration_runs_again_and_succeeds() {
    let app = pipeline_app(&[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app
        .create_demo_account(t, json!({"seed": 4, "fail_mode": "auth"}), false)
        .await;
    let queued = sync(&app, t, &account).await;
    let id = queued["id"].as_str().expect("id").to_string();
    let failed = wait_finished(&app, t, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/cancel"), t)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a finished job cannot be cancelled"
    );

    set_demo(&app, t, &account, json!({"seed": 4})).await;
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/retry"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let done = wait_finished(&app, t, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 1, "a retry starts a fresh set of attempts");
    assert!(int(&done["inserted"]) > 0);
    assert!(done["error"].is_null(), "{done}");
}

#[tokio::test]
async fn import_jobs_are_filtered_by_status_source_account_and_dates() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let a = app.create_demo_account(t, json!({"seed": 1}), false).await;
    let b = app.create_demo_account(t, json!({"seed": 2}), false).await;
    let job_a = sync(&app, t, &a).await;
    let job_b = sync(&app, t, &b).await;
    let id_a = job_a["id"].as_str().expect("id");
    let id_b = job_b["id"].as_str().expect("id");
    let r = app
        .post_empty(&format!("/api/import-jobs/{id_b}/cancel"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let ids = |r: &tributary_tests::TestResponse| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|j| j["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids(&app.get("/api/import-jobs", t).await).len(), 2);
    assert_eq!(
        ids(&app.get("/api/import-jobs?status=queued", t).await),
        vec![id_a]
    );
    assert_eq!(
        ids(&app.get("/api/import-jobs?status=cancelled", t).await),
        vec![id_b]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/api/import-jobs?account_id={a}"), t)
            .await),
        vec![id_a]
    );
    assert_eq!(
        ids(&app.get("/api/import-jobs?source=demo", t).await).len(),
        2
    );
    assert_eq!(
        ids(&app.get("/api/import-jobs?source=DEMO", t).await).len(),
        2
    );
    assert!(ids(&app.get("/api/import-jobs?source=csv", t).await).is_empty());
    assert_eq!(
        ids(&app
            .get(
                "/api/import-jobs?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
                t
            )
            .await)
        .len(),
        2
    );
    assert!(ids(&app.get("/api/import-jobs?to=2000-01-01T00:00:00Z", t).await).is_empty());
    assert!(
        ids(&app
            .get("/api/import-jobs?from=2100-01-01T00:00:00Z", t)
            .await)
        .is_empty()
    );
    // Pagination: one per page, then the other.
    let r = app.get("/api/import-jobs?limit=1", t).await;
    assert_eq!(ids(&r).len(), 1);
    let cursor = r.body["next_cursor"].as_str().expect("a next page");
    let r2 = app
        .get(&format!("/api/import-jobs?limit=1&cursor={cursor}"), t)
        .await;
    let mut both = ids(&r);
    both.extend(ids(&r2));
    both.sort();
    let mut expected = vec![id_a.to_string(), id_b.to_string()];
    expected.sort();
    assert_eq!(both, expected);

    // Bad filters.
    let r = app.get("/api/import-jobs?status=done", t).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["field"], "status");
    let r = app
        .get(
            "/api/import-jobs?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["field"], "from");
    let other = TestUser::register(&app).await;
    let r = app
        .get(&format!("/api/import-jobs?account_id={a}"), other.token())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(job(&app, t, id_a).await["status"], "queued");
}

#[tokio::test]
async fn concurrent_workers_sync_many_accounts_each_in_one_attempt() {
    let app = pipeline_app(&[("WORKERS", "4")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let mut accounts = Vec::new();
    for seed in 0..8 {
        accounts.push(
            app.create_demo_account(t, json!({"seed": 900 + seed}), false)
                .await,
        );
    }
    let ids = sync_all(&app, t, Some("many")).await;
    assert_eq!(ids.len(), 8);
    for id in &ids {
        let done = wait_finished(&app, t, id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["attempt"], 1, "no crashed attempt: {done}");
        assert!(done["error"].is_null(), "{done}");
        assert_eq!(
            tx_rows(&app, done["account_id"].as_str().expect("account")).await,
            int(&done["inserted"]) as u64
        );
    }
}
