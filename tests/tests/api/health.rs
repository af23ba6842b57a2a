use reqwest::{Method, StatusCode};
use tributary_tests::{TestUser, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let r = app.request(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.body["status"], "ok");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_import_jobs() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    app.create_demo_account(user.token(), serde_json::json!({"seed": 3}), true)
        .await;
    let missing = app
        .get(
            "/api/accounts/00000000-0000-0000-0000-000000000000",
            user.token(),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let r = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains(r#"tributary_http_requests_total{method="POST",route="/api/auth/register",status="201"} 1"#), "{}", r.text);
    assert!(
        r.text
            .contains(r#"route="/api/accounts/{id}",status="404"} 1"#),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("tributary_http_request_duration_seconds_bucket")
    );
    assert!(
        r.text
            .contains(r#"tributary_import_jobs_total{status="succeeded"} 1"#),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn swagger_ui_and_openapi_document_are_served_from_the_binary() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/api/docs", None, None).await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    let r = app.request(Method::GET, "/api/docs/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("swagger-ui"), "{}", r.text);
    assert!(
        !r.text.contains("cdn"),
        "Swagger UI must not load from a CDN"
    );
    let r = app
        .request(Method::GET, "/api/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
}

#[tokio::test]
async fn unknown_routes_get_a_problem_document() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/nope", "/api/accounts/x/y/z"] {
        let r = app.request(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.code(), "NOT_FOUND");
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }
}

#[tokio::test]
async fn a_new_sqlite_database_has_16k_pages_and_its_log_is_checkpointed_in_the_background() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let app = spawn_app().await;
    let Some(path) = app.sqlite_path.clone() else {
        return; // PostgreSQL: nothing of this applies.
    };
    let pragma = |name: &str| {
        let db = app.ctx.db.clone();
        let sql = format!("PRAGMA {name}");
        async move {
            let row = db
                .query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql))
                .await
                .expect("pragma")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("an integer")
        }
    };
    assert_eq!(pragma("page_size").await, 16_384);
    // No request's commit checkpoints: the server's background task does.
    assert_eq!(pragma("wal_autocheckpoint").await, 0);
    let before = std::fs::metadata(&path).expect("the database file").len();
    // Grow the database by a few hundred KiB: new pages that live in the log until a checkpoint.
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    let profile = serde_json::json!({"columns": {"date": "Date", "amount": "Amount",
                                                 "currency": "Currency", "id": "Reference"}});
    crate::pipeline_support::set_profile(&app, t, &account, profile).await;
    let csv: String = std::iter::once("Date,Amount,Currency,Reference\n".to_string())
        .chain(
            (0..3_000).map(|i| format!("2024-01-{:02},1.{:02},USD,R-{i}\n", 1 + i % 28, i % 100)),
        )
        .collect();
    let (status, job) = app.upload(t, &account, "", "a.csv", csv.into_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let pages = u64::try_from(pragma("page_count").await).expect("pages");
    assert!(
        pages * 16_384 > before,
        "the database grew: {pages} pages, {before} bytes"
    );
    // Checkpointed, the database file holds every page: wait (a second or two) for that.
    let mut size = 0;
    for _ in 0..100 {
        size = std::fs::metadata(&path).expect("the database file").len();
        if size >= pages * 16_384 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not checkpointed within 10 s: {size} bytes in the file, {pages} pages of 16 KiB");
}
