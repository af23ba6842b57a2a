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

#[tokio::test]
async fn committed_graphql_schema_matches_the_running_schema() {
    let sdl = tributary_api::graphql::sdl();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/schema.graphql");
    if std::env::var("UPDATE_CONTRACTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &sdl).expect("writes the contract");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "openapi/schema.graphql is out of date: run `UPDATE_CONTRACTS=1 cargo test --workspace contracts` and commit it"
    );
    // The schema the server runs is the one committed: introspection agrees on the types.
    let app = spawn_app().await;
    let user = tributary_tests::TestUser::register(&app).await;
    let r = app
        .graphql(
            Some(user.token()),
            "{ __schema { types { name } } }",
            serde_json::json!({}),
        )
        .await;
    let names: Vec<String> = r.body["data"]["__schema"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .filter(|n| !n.starts_with("__"))
        .collect();
    for name in &names {
        assert!(
            sdl.contains(&format!("type {name} "))
                || sdl.contains(&format!("enum {name} "))
                || sdl.contains(&format!("input {name} "))
                || sdl.contains(&format!("scalar {name}"))
                || ["String", "Int", "Boolean", "Float", "ID"].contains(&name.as_str()),
            "{name} is served but not in the committed SDL"
        );
    }
}
