//! The shared plumbing through `ProviderHttp`: retries, Retry-After, timeouts, decode errors,
//! the cache, the rate limiter and the circuit breaker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tributary_connectors::ConnectorError;
use tributary_connectors::http::{
    Auth, Availability, CircuitConfig, CircuitState, Get, HttpSettings, ManualClock, ProviderHttp,
    RateLimits, RetryPolicy, SystemClock,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::request_count;

fn settings(server: &MockServer) -> HttpSettings {
    HttpSettings {
        request_timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(2),
        },
        ..HttpSettings::new(server.uri())
    }
}

fn http(settings: &HttpSettings) -> ProviderHttp {
    ProviderHttp::new("mock", settings, Auth::None, Arc::new(SystemClock)).expect("client")
}

fn ok(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_owned(), "application/json")
}

async fn get(http: &ProviderHttp, req: &Get) -> Result<serde_json::Value, ConnectorError> {
    http.get_json::<serde_json::Value>(req).await
}

#[tokio::test]
async fn a_server_error_is_retried_until_it_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/flaky"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/flaky"))
        .respond_with(ok(r#"{"ok":true}"#))
        .mount(&server)
        .await;
    let value = get(&http(&settings(&server)), &Get::new("/flaky"))
        .await
        .expect("third attempt succeeds");
    assert_eq!(value["ok"], true);
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_final_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/down"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(path("/bad"))
        .respond_with(ResponseTemplate::new(400))
        .expect(1)
        .mount(&server)
        .await;
    let http = http(&settings(&server));
    let err = get(&http, &Get::new("/down")).await.expect_err("500");
    assert!(
        matches!(err, ConnectorError::Upstream { status: 500, .. }),
        "{err:?}"
    );
    let err = get(&http, &Get::new("/bad")).await.expect_err("400");
    assert!(
        matches!(err, ConnectorError::Upstream { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_retry() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0.3"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/limited"))
        .respond_with(ok("[]"))
        .mount(&server)
        .await;
    let started = Instant::now();
    get(&http(&settings(&server)), &Get::new("/limited"))
        .await
        .expect("retried after the delay");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_long_retry_after_is_returned_at_once_and_holds_further_calls() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let http = http(&settings(&server));
    let started = Instant::now();
    let err = get(&http, &Get::new("/limited")).await.expect_err("429");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(err, ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert!(matches!(
        http.availability(),
        Availability::BudgetExhausted { .. }
    ));
    let err = get(&http, &Get::new("/limited"))
        .await
        .expect_err("held back");
    assert!(matches!(err, ConnectorError::RateLimited { .. }));
}

#[tokio::test]
async fn a_timeout_is_a_retryable_transport_error() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ok("{}").set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let settings = HttpSettings {
        retry: RetryPolicy::none(),
        ..settings(&server)
    };
    let err = get(&http(&settings), &Get::new("/slow"))
        .await
        .expect_err("timeout");
    assert!(
        matches!(err, ConnectorError::Transport(ref m) if m.contains("timed out")),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn malformed_and_truncated_bodies_are_decode_errors_and_never_cached() {
    let server = MockServer::start().await;
    Mock::given(path("/malformed"))
        .respond_with(ok("<html>Service Unavailable</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/truncated"))
        .respond_with(ok(r#"[{"ticker":"AAPL","last":162.1"#))
        .expect(2)
        .mount(&server)
        .await;
    let http = http(&settings(&server));
    for p in ["/malformed", "/truncated"] {
        let err = get(&http, &Get::new(p)).await.expect_err("bad body");
        assert!(matches!(err, ConnectorError::Decode(_)), "{p}: {err:?}");
        assert!(!err.is_retryable());
    }
    // A bad body is not cached: the next call asks again.
    let cached = Get::new("/truncated").cache_for(Duration::from_secs(60));
    assert!(get(&http, &cached).await.is_err());
}

#[tokio::test]
async fn a_cached_response_serves_identical_calls_with_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .and(query_param("symbol", "AAPL"))
        .respond_with(ok(r#"{"price":"1"}"#).set_delay(Duration::from_millis(50)))
        .expect(1)
        .mount(&server)
        .await;
    let http = http(&settings(&server));
    let req = Get::new("/quote")
        .query("symbol", "AAPL")
        .cache_for(Duration::from_secs(60));
    // Two concurrent calls share one upstream request, a third is a cache hit.
    let (a, b) = tokio::join!(get(&http, &req), get(&http, &req));
    assert_eq!(a.expect("a"), b.expect("b"));
    get(&http, &req).await.expect("hit");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn the_rate_limiter_paces_a_burst_within_the_per_second_limit() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ok("{}"))
        .mount(&server)
        .await;
    let settings = HttpSettings {
        rate_limits: RateLimits {
            per_second: Some(2),
            ..RateLimits::default()
        },
        ..settings(&server)
    };
    let http = http(&settings);
    // Start just after a second boundary so the first two fit in one window.
    let into_second = Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(
        1010 - into_second.min(1000),
    )))
    .await;
    let started = Instant::now();
    for _ in 0..3 {
        get(&http, &Get::new("/x")).await.expect("ok");
    }
    // The third waited for the next window.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    let usage = http.limiter().usage();
    assert_eq!(
        (usage[0].window, usage[0].used, usage[0].limit),
        ("second", 1, 2)
    );
}

#[tokio::test]
async fn a_spent_daily_budget_fails_fast_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ok("{}"))
        .expect(2)
        .mount(&server)
        .await;
    let settings = HttpSettings {
        rate_limits: RateLimits {
            per_day: Some(2),
            ..RateLimits::default()
        },
        ..settings(&server)
    };
    let http = http(&settings);
    get(&http, &Get::new("/x")).await.expect("1");
    get(&http, &Get::new("/x")).await.expect("2");
    let started = Instant::now();
    let err = get(&http, &Get::new("/x")).await.expect_err("budget spent");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(
        matches!(
            err,
            ConnectorError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
    let usage = http.limiter().usage();
    assert_eq!(
        (usage[0].window, usage[0].used, usage[0].limit),
        ("day", 2, 2)
    );
}

#[tokio::test]
async fn the_circuit_opens_after_failures_and_half_opens_after_the_cool_down() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/x"))
        .respond_with(ok("{}"))
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let settings = HttpSettings {
        retry: RetryPolicy::none(),
        circuit: CircuitConfig {
            failure_threshold: 2,
            cool_down: Duration::from_secs(30),
        },
        ..settings(&server)
    };
    let http = ProviderHttp::new("mock", &settings, Auth::None, clock.clone()).expect("client");
    for _ in 0..2 {
        assert!(get(&http, &Get::new("/x")).await.is_err());
    }
    assert_eq!(http.breaker().state(), CircuitState::Open);
    assert!(!http.healthy());
    // Open: refused without a request.
    let err = get(&http, &Get::new("/x")).await.expect_err("open");
    assert!(
        matches!(err, ConnectorError::Transport(ref m) if m.contains("circuit")),
        "{err:?}"
    );
    assert_eq!(request_count(&server).await, 2);
    clock.advance(Duration::from_secs(30));
    assert_eq!(http.breaker().state(), CircuitState::HalfOpen);
    // The trial succeeds and closes the circuit.
    get(&http, &Get::new("/x")).await.expect("trial");
    assert_eq!(http.breaker().state(), CircuitState::Closed);
    assert!(http.healthy());
}

#[tokio::test]
async fn query_keys_reach_the_server_but_never_errors_or_logs() {
    let server = MockServer::start().await;
    Mock::given(path("/q"))
        .and(query_param("apikey", "sekrit-key"))
        .respond_with(ok("{}").set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let settings = HttpSettings {
        retry: RetryPolicy::none(),
        ..settings(&server)
    };
    let http = ProviderHttp::new(
        "mock",
        &settings,
        Auth::Query {
            name: "apikey",
            value: "sekrit-key".into(),
        },
        Arc::new(SystemClock),
    )
    .expect("client");
    let err = get(&http, &Get::new("/q")).await.expect_err("timeout");
    assert!(!err.to_string().contains("sekrit"), "{err}");
    assert!(!format!("{err:?}").contains("sekrit"));
    assert!(!format!("{http:?}").contains("sekrit"));
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let settings = HttpSettings {
        retry: RetryPolicy::none(),
        connect_timeout: Duration::from_millis(200),
        ..HttpSettings::new("http://127.0.0.1:9")
    };
    let http =
        ProviderHttp::new("mock", &settings, Auth::None, Arc::new(SystemClock)).expect("client");
    let err = get(&http, &Get::new("/x")).await.expect_err("refused");
    assert!(matches!(err, ConnectorError::Transport(_)), "{err:?}");
}
