//! The Flex Web Service client against the loopback mock service: the two-step protocol,
//! polling, throttling, IB's error codes in the taxonomy, the period override, and the token
//! kept out of errors, logs and foreign hosts.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::NaiveDate;
use secrecy::SecretString;
use tributary_connectors::ConnectorError;
use tributary_connectors::ibkr::flex::client::{FlexClient, FlexClientSettings};
use tributary_tests::mocks::ibkr_flex::FlexMock;
use tributary_tests::{LOG_CAPTURE, captured_logs};

const TOKEN: &str = "738215509824173069871234";
const QUERY: &str = "987654";
const STATEMENT: &[u8] =
    b"<FlexQueryResponse queryName=\"t\" type=\"AF\"><FlexStatements count=\"1\">\
    <FlexStatement accountId=\"U7654321\" fromDate=\"20240101\" toDate=\"20241231\"/>\
    </FlexStatements></FlexQueryResponse>";

fn settings(base_url: &str) -> FlexClientSettings {
    FlexClientSettings {
        base_url: base_url.to_owned(),
        timeout: Duration::from_secs(5),
        poll_initial: Duration::from_millis(1),
        poll_max: Duration::from_millis(8),
        max_wait: Duration::from_secs(20),
        user_agent: "tributary-tests/1.0".to_owned(),
    }
}

fn client_with(settings: FlexClientSettings, token: &str, query: &str) -> FlexClient {
    match FlexClient::new(settings, SecretString::from(token), query.to_owned()) {
        Ok(client) => client,
        Err(e) => panic!("the client builds: {e}"),
    }
}

fn client(mock: &FlexMock) -> FlexClient {
    client_with(settings(&mock.base_url()), TOKEN, QUERY)
}

async fn started() -> FlexMock {
    let mock = FlexMock::start(TOKEN, QUERY).await;
    mock.set_statement(STATEMENT);
    mock
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    let Some(date) = NaiveDate::from_ymd_opt(y, m, d) else {
        panic!("valid date {y}-{m}-{d}");
    };
    date
}

#[tokio::test]
async fn a_statement_is_fetched_with_send_request_then_get_statement() {
    let mock = started().await;
    let client = client(&mock);

    let bytes = client.fetch(None).await.expect("the statement");

    assert_eq!(bytes, STATEMENT);
    assert_eq!(mock.send_requests(), 1);
    assert_eq!(mock.get_statements(), 1);
    assert_eq!(mock.requested_periods(), vec![(None, None)]);
    assert!(
        mock.user_agents()
            .iter()
            .all(|ua| ua == "tributary-tests/1.0"),
        "{:?}",
        mock.user_agents()
    );
}

#[tokio::test]
async fn generation_in_progress_is_polled_until_the_statement_is_ready() {
    let mock = started().await;
    mock.generating_polls(4);

    let bytes = client(&mock).fetch(None).await.expect("the statement");

    assert_eq!(bytes, STATEMENT);
    assert_eq!(mock.send_requests(), 1);
    assert_eq!(mock.get_statements(), 5);
}

#[tokio::test]
async fn a_statement_still_generating_after_max_wait_is_a_retryable_error() {
    let mock = started().await;
    mock.generating_polls(u32::MAX);
    let client = client_with(
        FlexClientSettings {
            max_wait: Duration::from_millis(150),
            ..settings(&mock.base_url())
        },
        TOKEN,
        QUERY,
    );

    let err = client.fetch(None).await.expect_err("gives up");

    assert!(
        matches!(err, ConnectorError::Upstream { status: 504, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(mock.get_statements() > 1);
}

#[tokio::test]
async fn throttling_is_backed_off_and_retried() {
    let mock = started().await;
    mock.throttle_next(2);

    let bytes = client(&mock).fetch(None).await.expect("the statement");

    assert_eq!(bytes, STATEMENT);
    assert_eq!(mock.send_requests(), 3);
    assert_eq!(mock.get_statements(), 1);
}

#[tokio::test]
async fn persistent_throttling_becomes_rate_limited() {
    let mock = started().await;
    mock.throttle_next(1000);

    let err = client(&mock).fetch(None).await.expect_err("throttled");

    let ConnectorError::RateLimited {
        retry_after: Some(wait),
    } = err
    else {
        panic!("expected RateLimited with a wait, got {err:?}");
    };
    assert!(wait >= Duration::from_secs(60), "{wait:?}");
    assert_eq!(mock.send_requests(), 5, "one request and four retries");
    assert_eq!(mock.get_statements(), 0);
}

#[tokio::test]
async fn an_expired_token_needs_reauthentication_and_says_how() {
    let mock = started().await;
    mock.expire_token();

    let err = client(&mock).fetch(None).await.expect_err("expired");

    let ConnectorError::Authentication(message) = &err else {
        panic!("expected Authentication, got {err:?}");
    };
    assert!(message.contains("The Flex token has expired"), "{message}");
    assert!(
        message.contains("Client Portal → Settings → Flex Web Service"),
        "{message}"
    );
    assert!(message.contains("update the integration"), "{message}");
    assert!(err.needs_reauth());
    assert!(!err.is_retryable());
    assert_eq!(mock.send_requests(), 1, "a credential error is not retried");
}

#[tokio::test]
async fn a_wrong_token_needs_reauthentication() {
    let mock = started().await;
    let client = client_with(settings(&mock.base_url()), "111122223333", QUERY);

    let err = client.fetch(None).await.expect_err("invalid token");

    assert!(err.needs_reauth(), "{err:?}");
    assert!(err.to_string().contains("1015"), "{err}");
}

#[tokio::test]
async fn an_unknown_query_is_a_final_configuration_error() {
    let mock = started().await;
    let client = client_with(settings(&mock.base_url()), TOKEN, "123");

    let err = client.fetch(None).await.expect_err("invalid query");

    assert!(
        matches!(err, ConnectorError::Upstream { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(!err.needs_reauth());
    assert!(err.to_string().contains("query id"), "{err}");
    assert_eq!(mock.send_requests(), 1);
}

#[tokio::test]
async fn a_statement_ib_does_not_have_is_a_final_not_found() {
    let mock = started().await;
    mock.fail_next_with_code(1003, "Statement is not available.", 1);

    let err = client(&mock).fetch(None).await.expect_err("no statement");

    assert!(
        matches!(err, ConnectorError::Upstream { status: 404, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_busy_server_code_is_retried() {
    let mock = started().await;
    mock.fail_next_with_code(
        1009,
        "The server is under heavy load. Statement could not be generated at this time. Please try again shortly.",
        1,
    );

    let bytes = client(&mock).fetch(None).await.expect("the statement");

    assert_eq!(bytes, STATEMENT);
    assert_eq!(mock.send_requests(), 2);
}

#[tokio::test]
async fn http_500_is_a_retryable_upstream_error() {
    let mock = started().await;
    mock.fail_next_with_http(500, 100);

    let err = client(&mock).fetch(None).await.expect_err("server error");

    assert!(
        matches!(err, ConnectorError::Upstream { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(mock.send_requests(), 3, "one request and two retries");
}

#[tokio::test]
async fn a_single_http_failure_is_retried() {
    let mock = started().await;
    mock.fail_next_with_http(502, 1);

    let bytes = client(&mock).fetch(None).await.expect("the statement");

    assert_eq!(bytes, STATEMENT);
    assert_eq!(mock.send_requests(), 2);
}

#[tokio::test]
async fn http_429_is_treated_as_throttling() {
    let mock = started().await;
    mock.fail_next_with_http(429, 100);

    let err = client(&mock).fetch(None).await.expect_err("throttled");

    assert!(
        matches!(
            err,
            ConnectorError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
    assert_eq!(mock.send_requests(), 5);
}

#[tokio::test]
async fn the_period_is_passed_as_fd_and_td() {
    let mock = started().await;
    mock.set_statement_for(|from, to| {
        format!(
            "<FlexQueryResponse><FlexStatements count=\"1\"><FlexStatement fromDate=\"{}\" toDate=\"{}\"/></FlexStatements></FlexQueryResponse>",
            from.map(|d| d.format("%Y%m%d").to_string()).unwrap_or_default(),
            to.map(|d| d.format("%Y%m%d").to_string()).unwrap_or_default(),
        )
        .into_bytes()
    });
    let client = client(&mock);

    let first = client
        .fetch(Some((date(2023, 1, 1), date(2023, 12, 31))))
        .await
        .expect("2023");
    let second = client
        .fetch(Some((date(2024, 1, 1), date(2024, 6, 30))))
        .await
        .expect("2024 H1");

    assert_eq!(
        mock.requested_periods(),
        vec![
            (Some(date(2023, 1, 1)), Some(date(2023, 12, 31))),
            (Some(date(2024, 1, 1)), Some(date(2024, 6, 30))),
        ]
    );
    let first = String::from_utf8_lossy(&first);
    assert!(
        first.contains("fromDate=\"20230101\" toDate=\"20231231\""),
        "{first}"
    );
    let second = String::from_utf8_lossy(&second);
    assert!(
        second.contains("fromDate=\"20240101\" toDate=\"20240630\""),
        "{second}"
    );
}

#[tokio::test]
async fn a_period_that_ends_before_it_starts_is_refused_without_a_request() {
    let mock = started().await;

    let err = client(&mock)
        .fetch(Some((date(2024, 2, 1), date(2024, 1, 1))))
        .await
        .expect_err("refused");

    assert!(
        matches!(err, ConnectorError::InvalidConfig { ref field, .. } if field == "period"),
        "{err:?}"
    );
    assert_eq!(mock.send_requests(), 0);
}

#[tokio::test]
async fn a_get_statement_url_on_another_host_is_not_followed() {
    let mock = started().await;
    let elsewhere = FlexMock::start(TOKEN, QUERY).await;
    elsewhere.set_statement(b"<FlexQueryResponse>elsewhere</FlexQueryResponse>".to_vec());
    mock.set_statement_url(&format!("{}/GetStatement", elsewhere.base_url()));

    let bytes = client(&mock).fetch(None).await.expect("the statement");

    assert_eq!(bytes, STATEMENT, "fetched from the configured service");
    assert_eq!(mock.get_statements(), 1);
    assert_eq!(elsewhere.get_statements(), 0, "the token never went there");
    assert_eq!(elsewhere.send_requests(), 0);
}

#[tokio::test]
async fn a_get_statement_url_on_the_configured_origin_is_followed() {
    let mock = started().await;
    // Same origin, another path: the mock serves nothing there, so following it fails.
    mock.set_statement_url(&format!(
        "{}/Elsewhere/GetStatement",
        mock.base_url()
            .replace("/AccountManagement/FlexWebService", "")
    ));

    let err = client(&mock).fetch(None).await.expect_err("404 there");

    assert!(
        matches!(err, ConnectorError::Upstream { status: 404, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_logs() {
    LazyLock::force(&LOG_CAPTURE);
    let token = "55500011122233344455566677";
    let mock = FlexMock::start(token, QUERY).await;
    let fast = |base: &str| FlexClientSettings {
        max_wait: Duration::from_millis(200),
        timeout: Duration::from_millis(500),
        ..settings(base)
    };
    let client = client_with(fast(&mock.base_url()), token, QUERY);
    let mut errors = Vec::new();

    mock.fail_next_with_http(500, 100);
    errors.push(client.fetch(None).await.expect_err("HTTP 500"));
    mock.fail_next_with_http(500, 0);

    mock.throttle_next(100);
    errors.push(client.fetch(None).await.expect_err("throttled"));
    mock.throttle_next(0);

    // IB echoing the token in a message it has never been seen to send.
    mock.fail_next_with_code(1099, &format!("token {token} is odd"), 100);
    errors.push(client.fetch(None).await.expect_err("unknown code"));
    mock.fail_next_with_code(1099, "", 0);

    mock.generating_polls(u32::MAX);
    errors.push(client.fetch(None).await.expect_err("still generating"));

    mock.expire_token();
    errors.push(client.fetch(None).await.expect_err("expired"));

    let nowhere = client_with(fast("http://127.0.0.1:9/FlexWebService"), token, QUERY);
    errors.push(nowhere.fetch(None).await.expect_err("nothing listens"));

    let wrong_query = client_with(fast(&mock.base_url()), token, "42");
    errors.push(wrong_query.fetch(None).await.expect_err("expired anyway"));

    assert!(
        format!("{client:?}").find(token).is_none(),
        "Debug shows the token"
    );
    for err in &errors {
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains(token), "the token leaks: {shown}");
    }
    assert!(
        errors.iter().any(|e| e.to_string().contains("[REDACTED]")),
        "the echoed token was scrubbed: {errors:?}"
    );
    let logs = captured_logs();
    assert!(
        logs.contains("IBKR Flex"),
        "the fetches were logged (so the next check means something)"
    );
    assert!(!logs.contains(token), "the token reached the logs");
}
