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
