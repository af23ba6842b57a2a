//! Several nodes on one PostgreSQL share the queue: 50 queued jobs, two app instances with
//! their workers, every job runs exactly once (PostgreSQL only: `FOR UPDATE SKIP LOCKED`).

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_tests::{AppOptions, TestUser, spawn_app_on};

use crate::pipeline_support::{duplicate_row_groups, int, jobs_env, pipeline_app, tx_rows};

#[tokio::test]
async fn two_nodes_on_one_postgres_run_each_of_fifty_jobs_exactly_once() {
    if std::env::var("TRIBUTARY_TEST_POSTGRES_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("skipped: TRIBUTARY_TEST_POSTGRES_URL is not set");
        return;
    }
    // Node A queues everything before any worker runs.
    let a = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&a).await;
    let t = user.token();
    let mut accounts = Vec::new();
    for i in 0..50 {
        accounts.push(
            a.create_demo_account(t, json!({"seed": 1000 + i % 5}), false)
                .await,
        );
    }
    let r = a
        .client
        .post(format!("{}/api/sync", a.address))
        .bearer_auth(t)
        .header("Idempotency-Key", "fifty")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let queued: Vec<Value> = r.json().await.expect("json");
    assert_eq!(queued.len(), 50);

    // Node B starts with workers, and A's workers start at the same time.
    let b = spawn_app_on(
        &a,
        AppOptions {
            env: jobs_env(&[("WORKERS", "3")]),
        },
    )
    .await;
    let a_workers = tributary_api::jobs::worker::spawn(a.ctx.clone().into_inner(), 3);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let jobs = loop {
        let r = a.get("/api/import-jobs?limit=200", t).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        if items
            .iter()
            .all(|j| !matches!(j["status"].as_str(), Some("queued" | "running")))
        {
            break items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs still active: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for w in a_workers {
        w.abort();
    }
    assert_eq!(jobs.len(), 50, "no extra jobs");
    for j in &jobs {
        assert_eq!(j["status"], "succeeded", "{j}");
        assert_eq!(j["attempt"], 1, "ran exactly once: {j}");
        assert_eq!(j["inserted"], j["fetched"], "{j}");
        assert_eq!(j["duplicates"], 0, "{j}");
    }
    // Each account holds exactly one sync's worth of transactions.
    for account in &accounts {
        let j = jobs
            .iter()
            .find(|j| j["account_id"] == account.as_str())
            .expect("a job per account");
        assert_eq!(tx_rows(&a, account).await, int(&j["fetched"]) as u64);
    }
    assert_eq!(duplicate_row_groups(&a).await, 0);
    // Both nodes did some of the work.
    let owners: HashSet<String> = a
        .sql_texts("SELECT lease_owner FROM import_jobs")
        .await
        .into_iter()
        .collect();
    assert!(owners.contains(&a.ctx.node_id) || owners.contains(&b.ctx.node_id));
    eprintln!("jobs were run by {} node(s)", owners.len());
}
