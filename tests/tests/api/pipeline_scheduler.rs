//! The scheduler, driven with an injected clock: due integrated accounts are queued and their
//! next sync is set; brokerage accounts skip weekends while crypto does not; a second tick
//! never queues a second job for an account.

use chrono::Datelike;
use chrono::{DateTime, TimeZone, Utc, Weekday};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tributary_api::jobs::scheduler::tick;
use tributary_tests::{TestApp, TestUser};
use uuid::Uuid;

use crate::pipeline_support::{account_of_kind, pipeline_app, set_demo};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("a valid time")
}

async fn next_sync_at(app: &TestApp, account: &str) -> Option<DateTime<Utc>> {
    tributary_entity::account::Entity::find_by_id(Uuid::parse_str(account).expect("id"))
        .one(&app.ctx.db)
        .await
        .expect("query")
        .expect("account")
        .next_sync_at
}

async fn jobs(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/import-jobs?limit=200", token).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn jobs_of<'a>(all: &'a [Value], account: &str) -> Vec<&'a Value> {
    all.iter().filter(|j| j["account_id"] == account).collect()
}

async fn setup(app: &TestApp, user: &TestUser) -> (String, String, String) {
    let t = user.token();
    let brokerage = app.create_demo_account(t, json!({"seed": 61}), false).await;
    let crypto = account_of_kind(app, t, "crypto").await;
    set_demo(app, t, &crypto, json!({"seed": 62, "profile": "crypto"})).await;
    let manual = app.create_account(t, "No integration").await;
    (brokerage, crypto, manual)
}

#[tokio::test]
async fn a_weekday_tick_queues_every_due_integrated_account_once_and_sets_the_next_sync() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let (brokerage, crypto, manual) = setup(&app, &user).await;
    let wednesday = at(2026, 11, 18, 12);
    assert_eq!(wednesday.weekday(), Weekday::Wed);

    let queued = tick(&app.ctx, wednesday).await.expect("tick");
    assert_eq!(queued, 2);
    let all = jobs(&app, t).await;
    assert_eq!(all.len(), 2, "{all:?}");
    for account in [&brokerage, &crypto] {
        let js = jobs_of(&all, account);
        assert_eq!(js.len(), 1, "{account}: {all:?}");
        let j = js[0];
        assert_eq!(j["status"], "queued");
        assert_eq!(j["trigger"], "scheduled");
        assert_eq!(j["source"], "demo");
        // Spread over the window after `now`.
        let run_at: DateTime<Utc> =
            serde_json::from_value(j["next_run_at"].clone()).expect("next_run_at");
        assert!(
            run_at >= wednesday && run_at <= wednesday + chrono::Duration::seconds(300),
            "{j}"
        );
        assert_eq!(
            next_sync_at(&app, account).await,
            Some(wednesday + chrono::Duration::days(1)),
            "daily"
        );
    }
    assert!(jobs_of(&all, &manual).is_empty());
    assert_eq!(next_sync_at(&app, &manual).await, None);

    // The same tick again: nothing is due.
    assert_eq!(tick(&app.ctx, wednesday).await.expect("tick"), 0);
    // Two days later everything is due again, but the queued jobs are still there: no second.
    let friday = wednesday + chrono::Duration::days(2);
    assert_eq!(tick(&app.ctx, friday).await.expect("tick"), 0);
    let all = jobs(&app, t).await;
    assert_eq!(all.len(), 2, "never two active jobs per account: {all:?}");
    // Brokerage from Friday rolls over the weekend to Monday; crypto runs on Saturday.
    assert_eq!(
        next_sync_at(&app, &brokerage).await,
        Some(friday + chrono::Duration::days(3))
    );
    assert_eq!(
        next_sync_at(&app, &crypto).await,
        Some(friday + chrono::Duration::days(1))
    );
}

#[tokio::test]
async fn a_saturday_tick_queues_crypto_but_not_brokerage_accounts() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let (brokerage, crypto, _manual) = setup(&app, &user).await;
    let saturday = at(2026, 11, 21, 9);
    assert_eq!(saturday.weekday(), Weekday::Sat);

    assert_eq!(tick(&app.ctx, saturday).await.expect("tick"), 1);
    let all = jobs(&app, t).await;
    assert_eq!(jobs_of(&all, &crypto).len(), 1, "{all:?}");
    assert!(jobs_of(&all, &brokerage).is_empty(), "{all:?}");
    // The brokerage account waits for Monday; crypto is due again on Sunday.
    let monday = at(2026, 11, 23, 9);
    assert_eq!(next_sync_at(&app, &brokerage).await, Some(monday));
    assert_eq!(
        next_sync_at(&app, &crypto).await,
        Some(saturday + chrono::Duration::days(1))
    );
    // Sunday: brokerage is not due yet, crypto already has a queued job.
    let sunday = saturday + chrono::Duration::days(1);
    assert_eq!(tick(&app.ctx, sunday).await.expect("tick"), 0);
    // Monday: the brokerage account is queued.
    assert_eq!(tick(&app.ctx, monday).await.expect("tick"), 1);
    let all = jobs(&app, t).await;
    assert_eq!(jobs_of(&all, &brokerage).len(), 1, "{all:?}");
    assert_eq!(jobs_of(&all, &crypto).len(), 1, "{all:?}");
}

#[tokio::test]
async fn scheduled_jobs_are_run_by_the_workers() {
    let app = pipeline_app(&[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let crypto = account_of_kind(&app, t, "crypto").await;
    set_demo(&app, t, &crypto, json!({"seed": 63, "profile": "crypto"})).await;
    // A `now` slightly in the past, so the spread offset is already due.
    let now = Utc::now() - chrono::Duration::seconds(400);
    assert_eq!(tick(&app.ctx, now).await.expect("tick"), 1);
    let id = jobs(&app, t).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let done = crate::pipeline_support::wait_finished(&app, t, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["trigger"], "scheduled");
    // A successful run schedules the next sync from when it finished.
    let next = next_sync_at(&app, &crypto).await.expect("next sync");
    assert!(next > Utc::now() + chrono::Duration::hours(23), "{next}");
}
