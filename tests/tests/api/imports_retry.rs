//! Retrying file uploads: the job stores the upload's options and keeps the file of an upload
//! that did not succeed (in the database, so any node's worker can run the retry) for
//! `jobs.upload_retention_days`; the retry runs it with the account's current import profile.
//! Also live progress (`processed`, `progress`) and cancelling a running upload.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tributary_tests::{AppOptions, TestApp, TestUser, spawn_app_on};
use uuid::Uuid;

use crate::pipeline_support::{
    duplicate_row_groups, int, job, jobs_env, pipeline_app, set_profile, tx_rows, wait_finished,
};

/// Three good rows.
const CSV: &[u8] = b"Date,Description,Amount,Currency,Reference\n\
2024-02-01,coffee,-3.50,USD,R-1\n\
2024-02-02,salary,1000.00,USD,R-2\n\
2024-02-03,rent,-500.00,USD,R-3\n";

fn profile(date_column: &str) -> Value {
    json!({
        "columns": {"date": date_column, "amount": "Amount", "currency": "Currency", "description": "Description", "id": "Reference"},
        "default_currency": "USD"
    })
}

/// The account's newest job.
async fn newest_job(app: &TestApp, token: &str, account: &str) -> Value {
    let r = app
        .get(
            &format!("/api/import-jobs?account_id={account}&limit=1"),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"][0].clone()
}

/// Chunks of the job's kept file, straight from the database.
async fn kept_chunks(app: &TestApp, job_id: &str) -> u64 {
    use tributary_entity::import_job_file::{Column, Entity};
    Entity::find()
        .filter(Column::ImportJobId.eq(Uuid::parse_str(job_id).expect("job id")))
        .count(&app.ctx.db)
        .await
        .expect("count chunks")
}

/// An account whose CSV profile maps the date to a column the file does not have, and the
/// failed job of an upload of `CSV` into it.
async fn rejected_upload(app: &TestApp, token: &str) -> (String, Value) {
    let account = app.create_account(token, "Checking").await;
    set_profile(app, token, &account, profile("Datum")).await;
    let (status, body) = app
        .upload(token, &account, "", "bank.csv", CSV.to_vec())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Datum"),
        "{body}"
    );
    // The problem names the failed job (RFC 9457 `instance`), which keeps the file.
    let failed = newest_job(app, token, &account).await;
    assert_eq!(
        body["instance"],
        format!("/api/import-jobs/{}", id_of(&failed)),
        "{body}"
    );
    let named = app
        .get(body["instance"].as_str().expect("instance"), token)
        .await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.text);
    assert_eq!(named.body["id"], failed["id"]);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["trigger"], "upload");
    (account, failed)
}

/// A pipeline app (with `jobs` settings), a user, and their account with a rejected upload:
/// `(app, user, account, failed job, its id)`.
async fn app_with_rejected_upload(
    jobs: &[(&str, &str)],
) -> (TestApp, TestUser, String, Value, String) {
    let app = pipeline_app(jobs).await;
    let user = TestUser::register(&app).await;
    let (account, failed) = rejected_upload(&app, user.token()).await;
    let id = id_of(&failed);
    (app, user, account, failed, id)
}

fn id_of(job: &Value) -> String {
    job["id"].as_str().expect("job id").to_string()
}

/// A `409` whose detail says `why`.
fn assert_refused(r: &tributary_tests::TestResponse, why: &str) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(
        r.body["detail"].as_str().unwrap_or_default().contains(why),
        "{}",
        r.text
    );
}

async fn retry(app: &TestApp, token: &str, id: &str) -> tributary_tests::TestResponse {
    app.post_empty(&format!("/api/import-jobs/{id}/retry"), token)
        .await
}

#[tokio::test]
async fn a_rejected_upload_runs_again_after_the_profile_is_fixed_and_inserts_each_row_once() {
    let (app, user, account, failed, id) = app_with_rejected_upload(&[]).await;
    let t = user.token();
    assert_eq!(failed["retryable"], true, "{failed}");
    assert_eq!(
        failed["options"],
        json!({"format": "csv", "on_error": "reject", "ofx_account": null, "ibkr_account": null}),
        "{failed}"
    );
    assert!(kept_chunks(&app, &id).await > 0, "the file is kept");
    assert_eq!(tx_rows(&app, &account).await, 0);

    // Still the wrong column: the retry fails the same way and the file stays kept.
    set_profile(&app, t, &account, profile("Datum2")).await;
    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "queued", "{}", r.text);
    assert_eq!(r.body["retryable"], false, "an active job: {}", r.text);
    let again = wait_finished(&app, t, &id).await;
    assert_eq!(again["status"], "failed", "{again}");
    assert!(
        again["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Datum2"),
        "the retry read the current profile: {again}"
    );
    assert_eq!(again["retryable"], true, "{again}");
    assert!(kept_chunks(&app, &id).await > 0);

    // Fixed: the retry imports every row, and the file is dropped.
    set_profile(&app, t, &account, profile("Date")).await;
    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let done = wait_finished(&app, t, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 1, "{done}");
    assert_eq!(done["fetched"], 3, "{done}");
    assert_eq!(done["inserted"], 3, "{done}");
    assert_eq!(done["duplicates"], 0, "{done}");
    assert_eq!(done["processed"], done["fetched"], "{done}");
    assert_eq!(done["progress"], 100, "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["retryable"], false, "{done}");
    assert_eq!(done["options"]["format"], "csv", "{done}");
    assert_eq!(kept_chunks(&app, &id).await, 0, "dropped once it succeeded");
    assert_eq!(tx_rows(&app, &account).await, 3);

    // A second retry is refused: nothing can be imported twice.
    let r = retry(&app, t, &id).await;
    assert_refused(&r, "succeeded");
    assert_eq!(tx_rows(&app, &account).await, 3);
    assert_eq!(duplicate_row_groups(&app).await, 0);

    // GraphQL shows the same job.
    let data = app
        .graphql_data(
            t,
            "query($id: UUID!) { importJob(id: $id) { status processed fetched progress retryable options { format onError ofxAccount ibkrAccount } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        data["importJob"],
        json!({"status": "succeeded", "processed": 3, "fetched": 3, "progress": 100, "retryable": false,
               "options": {"format": "csv", "onError": "reject", "ofxAccount": null, "ibkrAccount": null}}),
    );
}

#[tokio::test]
async fn a_partial_upload_retried_imports_nothing_new_and_reports_the_same_bad_rows() {
    let app = pipeline_app(&[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    set_profile(&app, t, &account, profile("Date")).await;
    let bad = b"Date,Description,Amount,Currency,Reference\n\
2024-02-01,ok,10.00,USD,B-1\n\
2024-02-30,bad date,5.00,USD,B-2\n"
        .to_vec();
    let (status, first) = app
        .upload(t, &account, "?on_error=skip", "bad.csv", bad)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "partial", "{first}");
    assert_eq!(first["inserted"], 1);
    assert_eq!(first["failed"], 1);
    assert_eq!(first["processed"], 2, "{first}");
    assert_eq!(first["retryable"], true, "{first}");
    assert_eq!(first["options"]["on_error"], "skip", "{first}");
    let id = id_of(&first);

    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let again = wait_finished(&app, t, &id).await;
    assert_eq!(again["status"], "partial", "{again}");
    assert_eq!(again["fetched"], 2, "{again}");
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["duplicates"], 1, "{again}");
    assert_eq!(again["failed"], 1, "{again}");
    assert_eq!(again["errors"], first["errors"], "the same bad rows");
    assert_eq!(again["errors"][0]["line"], 3, "{again}");
    assert_eq!(again["retryable"], true, "still not succeeded: {again}");
    assert!(kept_chunks(&app, &id).await > 0);
    assert_eq!(tx_rows(&app, &account).await, 1);
}

#[tokio::test]
async fn retrying_a_succeeded_upload_is_a_conflict_over_rest_and_graphql() {
    let app = pipeline_app(&[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    set_profile(&app, t, &account, profile("Date")).await;
    let (status, done) = app.upload(t, &account, "", "bank.csv", CSV.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["retryable"], false, "{done}");
    let id = id_of(&done);
    assert_eq!(
        kept_chunks(&app, &id).await,
        0,
        "a succeeded upload keeps no file"
    );
    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "CONFLICT");
    let r = app
        .graphql(
            Some(t),
            "mutation($id: UUID!) { retryImportJob(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(r.gql_code(), "CONFLICT", "{}", r.text);
    assert_eq!(job(&app, t, &id).await["status"], "succeeded");
}

#[tokio::test]
async fn with_no_retention_a_failed_upload_keeps_no_file_and_cannot_be_retried() {
    let (app, user, _, failed, id) =
        app_with_rejected_upload(&[("UPLOAD_RETENTION_DAYS", "0")]).await;
    let t = user.token();
    assert_eq!(failed["retryable"], false, "{failed}");
    assert_eq!(
        failed["options"]["format"], "csv",
        "the options are stored all the same"
    );
    assert_eq!(kept_chunks(&app, &id).await, 0);
    let r = retry(&app, t, &id).await;
    assert_refused(&r, "no longer kept");
}

#[tokio::test]
async fn the_scheduler_purges_kept_files_once_their_retention_ends_and_the_retry_is_refused() {
    let (app, user, _, _, id) = app_with_rejected_upload(&[("WORKERS", "0")]).await;
    let t = user.token();
    let chunks = kept_chunks(&app, &id).await;
    assert!(chunks > 0);

    // Within the retention (7 days by default) the tick leaves the file alone.
    let now = chrono::Utc::now();
    tributary_api::jobs::scheduler::tick(&app.ctx, now + chrono::Duration::days(6))
        .await
        .expect("tick");
    assert_eq!(kept_chunks(&app, &id).await, chunks);
    assert_eq!(job(&app, t, &id).await["retryable"], true);

    tributary_api::jobs::scheduler::tick(&app.ctx, now + chrono::Duration::days(8))
        .await
        .expect("tick");
    assert_eq!(kept_chunks(&app, &id).await, 0, "purged");
    let after = job(&app, t, &id).await;
    assert_eq!(after["retryable"], false, "{after}");
    assert_eq!(after["status"], "failed", "the job itself stays: {after}");
    let r = retry(&app, t, &id).await;
    assert_refused(&r, "no longer kept");
}

#[tokio::test]
async fn deleting_the_account_deletes_its_kept_upload_files() {
    let (app, user, account, _, id) = app_with_rejected_upload(&[("WORKERS", "0")]).await;
    let t = user.token();
    assert!(kept_chunks(&app, &id).await > 0);
    let r = app.delete(&format!("/api/accounts/{account}"), t).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(kept_chunks(&app, &id).await, 0);
}

#[tokio::test]
async fn another_users_upload_job_cannot_be_read_retried_or_cancelled() {
    let app = pipeline_app(&[("WORKERS", "0")]).await;
    let owner = TestUser::register(&app).await;
    let other = TestUser::register(&app).await;
    let (_, failed) = rejected_upload(&app, owner.token()).await;
    let id = id_of(&failed);
    let random = Uuid::now_v7();
    for path in [
        format!("/api/import-jobs/{id}/retry"),
        format!("/api/import-jobs/{id}/cancel"),
    ] {
        let r = app.post_empty(&path, other.token()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        let unknown = app
            .post_empty(&path.replace(&id, &random.to_string()), other.token())
            .await;
        assert_eq!(
            r.body, unknown.body,
            "{path}: indistinguishable from no job"
        );
    }
    let r = app
        .get(&format!("/api/import-jobs/{id}"), other.token())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    for operation in [
        "mutation($id: UUID!) { retryImportJob(id: $id) { id } }",
        "mutation($id: UUID!) { cancelImportJob(id: $id) { id } }",
        "query($id: UUID!) { importJob(id: $id) { id options { format } } }",
    ] {
        let r = app
            .graphql(Some(other.token()), operation, json!({"id": id}))
            .await;
        assert_eq!(r.gql_code(), "NOT_FOUND", "{operation}: {}", r.text);
    }
    // The owner's job is untouched and can still be retried.
    let mine = job(&app, owner.token(), &id).await;
    assert_eq!(mine["status"], "failed", "{mine}");
    assert_eq!(mine["retryable"], true, "{mine}");
    assert!(kept_chunks(&app, &id).await > 0);
}

#[tokio::test]
async fn an_upload_reports_processed_equal_to_fetched_and_its_options_when_it_ends() {
    let app = pipeline_app(&[]).await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    let ofx = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connectors/tests/fixtures/files/bank_v1.ofx"
    ))
    .expect("fixture");
    let (status, done) = app
        .upload(t, &account, "?format=qfx", "bank.qfx", ofx.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(int(&done["fetched"]) > 0, "{done}");
    assert_eq!(done["processed"], done["fetched"], "{done}");
    assert_eq!(done["progress"], 100, "{done}");
    assert_eq!(
        done["options"],
        json!({"format": "ofx", "on_error": "reject", "ofx_account": null, "ibkr_account": null}),
    );

    // An OFX account the statement does not hold: the job fails and stores what was asked,
    // and its retry runs with it again.
    let (status, body) = app
        .upload(t, &account, "?ofx_account=NOPE-42", "bank.ofx", ofx)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let failed = newest_job(&app, t, &account).await;
    assert_eq!(failed["options"]["ofx_account"], "NOPE-42", "{failed}");
    assert_eq!(failed["retryable"], true, "{failed}");
    let id = id_of(&failed);
    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let again = wait_finished(&app, t, &id).await;
    assert_eq!(again["status"], "failed", "{again}");
    assert_eq!(again["error"], failed["error"], "{again}");

    // A sync reports what it fetched as processed too.
    let demo = app.create_demo_account(t, json!({"seed": 4}), false).await;
    let queued = crate::pipeline_support::sync(&app, t, &demo).await;
    let synced = wait_finished(&app, t, queued["id"].as_str().expect("id")).await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    assert!(int(&synced["fetched"]) > 0);
    assert_eq!(synced["processed"], synced["fetched"], "{synced}");
    assert_eq!(synced["options"], Value::Null);
}

/// The cancel request reaches the job row (the upload does not run in this process yet); the
/// import checks it before its first batch, rolls back, and ends `cancelled` with its file.
#[tokio::test]
async fn a_cancelled_running_upload_writes_nothing_keeps_its_file_and_can_be_retried() {
    let (app, user, account, _, id) = app_with_rejected_upload(&[("WORKERS", "0")]).await;
    let t = user.token();
    set_profile(&app, t, &account, profile("Date")).await;
    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let lease = chrono::Duration::seconds(60);
    let job_id = Uuid::parse_str(&id).expect("id");
    let claimed =
        tributary_api::repo::import_jobs::claim(&app.ctx.db, &app.ctx.node_id, lease, Some(job_id))
            .await
            .expect("claim")
            .expect("the queued retry is claimable");
    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/cancel"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "running", "asked to stop: {}", r.text);

    let outcome = tributary_api::jobs::runner::run(&app.ctx, claimed)
        .await
        .expect("the run ends");
    assert_eq!(outcome.job.status, "cancelled");
    let cancelled = job(&app, t, &id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["inserted"], 0, "{cancelled}");
    assert!(
        cancelled["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cancelled"),
        "{cancelled}"
    );
    assert_eq!(cancelled["retryable"], true, "{cancelled}");
    assert_eq!(tx_rows(&app, &account).await, 0, "nothing written");
    assert!(kept_chunks(&app, &id).await > 0, "the file is kept");

    // Retried, it runs to the end.
    let r = retry(&app, t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let claimed =
        tributary_api::repo::import_jobs::claim(&app.ctx.db, &app.ctx.node_id, lease, Some(job_id))
            .await
            .expect("claim")
            .expect("claimable again");
    let outcome = tributary_api::jobs::runner::run(&app.ctx, claimed)
        .await
        .expect("the run ends");
    assert_eq!(outcome.job.status, "succeeded", "{:?}", outcome.job);
    assert_eq!(outcome.job.inserted, 3);
    assert_eq!(tx_rows(&app, &account).await, 3);
    assert_eq!(kept_chunks(&app, &id).await, 0);
}

/// A file import running in this process cannot have its row written (on SQLite the import
/// holds the write lock): reads show its live progress and a cancel request is taken in
/// process. The import is stood in for by the registry handle it would hold.
#[tokio::test]
async fn a_running_upload_shows_live_progress_and_takes_a_cancel_in_process() {
    let (app, user, account, _, id) = app_with_rejected_upload(&[("WORKERS", "0")]).await;
    let t = user.token();
    set_profile(&app, t, &account, profile("Date")).await;
    assert_eq!(retry(&app, t, &id).await.status, StatusCode::OK);
    let job_id = Uuid::parse_str(&id).expect("id");
    tributary_api::repo::import_jobs::claim(
        &app.ctx.db,
        &app.ctx.node_id,
        chrono::Duration::seconds(60),
        Some(job_id),
    )
    .await
    .expect("claim")
    .expect("claimed");

    // What PostgreSQL imports write to the row each batch (through the pool), only while this
    // node holds the job.
    let save = |owner: String, progress: i32, processed: i32| {
        let db = app.ctx.db.clone();
        async move {
            tributary_api::repo::import_jobs::save_progress(
                &db, job_id, &owner, progress, processed,
            )
            .await
            .expect("save progress")
        }
    };
    assert!(!save("another-node".into(), 90, 9).await, "not its job");
    assert!(save(app.ctx.node_id.clone(), 37, 100).await);
    let persisted = job(&app, t, &id).await;
    assert_eq!(
        (&persisted["progress"], &persisted["processed"]),
        (&json!(37), &json!(100)),
        "{persisted}"
    );

    let live = app.ctx.live_jobs.track(job_id);
    live.report(42, 1234);
    let running = job(&app, t, &id).await;
    assert_eq!(
        (
            &running["status"],
            &running["progress"],
            &running["processed"]
        ),
        (&json!("running"), &json!(42), &json!(1234)),
        "{running}"
    );
    let listed = newest_job(&app, t, &account).await;
    assert_eq!(listed["progress"], 42, "{listed}");
    let data = app
        .graphql_data(
            t,
            "query($id: UUID!) { importJob(id: $id) { progress processed } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        data["importJob"],
        json!({"progress": 42, "processed": 1234})
    );

    let r = app
        .post_empty(&format!("/api/import-jobs/{id}/cancel"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["progress"], 42, "{}", r.text);
    assert!(live.cancel_request().is_some(), "taken in process");
    let flags = app
        .sql_texts(
            "SELECT CAST(cancel_requested AS TEXT) FROM import_jobs WHERE status = 'running'",
        )
        .await;
    assert!(
        flags.iter().all(|f| f == "0" || f == "false"),
        "the row was not written: {flags:?}"
    );

    drop(live);
    let after = job(&app, t, &id).await;
    assert_eq!(
        (after["progress"].clone(), after["processed"].clone()),
        (json!(37), json!(100)),
        "back to what the row says"
    );
}

/// The retry runs on whichever node's worker claims it: the file comes from the database, not
/// from the disk of the node that received the upload.
#[tokio::test]
async fn another_nodes_worker_runs_the_retry_from_the_file_kept_in_the_database() {
    let (a, user, account, _, id) = app_with_rejected_upload(&[("WORKERS", "0")]).await;
    let t = user.token();
    set_profile(&a, t, &account, profile("Date")).await;
    assert_eq!(retry(&a, t, &id).await.status, StatusCode::OK);

    let b = spawn_app_on(
        &a,
        AppOptions {
            env: jobs_env(&[("WORKERS", "1")]),
        },
    )
    .await;
    let done = wait_finished(&a, t, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["inserted"], 3, "{done}");
    let owners = a
        .sql_texts("SELECT lease_owner FROM import_jobs WHERE trigger = 'upload'")
        .await;
    assert_eq!(owners, vec![b.ctx.node_id.clone()], "node B ran it");
    assert_eq!(tx_rows(&a, &account).await, 3);
}

/// On PostgreSQL an upload holds a worker lease (`jobs.lease_secs`) renewed while it runs, not
/// the hours SQLite needs: a job whose node died is claimed again within a lease.
#[tokio::test]
async fn an_upload_on_postgres_holds_a_short_lease_renewed_while_it_runs() {
    use tributary_entity::import_job::{Column, Entity};
    let app = pipeline_app(&[("LEASE_SECS", "3")]).await;
    if !app.is_postgres() {
        return; // SQLite: the import holds the only write lock; its lease is taken long.
    }
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    set_profile(&app, t, &account, profile("Date")).await;
    let csv: String = std::iter::once("Date,Description,Amount,Currency,Reference\n".to_string())
        .chain((0..60_000).map(|i| {
            format!(
                "2024-{:02}-{:02},row {i},{}.{:02},USD,R-{i}\n",
                1 + i % 12,
                1 + i % 28,
                i % 500,
                i % 100
            )
        }))
        .collect();
    let upload = app.upload(t, &account, "", "big.csv", csv.into_bytes());
    tokio::pin!(upload);
    // While it runs: the lease never reaches past a few seconds, and moves forward.
    let account_id = Uuid::parse_str(&account).expect("account id");
    let mut leases = Vec::new();
    let (status, job) = loop {
        tokio::select! {
            done = &mut upload => break done,
            () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                let running = Entity::find()
                    .filter(Column::AccountId.eq(account_id))
                    .filter(Column::Status.eq("running"))
                    .one(&app.ctx.db)
                    .await
                    .expect("job read");
                if let Some(expires) = running.and_then(|j| j.lease_expires_at) {
                    let left = expires - chrono::Utc::now();
                    assert!(
                        left <= chrono::Duration::seconds(4),
                        "a worker lease, not hours: {left}"
                    );
                    leases.push(expires);
                }
            }
        }
    };
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["inserted"], 60_000);
    assert!(!leases.is_empty(), "the upload was seen running");
    // Seen running for longer than a renewal period (a third of the lease): renewed.
    let (first, last) = (leases[0], leases[leases.len() - 1]);
    if leases.len() >= 100 {
        assert!(last > first, "the lease was renewed: {leases:?}");
    }
}
