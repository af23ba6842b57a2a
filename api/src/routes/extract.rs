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

fn malformed(e: &serde_json::Error) -> ServiceError {
    ServiceError::bad_request(
        "body",
        format!("malformed JSON: {}", strip_position(&e.to_string())),
    )
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Turns a serde error into (field, message) without the line/column noise. `root` names the
/// whole input (`body` or `query`) for errors that are not about one field.
fn describe<E: std::fmt::Display>(
    root: &str,
    path: &serde_path_to_error::Path,
    inner: &E,
) -> (String, String) {
    let message = strip_position(&inner.to_string());
    let mut field = path.to_string();
    if field == "." {
        field.clear();
    }
    // Unknown, missing and duplicate fields may be reported at the parent: name the field.
    let names_a_field = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p));
    if names_a_field
        && let Some(name) = message.split('`').nth(1)
        && field.rsplit('.').next() != Some(name)
    {
        field = if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
    }
    if field.is_empty() {
        field = root.to_string();
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
            // Syntax first (trailing garbage included): a body that is not JSON is a 400.
            let de = &mut serde_json::Deserializer::from_slice(&body);
            let json = serde_path_to_error::deserialize::<_, StrictJson>(&mut *de)
                .map_err(|e| {
                    if e.inner().is_data() {
                        let (field, message) = describe("body", e.path(), e.inner());
                        ServiceError::validation(field, message)
                    } else {
                        malformed(e.inner())
                    }
                })?
                .0;
            de.end().map_err(|e| malformed(&e))?;
            if !json.is_object() {
                return Err(ServiceError::validation("body", "must be a JSON object"));
            }
            // Then shape: wrong types, unknown and missing fields name the field (422).
            let value: T = serde_path_to_error::deserialize(json).map_err(|e| {
                let (field, message) = describe("body", e.path(), e.inner());
                ServiceError::validation(field, message)
            })?;
            Ok(AppJson(value))
        })
    }
}

/// A JSON value that refuses duplicate object keys: an ambiguous body is an error, not
/// "last one wins".
struct StrictJson(serde_json::Value);

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v)
            .map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
            }
            let StrictJson(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(serde_json::Value::Object(out))
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
                let (field, message) = describe("query", e.path(), e.inner());
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
