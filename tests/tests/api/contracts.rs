//! The committed OpenAPI contract equals what the server serves. `UPDATE_CONTRACTS=1` rewrites it.

use reqwest::{Method, StatusCode};
use tributary_tests::spawn_app;

#[tokio::test]
async fn committed_openapi_document_matches_the_served_one() {
    let app = spawn_app().await;
    let r = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let served = serde_json::to_string_pretty(&r.body).expect("serializes") + "\n";
    let printed: serde_json::Value = serde_json::from_str(
        &tributary_api::startup::openapi_spec()
            .to_json()
            .expect("json"),
    )
    .expect("parses");
    assert_eq!(
        printed, r.body,
        "`tributary openapi` prints what the server serves"
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    if std::env::var("UPDATE_CONTRACTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &served).expect("writes the contract");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "openapi/openapi.json is out of date: run `UPDATE_CONTRACTS=1 cargo test --workspace contracts` and commit it"
    );
}

#[tokio::test]
async fn every_route_documents_its_errors_and_auth() {
    let app = spawn_app().await;
    let spec = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await
        .body;
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "only {} paths", paths.len());
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("ops") {
            let responses = op["responses"].as_object().expect("responses");
            if path.starts_with("/api/") {
                assert!(
                    responses.keys().any(|k| k.starts_with('4')),
                    "{method} {path} documents no 4xx"
                );
                let public = path.starts_with("/api/auth/");
                if !public {
                    assert!(op["security"].is_array(), "{method} {path} has no security");
                    assert!(
                        responses.contains_key("401"),
                        "{method} {path} documents no 401"
                    );
                }
            }
        }
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
}
