//! Request extractors that turn bad input into problem+json naming the field: JSON bodies
//! (size-limited, unknown fields rejected by the DTOs) and query strings.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ServiceError;
use crate::services::AppContext;

/// A JSON body, parsed with the failing field named in the error.
pub struct AppJson<T>(pub T);

/// Turns a serde error into (field, message) without the line/column noise.
fn describe<E: std::fmt::Display>(path: &serde_path_to_error::Path, inner: &E) -> (String, String) {
    let full = inner.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let mut field = path.to_string();
    // Unknown and missing fields are reported at the parent; name the field itself.
    if (message.starts_with("unknown field") || message.starts_with("missing field"))
        && let Some(name) = message.split('`').nth(1)
    {
        field = if field == "." {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
    }
    if field == "." || field.is_empty() {
        field = "body".to_string();
    }
    (field, message)
}

impl<T: DeserializeOwned + 'static> FromRequest for AppJson<T> {
    type Error = ServiceError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppContext>>()
            .map_or(1_048_576, |c| c.settings.server.body_limit_bytes);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| {
                let v = v.to_ascii_lowercase();
                v.starts_with("application/json")
                    || (v.starts_with("application/") && v.contains("+json"))
            });
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ServiceError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(ServiceError::PayloadTooLarge { limit });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    ServiceError::bad_request("body", "the request body could not be read")
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(ServiceError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ServiceError::bad_request("body", "a JSON body is required"));
            }
            let de = &mut serde_json::Deserializer::from_slice(&body);
            let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
                let (field, message) = describe(e.path(), e.inner());
                if e.inner().is_syntax() || e.inner().is_eof() {
                    ServiceError::bad_request("body", format!("malformed JSON: {message}"))
                } else {
                    ServiceError::validation(field, message)
                }
            })?;
            Ok(AppJson(value))
        })
    }
}

/// A query string, parsed with the failing parameter named in the error.
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for AppQuery<T> {
    type Error = ServiceError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        let de = serde_urlencoded::Deserializer::new(url_parse(query));
        let result = serde_path_to_error::deserialize(de)
            .map(AppQuery)
            .map_err(|e| {
                let (field, message) = describe(e.path(), e.inner());
                ServiceError::bad_request(field, message)
            });
        std::future::ready(result)
    }
}

fn url_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// The id in a `/{id}` path, as a UUID.
pub fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    let _ = err;
    ServiceError::bad_request("id", "must be a UUID").into()
}
