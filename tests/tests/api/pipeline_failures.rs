//! Failure handling of the pipeline: transient provider failures are retried with backoff up
//! to the attempt limit, credential failures are final, a changed integration cancels a queued
//! retry, and a job whose node died (lease not renewed) is picked up again without duplicates.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;
use tributary_api::jobs::runner;
use tributary_api::repo::import_jobs::{claim, renew};
use tributary_tests::{TestApp, TestUser};
use uuid::Uuid;

use crate::pipeline_support::{
    duplicate_row_groups, int, job, pipeline_app, set_demo, sync, tx_rows, wait_finished, wait_job,
};

fn lease(secs: i64) -> chrono::Duration {
    chrono::Duration::seconds(secs)
}

/// Claims the job as this app's node and runs it inline, as a worker would.
async fn run_once(app: &TestApp, id: &str) -> Option<runner::RunOutcome> {
    let id = Uuid::parse_str(id).expect("job id");
    let claimed = claim(&app.ctx.db, &app.ctx.node_id, lease(30), Some(id))
        .await
        .expect("claim");
    match claimed {
        Some(j) => Some(runner::run(&app.ctx, j).await.expect("run")),
        None => None,
    }
}

async fn integration(app: &TestApp, token: &str, account: &str) -> serde_json::Value {
    let r = app
        .get(&format!("/api/accounts/{account}/integration"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff_then_fails_after_max_attempts() {
    let app = pipeline_app(&[("RETRY_BASE_SECS", "1"), ("MAX_ATTEMPTS", "2")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app
        .create_demo_account(t, json!({"seed": 31, "fail_mode": "server_error"}), false)
        .await;
    let queued = sync(&app, t, &account).await;
    assert_eq!(queued["max_attempts"], 2);
    let id = queued["id"].as_str().expect("id").to_string();

    // The first attempt fails and is queued again with a next run time about 1 s away.
    let retry = wait_job(&app, t, &id, |j| {
        j["attempt"] == 1 && j["status"] != "running" || j["attempt"].as_i64() > Some(1)
    })
    .await;
    if retry["attempt"] == 1 {
        assert_eq!(retry["status"], "queued", "{retry}");
        let next: chrono::DateTime<Utc> =
            serde_json::from_value(retry["next_run_at"].clone()).expect("next_run_at");
        let wait = next - Utc::now();
        assert!(
            wait <= chrono::Duration::milliseconds(1300),
            "backoff of about 1 s: {retry}"
        );
        assert!(
            retry["error"].as_str().unwrap_or_default().contains("503"),
            "{retry}"
        );
    }
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert!(info["last_error"].as_str().is_some_and(|e| !e.is_empty()));

    // The second attempt is the last: the job fails for good.
    let done = wait_finished(&app, t, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert!(done["error"].as_str().unwrap_or_default().contains("503"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        job(&app, t, &id).await["status"],
        "failed",
        "no further attempt"
    );
    assert_eq!(tx_rows(&app, &account).await, 0);
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
}

#[tokio::test]
async fn a_rate_limited_job_waits_at_least_the_providers_retry_after() {
    let app = pipeline_app(&[("WORKERS", "0"), ("RETRY_BASE_SECS", "1")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app
        .create_demo_account(t, json!({"seed": 32, "fail_mode": "rate_limit"}), false)
        .await;
    let queued = sync(&app, t, &account).await;
    let id = queued["id"].as_str().expect("id").to_string();
    let outcome = run_once(&app, &id).await.expect("claimed");
    assert!(outcome.error.is_some());
    let j = job(&app, t, &id).await;
    assert_eq!(j["status"], "queued", "{j}");
    assert_eq!(j["attempt"], 1);
    let next: chrono::DateTime<Utc> =
        serde_json::from_value(j["next_run_at"].clone()).expect("next_run_at");
    assert!(
        next - Utc::now() >= chrono::Duration::seconds(55),
        "the provider asked for 60 s: {j}"
    );
    // Not due yet: nobody can claim it.
    assert!(run_once(&app, &id).await.is_none());
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "error", "{info}");
    assert!(
        info["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("rate limiting"),
        "{info}"
    );

    // Fixing the integration cancels the queued retry.
    set_demo(&app, t, &account, json!({"seed": 32})).await;
    let j = job(&app, t, &id).await;
    assert_eq!(j["status"], "cancelled", "{j}");
    assert!(j["finished_at"].is_string());
    // And a new sync can be queued right away.
    sync(&app, t, &account).await;
}

#[tokio::test]
async fn a_credentials_failure_is_final_and_marks_the_account_needs_reauth() {
    let app = pipeline_app(&[("MAX_ATTEMPTS", "5")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app
        .create_demo_account(t, json!({"seed": 33, "password": "wrong"}), false)
        .await;
    let queued = sync(&app, t, &account).await;
    let done = wait_finished(&app, t, queued["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempt"], 1, "no retry for bad credentials");
    assert!(done["next_run_at"].is_null() || done["status"] == "failed");
    let info = integration(&app, t, &account).await;
    assert_eq!(info["status"], "needs_reauth", "{info}");
    assert!(
        info["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("credentials"),
        "{info}"
    );
    assert!(
        !info.to_string().contains("wrong"),
        "the password never comes back"
    );
    assert_eq!(tx_rows(&app, &account).await, 0);
}

#[tokio::test]
async fn a_job_whose_node_died_is_reclaimed_after_its_lease_and_completes_without_duplicates() {
    // No workers at first, so the "dead node" is the only one to claim the job.
    let app = pipeline_app(&[("WORKERS", "0"), ("LEASE_SECS", "3")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 41}), false).await;
    let queued = sync(&app, t, &account).await;
    let id = queued["id"].as_str().expect("id").to_string();

    let dead = claim(&app.ctx.db, "dead-node", lease(1), None)
        .await
        .expect("claim")
        .expect("the dead node claims the job");
    assert_eq!(dead.id.to_string(), id);
    assert_eq!(dead.attempt, 1);
    // While the lease holds, no one else can take it.
    assert!(
        claim(&app.ctx.db, "someone-else", lease(30), None)
            .await
            .expect("claim")
            .is_none()
    );
    assert_eq!(job(&app, t, &id).await["status"], "running");

    // The app's workers start; once the lease lapses one of them picks the job up.
    let workers = tributary_api::jobs::worker::spawn(app.ctx.clone().into_inner(), 2);
    let done = wait_finished(&app, t, &id).await;
    for w in workers {
        w.abort();
    }
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 2, "the dead node's attempt counts: {done}");
    let fetched = int(&done["fetched"]);
    assert!(fetched > 0);
    assert_eq!(int(&done["inserted"]), fetched);
    assert_eq!(tx_rows(&app, &account).await, fetched as u64);
    assert_eq!(duplicate_row_groups(&app).await, 0);
    // The dead node comes back: its lease is gone, it cannot renew or take the job again.
    assert!(
        !renew(&app.ctx.db, dead.id, "dead-node", lease(30))
            .await
            .expect("renew")
    );
    assert!(
        claim(&app.ctx.db, "dead-node", lease(1), Some(dead.id))
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn a_reclaimed_resync_after_a_crash_adds_no_duplicates_to_an_already_synced_account() {
    let app = pipeline_app(&[("WORKERS", "0"), ("LEASE_SECS", "3")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_demo_account(t, json!({"seed": 42}), true).await;
    let before = tx_rows(&app, &account).await;
    assert!(before > 0);
    // Reset the cursor so the retry re-fetches everything.
    set_demo(&app, t, &account, json!({"seed": 42})).await;
    let queued = sync(&app, t, &account).await;
    let id = queued["id"].as_str().expect("id").to_string();
    claim(&app.ctx.db, "dead-node", lease(1), None)
        .await
        .expect("claim")
        .expect("claimed");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let outcome = run_once(&app, &id)
        .await
        .expect("the expired lease is reclaimed");
    assert!(outcome.error.is_none());
    let done = job(&app, t, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["inserted"], 0, "{done}");
    assert_eq!(int(&done["duplicates"]) as u64, before, "{done}");
    assert_eq!(tx_rows(&app, &account).await, before);
    assert_eq!(duplicate_row_groups(&app).await, 0);
}
