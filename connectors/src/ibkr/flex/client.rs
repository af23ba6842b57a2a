//! The Interactive Brokers Flex Web Service, version 3: a two-step protocol.
//!
//! 1. `GET {base}/SendRequest?t=<token>&q=<query id>&v=3[&fd=yyyyMMdd&td=yyyyMMdd]` asks IB to
//!    generate a statement for a Flex query the user built in Client Portal. IB answers a small
//!    `FlexStatementResponse` document with a `ReferenceCode` and the `Url` of `GetStatement`.
//! 2. `GET {Url}?t=<token>&q=<reference code>&v=3` returns the statement (a `FlexQueryResponse`
//!    document), or another `FlexStatementResponse` with an `ErrorCode`, most often 1019
//!    ("statement generation in progress"), which means: wait and ask again.
//!
//! Errors come as numbered codes inside HTTP 200 answers; [`error_for_code`] maps them into the
//! [`ConnectorError`] taxonomy once. Statuses, timeouts and connection failures map the way
//! [`crate::http`] maps them for every other provider.
//!
//! The token is a query parameter, so it is in every request URL. It never reaches an error or
//! a log: `reqwest` errors are stripped of their URL, IB's own messages are scrubbed of it, and
//! requests only go to the configured origin (a `GetStatement` `Url` or a redirect pointing
//! anywhere else is not followed).

use std::fmt;
use std::time::Duration;

use chrono::NaiveDate;
use quick_xml::Reader;
use quick_xml::events::Event;
use reqwest::Url;
use reqwest::header::RETRY_AFTER;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::ConnectorError;
use crate::http::{parse_retry_after, status_error};

/// IB's documented Flex Web Service endpoint (the service lives under this path on every IB
/// host).
pub const DEFAULT_BASE_URL: &str =
    "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService";

/// The provider name used in error messages.
const PROVIDER: &str = "IBKR Flex";

/// How many times one fetch waits out IB's "too many requests" (1018, or HTTP 429) before it
/// gives up with `RateLimited`. IB allows about one request a second and ten a minute per
/// token.
const MAX_THROTTLED_RETRIES: u32 = 4;

/// How long a caller should wait after we gave up on throttling: IB's window is a minute.
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);

/// How many transient failures (timeouts, connection resets, HTTP 5xx, IB's "please try again
/// shortly" codes other than 1019) one fetch absorbs before it returns the error.
const MAX_TRANSIENT_RETRIES: u32 = 2;

/// How many times one fetch starts over with a new `SendRequest` when IB forgets the reference
/// it handed out (1017, 1020).
const MAX_RENEWALS: u32 = 1;

/// "Statement generation in progress. Please try again shortly."
const GENERATION_IN_PROGRESS: u32 = 1019;
/// "Too many requests have been made from this token. Please try again shortly."
const TOO_MANY_REQUESTS: u32 = 1018;

/// Where the client finds the service and how patiently it waits for a statement.
#[derive(Debug, Clone)]
pub struct FlexClientSettings {
    /// Scheme, host and path of the service, without a trailing `/SendRequest`.
    pub base_url: String,
    /// Whole-request timeout, body included (statements can be several megabytes).
    pub timeout: Duration,
    /// The wait between `SendRequest` and the first `GetStatement`; each later wait (while IB
    /// is generating, or after throttling) doubles from here. Must be positive.
    pub poll_initial: Duration,
    /// The longest single wait.
    pub poll_max: Duration,
    /// The longest one fetch waits for IB to generate a statement, from the first request.
    pub max_wait: Duration,
    /// IB requires a `User-Agent` ("Technology/Version").
    pub user_agent: String,
}

impl Default for FlexClientSettings {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(60),
            poll_initial: Duration::from_secs(2),
            poll_max: Duration::from_secs(30),
            max_wait: Duration::from_secs(600),
            user_agent: concat!("tributary/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// A Flex Web Service client for one token and one Flex query.
pub struct FlexClient {
    http: reqwest::Client,
    /// The configured base URL, without a trailing slash.
    base: Url,
    token: SecretString,
    query_id: String,
    poll_initial: Duration,
    poll_max: Duration,
    max_wait: Duration,
}

impl fmt::Debug for FlexClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlexClient")
            .field("base_url", &self.base.as_str())
            .field("query_id", &self.query_id)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// A step of one fetch that did not produce what it asked for.
enum Failure {
    /// IB answered a Flex error code (message already scrubbed of the token).
    Code { code: u32, message: String },
    /// HTTP, transport or decoding failure, already in the taxonomy.
    Error(ConnectorError),
}

impl From<ConnectorError> for Failure {
    fn from(err: ConnectorError) -> Self {
        Self::Error(err)
    }
}

/// What IB gave us for `SendRequest`.
struct Reference {
    code: String,
    /// Where to fetch it (already checked against the configured origin).
    url: Url,
}

/// Retry bookkeeping for one fetch.
struct Budget {
    deadline: Instant,
    throttled: u32,
    transient: u32,
    renewals: u32,
}

impl FlexClient {
    /// A client for `query_id`, authenticated with `token`.
    ///
    /// # Errors
    /// `InvalidConfig` for a base URL that is not an absolute http(s) URL without a query, an
    /// empty token or query id, a zero `poll_initial`, or a user agent that cannot be sent.
    pub fn new(
        settings: FlexClientSettings,
        token: SecretString,
        query_id: String,
    ) -> Result<Self, ConnectorError> {
        let base = Url::parse(settings.base_url.trim_end_matches('/')).map_err(|e| {
            ConnectorError::invalid_config("base_url", format!("{PROVIDER}: not a URL: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https")
            || base.query().is_some()
            || base.cannot_be_a_base()
        {
            return Err(ConnectorError::invalid_config(
                "base_url",
                format!("{PROVIDER}: must be an http(s) URL without a query"),
            ));
        }
        let token_text = token.expose_secret();
        if token_text.trim().is_empty() || token_text.chars().any(char::is_whitespace) {
            return Err(ConnectorError::invalid_config(
                "token",
                "the Flex token is empty or contains spaces; copy it from Client Portal → \
                 Settings → Flex Web Service",
            ));
        }
        let query_id = query_id.trim().to_owned();
        if query_id.is_empty() || query_id.chars().any(char::is_whitespace) {
            return Err(ConnectorError::invalid_config(
                "query_id",
                "the Flex query id is empty or contains spaces; it is the number Client Portal \
                 shows next to the query under Performance & Reports → Flex Queries",
            ));
        }
        if settings.poll_initial.is_zero() {
            return Err(ConnectorError::invalid_config(
                "poll_initial",
                "the first poll interval must be positive",
            ));
        }
        let origin = base.origin();
        // A redirect is followed only within the configured origin: the token is in the URL,
        // and a redirect elsewhere could carry it along.
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 || attempt.url().origin() != origin {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .timeout(settings.timeout)
            .user_agent(settings.user_agent.as_str())
            .redirect(redirect)
            .build()
            .map_err(|e| {
                ConnectorError::invalid_config(
                    "user_agent",
                    format!(
                        "{PROVIDER}: cannot build the HTTP client: {}",
                        e.without_url()
                    ),
                )
            })?;
        Ok(Self {
            http,
            base,
            token,
            query_id,
            poll_initial: settings.poll_initial,
            poll_max: settings.poll_max.max(settings.poll_initial),
            max_wait: settings.max_wait,
        })
    }

    /// Generates and downloads one statement of the query: `SendRequest` (with `fd`/`td` when
    /// `period` is given, overriding the query's own period; IB accepts up to 365 days), then
    /// `GetStatement`, polled with exponential backoff (from `poll_initial` up to `poll_max`)
    /// while IB answers 1019 (generation in progress), for at most `max_wait`. Returns the raw
    /// statement, a `FlexQueryResponse` XML document.
    ///
    /// # Errors
    /// - `Authentication` when the token is expired or invalid, the Flex Web Service is inactive
    ///   or the token is restricted to another IP address: the user must act (see
    ///   [`error_for_code`]);
    /// - `RateLimited` when IB keeps answering "too many requests";
    /// - `Upstream` for other Flex error codes (400s: the query needs fixing; 503/504: try again
    ///   later, including a statement still generating after `max_wait`) and HTTP statuses;
    /// - `Decode` for an answer that is neither a statement nor a Flex response (a query
    ///   configured for CSV output, for instance);
    /// - `Transport` for timeouts and connection failures;
    /// - `InvalidConfig` (field `period`) when the period ends before it starts.
    #[tracing::instrument(skip_all, fields(provider = PROVIDER, query_id = %self.query_id, period = ?period), err(level = "debug"))]
    pub async fn fetch(
        &self,
        period: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<Vec<u8>, ConnectorError> {
        if let Some((from, to)) = period
            && from > to
        {
            return Err(ConnectorError::invalid_config(
                "period",
                format!("the statement period ends ({to}) before it starts ({from})"),
            ));
        }
        let mut budget = Budget {
            deadline: Instant::now() + self.max_wait,
            throttled: 0,
            transient: 0,
            renewals: 0,
        };
        'request: loop {
            let reference = self.send_request(period, &mut budget).await?;
            tracing::debug!(reference = %reference.code, "statement requested");
            // IB needs a moment before the first GetStatement (asking at once tends to get 1020
            // or 1019 anyway).
            let mut delay = self.poll_initial;
            if !self.pause(delay, &budget).await {
                return Err(Self::still_generating());
            }
            loop {
                let failure = match self.get_statement(&reference).await {
                    Ok(statement) => return Ok(statement),
                    Err(failure) => failure,
                };
                match failure {
                    Failure::Code {
                        code: GENERATION_IN_PROGRESS,
                        ..
                    } => {
                        delay = (delay * 2).min(self.poll_max);
                        tracing::debug!(
                            delay_ms = millis(delay),
                            "statement generation in progress"
                        );
                        if !self.pause(delay, &budget).await {
                            return Err(Self::still_generating());
                        }
                    }
                    Failure::Code {
                        code: 1017 | 1020, ..
                    } if budget.renewals < MAX_RENEWALS => {
                        // IB no longer knows the reference: ask for a new statement.
                        budget.renewals += 1;
                        tracing::debug!("IB dropped the statement reference; requesting anew");
                        continue 'request;
                    }
                    other => self.absorb(other, &mut budget).await?,
                }
            }
        }
    }

    /// `SendRequest` until IB hands out a reference, absorbing throttling and transient
    /// failures within the budget.
    async fn send_request(
        &self,
        period: Option<(NaiveDate, NaiveDate)>,
        budget: &mut Budget,
    ) -> Result<Reference, ConnectorError> {
        let url = self.endpoint("SendRequest");
        let mut query = vec![
            ("t", self.token.expose_secret().to_owned()),
            ("q", self.query_id.clone()),
            ("v", "3".to_owned()),
        ];
        if let Some((from, to)) = period {
            query.push(("fd", from.format("%Y%m%d").to_string()));
            query.push(("td", to.format("%Y%m%d").to_string()));
        }
        loop {
            let attempt = async {
                let body = self.get(url.clone(), &query).await?;
                match classify(&body).map_err(|e| self.scrub_error(e))? {
                    Document::Response(response) => self.reference(response),
                    other => Err(self.unexpected(&other, "SendRequest").into()),
                }
            };
            match attempt.await {
                Ok(reference) => return Ok(reference),
                Err(failure) => self.absorb(failure, budget).await?,
            }
        }
    }

    /// One `GetStatement`: the statement, or why not.
    async fn get_statement(&self, reference: &Reference) -> Result<Vec<u8>, Failure> {
        let query = [
            ("t", self.token.expose_secret().to_owned()),
            ("q", reference.code.clone()),
            ("v", "3".to_owned()),
        ];
        let body = self.get(reference.url.clone(), &query).await?;
        match classify(&body).map_err(|e| self.scrub_error(e))? {
            Document::Statement => Ok(body),
            Document::Response(response) => match response.error_code {
                Some(code) => Err(Failure::Code {
                    code,
                    message: self.scrub(&response.error_message.unwrap_or_default()),
                }),
                None => Err(ConnectorError::Decode(format!(
                    "{PROVIDER}: GetStatement answered status {:?} without a statement or an \
                     error code",
                    self.scrub(&response.status.unwrap_or_default())
                ))
                .into()),
            },
            other => Err(self.unexpected(&other, "GetStatement").into()),
        }
    }

    /// Waits before the next attempt when the failure is worth another one (throttling,
    /// transient), or returns it as the fetch's error.
    async fn absorb(&self, failure: Failure, budget: &mut Budget) -> Result<(), ConnectorError> {
        let throttle = match &failure {
            Failure::Code {
                code: TOO_MANY_REQUESTS,
                ..
            } => Some(None),
            Failure::Error(ConnectorError::RateLimited { retry_after }) => Some(*retry_after),
            _ => None,
        };
        if let Some(asked) = throttle {
            let give_up = ConnectorError::RateLimited {
                retry_after: Some(asked.unwrap_or(THROTTLE_WINDOW).max(THROTTLE_WINDOW)),
            };
            budget.throttled += 1;
            if budget.throttled > MAX_THROTTLED_RETRIES {
                return Err(give_up);
            }
            let backoff = self.backoff(budget.throttled);
            let delay = asked.map_or(backoff, |a| a.max(backoff));
            tracing::debug!(delay_ms = millis(delay), "throttled by IB; backing off");
            return if self.pause(delay, budget).await {
                Ok(())
            } else {
                Err(give_up)
            };
        }
        let err = match failure {
            Failure::Code { code, message } => error_for_code(code, &message),
            Failure::Error(err) => err,
        };
        if !err.is_retryable() || budget.transient >= MAX_TRANSIENT_RETRIES {
            return Err(err);
        }
        budget.transient += 1;
        let delay = self.backoff(budget.transient);
        tracing::debug!(error = %err, delay_ms = millis(delay), "retrying after a transient failure");
        if self.pause(delay, budget).await {
            Ok(())
        } else {
            Err(err)
        }
    }

    /// `poll_initial · 2^(n-1)`, at most `poll_max`.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2_u32.saturating_pow(attempt.saturating_sub(1));
        self.poll_initial
            .checked_mul(factor)
            .unwrap_or(self.poll_max)
            .min(self.poll_max)
    }

    /// Sleeps for `delay`; `false` (at once) when that would pass the fetch's deadline.
    async fn pause(&self, delay: Duration, budget: &Budget) -> bool {
        if Instant::now() + delay > budget.deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }

    fn still_generating() -> ConnectorError {
        ConnectorError::Upstream {
            status: 504,
            message: format!(
                "{PROVIDER}: IB was still generating the statement when we stopped waiting; it \
                 will be fetched on the next try"
            ),
        }
    }

    /// One GET: the body of a 2xx answer, or the error in the taxonomy.
    async fn get(&self, url: Url, query: &[(&str, String)]) -> Result<Vec<u8>, ConnectorError> {
        let response = self
            .http
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            return Err(status_error(PROVIDER, status, retry_after));
        }
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        Ok(body.to_vec())
    }

    /// The `SendRequest` answer as a reference, or IB's error code.
    fn reference(&self, response: FlexStatementResponse) -> Result<Reference, Failure> {
        if let Some(code) = response.error_code {
            return Err(Failure::Code {
                code,
                message: self.scrub(&response.error_message.unwrap_or_default()),
            });
        }
        let code = response
            .reference_code
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()));
        match (response.status.as_deref().map(str::trim), code) {
            (Some("Success"), Some(code)) => Ok(Reference {
                code,
                url: self.statement_url(response.url.as_deref()),
            }),
            _ => Err(ConnectorError::Decode(format!(
                "{PROVIDER}: SendRequest answered neither a reference code nor an error code"
            ))
            .into()),
        }
    }

    /// Where to fetch the statement. IB names a `GetStatement` URL in its answer; it is
    /// followed only when its scheme, host and port are the configured base URL's. The token
    /// goes along with that request, so a tampered or spoofed answer naming another host must
    /// not get it: we fall back to `{base}/GetStatement`, which every IB Flex host serves (IB
    /// itself sometimes names a sibling host, e.g. `gdcdyn` for a request sent to `ndcdyn`).
    fn statement_url(&self, named: Option<&str>) -> Url {
        let named = named.and_then(|u| Url::parse(u.trim()).ok());
        match named {
            Some(mut url)
                if url.origin() == self.base.origin()
                    && url.username().is_empty()
                    && url.password().is_none() =>
            {
                url.set_query(None);
                url.set_fragment(None);
                url
            }
            Some(url) => {
                tracing::warn!(
                    named_host = url.host_str().unwrap_or_default(),
                    "IB named a GetStatement URL outside the configured base URL; using the \
                     configured one"
                );
                self.endpoint("GetStatement")
            }
            None => self.endpoint("GetStatement"),
        }
    }

    /// `{base}/{name}`.
    fn endpoint(&self, name: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(name);
        }
        url
    }

    fn transport(&self, err: reqwest::Error) -> ConnectorError {
        let err = err.without_url();
        if err.is_timeout() {
            ConnectorError::Transport(format!("{PROVIDER}: request timed out"))
        } else if err.is_connect() {
            ConnectorError::Transport(format!("{PROVIDER}: could not connect"))
        } else {
            ConnectorError::Transport(self.scrub(&format!("{PROVIDER}: {err}")))
        }
    }

    fn unexpected(&self, document: &Document, step: &str) -> ConnectorError {
        match document {
            Document::Html => ConnectorError::Upstream {
                status: 503,
                message: format!(
                    "{PROVIDER}: {step} answered a web page instead of a Flex document (IB \
                     maintenance?)"
                ),
            },
            Document::NotXml => ConnectorError::Decode(format!(
                "{PROVIDER}: {step} answered something other than XML; set the Flex query's \
                 output format to XML in Client Portal"
            )),
            Document::Other(root) => ConnectorError::Decode(format!(
                "{PROVIDER}: {step} answered an unexpected `{}` document",
                self.scrub(root)
            )),
            Document::Statement | Document::Response(_) => ConnectorError::Decode(format!(
                "{PROVIDER}: {step} answered an unexpected document"
            )),
        }
    }

    /// Removes the token from text that came from the network.
    fn scrub(&self, text: &str) -> String {
        let token = self.token.expose_secret();
        if token.is_empty() {
            text.to_owned()
        } else {
            text.replace(token, "[REDACTED]")
        }
    }

    fn scrub_error(&self, err: ConnectorError) -> ConnectorError {
        match err {
            ConnectorError::Decode(m) => ConnectorError::Decode(self.scrub(&m)),
            other => other,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Maps an IB Flex Web Service error code (and IB's message, used for codes we do not know)
/// into the error taxonomy:
///
/// - credential problems the user fixes in Client Portal (1011 service inactive, 1012 token
///   expired, 1013 IP restriction, 1015 token invalid) are `Authentication`, with what to do;
/// - problems with the query or account (1003 statement not available, 1010 legacy query,
///   1014 query invalid, 1016 account invalid) are non-retryable `Upstream` 4xx;
/// - "please try again shortly" (1001, 1004–1009, 1019, 1021) and lost references (1017, 1020)
///   are retryable `Upstream` 5xx;
/// - 1018 (too many requests) is `RateLimited` for a minute;
/// - unknown codes are retryable `Upstream` 502 carrying IB's message.
#[must_use]
pub fn error_for_code(code: u32, message: &str) -> ConnectorError {
    const SETTINGS: &str = "Client Portal → Settings → Flex Web Service";
    let auth = |text: String| ConnectorError::Authentication(format!("{text} (IB code {code})"));
    let upstream = |status: u16, text: &str| ConnectorError::Upstream {
        status,
        message: format!("{PROVIDER}: {text} (IB code {code})"),
    };
    match code {
        1011 => auth(format!(
            "The Flex Web Service is not active for this account; activate it in {SETTINGS}, \
             generate a token and update the integration"
        )),
        1012 => auth(format!(
            "The Flex token has expired; create a new one in {SETTINGS} and update the \
             integration"
        )),
        1013 => auth(format!(
            "The Flex token is restricted to another IP address; create a token without an IP \
             restriction (or for this server's address) in {SETTINGS} and update the integration"
        )),
        1015 => auth(format!(
            "The Flex token is invalid (generating a new token invalidates the previous one); \
             copy the current token from {SETTINGS} and update the integration"
        )),
        1003 => upstream(
            404,
            "IB has no statement for this query and period (for example a period before the \
             account opened, or today's data before IB's close of business)",
        ),
        1010 => upstream(
            400,
            "legacy Flex queries are no longer supported; create an Activity Flex query in \
             Client Portal and update the integration's query id",
        ),
        1014 => upstream(
            400,
            "IB does not know this Flex query id for this token; check the query id under \
             Client Portal → Performance & Reports → Flex Queries and update the integration",
        ),
        1016 => upstream(
            400,
            "IB reports the query's account as invalid (closed, or not visible to the token's \
             user); check the Flex query's accounts in Client Portal",
        ),
        1001 | 1009 | 1021 => upstream(
            503,
            "IB could not produce the statement right now (the server is busy); it will be \
             fetched on the next try",
        ),
        1004..=1008 => upstream(
            503,
            "IB's statement data is not complete yet (settlement or P/L data still being \
             prepared); it will be fetched on the next try",
        ),
        GENERATION_IN_PROGRESS => upstream(503, "IB is still generating the statement"),
        1017 | 1020 => upstream(
            503,
            "IB could not validate the statement request or no longer knows its reference; \
             it will be requested anew on the next try",
        ),
        TOO_MANY_REQUESTS => ConnectorError::RateLimited {
            retry_after: Some(THROTTLE_WINDOW),
        },
        _ => {
            let message: String = message.trim().chars().take(200).collect();
            upstream(502, &format!("IB answered error {code}: {message}"))
        }
    }
}

/// The small `FlexStatementResponse` document of both steps.
#[derive(Debug, Default, PartialEq, Eq)]
struct FlexStatementResponse {
    /// `Success`, `Fail` or `Warn`.
    status: Option<String>,
    reference_code: Option<String>,
    url: Option<String>,
    error_code: Option<u32>,
    error_message: Option<String>,
}

/// What a Flex Web Service answer is, judged by its root element (a statement is not parsed
/// here: it can be large, and [`super::parse`] reads it).
#[derive(Debug, PartialEq, Eq)]
enum Document {
    /// A `FlexQueryResponse`: the statement.
    Statement,
    /// A `FlexStatementResponse`.
    Response(FlexStatementResponse),
    /// An HTML page (IB's front end during maintenance, a proxy's error page).
    Html,
    /// Text that is not XML (a query configured for CSV output).
    NotXml,
    /// Some other XML root element.
    Other(String),
}

/// Reads the root element of an answer, and the whole of it when it is a
/// `FlexStatementResponse`.
fn classify(body: &[u8]) -> Result<Document, ConnectorError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let decode = |e: &dyn fmt::Display| {
        ConnectorError::Decode(format!("{PROVIDER}: malformed XML answer: {e}"))
    };
    let mut reader = Reader::from_reader(body);
    let mut buf = Vec::new();
    loop {
        let (root, has_children) = match reader.read_event_into(&mut buf).map_err(|e| decode(&e))? {
            Event::Start(start) => (local_name(&start), true),
            Event::Empty(start) => (local_name(&start), false),
            Event::Text(text) => {
                if !text.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Document::NotXml);
                }
                buf.clear();
                continue;
            }
            Event::DocType(doctype) => {
                let doctype = String::from_utf8_lossy(&doctype).to_ascii_lowercase();
                if doctype.trim_start().starts_with("html") {
                    return Ok(Document::Html);
                }
                buf.clear();
                continue;
            }
            Event::Eof => return Ok(Document::NotXml),
            _ => {
                buf.clear();
                continue;
            }
        };
        return Ok(match root.as_str() {
            "FlexQueryResponse" => Document::Statement,
            "FlexStatementResponse" if has_children => {
                Document::Response(read_response(&mut reader)?)
            }
            "FlexStatementResponse" => Document::Response(FlexStatementResponse::default()),
            name if name.eq_ignore_ascii_case("html") => Document::Html,
            name => Document::Other(clip(name)),
        });
    }
}

fn local_name(start: &quick_xml::events::BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

/// The children of a `FlexStatementResponse`, after its start tag was read.
fn read_response(reader: &mut Reader<&[u8]>) -> Result<FlexStatementResponse, ConnectorError> {
    let decode = |e: &dyn fmt::Display| {
        ConnectorError::Decode(format!("{PROVIDER}: malformed FlexStatementResponse: {e}"))
    };
    let mut response = FlexStatementResponse::default();
    let mut buf = Vec::new();
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut depth = 0_u32;
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| decode(&e))? {
            Event::Start(start) => {
                depth += 1;
                if depth == 1 {
                    field = Some(local_name(&start));
                    text.clear();
                }
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.xml_content().map_err(|e| decode(&e))?);
            }
            Event::CData(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| decode(&e))?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                if let Some(ch) = r.resolve_char_ref().map_err(|e| decode(&e))? {
                    text.push(ch);
                } else {
                    let name = r.decode().map_err(|e| decode(&e))?;
                    match quick_xml::escape::resolve_xml_entity(&name) {
                        Some(value) => text.push_str(value),
                        None => return Err(decode(&format!("unknown entity &{name};"))),
                    }
                }
            }
            Event::End(_) => {
                if depth == 0 {
                    return Ok(response);
                }
                depth -= 1;
                if depth == 0
                    && let Some(name) = field.take()
                {
                    let value = text.trim().to_owned();
                    match name.as_str() {
                        "Status" => response.status = Some(value),
                        "ReferenceCode" => response.reference_code = Some(value),
                        "Url" => response.url = Some(value),
                        "ErrorCode" => {
                            response.error_code = Some(value.parse().map_err(|_| {
                                decode(&format!("ErrorCode `{}` is not a number", clip(&value)))
                            })?);
                        }
                        "ErrorMessage" => response.error_message = Some(value),
                        _ => {}
                    }
                }
            }
            Event::Eof => return Err(decode(&"the document ends early")),
            _ => {}
        }
        buf.clear();
    }
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND_SUCCESS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <FlexStatementResponse timestamp='28 August, 2024 10:37 AM EDT'>\n\
        <Status>Success</Status>\n\
        <ReferenceCode>1234567890</ReferenceCode>\n\
        <Url>https://gdcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement</Url>\n\
        </FlexStatementResponse>";

    const IN_PROGRESS: &str = "<FlexStatementResponse timestamp='01 October, 2024 10:38 AM EDT'>\
        <Status>Warn</Status><ErrorCode>1019</ErrorCode>\
        <ErrorMessage>Statement generation in progress. Please try again shortly.</ErrorMessage>\
        </FlexStatementResponse>";

    fn client(base: &str) -> FlexClient {
        let settings = FlexClientSettings {
            base_url: base.to_owned(),
            ..FlexClientSettings::default()
        };
        match FlexClient::new(
            settings,
            SecretString::from("s3cr3t-token"),
            "123456".into(),
        ) {
            Ok(c) => c,
            Err(e) => panic!("client builds: {e}"),
        }
    }

    fn response(body: &str) -> FlexStatementResponse {
        match classify(body.as_bytes()) {
            Ok(Document::Response(r)) => r,
            other => panic!("expected a FlexStatementResponse, got {other:?}"),
        }
    }

    #[test]
    fn a_send_request_success_yields_the_reference_and_url() {
        let r = response(SEND_SUCCESS);
        assert_eq!(r.status.as_deref(), Some("Success"));
        assert_eq!(r.reference_code.as_deref(), Some("1234567890"));
        assert_eq!(
            r.url.as_deref(),
            Some(
                "https://gdcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement"
            )
        );
        assert_eq!(r.error_code, None);
    }

    #[test]
    fn an_error_document_yields_code_and_unescaped_message() {
        let r = response(IN_PROGRESS);
        assert_eq!(r.status.as_deref(), Some("Warn"));
        assert_eq!(r.error_code, Some(1019));
        assert_eq!(
            r.error_message.as_deref(),
            Some("Statement generation in progress. Please try again shortly.")
        );
        let r = response(
            "<FlexStatementResponse><Status>Fail</Status><ErrorCode> 1012 </ErrorCode>\
             <ErrorMessage>Token &amp; query &#39;expired&#x27;</ErrorMessage></FlexStatementResponse>",
        );
        assert_eq!(r.error_code, Some(1012));
        assert_eq!(r.error_message.as_deref(), Some("Token & query 'expired'"));
    }

    #[test]
    fn a_statement_is_recognised_by_its_root_without_being_parsed() {
        let body = "\u{feff}<?xml version=\"1.0\"?>\n<!-- generated -->\n\
            <FlexQueryResponse queryName=\"q\" type=\"AF\"><FlexStatements count=\"1\">";
        assert_eq!(classify(body.as_bytes()).ok(), Some(Document::Statement));
        assert_eq!(
            classify(b"<FlexQueryResponse/>").ok(),
            Some(Document::Statement)
        );
    }

    #[test]
    fn pages_csv_and_other_documents_are_told_apart() {
        assert_eq!(
            classify(b"<!DOCTYPE html><html><body>Down</body></html>").ok(),
            Some(Document::Html)
        );
        assert_eq!(
            classify(b"<HTML><body>Down</body></HTML>").ok(),
            Some(Document::Html)
        );
        assert_eq!(
            classify(b"\"ClientAccountID\",\"Symbol\"\n\"U1\",\"AAPL\"").ok(),
            Some(Document::NotXml)
        );
        assert_eq!(classify(b"").ok(), Some(Document::NotXml));
        assert_eq!(
            classify(b"<Other/>").ok(),
            Some(Document::Other("Other".into()))
        );
        assert_eq!(
            classify(b"<FlexStatementResponse/>").ok(),
            Some(Document::Response(FlexStatementResponse::default()))
        );
        assert!(matches!(
            classify(b"<FlexStatementResponse><Status>Fail</Status>"),
            Err(ConnectorError::Decode(_))
        ));
        assert!(matches!(
            classify(b"<FlexStatementResponse><ErrorCode>x</ErrorCode></FlexStatementResponse>"),
            Err(ConnectorError::Decode(_))
        ));
    }

    #[test]
    fn credential_codes_need_the_user_and_say_what_to_do() {
        for code in [1011, 1012, 1013, 1015] {
            let err = error_for_code(code, "whatever IB said");
            assert!(err.needs_reauth(), "{code}: {err}");
            assert!(!err.is_retryable(), "{code}");
            assert!(
                err.to_string().contains("Flex Web Service"),
                "{code}: {err}"
            );
        }
        let expired = error_for_code(1012, "Token has expired.").to_string();
        assert!(expired.contains("The Flex token has expired"), "{expired}");
        assert!(expired.contains("update the integration"), "{expired}");
    }

    #[test]
    fn query_problems_are_final_and_try_again_codes_are_retryable() {
        for code in [1003, 1010, 1014, 1016] {
            let err = error_for_code(code, "");
            assert!(
                matches!(err, ConnectorError::Upstream { status, .. } if (400..500).contains(&status)),
                "{code}: {err:?}"
            );
            assert!(!err.is_retryable(), "{code}");
            assert!(!err.needs_reauth(), "{code}");
        }
        for code in [
            1001, 1004, 1005, 1006, 1007, 1008, 1009, 1017, 1019, 1020, 1021,
        ] {
            let err = error_for_code(code, "");
            assert!(
                matches!(err, ConnectorError::Upstream { status: 503, .. }),
                "{code}: {err:?}"
            );
            assert!(err.is_retryable(), "{code}");
        }
        assert!(matches!(
            error_for_code(1018, ""),
            ConnectorError::RateLimited { retry_after: Some(d) } if d == THROTTLE_WINDOW
        ));
        let unknown = error_for_code(1099, "Something new.");
        assert!(matches!(
            unknown,
            ConnectorError::Upstream { status: 502, .. }
        ));
        assert!(unknown.to_string().contains("Something new."));
        assert!(unknown.to_string().contains("1099"));
    }

    #[test]
    fn only_a_get_statement_url_on_the_configured_origin_is_followed() {
        let c = client("https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/");
        let fallback =
            "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement";
        assert_eq!(c.statement_url(None).as_str(), fallback);
        assert_eq!(
            c.statement_url(Some(
                " https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement?x=1 "
            ))
            .as_str(),
            fallback
        );
        for hostile in [
            "https://evil.example/AccountManagement/FlexWebService/GetStatement",
            "http://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement",
            "https://ndcdyn.interactivebrokers.com:8443/GetStatement",
            "https://user@ndcdyn.interactivebrokers.com/GetStatement",
            "https://gdcdyn.interactivebrokers.com/AccountManagement/FlexWebService/GetStatement",
            "not a url",
        ] {
            assert_eq!(
                c.statement_url(Some(hostile)).as_str(),
                fallback,
                "{hostile}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = client(DEFAULT_BASE_URL);
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(shown.contains("123456"), "{shown}");
    }

    #[test]
    fn bad_settings_are_invalid_config() {
        let bad = |settings: FlexClientSettings, token: &str, query: &str| match FlexClient::new(
            settings,
            SecretString::from(token),
            query.into(),
        ) {
            Err(ConnectorError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        let with_base = |base: &str| FlexClientSettings {
            base_url: base.into(),
            ..FlexClientSettings::default()
        };
        assert_eq!(bad(with_base("ftp://h/x"), "t", "1"), "base_url");
        assert_eq!(bad(with_base("http://h/x?y=1"), "t", "1"), "base_url");
        assert_eq!(bad(with_base("nope"), "t", "1"), "base_url");
        assert_eq!(bad(FlexClientSettings::default(), " ", "1"), "token");
        assert_eq!(bad(FlexClientSettings::default(), "t", ""), "query_id");
        let zero = FlexClientSettings {
            poll_initial: Duration::ZERO,
            ..FlexClientSettings::default()
        };
        assert_eq!(bad(zero, "t", "1"), "poll_initial");
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_is_not_followed() {
        use wiremock::matchers::method;
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let service = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string(SEND_SUCCESS))
            .mount(&elsewhere)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "location",
                format!("{}/SendRequest?t=s3cr3t-token", elsewhere.uri()).as_str(),
            ))
            .mount(&service)
            .await;
        let settings = FlexClientSettings {
            base_url: service.uri(),
            poll_initial: Duration::from_millis(1),
            poll_max: Duration::from_millis(1),
            ..FlexClientSettings::default()
        };
        let Ok(c) = FlexClient::new(settings, SecretString::from("s3cr3t-token"), "1".into())
        else {
            panic!("client builds");
        };

        let err = match c.fetch(None).await {
            Ok(_) => panic!("the redirect was followed"),
            Err(e) => e,
        };

        assert!(
            matches!(err, ConnectorError::Upstream { status: 302, .. }),
            "{err:?}"
        );
        let calls = elsewhere.received_requests().await.unwrap_or_default();
        assert!(calls.is_empty(), "the other origin was called");
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let settings = FlexClientSettings {
            poll_initial: Duration::from_secs(2),
            poll_max: Duration::from_secs(30),
            ..FlexClientSettings::default()
        };
        let c = match FlexClient::new(settings, SecretString::from("t"), "1".into()) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let waits: Vec<u64> = (1..=6).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(c.backoff(100), Duration::from_secs(30));
    }
}
